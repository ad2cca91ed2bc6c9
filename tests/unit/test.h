/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h - a minimal unit test harness. A test is a function registered with
 * TEST(name); CHECK records a failure and goes on, REQUIRE stops the test.
 * The runner (main.c) runs each test, prints one line per failure and
 * closes with "N passed, N failed".
 */
#ifndef KN_TEST_H
#define KN_TEST_H

#include "kanri.h"

typedef void (*kn_test_fn)(void);
void kn_test_register(const char *name, kn_test_fn fn);
void kn_test_fail(const char *file, int line, const char *expr);
extern int kn_test_failed_now;

#define TEST(name)                                                                \
	static void test_##name(void);                                            \
	__attribute__((constructor)) static void reg_##name(void)                 \
	{                                                                         \
		kn_test_register(#name, test_##name);                             \
	}                                                                         \
	static void test_##name(void)

#define CHECK(expr)                                                               \
	do {                                                                      \
		if (!(expr))                                                      \
			kn_test_fail(__FILE__, __LINE__, #expr);                  \
	} while (0)
#define REQUIRE(expr)                                                             \
	do {                                                                      \
		if (!(expr)) {                                                    \
			kn_test_fail(__FILE__, __LINE__, #expr);                  \
			return;                                                   \
		}                                                                 \
	} while (0)
#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

/* A fresh temporary directory for a test (removed at exit). Caller frees. */
char *kn_test_tmpdir(void);

#endif

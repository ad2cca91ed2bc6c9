/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h - a minimal unit test harness. A test is a function registered with
 * TEST(name); CHECK records a failure and goes on, REQUIRE stops the test.
 * The runner (main.c) runs each test, prints one line per failure and
 * closes with "N passed, N failed". A test that does not apply to the
 * backend under test calls SKIP (it prints "skip NAME: reason" and counts
 * neither as passed nor as failed).
 *
 * Backends. Without KANRI_TEST_PG the store and engine tests run on SQLite;
 * with KANRI_TEST_PG set to the DSN of a PostgreSQL server whose user may
 * create databases (postgresql://USER@HOST:PORT/DB), they run there instead,
 * each fixture on a database of its own (created for it, dropped after the
 * test).
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

/* Mark the running test skipped (prints "skip NAME: reason"); the caller
 * returns. A test that has failed before counts as failed all the same. */
void kn_test_skip(const char *reason);
/* Skip the rest of a test that is about SQLite only when on PostgreSQL. */
#define SQLITE_ONLY(reason)                                                       \
	do {                                                                      \
		if (kn_test_pg()) {                                               \
			kn_test_skip(reason);                                     \
			return;                                                   \
		}                                                                 \
	} while (0)

/* A fresh temporary directory for a test (removed at exit). Caller frees. */
char *kn_test_tmpdir(void);

/* ---- the backend under test -------------------------------------------- */

/* Whether the store tests run on PostgreSQL (KANRI_TEST_PG is set). */
bool kn_test_pg(void);
/* "postgres" or "sqlite". */
const char *kn_test_backend(void);
/* A new, empty store of the backend under test, as a DSN for kn_store_open
 * and kn_engine_create: the path of a (not yet existing) SQLite file in a
 * fresh temporary directory, or a new PostgreSQL database
 * (kt_unit_<pid>_<n>, UTF8, C collation) dropped after the test. NULL (and
 * a message) when the database cannot be made. Caller frees. */
char *kn_test_store(void);
/* The same with the options of CREATE DATABASE given (after the name, e.g.
 * "ENCODING 'UTF8' TEMPLATE template0 LOCALE 'C.utf8'"), on PostgreSQL;
 * on SQLite pg_opts is ignored. NULL when the server refuses them (no
 * message: callers fall back). */
char *kn_test_store_with(const char *pg_opts);
/* The DSN of database `name` on the PostgreSQL server under test (the base
 * DSN with its database replaced). NULL on SQLite. Caller frees. */
char *kn_test_pg_dsn(const char *name);
/* Run a query whose answer is one integer (first column of the first row)
 * on the store dsn names (either backend, behind the store's back); -1
 * when it fails (the error is printed) or gives no row or NULL. */
int64_t kn_test_count(const char *dsn, const char *sql);
/* Run SQL statements (no result wanted) on the store dsn names; 0 when
 * all succeed, else -1 (a refused statement is not printed: tests use it
 * to see refusals). */
int kn_test_exec(const char *dsn, const char *sql);

#endif

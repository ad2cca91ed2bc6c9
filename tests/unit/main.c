/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - runs every registered unit test, or those named on the command line. */
#include "test.h"

#include <unistd.h>

#define MAX_TESTS 1024
static struct {
	const char *name;
	kn_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
int kn_test_failed_now;
static char *tmpdirs[MAX_TESTS];
static int ntmp;

void kn_test_register(const char *name, kn_test_fn fn)
{
	if (ntests < MAX_TESTS)
		tests[ntests].name = name, tests[ntests++].fn = fn;
}

void kn_test_fail(const char *file, int line, const char *expr)
{
	printf("  FAIL %s:%d: %s\n", file, line, expr);
	kn_test_failed_now = 1;
}

char *kn_test_tmpdir(void)
{
	char *d = kn_xstrdup("/tmp/kanri-unit-XXXXXX");
	if (!mkdtemp(d))
		abort();
	if (ntmp < MAX_TESTS)
		tmpdirs[ntmp++] = kn_xstrdup(d);
	return d;
}

static void cleanup(void)
{
	for (int i = 0; i < ntmp; i++) {
		char *cmd = kn_xasprintf("rm -rf '%s'", tmpdirs[i]);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", tmpdirs[i]);
		free(cmd);
		free(tmpdirs[i]);
	}
}

int main(int argc, char **argv)
{
	int passed = 0, failed = 0;
	atexit(cleanup);
	for (int i = 0; i < ntests; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				want |= strstr(tests[i].name, argv[a]) != NULL;
			if (!want)
				continue;
		}
		kn_test_failed_now = 0;
		tests[i].fn();
		printf("%s %s\n", kn_test_failed_now ? "not ok" : "ok", tests[i].name);
		if (kn_test_failed_now)
			failed++;
		else
			passed++;
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/* main.c - runs every registered unit test, or those named on the command line. */
#include "test.h"

#include <libpq-fe.h>
#include <sqlite3.h>
#include <unistd.h>

#define MAX_TESTS 1024
static struct {
	const char *name;
	kn_test_fn fn;
} tests[MAX_TESTS];
static int ntests;
int kn_test_failed_now;
static int skipped_now;
static const char *current;
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

void kn_test_skip(const char *reason)
{
	skipped_now = 1;
	printf("skip %s: %s\n", current ? current : "?", reason);
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

/* ---- backends ------------------------------------------------------------ */

/* The base DSN of the PostgreSQL server (KANRI_TEST_PG), NULL on SQLite. */
static const char *pg_base(void)
{
	const char *v = getenv("KANRI_TEST_PG");
	return v && *v ? v : NULL;
}

bool kn_test_pg(void)
{
	return pg_base() != NULL;
}

const char *kn_test_backend(void)
{
	return kn_test_pg() ? "postgres" : "sqlite";
}

static bool is_pg_dsn(const char *dsn)
{
	return strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0 ||
	       (strncmp(dsn, "postgres:", 9) == 0 && !strstr(dsn, "://"));
}

/* What libpq takes for a kanri DSN: a URI as it is, key=value words
 * without kanri's "postgres:" prefix. */
static const char *libpq_dsn(const char *dsn)
{
	return !strstr(dsn, "://") && strncmp(dsn, "postgres:", 9) == 0 ? dsn + 9 : dsn;
}

char *kn_test_pg_dsn(const char *name)
{
	const char *base = pg_base();
	if (!base)
		return NULL;
	const char *sep = strstr(base, "://");
	if (!sep) /* key=value words: a later dbname wins */
		return kn_xasprintf("%s%s dbname=%s",
				    strncmp(base, "postgres:", 9) ? "postgres:" : "", base, name);
	/* a URI: scheme://authority[/database][?params] */
	const char *auth = sep + 3;
	const char *end = auth + strcspn(auth, "/?");
	const char *rest = *end == '/' ? end + strcspn(end, "?") : end;
	return kn_xasprintf("%.*s/%s%s", (int)(end - base), base, name, rest);
}

static void quiet_notice(void *arg, const char *msg) {}

/* A connection to the database dsn names; NULL (and a message) when there
 * is none. */
static PGconn *pg_connect(const char *dsn)
{
	PGconn *db = PQconnectdb(libpq_dsn(dsn));
	if (PQstatus(db) != CONNECTION_OK) {
		printf("  postgres: cannot connect to %s: %s", dsn, PQerrorMessage(db));
		PQfinish(db);
		return NULL;
	}
	PQsetNoticeProcessor(db, quiet_notice, NULL);
	return db;
}

/* Databases made for the running test (dropped after it), and every one
 * still there at exit. */
#define MAX_DBS 256
static char *dbs[MAX_DBS];
static int ndbs, dbseq;

static void drop_dbs(void)
{
	if (!ndbs)
		return;
	PGconn *db = pg_connect(pg_base());
	for (int i = 0; i < ndbs; i++) {
		if (db) {
			char *sql =
			    kn_xasprintf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", dbs[i]);
			PGresult *res = PQexec(db, sql);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				printf("  postgres: could not drop %s: %s", dbs[i],
				       PQresultErrorMessage(res));
			PQclear(res);
			free(sql);
		}
		free(dbs[i]);
	}
	ndbs = 0;
	PQfinish(db);
}

char *kn_test_store_with(const char *pg_opts)
{
	if (!kn_test_pg()) {
		char *d = kn_test_tmpdir();
		char *p = kn_xasprintf("%s/kanri.db", d);
		free(d);
		return p;
	}
	if (ndbs == MAX_DBS)
		return NULL;
	PGconn *db = pg_connect(pg_base());
	if (!db)
		return NULL;
	char *name = kn_xasprintf("kt_unit_%ld_%d", (long)getpid(), ++dbseq);
	char *sql = kn_xasprintf("CREATE DATABASE \"%s\" %s", name, pg_opts);
	PGresult *res = PQexec(db, sql);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	PQfinish(db);
	free(sql);
	if (!ok) {
		free(name);
		return NULL;
	}
	char *dsn = kn_test_pg_dsn(name);
	dbs[ndbs++] = name;
	return dsn;
}

char *kn_test_store(void)
{
	static const char opts[] = "ENCODING 'UTF8' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'";
	char *dsn = kn_test_store_with(opts);
	if (!dsn)
		printf("  postgres: could not create a database (%s) on %s\n", opts, pg_base());
	return dsn;
}

int64_t kn_test_count(const char *dsn, const char *sql)
{
	int64_t n = -1;
	if (is_pg_dsn(dsn)) {
		PGconn *db = pg_connect(dsn);
		if (!db)
			return -1;
		PGresult *res = PQexec(db, sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			printf("  postgres: %s: %s", sql, PQresultErrorMessage(res));
		else if (PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0))
			n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		PQfinish(db);
		return n;
	}
	if (strncmp(dsn, "sqlite:", 7) == 0)
		dsn += 7;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	if (sqlite3_open_v2(dsn, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		printf("  sqlite: %s: %s\n", sql, db ? sqlite3_errmsg(db) : "out of memory");
	} else {
		int rc = sqlite3_step(q);
		if (rc == SQLITE_ROW && sqlite3_column_type(q, 0) != SQLITE_NULL)
			n = sqlite3_column_int64(q, 0);
		else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			printf("  sqlite: %s: %s\n", sql, sqlite3_errmsg(db));
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

int kn_test_exec(const char *dsn, const char *sql)
{
	int rc = -1;
	if (is_pg_dsn(dsn)) {
		PGconn *db = pg_connect(dsn);
		if (!db)
			return -1;
		PGresult *res = PQexec(db, sql);
		ExecStatusType s = PQresultStatus(res);
		rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
		PQclear(res);
		PQfinish(db);
		return rc;
	}
	if (strncmp(dsn, "sqlite:", 7) == 0)
		dsn += 7;
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(dsn, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
	    sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
		rc = 0;
	sqlite3_close(db);
	return rc;
}

static void cleanup(void)
{
	drop_dbs();
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
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (kn_test_pg()) {
		printf("unit: store and engine tests on PostgreSQL (%s)\n", pg_base());
		PGconn *db = pg_connect(pg_base()); /* no server: one failure, not a crash */
		if (!db) {
			printf("unit: %d passed, %d failed\n", 0, 1);
			return 1;
		}
		PQfinish(db);
	}
	for (int i = 0; i < ntests; i++) {
		if (argc > 1) {
			int want = 0;
			for (int a = 1; a < argc; a++)
				want |= strstr(tests[i].name, argv[a]) != NULL;
			if (!want)
				continue;
		}
		kn_test_failed_now = 0;
		skipped_now = 0;
		current = tests[i].name;
		tests[i].fn();
		current = NULL;
		drop_dbs();
		if (skipped_now && !kn_test_failed_now)
			continue; /* its "skip" line is printed */
		printf("%s %s\n", kn_test_failed_now ? "not ok" : "ok", tests[i].name);
		if (kn_test_failed_now)
			failed++;
		else
			passed++;
	}
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * raw_insert.c - the storage baseline for kanri's benchmarks.
 *
 * It does, with nothing in between, the durable SQLite work that one kanri
 * create does at most: in a WAL database with synchronous=FULL, one
 * transaction that bumps the type's counter, inserts an incidents-like row
 * (the same columns and indexes as schema/incident.json) and appends a
 * hash-chained journal entry (reading the chain head first). No HTTP, no
 * JSON parsing, no validation, no hashing: what is left is SQLite and fsync.
 *
 *   raw_insert insert DB [SECONDS]
 *       Runs three ways, each on a fresh DB for SECONDS (default 3):
 *         single   one thread, one connection
 *         busy8    8 threads, a connection each, BEGIN IMMEDIATE with
 *                  busy_timeout (SQLite's own locking decides who writes)
 *         mutex8   8 threads, a connection each, writers serialised by a
 *                  process mutex (what a server with one writer at a time does)
 *       and prints one line per way plus "best: N creates/s (WAY)".
 *
 *   raw_insert query DB SECONDS SQL [PARAM...]
 *       Prepares SQL once on a read-only connection and runs it in a loop for
 *       SECONDS, binding ?1 to the PARAMs in turn (rotating), stepping every
 *       row and reading every column (as a server must to serialise them).
 *       Several SQL statements may be given separated by ";;" - each loop
 *       iteration runs them all (e.g. the page query and the count).
 *       The connection runs the PRAGMAs in env RAW_PRAGMAS (bench/run copies
 *       kanri's from src/store/sqlite.c), else temp_store=MEMORY and
 *       cache_size=-16384.
 *       Prints runs, mean, median, p99 and max in milliseconds.
 *
 * Build: cc -O2 -o raw_insert raw_insert.c -lsqlite3 -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "raw_insert: %s: %s\n", what, db ? sqlite3_errmsg(db) : "?");
	exit(1);
}

static void exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "raw_insert: %s: %s\n", sql, msg ? msg : "?");
		exit(1);
	}
}

/* ---- insert ------------------------------------------------------------ */

static const char *SCHEMA =
	"CREATE TABLE counters (type TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;"
	"INSERT INTO counters VALUES ('incident', 0);"
	"CREATE TABLE incidents ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT, number TEXT NOT NULL UNIQUE, version INTEGER NOT NULL,"
	" state TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
	" created_by TEXT, updated_by TEXT,"
	" title TEXT, description TEXT, caller TEXT, organisation TEXT, category TEXT,"
	" impact INTEGER, urgency INTEGER, priority INTEGER, assignment_group TEXT,"
	" assignee TEXT, hold_reason TEXT, resolution_code TEXT, resolution_notes TEXT,"
	" resolved_at TEXT, closed_at TEXT);"
	"CREATE INDEX incidents_i1 ON incidents(assignment_group, state, priority);"
	"CREATE INDEX incidents_i2 ON incidents(state, priority);"
	"CREATE INDEX incidents_i3 ON incidents(assignee, state);"
	"CREATE INDEX incidents_i4 ON incidents(caller);"
	"CREATE INDEX incidents_i5 ON incidents(organisation, state);"
	"CREATE INDEX incidents_i6 ON incidents(updated_at);"
	"CREATE TABLE journal ("
	" seq INTEGER PRIMARY KEY, at TEXT NOT NULL, actor TEXT NOT NULL, type TEXT NOT NULL,"
	" rec_id INTEGER NOT NULL, action TEXT NOT NULL, changes TEXT NOT NULL, reason TEXT,"
	" digest TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE INDEX journal_rec ON journal(type, rec_id, seq);";

static const char *GROUPS[] = {"service-desk", "network", "server", "database",
			       "application", "security", "storage", "workplace"};

typedef struct worker {
	const char *path;
	int use_mutex;
	double until;
	long done;
	int id;
} worker;

static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long busy_retries;

static sqlite3 *open_db(const char *path, int flags)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		die(db, "open");
	sqlite3_busy_timeout(db, 10000);
	if (flags & SQLITE_OPEN_READWRITE) {
		exec(db, "PRAGMA journal_mode=WAL");
		exec(db, "PRAGMA synchronous=FULL");
	}
	return db;
}

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		die(db, sql);
	return st;
}

static void hex(char *out, unsigned long long a, unsigned long long b)
{
	/* 64 hex characters, like a SHA-256 digest. */
	snprintf(out, 65, "%016llx%016llx%016llx%016llx", a, b, a ^ 0x9e3779b97f4a7c15ULL,
		 b * 0x100000001b3ULL);
}

static int step_retry(sqlite3_stmt *st)
{
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_BUSY) {
		atomic_fetch_add(&busy_retries, 1);
		sqlite3_reset(st);
	}
	return rc;
}

static void *insert_loop(void *arg)
{
	worker *w = arg;
	sqlite3 *db = open_db(w->path, SQLITE_OPEN_READWRITE);
	sqlite3_stmt *begin = prep(db, "BEGIN IMMEDIATE");
	sqlite3_stmt *commit = prep(db, "COMMIT");
	sqlite3_stmt *counter =
		prep(db, "UPDATE counters SET n = n + 1 WHERE type = 'incident' RETURNING n");
	sqlite3_stmt *ins = prep(
		db, "INSERT INTO incidents (number, version, state, created_at, updated_at,"
		    " created_by, updated_by, title, description, caller, organisation, category,"
		    " impact, urgency, priority, assignment_group, assignee, hold_reason,"
		    " resolution_code, resolution_notes, resolved_at, closed_at) VALUES"
		    " (?1, 1, 'new', ?2, ?2, 'agent1', 'agent1', ?3, ?4, NULL, ?5, ?6, ?7, ?8, ?9,"
		    " ?10, NULL, NULL, NULL, NULL, NULL, NULL)");
	sqlite3_stmt *head = prep(db, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1");
	sqlite3_stmt *jins = prep(db, "INSERT INTO journal (seq, at, actor, type, rec_id, action,"
				      " changes, reason, digest, prev, hash) VALUES"
				      " (?1, ?2, 'agent1', 'incident', ?3, 'create', ?4, NULL,"
				      " ?5, ?6, ?7)");
	unsigned long long rnd = 0x2545F4914F6CDD1DULL * (unsigned long long)(w->id + 1);
	char number[32], at[32], title[160], desc[400], changes[1024], digest[65], hash[65];
	char prev[65];
	long n_done = 0;

	while (now_s() < w->until) {
		rnd ^= rnd << 13, rnd ^= rnd >> 7, rnd ^= rnd << 17;
		int impact = 1 + rnd % 3, urgency = 1 + (rnd >> 8) % 3;
		int prio = impact + urgency - 1;
		const char *grp = GROUPS[(rnd >> 16) % 8];
		time_t t = time(NULL);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(title, sizeof title, "Mail delivery delayed for user %llu on host mx%llu",
			 rnd % 100000, (rnd >> 20) % 16);
		snprintf(desc, sizeof desc,
			 "Users report that outgoing mail sits in the queue for several minutes "
			 "before delivery. Observed since %s. Ticket %llu, thread %d.",
			 at, rnd % 1000000, w->id);

		if (w->use_mutex)
			pthread_mutex_lock(&write_lock);
		if (step_retry(begin) != SQLITE_DONE)
			die(db, "begin");
		sqlite3_reset(begin);

		if (sqlite3_step(counter) != SQLITE_ROW)
			die(db, "counter");
		long long n = sqlite3_column_int64(counter, 0);
		sqlite3_reset(counter);
		snprintf(number, sizeof number, "INC-%06lld", n);

		sqlite3_bind_text(ins, 1, number, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 2, at, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 3, title, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 4, desc, -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 5, "ACME", -1, SQLITE_STATIC);
		sqlite3_bind_text(ins, 6, "software", -1, SQLITE_STATIC);
		sqlite3_bind_int(ins, 7, impact);
		sqlite3_bind_int(ins, 8, urgency);
		sqlite3_bind_int(ins, 9, prio);
		sqlite3_bind_text(ins, 10, grp, -1, SQLITE_STATIC);
		if (sqlite3_step(ins) != SQLITE_DONE)
			die(db, "insert");
		sqlite3_reset(ins);
		long long id = sqlite3_last_insert_rowid(db);

		long long seq = 0;
		strcpy(prev, "0000000000000000000000000000000000000000000000000000000000000000");
		if (sqlite3_step(head) == SQLITE_ROW) {
			seq = sqlite3_column_int64(head, 0);
			snprintf(prev, sizeof prev, "%s", (const char *)sqlite3_column_text(head, 1));
		}
		sqlite3_reset(head);
		snprintf(changes, sizeof changes,
			 "{\"assignment_group\":[null,\"%s\"],\"category\":[null,\"software\"],"
			 "\"description\":[null,\"%s\"],\"impact\":[null,%d],"
			 "\"organisation\":[null,\"ACME\"],\"priority\":[null,%d],"
			 "\"state\":[null,\"new\"],\"title\":[null,\"%s\"],\"urgency\":[null,%d]}",
			 grp, desc, impact, prio, title, urgency);
		hex(digest, rnd, (unsigned long long)n);
		hex(hash, rnd ^ (unsigned long long)seq, (unsigned long long)id);
		sqlite3_bind_int64(jins, 1, seq + 1);
		sqlite3_bind_text(jins, 2, at, -1, SQLITE_STATIC);
		sqlite3_bind_int64(jins, 3, id);
		sqlite3_bind_text(jins, 4, changes, -1, SQLITE_STATIC);
		sqlite3_bind_text(jins, 5, digest, -1, SQLITE_STATIC);
		sqlite3_bind_text(jins, 6, prev, -1, SQLITE_STATIC);
		sqlite3_bind_text(jins, 7, hash, -1, SQLITE_STATIC);
		if (sqlite3_step(jins) != SQLITE_DONE)
			die(db, "journal");
		sqlite3_reset(jins);

		if (step_retry(commit) != SQLITE_DONE)
			die(db, "commit");
		sqlite3_reset(commit);
		if (w->use_mutex)
			pthread_mutex_unlock(&write_lock);
		n_done++;
	}
	w->done = n_done;
	sqlite3_finalize(begin);
	sqlite3_finalize(commit);
	sqlite3_finalize(counter);
	sqlite3_finalize(ins);
	sqlite3_finalize(head);
	sqlite3_finalize(jins);
	sqlite3_close(db);
	return NULL;
}

static void fresh_db(const char *path)
{
	char p[4096];
	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
	sqlite3 *db = open_db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	exec(db, SCHEMA);
	sqlite3_close(db);
}

static double run_insert(const char *path, int nthreads, int use_mutex, double secs,
			 long *total, long long *count_after)
{
	fresh_db(path);
	worker w[64];
	pthread_t th[64];
	double t0 = now_s();
	for (int i = 0; i < nthreads; i++) {
		w[i] = (worker){.path = path, .use_mutex = use_mutex, .until = t0 + secs, .id = i};
		pthread_create(&th[i], NULL, insert_loop, &w[i]);
	}
	*total = 0;
	for (int i = 0; i < nthreads; i++) {
		pthread_join(th[i], NULL);
		*total += w[i].done;
	}
	double el = now_s() - t0;
	/* Check what was acknowledged is there. */
	sqlite3 *db = open_db(path, SQLITE_OPEN_READWRITE);
	sqlite3_stmt *st = prep(db, "SELECT count(*) FROM incidents");
	sqlite3_step(st);
	*count_after = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return *total / el;
}

static int cmd_insert(const char *path, double secs)
{
	struct {
		const char *name;
		int threads, mutex;
	} ways[] = {{"single", 1, 0}, {"busy8", 8, 0}, {"mutex8", 8, 1}};
	double best = 0;
	const char *best_name = "";
	for (size_t i = 0; i < sizeof ways / sizeof ways[0]; i++) {
		long total;
		long long rows;
		atomic_store(&busy_retries, 0);
		double rate = run_insert(path, ways[i].threads, ways[i].mutex, secs, &total, &rows);
		printf("%-7s threads=%d creates=%ld rows=%lld busy_retries=%ld rate=%.0f creates/s\n",
		       ways[i].name, ways[i].threads, total, rows, atomic_load(&busy_retries), rate);
		fflush(stdout);
		if (rows != total) {
			fprintf(stderr, "raw_insert: %s: %lld rows but %ld creates\n", ways[i].name,
				rows, total);
			return 1;
		}
		if (rate > best)
			best = rate, best_name = ways[i].name;
	}
	printf("best: %.0f creates/s (%s)\n", best, best_name);
	return 0;
}

/* ---- query ------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int cmd_query(const char *path, double secs, const char *sqltext, char **params,
		     int nparams)
{
	sqlite3 *db = open_db(path, SQLITE_OPEN_READONLY);
	/* The same per-connection settings as kanri's store (src/store/sqlite.c):
	 * bench/run passes them in RAW_PRAGMAS. */
	const char *pragmas = getenv("RAW_PRAGMAS");
	exec(db, pragmas && *pragmas ? pragmas : "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384");
	if (pragmas && *pragmas)
		fprintf(stderr, "raw_insert: %s\n", pragmas);
	sqlite3_stmt *sts[8];
	int nst = 0;
	char *copy = strdup(sqltext), *p = copy;
	while (p && *p && nst < 8) {
		char *sep = strstr(p, ";;");
		if (sep)
			*sep = 0;
		sts[nst++] = prep(db, p);
		p = sep ? sep + 2 : NULL;
	}
	size_t cap = 1 << 16, n = 0;
	double *lat = malloc(cap * sizeof *lat);
	long rows = 0;
	unsigned long sink = 0;
	double t0 = now_s();
	while (now_s() - t0 < secs) {
		const char *param = nparams ? params[n % nparams] : NULL;
		double a = now_s();
		for (int s = 0; s < nst; s++) {
			if (param && sqlite3_bind_parameter_count(sts[s]) >= 1)
				sqlite3_bind_text(sts[s], 1, param, -1, SQLITE_STATIC);
			int rc;
			while ((rc = sqlite3_step(sts[s])) == SQLITE_ROW) {
				int nc = sqlite3_column_count(sts[s]);
				for (int c = 0; c < nc; c++) {
					const unsigned char *v = sqlite3_column_text(sts[s], c);
					sink += v ? v[0] : 0;
				}
				rows++;
			}
			if (rc != SQLITE_DONE)
				die(db, "query");
			sqlite3_reset(sts[s]);
		}
		if (n == cap)
			lat = realloc(lat, (cap *= 2) * sizeof *lat);
		lat[n++] = (now_s() - a) * 1000.0;
	}
	qsort(lat, n, sizeof *lat, cmp_double);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += lat[i];
	printf("runs=%zu rows/run=%.1f mean=%.3f ms median=%.3f ms p99=%.3f ms max=%.3f ms "
	       "(sink %lu)\n",
	       n, n ? (double)rows / n : 0.0, n ? sum / n : 0.0, n ? lat[n / 2] : 0.0,
	       n ? lat[(size_t)(n * 0.99)] : 0.0, n ? lat[n - 1] : 0.0, sink % 10);
	for (int s = 0; s < nst; s++)
		sqlite3_finalize(sts[s]);
	sqlite3_close(db);
	free(copy);
	free(lat);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "insert") == 0)
		return cmd_insert(argv[2], argc >= 4 ? atof(argv[3]) : 3.0);
	if (argc >= 5 && strcmp(argv[1], "query") == 0)
		return cmd_query(argv[2], atof(argv[3]), argv[4], argv + 5, argc - 5);
	fprintf(stderr, "usage: raw_insert insert DB [SECONDS]\n"
			"       raw_insert query DB SECONDS SQL[;;SQL...] [PARAM...]\n");
	return 2;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sqlite.c - the SQLite storage backend (kn_store_sqlite).
 *
 * Connections. Every thread that touches the store lazily opens its own
 * connection to the database file (kn_pool, see sql.h; a thread that ends
 * hands its connection to the next). Every connection runs with WAL,
 * synchronous=FULL (an acknowledged commit survives a power cut),
 * foreign_keys=ON and a 10 s busy timeout.
 *
 * Transactions. begin(write=true) takes the store's writer mutex and runs
 * BEGIN IMMEDIATE; the mutex is held until commit/rollback, so exactly one
 * thread of the process writes at a time (numbering and the journal chain
 * depend on it) and writers queue on the mutex instead of spinning in
 * SQLite's busy handler. begin(write=false) runs a plain BEGIN: a
 * consistent snapshot from the first read on. A write called outside any
 * transaction runs in autocommit mode under the writer mutex; a write
 * called inside a read transaction is refused (KN_EINTERNAL), since the
 * snapshot could not be upgraded reliably.
 *
 * Statements. Each connection keeps its prepared statements in a small
 * open-addressing hash table keyed by the SQL text, so a repeated operation
 * never re-prepares. A statement handed out is marked busy until it is put
 * back; if the same SQL is needed again meanwhile (a scan callback that
 * calls the store again) a temporary statement is prepared for it. The SQL
 * of record types and list queries is built by sql.c.
 *
 * Tables. rec_<type>(id INTEGER PRIMARY KEY AUTOINCREMENT, number, version,
 * state, created_at, updated_at, created_by, updated_by, <one column per
 * field>), plus counters, comments, relations, journal (append-only:
 * triggers refuse UPDATE and DELETE), users, tokens, sessions and meta.
 * Text-like kinds are TEXT columns, integer and boolean INTEGER (0/1).
 */
#include "kanri.h"

#include <pthread.h>
#include <stdarg.h>
#include <time.h>
#include <sqlite3.h>

#include "store/sql.h"

#define SQ_BUSY_MS 10000
/* Statements kept per connection before eviction (a list statement takes
 * some 17 KB). */
#define SQ_CACHE_MAX 256
#define SQ_OPTIMIZE_MS (3600 * 1000) /* PRAGMA optimize at most hourly per connection */

/* ---- structures -------------------------------------------------------- */

typedef struct sq_stmt {
	sqlite3_stmt *st;
	char *sql;
	size_t len;
	uint64_t hash;
	bool busy; /* handed out and not yet put back */
	bool temp; /* not in the cache: finalised when put back */
} sq_stmt;

typedef struct sq_store sq_store;

typedef struct sq_conn {
	kn_pconn base; /* first: kn_pconn * <-> sq_conn * */
	sqlite3 *db;
	sq_store *store;
	sq_stmt **slots; /* open addressing; cap is 0 or a power of two */
	size_t cap, n;
	bool in_tx, write;
	int64_t optimize_at; /* monotonic ms of the next PRAGMA optimize */
} sq_conn;

struct sq_store {
	kn_store base; /* first: kn_store * <-> sq_store * */
	char *path;
	bool readonly; /* opened as file:PATH?mode=ro (reading a backup) */
	kn_pool pool;
	pthread_mutex_t wlock; /* the one writer of this process */
	kn_sqltypes types;
};

/* Idle connections kept for reuse: a server that starts a thread per HTTP
 * connection then keeps its prepared statements and page cache warm. */
#define SQ_MAX_IDLE 16

static inline sq_store *S(kn_store *st)
{
	return (sq_store *)st;
}

/* ---- errors -------------------------------------------------------------- */

/* Map a SQLite result code (extended codes are on) to a KN_E* code, with
 * `what` (the operation) and sqlite's message in the detail. */
static int sq_fail(sq_conn *c, int rc, kn_error *err, const char *what)
{
	const char *msg = sqlite3_errmsg(c->db);
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return kn_fail(err, KN_EBUSY, "", "%s: database busy: %s", what, msg);
	case SQLITE_CONSTRAINT:
		if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
			return kn_fail(err, KN_ECONFLICT, "", "%s: already exists (%s)", what, msg);
		if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
			return kn_fail(err, KN_ENOTFOUND, "", "%s: refers to a missing row", what);
		return kn_fail(err, KN_EINVAL, "", "%s: %s", what, msg);
	default:
		return kn_fail(err, KN_ESTORE, "", "%s: %s", what, msg);
	}
}

/* ---- statement cache ----------------------------------------------------- */

static void stmt_free(sq_stmt *e)
{
	sqlite3_finalize(e->st);
	free(e->sql);
	free(e);
}

static void cache_put_slot(sq_conn *c, sq_stmt *e)
{
	size_t m = c->cap - 1, i = e->hash & m;
	while (c->slots[i])
		i = (i + 1) & m;
	c->slots[i] = e;
	c->n++;
}

/* Make room for one more entry: double the table until it holds
 * SQ_CACHE_MAX statements, then drop every statement not in use. */
static void cache_room(sq_conn *c)
{
	if (c->cap && c->n + 1 <= c->cap / 2)
		return;
	sq_stmt **old = c->slots;
	size_t ocap = c->cap;
	bool evict = c->n >= SQ_CACHE_MAX;
	c->cap = evict ? c->cap : (c->cap ? c->cap * 2 : 64);
	c->slots = kn_xcalloc(c->cap, sizeof *c->slots);
	c->n = 0;
	for (size_t i = 0; i < ocap; i++) {
		sq_stmt *e = old[i];
		if (!e)
			continue;
		if (evict && !e->busy)
			stmt_free(e);
		else
			cache_put_slot(c, e);
	}
	free(old);
}

/* Hand out a prepared statement for sql (len bytes) on connection c; the
 * caller binds, steps and gives it back with stmt_put. */
static int stmt_get(sq_conn *c, const char *sql, size_t len, sq_stmt **out, kn_error *err)
{
	uint64_t h = kn_sql_hash(sql, len);
	bool temp = false;
	if (c->cap) {
		size_t m = c->cap - 1;
		for (size_t i = h & m; c->slots[i]; i = (i + 1) & m) {
			sq_stmt *e = c->slots[i];
			if (e->hash != h || e->len != len || memcmp(e->sql, sql, len) != 0)
				continue;
			if (!e->busy) {
				e->busy = true;
				*out = e;
				return 0;
			}
			temp = true; /* in use further up the stack */
			break;
		}
	}
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v3(c->db, sql, (int)len, temp ? 0 : SQLITE_PREPARE_PERSISTENT, &st,
				    NULL);
	if (rc != SQLITE_OK || !st) {
		int r = sq_fail(c, rc ? rc : SQLITE_ERROR, err, "prepare");
		sqlite3_finalize(st);
		return r;
	}
	sq_stmt *e = kn_xcalloc(1, sizeof *e);
	e->st = st;
	e->sql = kn_xstrndup(sql, len);
	e->len = len;
	e->hash = h;
	e->busy = true;
	e->temp = temp;
	if (!temp) {
		cache_room(c);
		cache_put_slot(c, e);
	}
	*out = e;
	return 0;
}

static int stmt_gets(sq_conn *c, const char *sql, sq_stmt **out, kn_error *err)
{
	return stmt_get(c, sql, strlen(sql), out, err);
}

static void stmt_put(sq_stmt *e)
{
	sqlite3_reset(e->st);
	sqlite3_clear_bindings(e->st);
	if (e->temp)
		stmt_free(e);
	else
		e->busy = false;
}

/* Run a statement without parameters or result rows (BEGIN, COMMIT...). */
static int run(sq_conn *c, const char *sql, kn_error *err)
{
	sq_stmt *s;
	int r = stmt_gets(c, sql, &s, err);
	if (r)
		return r;
	int rc;
	while ((rc = sqlite3_step(s->st)) == SQLITE_ROW)
		;
	r = rc == SQLITE_DONE ? 0 : sq_fail(c, rc, err, sql);
	stmt_put(s);
	return r;
}

/* Run DDL (several statements, never cached). */
static int exec_ddl(sq_conn *c, const char *sql, kn_error *err)
{
	int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : sq_fail(c, rc, err, "migrate");
}

/* ---- connections --------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_free(kn_pconn *pc)
{
	sq_conn *c = (sq_conn *)pc;
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i])
			stmt_free(c->slots[i]);
	free(c->slots);
	sqlite3_close_v2(c->db);
	free(c);
}

/* A thread that ends with a transaction open (a bug) rolls it back and
 * releases the writer lock. */
static void conn_reset(kn_pconn *pc)
{
	sq_conn *c = (sq_conn *)pc;
	if (c->in_tx) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		if (c->write)
			pthread_mutex_unlock(&c->store->wlock);
		c->in_tx = c->write = false;
	}
}

static int conn_open(kn_pool *p, kn_pconn **out, kn_error *err)
{
	sq_store *s = (sq_store *)((char *)p - offsetof(sq_store, pool));
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(s->path, &db,
				 (s->readonly ? SQLITE_OPEN_READONLY | SQLITE_OPEN_URI
					      : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
				     SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc == SQLITE_OK) {
		sqlite3_extended_result_codes(db, 1);
		sqlite3_busy_timeout(db, SQ_BUSY_MS);
		rc = sqlite3_exec(db,
				  "PRAGMA synchronous=FULL;"
				  "PRAGMA foreign_keys=ON;"
				  "PRAGMA temp_store=MEMORY;"
				  "PRAGMA cache_size=-8192",
				  NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		int r = kn_fail(err, KN_ESTORE, "", "cannot open database %s: %s", s->path,
				db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close_v2(db);
		return r;
	}
	sq_conn *c = kn_xcalloc(1, sizeof *c);
	c->db = db;
	c->store = s;
	c->optimize_at = mono_ms() + SQ_OPTIMIZE_MS;
	*out = &c->base;
	return 0;
}

/* This thread's connection, opened on first use. */
static int conn_get(sq_store *s, sq_conn **out, kn_error *err)
{
	kn_pconn *pc = NULL;
	int r = kn_pool_get(&s->pool, &pc, err);
	*out = (sq_conn *)pc;
	return r;
}

/* Let SQLite refresh the planner statistics of the tables this connection
 * has queried: PRAGMA optimize re-runs ANALYZE only on tables never
 * analysed or grown 25-fold since, so it is nearly always a no-op. Called
 * outside transactions, at most every SQ_OPTIMIZE_MS per connection, under
 * the writer lock (ANALYZE writes). */
static void maybe_optimize(sq_store *s, sq_conn *c)
{
	if (c->in_tx)
		return;
	int64_t now = mono_ms();
	if (now < c->optimize_at)
		return;
	c->optimize_at = now + SQ_OPTIMIZE_MS;
	pthread_mutex_lock(&s->wlock);
	sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->wlock);
}

/* Before a write: inside a write transaction nothing to do; outside any
 * transaction take the writer lock for the autocommit statement(s); inside
 * a read transaction refuse. *held tells wr_leave what to release. */
static int wr_enter(sq_store *s, sq_conn *c, bool *held, kn_error *err)
{
	*held = false;
	if (c->in_tx)
		return c->write ? 0
				: kn_fail(err, KN_EINTERNAL, "", "write inside a read transaction");
	pthread_mutex_lock(&s->wlock);
	*held = true;
	return 0;
}

static void wr_leave(sq_store *s, bool held)
{
	if (held)
		pthread_mutex_unlock(&s->wlock);
}

/* ---- open / close ---------------------------------------------------------- */

static void sq_close(kn_store *st);
static const kn_sqlexec sq_exec;

static int sq_open(const char *dsn, kn_store **out, kn_error *err)
{
	if (!dsn)
		return kn_fail(err, KN_EINVAL, "", "sqlite: no database path");
	if (strncmp(dsn, "sqlite:", 7) == 0)
		dsn += 7;
	if (!*dsn)
		return kn_fail(err, KN_EINVAL, "", "sqlite: empty database path");
	if (!sqlite3_threadsafe())
		return kn_fail(err, KN_ESTORE, "", "sqlite library built without thread support");
	sq_store *s = kn_xcalloc(1, sizeof *s);
	s->base.ops = &kn_store_sqlite;
	s->base.sql = &sq_exec;
	s->pool.open = conn_open;
	s->pool.reset = conn_reset;
	s->pool.free = conn_free;
	if (kn_pool_init(&s->pool, SQ_MAX_IDLE, err) != 0) {
		free(s);
		return KN_EINTERNAL;
	}
	s->path = kn_xstrdup(dsn);
	s->readonly = strncmp(dsn, "file:", 5) == 0 && strstr(dsn, "mode=ro");
	pthread_mutex_init(&s->wlock, NULL);
	kn_sqltypes_init(&s->types, KN_SQLITE);
	/* Open this thread's connection now: a bad path fails here, the file
	 * is created and switched to WAL (a persistent property of the file). */
	sq_conn *c = NULL;
	int r = conn_get(s, &c, err);
	if (!r && !s->readonly && sqlite3_db_readonly(c->db, "main") == 1)
		r = kn_fail(err, KN_ESTORE, "", "cannot open database %s: it is read-only",
			    s->path);
	if (!r && !s->readonly) {
		sqlite3_stmt *ps = NULL;
		int rc = sqlite3_prepare_v2(c->db, "PRAGMA journal_mode=WAL", -1, &ps, NULL);
		if (rc == SQLITE_OK)
			rc = sqlite3_step(ps);
		if (rc == SQLITE_ROW) {
			const char *mode = (const char *)sqlite3_column_text(ps, 0);
			if (!mode || strcmp(mode, "wal") != 0)
				r = kn_fail(err, KN_ESTORE, "",
					    "cannot open database %s: WAL mode refused (%s)",
					    s->path, mode ? mode : "?");
		} else {
			r = kn_fail(err, KN_ESTORE, "", "cannot open database %s: %s", s->path,
				    sqlite3_errmsg(c->db));
		}
		sqlite3_finalize(ps);
	}
	if (r) {
		sq_close(&s->base);
		return r;
	}
	*out = &s->base;
	return 0;
}

/* Before a connection is closed: undo a caller's forgotten transaction
 * (only our own writer lock is ours to release) and let SQLite keep its
 * planner statistics. */
static void conn_closing(kn_pconn *pc, bool mine)
{
	sq_conn *c = (sq_conn *)pc;
	if (c->in_tx) {
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
		if (c->write && mine)
			pthread_mutex_unlock(&c->store->wlock);
	}
	sqlite3_exec(c->db, "PRAGMA optimize", NULL, NULL, NULL);
}

/* Close every connection and free the store. No thread may use the store
 * during or after this call. */
static void sq_close(kn_store *st)
{
	sq_store *s = S(st);
	if (!s)
		return;
	kn_pool_close(&s->pool, conn_closing);
	kn_sqltypes_free(&s->types);
	pthread_mutex_destroy(&s->wlock);
	free(s->path);
	free(s);
}

/* ---- transactions ---------------------------------------------------------- */

static int sq_begin(kn_store *st, bool write, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	int r = conn_get(s, &c, err);
	if (r)
		return r;
	if (c->in_tx)
		return kn_fail(err, KN_EINTERNAL, "",
			       "a transaction is already open on this thread");
	if (write)
		pthread_mutex_lock(&s->wlock);
	r = run(c, write ? "BEGIN IMMEDIATE" : "BEGIN", err);
	if (r) {
		if (write)
			pthread_mutex_unlock(&s->wlock);
		return r;
	}
	c->in_tx = true;
	c->write = write;
	return 0;
}

static void tx_end(sq_store *s, sq_conn *c)
{
	bool w = c->write;
	c->in_tx = c->write = false;
	if (w)
		pthread_mutex_unlock(&s->wlock);
}

static int sq_savepoint(kn_store *st, kn_error *err)
{
	sq_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (!r && !(c->in_tx && c->write))
		r = kn_fail(err, KN_EINTERNAL, "", "a savepoint needs an open write transaction");
	return r ? r : run(c, "SAVEPOINT kn_unit", err);
}

static int sq_release(kn_store *st, kn_error *err)
{
	sq_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	return r ? r : run(c, "RELEASE kn_unit", err);
}

static void sq_undo(kn_store *st)
{
	sq_conn *c = NULL;
	kn_error e2;
	if (conn_get(S(st), &c, &e2) == 0)
		sqlite3_exec(c->db, "ROLLBACK TO kn_unit; RELEASE kn_unit", NULL, NULL, NULL);
}

/* Commit. Whatever the result, the transaction is over afterwards: a
 * failed COMMIT is rolled back. */
static int sq_commit(kn_store *st, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	int r = conn_get(s, &c, err);
	if (r)
		return r;
	if (!c->in_tx)
		return kn_fail(err, KN_EINTERNAL, "", "commit without a transaction");
	bool write = c->write;
	r = run(c, "COMMIT", err);
	if (r && !sqlite3_get_autocommit(c->db))
		run(c, "ROLLBACK", NULL);
	tx_end(s, c);
	if (!write)
		maybe_optimize(s, c);
	return r;
}

static void sq_rollback(kn_store *st)
{
	sq_store *s = S(st);
	sq_conn *c = (sq_conn *)kn_pool_mine(&s->pool);
	if (!c || !c->in_tx)
		return;
	if (!sqlite3_get_autocommit(c->db))
		run(c, "ROLLBACK", NULL);
	tx_end(s, c);
}

/* ---- statements for the shared operations (rows.c) ---------------------------- */

/* A result row is the statement itself, stepped onto the row. */
static int sq_run(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n, bool write,
		  kn_row_fn row, void *ctx, int64_t *changes, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	sq_stmt *ps = NULL;
	bool held = false;
	int r = conn_get(s, &c, err);
	if (r || (write && (r = wr_enter(s, c, &held, err)) != 0))
		return r;
	if ((r = stmt_gets(c, sql, &ps, err)) == 0) {
		for (size_t i = 0; i < n; i++) {
			int k = (int)i + 1;
			if (a[i].kind == 'i')
				sqlite3_bind_int64(ps->st, k, a[i].i);
			else if (a[i].kind == 't' && a[i].t)
				sqlite3_bind_text(ps->st, k, a[i].t, -1, SQLITE_STATIC);
			else if (a[i].kind == 'b')
				sqlite3_bind_blob64(ps->st, k, a[i].t ? a[i].t : "",
						    (sqlite3_uint64)a[i].i, SQLITE_STATIC);
			else
				sqlite3_bind_null(ps->st, k);
		}
		int rc;
		while ((rc = sqlite3_step(ps->st)) == SQLITE_ROW)
			if (row && (r = row(ctx, (const kn_sqlrow *)ps->st)) != 0)
				break;
		if (!r && rc != SQLITE_DONE)
			r = sq_fail(c, rc, err, "store");
		if (!r && changes)
			*changes = sqlite3_changes(c->db);
		stmt_put(ps);
	}
	wr_leave(s, held);
	return r;
}

static bool sq_row_null(const kn_sqlrow *r, int col)
{
	return sqlite3_column_type((sqlite3_stmt *)r, col) == SQLITE_NULL;
}

static int64_t sq_row_int(const kn_sqlrow *r, int col)
{
	return sqlite3_column_int64((sqlite3_stmt *)r, col);
}

static const char *sq_row_text(const kn_sqlrow *r, int col, size_t *len)
{
	const char *t = (const char *)sqlite3_column_text((sqlite3_stmt *)r, col);
	*len = t ? (size_t)sqlite3_column_bytes((sqlite3_stmt *)r, col) : 0;
	return t ? t : "";
}

static int sq_row_blob(const kn_sqlrow *r, int col, kn_buf *out)
{
	const void *p = sqlite3_column_blob((sqlite3_stmt *)r, col);
	int n = sqlite3_column_bytes((sqlite3_stmt *)r, col);
	return p && n > 0 ? kn_buf_add(out, p, (size_t)n) : 0;
}

static const kn_sqlexec sq_exec = {sq_run, sq_row_null, sq_row_int, sq_row_text, sq_row_blob};

/* ---- values ---------------------------------------------------------------- */

/* Bind a JSON scalar. Strings are bound SQLITE_STATIC: v must outlive the
 * statement's use (always true here: statements are reset before return). */
static int bind_json(sqlite3_stmt *st, int i, const json_t *v)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_NULL:
		return sqlite3_bind_null(st, i);
	case JSON_STRING:
		return sqlite3_bind_text(st, i, json_string_value(v), (int)json_string_length(v),
					 SQLITE_STATIC);
	case JSON_INTEGER:
		return sqlite3_bind_int64(st, i, json_integer_value(v));
	case JSON_TRUE:
		return sqlite3_bind_int(st, i, 1);
	case JSON_FALSE:
		return sqlite3_bind_int(st, i, 0);
	case JSON_REAL:
		return sqlite3_bind_double(st, i, json_real_value(v));
	default:
		return SQLITE_MISMATCH;
	}
}

static int bind_text(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const char *p = (const char *)sqlite3_column_text(st, i);
	return p ? p : "";
}

static json_t *col_json_text(sqlite3_stmt *st, int i)
{
	if (sqlite3_column_type(st, i) == SQLITE_NULL)
		return json_null();
	const char *p = col_text(st, i);
	return json_stringn(p, (size_t)sqlite3_column_bytes(st, i));
}

static void cpy(char *dst, size_t n, const char *src)
{
	snprintf(dst, n, "%s", src ? src : "");
}

/* The current row of a SELECT <y->select columns> as a record object, or
 * NULL when a text column is not valid UTF-8 (a damaged database). */
/* The record in the current row; when pick is not NULL the row holds only
 * the n columns pick names (indexes into y->cols), in that order. */
static json_t *row_pick(const kn_sqltype *y, sqlite3_stmt *st, const int *pick, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < (pick ? n : y->ncols); i++) {
		const kn_sqlcol *c = &y->cols[pick ? (size_t)pick[i] : i];
		int ci = (int)i;
		json_t *v;
		if (sqlite3_column_type(st, ci) == SQLITE_NULL)
			v = json_null();
		else if (c->kind == 'i')
			v = json_integer(sqlite3_column_int64(st, ci));
		else if (c->kind == 'b')
			v = json_boolean(sqlite3_column_int64(st, ci) != 0);
		else
			v = col_json_text(st, ci);
		if (!v) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new_nocheck(o, c->name, v);
	}
	json_object_set_new_nocheck(o, "type", json_string(y->name));
	return o;
}

static json_t *row_record(const kn_sqltype *y, sqlite3_stmt *st) { return row_pick(y, st, NULL, 0); }

static int bad_row(const kn_sqltype *y, sqlite3_stmt *st, kn_error *err)
{
	return kn_fail(err, KN_ESTORE, "", "%s id %lld: stored text is not valid UTF-8", y->name,
		       (long long)sqlite3_column_int64(st, 0));
}

/* ---- migrate --------------------------------------------------------------- */

/* clang-format off */
static const char fixed_ddl[] =
	"CREATE TABLE IF NOT EXISTS counters(type TEXT PRIMARY KEY, next INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS comments(id INTEGER PRIMARY KEY, type TEXT NOT NULL,"
	" rec_id INTEGER NOT NULL, kind TEXT NOT NULL, body TEXT NOT NULL,"
	" author TEXT NOT NULL, created_at TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS comments_rec ON comments(type, rec_id, id);"
	"CREATE TABLE IF NOT EXISTS relations(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" from_type TEXT NOT NULL,"
	" from_id INTEGER NOT NULL, kind TEXT NOT NULL, to_type TEXT NOT NULL,"
	" to_id INTEGER NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,"
	" UNIQUE(from_type, from_id, kind, to_type, to_id));"
	"CREATE INDEX IF NOT EXISTS relations_to ON relations(to_type, to_id);"
	"CREATE TABLE IF NOT EXISTS attachments(id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" type TEXT NOT NULL, rec_id INTEGER NOT NULL, name TEXT NOT NULL,"
	" ctype TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,"
	" data BLOB NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS attachments_rec ON attachments(type, rec_id, id);"
	"CREATE TABLE IF NOT EXISTS journal(seq INTEGER PRIMARY KEY, at TEXT NOT NULL,"
	" actor TEXT NOT NULL, type TEXT NOT NULL, rec_id INTEGER NOT NULL,"
	" action TEXT NOT NULL, changes TEXT NOT NULL, reason TEXT, digest TEXT NOT NULL,"
	" prev TEXT NOT NULL, hash TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS journal_rec ON journal(type, rec_id, seq);"
	"CREATE TRIGGER IF NOT EXISTS journal_no_update BEFORE UPDATE ON journal"
	" BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
	"CREATE TRIGGER IF NOT EXISTS journal_no_delete BEFORE DELETE ON journal"
	" BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
	"CREATE TABLE IF NOT EXISTS users(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	" role TEXT NOT NULL, org TEXT, pwhash TEXT, failures INTEGER NOT NULL DEFAULT 0,"
	" locked_until INTEGER NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS tokens(id INTEGER PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id), hash TEXT NOT NULL UNIQUE,"
	" label TEXT, created_at TEXT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"
	"CREATE TABLE IF NOT EXISTS sessions(hash TEXT PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,"
	" expires INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS jobs(name TEXT PRIMARY KEY, due_at INTEGER NOT NULL,"
	" lease_until INTEGER NOT NULL DEFAULT 0, owner TEXT NOT NULL DEFAULT '',"
	" runs INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	" last_at TEXT NOT NULL DEFAULT '', last_error TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS search(type TEXT NOT NULL, tok TEXT NOT NULL,"
	" rec_id INTEGER NOT NULL, w INTEGER NOT NULL, PRIMARY KEY(type, tok, rec_id))"
	" WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS search_rec ON search(type, rec_id);";
/* clang-format on */

static const char *col_decl(const kn_sqlcol *c)
{
	return c->kind == 't' ? "TEXT" : "INTEGER";
}

/* A single integer from sql with an optional text parameter (0 when no row). */
static int query_int(sq_conn *c, const char *sql, const char *param, int64_t *out, kn_error *err)
{
	sq_stmt *ps = NULL;
	int r = stmt_gets(c, sql, &ps, err);
	if (r)
		return r;
	if (param)
		bind_text(ps->st, 1, param);
	int rc = sqlite3_step(ps->st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int64(ps->st, 0) : 0;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = sq_fail(c, rc, err, "migrate");
	stmt_put(ps);
	return r;
}

/* Planner statistics: a table of some size with an index never analysed
 * (a database filled by an import, an index just declared) is analysed
 * now, at start-up, rather than planned blind until PRAGMA optimize. */
static int analyze_if_needed(sq_conn *c, const kn_sqltype *y, kn_error *err)
{
	char *tn = kn_xasprintf("rec_%s", y->name);
	char *sql = kn_xasprintf("SELECT max(\"id\") FROM \"%s\"", tn);
	int64_t rows = 0, stat1 = 0, missing = 1;
	int r = query_int(c, sql, NULL, &rows, err);
	if (r || rows < 1000)
		goto out;
	r = query_int(c, "SELECT count(*) FROM sqlite_master WHERE name='sqlite_stat1'", NULL,
		      &stat1, err);
	if (!r && stat1)
		r = query_int(
		    c,
		    "SELECT count(*) FROM sqlite_master WHERE type='index' AND tbl_name=?1"
		    " AND name NOT IN (SELECT idx FROM sqlite_stat1 WHERE tbl=?1)",
		    tn, &missing, err);
	if (!r && missing) {
		free(sql);
		sql = kn_xasprintf("ANALYZE \"%s\"", tn);
		r = exec_ddl(c, sql, err);
	}
out:
	free(sql);
	free(tn);
	return r;
}

/* Create rec_<type> or add the columns it lacks; create missing indexes. */
/*
 * A kept count: the table kc_<type>__a__b holds one row per combination of
 * values of a, b with the number of records that have it, maintained by
 * triggers in the same transaction as every insert, update and delete (so
 * it can never drift from the records, whoever writes them). One b-tree
 * (WITHOUT ROWID, keyed by the values; an empty value is kept as x'00',
 * which equals no text or number) and one statement per insert, so that a
 * create writes as few extra pages as possible. Made and filled when first
 * declared.
 */
static int count_create(sq_conn *c, const kn_sqltype *y, const kn_sqlcount *k, kn_error *err)
{
	kn_buf cols, newv, oldm, neq, b;
	kn_buf_init(&cols, 0);
	kn_buf_init(&newv, 0);
	kn_buf_init(&oldm, 0);
	kn_buf_init(&neq, 0);
	kn_buf_init(&b, 0);
	for (size_t j = 0; j < k->n; j++) {
		const char *cn = y->cols[k->cols[j]].name;
		const char *sep = j ? "," : "";
		kn_buf_addf(&cols, "%s\"%s\"", sep, cn);
		kn_buf_addf(&newv, "%scoalesce(NEW.\"%s\",x'00')", sep, cn);
		kn_buf_addf(&oldm, "%s\"%s\"=coalesce(OLD.\"%s\",x'00')", j ? " AND " : "", cn, cn);
		kn_buf_addf(&neq, "%sOLD.\"%s\" IS NOT NEW.\"%s\"", j ? " OR " : "", cn, cn);
	}
	bool exists = false;
	sq_stmt *ps = NULL;
	int r = stmt_gets(c, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", &ps, err);
	if (!r) {
		bind_text(ps->st, 1, k->table);
		exists = sqlite3_step(ps->st) == SQLITE_ROW;
		stmt_put(ps);
	}
	char *plus = kn_xasprintf("INSERT INTO \"%s\"(%s,\"n\") VALUES(%s,1)"
				  " ON CONFLICT(%s) DO UPDATE SET \"n\"=\"n\"+1;",
				  k->table, cols.data, newv.data, cols.data);
	char *minus = kn_xasprintf("UPDATE \"%s\" SET \"n\"=\"n\"-1 WHERE %s;", k->table,
				   oldm.data);
	if (!r)
		kn_buf_addf(&b,
			    "CREATE TABLE IF NOT EXISTS \"%s\"(%s,\"n\" INTEGER NOT NULL,"
			    "PRIMARY KEY(%s)) WITHOUT ROWID;"
			    "CREATE TRIGGER IF NOT EXISTS \"%s_i\" AFTER INSERT ON \"rec_%s\""
			    " BEGIN %s END;"
			    "CREATE TRIGGER IF NOT EXISTS \"%s_u\" AFTER UPDATE OF %s ON \"rec_%s\""
			    " WHEN %s BEGIN %s %s END;"
			    "CREATE TRIGGER IF NOT EXISTS \"%s_d\" AFTER DELETE ON \"rec_%s\""
			    " BEGIN %s END;",
			    k->table, cols.data, cols.data, k->table, y->name, plus, k->table,
			    cols.data, y->name, neq.data, minus, plus, k->table, y->name, minus);
	if (!r && !exists) {
		kn_buf sel;
		kn_buf_init(&sel, 0);
		for (size_t j = 0; j < k->n; j++)
			kn_buf_addf(&sel, "%scoalesce(\"%s\",x'00')", j ? "," : "",
				    y->cols[k->cols[j]].name);
		kn_buf_addf(&b, "INSERT INTO \"%s\"(%s,\"n\") SELECT %s,count(*) FROM \"rec_%s\""
				" GROUP BY %s;",
			    k->table, cols.data, sel.data, y->name, sel.data);
		kn_buf_release(&sel);
	}
	if (!r)
		r = exec_ddl(c, b.data, err);
	free(plus);
	free(minus);
	kn_buf_release(&cols);
	kn_buf_release(&newv);
	kn_buf_release(&oldm);
	kn_buf_release(&neq);
	kn_buf_release(&b);
	return r;
}

static int migrate_type(sq_store *s, sq_conn *c, const kn_type *t, kn_error *err)
{
	kn_sqltype *y = NULL;
	int r = kn_sqltypes_get(&s->types, t, &y, err);
	if (r)
		return r;
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_addf(
	    &b,
	    "CREATE TABLE IF NOT EXISTS \"rec_%s\"(\"id\" INTEGER PRIMARY KEY AUTOINCREMENT,"
	    "\"number\" TEXT NOT NULL UNIQUE,\"version\" INTEGER NOT NULL,"
	    "\"state\" TEXT NOT NULL,\"created_at\" TEXT NOT NULL,"
	    "\"updated_at\" TEXT NOT NULL,\"created_by\" TEXT NOT NULL,"
	    "\"updated_by\" TEXT NOT NULL",
	    y->name);
	for (size_t i = KN_NSYS; i < y->ncols; i++)
		kn_buf_addf(&b, ",\"%s\" %s", y->cols[i].name, col_decl(&y->cols[i]));
	kn_buf_adds(&b, ")");
	r = exec_ddl(c, b.data, err);

	/* Forward migration: columns declared since the table was made. */
	bool *have = kn_xcalloc(y->ncols, sizeof *have);
	if (!r) {
		sq_stmt *ps = NULL;
		char *tn = kn_xasprintf("rec_%s", y->name);
		r = stmt_gets(c, "SELECT name FROM pragma_table_info(?)", &ps, err);
		if (!r) {
			int rc;
			bind_text(ps->st, 1, tn);
			while ((rc = sqlite3_step(ps->st)) == SQLITE_ROW) {
				int i = kn_sql_col(y, col_text(ps->st, 0));
				if (i >= 0)
					have[i] = true;
			}
			if (rc != SQLITE_DONE)
				r = sq_fail(c, rc, err, "migrate");
			stmt_put(ps);
		}
		free(tn);
	}
	for (size_t i = KN_NSYS; !r && i < y->ncols; i++) {
		if (have[i])
			continue;
		b.len = 0;
		kn_buf_addf(&b, "ALTER TABLE \"rec_%s\" ADD COLUMN \"%s\" %s", y->name,
			    y->cols[i].name, col_decl(&y->cols[i]));
		r = exec_ddl(c, b.data, err);
	}
	free(have);

	kn_buf key, rest;
	kn_buf_init(&key, 0);
	kn_buf_init(&rest, 0);
	if (!r)
		r = kn_sql_indexes(KN_SQLITE, y, t, &key, &rest, err);
	if (!r && key.len && (r = exec_ddl(c, key.data, err)) == KN_ECONFLICT)
		r = kn_sql_key_conflict(y, t, err);
	if (!r && rest.len)
		r = exec_ddl(c, rest.data, err);
	kn_buf_release(&key);
	kn_buf_release(&rest);
	for (size_t i = 0; !r && i < y->ncounts; i++)
		r = count_create(c, y, &y->counts[i], err);
	kn_buf_release(&b);
	return r ? r : analyze_if_needed(c, y, err);
}

/* Databases made before kanri 0.2 have relations without AUTOINCREMENT,
 * where the id of the newest relation, once deleted, could be given again:
 * rebuilt once, with its rows. */
static int relations_autoincrement(sq_conn *c, kn_error *err)
{
	int64_t old = 0;
	int r = query_int(c,
			  "SELECT count(*) FROM sqlite_master WHERE name='relations'"
			  " AND sql NOT LIKE '%AUTOINCREMENT%'",
			  NULL, &old, err);
	if (r || !old)
		return r;
	return exec_ddl(c,
			"ALTER TABLE relations RENAME TO relations_old;"
			"DROP INDEX IF EXISTS relations_to;"
			"CREATE TABLE relations(id INTEGER PRIMARY KEY AUTOINCREMENT,"
			" from_type TEXT NOT NULL, from_id INTEGER NOT NULL, kind TEXT NOT NULL,"
			" to_type TEXT NOT NULL, to_id INTEGER NOT NULL, created_by TEXT NOT NULL,"
			" created_at TEXT NOT NULL, UNIQUE(from_type, from_id, kind, to_type, to_id));"
			"INSERT INTO relations SELECT * FROM relations_old;"
			"DROP TABLE relations_old;"
			"CREATE INDEX relations_to ON relations(to_type, to_id);",
			err);
}

/* Create missing tables, columns and indexes; never drops anything.
 * Runs in its own write transaction unless the caller has one open. */
static int sq_migrate(kn_store *st, const kn_schema *sch, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	int r = conn_get(s, &c, err);
	if (r)
		return r;
	bool own = !c->in_tx;
	if (c->in_tx && !c->write)
		return kn_fail(err, KN_EINTERNAL, "", "migrate inside a read transaction");
	char *sig = kn_sql_migrated_sig(sch), *have = NULL;
	kn_error e2;
	bool done = sig && kn_sqlop_meta_get(st, "migrated", &have, &e2) == 0 && have &&
		    strcmp(have, sig) == 0;
	free(have);
	if (own && (r = sq_begin(st, true, err)) != 0) {
		free(sig);
		return r;
	}
	if (!done)
		r = exec_ddl(c, fixed_ddl, err);
	if (!done && !r)
		r = relations_autoincrement(c, err);
	for (size_t i = 0; !r && i < sch->ntypes; i++) {
		kn_sqltype *y = NULL;
		if (done) { /* only the planner statistics, when a load left them behind */
			r = kn_sqltypes_get(&s->types, &sch->types[i], &y, err);
			if (!r)
				r = analyze_if_needed(c, y, err);
		} else {
			r = migrate_type(s, c, &sch->types[i], err);
		}
	}
	if (!r && !done && sig)
		r = kn_sqlop_meta_set(st, "migrated", sig, err);
	free(sig);
	if (own) {
		if (r)
			sq_rollback(st);
		else
			r = sq_commit(st, err);
	}
	return r;
}

/* ---- records --------------------------------------------------------------- */

/* Common prologue of the record operations: connection and type SQL. */
static int rec_prep(kn_store *st, const kn_type *t, sq_conn **c, kn_sqltype **y, kn_error *err)
{
	int r = conn_get(S(st), c, err);
	return r ? r : kn_sqltypes_get(&S(st)->types, t, y, err);
}


/* KN_ECONFLICT for a unique violation on a rec_ table, naming the
 * attribute (err->field) and, from obj, its value. */
static int unique_fail(sq_conn *c, const kn_sqltype *y, const json_t *obj, kn_error *err)
{
	/* "UNIQUE constraint failed: rec_incident.number" */
	const char *msg = sqlite3_errmsg(c->db), *dot = strrchr(msg, '.');
	char col[64];
	cpy(col, sizeof col, dot ? dot + 1 : "key");
	return kn_sql_unique_fail(y, col, obj, err);
}

/* Insert rec: every column but id from the member of the same name (absent
 * = NULL); "id" and "type" members are ignored, any other member that is
 * not a column is refused (KN_EINVAL). A unique violation names the
 * attribute (err->field) and value. */
static int sq_rec_insert(kn_store *st, const kn_type *t, const json_t *rec, int64_t *id,
			 kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	sq_stmt *ps = NULL;
	bool held;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_check_insert(y, rec, err)) != 0)
		return r;
	if ((r = wr_enter(s, c, &held, err)) != 0)
		return r;
	if ((r = stmt_gets(c, y->insert, &ps, err)) != 0) {
		wr_leave(s, held);
		return r;
	}
	for (size_t i = 1; i < y->ncols; i++)
		bind_json(ps->st, (int)i, json_object_get(rec, y->cols[i].name));
	int rc = sqlite3_step(ps->st);
	if (rc == SQLITE_DONE) {
		*id = sqlite3_last_insert_rowid(c->db);
	} else if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		r = unique_fail(c, y, rec, err);
	} else {
		r = sq_fail(c, rc, err, "insert");
	}
	stmt_put(ps);
	wr_leave(s, held);
	return r;
}

/* Version of row id into *v; KN_ENOTFOUND when there is no such row. */
static int rec_version(sq_conn *c, const kn_sqltype *y, int64_t id, int64_t *v, kn_error *err)
{
	sq_stmt *ps = NULL;
	int r = stmt_gets(c, y->version, &ps, err);
	if (r)
		return r;
	sqlite3_bind_int64(ps->st, 1, id);
	int rc = sqlite3_step(ps->st);
	if (rc == SQLITE_ROW)
		*v = sqlite3_column_int64(ps->st, 0);
	else if (rc == SQLITE_DONE)
		r = kn_fail(err, KN_ENOTFOUND, "", "%s %lld not found", y->name, (long long)id);
	else
		r = sq_fail(c, rc, err, "update");
	stmt_put(ps);
	return r;
}

/* UPDATE ... SET <the members of set, in column order> WHERE id AND version.
 * No row changed: KN_ENOTFOUND when id does not exist, else KN_ECONFLICT
 * (stale version); nothing is written then. Every member of set must be a
 * column other than id. */
static int sq_rec_update(kn_store *st, const kn_type *t, int64_t id, int64_t version,
			 const json_t *set, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	sq_stmt *ps = NULL;
	bool held;
	int r = rec_prep(st, t, &c, &y, err);
	if (r)
		return r;
	kn_buf b;
	kn_sqlbinds bs = {0};
	size_t nset = 0;
	kn_buf_init(&b, 0);
	if ((r = kn_sql_update(KN_SQLITE, y, set, &b, &bs, &nset, err)) != 0 ||
	    (r = wr_enter(s, c, &held, err)) != 0) {
		kn_buf_release(&b);
		kn_sqlbinds_release(&bs);
		return r;
	}
	int changed = 0;
	if (nset) {
		r = stmt_get(c, b.data, b.len, &ps, err);
		if (!r) {
			int k = 1;
			for (size_t i = 0; i < bs.n; i++)
				bind_json(ps->st, k++, bs.a[i].v);
			sqlite3_bind_int64(ps->st, k++, id);
			sqlite3_bind_int64(ps->st, k, version);
			int rc = sqlite3_step(ps->st);
			if (rc == SQLITE_DONE)
				changed = sqlite3_changes(c->db);
			else if (rc == SQLITE_CONSTRAINT_UNIQUE)
				r = unique_fail(c, y, set, err);
			else
				r = sq_fail(c, rc, err, "update");
			stmt_put(ps);
		}
	}
	if (!r && !changed) {
		int64_t cur = 0;
		r = rec_version(c, y, id, &cur, err);
		if (!r && cur != version)
			r = kn_fail(err, KN_ECONFLICT, "version",
				    "%s %lld was changed meanwhile (version %lld, not %lld)",
				    y->name, (long long)id, (long long)cur, (long long)version);
	}
	wr_leave(s, held);
	kn_buf_release(&b);
	kn_sqlbinds_release(&bs);
	return r;
}

/* Run a single-row SELECT of y's columns whose one parameter is text
 * (when not NULL) or id. */
static int rec_fetch(sq_conn *c, const kn_sqltype *y, const char *sql, const char *text, int64_t id,
		     json_t **out, kn_error *err)
{
	sq_stmt *ps = NULL;
	int r = stmt_gets(c, sql, &ps, err);
	if (r)
		return r;
	if (text)
		bind_text(ps->st, 1, text);
	else
		sqlite3_bind_int64(ps->st, 1, id);
	int rc = sqlite3_step(ps->st);
	if (rc == SQLITE_ROW) {
		*out = row_record(y, ps->st);
		if (!*out)
			r = bad_row(y, ps->st, err);
	} else if (rc == SQLITE_DONE) {
		if (text)
			r = kn_fail(err, KN_ENOTFOUND, "", "%s %s not found", y->name, text);
		else
			r = kn_fail(err, KN_ENOTFOUND, "", "%s %lld not found", y->name,
				    (long long)id);
	} else {
		r = sq_fail(c, rc, err, "get");
	}
	stmt_put(ps);
	return r;
}

static int sq_rec_get(kn_store *st, const kn_type *t, int64_t id, const char *number, json_t **out,
		      kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r)
		return r;
	return rec_fetch(c, y, number ? y->get_number : y->get_id, number, id, out, err);
}

static int sq_rec_get_key(kn_store *st, const kn_type *t, const char *key, json_t **out,
			  kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r)
		return r;
	return rec_fetch(c, y, y->get_key, key ? key : "", 0, out, err);
}

/* ---- list queries ------------------------------------------------------------ */

/* Bind a value compared with a column of the given kind. An integer given
 * as a decimal string for an integer column, or an integer for a text
 * column, is converted: the keyset filter compares +"column" (no affinity),
 * where SQLite would otherwise order every integer before every text. */
static void bind_cmp(sqlite3_stmt *st, int i, const json_t *v, char kind)
{
	if (kind == 'i' && json_is_string(v)) {
		const char *sv = json_string_value(v);
		char *end;
		long long n = strtoll(sv, &end, 10);
		if (*sv && !*end) {
			sqlite3_bind_int64(st, i, n);
			return;
		}
	} else if (kind == 't' && json_is_integer(v)) {
		char num[32];
		snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
		sqlite3_bind_text(st, i, num, -1, SQLITE_TRANSIENT);
		return;
	}
	bind_json(st, i, v);
}

/* One page of records (the SQL from kn_sql_list) and, when asked, the total. */
static int sq_rec_list(kn_store *st, const kn_type *t, const kn_query *q, json_t **items,
		       int64_t *total, kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	kn_sqllist l;
	int r = rec_prep(st, t, &c, &y, err);
	*items = NULL;
	if (total)
		*total = -1;
	if (r || (r = kn_sql_list(KN_SQLITE, y, q, &l, err)) != 0)
		return r;
	sq_stmt *ps = NULL;
	json_t *arr = NULL;
	r = stmt_get(c, l.sql.data, l.sql.len, &ps, err);
	if (r)
		goto out;
	size_t nb = l.bs.n - (q->limit > 0);
	for (size_t k = 0; k < nb; k++)
		bind_cmp(ps->st, (int)k + 1, l.bs.a[k].v, l.bs.a[k].kind);
	if (q->limit > 0)
		sqlite3_bind_int(ps->st, (int)nb + 1, q->limit);
	arr = json_array();
	int rc;
	while ((rc = sqlite3_step(ps->st)) == SQLITE_ROW) {
		json_t *rec = row_pick(y, ps->st, l.pick, l.npick);
		if (!rec) {
			r = bad_row(y, ps->st, err); /* column 0 is always id */
			break;
		}
		json_array_append_new(arr, rec);
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_fail(c, rc, err, "list");
	stmt_put(ps);

	if (!r && q->want_total && total) {
		r = stmt_get(c, l.count_sql.data, l.count_sql.len, &ps, err);
		if (!r) {
			for (size_t k = 0; k < l.ncount; k++)
				bind_cmp(ps->st, (int)k + 1, l.bs.a[k].v, l.bs.a[k].kind);
			rc = sqlite3_step(ps->st);
			if (rc == SQLITE_ROW)
				*total = sqlite3_column_int64(ps->st, 0);
			else
				r = sq_fail(c, rc, err, "count");
			stmt_put(ps);
		}
	}
	if (r)
		json_decref(arr);
	else
		*items = arr;
	maybe_optimize(S(st), c);
out:
	kn_sqllist_release(&l);
	return r;
}

/* Grouped aggregates (the SQL from kn_sql_stats) and the total. */
static int sq_rec_stats(kn_store *st, const kn_type *t, const kn_statq *q, json_t **groups,
			int64_t *total, kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	kn_sqlstats s;
	int r = rec_prep(st, t, &c, &y, err);
	*groups = NULL;
	if (total)
		*total = -1;
	if (r || (r = kn_sql_stats(KN_SQLITE, y, q, &s, err)) != 0)
		return r;
	sq_stmt *ps = NULL;
	json_t *arr = json_array();
	r = stmt_get(c, s.sql.data, s.sql.len, &ps, err);
	if (r)
		goto out;
	for (size_t k = 0; k < s.bs.n; k++)
		bind_cmp(ps->st, (int)k + 1, s.bs.a[k].v, s.bs.a[k].kind);
	int rc;
	while ((rc = sqlite3_step(ps->st)) == SQLITE_ROW) {
		json_t *row = kn_sqlop_stats_row(st, (const kn_sqlrow *)ps->st, &s);
		if (!row) {
			r = kn_fail(err, KN_ESTORE, "", "%s: stored text is not valid UTF-8", y->name);
			break;
		}
		json_array_append_new(arr, row);
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_fail(c, rc, err, "stats");
	stmt_put(ps);
	if (!r && total && !kn_sqlop_stats_total(q, arr, total)) {
		r = stmt_get(c, s.count_sql.data, s.count_sql.len, &ps, err);
		if (!r) {
			for (size_t k = 0; k < s.ncount; k++)
				bind_cmp(ps->st, (int)k + 1, s.bs.a[k].v, s.bs.a[k].kind);
			rc = sqlite3_step(ps->st);
			if (rc == SQLITE_ROW)
				*total = sqlite3_column_int64(ps->st, 0);
			else
				r = sq_fail(c, rc, err, "count");
			stmt_put(ps);
		}
	}
out:
	if (r) {
		json_decref(arr);
	} else {
		*groups = arr;
		maybe_optimize(S(st), c);
	}
	kn_sqlstats_release(&s);
	return r;
}

/* Every record in id order. cb borrows rec (json_incref to keep it); it may
 * call the store again on the same thread. */
static int sq_rec_scan(kn_store *st, const kn_type *t, int (*cb)(void *ctx, json_t *rec), void *ctx,
		       kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	sq_stmt *ps = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = stmt_gets(c, y->scan, &ps, err)) != 0)
		return r;
	int rc;
	while ((rc = sqlite3_step(ps->st)) == SQLITE_ROW) {
		json_t *rec = row_record(y, ps->st);
		if (!rec) {
			r = bad_row(y, ps->st, err);
			break;
		}
		r = cb(ctx, rec);
		json_decref(rec);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = sq_fail(c, rc, err, "scan");
	stmt_put(ps);
	return r;
}

/* ---- full-text search ------------------------------------------------------------ */

static int sq_search_set(kn_store *st, const char *type, int64_t rec_id, bool fresh,
			 const kn_posting *p, size_t n, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	sq_stmt *ps = NULL;
	bool held;
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id)};
	int r = fresh ? 0
		      : sq_run(st, "DELETE FROM search WHERE type=? AND rec_id=?", a, 2, true, NULL,
			       NULL, NULL, err);
	if (r || !n || (r = conn_get(s, &c, err)) != 0 || (r = wr_enter(s, c, &held, err)) != 0)
		return r;
	if ((r = stmt_gets(c, "INSERT INTO search(type, tok, rec_id, w) VALUES(?,?,?,?)", &ps,
			   err)) == 0) {
		for (size_t i = 0; i < n && !r; i++) {
			bind_text(ps->st, 1, type);
			bind_text(ps->st, 2, p[i].tok);
			sqlite3_bind_int64(ps->st, 3, rec_id);
			sqlite3_bind_int(ps->st, 4, p[i].w);
			int rc = sqlite3_step(ps->st);
			if (rc != SQLITE_DONE)
				r = sq_fail(c, rc, err, "search");
			sqlite3_reset(ps->st);
		}
		stmt_put(ps);
	}
	wr_leave(s, held);
	return r;
}

/* ---- copies ------------------------------------------------------------------------ */

/* Insert the members of row named by cols, in order, into a table. */
static int insert_row(kn_store *st, const char *sql, const char *const *cols, const json_t *row,
		      const char *what, kn_error *err)
{
	sq_store *s = S(st);
	sq_conn *c = NULL;
	sq_stmt *ps = NULL;
	bool held;
	int r = conn_get(s, &c, err);
	if (r || (r = wr_enter(s, c, &held, err)) != 0)
		return r;
	if ((r = stmt_gets(c, sql, &ps, err)) == 0) {
		for (int i = 0; cols[i]; i++)
			bind_json(ps->st, i + 1, json_object_get(row, cols[i]));
		int rc = sqlite3_step(ps->st);
		if (rc != SQLITE_DONE)
			r = sq_fail(c, rc, err, what);
		stmt_put(ps);
	}
	wr_leave(s, held);
	return r;
}

static int sq_rec_restore(kn_store *st, const kn_type *t, const json_t *rec, kn_error *err)
{
	sq_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_check_insert(y, rec, err)) != 0)
		return r;
	if (!json_is_integer(json_object_get(rec, "id")))
		return kn_fail(err, KN_EINVAL, "id", "%s: a restored record needs its id", y->name);
	const char **cols = kn_xcalloc(y->ncols + 1, sizeof *cols);
	for (size_t i = 0; i < y->ncols; i++)
		cols[i] = y->cols[i].name;
	r = insert_row(st, y->insert_all, cols, rec, y->name, err);
	free(cols);
	return r;
}

static int sq_load_done(kn_store *st, const kn_schema *s, kn_error *err)
{
	return 0; /* AUTOINCREMENT and rowids continue after the largest id by themselves */
}

int kn_store_sqlite_seal(const char *path, kn_error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	int r = rc == SQLITE_OK ? 0
				: kn_fail(err, KN_ESTORE, "", "%s: %s", path,
					  db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
	sqlite3_close(db);
	return r;
}

/* SQLite's online backup: pages copied in steps; a write by another
 * connection meanwhile restarts the copy, so the result is one
 * consistent state. */
static int sq_backup_file(kn_store *st, const char *path, kn_error *err)
{
	sq_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (r)
		return r;
	sqlite3 *dst = NULL;
	int rc = sqlite3_open_v2(path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
	sqlite3_backup *b = rc == SQLITE_OK ? sqlite3_backup_init(dst, "main", c->db, "main") : NULL;
	if (!b) {
		r = kn_fail(err, KN_ESTORE, "", "cannot write %s: %s", path,
			    dst ? sqlite3_errmsg(dst) : sqlite3_errstr(rc));
		sqlite3_close(dst);
		return r;
	}
	while ((rc = sqlite3_backup_step(b, 1024)) == SQLITE_OK || rc == SQLITE_BUSY ||
	       rc == SQLITE_LOCKED)
		if (rc != SQLITE_OK)
			sqlite3_sleep(20);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		r = kn_fail(err, KN_ESTORE, "", "backup to %s failed: %s", path,
			    sqlite3_errmsg(dst));
	sqlite3_close(dst);
	return r;
}

const kn_store_ops kn_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .migrate = sq_migrate,
    .begin = sq_begin,
    .savepoint = sq_savepoint,
    .release = sq_release,
    .undo = sq_undo,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .rec_insert = sq_rec_insert,
    .rec_update = sq_rec_update,
    .rec_get = sq_rec_get,
    .rec_get_key = sq_rec_get_key,
    .rec_list = sq_rec_list,
    .rec_stats = sq_rec_stats,
    .rec_scan = sq_rec_scan,
    KN_SQLOPS_SHARED,
    .search_set = sq_search_set,
    .rec_restore = sq_rec_restore,
    .load_done = sq_load_done,
    .backup_file = sq_backup_file,
};

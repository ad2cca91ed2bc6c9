/* SPDX-License-Identifier: Apache-2.0 */
/*
 * postgres.c - the PostgreSQL storage backend (kn_store_pg), over libpq.
 *
 * Connections. As with SQLite, every thread uses its own connection
 * (kn_pool, see sql.h), opened from the data source name
 * (postgres://user@host:port/db?...; passwords best come from ~/.pgpass or
 * PGPASSWORD). A connection found broken outside a transaction is reset.
 * The database must use the UTF8 encoding; text columns use the "C"
 * collation, so that text sorts and compares byte by byte exactly as on
 * SQLite.
 *
 * Several kanri processes (nodes) may share one database. Every write
 * transaction starts with a transaction-scoped advisory lock, the same key
 * in every node: write transactions are serialised across all nodes, so
 * numbering stays gap-free and the journal chain linear, just as SQLite's
 * one writer does it. Write transactions run READ COMMITTED (each
 * statement sees everything committed before it, including the previous
 * holder's work); read transactions REPEATABLE READ READ ONLY (one
 * snapshot). Optimistic concurrency on records (the version column) holds
 * across nodes because the version check is part of the UPDATE.
 *
 * Statements are prepared once per connection (named k1, k2, ... and kept
 * in a hash table keyed by the SQL text) and run with text parameters.
 * Scans read in pages of SCAN_PAGE rows by key, so that a million records
 * never sit in memory at once.
 *
 * Tables are those of sqlite.c with PostgreSQL types: BIGINT, BOOLEAN and
 * TEXT COLLATE "C"; identity columns; the journal's append-only rule and
 * the kept counts are PL/pgSQL triggers.
 */
#include "kanri.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>

#include <libpq-fe.h>

#include "store/sql.h"

#define PG_CACHE_MAX 256
#define PG_MAX_IDLE 16
#define SCAN_PAGE 1000
/* The advisory lock key of writers: "kanri" in ASCII. */
#define PG_WRITE_LOCK "SELECT pg_advisory_xact_lock(461195194985)"

typedef struct pg_stmt {
	char *sql;
	size_t len;
	uint64_t hash;
	char name[16];
} pg_stmt;

typedef struct pg_store pg_store;

typedef struct pg_conn {
	kn_pconn base; /* first */
	PGconn *db;
	pg_store *store;
	pg_stmt **slots; /* open addressing; cap 0 or a power of two */
	size_t cap, n;
	unsigned next_name;
	bool in_tx, write;
} pg_conn;

struct pg_store {
	kn_store base; /* first */
	char *dsn;
	kn_pool pool;
	kn_sqltypes types;
};

static inline pg_store *S(kn_store *st) { return (pg_store *)st; }

/* ---- errors --------------------------------------------------------------- */

static const char *sqlstate(const PGresult *res)
{
	const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

/* The first line of the server's (or libpq's) message. */
static void first_line(const char *msg, char *out, size_t n)
{
	snprintf(out, n, "%s", msg ? msg : "");
	char *nl = strchr(out, '\n');
	if (nl)
		*nl = 0;
}

/* Map a failed result to a KN_E* code. */
static int pg_fail(pg_conn *c, const PGresult *res, kn_error *err, const char *what)
{
	char msg[300];
	first_line(res ? PQresultErrorMessage(res) : PQerrorMessage(c->db), msg, sizeof msg);
	if (!msg[0])
		first_line(PQerrorMessage(c->db), msg, sizeof msg);
	const char *st = sqlstate(res);
	if (strcmp(st, "23505") == 0) {
		const char *cn = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
		return kn_fail(err, KN_ECONFLICT, cn ? cn : "", "%s: already exists (%s)", what,
			       msg);
	}
	if (strcmp(st, "23503") == 0)
		return kn_fail(err, KN_ENOTFOUND, "", "%s: refers to a missing row", what);
	if (strncmp(st, "23", 2) == 0)
		return kn_fail(err, KN_EINVAL, "", "%s: %s", what, msg);
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0 || strcmp(st, "55P03") == 0)
		return kn_fail(err, KN_EBUSY, "", "%s: database busy: %s", what, msg);
	return kn_fail(err, KN_ESTORE, "", "%s: %s", what, msg);
}

/* ---- statements ------------------------------------------------------------- */

static void stmt_free(pg_stmt *e)
{
	free(e->sql);
	free(e);
}

static void cache_clear(pg_conn *c)
{
	for (size_t i = 0; i < c->cap; i++)
		if (c->slots[i])
			stmt_free(c->slots[i]);
	free(c->slots);
	c->slots = NULL;
	c->cap = c->n = 0;
}

static void cache_put_slot(pg_conn *c, pg_stmt *e)
{
	size_t m = c->cap - 1, i = e->hash & m;
	while (c->slots[i])
		i = (i + 1) & m;
	c->slots[i] = e;
	c->n++;
}

/* Room for one more: grow until PG_CACHE_MAX, then forget every statement
 * (DEALLOCATE ALL) and start again. */
static void cache_room(pg_conn *c)
{
	if (c->cap && c->n + 1 <= c->cap / 2)
		return;
	if (c->n >= PG_CACHE_MAX) {
		PQclear(PQexec(c->db, "DEALLOCATE ALL"));
		size_t cap = c->cap;
		cache_clear(c);
		c->cap = cap;
		c->slots = kn_xcalloc(cap, sizeof *c->slots);
		return;
	}
	pg_stmt **old = c->slots;
	size_t ocap = c->cap;
	c->cap = c->cap ? c->cap * 2 : 64;
	c->slots = kn_xcalloc(c->cap, sizeof *c->slots);
	c->n = 0;
	for (size_t i = 0; i < ocap; i++)
		if (old[i])
			cache_put_slot(c, old[i]);
	free(old);
}

/* Run sql (prepared on first use) with n parameters (NULL = SQL NULL):
 * texts, or where fmts[i] is 1 lens[i] bytes in binary format (lens and
 * fmts NULL: every one a text). *out: the result when it has tuples or a
 * command status (caller PQclear). */
static int exec_params_fmt(pg_conn *c, const char *sql, size_t len, int n,
			   const char *const *vals, const int *lens, const int *fmts,
			   PGresult **out, const char *what, kn_error *err)
{
	uint64_t h = kn_sql_hash(sql, len);
	pg_stmt *e = NULL;
	if (c->cap) {
		size_t m = c->cap - 1;
		for (size_t i = h & m; c->slots[i]; i = (i + 1) & m) {
			pg_stmt *x = c->slots[i];
			if (x->hash == h && x->len == len && memcmp(x->sql, sql, len) == 0) {
				e = x;
				break;
			}
		}
	}
	if (!e) {
		cache_room(c);
		e = kn_xcalloc(1, sizeof *e);
		e->sql = kn_xstrndup(sql, len);
		e->len = len;
		e->hash = h;
		snprintf(e->name, sizeof e->name, "k%u", ++c->next_name);
		PGresult *pr = PQprepare(c->db, e->name, e->sql, 0, NULL);
		if (PQresultStatus(pr) != PGRES_COMMAND_OK) {
			int r = pg_fail(c, pr, err, what);
			PQclear(pr);
			stmt_free(e);
			return r;
		}
		PQclear(pr);
		cache_put_slot(c, e);
	}
	PGresult *res = PQexecPrepared(c->db, e->name, n, vals, lens, fmts, 0);
	ExecStatusType s = PQresultStatus(res);
	if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
		int r = pg_fail(c, res, err, what);
		PQclear(res);
		return r;
	}
	*out = res;
	return 0;
}

static int exec_params(pg_conn *c, const char *sql, size_t len, int n, const char *const *vals,
		       PGresult **out, const char *what, kn_error *err)
{
	return exec_params_fmt(c, sql, len, n, vals, NULL, NULL, out, what, err);
}

/* Parameters from JSON values: strings as they are, integers in decimal,
 * booleans as true/false, null as NULL. The texts live in pv. */
typedef struct pg_vals {
	const char **v;
	char (*num)[24];
	size_t n;
} pg_vals;

static void vals_init(pg_vals *pv, size_t n)
{
	pv->v = kn_xcalloc(n + 1, sizeof *pv->v);
	pv->num = kn_xcalloc(n + 1, sizeof *pv->num);
	pv->n = 0;
}

static void vals_free(pg_vals *pv)
{
	free(pv->v);
	free(pv->num);
}

static void vals_int(pg_vals *pv, int64_t i)
{
	snprintf(pv->num[pv->n], sizeof pv->num[0], "%lld", (long long)i);
	pv->v[pv->n] = pv->num[pv->n];
	pv->n++;
}

/* A value for a column of kind ('i', 'b', 't'). A string that is not a
 * decimal integer, given for an integer column (a forged cursor), is
 * refused rather than sent to fail in the server. */
static int vals_json(pg_vals *pv, const json_t *v, char kind, kn_error *err)
{
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_NULL:
		pv->v[pv->n++] = NULL;
		return 0;
	case JSON_STRING: {
		const char *s = json_string_value(v);
		if (kind == 'i') {
			char *end;
			errno = 0;
			long long n = strtoll(s, &end, 10);
			if (!*s || *end || errno)
				return kn_fail(err, KN_EINVAL, "", "\"%s\" is not an integer", s);
			vals_int(pv, n);
			return 0;
		}
		if (kind == 'b' && strcmp(s, "true") != 0 && strcmp(s, "false") != 0)
			return kn_fail(err, KN_EINVAL, "", "\"%s\" is not true or false", s);
		pv->v[pv->n++] = s;
		return 0;
	}
	case JSON_INTEGER:
		if (kind == 'b') {
			pv->v[pv->n++] = json_integer_value(v) ? "true" : "false";
			return 0;
		}
		vals_int(pv, json_integer_value(v));
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		pv->v[pv->n++] = kind == 'b' ? (json_is_true(v) ? "true" : "false")
					     : (json_is_true(v) ? "1" : "0");
		return 0;
	case JSON_REAL:
		if (kind != 't')
			return kn_fail(err, KN_EINVAL, "", "%g is not a whole number",
				       json_real_value(v));
		snprintf(pv->num[pv->n], sizeof pv->num[0], "%.17g", json_real_value(v));
		pv->v[pv->n] = pv->num[pv->n];
		pv->n++;
		return 0;
	default:
		return kn_fail(err, KN_EINVAL, "", "a value cannot be stored");
	}
}

/* Run sql with parameters from fmt: 's' text (NULL -> NULL), 'z' text with
 * "" -> NULL, 'I' int64_t, 'i' int. */
static int exec_vfmt(pg_conn *c, const char *sql, PGresult **out, const char *what,
		     kn_error *err, const char *fmt, va_list ap)
{
	size_t n = strlen(fmt);
	pg_vals pv;
	vals_init(&pv, n);
	for (; *fmt; fmt++) {
		if (*fmt == 's' || *fmt == 'z') {
			const char *v = va_arg(ap, const char *);
			pv.v[pv.n++] = *fmt == 'z' && v && !*v ? NULL : v;
		} else if (*fmt == 'I') {
			vals_int(&pv, va_arg(ap, int64_t));
		} else {
			vals_int(&pv, va_arg(ap, int));
		}
	}
	PGresult *res = NULL;
	int r = exec_params(c, sql, strlen(sql), (int)n, pv.v, &res, what, err);
	vals_free(&pv);
	if (!r && out)
		*out = res;
	else
		PQclear(res);
	return r;
}

static int exec_fmt(pg_conn *c, const char *sql, PGresult **out, const char *what, kn_error *err,
		    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = exec_vfmt(c, sql, out, what, err, fmt, ap);
	va_end(ap);
	return r;
}

/* A command without parameters (BEGIN, SAVEPOINT ..., DDL). COMMIT of a
 * transaction that failed answers "ROLLBACK": that is a failure. */
static int run(pg_conn *c, const char *sql, kn_error *err)
{
	PGresult *res = PQexec(c->db, sql);
	ExecStatusType s = PQresultStatus(res);
	int r = 0;
	if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
		r = pg_fail(c, res, err, "store");
	else if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
		r = kn_fail(err, KN_ESTORE, "", "the transaction failed and was rolled back");
	PQclear(res);
	return r;
}

/* ---- connections ------------------------------------------------------------ */

static void quiet_notice(void *arg, const char *msg) {}

static void conn_free(kn_pconn *pc)
{
	pg_conn *c = (pg_conn *)pc;
	cache_clear(c);
	PQfinish(c->db);
	free(c);
}

static void conn_reset(kn_pconn *pc)
{
	pg_conn *c = (pg_conn *)pc;
	if (c->in_tx) {
		PQclear(PQexec(c->db, "ROLLBACK"));
		c->in_tx = c->write = false;
	}
}

/* A transaction never waits for its client in kanri: one left idle (a
 * process stopped or hung in the middle of it) is ended by the server
 * after IDLE_TX_MS, which frees the writers' lock for the other nodes. */
#define IDLE_TX_MS 30000

static void session_setup(PGconn *db)
{
	char sql[96];
	snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %d", IDLE_TX_MS);
	PQclear(PQexec(db, sql));
	PQclear(PQexec(db, "SET bytea_output = hex")); /* what pg_row_blob reads */
}

static int conn_open(kn_pool *p, kn_pconn **out, kn_error *err)
{
	pg_store *s = (pg_store *)((char *)p - offsetof(pg_store, pool));
	PGconn *db = PQconnectdb(s->dsn);
	if (PQstatus(db) != CONNECTION_OK) {
		char msg[300];
		first_line(PQerrorMessage(db), msg, sizeof msg);
		PQfinish(db);
		return kn_fail(err, KN_ESTORE, "", "cannot connect to PostgreSQL: %s", msg);
	}
	PQsetNoticeProcessor(db, quiet_notice, NULL);
	if (PQsetClientEncoding(db, "UTF8") != 0) {
		PQfinish(db);
		return kn_fail(err, KN_ESTORE, "", "PostgreSQL: cannot use UTF8 on this connection");
	}
	const char *enc = PQparameterStatus(db, "server_encoding");
	if (!enc || strcmp(enc, "UTF8") != 0) {
		int r = kn_fail(err, KN_ESTORE, "",
				"PostgreSQL database encoding is %s; kanri needs UTF8"
				" (CREATE DATABASE ... ENCODING 'UTF8')",
				enc ? enc : "unknown");
		PQfinish(db);
		return r;
	}
	pg_conn *c = kn_xcalloc(1, sizeof *c);
	c->db = db;
	c->store = s;
	session_setup(db);
	*out = &c->base;
	return 0;
}

/* This thread's connection; one that broke (a server restart) is
 * reconnected when no transaction depends on it. */
static int conn_get(pg_store *s, pg_conn **out, kn_error *err)
{
	kn_pconn *pc = NULL;
	int r = kn_pool_get(&s->pool, &pc, err);
	if (r)
		return r;
	pg_conn *c = (pg_conn *)pc;
	if (PQstatus(c->db) != CONNECTION_OK && !c->in_tx) {
		PQreset(c->db);
		cache_clear(c);
		if (PQstatus(c->db) != CONNECTION_OK) {
			char msg[300];
			first_line(PQerrorMessage(c->db), msg, sizeof msg);
			return kn_fail(err, KN_ESTORE, "", "cannot connect to PostgreSQL: %s", msg);
		}
		PQsetClientEncoding(c->db, "UTF8");
		session_setup(c->db);
	}
	*out = c;
	return 0;
}

/* Writes are refused inside a read transaction (as on SQLite). */
static int can_write(pg_conn *c, kn_error *err)
{
	return c->in_tx && !c->write ? kn_fail(err, KN_EINTERNAL, "", "write inside a read transaction")
				     : 0;
}

/* ---- open / close ------------------------------------------------------------ */

static void pg_close(kn_store *st);
static const kn_sqlexec pg_exec;

static int pg_open(const char *dsn, kn_store **out, kn_error *err)
{
	if (!dsn || !*dsn)
		return kn_fail(err, KN_EINVAL, "", "postgres: no connection string");
	if (!PQisthreadsafe())
		return kn_fail(err, KN_ESTORE, "", "libpq built without thread support");
	pg_store *s = kn_xcalloc(1, sizeof *s);
	s->base.ops = &kn_store_pg;
	s->base.sql = &pg_exec;
	s->pool.open = conn_open;
	s->pool.reset = conn_reset;
	s->pool.free = conn_free;
	if (kn_pool_init(&s->pool, PG_MAX_IDLE, err) != 0) {
		free(s);
		return KN_EINTERNAL;
	}
	s->dsn = kn_xstrdup(dsn);
	kn_sqltypes_init(&s->types, KN_PG);
	pg_conn *c = NULL;
	int r = conn_get(s, &c, err); /* a bad address or database fails here */
	if (r) {
		pg_close(&s->base);
		return r;
	}
	*out = &s->base;
	return 0;
}

static void conn_closing(kn_pconn *pc, bool mine) { conn_reset(pc); }

static void pg_close(kn_store *st)
{
	pg_store *s = S(st);
	if (!s)
		return;
	kn_pool_close(&s->pool, conn_closing);
	kn_sqltypes_free(&s->types);
	free(s->dsn);
	free(s);
}

/* ---- transactions ------------------------------------------------------------- */

static int pg_begin(kn_store *st, bool write, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (r)
		return r;
	if (c->in_tx)
		return kn_fail(err, KN_EINTERNAL, "",
			       "a transaction is already open on this thread");
	r = run(c,
		write ? "BEGIN ISOLATION LEVEL READ COMMITTED; " PG_WRITE_LOCK
		      : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
		err);
	if (r) {
		PQclear(PQexec(c->db, "ROLLBACK"));
		return r;
	}
	c->in_tx = true;
	c->write = write;
	return 0;
}

static int pg_savepoint(kn_store *st, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (!r && !(c->in_tx && c->write))
		r = kn_fail(err, KN_EINTERNAL, "", "a savepoint needs an open write transaction");
	return r ? r : run(c, "SAVEPOINT kn_unit", err);
}

static int pg_release(kn_store *st, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	return r ? r : run(c, "RELEASE SAVEPOINT kn_unit", err);
}

static void pg_undo(kn_store *st)
{
	pg_conn *c = NULL;
	kn_error e2;
	if (conn_get(S(st), &c, &e2) == 0)
		PQclear(PQexec(c->db, "ROLLBACK TO SAVEPOINT kn_unit; RELEASE SAVEPOINT kn_unit"));
}

static int pg_commit(kn_store *st, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (r)
		return r;
	if (!c->in_tx)
		return kn_fail(err, KN_EINTERNAL, "", "commit without a transaction");
	r = run(c, "COMMIT", err);
	if (r && PQtransactionStatus(c->db) != PQTRANS_IDLE)
		PQclear(PQexec(c->db, "ROLLBACK"));
	c->in_tx = c->write = false;
	return r;
}

static void pg_rollback(kn_store *st)
{
	pg_conn *c = (pg_conn *)kn_pool_mine(&S(st)->pool);
	if (!c || !c->in_tx)
		return;
	PQclear(PQexec(c->db, "ROLLBACK"));
	c->in_tx = c->write = false;
}

/* ---- statements for the shared operations (rows.c) ---------------------------- */

/* A result row: the result and the row's index. */
typedef struct pg_row {
	const PGresult *res;
	int row;
} pg_row;

/* sql with its "?" markers numbered $1, $2 ... (none stands in a quoted
 * literal in kanri's SQL, but quotes are skipped all the same). */
static void numbered(const char *sql, kn_buf *b)
{
	size_t n = 0;
	bool quoted = false;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			quoted = !quoted;
		if (*p == '?' && !quoted)
			kn_buf_addf(b, "$%zu", ++n);
		else
			kn_buf_add(b, p, 1);
	}
}

static int pg_run(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n, bool write,
		  kn_row_fn row, void *ctx, int64_t *changes, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (r || (write && (r = can_write(c, err)) != 0))
		return r;
	kn_buf b;
	kn_buf_init(&b, 0);
	numbered(sql, &b);
	pg_vals pv;
	vals_init(&pv, n);
	int *lens = NULL, *fmts = NULL; /* when bytes are among them */
	for (size_t i = 0; i < n; i++) {
		if (a[i].kind == 'b' && !fmts) {
			lens = kn_xcalloc(n + 1, sizeof *lens);
			fmts = kn_xcalloc(n + 1, sizeof *fmts);
		}
		if (a[i].kind == 'b' && a[i].i > INT_MAX) {
			r = kn_fail(err, KN_ETOOBIG, "", "a value of %lld bytes is too large",
				    (long long)a[i].i);
			break;
		}
		if (a[i].kind == 'i') {
			vals_int(&pv, a[i].i);
		} else if (a[i].kind == 'b') {
			lens[i] = (int)a[i].i;
			fmts[i] = 1;
			pv.v[pv.n++] = a[i].t ? a[i].t : "";
		} else {
			pv.v[pv.n++] = a[i].kind == 't' ? a[i].t : NULL;
		}
	}
	PGresult *res = NULL;
	if (!r)
		r = exec_params_fmt(c, b.data, b.len, (int)n, pv.v, lens, fmts, &res, "store", err);
	free(lens);
	free(fmts);
	for (int i = 0; !r && row && i < PQntuples(res); i++) {
		pg_row pr = {res, i};
		r = row(ctx, (const kn_sqlrow *)&pr);
	}
	if (!r && changes)
		*changes = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	vals_free(&pv);
	kn_buf_release(&b);
	return r;
}

static bool pg_row_null(const kn_sqlrow *r, int col)
{
	const pg_row *p = (const pg_row *)r;
	return PQgetisnull(p->res, p->row, col);
}

static int64_t pg_row_int(const kn_sqlrow *r, int col)
{
	const pg_row *p = (const pg_row *)r;
	return strtoll(PQgetvalue(p->res, p->row, col), NULL, 10);
}

static const char *pg_row_text(const kn_sqlrow *r, int col, size_t *len)
{
	const pg_row *p = (const pg_row *)r;
	*len = (size_t)PQgetlength(p->res, p->row, col);
	return PQgetvalue(p->res, p->row, col);
}

static int hexval(char h)
{
	return h >= '0' && h <= '9' ? h - '0'
	       : h >= 'a' && h <= 'f' ? h - 'a' + 10
	       : h >= 'A' && h <= 'F' ? h - 'A' + 10
				      : -1;
}

/* A BYTEA in text format: PostgreSQL's hex output "\x0a1b..." (the
 * default bytea_output since 9.0; a connection sets it all the same). */
static int pg_row_blob(const kn_sqlrow *r, int col, kn_buf *out)
{
	const pg_row *p = (const pg_row *)r;
	const char *t = PQgetvalue(p->res, p->row, col);
	size_t len = (size_t)PQgetlength(p->res, p->row, col);
	if (PQgetisnull(p->res, p->row, col))
		return 0;
	if (len < 2 || t[0] != '\\' || t[1] != 'x' || len % 2)
		return KN_ESTORE;
	unsigned char chunk[4096];
	size_t k = 0;
	for (size_t i = 2; i < len; i += 2) {
		int hi = hexval(t[i]), lo = hexval(t[i + 1]);
		if (hi < 0 || lo < 0)
			return KN_ESTORE;
		chunk[k++] = (unsigned char)(hi << 4 | lo);
		if (k == sizeof chunk || i + 2 >= len) {
			int rc = kn_buf_add(out, chunk, k);
			if (rc)
				return rc;
			k = 0;
		}
	}
	return 0;
}

static const kn_sqlexec pg_exec = {pg_run, pg_row_null, pg_row_int, pg_row_text, pg_row_blob};

/* ---- values ------------------------------------------------------------------- */

static json_t *cell_text(const PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		return json_null();
	return json_stringn(PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static int64_t cell_int(const PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static void cpy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

/* The record in row `row`; when pick is not NULL the row holds only the n
 * columns pick names (indexes into y->cols), in that order. NULL when a
 * text is not valid UTF-8. */
static json_t *row_pick(const kn_sqltype *y, const PGresult *res, int row, const int *pick,
			size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < (pick ? n : y->ncols); i++) {
		const kn_sqlcol *c = &y->cols[pick ? (size_t)pick[i] : i];
		int ci = (int)i;
		json_t *v;
		if (PQgetisnull(res, row, ci))
			v = json_null();
		else if (c->kind == 'i')
			v = json_integer(cell_int(res, row, ci));
		else if (c->kind == 'b')
			v = json_boolean(PQgetvalue(res, row, ci)[0] == 't');
		else
			v = cell_text(res, row, ci);
		if (!v) {
			json_decref(o);
			return NULL;
		}
		json_object_set_new_nocheck(o, c->name, v);
	}
	json_object_set_new_nocheck(o, "type", json_string(y->name));
	return o;
}

static int bad_row(const kn_sqltype *y, const PGresult *res, int row, kn_error *err)
{
	return kn_fail(err, KN_ESTORE, "", "%s id %lld: stored text is not valid UTF-8", y->name,
		       (long long)cell_int(res, row, 0));
}

/* ---- migrate -------------------------------------------------------------------- */

/* clang-format off */
static const char fixed_ddl[] =
	"CREATE TABLE IF NOT EXISTS counters(type TEXT COLLATE \"C\" PRIMARY KEY,"
	" next BIGINT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS comments(id BIGINT GENERATED BY DEFAULT AS IDENTITY"
	" PRIMARY KEY, type TEXT COLLATE \"C\" NOT NULL, rec_id BIGINT NOT NULL,"
	" kind TEXT COLLATE \"C\" NOT NULL, body TEXT NOT NULL, author TEXT COLLATE \"C\" NOT NULL,"
	" created_at TEXT COLLATE \"C\" NOT NULL);"
	"CREATE INDEX IF NOT EXISTS comments_rec ON comments(type, rec_id, id);"
	"CREATE TABLE IF NOT EXISTS relations(id BIGINT GENERATED BY DEFAULT AS IDENTITY"
	" PRIMARY KEY, from_type TEXT COLLATE \"C\" NOT NULL, from_id BIGINT NOT NULL,"
	" kind TEXT COLLATE \"C\" NOT NULL, to_type TEXT COLLATE \"C\" NOT NULL,"
	" to_id BIGINT NOT NULL, created_by TEXT COLLATE \"C\" NOT NULL,"
	" created_at TEXT COLLATE \"C\" NOT NULL,"
	" UNIQUE(from_type, from_id, kind, to_type, to_id));"
	"CREATE INDEX IF NOT EXISTS relations_to ON relations(to_type, to_id);"
	"CREATE TABLE IF NOT EXISTS attachments(id BIGINT GENERATED BY DEFAULT AS IDENTITY"
	" PRIMARY KEY, type TEXT COLLATE \"C\" NOT NULL, rec_id BIGINT NOT NULL,"
	" name TEXT NOT NULL, ctype TEXT COLLATE \"C\" NOT NULL, size BIGINT NOT NULL,"
	" sha256 TEXT COLLATE \"C\" NOT NULL, data BYTEA NOT NULL,"
	" created_by TEXT COLLATE \"C\" NOT NULL, created_at TEXT COLLATE \"C\" NOT NULL);"
	"CREATE INDEX IF NOT EXISTS attachments_rec ON attachments(type, rec_id, id);"
	"CREATE TABLE IF NOT EXISTS journal(seq BIGINT PRIMARY KEY, at TEXT COLLATE \"C\" NOT NULL,"
	" actor TEXT COLLATE \"C\" NOT NULL, type TEXT COLLATE \"C\" NOT NULL,"
	" rec_id BIGINT NOT NULL, action TEXT COLLATE \"C\" NOT NULL, changes TEXT NOT NULL,"
	" reason TEXT, digest TEXT COLLATE \"C\" NOT NULL, prev TEXT COLLATE \"C\" NOT NULL,"
	" hash TEXT COLLATE \"C\" NOT NULL);"
	"CREATE INDEX IF NOT EXISTS journal_rec ON journal(type, rec_id, seq);"
	"CREATE OR REPLACE FUNCTION kn_append_only() RETURNS trigger LANGUAGE plpgsql AS"
	" $$BEGIN RAISE EXCEPTION 'the journal is append-only'; END$$;"
	"CREATE OR REPLACE TRIGGER journal_no_change BEFORE UPDATE OR DELETE ON journal"
	" FOR EACH ROW EXECUTE FUNCTION kn_append_only();"
	"CREATE OR REPLACE TRIGGER journal_no_truncate BEFORE TRUNCATE ON journal"
	" FOR EACH STATEMENT EXECUTE FUNCTION kn_append_only();"
	"CREATE TABLE IF NOT EXISTS users(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" name TEXT COLLATE \"C\" NOT NULL UNIQUE, role TEXT COLLATE \"C\" NOT NULL,"
	" org TEXT COLLATE \"C\", pwhash TEXT, failures INTEGER NOT NULL DEFAULT 0,"
	" locked_until BIGINT NOT NULL DEFAULT 0, disabled INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS tokens(id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" user_id BIGINT NOT NULL REFERENCES users(id), hash TEXT COLLATE \"C\" NOT NULL UNIQUE,"
	" label TEXT, created_at TEXT COLLATE \"C\" NOT NULL);"
	"CREATE INDEX IF NOT EXISTS tokens_user ON tokens(user_id);"
	"CREATE TABLE IF NOT EXISTS sessions(hash TEXT COLLATE \"C\" PRIMARY KEY,"
	" user_id BIGINT NOT NULL REFERENCES users(id), csrf TEXT NOT NULL,"
	" expires BIGINT NOT NULL);"
	"CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user_id);"
	"CREATE TABLE IF NOT EXISTS meta(key TEXT COLLATE \"C\" PRIMARY KEY, value TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS jobs(name TEXT COLLATE \"C\" PRIMARY KEY,"
	" due_at BIGINT NOT NULL, lease_until BIGINT NOT NULL DEFAULT 0,"
	" owner TEXT NOT NULL DEFAULT '', runs BIGINT NOT NULL DEFAULT 0,"
	" attempts BIGINT NOT NULL DEFAULT 0, last_at TEXT NOT NULL DEFAULT '',"
	" last_error TEXT NOT NULL DEFAULT '');"
	"CREATE TABLE IF NOT EXISTS search(type TEXT COLLATE \"C\" NOT NULL,"
	" tok TEXT COLLATE \"C\" NOT NULL, rec_id BIGINT NOT NULL, w INTEGER NOT NULL,"
	" PRIMARY KEY(type, tok, rec_id));"
	"CREATE INDEX IF NOT EXISTS search_rec ON search(type, rec_id);";
/* clang-format on */

static const char *col_decl(const kn_sqlcol *c)
{
	return c->kind == 'i' ? "BIGINT" : c->kind == 'b' ? "BOOLEAN" : "TEXT COLLATE \"C\"";
}

/*
 * A kept count (see sqlite.c): kc_<type>__a__b with one row per
 * combination of values and its number of records, maintained by a
 * trigger in the same transaction as every change. Empty values are kept
 * as NULL; the unique constraint treats NULLs as equal (NULLS NOT
 * DISTINCT), so that each combination has one row.
 */
static int count_create(pg_conn *c, const kn_sqltype *y, const kn_sqlcount *k, kn_error *err)
{
	kn_buf cols, decl, newv, oldm, chg, b;
	kn_buf_init(&cols, 0);
	kn_buf_init(&decl, 0);
	kn_buf_init(&newv, 0);
	kn_buf_init(&oldm, 0);
	kn_buf_init(&chg, 0);
	kn_buf_init(&b, 0);
	for (size_t j = 0; j < k->n; j++) {
		const kn_sqlcol *col = &y->cols[k->cols[j]];
		const char *cn = col->name, *sep = j ? "," : "";
		kn_buf_addf(&cols, "%s\"%s\"", sep, cn);
		kn_buf_addf(&decl, "\"%s\" %s,", cn, col_decl(col));
		kn_buf_addf(&newv, "%sNEW.\"%s\"", sep, cn);
		kn_buf_addf(&oldm, "%s\"%s\" IS NOT DISTINCT FROM OLD.\"%s\"", j ? " AND " : "", cn,
			    cn);
		kn_buf_addf(&chg, "%sOLD.\"%s\" IS DISTINCT FROM NEW.\"%s\"", j ? " OR " : "", cn,
			    cn);
	}
	PGresult *res = NULL;
	int r = exec_fmt(c, "SELECT 1 FROM pg_tables WHERE schemaname = current_schema()"
			    " AND tablename = $1",
			 &res, "migrate", err, "s", k->table);
	bool exists = !r && PQntuples(res) > 0;
	PQclear(res);
	if (!r) {
		kn_buf_addf(&b,
			    "CREATE TABLE IF NOT EXISTS \"%s\"(%s\"n\" BIGINT NOT NULL,"
			    " UNIQUE NULLS NOT DISTINCT (%s));"
			    "CREATE OR REPLACE FUNCTION \"%s_f\"() RETURNS trigger LANGUAGE plpgsql"
			    " AS $$BEGIN"
			    " IF TG_OP <> 'INSERT' AND (TG_OP = 'DELETE' OR %s) THEN"
			    " UPDATE \"%s\" SET \"n\" = \"n\" - 1 WHERE %s; END IF;"
			    " IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR %s) THEN"
			    " INSERT INTO \"%s\"(%s,\"n\") VALUES(%s,1) ON CONFLICT (%s)"
			    " DO UPDATE SET \"n\" = \"%s\".\"n\" + 1; END IF;"
			    " RETURN NULL; END$$;"
			    "CREATE OR REPLACE TRIGGER \"%s_t\" AFTER INSERT OR UPDATE OR DELETE"
			    " ON \"rec_%s\" FOR EACH ROW EXECUTE FUNCTION \"%s_f\"();",
			    k->table, decl.data, cols.data, k->table, chg.data, k->table, oldm.data,
			    chg.data, k->table, cols.data, newv.data, cols.data, k->table, k->table,
			    y->name, k->table);
		if (!exists)
			kn_buf_addf(&b,
				    "INSERT INTO \"%s\"(%s,\"n\") SELECT %s,count(*) FROM \"rec_%s\""
				    " GROUP BY %s;",
				    k->table, cols.data, cols.data, y->name, cols.data);
		r = run(c, b.data, err);
	}
	kn_buf_release(&cols);
	kn_buf_release(&decl);
	kn_buf_release(&newv);
	kn_buf_release(&oldm);
	kn_buf_release(&chg);
	kn_buf_release(&b);
	return r;
}

/* Planner statistics for a table filled without autovacuum having caught
 * up (an import, a restore): analysed now rather than planned blind. */
static int analyze_if_needed(pg_conn *c, const kn_sqltype *y, kn_error *err)
{
	char *tn = kn_xasprintf("rec_%s", y->name);
	PGresult *res = NULL;
	int r = exec_fmt(c,
			 "SELECT 1 FROM pg_stat_user_tables WHERE relname = $1"
			 " AND n_live_tup + n_mod_since_analyze >= 1000"
			 " AND last_analyze IS NULL AND last_autoanalyze IS NULL",
			 &res, "migrate", err, "s", tn);
	if (!r && PQntuples(res) > 0) {
		char *sql = kn_xasprintf("ANALYZE \"%s\"", tn);
		r = run(c, sql, err);
		free(sql);
	}
	PQclear(res);
	free(tn);
	return r;
}

static int migrate_type(pg_store *s, pg_conn *c, const kn_type *t, kn_error *err)
{
	kn_sqltype *y = NULL;
	int r = kn_sqltypes_get(&s->types, t, &y, err);
	if (r)
		return r;
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_addf(&b,
		    "CREATE TABLE IF NOT EXISTS \"rec_%s\"(\"id\" BIGINT GENERATED BY DEFAULT AS"
		    " IDENTITY PRIMARY KEY,\"number\" TEXT COLLATE \"C\" NOT NULL,"
		    "\"version\" BIGINT NOT NULL,\"state\" TEXT COLLATE \"C\" NOT NULL,"
		    "\"created_at\" TEXT COLLATE \"C\" NOT NULL,"
		    "\"updated_at\" TEXT COLLATE \"C\" NOT NULL,"
		    "\"created_by\" TEXT COLLATE \"C\" NOT NULL,"
		    "\"updated_by\" TEXT COLLATE \"C\" NOT NULL,"
		    "CONSTRAINT \"ux_%s__number\" UNIQUE(\"number\"));",
		    y->name, y->name);
	/* Forward migration: columns declared since the table was made. */
	for (size_t i = KN_NSYS; i < y->ncols; i++)
		kn_buf_addf(&b, "ALTER TABLE \"rec_%s\" ADD COLUMN IF NOT EXISTS \"%s\" %s;",
			    y->name, y->cols[i].name, col_decl(&y->cols[i]));
	r = run(c, b.data, err);
	kn_buf key, rest;
	kn_buf_init(&key, 0);
	kn_buf_init(&rest, 0);
	if (!r)
		r = kn_sql_indexes(KN_PG, y, t, &key, &rest, err);
	if (!r && key.len && (r = run(c, key.data, err)) == KN_ECONFLICT)
		r = kn_sql_key_conflict(y, t, err);
	if (!r && rest.len)
		r = run(c, rest.data, err);
	kn_buf_release(&key);
	kn_buf_release(&rest);
	for (size_t i = 0; !r && i < y->ncounts; i++)
		r = count_create(c, y, &y->counts[i], err);
	kn_buf_release(&b);
	return r ? r : analyze_if_needed(c, y, err);
}


/* Migrated already for this schema and layout: no DDL on a live database,
 * which other nodes are writing (only the planner statistics, when a load
 * left them behind). Outside a transaction: a failed read of a missing
 * meta table must not abort one. */
static bool pg_migrated(kn_store *st, const kn_schema *sch, const char *sig, kn_error *err,
			int *r)
{
	pg_conn *c = NULL;
	char *have = NULL;
	kn_error e2;
	if (!sig || (c = (pg_conn *)kn_pool_mine(&S(st)->pool)) == NULL || c->in_tx ||
	    kn_sqlop_meta_get(st, "migrated", &have, &e2) != 0 || !have || strcmp(have, sig) != 0) {
		free(have);
		return false;
	}
	free(have);
	for (size_t i = 0; !*r && i < sch->ntypes; i++) {
		kn_sqltype *y = NULL;
		*r = kn_sqltypes_get(&S(st)->types, &sch->types[i], &y, err);
		if (!*r)
			*r = analyze_if_needed(c, y, err);
	}
	return true;
}

static int pg_migrate(kn_store *st, const kn_schema *sch, kn_error *err)
{
	pg_store *s = S(st);
	pg_conn *c = NULL;
	int r = conn_get(s, &c, err);
	if (r)
		return r;
	bool own = !c->in_tx;
	if (c->in_tx && !c->write)
		return kn_fail(err, KN_EINTERNAL, "", "migrate inside a read transaction");
	char *sig = kn_sql_migrated_sig(sch);
	if (pg_migrated(st, sch, sig, err, &r)) {
		free(sig);
		return r;
	}
	/* the write lock also keeps two nodes starting at once apart */
	if (own && (r = pg_begin(st, true, err)) != 0) {
		free(sig);
		return r;
	}
	r = run(c, fixed_ddl, err);
	for (size_t i = 0; !r && i < sch->ntypes; i++)
		r = migrate_type(s, c, &sch->types[i], err);
	if (!r && sig)
		r = kn_sqlop_meta_set(st, "migrated", sig, err);
	free(sig);
	if (own) {
		if (r)
			pg_rollback(st);
		else
			r = pg_commit(st, err);
	}
	return r;
}

/* ---- records ------------------------------------------------------------------ */

static int rec_prep(kn_store *st, const kn_type *t, pg_conn **c, kn_sqltype **y, kn_error *err)
{
	int r = conn_get(S(st), c, err);
	return r ? r : kn_sqltypes_get(&S(st)->types, t, y, err);
}


/* Run a write on a rec_ table; a unique violation names the column (the
 * constraint, in err->field, is ux_<type>__<column>). */
static int rec_write(pg_conn *c, const kn_sqltype *y, const char *sql, size_t len,
		     const pg_vals *pv, const json_t *obj, PGresult **out, const char *what,
		     kn_error *err)
{
	int r = exec_params(c, sql, len, (int)pv->n, pv->v, out, what, err);
	if (r == KN_ECONFLICT && err) {
		const char *us = strstr(err->field, "__");
		char col[64];
		cpy(col, sizeof col, us ? us + 2 : "key");
		return kn_sql_unique_fail(y, col, obj, err);
	}
	return r;
}

static int pg_rec_insert(kn_store *st, const kn_type *t, const json_t *rec, int64_t *id,
			 kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_check_insert(y, rec, err)) != 0 || (r = can_write(c, err)) != 0)
		return r;
	pg_vals pv;
	vals_init(&pv, y->ncols);
	for (size_t i = 1; i < y->ncols && !r; i++)
		r = vals_json(&pv, json_object_get(rec, y->cols[i].name), y->cols[i].kind, err);
	PGresult *res = NULL;
	if (!r)
		r = rec_write(c, y, y->insert, strlen(y->insert), &pv, rec, &res, "insert", err);
	if (!r)
		*id = cell_int(res, 0, 0);
	PQclear(res);
	vals_free(&pv);
	return r;
}

static int pg_rec_update(kn_store *st, const kn_type *t, int64_t id, int64_t version,
			 const json_t *set, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = can_write(c, err)) != 0)
		return r;
	kn_buf b;
	kn_sqlbinds bs = {0};
	size_t nset = 0;
	pg_vals pv = {0};
	kn_buf_init(&b, 0);
	r = kn_sql_update(KN_PG, y, set, &b, &bs, &nset, err);
	int64_t changed = 0;
	if (!r && nset) {
		vals_init(&pv, bs.n + 2);
		for (size_t i = 0; i < bs.n && !r; i++)
			r = vals_json(&pv, bs.a[i].v, bs.a[i].kind, err);
		vals_int(&pv, id);
		vals_int(&pv, version);
		PGresult *res = NULL;
		if (!r)
			r = rec_write(c, y, b.data, b.len, &pv, set, &res, "update", err);
		if (!r)
			changed = strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
		vals_free(&pv);
	}
	if (!r && !changed) {
		PGresult *res = NULL;
		r = exec_fmt(c, y->version, &res, "update", err, "I", id);
		if (!r && PQntuples(res) == 0)
			r = kn_fail(err, KN_ENOTFOUND, "", "%s %lld not found", y->name,
				    (long long)id);
		else if (!r && cell_int(res, 0, 0) != version)
			r = kn_fail(err, KN_ECONFLICT, "version",
				    "%s %lld was changed meanwhile (version %lld, not %lld)",
				    y->name, (long long)id, (long long)cell_int(res, 0, 0),
				    (long long)version);
		PQclear(res);
	}
	kn_buf_release(&b);
	kn_sqlbinds_release(&bs);
	return r;
}

static int rec_fetch(pg_conn *c, const kn_sqltype *y, const char *sql, const char *text,
		     int64_t id, json_t **out, kn_error *err)
{
	PGresult *res = NULL;
	int r = text ? exec_fmt(c, sql, &res, "get", err, "s", text)
		     : exec_fmt(c, sql, &res, "get", err, "I", id);
	if (r)
		return r;
	if (PQntuples(res) > 0) {
		*out = row_pick(y, res, 0, NULL, 0);
		if (!*out)
			r = bad_row(y, res, 0, err);
	} else if (text) {
		r = kn_fail(err, KN_ENOTFOUND, "", "%s %s not found", y->name, text);
	} else {
		r = kn_fail(err, KN_ENOTFOUND, "", "%s %lld not found", y->name, (long long)id);
	}
	PQclear(res);
	return r;
}

static int pg_rec_get(kn_store *st, const kn_type *t, int64_t id, const char *number,
		      json_t **out, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	return r ? r : rec_fetch(c, y, number ? y->get_number : y->get_id, number, id, out, err);
}

static int pg_rec_get_key(kn_store *st, const kn_type *t, const char *key, json_t **out,
			  kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	return r ? r : rec_fetch(c, y, y->get_key, key ? key : "", 0, out, err);
}

/* Grouped aggregates (the SQL from kn_sql_stats) and the total. */
static int pg_rec_stats(kn_store *st, const kn_type *t, const kn_statq *q, json_t **groups,
			int64_t *total, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	kn_sqlstats s;
	*groups = NULL;
	if (total)
		*total = -1;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_stats(KN_PG, y, q, &s, err)) != 0)
		return r;
	pg_vals pv;
	vals_init(&pv, s.bs.n);
	for (size_t k = 0; k < s.bs.n && !r; k++)
		r = vals_json(&pv, s.bs.a[k].v, s.bs.a[k].kind, err);
	PGresult *res = NULL;
	json_t *arr = json_array();
	if (!r)
		r = exec_params(c, s.sql.data, s.sql.len, (int)pv.n, pv.v, &res, "stats", err);
	if (!r) {
		int n = PQntuples(res);
		for (int i = 0; i < n && !r; i++) {
			pg_row pr = {res, i};
			json_t *row = kn_sqlop_stats_row(st, (const kn_sqlrow *)&pr, &s);
			if (!row)
				r = kn_fail(err, KN_ESTORE, "", "%s: stored text is not valid UTF-8",
					    y->name);
			else
				json_array_append_new(arr, row);
		}
		PQclear(res);
	}
	if (!r && total && !kn_sqlop_stats_total(q, arr, total)) {
		res = NULL;
		r = exec_params(c, s.count_sql.data, s.count_sql.len, (int)s.ncount, pv.v, &res,
				"count", err);
		if (!r)
			*total = cell_int(res, 0, 0);
		PQclear(res);
	}
	if (r)
		json_decref(arr);
	else
		*groups = arr;
	vals_free(&pv);
	kn_sqlstats_release(&s);
	return r;
}

static int pg_rec_list(kn_store *st, const kn_type *t, const kn_query *q, json_t **items,
		       int64_t *total, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	kn_sqllist l;
	*items = NULL;
	if (total)
		*total = -1;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_list(KN_PG, y, q, &l, err)) != 0)
		return r;
	pg_vals pv;
	vals_init(&pv, l.bs.n);
	size_t nb = l.bs.n - (q->limit > 0);
	for (size_t k = 0; k < nb && !r; k++)
		r = vals_json(&pv, l.bs.a[k].v, l.bs.a[k].kind, err);
	if (r == KN_EINVAL)
		r = kn_fail(err, KN_EINVAL, "cursor", "%s: the cursor does not match the sort",
			    y->name);
	if (q->limit > 0)
		vals_int(&pv, q->limit);
	PGresult *res = NULL;
	json_t *arr = NULL;
	if (!r)
		r = exec_params(c, l.sql.data, l.sql.len, (int)pv.n, pv.v, &res, "list", err);
	if (!r) {
		arr = json_array();
		int n = PQntuples(res);
		for (int i = 0; i < n && !r; i++) {
			json_t *rec = row_pick(y, res, i, l.pick, l.npick);
			if (!rec)
				r = bad_row(y, res, i, err);
			else
				json_array_append_new(arr, rec);
		}
		PQclear(res);
	}
	if (!r && q->want_total && total) {
		res = NULL;
		r = exec_params(c, l.count_sql.data, l.count_sql.len, (int)l.ncount, pv.v, &res,
				"count", err);
		if (!r)
			*total = cell_int(res, 0, 0);
		PQclear(res);
	}
	if (r)
		json_decref(arr);
	else
		*items = arr;
	vals_free(&pv);
	kn_sqllist_release(&l);
	return r;
}

/* Run `sql` (its one parameter: the last key seen) page by page: each
 * page's rows go to row(), which returns non-zero to stop; *last is the
 * key of the page's last row (column 0). */
typedef int (*page_fn)(void *ctx, const PGresult *res, int row);

static int scan_pages(pg_conn *c, const char *sql, page_fn fn, void *ctx, const char *what,
		      kn_error *err)
{
	int64_t last = -1;
	for (;;) {
		PGresult *res = NULL;
		int r = exec_fmt(c, sql, &res, what, err, "I", last);
		if (r)
			return r;
		int n = PQntuples(res);
		for (int i = 0; i < n && !r; i++)
			r = fn(ctx, res, i);
		if (n)
			last = cell_int(res, n - 1, 0);
		PQclear(res);
		if (r || n < SCAN_PAGE)
			return r;
	}
}

struct rec_scan_ctx {
	const kn_sqltype *y;
	int (*cb)(void *ctx, json_t *rec);
	void *ctx;
	kn_error *err;
};

static int rec_scan_row(void *p, const PGresult *res, int row)
{
	struct rec_scan_ctx *x = p;
	json_t *rec = row_pick(x->y, res, row, NULL, 0);
	if (!rec)
		return bad_row(x->y, res, row, x->err);
	int r = x->cb(x->ctx, rec);
	json_decref(rec);
	return r;
}

static int pg_rec_scan(kn_store *st, const kn_type *t, int (*cb)(void *ctx, json_t *rec),
		       void *ctx, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r)
		return r;
	char *sql = kn_xasprintf("%s WHERE \"id\" > $1 ORDER BY \"id\" LIMIT %d", y->select,
				 SCAN_PAGE);
	struct rec_scan_ctx x = {y, cb, ctx, err};
	r = scan_pages(c, sql, rec_scan_row, &x, "scan", err);
	free(sql);
	return r;
}

/* ---- full-text search ------------------------------------------------------------ */

/* An array literal {"a","b"} of the postings' tokens. */
static void text_array(kn_buf *b, const kn_posting *p, size_t n)
{
	kn_buf_adds(b, "{");
	for (size_t i = 0; i < n; i++) {
		kn_buf_adds(b, i ? ",\"" : "\"");
		for (const char *s = p[i].tok; *s; s++) {
			if (*s == '"' || *s == '\\')
				kn_buf_adds(b, "\\");
			kn_buf_add(b, s, 1);
		}
		kn_buf_adds(b, "\"");
	}
	kn_buf_adds(b, "}");
}

/* One statement for all the postings of a record: a round trip each would
 * cost more than the create itself. */
static int pg_search_set(kn_store *st, const char *type, int64_t rec_id, bool fresh,
			 const kn_posting *p, size_t n, kn_error *err)
{
	kn_sqlarg a[4] = {KN_ARG_T(type), KN_ARG_I(rec_id)};
	int r = fresh ? 0
		      : pg_run(st, "DELETE FROM search WHERE type=? AND rec_id=?", a, 2, true, NULL,
			       NULL, NULL, err);
	if (r || !n)
		return r;
	kn_buf toks, ws;
	kn_buf_init(&toks, 0);
	kn_buf_init(&ws, 0);
	text_array(&toks, p, n);
	kn_buf_adds(&ws, "{");
	for (size_t i = 0; i < n; i++)
		kn_buf_addf(&ws, "%s%d", i ? "," : "", p[i].w);
	kn_buf_adds(&ws, "}");
	a[2] = KN_ARG_T(toks.data);
	a[3] = KN_ARG_T(ws.data);
	r = pg_run(st,
		   "INSERT INTO search(type, tok, rec_id, w) SELECT ?, t, ?, w"
		   " FROM unnest(CAST(? AS text[]), CAST(? AS int[])) AS u(t, w)",
		   a, 4, true, NULL, NULL, NULL, err);
	kn_buf_release(&toks);
	kn_buf_release(&ws);
	return r;
}

/* ---- copies ------------------------------------------------------------------------ */

/* Insert the members of row named by cols (kinds per column) into a table. */
static int insert_row(kn_store *st, const char *sql, const char *const *cols,
		      const char *kinds, const json_t *row, const char *what, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	if (r || (r = can_write(c, err)) != 0)
		return r;
	size_t n = 0;
	while (cols[n])
		n++;
	pg_vals pv;
	vals_init(&pv, n);
	for (size_t i = 0; i < n && !r; i++)
		r = vals_json(&pv, json_object_get(row, cols[i]), kinds[i], err);
	PGresult *res = NULL;
	if (!r)
		r = exec_params(c, sql, strlen(sql), (int)n, pv.v, &res, what, err);
	PQclear(res);
	vals_free(&pv);
	return r;
}

static int pg_rec_restore(kn_store *st, const kn_type *t, const json_t *rec, kn_error *err)
{
	pg_conn *c = NULL;
	kn_sqltype *y = NULL;
	int r = rec_prep(st, t, &c, &y, err);
	if (r || (r = kn_sql_check_insert(y, rec, err)) != 0)
		return r;
	if (!json_is_integer(json_object_get(rec, "id")))
		return kn_fail(err, KN_EINVAL, "id", "%s: a restored record needs its id", y->name);
	const char **cols = kn_xcalloc(y->ncols + 1, sizeof *cols);
	char *kinds = kn_xcalloc(y->ncols + 1, 1);
	for (size_t i = 0; i < y->ncols; i++) {
		cols[i] = y->cols[i].name;
		kinds[i] = y->cols[i].kind;
	}
	r = insert_row(st, y->insert_all, cols, kinds, rec, y->name, err);
	free(cols);
	free(kinds);
	return r;
}

/* Identity columns: the next id follows the largest loaded one. */
static int pg_load_done(kn_store *st, const kn_schema *sch, kn_error *err)
{
	pg_conn *c = NULL;
	int r = conn_get(S(st), &c, err);
	kn_buf b;
	kn_buf_init(&b, 0);
	static const char *const fixed[] = {"users", "tokens", "comments", "relations",
					    "attachments"};
	const size_t nf = sizeof fixed / sizeof fixed[0];
	for (size_t i = 0; i < nf + (sch ? sch->ntypes : 0); i++) {
		char *tn = i < nf ? kn_xstrdup(fixed[i])
				  : kn_xasprintf("rec_%s", sch->types[i - nf].name);
		kn_buf_addf(&b,
			    "SELECT setval(pg_get_serial_sequence('\"%s\"','id'),"
			    " coalesce(max(\"id\"),0)+1, false) FROM \"%s\";",
			    tn, tn);
		free(tn);
	}
	if (!r)
		r = run(c, b.data, err);
	kn_buf_release(&b);
	return r;
}

const kn_store_ops kn_store_pg = {
    .name = "postgres",
    .open = pg_open,
    .close = pg_close,
    .migrate = pg_migrate,
    .begin = pg_begin,
    .savepoint = pg_savepoint,
    .release = pg_release,
    .undo = pg_undo,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .rec_insert = pg_rec_insert,
    .rec_update = pg_rec_update,
    .rec_get = pg_rec_get,
    .rec_get_key = pg_rec_get_key,
    .rec_list = pg_rec_list,
    .rec_stats = pg_rec_stats,
    .rec_scan = pg_rec_scan,
    KN_SQLOPS_SHARED,
    .search_set = pg_search_set,
    .rec_restore = pg_rec_restore,
    .load_done = pg_load_done,
    .backup_file = NULL, /* pg_dump, or kanri backup's portable copy */
};

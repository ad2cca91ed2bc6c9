/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sql.h - what the SQL backends share: the columns and SQL text of each
 * record type, list queries (conditions, keyset paging, order), update
 * statements, value checks, and a per-thread connection pool.
 *
 * The SQL is written once for both dialects; where they differ (parameter
 * markers ? or $n, SQLite's unary + that keeps a column out of index
 * planning, the substring function) the dialect decides. Identifiers come
 * from the validated schema, are checked again against [a-z][a-z0-9_]* and
 * are always double-quoted; every value travels as a parameter.
 */
#ifndef KN_STORE_SQL_H
#define KN_STORE_SQL_H

#include <pthread.h>

#include "store/store.h"

typedef enum kn_dialect { KN_SQLITE, KN_PG } kn_dialect;

/* System columns, in this order, before the fields. */
#define KN_NSYS 8
extern const struct kn_syscol {
	const char *name;
	char kind;
} kn_syscols[KN_NSYS];

/* A column of a rec_ table: kind 'i' integer, 'b' boolean, 't' text. */
typedef struct kn_sqlcol {
	char *name;
	char kind;
	bool notnull; /* system columns: their sort needs no NULLS clause */
} kn_sqlcol;

/* A kept count: table kc_<type>__a__b over up to 4 columns. */
typedef struct kn_sqlcount {
	char *table;
	int cols[4]; /* indexes into the type's cols */
	size_t n;
	char *sum; /* SELECT coalesce(sum("n"),0) FROM "kc_..." */
} kn_sqlcount;

typedef struct kn_sqltype {
	struct kn_sqltype *next;
	const kn_type *t; /* identity: address, name and field names/kinds */
	char *name;
	kn_sqlcol *cols; /* KN_NSYS system columns, then one per field */
	size_t ncols;
	char *collist; /* "id","number",... */
	char *select;  /* SELECT <columns> FROM "rec_<type>" */
	char *get_id, *get_number, *get_key, *insert, *version, *count;
	char *scan;       /* every row in id order */
	char *insert_all; /* every column, id included (restores) */
	kn_sqlcount *counts;
	size_t ncounts;
} kn_sqltype;

/* The SQL of every type a store has used, built once. */
typedef struct kn_sqltypes {
	kn_dialect d;
	pthread_mutex_t lock;
	kn_sqltype *head;
} kn_sqltypes;

void kn_sqltypes_init(kn_sqltypes *ts, kn_dialect d);
void kn_sqltypes_free(kn_sqltypes *ts);
/* The SQL of type t, built on first use (the kn_type must outlive the store). */
int kn_sqltypes_get(kn_sqltypes *ts, const kn_type *t, kn_sqltype **out, kn_error *err);

bool kn_sql_ident_ok(const char *s);
int kn_sql_col(const kn_sqltype *y, const char *name);
uint64_t kn_sql_hash(const char *s, size_t n);

/* The DDL of a type's indexes (the same on every backend): its key's
 * unique index into key (empty when it has none), and every declared index
 * into rest, as statements separated by ";". KN_EINVAL for an index on an
 * unknown attribute. */
int kn_sql_indexes(kn_dialect d, const kn_sqltype *y, const kn_type *t, kn_buf *key,
		   kn_buf *rest, kn_error *err);
/* The error when the key's unique index cannot be made. */
int kn_sql_key_conflict(const kn_sqltype *y, const kn_type *t, kn_error *err);

/* What a store records as migrated to: KN_STORE_FORMAT and the schema
 * digest (a new string), or NULL when the schema has no digest. */
char *kn_sql_migrated_sig(const kn_schema *sch);

/* INSERT INTO t(cols...) VALUES(markers...) for a system table. */
char *kn_sql_systable_insert(const kn_systable *t);
/* SELECT cols... FROM t, then (int_key) WHERE key > marker ORDER BY key
 * LIMIT page when page > 0, or ORDER BY the first column. */
char *kn_sql_systable_select(const kn_systable *t, int page);

/* Parameter marker number n (1-based) of dialect d appended to b. */
void kn_sql_param(kn_buf *b, kn_dialect d, size_t n);

/* Values bound to a statement being built, in marker order (borrowed). */
typedef struct kn_sqlbinds {
	struct kn_sqlbind {
		const json_t *v;
		char kind; /* of the column the value goes to or is compared with */
	} *a;
	size_t n, cap;
} kn_sqlbinds;

void kn_sqlbinds_release(kn_sqlbinds *bs);

/* Validate a record to insert (every column but id; "id" and "type"
 * members are ignored; anything else unknown is refused). */
int kn_sql_check_insert(const kn_sqltype *y, const json_t *rec, kn_error *err);
/* UPDATE rec_<type> SET <members of set> WHERE id AND version: SQL into b,
 * values into bs (set values, then id and version as integers the caller
 * binds last: markers nset+1 and nset+2). *nset: columns set. */
int kn_sql_update(kn_dialect d, const kn_sqltype *y, const json_t *set, kn_buf *b,
		  kn_sqlbinds *bs, size_t *nset, kn_error *err);

/* A list query. sql: the page (its last marker is the LIMIT, bound by the
 * caller as limit when limit > 0, else not present); count_sql: the total
 * (its markers are the first ncount of bs), built when q->want_total.
 * pick: when q->attrs, the column indexes of the returned columns (free it). */
typedef struct kn_sqllist {
	kn_buf sql, count_sql;
	kn_sqlbinds bs;
	size_t ncount;
	int *pick;
	size_t npick;
} kn_sqllist;

int kn_sql_list(kn_dialect d, const kn_sqltype *y, const kn_query *q, kn_sqllist *l,
		kn_error *err);
void kn_sqllist_release(kn_sqllist *l);

/* The WHERE clause of conds (" WHERE c1 AND c2...", nothing when n is 0)
 * appended to w, their values to bs: what every query over records
 * filters with (lists, totals, stats). */
int kn_sql_where(kn_dialect d, const kn_sqltype *y, const kn_cond *conds, size_t n, kn_buf *w,
		 kn_sqlbinds *bs, kn_error *err);

/* A stats query (kn_statq, store.h). sql: the groups, count_sql: the total
 * (its markers are the first ncount of bs); every marker of sql has its
 * value in bs (the values the query adds itself, min_count and the limit,
 * are owned by own). kinds: of each result column ('i', 'b' or 't'), keys
 * first, then the count and the metrics. */
typedef struct kn_sqlstats {
	kn_buf sql, count_sql;
	kn_sqlbinds bs;
	size_t ncount;
	char kinds[KN_STATS_GROUPS + 1 + KN_STATS_METRICS + 1];
	size_t ncols;
	json_t *own;
} kn_sqlstats;

int kn_sql_stats(kn_dialect d, const kn_sqltype *y, const kn_statq *q, kn_sqlstats *s,
		 kn_error *err);
void kn_sqlstats_release(kn_sqlstats *s);

/* The ranked search of search_rank (see store.h): SQL into b and its
 * text parameters (pointers into terms, or to the prefix ends in hi,
 * which needs nterms slots) into params (3 * nterms slots), *nparams. */
void kn_sql_search_rank(const char *type, const kn_sterm *terms, size_t nterms, int limit,
			kn_buf *b, const char **params, size_t *nparams, char (*hi)[KN_TOK_MAX + 4]);

/* Unique violation on a rec_ table: KN_ECONFLICT naming column col and,
 * from obj, its value. */
int kn_sql_unique_fail(const kn_sqltype *y, const char *col, const json_t *obj, kn_error *err);

/* ---- statements through a backend ------------------------------------- */

/* A parameter: an integer, a text, bytes, or null (a NULL text is null).
 * Bytes ('b': t and i bytes of it) go to a BLOB (SQLite) or BYTEA
 * (PostgreSQL, sent in binary format) column. */
typedef struct kn_sqlarg {
	char kind; /* 'i', 't', 'b' or 'n' */
	int64_t i;
	const char *t;
} kn_sqlarg;

#define KN_ARG_I(v) ((kn_sqlarg){.kind = 'i', .i = (v)})
#define KN_ARG_T(v) ((kn_sqlarg){.kind = (v) ? 't' : 'n', .t = (v)})
#define KN_ARG_B(p, n) ((kn_sqlarg){.kind = 'b', .i = (int64_t)(n), .t = (const char *)(p)})

/* A result row, the backend's own; read through the kn_sqlexec. */
typedef struct kn_sqlrow kn_sqlrow;
typedef int (*kn_row_fn)(void *ctx, const kn_sqlrow *r);

/* How the shared operations (rows.c) run a statement on a backend. */
typedef struct kn_sqlexec {
	/* Run sql (parameter markers "?", in order) with a[0..n) on this
	 * thread's connection: row(ctx, r) for each result row (non-zero
	 * stops and is returned); *changes (may be NULL) the rows changed.
	 * write: a write (refused inside a read transaction; outside any
	 * transaction it runs on its own). Errors as KN_E* codes: a unique
	 * violation KN_ECONFLICT, a missing referenced row KN_ENOTFOUND. */
	int (*run)(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n, bool write,
		   kn_row_fn row, void *ctx, int64_t *changes, kn_error *err);
	bool (*null)(const kn_sqlrow *r, int col);
	int64_t (*i)(const kn_sqlrow *r, int col);
	/* Valid until the callback returns; never NULL ("" for null). */
	const char *(*t)(const kn_sqlrow *r, int col, size_t *len);
	/* A BLOB or BYTEA column's bytes appended to out (which caps them):
	 * 0, KN_ETOOBIG, or KN_ESTORE when the backend's text is malformed. */
	int (*blob)(const kn_sqlrow *r, int col, kn_buf *out);
} kn_sqlexec;

/* The operations on kanri's own tables (comments, relations, journal,
 * users, tokens, sessions, meta, jobs, counters, copies, ranked search),
 * written once for every SQL backend: see store.h for what each does.
 * A backend puts them in its kn_store_ops and sets kn_store.sql. */
int kn_sqlop_next_number(kn_store *st, const kn_type *t, int64_t *n, kn_error *err);
int kn_sqlop_comment_insert(kn_store *st, const json_t *c, int64_t *id, kn_error *err);
int kn_sqlop_comment_list(kn_store *st, const char *type, int64_t rec_id, bool work_notes,
			  json_t **out, kn_error *err);
int kn_sqlop_comment_scan(kn_store *st, int (*cb)(void *ctx, const json_t *c), void *ctx,
			  kn_error *err);
int kn_sqlop_attach_insert(kn_store *st, const json_t *a, const void *data, size_t len,
			   int64_t *id, kn_error *err);
int kn_sqlop_attach_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			 kn_error *err);
int kn_sqlop_attach_get(kn_store *st, const char *type, int64_t rec_id, int64_t id,
			json_t **meta, kn_buf *data, kn_error *err);
int kn_sqlop_rel_insert(kn_store *st, const json_t *r, int64_t *id, kn_error *err);
int kn_sqlop_rel_delete(kn_store *st, int64_t id, kn_error *err);
int kn_sqlop_rel_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
		      kn_error *err);
int kn_sqlop_rel_scan(kn_store *st, int (*cb)(void *ctx, const json_t *r), void *ctx,
		      kn_error *err);
int kn_sqlop_journal_head(kn_store *st, int64_t *seq, char hash[65], kn_error *err);
int kn_sqlop_journal_insert(kn_store *st, const kn_jentry *e, kn_error *err);
int kn_sqlop_journal_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			  kn_error *err);
int kn_sqlop_journal_scan(kn_store *st, int (*cb)(void *ctx, const kn_jentry *e), void *ctx,
			  kn_error *err);
int kn_sqlop_user_insert(kn_store *st, kn_user *u, kn_error *err);
int kn_sqlop_user_get(kn_store *st, const char *name, int64_t id, kn_user *out, kn_error *err);
int kn_sqlop_user_set_login(kn_store *st, int64_t uid, int failures, int64_t locked_until,
			    kn_error *err);
int kn_sqlop_token_insert(kn_store *st, int64_t uid, const char *hash, const char *label,
			  const char *created_at, kn_error *err);
int kn_sqlop_token_lookup(kn_store *st, const char *hash, kn_user *out, kn_error *err);
int kn_sqlop_session_insert(kn_store *st, const char *hash, int64_t uid, const char *csrf,
			    int64_t expires, kn_error *err);
int kn_sqlop_session_lookup(kn_store *st, const char *hash, int64_t now, kn_user *out,
			    char csrf[64], kn_error *err);
int kn_sqlop_session_delete(kn_store *st, const char *hash, kn_error *err);
int kn_sqlop_session_purge(kn_store *st, int64_t now, int64_t *n, kn_error *err);
int kn_sqlop_job_ensure(kn_store *st, const char *name, int64_t due_at, kn_error *err);
int kn_sqlop_job_claim(kn_store *st, const char *name, int64_t now, int64_t lease_until,
		       const char *owner, int64_t *due_at, kn_error *err);
int kn_sqlop_job_finish(kn_store *st, const char *name, const char *owner, int64_t next_due,
			int64_t lease_until, const char *at, const char *error, kn_error *err);
int kn_sqlop_job_list(kn_store *st, kn_job **out, size_t *n, kn_error *err);
int kn_sqlop_table_scan(kn_store *st, const kn_systable *t,
			int (*cb)(void *ctx, const json_t *row), void *ctx, kn_error *err);
int kn_sqlop_table_insert(kn_store *st, const kn_systable *t, const json_t *row,
			  kn_error *err);
int kn_sqlop_search_rank(kn_store *st, const char *type, const kn_sterm *terms, size_t nterms,
			 int limit, int64_t **ids, int64_t **scores, size_t *n, kn_error *err);
/* One result row of a kn_sql_stats query as rec_stats gives it (a new
 * array), or NULL when a text is not valid UTF-8. */
json_t *kn_sqlop_stats_row(kn_store *st, const kn_sqlrow *r, const kn_sqlstats *s);
/* The total of a stats query from its groups ([keys..., count, ...]) when
 * they are all of the matching rows (fewer than the limit, no min_count):
 * true and *total set, so that the store need not count again. */
bool kn_sqlop_stats_total(const kn_statq *q, const json_t *groups, int64_t *total);
int kn_sqlop_meta_get(kn_store *st, const char *key, char **val, kn_error *err);
int kn_sqlop_meta_set(kn_store *st, const char *key, const char *val, kn_error *err);

/* The entries of a kn_store_ops that rows.c provides. */
#define KN_SQLOPS_SHARED \
	.rec_next_number = kn_sqlop_next_number, \
	.comment_insert = kn_sqlop_comment_insert, \
	.comment_list = kn_sqlop_comment_list, \
	.comment_scan = kn_sqlop_comment_scan, \
	.attach_insert = kn_sqlop_attach_insert, \
	.attach_list = kn_sqlop_attach_list, \
	.attach_get = kn_sqlop_attach_get, \
	.rel_insert = kn_sqlop_rel_insert, \
	.rel_delete = kn_sqlop_rel_delete, \
	.rel_list = kn_sqlop_rel_list, \
	.rel_scan = kn_sqlop_rel_scan, \
	.journal_head = kn_sqlop_journal_head, \
	.journal_insert = kn_sqlop_journal_insert, \
	.journal_list = kn_sqlop_journal_list, \
	.journal_scan = kn_sqlop_journal_scan, \
	.user_insert = kn_sqlop_user_insert, \
	.user_get = kn_sqlop_user_get, \
	.user_set_login = kn_sqlop_user_set_login, \
	.token_insert = kn_sqlop_token_insert, \
	.token_lookup = kn_sqlop_token_lookup, \
	.session_insert = kn_sqlop_session_insert, \
	.session_lookup = kn_sqlop_session_lookup, \
	.session_delete = kn_sqlop_session_delete, \
	.session_purge = kn_sqlop_session_purge, \
	.job_ensure = kn_sqlop_job_ensure, \
	.job_claim = kn_sqlop_job_claim, \
	.job_finish = kn_sqlop_job_finish, \
	.job_list = kn_sqlop_job_list, \
	.search_rank = kn_sqlop_search_rank, \
	.table_scan = kn_sqlop_table_scan, \
	.table_insert = kn_sqlop_table_insert, \
	.meta_get = kn_sqlop_meta_get, \
	.meta_set = kn_sqlop_meta_set

/* ---- per-thread connections ------------------------------------------- */

/* Every thread that touches a store uses its own connection, opened on
 * first use; a thread that ends hands it back to an idle list, where the
 * next thread takes it (with its prepared statements and caches warm). */
typedef struct kn_pconn {
	struct kn_pconn *next, *prev, *idle_next;
	struct kn_pool *pool;
} kn_pconn;

typedef struct kn_pool {
	pthread_key_t key;
	pthread_mutex_t lock;
	kn_pconn *conns, *idle;
	size_t nidle, max_idle;
	int (*open)(struct kn_pool *p, kn_pconn **out, kn_error *err);
	void (*reset)(kn_pconn *c); /* at thread exit: end an open transaction */
	void (*free)(kn_pconn *c);
} kn_pool;

int kn_pool_init(kn_pool *p, size_t max_idle, kn_error *err);
int kn_pool_get(kn_pool *p, kn_pconn **out, kn_error *err);
/* This thread's connection, or NULL. */
kn_pconn *kn_pool_mine(kn_pool *p);
/* Close every connection: each(c, mine) is called before c is freed. */
void kn_pool_close(kn_pool *p, void (*each)(kn_pconn *c, bool mine));

#endif

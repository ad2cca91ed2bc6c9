/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h - the storage interface: the only place where SQL exists below it.
 *
 * A backend (sqlite.c, postgres.c) fills a kn_store_ops table. The
 * store is shared by all threads; each thread transparently uses its own
 * connection. All record operations run inside a transaction opened with
 * kn_store_begin on the calling thread; write transactions are serialised
 * (one writer at a time) so that numbering and the journal chain are exact.
 *
 * Records travel as JSON objects: the system attributes
 *   id (integer), number (string), version (integer), state (string),
 *   created_at, updated_at (ISO 8601 UTC strings), created_by, updated_by
 * and one member per declared field, JSON null when empty. Field values are
 * already validated and normalised by the engine: text/longtext/enum/ref/
 * date/datetime are strings, integer is an integer, boolean is true/false.
 *
 * Every function returns 0 or a negative KN_E* code and fills err.
 */
#ifndef KN_STORE_H
#define KN_STORE_H

#include "core/schema.h"

typedef struct kn_store kn_store;

/* ---- list queries ------------------------------------------------------ */
typedef enum kn_op {
	KN_OP_EQ,       /* attr = value               */
	KN_OP_NE,       /* attr <> value or attr null */
	KN_OP_LT, KN_OP_LTE, KN_OP_GT, KN_OP_GTE,
	KN_OP_IN,       /* attr in (values...)        */
	KN_OP_NIN,      /* attr not in (values...) or null */
	KN_OP_CONTAINS, /* text contains value, case-insensitive for ASCII */
	KN_OP_NULL,     /* attr is null               */
	KN_OP_NOTNULL,  /* attr is not null           */
	KN_OP_SEARCH,   /* the record has every term (attr "id"; terms, nterms) */
} kn_op;

/* Full-text search (see core/search.h): a token of a record with its
 * weight; a query term: a token, or every token starting with it. */
#define KN_TOK_MAX 48  /* bytes of a token, NUL included */
#define KN_TERMS_CAP 16 /* terms of one query */

typedef struct kn_posting {
	char tok[KN_TOK_MAX];
	int w;
} kn_posting;

typedef struct kn_sterm {
	char tok[KN_TOK_MAX];
	bool prefix;
} kn_sterm;

/* The end of a prefix term's range: every token starting with tok sorts
 * (bytewise) below it, every other token above tok sorts above it. */
void kn_sterm_end(const char *tok, char out[KN_TOK_MAX + 4]);

typedef struct kn_cond {
	const char *attr; /* a field or system attribute name (validated) */
	kn_op op;
	json_t *values;   /* array of normalised values (borrowed) */
	const kn_sterm *terms; /* KN_OP_SEARCH */
	size_t nterms;
} kn_cond;

typedef struct kn_sort {
	const char *attr;
	bool desc;
} kn_sort;

/*
 * Sort order: the sorts in order, then id (ascending) as the tie-breaker,
 * which the engine always appends as the last sort. NULL sorts after every
 * value in ascending order and before every value in descending order.
 * after: when not NULL, an array with the values of the sort attributes of
 * the last row of the previous page (one per sort, same order); only rows
 * strictly after it are returned.
 */
typedef struct kn_query {
	const kn_cond *conds;
	size_t nconds;
	const kn_sort *sorts;
	size_t nsorts;
	const json_t *after;
	int limit;       /* rows wanted (the engine asks for one more to see if there is a next page) */
	bool want_total; /* count all rows matching conds */
	/* Attributes to return (validated names, id always among them), or NULL
	 * for all; the rows then hold only these members (and "type"). */
	const char *const *attrs;
	size_t nattrs;
} kn_query;

/* ---- aggregate queries (stats) ----------------------------------------- */
/* A datetime or date attribute cut to a period of the site's calendar. */
typedef enum kn_bucket {
	KN_BUCKET_NONE,
	KN_BUCKET_DAY,   /* "2026-11-25" */
	KN_BUCKET_WEEK,  /* ISO week, Monday start: the Monday, "2026-11-23" */
	KN_BUCKET_MONTH, /* "2026-11" */
	KN_BUCKET_YEAR,  /* "2026" */
} kn_bucket;

typedef struct kn_group {
	const char *attr; /* a field or system attribute name (validated) */
	kn_bucket bucket; /* datetime and date attributes only */
} kn_group;

/* One aggregate over the rows of a group: an integer, or null (max of nothing). */
typedef enum kn_agg {
	KN_AGG_SUM,      /* sum of integer attr, 0 when none */
	KN_AGG_COUNT,    /* rows where attr is not null */
	KN_AGG_SUM_MS,   /* sum of the milliseconds from datetime attr to attr2, rows where both are set */
	KN_AGG_COUNT_MS, /* rows where attr and attr2 are both set */
	KN_AGG_MAX_MS,   /* the greatest such duration in milliseconds; null when none */
} kn_agg;

typedef struct kn_metric {
	kn_agg agg;
	const char *attr, *attr2; /* attr2: the end of a duration (_MS) */
} kn_metric;

#define KN_STATS_GROUPS 3
#define KN_STATS_METRICS 32

/*
 * A grouped aggregate over the records matching conds: one row per
 * combination of the groups' values (a null value is a group of its own),
 * with its count and each metric, ordered by count (most first), then by
 * the keys in order (ascending, null last). No groups: one row over every
 * matching record (count 0 when none).
 */
typedef struct kn_statq {
	const kn_cond *conds;
	size_t nconds;
	const kn_group *groups;
	size_t ngroups;          /* 0..KN_STATS_GROUPS */
	const kn_metric *metrics;
	size_t nmetrics;         /* 0..KN_STATS_METRICS */
	int64_t min_count;       /* only groups of at least this many rows (<= 1: all) */
	int limit;               /* at most this many groups (> 0) */
	int tz_offset_min;       /* buckets in the zone UTC + this many minutes */
} kn_statq;

/* ---- journal ----------------------------------------------------------- */
typedef struct kn_jentry {
	int64_t seq;       /* 1, 2, 3 ... gap-free */
	char at[32];       /* ISO 8601 UTC */
	char actor[128];   /* user name, or "system" */
	char type[64];     /* record type, "" for non-record events (users, tokens) */
	int64_t rec_id;    /* 0 when none */
	char action[32];   /* create, update, transition, comment, work_note, relate, unrelate, user.add ... */
	char *changes;     /* canonical JSON text (owned by whoever filled it) */
	char *reason;      /* may be NULL */
	char digest[65];   /* SHA-256 of the record row after the change, "" when none */
	char prev[65];     /* hash of entry seq-1, 64 zeros for the first */
	char hash[65];     /* SHA-256 over prev and this entry (see journal.c) */
} kn_jentry;

/* ---- principals -------------------------------------------------------- */
typedef struct kn_user {
	int64_t id;
	char name[128];
	int role;         /* one KN_ROLE_* bit */
	char org[128];    /* "" when none */
	char pwhash[160]; /* argon2id string, "" when none */
	int failures;     /* consecutive failed logins */
	int64_t locked_until; /* epoch ms */
	bool disabled;
} kn_user;

/* ---- background jobs ----------------------------------------------------- */
/* One row per job: the next due instant and who holds it (a lease). */
typedef struct kn_job {
	char name[64];
	int64_t due_at;      /* epoch ms */
	int64_t lease_until; /* epoch ms; 0 when nobody holds it */
	char owner[96];      /* "" when nobody holds it */
	int64_t runs;        /* finished runs */
	int64_t attempts;    /* claims, finished or not */
	char last_at[32];    /* when it last finished or failed, "" never */
	char last_error[256];
} kn_job;

/* ---- whole-installation copies ------------------------------------------- */
/* The tables besides the rec_ ones, in an order that loads (users before
 * the tokens and sessions that refer to them). */
typedef struct kn_systable {
	const char *name;
	const char *const *cols; /* NULL-terminated */
	const char *kinds;       /* 'i' integer, 't' text or 'b' bytes (a BLOB or
				  * BYTEA; base64url text in the row objects), per column */
	bool int_key;            /* the first column is an integer key */
} kn_systable;

extern const kn_systable kn_systables[];
extern const size_t kn_nsystables;

/* The layout of the tables besides the rec_ ones: bump it whenever a
 * backend's fixed DDL changes, so that every store is migrated once more
 * (a store whose layout and schema digest are those it was last migrated
 * to is not migrated again: no DDL on a live database). */
#define KN_STORE_FORMAT 4

typedef struct kn_store_ops {
	const char *name; /* "sqlite" */
	int (*open)(const char *dsn, kn_store **out, kn_error *err);
	void (*close)(kn_store *st);
	/* Create or forward-migrate tables and indexes for every type (unless
	 * done already for this schema digest and KN_STORE_FORMAT). */
	int (*migrate)(kn_store *st, const kn_schema *s, kn_error *err);

	int (*begin)(kn_store *st, bool write, kn_error *err);
	int (*commit)(kn_store *st, kn_error *err);
	void (*rollback)(kn_store *st);
	/* A nested unit inside the open write transaction: savepoint starts it,
	 * release keeps its work, undo throws its work away (and ends it). */
	int (*savepoint)(kn_store *st, kn_error *err);
	int (*release)(kn_store *st, kn_error *err);
	void (*undo)(kn_store *st);

	/* Next number of a type (1, 2, ...), gap-free within committed transactions. */
	int (*rec_next_number)(kn_store *st, const kn_type *t, int64_t *n, kn_error *err);
	/* Insert rec (all attributes but id); sets *id. KN_ECONFLICT on a duplicate key. */
	int (*rec_insert)(kn_store *st, const kn_type *t, const json_t *rec, int64_t *id,
			  kn_error *err);
	/* Set the attributes in `set` (which includes the new version) on row id
	 * when its version is still `version`; KN_ECONFLICT when it is not. */
	int (*rec_update)(kn_store *st, const kn_type *t, int64_t id, int64_t version,
			  const json_t *set, kn_error *err);
	/* Fetch by id (when number is NULL) or by number; KN_ENOTFOUND. */
	int (*rec_get)(kn_store *st, const kn_type *t, int64_t id, const char *number,
		       json_t **out, kn_error *err);
	/* Fetch by key: the type's key field value, or its number when it has none. */
	int (*rec_get_key)(kn_store *st, const kn_type *t, const char *key, json_t **out,
			   kn_error *err);
	/* One page of records: *items a new array, *total when asked (else -1). */
	int (*rec_list)(kn_store *st, const kn_type *t, const kn_query *q, json_t **items,
			int64_t *total, kn_error *err);
	/* Grouped aggregates (kn_statq): *groups a new array with one array per
	 * group, [key values..., count, metric values...] (keys typed as their
	 * attribute's values, bucketed keys as text); *total the count of every
	 * matching record. KN_EINVAL for an attribute or bucket that does not fit. */
	int (*rec_stats)(kn_store *st, const kn_type *t, const kn_statq *q, json_t **groups,
			 int64_t *total, kn_error *err);
	/* Call cb for every record in id order; a non-zero return stops and is returned. */
	int (*rec_scan)(kn_store *st, const kn_type *t, int (*cb)(void *ctx, json_t *rec),
			void *ctx, kn_error *err);

	/* Comments and work notes: c has type, rec_id, kind, body, author, created_at. */
	int (*comment_insert)(kn_store *st, const json_t *c, int64_t *id, kn_error *err);
	/* Array of {id, kind, body, author, created_at}, oldest first. */
	int (*comment_list)(kn_store *st, const char *type, int64_t rec_id, bool work_notes,
			    json_t **out, kn_error *err);

	/* Every comment {id, type, rec_id, kind, body, author, created_at} in id
	 * order; cb borrows c; a non-zero return stops and is returned. */
	int (*comment_scan)(kn_store *st, int (*cb)(void *ctx, const json_t *c), void *ctx,
			    kn_error *err);

	/* Attachments (files) of records. insert: a has type, rec_id, name,
	 * ctype, size, sha256, created_by, created_at; data[0..len) the bytes;
	 * sets *id. list: array of {id, name, ctype, size, sha256, created_by,
	 * created_at} (no bytes), oldest first. get: the attachment id of that
	 * record (KN_ENOTFOUND otherwise): *meta as list gives it (new), its
	 * bytes appended to data (which caps them). */
	int (*attach_insert)(kn_store *st, const json_t *a, const void *data, size_t len,
			     int64_t *id, kn_error *err);
	int (*attach_list)(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			   kn_error *err);
	int (*attach_get)(kn_store *st, const char *type, int64_t rec_id, int64_t id,
			  json_t **meta, kn_buf *data, kn_error *err);

	/* Relations between records: r has from_type, from_id, kind, to_type, to_id,
	 * created_by, created_at. KN_ECONFLICT when the same relation exists. */
	int (*rel_insert)(kn_store *st, const json_t *r, int64_t *id, kn_error *err);
	int (*rel_delete)(kn_store *st, int64_t id, kn_error *err);
	/* Relations where the record is either end: array of the rows with id. */
	int (*rel_list)(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			kn_error *err);
	/* Every relation row (as rel_list gives them) in id order, like comment_scan. */
	int (*rel_scan)(kn_store *st, int (*cb)(void *ctx, const json_t *r), void *ctx,
			kn_error *err);

	/* Last journal entry's seq and hash (0 and 64 zeros when empty). */
	int (*journal_head)(kn_store *st, int64_t *seq, char hash[65], kn_error *err);
	int (*journal_insert)(kn_store *st, const kn_jentry *e, kn_error *err);
	/* Entries of one record, oldest first, as JSON objects
	 * {seq, at, actor, action, changes (parsed), reason}. */
	int (*journal_list)(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			    kn_error *err);
	/* Every entry in seq order; e->changes and e->reason are valid during cb only. */
	int (*journal_scan)(kn_store *st, int (*cb)(void *ctx, const kn_jentry *e), void *ctx,
			    kn_error *err);

	int (*user_insert)(kn_store *st, kn_user *u, kn_error *err); /* sets u->id; KN_ECONFLICT on duplicate name */
	int (*user_get)(kn_store *st, const char *name, int64_t id, kn_user *out, kn_error *err); /* by name, or id when name NULL */
	int (*user_set_login)(kn_store *st, int64_t uid, int failures, int64_t locked_until,
			      kn_error *err);
	int (*token_insert)(kn_store *st, int64_t uid, const char *hash, const char *label,
			    const char *created_at, kn_error *err);
	int (*token_lookup)(kn_store *st, const char *hash, kn_user *out, kn_error *err);
	int (*session_insert)(kn_store *st, const char *hash, int64_t uid, const char *csrf,
			      int64_t expires, kn_error *err);
	/* KN_ENOTFOUND when missing or expired (now given in epoch ms). */
	int (*session_lookup)(kn_store *st, const char *hash, int64_t now, kn_user *out,
			      char csrf[64], kn_error *err);
	int (*session_delete)(kn_store *st, const char *hash, kn_error *err);

	/* Delete the sessions expired at now (epoch ms); *n: how many. */
	int (*session_purge)(kn_store *st, int64_t now, int64_t *n, kn_error *err);

	/* Jobs. ensure: add the job with its first due time unless it exists.
	 * claim: when due (due_at <= now) and not held (lease_until <= now),
	 * hold it for owner until lease_until and give its due time; else
	 * KN_ENOTFOUND. finish: when owner still holds it, set the next due
	 * time (or keep it when next_due < 0), hold it until lease_until
	 * (0: free), and count a run (when error is NULL) or record the error;
	 * KN_ECONFLICT when owner no longer holds it. */
	int (*job_ensure)(kn_store *st, const char *name, int64_t due_at, kn_error *err);
	int (*job_claim)(kn_store *st, const char *name, int64_t now, int64_t lease_until,
			 const char *owner, int64_t *due_at, kn_error *err);
	int (*job_finish)(kn_store *st, const char *name, const char *owner, int64_t next_due,
			  int64_t lease_until, const char *at, const char *error, kn_error *err);
	int (*job_list)(kn_store *st, kn_job **out, size_t *n, kn_error *err);

	/* Copies (backup, restore, migrate-store). table_scan: every row of a
	 * system table in key order, as an object of its columns (cb borrows
	 * it). table_insert: one such row as it is, keys included. rec_restore:
	 * a record with its id. load_done: after loading, new ids continue
	 * after the loaded ones. backup_file: a consistent copy of the whole
	 * database into a new file, while others read and write (NULL when the
	 * backend has none). */
	int (*table_scan)(kn_store *st, const kn_systable *t,
			  int (*cb)(void *ctx, const json_t *row), void *ctx, kn_error *err);
	int (*table_insert)(kn_store *st, const kn_systable *t, const json_t *row,
			    kn_error *err);
	int (*rec_restore)(kn_store *st, const kn_type *t, const json_t *rec, kn_error *err);
	int (*load_done)(kn_store *st, const kn_schema *s, kn_error *err);
	int (*backup_file)(kn_store *st, const char *path, kn_error *err);

	/* Full-text search (core/search.h). search_set: replace the postings
	 * of record (type, rec_id) by p[0..n) (n 0: none); fresh: it has none
	 * yet (a record just created). search_rank: the
	 * records with every term, best first (the sum of the matched
	 * weights, then newest), at most limit: ids[] and scores[] (caller
	 * frees both), *n. */
	int (*search_set)(kn_store *st, const char *type, int64_t rec_id, bool fresh,
			  const kn_posting *p, size_t n, kn_error *err);
	int (*search_rank)(kn_store *st, const char *type, const kn_sterm *terms, size_t nterms,
			   int limit, int64_t **ids, int64_t **scores, size_t *n, kn_error *err);

	/* Small key/value settings (schema digest, format version...). *val owned by caller, NULL when missing. */
	int (*meta_get)(kn_store *st, const char *key, char **val, kn_error *err);
	int (*meta_set)(kn_store *st, const char *key, const char *val, kn_error *err);
} kn_store_ops;

struct kn_store {
	const kn_store_ops *ops;
	/* SQL backends: how the operations they share run statements (sql.h) */
	const struct kn_sqlexec *sql;
};

extern const kn_store_ops kn_store_sqlite;
extern const kn_store_ops kn_store_pg;

/* Make the SQLite database file at path a file of its own: no write-ahead
 * log beside it (a backup that is read, copied or checksummed as is). */
int kn_store_sqlite_seal(const char *path, kn_error *err);

/* Whether dsn names a SQLite database (a path, or sqlite:PATH). */
bool kn_store_is_sqlite(const char *dsn);
/* dsn with a relative SQLite path made absolute (from the working
 * directory): what a config.json must hold. A new string. */
char *kn_store_absolute(const char *dsn);

/* Open the backend named by dsn: "sqlite:PATH" or a plain path (SQLite),
 * "postgres://..." or "postgresql://..." (PostgreSQL, a libpq URI), or
 * "postgres:" followed by libpq key=value words. */
int kn_store_open(const char *dsn, kn_store **out, kn_error *err);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record.h - the record engine: every operation on every record type.
 *
 * The engine validates input against the type's declaration, applies the
 * state machine and the access rules, computes computed fields, assigns
 * numbers, and writes the change and its journal entry in one storage
 * transaction. Callers (HTTP API, CLI) pass the acting user and JSON; they
 * receive JSON already filtered for that user (hidden fields removed).
 *
 * A record is addressed by `ref`: its id ("42") or its number ("INC-000042").
 * Every function returns 0 or a negative KN_E* code and fills err; on error
 * nothing has been written.
 */
#ifndef KN_RECORD_H
#define KN_RECORD_H

#include "core/schema.h"
#include "store/store.h"

typedef struct kn_writer kn_writer;
typedef struct kn_jobs kn_jobs;

typedef struct kn_engine {
	kn_schema *schema;
	kn_store *store;
	char *datadir;
	json_t *config;     /* DATA/config.json (owned, an object, maybe empty) */
	kn_writer *writer;  /* group commit, when started */
	kn_jobs *jobs;      /* background jobs, when started (jobs.h) */
} kn_engine;

/* Open the data folder: config, schema (embedded + DATA/schema overlays),
 * storage (migrated forward). */
int kn_engine_open(const char *datadir, kn_engine **out, kn_error *err);
/* Stops the writer (if started), closes the store and frees e. */
void kn_engine_close(kn_engine *e);
/* Start group commit (a server does; a one-shot CLI command need not):
 * creates, updates and transitions from every thread then go to one writer
 * thread that commits all those waiting in one transaction, so that one
 * fsync serves many of them. Each still succeeds or fails on its own, and
 * is answered only once its commit is durable. */
int kn_engine_writer_start(kn_engine *e, kn_error *err);
/* Run fn inside a write transaction (the writer's next batch when group
 * commit runs, in a savepoint of its own): everything fn writes commits
 * together, or nothing when fn fails. Returns once durable or failed. */
typedef int (*kn_write_fn)(kn_engine *e, void *arg, kn_error *err);
int kn_engine_write(kn_engine *e, kn_write_fn fn, void *arg, kn_error *err);

/* Create a new data folder with an empty, migrated database (and the
 * folders schema/ for overlays). KN_EEXIST when datadir exists and is not
 * an empty folder. store: NULL for SQLite in the folder, else the store to
 * use (written to config.json), which must hold no kanri installation yet;
 * with join it must hold one, and the folder becomes another node's.
 * overlays: NULL, or an object {file name: JSON text} written to schema/
 * first (a restore). */
int kn_engine_create(const char *datadir, const char *store, bool join, const json_t *overlays,
		     kn_error *err);
/* Remove what kn_engine_create wrote (after a restore into it failed);
 * the folder too when made (it did not exist before) and nothing else is
 * left in it. */
void kn_engine_uncreate(const char *datadir, const json_t *overlays, bool made);
/* Write overlays {file name: JSON text} as files into dir (never over an
 * existing file); KN_EVALID for a name that is not a plain *.json. */
int kn_overlays_write(const char *dir, const json_t *overlays, kn_error *err);
/* Whether the store named by dsn holds a kanri installation. */
int kn_store_installed(const char *dsn, bool *installed, kn_error *err);

/* Import records from a JSON Lines stream (one object per line, same body as
 * POST, optionally with "state"), as user u, committing every `batch`
 * records. Each record is validated and journalled exactly as a create.
 * Stops at the first bad line (err names the line); records of earlier
 * batches stay. *count: records imported. */
int kn_rec_import(kn_engine *e, const kn_user *u, const kn_type *t, FILE *in, int batch,
		  int64_t *count, kn_error *err);

/* A query-string parameter, in the order given. */
typedef struct kn_param {
	const char *key, *value;
} kn_param;

/* POST /{type}: body holds field values (and optional "reason").
 * *out: the new record (new reference). */
int kn_rec_create(kn_engine *e, const kn_user *u, const kn_type *t, const json_t *body,
		  json_t **out, kn_error *err);
/* The same inside the caller's write transaction (a kn_write_fn). */
int kn_rec_create_tx(kn_engine *e, const kn_user *u, const kn_type *t, const json_t *body,
		     json_t **out, kn_error *err);
int kn_rec_get(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
	       json_t **out, kn_error *err);
/* PATCH: if_version < 0 means "none given" (KN_EPRECOND unless body has
 * "version"). Body: fields to change, optional "reason". */
int kn_rec_update(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  int64_t if_version, const json_t *body, json_t **out, kn_error *err);
/* Body: {"to": STATE, field: value..., "reason": "..."}; if_version < 0: not checked. */
int kn_rec_transition(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		      int64_t if_version, const json_t *body, json_t **out, kn_error *err);
/* Body: {"body": TEXT, "kind": "comment"|"work_note"}. *out: the comment. */
int kn_rec_comment(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   const json_t *body, json_t **out, kn_error *err);
/* *out: {"items": [...]} comments (and work notes when the user may see them). */
int kn_rec_comments(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		    json_t **out, kn_error *err);
/* Attach a file to record ref: who may comment on it may attach. name: a
 * file name (1..255 characters, no path separator or control character,
 * else KN_EVALID); ctype: its media type as type/subtype (NULL or "":
 * application/octet-stream); data[0..len) its bytes (borrowed; len 0:
 * KN_EVALID). Stored with a journal entry "attach" (changes name the file,
 * its size and SHA-256) in one write transaction. *out: the attachment's
 * metadata {id, name, ctype, size, sha256, created_by, created_at}. */
int kn_rec_attach(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  const char *name, const char *ctype, const void *data, size_t len,
		  json_t **out, kn_error *err);
/* *out: {"items": [...]} the metadata of the record's attachments, oldest
 * first (KN_ENOTFOUND when u may not read the record). */
int kn_rec_attachments(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		       json_t **out, kn_error *err);
/* Attachment id of record ref: *meta its metadata (new), its bytes appended
 * to data. KN_ENOTFOUND when u may not read the record or it has no such
 * attachment. */
int kn_rec_attachment(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		      int64_t id, json_t **meta, kn_buf *data, kn_error *err);
/* *out: {"items": [...]} journal entries of the record, filtered for the user. */
int kn_rec_journal(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   json_t **out, kn_error *err);
/* *out: {"items": [...], "next": CURSOR|null, "total": N}. Parameters:
 * field=value (repeat for any-of), field[op]=value with op in
 * ne, lt, lte, gt, gte, in (comma list), contains, null (true|false),
 * open=true|false (state not final / final), sort=a,-b, limit=N (1..500,
 * default 50), cursor=C, total=false (skip counting), fields=a,b (return
 * only these attributes, with id and number). */
int kn_rec_list(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		size_t np, json_t **out, kn_error *err);
/* The conditions of a list query, for other engine modules (reports):
 * parses the filter parameters of kn_rec_list (field=value, field[op]=,
 * open=, q=) plus the scoping u is under, ignoring the keys in skip
 * (NULL-terminated, may be NULL). sort, cursor and fields are refused. */
typedef struct kn_filter kn_filter;
int kn_rec_filter(const kn_type *t, const kn_user *u, const kn_param *p, size_t np,
		  const char *const *skip, kn_filter **out, kn_error *err);
const kn_cond *kn_filter_conds(const kn_filter *f, size_t *n);
/* Add a condition (values: a new reference, taken over). */
int kn_filter_add(kn_filter *f, const char *attr, kn_op op, json_t *values, kn_error *err);
void kn_filter_free(kn_filter *f);
/* Full-text search across types. Parameters: q (the words), types (comma
 * list of plurals; default every searched type u may read), limit (1..100,
 * default 20). *out: {"items": [{type, id, number, title, state, score,
 * field, snippet}]}, best first; snippet is HTML-escaped text with the
 * matches in <mark></mark>. */
int kn_rec_search(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		  kn_error *err);
/* Body: {"kind": K, "target": "TYPE-PLURAL/REF"} e.g. "incidents/INC-000002". */
int kn_rec_relate(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  const json_t *body, json_t **out, kn_error *err);
int kn_rec_relations(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		     json_t **out, kn_error *err);
int kn_rec_unrelate(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		    int64_t rel_id, kn_error *err);

/* Verify the journal chain and that every record row matches the digest of
 * its last journal entry. Writes progress/problems to report (may be NULL).
 * Returns 0 when intact; KN_ECONFLICT naming the first broken entry in err. */
int kn_audit_verify(kn_engine *e, FILE *report, kn_error *err);

/* Append a journal entry inside the caller's write transaction. changes is
 * borrowed; digest may be NULL. */
int kn_journal_append(kn_engine *e, const char *actor, const char *type, int64_t rec_id,
		      const char *action, const json_t *changes, const char *reason,
		      const char *digest, kn_error *err);
/* For engine modules, inside a write transaction (rules, timers): fire
 * transition trname on rec (as read in this transaction; changed in place)
 * with fields, as kanri on behalf of u (journalled as u; NULL: "system");
 * KN_ECONFLICT when rec cannot take it from its state. depth: how many
 * transitions passed on led here. */
int kn_rec_fire_tx(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		   const char *trname, const json_t *fields, const char *reason, int depth,
		   kn_error *err);
/* Store rec (changed in memory as noted in changes) as its next version and
 * journal it under action, inside the caller's write transaction. */
int kn_rec_save_tx(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		   const char *action, json_t *changes, const char *reason, int depth,
		   kn_error *err);
/* Store rec, which the system changed in memory from before (the record as
 * read in this write transaction: a clock's warning or breach), as its next
 * version: the rules' "set" for an update run first, the journal names
 * every changed field, then the rules' notifications follow. */
int kn_rec_system_save_tx(kn_engine *e, const kn_type *t, const json_t *before, json_t *rec,
			  const char *reason, kn_error *err);
/* SHA-256 hex of a record's canonical row (system attributes and fields). */
void kn_record_digest(const kn_type *t, const json_t *rec, char out[65]);

#endif

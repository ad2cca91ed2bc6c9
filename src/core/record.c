/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record.c - the record engine: validation, state machine, access, numbering,
 * computed fields and the journal, for every declared record type.
 *
 * Each write is one storage transaction: the row, its number and its journal
 * entry commit together or not at all. Validation happens before anything is
 * written, so a rejected request leaves no trace.
 */
#include "kanri.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "core/jobs.h"
#include "core/record.h"
#include "core/clock.h"
#include "core/rules.h"
#include "core/search.h"

/* ---- engine ------------------------------------------------------------ */

static char *db_path(const char *datadir) { return kn_xasprintf("%s/kanri.db", datadir); }

static int load_config(kn_engine *e, kn_error *err)
{
	char *path = kn_xasprintf("%s/config.json", e->datadir);
	json_error_t je;
	if (access(path, F_OK) != 0) {
		e->config = json_object();
		free(path);
		return 0;
	}
	e->config = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	int rc = 0;
	if (!e->config || !json_is_object(e->config))
		rc = kn_fail(err, KN_EVALID, "", "%s: line %d: %s", path, je.line,
			     e->config ? "not an object" : je.text);
	free(path);
	return rc;
}

struct reindex_ctx {
	kn_store *st;
	const kn_type *t;
	int64_t n;
	kn_error *err;
};

static int reindex_one(void *p, json_t *rec)
{
	struct reindex_ctx *x = p;
	x->n++;
	return kn_search_index(x->st, x->t, rec, false, x->err);
}

/* Rebuild the search postings of type t when its searched fields (or
 * their weights) are not those the postings were made for: a new
 * installation, an upgrade, an overlay that changed what is searched. */
static int search_reindex(kn_engine *e, const kn_type *t, kn_error *err)
{
	kn_buf sig;
	kn_buf_init(&sig, 0);
	kn_buf_adds(&sig, "1");
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].search)
			kn_buf_addf(&sig, " %s:%d", t->fields[i].name, t->fields[i].search);
	char *key = kn_xasprintf("search:%s", t->name), *have = NULL;
	kn_store *st = e->store;
	int rc = st->ops->meta_get(st, key, &have, err);
	if (!rc && (!have || strcmp(have, sig.data) != 0)) {
		struct reindex_ctx x = {st, t, 0, err};
		rc = st->ops->begin(st, true, err);
		if (!rc)
			rc = st->ops->rec_scan(st, t, reindex_one, &x, err);
		if (!rc)
			rc = st->ops->meta_set(st, key, sig.data, err);
		if (rc)
			st->ops->rollback(st);
		else
			rc = st->ops->commit(st, err);
		if (!rc && x.n >= 1000)
			fprintf(stderr, "kanri: %s: %lld records indexed for search\n", t->plural,
				(long long)x.n);
	}
	free(have);
	free(key);
	kn_buf_release(&sig);
	return rc;
}

int kn_engine_open(const char *datadir, kn_engine **out, kn_error *err)
{
	struct stat st;
	if (stat(datadir, &st) != 0 || !S_ISDIR(st.st_mode))
		return kn_fail(err, KN_ENOTFOUND, "", "data folder %s does not exist (kanri init --data %s)",
			       datadir, datadir);
	if (sodium_init() < 0)
		return kn_fail(err, KN_EINTERNAL, "", "libsodium failed to start");
	kn_proc_register_all();
	kn_engine *e = kn_xcalloc(1, sizeof *e);
	e->datadir = kn_xstrdup(datadir);
	int rc = load_config(e, err);
	char *ov = kn_xasprintf("%s/schema", datadir);
	if (!rc)
		rc = kn_schema_load(&e->schema, ov, err);
	free(ov);
	if (!rc) {
		const char *dsn = json_string_value(json_object_get(e->config, "store"));
		char *def = db_path(datadir);
		rc = kn_store_open(dsn ? dsn : def, &e->store, err);
		free(def);
	}
	if (!rc)
		rc = e->store->ops->migrate(e->store, e->schema, err);
	if (!rc)
		rc = e->store->ops->meta_set(e->store, "schema_digest", e->schema->digest, err);
	for (size_t i = 0; !rc && i < e->schema->ntypes; i++)
		rc = search_reindex(e, &e->schema->types[i], err);
	if (rc) {
		kn_engine_close(e);
		return rc;
	}
	*out = e;
	return 0;
}

static void writer_stop(kn_engine *e);

void kn_engine_close(kn_engine *e)
{
	if (!e)
		return;
	kn_jobs_stop(e);
	writer_stop(e);
	if (e->store)
		e->store->ops->close(e->store);
	kn_schema_free(e->schema);
	json_decref(e->config);
	free(e->datadir);
	free(e);
}

/* Whether the store named by dsn holds a kanri installation already. */
int kn_store_installed(const char *dsn, bool *installed, kn_error *err)
{
	kn_store *st = NULL;
	char *val = NULL;
	int rc = kn_store_open(dsn, &st, err);
	if (!rc)
		rc = st->ops->meta_get(st, "installation", &val, err);
	/* a database without kanri's tables has no meta table yet */
	*installed = !rc && val;
	if (rc == KN_ESTORE && st)
		rc = 0;
	free(val);
	if (st)
		st->ops->close(st);
	return rc;
}

int kn_overlays_write(const char *dir, const json_t *overlays, kn_error *err)
{
	const char *fname;
	json_t *body;
	int rc = 0;
	json_object_foreach((json_t *)overlays, fname, body) {
		if (rc)
			break;
		if (!json_is_string(body) || !*fname || strchr(fname, '/') || fname[0] == '.' ||
		    !strstr(fname, ".json")) {
			rc = kn_fail(err, KN_EVALID, "", "bad overlay \"%s\"", fname);
			break;
		}
		char *path = kn_xasprintf("%s/%s", dir, fname);
		FILE *f = fopen(path, "wx");
		if (!f || fwrite(json_string_value(body), 1, json_string_length(body), f) !=
			      json_string_length(body))
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot write %s", path);
		if (f && fclose(f) != 0 && !rc)
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot write %s", path);
		free(path);
	}
	return rc;
}

/* Undo a failed init: what it wrote, and the folder when it made it. */
static void remove_new_folder(const char *datadir, const json_t *overlays, bool made)
{
	static const char *const files[] = {"config.json", "kanri.db", "kanri.db-wal",
					    "kanri.db-shm"};
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char *p = kn_xasprintf("%s/%s", datadir, files[i]);
		unlink(p);
		free(p);
	}
	const char *fname;
	json_t *body;
	json_object_foreach((json_t *)overlays, fname, body) {
		if (strchr(fname, '/'))
			continue;
		char *p = kn_xasprintf("%s/schema/%s", datadir, fname);
		unlink(p);
		free(p);
	}
	char *p = kn_xasprintf("%s/schema", datadir);
	rmdir(p);
	free(p);
	if (made)
		rmdir(datadir);
}

void kn_engine_uncreate(const char *datadir, const json_t *overlays, bool made)
{
	remove_new_folder(datadir, overlays, made);
}

int kn_engine_create(const char *datadir, const char *store, bool join, const json_t *overlays,
		     kn_error *err)
{
	struct stat st;
	bool made = false;
	if (join && !store)
		return kn_fail(err, KN_EINVAL, "store",
			       "joining needs the shared database (--store postgres://...)");
	if (store) {
		bool installed = false;
		int rc = kn_store_installed(store, &installed, err);
		if (rc)
			return rc;
		if (installed && !join)
			return kn_fail(err, KN_EEXIST, "store",
				       "the database already holds a kanri installation; to add a"
				       " node to it, use --join");
		if (!installed && join)
			return kn_fail(err, KN_ENOTFOUND, "store",
				       "the database holds no kanri installation to join; run"
				       " init without --join first");
	}
	if (stat(datadir, &st) == 0) {
		bool empty = S_ISDIR(st.st_mode);
		DIR *d = empty ? opendir(datadir) : NULL;
		struct dirent *de;
		while (d && (de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				empty = false;
		if (d)
			closedir(d);
		if (!empty)
			return kn_fail(err, KN_EEXIST, "",
				       "%s already exists and is not empty; not overwriting it",
				       datadir);
	} else if (mkdir(datadir, 0750) != 0) {
		return kn_fail(err, KN_EINTERNAL, "", "cannot create %s: %s", datadir,
			       strerror(errno));
	} else {
		made = true;
	}
	char *ov = kn_xasprintf("%s/schema", datadir);
	int rc = 0;
	if (mkdir(ov, 0750) != 0 && errno != EEXIST)
		rc = kn_fail(err, KN_EINTERNAL, "", "cannot create schema folder: %s",
			     strerror(errno));
	if (!rc)
		rc = kn_overlays_write(ov, overlays, err);
	free(ov);
	if (!rc && store) {
		char *abs = kn_store_absolute(store);
		json_t *cfg = json_pack("{ss}", "store", abs);
		free(abs);
		char *path = kn_xasprintf("%s/config.json", datadir);
		if (json_dump_file(cfg, path, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0)
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot write %s", path);
		else
			chmod(path, 0640); /* it may hold a password */
		free(path);
		json_decref(cfg);
	}
	kn_engine *e = NULL;
	if (!rc)
		rc = kn_engine_open(datadir, &e, err);
	if (!rc && !join) {
		char *id = kn_random_token(12), now[40];
		kn_now_iso(now, sizeof now);
		char *val = kn_xasprintf("%s %s", now, id);
		rc = e->store->ops->meta_set(e->store, "installation", val, err);
		free(val);
		free(id);
	}
	kn_engine_close(e);
	if (rc)
		remove_new_folder(datadir, overlays, made);
	return rc;
}

/* ---- small helpers ----------------------------------------------------- */

#define ST(e) ((e)->store)
#define MAX_CHAIN 4 /* transitions passed on to child records, at most this deep */
#define OPS(e) ((e)->store->ops)

static bool role_in(const kn_user *u, int mask) { return u && (u->role & mask); }

static const char *actor_name(const kn_user *u) { return u ? u->name : "system"; }

static bool is_enduser(const kn_user *u) { return u && (u->role & KN_ROLE_ENDUSER); }

/* Work notes are for whoever may write them, auditors and the system. */
static bool sees_work_notes(const kn_type *t, const kn_user *u)
{
	return !u || role_in(u, t->can_work_note | KN_ROLE_AUDITOR);
}

/* Administrators and auditors see every record of a type they may read. */
static bool sees_all(const kn_user *u)
{
	return !u || (u->role & (KN_ROLE_ADMIN | KN_ROLE_AUDITOR));
}

/* Whether u may see record rec: organisation scoping for end users, the
 * owner of an owned record, and the type's restrictions. */
static bool visible(const kn_type *t, const kn_user *u, const json_t *rec)
{
	if (!u)
		return true;
	if (is_enduser(u) && t->org_field) {
		const char *org = json_string_value(json_object_get(rec, t->org_field));
		if (!org || !u->org[0] || strcmp(org, u->org) != 0)
			return false;
	}
	if (t->owner_field && !sees_all(u)) {
		const char *o = json_string_value(json_object_get(rec, t->owner_field));
		if (!o || strcmp(o, u->name) != 0)
			return false;
	}
	for (size_t i = 0; i < t->nrestricts; i++) {
		const kn_restrict *r = &t->restricts[i];
		if (!(u->role & r->roles) &&
		    kn_match_value(&r->where, json_object_get(rec, r->where.attr)))
			return false;
	}
	return true;
}

/* Give JSON fields (kept as text) back as JSON. */
static void json_fields_out(const kn_type *t, json_t *rec)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const char *s = t->fields[i].kind == KN_JSON
					? json_string_value(json_object_get(rec, t->fields[i].name))
					: NULL;
		json_t *v = s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
		if (v)
			json_object_set_new(rec, t->fields[i].name, v);
	}
}

/* rec as u gets it: without the fields hidden from u's role, JSON fields
 * as JSON. */
static json_t *filter_out(const kn_type *t, const kn_user *u, json_t *rec)
{
	json_fields_out(t, rec);
	if (!u)
		return rec;
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].hidden & u->role)
			json_object_del(rec, t->fields[i].name);
	return rec;
}

static bool field_visible(const kn_type *t, const kn_user *u, const char *name)
{
	const kn_field *f = kn_type_field(t, name);
	return !(u && f && (f->hidden & u->role));
}

static void format_number(const kn_type *t, int64_t n, char *out, size_t sz)
{
	snprintf(out, sz, "%s%0*lld", t->number_prefix, t->number_width, (long long)n);
}

/* Fetch a record by "42" or "INC-000042" (any transaction state). */
static int fetch(kn_engine *e, const kn_type *t, const char *ref, json_t **out, kn_error *err)
{
	if (!ref || !*ref)
		return kn_fail(err, KN_ENOTFOUND, "", "no record given");
	char *end;
	errno = 0;
	long long id = strtoll(ref, &end, 10);
	if (*end == 0 && errno == 0 && ref[0] >= '0' && ref[0] <= '9') {
		if (id <= 0)
			return kn_fail(err, KN_ENOTFOUND, "", "%s %s not found", t->name, ref);
		return OPS(e)->rec_get(ST(e), t, id, NULL, out, err);
	}
	int rc = OPS(e)->rec_get(ST(e), t, 0, ref, out, err);
	if (rc == KN_ENOTFOUND && t->key_field) { /* a group by its name... */
		memset(err, 0, sizeof *err);
		rc = OPS(e)->rec_get_key(ST(e), t, ref, out, err);
	}
	return rc;
}

/* Fetch for user u: not found unless u may read it. */
static int fetch_for(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		     json_t **out, kn_error *err)
{
	if (u && !role_in(u, t->can_read))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not read %s records",
			       t->name);
	int rc = fetch(e, t, ref, out, err);
	if (rc == KN_ENOTFOUND)
		return kn_fail(err, KN_ENOTFOUND, "", "%s %s not found", t->name, ref);
	if (rc)
		return rc;
	if (!visible(t, u, *out)) {
		json_decref(*out);
		*out = NULL;
		return kn_fail(err, KN_ENOTFOUND, "", "%s %s not found", t->name, ref);
	}
	return 0;
}

/* The id of record ref, when u may read it. */
static int fetch_id(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		    int64_t *id, kn_error *err)
{
	json_t *rec;
	int rc = fetch_for(e, u, t, ref, &rec, err);
	if (rc)
		return rc;
	*id = json_integer_value(json_object_get(rec, "id"));
	json_decref(rec);
	return 0;
}

/* ---- values -------------------------------------------------------------- */

/*
 * Check and normalise one input value for field f. *out: new reference.
 * refs are checked to exist (needs an open transaction on this thread).
 */
static int value_norm(kn_engine *e, const kn_user *u, const kn_field *f, json_t *in,
		      json_t **out, kn_error *err)
{
	if (json_is_null(in)) {
		*out = json_null();
		return 0;
	}
	switch (f->kind) {
	case KN_TEXT:
	case KN_LONGTEXT: {
		if (!json_is_string(in))
			return kn_fail(err, KN_EVALID, f->name, "%s must be text", f->name);
		size_t n = kn_utf8_len(json_string_value(in));
		if ((int64_t)n > f->max)
			return kn_fail(err, KN_EVALID, f->name,
				       "%s is %zu characters long; at most %lld are allowed",
				       f->name, n, (long long)f->max);
		if (f->kind == KN_TEXT && strpbrk(json_string_value(in), "\r\n"))
			return kn_fail(err, KN_EVALID, f->name, "%s must be a single line",
				       f->name);
		*out = json_incref(in);
		return 0;
	}
	case KN_INTEGER:
		if (!json_is_integer(in))
			return kn_fail(err, KN_EVALID, f->name, "%s must be a whole number",
				       f->name);
		if ((f->has_min && json_integer_value(in) < f->min) ||
		    (f->has_max && json_integer_value(in) > f->max)) {
			if (f->has_min && f->has_max)
				return kn_fail(err, KN_EVALID, f->name,
					       "%s must be between %lld and %lld", f->name,
					       (long long)f->min, (long long)f->max);
			return kn_fail(err, KN_EVALID, f->name, "%s must be %s %lld", f->name,
				       f->has_min ? "at least" : "at most",
				       (long long)(f->has_min ? f->min : f->max));
		}
		*out = json_incref(in);
		return 0;
	case KN_BOOLEAN:
		if (!json_is_boolean(in))
			return kn_fail(err, KN_EVALID, f->name, "%s must be true or false",
				       f->name);
		*out = json_incref(in);
		return 0;
	case KN_ENUM: {
		const char *s = json_string_value(in);
		for (size_t i = 0; s && i < f->nvalues; i++)
			if (strcmp(s, f->values[i].value) == 0) {
				*out = json_incref(in);
				return 0;
			}
		kn_buf b;
		kn_buf_init(&b, 400);
		for (size_t i = 0; i < f->nvalues; i++)
			kn_buf_addf(&b, "%s%s", i ? ", " : "", f->values[i].value);
		kn_fail(err, KN_EVALID, f->name, "%s must be one of: %s", f->name,
			b.data ? b.data : "");
		kn_buf_release(&b);
		return KN_EVALID;
	}
	case KN_DATETIME: {
		int64_t ms;
		if (!json_is_string(in) || kn_parse_datetime(json_string_value(in), &ms) ||
		    !strchr(json_string_value(in), 'T'))
			return kn_fail(err, KN_EVALID, f->name,
				       "%s must be a date and time with a zone, like "
				       "2026-11-25T14:30:00+09:00",
				       f->name);
		char buf[40];
		kn_format_datetime(ms, buf, sizeof buf);
		*out = json_string(buf);
		return 0;
	}
	case KN_DATE: {
		int64_t ms;
		const char *s = json_string_value(in);
		if (!s || strlen(s) != 10 || kn_parse_datetime(s, &ms))
			return kn_fail(err, KN_EVALID, f->name, "%s must be a date like 2026-11-25",
				       f->name);
		*out = json_incref(in);
		return 0;
	}
	case KN_JSON: {
		if (!json_is_object(in) && !json_is_array(in))
			return kn_fail(err, KN_EVALID, f->name, "%s must be a JSON object or list",
				       f->name);
		char *canon = kn_json_canon(in);
		size_t n = strlen(canon);
		if ((int64_t)n > f->max) {
			free(canon);
			return kn_fail(err, KN_EVALID, f->name,
				       "%s is %zu bytes of JSON; at most %lld are allowed", f->name,
				       n, (long long)f->max);
		}
		*out = json_string(canon);
		free(canon);
		return 0;
	}
	case KN_REF: {
		const char *s = json_string_value(in);
		if (!s || !*s)
			return kn_fail(err, KN_EVALID, f->name, "%s must name a %s", f->name,
				       f->ref);
		int rc;
		kn_error e2 = {0};
		if (strcmp(f->ref, "user") == 0) {
			kn_user usr;
			rc = OPS(e)->user_get(ST(e), s, 0, &usr, &e2);
		} else {
			/* a user names only records they may see: nothing else is told apart
			 * from a record that does not exist */
			const kn_type *rt = kn_schema_type(e->schema, f->ref);
			json_t *r = NULL;
			rc = OPS(e)->rec_get_key(ST(e), rt, s, &r, &e2);
			if (!rc && u && (!role_in(u, rt->can_read) || !visible(rt, u, r)))
				rc = KN_ENOTFOUND;
			json_decref(r);
		}
		if (rc == KN_ENOTFOUND)
			return kn_fail(err, KN_EVALID, f->name, "%s: no %s named '%s'", f->name,
				       f->ref, s);
		if (rc) {
			*err = e2;
			return rc;
		}
		*out = json_incref(in);
		return 0;
	}
	}
	return kn_fail(err, KN_EINTERNAL, f->name, "unknown kind");
}

/* Recompute every computed field of rec in place. */
static int compute_fields(const kn_type *t, json_t *rec, kn_error *err)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		if (!f->verb)
			continue;
		json_t *v = kn_verb_find(f->verb)(f, rec, err);
		if (!v)
			return err->code ? err->code : KN_EINTERNAL;
		json_object_set_new(rec, f->name, v);
	}
	return 0;
}

/*
 * Apply the field values of body to rec (validated), recording each change
 * in changes ([{field, old, new}]). skip: body keys that are not fields
 * (NULL-terminated). creating: immutable fields may be set.
 */
static int apply_body(kn_engine *e, const kn_type *t, const kn_user *u, const json_t *body,
		      const char *const *skip, bool creating, json_t *rec, json_t *changes,
		      kn_error *err)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)body, key, val)
	{
		bool skipped = false;
		for (int i = 0; skip[i]; i++)
			skipped |= strcmp(key, skip[i]) == 0;
		if (skipped)
			continue;
		const kn_field *f = kn_type_field(t, key);
		if (!f || (u && (f->hidden & u->role))) {
			if (strcmp(key, "state") == 0)
				return kn_fail(err, KN_EVALID, key,
					       "state changes only through a transition "
					       "(POST .../transition {\"to\": STATE})");
			if (kn_is_system_attr(key))
				return kn_fail(err, KN_EVALID, key, "%s is set by kanri", key);
			return kn_fail(err, KN_EVALID, key, "%s has no field '%s'", t->name, key);
		}
		if (f->readonly && (u || f->verb)) /* kanri itself sets read-only fields */
			return kn_fail(err, KN_EVALID, key, "%s is %s and cannot be written", key,
				       f->verb ? "computed" : "read-only");
		if (!creating && is_enduser(u) && t->org_field && strcmp(key, t->org_field) == 0)
			return kn_fail(err, KN_EFORBIDDEN, key,
				       "you may not move a record to another organisation");
		json_t *nv;
		int rc = value_norm(e, u, f, val, &nv, err);
		if (rc)
			return rc;
		json_t *old = json_object_get(rec, key);
		if (old && json_equal(old, nv)) {
			json_decref(nv);
			continue;
		}
		if (f->immutable && !creating && u) { /* kanri itself may fill it in */
			json_decref(nv);
			return kn_fail(err, KN_EVALID, key, "%s cannot be changed once set", key);
		}
		if (changes)
			json_array_append_new(changes,
					      json_pack("{s:s,s:O,s:O}", "field", key, "old",
							old ? old : json_null(), "new", nv));
		json_object_set_new(rec, key, nv);
	}
	return 0;
}

/* Enum values that belong under another field's value (subcategories). */
static int parents_ok(const kn_type *t, const json_t *rec, kn_error *err)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		const char *v = json_string_value(json_object_get(rec, f->name));
		if (!f->parent_field || !v)
			continue;
		const char *pv = json_string_value(json_object_get(rec, f->parent_field));
		for (size_t j = 0; j < f->nvalues; j++)
			if (strcmp(f->values[j].value, v) == 0 &&
			    (!pv || strcmp(f->values[j].parent, pv) != 0))
				return kn_fail(err, KN_EVALID, f->name,
					       "%s '%s' belongs under %s '%s'%s%s", f->name, v,
					       f->parent_field, f->values[j].parent,
					       pv ? ", not " : "", pv ? pv : "");
	}
	return 0;
}

/* Count up the counters this change moves: a transition named in a
 * counter's list, or a field a counter follows changing from one value to
 * another (setting it the first time is no change of hands). */
static void count_up(const kn_type *t, const char *trname, const json_t *changes, json_t *rec)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		bool hit = false;
		for (size_t j = 0; trname && j < f->ncounter_transitions; j++)
			hit |= strcmp(f->counter_transitions[j], trname) == 0;
		size_t k;
		json_t *c;
		json_array_foreach((json_t *)changes, k, c)
		{
			if (f->counter_changes &&
			    strcmp(json_string_value(json_object_get(c, "field")),
				   f->counter_changes) == 0 &&
			    !json_is_null(json_object_get(c, "old")) &&
			    !json_is_null(json_object_get(c, "new")))
				hit = true;
		}
		if (hit)
			json_object_set_new(rec, f->name,
					    json_integer(json_integer_value(json_object_get(rec, f->name)) + 1));
	}
}

/* After computing, add changes for computed fields that moved. */
static void note_computed(const kn_type *t, const json_t *before, const json_t *after,
			  json_t *changes)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		if (!f->verb && !f->readonly)
			continue;
		bool noted = false;
		size_t k;
		json_t *c;
		json_array_foreach(changes, k, c) noted |=
		    strcmp(json_string_value(json_object_get(c, "field")), f->name) == 0;
		if (noted)
			continue;
		json_t *o = json_object_get(before, f->name), *n = json_object_get(after, f->name);
		if (!o)
			o = json_null();
		if (!n)
			n = json_null();
		if (!json_equal(o, n))
			json_array_append_new(changes, json_pack("{s:s,s:O,s:O}", "field", f->name,
								 "old", o, "new", n));
	}
}

/* Null, missing, or text that is only white space. */
static bool is_empty(const json_t *v)
{
	if (!v || json_is_null(v))
		return true;
	if (!json_is_string(v))
		return false;
	for (const char *p = json_string_value(v); *p; p++)
		if (!strchr(" \t\r\n", *p))
			return false;
	return true;
}

static int body_object(const json_t *body, kn_error *err)
{
	if (!json_is_object(body))
		return kn_fail(err, KN_EINVAL, "", "the body must be a JSON object");
	return 0;
}

static int reason_of(const json_t *body, const char **reason, kn_error *err)
{
	json_t *r = json_object_get(body, "reason");
	*reason = NULL;
	if (!r || json_is_null(r))
		return 0;
	if (!json_is_string(r) || kn_utf8_len(json_string_value(r)) > 4000)
		return kn_fail(err, KN_EVALID, "reason", "reason must be text of at most 4000 characters");
	*reason = json_string_value(r);
	return 0;
}

/* ---- journal ----------------------------------------------------------- */

static void entry_hash(const kn_jentry *je, char out[65])
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_addf(&b, "%lld\n%s\n%s\n%s\n%lld\n%s\n", (long long)je->seq, je->at, je->actor,
		    je->type, (long long)je->rec_id, je->action);
	kn_buf_adds(&b, je->changes ? je->changes : "");
	kn_buf_adds(&b, "\n");
	kn_buf_adds(&b, je->reason ? je->reason : "\x01");
	kn_buf_addf(&b, "\n%s\n%s", je->digest, je->prev);
	kn_sha256_hex(b.data, b.len, out);
	kn_buf_release(&b);
}

int kn_journal_append(kn_engine *e, const char *actor, const char *type, int64_t rec_id,
		      const char *action, const json_t *changes, const char *reason,
		      const char *digest, kn_error *err)
{
	kn_jentry je;
	memset(&je, 0, sizeof je);
	int rc = OPS(e)->journal_head(ST(e), &je.seq, je.prev, err);
	if (rc)
		return rc;
	je.seq++;
	kn_now_iso(je.at, sizeof je.at);
	snprintf(je.actor, sizeof je.actor, "%s", actor);
	snprintf(je.type, sizeof je.type, "%s", type ? type : "");
	je.rec_id = rec_id;
	snprintf(je.action, sizeof je.action, "%s", action);
	json_t *none = changes ? NULL : json_array();
	je.changes = kn_json_canon(changes ? changes : none);
	json_decref(none);
	je.reason = (char *)reason;
	snprintf(je.digest, sizeof je.digest, "%s", digest ? digest : "");
	entry_hash(&je, je.hash);
	rc = OPS(e)->journal_insert(ST(e), &je, err);
	free(je.changes);
	return rc;
}

/* SHA-256 hex of a row's canonical JSON (comments, relations). */
static void row_digest(const json_t *row, char out[65])
{
	char *s = kn_json_canon(row);
	kn_sha256_hex(s, strlen(s), out);
	free(s);
}

/* The digest of the system attributes and the fields; empty fields are
 * left out (all_fields false), so that declaring a new field, empty in
 * every existing record, changes no record's digest. all_fields: every
 * declared field, empty ones as null (how records written before kanri
 * 0.2 were digested; verify accepts either). */
static void record_digest(const kn_type *t, const json_t *rec, bool all_fields, char out[65])
{
	json_t *c = json_object();
	static const char *const sys[] = {"id",	     "number",	   "version",
					  "state",   "created_at", "updated_at",
					  "created_by", "updated_by"};
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++) {
		json_t *v = json_object_get(rec, sys[i]);
		json_object_set(c, sys[i], v ? v : json_null());
	}
	for (size_t i = 0; i < t->nfields; i++) {
		json_t *v = json_object_get(rec, t->fields[i].name);
		if (t->fields[i].derived)
			continue;
		if (v && !json_is_null(v))
			json_object_set(c, t->fields[i].name, v);
		else if (all_fields)
			json_object_set(c, t->fields[i].name, json_null());
	}
	char *s = kn_json_canon(c);
	kn_sha256_hex(s, strlen(s), out);
	free(s);
	json_decref(c);
}

void kn_record_digest(const kn_type *t, const json_t *rec, char out[65])
{
	record_digest(t, rec, false, out);
}

/* ---- transactions -------------------------------------------------------- */

static int begin_write(kn_engine *e, kn_error *err) { return OPS(e)->begin(ST(e), true, err); }

static int finish(kn_engine *e, int rc, kn_error *err)
{
	if (rc) {
		OPS(e)->rollback(ST(e));
		return rc;
	}
	return OPS(e)->commit(ST(e), err);
}

/* ---- group commit -------------------------------------------------------- */

typedef kn_write_fn write_fn;

typedef struct wjob {
	write_fn fn;
	void *arg;
	int rc;
	kn_error err;
	bool done;
	struct wjob *next;
} wjob;

struct kn_writer {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t more, done;
	wjob *head, *tail;
	bool stop;
};

/* Run one batch: every job in its own savepoint, one commit for all. */
static void writer_batch(kn_engine *e, wjob *batch)
{
	kn_error err = {0};
	int rc = OPS(e)->begin(ST(e), true, &err);
	for (wjob *j = batch; j; j = j->next) {
		if (rc) {
			j->rc = rc, j->err = err;
			continue;
		}
		int r = OPS(e)->savepoint(ST(e), &j->err);
		if (!r) {
			r = j->fn(e, j->arg, &j->err);
			if (r)
				OPS(e)->undo(ST(e));
			else
				r = OPS(e)->release(ST(e), &j->err);
		}
		j->rc = r;
	}
	if (!rc && (rc = OPS(e)->commit(ST(e), &err)) != 0)
		for (wjob *j = batch; j; j = j->next)
			if (!j->rc)
				j->rc = rc, j->err = err;
}

static void *writer_main(void *p)
{
	kn_engine *e = p;
	kn_writer *w = e->writer;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->more, &w->mu);
		if (!w->head)
			break;
		wjob *batch = w->head;
		w->head = w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		writer_batch(e, batch);
		pthread_mutex_lock(&w->mu);
		for (wjob *j = batch, *next; j; j = next) {
			next = j->next; /* j belongs to its waiter once done */
			j->done = true;
		}
		pthread_cond_broadcast(&w->done);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

int kn_engine_writer_start(kn_engine *e, kn_error *err)
{
	if (e->writer)
		return 0;
	kn_writer *w = kn_xcalloc(1, sizeof *w);
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->more, NULL);
	pthread_cond_init(&w->done, NULL);
	e->writer = w;
	if (pthread_create(&w->thread, NULL, writer_main, e) != 0) {
		e->writer = NULL;
		free(w);
		return kn_fail(err, KN_EINTERNAL, "", "cannot start the writer thread");
	}
	return 0;
}

static void writer_stop(kn_engine *e)
{
	kn_writer *w = e->writer;
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_signal(&w->more);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->more);
	pthread_cond_destroy(&w->done);
	free(w);
	e->writer = NULL;
}

/* Run fn in a write transaction: the writer's next batch when group commit
 * runs, else a transaction of its own. Returns once it is durable or failed. */
int kn_engine_write(kn_engine *e, kn_write_fn fn, void *arg, kn_error *err)
{
	kn_writer *w = e->writer;
	if (!w) {
		int rc = begin_write(e, err);
		if (rc)
			return rc;
		return finish(e, fn(e, arg, err), err);
	}
	wjob j = {.fn = fn, .arg = arg};
	pthread_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = &j;
	else
		w->head = &j;
	w->tail = &j;
	pthread_cond_signal(&w->more);
	while (!j.done)
		pthread_cond_wait(&w->done, &w->mu);
	pthread_mutex_unlock(&w->mu);
	if (j.rc)
		*err = j.err;
	return j.rc;
}

/* ---- create ------------------------------------------------------------ */

static const char *const create_skip[] = {"reason", NULL};
static const char *const import_skip[] = {"reason", "state", NULL};

/* Reference fields with "fill": copy the referenced record's values of the
 * fields the body left out (a template's). */
static int fill_from_refs(kn_engine *e, const kn_type *t, const json_t *body, json_t *rec,
			  kn_error *err)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		const char *key = json_string_value(json_object_get(rec, f->name));
		if (!f->nfill || !key)
			continue;
		json_t *src = NULL;
		int rc = OPS(e)->rec_get_key(ST(e), kn_schema_type(e->schema, f->ref), key, &src, err);
		if (rc)
			return rc;
		for (size_t j = 0; j < f->nfill && !rc; j++) {
			json_t *v = json_object_get(src, f->fill[j]), *nv = NULL;
			if (json_object_get(body, f->fill[j]) || !v || json_is_null(v))
				continue;
			/* a template's text goes through the field's own checks */
			rc = value_norm(e, NULL, kn_type_field(t, f->fill[j]), v, &nv, err);
			if (rc) {
				char why[200];
				snprintf(why, sizeof why, "%.199s", err->detail);
				kn_fail(err, KN_EVALID, f->name, "%s %s gives %s a value it cannot take: %s",
					f->name, key, f->fill[j], why);
			}
			else
				json_object_set_new(rec, f->fill[j], nv);
		}
		json_decref(src);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * A create in two steps. create_prepare validates the body into a complete
 * record (defaults, references, required fields, computed fields) and needs
 * no write lock: records and users are never deleted, so a reference found
 * now still holds at commit. create_write numbers, stores and journals it
 * inside the caller's write transaction, which is therefore short.
 */
static int create_prepare(kn_engine *e, const kn_user *u, const kn_type *t, const json_t *body,
			  bool import, json_t **out, const kn_state **st, kn_error *err)
{
	json_t *rec = json_object();
	const char *reason;
	int rc = reason_of(body, &reason, err);
	*st = kn_type_initial(t);
	if (!rc && import && json_object_get(body, "state")) {
		const char *sn = json_string_value(json_object_get(body, "state"));
		*st = sn ? kn_type_state(t, sn) : NULL;
		if (!*st)
			rc = kn_fail(err, KN_EVALID, "state", "%s has no state '%s'", t->name,
				     sn ? sn : "?");
	}
	/* members in the order a read gives them: system attributes, then fields */
	static const char *const sys[] = {"id",	 "number",     "version",    "state",
					  "created_at", "updated_at", "created_by", "updated_by"};
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		json_object_set_new(rec, sys[i], json_null());
	/* defaults first, so that the body overrides them */
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		if (f->def && f->kind == KN_JSON) {
			char *canon = kn_json_canon(f->def);
			json_object_set_new(rec, f->name, json_string(canon));
			free(canon);
		} else {
			json_object_set(rec, f->name, f->def ? f->def : json_null());
		}
	}
	if (!rc)
		rc = apply_body(e, t, u, body, import ? import_skip : create_skip, true, rec,
				NULL, err);
	if (!rc && t->owner_field && u && !sees_all(u)) {
		/* an owned record is the creator's own */
		const char *given = json_string_value(json_object_get(rec, t->owner_field));
		if (given && strcmp(given, u->name) != 0)
			rc = kn_fail(err, KN_EFORBIDDEN, t->owner_field,
				     "you may only create %s records of your own", t->name);
		else
			json_object_set_new(rec, t->owner_field, json_string(u->name));
	} else if (!rc && t->owner_field && u &&
		   is_empty(json_object_get(rec, t->owner_field))) {
		json_object_set_new(rec, t->owner_field, json_string(u->name));
	}
	if (!rc && t->org_field && is_enduser(u)) {
		const char *given = json_string_value(json_object_get(rec, t->org_field));
		if (given && strcmp(given, u->org) != 0)
			rc = kn_fail(err, KN_EFORBIDDEN, t->org_field,
				     "you may only create records of your own organisation");
		else if (!u->org[0])
			rc = kn_fail(err, KN_EFORBIDDEN, t->org_field,
				     "your account belongs to no organisation");
		else
			json_object_set_new(rec, t->org_field, json_string(u->org));
	}
	if (!rc)
		rc = fill_from_refs(e, t, body, rec, err);
	for (size_t i = 0; !rc && i < t->nfields; i++)
		if (t->fields[i].required && is_empty(json_object_get(rec, t->fields[i].name)))
			rc = kn_fail(err, KN_EVALID, t->fields[i].name, "%s is required",
				     t->fields[i].name);
	if (!rc)
		rc = compute_fields(t, rec, err);
	if (!rc)
		rc = parents_ok(t, rec, err);
	if (!rc && !import && t->nrules) {
		json_object_set_new(rec, "state", json_string((*st)->name));
		rc = kn_rules_before(e, t, KN_ON_CREATE, NULL, rec, NULL, err);
		if (!rc)
			rc = compute_fields(t, rec, err);
	}
	if (!rc && !import && t->nclocks) {
		json_object_set_new(rec, "state", json_string((*st)->name));
		rc = kn_clocks_apply(e, t, rec, kn_now_ms(), err);
	}
	if (rc) {
		json_decref(rec);
		return rc;
	}
	*out = rec;
	return 0;
}

static int create_write(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			const kn_state *st, const json_t *body, bool import, kn_error *err)
{
	const char *reason = json_string_value(json_object_get(body, "reason"));
	int64_t n = 0, id = 0;
	int rc = OPS(e)->rec_next_number(ST(e), t, &n, err);
	if (!rc) {
		char num[48], now[32];
		format_number(t, n, num, sizeof num);
		kn_now_iso(now, sizeof now);
		json_object_set_new(rec, "number", json_string(num));
		json_object_set_new(rec, "version", json_integer(1));
		json_object_set_new(rec, "state", json_string(st->name));
		json_object_set_new(rec, "created_at", json_string(now));
		json_object_set_new(rec, "updated_at", json_string(now));
		json_object_set_new(rec, "created_by", json_string(actor_name(u)));
		json_object_set_new(rec, "updated_by", json_string(actor_name(u)));
		rc = OPS(e)->rec_insert(ST(e), t, rec, &id, err);
	}
	if (rc)
		return rc;
	json_object_set_new(rec, "id", json_integer(id));
	json_object_set_new(rec, "type", json_string(t->name));
	if ((rc = kn_search_index(ST(e), t, rec, true, err)) != 0)
		return rc;
	char dg[65];
	kn_record_digest(t, rec, dg);
	json_t *changes = json_array();
	json_array_append_new(changes, json_pack("{s:s,s:n,s:O}", "field", "state", "old", "new",
						 json_object_get(rec, "state")));
	for (size_t i = 0; i < t->nfields; i++) {
		json_t *v = json_object_get(rec, t->fields[i].name);
		if (!json_is_null(v))
			json_array_append_new(changes, json_pack("{s:s,s:n,s:O}", "field",
								 t->fields[i].name, "old", "new", v));
	}
	rc = kn_journal_append(e, actor_name(u), t->name, id, import ? "import" : "create", changes,
			       reason, dg, err);
	if (!rc && !import && t->nrules)
		rc = kn_rules_after(e, u, t, KN_ON_CREATE, NULL, rec, changes, 0, err);
	json_decref(changes);
	return rc;
}

struct create_job {
	const kn_user *u;
	const kn_type *t;
	json_t *rec;
	const kn_state *st;
	const json_t *body;
};

static int create_job_run(kn_engine *e, void *arg, kn_error *err)
{
	struct create_job *j = arg;
	return create_write(e, j->u, j->t, j->rec, j->st, j->body, false, err);
}

static int check_create(const kn_user *u, const kn_type *t, const json_t *body, kn_error *err)
{
	if (u && !role_in(u, t->can_create))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not create %s records",
			       t->name);
	return body_object(body, err);
}

int kn_rec_create_tx(kn_engine *e, const kn_user *u, const kn_type *t, const json_t *body,
		     json_t **out, kn_error *err)
{
	int rc = check_create(u, t, body, err);
	json_t *rec = NULL;
	const kn_state *st;
	if (!rc)
		rc = create_prepare(e, u, t, body, false, &rec, &st, err);
	if (!rc)
		rc = create_write(e, u, t, rec, st, body, false, err);
	if (rc) {
		json_decref(rec);
		return rc;
	}
	*out = filter_out(t, u, rec);
	return 0;
}

int kn_rec_create(kn_engine *e, const kn_user *u, const kn_type *t, const json_t *body,
		  json_t **out, kn_error *err)
{
	int rc = check_create(u, t, body, err);
	if (rc)
		return rc;
	json_t *rec = NULL;
	const kn_state *st;
	if ((rc = create_prepare(e, u, t, body, false, &rec, &st, err)))
		return rc;
	struct create_job cj = {u, t, rec, st, body};
	rc = kn_engine_write(e, create_job_run, &cj, err);
	if (rc) {
		json_decref(rec);
		return rc;
	}
	*out = filter_out(t, u, rec);
	return 0;
}

int kn_rec_import(kn_engine *e, const kn_user *u, const kn_type *t, FILE *in, int batch,
		  int64_t *count, kn_error *err)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int64_t lineno = 0, inbatch = 0;
	int rc = 0;
	bool open_txn = false;
	*count = 0;
	if (batch < 1)
		batch = 1;
	while ((len = getline(&line, &cap, in)) > 0) {
		lineno++;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = 0;
		if (!len)
			continue;
		json_error_t je;
		json_t *body = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &je);
		if (!body) {
			rc = kn_fail(err, KN_EINVAL, "", "line %lld: %s", (long long)lineno, je.text);
			break;
		}
		rc = check_create(u, t, body, err);
		if (!rc && !open_txn) {
			rc = begin_write(e, err);
			open_txn = rc == 0;
		}
		json_t *rec = NULL;
		const kn_state *st;
		if (!rc)
			rc = create_prepare(e, u, t, body, true, &rec, &st, err);
		if (!rc)
			rc = create_write(e, u, t, rec, st, body, true, err);
		json_decref(rec);
		json_decref(body);
		if (rc) {
			char d[sizeof err->detail];
			snprintf(d, sizeof d, "%s", err->detail);
			snprintf(err->detail, sizeof err->detail, "line %lld: %.400s",
				 (long long)lineno, d);
			break;
		}
		if (++inbatch == batch) {
			rc = OPS(e)->commit(ST(e), err);
			open_txn = false;
			if (rc)
				break;
			*count += inbatch;
			inbatch = 0;
		}
	}
	free(line);
	if (open_txn) {
		if (rc) {
			OPS(e)->rollback(ST(e));
		} else {
			rc = OPS(e)->commit(ST(e), err);
			if (!rc)
				*count += inbatch;
		}
	}
	return rc;
}

/* ---- read ---------------------------------------------------------------- */

int kn_rec_get(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
	       json_t **out, kn_error *err)
{
	json_t *rec;
	int rc = fetch_for(e, u, t, ref, &rec, err);
	if (rc)
		return rc;
	*out = filter_out(t, u, rec);
	return 0;
}

/* ---- update and transition --------------------------------------------- */

static int version_check(const json_t *cur, int64_t want, kn_error *err)
{
	int64_t have = json_integer_value(json_object_get(cur, "version"));
	if (want >= 0 && want != have)
		return kn_fail(err, KN_ECONFLICT, "version",
			       "the record was changed by someone else: your version is %lld, the "
			       "current one is %lld; reload and apply your change again",
			       (long long)want, (long long)have);
	return 0;
}

/* What a save is: an update, or a transition (trname), depth steps down a
 * chain of transitions passed on to child records. */
typedef struct wevent {
	int on;
	const char *trname;
	int depth;
} wevent;

static int save_in_txn(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		       const char *action, json_t *changes, const char *reason,
		       const wevent *ev, kn_error *err);

/*
 * Write rec (read, then changed in memory without any lock) as the next
 * version, and journal it, in one short write transaction. KN_ECONFLICT when
 * the row is no longer the version read: nothing is then written.
 */
struct save_job {
	const kn_user *u;
	const kn_type *t;
	json_t *rec, *changes;
	const char *action, *reason;
	wevent ev;
};

static int save_job_run(kn_engine *e, void *arg, kn_error *err)
{
	struct save_job *j = arg;
	return save_in_txn(e, j->u, j->t, j->rec, j->action, j->changes, j->reason, &j->ev, err);
}

static int save(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		const char *action, json_t *changes, const char *reason, wevent ev,
		kn_error *err)
{
	struct save_job j = {u, t, rec, changes, action, reason, ev};
	return kn_engine_write(e, save_job_run, &j, err);
}

static int save_in_txn(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		       const char *action, json_t *changes, const char *reason,
		       const wevent *ev, kn_error *err)
{
	int64_t id = json_integer_value(json_object_get(rec, "id"));
	int64_t ver = json_integer_value(json_object_get(rec, "version"));
	char now[32];
	kn_now_iso(now, sizeof now);
	json_t *set = json_object();
	bool searched = false;
	for (size_t i = 0; i < json_array_size(changes); i++) {
		const char *f = json_string_value(json_object_get(json_array_get(changes, i), "field"));
		const kn_field *fd = kn_type_field(t, f);
		searched |= fd && fd->search;
		json_object_set(set, f, json_object_get(rec, f));
	}
	json_object_set_new(rec, "version", json_integer(ver + 1));
	json_object_set_new(rec, "updated_at", json_string(now));
	json_object_set_new(rec, "updated_by", json_string(actor_name(u)));
	json_object_set(set, "version", json_object_get(rec, "version"));
	json_object_set(set, "updated_at", json_object_get(rec, "updated_at"));
	json_object_set(set, "updated_by", json_object_get(rec, "updated_by"));
	int rc = OPS(e)->rec_update(ST(e), t, id, ver, set, err);
	json_decref(set);
	if (!rc && searched)
		rc = kn_search_index(ST(e), t, rec, false, err);
	if (rc)
		return rc;
	char dg[65];
	kn_record_digest(t, rec, dg);
	rc = kn_journal_append(e, actor_name(u), t->name, id, action, changes, reason, dg, err);
	if (!rc && t->nrules)
		rc = kn_rules_after(e, u, t, ev->on, ev->trname, rec, changes, ev->depth, err);
	return rc;
}

int kn_rec_save_tx(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		   const char *action, json_t *changes, const char *reason, int depth,
		   kn_error *err)
{
	wevent ev = {KN_ON_UPDATE, NULL, depth};
	return save_in_txn(e, u, t, rec, action, changes, reason, &ev, err);
}

int kn_rec_system_save_tx(kn_engine *e, const kn_type *t, const json_t *before, json_t *rec,
			  const char *reason, kn_error *err)
{
	json_t *changes = json_array();
	note_computed(t, before, rec, changes);
	int rc = 0;
	if (json_array_size(changes) && t->nrules) {
		rc = kn_rules_before(e, t, KN_ON_UPDATE, NULL, rec, changes, err);
		if (!rc)
			rc = compute_fields(t, rec, err);
		if (!rc)
			note_computed(t, before, rec, changes);
	}
	if (!rc && json_array_size(changes)) {
		wevent ev = {KN_ON_UPDATE, NULL, 0};
		rc = save_in_txn(e, NULL, t, rec, "update", changes, reason, &ev, err);
	}
	json_decref(changes);
	return rc;
}

int kn_rec_update(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  int64_t if_version, const json_t *body, json_t **out, kn_error *err)
{
	int rc = body_object(body, err);
	if (rc)
		return rc;
	if (u && !role_in(u, t->can_update))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not change %s records",
			       t->name);
	json_t *bv = json_object_get(body, "version");
	if (if_version < 0 && bv) {
		if (!json_is_integer(bv))
			return kn_fail(err, KN_EVALID, "version", "version must be a whole number");
		if_version = json_integer_value(bv);
	}
	if (if_version < 0)
		return kn_fail(err, KN_EPRECOND, "",
			       "send If-Match with the version you read (or \"version\" in the "
			       "body), so that no one else's change is overwritten");
	const char *reason;
	if ((rc = reason_of(body, &reason, err)))
		return rc;
	json_t *rec = NULL, *changes = json_array(), *before = NULL;
	rc = fetch_for(e, u, t, ref, &rec, err);
	if (!rc)
		rc = version_check(rec, if_version, err);
	const kn_state *cur =
	    rc ? NULL : kn_type_state(t, json_string_value(json_object_get(rec, "state")));
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)body, key, val)
	{
		bool free_field = !cur || !cur->locked || !u || !strcmp(key, "reason") ||
				  !strcmp(key, "version");
		for (size_t i = 0; !free_field && i < cur->nunlocked; i++)
			free_field = strcmp(key, cur->unlocked[i]) == 0;
		if (!rc && !free_field)
			rc = kn_fail(err, KN_EVALID, key,
				     "%s %s is %s: %s changes only through its transitions",
				     t->name, json_string_value(json_object_get(rec, "number")),
				     cur->name, key);
	}
	if (!rc) {
		before = json_deep_copy(rec);
		static const char *const skip[] = {"reason", "version", NULL};
		rc = apply_body(e, t, u, body, skip, false, rec, changes, err);
	}
	for (size_t i = 0; !rc && i < t->nfields; i++)
		if (t->fields[i].required && is_empty(json_object_get(rec, t->fields[i].name)))
			rc = kn_fail(err, KN_EVALID, t->fields[i].name, "%s is required",
				     t->fields[i].name);
	if (!rc)
		rc = compute_fields(t, rec, err);
	if (!rc)
		rc = parents_ok(t, rec, err);
	if (!rc && json_array_size(changes)) {
		count_up(t, NULL, changes, rec);
		rc = kn_rules_before(e, t, KN_ON_UPDATE, NULL, rec, changes, err);
		if (!rc)
			rc = compute_fields(t, rec, err);
	}
	if (!rc && json_array_size(changes) && t->nclocks)
		rc = kn_clocks_apply(e, t, rec, kn_now_ms(), err);
	if (!rc && json_array_size(changes)) {
		note_computed(t, before, rec, changes);
		rc = save(e, u, t, rec, "update", changes, reason, (wevent){KN_ON_UPDATE, NULL, 0},
			  err);
	}
	json_decref(changes);
	json_decref(before);
	if (rc) {
		json_decref(rec);
		return rc;
	}
	*out = filter_out(t, u, rec);
	return 0;
}

/* Whether a record of guard g's exists_type in one of its states refers
 * to rec. in_tx: already inside a transaction. */
static int guard_exists(kn_engine *e, const kn_type *t, const kn_guard *g, const json_t *rec,
			bool in_tx, bool *found, kn_error *err)
{
	const kn_type *et = kn_schema_type(e->schema, g->exists_type);
	const char *key = json_string_value(
	    json_object_get(rec, t->key_field ? t->key_field->name : "number"));
	json_t *vals = json_pack("[s]", key ? key : "");
	kn_cond conds[2] = {{.attr = g->exists_field, .op = KN_OP_EQ, .values = vals}};
	size_t n = 1;
	if (g->exists_states)
		conds[n++] = (kn_cond){.attr = "state", .op = KN_OP_IN,
				       .values = (json_t *)g->exists_states};
	kn_sort sort = {"id", false};
	kn_query q = {conds, n, &sort, 1, NULL, 1, false, NULL, 0};
	json_t *items = NULL;
	int64_t total;
	int rc = in_tx ? 0 : OPS(e)->begin(ST(e), false, err);
	if (!rc) {
		rc = OPS(e)->rec_list(ST(e), et, &q, &items, &total, err);
		if (!in_tx) {
			if (rc)
				OPS(e)->rollback(ST(e));
			else
				rc = OPS(e)->commit(ST(e), err);
		}
	}
	*found = json_array_size(items) > 0;
	json_decref(items);
	json_decref(vals);
	return rc;
}

static int guards_ok(kn_engine *e, const kn_type *t, const kn_transition *tr, const json_t *rec,
		     bool in_tx, kn_error *err)
{
	for (size_t i = 0; i < tr->nguards; i++) {
		const kn_guard *g = &tr->guards[i];
		if (!kn_when_holds(e, t, &g->when, rec))
			continue;
		for (size_t j = 0; j < g->nrequires; j++)
			if (is_empty(json_object_get(rec, g->requires[j])))
				return kn_fail(err, KN_EVALID, g->requires[j], "%s",
					       g->msg_en ? g->msg_en : "a required field is empty");
		if (g->exists_type) {
			bool found;
			int rc = guard_exists(e, t, g, rec, in_tx, &found, err);
			if (rc)
				return rc;
			if (!found)
				return kn_fail(err, KN_EVALID, g->exists_field, "%s",
					       g->msg_en ? g->msg_en : "a related record is missing");
		}
	}
	return 0;
}

/*
 * Move rec along tr in memory: the body's fields, the move's requirements
 * and guards, its time stamp, counters, rules and computed fields; every
 * change noted in changes (the state first). u NULL: kanri itself.
 */
static int transition_apply(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			    const kn_transition *tr, const json_t *body, const char *reason,
			    bool in_tx, json_t *changes, kn_error *err)
{
	json_t *before = json_deep_copy(rec);
	static const char *const skip[] = {"to", "transition", "reason", "version", NULL};
	int rc = apply_body(e, t, u, body, skip, false, rec, changes, err);
	for (size_t i = 0; !rc && i < tr->nrequires; i++)
		if (is_empty(json_object_get(rec, tr->requires[i])))
			rc = kn_fail(err, KN_EVALID, tr->requires[i], "%s is required to %s",
				     tr->requires[i], tr->name);
	for (size_t i = 0; !rc && i < tr->nmust_change; i++) {
		bool changed = false;
		size_t k;
		json_t *c;
		json_array_foreach(changes, k, c) changed |=
		    strcmp(json_string_value(json_object_get(c, "field")), tr->must_change[i]) == 0;
		if (!changed)
			rc = kn_fail(err, KN_EVALID, tr->must_change[i], "%s needs a new %s", tr->name,
				     tr->must_change[i]);
	}
	if (!rc && tr->requires_reason && (!reason || !*reason))
		rc = kn_fail(err, KN_EVALID, "reason", "give a reason to %s", tr->name);
	if (!rc)
		rc = parents_ok(t, rec, err);
	if (!rc) {
		if (tr->set_time) {
			char now[40];
			kn_format_datetime(kn_now_ms(), now, sizeof now);
			json_object_set_new(rec, tr->set_time, json_string(now));
		}
		if (!tr->stay) {
			json_array_insert_new(changes, 0,
					      json_pack("{s:s,s:O,s:s}", "field", "state", "old",
							json_object_get(rec, "state"), "new", tr->to));
			json_object_set_new(rec, "state", json_string(tr->to));
		}
		count_up(t, tr->name, changes, rec);
		rc = compute_fields(t, rec, err);
	}
	if (!rc)
		rc = kn_rules_before(e, t, KN_ON_TRANSITION, tr->name, rec, changes, err);
	if (!rc)
		rc = compute_fields(t, rec, err);
	if (!rc && t->nclocks)
		rc = kn_clocks_apply(e, t, rec, kn_now_ms(), err);
	if (!rc)
		rc = guards_ok(e, t, tr, rec, in_tx, err);
	if (!rc)
		note_computed(t, before, rec, changes);
	json_decref(before);
	return rc;
}

int kn_rec_fire_tx(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		   const char *trname, const json_t *fields, const char *reason, int depth,
		   kn_error *err)
{
	if (depth > MAX_CHAIN)
		return 0;
	const char *st = json_string_value(json_object_get(rec, "state"));
	const kn_transition *tr = kn_type_transition_named(t, st ? st : "", trname);
	if (!tr)
		return kn_fail(err, KN_ECONFLICT, "to", "%s %s cannot %s from %s", t->name,
			       json_string_value(json_object_get(rec, "number")), trname, st);
	json_t *changes = json_array();
	int rc = transition_apply(e, NULL, t, rec, tr, fields, reason, true, changes, err);
	if (!rc) {
		wevent ev = {KN_ON_TRANSITION, tr->name, depth};
		rc = save_in_txn(e, u, t, rec, tr->stay ? tr->name : "transition", changes, reason,
				 &ev, err);
	}
	json_decref(changes);
	return rc;
}

static int transition_once(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
			   int64_t if_version, const json_t *body, json_t **out, kn_error *err)
{
	int rc = body_object(body, err);
	if (rc)
		return rc;
	const char *to = json_string_value(json_object_get(body, "to"));
	const char *name = json_string_value(json_object_get(body, "transition"));
	if (!to && !name)
		return kn_fail(err, KN_EVALID, "to",
			       "\"to\" must name the state to move to (or \"transition\" the step)");
	if (to && !kn_type_state(t, to))
		return kn_fail(err, KN_EVALID, "to", "%s has no state '%s'", t->name, to);
	if (u && (u->role & KN_ROLE_AUDITOR))
		return kn_fail(err, KN_EFORBIDDEN, "", "auditors cannot change records");
	const char *reason;
	if ((rc = reason_of(body, &reason, err)))
		return rc;
	json_t *rec = NULL, *changes = json_array();
	const kn_transition *tr = NULL;
	rc = fetch_for(e, u, t, ref, &rec, err);
	if (!rc)
		rc = version_check(rec, if_version, err);
	if (!rc) {
		const char *from = json_string_value(json_object_get(rec, "state"));
		tr = name ? kn_type_transition_named(t, from, name) : kn_type_transition(t, from, to);
		const char *num = json_string_value(json_object_get(rec, "number"));
		if (!tr && !name)
			rc = kn_fail(err, KN_EVALID, "to", "%s %s cannot move from %s to %s", t->name,
				     num, from, to);
		else if (!tr || (to && (tr->stay || strcmp(tr->to, to))))
			rc = kn_fail(err, KN_EVALID, "transition", "%s %s cannot %s from %s%s%s",
				     t->name, num, name, from, to ? " to " : "", to ? to : "");
		else if (u && !role_in(u, tr->roles))
			rc = kn_fail(err, KN_EFORBIDDEN, "to",
				     "your role may not %s %s records", tr->name, t->name);
		for (size_t i = 0; !rc && u && i < tr->nnot_by; i++) {
			const char *who = json_string_value(json_object_get(rec, tr->not_by[i]));
			if (who && strcmp(who, u->name) == 0)
				rc = kn_fail(err, KN_EFORBIDDEN, "to",
					     "someone else must %s: you are its %s", tr->name,
					     tr->not_by[i]);
		}
	}
	if (!rc && u && !role_in(u, t->can_update)) {
		/* who may not edit the record may give only what the move asks for */
		const char *key;
		json_t *val;
		json_object_foreach((json_t *)body, key, val)
		{
			bool ok = !strcmp(key, "to") || !strcmp(key, "reason") ||
				  !strcmp(key, "version") || !strcmp(key, "transition");
			for (size_t i = 0; i < tr->nrequires; i++)
				ok |= strcmp(key, tr->requires[i]) == 0;
			if (!ok) {
				rc = kn_fail(err, KN_EFORBIDDEN, key,
					     "your role may not change %s with this transition", key);
				break;
			}
		}
	}
	if (!rc)
		rc = transition_apply(e, u, t, rec, tr, body, reason, false, changes, err);
	if (!rc)
		rc = save(e, u, t, rec, tr->stay ? tr->name : "transition", changes, reason,
			  (wevent){KN_ON_TRANSITION, tr->name, 0}, err);
	json_decref(changes);
	if (rc) {
		json_decref(rec);
		return rc;
	}
	*out = filter_out(t, u, rec);
	return 0;
}

int kn_rec_transition(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		      int64_t if_version, const json_t *body, json_t **out, kn_error *err)
{
	/* Without If-Match the caller wants the move made on whatever version is
	 * current: when someone saved in between, check and apply it again. */
	int rc;
	for (int attempt = 0;; attempt++) {
		rc = transition_once(e, u, t, ref, if_version, body, out, err);
		if (rc != KN_ECONFLICT || if_version >= 0 || attempt == 4)
			return rc;
		memset(err, 0, sizeof *err);
	}
}

/* ---- comments ---------------------------------------------------------- */

int kn_rec_comment(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   const json_t *body, json_t **out, kn_error *err)
{
	int rc = body_object(body, err);
	if (rc)
		return rc;
	const char *kind = json_string_value(json_object_get(body, "kind"));
	if (!json_object_get(body, "kind"))
		kind = "comment";
	if (!kind || (strcmp(kind, "comment") && strcmp(kind, "work_note")))
		return kn_fail(err, KN_EVALID, "kind", "kind must be comment or work_note");
	bool wn = strcmp(kind, "work_note") == 0;
	if (u && !role_in(u, wn ? t->can_work_note : t->can_comment))
		return kn_fail(err, KN_EFORBIDDEN, "kind", "your role may not add a %s here",
			       wn ? "work note" : "comment");
	const char *text = json_string_value(json_object_get(body, "body"));
	if (!text || !*text)
		return kn_fail(err, KN_EVALID, "body", "body must be non-empty text");
	if (kn_utf8_len(text) > 65536)
		return kn_fail(err, KN_EVALID, "body", "body is longer than 65536 characters");
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)body, key, val)
	{
		if (strcmp(key, "kind") && strcmp(key, "body"))
			return kn_fail(err, KN_EVALID, key, "a comment has no field '%s'", key);
	}
	if ((rc = begin_write(e, err)))
		return rc;
	json_t *rec = NULL, *c = NULL;
	rc = fetch_for(e, u, t, ref, &rec, err);
	int64_t id = 0;
	if (!rc) {
		char now[32];
		kn_now_iso(now, sizeof now);
		c = json_pack("{s:s,s:O,s:s,s:s,s:s,s:s}", "type", t->name, "rec_id",
			      json_object_get(rec, "id"), "kind", kind, "body", text, "author",
			      actor_name(u), "created_at", now);
		rc = OPS(e)->comment_insert(ST(e), c, &id, err);
	}
	if (!rc) {
		json_object_set_new(c, "id", json_integer(id));
		char dg[65];
		row_digest(c, dg);
		json_t *ch = json_pack("[{s:s,s:n,s:s,s:I}]", "field", kind, "old", "new", text,
				       "comment", (json_int_t)id);
		rc = kn_journal_append(e, actor_name(u), t->name,
				       json_integer_value(json_object_get(rec, "id")), kind, ch, NULL,
				       dg, err);
		json_decref(ch);
	}
	rc = finish(e, rc, err);
	json_decref(rec);
	if (rc) {
		json_decref(c);
		return rc;
	}
	json_object_del(c, "type");
	json_object_del(c, "rec_id");
	*out = c;
	return 0;
}

int kn_rec_comments(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		    json_t **out, kn_error *err)
{
	int64_t id;
	int rc = fetch_id(e, u, t, ref, &id, err);
	if (rc)
		return rc;
	json_t *items = NULL;
	bool wn = sees_work_notes(t, u);
	rc = OPS(e)->comment_list(ST(e), t->name, id, wn, &items, err);
	if (rc)
		return rc;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int kn_rec_journal(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   json_t **out, kn_error *err)
{
	int64_t id;
	int rc = fetch_id(e, u, t, ref, &id, err);
	if (rc)
		return rc;
	json_t *items = NULL;
	rc = OPS(e)->journal_list(ST(e), t->name, id, &items, err);
	if (rc)
		return rc;
	bool wn = sees_work_notes(t, u);
	json_t *keep = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		const char *action = json_string_value(json_object_get(it, "action"));
		if (!wn && action && strcmp(action, "work_note") == 0)
			continue;
		json_t *ch = json_object_get(it, "changes");
		json_t *vis = json_array();
		size_t j;
		json_t *c;
		json_array_foreach(ch, j, c)
		{
			const char *f = json_string_value(json_object_get(c, "field"));
			if (!f || field_visible(t, u, f))
				json_array_append(vis, c);
		}
		json_object_set_new(it, "changes", vis);
		json_array_append(keep, it);
	}
	json_decref(items);
	*out = json_pack("{s:o}", "items", keep);
	return 0;
}

/* ---- attachments ---------------------------------------------------------- */

/* A file name: 1..255 characters of valid UTF-8, no path separator, no
 * control character, not "." or "..". */
static bool attach_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (!n || !kn_utf8_valid(name, n) || kn_utf8_len(name) > 255 || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/' || *p == '\\')
			return false;
	/* C1 controls (U+0080..U+009F) are C2 80..C2 9F in UTF-8 */
	for (const unsigned char *p = (const unsigned char *)name; p[0] && p[1]; p++)
		if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			return false;
	return true;
}

/* A media type, loosely: token "/" token, then anything printable
 * (parameters), at most 255 bytes of ASCII. */
static bool ctype_ok(const char *ct)
{
	static const char tch[] = "!#$%&'*+-.^_`|~";
	size_t n = strlen(ct), i = 0, slash = 0;
	if (n > 255)
		return false;
	for (; ct[i] && ct[i] != ';' && ct[i] != ' '; i++) {
		unsigned char ch = (unsigned char)ct[i];
		if (ch == '/' && !slash && i > 0)
			slash = i;
		else if (!isalnum(ch) && !strchr(tch, ch))
			return false;
	}
	if (!slash || slash + 1 == i)
		return false;
	for (; ct[i]; i++)
		if ((unsigned char)ct[i] < 0x20 || (unsigned char)ct[i] > 0x7e)
			return false;
	return true;
}

int kn_rec_attach(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  const char *name, const char *ctype, const void *data, size_t len,
		  json_t **out, kn_error *err)
{
	if (u && !role_in(u, t->can_comment))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not attach files here");
	if (!name || !*name)
		return kn_fail(err, KN_EVALID, "name", "name (the file name) is required");
	if (!attach_name_ok(name))
		return kn_fail(err, KN_EVALID, "name", "name must be a file name of at most 255"
			       " characters, without path separators or control characters");
	while (ctype && *ctype == ' ')
		ctype++;
	if (!ctype || !*ctype)
		ctype = "application/octet-stream";
	if (!ctype_ok(ctype))
		return kn_fail(err, KN_EVALID, "ctype", "the content type must be type/subtype");
	if (!len)
		return kn_fail(err, KN_EVALID, "", "the file is empty");
	char sha[65];
	kn_sha256_hex(data, len, sha);
	int rc = begin_write(e, err);
	if (rc)
		return rc;
	json_t *rec = NULL, *a = NULL;
	int64_t id = 0;
	rc = fetch_for(e, u, t, ref, &rec, err);
	if (!rc) {
		char now[32];
		kn_now_iso(now, sizeof now);
		a = json_pack("{s:s,s:O,s:s,s:s,s:I,s:s,s:s,s:s}", "type", t->name, "rec_id",
			      json_object_get(rec, "id"), "name", name, "ctype", ctype, "size",
			      (json_int_t)len, "sha256", sha, "created_by", actor_name(u),
			      "created_at", now);
		rc = OPS(e)->attach_insert(ST(e), a, data, len, &id, err);
	}
	if (!rc) {
		json_t *ch = json_pack("[{s:s,s:n,s:s,s:I,s:I,s:s}]", "field", "attachment", "old",
				       "new", name, "attachment", (json_int_t)id, "size",
				       (json_int_t)len, "sha256", sha);
		rc = kn_journal_append(e, actor_name(u), t->name,
				       json_integer_value(json_object_get(rec, "id")), "attach", ch,
				       NULL, NULL, err);
		json_decref(ch);
	}
	rc = finish(e, rc, err);
	json_decref(rec);
	if (rc) {
		json_decref(a);
		return rc;
	}
	*out = json_pack("{s:I,s:O,s:O,s:I,s:s,s:O,s:O}", "id", (json_int_t)id, "name",
			 json_object_get(a, "name"), "ctype", json_object_get(a, "ctype"), "size",
			 (json_int_t)len, "sha256", sha, "created_by",
			 json_object_get(a, "created_by"), "created_at",
			 json_object_get(a, "created_at"));
	json_decref(a);
	return 0;
}

int kn_rec_attachments(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		       json_t **out, kn_error *err)
{
	int rc = OPS(e)->begin(ST(e), false, err);
	if (rc)
		return rc;
	int64_t id;
	json_t *items = NULL;
	rc = fetch_id(e, u, t, ref, &id, err);
	if (!rc)
		rc = OPS(e)->attach_list(ST(e), t->name, id, &items, err);
	OPS(e)->rollback(ST(e));
	if (rc)
		return rc;
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

int kn_rec_attachment(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		      int64_t att_id, json_t **meta, kn_buf *data, kn_error *err)
{
	int rc = OPS(e)->begin(ST(e), false, err);
	if (rc)
		return rc;
	int64_t id;
	rc = fetch_id(e, u, t, ref, &id, err);
	if (!rc)
		rc = OPS(e)->attach_get(ST(e), t->name, id, att_id, meta, data, err);
	OPS(e)->rollback(ST(e));
	return rc;
}

/* ---- relations ---------------------------------------------------------- */

static const char *const relkinds[] = {"relates_to", "caused_by", "duplicate_of", "parent_of",
				       "child_of",   "blocks",	  "depends_on", NULL};

int kn_rec_relate(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		  const json_t *body, json_t **out, kn_error *err)
{
	int rc = body_object(body, err);
	if (rc)
		return rc;
	if (u && !role_in(u, t->can_update))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not relate %s records",
			       t->name);
	const char *kind = json_string_value(json_object_get(body, "kind"));
	bool ok = false;
	for (int i = 0; kind && relkinds[i]; i++)
		ok |= strcmp(kind, relkinds[i]) == 0;
	if (!ok)
		return kn_fail(err, KN_EVALID, "kind",
			       "kind must be one of: relates_to, caused_by, duplicate_of, "
			       "parent_of, child_of, blocks, depends_on");
	const char *target = json_string_value(json_object_get(body, "target"));
	const char *slash = target ? strchr(target, '/') : NULL;
	if (!slash)
		return kn_fail(err, KN_EVALID, "target",
			       "target must look like incidents/INC-000002");
	char plural[64];
	snprintf(plural, sizeof plural, "%.*s", (int)(slash - target), target);
	const kn_type *tt = kn_schema_type_plural(e->schema, plural);
	if (!tt)
		return kn_fail(err, KN_EVALID, "target", "no record type '%s'", plural);
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)body, key, val)
	{
		if (strcmp(key, "kind") && strcmp(key, "target") && strcmp(key, "reason"))
			return kn_fail(err, KN_EVALID, key, "a relation has no field '%s'", key);
	}
	if ((rc = begin_write(e, err)))
		return rc;
	json_t *rec = NULL, *other = NULL, *r = NULL;
	rc = fetch_for(e, u, t, ref, &rec, err);
	if (!rc) {
		rc = fetch_for(e, u, tt, slash + 1, &other, err);
		if (rc == KN_ENOTFOUND || rc == KN_EFORBIDDEN)
			rc = kn_fail(err, KN_EVALID, "target", "%s not found", target);
	}
	int64_t id = 0;
	if (!rc && strcmp(t->name, tt->name) == 0 &&
	    json_equal(json_object_get(rec, "id"), json_object_get(other, "id")))
		rc = kn_fail(err, KN_EVALID, "target", "a record cannot relate to itself");
	if (!rc) {
		char now[32];
		kn_now_iso(now, sizeof now);
		r = json_pack("{s:s,s:O,s:s,s:s,s:O,s:s,s:s}", "from_type", t->name, "from_id",
			      json_object_get(rec, "id"), "kind", kind, "to_type", tt->name,
			      "to_id", json_object_get(other, "id"), "created_by", actor_name(u),
			      "created_at", now);
		rc = OPS(e)->rel_insert(ST(e), r, &id, err);
	}
	if (!rc) {
		json_object_set_new(r, "id", json_integer(id));
		char dg[65];
		row_digest(r, dg);
		json_object_set(r, "from", json_object_get(rec, "number"));
		json_object_set(r, "to", json_object_get(other, "number"));
		json_t *ch = json_pack("[{s:s,s:n,s:O,s:I}]", "field", kind, "old", "new",
				       json_object_get(other, "number"), "relation", (json_int_t)id);
		rc = kn_journal_append(e, actor_name(u), t->name,
				       json_integer_value(json_object_get(rec, "id")), "relate", ch,
				       NULL, dg, err);
		json_decref(ch);
	}
	rc = finish(e, rc, err);
	json_decref(rec);
	json_decref(other);
	if (rc) {
		json_decref(r);
		return rc;
	}
	*out = r;
	return 0;
}

int kn_rec_relations(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		     json_t **out, kn_error *err)
{
	int64_t id;
	int rc = fetch_id(e, u, t, ref, &id, err);
	if (rc)
		return rc;
	json_t *items = NULL;
	rc = OPS(e)->rel_list(ST(e), t->name, id, &items, err);
	if (rc)
		return rc;
	/* name both ends by number, and hide ends the user may not see */
	json_t *keep = json_array();
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		bool ok = true;
		static const char *const ends[][3] = {{"from_type", "from_id", "from"},
						      {"to_type", "to_id", "to"}};
		for (int k = 0; k < 2 && ok; k++) {
			const kn_type *et = kn_schema_type(
				e->schema, json_string_value(json_object_get(it, ends[k][0])));
			json_t *er = NULL;
			kn_error e2 = {0};
			char idbuf[32];
			snprintf(idbuf, sizeof idbuf, "%lld",
				 (long long)json_integer_value(json_object_get(it, ends[k][1])));
			ok = et && fetch_for(e, u, et, idbuf, &er, &e2) == 0;
			if (ok)
				json_object_set(it, ends[k][2], json_object_get(er, "number"));
			json_decref(er);
		}
		if (ok)
			json_array_append(keep, it);
	}
	json_decref(items);
	*out = json_pack("{s:o}", "items", keep);
	return 0;
}

int kn_rec_unrelate(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		    int64_t rel_id, kn_error *err)
{
	if (u && !role_in(u, t->can_update))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not relate %s records",
			       t->name);
	int rc = begin_write(e, err);
	if (rc)
		return rc;
	json_t *rec = NULL, *items = NULL, *found = NULL;
	rc = fetch_for(e, u, t, ref, &rec, err);
	if (!rc)
		rc = OPS(e)->rel_list(ST(e), t->name, json_integer_value(json_object_get(rec, "id")),
				      &items, err);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		if (json_integer_value(json_object_get(it, "id")) == rel_id)
			found = it;
	}
	if (!rc && !found)
		rc = kn_fail(err, KN_ENOTFOUND, "", "relation %lld not found on this record",
			     (long long)rel_id);
	if (!rc)
		rc = OPS(e)->rel_delete(ST(e), rel_id, err);
	if (!rc) {
		json_t *ch = json_pack("[{s:O,s:O,s:n,s:I}]", "field", json_object_get(found, "kind"),
				       "old", json_object_get(found, "to_id"), "new", "relation",
				       (json_int_t)rel_id);
		rc = kn_journal_append(e, actor_name(u), t->name,
				       json_integer_value(json_object_get(rec, "id")), "unrelate", ch,
				       NULL, NULL, err);
		json_decref(ch);
	}
	rc = finish(e, rc, err);
	json_decref(rec);
	json_decref(items);
	return rc;
}

/* ---- lists -------------------------------------------------------------- */

static const struct {
	const char *name;
	kn_op op;
} optab[] = {
	{"eq", KN_OP_EQ},   {"ne", KN_OP_NE},	{"lt", KN_OP_LT},	  {"lte", KN_OP_LTE},
	{"gt", KN_OP_GT},   {"gte", KN_OP_GTE}, {"in", KN_OP_IN},	  {"contains", KN_OP_CONTAINS},
	{"null", KN_OP_NULL},
};

/* The kind of attribute name: a field, or a system attribute (f NULL). */
static int attr_lookup(const kn_type *t, const kn_user *u, const char *name,
		       const kn_field **f, kn_error *err)
{
	*f = kn_type_field(t, name);
	if (*f && field_visible(t, u, name))
		return 0;
	if (kn_is_system_attr(name))
		return 0;
	return kn_fail(err, KN_EINVAL, name, "%s has no field '%s' to filter, sort or return", t->name,
		       name);
}

/* Convert one query-string value for attribute name (field f or system). */
static int query_value(const kn_type *t, const kn_field *f, const char *name, const char *s,
		       json_t **out, kn_error *err)
{
	bool integer = f ? (f->kind == KN_INTEGER) : (strcmp(name, "id") == 0 ||
						      strcmp(name, "version") == 0);
	if (integer) {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		if (!*s || *end || errno)
			return kn_fail(err, KN_EINVAL, name, "%s takes a whole number, not '%s'",
				       name, s);
		*out = json_integer(v);
		return 0;
	}
	if (f && f->kind == KN_BOOLEAN) {
		if (strcmp(s, "true") && strcmp(s, "false"))
			return kn_fail(err, KN_EINVAL, name, "%s takes true or false", name);
		*out = json_boolean(strcmp(s, "true") == 0);
		return 0;
	}
	bool systime = !f && (strcmp(name, "created_at") == 0 || strcmp(name, "updated_at") == 0);
	if ((f && f->kind == KN_DATETIME) || systime) {
		int64_t ms;
		if (kn_parse_datetime(s, &ms))
			return kn_fail(err, KN_EINVAL, name,
				       "%s takes a date-time with a zone, not '%s'", name, s);
		char buf[48];
		kn_format_datetime(ms, buf, sizeof buf);
		if (systime) /* stored with milliseconds: compare like with like */
			snprintf(buf + 19, sizeof buf - 19, ".%03dZ", (int)(((ms % 1000) + 1000) % 1000));
		*out = json_string(buf);
		return 0;
	}
	if (f && f->kind == KN_DATE) {
		int64_t ms;
		if (strlen(s) != 10 || kn_parse_datetime(s, &ms))
			return kn_fail(err, KN_EINVAL, name, "%s takes a date like 2026-11-25", name);
	}
	if (!kn_utf8_valid(s, strlen(s)))
		return kn_fail(err, KN_EINVAL, name, "%s: the value is not valid UTF-8", name);
	*out = json_string(s);
	return 0;
}

typedef struct listq {
	kn_cond conds[64];
	size_t nconds;
	kn_sort sorts[9];
	size_t nsorts;
	json_t *vals; /* owns every values array */
	int limit;
	bool total;
	json_t *after;
	const char *attrs[72]; /* fields=: what to return, NULL-free when nattrs */
	size_t nattrs;
	kn_sterm terms[KN_TERMS_CAP]; /* q=: full-text terms */
	size_t nterms;
} listq;

/* Add name to the attributes a fields= list returns, once. */
static void want_attr(listq *q, const char *name)
{
	for (size_t i = 0; i < q->nattrs; i++)
		if (strcmp(q->attrs[i], name) == 0)
			return;
	if (q->nattrs < sizeof q->attrs / sizeof q->attrs[0])
		q->attrs[q->nattrs++] = name;
}

static int add_cond(listq *q, const char *attr, kn_op op, json_t *values, kn_error *err)
{
	if (q->nconds == sizeof q->conds / sizeof q->conds[0]) {
		json_decref(values);
		return kn_fail(err, KN_EINVAL, attr, "too many conditions");
	}
	json_array_append_new(q->vals, values);
	q->conds[q->nconds++] = (kn_cond){.attr = attr, .op = op, .values = values};
	return 0;
}

/* q=: a full-text condition (the record has every word). The values are
 * the type and, per term, its token (and a prefix's end). */
static int parse_search(const kn_type *t, const char *v, listq *q, kn_error *err)
{
	if (!kn_search_enabled(t))
		return kn_fail(err, KN_EINVAL, "q", "%s records have no searched fields", t->name);
	if (q->nterms)
		return kn_fail(err, KN_EINVAL, "q", "q is given twice");
	q->nterms = kn_search_terms(v, q->terms);
	if (!q->nterms)
		return kn_fail(err, KN_EINVAL, "q", "q has no word to search for");
	json_t *vals = json_pack("[s]", t->name);
	for (size_t i = 0; i < q->nterms; i++) {
		json_array_append_new(vals, json_string(q->terms[i].tok));
		if (q->terms[i].prefix) {
			char end[KN_TOK_MAX + 4];
			kn_sterm_end(q->terms[i].tok, end);
			json_array_append_new(vals, json_string(end));
		}
	}
	int rc = add_cond(q, "id", KN_OP_SEARCH, vals, err);
	if (!rc) {
		q->conds[q->nconds - 1].terms = q->terms;
		q->conds[q->nconds - 1].nterms = q->nterms;
	}
	return rc;
}

static int parse_sort(const kn_type *t, const kn_user *u, const char *s, listq *q,
		      json_t *names, kn_error *err)
{
	char *dup = kn_xstrdup(s), *save = NULL;
	int rc = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		bool desc = *tok == '-';
		if (*tok == '-' || *tok == '+')
			tok++;
		const kn_field *f;
		if ((rc = attr_lookup(t, u, tok, &f, err)))
			break;
		if (strcmp(tok, "id") == 0 && q->nsorts == 8)
			break;
		if (q->nsorts >= 8) {
			rc = kn_fail(err, KN_EINVAL, "sort", "at most 8 sort keys");
			break;
		}
		json_array_append_new(names, json_string(tok));
		q->sorts[q->nsorts++] =
			(kn_sort){json_string_value(json_array_get(names, json_array_size(names) - 1)),
				  desc};
		if (strcmp(tok, "id") == 0)
			break; /* id is unique: nothing after it matters */
	}
	free(dup);
	return rc;
}

static int parse_params(const kn_type *t, const kn_user *u, const kn_param *p,
			size_t np, const char *const *skip, listq *q, json_t *names, kn_error *err)
{
	q->limit = 50;
	q->total = true;
	for (size_t i = 0; i < np; i++) {
		const char *k = p[i].key, *v = p[i].value ? p[i].value : "";
		int rc = 0;
		bool skipped = false;
		for (size_t j = 0; skip && skip[j]; j++)
			skipped |= strcmp(k, skip[j]) == 0;
		if (skipped)
			continue;
		if (strcmp(k, "limit") == 0) {
			char *end;
			long n = strtol(v, &end, 10);
			if (!*v || *end || n < 1 || n > 500)
				return kn_fail(err, KN_EINVAL, "limit", "limit must be 1 to 500");
			q->limit = (int)n;
		} else if (strcmp(k, "total") == 0) {
			if (strcmp(v, "true") && strcmp(v, "false"))
				return kn_fail(err, KN_EINVAL, "total", "total takes true or false");
			q->total = strcmp(v, "true") == 0;
		} else if (strcmp(k, "sort") == 0) {
			rc = parse_sort(t, u, v, q, names, err);
		} else if (strcmp(k, "q") == 0) {
			rc = parse_search(t, v, q, err);
		} else if (strcmp(k, "fields") == 0) {
			want_attr(q, "id");
			want_attr(q, "number");
			char *dup = kn_xstrdup(v), *save = NULL;
			for (char *tok = strtok_r(dup, ",", &save); tok && !rc;
			     tok = strtok_r(NULL, ",", &save)) {
				const kn_field *f;
				if ((rc = attr_lookup(t, u, tok, &f, err)))
					break;
				if (q->nattrs >= 64) {
					rc = kn_fail(err, KN_EINVAL, "fields", "too many fields");
					break;
				}
				json_array_append_new(names, json_string(tok));
				want_attr(q, json_string_value(json_array_get(names, json_array_size(names) - 1)));
			}
			free(dup);
		} else if (strcmp(k, "cursor") == 0) {
			size_t n;
			unsigned char *raw = kn_b64url_decode(v, &n);
			json_t *a = raw ? json_loadb((char *)raw, n, 0, NULL) : NULL;
			free(raw);
			if (!json_is_array(a)) {
				json_decref(a);
				return kn_fail(err, KN_EINVAL, "cursor", "the cursor is not valid");
			}
			json_decref(q->after);
			q->after = a;
		} else if (strcmp(k, "open") == 0) {
			if (strcmp(v, "true") && strcmp(v, "false"))
				return kn_fail(err, KN_EINVAL, "open", "open takes true or false");
			bool want_open = strcmp(v, "true") == 0;
			json_t *vals = json_array();
			for (size_t s = 0; s < t->nstates; s++)
				if (t->states[s].final != want_open)
					json_array_append_new(vals, json_string(t->states[s].name));
			rc = add_cond(q, "state", KN_OP_IN, vals, err);
		} else {
			/* field or field[op] */
			char name[64];
			const char *br = strchr(k, '[');
			kn_op op = KN_OP_EQ;
			if (br) {
				size_t l = strlen(k);
				if (k[l - 1] != ']' || (size_t)(br - k) >= sizeof name)
					return kn_fail(err, KN_EINVAL, k, "bad parameter '%s'", k);
				snprintf(name, sizeof name, "%.*s", (int)(br - k), k);
				char opn[16];
				snprintf(opn, sizeof opn, "%.*s", (int)(l - (size_t)(br - k) - 2), br + 1);
				size_t j;
				for (j = 0; j < sizeof optab / sizeof optab[0]; j++)
					if (strcmp(opn, optab[j].name) == 0)
						break;
				if (j == sizeof optab / sizeof optab[0])
					return kn_fail(err, KN_EINVAL, k, "unknown operator '%s'", opn);
				op = optab[j].op;
			} else {
				snprintf(name, sizeof name, "%s", k);
			}
			const kn_field *f;
			if ((rc = attr_lookup(t, u, name, &f, err)))
				return rc;
			json_array_append_new(names, json_string(name));
			const char *attr = json_string_value(json_array_get(names, json_array_size(names) - 1));
			if (op == KN_OP_NULL) {
				if (strcmp(v, "true") && strcmp(v, "false"))
					return kn_fail(err, KN_EINVAL, k, "%s takes true or false", k);
				rc = add_cond(q, attr, strcmp(v, "true") == 0 ? KN_OP_NULL : KN_OP_NOTNULL,
					      json_array(), err);
			} else if (op == KN_OP_IN) {
				json_t *vals = json_array();
				char *dup = kn_xstrdup(v), *save = NULL;
				for (char *tok = strtok_r(dup, ",", &save); tok && !rc;
				     tok = strtok_r(NULL, ",", &save)) {
					json_t *jv;
					rc = query_value(t, f, attr, tok, &jv, err);
					if (!rc)
						json_array_append_new(vals, jv);
				}
				free(dup);
				if (!rc)
					rc = add_cond(q, attr, KN_OP_IN, vals, err);
				else
					json_decref(vals);
			} else if (op == KN_OP_EQ) {
				/* repeated field=value means any of them */
				json_t *jv;
				if ((rc = query_value(t, f, attr, v, &jv, err)))
					return rc;
				size_t c;
				for (c = 0; c < q->nconds; c++)
					if ((q->conds[c].op == KN_OP_EQ || q->conds[c].op == KN_OP_IN) &&
					    strcmp(q->conds[c].attr, attr) == 0 &&
					    q->conds[c].values != NULL)
						break;
				if (c < q->nconds && q->conds[c].op == KN_OP_EQ) {
					q->conds[c].op = KN_OP_IN;
					json_array_append_new(q->conds[c].values, jv);
				} else {
					rc = add_cond(q, attr, KN_OP_EQ, json_pack("[o]", jv), err);
				}
			} else {
				json_t *jv;
				if (op == KN_OP_CONTAINS)
					rc = kn_utf8_valid(v, strlen(v)) ? (jv = json_string(v), 0)
									  : kn_fail(err, KN_EINVAL, k, "not UTF-8");
				else
					rc = query_value(t, f, attr, v, &jv, err);
				if (!rc)
					rc = add_cond(q, attr, op, json_pack("[o]", jv), err);
			}
		}
		if (rc)
			return rc;
	}
	return 0;
}

/* The conditions every query of u on t carries: end users see their
 * organisation's records only. */
static int scope_conds(const kn_type *t, const kn_user *u, listq *q, kn_error *err)
{
	int rc = 0;
	if (t->org_field && is_enduser(u))
		rc = add_cond(q, t->org_field, KN_OP_EQ, json_pack("[s]", u->org), err);
	if (!rc && t->owner_field && !sees_all(u))
		rc = add_cond(q, t->owner_field, KN_OP_EQ, json_pack("[s]", u->name), err);
	for (size_t i = 0; !rc && u && i < t->nrestricts; i++) {
		const kn_restrict *r = &t->restricts[i];
		if (u->role & r->roles)
			continue;
		/* the record's value is none of where's values */
		json_t *vals = json_array();
		bool has_null = false;
		const json_t *w = r->where.values;
		if (json_is_array(w)) {
			size_t j;
			json_t *x;
			json_array_foreach(w, j, x)
			{
				if (json_is_null(x))
					has_null = true;
				else
					json_array_append(vals, x);
			}
		} else if (json_is_null(w)) {
			has_null = true;
		} else {
			json_array_append(vals, (json_t *)w);
		}
		if (json_array_size(vals))
			rc = add_cond(q, r->where.attr, KN_OP_NIN, vals, err);
		else
			json_decref(vals);
		if (!rc && has_null)
			rc = add_cond(q, r->where.attr, KN_OP_NOTNULL, json_array(), err);
	}
	return rc;
}

struct kn_filter {
	listq q;
	json_t *names;
};

int kn_rec_filter(const kn_type *t, const kn_user *u, const kn_param *p, size_t np,
		  const char *const *skip, kn_filter **out, kn_error *err)
{
	if (u && !role_in(u, t->can_read))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not read %s records",
			       t->name);
	kn_filter *f = kn_xcalloc(1, sizeof *f);
	f->q.vals = json_array();
	f->names = json_array();
	int rc = parse_params(t, u, p, np, skip, &f->q, f->names, err);
	if (!rc)
		rc = scope_conds(t, u, &f->q, err);
	if (!rc && (f->q.nsorts || f->q.after || f->q.nattrs))
		rc = kn_fail(err, KN_EINVAL, "", "sort, cursor and fields do not apply here");
	if (rc) {
		kn_filter_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

const kn_cond *kn_filter_conds(const kn_filter *f, size_t *n)
{
	*n = f->q.nconds;
	return f->q.conds;
}

int kn_filter_add(kn_filter *f, const char *attr, kn_op op, json_t *values, kn_error *err)
{
	return add_cond(&f->q, attr, op, values, err);
}

void kn_filter_free(kn_filter *f)
{
	if (!f)
		return;
	json_decref(f->q.vals);
	json_decref(f->q.after);
	json_decref(f->names);
	free(f);
}

int kn_rec_list(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		size_t np, json_t **out, kn_error *err)
{
	if (u && !role_in(u, t->can_read))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not read %s records",
			       t->name);
	listq q;
	memset(&q, 0, sizeof q);
	q.vals = json_array();
	json_t *names = json_array();
	int rc = parse_params(t, u, p, np, NULL, &q, names, err);
	if (!rc)
		rc = scope_conds(t, u, &q, err);
	/* id always breaks ties and ends the key */
	if (!rc && (q.nsorts == 0 || strcmp(q.sorts[q.nsorts - 1].attr, "id") != 0))
		q.sorts[q.nsorts++] = (kn_sort){"id", false};
	if (!rc && q.after && json_array_size(q.after) != q.nsorts)
		rc = kn_fail(err, KN_EINVAL, "cursor", "the cursor belongs to another sort order");
	for (size_t i = 0; !rc && q.nattrs && i < q.nsorts; i++)
		want_attr(&q, q.sorts[i].attr); /* the next cursor is made of them */
	json_t *items = NULL;
	int64_t total = -1;
	if (!rc) {
		kn_query kq = {q.conds,	    q.nconds, q.sorts,		  q.nsorts,
			       q.after,	    q.limit + 1, q.total,		  q.nattrs ? q.attrs : NULL,
			       q.nattrs};
		if (!(rc = OPS(e)->begin(ST(e), false, err))) {
			rc = OPS(e)->rec_list(ST(e), t, &kq, &items, &total, err);
			if (rc)
				OPS(e)->rollback(ST(e));
			else
				rc = OPS(e)->commit(ST(e), err);
		}
	}
	if (!rc) {
		json_t *next = json_null();
		if (json_array_size(items) > (size_t)q.limit) {
			json_array_remove(items, (size_t)q.limit);
			json_t *last = json_array_get(items, (size_t)q.limit - 1);
			json_t *key = json_array();
			for (size_t i = 0; i < q.nsorts; i++) {
				json_t *v = json_object_get(last, q.sorts[i].attr);
				json_array_append(key, v ? v : json_null());
			}
			char *s = kn_json_canon(key);
			char *c = kn_b64url_encode(s, strlen(s));
			next = json_string(c);
			free(c);
			free(s);
			json_decref(key);
		}
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it) filter_out(t, u, it);
		*out = json_pack("{s:o,s:o,s:o}", "items", items, "next", next, "total",
				 total >= 0 ? json_integer(total) : json_null());
	} else {
		json_decref(items);
	}
	json_decref(q.vals);
	json_decref(q.after);
	json_decref(names);
	return rc;
}

/* ---- search ------------------------------------------------------------ */

/* The searched text fields of t that u may see, heaviest first. */
static size_t search_fields(const kn_type *t, const kn_user *u, const kn_field **out, size_t max)
{
	size_t n = 0;
	for (int w = 9; w >= 1; w--)
		for (size_t i = 0; i < t->nfields && n < max; i++)
			if (t->fields[i].search == w && field_visible(t, u, t->fields[i].name))
				out[n++] = &t->fields[i];
	return n;
}

/* The hits of one type: records with every term, the Japanese runs of q
 * in order, readable by u; appended to items as {type, id, number, title,
 * state, score, field, snippet}. */
static int search_type(kn_engine *e, const kn_user *u, const kn_type *t, const char *q,
		       const kn_sterm *terms, size_t nterms, int limit, json_t *items,
		       kn_error *err)
{
	int64_t *ids = NULL, *scores = NULL;
	size_t n = 0;
	int rc = OPS(e)->begin(ST(e), false, err);
	if (!rc)
		rc = OPS(e)->search_rank(ST(e), t->name, terms, nterms, limit * 4, &ids, &scores,
					 &n, err);
	const kn_field *fs[64];
	size_t nf = search_fields(t, u, fs, 64);
	for (size_t i = 0; !rc && i < n && limit > 0; i++) {
		json_t *rec = NULL;
		if (OPS(e)->rec_get(ST(e), t, ids[i], NULL, &rec, err) != 0)
			continue; /* not there (yet) in this snapshot */
		if (!visible(t, u, rec)) {
			json_decref(rec);
			continue;
		}
		kn_buf all;
		kn_buf_init(&all, 0);
		for (size_t k = 0; k < nf; k++) {
			const char *v = json_string_value(json_object_get(rec, fs[k]->name));
			kn_buf_adds(&all, v ? v : "");
			kn_buf_adds(&all, "\n");
		}
		bool ok = nf && kn_search_phrase_ok(all.data ? all.data : "", q);
		kn_buf_release(&all);
		/* the snippet: from the field holding most of the words */
		char *snip = NULL;
		const kn_field *where = NULL;
		size_t best = 0;
		for (size_t k = 0; ok && k < nf; k++) {
			size_t m = 0;
			char *sn = kn_search_snippet(
			    json_string_value(json_object_get(rec, fs[k]->name)), q, 120, &m);
			if (sn && m > best) {
				free(snip);
				snip = sn, where = fs[k], best = m;
			} else {
				free(sn);
			}
		}
		if (ok) {
			json_t *title = json_object_get(rec, fs[0]->name);
			json_array_append_new(
			    items, json_pack("{s:s,s:O,s:O,s:O,s:O,s:I,s:s,s:s?}", "type", t->plural,
					     "id", json_object_get(rec, "id"), "number",
					     json_object_get(rec, "number"), "title",
					     title ? title : json_null(), "state",
					     json_object_get(rec, "state"), "score",
					     (json_int_t)scores[i], "field",
					     where ? where->name : fs[0]->name, "snippet", snip));
			limit--;
		}
		free(snip);
		json_decref(rec);
	}
	if (rc)
		OPS(e)->rollback(ST(e));
	else
		rc = OPS(e)->commit(ST(e), err);
	free(ids);
	free(scores);
	return rc;
}

static int by_score(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	json_int_t sx = json_integer_value(json_object_get(x, "score"));
	json_int_t sy = json_integer_value(json_object_get(y, "score"));
	if (sx != sy)
		return sx < sy ? 1 : -1;
	json_int_t ix = json_integer_value(json_object_get(x, "id"));
	json_int_t iy = json_integer_value(json_object_get(y, "id"));
	return ix < iy ? 1 : ix > iy ? -1 : 0;
}

int kn_rec_search(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		  kn_error *err)
{
	const char *q = NULL, *types = NULL;
	int limit = 20;
	for (size_t i = 0; i < np; i++) {
		const char *v = p[i].value ? p[i].value : "";
		if (strcmp(p[i].key, "q") == 0) {
			q = v;
		} else if (strcmp(p[i].key, "types") == 0) {
			types = v;
		} else if (strcmp(p[i].key, "limit") == 0) {
			char *end;
			long n = strtol(v, &end, 10);
			if (!*v || *end || n < 1 || n > 100)
				return kn_fail(err, KN_EINVAL, "limit", "limit must be 1 to 100");
			limit = (int)n;
		} else {
			return kn_fail(err, KN_EINVAL, p[i].key, "unknown parameter \"%s\" (q, types,"
				       " limit)", p[i].key);
		}
	}
	kn_sterm terms[KN_TERMS_CAP];
	size_t nterms = q ? kn_search_terms(q, terms) : 0;
	if (!nterms)
		return kn_fail(err, KN_EINVAL, "q", "q has no word to search for");
	const kn_schema *s = e->schema;
	bool *want = kn_xcalloc(s->ntypes + 1, sizeof *want);
	int rc = 0;
	if (types) {
		char *dup = kn_xstrdup(types), *save = NULL;
		for (char *tok = strtok_r(dup, ",", &save); tok && !rc;
		     tok = strtok_r(NULL, ",", &save)) {
			const kn_type *t = kn_schema_type_plural(s, tok);
			if (!t || !kn_search_enabled(t))
				rc = kn_fail(err, KN_EINVAL, "types",
					     "\"%s\" is not a type with searched fields", tok);
			else if (u && !role_in(u, t->can_read))
				rc = kn_fail(err, KN_EFORBIDDEN, "types",
					     "your role may not read %s records", t->name);
			else
				want[t - s->types] = true;
		}
		free(dup);
	} else {
		for (size_t i = 0; i < s->ntypes; i++)
			want[i] = kn_search_enabled(&s->types[i]) &&
				  (!u || role_in(u, s->types[i].can_read));
	}
	json_t *items = json_array();
	for (size_t i = 0; !rc && i < s->ntypes; i++)
		if (want[i])
			rc = search_type(e, u, &s->types[i], q, terms, nterms, limit, items, err);
	free(want);
	if (rc) {
		json_decref(items);
		return rc;
	}
	size_t n = json_array_size(items);
	json_t **v = kn_xcalloc(n + 1, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(items, i));
	qsort(v, n, sizeof *v, by_score);
	json_t *sorted = json_array();
	for (size_t i = 0; i < n && i < (size_t)limit; i++)
		json_array_append(sorted, v[i]);
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
	free(v);
	json_decref(items);
	*out = json_pack("{s:o}", "items", sorted);
	return 0;
}

/* ---- audit verify ------------------------------------------------------- */

/* Open-addressing map (type index, record id) -> last row digest. */
typedef struct dmap {
	struct dslot {
		int64_t id; /* 0 = empty */
		int type;
		char digest[65];
	} *slots;
	size_t cap, n;
} dmap;

static size_t dhash(int type, int64_t id, size_t cap)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull ^ (uint64_t)type * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 29)) & (cap - 1);
}

static struct dslot *dmap_slot(dmap *m, int type, int64_t id, bool add)
{
	if (add && (m->n + 1) * 2 > m->cap) {
		dmap old = *m;
		m->cap = old.cap ? old.cap * 2 : 1024;
		m->slots = kn_xcalloc(m->cap, sizeof *m->slots);
		m->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.slots[i].id) {
				struct dslot *s = dmap_slot(m, old.slots[i].type, old.slots[i].id, true);
				*s = old.slots[i];
			}
		free(old.slots);
	}
	if (!m->cap)
		return NULL;
	for (size_t i = dhash(type, id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		struct dslot *s = &m->slots[i];
		if (s->id == id && s->type == type)
			return s;
		if (!s->id) {
			if (!add)
				return NULL;
			s->id = id, s->type = type, s->digest[0] = 0;
			m->n++;
			return s;
		}
	}
}

typedef struct verifyctx {
	kn_engine *e;
	int64_t expect;
	char prev[65];
	dmap map;
	kn_error *err;
	const kn_type *t;
	int tindex;
	int64_t records;
} verifyctx;

static int verify_entry(void *ctx, const kn_jentry *je)
{
	verifyctx *v = ctx;
	char h[65];
	if (je->seq != v->expect)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "journal entry %lld is missing (found %lld next): entries were removed",
			       (long long)v->expect, (long long)je->seq);
	if (strcmp(je->prev, v->prev) != 0)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "journal entry %lld does not follow entry %lld: the chain is broken",
			       (long long)je->seq, (long long)je->seq - 1);
	entry_hash(je, h);
	if (strcmp(h, je->hash) != 0)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "journal entry %lld (%s %s #%lld at %s) was altered", (long long)je->seq,
			       je->action, je->type, (long long)je->rec_id, je->at);
	memcpy(v->prev, je->hash, 65);
	v->expect++;
	int nt = (int)v->e->schema->ntypes;
	bool cm = !strcmp(je->action, "comment") || !strcmp(je->action, "work_note");
	bool rel = !strcmp(je->action, "relate"), unrel = !strcmp(je->action, "unrelate");
	if (cm || rel || unrel) {
		/* the row id travels in the change: comments and relations are rows too */
		json_t *ch = json_loads(je->changes ? je->changes : "[]", 0, NULL);
		int64_t id = json_integer_value(
			json_object_get(json_array_get(ch, 0), cm ? "comment" : "relation"));
		json_decref(ch);
		if (id > 0) {
			struct dslot *s = dmap_slot(&v->map, cm ? nt : nt + 1, id, true);
			snprintf(s->digest, sizeof s->digest, "%s", unrel ? "-" : je->digest);
		}
	} else if (je->digest[0] && je->type[0]) {
		const kn_type *t = kn_schema_type(v->e->schema, je->type);
		if (t) {
			struct dslot *s = dmap_slot(&v->map, (int)(t - v->e->schema->types), je->rec_id, true);
			memcpy(s->digest, je->digest, 65);
		}
	}
	return 0;
}

/* A comment or relation row against the journal (v->tindex says which). */
static int verify_row(void *ctx, const json_t *row)
{
	verifyctx *v = ctx;
	const char *what = v->tindex == (int)v->e->schema->ntypes ? "comment" : "relation";
	int64_t id = json_integer_value(json_object_get(row, "id"));
	struct dslot *s = dmap_slot(&v->map, v->tindex, id, false);
	char dg[65];
	row_digest(row, dg);
	if (!s || !s->digest[0])
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "%s %lld has no journal entry: it was added outside kanri", what,
			       (long long)id);
	if (strcmp(s->digest, "-") == 0)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "%s %lld was removed in the journal but is back: it was restored "
			       "outside kanri",
			       what, (long long)id);
	if (strcmp(dg, s->digest) != 0)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "%s %lld differs from its journal entry: it was altered outside kanri",
			       what, (long long)id);
	s->digest[0] = 0; /* seen */
	return 0;
}

static int verify_record(void *ctx, json_t *rec)
{
	verifyctx *v = ctx;
	int64_t id = json_integer_value(json_object_get(rec, "id"));
	struct dslot *s = dmap_slot(&v->map, v->tindex, id, false);
	const char *num = json_string_value(json_object_get(rec, "number"));
	if (!s || !s->digest[0])
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "record %s (%s #%lld) has no journal entry: it was added outside kanri",
			       num ? num : "?", v->t->name, (long long)id);
	char dg[65];
	kn_record_digest(v->t, rec, dg);
	if (strcmp(dg, s->digest) != 0)
		record_digest(v->t, rec, true, dg);
	if (strcmp(dg, s->digest) != 0)
		return kn_fail(v->err, KN_ECONFLICT, "",
			       "record %s (%s #%lld) differs from its last journal entry: it was "
			       "altered outside kanri",
			       num ? num : "?", v->t->name, (long long)id);
	s->digest[0] = 0; /* seen */
	v->records++;
	return 0;
}

int kn_audit_verify(kn_engine *e, FILE *report, kn_error *err)
{
	verifyctx v;
	memset(&v, 0, sizeof v);
	v.e = e;
	v.expect = 1;
	v.err = err;
	memset(v.prev, '0', 64);
	int rc = OPS(e)->begin(ST(e), false, err);
	if (rc)
		return rc;
	rc = OPS(e)->journal_scan(ST(e), verify_entry, &v, err);
	int64_t entries = v.expect - 1;
	if (!rc) {
		int64_t head;
		char hh[65];
		rc = OPS(e)->journal_head(ST(e), &head, hh, err);
		if (!rc && head != entries)
			rc = kn_fail(err, KN_ECONFLICT, "", "journal head %lld does not match %lld entries",
				     (long long)head, (long long)entries);
	}
	for (size_t i = 0; !rc && i < e->schema->ntypes; i++) {
		v.t = &e->schema->types[i];
		v.tindex = (int)i;
		rc = OPS(e)->rec_scan(ST(e), v.t, verify_record, &v, err);
	}
	if (!rc) {
		v.tindex = (int)e->schema->ntypes;
		rc = OPS(e)->comment_scan(ST(e), verify_row, &v, err);
	}
	if (!rc) {
		v.tindex = (int)e->schema->ntypes + 1;
		rc = OPS(e)->rel_scan(ST(e), verify_row, &v, err);
	}
	/* a journalled row that is gone */
	for (size_t i = 0; !rc && i < v.map.cap; i++) {
		struct dslot *s = &v.map.slots[i];
		if (!s->id || !s->digest[0] || strcmp(s->digest, "-") == 0)
			continue;
		if (s->type < (int)e->schema->ntypes)
			rc = kn_fail(err, KN_ECONFLICT, "",
				     "record %s #%lld is in the journal but its row was removed",
				     e->schema->types[s->type].name, (long long)s->id);
		else
			rc = kn_fail(err, KN_ECONFLICT, "",
				     "%s %lld is in the journal but its row was removed",
				     s->type == (int)e->schema->ntypes ? "comment" : "relation",
				     (long long)s->id);
	}
	OPS(e)->rollback(ST(e));
	free(v.map.slots);
	if (report) {
		if (rc)
			fprintf(report, "journal BROKEN: %s\n", err->detail);
		else
			fprintf(report, "journal intact: %lld entries, %lld records checked\n",
				(long long)entries, (long long)v.records);
	}
	return rc;
}

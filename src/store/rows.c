/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rows.c - the store operations on kanri's own tables, written once for
 * every SQL backend: each runs portable SQL ("?" markers, CAST where a
 * parameter's type must be said) through the backend's kn_sqlexec.
 *
 * Scans read in pages of SCAN_PAGE rows by key, so that a backend that
 * fetches whole results (PostgreSQL) never holds a million rows at once,
 * and a callback may call the store again.
 */
#include "kanri.h"

#include "store/sql.h"

#define SCAN_PAGE 1000
#define X(st) ((st)->sql)

static int run(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n, bool write,
	       kn_row_fn row, void *ctx, int64_t *changes, kn_error *err)
{
	return X(st)->run(st, sql, a, n, write, row, ctx, changes, err);
}

static void cpy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

/* ---- small row readers ------------------------------------------------------ */

struct one_int {
	const kn_store *st;
	int64_t v;
	bool found;
};

static int read_int(void *p, const kn_sqlrow *r)
{
	struct one_int *x = p;
	x->v = X(x->st)->i(r, 0);
	x->found = true;
	return 0;
}

/* A row as a JSON object: names[i] from column i, of kinds[i] ('i' or 't'). */
struct obj_ctx {
	const kn_store *st;
	const char *const *names;
	const char *kinds;
	json_t *arr;                              /* collect into, or */
	int (*cb)(void *ctx, const json_t *o);    /* pass on to */
	void *ctx;
	int64_t last;                             /* column 0 of the last row */
	int n;
};

static json_t *row_object(const kn_store *st, const kn_sqlrow *r, const char *const *names,
			  const char *kinds)
{
	json_t *o = json_object();
	for (int i = 0; names[i]; i++) {
		json_t *v;
		if (X(st)->null(r, i)) {
			v = json_null();
		} else if (kinds[i] == 'i') {
			v = json_integer(X(st)->i(r, i));
		} else if (kinds[i] == 'b') { /* bytes as base64url text */
			kn_buf b;
			kn_buf_init(&b, 0);
			char *t = NULL;
			if (X(st)->blob(r, i, &b) == 0)
				t = kn_b64url_encode(b.data ? b.data : "", b.len);
			v = t ? json_string(t) : NULL;
			free(t);
			kn_buf_release(&b);
		} else {
			size_t len;
			const char *t = X(st)->t(r, i, &len);
			v = json_stringn(t, len);
		}
		json_object_set_new_nocheck(o, names[i], v ? v : json_null());
	}
	return o;
}

static int obj_row(void *p, const kn_sqlrow *r)
{
	struct obj_ctx *x = p;
	json_t *o = row_object(x->st, r, x->names, x->kinds);
	x->n++;
	if (x->kinds[0] == 'i')
		x->last = X(x->st)->i(r, 0);
	if (x->arr) {
		json_array_append_new(x->arr, o);
		return 0;
	}
	int rc = x->cb(x->ctx, o);
	json_decref(o);
	return rc;
}

/* Rows of a table page by page: sql selects from key > ? in key order,
 * LIMIT page; column 0 is the integer key. */
static int scan_paged(kn_store *st, const char *sql, int page, kn_row_fn row, void *ctx,
		      int64_t *last, int *n, kn_error *err)
{
	*last = -1;
	for (;;) {
		*n = 0;
		kn_sqlarg a = KN_ARG_I(*last);
		int64_t before = *last;
		int rc = run(st, sql, &a, 1, false, row, ctx, NULL, err);
		if (rc || *n < page || *last == before)
			return rc;
	}
}

static int scan_pages(kn_store *st, const char *sql, kn_row_fn row, void *ctx, int64_t *last,
		      int *n, const char *what, kn_error *err)
{
	(void)what;
	return scan_paged(st, sql, SCAN_PAGE, row, ctx, last, n, err);
}

static int scan_objects_paged(kn_store *st, const char *sql, int page, const char *const *names,
			      const char *kinds, int (*cb)(void *ctx, const json_t *o), void *ctx,
			      kn_error *err)
{
	struct obj_ctx x = {st, names, kinds, NULL, cb, ctx, -1, 0};
	return scan_paged(st, sql, page, obj_row, &x, &x.last, &x.n, err);
}

static int scan_objects(kn_store *st, const char *sql, const char *const *names,
			const char *kinds, int (*cb)(void *ctx, const json_t *o), void *ctx,
			kn_error *err)
{
	return scan_objects_paged(st, sql, SCAN_PAGE, names, kinds, cb, ctx, err);
}

static int list_objects(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n,
			const char *const *names, const char *kinds, json_t **out, kn_error *err)
{
	struct obj_ctx x = {st, names, kinds, json_array(), NULL, NULL, -1, 0};
	int rc = run(st, sql, a, n, false, obj_row, &x, NULL, err);
	if (rc)
		json_decref(x.arr);
	else
		*out = x.arr;
	return rc;
}

/* Arguments from the members of o named by spec ("s:name" text or
 * "i:name" integer, each required). */
static int obj_args(const json_t *o, const char *const *spec, kn_sqlarg *a, const char *what,
		    kn_error *err)
{
	if (!json_is_object(o))
		return kn_fail(err, KN_EINVAL, "", "%s: not an object", what);
	for (size_t i = 0; spec[i]; i++) {
		const json_t *v = json_object_get(o, spec[i] + 2);
		if (spec[i][0] == 's' ? !json_is_string(v) : !json_is_integer(v))
			return kn_fail(err, KN_EINVAL, spec[i] + 2, "%s is missing", spec[i] + 2);
		a[i] = spec[i][0] == 's' ? KN_ARG_T(json_string_value(v))
					 : KN_ARG_I(json_integer_value(v));
	}
	return 0;
}

/* ---- stats ------------------------------------------------------------------ */

bool kn_sqlop_stats_total(const kn_statq *q, const json_t *groups, int64_t *total)
{
	if (q->min_count > 1 || json_array_size(groups) >= (size_t)q->limit)
		return false;
	int64_t n = 0;
	size_t i;
	json_t *g;
	json_array_foreach(groups, i, g) n += json_integer_value(json_array_get(g, q->ngroups));
	*total = n;
	return true;
}

json_t *kn_sqlop_stats_row(kn_store *st, const kn_sqlrow *r, const kn_sqlstats *s)
{
	json_t *a = json_array();
	for (size_t i = 0; i < s->ncols; i++) {
		int c = (int)i;
		json_t *v;
		if (X(st)->null(r, c)) {
			v = json_null();
		} else if (s->kinds[i] == 'i') {
			v = json_integer(X(st)->i(r, c));
		} else {
			size_t len;
			const char *t = X(st)->t(r, c, &len);
			/* a boolean: SQLite's 1 or 0, PostgreSQL's t or f */
			v = s->kinds[i] == 'b' ? json_boolean(t[0] == 't' || t[0] == '1')
					       : json_stringn(t, len);
		}
		if (!v) {
			json_decref(a);
			return NULL;
		}
		json_array_append_new(a, v);
	}
	return a;
}

/* ---- numbering -------------------------------------------------------------- */

int kn_sqlop_next_number(kn_store *st, const kn_type *t, int64_t *n, kn_error *err)
{
	struct one_int x = {st, 0, false};
	kn_sqlarg a = KN_ARG_T(t->name);
	int rc = run(st,
		     "INSERT INTO counters(type, next) VALUES(?, 2) ON CONFLICT(type)"
		     " DO UPDATE SET next = counters.next + 1 RETURNING next - 1",
		     &a, 1, true, read_int, &x, NULL, err);
	if (!rc)
		*n = x.v;
	return rc;
}

/* ---- comments and relations ---------------------------------------------------- */

static const char *const comment_names[] = {"id",   "type",   "rec_id",	    "kind",
					    "body", "author", "created_at", NULL};
static const char *const rel_names[] = {"id",	 "from_type",  "from_id",    "kind", "to_type",
					"to_id", "created_by", "created_at", NULL};
#define REL_COLS "id, from_type, from_id, kind, to_type, to_id, created_by, created_at"

int kn_sqlop_comment_insert(kn_store *st, const json_t *cm, int64_t *id, kn_error *err)
{
	static const char *const spec[] = {"s:type",   "i:rec_id",     "s:kind", "s:body",
					   "s:author", "s:created_at", NULL};
	kn_sqlarg a[6];
	struct one_int x = {st, 0, false};
	int rc = obj_args(cm, spec, a, "comment", err);
	if (!rc)
		rc = run(st,
			 "INSERT INTO comments(type, rec_id, kind, body, author, created_at)"
			 " VALUES(?,?,?,?,?,?) RETURNING id",
			 a, 6, true, read_int, &x, NULL, err);
	if (!rc && id)
		*id = x.v;
	return rc;
}

/* Comments of a record, oldest first; work notes only when asked (any
 * kind other than "comment" counts as private). */
int kn_sqlop_comment_list(kn_store *st, const char *type, int64_t rec_id, bool work_notes,
			  json_t **out, kn_error *err)
{
	static const char *const names[] = {"id", "kind", "body", "author", "created_at", NULL};
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id)};
	return list_objects(st,
			    work_notes
				? "SELECT id, kind, body, author, created_at FROM comments"
				  " WHERE type=? AND rec_id=? ORDER BY id"
				: "SELECT id, kind, body, author, created_at FROM comments"
				  " WHERE type=? AND rec_id=? AND kind='comment' ORDER BY id",
			    a, 2, names, "itttt", out, err);
}

int kn_sqlop_comment_scan(kn_store *st, int (*cb)(void *ctx, const json_t *c), void *ctx,
			  kn_error *err)
{
	return scan_objects(st,
			    "SELECT id, type, rec_id, kind, body, author, created_at FROM comments"
			    " WHERE id > ? ORDER BY id LIMIT 1000",
			    comment_names, "ititttt", cb, ctx, err);
}

/* ---- attachments ---------------------------------------------------------------- */

#define ATTACH_META "id, name, ctype, size, sha256, created_by, created_at"
static const char *const attach_names[] = {"id",     "name",	   "ctype",	 "size",
					   "sha256", "created_by", "created_at", NULL};
#define ATTACH_KINDS "ittittt"

int kn_sqlop_attach_insert(kn_store *st, const json_t *at, const void *data, size_t len,
			   int64_t *id, kn_error *err)
{
	static const char *const spec[] = {"s:type",   "i:rec_id",     "s:name",      "s:ctype",
					   "i:size",   "s:sha256",     "s:created_by", "s:created_at",
					   NULL};
	kn_sqlarg a[9];
	struct one_int x = {st, 0, false};
	int rc = obj_args(at, spec, a, "attachment", err);
	if (!rc && (int64_t)len != a[4].i)
		rc = kn_fail(err, KN_EINVAL, "size", "attachment: size is not that of the data");
	if (!rc) {
		a[8] = KN_ARG_B(data ? data : "", len);
		rc = run(st,
			 "INSERT INTO attachments(type, rec_id, name, ctype, size, sha256,"
			 " created_by, created_at, data) VALUES(?,?,?,?,?,?,?,?,?) RETURNING id",
			 a, 9, true, read_int, &x, NULL, err);
	}
	if (!rc && id)
		*id = x.v;
	return rc;
}

int kn_sqlop_attach_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			 kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id)};
	return list_objects(st,
			    "SELECT " ATTACH_META " FROM attachments WHERE type=? AND rec_id=?"
			    " ORDER BY id",
			    a, 2, attach_names, ATTACH_KINDS, out, err);
}

struct attach_ctx {
	const kn_store *st;
	json_t *meta;
	kn_buf *data;
	kn_error *err;
};

static int attach_row(void *p, const kn_sqlrow *r)
{
	struct attach_ctx *x = p;
	x->meta = row_object(x->st, r, attach_names, ATTACH_KINDS);
	int rc = X(x->st)->blob(r, 7, x->data);
	if (rc)
		return kn_fail(x->err, rc, "", "attachment %lld: its bytes cannot be read",
			       (long long)X(x->st)->i(r, 0));
	return 0;
}

int kn_sqlop_attach_get(kn_store *st, const char *type, int64_t rec_id, int64_t id,
			json_t **meta, kn_buf *data, kn_error *err)
{
	struct attach_ctx x = {st, NULL, data, err};
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id), KN_ARG_I(id)};
	int rc = run(st,
		     "SELECT " ATTACH_META ", data FROM attachments WHERE type=? AND rec_id=?"
		     " AND id=?",
		     a, 3, false, attach_row, &x, NULL, err);
	if (!rc && !x.meta)
		rc = kn_fail(err, KN_ENOTFOUND, "", "attachment %lld not found", (long long)id);
	if (rc) {
		json_decref(x.meta);
		x.meta = NULL;
	}
	*meta = x.meta;
	return rc;
}

int kn_sqlop_rel_insert(kn_store *st, const json_t *rel, int64_t *id, kn_error *err)
{
	static const char *const spec[] = {"s:from_type",  "i:from_id", "s:kind",
					   "s:to_type",	   "i:to_id",	"s:created_by",
					   "s:created_at", NULL};
	kn_sqlarg a[7];
	struct one_int x = {st, 0, false};
	int rc = obj_args(rel, spec, a, "relation", err);
	if (!rc)
		rc = run(st,
			 "INSERT INTO relations(from_type, from_id, kind, to_type, to_id,"
			 " created_by, created_at) VALUES(?,?,?,?,?,?,?) RETURNING id",
			 a, 7, true, read_int, &x, NULL, err);
	if (rc == KN_ECONFLICT)
		return kn_fail(err, KN_ECONFLICT, "", "this relation already exists");
	if (!rc && id)
		*id = x.v;
	return rc;
}

int kn_sqlop_rel_delete(kn_store *st, int64_t id, kn_error *err)
{
	int64_t n = 0;
	kn_sqlarg a = KN_ARG_I(id);
	int rc = run(st, "DELETE FROM relations WHERE id=?", &a, 1, true, NULL, NULL, &n, err);
	if (!rc && !n)
		rc = kn_fail(err, KN_ENOTFOUND, "", "relation %lld not found", (long long)id);
	return rc;
}

int kn_sqlop_rel_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
		      kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id), KN_ARG_T(type), KN_ARG_I(rec_id)};
	return list_objects(st,
			    "SELECT " REL_COLS " FROM relations WHERE (from_type=? AND from_id=?)"
			    " OR (to_type=? AND to_id=?) ORDER BY id",
			    a, 4, rel_names, "itittitt", out, err);
}

int kn_sqlop_rel_scan(kn_store *st, int (*cb)(void *ctx, const json_t *r), void *ctx,
		      kn_error *err)
{
	return scan_objects(st,
			    "SELECT " REL_COLS " FROM relations WHERE id > ? ORDER BY id LIMIT 1000",
			    rel_names, "itittitt", cb, ctx, err);
}

/* ---- journal ------------------------------------------------------------------------ */

struct head_ctx {
	const kn_store *st;
	int64_t seq;
	char *hash;
};

static int read_head(void *p, const kn_sqlrow *r)
{
	struct head_ctx *x = p;
	size_t len;
	x->seq = X(x->st)->i(r, 0);
	cpy(x->hash, 65, X(x->st)->t(r, 1, &len));
	return 0;
}

int kn_sqlop_journal_head(kn_store *st, int64_t *seq, char hash[65], kn_error *err)
{
	memset(hash, '0', 64);
	hash[64] = 0;
	struct head_ctx x = {st, 0, hash};
	int rc = run(st, "SELECT seq, hash FROM journal ORDER BY seq DESC LIMIT 1", NULL, 0, false,
		     read_head, &x, NULL, err);
	*seq = x.seq;
	return rc;
}

int kn_sqlop_journal_insert(kn_store *st, const kn_jentry *e, kn_error *err)
{
	if (!e->changes)
		return kn_fail(err, KN_EINVAL, "changes", "journal entry without changes");
	kn_sqlarg a[] = {KN_ARG_I(e->seq),    KN_ARG_T(e->at),	    KN_ARG_T(e->actor),
			 KN_ARG_T(e->type),   KN_ARG_I(e->rec_id),  KN_ARG_T(e->action),
			 KN_ARG_T(e->changes), KN_ARG_T(e->reason), KN_ARG_T(e->digest),
			 KN_ARG_T(e->prev),   KN_ARG_T(e->hash)};
	return run(st,
		   "INSERT INTO journal(seq, at, actor, type, rec_id, action, changes, reason,"
		   " digest, prev, hash) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
		   a, 11, true, NULL, NULL, NULL, err);
}

struct jlist_ctx {
	const kn_store *st;
	json_t *arr;
	kn_error *err;
};

static int jlist_row(void *p, const kn_sqlrow *r)
{
	struct jlist_ctx *x = p;
	const kn_sqlexec *q = X(x->st);
	size_t len;
	const char *ch = q->t(r, 4, &len);
	json_t *changes = json_loadb(ch, len, JSON_DECODE_ANY, NULL);
	if (!changes)
		return kn_fail(x->err, KN_ESTORE, "", "journal entry %lld: changes are not JSON",
			       (long long)q->i(r, 0));
	static const char *const names[] = {"seq", "at", "actor", "action", NULL};
	json_t *o = row_object(x->st, r, names, "ittt");
	json_object_set_new_nocheck(o, "changes", changes);
	const char *reason = q->t(r, 5, &len);
	json_object_set_new_nocheck(o, "reason",
				    q->null(r, 5) ? json_null() : json_stringn(reason, len));
	json_array_append_new(x->arr, o);
	return 0;
}

int kn_sqlop_journal_list(kn_store *st, const char *type, int64_t rec_id, json_t **out,
			  kn_error *err)
{
	struct jlist_ctx x = {st, json_array(), err};
	kn_sqlarg a[] = {KN_ARG_T(type), KN_ARG_I(rec_id)};
	int rc = run(st,
		     "SELECT seq, at, actor, action, changes, reason FROM journal"
		     " WHERE type=? AND rec_id=? ORDER BY seq",
		     a, 2, false, jlist_row, &x, NULL, err);
	if (rc)
		json_decref(x.arr);
	else
		*out = x.arr;
	return rc;
}

struct jscan_ctx {
	const kn_store *st;
	int (*cb)(void *ctx, const kn_jentry *e);
	void *ctx;
	int64_t last;
	int n;
};

static int jscan_row(void *p, const kn_sqlrow *r)
{
	struct jscan_ctx *x = p;
	const kn_sqlexec *q = X(x->st);
	size_t len;
	kn_jentry e;
	e.seq = q->i(r, 0);
	cpy(e.at, sizeof e.at, q->t(r, 1, &len));
	cpy(e.actor, sizeof e.actor, q->t(r, 2, &len));
	cpy(e.type, sizeof e.type, q->t(r, 3, &len));
	e.rec_id = q->i(r, 4);
	cpy(e.action, sizeof e.action, q->t(r, 5, &len));
	e.changes = (char *)q->t(r, 6, &len);
	e.reason = q->null(r, 7) ? NULL : (char *)q->t(r, 7, &len);
	cpy(e.digest, sizeof e.digest, q->t(r, 8, &len));
	cpy(e.prev, sizeof e.prev, q->t(r, 9, &len));
	cpy(e.hash, sizeof e.hash, q->t(r, 10, &len));
	x->last = e.seq;
	x->n++;
	return x->cb(x->ctx, &e);
}

int kn_sqlop_journal_scan(kn_store *st, int (*cb)(void *ctx, const kn_jentry *e), void *ctx,
			  kn_error *err)
{
	struct jscan_ctx x = {st, cb, ctx, -1, 0};
	return scan_pages(st,
			  "SELECT seq, at, actor, type, rec_id, action, changes, reason,"
			  " digest, prev, hash FROM journal WHERE seq > ? ORDER BY seq LIMIT 1000",
			  jscan_row, &x, &x.last, &x.n, "journal", err);
}

/* ---- users, tokens, sessions ------------------------------------------------------ */

#define USER_COLS "u.id, u.name, u.role, u.org, u.pwhash, u.failures, u.locked_until, u.disabled"

struct user_ctx {
	const kn_store *st;
	kn_user *u;
	char *csrf; /* column 8, when not NULL */
	bool found;
};

static int user_row(void *p, const kn_sqlrow *r)
{
	struct user_ctx *x = p;
	const kn_sqlexec *q = X(x->st);
	kn_user *u = x->u;
	size_t len;
	memset(u, 0, sizeof *u);
	u->id = q->i(r, 0);
	cpy(u->name, sizeof u->name, q->t(r, 1, &len));
	u->role = kn_role_parse(q->t(r, 2, &len));
	cpy(u->org, sizeof u->org, q->t(r, 3, &len));
	cpy(u->pwhash, sizeof u->pwhash, q->t(r, 4, &len));
	u->failures = (int)q->i(r, 5);
	u->locked_until = q->i(r, 6);
	u->disabled = q->i(r, 7) != 0;
	if (x->csrf)
		cpy(x->csrf, 64, q->t(r, 8, &len));
	x->found = true;
	return 0;
}

/* A single-row user query; KN_ENOTFOUND with detail `what` when no row. */
static int user_query(kn_store *st, const char *sql, const kn_sqlarg *a, size_t n, kn_user *out,
		      char *csrf, const char *what, kn_error *err)
{
	struct user_ctx x = {st, out, csrf, false};
	int rc = run(st, sql, a, n, false, user_row, &x, NULL, err);
	if (!rc && !x.found)
		rc = kn_fail(err, KN_ENOTFOUND, "", "%s", what);
	return rc;
}

int kn_sqlop_user_insert(kn_store *st, kn_user *u, kn_error *err)
{
	char names[256];
	kn_role_names(u->role, names, sizeof names);
	const char *role = names;
	if (!kn_role_user_ok(u->role))
		return kn_fail(err, KN_EINVAL, "role", "unknown role %d", u->role);
	if (!u->name[0])
		return kn_fail(err, KN_EINVAL, "name", "user name is empty");
	kn_sqlarg a[] = {KN_ARG_T(u->name),	    KN_ARG_T(role),
			 KN_ARG_T(u->org[0] ? u->org : NULL),
			 KN_ARG_T(u->pwhash[0] ? u->pwhash : NULL),
			 KN_ARG_I(u->failures),	    KN_ARG_I(u->locked_until),
			 KN_ARG_I(u->disabled)};
	struct one_int x = {st, 0, false};
	int rc = run(st,
		     "INSERT INTO users(name, role, org, pwhash, failures, locked_until, disabled)"
		     " VALUES(?,?,?,?,?,?,?) RETURNING id",
		     a, 7, true, read_int, &x, NULL, err);
	if (rc == KN_ECONFLICT)
		return kn_fail(err, KN_ECONFLICT, "name", "user %s already exists", u->name);
	if (!rc)
		u->id = x.v;
	return rc;
}

int kn_sqlop_user_get(kn_store *st, const char *name, int64_t id, kn_user *out, kn_error *err)
{
	kn_sqlarg a = name ? KN_ARG_T(name) : KN_ARG_I(id);
	return user_query(st,
			  name ? "SELECT " USER_COLS " FROM users u WHERE u.name=?"
			       : "SELECT " USER_COLS " FROM users u WHERE u.id=?",
			  &a, 1, out, NULL, "no such user", err);
}

int kn_sqlop_user_set_login(kn_store *st, int64_t uid, int failures, int64_t locked_until,
			    kn_error *err)
{
	int64_t n = 0;
	kn_sqlarg a[] = {KN_ARG_I(failures), KN_ARG_I(locked_until), KN_ARG_I(uid)};
	int rc = run(st, "UPDATE users SET failures=?, locked_until=? WHERE id=?", a, 3, true,
		     NULL, NULL, &n, err);
	if (!rc && !n)
		rc = kn_fail(err, KN_ENOTFOUND, "", "no such user");
	return rc;
}

int kn_sqlop_token_insert(kn_store *st, int64_t uid, const char *hash, const char *label,
			  const char *created_at, kn_error *err)
{
	if (!hash || !created_at)
		return kn_fail(err, KN_EINVAL, "", "token without hash or date");
	kn_sqlarg a[] = {KN_ARG_I(uid), KN_ARG_T(hash), KN_ARG_T(label && *label ? label : NULL),
			 KN_ARG_T(created_at)};
	int rc = run(st, "INSERT INTO tokens(user_id, hash, label, created_at) VALUES(?,?,?,?)", a,
		     4, true, NULL, NULL, NULL, err);
	if (rc == KN_ENOTFOUND)
		rc = kn_fail(err, KN_ENOTFOUND, "", "no such user");
	return rc;
}

int kn_sqlop_token_lookup(kn_store *st, const char *hash, kn_user *out, kn_error *err)
{
	kn_sqlarg a = KN_ARG_T(hash ? hash : "");
	return user_query(st,
			  "SELECT " USER_COLS " FROM tokens t JOIN users u ON u.id = t.user_id"
			  " WHERE t.hash=?",
			  &a, 1, out, NULL, "no such token", err);
}

int kn_sqlop_session_insert(kn_store *st, const char *hash, int64_t uid, const char *csrf,
			    int64_t expires, kn_error *err)
{
	if (!hash || !csrf)
		return kn_fail(err, KN_EINVAL, "", "session without hash or csrf");
	kn_sqlarg a[] = {KN_ARG_T(hash), KN_ARG_I(uid), KN_ARG_T(csrf), KN_ARG_I(expires)};
	int rc = run(st, "INSERT INTO sessions(hash, user_id, csrf, expires) VALUES(?,?,?,?)", a, 4,
		     true, NULL, NULL, NULL, err);
	if (rc == KN_ENOTFOUND)
		rc = kn_fail(err, KN_ENOTFOUND, "", "no such user");
	return rc;
}

int kn_sqlop_session_lookup(kn_store *st, const char *hash, int64_t now, kn_user *out,
			    char csrf[64], kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(hash ? hash : ""), KN_ARG_I(now)};
	return user_query(st,
			  "SELECT " USER_COLS ", s.csrf FROM sessions s"
			  " JOIN users u ON u.id = s.user_id WHERE s.hash=? AND s.expires>?",
			  a, 2, out, csrf, "no such session", err);
}

/* Deleting a session that does not exist is not an error (logout twice). */
int kn_sqlop_session_delete(kn_store *st, const char *hash, kn_error *err)
{
	kn_sqlarg a = KN_ARG_T(hash ? hash : "");
	return run(st, "DELETE FROM sessions WHERE hash=?", &a, 1, true, NULL, NULL, NULL, err);
}

int kn_sqlop_session_purge(kn_store *st, int64_t now, int64_t *n, kn_error *err)
{
	kn_sqlarg a = KN_ARG_I(now);
	return run(st, "DELETE FROM sessions WHERE expires<=?", &a, 1, true, NULL, NULL, n, err);
}

/* ---- jobs ----------------------------------------------------------------------------- */

int kn_sqlop_job_ensure(kn_store *st, const char *name, int64_t due_at, kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(name), KN_ARG_I(due_at)};
	return run(st, "INSERT INTO jobs(name, due_at) VALUES(?,?) ON CONFLICT(name) DO NOTHING", a,
		   2, true, NULL, NULL, NULL, err);
}

int kn_sqlop_job_claim(kn_store *st, const char *name, int64_t now, int64_t lease_until,
		       const char *owner, int64_t *due_at, kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(owner), KN_ARG_I(lease_until), KN_ARG_T(name), KN_ARG_I(now),
			 KN_ARG_I(now)};
	struct one_int x = {st, 0, false};
	int rc = run(st,
		     "UPDATE jobs SET owner=?, lease_until=?, attempts=attempts+1"
		     " WHERE name=? AND due_at<=? AND lease_until<=? RETURNING due_at",
		     a, 5, true, read_int, &x, NULL, err);
	if (!rc && !x.found)
		rc = kn_fail(err, KN_ENOTFOUND, "", "job %s is not due", name);
	if (!rc)
		*due_at = x.v;
	return rc;
}

int kn_sqlop_job_finish(kn_store *st, const char *name, const char *owner, int64_t next_due,
			int64_t lease_until, const char *at, const char *error, kn_error *err)
{
	int64_t n = 0;
	kn_sqlarg a[] = {KN_ARG_I(next_due), KN_ARG_I(next_due), KN_ARG_I(lease_until),
			 KN_ARG_I(lease_until), KN_ARG_T(error), KN_ARG_T(at),
			 KN_ARG_T(error ? error : ""), KN_ARG_T(name), KN_ARG_T(owner)};
	int rc = run(st,
		     "UPDATE jobs SET due_at=CASE WHEN CAST(? AS BIGINT)<0 THEN due_at"
		     " ELSE CAST(? AS BIGINT) END, lease_until=?,"
		     " owner=CASE WHEN CAST(? AS BIGINT)=0 THEN '' ELSE owner END,"
		     " runs=runs+CASE WHEN CAST(? AS TEXT) IS NULL THEN 1 ELSE 0 END,"
		     " last_at=?, last_error=? WHERE name=? AND owner=?",
		     a, 9, true, NULL, NULL, &n, err);
	if (!rc && !n)
		rc = kn_fail(err, KN_ECONFLICT, "", "job %s is no longer held by %s", name, owner);
	return rc;
}

struct jobs_ctx {
	const kn_store *st;
	kn_job *jobs;
	size_t n, cap;
};

static int job_row(void *p, const kn_sqlrow *r)
{
	struct jobs_ctx *x = p;
	const kn_sqlexec *q = X(x->st);
	if (x->n == x->cap)
		x->jobs = kn_xrealloc(x->jobs, (x->cap = x->cap ? x->cap * 2 : 8) * sizeof *x->jobs);
	kn_job *j = &x->jobs[x->n++];
	size_t len;
	cpy(j->name, sizeof j->name, q->t(r, 0, &len));
	j->due_at = q->i(r, 1);
	j->lease_until = q->i(r, 2);
	cpy(j->owner, sizeof j->owner, q->t(r, 3, &len));
	j->runs = q->i(r, 4);
	j->attempts = q->i(r, 5);
	cpy(j->last_at, sizeof j->last_at, q->t(r, 6, &len));
	cpy(j->last_error, sizeof j->last_error, q->t(r, 7, &len));
	return 0;
}

int kn_sqlop_job_list(kn_store *st, kn_job **out, size_t *n, kn_error *err)
{
	struct jobs_ctx x = {st, NULL, 0, 0};
	int rc = run(st,
		     "SELECT name, due_at, lease_until, owner, runs, attempts, last_at, last_error"
		     " FROM jobs ORDER BY name",
		     NULL, 0, false, job_row, &x, NULL, err);
	if (rc) {
		free(x.jobs);
		x.jobs = NULL, x.n = 0;
	}
	*out = x.jobs;
	*n = x.n;
	return rc;
}

/* ---- copies ----------------------------------------------------------------------------- */

int kn_sqlop_table_scan(kn_store *st, const kn_systable *t,
			int (*cb)(void *ctx, const json_t *row), void *ctx, kn_error *err)
{
	/* rows with bytes (attachments) in small pages: a page is held whole */
	int page = strchr(t->kinds, 'b') ? 16 : SCAN_PAGE;
	char *sql = kn_sql_systable_select(t, t->int_key ? page : 0);
	int rc;
	if (t->int_key) {
		rc = scan_objects_paged(st, sql, page, t->cols, t->kinds, cb, ctx, err);
	} else {
		struct obj_ctx x = {st, t->cols, t->kinds, NULL, cb, ctx, -1, 0};
		rc = run(st, sql, NULL, 0, false, obj_row, &x, NULL, err);
	}
	free(sql);
	return rc;
}

int kn_sqlop_table_insert(kn_store *st, const kn_systable *t, const json_t *row, kn_error *err)
{
	kn_sqlarg a[16];
	unsigned char *bytes[16] = {0};
	size_t n = 0;
	int rc = 0;
	for (; t->cols[n] && n < 16; n++) {
		const json_t *v = json_object_get(row, t->cols[n]);
		if (t->kinds[n] == 'b' && json_is_string(v)) { /* base64url of the bytes */
			size_t len = 0;
			bytes[n] = kn_b64url_decode(json_string_value(v), &len);
			if (!bytes[n]) {
				rc = kn_fail(err, KN_EINVAL, t->cols[n], "%s: %s is not base64url",
					     t->name, t->cols[n]);
				break;
			}
			a[n] = KN_ARG_B(bytes[n], len);
			continue;
		}
		if (json_is_integer(v))
			a[n] = KN_ARG_I(json_integer_value(v));
		else if (json_is_string(v))
			a[n] = KN_ARG_T(json_string_value(v));
		else if (!v || json_is_null(v))
			a[n] = KN_ARG_T(NULL);
		else
			rc = kn_fail(err, KN_EINVAL, t->cols[n], "%s: %s is neither a number nor"
				     " a text", t->name, t->cols[n]);
		if (!rc && a[n].kind != 'n' && (a[n].kind == 'i') != (t->kinds[n] == 'i'))
			rc = kn_fail(err, KN_EINVAL, t->cols[n], "%s: %s has the wrong type",
				     t->name, t->cols[n]);
		if (rc)
			break;
	}
	if (!rc) {
		char *sql = kn_sql_systable_insert(t);
		rc = run(st, sql, a, n, true, NULL, NULL, NULL, err);
		free(sql);
	}
	for (size_t i = 0; i < n && i < 16; i++)
		free(bytes[i]);
	return rc;
}

/* ---- ranked search ----------------------------------------------------------------------- */

struct rank_ctx {
	const kn_store *st;
	int64_t *ids, *scores;
	size_t n, cap;
};

static int rank_row(void *p, const kn_sqlrow *r)
{
	struct rank_ctx *x = p;
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 32;
		x->ids = kn_xrealloc(x->ids, x->cap * sizeof *x->ids);
		x->scores = kn_xrealloc(x->scores, x->cap * sizeof *x->scores);
	}
	x->ids[x->n] = X(x->st)->i(r, 0);
	x->scores[x->n++] = X(x->st)->i(r, 1);
	return 0;
}

int kn_sqlop_search_rank(kn_store *st, const char *type, const kn_sterm *terms, size_t nterms,
			 int limit, int64_t **ids, int64_t **scores, size_t *n, kn_error *err)
{
	*ids = *scores = NULL;
	*n = 0;
	if (!nterms)
		return 0;
	if (nterms > KN_TERMS_CAP)
		nterms = KN_TERMS_CAP;
	const char *params[3 * KN_TERMS_CAP];
	char hi[KN_TERMS_CAP][KN_TOK_MAX + 4];
	kn_sqlarg a[3 * KN_TERMS_CAP];
	size_t np = 0;
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_sql_search_rank(type, terms, nterms, limit, &b, params, &np, hi);
	for (size_t i = 0; i < np; i++)
		a[i] = KN_ARG_T(params[i]);
	struct rank_ctx x = {st, NULL, NULL, 0, 0};
	int rc = run(st, b.data, a, np, false, rank_row, &x, NULL, err);
	kn_buf_release(&b);
	if (rc) {
		free(x.ids);
		free(x.scores);
		return rc;
	}
	*ids = x.ids;
	*scores = x.scores;
	*n = x.n;
	return 0;
}

/* ---- meta ---------------------------------------------------------------------------------- */

struct text_ctx {
	const kn_store *st;
	char *v;
};

static int read_text(void *p, const kn_sqlrow *r)
{
	struct text_ctx *x = p;
	size_t len;
	const char *t = X(x->st)->t(r, 0, &len);
	free(x->v);
	x->v = kn_xstrndup(t, len);
	return 0;
}

int kn_sqlop_meta_get(kn_store *st, const char *key, char **val, kn_error *err)
{
	struct text_ctx x = {st, NULL};
	kn_sqlarg a = KN_ARG_T(key);
	int rc = run(st, "SELECT value FROM meta WHERE key=?", &a, 1, false, read_text, &x, NULL,
		     err);
	if (rc) {
		free(x.v);
		x.v = NULL;
	}
	*val = x.v;
	return rc;
}

int kn_sqlop_meta_set(kn_store *st, const char *key, const char *val, kn_error *err)
{
	kn_sqlarg a[] = {KN_ARG_T(key ? key : ""), KN_ARG_T(val ? val : "")};
	return run(st,
		   "INSERT INTO meta(key, value) VALUES(?, ?)"
		   " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
		   a, 2, true, NULL, NULL, NULL, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * people.c - a user's own preferences (language, time zone), kept in their
 * person record, which any user may read and set for themselves through
 * /api/v1/session/preferences even when their role may not edit people.
 */
#include "kanri.h"

#include <sys/stat.h>

#include "proc/people.h"

#define OPS(e) ((e)->store->ops)
#define ST(e) ((e)->store)
#define DEFAULT_ZONE "Asia/Tokyo"

static const char *txt(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s && *s ? s : NULL;
}

/* The person record of user name, or NULL (new reference). */
static json_t *person_of(kn_engine *e, const char *name)
{
	const kn_type *t = kn_schema_type(e->schema, "person");
	json_t *p = NULL;
	kn_error e2 = {0};
	if (t && OPS(e)->rec_get_key(ST(e), t, name, &p, &e2) != 0)
		p = NULL;
	return p;
}

json_t *kn_prefs_of(kn_engine *e, const kn_user *u)
{
	json_t *p = person_of(e, u->name);
	json_t *out = json_pack("{s:O, s:s, s:O}", "language",
				txt(p, "language") ? json_object_get(p, "language") : json_null(),
				"time_zone", txt(p, "time_zone") ? txt(p, "time_zone") : DEFAULT_ZONE,
				"display_name",
				txt(p, "display_name") ? json_object_get(p, "display_name") : json_null());
	json_decref(p);
	return out;
}

/* An IANA zone name the system knows ("Asia/Tokyo", "UTC"). */
static bool zone_ok(const char *z)
{
	if (!z || !*z || strlen(z) > 64 || strstr(z, "..") || z[0] == '/')
		return false;
	for (const char *c = z; *c; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
		      strchr("/_+-", *c)))
			return false;
	char path[128];
	snprintf(path, sizeof path, "/usr/share/zoneinfo/%s", z);
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

struct setp {
	const kn_user *u;
	json_t *fields;
};

static int set_run(kn_engine *e, void *arg, kn_error *err)
{
	struct setp *x = arg;
	const kn_type *t = kn_schema_type(e->schema, "person");
	json_t *p = NULL;
	int rc = OPS(e)->rec_get_key(ST(e), t, x->u->name, &p, err);
	if (rc == KN_ENOTFOUND) {
		memset(err, 0, sizeof *err);
		json_t *body = json_deep_copy(x->fields), *out = NULL;
		json_object_set_new(body, "user", json_string(x->u->name));
		json_object_set_new(body, "reason", json_string("preferences"));
		rc = kn_rec_create_tx(e, NULL, t, body, &out, err);
		json_decref(out);
		json_decref(body);
		return rc;
	}
	if (rc)
		return rc;
	json_t *changes = json_array();
	const char *k;
	json_t *v;
	json_object_foreach(x->fields, k, v)
	{
		json_t *old = json_object_get(p, k);
		if (old && json_equal(old, v))
			continue;
		json_array_append_new(changes, json_pack("{s:s, s:O, s:O}", "field", k, "old",
							 old ? old : json_null(), "new", v));
		json_object_set(p, k, v);
	}
	if (json_array_size(changes))
		rc = kn_rec_save_tx(e, x->u, t, p, "update", changes, "preferences", 0, err);
	json_decref(changes);
	json_decref(p);
	return rc;
}

int kn_prefs_set(kn_engine *e, const kn_user *u, const json_t *body, json_t **out,
		 kn_error *err)
{
	if (!json_is_object(body))
		return kn_fail(err, KN_EINVAL, "", "the body must be a JSON object");
	if (!kn_schema_type(e->schema, "person"))
		return kn_fail(err, KN_ENOTFOUND, "", "this site keeps no people records");
	json_t *fields = json_object();
	const char *k;
	json_t *v;
	int rc = 0;
	json_object_foreach((json_t *)body, k, v)
	{
		const char *s = json_string_value(v);
		if (strcmp(k, "language") == 0) {
			if (!json_is_null(v) && (!s || (strcmp(s, "ja") && strcmp(s, "en"))))
				rc = kn_fail(err, KN_EVALID, k, "language is ja or en");
		} else if (strcmp(k, "time_zone") == 0) {
			if (!zone_ok(s))
				rc = kn_fail(err, KN_EVALID, k,
					     "time_zone must be a zone such as Asia/Tokyo or UTC");
		} else if (strcmp(k, "display_name") == 0) {
			if (!json_is_null(v) && (!s || kn_utf8_len(s) > 200 || strpbrk(s, "\r\n")))
				rc = kn_fail(err, KN_EVALID, k,
					     "display_name is one line of at most 200 characters");
		} else {
			rc = kn_fail(err, KN_EVALID, k, "no preference '%s' (language, time_zone, "
				     "display_name)", k);
		}
		if (rc)
			break;
		json_object_set(fields, k, v);
	}
	struct setp x = {u, fields};
	if (!rc && json_object_size(fields))
		rc = kn_engine_write(e, set_run, &x, err);
	json_decref(fields);
	if (!rc)
		*out = kn_prefs_of(e, u);
	return rc;
}

/* ---- the user directory ------------------------------------------------------ */

struct find {
	const char *q;
	size_t nq;
	int limit;
	json_t *items;
};

/* Case-insensitive (ASCII) substring test. */
static bool has(const char *s, const char *q, size_t nq)
{
	if (!nq)
		return true;
	for (; s && *s; s++)
		if (strncasecmp(s, q, nq) == 0)
			return true;
	return false;
}

static int find_row(void *ctx, const json_t *row)
{
	struct find *f = ctx;
	const char *name = json_string_value(json_object_get(row, "name"));
	if (!name || json_integer_value(json_object_get(row, "disabled")) ||
	    (int)json_array_size(f->items) >= f->limit || !has(name, f->q, f->nq))
		return 0;
	int role = kn_role_parse(json_string_value(json_object_get(row, "role")));
	json_t *org = json_object_get(row, "org");
	json_array_append_new(f->items, json_pack("{s:s, s:s, s:o, s:O}", "name", name, "role",
						  kn_role_name(role & KN_ROLE_BASE), "roles",
						  kn_role_list(role), "org", org ? org : json_null()));
	return 0;
}

int kn_users_find(kn_engine *e, const kn_user *u, const char *q, int limit, json_t **out,
		  kn_error *err)
{
	if (u && !(u->role & (KN_ROLE_ADMIN | KN_ROLE_AGENT | KN_ROLE_AUDITOR)))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not list users");
	if (limit < 1 || limit > 100)
		return kn_fail(err, KN_EINVAL, "limit", "limit must be 1 to 100");
	if (q && !kn_utf8_valid(q, strlen(q)))
		return kn_fail(err, KN_EINVAL, "q", "q is not UTF-8");
	struct find f = {q ? q : "", q ? strlen(q) : 0, limit, json_array()};
	const kn_systable *users = NULL;
	for (size_t i = 0; i < kn_nsystables; i++)
		if (strcmp(kn_systables[i].name, "users") == 0)
			users = &kn_systables[i];
	int rc = OPS(e)->begin(ST(e), false, err);
	if (!rc) {
		rc = OPS(e)->table_scan(ST(e), users, find_row, &f, err);
		if (rc)
			OPS(e)->rollback(ST(e));
		else
			rc = OPS(e)->commit(ST(e), err);
	}
	/* the name people know them by, from their person record */
	size_t i;
	json_t *it;
	json_array_foreach(f.items, i, it)
	{
		json_t *p = rc ? NULL : person_of(e, json_string_value(json_object_get(it, "name")));
		json_object_set(it, "display_name",
				txt(p, "display_name") ? json_object_get(p, "display_name") : json_null());
		json_decref(p);
	}
	if (rc) {
		json_decref(f.items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", f.items);
	return 0;
}

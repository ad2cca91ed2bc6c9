/* SPDX-License-Identifier: Apache-2.0 */
/*
 * api.c - the REST API of docs/api.md: router, authentication and handlers.
 *
 * A request is routed by one table of (method, path pattern, handler,
 * flags); a pattern is a list of segments below /api/v1 where ":type" is a
 * record type's plural name and ":ref", ":id", ":name" capture a segment.
 * Then, in this order: authentication (bearer token, else session cookie),
 * the CSRF check for cookie-authenticated writes, the read-only auditor
 * check, the JSON body (media type, size is checked by server.c, syntax).
 * Handlers call the engine (record.h, auth.h) and turn its JSON or its
 * kn_error into the response; every error is application/problem+json.
 */
#include "kanri.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <strings.h>

#include "core/auth.h"
#include "core/export.h"
#include "core/jobs.h"
#include "core/stats.h"
#include "core/suggest.h"
#include "http/api.h"
#include "proc/desk.h"
#include "proc/knowledge.h"
#include "proc/people.h"
#include "proc/problem.h"
#include "proc/sla.h"

#define API_PREFIX "/api/v1/"
#define MAX_SEGS 8
#define NROLES 4

#define CT_JSON "application/json; charset=utf-8"
#define CT_PROBLEM "application/problem+json"

struct kn_api {
	kn_engine *e;
	bool secure_cookies;
	/* Pre-rendered documents (the schema never changes while serving).
	 * Metadata is per role: fields hidden from a role are left out. */
	char *openapi;
	size_t openapi_len;
	char *types[NROLES];
	size_t types_len[NROLES];
	char **type[NROLES];
	size_t *type_len[NROLES];
};

/* Route flags. */
enum {
	R_PUBLIC = 1,  /* no credentials needed */
	R_BODY = 2,    /* takes a JSON object body */
	R_NOCSRF = 4,  /* a write that needs no CSRF header (login) */
	R_ANYROLE = 8, /* a write the read-only auditor may do (logout) */
	R_RAW = 16,    /* takes a body of any content type, as it is (attachments) */
};

typedef struct ctx {
	kn_api *a;
	const kn_http_req *rq;
	kn_http_resp *rs;
	kn_user user;
	bool by_cookie;
	const char *sid;
	char csrf[64];
	const kn_type *t;
	const char *ref, *id, *name;
	json_t *body;
} ctx;

typedef void (*handler_fn)(ctx *c);

typedef struct route {
	const char *method;
	const char *pattern;
	handler_fn fn;
	int flags;
} route;

/* ---- responses ---------------------------------------------------------- */

void kn_http_header(kn_http_resp *rs, const char *name, const char *value)
{
	if (rs->nhdrs == KN_HTTP_MAX_HEADERS)
		return;
	rs->hdrs[rs->nhdrs].name = name;
	rs->hdrs[rs->nhdrs].value = kn_xstrdup(value);
	rs->nhdrs++;
}

static void resp_clear_body(kn_http_resp *rs)
{
	if (!rs->borrowed)
		free(rs->body);
	rs->body = NULL;
	rs->len = 0;
	rs->borrowed = false;
	rs->type = NULL;
}

void kn_http_resp_release(kn_http_resp *rs)
{
	resp_clear_body(rs);
	for (size_t i = 0; i < rs->nhdrs; i++)
		free(rs->hdrs[i].value);
	rs->nhdrs = 0;
}

/* Take j (stolen) as the body with status. */
static void resp_json(kn_http_resp *rs, int status, json_t *j, const char *type)
{
	resp_clear_body(rs);
	rs->status = status;
	if (!j)
		return;
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_json_write(&b, j);
	json_decref(j);
	rs->body = b.data;
	rs->len = b.len;
	rs->type = type;
}

void kn_http_problem(kn_http_resp *rs, int code, const char *field, const char *detail)
{
	kn_http_resp_release(rs);
	if (code >= 0 || code <= -KN_ERR_COUNT)
		code = KN_EINTERNAL;
	char type[96];
	snprintf(type, sizeof type, "urn:kanri:problem:%s", kn_err_name(code));
	json_t *p = json_pack("{s:s, s:s, s:i}", "type", type, "title", kn_err_title(code),
			      "status", kn_err_status(code));
	json_object_set_new(p, "detail",
			    json_string(detail && *detail ? detail : kn_err_title(code)));
	if (field && *field)
		json_object_set_new(p, "field", json_string(field));
	resp_json(rs, kn_err_status(code), p, CT_PROBLEM);
	if (code == KN_EAUTH)
		kn_http_header(rs, "WWW-Authenticate", "Bearer");
}

/* The problem for an engine error (code as returned, details in err). */
static void fail(ctx *c, int code, const kn_error *err)
{
	if (code >= 0)
		code = err && err->code < 0 ? err->code : KN_EINTERNAL;
	const char *detail = err ? err->detail : NULL;
	if (kn_err_status(code) >= 500 && code != KN_EBUSY) {
		/* Storage and internal details are for the operator's log. */
		fprintf(stderr, "kanri: %s %s: %s\n", c->rq->method, c->rq->path,
			detail && *detail ? detail : kn_err_title(code));
		detail = "the server could not complete the request; see its log";
	}
	kn_http_problem(c->rs, code, err ? err->field : NULL, detail);
	if (code == KN_ETHROTTLE) {
		/* auth.c says "locked for N s": the first integer is the wait. */
		long secs = 1;
		for (const char *p = detail; p && *p; p++) {
			if (isdigit((unsigned char)*p)) {
				secs = strtol(p, NULL, 10);
				break;
			}
		}
		char v[24];
		snprintf(v, sizeof v, "%ld", secs > 0 ? secs : 1);
		kn_http_header(c->rs, "Retry-After", v);
	} else if (code == KN_EBUSY) {
		kn_http_header(c->rs, "Retry-After", "1");
	}
}

static void failf(ctx *c, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void failf(ctx *c, int code, const char *field, const char *fmt, ...)
{
	char d[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d, sizeof d, fmt, ap);
	va_end(ap);
	kn_http_problem(c->rs, code, field, d);
}

static void reply(ctx *c, int status, json_t *j) { resp_json(c->rs, status, j, CT_JSON); }

static void reply_doc(ctx *c, char *doc, size_t len)
{
	resp_clear_body(c->rs);
	c->rs->status = 200;
	c->rs->body = doc;
	c->rs->len = len;
	c->rs->borrowed = true;
	c->rs->type = CT_JSON;
}

/* ETag of a record: its version, quoted. */
static void set_etag(ctx *c, const json_t *rec)
{
	json_t *v = json_object_get(rec, "version");
	if (!json_is_integer(v))
		return;
	char tag[32];
	snprintf(tag, sizeof tag, "\"%" JSON_INTEGER_FORMAT "\"", json_integer_value(v));
	kn_http_header(c->rs, "ETag", tag);
}

/* ---- small parsers ------------------------------------------------------ */

static const char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * One entity tag to a version: "3", 3 and W/"3". *end is set after it.
 * Returns -1 when it is not a version.
 */
static int64_t etag_version(const char *s, const char **end)
{
	s = skip_ws(s);
	if (s[0] == 'W' && s[1] == '/')
		s += 2;
	bool quoted = *s == '"';
	if (quoted)
		s++;
	if (!isdigit((unsigned char)*s))
		return -1;
	int64_t v = 0;
	while (isdigit((unsigned char)*s)) {
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (*s++ - '0');
	}
	if (quoted && *s++ != '"')
		return -1;
	*end = skip_ws(s);
	return v;
}

/* If-Match: -1 when absent, -2 when malformed, else the version. */
static int64_t if_match(const kn_http_req *rq)
{
	const char *h = rq->header(rq->ctx, "If-Match");
	if (!h)
		return -1;
	const char *end;
	int64_t v = etag_version(h, &end);
	if (v < 0 || *end)
		return -2;
	return v;
}

/* true when If-None-Match lists the record's current version (or is *). */
static bool if_none_match(const kn_http_req *rq, const json_t *rec)
{
	const char *h = rq->header(rq->ctx, "If-None-Match");
	json_t *jv = json_object_get(rec, "version");
	if (!h || !json_is_integer(jv))
		return false;
	if (strcmp(skip_ws(h), "*") == 0)
		return true;
	const char *p = h;
	while (*p) {
		const char *end;
		int64_t v = etag_version(p, &end);
		if (v >= 0 && v == json_integer_value(jv))
			return true;
		p = strchr(p, ',');
		if (!p)
			break;
		p++;
	}
	return false;
}

/* Case-insensitive prefix test. */
static bool has_prefix_ci(const char *s, const char *prefix)
{
	return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* application/json, optionally with parameters; a charset must be UTF-8. */
static bool is_json_media(const char *ct)
{
	if (!ct)
		return false;
	ct = skip_ws(ct);
	if (!has_prefix_ci(ct, "application/json"))
		return false;
	const char *p = skip_ws(ct + strlen("application/json"));
	while (*p == ';') {
		p = skip_ws(p + 1);
		if (has_prefix_ci(p, "charset=")) {
			p += strlen("charset=");
			bool q = *p == '"';
			p += q;
			if (!has_prefix_ci(p, "utf-8") && !has_prefix_ci(p, "utf8"))
				return false;
		}
		p = strchr(p, ';') ? strchr(p, ';') : p + strlen(p);
	}
	return *p == 0;
}

/* Constant-time string equality (CSRF tokens). */
static bool secret_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char d = la != lb;
	for (size_t i = 0; i < la && i < lb; i++)
		d |= (unsigned char)a[i] ^ (unsigned char)b[i];
	return d == 0 && la > 0;
}

static json_t *user_json(const kn_user *u)
{
	return json_pack("{s:s, s:s, s:o, s:o}", "name", u->name, "role",
			 kn_role_name(u->role & KN_ROLE_BASE), "roles", kn_role_list(u->role), "org",
			 u->org[0] ? json_string(u->org) : json_null());
}

static int role_index(int role)
{
	switch (role) {
	case KN_ROLE_ADMIN:
		return 0;
	case KN_ROLE_AGENT:
		return 1;
	case KN_ROLE_ENDUSER:
		return 2;
	default:
		return 3; /* auditor, and anything unexpected sees the least */
	}
}

/* ---- handlers: service ---------------------------------------------------- */

static void h_health(ctx *c)
{
	reply(c, 200, json_pack("{s:s, s:s}", "status", "ok", "version", KN_VERSION));
}

static void h_openapi(ctx *c) { reply_doc(c, c->a->openapi, c->a->openapi_len); }

static void h_meta_types(ctx *c)
{
	int r = role_index(c->user.role);
	reply_doc(c, c->a->types[r], c->a->types_len[r]);
}

static void h_meta_type(ctx *c)
{
	const kn_schema *s = c->a->e->schema;
	const kn_type *t = kn_schema_type(s, c->name);
	if (!t)
		t = kn_schema_type_plural(s, c->name);
	if (!t) {
		failf(c, KN_ENOTFOUND, NULL, "no record type '%s'", c->name);
		return;
	}
	int r = role_index(c->user.role);
	size_t i = (size_t)(t - s->types);
	reply_doc(c, c->a->type[r][i], c->a->type_len[r][i]);
}

/* Background jobs and their state, for admins and auditors. */
static void h_jobs(ctx *c)
{
	if (!(c->user.role & (KN_ROLE_ADMIN | KN_ROLE_AUDITOR))) {
		failf(c, KN_EFORBIDDEN, NULL, "only admins and auditors see the jobs");
		return;
	}
	kn_error err = {0};
	json_t *out = NULL;
	int rc = kn_jobs_list(c->a->e, &out, &err);
	if (rc)
		fail(c, rc, &err);
	else
		reply(c, 200, out);
}

/* ---- handlers: session -------------------------------------------------- */

static void set_cookie(ctx *c, const char *sid, long max_age)
{
	char *v = kn_xasprintf("%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%ld%s",
			       KN_SESSION_COOKIE, sid, max_age,
			       c->a->secure_cookies ? "; Secure" : "");
	kn_http_header(c->rs, "Set-Cookie", v);
	free(v);
}

static void h_login(ctx *c)
{
	json_t *jn = json_object_get(c->body, "name");
	json_t *jp = json_object_get(c->body, "password");
	if (!json_is_string(jn) || !json_string_length(jn)) {
		failf(c, KN_EVALID, "name", "name is required");
		return;
	}
	if (!json_is_string(jp) || !json_string_length(jp)) {
		failf(c, KN_EVALID, "password", "password is required");
		return;
	}

	kn_user u = {0};
	char *sid = NULL, *csrf = NULL;
	kn_error err = {0};
	int rc = kn_login(c->a->e, json_string_value(jn), json_string_value(jp), &u, &sid,
			  &csrf, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	reply(c, 200, json_pack("{s:o, s:s}", "user", user_json(&u), "csrf", csrf));
	set_cookie(c, sid, (long)(KN_SESSION_TTL_MS / 1000));
	free(sid);
	free(csrf);
}

static void h_session(ctx *c)
{
	json_t *j = json_pack("{s:o, s:o}", "user", user_json(&c->user), "preferences",
			      kn_prefs_of(c->a->e, &c->user));
	if (c->by_cookie)
		json_object_set_new(j, "csrf", json_string(c->csrf));
	reply(c, 200, j);
}

static void h_logout(ctx *c)
{
	if (c->by_cookie) {
		kn_error err = {0};
		int rc = kn_logout(c->a->e, c->sid, &err);
		if (rc && rc != KN_ENOTFOUND && rc != KN_EAUTH) {
			fail(c, rc, &err);
			return;
		}
	}
	reply(c, 204, NULL);
	set_cookie(c, "", 0);
}

/* ---- handlers: records -------------------------------------------------- */

/* Answer an engine call: the problem for rc, else out with status (and its ETag). */
static void done(ctx *c, int rc, kn_error *err, json_t *out, int status, bool etag)
{
	if (rc) {
		fail(c, rc, err);
		return;
	}
	if (etag)
		set_etag(c, out);
	reply(c, status, out);
}

static void h_list(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_list(c->a->e, &c->user, c->t, c->rq->args, c->rq->nargs, &out, &err);
	done(c, rc, &err, out, 200, false);
}

static void h_search(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_search(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &err);
	done(c, rc, &err, out, 200, false);
}

static void h_create(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_create(c->a->e, &c->user, c->t, c->body, &out, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	const char *num = json_string_value(json_object_get(out, "number"));
	char *loc = num ? kn_xasprintf(API_PREFIX "%s/%s", c->t->plural, num)
			: kn_xasprintf(API_PREFIX "%s/%" JSON_INTEGER_FORMAT, c->t->plural,
				       json_integer_value(json_object_get(out, "id")));
	set_etag(c, out);
	kn_http_header(c->rs, "Location", loc);
	free(loc);
	reply(c, 201, out);
}

static void h_get(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_get(c->a->e, &c->user, c->t, c->ref, &out, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	set_etag(c, out);
	if (if_none_match(c->rq, out)) {
		json_decref(out);
		reply(c, 304, NULL);
		return;
	}
	reply(c, 200, out);
}

static void h_update(ctx *c)
{
	int64_t v = if_match(c->rq);
	if (v == -2) {
		failf(c, KN_EINVAL, NULL, "If-Match must be a record version such as \"3\"");
		return;
	}
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_update(c->a->e, &c->user, c->t, c->ref, v, c->body, &out, &err);
	done(c, rc, &err, out, 200, true);
}

static void h_transition(ctx *c)
{
	int64_t v = if_match(c->rq);
	if (v == -2) {
		failf(c, KN_EINVAL, NULL, "If-Match must be a record version such as \"3\"");
		return;
	}
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_transition(c->a->e, &c->user, c->t, c->ref, v, c->body, &out, &err);
	done(c, rc, &err, out, 200, true);
}

static void h_comment(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_comment(c->a->e, &c->user, c->t, c->ref, c->body, &out, &err);
	done(c, rc, &err, out, 201, false);
}

static void h_comments(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_comments(c->a->e, &c->user, c->t, c->ref, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* ---- handlers: attachments ----------------------------------------------- */

static const char *arg(const ctx *c, const char *key)
{
	for (size_t i = 0; i < c->rq->nargs; i++)
		if (strcmp(c->rq->args[i].key, key) == 0)
			return c->rq->args[i].value ? c->rq->args[i].value : "";
	return NULL;
}

/* POST .../attachments?name=FILE: the raw body is the file. */
static void h_attach(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	const char *ct = c->rq->header(c->rq->ctx, "Content-Type");
	int rc = kn_rec_attach(c->a->e, &c->user, c->t, c->ref, arg(c, "name"), ct,
			       c->rq->body ? c->rq->body : "", c->rq->body ? c->rq->body_len : 0,
			       &out, &err);
	done(c, rc, &err, out, 201, false);
}

static void h_attachments(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_attachments(c->a->e, &c->user, c->t, c->ref, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* RFC 5987 ext-value of a file name: UTF-8''percent-encoded. */
static char *disposition(const char *name)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_adds(&b, "attachment; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		if (isalnum(*p) || strchr("!#$&+-.^_`|~", *p))
			kn_buf_add(&b, p, 1);
		else
			kn_buf_addf(&b, "%%%02X", *p);
	}
	return b.data;
}

/* GET .../attachments/{id}: the file, to be saved, never rendered. */
static void h_attachment(ctx *c)
{
	kn_error err = {0};
	char *end = NULL;
	errno = 0;
	long long id = c->id ? strtoll(c->id, &end, 10) : 0;
	if (!c->id || !*c->id || *end || errno || id <= 0) {
		failf(c, KN_ENOTFOUND, NULL, "attachment %s not found", c->id ? c->id : "");
		return;
	}
	json_t *meta = NULL;
	kn_buf data;
	kn_buf_init(&data, 0);
	int rc = kn_rec_attachment(c->a->e, &c->user, c->t, c->ref, id, &meta, &data, &err);
	if (rc) {
		kn_buf_release(&data);
		fail(c, rc, &err);
		return;
	}
	resp_clear_body(c->rs);
	c->rs->status = 200;
	c->rs->body = data.data;
	c->rs->len = data.len;
	c->rs->type = NULL; /* the stored one, a header of its own */
	const char *ct = json_string_value(json_object_get(meta, "ctype"));
	kn_http_header(c->rs, "Content-Type", ct && *ct ? ct : "application/octet-stream");
	char *cd = disposition(json_string_value(json_object_get(meta, "name")));
	kn_http_header(c->rs, "Content-Disposition", cd);
	free(cd);
	kn_http_header(c->rs, "Content-Security-Policy", "sandbox");
	char tag[80];
	snprintf(tag, sizeof tag, "\"%s\"", json_string_value(json_object_get(meta, "sha256")));
	kn_http_header(c->rs, "ETag", tag);
	json_decref(meta);
}

/* GET .../journal[?action=a,b]: the record's history, or only the entries
 * of those actions (transition, update, escalate...). */
static void h_journal(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_journal(c->a->e, &c->user, c->t, c->ref, &out, &err);
	const char *want = NULL;
	for (size_t i = 0; i < c->rq->nargs; i++)
		if (strcmp(c->rq->args[i].key, "action") == 0)
			want = c->rq->args[i].value ? c->rq->args[i].value : "";
	if (!rc && want) {
		json_t *items = json_object_get(out, "items"), *kept = json_array();
		size_t i;
		json_t *it;
		json_array_foreach(items, i, it)
		{
			const char *a = json_string_value(json_object_get(it, "action"));
			size_t n = a ? strlen(a) : 0;
			for (const char *p = want; n && *p;) {
				size_t l = strcspn(p, ",");
				if (l == n && strncmp(p, a, n) == 0) {
					json_array_append(kept, it);
					break;
				}
				p += l + (p[l] == ',');
			}
		}
		json_object_set_new(out, "items", kept);
	}
	done(c, rc, &err, out, 200, false);
}

static void h_relate(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_relate(c->a->e, &c->user, c->t, c->ref, c->body, &out, &err);
	done(c, rc, &err, out, 201, false);
}

static void h_relations(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_relations(c->a->e, &c->user, c->t, c->ref, &out, &err);
	done(c, rc, &err, out, 200, false);
}

static void h_unrelate(ctx *c)
{
	char *end;
	errno = 0;
	long long id = strtoll(c->id, &end, 10);
	if (!isdigit((unsigned char)c->id[0]) || *end || errno || id <= 0) {
		failf(c, KN_ENOTFOUND, NULL, "no relation '%s'", c->id);
		return;
	}
	kn_error err = {0};
	int rc = kn_rec_unrelate(c->a->e, &c->user, c->t, c->ref, (int64_t)id, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	reply(c, 204, NULL);
}

/* ---- handlers: statistics and reports -------------------------------------- */

#define CT_CSV "text/csv; charset=utf-8"

/* Answer a stats or report call: the problem for rc, else the CSV text
 * (taken over) as a download named file, else the JSON. */
static void reply_table(ctx *c, int rc, kn_error *err, json_t *out, char *csv, size_t len,
			const char *file)
{
	if (rc) {
		fail(c, rc, err);
		return;
	}
	if (!csv) {
		reply(c, 200, out);
		return;
	}
	resp_clear_body(c->rs);
	c->rs->status = 200;
	c->rs->body = csv;
	c->rs->len = len;
	c->rs->type = CT_CSV;
	char *cd = kn_xasprintf("attachment; filename=\"%s.csv\"", file);
	kn_http_header(c->rs, "Content-Disposition", cd);
	free(cd);
}

static void h_stats(ctx *c)
{
	json_t *out = NULL;
	char *csv = NULL;
	size_t len = 0;
	kn_error err = {0};
	int rc = kn_rec_stats(c->a->e, &c->user, c->t, c->rq->args, c->rq->nargs, &out, &csv,
			      &len, &err);
	char file[96];
	snprintf(file, sizeof file, "%s-stats", c->t->plural);
	reply_table(c, rc, &err, out, csv, len, file);
}

static void h_report_desk(ctx *c)
{
	json_t *out = NULL;
	char *csv = NULL;
	size_t len = 0;
	kn_error err = {0};
	int rc = kn_report_desk(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &csv, &len,
				&err);
	reply_table(c, rc, &err, out, csv, len, "desk-report");
}

static void h_report_trends(ctx *c)
{
	json_t *out = NULL;
	char *csv = NULL;
	size_t len = 0;
	kn_error err = {0};
	int rc = kn_report_trends(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &csv,
				  &len, &err);
	reply_table(c, rc, &err, out, csv, len, "incident-trends");
}

/* PUT /session/preferences {"language", "time_zone", "display_name"}. */
static void h_prefs(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_prefs_set(c->a->e, &c->user, c->body, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* GET /users?q=TEXT&limit=N: the user directory (type-ahead). */
static void h_users(ctx *c)
{
	const char *q = NULL, *lim = NULL;
	for (size_t i = 0; i < c->rq->nargs; i++) {
		if (strcmp(c->rq->args[i].key, "q") == 0)
			q = c->rq->args[i].value;
		else if (strcmp(c->rq->args[i].key, "limit") == 0)
			lim = c->rq->args[i].value ? c->rq->args[i].value : "";
	}
	char *end = NULL;
	long n = lim ? strtol(lim, &end, 10) : 20;
	if (lim && (!*lim || *end))
		n = 0;
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_users_find(c->a->e, &c->user, q, (int)n, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* GET /{type}/export?format=csv|xlsx&...: the list view as a file. */
/* A file body (a report or an export) with its name for the download. */
static void reply_file(ctx *c, char *body, size_t len, const char *ctype, const char *file)
{
	resp_clear_body(c->rs);
	c->rs->status = 200;
	c->rs->body = body;
	c->rs->len = len;
	c->rs->type = ctype;
	char *cd = kn_xasprintf("attachment; filename=\"%s\"", file);
	kn_http_header(c->rs, "Content-Disposition", cd);
	free(cd);
}

static void h_export(ctx *c)
{
	char *body = NULL;
	size_t len = 0;
	const char *ctype = NULL;
	kn_error err = {0};
	int rc = kn_rec_export(c->a->e, &c->user, c->t, c->rq->args, c->rq->nargs, &body, &len,
			       &ctype, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	char *file = kn_xasprintf("%s.%s", c->t->plural,
				  strncmp(ctype, "text/csv", 8) ? "xlsx" : "csv");
	reply_file(c, body, len, ctype, file);
	free(file);
}

/* ---- handlers: service level management ----------------------------------- */

static void calendar_calc(ctx *c, bool due)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_calendar_api(c->a->e, &c->user, due, c->rq->args, c->rq->nargs, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* GET /calendar/due?from=&duration=&...: the due instant in business time. */
static void h_calendar_due(ctx *c) { calendar_calc(c, true); }
/* GET /calendar/between?from=&to=&...: the business time between two instants. */
static void h_calendar_between(ctx *c) { calendar_calc(c, false); }

/* GET /reports/sla?sla=&from=&to=[&format=json|csv|xlsx]. */
static void h_report_sla(ctx *c)
{
	json_t *out = NULL;
	char *body = NULL;
	size_t len = 0;
	const char *ctype = NULL;
	kn_error err = {0};
	int rc = kn_report_sla(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &body, &len,
			       &ctype, &err);
	if (rc)
		fail(c, rc, &err);
	else if (!body)
		reply(c, 200, out);
	else
		reply_file(c, body, len, ctype,
			   strncmp(ctype, "text/csv", 8) ? "sla-report.xlsx" : "sla-report.csv");
}

/* GET /slas/{ref}/fit: whether the OLAs and contracts fit inside the SLA. */
static void h_sla_fit(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_sla_fit(c->a->e, &c->user, c->ref, &out, &err);
	done(c, rc, &err, out, 200, false);
}

static void h_report_satisfaction(ctx *c)
{
	json_t *out = NULL;
	char *csv = NULL;
	size_t len = 0;
	kn_error err = {0};
	int rc = kn_report_satisfaction(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &csv,
					&len, &err);
	reply_table(c, rc, &err, out, csv, len, "satisfaction");
}

/* ---- handlers: problems, known errors, knowledge ------------------------- */

/* GET /suggest?text=...: articles and known errors for a text being written. */
static void h_suggest(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_suggest(c->a->e, &c->user, c->rq->args, c->rq->nargs, &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* POST /{type}/{ref}/feedback {"helpful": bool, "ticket": REF}. */
static void h_feedback(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_kb_feedback(c->a->e, &c->user, c->t, c->ref, c->body, &out, &err);
	done(c, rc, &err, out, 200, true);
}

/* POST /problems/{ref}/known-error: the known error record of a problem. */
static void h_known_error(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_problem_known_error(c->a->e, &c->user, c->ref, c->body, &out, &err);
	if (rc) {
		fail(c, rc, &err);
		return;
	}
	const char *num = json_string_value(json_object_get(out, "number"));
	char *loc = kn_xasprintf(API_PREFIX "known_errors/%s", num ? num : "");
	set_etag(c, out);
	kn_http_header(c->rs, "Location", loc);
	free(loc);
	reply(c, 201, out);
}

/* GET /problems/{ref}/effectiveness[?days=N]: incidents before and after the fix. */
static void h_effectiveness(ctx *c)
{
	json_t *out = NULL;
	kn_error err = {0};
	int rc = kn_problem_effectiveness(c->a->e, &c->user, c->ref, c->rq->args, c->rq->nargs,
					  &out, &err);
	done(c, rc, &err, out, 200, false);
}

/* ---- the routing table ---------------------------------------------------- */

/* Literal patterns come before ":type" ones: the first pattern that matches
 * the path decides which routes (methods) apply. */
static const route routes[] = {
	{"GET", "health", h_health, R_PUBLIC},
	{"POST", "session", h_login, R_PUBLIC | R_BODY | R_NOCSRF | R_ANYROLE},
	{"GET", "session", h_session, 0},
	{"DELETE", "session", h_logout, R_ANYROLE},
	{"PUT", "session/preferences", h_prefs, R_BODY | R_ANYROLE},
	{"GET", "meta/types", h_meta_types, 0},
	{"GET", "meta/types/:name", h_meta_type, 0},
	{"GET", "openapi.json", h_openapi, 0},
	{"GET", "admin/jobs", h_jobs, 0},
	{"GET", "search", h_search, 0},
	{"GET", "users", h_users, 0},
	{"GET", "suggest", h_suggest, 0},
	{"POST", "problems/:ref/known-error", h_known_error, R_BODY},
	{"GET", "problems/:ref/effectiveness", h_effectiveness, 0},
	{"GET", "reports/desk", h_report_desk, 0},
	{"GET", "reports/incident-trends", h_report_trends, 0},
	{"GET", "reports/sla", h_report_sla, 0},
	{"GET", "reports/satisfaction", h_report_satisfaction, 0},
	{"GET", "calendar/due", h_calendar_due, 0},
	{"GET", "calendar/between", h_calendar_between, 0},
	{"GET", "slas/:ref/fit", h_sla_fit, 0},
	{"GET", ":type", h_list, 0},
	{"POST", ":type", h_create, R_BODY},
	/* before ":type/:ref", which would take "stats" for a record */
	{"GET", ":type/stats", h_stats, 0},
	{"GET", ":type/export", h_export, 0},
	{"GET", ":type/:ref", h_get, 0},
	{"PATCH", ":type/:ref", h_update, R_BODY},
	{"POST", ":type/:ref/transition", h_transition, R_BODY},
	{"POST", ":type/:ref/feedback", h_feedback, R_BODY},
	{"GET", ":type/:ref/comments", h_comments, 0},
	{"POST", ":type/:ref/comments", h_comment, R_BODY},
	{"GET", ":type/:ref/journal", h_journal, 0},
	{"GET", ":type/:ref/relations", h_relations, 0},
	{"POST", ":type/:ref/relations", h_relate, R_BODY},
	{"DELETE", ":type/:ref/relations/:id", h_unrelate, 0},
	{"GET", ":type/:ref/attachments", h_attachments, 0},
	{"POST", ":type/:ref/attachments", h_attach, R_RAW},
	{"GET", ":type/:ref/attachments/:id", h_attachment, 0},
};
#define NROUTES (sizeof routes / sizeof routes[0])

/*
 * Match pattern against the path segments, capturing into c. A ":type"
 * segment matches only a known plural; *type_miss is set when that was the
 * only reason a pattern failed.
 */
static bool match(ctx *c, const char *pattern, char **seg, size_t nseg, bool *type_miss)
{
	size_t i = 0;
	const char *p = pattern;
	bool missed_type = false;
	while (*p) {
		const char *e = strchr(p, '/');
		size_t pl = e ? (size_t)(e - p) : strlen(p);
		if (i == nseg)
			return false;
		const char *s = seg[i++];
		if (p[0] == ':') {
			if (pl == 5 && !strncmp(p, ":type", 5)) {
				c->t = kn_schema_type_plural(c->a->e->schema, s);
				if (!c->t)
					missed_type = true;
			} else if (pl == 4 && !strncmp(p, ":ref", 4)) {
				c->ref = s;
			} else if (pl == 3 && !strncmp(p, ":id", 3)) {
				c->id = s;
			} else {
				c->name = s;
			}
		} else if (strlen(s) != pl || strncmp(p, s, pl)) {
			return false;
		}
		p += pl + (e ? 1 : 0);
	}
	if (i != nseg)
		return false;
	if (missed_type) {
		*type_miss = true;
		return false;
	}
	return true;
}

static bool is_write(const char *method)
{
	return strcmp(method, "GET") && strcmp(method, "HEAD");
}

/* Bearer token, else session cookie. On failure the response is set. */
static bool authenticate(ctx *c, int flags)
{
	const kn_http_req *rq = c->rq;
	kn_error err = {0};
	const char *authz = rq->header(rq->ctx, "Authorization");
	if (authz) {
		authz = skip_ws(authz);
		if (!has_prefix_ci(authz, "Bearer ")) {
			kn_http_problem(c->rs, KN_EAUTH, NULL,
					"only Bearer authorization is supported");
			return false;
		}
		const char *tok = skip_ws(authz + 7);
		int rc = kn_auth_token(c->a->e, tok, &c->user, &err);
		if (rc) {
			if (kn_err_status(rc) >= 500)
				fail(c, rc, &err);
			else
				kn_http_problem(c->rs, KN_EAUTH, NULL, "invalid or revoked token");
			return false;
		}
		return true;
	}
	const char *sid = rq->cookie(rq->ctx, KN_SESSION_COOKIE);
	if (!sid || !*sid) {
		kn_http_problem(c->rs, KN_EAUTH, NULL,
				"log in (POST /api/v1/session) or send a Bearer token");
		return false;
	}
	int rc = kn_auth_session(c->a->e, sid, &c->user, c->csrf, &err);
	if (rc) {
		if (kn_err_status(rc) >= 500)
			fail(c, rc, &err);
		else
			kn_http_problem(c->rs, KN_EAUTH, NULL, "the session has expired or ended");
		return false;
	}
	c->by_cookie = true;
	c->sid = sid;
	if (is_write(rq->method) && !(flags & R_NOCSRF)) {
		const char *tok = rq->header(rq->ctx, "X-CSRF-Token");
		if (!tok || !secret_eq(tok, c->csrf)) {
			kn_http_problem(c->rs, KN_EFORBIDDEN, NULL,
					"missing or wrong X-CSRF-Token header");
			return false;
		}
	}
	return true;
}

static bool parse_body(ctx *c)
{
	const kn_http_req *rq = c->rq;
	const char *ct = rq->header(rq->ctx, "Content-Type");
	if (!is_json_media(ct)) {
		kn_http_problem(c->rs, KN_EMEDIA, NULL,
				"the request body must be application/json");
		return false;
	}
	json_error_t je;
	c->body = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &je);
	if (!c->body) {
		failf(c, KN_EINVAL, NULL, "malformed JSON at line %d column %d: %s", je.line,
		      je.column, je.text);
		return false;
	}
	if (!json_is_object(c->body)) {
		kn_http_problem(c->rs, KN_EINVAL, NULL, "the request body must be a JSON object");
		return false;
	}
	return true;
}

static void add_allow(kn_http_resp *rs, const char *pattern)
{
	char allow[64] = "";
	size_t n = 0;
	for (size_t i = 0; i < NROUTES; i++) {
		if (strcmp(routes[i].pattern, pattern))
			continue;
		const char *m = routes[i].method;
		n += (size_t)snprintf(allow + n, sizeof allow - n, "%s%s", n ? ", " : "", m);
		if (!strcmp(m, "GET"))
			n += (size_t)snprintf(allow + n, sizeof allow - n, ", HEAD");
		if (n >= sizeof allow)
			break;
	}
	kn_http_header(rs, "Allow", allow);
}

static void dispatch(ctx *c)
{
	const kn_http_req *rq = c->rq;
	if (strncmp(rq->path, API_PREFIX, strlen(API_PREFIX))) {
		failf(c, KN_ENOTFOUND, NULL, "no route for '%s'", rq->path);
		return;
	}

	char *path = kn_xstrdup(rq->path + strlen(API_PREFIX));
	char *seg[MAX_SEGS];
	size_t nseg = 0;
	bool ok = true;
	for (char *p = path;; p++) {
		char *slash = strchr(p, '/');
		if (slash)
			*slash = 0;
		if (!*p || nseg == MAX_SEGS) {
			ok = false;
			break;
		}
		seg[nseg++] = p;
		if (!slash)
			break;
		p = slash;
	}

	const route *chosen = NULL;
	const char *pattern = NULL;
	bool type_miss = false;
	for (size_t i = 0; ok && i < NROUTES; i++) {
		if (pattern && strcmp(routes[i].pattern, pattern))
			continue;
		if (!match(c, routes[i].pattern, seg, nseg, &type_miss))
			continue;
		pattern = routes[i].pattern;
		if (!strcmp(routes[i].method, rq->method)) {
			chosen = &routes[i];
			break;
		}
	}
	/* Only public routes answer without credentials: everything else,
	 * including a 404 or 405, needs them first (nothing is revealed). */
	int flags = chosen ? chosen->flags : 0;
	if (!(flags & R_PUBLIC) && !authenticate(c, flags))
		goto out;
	if (!pattern) {
		if (type_miss)
			failf(c, KN_ENOTFOUND, NULL, "no record type '%s'", seg[0]);
		else
			failf(c, KN_ENOTFOUND, NULL, "no route for '%s'", rq->path);
		goto out;
	}
	if (!chosen) {
		failf(c, KN_EMETHOD, NULL, "%s is not allowed on %s", rq->method, rq->path);
		add_allow(c->rs, pattern);
		goto out;
	}
	/* match() wrote captures for the last pattern tried: redo for the chosen. */
	c->t = NULL;
	c->ref = c->id = c->name = NULL;
	match(c, chosen->pattern, seg, nseg, &type_miss);
	if (!(chosen->flags & (R_PUBLIC | R_ANYROLE)) && is_write(rq->method) &&
	    (c->user.role & KN_ROLE_AUDITOR)) {
		kn_http_problem(c->rs, KN_EFORBIDDEN, NULL, "the auditor role is read-only");
		goto out;
	}
	if ((chosen->flags & R_BODY) && !parse_body(c))
		goto out;
	chosen->fn(c);
out:
	json_decref(c->body);
	c->body = NULL;
	free(path);
}

void kn_http_api_headers(kn_http_resp *rs)
{
	kn_http_header(rs, "X-Content-Type-Options", "nosniff");
	kn_http_header(rs, "Cache-Control", "no-store");
}

void kn_api_handle(kn_api *a, const kn_http_req *rq, kn_http_resp *rs)
{
	if (strncmp(rq->path, "/api/", 5) != 0 && strcmp(rq->path, "/api") != 0) {
		kn_static_serve(rq, rs); /* the web UI */
		return;
	}
	ctx c = {.a = a, .rq = rq, .rs = rs};
	dispatch(&c);
	kn_http_api_headers(rs);
}

/* ---- set-up ------------------------------------------------------------- */

static const int role_bits[NROLES] = {KN_ROLE_ADMIN, KN_ROLE_AGENT, KN_ROLE_ENDUSER,
				      KN_ROLE_AUDITOR};

/* kn_type_meta without the fields hidden from role. */
static json_t *meta_for(const kn_type *t, int role)
{
	json_t *m = kn_type_meta(t);
	json_t *fields = json_object_get(m, "fields");
	for (size_t i = json_array_size(fields); i-- > 0;) {
		const char *name = json_string_value(json_object_get(json_array_get(fields, i),
								     "name"));
		const kn_field *f = name ? kn_type_field(t, name) : NULL;
		if (f && (f->hidden & role))
			json_array_remove(fields, i);
	}
	return m;
}

static char *dump(json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!s)
		abort();
	*len = strlen(s);
	return s;
}

kn_api *kn_api_new(kn_engine *e)
{
	kn_api *a = kn_xcalloc(1, sizeof *a);
	a->e = e;
	a->secure_cookies = json_is_true(json_object_get(e->config, "secure_cookies"));
	a->openapi = dump(kn_openapi(e->schema), &a->openapi_len);
	const kn_schema *s = e->schema;
	for (int r = 0; r < NROLES; r++) {
		json_t *items = json_array();
		a->type[r] = kn_xcalloc(s->ntypes, sizeof(char *));
		a->type_len[r] = kn_xcalloc(s->ntypes, sizeof(size_t));
		for (size_t i = 0; i < s->ntypes; i++) {
			json_t *m = meta_for(&s->types[i], role_bits[r]);
			json_array_append(items, m);
			a->type[r][i] = dump(m, &a->type_len[r][i]);
		}
		a->types[r] = dump(json_pack("{s:o}", "items", items), &a->types_len[r]);
	}
	return a;
}

void kn_api_free(kn_api *a)
{
	if (!a)
		return;
	free(a->openapi);
	for (int r = 0; r < NROLES; r++) {
		for (size_t i = 0; a->type[r] && i < a->e->schema->ntypes; i++)
			free(a->type[r][i]);
		free(a->type[r]);
		free(a->type_len[r]);
		free(a->types[r]);
	}
	free(a);
}

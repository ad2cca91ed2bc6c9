/* SPDX-License-Identifier: Apache-2.0 */
/*
 * knowledge.c - what knowledge management adds to the engine (see
 * knowledge.h): readers' feedback on articles, with the ticket an article
 * resolved, and the date_at verb behind the review reminders.
 */
#include "kanri.h"

#include "proc/knowledge.h"

#define MINUTE_MS 60000LL
#define OPS(e) ((e)->store->ops)
#define ST(e) ((e)->store)

/* ---- date_at ------------------------------------------------------------ */

/* The time of day (ms after midnight) and zone offset (ms) of a date_at
 * field's configuration; KN_EVALID when it is malformed. */
static int date_at_config(const kn_field *f, int64_t *tod_ms, int64_t *off_ms, kn_error *err)
{
	const json_t *cfg = f->config;
	const char *tm = json_string_value(json_object_get(cfg, "time"));
	json_t *off = json_object_get(cfg, "utc_offset_minutes");
	int h = 9, m = 0;
	if (json_object_get(cfg, "time") &&
	    (!tm || strlen(tm) != 5 || sscanf(tm, "%2d:%2d", &h, &m) != 2 || tm[2] != ':' ||
	     h < 0 || h > 23 || m < 0 || m > 59))
		return kn_fail(err, KN_EVALID, f->name, "config.time must look like \"09:00\"");
	if (off && (!json_is_integer(off) || json_integer_value(off) < -840 ||
		    json_integer_value(off) > 840))
		return kn_fail(err, KN_EVALID, f->name,
			       "config.utc_offset_minutes must be a whole number from -840 to 840");
	*tod_ms = ((int64_t)h * 60 + m) * MINUTE_MS;
	*off_ms = (off ? json_integer_value(off) : 540) * MINUTE_MS;
	return 0;
}

static int date_at_check(const kn_field *f, kn_error *err)
{
	int64_t tod, off;
	if (f->kind != KN_DATETIME || f->nargs != 1)
		return kn_fail(err, KN_EVALID, f->name,
			       "date_at makes a datetime field from one date field");
	return date_at_config(f, &tod, &off, err);
}

static json_t *date_at_compute(const kn_field *f, const json_t *rec, kn_error *err)
{
	const char *d = json_string_value(json_object_get(rec, f->args[0]));
	int64_t tod, off, ms;
	if (date_at_config(f, &tod, &off, err))
		return NULL;
	if (!d || strlen(d) < 10 || kn_parse_datetime(d, &ms))
		return json_null(); /* empty (or not a date: the field says so itself) */
	char out[40];
	kn_format_datetime(ms + tod - off, out, sizeof out);
	return json_string(out);
}

/* ---- feedback ----------------------------------------------------------- */

typedef struct feedback {
	const kn_user *u;
	const kn_type *t;
	const char *ref, *ticket;
	char ticket_id[32]; /* a ticket given by id */
	bool helpful;
	json_t *out;
} feedback;

/* Count field name of rec one up, noting the change. */
static void count_one(json_t *rec, const char *name, json_t *changes)
{
	json_t *old = json_object_get(rec, name);
	json_int_t n = json_is_integer(old) ? json_integer_value(old) : 0;
	json_array_append_new(changes, json_pack("{s:s,s:O,s:I}", "field", name, "old",
						 old ? old : json_null(), "new", (json_int_t)(n + 1)));
	json_object_set_new(rec, name, json_integer(n + 1));
}

/* The incident field that names records of type t (kb_article for articles). */
static const kn_field *ticket_field(const kn_type *it, const kn_type *t)
{
	for (size_t i = 0; it && i < it->nfields; i++)
		if (it->fields[i].kind == KN_REF && strcmp(it->fields[i].ref, t->name) == 0)
			return &it->fields[i];
	return NULL;
}

/* Name rec in the ticket when it names no record yet; *linked says whether
 * it did. Inside the write transaction. */
static int link_ticket(kn_engine *e, feedback *x, const json_t *rec, bool *linked,
		       kn_error *err)
{
	const kn_type *it = kn_schema_type(e->schema, "incident");
	const kn_field *lf = ticket_field(it, x->t);
	*linked = false;
	if (!lf)
		return kn_fail(err, KN_EVALID, "ticket", "tickets do not name %s records", x->t->name);
	json_t *seen = NULL, *inc = NULL;
	kn_error e2 = {0};
	int rc = kn_rec_get(e, x->u, it, x->ticket, &seen, &e2);
	json_decref(seen);
	if (rc == KN_ENOTFOUND || rc == KN_EFORBIDDEN)
		return kn_fail(err, KN_EVALID, "ticket", "no incident %.64s that you may read",
			       x->ticket);
	if (rc) {
		*err = e2;
		return rc;
	}
	if ((rc = kn_rec_get(e, NULL, it, x->ticket, &inc, err)))
		return rc;
	const json_t *cur = json_object_get(inc, lf->name);
	const char *key = json_string_value(
		json_object_get(rec, x->t->key_field ? x->t->key_field->name : "number"));
	if (key && (!json_is_string(cur) || !*json_string_value(cur))) {
		json_t *changes = json_pack("[{s:s,s:O,s:s}]", "field", lf->name, "old",
					    cur ? cur : json_null(), "new", key);
		json_object_set_new(inc, lf->name, json_string(key));
		char *reason = kn_xasprintf("feedback on %s", key);
		rc = kn_rec_save_tx(e, x->u, it, inc, "update", changes, reason, 0, err);
		free(reason);
		json_decref(changes);
		*linked = rc == 0;
	}
	json_decref(inc);
	return rc;
}

static int feedback_run(kn_engine *e, void *arg, kn_error *err)
{
	feedback *x = arg;
	json_t *seen = NULL, *rec = NULL;
	/* as a read by u would answer: 403 for the role, 404 for what u may not see */
	int rc = kn_rec_get(e, x->u, x->t, x->ref, &seen, err);
	json_decref(seen);
	if (!rc)
		rc = kn_rec_get(e, NULL, x->t, x->ref, &rec, err);
	json_t *changes = json_array();
	bool linked = false;
	if (!rc) {
		count_one(rec, x->helpful ? "helpful_count" : "unhelpful_count", changes);
		if (x->ticket)
			rc = link_ticket(e, x, rec, &linked, err);
	}
	if (!rc && linked && kn_type_field(x->t, "resolved_count"))
		count_one(rec, "resolved_count", changes);
	if (!rc)
		rc = kn_rec_save_tx(e, x->u, x->t, rec, "feedback", changes, NULL, 0, err);
	json_decref(changes);
	if (rc) {
		json_decref(rec);
		return rc;
	}
	for (size_t i = 0; x->u && i < x->t->nfields; i++)
		if (x->t->fields[i].hidden & x->u->role)
			json_object_del(rec, x->t->fields[i].name);
	x->out = rec;
	return 0;
}

int kn_kb_feedback(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   const json_t *body, json_t **out, kn_error *err)
{
	const kn_field *hc = kn_type_field(t, "helpful_count");
	const kn_field *uc = kn_type_field(t, "unhelpful_count");
	if (!hc || !uc || hc->kind != KN_INTEGER || uc->kind != KN_INTEGER)
		return kn_fail(err, KN_ENOTFOUND, "", "%s records take no feedback", t->name);
	if (u && (u->role & KN_ROLE_AUDITOR))
		return kn_fail(err, KN_EFORBIDDEN, "", "the auditor role is read-only");
	if (!json_is_object(body))
		return kn_fail(err, KN_EINVAL, "", "the body must be a JSON object");
	feedback x = {.u = u, .t = t, .ref = ref};
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "helpful") == 0) {
			if (!json_is_boolean(v))
				return kn_fail(err, KN_EVALID, "helpful", "helpful must be true or false");
			x.helpful = json_is_true(v);
		} else if (strcmp(key, "ticket") == 0) {
			if (json_is_null(v))
				continue;
			if (json_is_integer(v) && json_integer_value(v) > 0) {
				snprintf(x.ticket_id, sizeof x.ticket_id, "%" JSON_INTEGER_FORMAT,
					 json_integer_value(v));
				x.ticket = x.ticket_id;
				continue;
			}
			if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 64)
				return kn_fail(err, KN_EVALID, "ticket",
					       "ticket must name an incident, like INC-000123");
			x.ticket = json_string_value(v);
		} else {
			return kn_fail(err, KN_EVALID, key, "feedback has no field '%.64s' (helpful, ticket)",
				       key);
		}
	}
	if (!json_object_get(body, "helpful"))
		return kn_fail(err, KN_EVALID, "helpful", "helpful is required: true or false");
	int rc = kn_engine_write(e, feedback_run, &x, err);
	if (rc) {
		json_decref(x.out);
		return rc;
	}
	*out = x.out;
	return 0;
}

/* ---- revisions -------------------------------------------------------------
 * A published article stays published while its next revision is written:
 * "revise" copies it into a new draft (previous: this one; next_revision
 * on this one names it), and publishing that draft retires this one. */

static const char *const copied[] = {"title",	 "content",  "article_type", "audience",
				     "service",	 "category", "keywords",     "owner",
				     "known_error", "revision", "valid_until", "review_by", NULL};

static const char *txt(const json_t *rec, const char *name)
{
	const char *v = json_string_value(json_object_get(rec, name));
	return v ? v : "";
}

static int article_revise(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			  int depth, kn_error *err)
{
	const char *next = txt(rec, "next_revision");
	if (*next) {
		json_t *cur = NULL;
		int rc = OPS(e)->rec_get(ST(e), t, 0, next, &cur, err);
		bool open = !rc && strcmp(txt(cur, "state"), "retired") != 0;
		json_decref(cur);
		if (rc)
			return rc;
		if (open)
			return kn_fail(err, KN_EVALID, "next_revision",
				       "%s is already being revised as %s", txt(rec, "number"), next);
	}
	json_t *body = json_object();
	for (size_t i = 0; copied[i]; i++) {
		json_t *v = json_object_get(rec, copied[i]);
		if (v && !json_is_null(v))
			json_object_set(body, copied[i], v);
	}
	json_object_set(body, "previous", json_object_get(rec, "number"));
	json_object_set_new(body, "reason", json_sprintf("revision of %s by %s", txt(rec, "number"),
							 u ? u->name : "system"));
	json_t *draft = NULL;
	int rc = kn_rec_create_tx(e, NULL, t, body, &draft, err);
	json_decref(body);
	if (!rc) {
		json_t *changes = json_pack("[{s:s, s:O, s:O}]", "field", "next_revision", "old",
					    json_object_get(rec, "next_revision"), "new",
					    json_object_get(draft, "number"));
		json_object_set(rec, "next_revision", json_object_get(draft, "number"));
		rc = kn_rec_save_tx(e, u, t, rec, "revise", changes, NULL, depth + 1, err);
		json_decref(changes);
	}
	json_decref(draft);
	return rc;
}

static int article_supersede(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			     int depth, kn_error *err)
{
	const char *prev = txt(rec, "previous");
	if (!*prev)
		return 0;
	json_t *old = NULL;
	int rc = OPS(e)->rec_get(ST(e), t, 0, prev, &old, err);
	if (!rc && !strcmp(txt(old, "state"), "published")) {
		char reason[96];
		snprintf(reason, sizeof reason, "superseded by %s", txt(rec, "number"));
		json_t *none = json_object();
		rc = kn_rec_fire_tx(e, u, t, old, "retire", none, reason, depth + 1, err);
		json_decref(none);
	}
	json_decref(old);
	return rc;
}

void kn_proc_knowledge_register(void)
{
	kn_verb_register("date_at", date_at_compute, date_at_check);
	kn_action_register("article_revise", article_revise);
	kn_action_register("article_supersede", article_supersede);
}

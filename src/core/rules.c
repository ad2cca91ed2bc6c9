/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.c - conditions, automation rules and timers of the declarations
 * (see rules.h and docs/admin.md "Rules").
 */
#include "kanri.h"

#include "core/rules.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)
#define MAX_DEPTH 4

/* ---- conditions ----------------------------------------------------------- */

static bool empty(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v));
}

bool kn_match_value(const kn_match *m, const json_t *v)
{
	const json_t *vals = m->values;
	if (!json_is_array(vals))
		return empty(vals) ? empty(v) : json_equal((json_t *)vals, (json_t *)v);
	size_t i;
	json_t *x;
	json_array_foreach(vals, i, x)
	{
		if (json_is_null(x) ? empty(v) : json_equal(x, (json_t *)v))
			return true;
	}
	return false;
}

bool kn_when_holds(kn_engine *e, const kn_type *t, const kn_when *w, const json_t *rec)
{
	for (size_t i = 0; i < w->n; i++) {
		const kn_match *m = &w->m[i];
		json_t *v = json_object_get(rec, m->attr);
		if (!m->sub) {
			if (!kn_match_value(m, v))
				return false;
			continue;
		}
		/* follow the reference */
		const kn_field *f = kn_type_field(t, m->attr);
		const kn_type *rt = f ? kn_schema_type(e->schema, f->ref) : NULL;
		json_t *target = NULL;
		kn_error e2 = {0};
		if (rt && json_is_string(v))
			OPS(e)->rec_get_key(ST(e), rt, json_string_value(v), &target, &e2);
		bool ok = kn_match_value(m, target ? json_object_get(target, m->sub) : NULL);
		json_decref(target);
		if (!ok)
			return false;
	}
	return true;
}

/* ---- events ----------------------------------------------------------------- */

static bool has_change(const json_t *changes, const json_t *rec, const char *field)
{
	if (!changes) /* a create: every field given is a change */
		return !empty(json_object_get(rec, field));
	size_t i;
	json_t *c;
	json_array_foreach((json_t *)changes, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "field")), field) == 0)
			return true;
	}
	return false;
}

/* Whether rule r answers this event. */
static bool fires_on(const kn_rule *r, int on, const char *trname, const json_t *rec,
		     const json_t *changes)
{
	if (!(r->on & on))
		return false;
	if (on == KN_ON_TRANSITION && r->ntransitions) {
		bool named = false;
		for (size_t i = 0; i < r->ntransitions; i++)
			named |= trname && strcmp(r->transitions[i], trname) == 0;
		if (!named)
			return false;
	}
	if (r->nchanged) {
		bool any = false;
		for (size_t i = 0; i < r->nchanged; i++)
			any |= has_change(changes, rec, r->changed[i]);
		if (!any)
			return false;
	}
	return true;
}

/* The value a rule's set gives: "$now", "$inc" or as written. */
static json_t *set_value(const json_t *v, const json_t *old)
{
	const char *s = json_string_value(v);
	if (s && strcmp(s, "$now") == 0) {
		char now[40];
		kn_format_datetime(kn_now_ms(), now, sizeof now);
		return json_string(now);
	}
	if (s && strcmp(s, "$inc") == 0)
		return json_integer(json_integer_value(old) + 1);
	return json_deep_copy(v);
}

/* Apply r's set to rec, noting each change. */
static void apply_set(const kn_rule *r, json_t *rec, json_t *changes)
{
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)r->set, k, v)
	{
		json_t *old = json_object_get(rec, k), *nv = set_value(v, old);
		if (old && json_equal(old, nv)) {
			json_decref(nv);
			continue;
		}
		if (changes) {
			/* one entry per field: an earlier change keeps its old value */
			size_t i;
			json_t *c;
			bool merged = false;
			json_array_foreach(changes, i, c)
			{
				if (strcmp(json_string_value(json_object_get(c, "field")), k) == 0) {
					json_object_set(c, "new", nv);
					merged = true;
				}
			}
			if (!merged)
				json_array_append_new(changes,
						      json_pack("{s:s,s:O,s:O}", "field", k, "old",
								old ? old : json_null(), "new", nv));
		}
		json_object_set_new(rec, k, nv);
	}
}

int kn_rules_before(kn_engine *e, const kn_type *t, int on, const char *trname, json_t *rec,
		    json_t *changes, kn_error *err)
{
	for (size_t i = 0; i < t->nrules; i++) {
		const kn_rule *r = &t->rules[i];
		if (r->set && fires_on(r, on, trname, rec, changes) &&
		    kn_when_holds(e, t, &r->when, rec))
			apply_set(r, rec, changes);
	}
	return 0;
}

/* ---- notifications ------------------------------------------------------------ */

struct recipients {
	json_t *names; /* object: name -> true, in order */
	int roles;
};

static int add_by_role(void *ctx, const json_t *row)
{
	struct recipients *rc = ctx;
	int role = kn_role_parse(json_string_value(json_object_get(row, "role")));
	if ((role & rc->roles) && !json_integer_value(json_object_get(row, "disabled")))
		json_object_set_new(rc->names, json_string_value(json_object_get(row, "name")),
				    json_true());
	return 0;
}

/* "{number}: {title}" with the record's values put in. */
static json_t *subject(const char *tmpl, const json_t *rec)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	for (const char *p = tmpl; *p;) {
		const char *close = *p == '{' ? strchr(p, '}') : NULL;
		if (close && close - p < 48) {
			char name[48];
			snprintf(name, sizeof name, "%.*s", (int)(close - p - 1), p + 1);
			json_t *v = json_object_get(rec, name);
			if (json_is_string(v))
				kn_buf_adds(&b, json_string_value(v));
			else if (json_is_integer(v))
				kn_buf_addf(&b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			p = close + 1;
			continue;
		}
		kn_buf_add(&b, p, 1);
		p++;
	}
	json_t *s = json_stringn(b.data ? b.data : "", b.len);
	kn_buf_release(&b);
	return s;
}

static int notify(kn_engine *e, const kn_type *t, const kn_rule *r, const json_t *rec,
		  kn_error *err)
{
	const kn_type *nt = kn_schema_type(e->schema, "notification");
	if (!nt)
		return 0; /* a site without notifications */
	struct recipients rc = {json_object(), r->notify_roles};
	int ret = 0;
	if (r->notify_roles) {
		for (size_t i = 0; i < kn_nsystables && !ret; i++)
			if (strcmp(kn_systables[i].name, "users") == 0)
				ret = OPS(e)->table_scan(ST(e), &kn_systables[i], add_by_role, &rc,
							 err);
	}
	for (size_t i = 0; i < r->nnotify_fields && !ret; i++) {
		const kn_field *f = kn_type_field(t, r->notify_fields[i]);
		const char *v = json_string_value(json_object_get(rec, f->name));
		if (!v || !*v)
			continue;
		if (strcmp(f->ref, "user") == 0) {
			json_object_set_new(rc.names, v, json_true());
			continue;
		}
		/* a group: its manager */
		json_t *g = NULL;
		kn_error e2 = {0};
		const kn_type *gt = kn_schema_type(e->schema, f->ref);
		if (gt && OPS(e)->rec_get_key(ST(e), gt, v, &g, &e2) == 0) {
			const char *mgr = json_string_value(json_object_get(g, "manager"));
			if (mgr && *mgr)
				json_object_set_new(rc.names, mgr, json_true());
		}
		json_decref(g);
	}
	const char *name;
	json_t *dummy;
	json_object_foreach(rc.names, name, dummy)
	{
		if (ret)
			break;
		json_t *body = json_pack("{s:s, s:o, s:o, s:s, s:O, s:s}", "recipient", name,
					 "subject_ja", subject(r->subject_ja, rec), "subject_en",
					 subject(r->subject_en, rec), "record_type", t->plural,
					 "record", json_object_get(rec, "number"), "rule", r->name);
		json_t *out = NULL;
		ret = kn_rec_create_tx(e, NULL, nt, body, &out, err);
		json_decref(out);
		json_decref(body);
	}
	json_decref(rc.names);
	return ret;
}

/* ---- child records ------------------------------------------------------------ */

/* Pass the transition on to every open record whose r->children_via names rec. */
static int children(kn_engine *e, const kn_user *u, const kn_type *t, const kn_rule *r,
		    const json_t *rec, int depth, kn_error *err)
{
	const char *key = json_string_value(json_object_get(
	    rec, t->key_field ? t->key_field->name : "number"));
	if (!key)
		return 0;
	json_t *open = json_array();
	for (size_t s = 0; s < t->nstates; s++)
		if (!t->states[s].final)
			json_array_append_new(open, json_string(t->states[s].name));
	json_t *vals = json_pack("[s]", key);
	kn_cond conds[] = {{.attr = r->children_via, .op = KN_OP_EQ, .values = vals},
			   {.attr = "state", .op = KN_OP_IN, .values = open}};
	kn_sort sort = {"id", false};
	kn_query q = {conds, 2, &sort, 1, NULL, 1000, false, NULL, 0};
	json_t *items = NULL;
	int64_t total;
	int rc = OPS(e)->rec_list(ST(e), t, &q, &items, &total, err);
	json_t *fields = json_object();
	for (size_t i = 0; i < r->nchildren_copy; i++) {
		json_t *v = json_object_get(rec, r->children_copy[i]);
		json_object_set(fields, r->children_copy[i], v ? v : json_null());
	}
	char reason[160];
	snprintf(reason, sizeof reason, "%s %s", r->name, key);
	size_t i;
	json_t *child;
	json_array_foreach(items, i, child)
	{
		if (rc)
			break;
		const char *st = json_string_value(json_object_get(child, "state"));
		if (!kn_type_transition_named(t, st, r->children_fire))
			continue; /* it cannot take that step from where it is */
		json_t *c = json_deep_copy(child);
		rc = kn_rec_fire_tx(e, u, t, c, r->children_fire, fields, reason, depth + 1, err);
		json_decref(c);
	}
	json_decref(fields);
	json_decref(items);
	json_decref(vals);
	json_decref(open);
	return rc;
}

int kn_rules_after(kn_engine *e, const kn_user *u, const kn_type *t, int on,
		   const char *trname, json_t *rec, const json_t *changes, int depth,
		   kn_error *err)
{
	int rc = 0;
	for (size_t i = 0; i < t->nrules && !rc; i++) {
		const kn_rule *r = &t->rules[i];
		if (!(r->nnotify_fields || r->notify_roles || r->children_via || r->call) ||
		    !fires_on(r, on, trname, rec, on == KN_ON_CREATE ? NULL : changes) ||
		    !kn_when_holds(e, t, &r->when, rec))
			continue;
		if (r->nnotify_fields || r->notify_roles)
			rc = notify(e, t, r, rec, err);
		if (!rc && r->children_via && depth < MAX_DEPTH)
			rc = children(e, u, t, r, rec, depth, err);
		if (!rc && r->call && depth < MAX_DEPTH)
			rc = kn_action_find(r->call)(e, u, t, rec, depth, err);
	}
	return rc;
}

/* ---- business days ------------------------------------------------------------- */

static int64_t utc_offset_ms(const kn_engine *e)
{
	json_t *v = json_object_get(e->config, "utc_offset_minutes");
	return (json_is_integer(v) ? json_integer_value(v) : 540) * 60000;
}

static bool holiday(const kn_engine *e, int64_t local_ms)
{
	char day[40];
	kn_format_datetime(local_ms, day, sizeof day);
	day[10] = 0;
	size_t i;
	json_t *h;
	json_array_foreach(json_object_get(e->config, "holidays"), i, h)
	{
		if (json_is_string(h) && strcmp(json_string_value(h), day) == 0)
			return true;
	}
	/* 1970-01-01 was a Thursday */
	int64_t days = local_ms >= 0 ? local_ms / 86400000 : (local_ms - 86399999) / 86400000;
	int wd = (int)(((days + 3) % 7 + 7) % 7); /* 0 Monday ... 6 Sunday */
	return wd >= 5;
}

static kn_business_days_fn business_days_fn;

void kn_business_days_register(kn_business_days_fn fn) { business_days_fn = fn; }

int64_t kn_business_days_add(kn_engine *e, int64_t t_ms, int days)
{
	int64_t at = business_days_fn ? business_days_fn(e, t_ms, days) : -1;
	if (at >= 0)
		return at;
	int64_t off = utc_offset_ms(e), local = t_ms + off;
	int step = days < 0 ? -1 : 1, left = days < 0 ? -days : days;
	for (int guard = 0; left > 0 && guard < 4000; guard++) {
		local += step * 86400000LL;
		if (!holiday(e, local))
			left--;
	}
	return local - off;
}

/* ---- timers ------------------------------------------------------------------ */

#define TIMER_BATCH 200

static int timer_rule(kn_engine *e, const kn_type *t, const kn_rule *r, int64_t now,
		      int *fired, kn_error *err)
{
	int64_t cutoff = r->after_days ? kn_business_days_add(e, now, -r->after_days)
				       : now - r->after_ms;
	char cut[48];
	kn_format_datetime(cutoff, cut, sizeof cut);
	bool systime = strcmp(r->after_field, "created_at") == 0 ||
		       strcmp(r->after_field, "updated_at") == 0;
	if (systime) /* stored with milliseconds */
		snprintf(cut + 19, sizeof cut - 19, ".%03dZ", (int)(cutoff % 1000));
	kn_cond conds[24];
	size_t n = 0;
	json_t *hold = json_array();
	conds[n++] = (kn_cond){.attr = r->after_field, .op = KN_OP_LTE,
			       .values = json_pack("[s]", cut)};
	json_array_append_new(hold, (json_t *)conds[0].values);
	for (size_t i = 0; i < r->when.n && n < 24; i++) {
		const kn_match *m = &r->when.m[i];
		if (m->sub)
			continue; /* checked on each record */
		bool has_null = false;
		json_t *vals = json_array();
		if (json_is_array(m->values)) {
			size_t j;
			json_t *x;
			json_array_foreach(m->values, j, x)
			{
				if (json_is_null(x))
					has_null = true;
				else
					json_array_append(vals, x);
			}
		} else if (json_is_null(m->values)) {
			has_null = true;
		} else {
			json_array_append(vals, (json_t *)m->values);
		}
		json_array_append_new(hold, vals);
		if (has_null)
			continue; /* null-or-value: checked on each record */
		conds[n++] = (kn_cond){.attr = m->attr, .op = KN_OP_IN, .values = vals};
	}
	kn_sort sort = {"id", false};
	kn_query q = {conds, n, &sort, 1, NULL, TIMER_BATCH, false, NULL, 0};
	json_t *items = NULL;
	int64_t total;
	int rc = OPS(e)->rec_list(ST(e), t, &q, &items, &total, err);
	size_t i;
	json_t *rec;
	json_array_foreach(items, i, rec)
	{
		if (rc)
			break;
		if (!kn_when_holds(e, t, &r->when, rec))
			continue;
		json_t *c = json_deep_copy(rec);
		char reason[96];
		snprintf(reason, sizeof reason, "rule %s", r->name);
		if (r->fire) {
			const char *st = json_string_value(json_object_get(c, "state"));
			if (kn_type_transition_named(t, st, r->fire)) {
				json_t *fields = json_object();
				const char *k;
				json_t *v;
				json_object_foreach((json_t *)r->set, k, v)
					json_object_set_new(fields, k,
							    set_value(v, json_object_get(c, k)));
				rc = kn_rec_fire_tx(e, NULL, t, c, r->fire, fields, reason, 0, err);
				json_decref(fields);
				(*fired)++;
			}
		} else {
			json_t *changes = json_array();
			apply_set(r, c, changes);
			if (json_array_size(changes)) {
				rc = kn_rec_save_tx(e, NULL, t, c, r->name, changes, reason, 0, err);
				(*fired)++;
			}
			json_decref(changes);
		}
		if (!rc && (r->notify_roles || r->nnotify_fields))
			rc = notify(e, t, r, c, err);
		json_decref(c);
	}
	json_decref(items);
	json_decref(hold);
	return rc;
}

int kn_rules_timers(kn_engine *e, int64_t now_ms, int *fired, kn_error *err)
{
	*fired = 0;
	for (size_t ti = 0; ti < e->schema->ntypes; ti++) {
		const kn_type *t = &e->schema->types[ti];
		for (size_t i = 0; i < t->nrules; i++) {
			if (t->rules[i].on != KN_ON_TIMER)
				continue;
			int rc = timer_rule(e, t, &t->rules[i], now_ms, fired, err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

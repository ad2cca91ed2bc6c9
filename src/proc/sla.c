/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sla.c - service level management (sla.h): which agreement and targets a
 * ticket's clocks get, the checks of agreements, calendars and customers
 * when they are saved, the built-in calendars, and business-time
 * arithmetic for people (the calendar API and CLI).
 */
#include "kanri.h"

#include <pthread.h>
#include <time.h>

#include "core/clock.h"
#include "core/rules.h"
#include "proc/sla.h"
#include "store/store.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)
#define MAX_ROWS 100000

static const char *str(const json_t *rec, const char *name)
{
	const char *s = json_string_value(json_object_get(rec, name));
	return s && *s ? s : NULL;
}

/* Every record of type name matching conds (at most MAX_ROWS), by id. */
static int all_of(kn_engine *e, const char *type, kn_cond *conds, size_t n, json_t **items,
		  kn_error *err)
{
	*items = NULL;
	const kn_type *t = kn_schema_type(e->schema, type);
	if (!t) {
		*items = json_array();
		return 0;
	}
	kn_sort sort = {"id", false};
	kn_query q = {conds, n, &sort, 1, NULL, MAX_ROWS, false, NULL, 0};
	int64_t total;
	return OPS(e)->rec_list(ST(e), t, &q, items, &total, err);
}

static int active_of(kn_engine *e, const char *type, json_t **items, kn_error *err)
{
	kn_cond c = {.attr = "state", .op = KN_OP_EQ, .values = json_pack("[s]", "active")};
	int rc = all_of(e, type, &c, 1, items, err);
	json_decref((json_t *)c.values);
	return rc;
}

/* ---- calendars from records ------------------------------------------------ */

/* The dates of holiday set `set` among the holiday records hol (an array
 * of "YYYY-MM-DD"), or NULL when the set has no records (the built-in
 * rules then apply to "jp"). */
static json_t *set_dates(const json_t *hol, const char *set)
{
	json_t *dates = NULL;
	size_t i;
	json_t *h;
	json_array_foreach(hol, i, h)
	{
		if (!str(h, "set") || strcmp(str(h, "set"), set) || !str(h, "date"))
			continue;
		if (!dates)
			dates = json_array();
		json_array_append_new(dates, json_string(str(h, "date")));
	}
	return dates;
}

/* The declaration kn_calendar_new takes, from a calendar record. */
static json_t *calendar_decl(const json_t *rec, const json_t *hol)
{
	json_t *d = json_object();
	json_object_set(d, "time_zone", json_object_get(rec, "time_zone"));
	json_t *hours = json_object_get(rec, "hours"), *ex = json_object_get(rec, "exceptions");
	json_object_set_new(d, "hours",
			    json_is_string(hours) ? json_loads(json_string_value(hours), 0, NULL)
						  : json_deep_copy(hours));
	if (ex && !json_is_null(ex))
		json_object_set_new(d, "exceptions",
				    json_is_string(ex) ? json_loads(json_string_value(ex), 0, NULL)
						       : json_deep_copy(ex));
	const char *set = str(rec, "holidays");
	if (set) {
		json_object_set_new(d, "holidays", json_string(set));
		json_t *dates = set_dates(hol, set);
		if (dates)
			json_object_set_new(d, "holiday_dates", dates);
	}
	return d;
}

/* ---- the kept agreements ------------------------------------------------------- */

typedef kn_sla_target target;

typedef struct agreement {
	json_t *rec;
	const char *name, *service, *customer, *applies_to, *kind, *from, *to;
	const kn_calendar *cal;
	target *targets;
	size_t ntargets;
	int warn[8], nwarn;
} agreement;

typedef struct snapshot {
	int refs;
	char gen[64];
	agreement *a;
	size_t n;
	kn_calendar **cals;
	char **calnames;
	size_t ncals;
} snapshot;

static pthread_mutex_t snap_mu = PTHREAD_MUTEX_INITIALIZER;
static snapshot *snap_cur;
static const kn_engine *snap_engine;

static void snap_free(snapshot *s)
{
	for (size_t i = 0; i < s->n; i++) {
		json_decref(s->a[i].rec);
		free(s->a[i].targets);
	}
	for (size_t i = 0; i < s->ncals; i++) {
		kn_calendar_free(s->cals[i]);
		free(s->calnames[i]);
	}
	free(s->a), free(s->cals), free(s->calnames);
	free(s);
}

static void snap_put(snapshot *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&snap_mu);
	bool last = --s->refs == 0;
	pthread_mutex_unlock(&snap_mu);
	if (last)
		snap_free(s);
}

static json_t *json_member(const json_t *rec, const char *name)
{
	json_t *v = json_object_get(rec, name);
	return json_is_string(v) ? json_loads(json_string_value(v), 0, NULL) : json_incref(v);
}

/* Parse the targets of an agreement record. 0, or KN_EVALID naming the row. */
int kn_sla_targets(const json_t *rec, target **out, size_t *n, kn_error *err)
{
	json_t *a = json_member(rec, "targets");
	*out = NULL;
	*n = 0;
	if (!json_is_array(a)) {
		json_decref(a);
		return kn_fail(err, KN_EVALID, "targets", "targets must be a list");
	}
	target *t = kn_xcalloc(json_array_size(a) + 1, sizeof *t);
	size_t i;
	json_t *r;
	int rc = 0;
	json_array_foreach(a, i, r)
	{
		const char *type = str(r, "type"), *clock = str(r, "clock"), *d = str(r, "target");
		json_t *pr = json_object_get(r, "priority"), *goal = json_object_get(r, "goal");
		int64_t ms = 0;
		kn_error e2 = {0};
		if (!json_is_object(r))
			rc = kn_fail(err, KN_EVALID, "targets", "targets[%zu] must be an object", i);
		else if (type && strcmp(type, "incident") && strcmp(type, "request"))
			rc = kn_fail(err, KN_EVALID, "targets",
				     "targets[%zu].type must be incident or request", i);
		else if (!clock || (strcmp(clock, "response") && strcmp(clock, "resolution")))
			rc = kn_fail(err, KN_EVALID, "targets",
				     "targets[%zu].clock must be response or resolution", i);
		else if (pr && !json_is_null(pr) &&
			 (!json_is_integer(pr) || json_integer_value(pr) < 1 ||
			  json_integer_value(pr) > 5))
			rc = kn_fail(err, KN_EVALID, "targets",
				     "targets[%zu].priority must be 1 to 5 (or left out for any)", i);
		else if (!d || kn_duration_parse(d, &ms, &e2))
			rc = kn_fail(err, KN_EVALID, "targets",
				     "targets[%zu].target must be a duration such as 4h or 30m%s%s", i,
				     e2.detail[0] ? ": " : "", e2.detail);
		else if (goal && !json_is_null(goal) &&
			 (!json_is_integer(goal) || json_integer_value(goal) < 0 ||
			  json_integer_value(goal) > 100))
			rc = kn_fail(err, KN_EVALID, "targets",
				     "targets[%zu].goal must be a percentage 0 to 100", i);
		if (rc)
			break;
		target *x = &t[(*n)++];
		snprintf(x->type, sizeof x->type, "%s", type ? type : "");
		snprintf(x->clock, sizeof x->clock, "%s", clock);
		x->priority = json_is_integer(pr) ? (int)json_integer_value(pr) : 0;
		x->ms = ms;
		x->goal = json_is_integer(goal) ? (int)json_integer_value(goal) : -1;
		for (size_t j = 0; j + 1 < *n; j++)
			if (!strcmp(t[j].type, x->type) && !strcmp(t[j].clock, x->clock) &&
			    t[j].priority == x->priority)
				rc = kn_fail(err, KN_EVALID, "targets",
					     "targets[%zu] repeats the target of targets[%zu]", i, j);
		if (rc)
			break;
	}
	json_decref(a);
	if (rc) {
		free(t);
		*n = 0;
		return rc;
	}
	*out = t;
	return 0;
}

static int warnings_parse(const json_t *rec, int *warn, int *n, kn_error *err)
{
	json_t *a = json_member(rec, "warnings");
	*n = 0;
	int rc = 0;
	if (a && !json_is_null(a) && !json_is_array(a))
		rc = kn_fail(err, KN_EVALID, "warnings", "warnings must be a list of percentages");
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (rc)
			break;
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > 99 || i >= 8)
			rc = kn_fail(err, KN_EVALID, "warnings",
				     "warnings are at most 8 percentages from 1 to 99");
		else if (*n && json_integer_value(v) <= warn[*n - 1])
			rc = kn_fail(err, KN_EVALID, "warnings",
				     "warnings must be in ascending order, each once");
		else
			warn[(*n)++] = (int)json_integer_value(v);
	}
	json_decref(a);
	return rc;
}

static const kn_calendar *snap_calendar(const snapshot *s, const char *name)
{
	for (size_t i = 0; name && i < s->ncals; i++)
		if (strcmp(s->calnames[i], name) == 0)
			return s->cals[i];
	return NULL;
}

static int snap_load(kn_engine *e, const char *gen, snapshot **out, kn_error *err)
{
	json_t *slas = NULL, *cals = NULL, *hol = NULL;
	int rc = active_of(e, "sla", &slas, err);
	if (!rc)
		rc = active_of(e, "calendar", &cals, err);
	if (!rc)
		rc = active_of(e, "holiday", &hol, err);
	if (rc) {
		json_decref(slas), json_decref(cals), json_decref(hol);
		return rc;
	}
	snapshot *s = kn_xcalloc(1, sizeof *s);
	s->refs = 1;
	snprintf(s->gen, sizeof s->gen, "%s", gen);
	s->cals = kn_xcalloc(json_array_size(cals) + 1, sizeof *s->cals);
	s->calnames = kn_xcalloc(json_array_size(cals) + 1, sizeof *s->calnames);
	size_t i;
	json_t *r;
	json_array_foreach(cals, i, r)
	{
		json_t *d = calendar_decl(r, hol);
		kn_calendar *c = NULL;
		kn_error e2 = {0};
		if (kn_calendar_new(d, &c, &e2) == 0) {
			s->cals[s->ncals] = c;
			s->calnames[s->ncals++] = kn_xstrdup(str(r, "name"));
		}
		json_decref(d);
	}
	s->a = kn_xcalloc(json_array_size(slas) + 1, sizeof *s->a);
	json_array_foreach(slas, i, r)
	{
		agreement *a = &s->a[s->n];
		kn_error e2 = {0};
		if (kn_sla_targets(r, &a->targets, &a->ntargets, &e2) ||
		    warnings_parse(r, a->warn, &a->nwarn, &e2)) {
			free(a->targets);
			memset(a, 0, sizeof *a);
			continue;
		}
		a->rec = json_incref(r);
		a->name = str(r, "name");
		a->service = str(r, "service");
		a->customer = str(r, "customer");
		a->applies_to = str(r, "applies_to");
		a->kind = str(r, "agreement_type");
		a->from = str(r, "valid_from");
		a->to = str(r, "valid_to");
		a->cal = snap_calendar(s, str(r, "calendar"));
		s->n++;
	}
	json_decref(slas), json_decref(cals), json_decref(hol);
	*out = s;
	return 0;
}

/* The kept agreements, current with the store (a new reference). */
static int snap_get(kn_engine *e, snapshot **out, kn_error *err)
{
	char *gen = NULL;
	int rc = OPS(e)->meta_get(ST(e), "sla_gen", &gen, err);
	if (rc)
		return rc;
	const char *g = gen ? gen : "0";
	pthread_mutex_lock(&snap_mu);
	snapshot *s = snap_cur && snap_engine == e && !strcmp(snap_cur->gen, g) ? snap_cur : NULL;
	if (s)
		s->refs++;
	pthread_mutex_unlock(&snap_mu);
	if (!s) {
		rc = snap_load(e, g, &s, err);
		if (!rc) {
			pthread_mutex_lock(&snap_mu);
			snapshot *old = snap_cur;
			snap_cur = s;
			snap_engine = e;
			s->refs++;
			pthread_mutex_unlock(&snap_mu);
			snap_put(old);
		}
	}
	free(gen);
	if (!rc)
		*out = s;
	return rc;
}

/* Agreements, calendars or holidays changed: every node reloads them, and
 * the timer recomputes the open tickets' due times. */
static int touch(kn_engine *e, kn_error *err)
{
	char *tok = kn_random_token(9), now[40];
	kn_now_iso(now, sizeof now);
	char *gen = kn_xasprintf("%s.%s", now, tok);
	int rc = OPS(e)->meta_set(ST(e), "sla_gen", gen, err);
	free(gen);
	free(tok);
	return rc;
}

/* ---- the planner --------------------------------------------------------------- */

static bool valid_on(const agreement *a, const char *date)
{
	return (!a->from || strcmp(a->from, date) <= 0) && (!a->to || strcmp(date, a->to) <= 0);
}

static const agreement *choose(const snapshot *s, const kn_type *t, const json_t *rec)
{
	const char *service = str(rec, "service");
	const char *org = t->org_field ? str(rec, t->org_field) : NULL;
	char date[16];
	const char *created = str(rec, "created_at");
	if (created)
		snprintf(date, sizeof date, "%.10s", created);
	else {
		char now[40];
		kn_now_iso(now, sizeof now);
		snprintf(date, sizeof date, "%.10s", now);
	}
	const agreement *best = NULL;
	int best_score = -1;
	for (size_t i = 0; i < s->n; i++) {
		const agreement *a = &s->a[i];
		if (!a->kind || strcmp(a->kind, "sla"))
			continue;
		if (a->applies_to && strcmp(a->applies_to, "all") && strcmp(a->applies_to, t->name))
			continue;
		if (a->service && (!service || strcmp(a->service, service)))
			continue;
		if (a->customer && (!org || strcmp(a->customer, org)))
			continue;
		if (!valid_on(a, date))
			continue;
		int score = (a->service ? 2 : 0) + (a->customer ? 1 : 0);
		if (score > best_score)
			best = a, best_score = score;
	}
	return best;
}

const kn_sla_target *kn_sla_target_for(const kn_sla_target *tg, size_t n, const char *type,
				       const char *clock, int prio)
{
	const kn_sla_target *any = NULL;
	for (size_t i = 0; i < n; i++) {
		const target *x = &tg[i];
		if ((x->type[0] && strcmp(x->type, type)) || strcmp(x->clock, clock))
			continue;
		if (x->priority == prio && prio)
			return x;
		if (!x->priority)
			any = x;
	}
	return any;
}

static int plan(kn_engine *e, const kn_type *t, const json_t *rec, kn_clock_plan *out,
		kn_error *err)
{
	snapshot *s;
	int rc = snap_get(e, &s, err);
	if (rc)
		return rc;
	out->hold = s;
	const agreement *a = choose(s, t, rec);
	if (!a)
		return 0;
	snprintf(out->agreement, sizeof out->agreement, "%s", a->name);
	out->cal = a->cal;
	memcpy(out->warn, a->warn, sizeof out->warn);
	out->nwarn = a->nwarn;
	json_t *pv = json_object_get(rec, "priority");
	int prio = json_is_integer(pv) ? (int)json_integer_value(pv) : 0;
	for (size_t i = 0; i < t->nclocks && i < KN_MAX_CLOCKS; i++)
	{
		const target *x =
		    kn_sla_target_for(a->targets, a->ntargets, t->name, t->clocks[i].name, prio);
		out->target_ms[i] = x ? x->ms : -1;
	}
	return 0;
}

static void plan_release(kn_clock_plan *p) { snap_put(p->hold); }

/* ---- checks when records are saved ---------------------------------------------- */

static int act_sla_check(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			 int depth, kn_error *err)
{
	target *tg = NULL;
	size_t nt;
	int warn[8], nw;
	int rc = kn_sla_targets(rec, &tg, &nt, err);
	free(tg);
	if (!rc)
		rc = warnings_parse(rec, warn, &nw, err);
	if (rc)
		return rc;
	const char *kind = str(rec, "agreement_type"), *av = str(rec, "availability_target");
	if (av) {
		char *end;
		double x = strtod(av, &end);
		if (end == av || *end || !(x > 0 && x <= 100))
			return kn_fail(err, KN_EVALID, "availability_target",
				       "availability_target is a percentage such as 99.9");
	}
	const char *from = str(rec, "valid_from"), *to = str(rec, "valid_to");
	if (from && to && strcmp(from, to) > 0)
		return kn_fail(err, KN_EVALID, "valid_to", "valid_to is before valid_from");
	json_t *wl = json_member(rec, "workload");
	size_t i;
	json_t *w;
	if (wl && !json_is_null(wl) && !json_is_array(wl))
		rc = kn_fail(err, KN_EVALID, "workload", "workload must be a list");
	json_array_foreach(wl, i, w)
	{
		const char *ty = str(w, "type"), *per = str(w, "per");
		json_t *lim = json_object_get(w, "limit");
		if (rc)
			break;
		if (!ty || (strcmp(ty, "incident") && strcmp(ty, "request")))
			rc = kn_fail(err, KN_EVALID, "workload",
				     "workload[%zu].type must be incident or request", i);
		else if (!per || (strcmp(per, "month") && strcmp(per, "week") && strcmp(per, "day")))
			rc = kn_fail(err, KN_EVALID, "workload",
				     "workload[%zu].per must be month, week or day", i);
		else if (!json_is_integer(lim) || json_integer_value(lim) < 1)
			rc = kn_fail(err, KN_EVALID, "workload",
				     "workload[%zu].limit must be a positive whole number", i);
	}
	json_decref(wl);
	if (rc)
		return rc;
	bool sla = kind && !strcmp(kind, "sla");
	if (sla && str(rec, "supports"))
		return kn_fail(err, KN_EVALID, "supports",
			       "an SLA supports no other agreement: OLAs and contracts support SLAs");
	if (!sla && !str(rec, "supports"))
		return kn_fail(err, KN_EVALID, "supports",
			       "an OLA or underpinning contract names the SLA it supports");
	if (kind && !strcmp(kind, "ola") && !str(rec, "provider_group"))
		return kn_fail(err, KN_EVALID, "provider_group", "an OLA names its providing team");
	if (kind && !strcmp(kind, "uc") && !str(rec, "supplier"))
		return kn_fail(err, KN_EVALID, "supplier",
			       "an underpinning contract names its supplier");
	if (!sla) {
		json_t *sup = NULL;
		kn_error e2 = {0};
		if (OPS(e)->rec_get_key(ST(e), t, str(rec, "supports"), &sup, &e2) == 0) {
			bool ok = str(sup, "agreement_type") &&
				  !strcmp(str(sup, "agreement_type"), "sla");
			json_decref(sup);
			if (!ok)
				return kn_fail(err, KN_EVALID, "supports",
					       "supports must name an SLA, not an OLA or contract");
		}
	}
	return touch(e, err);
}

static int act_calendar_check(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			      int depth, kn_error *err)
{
	json_t *hol = NULL;
	int rc = active_of(e, "holiday", &hol, err);
	if (rc)
		return rc;
	const char *set = str(rec, "holidays");
	json_t *dates = set ? set_dates(hol, set) : NULL;
	if (set && !dates && strcmp(set, "jp") && strcmp(set, "none"))
		rc = kn_fail(err, KN_EVALID, "holidays",
			     "there are no holidays in the set '%s': add holiday records with set "
			     "'%s' first, or leave holidays empty",
			     set, set);
	json_decref(dates);
	json_t *d = rc ? NULL : calendar_decl(rec, hol);
	json_decref(hol);
	kn_calendar *c = NULL;
	if (!rc)
		rc = kn_calendar_new(d, &c, err);
	json_decref(d);
	if (!rc) {
		int64_t due;
		rc = kn_calendar_add(c, kn_now_ms(), 3600 * 1000, &due, err);
		if (rc)
			rc = kn_fail(err, KN_EVALID, "hours", "the calendar is never open");
	}
	kn_calendar_free(c);
	return rc ? rc : touch(e, err);
}

static int act_calendar_changed(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
				int depth, kn_error *err)
{
	return touch(e, err);
}

static int act_customer_check(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			      int depth, kn_error *err)
{
	json_t *a = json_member(rec, "contacts");
	int rc = 0;
	if (a && !json_is_null(a) && !json_is_array(a))
		rc = kn_fail(err, KN_EVALID, "contacts", "contacts must be a list");
	size_t i;
	json_t *c;
	json_array_foreach(a, i, c)
	{
		if (rc)
			break;
		if (!json_is_object(c) || !str(c, "name"))
			rc = kn_fail(err, KN_EVALID, "contacts", "contacts[%zu] needs a name", i);
		const char *k;
		json_t *v;
		json_object_foreach(c, k, v) if (!rc && !json_is_string(v))
			rc = kn_fail(err, KN_EVALID, "contacts", "contacts[%zu].%s must be text", i, k);
	}
	json_decref(a);
	return rc;
}

/* ---- business days for rules ----------------------------------------------------- */

/* t_ms moved by days days on which the site's business calendar is open, at
 * the same local time of day; -1 when the site has no such calendar, or
 * keeps its business days in the config ("holidays", "utc_offset_minutes"). */
static int64_t business_days(kn_engine *e, int64_t t_ms, int days)
{
	const char *name = json_string_value(json_object_get(e->config, "business_calendar"));
	if (!name && (json_object_get(e->config, "holidays") ||
		      json_object_get(e->config, "utc_offset_minutes")))
		return -1; /* the site keeps its own list in the config */
	snapshot *s;
	kn_error err = {0};
	if (!e->store || snap_get(e, &s, &err))
		return -1;
	const kn_calendar *cal = snap_calendar(s, name ? name : "standard");
	int64_t at = -1;
	if (cal) {
		const kn_tz *z = kn_calendar_tz(cal);
		int64_t t = t_ms / 1000, local = t + kn_tz_offset(z, t);
		int64_t day = local >= 0 ? local / 86400 : (local - 86399) / 86400;
		int64_t tod = local - day * 86400;
		int step = days < 0 ? -1 : 1, left = days < 0 ? -days : days;
		for (int guard = 0; left > 0 && guard < 4000; guard++) {
			day += step;
			int y, m, d;
			int32_t spans[8][2];
			kn_civil_from_days(day, &y, &m, &d);
			if (kn_calendar_day(cal, y, m, d, spans, 8, NULL) > 0)
				left--;
		}
		at = kn_tz_utc(z, day * 86400 + tod) * 1000 + t_ms % 1000;
	}
	snap_put(s);
	return at;
}

/* ---- recomputing ---------------------------------------------------------------- */

static int mark_recomputed(kn_engine *e, void *gen, kn_error *err)
{
	return OPS(e)->meta_set(ST(e), "sla_recomputed", gen, err);
}

int kn_sla_recompute(kn_engine *e, int64_t *n, int64_t *changed, kn_error *err)
{
	*n = *changed = 0;
	char *gen = NULL;
	int rc = OPS(e)->meta_get(ST(e), "sla_gen", &gen, err);
	for (size_t i = 0; !rc && i < e->schema->ntypes; i++) {
		const kn_type *t = &e->schema->types[i];
		int64_t a = 0, b = 0;
		if (t->nclocks)
			rc = kn_clocks_recompute(e, t, kn_now_ms(), &a, &b, err);
		*n += a, *changed += b;
	}
	/* the timer need not do it again for the same changes */
	if (!rc && gen)
		rc = kn_engine_write(e, mark_recomputed, gen, err);
	free(gen);
	return rc;
}

/* Before the clocks' timer: recompute when agreements or calendars changed. */
static int pretick(kn_engine *e, int64_t now_ms, kn_error *err)
{
	char *gen = NULL, *done = NULL;
	int rc = OPS(e)->meta_get(ST(e), "sla_gen", &gen, err);
	if (!rc && gen) /* else nothing ever changed */
		rc = OPS(e)->meta_get(ST(e), "sla_recomputed", &done, err);
	if (!rc && gen && (!done || strcmp(done, gen))) {
		for (size_t i = 0; !rc && i < e->schema->ntypes; i++) {
			const kn_type *t = &e->schema->types[i];
			int64_t a, b;
			if (t->nclocks)
				rc = kn_clocks_recompute_tx(e, t, now_ms, &a, &b, err);
		}
		if (!rc)
			rc = OPS(e)->meta_set(ST(e), "sla_recomputed", gen, err);
	}
	free(gen);
	free(done);
	return rc;
}

/* ---- built-in data ---------------------------------------------------------------- */

static int seed_write(kn_engine *e, void *arg, kn_error *err)
{
	const kn_type *ht = kn_schema_type(e->schema, "holiday");
	const kn_type *ct = kn_schema_type(e->schema, "calendar");
	if (!ht || !ct)
		return 0;
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int year = tm.tm_year + 1900, rc = 0;
	for (int y = year - 5; !rc && y <= year + 10; y++) {
		kn_holiday h[32];
		int n = kn_holidays_jp(y, h, 32);
		for (int i = 0; !rc && i < n; i++) {
			char date[16];
			snprintf(date, sizeof date, "%04d-%02d-%02d", h[i].y, h[i].m, h[i].d);
			json_t *body = json_pack("{s:s,s:s,s:s,s:s,s:s}", "set", "jp", "date", date,
						 "name", h[i].name_ja, "name_en", h[i].name_en,
						 "reason", "built-in Japanese public holidays");
			json_t *out = NULL;
			rc = kn_rec_create_tx(e, NULL, ht, body, &out, err);
			json_decref(out);
			json_decref(body);
		}
	}
	json_t *cals = json_pack(
	    "[{s:s,s:s,s:s,s:s,s:[{s:s,s:s,s:[],s:s}],s:s},"
	    " {s:s,s:s,s:s,s:{s:[s],s:[s],s:[s],s:[s],s:[s],s:[s],s:[s]},s:n,s:s}]",
	    "name", "standard", "display_name", "平日 9:00-18:00（祝日・年末年始休み）",
	    "time_zone", "Asia/Tokyo", "holidays", "jp", "exceptions", "from", "12-29", "to",
	    "01-03", "hours", "name", "年末年始", "reason", "built-in calendar",
	    "name", "24x7", "display_name", "24 時間 365 日", "time_zone", "Asia/Tokyo", "hours",
	    "mon", "00:00-24:00", "tue", "00:00-24:00", "wed", "00:00-24:00", "thu",
	    "00:00-24:00", "fri", "00:00-24:00", "sat", "00:00-24:00", "sun", "00:00-24:00",
	    "holidays", "reason", "built-in calendar");
	size_t i;
	json_t *c;
	json_array_foreach(cals, i, c)
	{
		json_t *out = NULL;
		if (!rc)
			rc = kn_rec_create_tx(e, NULL, ct, c, &out, err);
		json_decref(out);
	}
	json_decref(cals);
	if (!rc)
		rc = OPS(e)->meta_set(ST(e), "calendars_seeded", "1", err);
	return rc;
}

int kn_sla_seed(kn_engine *e, kn_error *err)
{
	char *v = NULL;
	int rc = OPS(e)->meta_get(ST(e), "calendars_seeded", &v, err);
	bool done = v != NULL;
	free(v);
	if (rc || done)
		return rc;
	return kn_engine_write(e, seed_write, NULL, err);
}

/* ---- calendars for people ------------------------------------------------------------ */

static const char *const wdays[] = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"};

static int wday_of(const char *s, size_t n)
{
	for (int i = 0; i < 7; i++)
		if (n == 3 && strncmp(s, wdays[i], 3) == 0)
			return i;
	return -1;
}

/* "mon-fri", "mon,wed,fri", "sat-mon" into open[7]. */
static int days_parse(const char *s, bool open[7], kn_error *err)
{
	memset(open, 0, 7 * sizeof *open);
	const char *p = s;
	while (*p) {
		size_t n = strcspn(p, ",");
		const char *dash = memchr(p, '-', n);
		int a = wday_of(p, dash ? (size_t)(dash - p) : n);
		int b = dash ? wday_of(dash + 1, n - (size_t)(dash - p) - 1) : a;
		if (a < 0 || b < 0)
			return kn_fail(err, KN_EVALID, "days",
				       "days are mon, tue, wed, thu, fri, sat, sun, as a list or "
				       "ranges (mon-fri), not '%.40s'",
				       s);
		for (int d = a;; d = (d + 1) % 7) {
			open[d] = true;
			if (d == b)
				break;
		}
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

static json_t *spans_of(const char *hours)
{
	json_t *a = json_array();
	const char *p = hours;
	while (*p) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

int kn_sla_calendar_options(const char *hours, const char *days, const char *holidays,
			    const char *zone, const char *const *excepts, size_t nexcepts,
			    kn_calendar **out, kn_error *err)
{
	bool open[7];
	int rc = days_parse(days ? days : "mon-fri", open, err);
	if (rc)
		return rc;
	json_t *h = json_object();
	for (int d = 0; d < 7; d++)
		if (open[d])
			json_object_set_new(h, wdays[d], spans_of(hours ? hours : "09:00-18:00"));
	json_t *ex = json_array();
	for (size_t i = 0; i < nexcepts; i++) {
		const char *s = excepts[i], *eq = strchr(s, '='), *dots = strstr(s, "..");
		size_t end = eq ? (size_t)(eq - s) : strlen(s);
		json_t *x = json_object();
		if (dots && (size_t)(dots - s) < end) {
			json_object_set_new(x, "from", json_stringn(s, (size_t)(dots - s)));
			json_object_set_new(x, "to", json_stringn(dots + 2, end - (size_t)(dots - s) - 2));
		} else {
			json_object_set_new(x, "from", json_stringn(s, end));
		}
		json_object_set_new(x, "hours", eq ? spans_of(eq + 1) : json_array());
		json_array_append_new(ex, x);
	}
	const char *set = !holidays ? "jp" : strcmp(holidays, "none") ? holidays : NULL;
	json_t *decl = json_pack("{s:s,s:o,s:o,s:s?}", "time_zone", zone ? zone : "Asia/Tokyo",
				 "hours", h, "exceptions", ex, "holidays", set);
	if (set && strcmp(set, "jp"))
		rc = kn_fail(err, KN_EVALID, "holidays",
			     "holidays is jp or none here; other sets are stored holiday records "
			     "(use a stored calendar)");
	if (!rc)
		rc = kn_calendar_new(decl, out, err);
	json_decref(decl);
	return rc;
}

int kn_sla_calendar_stored(kn_engine *e, const char *name, kn_calendar **out, kn_error *err)
{
	const kn_type *ct = kn_schema_type(e->schema, "calendar");
	json_t *rec = NULL, *hol = NULL;
	int rc = ct ? OPS(e)->rec_get_key(ST(e), ct, name, &rec, err)
		    : kn_fail(err, KN_ENOTFOUND, "calendar", "this site has no calendars");
	if (rc == KN_ENOTFOUND || (!rc && strcmp(str(rec, "state"), "active")))
		rc = kn_fail(err, KN_ENOTFOUND, "calendar", "there is no active calendar '%.64s'",
			     name);
	if (!rc)
		rc = active_of(e, "holiday", &hol, err);
	if (!rc) {
		json_t *d = calendar_decl(rec, hol);
		rc = kn_calendar_new(d, out, err);
		json_decref(d);
	}
	json_decref(rec);
	json_decref(hol);
	return rc;
}

static const char *param_of(const kn_param *p, size_t np, const char *name)
{
	for (size_t i = 0; i < np; i++)
		if (strcmp(p[i].key, name) == 0)
			return p[i].value ? p[i].value : "";
	return NULL;
}

static int instant(const kn_param *p, size_t np, const char *name, int64_t *ms, kn_error *err)
{
	const char *v = param_of(p, np, name);
	if (!v || !*v)
		return kn_fail(err, KN_EINVAL, name,
			       "%s is required: a date-time with its zone, such as "
			       "2026-11-20T15:30+09:00",
			       name);
	if (strlen(v) <= 10 || kn_parse_datetime(v, ms))
		return kn_fail(err, KN_EINVAL, name,
			       "%s must be a date-time with its zone (2026-11-20T15:30+09:00), not "
			       "'%.40s'",
			       name, v);
	return 0;
}

int kn_calendar_api(kn_engine *e, const kn_user *u, bool due, const kn_param *p, size_t np,
		    json_t **out, kn_error *err)
{
	static const char *const known[] = {"from", "to", "duration", "calendar", "hours", "days",
					    "holidays", "time_zone", "except", NULL};
	for (size_t i = 0; i < np; i++) {
		bool ok = false;
		for (size_t k = 0; known[k]; k++)
			ok |= strcmp(p[i].key, known[k]) == 0;
		if (!ok || (!due && !strcmp(p[i].key, "duration")) || (due && !strcmp(p[i].key, "to")))
			return kn_fail(err, KN_EINVAL, p[i].key, "unknown parameter '%.64s'",
				       p[i].key);
	}
	int64_t from, to = 0, dur = 0;
	int rc = instant(p, np, "from", &from, err);
	if (!rc && due) {
		const char *d = param_of(p, np, "duration");
		if (!d || !*d)
			rc = kn_fail(err, KN_EINVAL, "duration", "duration is required, such as 6h");
		else if (kn_duration_parse(d, &dur, err))
			rc = err ? err->code = KN_EINVAL : KN_EINVAL;
	} else if (!rc) {
		rc = instant(p, np, "to", &to, err);
	}
	if (rc)
		return rc;
	const char *name = param_of(p, np, "calendar");
	kn_calendar *cal = NULL;
	json_t *desc;
	if (name) {
		if (param_of(p, np, "hours") || param_of(p, np, "days") ||
		    param_of(p, np, "holidays") || param_of(p, np, "time_zone") ||
		    param_of(p, np, "except"))
			return kn_fail(err, KN_EINVAL, "calendar",
				       "give a stored calendar or the calendar's options, not both");
		rc = kn_sla_calendar_stored(e, name, &cal, err);
		desc = json_pack("{s:s}", "name", name);
	} else {
		const char *ex[32] = {0};
		size_t nex = 0;
		for (size_t i = 0; i < np && nex < 32; i++)
			if (!strcmp(p[i].key, "except") && p[i].value)
				ex[nex++] = p[i].value;
		const char *hours = param_of(p, np, "hours"), *days = param_of(p, np, "days"),
			   *hol = param_of(p, np, "holidays"), *zone = param_of(p, np, "time_zone");
		rc = kn_sla_calendar_options(hours, days, hol, zone, ex, nex, &cal, err);
		desc = json_pack("{s:s,s:s,s:s,s:s}", "hours", hours ? hours : "09:00-18:00", "days",
				 days ? days : "mon-fri", "holidays", hol ? hol : "jp", "time_zone",
				 zone ? zone : "Asia/Tokyo");
	}
	if (rc == KN_EVALID)
		rc = KN_EINVAL; /* the options are parameters of this request */
	if (rc) {
		json_decref(desc);
		return rc;
	}
	const kn_tz *z = kn_calendar_tz(cal);
	char a[48], b[48], d[32];
	kn_tz_format(z, from, a, sizeof a);
	if (due) {
		int64_t at;
		rc = kn_calendar_add(cal, from, dur, &at, err);
		if (!rc) {
			char utc[40];
			kn_tz_format(z, at, b, sizeof b);
			kn_format_datetime(at, utc, sizeof utc);
			kn_duration_format(dur, d, sizeof d);
			*out = json_pack("{s:s,s:s,s:s,s:s,s:I,s:o}", "due", b, "due_utc", utc, "from",
					 a, "duration", d, "seconds", (json_int_t)(dur / 1000),
					 "calendar", desc);
			desc = NULL;
		}
	} else {
		int64_t ms = kn_calendar_between(cal, from, to);
		kn_tz_format(z, to, b, sizeof b);
		kn_duration_format(ms, d, sizeof d);
		*out = json_pack("{s:I,s:s,s:s,s:s,s:o}", "seconds", (json_int_t)(ms / 1000),
				 "duration", d, "from", a, "to", b, "calendar", desc);
		desc = NULL;
	}
	json_decref(desc);
	kn_calendar_free(cal);
	return rc;
}

void kn_proc_sla_register(void)
{
	kn_clock_planner_register(plan, plan_release, pretick);
	kn_business_days_register(business_days);
	kn_action_register("sla_check", act_sla_check);
	kn_action_register("calendar_check", act_calendar_check);
	kn_action_register("calendar_changed", act_calendar_changed);
	kn_action_register("customer_check", act_customer_check);
}

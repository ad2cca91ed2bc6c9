/* SPDX-License-Identifier: Apache-2.0 */
/* clock.c - clocks on records: business time against a target (clock.h). */
#include "core/clock.h"

#include "core/rules.h"
#include "store/store.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)
#define TICK_BATCH 500
#define RECOMPUTE_BATCH 2000

static kn_clock_plan_fn planner;
static kn_clock_release_fn releaser;
static kn_clock_pretick_fn pretick;

void kn_clock_planner_register(kn_clock_plan_fn plan, kn_clock_release_fn release,
			       kn_clock_pretick_fn before_tick)
{
	planner = plan;
	releaser = release;
	pretick = before_tick;
}

enum { RUNNING, PAUSED, STOPPED, CANCELLED };
static const char *const state_names[] = {"running", "paused", "stopped", "cancelled"};

static int state_of(const char *s)
{
	for (int i = 0; s && i < 4; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* A datetime member as epoch ms, -1 when empty or bad. */
static int64_t time_of(const json_t *rec, const char *f)
{
	const char *s = json_string_value(json_object_get(rec, f));
	int64_t ms;
	return s && kn_parse_datetime(s, &ms) == 0 ? ms : -1;
}

static void set_time(json_t *rec, const char *f, int64_t ms)
{
	if (ms < 0) {
		json_object_set_new(rec, f, json_null());
		return;
	}
	char s[40];
	kn_format_datetime(ms, s, sizeof s);
	json_object_set_new(rec, f, json_string(s));
}

static int64_t cal_add(const kn_calendar *cal, int64_t from, int64_t d)
{
	if (d < 0)
		d = 0;
	if (!cal)
		return from + d;
	int64_t due;
	/* a calendar that is never open was refused when it was saved */
	return kn_calendar_add(cal, from, d, &due, NULL) == 0 ? due : from + d;
}

static int64_t cal_between(const kn_calendar *cal, int64_t a, int64_t b)
{
	return cal ? kn_calendar_between(cal, a, b) : b - a;
}

/* Up to the next whole second: stored times have seconds precision. */
static int64_t ceil_s(int64_t ms) { return (ms + 999) / 1000 * 1000; }

static void clock_clear(const kn_clock *k, json_t *rec)
{
	for (int f = 0; f < KN_CLOCK_NFIELDS; f++)
		json_object_set_new(rec, k->field[f], json_null());
}

static void clock_update(kn_engine *e, const kn_type *t, const kn_clock *k,
			 const kn_clock_plan *p, int64_t target, json_t *rec, int64_t now)
{
	int st = state_of(json_string_value(json_object_get(rec, k->field[KN_CLOCK_STATE])));
	if (target < 0) {
		if (st >= 0)
			clock_clear(k, rec);
		return;
	}
	const kn_calendar *cal = p->cal;
	int64_t elapsed = json_integer_value(json_object_get(rec, k->field[KN_CLOCK_ELAPSED])) * 1000;
	int64_t since = time_of(rec, k->field[KN_CLOCK_SINCE]);
	int64_t stopped_at = time_of(rec, k->field[KN_CLOCK_STOPPED_AT]);
	int64_t breached_at = time_of(rec, k->field[KN_CLOCK_BREACHED_AT]);
	bool breached = json_is_true(json_object_get(rec, k->field[KN_CLOCK_BREACHED]));
	bool fresh = false;
	int want = kn_when_holds(e, t, &k->cancel, rec) ? CANCELLED
		   : kn_when_holds(e, t, &k->stop, rec) ? STOPPED
		   : k->pause.n && kn_when_holds(e, t, &k->pause, rec) ? PAUSED
							     : RUNNING;
	if (st < 0) {
		/* a new clock counts from the record's creation; a record that is
		 * already past its stop (an imported closed ticket) gets none */
		if (want == STOPPED || want == CANCELLED)
			return;
		fresh = true;
		st = RUNNING;
		since = time_of(rec, "created_at");
		if (since < 0 || since > now)
			since = now;
		since = since / 1000 * 1000;
		elapsed = 0;
		breached = false;
		breached_at = stopped_at = -1;
	}
	if (k->once && st == STOPPED)
		want = STOPPED;
	if (st == RUNNING && since < 0)
		since = now;
	/* where a running clock crossed its target */
	int64_t cross = st == RUNNING && elapsed <= target ? cal_add(cal, since, target - elapsed) : -1;
	if (st == RUNNING && want != RUNNING) {
		elapsed += cal_between(cal, since, now);
		since = -1;
	} else if (st != RUNNING && want == RUNNING) {
		since = now;
	}
	if (want == STOPPED)
		stopped_at = st == STOPPED && stopped_at >= 0 ? stopped_at : now;
	else
		stopped_at = -1;
	int64_t cur = elapsed + (want == RUNNING ? cal_between(cal, since, now) : 0);
	if (!breached && cur > target && want != CANCELLED) {
		breached = true;
		breached_at = cross >= 0 && cross <= now ? ceil_s(cross) : now;
	}
	/* a threshold once reached stays reached (a longer target after a
	 * priority change does not warn again about the same one) */
	int warned = fresh ? 0 : (int)json_integer_value(json_object_get(rec, k->field[KN_CLOCK_WARNED]));
	for (int i = 0; i < p->nwarn; i++)
		if (cur * 100 >= (int64_t)p->warn[i] * target && p->warn[i] > warned)
			warned = p->warn[i];
	if (breached)
		warned = 100;
	int64_t due = -1, next = -1;
	if (want == RUNNING) {
		due = breached ? breached_at : cal_add(cal, since, target - elapsed);
		if (!breached) {
			next = due + 1000; /* a breach is being past the due time */
			for (int i = 0; i < p->nwarn; i++) {
				if (p->warn[i] <= warned || p->warn[i] >= 100)
					continue;
				int64_t at = ceil_s(cal_add(
				    cal, since, ((int64_t)p->warn[i] * target + 99) / 100 - elapsed));
				if (at < next)
					next = at;
				break;
			}
		}
	}
	json_object_set_new(rec, k->field[KN_CLOCK_TARGET], json_integer(target / 1000));
	json_object_set_new(rec, k->field[KN_CLOCK_STATE], json_string(state_names[want]));
	json_object_set_new(rec, k->field[KN_CLOCK_BREACHED], json_boolean(breached));
	json_object_set_new(rec, k->field[KN_CLOCK_ELAPSED], json_integer(elapsed / 1000));
	json_object_set_new(rec, k->field[KN_CLOCK_WARNED], json_integer(warned));
	set_time(rec, k->field[KN_CLOCK_DUE], due);
	set_time(rec, k->field[KN_CLOCK_BREACHED_AT], breached ? breached_at : -1);
	set_time(rec, k->field[KN_CLOCK_SINCE], want == RUNNING ? since : -1);
	set_time(rec, k->field[KN_CLOCK_STOPPED_AT], stopped_at);
	set_time(rec, k->field[KN_CLOCK_NEXT], next);
}

int kn_clocks_apply(kn_engine *e, const kn_type *t, json_t *rec, int64_t now_ms, kn_error *err)
{
	if (!t->nclocks || !planner)
		return 0;
	kn_clock_plan p;
	memset(&p, 0, sizeof p);
	for (int i = 0; i < KN_MAX_CLOCKS; i++)
		p.target_ms[i] = -1;
	int rc = planner(e, t, rec, &p, err);
	if (rc)
		return rc;
	int64_t now = now_ms / 1000 * 1000;
	json_object_set_new(rec, t->agreement_field,
			    p.agreement[0] ? json_string(p.agreement) : json_null());
	for (size_t i = 0; i < t->nclocks; i++)
		clock_update(e, t, &t->clocks[i], &p, p.target_ms[i], rec, now);
	if (releaser)
		releaser(&p);
	return 0;
}

/* ---- storing what a clock changed ---------------------------------------- */

/* Whether every field that differs between before and rec is derived. */
static bool only_derived(const kn_type *t, const json_t *before, const json_t *rec, bool *any)
{
	*any = false;
	bool only = true;
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		json_t *a = json_object_get(before, f->name), *b = json_object_get(rec, f->name);
		if (json_equal(a ? a : json_null(), b ? b : json_null()))
			continue;
		*any = true;
		only &= f->derived;
	}
	return only;
}

/* Write the derived fields of rec in place: no new version, no journal
 * entry (they are left out of the record's digest). */
static int write_derived(kn_engine *e, const kn_type *t, const json_t *rec, kn_error *err)
{
	json_t *set = json_object();
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].derived)
			json_object_set(set, t->fields[i].name,
					json_object_get(rec, t->fields[i].name));
	int rc = OPS(e)->rec_update(ST(e), t, json_integer_value(json_object_get(rec, "id")),
				    json_integer_value(json_object_get(rec, "version")), set, err);
	json_decref(set);
	return rc;
}

/* Apply the clocks to one stored record and store what changed. */
static int clock_visit(kn_engine *e, const kn_type *t, const json_t *stored, int64_t now,
		       const char *reason, bool *changed, kn_error *err)
{
	json_t *rec = json_deep_copy(stored);
	bool any = false;
	int rc = kn_clocks_apply(e, t, rec, now, err);
	if (!rc) {
		bool derived = only_derived(t, stored, rec, &any);
		if (any && derived)
			rc = write_derived(e, t, rec, err);
		else if (any)
			rc = kn_rec_system_save_tx(e, t, stored, rec, reason, err);
	}
	*changed = any;
	json_decref(rec);
	return rc;
}

static int clock_batch(kn_engine *e, const kn_type *t, kn_cond *conds, size_t nconds,
		       const char *sort_attr, int limit, json_t **items, kn_error *err)
{
	kn_sort sort = {sort_attr, false};
	kn_query q = {conds, nconds, &sort, 1, NULL, limit, false, NULL, 0};
	int64_t total;
	return OPS(e)->rec_list(ST(e), t, &q, items, &total, err);
}

int kn_clocks_tick(kn_engine *e, int64_t now_ms, int *n, kn_error *err)
{
	*n = 0;
	if (pretick) {
		int rc = pretick(e, now_ms, err);
		if (rc)
			return rc;
	}
	char now[40];
	kn_format_datetime(now_ms, now, sizeof now);
	for (size_t ti = 0; ti < e->schema->ntypes; ti++) {
		const kn_type *t = &e->schema->types[ti];
		for (size_t ci = 0; ci < t->nclocks; ci++) {
			const kn_clock *k = &t->clocks[ci];
			kn_cond c = {.attr = k->field[KN_CLOCK_NEXT], .op = KN_OP_LTE,
				     .values = json_pack("[s]", now)};
			json_t *items = NULL;
			int rc = clock_batch(e, t, &c, 1, k->field[KN_CLOCK_NEXT], TICK_BATCH,
					     &items, err);
			json_decref((json_t *)c.values);
			size_t i;
			json_t *rec;
			json_array_foreach(items, i, rec)
			{
				if (rc)
					break;
				char reason[96];
				snprintf(reason, sizeof reason, "clock %s", k->name);
				bool changed;
				rc = clock_visit(e, t, rec, now_ms, reason, &changed, err);
				*n += changed;
			}
			json_decref(items);
			if (rc)
				return rc;
		}
	}
	return 0;
}

struct recompute_arg {
	const kn_type *t;
	size_t ci;       /* the clock whose records this pass visits */
	bool unstarted;  /* pass: open records without that clock, else its running/paused ones */
	int64_t now, after_id, n, changed;
	bool done;
};

static int recompute_batch(kn_engine *e, void *arg, kn_error *err)
{
	struct recompute_arg *a = arg;
	const kn_type *t = a->t;
	kn_cond c[KN_MAX_CLOCKS + 2];
	size_t n = 0;
	if (a->unstarted) {
		json_t *finals = json_array();
		for (size_t i = 0; i < t->nstates; i++)
			if (t->states[i].final)
				json_array_append_new(finals, json_string(t->states[i].name));
		c[n++] = (kn_cond){.attr = t->clocks[a->ci].field[KN_CLOCK_STATE], .op = KN_OP_NULL,
				   .values = json_array()};
		c[n++] = (kn_cond){.attr = "state", .op = KN_OP_NIN, .values = finals};
	} else {
		c[n++] = (kn_cond){.attr = t->clocks[a->ci].field[KN_CLOCK_STATE], .op = KN_OP_IN,
				   .values = json_pack("[ss]", "running", "paused")};
		/* those an earlier clock's pass visited already */
		for (size_t j = 0; j < a->ci; j++)
			c[n++] = (kn_cond){.attr = t->clocks[j].field[KN_CLOCK_STATE], .op = KN_OP_NIN,
					   .values = json_pack("[ss]", "running", "paused")};
	}
	c[n++] = (kn_cond){.attr = "id", .op = KN_OP_GT,
			   .values = json_pack("[I]", (json_int_t)a->after_id)};
	json_t *items = NULL;
	int rc = clock_batch(e, t, c, n, "id", RECOMPUTE_BATCH, &items, err);
	for (size_t i = 0; i < n; i++)
		json_decref((json_t *)c[i].values);
	size_t i;
	json_t *rec;
	json_array_foreach(items, i, rec)
	{
		if (rc)
			break;
		bool changed;
		rc = clock_visit(e, t, rec, a->now, "agreements or calendars changed", &changed, err);
		a->n++;
		a->changed += changed;
		a->after_id = json_integer_value(json_object_get(rec, "id"));
	}
	a->done = json_array_size(items) < RECOMPUTE_BATCH;
	json_decref(items);
	return rc;
}

static int recompute(kn_engine *e, const kn_type *t, int64_t now_ms, bool in_tx, bool all,
		     int64_t *n, int64_t *changed, kn_error *err)
{
	*n = *changed = 0;
	for (int pass = 0; pass < (all ? 2 : 1); pass++)
		for (size_t ci = 0; ci < t->nclocks; ci++) {
			struct recompute_arg a = {t, ci, pass == 1, now_ms, 0, 0, 0, false};
			while (!a.done) {
				int rc = in_tx ? recompute_batch(e, &a, err)
					       : kn_engine_write(e, recompute_batch, &a, err);
				if (rc)
					return rc;
			}
			*n += a.n;
			*changed += a.changed;
		}
	return 0;
}

int kn_clocks_recompute(kn_engine *e, const kn_type *t, int64_t now_ms, int64_t *n,
			int64_t *changed, kn_error *err)
{
	return recompute(e, t, now_ms, false, true, n, changed, err);
}

int kn_clocks_recompute_tx(kn_engine *e, const kn_type *t, int64_t now_ms, int64_t *n,
			   int64_t *changed, kn_error *err)
{
	return recompute(e, t, now_ms, true, false, n, changed, err);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * slareport.c - what service level management reports (sla.h): one SLA's
 * figures over a period, the fit of the OLAs and contracts under an SLA,
 * and satisfaction survey results.
 *
 * The figures come from the tickets' clock fields (core/clock.h): a
 * ticket counts for a target when its clock stopped in the period under
 * that SLA; it met the target unless the clock was breached. Counting is
 * done by stats queries in SQL, all of a report on one read snapshot.
 */
#include "kanri.h"

#include "core/clock.h"
#include "core/export.h"
#include "proc/report.h"
#include "proc/sla.h"
#include "store/store.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)
#define MAX_BREACHES 1000
#define SLA_ROLES (KN_ROLE_SERVICE_OWNER | KN_ROLE_TOP_MANAGEMENT)

static const char *str(const json_t *rec, const char *name)
{
	const char *s = json_string_value(json_object_get(rec, name));
	return s && *s ? s : NULL;
}

static double pct(int64_t n, int64_t of) { return of ? 100.0 * (double)n / (double)of : 0; }

static json_t *pct_or_null(int64_t n, int64_t of)
{
	return of ? kn_stats_real(pct(n, of)) : json_null();
}

/* The calendar an SLA counts in (NULL: around the clock) and the zone its
 * dates are in. */
static int sla_calendar(kn_engine *e, const json_t *sla, kn_calendar **cal, kn_tz **zone,
			kn_error *err)
{
	*cal = NULL;
	*zone = NULL;
	const char *name = str(sla, "calendar");
	int rc = name ? kn_sla_calendar_stored(e, name, cal, err) : 0;
	if (rc == KN_ENOTFOUND)
		rc = 0, *cal = NULL;
	if (!rc && !*cal)
		rc = kn_tz_load("Asia/Tokyo", zone, err);
	return rc;
}

static const kn_tz *zone_of(const kn_calendar *cal, const kn_tz *zone)
{
	return cal ? kn_calendar_tz(cal) : zone;
}

static int64_t business(const kn_calendar *cal, int64_t a, int64_t b)
{
	return cal ? kn_calendar_between(cal, a, b) : b - a;
}

/* ---- one SLA over a period --------------------------------------------------- */

/* Whether the SLA's applies_to takes records of type t (one with clocks). */
static bool applies(const json_t *sla, const kn_type *t)
{
	const char *a = str(sla, "applies_to");
	return t->nclocks && (!a || !strcmp(a, "all") || !strcmp(a, t->name));
}

typedef struct counts {
	int64_t n, breached;
} counts;

/* Tickets of type t under sla whose clock k stopped in the period, by
 * priority (index 0: no priority, 1-5). */
static int clock_counts(kn_engine *e, const kn_user *u, const kn_type *t, const kn_clock *k,
			const char *sla, const kn_period *pd, counts by[6], kn_error *err)
{
	memset(by, 0, 6 * sizeof *by);
	char from[48], to[48], by_attrs[80], gte[80], lt[80];
	snprintf(from, sizeof from, "%.19sZ", pd->from);
	snprintf(to, sizeof to, "%.19sZ", pd->to);
	snprintf(by_attrs, sizeof by_attrs, "priority,%s", k->field[KN_CLOCK_BREACHED]);
	snprintf(gte, sizeof gte, "%s[gte]", k->field[KN_CLOCK_STOPPED_AT]);
	snprintf(lt, sizeof lt, "%s[lt]", k->field[KN_CLOCK_STOPPED_AT]);
	kn_qp q = {.n = 0};
	kn_report_add(&q, "by", kn_type_field(t, "priority") ? by_attrs : k->field[KN_CLOCK_BREACHED]);
	kn_report_add(&q, "sla", sla);
	kn_report_add(&q, k->field[KN_CLOCK_STATE], "stopped");
	kn_report_add(&q, gte, from);
	kn_report_add(&q, lt, to);
	json_t *res = NULL;
	int rc = kn_report_stats(e, u, t, &q, &res, err);
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(res, "groups"), i, g)
	{
		json_t *key = json_object_get(g, "key");
		json_t *pv = json_object_get(key, "priority");
		int p = json_is_integer(pv) ? (int)json_integer_value(pv) : 0;
		if (p < 0 || p > 5)
			p = 0;
		int64_t n = json_integer_value(json_object_get(g, "count"));
		by[p].n += n;
		if (json_is_true(json_object_get(key, k->field[KN_CLOCK_BREACHED])))
			by[p].breached += n;
	}
	json_decref(res);
	return rc;
}

/* The target rows with their figures. */
static int targets_section(kn_engine *e, const kn_user *u, const json_t *sla,
			   const kn_sla_target *tg, size_t ntg, const kn_period *pd, json_t *rows,
			   kn_error *err)
{
	const char *name = str(sla, "name");
	int rc = 0;
	for (size_t ti = 0; !rc && ti < e->schema->ntypes; ti++) {
		const kn_type *t = &e->schema->types[ti];
		if (!applies(sla, t))
			continue;
		for (size_t ci = 0; !rc && ci < t->nclocks; ci++) {
			const kn_clock *k = &t->clocks[ci];
			counts by[6];
			rc = clock_counts(e, u, t, k, name, pd, by, err);
			for (size_t i = 0; !rc && i < ntg; i++) {
				const kn_sla_target *x = &tg[i];
				if ((x->type[0] && strcmp(x->type, t->name)) || strcmp(x->clock, k->name))
					continue;
				counts c = {0, 0};
				for (int p = 0; p <= 5; p++) {
					/* a row without priority takes those without a row of their own */
					const kn_sla_target *own =
					    kn_sla_target_for(tg, ntg, t->name, k->name, p);
					if (own == x)
						c.n += by[p].n, c.breached += by[p].breached;
				}
				char d[32];
				kn_duration_format(x->ms, d, sizeof d);
				double ach = pct(c.n - c.breached, c.n);
				json_array_append_new(
				    rows,
				    json_pack("{s:s,s:s,s:o,s:s,s:I,s:o,s:I,s:I,s:I,s:o,s:o}", "type",
					      t->name, "clock", k->name,
					      "priority", x->priority ? json_integer(x->priority)
								     : json_null(),
					      "target", d, "target_seconds", (json_int_t)(x->ms / 1000),
					      "goal", x->goal >= 0 ? json_integer(x->goal) : json_null(),
					      "tickets", (json_int_t)c.n, "met",
					      (json_int_t)(c.n - c.breached), "breached",
					      (json_int_t)c.breached, "achievement",
					      pct_or_null(c.n - c.breached, c.n), "goal_met",
					      x->goal < 0 || !c.n ? json_null()
								  : json_boolean(ach >= x->goal)));
			}
		}
	}
	return rc;
}

/* Tickets whose clock was breached in the period, with the reasons. */
static int breaches_section(kn_engine *e, const json_t *sla, const kn_period *pd, json_t *rows,
			    kn_error *err)
{
	const char *name = str(sla, "name");
	char from[48], to[48];
	snprintf(from, sizeof from, "%.19sZ", pd->from);
	snprintf(to, sizeof to, "%.19sZ", pd->to);
	int rc = 0;
	for (size_t ti = 0; !rc && ti < e->schema->ntypes; ti++) {
		const kn_type *t = &e->schema->types[ti];
		for (size_t ci = 0; !rc && ci < t->nclocks; ci++) {
			const kn_clock *k = &t->clocks[ci];
			kn_cond c[3] = {
			    {.attr = "sla", .op = KN_OP_EQ, .values = json_pack("[s]", name)},
			    {.attr = k->field[KN_CLOCK_BREACHED_AT], .op = KN_OP_GTE,
			     .values = json_pack("[s]", from)},
			    {.attr = k->field[KN_CLOCK_BREACHED_AT], .op = KN_OP_LT,
			     .values = json_pack("[s]", to)},
			};
			kn_sort sort = {k->field[KN_CLOCK_BREACHED_AT], false};
			kn_query q = {c, 3, &sort, 1, NULL, MAX_BREACHES, false, NULL, 0};
			json_t *items = NULL;
			int64_t total;
			rc = OPS(e)->rec_list(ST(e), t, &q, &items, &total, err);
			for (int i = 0; i < 3; i++)
				json_decref((json_t *)c[i].values);
			size_t i;
			json_t *r;
			json_array_foreach(items, i, r)
			{
				json_t *row = json_pack(
				    "{s:s,s:O,s:O,s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "type", t->name,
				    "number", json_object_get(r, "number"), "title",
				    json_object_get(r, "title") ? json_object_get(r, "title") : json_null(),
				    "clock", k->name, "priority",
				    json_object_get(r, "priority") ? json_object_get(r, "priority")
								   : json_null(),
				    "target_seconds", json_object_get(r, k->field[KN_CLOCK_TARGET]),
				    "breached_at", json_object_get(r, k->field[KN_CLOCK_BREACHED_AT]),
				    "state", json_object_get(r, "state"), "assignment_group",
				    json_object_get(r, "assignment_group")
					? json_object_get(r, "assignment_group")
					: json_null(),
				    "reason",
				    json_object_get(r, "breach_reason") ? json_object_get(r, "breach_reason")
									: json_null(),
				    "clock_state", json_object_get(r, k->field[KN_CLOCK_STATE]));
				json_array_append_new(rows, row);
			}
			json_decref(items);
		}
	}
	return rc;
}

/* Tickets created under the SLA per day, week or month, against its limits. */
static int workload_section(kn_engine *e, const kn_user *u, const json_t *sla,
			    const kn_period *pd, json_t *rows, kn_error *err)
{
	json_t *wl = json_object_get(sla, "workload");
	json_t *a = json_is_string(wl) ? json_loads(json_string_value(wl), 0, NULL) : json_incref(wl);
	int rc = 0;
	size_t i;
	json_t *w;
	json_array_foreach(a, i, w)
	{
		const char *type = str(w, "type"), *per = str(w, "per");
		int64_t limit = json_integer_value(json_object_get(w, "limit"));
		const kn_type *t = type ? kn_schema_type(e->schema, type) : NULL;
		if (!t || !per)
			continue;
		char by[40];
		snprintf(by, sizeof by, "created_at:%s", per);
		kn_qp q = {.n = 0};
		kn_report_add(&q, "by", by);
		kn_report_add(&q, "sla", str(sla, "name"));
		kn_report_add(&q, "created_at[gte]", pd->from);
		kn_report_add(&q, "created_at[lt]", pd->to);
		json_t *res = NULL;
		rc = kn_report_stats(e, u, t, &q, &res, err);
		if (rc)
			break;
		json_t *periods = json_array();
		int64_t total = 0, over = 0;
		size_t j;
		json_t *g;
		json_array_foreach(json_object_get(res, "groups"), j, g)
		{
			int64_t n = json_integer_value(json_object_get(g, "count"));
			total += n;
			over += n > limit;
			json_array_append_new(
			    periods, json_pack("{s:O,s:I,s:b}", "period",
					       json_object_get(json_object_get(g, "key"), by),
					       "tickets", (json_int_t)n, "exceeded", n > limit));
		}
		json_decref(res);
		json_array_append_new(rows, json_pack("{s:s,s:s,s:I,s:I,s:I,s:o}", "type", type, "per",
						      per, "limit", (json_int_t)limit, "tickets",
						      (json_int_t)total, "periods_exceeded",
						      (json_int_t)over, "periods", periods));
	}
	json_decref(a);
	return rc;
}

typedef struct span {
	int64_t a, b;
} span;

static int by_start(const void *x, const void *y)
{
	const span *p = x, *q = y;
	return p->a < q->a ? -1 : p->a > q->a;
}

/* Availability: the service hours of the period less the outages recorded
 * on the service's incidents (overlapping outages count once). */
static int availability_section(kn_engine *e, const json_t *sla, const kn_calendar *cal,
				const kn_period *pd, json_t **out, kn_error *err)
{
	*out = json_null();
	const char *av = str(sla, "availability_target"), *service = str(sla, "service");
	const kn_type *it = kn_schema_type(e->schema, "incident");
	if (!av || !it || !kn_type_field(it, "outage_start"))
		return 0;
	char to[48];
	snprintf(to, sizeof to, "%.19sZ", pd->to);
	kn_cond c[2] = {
	    {.attr = "outage_start", .op = KN_OP_LT, .values = json_pack("[s]", to)},
	    {.attr = "service", .op = KN_OP_EQ, .values = json_pack("[s]", service ? service : "")},
	};
	kn_sort sort = {"outage_start", false};
	kn_query q = {c, service ? 2 : 1, &sort, 1, NULL, 100000, false, NULL, 0};
	json_t *items = NULL;
	int64_t total;
	int rc = OPS(e)->rec_list(ST(e), it, &q, &items, &total, err);
	json_decref((json_t *)c[0].values);
	json_decref((json_t *)c[1].values);
	if (rc)
		return rc;
	span *s = kn_xcalloc(json_array_size(items) + 1, sizeof *s);
	size_t n = 0, i;
	json_t *r;
	int64_t now = kn_now_ms();
	json_array_foreach(items, i, r)
	{
		int64_t a, b = now;
		if (kn_parse_datetime(str(r, "outage_start"), &a))
			continue;
		if (str(r, "outage_end") && kn_parse_datetime(str(r, "outage_end"), &b))
			continue;
		if (a < pd->from_ms)
			a = pd->from_ms;
		if (b > pd->to_ms)
			b = pd->to_ms;
		if (b > a)
			s[n++] = (span){a, b};
	}
	json_decref(items);
	qsort(s, n, sizeof *s, by_start);
	int64_t down = 0, cur_a = -1, cur_b = -1;
	for (i = 0; i < n; i++) {
		if (cur_b >= 0 && s[i].a <= cur_b) {
			if (s[i].b > cur_b)
				cur_b = s[i].b;
			continue;
		}
		if (cur_b >= 0)
			down += business(cal, cur_a, cur_b);
		cur_a = s[i].a, cur_b = s[i].b;
	}
	if (cur_b >= 0)
		down += business(cal, cur_a, cur_b);
	free(s);
	int64_t agreed = business(cal, pd->from_ms, pd->to_ms);
	double target = strtod(av, NULL);
	double actual = agreed ? 100.0 * (double)(agreed - down) / (double)agreed : 100.0;
	*out = json_pack("{s:o,s:o,s:I,s:I,s:I,s:b}", "target", kn_stats_real(target), "actual",
			 kn_stats_real(actual), "agreed_seconds", (json_int_t)(agreed / 1000),
			 "downtime_seconds", (json_int_t)(down / 1000), "outages", (json_int_t)n,
			 "met", actual >= target);
	return 0;
}

/* The first day of the month `back` months before y-m. */
static void month_back(int y, int m, int back, int *oy, int *om)
{
	int k = y * 12 + (m - 1) - back;
	*oy = k / 12;
	*om = k % 12 + 1;
}

/* The start of month y-m in zone z (epoch ms). */
static int64_t month_start(const kn_tz *z, int y, int m)
{
	return kn_tz_utc(z, kn_days_from_civil(y, m, 1) * 86400) * 1000;
}

/* Per month in the SLA's zone, each clock's tickets and achievement under
 * the SLA: a query per month (a range of the covering index). */
static int trend_section(kn_engine *e, const kn_user *u, const json_t *sla, const kn_tz *z,
			 const kn_period *pd, int months, json_t *rows, kn_error *err)
{
	/* the month of the period's last instant */
	int64_t last = pd->to_ms > pd->from_ms ? pd->to_ms - 1 : pd->to_ms;
	char lt[48];
	kn_tz_format(z, last, lt, sizeof lt);
	int y = atoi(lt), m = atoi(lt + 5), fy, fm;
	month_back(y, m, months - 1, &fy, &fm);
	int rc = 0;
	for (size_t ti = 0; !rc && ti < e->schema->ntypes; ti++) {
		const kn_type *t = &e->schema->types[ti];
		if (!applies(sla, t))
			continue;
		for (size_t ci = 0; !rc && ci < t->nclocks; ci++) {
			const kn_clock *k = &t->clocks[ci];
			for (int i = 0; !rc && i < months; i++) {
				int yy, mm, ny, nm;
				month_back(fy, fm, -i, &yy, &mm);
				month_back(fy, fm, -i - 1, &ny, &nm);
				kn_period mp;
				mp.from_ms = month_start(z, yy, mm);
				mp.to_ms = month_start(z, ny, nm);
				kn_report_iso(mp.from_ms, mp.from, sizeof mp.from);
				kn_report_iso(mp.to_ms, mp.to, sizeof mp.to);
				counts by[6], c = {0, 0};
				rc = clock_counts(e, u, t, k, str(sla, "name"), &mp, by, err);
				for (int p = 0; p <= 5; p++)
					c.n += by[p].n, c.breached += by[p].breached;
				char key[16];
				snprintf(key, sizeof key, "%04d-%02d", yy, mm);
				json_array_append_new(
				    rows, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:o}", "month", key, "type",
						    t->name, "clock", k->name, "tickets", (json_int_t)c.n,
						    "met", (json_int_t)(c.n - c.breached), "breached",
						    (json_int_t)c.breached, "achievement",
						    pct_or_null(c.n - c.breached, c.n)));
			}
		}
	}
	return rc;
}

/* The report's tables as spreadsheet sheets. */
static json_t *sheet(const char *name, const char *const *cols, const json_t *rows)
{
	json_t *c = json_array(), *r = json_array();
	for (size_t i = 0; cols[i]; i++)
		json_array_append_new(c, json_string(cols[i]));
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		json_t *x = json_array();
		for (size_t k = 0; cols[k]; k++) {
			json_t *v = json_object_get(row, cols[k]);
			json_array_append(x, v ? v : json_null());
		}
		json_array_append_new(r, x);
	}
	return json_pack("{s:s,s:o,s:o}", "name", name, "columns", c, "rows", r);
}

static const char *const target_cols[] = {"type",   "clock",    "priority",	  "target",
					  "goal",   "tickets",  "met",	  "breached",
					  "achievement", "goal_met", NULL};
static const char *const breach_cols[] = {"type",	 "number",	 "title",
					  "clock",	 "priority",	 "target_seconds",
					  "breached_at", "assignment_group", "state",
					  "reason",	 NULL};
static const char *const workload_cols[] = {"type", "per", "limit", "tickets", "periods_exceeded",
					    NULL};
static const char *const trend_cols[] = {"month", "type",     "clock",	     "tickets",
					 "met",	  "breached", "achievement", NULL};

static char *report_csv(const json_t *rep, size_t *len)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_csv_begin(&b);
	for (size_t i = 0; target_cols[i]; i++)
		kn_csv_text(&b, i == 0, target_cols[i]);
	kn_csv_end_row(&b);
	size_t i;
	json_t *row;
	json_array_foreach(json_object_get(rep, "targets"), i, row)
	{
		for (size_t k = 0; target_cols[k]; k++)
			kn_csv_value(&b, k == 0, json_object_get(row, target_cols[k]));
		kn_csv_end_row(&b);
	}
	*len = b.len;
	return b.data;
}

static int report_xlsx(const json_t *rep, char **body, size_t *len, kn_error *err)
{
	json_t *sheets = json_array();
	json_array_append_new(sheets, sheet("Targets", target_cols, json_object_get(rep, "targets")));
	json_array_append_new(sheets,
			      sheet("Breaches", breach_cols, json_object_get(rep, "breaches")));
	json_array_append_new(sheets,
			      sheet("Workload", workload_cols, json_object_get(rep, "workload")));
	json_array_append_new(sheets, sheet("Trend", trend_cols, json_object_get(rep, "trend")));
	json_t *av = json_object_get(rep, "availability");
	if (json_is_object(av)) {
		static const char *const av_cols[] = {"target",		  "actual", "agreed_seconds",
						      "downtime_seconds", "outages", "met", NULL};
		json_t *rows = json_pack("[O]", av);
		json_array_append_new(sheets, sheet("Availability", av_cols, rows));
		json_decref(rows);
	}
	int rc = kn_xlsx_tables(sheets, body, len, err);
	json_decref(sheets);
	return rc;
}

static int report_build(kn_engine *e, const kn_user *u, const json_t *sla, const kn_calendar *cal,
			const kn_tz *z, const kn_period *pd, int months, json_t **out,
			kn_error *err)
{
	kn_sla_target *tg = NULL;
	size_t ntg = 0;
	int rc = kn_sla_targets(sla, &tg, &ntg, err);
	json_t *targets = json_array(), *breaches = json_array(), *workload = json_array(),
	       *trend = json_array(), *avail = NULL;
	if (!rc)
		rc = targets_section(e, u, sla, tg, ntg, pd, targets, err);
	if (!rc)
		rc = breaches_section(e, sla, pd, breaches, err);
	if (!rc)
		rc = workload_section(e, u, sla, pd, workload, err);
	if (!rc)
		rc = availability_section(e, sla, cal, pd, &avail, err);
	if (!rc)
		rc = trend_section(e, u, sla, z, pd, months, trend, err);
	free(tg);
	if (rc) {
		json_decref(targets), json_decref(breaches), json_decref(workload);
		json_decref(trend), json_decref(avail);
		return rc;
	}
	char from[48], to[48], now[48];
	kn_tz_format(z, pd->from_ms, from, sizeof from);
	kn_tz_format(z, pd->to_ms, to, sizeof to);
	kn_tz_format(z, kn_now_ms(), now, sizeof now);
	json_t *info = json_object();
	static const char *const keep[] = {"name",     "title",	     "service",
					   "customer", "calendar",   "availability_target",
					   "valid_from", "valid_to", "state", NULL};
	for (size_t i = 0; keep[i]; i++) {
		json_t *v = json_object_get(sla, keep[i]);
		json_object_set(info, keep[i], v ? v : json_null());
	}
	*out = json_pack("{s:o,s:s,s:s,s:s,s:o,s:o,s:o,s:o,s:o}", "sla", info, "from", from, "to",
			 to, "as_of", now, "targets", targets, "breaches", breaches, "workload",
			 workload, "availability", avail, "trend", trend);
	return 0;
}

int kn_report_sla(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		  char **body, size_t *len, const char **ctype, kn_error *err)
{
	static const char *const known[] = {"sla", "from", "to", "months", "format", NULL};
	*out = NULL;
	*body = NULL;
	const char *name = NULL, *mv = NULL;
	int fmt = 0, months = 6;
	int rc = kn_report_may(u, SLA_ROLES, err);
	if (!rc)
		rc = kn_report_only(p, np, known, err);
	if (!rc)
		rc = kn_report_param(p, np, "sla", &name, err);
	if (!rc && (!name || !*name))
		rc = kn_fail(err, KN_EINVAL, "sla", "sla is required: the agreement's name");
	if (!rc)
		rc = kn_report_format(p, np, true, &fmt, err);
	if (!rc)
		rc = kn_report_param(p, np, "months", &mv, err);
	if (!rc && mv) {
		char *end;
		long v = strtol(mv, &end, 10);
		if (!*mv || *end || v < 1 || v > 24)
			rc = kn_fail(err, KN_EINVAL, "months", "months is 1 to 24");
		months = (int)v;
	}
	const kn_type *st = kn_schema_type(e->schema, "sla");
	if (!rc && !st)
		rc = kn_fail(err, KN_ENOTFOUND, "", "this site has no agreements");
	if (rc)
		return rc;
	json_t *sla = NULL, *rep = NULL;
	kn_calendar *cal = NULL;
	kn_tz *zone = NULL;
	kn_period pd;
	if ((rc = OPS(e)->begin(ST(e), false, err)) != 0)
		return rc;
	rc = OPS(e)->rec_get_key(ST(e), st, name, &sla, err);
	if (rc == KN_ENOTFOUND)
		rc = kn_fail(err, KN_ENOTFOUND, "sla", "there is no agreement '%.64s'", name);
	if (!rc)
		rc = sla_calendar(e, sla, &cal, &zone, err);
	if (!rc) {
		const kn_tz *z = zone_of(cal, zone);
		char probe[48];
		kn_tz_format(z, kn_now_ms(), probe, sizeof probe);
		rc = kn_report_period(p, np, kn_tz_offset(z, kn_now_ms() / 1000) / 60, &pd, err);
		if (!rc)
			rc = report_build(e, u, sla, cal, z, &pd, months, &rep, err);
	}
	if (rc)
		OPS(e)->rollback(ST(e));
	else
		rc = OPS(e)->commit(ST(e), err);
	json_decref(sla);
	kn_calendar_free(cal);
	kn_tz_free(zone);
	if (rc) {
		json_decref(rep);
		return rc;
	}
	if (fmt == 1) {
		*body = report_csv(rep, len);
		*ctype = "text/csv; charset=utf-8";
		json_decref(rep);
	} else if (fmt == 2) {
		rc = report_xlsx(rep, body, len, err);
		*ctype = KN_XLSX_TYPE;
		json_decref(rep);
	} else {
		*out = rep;
	}
	return rc;
}

/* ---- the fit of supporting agreements ------------------------------------------- */

#define FIT_DAYS 28
#define FIT_STEP_MS (15 * 60 * 1000LL)

static int agreement_calendar(kn_engine *e, const json_t *rec, kn_calendar **cal,
			      kn_error *err)
{
	*cal = NULL;
	const char *name = str(rec, "calendar");
	int rc = name ? kn_sla_calendar_stored(e, name, cal, err) : 0;
	return rc == KN_ENOTFOUND ? 0 : rc;
}

static int64_t due_in(const kn_calendar *cal, int64_t from, int64_t d)
{
	int64_t at;
	if (!cal)
		return from + d;
	return kn_calendar_add(cal, from, d, &at, NULL) == 0 ? at : INT64_MAX;
}

/* One supporting agreement against its SLA, target by target. */
static int fit_one(kn_engine *e, const json_t *sla, const kn_calendar *scal, const json_t *sup,
		   json_t **out, kn_error *err)
{
	kn_sla_target *st = NULL, *pt = NULL;
	size_t nst = 0, npt = 0;
	kn_calendar *pcal = NULL;
	int rc = kn_sla_targets(sla, &st, &nst, err);
	if (!rc)
		rc = kn_sla_targets(sup, &pt, &npt, err);
	if (!rc)
		rc = agreement_calendar(e, sup, &pcal, err);
	json_t *rows = json_array();
	bool all = true;
	int64_t start = kn_now_ms() / FIT_STEP_MS * FIT_STEP_MS;
	const kn_tz *z = scal ? kn_calendar_tz(scal) : pcal ? kn_calendar_tz(pcal) : NULL;
	for (size_t i = 0; !rc && i < npt; i++) {
		const kn_sla_target *x = &pt[i];
		const kn_sla_target *y =
		    kn_sla_target_for(st, nst, x->type[0] ? x->type : "incident", x->clock, x->priority);
		char a[32], b[32];
		kn_duration_format(x->ms, a, sizeof a);
		json_t *row = json_pack("{s:s?,s:s,s:o,s:s}", "type", x->type[0] ? x->type : NULL,
					"clock", x->clock, "priority",
					x->priority ? json_integer(x->priority) : json_null(),
					"supplier_target", a);
		if (!y) {
			json_object_set_new(row, "sla_target", json_null());
			json_object_set_new(row, "fits", json_null());
			json_object_set_new(row, "note",
					    json_string("the SLA has no target for this clock and "
							"priority"));
			json_array_append_new(rows, row);
			continue;
		}
		kn_duration_format(y->ms, b, sizeof b);
		json_object_set_new(row, "sla_target", json_string(b));
		int64_t worst_at = -1, worst = 0;
		for (int64_t s = start; s < start + FIT_DAYS * 86400000LL; s += FIT_STEP_MS) {
			int64_t sd = due_in(scal, s, y->ms), pd = due_in(pcal, s, x->ms);
			if (pd > sd && (worst_at < 0 || pd - sd > worst)) {
				worst = pd - sd;
				worst_at = s;
			}
		}
		json_object_set_new(row, "fits", json_boolean(worst_at < 0));
		if (worst_at >= 0) {
			char at[48], sdue[48], pdue[48], over[32];
			const kn_tz *zz = z;
			kn_tz *utc = NULL;
			if (!zz && kn_tz_load("UTC", &utc, NULL) == 0)
				zz = utc;
			kn_tz_format(zz, worst_at, at, sizeof at);
			kn_tz_format(zz, due_in(scal, worst_at, y->ms), sdue, sizeof sdue);
			kn_tz_format(zz, due_in(pcal, worst_at, x->ms), pdue, sizeof pdue);
			kn_duration_format(worst, over, sizeof over);
			json_object_set_new(row, "worst",
					    json_pack("{s:s,s:s,s:s,s:s}", "start", at, "sla_due", sdue,
						      "supplier_due", pdue, "over_by", over));
			kn_tz_free(utc);
			all = false;
		}
		json_array_append_new(rows, row);
	}
	if (!rc)
		*out = json_pack("{s:O,s:O,s:O,s:O,s:b,s:o}", "agreement", json_object_get(sup, "name"),
				 "agreement_type", json_object_get(sup, "agreement_type"),
				 "provider_group",
				 json_object_get(sup, "provider_group") ? json_object_get(sup, "provider_group")
									: json_null(),
				 "supplier",
				 json_object_get(sup, "supplier") ? json_object_get(sup, "supplier")
								  : json_null(),
				 "fits", all, "targets", rows);
	else
		json_decref(rows);
	free(st), free(pt);
	kn_calendar_free(pcal);
	return rc;
}

int kn_sla_fit(kn_engine *e, const kn_user *u, const char *ref, json_t **out, kn_error *err)
{
	const kn_type *st = kn_schema_type(e->schema, "sla");
	json_t *rec = NULL;
	int rc = kn_report_may(u, SLA_ROLES, err);
	if (!rc && !st)
		rc = kn_fail(err, KN_ENOTFOUND, "", "this site has no agreements");
	if (!rc)
		rc = kn_rec_get(e, u, st, ref, &rec, err);
	if (rc)
		return rc;
	json_t *sla = NULL, *sups = NULL;
	const char *kind = str(rec, "agreement_type");
	if (kind && strcmp(kind, "sla")) {
		rc = kn_rec_get(e, u, st, str(rec, "supports"), &sla, err);
		sups = json_pack("[O]", rec);
	} else {
		sla = json_incref(rec);
		kn_cond c = {.attr = "supports", .op = KN_OP_EQ,
			     .values = json_pack("[s]", str(rec, "name"))};
		kn_sort sort = {"id", false};
		kn_query q = {&c, 1, &sort, 1, NULL, 1000, false, NULL, 0};
		int64_t total;
		rc = OPS(e)->rec_list(ST(e), st, &q, &sups, &total, err);
		json_decref((json_t *)c.values);
	}
	kn_calendar *scal = NULL;
	if (!rc)
		rc = agreement_calendar(e, sla, &scal, err);
	json_t *list = json_array();
	bool all = true;
	size_t i;
	json_t *s;
	json_array_foreach(sups, i, s)
	{
		if (rc)
			break;
		if (!strcmp(str(s, "state"), "retired"))
			continue;
		json_t *one = NULL;
		rc = fit_one(e, sla, scal, s, &one, err);
		if (!rc) {
			all &= json_is_true(json_object_get(one, "fits"));
			json_array_append_new(list, one);
		}
	}
	if (!rc)
		*out = json_pack("{s:O,s:O,s:i,s:i,s:b,s:o}", "sla", json_object_get(sla, "name"),
				 "title", json_object_get(sla, "title"), "days_checked", FIT_DAYS,
				 "step_minutes", (int)(FIT_STEP_MS / 60000), "fits", all,
				 "supporting", list);
	else
		json_decref(list);
	kn_calendar_free(scal);
	json_decref(rec), json_decref(sla), json_decref(sups);
	return rc;
}

/* ---- satisfaction ------------------------------------------------------------------ */

int kn_report_satisfaction(kn_engine *e, const kn_user *u, const kn_param *p, size_t np,
			   json_t **out, char **csv, size_t *len, kn_error *err)
{
	static const char *const known[] = {"from", "to", "service", "format", NULL};
	const kn_type *t = kn_schema_type(e->schema, "survey");
	const char *service = NULL;
	kn_period pd;
	int fmt = 0;
	*out = NULL;
	*csv = NULL;
	int rc = kn_report_may(u, SLA_ROLES, err);
	if (!rc && !t)
		rc = kn_fail(err, KN_ENOTFOUND, "", "this site has no surveys");
	if (!rc)
		rc = kn_report_only(p, np, known, err);
	if (!rc)
		rc = kn_report_period(p, np, KN_SITE_TZ_OFFSET_MIN, &pd, err);
	if (!rc)
		rc = kn_report_format(p, np, false, &fmt, err);
	if (!rc)
		rc = kn_report_param(p, np, "service", &service, err);
	if (rc)
		return rc;
	json_t *res[3] = {NULL, NULL, NULL};
	if ((rc = OPS(e)->begin(ST(e), false, err)) != 0)
		return rc;
	static const char *const bys[3] = {"service,state", "service,rating", "created_at:month"};
	for (int i = 0; i < 3 && !rc; i++) {
		kn_qp q = {.n = 0};
		kn_report_add(&q, "by", bys[i]);
		kn_report_add(&q, "created_at[gte]", pd.from);
		kn_report_add(&q, "created_at[lt]", pd.to);
		if (service)
			kn_report_add(&q, "service", service);
		if (i > 0)
			kn_report_add(&q, "state", "answered");
		if (i == 2)
			kn_report_add(&q, "avg", "rating");
		/* aggregates of every survey, whoever answered: a respondent's own
		 * survey is private, the figures per service are not */
		rc = kn_report_stats(e, NULL, t, &q, &res[i], err);
	}
	if (rc)
		OPS(e)->rollback(ST(e));
	else
		rc = OPS(e)->commit(ST(e), err);
	if (rc) {
		for (int i = 0; i < 3; i++)
			json_decref(res[i]);
		return rc;
	}
	/* per service: sent, answered, ratings 1-5 */
	json_t *svc = json_object();
	size_t i;
	json_t *g;
	json_array_foreach(json_object_get(res[0], "groups"), i, g)
	{
		json_t *key = json_object_get(g, "key");
		const char *s = json_string_value(json_object_get(key, "service"));
		const char *state = json_string_value(json_object_get(key, "state"));
		json_t *row = json_object_get(svc, s ? s : "");
		if (!row)
			json_object_set_new(svc, s ? s : "",
					    row = json_pack("{s:I,s:I,s:[iiiii]}", "sent", (json_int_t)0,
							    "answered", (json_int_t)0, "ratings", 0, 0,
							    0, 0, 0));
		int64_t n = json_integer_value(json_object_get(g, "count"));
		json_object_set_new(row, "sent",
				    json_integer(json_integer_value(json_object_get(row, "sent")) + n));
		if (state && !strcmp(state, "answered"))
			json_object_set_new(
			    row, "answered",
			    json_integer(json_integer_value(json_object_get(row, "answered")) + n));
	}
	json_array_foreach(json_object_get(res[1], "groups"), i, g)
	{
		json_t *key = json_object_get(g, "key");
		const char *s = json_string_value(json_object_get(key, "service"));
		json_t *rv = json_object_get(key, "rating");
		json_t *row = json_object_get(svc, s ? s : "");
		if (!row || !json_is_integer(rv) || json_integer_value(rv) < 1 ||
		    json_integer_value(rv) > 5)
			continue;
		json_array_set_new(json_object_get(row, "ratings"),
				   (size_t)json_integer_value(rv) - 1,
				   json_integer(json_integer_value(json_object_get(g, "count"))));
	}
	json_t *services = json_array();
	const char *k;
	json_t *row;
	json_object_foreach(svc, k, row)
	{
		int64_t sum = 0, n = 0;
		for (size_t r = 0; r < 5; r++) {
			int64_t c = json_integer_value(json_array_get(json_object_get(row, "ratings"), r));
			sum += c * (int64_t)(r + 1);
			n += c;
		}
		int64_t sent = json_integer_value(json_object_get(row, "sent"));
		int64_t answered = json_integer_value(json_object_get(row, "answered"));
		json_array_append_new(
		    services,
		    json_pack("{s:o,s:I,s:I,s:o,s:o,s:O}", "service", *k ? json_string(k) : json_null(),
			      "sent", (json_int_t)sent, "answered", (json_int_t)answered,
			      "response_rate", pct_or_null(answered, sent), "mean_rating",
			      n ? kn_stats_real((double)sum / (double)n) : json_null(), "ratings",
			      json_object_get(row, "ratings")));
	}
	json_decref(svc);
	json_t *trend = json_array();
	json_array_foreach(json_object_get(res[2], "groups"), i, g)
	{
		json_array_append_new(
		    trend, json_pack("{s:O,s:O,s:O}", "month",
				     json_object_get(json_object_get(g, "key"), "created_at:month"),
				     "answered",
				     json_object_get(g, "count"), "mean_rating",
				     json_object_get(json_object_get(g, "avg"), "rating")));
	}
	for (int r = 0; r < 3; r++)
		json_decref(res[r]);
	json_t *rep = json_pack("{s:s,s:s,s:o,s:o,s:o}", "from", pd.from, "to", pd.to, "service",
				service ? json_string(service) : json_null(), "services", services,
				"trend", trend);
	if (fmt == 1) {
		kn_buf b;
		kn_buf_init(&b, 0);
		kn_csv_begin(&b);
		static const char *const cols[] = {"service", "sent", "answered", "response_rate",
						   "mean_rating", NULL};
		for (size_t c = 0; cols[c]; c++)
			kn_csv_text(&b, c == 0, cols[c]);
		kn_csv_end_row(&b);
		json_array_foreach(services, i, row)
		{
			for (size_t c = 0; cols[c]; c++)
				kn_csv_value(&b, c == 0, json_object_get(row, cols[c]));
			kn_csv_end_row(&b);
		}
		*csv = b.data;
		*len = b.len;
		json_decref(rep);
	} else {
		*out = rep;
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * desk.c - the service desk reports (see desk.h): desk metrics per
 * assignment group, and incident trends for problem management.
 *
 * Each figure is one stats query (core/stats.h) over incidents, parsed
 * from the same parameters a client would send to GET /incidents/stats,
 * so that the reports obey every rule of stats (scoping, hidden fields)
 * and can be checked against it. All queries of a report run in one read
 * transaction: the figures agree with each other.
 */
#include "kanri.h"

#include "proc/desk.h"
#include "proc/report.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)

#define DAY_MS (24LL * 3600 * 1000)

static int incident_type(kn_engine *e, const kn_type **t, kn_error *err)
{
	*t = kn_schema_type(e->schema, "incident");
	return *t ? 0 : kn_fail(err, KN_ENOTFOUND, "", "this site has no incidents");
}

/* ---- desk ------------------------------------------------------------------- */

enum {
	F_IN,
	F_OUT,
	F_BACKLOG,
	F_AGE1,
	F_AGE3,
	F_AGE7,
	F_AGE_MORE,
	F_FCR,
	F_REASSIGN,
	F_REOPENED,
	F_ESCALATIONS,
	F_ESCALATED,
	NFIG
};

static const char *const fig_names[NFIG] = {
    "tickets_in",    "tickets_out",   "backlog",       "backlog_lt_1d",
    "backlog_1d_3d", "backlog_3d_7d", "backlog_gt_7d", "fcr",
    "reassignments", "reopened",      "escalations",   "escalated",
};

typedef struct drow {
	json_t *group; /* the group's key, or null (unassigned) */
	int64_t fig[NFIG];
	json_t *mttr;	     /* hours or null */
	json_t *by_priority; /* {"1": hours} */
} drow;

typedef struct desk {
	drow *rows;
	size_t n, cap;
	drow total;
} desk;

static void drow_init(drow *r, const json_t *group)
{
	memset(r, 0, sizeof *r);
	r->group = group ? json_deep_copy(group) : json_null();
	r->mttr = json_null();
	r->by_priority = json_object();
}

static drow *row_for(desk *d, const json_t *group)
{
	if (!group)
		group = json_null();
	for (size_t i = 0; i < d->n; i++)
		if (json_equal(d->rows[i].group, group))
			return &d->rows[i];
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 16;
		d->rows = kn_xrealloc(d->rows, d->cap * sizeof *d->rows);
	}
	drow_init(&d->rows[d->n], group);
	return &d->rows[d->n++];
}

static void desk_release(desk *d)
{
	for (size_t i = 0; i < d->n; i++) {
		json_decref(d->rows[i].group);
		json_decref(d->rows[i].mttr);
		json_decref(d->rows[i].by_priority);
	}
	free(d->rows);
	json_decref(d->total.group);
	json_decref(d->total.mttr);
	json_decref(d->total.by_priority);
}

/* What one query gives, into each group's row (grouped) or the total row. */
typedef enum take { T_COUNT, T_SUM, T_MTTR, T_MTTR_PRIORITY } take;

static void take_one(drow *r, const json_t *g, int fig, take how, const char *sumf)
{
	switch (how) {
	case T_COUNT:
		r->fig[fig] = json_integer_value(json_object_get(g, "count"));
		break;
	case T_SUM:
		r->fig[fig] = json_integer_value(json_object_get(json_object_get(g, "sum"), sumf));
		break;
	case T_MTTR: {
		json_t *v = json_object_get(
		    json_object_get(json_object_get(g, "avg_hours"), "created_at,resolved_at"),
		    "value");
		json_decref(r->mttr);
		r->mttr = v ? json_incref(v) : json_null();
		break;
	}
	case T_MTTR_PRIORITY: {
		const json_t *pv = json_object_get(json_object_get(g, "key"), "priority");
		json_t *v = json_object_get(
		    json_object_get(json_object_get(g, "avg_hours"), "created_at,resolved_at"),
		    "value");
		char k[24];
		if (json_is_integer(pv))
			snprintf(k, sizeof k, "%" JSON_INTEGER_FORMAT, json_integer_value(pv));
		else
			snprintf(k, sizeof k, "none");
		json_object_set_new(r->by_priority, k, v ? json_incref(v) : json_null());
		break;
	}
	}
}

static void take_all(desk *d, const json_t *res, bool grouped, int fig, take how, const char *sumf)
{
	size_t i;
	const json_t *g;
	json_array_foreach(json_object_get(res, "groups"), i, g)
	{
		drow *r =
		    grouped
			? row_for(d, json_object_get(json_object_get(g, "key"), "assignment_group"))
			: &d->total;
		take_one(r, g, fig, how, sumf);
	}
}

/* A condition and its value, one after the other in a qp. */
typedef struct cond2 {
	const char *k, *v;
} cond2;

/* One desk figure: the conditions that select its incidents (besides the
 * period, given by `base`) and what it takes from them. */
typedef struct dquery {
	int fig;
	take how;
	int base; /* 0 created in the period, 1 resolved in it, 2 open now */
	cond2 c[3];
	const char *metric_k, *metric_v;
	const char *sumf;
} dquery;

static json_t *rate(int64_t n, int64_t of)
{
	return of ? kn_stats_real((double)n / (double)of) : json_null();
}

static json_t *row_json(const drow *r, bool with_group)
{
	json_t *o = json_object();
	if (with_group)
		json_object_set(o, "group", r->group);
	for (int f = 0; f < NFIG; f++) {
		json_object_set_new(o, fig_names[f], json_integer(r->fig[f]));
		if (f == F_AGE_MORE) {
			json_object_set(o, "mttr_hours", r->mttr);
			json_object_set(o, "mttr_hours_by_priority", r->by_priority);
		} else if (f == F_FCR) {
			json_object_set_new(o, "fcr_rate", rate(r->fig[F_FCR], r->fig[F_OUT]));
		} else if (f == F_REOPENED) {
			json_object_set_new(o, "reopen_rate",
					    rate(r->fig[F_REOPENED], r->fig[F_OUT]));
		}
	}
	return o;
}

/* Names before null (unassigned), in byte order. */
static int by_group(const void *pa, const void *pb)
{
	const drow *a = pa, *b = pb;
	const char *x = json_string_value(a->group), *y = json_string_value(b->group);
	if (!x || !y)
		return !x - !y;
	return strcmp(x, y);
}

/* The desk report as CSV: a row per group, then the total. The priorities
 * are the field's declared range, else those that occur. */
static char *desk_csv(const kn_type *t, const json_t *rep, size_t *len)
{
	json_t *prios = json_array();
	const kn_field *pf = kn_type_field(t, "priority");
	if (pf && pf->has_min && pf->has_max && pf->max - pf->min < 20) {
		for (int64_t p = pf->min; p <= pf->max; p++) {
			char k[24];
			snprintf(k, sizeof k, "%lld", (long long)p);
			json_array_append_new(prios, json_string(k));
		}
	} else {
		const char *k;
		const json_t *v;
		json_object_foreach((json_t *)json_object_get(json_object_get(rep, "total"),
							      "mttr_hours_by_priority"),
				    k, v) json_array_append_new(prios, json_string(k));
	}
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_csv_begin(&b);
	kn_csv_text(&b, true, "group");
	for (const char *const *h =
		 (const char *const[]){"tickets_in", "tickets_out", "backlog", "backlog_lt_1d",
				       "backlog_1d_3d", "backlog_3d_7d", "backlog_gt_7d",
				       "mttr_hours", NULL};
	     *h; h++)
		kn_csv_text(&b, false, *h);
	size_t i;
	const json_t *pk;
	json_array_foreach(prios, i, pk)
	{
		char h[48];
		snprintf(h, sizeof h, "mttr_hours_p%s", json_string_value(pk));
		kn_csv_text(&b, false, h);
	}
	static const char *const tail[] = {"fcr",	"fcr_rate",    "reassignments",
					   "reopened",	"reopen_rate", "escalations",
					   "escalated", NULL};
	for (const char *const *h = tail; *h; h++)
		kn_csv_text(&b, false, *h);
	kn_csv_end_row(&b);
	size_t nrows = json_array_size(json_object_get(rep, "groups"));
	for (size_t r = 0; r <= nrows; r++) {
		const json_t *row = r < nrows ? json_array_get(json_object_get(rep, "groups"), r)
					      : json_object_get(rep, "total");
		if (r == nrows)
			kn_csv_text(&b, true, "(total)");
		else if (json_is_null(json_object_get(row, "group")))
			kn_csv_text(&b, true, "(unassigned)");
		else
			kn_csv_value(&b, true, json_object_get(row, "group"));
		static const char *const head[] = {
		    "tickets_in",    "tickets_out",   "backlog",
		    "backlog_lt_1d", "backlog_1d_3d", "backlog_3d_7d",
		    "backlog_gt_7d", "mttr_hours",    NULL};
		for (const char *const *h = head; *h; h++)
			kn_csv_value(&b, false, json_object_get(row, *h));
		json_array_foreach(prios, i, pk)
		    kn_csv_value(&b, false,
				 json_object_get(json_object_get(row, "mttr_hours_by_priority"),
						 json_string_value(pk)));
		for (const char *const *h = tail; *h; h++)
			kn_csv_value(&b, false, json_object_get(row, *h));
		kn_csv_end_row(&b);
	}
	json_decref(prios);
	*len = b.len;
	return b.data;
}

/* group=NAME must name an existing group (a typo would report zeros). */
static int check_group(kn_engine *e, const kn_type *t, const char *name, kn_error *err)
{
	const kn_field *f = kn_type_field(t, "assignment_group");
	const kn_type *gt = f && f->ref ? kn_schema_type(e->schema, f->ref) : NULL;
	if (!*name || !kn_utf8_valid(name, strlen(name)))
		return kn_fail(err, KN_EINVAL, "group", "group must name a group");
	if (!gt)
		return 0;
	json_t *rec = NULL;
	int rc = OPS(e)->rec_get_key(ST(e), gt, name, &rec, err);
	json_decref(rec);
	if (rc == KN_ENOTFOUND)
		return kn_fail(err, KN_EINVAL, "group", "there is no group '%.64s'", name);
	return rc;
}

static int desk_run(kn_engine *e, const kn_user *u, const kn_type *t, const kn_period *pd,
		    const char *group, desk *d, kn_error *err)
{
	char age[3][40];
	int64_t now = kn_now_ms();
	kn_report_iso(now - DAY_MS, age[0], sizeof age[0]);
	kn_report_iso(now - 3 * DAY_MS, age[1], sizeof age[1]);
	kn_report_iso(now - 7 * DAY_MS, age[2], sizeof age[2]);
	static const char *const hours = "created_at,resolved_at";
	const dquery qs[] = {
	    {F_IN, T_COUNT, 0, {{0}}, NULL, NULL, NULL},
	    {F_ESCALATIONS, T_SUM, 0, {{0}}, "sum", "escalation_count", "escalation_count"},
	    {F_ESCALATED, T_COUNT, 0, {{"escalation_level[gt]", "0"}}, NULL, NULL, NULL},
	    {F_OUT, T_COUNT, 1, {{0}}, NULL, NULL, NULL},
	    {-1, T_MTTR, 1, {{0}}, "avg_hours", hours, NULL},
	    {-2, T_MTTR_PRIORITY, 1, {{0}}, "avg_hours", hours, NULL},
	    {F_REASSIGN, T_SUM, 1, {{0}}, "sum", "reassignment_count", "reassignment_count"},
	    {F_FCR,
	     T_COUNT,
	     1,
	     {{"reassignment_count", "0"}, {"escalation_count", "0"}},
	     NULL,
	     NULL,
	     NULL},
	    {F_REOPENED, T_COUNT, 1, {{"reopen_count[gt]", "0"}}, NULL, NULL, NULL},
	    {F_BACKLOG, T_COUNT, 2, {{0}}, NULL, NULL, NULL},
	    {F_AGE1, T_COUNT, 2, {{"created_at[gt]", age[0]}}, NULL, NULL, NULL},
	    {F_AGE3,
	     T_COUNT,
	     2,
	     {{"created_at[gt]", age[1]}, {"created_at[lte]", age[0]}},
	     NULL,
	     NULL,
	     NULL},
	    {F_AGE7,
	     T_COUNT,
	     2,
	     {{"created_at[gt]", age[2]}, {"created_at[lte]", age[1]}},
	     NULL,
	     NULL,
	     NULL},
	    {F_AGE_MORE, T_COUNT, 2, {{"created_at[lte]", age[2]}}, NULL, NULL, NULL},
	};
	int rc = 0;
	for (size_t i = 0; i < sizeof qs / sizeof qs[0] && !rc; i++) {
		const dquery *dq = &qs[i];
		for (int grouped = 1; grouped >= 0 && !rc; grouped--) {
			kn_qp q = {.n = 0};
			if (dq->how == T_MTTR_PRIORITY)
				kn_report_add(&q, "by", grouped ? "assignment_group,priority" : "priority");
			else if (grouped)
				kn_report_add(&q, "by", "assignment_group");
			else
				kn_report_add(&q, "by", "");
			if (dq->base == 0) {
				kn_report_add(&q, "created_at[gte]", pd->from);
				kn_report_add(&q, "created_at[lt]", pd->to);
			} else if (dq->base == 1) {
				kn_report_add(&q, "resolved_at[gte]", pd->from);
				kn_report_add(&q, "resolved_at[lt]", pd->to);
			} else {
				kn_report_add(&q, "open", "true");
			}
			for (size_t c = 0; c < 3 && dq->c[c].k; c++)
				kn_report_add(&q, dq->c[c].k, dq->c[c].v);
			if (dq->metric_k)
				kn_report_add(&q, dq->metric_k, dq->metric_v);
			if (group)
				kn_report_add(&q, "assignment_group", group);
			json_t *res = NULL;
			rc = kn_report_stats(e, u, t, &q, &res, err);
			if (!rc)
				take_all(d, res, grouped, dq->fig, dq->how, dq->sumf);
			json_decref(res);
		}
	}
	return rc;
}

/* What every report checks first: the caller may see reports, only the
 * report's own parameters (known) are given, the period and the format. */
static int report_params(kn_engine *e, const kn_user *u, const kn_param *p, size_t np,
			 const char *const *known, const kn_type **t, kn_period *pd, bool *want_csv,
			 kn_error *err)
{
	int fmt = 0;
	int rc = kn_report_may(u, 0, err);
	if (!rc)
		rc = incident_type(e, t, err);
	if (!rc)
		rc = kn_report_only(p, np, known, err);
	if (!rc)
		rc = kn_report_period(p, np, KN_SITE_TZ_OFFSET_MIN, pd, err);
	if (!rc)
		rc = kn_report_format(p, np, false, &fmt, err);
	*want_csv = fmt == 1;
	return rc;
}

int kn_report_desk(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		   char **csv, size_t *csv_len, kn_error *err)
{
	static const char *const known[] = {"from", "to", "group", "format", NULL};
	const kn_type *t = NULL;
	kn_period pd;
	bool want_csv = false;
	const char *group = NULL;
	*out = NULL;
	if (csv)
		*csv = NULL;
	int rc = report_params(e, u, p, np, known, &t, &pd, &want_csv, err);
	if (!rc)
		rc = kn_report_param(p, np, "group", &group, err);
	if (rc)
		return rc;
	desk d = {0};
	drow_init(&d.total, NULL);
	if (!(rc = OPS(e)->begin(ST(e), false, err))) {
		if (group)
			rc = check_group(e, t, group, err);
		if (!rc)
			rc = desk_run(e, u, t, &pd, group, &d, err);
		if (rc)
			OPS(e)->rollback(ST(e));
		else
			rc = OPS(e)->commit(ST(e), err);
	}
	if (rc) {
		desk_release(&d);
		return rc;
	}
	if (d.n)
		qsort(d.rows, d.n, sizeof *d.rows, by_group);
	json_t *rows = json_array();
	for (size_t i = 0; i < d.n; i++)
		json_array_append_new(rows, row_json(&d.rows[i], true));
	char now[32];
	kn_now_iso(now, sizeof now);
	json_t *rep = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "from", pd.from, "to", pd.to, "as_of",
				now, "group", group ? json_string(group) : json_null(), "groups",
				rows, "total", row_json(&d.total, false));
	desk_release(&d);
	if (want_csv && csv) {
		*csv = desk_csv(t, rep, csv_len);
		json_decref(rep);
	} else {
		*out = rep;
	}
	return 0;
}

/* ---- incident trends -------------------------------------------------------- */

static const char *const trend_attrs[] = {"service",	     "ci", "category", "subcategory",
					  "resolution_code", NULL};

/* by=a,b: 1 to 3 of trend_attrs, each once. */
static int trend_by(const char *v, kn_error *err)
{
	if (!v || !*v)
		return kn_fail(err, KN_EINVAL, "by",
			       "by is required: 1 to 3 of service, ci, category, subcategory,"
			       " resolution_code");
	char *dup = kn_xstrdup(v), *save = NULL;
	const char *seen[3];
	size_t n = 0;
	int rc = 0;
	for (const char *p = v; *p; p++)
		if (*p == ',' && (p == v || p[1] == 0 || p[1] == ','))
			rc = kn_fail(err, KN_EINVAL, "by", "by holds an empty name");
	for (char *tok = strtok_r(dup, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		size_t k = 0;
		while (trend_attrs[k] && strcmp(trend_attrs[k], tok) != 0)
			k++;
		if (!trend_attrs[k]) {
			rc = kn_fail(err, KN_EINVAL, "by",
				     "cannot group trends by '%.64s' (service, ci, category,"
				     " subcategory, resolution_code)",
				     tok);
			break;
		}
		for (size_t i = 0; i < n && !rc; i++)
			if (seen[i] == trend_attrs[k])
				rc = kn_fail(err, KN_EINVAL, "by", "by names %s twice", tok);
		if (!rc && n == 3)
			rc = kn_fail(err, KN_EINVAL, "by", "by takes at most 3 attributes");
		if (!rc)
			seen[n++] = trend_attrs[k];
	}
	free(dup);
	return rc;
}

static char *trends_csv(const json_t *rep, size_t *len)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_csv_begin(&b);
	const json_t *by = json_object_get(rep, "by");
	int64_t threshold = json_integer_value(json_object_get(rep, "threshold"));
	size_t i, gi;
	const json_t *a, *g;
	json_array_foreach(by, i, a) kn_csv_text(&b, i == 0, json_string_value(a));
	kn_csv_text(&b, false, "count");
	kn_csv_text(&b, false, "candidate");
	kn_csv_end_row(&b);
	json_array_foreach(json_object_get(rep, "groups"), gi, g)
	{
		const json_t *key = json_object_get(g, "key");
		json_array_foreach(by, i, a)
		    kn_csv_value(&b, i == 0, json_object_get(key, json_string_value(a)));
		const json_t *n = json_object_get(g, "count");
		kn_csv_value(&b, false, n);
		kn_csv_text(&b, false, json_integer_value(n) >= threshold ? "yes" : "no");
		kn_csv_end_row(&b);
	}
	*len = b.len;
	return b.data;
}

int kn_report_trends(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		     char **csv, size_t *csv_len, kn_error *err)
{
	static const char *const known[] = {"from", "to", "by", "threshold", "format", NULL};
	const kn_type *t = NULL;
	kn_period pd;
	bool want_csv = false;
	const char *by = NULL, *th = NULL;
	int64_t threshold = 3;
	*out = NULL;
	if (csv)
		*csv = NULL;
	int rc = report_params(e, u, p, np, known, &t, &pd, &want_csv, err);
	if (!rc)
		rc = kn_report_param(p, np, "by", &by, err);
	if (!rc)
		rc = trend_by(by, err);
	if (!rc)
		rc = kn_report_param(p, np, "threshold", &th, err);
	if (!rc && th) {
		char *end;
		long long n = strtoll(th, &end, 10);
		if (!*th || *end || n < 1 || n > 1000000000)
			rc = kn_fail(err, KN_EINVAL, "threshold",
				     "threshold must be a whole number of at least 1");
		threshold = n;
	}
	if (rc)
		return rc;
	char thr[24];
	snprintf(thr, sizeof thr, "%lld", (long long)threshold);
	json_t *all = NULL, *cand = NULL;
	if (!(rc = OPS(e)->begin(ST(e), false, err))) {
		kn_qp q = {.n = 0};
		kn_report_add(&q, "by", by);
		kn_report_add(&q, "created_at[gte]", pd.from);
		kn_report_add(&q, "created_at[lt]", pd.to);
		rc = kn_report_stats(e, u, t, &q, &all, err);
		kn_report_add(&q, "min_count", thr);
		if (!rc)
			rc = kn_report_stats(e, u, t, &q, &cand, err);
		if (rc)
			OPS(e)->rollback(ST(e));
		else
			rc = OPS(e)->commit(ST(e), err);
	}
	if (rc) {
		json_decref(all);
		json_decref(cand);
		return rc;
	}
	json_t *rep =
	    json_pack("{s:s,s:s,s:O,s:I,s:O,s:O,s:O}", "from", pd.from, "to", pd.to, "by",
		      json_object_get(all, "by"), "threshold", (json_int_t)threshold, "total",
		      json_object_get(all, "total"), "groups", json_object_get(all, "groups"),
		      "candidates", json_object_get(cand, "groups"));
	json_decref(all);
	json_decref(cand);
	if (want_csv && csv) {
		*csv = trends_csv(rep, csv_len);
		json_decref(rep);
	} else {
		*out = rep;
	}
	return 0;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * problem.c - what problem management adds to the engine (see problem.h):
 * the known error record made from a problem, and the figures of the
 * effectiveness review.
 *
 * A declaration rule cannot do the first: rules set values on the record
 * they run for, notify and pass transitions on to records of the same type,
 * but they create no record of another type and copy no field across types.
 * So it is a write transaction of its own here: the known error is created
 * (kn_rec_create_tx, validated and journalled as any create) and the
 * problem is made to name it (kn_rec_save_tx), or neither happens.
 */
#include "kanri.h"

#include "core/stats.h"
#include "proc/problem.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)

#define DAY_MS (24LL * 3600 * 1000)

/* ---- known error from a problem ------------------------------------------- */

typedef struct kejob {
	const kn_user *u;
	const kn_type *pt, *kt;
	const char *ref;
	const json_t *body;
	json_t *out;
} kejob;

/* The problem's fields a known error starts from: {known_error field: problem field}. */
static const char *const ke_from[][2] = {
	{"title", "title"},	  {"symptoms", "description"}, {"root_cause", "root_cause"},
	{"workaround", "workaround"}, {"service", "service"},	    {"ci", "ci"},
	{"category", "category"},
};

static bool empty(const json_t *v)
{
	return !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v));
}

static int ke_run(kn_engine *e, void *arg, kn_error *err)
{
	kejob *x = arg;
	json_t *seen = NULL, *prob = NULL, *body = NULL, *ke = NULL;
	int rc = kn_rec_get(e, x->u, x->pt, x->ref, &seen, err);
	json_decref(seen);
	if (!rc)
		rc = kn_rec_get(e, NULL, x->pt, x->ref, &prob, err);
	const char *num = json_string_value(json_object_get(prob, "number"));
	const char *st = json_string_value(json_object_get(prob, "state"));
	if (!rc && (!st || (strcmp(st, "known_error") && strcmp(st, "fix_in_progress") &&
			    strcmp(st, "resolved"))))
		rc = kn_fail(err, KN_EVALID, "state",
			     "problem %s is %s: a known error is recorded once the root cause or a "
			     "workaround is known (transition identify)",
			     num, st ? st : "?");
	if (!rc && !empty(json_object_get(prob, "known_error")))
		rc = kn_fail(err, KN_ECONFLICT, "known_error", "problem %s has its known error %s already",
			     num, json_string_value(json_object_get(prob, "known_error")));
	if (!rc) {
		body = json_object();
		for (size_t i = 0; i < sizeof ke_from / sizeof ke_from[0]; i++) {
			json_t *v = json_object_get(prob, ke_from[i][1]);
			if (!empty(v) && kn_type_field(x->kt, ke_from[i][0]))
				json_object_set(body, ke_from[i][0], v);
		}
		json_object_set_new(body, "problem", json_string(num));
		json_object_update(body, (json_t *)x->body);
		rc = kn_rec_create_tx(e, x->u, x->kt, body, &ke, err);
	}
	if (!rc) {
		json_t *kn = json_object_get(ke, "number");
		json_t *changes = json_pack("[{s:s,s:O?,s:O}]", "field", "known_error", "old",
					    json_object_get(prob, "known_error"), "new", kn);
		json_object_set(prob, "known_error", kn);
		const char *reason = json_string_value(json_object_get(x->body, "reason"));
		rc = kn_rec_save_tx(e, x->u, x->pt, prob, "known_error", changes, reason, 0, err);
		json_decref(changes);
	}
	json_decref(prob);
	json_decref(body);
	if (rc) {
		json_decref(ke);
		return rc;
	}
	x->out = ke;
	return 0;
}

int kn_problem_known_error(kn_engine *e, const kn_user *u, const char *ref, const json_t *body,
			   json_t **out, kn_error *err)
{
	const kn_type *pt = kn_schema_type(e->schema, "problem");
	const kn_type *kt = kn_schema_type(e->schema, "known_error");
	const kn_field *link = pt ? kn_type_field(pt, "known_error") : NULL;
	if (!pt || !kt || !link)
		return kn_fail(err, KN_ENOTFOUND, "", "this installation has no known errors");
	if (!json_is_object(body))
		return kn_fail(err, KN_EINVAL, "", "the body must be a JSON object");
	if (json_object_get(body, "problem"))
		return kn_fail(err, KN_EVALID, "problem", "the known error names the problem it is made from");
	if (u && !(u->role & pt->can_update))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not change problem records");
	if (u && !(u->role & kt->can_create))
		return kn_fail(err, KN_EFORBIDDEN, "", "your role may not create known_error records");
	kejob x = {u, pt, kt, ref, body, NULL};
	int rc = kn_engine_write(e, ke_run, &x, err);
	if (rc) {
		json_decref(x.out);
		return rc;
	}
	*out = x.out;
	return 0;
}

/* ---- effectiveness ----------------------------------------------------------- */

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of ms. */
static void iso_ms(int64_t ms, char *out, size_t n)
{
	char s[40];
	kn_format_datetime(ms, s, sizeof s);
	snprintf(out, n, "%.19s.%03dZ", s, (int)(((ms % 1000) + 1000) % 1000));
}

/* How many incidents u may see match the filter parameters p (list syntax). */
static int count(kn_engine *e, const kn_user *u, const kn_type *it, const kn_param *p, size_t np,
		 json_int_t *n, kn_error *err)
{
	kn_stats *s = NULL;
	json_t *res = NULL;
	int rc = kn_stats_parse(it, u, p, np, &s, err);
	if (!rc)
		rc = kn_stats_run(e, s, &res, err);
	if (!rc)
		*n = json_integer_value(json_object_get(res, "total"));
	json_decref(res);
	kn_stats_free(s);
	return rc;
}

/* The created_at of the first incident naming the problem that u may see,
 * in *ms (unchanged when there is none). */
static int first_linked(kn_engine *e, const kn_user *u, const kn_type *it, const char *num,
			int64_t *ms, kn_error *err)
{
	kn_param p[] = {{"problem", num}};
	kn_filter *f = NULL;
	int rc = kn_rec_filter(it, u, p, 1, NULL, &f, err);
	if (rc)
		return rc;
	size_t nc = 0;
	const kn_cond *conds = kn_filter_conds(f, &nc);
	kn_sort sorts[] = {{"created_at", false}, {"id", false}};
	const char *attrs[] = {"id", "created_at"};
	kn_query q = {.conds = conds, .nconds = nc, .sorts = sorts, .nsorts = 2, .limit = 1,
		      .attrs = attrs, .nattrs = 2};
	json_t *items = NULL;
	int64_t total = -1;
	rc = OPS(e)->rec_list(ST(e), it, &q, &items, &total, err);
	const char *at = json_string_value(json_object_get(json_array_get(items, 0), "created_at"));
	int64_t v;
	if (!rc && at && !kn_parse_datetime(at, &v))
		*ms = v;
	json_decref(items);
	kn_filter_free(f);
	return rc;
}

/* count * 30 / days, with days at least one. */
static json_t *per30(json_int_t n, int64_t span_ms)
{
	double days = (double)span_ms / (double)DAY_MS;
	return kn_stats_real((double)n * 30.0 / (days < 1.0 ? 1.0 : days));
}

typedef struct effq {
	const char *num, *service, *category;
	char fix[40], from[40], to[40]; /* fix time, window start and end (ms form) */
	bool fixed;
} effq;

static int effectiveness(kn_engine *e, const kn_user *u, const kn_type *it, const effq *q,
			 int64_t start_ms, int64_t fix_ms, int64_t now_ms, int days, json_t *out,
			 kn_error *err)
{
	json_int_t total = 0, open = 0, before = 0, after = 0, wb = 0, wa = 0;
	json_int_t rec_all = 0, rec_win = 0, rec_other = 0;
	kn_param all[] = {{"problem", q->num}};
	kn_param opn[] = {{"problem", q->num}, {"open", "true"}};
	kn_param bef[] = {{"problem", q->num}, {"created_at[lt]", q->fix}};
	kn_param aft[] = {{"problem", q->num}, {"created_at[gte]", q->fix}};
	kn_param wbe[] = {{"problem", q->num}, {"created_at[gte]", q->from},
			  {"created_at[lt]", q->fix}};
	kn_param waf[] = {{"problem", q->num}, {"created_at[gte]", q->fix},
			  {"created_at[lt]", q->to}};
	kn_param ra[] = {{"service", q->service}, {"category", q->category},
			 {"created_at[gte]", q->fix}};
	kn_param rw[] = {{"service", q->service}, {"category", q->category},
			 {"created_at[gte]", q->fix}, {"created_at[lt]", q->to}};
	kn_param ro[] = {{"service", q->service}, {"category", q->category},
			 {"created_at[gte]", q->fix}, {"problem[ne]", q->num}};
	int rc = count(e, u, it, all, 1, &total, err);
	if (!rc)
		rc = count(e, u, it, opn, 2, &open, err);
	if (!rc && q->fixed) {
		if (!rc)
			rc = count(e, u, it, bef, 2, &before, err);
		if (!rc)
			rc = count(e, u, it, aft, 2, &after, err);
		if (!rc)
			rc = count(e, u, it, wbe, 3, &wb, err);
		if (!rc)
			rc = count(e, u, it, waf, 3, &wa, err);
	}
	bool recur = q->fixed && q->service && q->category;
	if (!rc && recur) {
		if (!rc)
			rc = count(e, u, it, ra, 3, &rec_all, err);
		if (!rc)
			rc = count(e, u, it, rw, 4, &rec_win, err);
		if (!rc)
			rc = count(e, u, it, ro, 4, &rec_other, err);
	}
	if (rc)
		return rc;
	if (!q->fixed)
		before = total;
	int64_t end_before = q->fixed ? fix_ms : now_ms;
	json_object_set_new(out, "linked",
			    json_pack("{s:I,s:I,s:I,s:o}", "total", total, "open", open,
				      "before_fix", before, "after_fix",
				      q->fixed ? json_integer(after) : json_null()));
	if (q->fixed) {
		double elapsed = (double)(now_ms - fix_ms) / (double)DAY_MS;
		if (elapsed > days)
			elapsed = days;
		json_object_set_new(out, "window",
				    json_pack("{s:s,s:s,s:s,s:I,s:I,s:o}", "from", q->from, "fix",
					      q->fix, "to", q->to, "before", wb, "after", wa,
					      "after_days_elapsed",
					      kn_stats_real(elapsed < 0 ? 0 : elapsed)));
	} else {
		json_object_set_new(out, "window", json_null());
	}
	json_object_set_new(
		out, "rate_per_30_days",
		json_pack("{s:o,s:o,s:o,s:o}", "before", per30(before, end_before - start_ms),
			  "after", q->fixed ? per30(after, now_ms - fix_ms) : json_null(),
			  "before_days", kn_stats_real((double)(end_before - start_ms) / DAY_MS),
			  "after_days",
			  q->fixed ? kn_stats_real((double)(now_ms - fix_ms) / DAY_MS) : json_null()));
	if (recur)
		json_object_set_new(out, "recurrences",
				    json_pack("{s:s,s:s,s:I,s:I,s:I}", "service", q->service,
					      "category", q->category, "after_fix", rec_all,
					      "in_window", rec_win, "not_linked", rec_other));
	else
		json_object_set_new(out, "recurrences", json_null());
	return 0;
}

int kn_problem_effectiveness(kn_engine *e, const kn_user *u, const char *ref, const kn_param *p,
			     size_t np, json_t **out, kn_error *err)
{
	const kn_type *pt = kn_schema_type(e->schema, "problem");
	const kn_type *it = kn_schema_type(e->schema, "incident");
	if (!pt || !it || !kn_type_field(it, "problem"))
		return kn_fail(err, KN_ENOTFOUND, "", "this installation has no problems");
	int days = 30;
	bool seen_days = false;
	for (size_t i = 0; i < np; i++) {
		const char *v = p[i].value ? p[i].value : "";
		if (strcmp(p[i].key, "days") != 0)
			return kn_fail(err, KN_EINVAL, p[i].key, "unknown parameter '%.64s' (days)",
				       p[i].key);
		char *end;
		long n = strtol(v, &end, 10);
		if (seen_days || !*v || *end || n < 1 || n > 365)
			return kn_fail(err, KN_EINVAL, "days", "days must be given once, 1 to 365");
		days = (int)n;
		seen_days = true;
	}
	int rc = OPS(e)->begin(ST(e), false, err);
	if (rc)
		return rc;
	json_t *prob = NULL;
	rc = kn_rec_get(e, u, pt, ref, &prob, err);
	effq q = {0};
	int64_t now = kn_now_ms(), fix = 0, start = now, created;
	if (!rc) {
		q.num = json_string_value(json_object_get(prob, "number"));
		q.service = json_string_value(json_object_get(prob, "service"));
		q.category = json_string_value(json_object_get(prob, "category"));
		const char *fa = json_string_value(json_object_get(prob, "fix_applied_at"));
		q.fixed = fa && !kn_parse_datetime(fa, &fix);
		if (q.fixed) {
			iso_ms(fix, q.fix, sizeof q.fix);
			iso_ms(fix - days * DAY_MS, q.from, sizeof q.from);
			iso_ms(fix + days * DAY_MS, q.to, sizeof q.to);
		}
		const char *ca = json_string_value(json_object_get(prob, "created_at"));
		if (ca && !kn_parse_datetime(ca, &created))
			start = created;
		int64_t first = start;
		rc = first_linked(e, u, it, q.num, &first, err);
		if (first < start)
			start = first;
		if (q.fixed && start > fix)
			start = fix;
	}
	json_t *res = NULL;
	if (!rc) {
		res = json_pack("{s:s,s:O?,s:O?,s:O?,s:O?,s:O?,s:i}", "problem", q.num, "state",
				json_object_get(prob, "state"), "service",
				json_object_get(prob, "service"), "category",
				json_object_get(prob, "category"), "fix_change",
				json_object_get(prob, "fix_change"), "fix_applied_at",
				json_object_get(prob, "fix_applied_at"), "days", days);
		rc = effectiveness(e, u, it, &q, start, fix, now, days, res, err);
	}
	if (rc)
		OPS(e)->rollback(ST(e));
	else
		rc = OPS(e)->commit(ST(e), err);
	json_decref(prob);
	if (rc) {
		json_decref(res);
		return rc;
	}
	*out = res;
	return 0;
}

/* ---- raised from an incident ---------------------------------------------- */

/* A problem raised from an incident links that incident to it (unless the
 * incident already has a problem). */
static int link_origin(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
		       int depth, kn_error *err)
{
	const char *from = json_string_value(json_object_get(rec, "from_incident"));
	const kn_type *it = kn_schema_type(e->schema, "incident");
	json_t *inc = NULL;
	if (!from || !it)
		return 0;
	int rc = OPS(e)->rec_get(ST(e), it, 0, from, &inc, err);
	const json_t *cur = rc ? NULL : json_object_get(inc, "problem");
	if (!rc && (!cur || json_is_null(cur))) {
		json_t *num = json_object_get(rec, "number");
		json_t *changes = json_pack("[{s:s, s:n, s:O}]", "field", "problem", "old", "new", num);
		char reason[96];
		snprintf(reason, sizeof reason, "problem %s raised from it", json_string_value(num));
		json_object_set(inc, "problem", num);
		rc = kn_rec_save_tx(e, u, it, inc, "update", changes, reason, depth + 1, err);
		json_decref(changes);
	}
	json_decref(inc);
	return rc;
}

void kn_proc_problem_register(void)
{
	kn_action_register("problem_link_origin", link_origin);
}

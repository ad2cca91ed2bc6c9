/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.c - aggregate queries over records (see stats.h).
 *
 * The filters and the scoping are those of lists: kn_rec_filter parses
 * them (record.c), so that a stats query can never see a record the same
 * user's list would not. What is grouped and measured is checked here
 * against the declaration and the user's role; the store turns it into one
 * SQL query (store.h, kn_statq). Averages are computed here from integer
 * sums and counts, so that both stores give the same digits.
 */
#include "kanri.h"

#include <errno.h>
#include <math.h>

#include "core/stats.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)

/* What a client asks to measure, each made of one or two kn_metrics. */
enum { M_SUM, M_AVG, M_AVG_HOURS, M_MAX_HOURS };
static const char *const mnames[] = {"sum", "avg", "avg_hours", "max_hours"};

#define MAX_UMETRICS 16
#define MS_PER_HOUR 3600000.0

typedef struct umetric {
	int kind;
	char label[132]; /* "f", or "a,b" for durations */
	size_t first;	 /* its first kn_metric */
} umetric;

struct kn_stats {
	const kn_type *t;
	kn_filter *f;
	kn_group groups[KN_STATS_GROUPS];
	char by[KN_STATS_GROUPS][80]; /* as asked: "created_at:month" */
	size_t ngroups;
	umetric um[MAX_UMETRICS];
	size_t num;
	kn_metric metrics[KN_STATS_METRICS];
	size_t nmetrics;
	int64_t min_count;
	int limit;
	bool csv;
};

static const char *const sysattrs[] = {"id",	     "number",	   "version",	 "state",
				       "created_at", "updated_at", "created_by", "updated_by"};

static const struct {
	const char *name;
	kn_bucket b;
} buckets[] = {
    {"day", KN_BUCKET_DAY},
    {"week", KN_BUCKET_WEEK},
    {"month", KN_BUCKET_MONTH},
    {"year", KN_BUCKET_YEAR},
};

/*
 * The attribute `name` of s->t as a string that outlives s (the
 * declaration's, or a system attribute's), when u may use it: a field
 * hidden from u's role is refused exactly as an unknown one (its existence
 * is not revealed). *kind: 'T' datetime, 'D' date, 'i' integer field,
 * 'L' long text, 'o' anything else. The problem names the parameter.
 */
static int lookup(const kn_type *t, const kn_user *u, const char *name, const char *param,
		  const char *what, const char **out, char *kind, kn_error *err)
{
	const kn_field *f = kn_type_field(t, name);
	if (f && !(u && (f->hidden & u->role))) {
		*out = f->name;
		*kind = f->kind == KN_DATETIME	 ? 'T'
			: f->kind == KN_DATE	 ? 'D'
			: f->kind == KN_INTEGER	 ? 'i'
			: f->kind == KN_LONGTEXT ? 'L'
						 : 'o';
		return 0;
	}
	for (size_t i = 0; !f && i < sizeof sysattrs / sizeof sysattrs[0]; i++) {
		if (strcmp(name, sysattrs[i]) == 0) {
			*out = sysattrs[i];
			*kind = i >= 4 && i <= 5 ? 'T' : 'o';
			return 0;
		}
	}
	return kn_fail(err, KN_EINVAL, param, "%s has no field '%.64s' to %s", t->name, name, what);
}

/* by=a,b:bucket */
static int parse_by(kn_stats *s, const kn_user *u, const char *v, kn_error *err)
{
	if (!*v)
		return 0; /* no groups: one row over everything */
	char *dup = kn_xstrdup(v);
	int rc = 0;
	char *p = dup;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		char *colon = strchr(p, ':');
		if (colon)
			*colon = 0;
		kn_group g = {NULL, KN_BUCKET_NONE};
		char kind = 0;
		if (!*p) {
			rc = kn_fail(err, KN_EINVAL, "by", "by holds an empty attribute name");
			break;
		}
		if (s->ngroups == KN_STATS_GROUPS) {
			rc = kn_fail(err, KN_EINVAL, "by", "by takes at most %d attributes",
				     KN_STATS_GROUPS);
			break;
		}
		if ((rc = lookup(s->t, u, p, "by", "group by", &g.attr, &kind, err)))
			break;
		if (kind == 'L') {
			rc = kn_fail(err, KN_EINVAL, "by", "%s is long text and cannot be grouped",
				     p);
			break;
		}
		if (colon) {
			for (size_t i = 0; i < sizeof buckets / sizeof buckets[0]; i++)
				if (strcmp(colon + 1, buckets[i].name) == 0)
					g.bucket = buckets[i].b;
			if (g.bucket == KN_BUCKET_NONE) {
				rc = kn_fail(err, KN_EINVAL, "by",
					     "unknown period '%.32s' (day, week, month or year)",
					     colon + 1);
				break;
			}
			if (kind != 'T' && kind != 'D') {
				rc = kn_fail(err, KN_EINVAL, "by",
					     "%s is not a date or date-time to cut in periods", p);
				break;
			}
		}
		char label[80];
		snprintf(label, sizeof label, "%s%s%s", g.attr, colon ? ":" : "",
			 colon ? colon + 1 : "");
		for (size_t i = 0; i < s->ngroups && !rc; i++)
			if (strcmp(s->by[i], label) == 0)
				rc = kn_fail(err, KN_EINVAL, "by", "by names %s twice", label);
		if (rc)
			break;
		memcpy(s->by[s->ngroups], label, sizeof label);
		s->groups[s->ngroups++] = g;
		if (!comma)
			break;
		p = comma + 1;
	}
	free(dup);
	return rc;
}

/* sum=f, avg=f, avg_hours=a,b, max_hours=a,b */
static int add_metric(kn_stats *s, const kn_user *u, int kind, const char *v, kn_error *err)
{
	const char *param = mnames[kind];
	const char *a = NULL, *b = NULL;
	char ka = 0, kb = 0, label[132];
	int rc;
	if (kind == M_SUM || kind == M_AVG) {
		if ((rc = lookup(s->t, u, v, param, kind == M_SUM ? "add up" : "average", &a, &ka,
				 err)))
			return rc;
		if (ka != 'i')
			return kn_fail(err, KN_EINVAL, param,
				       "%s takes a whole-number field, not %s", param, a);
		snprintf(label, sizeof label, "%s", a);
	} else {
		const char *comma = strchr(v, ',');
		if (!comma || strchr(comma + 1, ','))
			return kn_fail(err, KN_EINVAL, param, "%s takes two date-times: %s=from,to",
				       param, param);
		char from[64];
		snprintf(from, sizeof from, "%.*s", (int)(comma - v), v);
		if ((rc = lookup(s->t, u, from, param, "measure", &a, &ka, err)) ||
		    (rc = lookup(s->t, u, comma + 1, param, "measure", &b, &kb, err)))
			return rc;
		if (ka != 'T' || kb != 'T')
			return kn_fail(err, KN_EINVAL, param,
				       "%s takes two date-times, not %s and %s", param, a, b);
		snprintf(label, sizeof label, "%s,%s", a, b);
	}
	for (size_t i = 0; i < s->num; i++)
		if (s->um[i].kind == kind && strcmp(s->um[i].label, label) == 0)
			return 0; /* asked twice: once is enough */
	size_t need = kind == M_AVG || kind == M_AVG_HOURS ? 2 : 1;
	if (s->num == MAX_UMETRICS || s->nmetrics + need > KN_STATS_METRICS)
		return kn_fail(err, KN_EINVAL, param, "at most %d measures", MAX_UMETRICS);
	umetric *m = &s->um[s->num++];
	m->kind = kind;
	memcpy(m->label, label, sizeof label);
	m->first = s->nmetrics;
	kn_metric *k = &s->metrics[s->nmetrics];
	switch (kind) {
	case M_SUM:
		k[0] = (kn_metric){KN_AGG_SUM, a, NULL};
		break;
	case M_AVG:
		k[0] = (kn_metric){KN_AGG_SUM, a, NULL};
		k[1] = (kn_metric){KN_AGG_COUNT, a, NULL};
		break;
	case M_AVG_HOURS:
		k[0] = (kn_metric){KN_AGG_SUM_MS, a, b};
		k[1] = (kn_metric){KN_AGG_COUNT_MS, a, b};
		break;
	default:
		k[0] = (kn_metric){KN_AGG_MAX_MS, a, b};
		break;
	}
	s->nmetrics += need;
	return 0;
}

/* A whole number in [lo, hi] for parameter name. */
static int whole(const char *name, const char *v, int64_t lo, int64_t hi, int64_t *out,
		 kn_error *err)
{
	char *end;
	errno = 0;
	long long n = strtoll(v, &end, 10);
	if (!*v || *end || errno || n < lo || n > hi) {
		if (hi == INT64_MAX)
			return kn_fail(err, KN_EINVAL, name,
				       "%s must be a whole number of at least %lld", name,
				       (long long)lo);
		return kn_fail(err, KN_EINVAL, name, "%s must be %lld to %lld", name, (long long)lo,
			       (long long)hi);
	}
	*out = n;
	return 0;
}

int kn_stats_parse(const kn_type *t, const kn_user *u, const kn_param *p, size_t np, kn_stats **out,
		   kn_error *err)
{
	static const char *const skip[] = {"by",	"sum",	 "avg",	   "avg_hours", "max_hours",
					   "min_count", "limit", "format", NULL};
	kn_stats *s = kn_xcalloc(1, sizeof *s);
	s->t = t;
	s->limit = 100;
	s->min_count = 1;
	int rc = kn_rec_filter(t, u, p, np, skip, &s->f, err);
	bool by = false, fmt = false, lim = false, minc = false;
	for (size_t i = 0; i < np && !rc; i++) {
		const char *k = p[i].key, *v = p[i].value ? p[i].value : "";
		int64_t n;
		if (strcmp(k, "by") == 0) {
			rc = by ? kn_fail(err, KN_EINVAL, "by", "by is given twice")
				: parse_by(s, u, v, err);
			by = true;
		} else if (strcmp(k, "min_count") == 0) {
			rc = minc ? kn_fail(err, KN_EINVAL, k, "min_count is given twice")
				  : whole(k, v, 1, INT64_MAX, &s->min_count, err);
			minc = true;
		} else if (strcmp(k, "limit") == 0) {
			rc = lim ? kn_fail(err, KN_EINVAL, k, "limit is given twice")
				 : whole(k, v, 1, KN_STATS_LIMIT_MAX, &n, err);
			if (!rc)
				s->limit = (int)n;
			lim = true;
		} else if (strcmp(k, "format") == 0) {
			if (fmt)
				rc = kn_fail(err, KN_EINVAL, k, "format is given twice");
			else if (strcmp(v, "csv") == 0 || strcmp(v, "json") == 0)
				s->csv = strcmp(v, "csv") == 0;
			else
				rc = kn_fail(err, KN_EINVAL, k, "format is json or csv");
			fmt = true;
		} else {
			for (int m = 0; m < 4; m++)
				if (strcmp(k, mnames[m]) == 0)
					rc = add_metric(s, u, m, v, err);
		}
	}
	if (rc) {
		kn_stats_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

int kn_stats_where(kn_stats *s, const char *attr, kn_op op, json_t *values, kn_error *err)
{
	return kn_filter_add(s->f, attr, op, values, err);
}

void kn_stats_set_limit(kn_stats *s, int limit)
{
	if (limit > 0)
		s->limit = limit;
}

bool kn_stats_csv_wanted(const kn_stats *s)
{
	return s->csv;
}

void kn_stats_free(kn_stats *s)
{
	if (!s)
		return;
	kn_filter_free(s->f);
	free(s);
}

json_t *kn_stats_real(double x)
{
	return json_real(round(x * 1000.0) / 1000.0);
}

static int64_t ival(const json_t *row, size_t i)
{
	return json_integer_value(json_array_get(row, i));
}

int kn_stats_run(kn_engine *e, const kn_stats *s, json_t **out, kn_error *err)
{
	if (!OPS(e)->rec_stats)
		return kn_fail(err, KN_EINTERNAL, "", "the %s store has no stats", OPS(e)->name);
	size_t nc = 0;
	const kn_cond *conds = kn_filter_conds(s->f, &nc);
	kn_statq q = {conds,	   nc,		 s->groups, s->ngroups,		  s->metrics,
		      s->nmetrics, s->min_count, s->limit,  KN_SITE_TZ_OFFSET_MIN};
	json_t *rows = NULL;
	int64_t total = 0;
	int rc = OPS(e)->rec_stats(ST(e), s->t, &q, &rows, &total, err);
	if (rc)
		return rc;
	json_t *by = json_array(), *groups = json_array();
	for (size_t i = 0; i < s->ngroups; i++)
		json_array_append_new(by, json_string(s->by[i]));
	size_t r;
	json_t *row;
	json_array_foreach(rows, r, row)
	{
		json_t *g = json_object(), *key = json_object();
		for (size_t i = 0; i < s->ngroups; i++)
			json_object_set(key, s->by[i], json_array_get(row, i));
		json_object_set_new(g, "key", key);
		json_object_set_new(g, "count", json_integer(ival(row, s->ngroups)));
		size_t base = s->ngroups + 1;
		for (size_t i = 0; i < s->num; i++) {
			const umetric *m = &s->um[i];
			json_t *bag = json_object_get(g, mnames[m->kind]);
			if (!bag)
				json_object_set_new(g, mnames[m->kind], bag = json_object());
			const json_t *v0 = json_array_get(row, base + m->first);
			int64_t a = json_integer_value(v0), n = ival(row, base + m->first + 1);
			json_t *v;
			switch (m->kind) {
			case M_SUM:
				v = json_integer(a);
				break;
			case M_AVG:
				v = n ? kn_stats_real((double)a / (double)n) : json_null();
				break;
			case M_AVG_HOURS:
				v = json_pack("{s:o,s:I}", "value",
					      n ? kn_stats_real((double)a / (double)n / MS_PER_HOUR)
						: json_null(),
					      "n", (json_int_t)n);
				break;
			default:
				v = json_is_integer(v0) ? kn_stats_real((double)a / MS_PER_HOUR)
							: json_null();
				break;
			}
			json_object_set_new(bag, m->label, v);
		}
		json_array_append_new(groups, g);
	}
	json_decref(rows);
	*out = json_pack("{s:o,s:o,s:I}", "by", by, "groups", groups, "total", (json_int_t)total);
	return 0;
}

/* ---- CSV ------------------------------------------------------------------------ */

void kn_csv_begin(kn_buf *b)
{
	kn_buf_adds(b, "\xEF\xBB\xBF");
}

void kn_csv_end_row(kn_buf *b)
{
	kn_buf_adds(b, "\r\n");
}

void kn_csv_text(kn_buf *b, bool first, const char *s)
{
	if (!first)
		kn_buf_adds(b, ",");
	if (!s)
		return;
	/* A text a spreadsheet would take for a formula is kept text by a
	 * leading apostrophe (what spreadsheets themselves do). */
	bool formula = strchr("=+-@\t\r", s[0]) != NULL && s[0];
	bool quote = formula || strpbrk(s, ",\"\r\n") != NULL;
	if (quote)
		kn_buf_adds(b, "\"");
	if (formula)
		kn_buf_adds(b, "'");
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			kn_buf_adds(b, "\"\"");
		else
			kn_buf_add(b, p, 1);
	}
	if (quote)
		kn_buf_adds(b, "\"");
}

void kn_csv_value(kn_buf *b, bool first, const json_t *v)
{
	char num[48];
	switch (v ? json_typeof(v) : JSON_NULL) {
	case JSON_STRING:
		kn_csv_text(b, first, json_string_value(v));
		return;
	case JSON_INTEGER:
		snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL: {
		kn_buf t;
		kn_buf_init(&t, 0);
		kn_json_write(&t, v);
		snprintf(num, sizeof num, "%s", t.data ? t.data : "");
		kn_buf_release(&t);
		break;
	}
	case JSON_TRUE:
		snprintf(num, sizeof num, "true");
		break;
	case JSON_FALSE:
		snprintf(num, sizeof num, "false");
		break;
	default:
		num[0] = 0;
		break;
	}
	if (!first)
		kn_buf_adds(b, ",");
	kn_buf_adds(b, num);
}

char *kn_stats_csv(const kn_stats *s, const json_t *res, size_t *len)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_csv_begin(&b);
	for (size_t i = 0; i < s->ngroups; i++)
		kn_csv_text(&b, i == 0, s->by[i]);
	kn_csv_text(&b, s->ngroups == 0, "count");
	char h[160];
	for (size_t i = 0; i < s->num; i++) {
		const umetric *m = &s->um[i];
		snprintf(h, sizeof h, "%s(%s)", mnames[m->kind], m->label);
		kn_csv_text(&b, false, h);
		if (m->kind == M_AVG_HOURS) {
			snprintf(h, sizeof h, "avg_hours_n(%s)", m->label);
			kn_csv_text(&b, false, h);
		}
	}
	kn_csv_end_row(&b);
	size_t gi;
	const json_t *g;
	json_array_foreach(json_object_get(res, "groups"), gi, g)
	{
		const json_t *key = json_object_get(g, "key");
		for (size_t i = 0; i < s->ngroups; i++)
			kn_csv_value(&b, i == 0, json_object_get(key, s->by[i]));
		kn_csv_value(&b, s->ngroups == 0, json_object_get(g, "count"));
		for (size_t i = 0; i < s->num; i++) {
			const umetric *m = &s->um[i];
			const json_t *v =
			    json_object_get(json_object_get(g, mnames[m->kind]), m->label);
			if (m->kind == M_AVG_HOURS) {
				kn_csv_value(&b, false, json_object_get(v, "value"));
				kn_csv_value(&b, false, json_object_get(v, "n"));
			} else {
				kn_csv_value(&b, false, v);
			}
		}
		kn_csv_end_row(&b);
	}
	*len = b.len;
	return b.data;
}

/* ---- the API's query ------------------------------------------------------------ */

int kn_rec_stats(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p, size_t np,
		 json_t **out, char **csv, size_t *csv_len, kn_error *err)
{
	kn_stats *s = NULL;
	*out = NULL;
	if (csv)
		*csv = NULL;
	int rc = kn_stats_parse(t, u, p, np, &s, err);
	if (rc)
		return rc;
	json_t *res = NULL;
	if (!(rc = OPS(e)->begin(ST(e), false, err))) {
		rc = kn_stats_run(e, s, &res, err);
		if (rc)
			OPS(e)->rollback(ST(e));
		else
			rc = OPS(e)->commit(ST(e), err);
	}
	if (!rc && s->csv && csv) {
		*csv = kn_stats_csv(s, res, csv_len);
		json_decref(res);
	} else if (!rc) {
		*out = res;
	} else {
		json_decref(res);
	}
	kn_stats_free(s);
	return rc;
}

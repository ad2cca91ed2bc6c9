/* SPDX-License-Identifier: Apache-2.0 */
/* report.c - the parameters and queries every report shares (report.h). */
#include "kanri.h"

#include "proc/report.h"

void kn_report_iso(int64_t ms, char *out, size_t n)
{
	char s[32];
	kn_format_datetime(ms, s, sizeof s);
	snprintf(out, n, "%.19s.%03dZ", s, (int)(((ms % 1000) + 1000) % 1000));
}

int kn_report_param(const kn_param *p, size_t np, const char *name, const char **out,
		    kn_error *err)
{
	*out = NULL;
	for (size_t i = 0; i < np; i++) {
		if (strcmp(p[i].key, name) != 0)
			continue;
		if (*out)
			return kn_fail(err, KN_EINVAL, name, "%s is given twice", name);
		*out = p[i].value ? p[i].value : "";
	}
	return 0;
}

int kn_report_only(const kn_param *p, size_t np, const char *const *known, kn_error *err)
{
	for (size_t i = 0; i < np; i++) {
		bool ok = false;
		for (size_t k = 0; known[k] && !ok; k++)
			ok = strcmp(p[i].key, known[k]) == 0;
		if (!ok)
			return kn_fail(err, KN_EINVAL, p[i].key, "unknown parameter '%.64s'",
				       p[i].key);
	}
	return 0;
}

/* A bound of the period: a date-time with a zone, or a date (its midnight
 * at the given offset). */
static int bound(const kn_param *p, size_t np, const char *name, int off_min, int64_t *ms,
		 kn_error *err)
{
	const char *v;
	int rc = kn_report_param(p, np, name, &v, err);
	if (rc)
		return rc;
	if (!v || !*v)
		return kn_fail(err, KN_EINVAL, name,
			       "%s is required: a date-time such as 2026-11-01T00:00:00+09:00",
			       name);
	if (kn_parse_datetime(v, ms))
		return kn_fail(err, KN_EINVAL, name,
			       "%s must be a date-time with a zone (2026-11-01T00:00:00+09:00) or a"
			       " date, not '%.40s'",
			       name, v);
	if (strlen(v) == 10)
		*ms -= (int64_t)off_min * 60 * 1000;
	return 0;
}

int kn_report_period(const kn_param *p, size_t np, int utc_offset_min, kn_period *pd,
		     kn_error *err)
{
	int64_t from, to;
	int rc = bound(p, np, "from", utc_offset_min, &from, err);
	if (!rc)
		rc = bound(p, np, "to", utc_offset_min, &to, err);
	if (!rc && from > to)
		rc = kn_fail(err, KN_EINVAL, "from", "from must not be after to");
	if (rc)
		return rc;
	kn_report_iso(from, pd->from, sizeof pd->from);
	kn_report_iso(to, pd->to, sizeof pd->to);
	pd->from_ms = from;
	pd->to_ms = to;
	return 0;
}

int kn_report_format(const kn_param *p, size_t np, bool xlsx_ok, int *fmt, kn_error *err)
{
	const char *v;
	int rc = kn_report_param(p, np, "format", &v, err);
	*fmt = 0;
	if (rc || !v || !strcmp(v, "json"))
		return rc;
	if (!strcmp(v, "csv"))
		*fmt = 1;
	else if (xlsx_ok && !strcmp(v, "xlsx"))
		*fmt = 2;
	else
		rc = kn_fail(err, KN_EINVAL, "format", "format is json or csv%s",
			     xlsx_ok ? " or xlsx" : "");
	return rc;
}

int kn_report_may(const kn_user *u, int also, kn_error *err)
{
	if (u && !(u->role & (KN_ROLE_ADMIN | KN_ROLE_AGENT | KN_ROLE_AUDITOR | also)))
		return kn_fail(err, KN_EFORBIDDEN, "",
			       "reports are for agents, admins and auditors%s",
			       also ? " and the process managers they concern" : "");
	return 0;
}

void kn_report_add(kn_qp *q, const char *k, const char *v)
{
	if (q->n < KN_QP_MAX)
		q->p[q->n++] = (kn_param){k, v};
}

int kn_report_stats(kn_engine *e, const kn_user *u, const kn_type *t, const kn_qp *q,
		    json_t **out, kn_error *err)
{
	kn_stats *s = NULL;
	int rc = kn_stats_parse(t, u, q->p, q->n, &s, err);
	if (!rc) {
		kn_stats_set_limit(s, KN_REPORT_LIMIT);
		rc = kn_stats_run(e, s, out, err);
	}
	kn_stats_free(s);
	if (rc == KN_EINVAL)
		rc = kn_fail(err, KN_EINTERNAL, "", "report query: %.400s", err ? err->detail : "");
	return rc;
}

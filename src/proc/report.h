/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report.h - what every report shares: its parameters (the period, the
 * format, only known names), who may read it, and stats queries written as
 * a client would write the parameters of GET /{type}/stats, run inside the
 * report's read transaction.
 */
#ifndef KN_PROC_REPORT_H
#define KN_PROC_REPORT_H

#include "core/stats.h"

/* Groups a report query may return: all of them, in practice. */
#define KN_REPORT_LIMIT 100000

typedef struct kn_period {
	char from[40], to[40]; /* normalised: YYYY-MM-DDTHH:MM:SS.mmmZ */
	int64_t from_ms, to_ms;
} kn_period;

/* ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" (how created_at and updated_at are kept). */
void kn_report_iso(int64_t ms, char *out, size_t n);
/* The value of parameter name (NULL when absent); KN_EINVAL when given twice. */
int kn_report_param(const kn_param *p, size_t np, const char *name, const char **out,
		    kn_error *err);
/* Every parameter is one of known (NULL-terminated): else KN_EINVAL naming it. */
int kn_report_only(const kn_param *p, size_t np, const char *const *known, kn_error *err);
/* from and to: date-times with a zone, or dates (midnight at utc_offset_min
 * minutes east of UTC); from <= to. */
int kn_report_period(const kn_param *p, size_t np, int utc_offset_min, kn_period *pd,
		     kn_error *err);
/* format: json (the default) or csv, or also xlsx when xlsx_ok.
 * *fmt: 0 json, 1 csv, 2 xlsx. */
int kn_report_format(const kn_param *p, size_t np, bool xlsx_ok, int *fmt, kn_error *err);
/* Whether u may read reports: admins, agents and auditors, and the process
 * roles in also (service owners, top management...). */
int kn_report_may(const kn_user *u, int also, kn_error *err);

#define KN_QP_MAX 12
/* The parameters of one stats query, as a client would write them. */
typedef struct kn_qp {
	kn_param p[KN_QP_MAX];
	size_t n;
} kn_qp;
void kn_report_add(kn_qp *q, const char *k, const char *v);
/* Run one stats query inside the open read transaction. The parameters are
 * the report's own: an error in them is the report's fault (a site whose
 * records lack a field it needs), not the client's. */
int kn_report_stats(kn_engine *e, const kn_user *u, const kn_type *t, const kn_qp *q,
		    json_t **out, kn_error *err);

#endif

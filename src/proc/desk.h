/* SPDX-License-Identifier: Apache-2.0 */
/*
 * desk.h - service desk reports over incidents, built on stats queries
 * (core/stats.h): every figure is an aggregate the store computes in SQL,
 * all of one report on one read snapshot; no record is loaded.
 *
 * Both reports are for admins, agents and auditors (KN_EFORBIDDEN for end
 * users) and take a period: from and to, ISO 8601 date-times with a zone
 * (or dates, midnight in the site's time zone), from included, to
 * excluded. Bad input is KN_EINVAL naming the parameter. With format=csv
 * the answer is *csv (a new string of *csv_len bytes, see kn_csv_begin),
 * else *out (a new reference).
 */
#ifndef KN_PROC_DESK_H
#define KN_PROC_DESK_H

#include "core/stats.h"

/*
 * GET /reports/desk?from=&to=[&group=NAME][&format=csv]: per assignment
 * group (null: unassigned), and in "total" over all of them:
 *   tickets_in      incidents created in the period
 *   tickets_out     incidents resolved in the period (resolved_at in it)
 *   backlog         open incidents now (state not final), and by age
 *                   (created_at): backlog_lt_1d, _1d_3d, _3d_7d, _gt_7d
 *   mttr_hours      mean hours from created_at to resolved_at of those
 *                   resolved in the period; mttr_hours_by_priority {"1": x}
 *   fcr             resolved in the period with reassignment_count 0 and
 *                   escalation_count 0; fcr_rate = fcr / tickets_out
 *   reassignments   sum of reassignment_count of those resolved in the period
 *   reopened        resolved in the period with reopen_count > 0;
 *                   reopen_rate = reopened / tickets_out
 *   escalations     sum of escalation_count of those created in the period
 *   escalated       created in the period with escalation_level > 0
 * Rates and hours are null when nothing was resolved.
 */
int kn_report_desk(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		   char **csv, size_t *csv_len, kn_error *err);

/*
 * GET /reports/incident-trends?from=&to=&by=a,b[&threshold=N][&format=csv]:
 * incidents created in the period grouped by 1 to 3 of service, ci,
 * category, subcategory and resolution_code (most first), and as
 * "candidates" for problem management the groups with at least threshold
 * (default 3) incidents.
 */
int kn_report_trends(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		     char **csv, size_t *csv_len, kn_error *err);

#endif

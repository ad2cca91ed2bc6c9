/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sla.h - service level management: the agreements (schema/sla.json) that
 * give incidents and requests their clock targets, the business calendars
 * (schema/calendar.json, schema/holiday.json) they count in, and what is
 * computed from them.
 *
 * Which agreement applies to a ticket: among the active SLAs (agreement_type
 * sla) whose applies_to takes the ticket's type, whose validity includes the
 * ticket's creation date, and whose service and customer are the ticket's
 * (an empty service or customer takes any), the most specific: service and
 * customer, then service, then customer, then neither; the first created on
 * a tie. Its target for a clock is the row of targets for the ticket's type,
 * the clock and the ticket's priority, else the row without a priority.
 *
 * Agreements, calendars and holidays are read once and kept in memory until
 * one of them changes (on any node: a counter in the store's meta table);
 * every change also has the background timer recompute the due times of the
 * open tickets.
 */
#ifndef KN_PROC_SLA_H
#define KN_PROC_SLA_H

#include "core/calendar.h"
#include "core/record.h"

void kn_proc_sla_register(void);

/* One row of an agreement's targets. */
typedef struct kn_sla_target {
	char type[32], clock[32]; /* type "" : incidents and requests */
	int priority;             /* 0: any priority without a row of its own */
	int64_t ms;
	int goal;                 /* percent of tickets to meet it, -1 when not set */
} kn_sla_target;
/* The targets of an agreement record (*out: free()). KN_EVALID naming the
 * row that is wrong. */
int kn_sla_targets(const json_t *rec, kn_sla_target **out, size_t *n, kn_error *err);
/* The row for a ticket of type with priority prio (0: none) and clock:
 * its own priority's, else the row without a priority; NULL when none. */
const kn_sla_target *kn_sla_target_for(const kn_sla_target *tg, size_t n, const char *type,
				       const char *clock, int prio);

/* The built-in data of a new installation: Japanese public holidays (set
 * "jp") from five years before this year to ten after, and the calendars
 * "standard" (Asia/Tokyo, Monday to Friday 09:00-18:00, jp holidays, closed
 * 12/29-1/3) and "24x7". Done once (meta "calendars_seeded"). */
int kn_sla_seed(kn_engine *e, kn_error *err);

/* A calendar built from the options people type (the CLI and the API):
 * hours "09:00-18:00" or "09:00-12:00,13:00-18:00", days "mon-fri" or
 * "mon,wed,fri" or "mon-sat", holidays "jp" or "none", zone a time zone
 * name, excepts ("12-29..01-03", "2026-12-26", "2026-12-26=10:00-15:00")
 * each closing a date or range or giving it other hours. NULL options take
 * the defaults: 09:00-18:00, mon-fri, jp, Asia/Tokyo, no exceptions. */
int kn_sla_calendar_options(const char *hours, const char *days, const char *holidays,
			    const char *zone, const char *const *excepts, size_t nexcepts,
			    kn_calendar **out, kn_error *err);
/* The stored calendar called name (active), built with its holiday set's
 * stored holidays. KN_ENOTFOUND when there is none. */
int kn_sla_calendar_stored(kn_engine *e, const char *name, kn_calendar **out, kn_error *err);

/*
 * GET /calendar/due?from=&duration=[&calendar=NAME | &hours=&days=&holidays=
 * &time_zone=&except=...]: {"due", "due_utc", "from", "duration",
 * "seconds", "calendar"}; GET /calendar/between?from=&to=[same calendar
 * options]: {"seconds", "duration", "from", "to", "calendar"}.
 */
int kn_calendar_api(kn_engine *e, const kn_user *u, bool due, const kn_param *p, size_t np,
		    json_t **out, kn_error *err);

/* Recompute every open ticket's due times now (kanri sla recompute; the
 * timer does it by itself after a change). */
int kn_sla_recompute(kn_engine *e, int64_t *n, int64_t *changed, kn_error *err);

/*
 * GET /reports/sla?sla=NAME&from=&to=[&format=json|csv|xlsx][&months=N]:
 * the figures of one SLA over a period (dates or date-times; a date is
 * midnight in the SLA calendar's zone): per target, the tickets whose clock
 * stopped in the period, met and breached, achievement against the goal;
 * the breaches with their reasons; the workload against its limits; the
 * availability against its target; and per month, for the N months
 * (default 6, at most 24) ending with the period, the achievement of each
 * clock. For admins, agents, auditors, service owners and top management.
 * CSV: the target rows; xlsx: a sheet per table.
 */
int kn_report_sla(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		  char **body, size_t *len, const char **ctype, kn_error *err);

/*
 * GET /slas/{name}/fit: for an SLA, each OLA and underpinning contract that
 * supports it (for an OLA or contract, itself against its SLA), target by
 * target: whether the supplier's target ends no later than the SLA's for
 * every start time over the next four weeks (every 15 minutes), each in
 * its own calendar; where it does not, the first start time that misses
 * and by how much.
 */
int kn_sla_fit(kn_engine *e, const kn_user *u, const char *ref, json_t **out, kn_error *err);

/*
 * GET /reports/satisfaction?from=&to=[&service=NAME][&format=csv]: the
 * surveys sent in the period per service: sent, answered, response rate,
 * mean rating and the count of each rating; and per month the mean rating.
 */
int kn_report_satisfaction(kn_engine *e, const kn_user *u, const kn_param *p, size_t np,
			   json_t **out, char **csv, size_t *len, kn_error *err);

#endif

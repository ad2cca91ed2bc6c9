/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rules.h - what declarations make the engine do by themselves: conditions,
 * automation rules (set fields, notify, pass a transition on to child
 * records, timers) and business days.
 *
 * A rule runs in two halves around a write: kn_rules_before changes the
 * record before it is stored (its "set"), inside the same change and journal
 * entry; kn_rules_after runs inside the same write transaction after the
 * record is stored (notifications, child records), so that everything a
 * change causes commits with it or not at all.
 */
#ifndef KN_RULES_H
#define KN_RULES_H

#include "core/record.h"

/* Whether rec meets every condition of w. References ("service.criticality")
 * are read from the store; a missing record fails the condition. */
bool kn_when_holds(kn_engine *e, const kn_type *t, const kn_when *w, const json_t *rec);
/* Whether value v is one of the values of m (null matches missing/empty). */
bool kn_match_value(const kn_match *m, const json_t *v);

/* The rules' "set" for event on (KN_ON_CREATE/UPDATE/TRANSITION; trname the
 * transition's name or NULL): applied to rec in declaration order, each
 * change added to changes (may be NULL on create). */
int kn_rules_before(kn_engine *e, const kn_type *t, int on, const char *trname, json_t *rec,
		    json_t *changes, kn_error *err);
/* The rules' notifications and child transitions after rec was stored,
 * inside the write transaction. depth: how deep in a chain of child
 * transitions this write is (the chain stops at 4). */
int kn_rules_after(kn_engine *e, const kn_user *u, const kn_type *t, int on,
		   const char *trname, json_t *rec, const json_t *changes, int depth,
		   kn_error *err);
/* One pass of every timer rule over the records due now (a background job
 * calls it inside its write transaction). *fired: how many records moved. */
int kn_rules_timers(kn_engine *e, int64_t now_ms, int *fired, kn_error *err);

/* The instant `days` business days before (days < 0) or after t_ms, at the
 * same time of day. Business days are the days the site's business
 * calendar is open (config "business_calendar", default "standard": see
 * the SLA module, which registers the lookup); without that calendar,
 * Monday to Friday in the zone of config "utc_offset_minutes" (default +540,
 * Japan) except the dates listed in config "holidays" (["2026-12-31"]). */
int64_t kn_business_days_add(kn_engine *e, int64_t t_ms, int days);
/* What a process module registers for kn_business_days_add: the instant,
 * or -1 when it has no calendar to say. */
typedef int64_t (*kn_business_days_fn)(kn_engine *e, int64_t t_ms, int days);
void kn_business_days_register(kn_business_days_fn fn);

#endif

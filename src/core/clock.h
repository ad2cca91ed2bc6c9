/* SPDX-License-Identifier: Apache-2.0 */
/*
 * clock.h - the clocks a declaration gives a record type (schema.h
 * kn_clock): business time measured against a target, with due times,
 * warnings and breaches.
 *
 * The engine keeps each clock in the record's generated fields. Elapsed
 * business time is folded into NAME_elapsed whenever the clock stops
 * running; while it runs, NAME_since holds the instant it (re)started, so
 * that the due time is always calendar_add(since, target - elapsed) and
 * needs no periodic update. The background timer looks only at records
 * whose NAME_next (the next warning threshold or the breach) has come.
 *
 * Targets come from one planner, registered by a process module (the SLA
 * module): for a record it names the agreement that applies, the calendar
 * and each clock's target.
 */
#ifndef KN_CLOCK_H
#define KN_CLOCK_H

#include "core/calendar.h"
#include "core/record.h"

typedef struct kn_clock_plan {
	char agreement[128];              /* key of the agreement, "" when none applies */
	const kn_calendar *cal;           /* NULL: around the clock (UTC) */
	int64_t target_ms[KN_MAX_CLOCKS]; /* per clock of the type, -1: no target */
	int warn[8];                      /* warning thresholds in percent, ascending */
	int nwarn;
	void *hold;                       /* the planner's, given back to its release */
} kn_clock_plan;

typedef int (*kn_clock_plan_fn)(kn_engine *e, const kn_type *t, const json_t *rec,
				kn_clock_plan *out, kn_error *err);
typedef void (*kn_clock_release_fn)(kn_clock_plan *p);
/* Run by kn_clocks_tick before it looks at the records, inside its write
 * transaction: the planner's chance to recompute after its data changed. */
typedef int (*kn_clock_pretick_fn)(kn_engine *e, int64_t now_ms, kn_error *err);
void kn_clock_planner_register(kn_clock_plan_fn plan, kn_clock_release_fn release,
			       kn_clock_pretick_fn pretick);

/* Bring rec's clocks up to date at now_ms after a change (rec as it will be
 * stored, its clock fields as they were): the agreement and targets, the
 * state each clock's conditions give, elapsed time, breach, warning level,
 * due and next times. A no-op for a type without clocks. */
int kn_clocks_apply(kn_engine *e, const kn_type *t, json_t *rec, int64_t now_ms, kn_error *err);

/* One pass of the timer over the records whose next check has come (a
 * background job calls it inside its write transaction): warnings and
 * breaches are stored like any change, so rules (notify, escalate) react to
 * NAME_warned and NAME_breached. *n: records changed. */
int kn_clocks_tick(kn_engine *e, int64_t now_ms, int *n, kn_error *err);

/* Recompute the due and next times of every running or paused clock of
 * type t from the current agreements and calendars (after an agreement or
 * a calendar changed), and start the clocks of open records that have none
 * yet (imported, or created before their agreement). Records whose target
 * or state changes are saved and journalled; the others get their derived
 * due/next times written in place. Runs in write transactions of a batch
 * of records each. *n: clocks visited, *changed: records changed. */
int kn_clocks_recompute(kn_engine *e, const kn_type *t, int64_t now_ms, int64_t *n,
			int64_t *changed, kn_error *err);
/* The same inside the caller's write transaction, for running and paused
 * clocks only (the timer's part after a change). */
int kn_clocks_recompute_tx(kn_engine *e, const kn_type *t, int64_t now_ms, int64_t *n,
			   int64_t *changed, kn_error *err);

#endif

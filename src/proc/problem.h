/* SPDX-License-Identifier: Apache-2.0 */
/*
 * problem.h - what problem management adds to the engine: a known error
 * record made from a problem, and the effectiveness review of a fix.
 *
 * Problems and known errors themselves (fields, states, who may move them,
 * the review reminder) are declarations: schema/problem.json and
 * schema/known_error.json. Incidents name their problem in their field
 * "problem".
 */
#ifndef KN_PROC_PROBLEM_H
#define KN_PROC_PROBLEM_H

#include "core/record.h"

/*
 * POST /problems/{ref}/known-error: record the known error of problem ref
 * (in state known_error, fix_in_progress or resolved) as a new known_error
 * record, in one write transaction: the known error gets the problem's
 * title, description (as symptoms), root cause, workaround, service, CI
 * and category, and names the problem; the problem names the known error
 * in its read-only field known_error (journalled as action "known_error").
 * body: {} or known_error fields that replace those taken from the
 * problem (validated as a create; "problem" cannot be given), and an
 * optional "reason".
 *
 * u must be able to read the problem (KN_ENOTFOUND/KN_EFORBIDDEN as a read
 * answers), change problems and create known errors (KN_EFORBIDDEN).
 * KN_EVALID naming "state" for a problem not yet known to be a known error,
 * KN_ECONFLICT when the problem has its known error already. *out: the new
 * known error as u sees it (new reference).
 */
int kn_problem_known_error(kn_engine *e, const kn_user *u, const char *ref, const json_t *body,
			   json_t **out, kn_error *err);

/*
 * GET /problems/{ref}/effectiveness[?days=N]: did the permanent fix work?
 * Counts of incidents (the ones u may see, counted by the store: no record
 * is loaded), all on one read snapshot:
 *
 *   linked        naming the problem: total, open, before_fix and
 *                 after_fix (created before / at or after fix_applied_at)
 *   window        linked incidents created in the N days (default 30,
 *                 1..365) before the fix and in the N days from it, with
 *                 how many of those after-days have passed so far
 *   rate_per_30_days  linked incidents per 30 days before the fix (from
 *                 the problem's creation or its first incident, whichever
 *                 is earlier) and after it (until now); each period
 *                 counts as at least one day
 *   recurrences   incidents of the problem's service and category created
 *                 at or after the fix: all of them, those in the window,
 *                 and those not naming this problem
 *
 * Before the fix is applied, every figure after it is null. *out: a new
 * reference. Errors: as reading the problem; KN_EINVAL for a bad days or
 * an unknown parameter.
 */
int kn_problem_effectiveness(kn_engine *e, const kn_user *u, const char *ref, const kn_param *p,
			     size_t np, json_t **out, kn_error *err);

/* Registers the actions of problem management (problem_link_origin). */
void kn_proc_problem_register(void);

#endif

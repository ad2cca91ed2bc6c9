/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jobs.h - background jobs: periodic work that runs once per due time,
 * whichever node does it.
 *
 * Every job has a row in the store (kn_job) with its next due time. Each
 * node's scheduler thread wakes every tick, and for each due job:
 *   1. claims it in a write transaction of its own: the row records the
 *      node (a fresh owner token per claim) and a lease until now + lease;
 *      writes are serialised across nodes, so exactly one node wins;
 *   2. does the work and marks it done (next due time, owner cleared) in
 *      ONE write transaction, which commits only if the row still names
 *      this claim's owner token.
 * A node that dies after 1 leaves the lease, which expires: another node
 * claims the job and does that due run. A node that stalls past its lease
 * and wakes finds its token gone: its work is rolled back. So every due
 * run is done exactly once. A run that fails records its error and is
 * tried again after a back-off (min(every, 60 s)), same due time.
 *
 * Jobs:
 *   sessions.purge         hourly: delete expired login sessions
 *   rules.timers           every minute (jobs.timers_ms): the declarations'
 *                          timer rules (escalations, automatic closure)
 *                          and the clocks' warnings and breaches (clock.h)
 *   schedule.NAME          config.json "schedules": records created on a
 *                          schedule (recurring tasks), see docs/admin.md
 *
 * Config keys (config.json, all optional):
 *   "jobs": {"tick_ms": 1000, "lease_ms": 60000, "timers_ms": 60000,
 *            "enabled": true}
 *   "schedules": [{"name": "backup-check", "type": "incident",
 *                  "every": "1d", "start": "2026-12-01T09:00:00+09:00",
 *                  "catch_up": false, "fields": {"title": "... {slot}"}}]
 */
#ifndef KN_JOBS_H
#define KN_JOBS_H

#include "core/record.h"

/* Read the jobs and schedules from the config and check them (a bad
 * schedule is an error naming it). Does not start anything. */
int kn_jobs_check(kn_engine *e, kn_error *err);
/* Start the scheduler thread (a server does). */
int kn_jobs_start(kn_engine *e, kn_error *err);
/* Stop it (waits for a run in progress); safe when not started. */
void kn_jobs_stop(kn_engine *e);
/* Every job's row as JSON {"items": [...]} (for admins). */
int kn_jobs_list(kn_engine *e, json_t **out, kn_error *err);
/* Parse a duration "30s", "15m", "2h", "1d", "1w" into ms; -1 when bad. */
int64_t kn_duration_ms(const char *s);

#endif

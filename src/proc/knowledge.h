/* SPDX-License-Identifier: Apache-2.0 */
/*
 * knowledge.h - what knowledge management adds to the engine: feedback on
 * knowledge articles, and the "date_at" verb.
 *
 * The article itself (fields, approval workflow, who sees what, the review
 * reminder) is a declaration, schema/article.json; this module does only
 * what a declaration cannot say.
 */
#ifndef KN_PROC_KNOWLEDGE_H
#define KN_PROC_KNOWLEDGE_H

#include "core/record.h"

/*
 * POST /{type}/{ref}/feedback {"helpful": true|false, "ticket": REF}: a
 * reader says whether record ref of type t (an article) helped. Any user
 * who may read the record may give it (end users included, for the
 * published portal articles they see); it counts up the record's
 * helpful_count or unhelpful_count. With "ticket" (an incident number or
 * id the user may read), the incident's reference field to t (for
 * articles kb_article) is set to this record when it is still empty, and
 * the record's resolved_count (when declared) counts one more ticket
 * resolved; a ticket that already names a record is left as it is and
 * not counted again.
 *
 * Everything is one write transaction and journalled: the record as
 * action "feedback", the incident as an "update" with the reason
 * "feedback on KB-...", both by u. kanri writes the counters itself: they
 * are read-only for clients.
 *
 * Errors: KN_ENOTFOUND when t declares no feedback counters or u may not
 * see the record (as a read would answer), KN_EFORBIDDEN when u's role may
 * not read t or is the read-only auditor, KN_EVALID naming "helpful" or
 * "ticket" for bad input or a ticket u may not read. *out: the record after
 * the feedback, as u may see it (new reference).
 */
int kn_kb_feedback(kn_engine *e, const kn_user *u, const kn_type *t, const char *ref,
		   const json_t *body, json_t **out, kn_error *err);

/* Registers the verbs of this module (proc.c calls it at start-up):
 *
 *   "date_at" - a datetime computed from one date field: that day at
 *   config "time" ("HH:MM", default "09:00") in the zone config
 *   "utc_offset_minutes" east of UTC (default 540, Japan); null when the
 *   date is empty. Timer rules measure from datetimes only, so a date a
 *   person enters (review_by) gets one of these beside it for its timer. */
void kn_proc_knowledge_register(void);

#endif

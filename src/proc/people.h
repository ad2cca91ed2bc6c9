/* SPDX-License-Identifier: Apache-2.0 */
/*
 * people.h - a user's own preferences, kept in their person record:
 * language (ja, en or null: the browser's), time_zone (an IANA zone,
 * default Asia/Tokyo) and display_name.
 */
#ifndef KN_PEOPLE_H
#define KN_PEOPLE_H

#include "core/record.h"

/* {"language", "time_zone", "display_name"} of u (new reference). */
json_t *kn_prefs_of(kn_engine *e, const kn_user *u);
/* Set some of them (a JSON object); *out: all of them after. The person
 * record is made when u has none; the change is journalled as u's. */
int kn_prefs_set(kn_engine *e, const kn_user *u, const json_t *body, json_t **out,
		 kn_error *err);

/* GET /users?q=: the users whose name contains q (ASCII case ignored), at
 * most limit, in name order: {"items": [{name, role, roles, org,
 * display_name}]}. For agents, admins and auditors. */
int kn_users_find(kn_engine *e, const kn_user *u, const char *q, int limit, json_t **out,
		  kn_error *err);

#endif

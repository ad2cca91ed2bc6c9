/* SPDX-License-Identifier: Apache-2.0 */
/*
 * survey.c - satisfaction surveys: the action that the incident and request
 * declarations' rules call when a ticket is closed.
 *
 *   survey_send   a closed incident or request: a survey (schema/survey.json)
 *                 for its caller (the incident's creator when it names none)
 *                 or requester, made inside the write of the close; the
 *                 survey's own rule tells the respondent
 *
 * A ticket gets one survey: closing it again (a reopened request) sends none.
 * A respondent who is no user (any longer) gets none, and the close goes on.
 */
#include "kanri.h"

#include "core/record.h"

#define OPS(e) ((e)->store->ops)
#define ST(e) ((e)->store)

static const char *str(const json_t *rec, const char *name)
{
	const char *s = json_string_value(json_object_get(rec, name));
	return s && *s ? s : NULL;
}

/* Whether a survey for ticket (a number) exists already. */
static int has_survey(kn_engine *e, const kn_type *st, const char *ticket, bool *yes,
		      kn_error *err)
{
	json_t *vals = json_pack("[s]", ticket), *items = NULL;
	kn_cond cond = {.attr = "ticket", .op = KN_OP_EQ, .values = vals};
	kn_sort sort = {"id", false};
	kn_query q = {&cond, 1, &sort, 1, NULL, 1, false, NULL, 0};
	int64_t total;
	int rc = OPS(e)->rec_list(ST(e), st, &q, &items, &total, err);
	*yes = !rc && json_array_size(items) > 0;
	json_decref(items);
	json_decref(vals);
	return rc;
}

/* The service a request is about: its offering's. */
static const char *request_service(kn_engine *e, const json_t *rec, json_t **hold)
{
	const kn_type *ot = kn_schema_type(e->schema, "offering");
	kn_error e2 = {0};
	if (!ot || !str(rec, "offering") ||
	    OPS(e)->rec_get_key(ST(e), ot, str(rec, "offering"), hold, &e2) != 0)
		return NULL;
	return str(*hold, "service");
}

static int act_survey_send(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			   int depth, kn_error *err)
{
	const kn_type *st = kn_schema_type(e->schema, "survey");
	const char *ticket = str(rec, "number");
	if (!st || !ticket)
		return 0; /* a site without surveys */
	bool incident = !strcmp(t->name, "incident");
	const char *who = incident ? str(rec, "caller") : str(rec, "requester");
	if (!who && incident)
		who = str(rec, "created_by");
	kn_user usr;
	kn_error e2 = {0};
	if (!who || OPS(e)->user_get(ST(e), who, 0, &usr, &e2) != 0 || usr.disabled)
		return 0;
	bool sent;
	int rc = has_survey(e, st, ticket, &sent, err);
	if (rc || sent)
		return rc;
	json_t *hold = NULL;
	const char *svc = incident ? str(rec, "service") : request_service(e, rec, &hold);
	json_t *body = json_pack("{s:s, s:s, s:s}", "respondent", who, "ticket_type", t->plural,
				 "ticket", ticket);
	if (svc)
		json_object_set_new(body, "service", json_string(svc));
	json_t *out = NULL;
	rc = kn_rec_create_tx(e, NULL, st, body, &out, err);
	json_decref(out);
	json_decref(body);
	json_decref(hold);
	return rc;
}

void kn_proc_survey_register(void);
void kn_proc_survey_register(void) { kn_action_register("survey_send", act_survey_send); }

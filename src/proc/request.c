/* SPDX-License-Identifier: Apache-2.0 */
/*
 * request.c - what request fulfilment adds to the engine, as actions that
 * the declarations' rules call inside the write of the record:
 *
 *   offering_check          an offering's form and fulfilment steps are valid
 *   steps_check             an incident model's tasks are valid
 *   request_submit          a new request: its answers checked against the
 *                           offering's form, then either an approval asked
 *                           of the approver (the requester's manager, the
 *                           service owner or a group's manager) or its
 *                           fulfilment started
 *   approval_decided        an approval decided: the request goes on or is
 *                           rejected
 *   task_progress           a task done: the next one becomes ready; the
 *                           request is fulfilled when the last one is done
 *   request_complete_check  a request is not completed while tasks are open
 *   request_cancel          a cancelled request's open tasks and approvals
 *                           are cancelled too
 *   model_tasks             an incident made from a model gets its tasks
 */
#include "kanri.h"

#include "core/record.h"

#define OPS(e) ((e)->store->ops)
#define ST(e) ((e)->store)
#define MAX_STEPS 50

/* ---- helpers ----------------------------------------------------------------- */

static const char *str(const json_t *rec, const char *name)
{
	const char *s = json_string_value(json_object_get(rec, name));
	return s && *s ? s : NULL;
}

/* The same, "" when missing: for comparing and printing. */
static const char *txt(const json_t *rec, const char *name)
{
	const char *s = str(rec, name);
	return s ? s : "";
}

/* A JSON field's value (kept as text) parsed; NULL when empty or bad. */
static json_t *json_field(const json_t *rec, const char *name)
{
	const char *s = str(rec, name);
	return s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
}

static int get_key(kn_engine *e, const char *type, const char *key, json_t **out, kn_error *err)
{
	const kn_type *t = kn_schema_type(e->schema, type);
	if (!t || !key)
		return kn_fail(err, KN_ENOTFOUND, type, "no %s given", type);
	return OPS(e)->rec_get_key(ST(e), t, key, out, err);
}

/* Records of type whose field holds key, in sequence order (new array). */
static int children_of(kn_engine *e, const char *type, const char *field, const char *key,
		       json_t **items, kn_error *err)
{
	const kn_type *t = kn_schema_type(e->schema, type);
	json_t *vals = json_pack("[s]", key);
	kn_cond cond = {.attr = field, .op = KN_OP_EQ, .values = vals};
	kn_sort sorts[2] = {{"sequence", false}, {"id", false}};
	bool seq = kn_type_field(t, "sequence") != NULL;
	kn_query q = {&cond, 1, seq ? sorts : sorts + 1, seq ? 2 : 1, NULL, 1000, false, NULL, 0};
	int64_t total;
	int rc = OPS(e)->rec_list(ST(e), t, &q, items, &total, err);
	json_decref(vals);
	return rc;
}

/* Fire trname on rec (a record of type) with fields; a move rec cannot
 * make from its state is skipped. */
static int fire(kn_engine *e, const kn_user *u, const char *type, json_t *rec, const char *trname,
		json_t *fields, const char *reason, int depth, kn_error *err)
{
	const kn_type *t = kn_schema_type(e->schema, type);
	const char *st = str(rec, "state");
	json_t *f = fields ? fields : json_object();
	int rc = 0;
	if (kn_type_transition_named(t, st ? st : "", trname))
		rc = kn_rec_fire_tx(e, u, t, rec, trname, f, reason, depth + 1, err);
	if (!fields)
		json_decref(f);
	return rc;
}

/* ---- forms: an offering's own fields, declared as data ---------------------- */

static const char *const form_kinds[] = {"text", "longtext", "integer", "boolean",
					 "enum", "date", "user", NULL};

/* The values of an enum form field: strings or {"value", "label"}. */
static const char *enum_value(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v)
				 : json_string_value(json_object_get(v, "value"));
}

static int form_check(const json_t *form, kn_error *err)
{
	if (!json_is_array(form) || json_array_size(form) > 100)
		return kn_fail(err, KN_EVALID, "form", "form is a list of at most 100 fields");
	size_t i;
	json_t *f;
	json_array_foreach(form, i, f)
	{
		const char *name = str(f, "name"), *kind = str(f, "kind");
		if (!json_is_object(f) || !kn_ident_ok(name))
			return kn_fail(err, KN_EVALID, "form",
				       "form field %zu needs a name of lowercase letters, digits "
				       "and _", i + 1);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(txt(json_array_get(form, j), "name"), name))
				return kn_fail(err, KN_EVALID, "form", "form field '%s' twice", name);
		size_t k;
		for (k = 0; form_kinds[k]; k++)
			if (kind && !strcmp(kind, form_kinds[k]))
				break;
		if (!form_kinds[k])
			return kn_fail(err, KN_EVALID, "form",
				       "form field '%s': kind is one of text, longtext, integer, "
				       "boolean, enum, date, user",
				       name);
		json_t *label = json_object_get(f, "label");
		if (!json_is_string(json_object_get(label, "ja")) ||
		    !json_is_string(json_object_get(label, "en")))
			return kn_fail(err, KN_EVALID, "form",
				       "form field '%s' needs a label {\"ja\": ..., \"en\": ...}", name);
		json_t *vals = json_object_get(f, "values");
		if (!strcmp(kind, "enum")) {
			if (!json_is_array(vals) || !json_array_size(vals))
				return kn_fail(err, KN_EVALID, "form", "form field '%s' needs values",
					       name);
			size_t j;
			json_t *v;
			json_array_foreach(vals, j, v) if (!enum_value(v))
			    return kn_fail(err, KN_EVALID, "form",
					   "form field '%s': a value is not text", name);
		}
		json_t *req = json_object_get(f, "required"), *mx = json_object_get(f, "max"),
		       *mn = json_object_get(f, "min");
		if ((req && !json_is_boolean(req)) || (mx && !json_is_integer(mx)) ||
		    (mn && !json_is_integer(mn)))
			return kn_fail(err, KN_EVALID, "form",
				       "form field '%s': required is true/false, min and max whole "
				       "numbers",
				       name);
	}
	return 0;
}

/* Check answers (an object) against form; KN_EVALID naming answers.NAME. */
static int answers_check(kn_engine *e, const json_t *form, const json_t *answers, kn_error *err)
{
	if (!json_is_object(answers))
		return kn_fail(err, KN_EVALID, "answers", "answers must be an object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)answers, key, v)
	{
		size_t i;
		json_t *f;
		bool known = false;
		json_array_foreach(form, i, f) known |= !strcmp(txt(f, "name"), key);
		if (!known)
			return kn_fail(err, KN_EVALID, "answers", "the form has no field '%s'", key);
	}
	size_t i;
	json_t *f;
	json_array_foreach(form, i, f)
	{
		const char *name = str(f, "name"), *kind = str(f, "kind");
		char where[80];
		snprintf(where, sizeof where, "answers.%s", name);
		v = json_object_get(answers, name);
		bool empty = !v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v));
		if (empty) {
			if (json_is_true(json_object_get(f, "required")))
				return kn_fail(err, KN_EVALID, where, "%s is required", name);
			continue;
		}
		json_t *mx = json_object_get(f, "max"), *mn = json_object_get(f, "min");
		if (!strcmp(kind, "text") || !strcmp(kind, "longtext")) {
			int64_t max = mx ? json_integer_value(mx) : !strcmp(kind, "text") ? 255 : 65536;
			const char *s = json_string_value(v);
			if (!s || !kn_utf8_valid(s, strlen(s)))
				return kn_fail(err, KN_EVALID, where, "%s must be text", name);
			if ((int64_t)kn_utf8_len(s) > max)
				return kn_fail(err, KN_EVALID, where, "%s is longer than %lld characters",
					       name, (long long)max);
			if (!strcmp(kind, "text") && strpbrk(s, "\r\n"))
				return kn_fail(err, KN_EVALID, where, "%s must be a single line", name);
		} else if (!strcmp(kind, "integer")) {
			if (!json_is_integer(v) || (mx && json_integer_value(v) > json_integer_value(mx)) ||
			    (mn && json_integer_value(v) < json_integer_value(mn)))
				return kn_fail(err, KN_EVALID, where, "%s must be a whole number%s", name,
					       mx || mn ? " in range" : "");
		} else if (!strcmp(kind, "boolean")) {
			if (!json_is_boolean(v))
				return kn_fail(err, KN_EVALID, where, "%s must be true or false", name);
		} else if (!strcmp(kind, "enum")) {
			size_t j;
			json_t *x;
			bool ok = false;
			json_array_foreach(json_object_get(f, "values"), j, x) ok |=
			    json_is_string(v) && !strcmp(enum_value(x), json_string_value(v));
			if (!ok)
				return kn_fail(err, KN_EVALID, where, "%s: '%s' is not one of its choices",
					       name, json_is_string(v) ? json_string_value(v) : "?");
		} else if (!strcmp(kind, "date")) {
			int64_t ms;
			const char *s = json_string_value(v);
			if (!s || strlen(s) != 10 || kn_parse_datetime(s, &ms))
				return kn_fail(err, KN_EVALID, where, "%s must be a date like 2026-12-01",
					       name);
		} else if (!strcmp(kind, "user")) {
			kn_user usr;
			kn_error e2 = {0};
			if (!json_is_string(v) ||
			    OPS(e)->user_get(ST(e), json_string_value(v), 0, &usr, &e2) != 0)
				return kn_fail(err, KN_EVALID, where, "%s must name a user", name);
		}
	}
	return 0;
}

/* Steps: [{"title", "group", "instructions"}], every group existing. */
static int steps_check(kn_engine *e, const char *field, const json_t *steps, kn_error *err)
{
	if (!json_is_array(steps) || json_array_size(steps) > MAX_STEPS)
		return kn_fail(err, KN_EVALID, field, "%s is a list of at most %d steps", field,
			       MAX_STEPS);
	size_t i;
	json_t *s;
	json_array_foreach(steps, i, s)
	{
		const char *title = str(s, "title"), *group = str(s, "group");
		json_t *ins = json_object_get(s, "instructions");
		if (!json_is_object(s) || !title || kn_utf8_len(title) > 200 ||
		    (ins && !json_is_string(ins)))
			return kn_fail(err, KN_EVALID, field,
				       "%s step %zu needs a title (at most 200 characters) and "
				       "optional group and instructions (text)",
				       field, i + 1);
		json_t *g = NULL;
		if (group && get_key(e, "group", group, &g, err) != 0)
			return kn_fail(err, KN_EVALID, field, "%s step %zu: no group named '%s'",
				       field, i + 1, group);
		json_decref(g);
	}
	return 0;
}

static int act_offering_check(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			      int depth, kn_error *err)
{
	json_t *form = json_field(rec, "form"), *steps = json_field(rec, "fulfilment");
	int rc = form ? form_check(form, err) : 0;
	if (!rc && steps)
		rc = steps_check(e, "fulfilment", steps, err);
	const char *appr = str(rec, "approval");
	if (!rc && appr && !strcmp(appr, "group") && !str(rec, "approval_group"))
		rc = kn_fail(err, KN_EVALID, "approval_group",
			     "approval by a group's manager needs approval_group");
	if (!rc && appr && !strcmp(appr, "service_owner") && !str(rec, "service"))
		rc = kn_fail(err, KN_EVALID, "service",
			     "approval by the service owner needs the offering's service");
	json_decref(form);
	json_decref(steps);
	return rc;
}

static int act_steps_check(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			   int depth, kn_error *err)
{
	json_t *steps = json_field(rec, "tasks");
	int rc = steps ? steps_check(e, "tasks", steps, err) : 0;
	json_decref(steps);
	return rc;
}

/* ---- tasks ------------------------------------------------------------------- */

/* Create a task per step for parent (field: "request" or "incident");
 * sequential: only the first is ready, the others wait their turn. */
static int spawn_tasks(kn_engine *e, const char *field, const json_t *parent, const json_t *steps,
		       const char *default_group, bool sequential, int depth, kn_error *err)
{
	const kn_type *tt = kn_schema_type(e->schema, "task");
	size_t i;
	json_t *s;
	int rc = 0;
	json_array_foreach(steps, i, s)
	{
		if (rc)
			break;
		const char *grp = str(s, "group") ? str(s, "group") : default_group;
		json_t *body = json_pack("{s:s, s:s, s:I}", "title", txt(s, "title"), field,
					 txt(parent, "number"), "sequence", (json_int_t)(i + 1));
		if (str(s, "instructions"))
			json_object_set(body, "instructions", json_object_get(s, "instructions"));
		if (grp)
			json_object_set_new(body, "assignment_group", json_string(grp));
		if (str(parent, "organisation"))
			json_object_set(body, "organisation", json_object_get(parent, "organisation"));
		json_t *task = NULL;
		rc = kn_rec_create_tx(e, NULL, tt, body, &task, err);
		json_decref(body);
		if (!rc && (!sequential || i == 0)) {
			/* kn_rec_create_tx gave JSON back: fire on the stored form */
			json_t *cur = NULL;
			rc = OPS(e)->rec_get(ST(e), tt, json_integer_value(json_object_get(task, "id")),
					     NULL, &cur, err);
			if (!rc)
				rc = fire(e, NULL, "task", cur, "activate", NULL, "ready", depth, err);
			json_decref(cur);
		}
		json_decref(task);
	}
	return rc;
}

static int act_model_tasks(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			   int depth, kn_error *err)
{
	json_t *model = NULL;
	if (!str(rec, "model"))
		return 0;
	int rc = get_key(e, "incident_model", str(rec, "model"), &model, err);
	json_t *steps = rc ? NULL : json_field(model, "tasks");
	if (!rc && json_array_size(steps))
		rc = spawn_tasks(e, "incident", rec, steps, str(rec, "assignment_group"), false, depth,
				 err);
	json_decref(steps);
	json_decref(model);
	return rc;
}

/* Start a request's fulfilment: its tasks, from the offering's steps. */
static int start_fulfilment(kn_engine *e, json_t *req, const json_t *offering, int depth,
			    kn_error *err)
{
	json_t *steps = json_field(offering, "fulfilment");
	int rc = 0;
	if (json_array_size(steps))
		rc = spawn_tasks(e, "request", req, steps, str(offering, "fulfilment_group"), true,
				 depth, err);
	json_decref(steps);
	return rc;
}

/* ---- requests ----------------------------------------------------------------- */

/* Who approves a request for offering: *who set, or KN_EVALID saying why not. */
static int approver_of(kn_engine *e, const json_t *offering, const char *requester, char *who,
		       size_t n, kn_error *err)
{
	const char *how = txt(offering, "approval");
	json_t *r = NULL;
	const char *name = NULL;
	int rc = 0;
	if (!strcmp(how, "manager")) {
		if (!requester || get_key(e, "person", requester, &r, err) != 0 || !str(r, "manager"))
			rc = kn_fail(err, KN_EVALID, "requester",
				     "this request needs the approval of %s's manager, and no "
				     "manager is recorded (people: %s)",
				     requester ? requester : "the requester",
				     requester ? requester : "?");
		name = str(r, "manager");
	} else if (!strcmp(how, "service_owner")) {
		if (get_key(e, "service", str(offering, "service"), &r, err) != 0 || !str(r, "owner"))
			rc = kn_fail(err, KN_EVALID, "offering",
				     "this request needs the service owner's approval, and the "
				     "service has no owner");
		name = str(r, "owner");
	} else if (!strcmp(how, "group")) {
		if (get_key(e, "group", str(offering, "approval_group"), &r, err) != 0 ||
		    !str(r, "manager"))
			rc = kn_fail(err, KN_EVALID, "offering",
				     "this request needs the approval of a group manager, and the "
				     "group has no manager");
		name = str(r, "manager");
	}
	if (!rc && name)
		snprintf(who, n, "%s", name);
	json_decref(r);
	return rc;
}

static int act_request_submit(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			      int depth, kn_error *err)
{
	json_t *off = NULL, *form = NULL, *answers = NULL;
	int rc = get_key(e, "offering", str(rec, "offering"), &off, err);
	if (!rc && strcmp(txt(off, "state"), "published") != 0)
		rc = kn_fail(err, KN_EVALID, "offering", "%s is not open for requests",
			     txt(rec, "offering"));
	if (!rc && u && (u->role & KN_ROLE_ENDUSER) && str(off, "audience") &&
	    strcmp(txt(off, "audience"), "portal") != 0)
		rc = kn_fail(err, KN_EVALID, "offering", "%s is not open for requests",
			     txt(rec, "offering"));
	if (!rc) {
		form = json_field(off, "form");
		answers = json_field(rec, "answers");
		if (!form)
			form = json_array();
		if (!answers)
			answers = json_object();
		rc = answers_check(e, form, answers, err);
	}
	const char *requester = str(rec, "requester") ? str(rec, "requester") : u ? u->name : NULL;
	if (!rc && u && (u->role & KN_ROLE_ENDUSER) && requester && strcmp(requester, u->name))
		rc = kn_fail(err, KN_EFORBIDDEN, "requester",
			     "you may only request for yourself (name someone else in "
			     "requested_for)");
	char who[128] = "";
	if (!rc)
		rc = approver_of(e, off, requester, who, sizeof who, err);
	json_t *fields = json_object();
	if (requester && !str(rec, "requester"))
		json_object_set_new(fields, "requester", json_string(requester));
	if (!str(rec, "assignment_group") && str(off, "fulfilment_group"))
		json_object_set(fields, "assignment_group", json_object_get(off, "fulfilment_group"));
	if (!rc && who[0]) {
		json_t *body = json_pack("{s:s, s:s, s:s}", "request", txt(rec, "number"), "approver",
					 who, "summary", txt(rec, "title"));
		json_t *ap = NULL;
		rc = kn_rec_create_tx(e, NULL, kn_schema_type(e->schema, "approval"), body, &ap, err);
		json_decref(ap);
		json_decref(body);
		json_object_set_new(fields, "approver", json_string(who));
		json_object_set_new(fields, "approval_state", json_string("requested"));
		if (!rc)
			rc = fire(e, u, "request", rec, "await_approval", fields, "approval asked",
				  depth, err);
	} else if (!rc) {
		json_object_set_new(fields, "approval_state", json_string("not_required"));
		rc = fire(e, u, "request", rec, "fulfil", fields, "no approval needed", depth, err);
		if (!rc)
			rc = start_fulfilment(e, rec, off, depth, err);
	}
	json_decref(fields);
	json_decref(answers);
	json_decref(form);
	json_decref(off);
	return rc;
}

static int act_approval_decided(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
				int depth, kn_error *err)
{
	json_t *req = NULL, *off = NULL;
	int rc = get_key(e, "request", str(rec, "request"), &req, err);
	if (rc || strcmp(txt(req, "state"), "awaiting_approval") != 0) {
		json_decref(req);
		return rc;
	}
	bool yes = !strcmp(txt(rec, "state"), "approved");
	char reason[160];
	snprintf(reason, sizeof reason, "%s %s by %s", txt(rec, "number"),
		 yes ? "approved" : "rejected", u ? u->name : "system");
	json_t *fields = json_pack("{s:s}", "approval_state", yes ? "approved" : "rejected");
	rc = fire(e, u, "request", req, yes ? "approve" : "reject", fields, reason, depth, err);
	json_decref(fields);
	if (!rc && yes)
		rc = get_key(e, "offering", str(req, "offering"), &off, err);
	if (!rc && yes)
		rc = start_fulfilment(e, req, off, depth, err);
	json_decref(off);
	json_decref(req);
	return rc;
}

static bool final_state(const char *st) { return !strcmp(st, "done") || !strcmp(st, "cancelled"); }

static int act_task_progress(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			     int depth, kn_error *err)
{
	const char *key = str(rec, "request");
	if (!key)
		return 0; /* an incident's tasks run side by side */
	json_t *items = NULL, *req = NULL;
	int rc = get_key(e, "request", key, &req, err);
	bool running = !rc && !strcmp(txt(req, "state"), "in_fulfilment");
	if (running)
		rc = children_of(e, "task", "request", key, &items, err);
	size_t i, open = 0, done = 0, working = 0;
	json_t *it, *next = NULL;
	json_array_foreach(items, i, it)
	{
		const char *st = str(it, "state");
		if (final_state(st)) {
			done += !strcmp(st, "done");
			continue;
		}
		open++;
		if (!strcmp(st, "pending")) {
			if (!next)
				next = it; /* the first waiting, in sequence */
		} else {
			working++;
		}
	}
	if (!rc && next && !working)
		rc = fire(e, NULL, "task", next, "activate", NULL, "the task before is finished",
			  depth, err);
	if (!rc && running && open == 0 && done > 0)
		rc = fire(e, u, "request", req, "complete", NULL, "every task is done", depth, err);
	json_decref(items);
	json_decref(req);
	return rc;
}

static int act_request_complete_check(kn_engine *e, const kn_user *u, const kn_type *t,
				      json_t *rec, int depth, kn_error *err)
{
	json_t *items = NULL;
	int rc = children_of(e, "task", "request", str(rec, "number"), &items, err);
	size_t i, open = 0;
	json_t *it;
	json_array_foreach(items, i, it) open += !final_state(str(it, "state"));
	json_decref(items);
	if (!rc && open)
		rc = kn_fail(err, KN_EVALID, "to", "%zu task%s of %s still open", open,
			     open == 1 ? " is" : "s are", txt(rec, "number"));
	return rc;
}

static int act_request_cancel(kn_engine *e, const kn_user *u, const kn_type *t, json_t *rec,
			      int depth, kn_error *err)
{
	char reason[96];
	snprintf(reason, sizeof reason, "%s cancelled", txt(rec, "number"));
	json_t *items = NULL;
	int rc = children_of(e, "task", "request", str(rec, "number"), &items, err);
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it) if (!rc && !final_state(str(it, "state"))) rc =
	    fire(e, NULL, "task", it, "cancel", NULL, reason, depth, err);
	json_decref(items);
	items = NULL;
	if (!rc)
		rc = children_of(e, "approval", "request", str(rec, "number"), &items, err);
	json_array_foreach(items, i, it) if (!rc && !strcmp(txt(it, "state"), "requested")) rc =
	    fire(e, NULL, "approval", it, "cancel", NULL, reason, depth, err);
	json_decref(items);
	return rc;
}

void kn_proc_request_register(void);
void kn_proc_request_register(void)
{
	kn_action_register("offering_check", act_offering_check);
	kn_action_register("steps_check", act_steps_check);
	kn_action_register("request_submit", act_request_submit);
	kn_action_register("approval_decided", act_approval_decided);
	kn_action_register("task_progress", act_task_progress);
	kn_action_register("request_complete_check", act_request_complete_check);
	kn_action_register("request_cancel", act_request_cancel);
	kn_action_register("model_tasks", act_model_tasks);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meta.c - what the API says about itself, generated from the declarations:
 * the metadata of a record type (GET /api/v1/meta/types/{type}, which the UI
 * builds its forms and lists from) and the OpenAPI 3.0.3 description of the
 * whole API (GET /api/v1/openapi.json).
 *
 * Both are built from the parsed kn_type, not from t->decl, so that they show
 * the normalised form (defaults filled in, overlays merged) that the engine
 * actually enforces.
 */
#include "kanri.h"

#include <ctype.h>

#include "core/schema.h"

static const char *const kind_names[] = {
	[KN_TEXT] = "text",         [KN_LONGTEXT] = "longtext", [KN_INTEGER] = "integer",
	[KN_BOOLEAN] = "boolean",   [KN_ENUM] = "enum",         [KN_DATETIME] = "datetime",
	[KN_DATE] = "date",         [KN_REF] = "ref",           [KN_JSON] = "json",
};


/* The system attributes every record carries, in API order. */
static const struct {
	const char *name, *kind, *ja, *en;
} sys_attrs[] = {
	{"id", "integer", "ID", "ID"},
	{"number", "text", "番号", "Number"},
	{"version", "integer", "版", "Version"},
	{"state", "enum", "状態", "State"},
	{"created_at", "datetime", "作成日時", "Created at"},
	{"updated_at", "datetime", "更新日時", "Updated at"},
	{"created_by", "ref", "作成者", "Created by"},
	{"updated_by", "ref", "更新者", "Updated by"},
};
#define NSYS (sizeof sys_attrs / sizeof sys_attrs[0])

static const char *const relation_kinds[] = {"relates_to", "caused_by", "duplicate_of",
					     "parent_of",  "child_of",  "blocks"};

static const char *kind_name(kn_kind k)
{
	return (size_t)k < sizeof kind_names / sizeof kind_names[0] && kind_names[k]
		       ? kind_names[k]
		       : "text";
}

/* {"ja": ..., "en": ...}; a missing language falls back to the other, then
 * to fallback (may be NULL: then NULL is returned when both are missing). */
static json_t *label(const char *ja, const char *en, const char *fallback)
{
	if (!ja && !en && !fallback)
		return NULL;
	return json_pack("{s:s, s:s}", "ja", ja ? ja : en ? en : fallback, "en",
			 en ? en : ja ? ja : fallback);
}

static json_t *roles_json(int bits) { return kn_role_list(bits); }

static json_t *strings_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* ---- type metadata ------------------------------------------------------- */

static json_t *field_meta(const kn_field *f)
{
	json_t *m = json_pack("{s:s, s:s, s:o, s:b, s:b, s:b, s:b, s:b}", "name", f->name, "kind",
			      kind_name(f->kind), "label", label(f->label_ja, f->label_en, f->name),
			      "required", f->required, "readonly", f->readonly || f->verb,
			      "immutable", f->immutable, "key", f->key, "custom", f->custom);
	json_t *help = label(f->help_ja, f->help_en, NULL);
	if (help)
		json_object_set_new(m, "help", help);
	if (f->has_min)
		json_object_set_new(m, "min", json_integer(f->min));
	if (f->has_max)
		json_object_set_new(m, "max", json_integer(f->max));
	if (f->kind == KN_ENUM) {
		json_t *vals = json_array();
		for (size_t i = 0; i < f->nvalues; i++) {
			const kn_enumval *v = &f->values[i];
			json_t *jv = json_pack("{s:s, s:o}", "value", v->value, "label",
					       label(v->label_ja, v->label_en, v->value));
			if (v->parent)
				json_object_set_new(jv, "parent", json_string(v->parent));
			json_array_append_new(vals, jv);
		}
		json_object_set_new(m, "values", vals);
		if (f->parent_field)
			json_object_set_new(m, "parent_field", json_string(f->parent_field));
	}
	if (f->kind == KN_REF && f->ref)
		json_object_set_new(m, "ref", json_string(f->ref));
	if (f->def)
		json_object_set(m, "default", f->def);
	if (f->verb)
		json_object_set_new(m, "computed",
				    json_pack("{s:s, s:o}", "verb", f->verb, "args",
					      strings_json(f->args, f->nargs)));
	if (f->hidden)
		json_object_set_new(m, "hidden", roles_json(f->hidden));
	if (f->counter_changes)
		json_object_set_new(m, "counter", json_pack("{s:s}", "changes", f->counter_changes));
	else if (f->ncounter_transitions)
		json_object_set_new(m, "counter",
				    json_pack("{s:o}", "transitions",
					      strings_json((char *const *)f->counter_transitions,
							   f->ncounter_transitions)));
	return m;
}

json_t *kn_type_meta(const kn_type *t)
{
	char number[96];
	snprintf(number, sizeof number, "%s{%d}", t->number_prefix ? t->number_prefix : "",
		 t->number_width);
	json_t *m = json_pack("{s:s, s:s, s:o, s:s}", "name", t->name, "plural", t->plural,
			      "label", label(t->label_ja, t->label_en, t->name), "number", number);
	json_object_set_new(m, "org_field", t->org_field ? json_string(t->org_field) : json_null());
	json_object_set_new(m, "key", t->key_field ? json_string(t->key_field->name) : json_null());
	if (t->owner_field)
		json_object_set_new(m, "owner_field", json_string(t->owner_field));

	json_t *fields = json_array();
	for (size_t i = 0; i < t->nfields; i++)
		json_array_append_new(fields, field_meta(&t->fields[i]));
	json_object_set_new(m, "fields", fields);

	json_t *sys = json_array();
	for (size_t i = 0; i < NSYS; i++) {
		json_t *a = json_pack("{s:s, s:s, s:o, s:b}", "name", sys_attrs[i].name, "kind",
				      sys_attrs[i].kind, "label",
				      label(sys_attrs[i].ja, sys_attrs[i].en, NULL), "readonly", 1);
		if (!strcmp(sys_attrs[i].kind, "ref"))
			json_object_set_new(a, "ref", json_string("user"));
		json_array_append_new(sys, a);
	}
	json_object_set_new(m, "system", sys);

	json_t *states = json_array();
	for (size_t i = 0; i < t->nstates; i++) {
		const kn_state *s = &t->states[i];
		json_t *js = json_pack("{s:s, s:o, s:b, s:b}", "name", s->name, "label",
				       label(s->label_ja, s->label_en, s->name), "initial", s->initial,
				       "final", s->final);
		if (s->locked)
			json_object_set_new(js, "locked",
					    s->nunlocked ? json_pack("{s:o}", "except",
								     strings_json((char *const *)s->unlocked,
										  s->nunlocked))
							 : json_true());
		json_array_append_new(states, js);
	}
	json_object_set_new(m, "states", states);

	json_t *trs = json_array();
	for (size_t i = 0; i < t->ntransitions; i++) {
		const kn_transition *tr = &t->transitions[i];
		json_t *j = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "name", tr->name, "label",
				      label(tr->label_ja, tr->label_en, tr->name), "from",
				      strings_json(tr->from, tr->nfrom), "to",
				      tr->to ? json_string(tr->to) : json_null(), "roles",
				      roles_json(tr->roles), "requires",
				      strings_json(tr->requires, tr->nrequires));
		if (tr->stay)
			json_object_set_new(j, "stay", json_true());
		if (tr->nmust_change)
			json_object_set_new(j, "must_change",
					    strings_json((char *const *)tr->must_change,
							 tr->nmust_change));
		if (tr->nnot_by)
			json_object_set_new(j, "not_by",
					    strings_json((char *const *)tr->not_by, tr->nnot_by));
		if (tr->requires_reason)
			json_object_set_new(j, "requires_reason", json_true());
		if (tr->nguards) {
			json_t *gs = json_array();
			for (size_t g = 0; g < tr->nguards; g++) {
				const kn_guard *gd = &tr->guards[g];
				json_t *w = json_object();
				for (size_t k = 0; k < gd->when.n; k++) {
					char key[160];
					snprintf(key, sizeof key, "%s%s%s", gd->when.m[k].attr,
						 gd->when.m[k].sub ? "." : "",
						 gd->when.m[k].sub ? gd->when.m[k].sub : "");
					json_object_set(w, key, (json_t *)gd->when.m[k].values);
				}
				json_t *jg = json_pack("{s:o, s:o}", "when", w, "requires",
						       strings_json((char *const *)gd->requires,
								    gd->nrequires));
				if (gd->exists_type)
					json_object_set_new(jg, "exists",
							    json_pack("{s:s, s:s}", "type",
								      gd->exists_type, "field",
								      gd->exists_field));
				json_array_append_new(gs, jg);
			}
			json_object_set_new(j, "guards", gs);
		}
		if (tr->set_time)
			json_object_set_new(j, "set_time", json_string(tr->set_time));
		json_array_append_new(trs, j);
	}
	json_object_set_new(m, "transitions", trs);

	json_object_set_new(m, "access",
			    json_pack("{s:o, s:o, s:o, s:o, s:o}", "read", roles_json(t->can_read),
				      "create", roles_json(t->can_create), "update",
				      roles_json(t->can_update), "comment",
				      roles_json(t->can_comment), "work_note",
				      roles_json(t->can_work_note)));
	json_object_set_new(m, "list_fields", strings_json(t->list_fields, t->nlist_fields));
	return m;
}

/* ---- OpenAPI ------------------------------------------------------------- */
/* "incident_task" -> "IncidentTask" into out. */
static void camel(const char *name, char *out, size_t n)
{
	size_t j = 0;
	bool up = true;
	for (const char *p = name; *p && j + 1 < n; p++) {
		if (*p == '_' || *p == '-' || *p == '.') {
			up = true;
			continue;
		}
		out[j++] = up ? (char)toupper((unsigned char)*p) : *p;
		up = false;
	}
	out[j] = 0;
}

static json_t *ref_to(const char *kind, const char *name)
{
	char *r = kn_xasprintf("#/components/%s/%s", kind, name);
	json_t *j = json_pack("{s:s}", "$ref", r);
	free(r);
	return j;
}

/* The JSON schema of one field's value. */
static json_t *field_schema(const kn_field *f)
{
	json_t *s = json_object();
	switch (f->kind) {
	case KN_INTEGER:
		json_object_set_new(s, "type", json_string("integer"));
		json_object_set_new(s, "format", json_string("int64"));
		if (f->has_min)
			json_object_set_new(s, "minimum", json_integer(f->min));
		if (f->has_max)
			json_object_set_new(s, "maximum", json_integer(f->max));
		break;
	case KN_BOOLEAN:
		json_object_set_new(s, "type", json_string("boolean"));
		break;
	case KN_ENUM: {
		json_object_set_new(s, "type", json_string("string"));
		json_t *e = json_array();
		for (size_t i = 0; i < f->nvalues; i++)
			json_array_append_new(e, json_string(f->values[i].value));
		if (!f->required)
			json_array_append_new(e, json_null());
		json_object_set_new(s, "enum", e);
		break;
	}
	case KN_DATETIME:
		json_object_set_new(s, "type", json_string("string"));
		json_object_set_new(s, "format", json_string("date-time"));
		break;
	case KN_DATE:
		json_object_set_new(s, "type", json_string("string"));
		json_object_set_new(s, "format", json_string("date"));
		break;
	case KN_REF:
		json_object_set_new(s, "type", json_string("string"));
		break;
	case KN_JSON:
		break; /* any object or array */
	case KN_TEXT:
	case KN_LONGTEXT:
	default:
		json_object_set_new(s, "type", json_string("string"));
		if (f->has_max)
			json_object_set_new(s, "maxLength", json_integer(f->max));
		break;
	}
	if (!f->required)
		json_object_set_new(s, "nullable", json_true());
	if (f->readonly || f->verb)
		json_object_set_new(s, "readOnly", json_true());
	if (f->def)
		json_object_set(s, "default", f->def);

	char *desc;
	const char *en = f->label_en ? f->label_en : f->name;
	if (f->kind == KN_REF)
		desc = kn_xasprintf("%s (the key of a %s)", en, f->ref ? f->ref : "record");
	else if (f->verb)
		desc = kn_xasprintf("%s (computed by %s)", en, f->verb);
	else if (f->help_en)
		desc = kn_xasprintf("%s: %s", en, f->help_en);
	else
		desc = kn_xstrdup(en);
	json_object_set_new(s, "description", json_string(desc));
	free(desc);
	return s;
}

/* Writable fields: not computed, not read-only; immutable ones only on create. */
static bool writable(const kn_field *f, bool create)
{
	return !f->readonly && !f->verb && (create || !f->immutable);
}

static json_t *reason_schema(void)
{
	return json_pack("{s:s, s:s}", "type", "string", "description",
			 "why: recorded in the journal with the change");
}

static void add_type_schemas(json_t *schemas, const kn_type *t)
{
	char cn[128], nm[160];
	camel(t->name, cn, sizeof cn);

	/* the record as returned */
	json_t *props = json_object();
	json_t *req = json_array();
	json_object_set_new(props, "id", json_pack("{s:s, s:s, s:b}", "type", "integer",
						   "format", "int64", "readOnly", 1));
	char example[96];
	snprintf(example, sizeof example, "%s%0*d", t->number_prefix ? t->number_prefix : "",
		 t->number_width > 0 && t->number_width < 20 ? t->number_width : 1, 1);
	json_object_set_new(props, "number", json_pack("{s:s, s:b, s:s}", "type", "string",
						       "readOnly", 1, "example", example));
	json_object_set_new(props, "type", json_pack("{s:s, s:[s], s:b}", "type", "string",
						     "enum", t->name, "readOnly", 1));
	json_object_set_new(props, "version", json_pack("{s:s, s:s, s:b}", "type", "integer",
							"format", "int64", "readOnly", 1));
	json_t *states = json_array();
	for (size_t i = 0; i < t->nstates; i++)
		json_array_append_new(states, json_string(t->states[i].name));
	json_object_set_new(props, "state",
			    json_pack("{s:s, s:o, s:b}", "type", "string", "enum", states,
				      "readOnly", 1));
	for (size_t i = 0; i < NSYS; i++) {
		const char *a = sys_attrs[i].name;
		if (strstr(a, "_at"))
			json_object_set_new(props, a, json_pack("{s:s, s:s, s:b}", "type", "string",
								"format", "date-time", "readOnly",
								1));
		else if (strstr(a, "_by"))
			json_object_set_new(props, a, json_pack("{s:s, s:b}", "type", "string",
								"readOnly", 1));
	}
	for (size_t i = 0; i < NSYS; i++)
		json_array_append_new(req, json_string(sys_attrs[i].name));
	for (size_t i = 0; i < t->nfields; i++)
		json_object_set_new(props, t->fields[i].name, field_schema(&t->fields[i]));
	json_t *rec = json_pack("{s:s, s:o, s:o}", "type", "object", "properties", props,
				"required", req);
	char *d = kn_xasprintf("%s: fields hidden from the caller's role are left out",
			       t->label_en ? t->label_en : t->name);
	json_object_set_new(rec, "description", json_string(d));
	free(d);
	json_object_set_new(schemas, cn, rec);

	/* create, update and transition bodies */
	for (int kind = 0; kind < 3; kind++) {
		json_t *p = json_object();
		json_t *r = json_array();
		if (kind == 2) {
			json_t *to = json_array();
			for (size_t i = 0; i < t->nstates; i++)
				json_array_append_new(to, json_string(t->states[i].name));
			json_object_set_new(p, "to", json_pack("{s:s, s:o}", "type", "string",
							       "enum", to));
			json_array_append_new(r, json_string("to"));
		}
		for (size_t i = 0; i < t->nfields; i++) {
			const kn_field *f = &t->fields[i];
			if (!writable(f, kind == 0))
				continue;
			json_object_set_new(p, f->name, field_schema(f));
			if (kind == 0 && f->required && !f->def)
				json_array_append_new(r, json_string(f->name));
		}
		if (kind == 1) {
			json_t *v = json_pack("{s:s, s:s, s:s}", "type", "integer", "format",
					      "int64", "description",
					      "the version changed, when If-Match is not sent");
			json_object_set_new(p, "version", v);
		}
		json_object_set_new(p, "reason", reason_schema());
		json_t *o = json_pack("{s:s, s:o, s:b}", "type", "object", "properties", p,
				      "additionalProperties", 0);
		if (json_array_size(r))
			json_object_set_new(o, "required", r);
		else
			json_decref(r);
		static const char *const suffix[] = {"Create", "Update", "Transition"};
		snprintf(nm, sizeof nm, "%s%s", cn, suffix[kind]);
		json_object_set_new(schemas, nm, o);
	}

	snprintf(nm, sizeof nm, "%sList", cn);
	json_object_set_new(
		schemas, nm,
		json_pack("{s:s, s:[s,s,s], s:{s:{s:s, s:o}, s:{s:s, s:b}, s:{s:s, s:b}}}", "type",
			  "object", "required", "items", "next", "total", "properties", "items",
			  "type", "array", "items", ref_to("schemas", cn), "next", "type",
			  "string", "nullable", 1, "total", "type", "integer", "nullable", 1));
}

static json_t *json_content(json_t *schema)
{
	return json_pack("{s:{s:o}}", "application/json", "schema", schema);
}

static json_t *ok_response(const char *desc, json_t *schema)
{
	json_t *r = json_pack("{s:s}", "description", desc);
	if (schema)
		json_object_set_new(r, "content", json_content(schema));
	return r;
}

/* Responses: the success ones given, plus problem references by status. */
static json_t *responses(json_t *ok, const char *errors)
{
	json_t *r = ok ? ok : json_object();
	for (const char *p = errors; p && *p; p += 3)
		json_object_set_new(r, (char[4]){p[0], p[1], p[2], 0},
				    ref_to("responses", (char[4]){p[0], p[1], p[2], 0}));
	return r;
}

static json_t *body_of(const char *schema_name)
{
	return json_pack("{s:b, s:o}", "required", 1, "content",
			 json_content(ref_to("schemas", schema_name)));
}

static json_t *op(const char *id, const char *tag, const char *summary, json_t *params,
		  json_t *body, json_t *resp)
{
	json_t *o = json_pack("{s:s, s:[s], s:s, s:o}", "operationId", id, "tags", tag,
			      "summary", summary, "responses", resp);
	if (params)
		json_object_set_new(o, "parameters", params);
	if (body)
		json_object_set_new(o, "requestBody", body);
	return o;
}

static json_t *query_param(const char *name, const char *desc, json_t *schema)
{
	return json_pack("{s:s, s:s, s:s, s:o}", "name", name, "in", "query", "description",
			 desc, "schema", schema);
}

/* The endpoints beyond the record types': search, suggestions, reports and
 * the process modules' own, each answering a JSON object. */
static const struct other {
	const char *method, *path, *id, *tag, *summary, *query, *errors;
	bool body;
} others[] = {
    {"get", "/api/v1/search", "search", "service", "Full-text search across types",
     "q,types,limit", "400401", false},
    {"get", "/api/v1/suggest", "suggest", "service",
     "Articles and known errors for a text being written", "text,types,limit", "400401", false},
    {"get", "/api/v1/reports/desk", "reportDesk", "reports",
     "Service desk metrics per group for a period", "from,to,group,format", "400401403", false},
    {"get", "/api/v1/reports/incident-trends", "reportIncidentTrends", "reports",
     "Recurring incidents grouped for problem management", "from,to,by,threshold,format",
     "400401403", false},
    {"get", "/api/v1/reports/sla", "reportSla", "reports",
     "One SLA's achievement, breaches, workload, availability and trend for a period",
     "sla,from,to,months,format", "400401403404", false},
    {"get", "/api/v1/reports/satisfaction", "reportSatisfaction", "reports",
     "Satisfaction survey results per service and month", "from,to,service,format",
     "400401403", false},
    {"get", "/api/v1/slas/{ref}/fit", "slaFit", "slas",
     "Whether the supporting OLAs and contracts fit inside the SLA's targets", NULL,
     "401403404", false},
    {"get", "/api/v1/calendar/due", "calendarDue", "service",
     "The instant a duration of business time after a start ends",
     "from,duration,calendar,hours,days,holidays,time_zone,except", "400401404", false},
    {"get", "/api/v1/calendar/between", "calendarBetween", "service",
     "The business time between two instants",
     "from,to,calendar,hours,days,holidays,time_zone,except", "400401404", false},
    {"get", "/api/v1/problems/{ref}/effectiveness", "problemEffectiveness", "problems",
     "Incidents before and after a problem's fix", "days", "400401404", false},
    {"post", "/api/v1/problems/{ref}/known-error", "problemKnownError", "problems",
     "Make the known error record of a problem", NULL, "401403404422", true},
    {"post", "/api/v1/articles/{ref}/feedback", "articleFeedback", "articles",
     "Helpful or not, and the ticket an article solved", NULL, "401404422", true},
    {"get", "/api/v1/admin/jobs", "adminJobs", "service", "Background jobs", NULL, "401403",
     false},
};

static void add_other_paths(json_t *paths)
{
	for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
		const struct other *o = &others[i];
		json_t *params = json_array();
		if (strstr(o->path, "{ref}"))
			json_array_append_new(params,
					      json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", "ref", "in",
							"path", "required", 1, "schema", "type",
							"string"));
		char *q = o->query ? kn_xstrdup(o->query) : NULL, *save = NULL;
		for (char *p = q ? strtok_r(q, ",", &save) : NULL; p; p = strtok_r(NULL, ",", &save))
			json_array_append_new(params, query_param(p, p, json_pack("{s:s}", "type",
										   "string")));
		free(q);
		json_t *obj = json_pack("{s:s}", "type", "object");
		json_t *body = o->body ? json_pack("{s:b, s:o}", "required", 1, "content",
						   json_content(json_pack("{s:s}", "type", "object")))
				       : NULL;
		json_t *item = json_object_get(paths, o->path);
		if (!item)
			json_object_set_new(paths, o->path, item = json_object());
		json_object_set_new(item, o->method,
				    op(o->id, o->tag, o->summary, json_array_size(params) ? params : NULL,
				       body,
				       responses(json_pack("{s:o}", "200", ok_response("the answer", obj)),
						 o->errors)));
		if (!json_array_size(params))
			json_decref(params);
	}
}

static void add_type_paths(json_t *paths, const kn_type *t)
{
	char cn[128], id[192], sch[160], sum[256];
	camel(t->name, cn, sizeof cn);
	const char *tag = t->plural;
	const char *en = t->label_en ? t->label_en : t->name;
	char *base = kn_xasprintf("/api/v1/%s", t->plural);
	char *item = kn_xasprintf("%s/{ref}", base);

	/* collection */
	json_t *lp = json_array();
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		json_t *fs = field_schema(f);
		json_object_del(fs, "readOnly");
		json_object_del(fs, "default");
		json_object_del(fs, "nullable");
		json_t *enm = json_object_get(fs, "enum");
		if (enm && json_is_null(json_array_get(enm, json_array_size(enm) - 1)))
			json_array_remove(enm, json_array_size(enm) - 1);
		char *d = kn_xasprintf("%s equals (repeat for any of); also %s[ne|lt|lte|gt|gte|"
				       "in|contains|null]=...",
				       f->label_en ? f->label_en : f->name, f->name);
		json_t *p = query_param(f->name, d, json_pack("{s:s, s:o}", "type", "array",
							       "items", fs));
		json_object_set_new(p, "style", json_string("form"));
		json_object_set_new(p, "explode", json_true());
		json_array_append_new(lp, p);
		free(d);
	}
	json_array_append_new(lp, ref_to("parameters", "open"));
	json_array_append_new(lp, ref_to("parameters", "sort"));
	json_array_append_new(lp, ref_to("parameters", "limit"));
	json_array_append_new(lp, ref_to("parameters", "cursor"));
	json_array_append_new(lp, ref_to("parameters", "total"));

	json_t *coll = json_object();
	snprintf(id, sizeof id, "list%s", cn);
	snprintf(sum, sizeof sum, "List %s records", en);
	snprintf(sch, sizeof sch, "%sList", cn);
	json_object_set_new(coll, "get",
			    op(id, tag, sum, lp, NULL,
			       responses(json_pack("{s:o}", "200",
						   ok_response("one page", ref_to("schemas", sch))),
					 "400401403")));
	snprintf(id, sizeof id, "create%s", cn);
	snprintf(sum, sizeof sum, "Create a %s", en);
	snprintf(sch, sizeof sch, "%sCreate", cn);
	json_t *created = ok_response("created", ref_to("schemas", cn));
	json_object_set_new(created, "headers",
			    json_pack("{s:{s:s, s:{s:s}}, s:o}", "Location", "description",
				      "the new record's URL", "schema", "type", "string", "ETag",
				      ref_to("headers", "ETag")));
	json_object_set_new(coll, "post",
			    op(id, tag, sum, NULL, body_of(sch),
			       responses(json_pack("{s:o}", "201", created),
					 "400401403409413415422")));
	json_object_set_new(paths, base, coll);

	/* one record */
	json_t *it = json_pack("{s:[o]}", "parameters", ref_to("parameters", "ref"));
	json_t *got = ok_response("the record", ref_to("schemas", cn));
	json_object_set_new(got, "headers", json_pack("{s:o}", "ETag", ref_to("headers", "ETag")));
	snprintf(id, sizeof id, "get%s", cn);
	snprintf(sum, sizeof sum, "Get a %s", en);
	json_object_set_new(
		it, "get",
		op(id, tag, sum, json_pack("[o]", ref_to("parameters", "IfNoneMatch")), NULL,
		   responses(json_pack("{s:o, s:o}", "200", got, "304",
				       ok_response("not modified", NULL)),
			     "401403404")));
	snprintf(id, sizeof id, "update%s", cn);
	snprintf(sum, sizeof sum, "Change fields of a %s", en);
	snprintf(sch, sizeof sch, "%sUpdate", cn);
	json_t *upd = ok_response("the changed record", ref_to("schemas", cn));
	json_object_set_new(upd, "headers", json_pack("{s:o}", "ETag", ref_to("headers", "ETag")));
	json_object_set_new(
		it, "patch",
		op(id, tag, sum, json_pack("[o]", ref_to("parameters", "IfMatch")), body_of(sch),
		   responses(json_pack("{s:o}", "200", upd), "400401403404409413415422428")));
	json_object_set_new(paths, item, it);

	/* transition */
	char *path = kn_xasprintf("%s/transition", item);
	snprintf(id, sizeof id, "transition%s", cn);
	snprintf(sum, sizeof sum, "Move a %s to another state", en);
	snprintf(sch, sizeof sch, "%sTransition", cn);
	json_t *tr = ok_response("the record in its new state", ref_to("schemas", cn));
	json_object_set_new(tr, "headers", json_pack("{s:o}", "ETag", ref_to("headers", "ETag")));
	json_object_set_new(
		paths, path,
		json_pack("{s:[o], s:o}", "parameters", ref_to("parameters", "ref"), "post",
			  op(id, tag, sum, json_pack("[o]", ref_to("parameters", "IfMatch")),
			     body_of(sch),
			     responses(json_pack("{s:o}", "200", tr),
				       "400401403404409413415422"))));
	free(path);

	/* comments */
	path = kn_xasprintf("%s/comments", item);
	json_t *cm = json_pack("{s:[o]}", "parameters", ref_to("parameters", "ref"));
	snprintf(id, sizeof id, "list%sComments", cn);
	snprintf(sum, sizeof sum, "Comments and work notes of a %s", en);
	json_object_set_new(cm, "get",
			    op(id, tag, sum, NULL, NULL,
			       responses(json_pack("{s:o}", "200",
						   ok_response("oldest first",
							       ref_to("schemas", "CommentList"))),
					 "401403404")));
	snprintf(id, sizeof id, "add%sComment", cn);
	snprintf(sum, sizeof sum, "Comment on a %s", en);
	json_object_set_new(cm, "post",
			    op(id, tag, sum, NULL, body_of("CommentCreate"),
			       responses(json_pack("{s:o}", "201",
						   ok_response("the comment",
							       ref_to("schemas", "Comment"))),
					 "400401403404413415422")));
	json_object_set_new(paths, path, cm);
	free(path);

	/* journal */
	path = kn_xasprintf("%s/journal", item);
	snprintf(id, sizeof id, "get%sJournal", cn);
	snprintf(sum, sizeof sum, "Every change of a %s", en);
	json_object_set_new(
		paths, path,
		json_pack("{s:[o], s:o}", "parameters", ref_to("parameters", "ref"), "get",
			  op(id, tag, sum, NULL, NULL,
			     responses(json_pack("{s:o}", "200",
						 ok_response("oldest first",
							     ref_to("schemas", "JournalList"))),
				       "401403404"))));
	free(path);

	/* relations */
	path = kn_xasprintf("%s/relations", item);
	json_t *rl = json_pack("{s:[o]}", "parameters", ref_to("parameters", "ref"));
	snprintf(id, sizeof id, "list%sRelations", cn);
	snprintf(sum, sizeof sum, "Relations of a %s", en);
	json_object_set_new(rl, "get",
			    op(id, tag, sum, NULL, NULL,
			       responses(json_pack("{s:o}", "200",
						   ok_response("relations where the record is "
							       "either end",
							       ref_to("schemas", "RelationList"))),
					 "401403404")));
	snprintf(id, sizeof id, "add%sRelation", cn);
	snprintf(sum, sizeof sum, "Relate a %s to another record", en);
	json_object_set_new(rl, "post",
			    op(id, tag, sum, NULL, body_of("RelationCreate"),
			       responses(json_pack("{s:o}", "201",
						   ok_response("the relation",
							       ref_to("schemas", "Relation"))),
					 "400401403404409413415422")));
	json_object_set_new(paths, path, rl);
	free(path);

	path = kn_xasprintf("%s/relations/{id}", item);
	snprintf(id, sizeof id, "delete%sRelation", cn);
	snprintf(sum, sizeof sum, "Remove a relation of a %s", en);
	json_object_set_new(
		paths, path,
		json_pack("{s:[o, {s:s, s:s, s:b, s:{s:s, s:s}}], s:o}", "parameters",
			  ref_to("parameters", "ref"), "name", "id", "in", "path", "required", 1,
			  "schema", "type", "integer", "format", "int64", "delete",
			  op(id, tag, sum, NULL, NULL,
			     responses(json_pack("{s:o}", "204", ok_response("removed", NULL)),
				       "401403404"))));
	free(path);

	/* attachments */
	path = kn_xasprintf("%s/attachments", item);
	json_t *meta_s = json_pack(
		"{s:s, s:{s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s}}}", "type",
		"object", "properties", "id", "type", "integer", "name", "type", "string", "ctype",
		"type", "string", "size", "type", "integer", "sha256", "type", "string",
		"created_by", "type", "string", "created_at", "type", "string");
	json_t *at = json_pack("{s:[o]}", "parameters", ref_to("parameters", "ref"));
	snprintf(id, sizeof id, "list%sAttachments", cn);
	snprintf(sum, sizeof sum, "Attachments of a %s (metadata)", en);
	json_object_set_new(
		at, "get",
		op(id, tag, sum, NULL, NULL,
		   responses(json_pack("{s:o}", "200",
				       ok_response("oldest first",
						   json_pack("{s:s, s:{s:{s:s, s:O}}}", "type",
							     "object", "properties", "items", "type",
							     "array", "items", meta_s))),
			     "401403404")));
	snprintf(id, sizeof id, "add%sAttachment", cn);
	snprintf(sum, sizeof sum, "Attach a file to a %s", en);
	json_object_set_new(
		at, "post",
		op(id, tag, sum,
		   json_pack("[o]", query_param("name", "the file name",
						json_pack("{s:s}", "type", "string"))),
		   json_pack("{s:b, s:{s:{s:{s:s, s:s}}}}", "required", 1, "content", "*/*",
			     "schema", "type", "string", "format", "binary"),
		   responses(json_pack("{s:o}", "201", ok_response("the attachment", json_incref(meta_s))),
			     "401403404413422")));
	json_object_set_new(paths, path, at);
	free(path);
	json_decref(meta_s);

	path = kn_xasprintf("%s/attachments/{id}", item);
	snprintf(id, sizeof id, "get%sAttachment", cn);
	snprintf(sum, sizeof sum, "Download an attachment of a %s", en);
	json_t *file = json_pack("{s:s, s:{s:{s:{s:s, s:s}}}}", "description", "the file",
				 "content", "*/*", "schema", "type", "string", "format", "binary");
	json_object_set_new(
		paths, path,
		json_pack("{s:[o, {s:s, s:s, s:b, s:{s:s, s:s}}], s:o}", "parameters",
			  ref_to("parameters", "ref"), "name", "id", "in", "path", "required", 1,
			  "schema", "type", "integer", "format", "int64", "get",
			  op(id, tag, sum, NULL, NULL,
			     responses(json_pack("{s:o}", "200", file), "401403404"))));
	free(path);
	free(item);
	free(base);
}

/* Schemas, parameters, headers and responses shared by every type. */
static json_t *components(const kn_schema *s)
{
	json_t *schemas = json_object();
	json_object_set_new(
		schemas, "Problem",
		json_pack("{s:s, s:[s,s,s], s:{s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, "
			  "s:s}}}",
			  "type", "object", "required", "type", "title", "status", "properties",
			  "type", "type", "string", "example", "urn:kanri:problem:validation",
			  "title", "type", "string", "status", "type", "integer", "detail", "type",
			  "string", "field", "type", "string", "description",
			  "the offending field, when there is one"));
	json_object_set_new(
		schemas, "User",
		json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:[s,s,s,s]}, s:{s:s, s:b}}}", "type",
			  "object", "properties", "name", "type", "string", "role", "type",
			  "string", "enum", "admin", "agent", "enduser", "auditor", "org", "type",
			  "string", "nullable", 1));
	json_object_set_new(schemas, "Session",
			    json_pack("{s:s, s:[s], s:{s:o, s:{s:s, s:s}}}", "type", "object",
				      "required", "user", "properties", "user",
				      ref_to("schemas", "User"), "csrf", "type", "string",
				      "description",
				      "send as X-CSRF-Token with every cookie write"));
	json_object_set_new(schemas, "Login",
			    json_pack("{s:s, s:[s,s], s:{s:{s:s}, s:{s:s, s:s}}}", "type",
				      "object", "required", "name", "password", "properties",
				      "name", "type", "string", "password", "type", "string",
				      "format", "password"));
	json_object_set_new(
		schemas, "Comment",
		json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:[s,s]}, s:{s:s}, s:{s:s}, s:{s:s, s:s}}}",
			  "type", "object", "properties", "id", "type", "integer", "kind", "type",
			  "string", "enum", "comment", "work_note", "body", "type", "string",
			  "author", "type", "string", "created_at", "type", "string", "format",
			  "date-time"));
	json_object_set_new(
		schemas, "CommentCreate",
		json_pack("{s:s, s:[s], s:{s:{s:s}, s:{s:s, s:[s,s], s:s}}}", "type", "object",
			  "required", "body", "properties", "body", "type", "string", "kind",
			  "type", "string", "enum", "comment", "work_note", "default", "comment"));
	json_object_set_new(schemas, "CommentList",
			    json_pack("{s:s, s:{s:{s:s, s:o}}}", "type", "object", "properties",
				      "items", "type", "array", "items",
				      ref_to("schemas", "Comment")));
	json_object_set_new(
		schemas, "JournalEntry",
		json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:s}, s:{s:s}, s:{s:s}, s:{s:s}, s:{s:s, "
			  "s:b}}}",
			  "type", "object", "properties", "seq", "type", "integer", "at", "type",
			  "string", "format", "date-time", "actor", "type", "string", "action",
			  "type", "string", "changes", "type", "object", "reason", "type",
			  "string", "nullable", 1));
	json_object_set_new(schemas, "JournalList",
			    json_pack("{s:s, s:{s:{s:s, s:o}}}", "type", "object", "properties",
				      "items", "type", "array", "items",
				      ref_to("schemas", "JournalEntry")));
	json_t *kinds = json_array();
	for (size_t i = 0; i < sizeof relation_kinds / sizeof relation_kinds[0]; i++)
		json_array_append_new(kinds, json_string(relation_kinds[i]));
	json_object_set_new(
		schemas, "RelationCreate",
		json_pack("{s:s, s:[s,s], s:{s:{s:s, s:O}, s:{s:s, s:s}}}", "type",
			  "object", "required", "kind", "target", "properties", "kind", "type",
			  "string", "enum", kinds, "target", "type", "string", "example",
			  "incidents/INC-000002"));
	json_object_set_new(schemas, "Relation",
			    json_pack("{s:s, s:{s:{s:s}, s:{s:s, s:o}}, s:b}", "type", "object",
				      "properties", "id", "type", "integer", "kind", "type",
				      "string", "enum", kinds, "additionalProperties", 1));
	json_object_set_new(schemas, "RelationList",
			    json_pack("{s:s, s:{s:{s:s, s:o}}}", "type", "object", "properties",
				      "items", "type", "array", "items",
				      ref_to("schemas", "Relation")));
	json_object_set_new(schemas, "TypeMeta",
			    json_pack("{s:s, s:s, s:b}", "type", "object", "description",
				      "a record type's declaration, normalised",
				      "additionalProperties", 1));
	for (size_t i = 0; i < s->ntypes; i++)
		add_type_schemas(schemas, &s->types[i]);

	json_t *params = json_object();
	json_object_set_new(params, "ref",
			    json_pack("{s:s, s:s, s:b, s:s, s:{s:s}}", "name", "ref", "in",
				      "path", "required", 1, "description",
				      "the record's id (42) or number (INC-000042)", "schema",
				      "type", "string"));
	json_object_set_new(params, "IfMatch",
			    json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "If-Match", "in",
				      "header", "description",
				      "the version being changed, quoted: \"3\"", "schema", "type",
				      "string"));
	json_object_set_new(params, "IfNoneMatch",
			    json_pack("{s:s, s:s, s:s, s:{s:s}}", "name", "If-None-Match", "in",
				      "header", "description",
				      "a version already held: 304 when still current", "schema",
				      "type", "string"));
	json_object_set_new(params, "open",
			    query_param("open", "true: state is not final; false: it is",
					json_pack("{s:s}", "type", "boolean")));
	json_object_set_new(params, "sort",
			    query_param("sort",
					"attributes, comma separated; - for descending: "
					"priority,-updated_at",
					json_pack("{s:s}", "type", "string")));
	json_object_set_new(params, "limit",
			    query_param("limit", "page size",
					json_pack("{s:s, s:i, s:i, s:i}", "type", "integer",
						  "minimum", 1, "maximum", 500, "default", 50)));
	json_object_set_new(params, "cursor",
			    query_param("cursor", "the next of the previous page",
					json_pack("{s:s}", "type", "string")));
	json_object_set_new(params, "total",
			    query_param("total", "false: skip counting (total is then null)",
					json_pack("{s:s, s:b}", "type", "boolean", "default", 1)));

	static const struct {
		const char *status, *desc;
	} errs[] = {
		{"400", "malformed JSON, a body that is not an object, bad query parameters"},
		{"401", "no or invalid credentials"},
		{"403", "not allowed for the role or organisation; missing CSRF header"},
		{"404", "no such record, type or route"},
		{"409", "stale version, duplicate key"},
		{"413", "body over the limit"},
		{"415", "a body that is not application/json"},
		{"422", "invalid field values or a forbidden transition"},
		{"428", "If-Match or version required"},
		{"429", "login locked after repeated failures"},
	};
	json_t *resps = json_object();
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		json_object_set_new(resps, errs[i].status,
				    json_pack("{s:s, s:{s:{s:o}}}", "description", errs[i].desc,
					      "content", "application/problem+json", "schema",
					      ref_to("schemas", "Problem")));

	json_t *headers = json_pack("{s:{s:s, s:{s:s}}}", "ETag", "description",
				    "the record's version, quoted", "schema", "type", "string");

	json_t *sec = json_pack(
		"{s:{s:s, s:s, s:s}, s:{s:s, s:s, s:s, s:s}}", "bearer", "type", "http", "scheme",
		"bearer", "description", "a token from `kanri token create`", "cookie", "type",
		"apiKey", "in", "cookie", "name", "kanri_session", "description",
		"the session from POST /api/v1/session; writes also need X-CSRF-Token");

	return json_pack("{s:o, s:o, s:o, s:o, s:o}", "schemas", schemas, "parameters", params,
			 "responses", resps, "headers", headers, "securitySchemes", sec);
}

json_t *kn_openapi(const kn_schema *s)
{
	json_t *paths = json_object();
	json_t *none = json_array(); /* security: [] = no credentials */

	json_t *health = json_pack("{s:s, s:{s:{s:s}, s:{s:s}}}", "type", "object", "properties",
				   "status", "type", "string", "version", "type", "string");
	json_object_set_new(
		paths, "/api/v1/health",
		json_pack("{s:o}", "get",
			  op("health", "service", "Liveness", NULL, NULL,
			     responses(json_pack("{s:o}", "200", ok_response("running", health)),
				       NULL))));
	json_object_set_new(json_object_get(json_object_get(paths, "/api/v1/health"), "get"),
			    "security", json_copy(none));

	json_t *sess = json_object();
	json_t *login_ok = ok_response("logged in; the session cookie is set",
				       ref_to("schemas", "Session"));
	json_object_set_new(login_ok, "headers",
			    json_pack("{s:{s:s, s:{s:s}}}", "Set-Cookie", "description",
				      "kanri_session=...; Path=/; HttpOnly; SameSite=Strict",
				      "schema", "type", "string"));
	json_t *login = op("login", "session", "Log in", NULL, body_of("Login"),
			   responses(json_pack("{s:o}", "200", login_ok), "400401413415422429"));
	json_object_set_new(login, "security", json_copy(none));
	json_object_set_new(sess, "post", login);
	json_object_set_new(sess, "get",
			    op("getSession", "session", "The current user", NULL, NULL,
			       responses(json_pack("{s:o}", "200",
						   ok_response("the user",
							       ref_to("schemas", "Session"))),
					 "401")));
	json_object_set_new(sess, "delete",
			    op("logout", "session", "Log out", NULL, NULL,
			       responses(json_pack("{s:o}", "204",
						   ok_response("logged out", NULL)),
					 "401403")));
	json_object_set_new(paths, "/api/v1/session", sess);

	json_t *items = json_pack("{s:s, s:{s:{s:s, s:o}}}", "type", "object", "properties",
				  "items", "type", "array", "items",
				  ref_to("schemas", "TypeMeta"));
	json_object_set_new(
		paths, "/api/v1/meta/types",
		json_pack("{s:o}", "get",
			  op("listTypes", "meta", "Every record type's declaration", NULL, NULL,
			     responses(json_pack("{s:o}", "200", ok_response("the types", items)),
				       "401"))));
	json_object_set_new(
		paths, "/api/v1/meta/types/{type}",
		json_pack("{s:[{s:s, s:s, s:b, s:s, s:{s:s}}], s:o}", "parameters", "name",
			  "type", "in", "path", "required", 1, "description",
			  "the type's name or plural", "schema", "type", "string", "get",
			  op("getType", "meta", "One record type's declaration", NULL, NULL,
			     responses(json_pack("{s:o}", "200",
						 ok_response("the type",
							     ref_to("schemas", "TypeMeta"))),
				       "401404"))));
	json_object_set_new(
		paths, "/api/v1/openapi.json",
		json_pack("{s:o}", "get",
			  op("openapi", "meta", "This description", NULL, NULL,
			     responses(json_pack("{s:o}", "200",
						 ok_response("OpenAPI 3.0.3",
							     json_pack("{s:s}", "type",
								       "object"))),
				       "401"))));

	add_other_paths(paths);

	json_t *tags = json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "name", "service", "name",
				 "session", "name", "meta", "name", "reports");
	for (size_t i = 0; i < s->ntypes; i++) {
		const kn_type *t = &s->types[i];
		add_type_paths(paths, t);
		json_array_append_new(tags, json_pack("{s:s, s:s}", "name", t->plural,
						      "description",
						      t->label_en ? t->label_en : t->name));
	}
	json_decref(none);

	return json_pack(
		"{s:s, s:{s:s, s:s, s:s, s:{s:s, s:s}}, s:[{s:s}], s:[{s:[]}, {s:[]}], s:o, "
		"s:o, s:o}",
		"openapi", "3.0.3", "info", "title", "kanri", "version", KN_VERSION,
		"description",
		"IT service management: every record type has the same endpoints, generated "
		"from its declaration. Errors are application/problem+json.",
		"license", "name", "Apache-2.0", "url",
		"https://www.apache.org/licenses/LICENSE-2.0", "servers", "url", "/", "security",
		"bearer", "cookie", "tags", tags, "paths", paths, "components", components(s));
}

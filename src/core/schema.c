/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema.c - loads, merges and validates record type declarations.
 *
 * The embedded declarations (the JSON files in schema/, compiled into the binary) come
 * first; then every .json overlay in DATA/schema/, in name order. An overlay
 * naming an existing type may add fields (marked custom), adjust existing
 * ones (merged key by key, so that {"name": "priority", "computed":
 * {"config": {...}}} replaces just the configuration), add indexes, and
 * replace labels, list_fields or access. An overlay naming a new type
 * declares it in full. The merged result is validated as a whole before
 * anything uses it, so a bad overlay stops start-up with a clear message
 * instead of half-working.
 */
#include "kanri.h"

#include <dirent.h>
#include <stdarg.h>

#include "core/embedded.h"
#include "core/schema.h"

/* ---- roles ------------------------------------------------------------- */

static const struct {
	const char *name;
	int bit;
} roletab[] = {
	{"admin", KN_ROLE_ADMIN},
	{"agent", KN_ROLE_AGENT},
	{"enduser", KN_ROLE_ENDUSER},
	{"auditor", KN_ROLE_AUDITOR},
	{"security", KN_ROLE_SECURITY},
	{"incident_manager", KN_ROLE_INCIDENT_MANAGER},
	{"problem_manager", KN_ROLE_PROBLEM_MANAGER},
	{"knowledge_manager", KN_ROLE_KNOWLEDGE_MANAGER},
	{"service_owner", KN_ROLE_SERVICE_OWNER},
	{"change_manager", KN_ROLE_CHANGE_MANAGER},
	{"top_management", KN_ROLE_TOP_MANAGEMENT},
};
#define NROLES (sizeof roletab / sizeof roletab[0])

int kn_role_parse(const char *names)
{
	if (!names || !*names)
		return 0;
	int mask = 0;
	const char *p = names;
	for (;;) {
		size_t n = strcspn(p, ",");
		size_t i;
		for (i = 0; i < NROLES; i++)
			if (strlen(roletab[i].name) == n && strncmp(p, roletab[i].name, n) == 0)
				break;
		if (i == NROLES)
			return 0;
		mask |= roletab[i].bit;
		if (!p[n])
			return mask;
		p += n + 1;
	}
}

bool kn_role_user_ok(int mask)
{
	int base = mask & KN_ROLE_BASE;
	return base && (base & (base - 1)) == 0;
}

const char *kn_role_name(int role)
{
	for (size_t i = 0; i < NROLES; i++)
		if (role == roletab[i].bit)
			return roletab[i].name;
	return "";
}

void kn_role_names(int mask, char *out, size_t n)
{
	size_t len = 0;
	out[0] = 0;
	for (size_t i = 0; i < NROLES; i++)
		if (mask & roletab[i].bit) {
			int w = snprintf(out + len, n - len, "%s%s", len ? "," : "", roletab[i].name);
			if (w < 0 || (size_t)w >= n - len)
				return;
			len += (size_t)w;
		}
}

json_t *kn_role_list(int mask)
{
	json_t *a = json_array();
	for (size_t i = 0; i < NROLES; i++)
		if (mask & roletab[i].bit)
			json_array_append_new(a, json_string(roletab[i].name));
	return a;
}

/* ---- actions ------------------------------------------------------------ */

#define MAX_ACTIONS 64
struct action {
	const char *name;
	kn_action_fn fn;
};
static struct action actions[MAX_ACTIONS];
static size_t nactions;

void kn_action_register(const char *name, kn_action_fn fn)
{
	for (size_t i = 0; i < nactions; i++)
		if (strcmp(actions[i].name, name) == 0) {
			actions[i].fn = fn;
			return;
		}
	if (nactions < MAX_ACTIONS)
		actions[nactions++] = (struct action){name, fn};
}

kn_action_fn kn_action_find(const char *name)
{
	for (size_t i = 0; name && i < nactions; i++)
		if (strcmp(actions[i].name, name) == 0)
			return actions[i].fn;
	return NULL;
}

/* ---- verbs ------------------------------------------------------------- */

#define MAX_VERBS 64
static struct {
	const char *name;
	kn_verb_fn fn;
	kn_verb_check_fn check;
} verbs[MAX_VERBS];
static size_t nverbs;

void kn_verb_register(const char *name, kn_verb_fn fn, kn_verb_check_fn check)
{
	size_t i;
	for (i = 0; i < nverbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			break;
	if (i == MAX_VERBS)
		abort();
	verbs[i].name = name, verbs[i].fn = fn, verbs[i].check = check;
	if (i == nverbs)
		nverbs++;
}

kn_verb_check_fn kn_verb_check(const char *name)
{
	for (size_t i = 0; i < nverbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return verbs[i].check;
	return NULL;
}

kn_verb_fn kn_verb_find(const char *name)
{
	for (size_t i = 0; i < nverbs; i++)
		if (strcmp(verbs[i].name, name) == 0)
			return verbs[i].fn;
	return NULL;
}

/* ---- names ------------------------------------------------------------- */

static const char *const sysattrs[] = {"id",	     "number",	   "version",
				       "state",	     "created_at", "updated_at",
				       "created_by", "updated_by", NULL};
/* Keys that write bodies and list queries use for themselves. */
static const char *const reserved[] = {"type",	 "to",	   "reason", "open",   "sort",
				       "limit",	 "cursor", "total",  "q",      "fields",
				       "format", "kind",   "target", "body",   NULL};

bool kn_is_system_attr(const char *name)
{
	for (int i = 0; sysattrs[i]; i++)
		if (strcmp(name, sysattrs[i]) == 0)
			return true;
	return false;
}

static bool is_reserved(const char *name)
{
	for (int i = 0; reserved[i]; i++)
		if (strcmp(name, reserved[i]) == 0)
			return true;
	return kn_is_system_attr(name);
}

bool kn_ident_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 48 || !(*s >= 'a' && *s <= 'z'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

/* ---- lookups ----------------------------------------------------------- */

const kn_type *kn_schema_type(const kn_schema *s, const char *name)
{
	for (size_t i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i].name, name) == 0)
			return &s->types[i];
	return NULL;
}

const kn_type *kn_schema_type_plural(const kn_schema *s, const char *plural)
{
	for (size_t i = 0; i < s->ntypes; i++)
		if (strcmp(s->types[i].plural, plural) == 0)
			return &s->types[i];
	return NULL;
}

const kn_field *kn_type_field(const kn_type *t, const char *name)
{
	for (size_t i = 0; i < t->nfields; i++)
		if (strcmp(t->fields[i].name, name) == 0)
			return &t->fields[i];
	return NULL;
}

const kn_state *kn_type_state(const kn_type *t, const char *name)
{
	for (size_t i = 0; i < t->nstates; i++)
		if (strcmp(t->states[i].name, name) == 0)
			return &t->states[i];
	return NULL;
}

const kn_state *kn_type_initial(const kn_type *t)
{
	for (size_t i = 0; i < t->nstates; i++)
		if (t->states[i].initial)
			return &t->states[i];
	return t->nstates ? &t->states[0] : NULL;
}

const kn_transition *kn_type_transition(const kn_type *t, const char *from, const char *to)
{
	const kn_state *fs = kn_type_state(t, from);
	for (size_t i = 0; i < t->ntransitions; i++) {
		const kn_transition *tr = &t->transitions[i];
		if (tr->stay || strcmp(tr->to, to) != 0)
			continue;
		for (size_t j = 0; j < tr->nfrom; j++)
			if (strcmp(tr->from[j], from) == 0 ||
			    (strcmp(tr->from[j], "*") == 0 && fs && !fs->final))
				return tr;
	}
	return NULL;
}

const kn_transition *kn_type_transition_named(const kn_type *t, const char *from,
					      const char *name)
{
	const kn_state *fs = kn_type_state(t, from);
	for (size_t i = 0; i < t->ntransitions; i++) {
		const kn_transition *tr = &t->transitions[i];
		if (strcmp(tr->name, name) != 0)
			continue;
		for (size_t j = 0; j < tr->nfrom; j++)
			if (strcmp(tr->from[j], from) == 0 ||
			    (strcmp(tr->from[j], "*") == 0 && fs && !fs->final))
				return tr;
		return NULL;
	}
	return NULL;
}

/* ---- building structs from JSON --------------------------------------- */

typedef struct loadctx {
	kn_error *err;
	const char *where; /* "type incident" */
} loadctx;

static int bad(loadctx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int bad(loadctx *c, const char *field, const char *fmt, ...)
{
	char msg[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return kn_fail(c->err, KN_EVALID, field, "schema: %s: %s", c->where, msg);
}

static char *dupstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? kn_xstrdup(s) : NULL;
}

static void labels(json_t *o, const char *key, const char *fallback, char **ja, char **en)
{
	json_t *l = json_object_get(o, key);
	const char *j = json_string_value(json_object_get(l, "ja"));
	const char *e = json_string_value(json_object_get(l, "en"));
	if (json_is_string(l))
		j = e = json_string_value(l);
	*en = fallback || e ? kn_xstrdup(e ? e : fallback) : NULL;
	*ja = j ? kn_xstrdup(j) : (*en ? kn_xstrdup(*en) : NULL);
}

/* Array of strings -> owned char** (n set). Non-strings are an error. */
static int strlist(loadctx *c, json_t *a, const char *what, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, what, "%s must be a list of names", what);
	*out = kn_xcalloc(json_array_size(a) + 1, sizeof(char *));
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return bad(c, what, "%s must be a list of names", what);
		(*out)[(*n)++] = kn_xstrdup(json_string_value(v));
	}
	return 0;
}

/* Array of strings -> a list of strings borrowed from a (freed with free()). */
static int cstrlist(loadctx *c, json_t *a, const char *what, const char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, what, "%s must be a list of names", what);
	*out = kn_xcalloc(json_array_size(a) + 1, sizeof(char *));
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		if (!json_is_string(v))
			return bad(c, what, "%s must be a list of names", what);
		(*out)[(*n)++] = json_string_value(v);
	}
	return 0;
}

static int roles(loadctx *c, json_t *a, const char *what, int *out)
{
	*out = 0;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, what, "%s must be a list of roles", what);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		int r = kn_role_parse(json_string_value(v));
		if (!r)
			return bad(c, what, "%s: unknown role '%s'", what, json_is_string(v) ? json_string_value(v) : "?");
		*out |= r;
	}
	return 0;
}

static const char *const kindnames[] = {"text", "longtext", "integer", "boolean",
					"enum", "datetime", "date",    "ref", "json"};

static int field_build(loadctx *c, json_t *o, kn_field *f)
{
	f->name = dupstr(o, "name");
	if (!kn_ident_ok(f->name))
		return bad(c, "fields", "field name '%s' must be lowercase letters, digits, _", f->name);
	if (is_reserved(f->name))
		return bad(c, f->name, "field name '%s' is reserved", f->name);
	const char *kind = json_string_value(json_object_get(o, "kind"));
	size_t k;
	for (k = 0; k < sizeof kindnames / sizeof kindnames[0]; k++)
		if (kind && strcmp(kind, kindnames[k]) == 0)
			break;
	if (k == sizeof kindnames / sizeof kindnames[0])
		return bad(c, f->name, "field '%s': unknown kind '%s'", f->name, kind);
	f->kind = (kn_kind)k;
	labels(o, "label", f->name, &f->label_ja, &f->label_en);
	labels(o, "help", NULL, &f->help_ja, &f->help_en);
	f->required = json_is_true(json_object_get(o, "required"));
	f->readonly = json_is_true(json_object_get(o, "readonly"));
	f->immutable = json_is_true(json_object_get(o, "immutable"));
	f->key = json_is_true(json_object_get(o, "key"));
	f->custom = json_is_true(json_object_get(o, "custom"));
	f->derived = json_is_true(json_object_get(o, "derived"));
	if (roles(c, json_object_get(o, "hidden"), "hidden", &f->hidden))
		return c->err->code;
	json_t *sw = json_object_get(o, "search");
	if (sw && !json_is_false(sw)) {
		if (f->kind != KN_TEXT && f->kind != KN_LONGTEXT)
			return bad(c, f->name, "field '%s': only text fields are searched", f->name);
		if (!json_is_true(sw) && (!json_is_integer(sw) || json_integer_value(sw) < 1 ||
					  json_integer_value(sw) > 9))
			return bad(c, f->name, "field '%s': search is true or a weight 1 to 9",
				   f->name);
		if (f->hidden)
			return bad(c, f->name, "field '%s': a field hidden from a role is not searched"
				   " (its words would find the record)", f->name);
		f->search = json_is_true(sw) ? 1 : (int)json_integer_value(sw);
	}
	json_t *mn = json_object_get(o, "min"), *mx = json_object_get(o, "max");
	if ((mn && !json_is_integer(mn)) || (mx && !json_is_integer(mx)))
		return bad(c, f->name, "field '%s': min and max must be integers", f->name);
	f->has_min = mn != NULL, f->min = json_integer_value(mn);
	f->has_max = mx != NULL, f->max = json_integer_value(mx);
	if (f->kind == KN_TEXT && !f->has_max)
		f->max = 255, f->has_max = true;
	if ((f->kind == KN_LONGTEXT || f->kind == KN_JSON) && !f->has_max)
		f->max = 65536, f->has_max = true;
	if (f->kind == KN_JSON && f->def && !json_is_object(f->def) && !json_is_array(f->def))
		return bad(c, f->name, "json field '%s': the default is an object or a list", f->name);
	if ((f->kind == KN_TEXT || f->kind == KN_LONGTEXT) && f->max < 1)
		return bad(c, f->name, "field '%s': max must be at least 1", f->name);
	if (f->has_min && f->has_max && f->kind == KN_INTEGER && f->min > f->max)
		return bad(c, f->name, "field '%s': min is above max", f->name);
	if (f->kind == KN_ENUM) {
		json_t *vals = json_object_get(o, "values");
		if (!json_is_array(vals) || json_array_size(vals) == 0)
			return bad(c, f->name, "enum field '%s' needs values", f->name);
		f->values = kn_xcalloc(json_array_size(vals), sizeof(kn_enumval));
		size_t i;
		json_t *v;
		json_array_foreach(vals, i, v)
		{
			kn_enumval *ev = &f->values[f->nvalues];
			ev->value = dupstr(v, "value");
			if (!ev->value && json_is_string(v))
				ev->value = kn_xstrdup(json_string_value(v));
			if (!ev->value || !*ev->value)
				return bad(c, f->name, "enum field '%s': a value is empty", f->name);
			for (size_t j = 0; j < f->nvalues; j++)
				if (strcmp(f->values[j].value, ev->value) == 0)
					return bad(c, f->name, "enum field '%s': value '%s' twice", f->name, ev->value);
			labels(v, "label", ev->value, &ev->label_ja, &ev->label_en);
			ev->parent = json_string_value(json_object_get(v, "parent"));
			f->nvalues++;
		}
	}
	if (f->kind == KN_REF) {
		f->ref = dupstr(o, "ref");
		if (!f->ref)
			return bad(c, f->name, "ref field '%s' needs a target type", f->name);
	}
	json_t *def = json_object_get(o, "default");
	if (def && !json_is_null(def))
		f->def = json_incref(def);
	json_t *comp = json_object_get(o, "computed");
	if (comp) {
		f->verb = dupstr(comp, "verb");
		if (!f->verb || !kn_verb_find(f->verb))
			return bad(c, f->name, "field '%s': unknown computation '%s'", f->name, f->verb);
		if (strlist(c, json_object_get(comp, "args"), "computed.args", &f->args, &f->nargs))
			return c->err->code;
		json_t *cfg = json_object_get(comp, "config");
		f->config = cfg ? json_incref(cfg) : NULL;
		f->readonly = true;
		kn_verb_check_fn check = kn_verb_check(f->verb);
		kn_error e2 = {0};
		if (check && check(f, &e2))
			return bad(c, f->name, "field '%s': %.300s", f->name, e2.detail);
	}
	if (f->key && f->kind != KN_TEXT && !(f->kind == KN_REF && !strcmp(f->ref, "user")))
		return bad(c, f->name, "key field '%s' must be text (or a user)", f->name);
	f->parent_field = json_string_value(json_object_get(o, "parent_field"));
	if (cstrlist(c, json_object_get(o, "fill"), "fill", &f->fill, &f->nfill))
		return c->err->code;
	if (f->nfill && f->kind != KN_REF)
		return bad(c, f->name, "field '%s': fill is for references", f->name);
	json_t *ctr = json_object_get(o, "counter");
	if (ctr) {
		if (f->kind != KN_INTEGER || !json_is_object(ctr))
			return bad(c, f->name, "counter field '%s' must be an integer with "
				   "{\"transitions\": [...]} or {\"changes\": FIELD}", f->name);
		f->counter_changes = json_string_value(json_object_get(ctr, "changes"));
		if (cstrlist(c, json_object_get(ctr, "transitions"), "counter.transitions",
			     &f->counter_transitions, &f->ncounter_transitions))
			return c->err->code;
		if (!f->counter_changes == !f->ncounter_transitions)
			return bad(c, f->name, "counter field '%s' counts either transitions or "
				   "changes of one field", f->name);
		f->readonly = true;
		if (!f->def)
			f->def = json_integer(0);
	}
	return 0;
}

static int parse_number(loadctx *c, const char *fmt, kn_type *t)
{
	const char *b = fmt ? strchr(fmt, '{') : NULL;
	int w = 0;
	if (!b || sscanf(b, "{%d}", &w) != 1 || w < 1 || w > 12 || strchr(b, '}')[1] != 0 ||
	    b == fmt || (size_t)(b - fmt) > 16)
		return bad(c, "number", "number format must look like 'INC-{6}', got '%s'", fmt);
	t->number_prefix = kn_xstrndup(fmt, (size_t)(b - fmt));
	t->number_width = w;
	return 0;
}

static bool attr_ok(const kn_type *t, const char *name)
{
	return kn_is_system_attr(name) || kn_type_field(t, name);
}

/* What a field's parent_field and counter name must exist. */
static int field_links_check(loadctx *c, const kn_type *t, const kn_field *f)
{
	if (f->parent_field) {
		const kn_field *pf = kn_type_field(t, f->parent_field);
		if (f->kind != KN_ENUM || !pf || pf->kind != KN_ENUM)
			return bad(c, f->name, "field '%s': parent_field must name an enum field and "
				   "be on an enum", f->name);
		for (size_t i = 0; i < f->nvalues; i++) {
			size_t j;
			for (j = 0; j < pf->nvalues && f->values[i].parent; j++)
				if (strcmp(pf->values[j].value, f->values[i].parent) == 0)
					break;
			if (!f->values[i].parent || j == pf->nvalues)
				return bad(c, f->name, "field '%s': value '%s' needs a parent among "
					   "the values of %s", f->name, f->values[i].value, pf->name);
		}
	}
	if (f->counter_changes && !kn_type_field(t, f->counter_changes))
		return bad(c, f->name, "counter '%s' counts changes of unknown field '%s'", f->name,
			   f->counter_changes);
	for (size_t i = 0; i < f->ncounter_transitions; i++) {
		size_t j;
		for (j = 0; j < t->ntransitions; j++)
			if (strcmp(t->transitions[j].name, f->counter_transitions[i]) == 0)
				break;
		if (j == t->ntransitions)
			return bad(c, f->name, "counter '%s' counts unknown transition '%s'", f->name,
				   f->counter_transitions[i]);
	}
	return 0;
}

/* One condition: attr (maybe "ref.field") holds one of vals. */
static int match_build(loadctx *c, const kn_type *t, const char *attr, const json_t *vals,
		       kn_match *m, const char *what)
{
	const char *dot = strchr(attr, '.');
	size_t n = dot ? (size_t)(dot - attr) : strlen(attr);
	if (n >= sizeof m->attr)
		return bad(c, what, "%s: '%s' is too long", what, attr);
	memcpy(m->attr, attr, n);
	m->attr[n] = 0;
	m->sub = dot ? dot + 1 : NULL;
	m->values = vals;
	const kn_field *f = kn_type_field(t, m->attr);
	if (dot && (!f || f->kind != KN_REF || !strcmp(f->ref, "user") || !*m->sub))
		return bad(c, what, "%s: '%s' must follow a reference to a record type", what, attr);
	if (!dot && !attr_ok(t, m->attr))
		return bad(c, what, "%s: unknown field '%s'", what, attr);
	if (json_is_object(vals))
		return bad(c, what, "%s: '%s' takes a value or a list of values", what, attr);
	return 0;
}

static int when_build(loadctx *c, const kn_type *t, json_t *o, kn_when *w, const char *what)
{
	w->m = NULL;
	w->n = 0;
	if (!o)
		return 0;
	if (!json_is_object(o))
		return bad(c, what, "%s must be an object {field: value or [values]}", what);
	w->m = kn_xcalloc(json_object_size(o) + 1, sizeof *w->m);
	const char *k;
	json_t *v;
	json_object_foreach(o, k, v)
	{
		if (match_build(c, t, k, v, &w->m[w->n], what))
			return c->err->code;
		w->n++;
	}
	return 0;
}

static int guards_build(loadctx *c, const kn_type *t, json_t *a, kn_transition *tr)
{
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, "guards", "transition '%s': guards must be a list", tr->name);
	tr->guards = kn_xcalloc(json_array_size(a) + 1, sizeof *tr->guards);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		kn_guard *g = &tr->guards[tr->nguards++];
		if (when_build(c, t, json_object_get(v, "when"), &g->when, "guards.when") ||
		    cstrlist(c, json_object_get(v, "requires"), "guards.requires", &g->requires,
			     &g->nrequires))
			return c->err->code;
		for (size_t j = 0; j < g->nrequires; j++)
			if (!kn_type_field(t, g->requires[j]))
				return bad(c, "guards", "transition '%s': guard requires unknown field '%s'",
					   tr->name, g->requires[j]);
		json_t *ex = json_object_get(v, "exists");
		if (ex) {
			g->exists_type = json_string_value(json_object_get(ex, "type"));
			g->exists_field = json_string_value(json_object_get(ex, "field"));
			g->exists_states = json_object_get(ex, "states");
			if (!g->exists_type || !g->exists_field ||
			    (g->exists_states && !json_is_array(g->exists_states)))
				return bad(c, "guards", "transition '%s': exists needs type, field and "
					   "optional states", tr->name);
		}
		if (!g->nrequires && !g->exists_type)
			return bad(c, "guards", "transition '%s': a guard requires fields or a record",
				   tr->name);
		json_t *msg = json_object_get(v, "message");
		g->msg_en = json_string_value(json_object_get(msg, "en"));
		g->msg_ja = json_string_value(json_object_get(msg, "ja"));
	}
	return 0;
}

static int restricts_build(loadctx *c, kn_type *t, json_t *a)
{
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, "restrict", "restrict must be a list");
	t->restricts = kn_xcalloc(json_array_size(a) + 1, sizeof *t->restricts);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		kn_restrict *r = &t->restricts[t->nrestricts++];
		json_t *w = json_object_get(v, "where");
		if (!json_is_object(w) || json_object_size(w) != 1)
			return bad(c, "restrict", "a restriction's where names exactly one field");
		const char *k = json_object_iter_key(json_object_iter(w));
		if (match_build(c, t, k, json_object_get(w, k), &r->where, "restrict.where") ||
		    roles(c, json_object_get(v, "roles"), "restrict.roles", &r->roles))
			return c->err->code;
		if (r->where.sub)
			return bad(c, "restrict", "a restriction's where names a field of the record");
		/* administrators and auditors see everything */
		r->roles |= KN_ROLE_ADMIN | KN_ROLE_AUDITOR;
	}
	return 0;
}

static const kn_transition *transition_named(const kn_type *t, const char *name)
{
	for (size_t i = 0; name && i < t->ntransitions; i++)
		if (strcmp(t->transitions[i].name, name) == 0)
			return &t->transitions[i];
	return NULL;
}

/* Whether setting `set` makes `w` false (so a timer fires once). */
static bool set_breaks(const json_t *set, const kn_when *w)
{
	for (size_t i = 0; i < w->n; i++) {
		json_t *nv = json_object_get(set, w->m[i].attr);
		if (!nv || w->m[i].sub || json_is_string(nv))
			continue;
		const json_t *vals = w->m[i].values;
		bool in = json_is_array(vals) ? false : json_equal(vals, nv);
		size_t j;
		json_t *x;
		json_array_foreach(vals, j, x) in |= json_equal(x, nv);
		if (!in)
			return true;
	}
	return false;
}

static int rule_build(loadctx *c, kn_type *t, json_t *v, kn_rule *r)
{
	r->name = json_string_value(json_object_get(v, "name"));
	if (!kn_ident_ok(r->name) || strlen(r->name) > 31)
		return bad(c, "rules", "a rule needs a lowercase name of at most 31 characters");
	json_t *lab = json_object_get(v, "label");
	r->label_ja = json_string_value(json_object_get(lab, "ja"));
	r->label_en = json_string_value(json_object_get(lab, "en"));
	static const char *const ons[] = {"create", "update", "transition", "timer"};
	json_t *on = json_object_get(v, "on");
	size_t i;
	json_t *x;
	if (!json_is_array(on) || !json_array_size(on))
		return bad(c, "rules", "rule '%s': on must list create, update, transition or timer",
			   r->name);
	json_array_foreach(on, i, x)
	{
		size_t k;
		for (k = 0; k < 4; k++)
			if (json_is_string(x) && strcmp(json_string_value(x), ons[k]) == 0)
				break;
		if (k == 4)
			return bad(c, "rules", "rule '%s': unknown event in on", r->name);
		r->on |= 1 << k;
	}
	if ((r->on & KN_ON_TIMER) && r->on != KN_ON_TIMER)
		return bad(c, "rules", "rule '%s': a timer rule has no other event", r->name);
	if (cstrlist(c, json_object_get(v, "transitions"), "rules.transitions", &r->transitions,
		     &r->ntransitions) ||
	    cstrlist(c, json_object_get(v, "changed"), "rules.changed", &r->changed,
		     &r->nchanged) ||
	    when_build(c, t, json_object_get(v, "when"), &r->when, "rules.when"))
		return c->err->code;
	for (i = 0; i < r->ntransitions; i++)
		if (!transition_named(t, r->transitions[i]))
			return bad(c, "rules", "rule '%s': unknown transition '%s'", r->name,
				   r->transitions[i]);
	for (i = 0; i < r->nchanged; i++)
		if (!kn_type_field(t, r->changed[i]))
			return bad(c, "rules", "rule '%s': unknown field '%s' in changed", r->name,
				   r->changed[i]);
	r->set = json_object_get(v, "set");
	if (r->set) {
		if (!json_is_object(r->set))
			return bad(c, "rules", "rule '%s': set must be an object", r->name);
		const char *k;
		json_object_foreach((json_t *)r->set, k, x)
		{
			const kn_field *f = kn_type_field(t, k);
			const char *s = json_string_value(x);
			if (!f || f->verb || f->counter_changes || f->ncounter_transitions)
				return bad(c, "rules", "rule '%s': cannot set '%s'", r->name, k);
			bool ok = json_is_null(x);
			if (s && !strcmp(s, "$now"))
				ok = f->kind == KN_DATETIME;
			else if (s && !strcmp(s, "$inc"))
				ok = f->kind == KN_INTEGER;
			else if (f->kind == KN_INTEGER)
				ok |= json_is_integer(x);
			else if (f->kind == KN_BOOLEAN)
				ok |= json_is_boolean(x);
			else
				ok |= s != NULL;
			if (!ok)
				return bad(c, "rules", "rule '%s': '%s' cannot take that value", r->name, k);
		}
	}
	r->fire = json_string_value(json_object_get(v, "fire"));
	if (json_object_get(v, "fire") && !transition_named(t, r->fire))
		return bad(c, "rules", "rule '%s': fire names no transition", r->name);
	json_t *after = json_object_get(v, "after");
	if (r->on == KN_ON_TIMER) {
		r->after_field = json_string_value(json_object_get(after, "field"));
		json_t *mi = json_object_get(after, "minutes"), *se = json_object_get(after, "seconds"),
		       *bd = json_object_get(after, "business_days");
		const kn_field *af = r->after_field ? kn_type_field(t, r->after_field) : NULL;
		bool sys = r->after_field && (!strcmp(r->after_field, "created_at") ||
					      !strcmp(r->after_field, "updated_at"));
		if ((!af || af->kind != KN_DATETIME) && !sys)
			return bad(c, "rules", "rule '%s': after.field must be a date-time", r->name);
		json_t *amount = mi ? mi : se ? se : bd;
		if ((mi != NULL) + (se != NULL) + (bd != NULL) != 1 || !json_is_integer(amount) ||
		    json_integer_value(amount) < 1 || json_integer_value(amount) > 1000000 ||
		    (bd && json_integer_value(bd) > 365))
			return bad(c, "rules", "rule '%s': after takes one of seconds, minutes or "
				   "business_days (a positive whole number)", r->name);
		r->after_ms = mi ? json_integer_value(mi) * 60000 : se ? json_integer_value(se) * 1000 : 0;
		r->after_days = bd ? (int)json_integer_value(bd) : 0;
		if (!r->fire && !set_breaks(r->set, &r->when))
			return bad(c, "rules", "rule '%s': a timer must fire a transition or set a "
				   "field so that its when no longer holds (else it fires forever)",
				   r->name);
	} else if (after) {
		return bad(c, "rules", "rule '%s': after is for timer rules", r->name);
	} else if (r->fire) {
		return bad(c, "rules", "rule '%s': fire is for timer rules", r->name);
	}
	json_t *no = json_object_get(v, "notify");
	if (no) {
		if (roles(c, json_object_get(no, "roles"), "rules.notify.roles", &r->notify_roles) ||
		    cstrlist(c, json_object_get(no, "fields"), "rules.notify.fields",
			     &r->notify_fields, &r->nnotify_fields))
			return c->err->code;
		for (i = 0; i < r->nnotify_fields; i++) {
			const kn_field *f = kn_type_field(t, r->notify_fields[i]);
			if (!f || f->kind != KN_REF ||
			    (strcmp(f->ref, "user") && strcmp(f->ref, "group")))
				return bad(c, "rules", "rule '%s': notify.fields are user or group "
					   "references", r->name);
		}
		json_t *subj = json_object_get(no, "subject");
		r->subject_en = json_string_value(json_object_get(subj, "en"));
		r->subject_ja = json_string_value(json_object_get(subj, "ja"));
		if (!r->subject_en || !r->subject_ja)
			return bad(c, "rules", "rule '%s': notify.subject needs ja and en", r->name);
	}
	json_t *ch = json_object_get(v, "children");
	if (ch) {
		r->children_via = json_string_value(json_object_get(ch, "via"));
		r->children_fire = json_string_value(json_object_get(ch, "fire"));
		const kn_field *vf = r->children_via ? kn_type_field(t, r->children_via) : NULL;
		if (!vf || vf->kind != KN_REF || strcmp(vf->ref, t->name) ||
		    !transition_named(t, r->children_fire) || r->on != KN_ON_TRANSITION)
			return bad(c, "rules", "rule '%s': children needs via (a reference to this "
				   "type) and fire (a transition), on transition", r->name);
		if (cstrlist(c, json_object_get(ch, "copy"), "rules.children.copy",
			     &r->children_copy, &r->nchildren_copy))
			return c->err->code;
		for (i = 0; i < r->nchildren_copy; i++)
			if (!kn_type_field(t, r->children_copy[i]))
				return bad(c, "rules", "rule '%s': copies unknown field '%s'", r->name,
					   r->children_copy[i]);
	}
	r->call = json_string_value(json_object_get(v, "call"));
	if (json_object_get(v, "call") && (!r->call || !kn_action_find(r->call)))
		return bad(c, "rules", "rule '%s': call names no action", r->name);
	if (r->call && r->on == KN_ON_TIMER)
		return bad(c, "rules", "rule '%s': a timer does not call actions", r->name);
	if (!r->set && !r->fire && !no && !ch && !r->call)
		return bad(c, "rules", "rule '%s' does nothing (set, fire, notify, children or call)",
			   r->name);
	return 0;
}

static int rules_build(loadctx *c, kn_type *t, json_t *a)
{
	if (!a)
		return 0;
	if (!json_is_array(a))
		return bad(c, "rules", "rules must be a list");
	t->rules = kn_xcalloc(json_array_size(a) + 1, sizeof *t->rules);
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		kn_rule *r = &t->rules[t->nrules++];
		if (rule_build(c, t, v, r))
			return c->err->code;
		for (size_t j = 0; j + 1 < t->nrules; j++)
			if (strcmp(t->rules[j].name, r->name) == 0)
				return bad(c, "rules", "rule '%s' declared twice", r->name);
	}
	return 0;
}

/* ---- clocks --------------------------------------------------------------- */

static const struct {
	const char *suffix, *kind, *ja, *en;
	bool derived, enduser_sees;
} clock_fields[KN_CLOCK_NFIELDS] = {
	[KN_CLOCK_TARGET] = {"target", "integer", "目標（秒）", "target (seconds)", false, false},
	[KN_CLOCK_DUE] = {"due", "datetime", "期限", "due", true, true},
	[KN_CLOCK_STATE] = {"state", "enum", "の状態", "clock", false, true},
	[KN_CLOCK_BREACHED] = {"breached", "boolean", "違反", "breached", false, true},
	[KN_CLOCK_BREACHED_AT] = {"breached_at", "datetime", "違反日時", "breached at", false, false},
	[KN_CLOCK_ELAPSED] = {"elapsed", "integer", "経過（秒）", "elapsed (seconds)", false, false},
	[KN_CLOCK_SINCE] = {"since", "datetime", "計測再開", "running since", false, false},
	[KN_CLOCK_STOPPED_AT] = {"stopped_at", "datetime", "停止日時", "stopped at", false, false},
	[KN_CLOCK_WARNED] = {"warned", "integer", "警告済み（%）", "warned (%)", false, false},
	[KN_CLOCK_NEXT] = {"next", "datetime", "次の確認", "next check", true, false},
};

/* The fields and indexes a type's clocks generate, added to its
 * declaration o before its fields are built. */
static int clocks_expand(loadctx *c, json_t *o)
{
	json_t *cl = json_object_get(o, "clocks");
	if (!cl)
		return 0;
	json_t *list = json_object_get(cl, "list");
	if (!json_is_object(cl) || !json_is_array(list) || !json_array_size(list) ||
	    json_array_size(list) > KN_MAX_CLOCKS)
		return bad(c, "clocks", "clocks must be {\"agreement\": FIELD, \"list\": [1 to %d "
			   "clocks]}", KN_MAX_CLOCKS);
	json_t *fields = json_object_get(o, "fields"), *ix = json_object_get(o, "indexes");
	if (!json_is_array(fields))
		return bad(c, "fields", "fields must be a list");
	if (!ix)
		json_object_set_new(o, "indexes", ix = json_array());
	const char *agreement = json_string_value(json_object_get(cl, "agreement"));
	bool has_priority = false;
	size_t i;
	json_t *v;
	json_array_foreach(fields, i, v)
	{
		const char *fn = json_string_value(json_object_get(v, "name"));
		has_priority |= fn && !strcmp(fn, "priority");
	}
	json_array_foreach(list, i, v)
	{
		const char *name = json_string_value(json_object_get(v, "name"));
		if (!kn_ident_ok(name) || strlen(name) > 24)
			return bad(c, "clocks", "a clock needs a lowercase name of at most 24 characters");
		json_t *lab = json_object_get(v, "label");
		const char *lja = json_string_value(json_object_get(lab, "ja"));
		const char *len = json_string_value(json_object_get(lab, "en"));
		for (int k = 0; k < KN_CLOCK_NFIELDS; k++) {
			char fname[64];
			snprintf(fname, sizeof fname, "%s_%s", name, clock_fields[k].suffix);
			json_t *f = json_pack("{s:s,s:s,s:b,s:{s:s+,s:s++}}", "name", fname, "kind",
					      clock_fields[k].kind, "readonly", 1, "label", "ja",
					      lja ? lja : name, clock_fields[k].ja, "en",
					      len ? len : name, " ", clock_fields[k].en);
			if (!f)
				return bad(c, "clocks", "clock '%s': cannot declare its fields", name);
			if (clock_fields[k].derived)
				json_object_set_new(f, "derived", json_true());
			if (!clock_fields[k].enduser_sees)
				json_object_set_new(f, "hidden", json_pack("[s]", "enduser"));
			if (k == KN_CLOCK_STATE)
				json_object_set_new(
				    f, "values",
				    json_pack("[{s:s,s:{s:s,s:s}},{s:s,s:{s:s,s:s}},"
					      "{s:s,s:{s:s,s:s}},{s:s,s:{s:s,s:s}}]",
					      "value", "running", "label", "ja", "計測中", "en", "Running",
					      "value", "paused", "label", "ja", "一時停止", "en", "Paused",
					      "value", "stopped", "label", "ja", "停止", "en", "Stopped",
					      "value", "cancelled", "label", "ja", "取消", "en", "Cancelled"));
			json_array_append_new(fields, f);
		}
		char a[64], b[64];
		snprintf(a, sizeof a, "%s_next", name);
		json_array_append_new(ix, json_pack("[s]", a));
		snprintf(a, sizeof a, "%s_state", name);
		snprintf(b, sizeof b, "%s_due", name);
		json_array_append_new(ix, json_pack("[ss]", a, b));
		/* the SLA report's counts: stopped in a period under an agreement,
		 * breached or not, by priority, from the index alone */
		snprintf(b, sizeof b, "%s_stopped_at", name);
		char br[64];
		snprintf(br, sizeof br, "%s_breached", name);
		json_t *counted = json_pack("[ss]", a, b);
		if (agreement)
			json_array_append_new(counted, json_string(agreement));
		json_array_append_new(counted, json_string(br));
		if (has_priority)
			json_array_append_new(counted, json_string("priority"));
		json_array_append_new(ix, counted);
		snprintf(a, sizeof a, "%s_breached_at", name);
		json_array_append_new(ix, json_pack("[s]", a));
	}
	return 0;
}

/* The clocks' conditions, once the fields and states are built. */
static int clocks_build(loadctx *c, kn_type *t, json_t *o)
{
	json_t *cl = json_object_get(o, "clocks");
	if (!cl)
		return 0;
	t->agreement_field = json_string_value(json_object_get(cl, "agreement"));
	const kn_field *af = t->agreement_field ? kn_type_field(t, t->agreement_field) : NULL;
	if (!af || af->kind != KN_REF || !af->readonly)
		return bad(c, "clocks", "clocks.agreement must name a read-only reference field");
	json_t *list = json_object_get(cl, "list");
	t->clocks = kn_xcalloc(json_array_size(list), sizeof *t->clocks);
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		kn_clock *k = &t->clocks[t->nclocks++];
		k->name = json_string_value(json_object_get(v, "name"));
		for (size_t j = 0; j + 1 < t->nclocks; j++)
			if (strcmp(t->clocks[j].name, k->name) == 0)
				return bad(c, "clocks", "clock '%s' declared twice", k->name);
		json_t *lab = json_object_get(v, "label");
		k->label_ja = json_string_value(json_object_get(lab, "ja"));
		k->label_en = json_string_value(json_object_get(lab, "en"));
		if (!k->label_ja || !k->label_en)
			return bad(c, "clocks", "clock '%s' needs label ja and en", k->name);
		k->once = json_is_true(json_object_get(v, "once"));
		for (int f = 0; f < KN_CLOCK_NFIELDS; f++) {
			char fname[64];
			snprintf(fname, sizeof fname, "%s_%s", k->name, clock_fields[f].suffix);
			const kn_field *fd = kn_type_field(t, fname);
			k->field[f] = fd->name;
		}
		if (when_build(c, t, json_object_get(v, "pause"), &k->pause, "clocks.pause") ||
		    when_build(c, t, json_object_get(v, "stop"), &k->stop, "clocks.stop") ||
		    when_build(c, t, json_object_get(v, "cancel"), &k->cancel, "clocks.cancel"))
			return c->err->code;
		if (!k->stop.n)
			return bad(c, "clocks", "clock '%s' needs a stop condition", k->name);
	}
	return 0;
}

static int type_build(loadctx *c, json_t *o, kn_type *t)
{
	t->decl = json_incref(o);
	t->name = dupstr(o, "type");
	t->plural = dupstr(o, "plural");
	if (!kn_ident_ok(t->name) || !kn_ident_ok(t->plural))
		return bad(c, "type", "type and plural must be lowercase names");
	labels(o, "label", t->name, &t->label_ja, &t->label_en);
	if (parse_number(c, json_string_value(json_object_get(o, "number")), t))
		return c->err->code;

	if (clocks_expand(c, o))
		return c->err->code;
	json_t *fa = json_object_get(o, "fields");
	if (!json_is_array(fa))
		return bad(c, "fields", "fields must be a list");
	t->fields = kn_xcalloc(json_array_size(fa), sizeof(kn_field));
	size_t i;
	json_t *v;
	json_array_foreach(fa, i, v)
	{
		kn_field *f = &t->fields[t->nfields++];
		f->col = (int)i;
		if (field_build(c, v, f))
			return c->err->code;
		for (size_t j = 0; j + 1 < t->nfields; j++)
			if (strcmp(t->fields[j].name, f->name) == 0)
				return bad(c, f->name, "field '%s' declared twice", f->name);
		if (f->key) {
			if (t->key_field)
				return bad(c, f->name, "only one key field allowed");
			t->key_field = f;
		}
	}
	/* computed args and defaults refer to fields of this type */
	for (i = 0; i < t->nfields; i++)
		for (size_t j = 0; j < t->fields[i].nargs; j++)
			if (!kn_type_field(t, t->fields[i].args[j]))
				return bad(c, t->fields[i].name, "computed argument '%s' is not a field", t->fields[i].args[j]);

	t->org_field = dupstr(o, "org_field");
	if (t->org_field) {
		const kn_field *of = kn_type_field(t, t->org_field);
		if (!of || of->kind != KN_TEXT)
			return bad(c, "org_field", "org_field '%s' must be a text field", t->org_field);
	}

	json_t *sa = json_object_get(o, "states");
	if (!json_is_array(sa) || json_array_size(sa) == 0)
		return bad(c, "states", "states must be a non-empty list");
	t->states = kn_xcalloc(json_array_size(sa), sizeof(kn_state));
	int initials = 0;
	json_array_foreach(sa, i, v)
	{
		kn_state *s = &t->states[t->nstates++];
		s->name = dupstr(v, "name");
		if (!kn_ident_ok(s->name))
			return bad(c, "states", "state name '%s' is not a lowercase name", s->name);
		for (size_t j = 0; j + 1 < t->nstates; j++)
			if (strcmp(t->states[j].name, s->name) == 0)
				return bad(c, "states", "state '%s' declared twice", s->name);
		labels(v, "label", s->name, &s->label_ja, &s->label_en);
		s->initial = json_is_true(json_object_get(v, "initial"));
		s->final = json_is_true(json_object_get(v, "final"));
		json_t *lk = json_object_get(v, "locked");
		s->locked = json_is_true(lk) || json_is_object(lk);
		if (cstrlist(c, json_object_get(lk, "except"), "locked.except", &s->unlocked,
			     &s->nunlocked))
			return c->err->code;
		initials += s->initial;
	}
	if (initials > 1)
		return bad(c, "states", "more than one initial state");

	json_t *ta = json_object_get(o, "transitions");
	if (ta && !json_is_array(ta))
		return bad(c, "transitions", "transitions must be a list");
	t->transitions = kn_xcalloc(json_array_size(ta) + 1, sizeof(kn_transition));
	json_array_foreach(ta, i, v)
	{
		kn_transition *tr = &t->transitions[t->ntransitions++];
		tr->name = dupstr(v, "name");
		if (!kn_ident_ok(tr->name))
			return bad(c, "transitions", "transition name '%s' is not a lowercase name", tr->name);
		labels(v, "label", tr->name, &tr->label_ja, &tr->label_en);
		tr->to = dupstr(v, "to");
		tr->stay = json_is_true(json_object_get(v, "stay"));
		if (tr->stay ? tr->to != NULL : (!tr->to || !kn_type_state(t, tr->to)))
			return bad(c, "transitions", "transition '%s' %s", tr->name,
				   tr->stay ? "stays in its state and has no \"to\""
					    : "goes to an unknown state");
		for (size_t j = 0; j + 1 < t->ntransitions; j++)
			if (strcmp(t->transitions[j].name, tr->name) == 0)
				return bad(c, "transitions", "transition '%s' declared twice", tr->name);
		tr->requires_reason = json_is_true(json_object_get(v, "requires_reason"));
		if (strlist(c, json_object_get(v, "from"), "from", &tr->from, &tr->nfrom) ||
		    strlist(c, json_object_get(v, "requires"), "requires", &tr->requires,
			    &tr->nrequires) ||
		    roles(c, json_object_get(v, "roles"), "roles", &tr->roles))
			return c->err->code;
		for (size_t j = 0; j < tr->nfrom; j++)
			if (strcmp(tr->from[j], "*") && !kn_type_state(t, tr->from[j]))
				return bad(c, "transitions", "transition '%s' comes from unknown state '%s'", tr->name, tr->from[j]);
		for (size_t j = 0; j < tr->nrequires; j++)
			if (!kn_type_field(t, tr->requires[j]))
				return bad(c, "transitions", "transition '%s' requires unknown field '%s'", tr->name, tr->requires[j]);
		if (guards_build(c, t, json_object_get(v, "guards"), tr) ||
		    cstrlist(c, json_object_get(v, "must_change"), "must_change", &tr->must_change,
			     &tr->nmust_change) ||
		    cstrlist(c, json_object_get(v, "not_by"), "not_by", &tr->not_by, &tr->nnot_by))
			return c->err->code;
		for (size_t j = 0; j < tr->nnot_by; j++) {
			const kn_field *nf = kn_type_field(t, tr->not_by[j]);
			bool sys = !strcmp(tr->not_by[j], "created_by") || !strcmp(tr->not_by[j], "updated_by");
			if (!sys && (!nf || nf->kind != KN_REF || strcmp(nf->ref, "user")))
				return bad(c, "transitions", "transition '%s': not_by names '%s', which is not a user field", tr->name, tr->not_by[j]);
		}
		for (size_t j = 0; j < tr->nmust_change; j++)
			if (!kn_type_field(t, tr->must_change[j]))
				return bad(c, "transitions", "transition '%s': must_change names unknown field '%s'", tr->name, tr->must_change[j]);
		tr->set_time = dupstr(v, "set_time");
		if (tr->set_time) {
			const kn_field *sf = kn_type_field(t, tr->set_time);
			if (!sf || sf->kind != KN_DATETIME)
				return bad(c, "transitions", "transition '%s': set_time '%s' is not a datetime field", tr->name, tr->set_time);
		}
	}

	for (i = 0; i < t->nfields; i++)
		if (field_links_check(c, t, &t->fields[i]))
			return c->err->code;
	if (restricts_build(c, t, json_object_get(o, "restrict")) ||
	    rules_build(c, t, json_object_get(o, "rules")) || clocks_build(c, t, o))
		return c->err->code;
	t->owner_field = json_string_value(json_object_get(o, "owner_field"));
	if (t->owner_field) {
		const kn_field *of = kn_type_field(t, t->owner_field);
		if (!of || of->kind != KN_REF || strcmp(of->ref, "user"))
			return bad(c, "owner_field", "owner_field '%s' must be a user field",
				   t->owner_field);
	}

	json_t *acc = json_object_get(o, "access");
	if (roles(c, json_object_get(acc, "read"), "access.read", &t->can_read) ||
	    roles(c, json_object_get(acc, "create"), "access.create", &t->can_create) ||
	    roles(c, json_object_get(acc, "update"), "access.update", &t->can_update) ||
	    roles(c, json_object_get(acc, "comment"), "access.comment", &t->can_comment) ||
	    roles(c, json_object_get(acc, "work_note"), "access.work_note", &t->can_work_note))
		return c->err->code;
	/* admins administer: they may always do what any role may */
	t->can_read |= KN_ROLE_ADMIN;
	t->can_create |= KN_ROLE_ADMIN;
	t->can_update |= KN_ROLE_ADMIN;
	t->can_comment |= KN_ROLE_ADMIN;
	t->can_work_note |= KN_ROLE_ADMIN;
	/* auditors never write, whatever a declaration says */
	t->can_create &= ~KN_ROLE_AUDITOR;
	t->can_update &= ~KN_ROLE_AUDITOR;
	t->can_comment &= ~KN_ROLE_AUDITOR;
	t->can_work_note &= ~KN_ROLE_AUDITOR;
	for (i = 0; i < t->ntransitions; i++)
		t->transitions[i].roles = (t->transitions[i].roles | KN_ROLE_ADMIN) & ~KN_ROLE_AUDITOR;

	json_t *ia = json_object_get(o, "indexes");
	t->indexes = kn_xcalloc(json_array_size(ia) + 1, sizeof(char **));
	json_array_foreach(ia, i, v)
	{
		size_t n;
		char **cols;
		if (strlist(c, v, "indexes", &cols, &n))
			return c->err->code;
		t->indexes[t->nindexes++] = cols;
		if (n == 0)
			return bad(c, "indexes", "an index needs at least one field");
		for (size_t j = 0; j < n; j++)
			if (!attr_ok(t, cols[j]))
				return bad(c, "indexes", "index on unknown field '%s'", cols[j]);
	}
	json_t *ca = json_object_get(o, "counts");
	if (ca && !json_is_array(ca))
		return bad(c, "counts", "counts must be a list of field lists");
	t->counts = kn_xcalloc(json_array_size(ca) + 1, sizeof(char **));
	json_array_foreach(ca, i, v)
	{
		size_t n;
		char **cols;
		if (strlist(c, v, "counts", &cols, &n))
			return c->err->code;
		t->counts[t->ncounts++] = cols;
		if (n == 0 || n > 4)
			return bad(c, "counts", "a kept count names 1 to 4 fields");
		for (size_t j = 0; j < n; j++)
			if (!attr_ok(t, cols[j]) || !strcmp(cols[j], "id") ||
			    !strcmp(cols[j], "number"))
				return bad(c, "counts", "count on unknown or unique field '%s'", cols[j]);
	}
	if (strlist(c, json_object_get(o, "list_fields"), "list_fields", &t->list_fields,
		    &t->nlist_fields))
		return c->err->code;
	for (i = 0; i < t->nlist_fields; i++)
		if (!attr_ok(t, t->list_fields[i]))
			return bad(c, "list_fields", "list field '%s' is unknown", t->list_fields[i]);
	return 0;
}

/* The fields a reference fills must exist, of the same kind, on both. */
static int fill_links(loadctx *c, const kn_schema *s, const kn_type *t)
{
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		const kn_type *rt = f->nfill ? kn_schema_type(s, f->ref) : NULL;
		for (size_t j = 0; j < f->nfill; j++) {
			const kn_field *a = kn_type_field(t, f->fill[j]);
			const kn_field *b = rt ? kn_type_field(rt, f->fill[j]) : NULL;
			bool kinds_ok = a && b &&
					(a->kind == b->kind ||
					 (b->kind == KN_TEXT &&
					  (a->kind == KN_ENUM || a->kind == KN_REF)));
			if (!kinds_ok || a->readonly)
				return bad(c, f->name, "field '%s' fills '%s', which must be a writable "
					   "field of the same kind on both types", f->name, f->fill[j]);
		}
	}
	return 0;
}

/* Conditions that follow references, and guards naming other types. */
static int when_links(loadctx *c, const kn_schema *s, const kn_type *t, const kn_when *w)
{
	for (size_t i = 0; i < w->n; i++) {
		if (!w->m[i].sub)
			continue;
		const kn_type *rt = kn_schema_type(s, kn_type_field(t, w->m[i].attr)->ref);
		if (!rt || !attr_ok(rt, w->m[i].sub))
			return bad(c, "rules", "'%s.%s' names no field", w->m[i].attr, w->m[i].sub);
	}
	return 0;
}

static int links_check(loadctx *c, const kn_schema *s, const kn_type *t)
{
	if (fill_links(c, s, t))
		return c->err->code;
	for (size_t i = 0; i < t->nrules; i++)
		if (when_links(c, s, t, &t->rules[i].when))
			return c->err->code;
	for (size_t i = 0; i < t->nclocks; i++)
		if (when_links(c, s, t, &t->clocks[i].pause) ||
		    when_links(c, s, t, &t->clocks[i].stop) ||
		    when_links(c, s, t, &t->clocks[i].cancel))
			return c->err->code;
	for (size_t i = 0; i < t->ntransitions; i++)
		for (size_t j = 0; j < t->transitions[i].nguards; j++) {
			const kn_guard *g = &t->transitions[i].guards[j];
			if (when_links(c, s, t, &g->when))
				return c->err->code;
			if (!g->exists_type)
				continue;
			const kn_type *et = kn_schema_type(s, g->exists_type);
			const kn_field *ef = et ? kn_type_field(et, g->exists_field) : NULL;
			if (!ef || ef->kind != KN_REF || strcmp(ef->ref, t->name))
				return bad(c, "guards", "guard of '%s': %s.%s must be a reference to %s",
					   t->transitions[i].name, g->exists_type, g->exists_field,
					   t->name);
		}
	return 0;
}

/* ---- merging ----------------------------------------------------------- */

static json_t *find_by_name(json_t *arr, const char *name)
{
	size_t i;
	json_t *v;
	json_array_foreach(arr, i, v)
	{
		const char *n = json_string_value(json_object_get(v, "name"));
		if (n && strcmp(n, name) == 0)
			return v;
	}
	return NULL;
}

/* Apply one overlay to the declarations (an object type -> declaration). */
static int overlay_apply(json_t *decls, json_t *sources, json_t *ov, const char *file,
			 kn_error *err)
{
	const char *tname = json_string_value(json_object_get(ov, "type"));
	if (!tname)
		return kn_fail(err, KN_EVALID, "type", "schema overlay %s: \"type\" missing", file);
	json_t *src = json_object_get(sources, tname);
	if (!src)
		json_object_set_new(sources, tname, src = json_array());
	json_array_append_new(src, json_string(file));
	json_t *base = json_object_get(decls, tname);
	if (!base) {
		json_object_set(decls, tname, ov);
		return 0;
	}
	const char *key;
	json_t *val;
	json_object_foreach(ov, key, val)
	{
		if (strcmp(key, "type") == 0)
			continue;
		if (strcmp(key, "fields") == 0) {
			json_t *fields = json_object_get(base, "fields");
			size_t i;
			json_t *f;
			if (!json_is_array(val))
				return kn_fail(err, KN_EVALID, "fields",
					       "schema overlay %s: fields must be a list", file);
			json_array_foreach(val, i, f)
			{
				const char *fn = json_string_value(json_object_get(f, "name"));
				if (!json_is_object(f) || !fn)
					return kn_fail(err, KN_EVALID, "fields",
						       "schema overlay %s: a field has no name", file);
				json_t *ex = find_by_name(fields, fn);
				if (ex) {
					json_object_update_recursive(ex, f);
				} else {
					json_t *nf = json_deep_copy(f);
					json_object_set_new(nf, "custom", json_true());
					json_array_append_new(fields, nf);
				}
			}
		} else if ((strcmp(key, "indexes") == 0 || strcmp(key, "counts") == 0) &&
			   json_is_array(val)) {
			json_t *ix = json_object_get(base, key);
			if (!ix)
				json_object_set_new(base, key, ix = json_array());
			json_array_extend(ix, val);
		} else if (strcmp(key, "rules") == 0 && json_is_array(val)) {
			/* a rule of the same name is replaced, a new one added */
			json_t *rules = json_object_get(base, "rules");
			if (!rules)
				json_object_set_new(base, "rules", rules = json_array());
			size_t i;
			json_t *r;
			json_array_foreach(val, i, r)
			{
				const char *rn = json_string_value(json_object_get(r, "name"));
				json_t *ex = rn ? find_by_name(rules, rn) : NULL;
				size_t j;
				json_t *y;
				json_array_foreach(rules, j, y) if (y == ex) break;
				if (ex)
					json_array_set(rules, j, r);
				else
					json_array_append(rules, r);
			}
		} else if (strcmp(key, "label") == 0 || strcmp(key, "list_fields") == 0 ||
			   strcmp(key, "access") == 0 || strcmp(key, "restrict") == 0 ||
			   strcmp(key, "owner_field") == 0) {
			json_object_set(base, key, val);
		} else {
			return kn_fail(err, KN_EVALID, key,
				       "schema overlay %s: \"%s\" cannot be changed on the built-in "
				       "type %s (fields, indexes, counts, label, list_fields, access can)",
				       file, key, tname);
		}
	}
	return 0;
}

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_overlays(json_t *decls, json_t *sources, const char *dir, kn_error *err)
{
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		return 0;
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);
		if (l > 5 && strcmp(de->d_name + l - 5, ".json") == 0 && de->d_name[0] != '.') {
			names = kn_xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = kn_xstrdup(de->d_name);
		}
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, cmpstr);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		char *path = kn_xasprintf("%s/%s", dir, names[i]);
		json_error_t je;
		json_t *ov = rc ? NULL : json_load_file(path, JSON_REJECT_DUPLICATES, &je);
		if (!rc && !ov)
			rc = kn_fail(err, KN_EVALID, "", "schema overlay %s: line %d: %s", path,
				     je.line, je.text);
		else if (!rc && !json_is_object(ov))
			rc = kn_fail(err, KN_EVALID, "", "schema overlay %s: not an object", path);
		else if (!rc)
			rc = overlay_apply(decls, sources, ov, path, err);
		json_decref(ov);
		free(path);
		free(names[i]);
	}
	free(names);
	return rc;
}

/* "type incident (overlays: a.json, b.json)", so that errors point at a file. */
static void type_where(char *out, size_t n, const char *type, json_t *sources)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_addf(&b, "type %s", type);
	json_t *src = json_object_get(sources, type);
	size_t i;
	json_t *v;
	json_array_foreach(src, i, v)
		kn_buf_addf(&b, "%s%s", i ? ", " : " (overlays: ", json_string_value(v));
	if (json_array_size(src))
		kn_buf_adds(&b, ")");
	snprintf(out, n, "%s", b.data);
	kn_buf_release(&b);
}

int kn_schema_load(kn_schema **out, const char *overlay_dir, kn_error *err)
{
	json_t *decls = json_object(); /* type name -> declaration, in load order */
	json_t *order = json_array();
	json_t *sources = json_object(); /* type name -> overlay files that touched it */
	int rc = 0;
	for (const kn_embedded_file *ef = kn_embedded_files; ef->path; ef++) {
		if (strncmp(ef->path, "schema/", 7) != 0)
			continue;
		json_error_t je;
		json_t *d = json_loadb(ef->data, ef->len, JSON_REJECT_DUPLICATES, &je);
		const char *tn = json_string_value(json_object_get(d, "type"));
		if (!d || !tn) {
			rc = kn_fail(err, KN_EINTERNAL, "", "embedded %s: %s", ef->path,
				     d ? "no type" : je.text);
			json_decref(d);
			goto out;
		}
		json_object_set_new(decls, tn, d);
		json_array_append_new(order, json_string(tn));
	}
	rc = load_overlays(decls, sources, overlay_dir, err);
	if (rc)
		goto out;
	/* new types from overlays come after the built-in ones */
	const char *key;
	json_t *val;
	json_object_foreach(decls, key, val)
	{
		size_t i;
		json_t *v;
		bool seen = false;
		json_array_foreach(order, i, v) seen |= strcmp(json_string_value(v), key) == 0;
		if (!seen)
			json_array_append_new(order, json_string(key));
	}

	kn_schema *s = kn_xcalloc(1, sizeof *s);
	s->types = kn_xcalloc(json_array_size(order), sizeof(kn_type));
	size_t i;
	json_t *v;
	json_array_foreach(order, i, v)
	{
		char where[256];
		type_where(where, sizeof where, json_string_value(v), sources);
		loadctx c = {err, where};
		kn_type *t = &s->types[s->ntypes++];
		rc = type_build(&c, json_object_get(decls, json_string_value(v)), t);
		if (rc)
			break;
		for (size_t j = 0; j + 1 < s->ntypes; j++)
			if (strcmp(s->types[j].plural, t->plural) == 0 ||
			    strcmp(s->types[j].name, t->plural) == 0)
				rc = bad(&c, "plural", "plural '%s' is used twice", t->plural);
	}
	/* references must point at declared types (or users) */
	for (size_t ti = 0; !rc && ti < s->ntypes; ti++) {
		kn_type *t = &s->types[ti];
		char where[256];
		type_where(where, sizeof where, t->name, sources);
		loadctx lc = {err, where};
		for (size_t fi = 0; !rc && fi < t->nfields; fi++) {
			kn_field *f = &t->fields[fi];
			if (f->kind == KN_REF && strcmp(f->ref, "user") &&
			    !kn_schema_type(s, f->ref))
				rc = bad(&lc, f->name, "field '%s' refers to unknown type '%s'", f->name,
					 f->ref);
		}
		if (!rc)
			rc = links_check(&lc, s, t);
	}
	if (rc) {
		kn_schema_free(s);
		goto out;
	}
	char *canon = kn_json_canon(decls);
	char dg[65];
	kn_sha256_hex(canon, strlen(canon), dg);
	free(canon);
	s->digest = kn_xstrdup(dg);
	*out = s;
out:
	json_decref(decls);
	json_decref(order);
	json_decref(sources);
	return rc;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void kn_schema_free(kn_schema *s)
{
	if (!s)
		return;
	for (size_t ti = 0; ti < s->ntypes; ti++) {
		kn_type *t = &s->types[ti];
		for (size_t i = 0; i < t->nfields; i++) {
			kn_field *f = &t->fields[i];
			free(f->name), free(f->label_ja), free(f->label_en);
			free(f->help_ja), free(f->help_en), free(f->ref), free(f->verb);
			for (size_t j = 0; j < f->nvalues; j++)
				free(f->values[j].value), free(f->values[j].label_ja),
					free(f->values[j].label_en);
			free(f->values);
			strv_free(f->args, f->nargs);
			free(f->counter_transitions);
			free(f->fill);
			json_decref(f->def);
			json_decref(f->config);
		}
		free(t->fields);
		for (size_t i = 0; i < t->nstates; i++)
			free(t->states[i].name), free(t->states[i].label_ja),
				free(t->states[i].label_en), free(t->states[i].unlocked);
		free(t->states);
		for (size_t i = 0; i < t->ntransitions; i++) {
			kn_transition *tr = &t->transitions[i];
			free(tr->name), free(tr->label_ja), free(tr->label_en), free(tr->to);
			free(tr->set_time);
			strv_free(tr->from, tr->nfrom);
			strv_free(tr->requires, tr->nrequires);
			free(tr->must_change);
			free(tr->not_by);
			for (size_t j = 0; j < tr->nguards; j++)
				free(tr->guards[j].when.m), free(tr->guards[j].requires);
			free(tr->guards);
		}
		free(t->restricts);
		for (size_t i = 0; i < t->nrules; i++) {
			kn_rule *r = &t->rules[i];
			free(r->transitions), free(r->changed), free(r->when.m);
			free(r->notify_fields), free(r->children_copy);
		}
		free(t->rules);
		for (size_t i = 0; i < t->nclocks; i++)
			free(t->clocks[i].pause.m), free(t->clocks[i].stop.m),
			    free(t->clocks[i].cancel.m);
		free(t->clocks);
		free(t->transitions);
		for (size_t i = 0; i < t->nindexes; i++) {
			size_t n = 0;
			while (t->indexes[i][n])
				n++;
			strv_free(t->indexes[i], n);
		}
		free(t->indexes);
		for (size_t i = 0; i < t->ncounts; i++) {
			size_t n = 0;
			while (t->counts[i][n])
				n++;
			strv_free(t->counts[i], n);
		}
		free(t->counts);
		strv_free(t->list_fields, t->nlist_fields);
		free(t->name), free(t->plural), free(t->label_ja), free(t->label_en);
		free(t->number_prefix), free(t->org_field);
		json_decref(t->decl);
	}
	free(s->types);
	free(s->digest);
	free(s);
}

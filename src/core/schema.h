/* SPDX-License-Identifier: Apache-2.0 */
/*
 * schema.h - record type declarations.
 *
 * A record type is declared as data: a JSON file in schema/ (embedded in the
 * binary) plus optional site overlays, .json files in DATA/schema/, that add fields
 * to a type, adjust existing ones or declare new types. kn_schema_load reads
 * and validates all of them; the result is immutable for the life of the
 * process and is shared by every thread.
 *
 * Every record has the system attributes id, number, version, state,
 * created_at, updated_at, created_by and updated_by besides its fields.
 */
#ifndef KN_SCHEMA_H
#define KN_SCHEMA_H

#include "kanri.h"

typedef enum kn_kind {
	KN_TEXT,     /* single line, max code points (default 255) */
	KN_LONGTEXT, /* multi-line, max code points (default 65536) */
	KN_INTEGER,  /* 64-bit, optional min/max */
	KN_BOOLEAN,
	KN_ENUM,     /* one of values[] (strings) */
	KN_DATETIME, /* ISO 8601 with zone in, stored and shown as UTC */
	KN_DATE,     /* YYYY-MM-DD */
	KN_REF,      /* key of a record of type ref (its key field or number), or a user name */
	KN_JSON,     /* an object or array (max bytes, default 65536): forms, templates;
		      * kept as its canonical text, given and returned as JSON */
} kn_kind;

/* Roles, as a bit set. A user has exactly one base role (admin, agent,
 * enduser, auditor) and any of the process roles besides, which grant what a
 * declaration gives them by name (see docs/admin.md). */
enum {
	KN_ROLE_ADMIN = 1,
	KN_ROLE_AGENT = 2,
	KN_ROLE_ENDUSER = 4,
	KN_ROLE_AUDITOR = 8,
	KN_ROLE_BASE = 15,
	KN_ROLE_SECURITY = 1 << 8,
	KN_ROLE_INCIDENT_MANAGER = 1 << 9,
	KN_ROLE_PROBLEM_MANAGER = 1 << 10,
	KN_ROLE_KNOWLEDGE_MANAGER = 1 << 11,
	KN_ROLE_SERVICE_OWNER = 1 << 12,
	KN_ROLE_CHANGE_MANAGER = 1 << 13,
	KN_ROLE_TOP_MANAGEMENT = 1 << 14,
};
/* Parse a role name ("admin") or a comma list of them ("agent,security")
 * to its bits, 0 when any name is unknown. */
int kn_role_parse(const char *names);
/* Whether mask holds exactly one base role (what a user must have). */
bool kn_role_user_ok(int mask);
/* The name of one role bit, "" when unknown. */
const char *kn_role_name(int role);
/* The comma list of the roles in mask, base role first. */
void kn_role_names(int mask, char *out, size_t n);
/* The names of the roles in mask as a JSON array (new reference). */
json_t *kn_role_list(int mask);

typedef struct kn_enumval {
	char *value;
	char *label_ja, *label_en;
	const char *parent; /* the parent field's value it belongs under, or NULL */
} kn_enumval;

/*
 * A condition of a declaration ("when" of rules and guards, "where" of
 * restrictions): attribute attr holds one of values. attr is a field or a
 * system attribute; "service.criticality" follows a reference field to the
 * record it names (sub is then "criticality"). A null in values matches a
 * missing or empty value. Strings are borrowed from the type's declaration.
 */
typedef struct kn_match {
	char attr[64];
	const char *sub;
	const json_t *values;
} kn_match;

typedef struct kn_when {
	kn_match *m; /* all must hold */
	size_t n;
} kn_when;

/* Records matching `where` are seen only by users holding one of roles. */
typedef struct kn_restrict {
	kn_match where;
	int roles;
} kn_restrict;

/* A condition on a transition: when `when` holds, the fields in requires must
 * be set, and (exists_type) a record of that type in one of exists_states
 * must refer to this one through its field exists_field. */
typedef struct kn_guard {
	kn_when when;
	const char **requires;
	size_t nrequires;
	const char *exists_type, *exists_field;
	const json_t *exists_states; /* array, or NULL: any state */
	const char *msg_ja, *msg_en;
} kn_guard;

/* What starts a rule. */
enum { KN_ON_CREATE = 1, KN_ON_UPDATE = 2, KN_ON_TRANSITION = 4, KN_ON_TIMER = 8 };

/*
 * An automation rule (docs/admin.md "Rules"): on an event, when the record
 * matches, set fields, notify people, fire a transition, or pass a
 * transition on to the records that name this one as their parent.
 */
typedef struct kn_rule {
	const char *name;
	const char *label_ja, *label_en;
	int on;                   /* KN_ON_* bits */
	const char **transitions; /* on transition: only these names (none: any) */
	size_t ntransitions;
	const char **changed;     /* only when one of these fields changed */
	size_t nchanged;
	kn_when when;
	const json_t *set;        /* {field: value | "$now" | "$inc"} or NULL */
	/* timer: when the record matches and after_ms (or after_days business
	 * days) have passed since the datetime attribute after_field */
	const char *after_field;
	int64_t after_ms;
	int after_days;           /* business days (Monday to Friday, holidays excepted) */
	const char *fire;         /* a transition to fire, or NULL */
	/* notify: users holding notify_roles, users named by the user ref
	 * fields in notify_fields, the managers of groups named by group ref fields */
	int notify_roles;
	const char **notify_fields;
	size_t nnotify_fields;
	const char *subject_ja, *subject_en;
	/* children: records of this type whose field children_via names this
	 * one get transition children_fire, with the fields children_copy */
	const char *children_via, *children_fire;
	const char **children_copy;
	size_t nchildren_copy;
	const char *call; /* a process module's action (kn_action_register) */
} kn_rule;

typedef struct kn_field {
	char *name;
	char *label_ja, *label_en;
	char *help_ja, *help_en;
	kn_kind kind;
	bool required;  /* must be given (non-null) on create */
	bool readonly;  /* never written by clients (computed fields are readonly) */
	bool immutable; /* may be set on create, never changed afterwards */
	bool key;       /* unique; what refs to this type store */
	bool custom;    /* added by a site overlay */
	bool derived;   /* kept by the engine from other values (a clock's due time):
			 * left out of the journal's record digest, so that it may be
			 * recomputed in bulk without a journal entry per record */
	int hidden;     /* role bits that never see this field */
	int search;     /* text: weight in full-text search (1-9), 0 when not searched */
	int64_t max;    /* text: code points; integer: max value */
	int64_t min;    /* integer: min value */
	bool has_min, has_max;
	kn_enumval *values; /* enum */
	size_t nvalues;
	char *ref;          /* KN_REF: target type name, or "user" */
	json_t *def;        /* default value on create (owned), or NULL */
	/* computed: the verb registered by a process module, its argument field
	 * names and its configuration (owned JSON, may be NULL). */
	char *verb;
	char **args;
	size_t nargs;
	json_t *config;
	int col;            /* index in kn_type.fields */
	const char *parent_field; /* enum: values belong under this enum field's values */
	/* counter: an integer the engine counts up on each of these transitions,
	 * or on each change of field counter_changes from one value to another */
	const char **counter_transitions;
	size_t ncounter_transitions;
	const char *counter_changes;
	/* ref: on create, the fields named here that the body leaves out are
	 * copied from the referenced record's fields of the same names (a
	 * template such as an incident model) */
	const char **fill;
	size_t nfill;
} kn_field;

typedef struct kn_state {
	char *name;
	char *label_ja, *label_en;
	bool initial;
	bool final; /* closed/cancelled: not "open" */
	bool locked; /* fields change only through transitions (a published article)... */
	const char **unlocked; /* ...except these */
	size_t nunlocked;
} kn_state;

typedef struct kn_transition {
	char *name;
	char *label_ja, *label_en;
	char **from; /* state names; "*" means any non-final state */
	size_t nfrom;
	char *to;
	int roles;      /* role bits allowed to fire it */
	char **requires; /* fields that must be non-null on entry */
	size_t nrequires;
	char *set_time; /* datetime field set to the transition's time, or NULL */
	bool stay;      /* an action that keeps the state (to == NULL): fired by name */
	bool requires_reason;
	const char **not_by; /* user fields naming who may not fire it (four eyes) */
	size_t nnot_by;
	const char **must_change; /* fields the move must change (a new group...) */
	size_t nmust_change;
	kn_guard *guards;
	size_t nguards;
} kn_transition;

/*
 * A clock (docs/admin.md "Clocks"): business time the engine measures on a
 * record against a target that the agreement planner gives it (an SLA's
 * response or resolution time). It runs from creation; it pauses while
 * `pause` holds, stops while `stop` holds (and resumes when the record
 * leaves those states, unless `once`) and is cancelled while `cancel`
 * holds. Its fields are generated: NAME_target, _due, _state, _breached,
 * _breached_at, _elapsed, _since, _stopped_at, _warned and _next.
 */
enum { KN_CLOCK_TARGET, KN_CLOCK_DUE, KN_CLOCK_STATE, KN_CLOCK_BREACHED, KN_CLOCK_BREACHED_AT,
       KN_CLOCK_ELAPSED, KN_CLOCK_SINCE, KN_CLOCK_STOPPED_AT, KN_CLOCK_WARNED, KN_CLOCK_NEXT,
       KN_CLOCK_NFIELDS };
#define KN_MAX_CLOCKS 4

typedef struct kn_clock {
	const char *name;
	const char *label_ja, *label_en;
	kn_when pause, stop, cancel;
	bool once;               /* once stopped, it never resumes (first response) */
	const char *field[KN_CLOCK_NFIELDS]; /* the generated fields' names */
} kn_clock;

typedef struct kn_type {
	char *name;   /* "incident" */
	char *plural; /* "incidents": the API path segment */
	char *label_ja, *label_en;
	char *number_prefix; /* "INC-" */
	int number_width;    /* 6 */
	char *org_field;     /* the field that scopes end users, or NULL */
	kn_field *fields;
	size_t nfields;
	kn_state *states;
	size_t nstates;
	kn_transition *transitions;
	size_t ntransitions;
	/* role bits per operation */
	int can_read, can_create, can_update, can_comment, can_work_note;
	char ***indexes; /* each a NULL-terminated list of field/system names */
	size_t nindexes;
	/* Kept counts: each a NULL-terminated list of attributes whose record
	 * counts per combination of values the store maintains on every write,
	 * so that a list total filtered on them (=, in, null) costs a few rows
	 * instead of a scan of every match. */
	char ***counts;
	size_t ncounts;
	char **list_fields;
	size_t nlist_fields;
	const kn_field *key_field; /* or NULL: refs use the number */
	const char *owner_field;   /* user ref: only admins, auditors and the user named see a record */
	kn_restrict *restricts;
	size_t nrestricts;
	kn_rule *rules;
	size_t nrules;
	kn_clock *clocks;
	size_t nclocks;
	const char *agreement_field; /* clocks: the ref field naming the agreement applied */
	json_t *decl;              /* the merged declaration as read (owned) */
} kn_type;

typedef struct kn_schema {
	kn_type *types;
	size_t ntypes;
	char *digest; /* SHA-256 of the canonical merged declarations */
} kn_schema;

/* Load the embedded declarations and the overlays in overlay_dir (may be
 * NULL or missing). Validates everything; on failure returns a negative code
 * and err says which file and what. */
int kn_schema_load(kn_schema **out, const char *overlay_dir, kn_error *err);
void kn_schema_free(kn_schema *s);

const kn_type *kn_schema_type(const kn_schema *s, const char *name);
/* Find a type by its plural API name ("incidents"). */
const kn_type *kn_schema_type_plural(const kn_schema *s, const char *plural);
const kn_field *kn_type_field(const kn_type *t, const char *name);
const kn_state *kn_type_state(const kn_type *t, const char *name);
const kn_state *kn_type_initial(const kn_type *t);
/* The transition from state `from` to state `to`, or NULL. */
const kn_transition *kn_type_transition(const kn_type *t, const char *from, const char *to);
/* The transition called name, when it may fire from state `from`, or NULL. */
const kn_transition *kn_type_transition_named(const kn_type *t, const char *from,
					      const char *name);
/* Whether s is a declaration name: 1-48 of a-z, 0-9 and _, starting with a letter. */
bool kn_ident_ok(const char *s);
/* true when name is a system attribute (id, number, version, state, ...). */
bool kn_is_system_attr(const char *name);

/* Metadata JSON for the API (new reference). */
json_t *kn_type_meta(const kn_type *t);
/* OpenAPI 3 description of the whole API (new reference). */
json_t *kn_openapi(const kn_schema *s);

/* ---- computed-field verbs ---------------------------------------------
 * A process module registers a verb by name. The engine calls it with the
 * field, the record as it will be stored (all fields set) and the field's
 * configuration; it returns a new reference to the value (or json_null()),
 * or NULL and fills err.
 */
typedef json_t *(*kn_verb_fn)(const kn_field *f, const json_t *rec, kn_error *err);
/* Checks a field's configuration when the schema loads; 0 or fills err. */
typedef int (*kn_verb_check_fn)(const kn_field *f, kn_error *err);
void kn_verb_register(const char *name, kn_verb_fn fn, kn_verb_check_fn check);
kn_verb_fn kn_verb_find(const char *name);
kn_verb_check_fn kn_verb_check(const char *name);
/* ---- actions ---------------------------------------------------------------
 * What a process module does when a rule says "call": NAME. It runs inside
 * the write transaction, after the record was stored, with the record as
 * stored (it may change it further through kn_rec_fire_tx/kn_rec_save_tx,
 * which update it in place). An error undoes the whole write, so an action
 * may also refuse a change (KN_EVALID naming the field).
 */
struct kn_engine;
struct kn_user;
typedef int (*kn_action_fn)(struct kn_engine *e, const struct kn_user *u, const kn_type *t,
			    json_t *rec, int depth, kn_error *err);
void kn_action_register(const char *name, kn_action_fn fn);
kn_action_fn kn_action_find(const char *name);

/* Registers every built-in verb (called once at start-up). */
void kn_proc_register_all(void);

#endif

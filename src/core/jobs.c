/* SPDX-License-Identifier: Apache-2.0 */
/*
 * jobs.c - background jobs, done once per due time across all nodes (see
 * jobs.h for the protocol).
 */
#include "kanri.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/jobs.h"
#include "core/clock.h"
#include "core/rules.h"

#define TICK_MS 1000
#define LEASE_MS 60000
#define RETRY_MAX_MS 60000
#define PURGE_EVERY_MS (3600 * 1000)
#define TIMERS_EVERY_MS (60 * 1000)

typedef struct jobdef jobdef;
/* The work of one due run, inside the write transaction that finishes it. */
typedef int (*job_fn)(kn_engine *e, const jobdef *j, int64_t due, kn_error *err);

struct jobdef {
	char name[64];
	int64_t every_ms;
	int64_t start_ms; /* due times are start + k * every */
	bool catch_up;    /* run every missed due time, not only the last one */
	job_fn run;
	const kn_type *type; /* schedules: what they create */
	const json_t *fields;
};

struct kn_jobs {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t wake;
	bool stop;
	jobdef *defs;
	size_t n;
	int64_t tick_ms, lease_ms;
	char node[64];
	uint64_t claims;
};

int64_t kn_duration_ms(const char *s)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long n = strtoll(s, &end, 10);
	if (errno || end == s || n <= 0 || n > 100000)
		return -1;
	int64_t unit = strcmp(end, "s") == 0   ? 1000
		       : strcmp(end, "m") == 0 ? 60 * 1000
		       : strcmp(end, "h") == 0 ? 3600 * 1000
		       : strcmp(end, "d") == 0 ? 86400LL * 1000
		       : strcmp(end, "w") == 0 ? 7 * 86400LL * 1000
					       : -1;
	return unit < 0 ? -1 : n * unit;
}

/* The first due time at or after t. */
static int64_t slot_from(const jobdef *j, int64_t t)
{
	if (t <= j->start_ms)
		return j->start_ms;
	int64_t k = (t - j->start_ms + j->every_ms - 1) / j->every_ms;
	return j->start_ms + k * j->every_ms;
}

/* ---- the jobs ------------------------------------------------------------ */

/* The declarations' timer rules: escalations, automatic closure... */
static int run_timers(kn_engine *e, const jobdef *j, int64_t due, kn_error *err)
{
	int fired, n;
	int rc = kn_rules_timers(e, kn_now_ms(), &fired, err);
	return rc ? rc : kn_clocks_tick(e, kn_now_ms(), &n, err);
}

static int purge_sessions(kn_engine *e, const jobdef *j, int64_t due, kn_error *err)
{
	int64_t n = 0;
	return e->store->ops->session_purge(e->store, kn_now_ms(), &n, err);
}

/* Replace every "{slot}" in s by the due time (UTC, ISO 8601). */
static json_t *expand(const char *s, const char *slot)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	for (const char *p = s; *p;) {
		const char *q = strstr(p, "{slot}");
		if (!q) {
			kn_buf_adds(&b, p);
			break;
		}
		kn_buf_add(&b, p, (size_t)(q - p));
		kn_buf_adds(&b, slot);
		p = q + 6;
	}
	json_t *v = json_stringn(b.data ? b.data : "", b.len);
	kn_buf_release(&b);
	return v;
}

/* A scheduled record: the schedule's fields, "{slot}" in texts replaced,
 * created by the system with the schedule named as the reason. */
static int create_scheduled(kn_engine *e, const jobdef *j, int64_t due, kn_error *err)
{
	char slot[40];
	kn_format_datetime(due, slot, sizeof slot);
	json_t *body = json_object();
	const char *k;
	json_t *v;
	json_object_foreach((json_t *)j->fields, k, v)
		json_object_set_new(body, k,
				    json_is_string(v) ? expand(json_string_value(v), slot)
						      : json_deep_copy(v));
	json_object_set_new(body, "reason",
			    json_sprintf("%s, due %s", j->name, slot));
	json_t *out = NULL;
	int rc = kn_rec_create_tx(e, NULL, j->type, body, &out, err);
	json_decref(out);
	json_decref(body);
	return rc;
}

/* ---- configuration ----------------------------------------------------------- */

static int bad(kn_error *err, const char *what, size_t i, const char *detail)
{
	return kn_fail(err, KN_EVALID, "schedules", "config.json: schedules[%zu]%s%s: %s", i,
		       what ? " " : "", what ? what : "", detail);
}

static bool name_ok(const char *s)
{
	size_t n = 0;
	for (; s && *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
		      *s == '_'))
			return false;
	return n > 0 && n <= 48;
}

static int64_t config_ms(const kn_engine *e, const char *key, int64_t def, kn_error *err,
			 int *rc);
#define NFIXED 2 /* sessions.purge, rules.timers */

/* The job definitions from the config (caller frees *out). */
static int load_defs(kn_engine *e, jobdef **out, size_t *n, kn_error *err)
{
	const json_t *sch = json_object_get(e->config, "schedules");
	size_t ns = json_is_array(sch) ? json_array_size(sch) : 0;
	if (sch && !json_is_array(sch))
		return kn_fail(err, KN_EVALID, "schedules",
			       "config.json: schedules must be an array");
	jobdef *d = kn_xcalloc(ns + NFIXED, sizeof *d);
	snprintf(d[0].name, sizeof d[0].name, "sessions.purge");
	d[0].every_ms = PURGE_EVERY_MS;
	d[0].run = purge_sessions;
	int rc = 0;
	snprintf(d[1].name, sizeof d[1].name, "rules.timers");
	d[1].every_ms = config_ms(e, "timers_ms", TIMERS_EVERY_MS, err, &rc);
	d[1].run = run_timers;
	for (size_t i = 0; i < ns && !rc; i++) {
		const json_t *s = json_array_get(sch, i);
		jobdef *j = &d[i + NFIXED];
		const char *name = json_string_value(json_object_get(s, "name"));
		const char *type = json_string_value(json_object_get(s, "type"));
		const char *every = json_string_value(json_object_get(s, "every"));
		const char *start = json_string_value(json_object_get(s, "start"));
		const json_t *fields = json_object_get(s, "fields");
		const json_t *cu = json_object_get(s, "catch_up");
		if (!json_is_object(s))
			rc = bad(err, NULL, i, "not an object");
		else if (!name_ok(name))
			rc = bad(err, "name", i, "1-48 of a-z, 0-9, - and _");
		else if (!type || !(j->type = kn_schema_type(e->schema, type)))
			rc = bad(err, "type", i, "not a record type");
		else if ((j->every_ms = kn_duration_ms(every)) < 0)
			rc = bad(err, "every", i, "a duration such as 30s, 15m, 2h, 1d or 1w");
		else if (start && kn_parse_datetime(start, &j->start_ms) != 0)
			rc = bad(err, "start", i, "an ISO 8601 date-time with its offset");
		else if (!json_is_object(fields))
			rc = bad(err, "fields", i, "an object of field values");
		else if (cu && !json_is_boolean(cu))
			rc = bad(err, "catch_up", i, "true or false");
		for (size_t k = 0; !rc && k < i; k++)
			if (strcmp(d[k + NFIXED].name + 9, name) == 0)
				rc = bad(err, "name", i, "used twice");
		if (rc)
			break;
		snprintf(j->name, sizeof j->name, "schedule.%s", name);
		j->catch_up = json_is_true(cu);
		j->fields = fields;
		j->run = create_scheduled;
	}
	if (rc) {
		free(d);
		return rc;
	}
	*out = d;
	*n = ns + NFIXED;
	return 0;
}

static int64_t config_ms(const kn_engine *e, const char *key, int64_t def, kn_error *err,
			 int *rc)
{
	const json_t *v = json_object_get(json_object_get(e->config, "jobs"), key);
	if (!v)
		return def;
	if (!json_is_integer(v) || json_integer_value(v) < 10 ||
	    json_integer_value(v) > 86400LL * 1000)
		*rc = kn_fail(err, KN_EVALID, "jobs", "config.json: jobs.%s must be milliseconds"
			      " (10 to 86400000)", key);
	return json_is_integer(v) ? json_integer_value(v) : def;
}

int kn_jobs_check(kn_engine *e, kn_error *err)
{
	jobdef *d = NULL;
	size_t n = 0;
	int rc = 0;
	config_ms(e, "tick_ms", TICK_MS, err, &rc);
	config_ms(e, "lease_ms", LEASE_MS, err, &rc);
	if (!rc)
		rc = load_defs(e, &d, &n, err);
	free(d);
	return rc;
}

/* ---- running --------------------------------------------------------------- */

struct claim_arg {
	kn_jobs *js;
	const jobdef *j;
	char owner[96];
	int64_t now, due;
};

static int claim_tx(kn_engine *e, void *p, kn_error *err)
{
	struct claim_arg *a = p;
	return e->store->ops->job_claim(e->store, a->j->name, a->now, a->now + a->js->lease_ms,
					a->owner, &a->due, err);
}

/* The work and its finish: one transaction. */
static int run_tx(kn_engine *e, void *p, kn_error *err)
{
	struct claim_arg *a = p;
	int rc = a->j->run(e, a->j, a->due, err);
	if (rc)
		return rc;
	int64_t now = kn_now_ms(), next = a->due + a->j->every_ms;
	if (!a->j->catch_up && next <= now)
		next = slot_from(a->j, now + 1);
	char at[40];
	kn_now_iso(at, sizeof at);
	return e->store->ops->job_finish(e->store, a->j->name, a->owner, next, 0, at, NULL, err);
}

struct fail_arg {
	struct claim_arg *a;
	const char *error;
};

static int fail_tx(kn_engine *e, void *p, kn_error *err)
{
	struct fail_arg *f = p;
	int64_t retry = f->a->j->every_ms < RETRY_MAX_MS ? f->a->j->every_ms : RETRY_MAX_MS;
	char at[40];
	kn_now_iso(at, sizeof at);
	return e->store->ops->job_finish(e->store, f->a->j->name, f->a->owner, -1,
					 kn_now_ms() + retry, at, f->error, err);
}

/* Claim job j if due and do it. */
static void run_one(kn_engine *e, kn_jobs *js, const jobdef *j)
{
	struct claim_arg a = {.js = js, .j = j, .now = kn_now_ms()};
	snprintf(a.owner, sizeof a.owner, "%s/%llu", js->node, (unsigned long long)++js->claims);
	kn_error err = {0};
	int rc = kn_engine_write(e, claim_tx, &a, &err);
	if (rc)
		return; /* not due, held by another node, or the store is away */
	rc = kn_engine_write(e, run_tx, &a, &err);
	if (rc == KN_ECONFLICT && strstr(err.detail, "no longer held"))
		return; /* the lease ran out and another node took it: our work is undone */
	if (rc) {
		fprintf(stderr, "kanri: job %s (due %lld) failed: %s\n", j->name,
			(long long)a.due, err.detail);
		struct fail_arg f = {&a, err.detail};
		kn_error e2 = {0};
		kn_engine_write(e, fail_tx, &f, &e2);
	}
}

static void *jobs_main(void *p)
{
	kn_engine *e = p;
	kn_jobs *js = e->jobs;
	pthread_mutex_lock(&js->mu);
	while (!js->stop) {
		pthread_mutex_unlock(&js->mu);
		/* a read first: only due jobs cost a write transaction */
		kn_job *rows = NULL;
		size_t nrows = 0;
		kn_error err = {0};
		int64_t now = kn_now_ms();
		if (e->store->ops->job_list(e->store, &rows, &nrows, &err) == 0)
			for (size_t i = 0; i < js->n; i++)
				for (size_t k = 0; k < nrows; k++)
					if (strcmp(rows[k].name, js->defs[i].name) == 0 &&
					    rows[k].due_at <= now && rows[k].lease_until <= now)
						run_one(e, js, &js->defs[i]);
		free(rows);
		pthread_mutex_lock(&js->mu);
		if (js->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		int64_t ns = (int64_t)ts.tv_nsec + (js->tick_ms % 1000) * 1000000;
		ts.tv_sec += js->tick_ms / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&js->wake, &js->mu, &ts);
	}
	pthread_mutex_unlock(&js->mu);
	return NULL;
}

int kn_jobs_start(kn_engine *e, kn_error *err)
{
	if (e->jobs)
		return 0;
	const json_t *en = json_object_get(json_object_get(e->config, "jobs"), "enabled");
	int rc = kn_jobs_check(e, err);
	if (rc || json_is_false(en))
		return rc;
	kn_jobs *js = kn_xcalloc(1, sizeof *js);
	js->tick_ms = config_ms(e, "tick_ms", TICK_MS, err, &rc);
	js->lease_ms = config_ms(e, "lease_ms", LEASE_MS, err, &rc);
	rc = load_defs(e, &js->defs, &js->n, err);
	char host[40] = "";
	gethostname(host, sizeof host - 1);
	char *tag = kn_random_token(6);
	snprintf(js->node, sizeof js->node, "%s/%ld/%s", host, (long)getpid(), tag);
	free(tag);
	int64_t now = kn_now_ms();
	for (size_t i = 0; !rc && i < js->n; i++)
		rc = e->store->ops->job_ensure(e->store, js->defs[i].name,
					       slot_from(&js->defs[i], now), err);
	if (rc) {
		free(js->defs);
		free(js);
		return rc;
	}
	pthread_mutex_init(&js->mu, NULL);
	pthread_cond_init(&js->wake, NULL);
	e->jobs = js;
	if (pthread_create(&js->thread, NULL, jobs_main, e) != 0) {
		e->jobs = NULL;
		pthread_mutex_destroy(&js->mu);
		pthread_cond_destroy(&js->wake);
		free(js->defs);
		free(js);
		return kn_fail(err, KN_EINTERNAL, "", "cannot start the job thread");
	}
	return 0;
}

void kn_jobs_stop(kn_engine *e)
{
	kn_jobs *js = e->jobs;
	if (!js)
		return;
	pthread_mutex_lock(&js->mu);
	js->stop = true;
	pthread_cond_signal(&js->wake);
	pthread_mutex_unlock(&js->mu);
	pthread_join(js->thread, NULL);
	pthread_mutex_destroy(&js->mu);
	pthread_cond_destroy(&js->wake);
	free(js->defs);
	free(js);
	e->jobs = NULL;
}

static json_t *str_or_null(const char *s) { return *s ? json_string(s) : json_null(); }

int kn_jobs_list(kn_engine *e, json_t **out, kn_error *err)
{
	kn_job *jobs = NULL;
	size_t n = 0;
	int rc = e->store->ops->job_list(e->store, &jobs, &n, err);
	if (rc)
		return rc;
	json_t *items = json_array();
	for (size_t i = 0; i < n; i++) {
		const kn_job *j = &jobs[i];
		char due[40], lease[40];
		kn_format_datetime(j->due_at, due, sizeof due);
		kn_format_datetime(j->lease_until, lease, sizeof lease);
		json_array_append_new(
		    items, json_pack("{s:s,s:s,s:o,s:o,s:I,s:I,s:o,s:o}", "name", j->name,
				     "due_at", due, "held_until", str_or_null(j->owner[0] ? lease : ""),
				     "held_by", str_or_null(j->owner), "runs", (json_int_t)j->runs,
				     "attempts", (json_int_t)j->attempts, "last_at",
				     str_or_null(j->last_at), "last_error",
				     str_or_null(j->last_error)));
	}
	free(jobs);
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

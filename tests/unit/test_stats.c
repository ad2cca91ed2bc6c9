/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_stats.c - aggregate queries: the store's rec_stats (the SQL of
 * kn_sql_stats: grouping, order, periods in the site's zone, durations,
 * filters) on SQLite, or on PostgreSQL when KANRI_TEST_PG names a server
 * (see test.h), with the same expectations on both; then the engine's
 * kn_rec_stats and the desk report on a real data folder.
 */
#include "kanri.h"

#include "core/auth.h"
#include "core/stats.h"
#include "proc/desk.h"
#include "store/store.h"
#include "test.h"

/* ---- a store with a type of every kind ------------------------------------- */

static kn_field job_fields[] = {
    {.name = "grp", .kind = KN_REF},	    {.name = "impact", .kind = KN_INTEGER},
    {.name = "urgent", .kind = KN_BOOLEAN}, {.name = "opened", .kind = KN_DATETIME},
    {.name = "done", .kind = KN_DATETIME},  {.name = "due", .kind = KN_DATE},
    {.name = "notes", .kind = KN_LONGTEXT}, {.name = "title", .kind = KN_TEXT},
};

static char *job_count[] = {"grp", NULL};
static char **job_counts[] = {job_count};
static kn_type job_type[1];
static kn_schema job_schema = {.types = job_type, .ntypes = 1};

__attribute__((constructor)) static void job_fixture(void)
{
	job_type[0].name = "job";
	job_type[0].plural = "jobs";
	job_type[0].fields = job_fields;
	job_type[0].nfields = sizeof job_fields / sizeof job_fields[0];
	job_type[0].counts = job_counts; /* totals by grp come from a kept count */
	job_type[0].ncounts = 1;
	for (size_t i = 0; i < job_type[0].nfields; i++)
		job_fields[i].col = (int)i;
}

#define JOB (&job_type[0])

static kn_store *job_store(void)
{
	char *p = kn_test_store();
	if (!p)
		abort();
	kn_store *st = NULL;
	kn_error err = {0};
	if (kn_store_open(p, &st, &err) != 0 || st->ops->migrate(st, &job_schema, &err) != 0) {
		printf("  store: %s\n", err.detail);
		abort();
	}
	free(p);
	return st;
}

/* A row: created_at, then field values as JSON (NULL: null). */
static void job(kn_store *st, int n, const char *created, const char *grp, json_t *impact,
		json_t *urgent, const char *opened, const char *done, const char *due)
{
	char num[32];
	snprintf(num, sizeof num, "JOB-%04d", n);
	json_t *r = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "number", num, "version", 1, "state",
			      "new", "created_at", created, "updated_at", created, "created_by",
			      "alice", "updated_by", "alice");
	json_object_set_new(r, "grp", grp ? json_string(grp) : json_null());
	json_object_set_new(r, "impact", impact ? impact : json_null());
	json_object_set_new(r, "urgent", urgent ? urgent : json_null());
	json_object_set_new(r, "opened", opened ? json_string(opened) : json_null());
	json_object_set_new(r, "done", done ? json_string(done) : json_null());
	json_object_set_new(r, "due", due ? json_string(due) : json_null());
	json_object_set_new(r, "notes", json_null());
	json_object_set_new(r, "title", json_null());
	int64_t id = 0;
	kn_error err = {0};
	if (st->ops->rec_insert(st, JOB, r, &id, &err) != 0) {
		printf("  insert: %s\n", err.detail);
		abort();
	}
	json_decref(r);
}

/* The rows of a stats query as compact JSON text ("" on error, err set). */
static char *run(kn_store *st, const kn_statq *q, int64_t *total, kn_error *err)
{
	json_t *rows = NULL;
	int64_t tot = -2;
	int r = st->ops->begin(st, false, err);
	if (!r) {
		r = st->ops->rec_stats(st, JOB, q, &rows, &tot, err);
		if (r)
			st->ops->rollback(st);
		else
			st->ops->commit(st, err);
	}
	if (total)
		*total = tot;
	if (r)
		return kn_xstrdup("");
	char *s = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	return s;
}

/* Expect the rows of q to be want (compact JSON), on this backend. */
static bool rows_are(kn_store *st, const kn_statq *q, const char *want, int64_t want_total)
{
	kn_error err = {0};
	int64_t total = 0;
	char *got = run(st, q, &total, &err);
	bool ok = strcmp(got, want) == 0 && (want_total < 0 || total == want_total);
	if (!ok)
		printf("  %s: got %s (total %lld), want %s (total %lld)%s%s\n", kn_test_backend(),
		       got, (long long)total, want, (long long)want_total,
		       err.detail[0] ? ": " : "", err.detail);
	free(got);
	return ok;
}

/* Eight rows over three groups and no group. */
static kn_store *grouped_store(void)
{
	kn_store *st = job_store();
	kn_error err = {0};
	if (st->ops->begin(st, true, &err))
		abort();
	const char *c = "2026-11-01T00:00:00.000Z";
	job(st, 1, c, "net", json_integer(1), json_true(), NULL, NULL, NULL);
	job(st, 2, c, "net", json_integer(2), json_false(), NULL, NULL, NULL);
	job(st, 3, c, "net", NULL, NULL, NULL, NULL, NULL);
	job(st, 4, c, "desk", json_integer(3), json_true(), NULL, NULL, NULL);
	job(st, 5, c, "desk", json_integer(3), json_true(), NULL, NULL, NULL);
	job(st, 6, c, "apps", json_integer(2), json_false(), NULL, NULL, NULL);
	job(st, 7, c, NULL, json_integer(1), NULL, NULL, NULL, NULL);
	job(st, 8, c, NULL, json_integer(5), json_true(), NULL, NULL, NULL);
	if (st->ops->commit(st, &err))
		abort();
	return st;
}

/* ---- the store ---------------------------------------------------------------- */

TEST(stats_group_order_and_null_key)
{
	kn_store *st = grouped_store();
	kn_group g = {"grp", KN_BUCKET_NONE};
	kn_statq q = {.groups = &g, .ngroups = 1, .limit = 100, .tz_offset_min = 540};
	/* most first; equal counts by key, null after every value */
	CHECK(rows_are(st, &q, "[[\"net\",3],[\"desk\",2],[null,2],[\"apps\",1]]", 8));
	q.limit = 2;
	CHECK(rows_are(st, &q, "[[\"net\",3],[\"desk\",2]]", 8));
	q.limit = 100;
	q.min_count = 2;
	CHECK(rows_are(st, &q, "[[\"net\",3],[\"desk\",2],[null,2]]", 8));
	q.min_count = 4;
	CHECK(rows_are(st, &q, "[]", 8));
	/* two keys: a boolean comes back as one, on both stores (false before
	 * true, null last) */
	kn_group g2[] = {{"grp", KN_BUCKET_NONE}, {"urgent", KN_BUCKET_NONE}};
	kn_statq q2 = {.groups = g2, .ngroups = 2, .limit = 100};
	CHECK(rows_are(st, &q2,
		       "[[\"desk\",true,2],[\"apps\",false,1],[\"net\",false,1],[\"net\",true,1],"
		       "[\"net\",null,1],[null,true,1],[null,null,1]]",
		       8));
	/* an integer key orders as a number */
	kn_group gi = {"impact", KN_BUCKET_NONE};
	kn_statq qi = {.groups = &gi, .ngroups = 1, .limit = 100};
	CHECK(rows_are(st, &qi, "[[1,2],[2,2],[3,2],[5,1],[null,1]]", 8));
	st->ops->close(st);
}

TEST(stats_metrics_sum_count)
{
	kn_store *st = grouped_store();
	kn_group g = {"grp", KN_BUCKET_NONE};
	kn_metric m[] = {{KN_AGG_SUM, "impact", NULL},
			 {KN_AGG_COUNT, "impact", NULL},
			 {KN_AGG_COUNT, "urgent", NULL}};
	kn_statq q = {.groups = &g, .ngroups = 1, .metrics = m, .nmetrics = 3, .limit = 100};
	CHECK(rows_are(
	    st, &q, "[[\"net\",3,3,2,2],[\"desk\",2,6,2,2],[null,2,6,2,1],[\"apps\",1,2,1,1]]", 8));
	/* no groups: one row over everything */
	kn_statq all = {.metrics = m, .nmetrics = 3, .limit = 100};
	CHECK(rows_are(st, &all, "[[8,17,7,6]]", 8));
	all.min_count = 9;
	CHECK(rows_are(st, &all, "[]", 8));
	all.min_count = 8;
	CHECK(rows_are(st, &all, "[[8,17,7,6]]", 8));
	st->ops->close(st);

	/* nothing at all: a count of 0, sums of 0, no longest duration */
	st = job_store();
	kn_metric m2[] = {{KN_AGG_SUM, "impact", NULL},
			  {KN_AGG_SUM_MS, "opened", "done"},
			  {KN_AGG_COUNT_MS, "opened", "done"},
			  {KN_AGG_MAX_MS, "opened", "done"}};
	kn_statq none = {.metrics = m2, .nmetrics = 4, .limit = 100};
	CHECK(rows_are(st, &none, "[[0,0,0,0,null]]", 0));
	kn_statq grouped = {.groups = &g, .ngroups = 1, .metrics = m2, .nmetrics = 4, .limit = 10};
	CHECK(rows_are(st, &grouped, "[]", 0));
	st->ops->close(st);
}

TEST(stats_filters_are_those_of_lists)
{
	kn_store *st = grouped_store();
	kn_group g = {"grp", KN_BUCKET_NONE};
	json_t *two = json_pack("[i]", 2), *netdesk = json_pack("[s,s]", "net", "desk");
	json_t *withnull = json_pack("[s,n]", "apps"), *none = json_array();
	json_t *t = json_pack("[b]", 1);
	kn_cond gte2 = {"impact", KN_OP_GTE, two, NULL, 0};
	kn_cond in = {"grp", KN_OP_IN, netdesk, NULL, 0};
	kn_cond innull = {"grp", KN_OP_IN, withnull, NULL, 0};
	kn_cond ne2 = {"impact", KN_OP_NE, two, NULL, 0};
	kn_cond isnull = {"impact", KN_OP_NULL, none, NULL, 0};
	kn_cond urgent = {"urgent", KN_OP_EQ, t, NULL, 0};
	kn_statq q = {.groups = &g, .ngroups = 1, .limit = 100, .nconds = 1};
	q.conds = &gte2;
	CHECK(rows_are(st, &q, "[[\"desk\",2],[\"apps\",1],[\"net\",1],[null,1]]", 5));
	q.conds = &in;
	CHECK(rows_are(st, &q, "[[\"net\",3],[\"desk\",2]]", 5)); /* total from the kept count */
	q.conds = &innull;
	CHECK(rows_are(st, &q, "[[null,2],[\"apps\",1]]", 3));
	q.conds = &ne2;
	CHECK(rows_are(st, &q, "[[\"desk\",2],[\"net\",2],[null,2]]", 6));
	q.conds = &isnull;
	CHECK(rows_are(st, &q, "[[\"net\",1]]", 1));
	q.conds = &urgent;
	CHECK(rows_are(st, &q, "[[\"desk\",2],[\"net\",1],[null,1]]", 4));
	kn_cond both[] = {gte2, urgent};
	q.conds = both;
	q.nconds = 2;
	CHECK(rows_are(st, &q, "[[\"desk\",2],[null,1]]", 3));

	/* the same conditions give the list's total */
	kn_query lq = {.conds = both, .nconds = 2, .limit = 10, .want_total = true};
	json_t *items = NULL;
	int64_t total = -1;
	kn_error err = {0};
	REQUIRE(st->ops->rec_list(st, JOB, &lq, &items, &total, &err) == 0);
	CHECK(total == 3 && json_array_size(items) == 3);
	json_decref(items);
	json_decref(two);
	json_decref(netdesk);
	json_decref(withnull);
	json_decref(none);
	json_decref(t);
	st->ops->close(st);
}

TEST(stats_periods_in_the_site_zone)
{
	kn_store *st = job_store();
	kn_error err = {0};
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	/* Sunday 23:59:59.999 in Tokyo, and Monday 00:00 a millisecond later */
	job(st, 1, "2026-11-22T14:59:59.999Z", "a", NULL, NULL, "2026-11-22T14:59:59Z", NULL,
	    "2026-11-22");
	job(st, 2, "2026-11-22T15:00:00.000Z", "a", NULL, NULL, "2026-11-22T15:00:00Z", NULL,
	    "2026-11-23");
	/* New Year in Tokyo (a Friday), still 2026 in UTC */
	job(st, 3, "2026-12-31T15:00:00.000Z", "a", NULL, NULL, "2026-12-31T15:00:00Z", NULL,
	    "2027-01-01");
	/* a Sunday morning: the week began the Monday before */
	job(st, 4, "2026-03-01T00:00:00.000Z", "a", NULL, NULL, "2026-03-01T00:00:00Z", NULL,
	    "2026-03-01");
	REQUIRE(st->ops->commit(st, &err) == 0);

	static const struct {
		const char *attr;
		kn_bucket b;
		int tz;
		const char *want;
	} cases[] = {
	    {"created_at", KN_BUCKET_DAY, 540,
	     "[[\"2026-03-01\",1],[\"2026-11-22\",1],[\"2026-11-23\",1],[\"2027-01-01\",1]]"},
	    {"created_at", KN_BUCKET_WEEK, 540,
	     "[[\"2026-02-23\",1],[\"2026-11-16\",1],[\"2026-11-23\",1],[\"2026-12-28\",1]]"},
	    {"created_at", KN_BUCKET_MONTH, 540,
	     "[[\"2026-11\",2],[\"2026-03\",1],[\"2027-01\",1]]"},
	    {"created_at", KN_BUCKET_YEAR, 540, "[[\"2026\",3],[\"2027\",1]]"},
	    /* the same instants in UTC */
	    {"created_at", KN_BUCKET_DAY, 0,
	     "[[\"2026-11-22\",2],[\"2026-03-01\",1],[\"2026-12-31\",1]]"},
	    {"created_at", KN_BUCKET_WEEK, 0,
	     "[[\"2026-11-16\",2],[\"2026-02-23\",1],[\"2026-12-28\",1]]"},
	    {"created_at", KN_BUCKET_YEAR, 0, "[[\"2026\",4]]"},
	    /* west of UTC: 2026-03-01T00:00Z is still February */
	    {"created_at", KN_BUCKET_MONTH, -300,
	     "[[\"2026-11\",2],[\"2026-02\",1],[\"2026-12\",1]]"},
	    /* a datetime field (stored without milliseconds) */
	    {"opened", KN_BUCKET_DAY, 540,
	     "[[\"2026-03-01\",1],[\"2026-11-22\",1],[\"2026-11-23\",1],[\"2027-01-01\",1]]"},
	    {"opened", KN_BUCKET_WEEK, 540,
	     "[[\"2026-02-23\",1],[\"2026-11-16\",1],[\"2026-11-23\",1],[\"2026-12-28\",1]]"},
	    /* a date has no zone: the offset does not move it */
	    {"due", KN_BUCKET_WEEK, 540,
	     "[[\"2026-02-23\",1],[\"2026-11-16\",1],[\"2026-11-23\",1],[\"2026-12-28\",1]]"},
	    {"due", KN_BUCKET_MONTH, -300, "[[\"2026-11\",2],[\"2026-03\",1],[\"2027-01\",1]]"},
	    {"due", KN_BUCKET_YEAR, 540, "[[\"2026\",3],[\"2027\",1]]"},
	    {"due", KN_BUCKET_DAY, 540,
	     "[[\"2026-03-01\",1],[\"2026-11-22\",1],[\"2026-11-23\",1],[\"2027-01-01\",1]]"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		kn_group g = {cases[i].attr, cases[i].b};
		kn_statq q = {
		    .groups = &g, .ngroups = 1, .limit = 100, .tz_offset_min = cases[i].tz};
		if (!rows_are(st, &q, cases[i].want, 4))
			CHECK(!"period keys");
	}
	/* a period and a plain key together */
	kn_group g2[] = {{"grp", KN_BUCKET_NONE}, {"created_at", KN_BUCKET_MONTH}};
	kn_statq q2 = {.groups = g2, .ngroups = 2, .limit = 100, .tz_offset_min = 540};
	CHECK(rows_are(st, &q2,
		       "[[\"a\",\"2026-11\",2],[\"a\",\"2026-03\",1],[\"a\",\"2027-01\",1]]", 4));
	st->ops->close(st);
}

TEST(stats_durations_exact_milliseconds)
{
	kn_store *st = job_store();
	kn_error err = {0};
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	/* created_at has milliseconds, the fields not */
	job(st, 1, "2026-01-01T00:00:00.250Z", "a", NULL, NULL, "2026-01-01T00:00:00Z",
	    "2026-01-01T01:30:00Z", NULL); /* 5400000 from opened, 5399750 from created */
	job(st, 2, "2026-01-01T00:00:00.000Z", "a", NULL, NULL, "2026-01-01T00:00:00Z",
	    "2026-01-03T00:00:01Z", NULL); /* 172801000 */
	job(st, 3, "2026-01-01T00:00:00.000Z", "a", NULL, NULL, "2026-01-01T00:00:00Z", NULL,
	    NULL); /* not done: not counted */
	job(st, 4, "2026-01-01T00:00:00.000Z", "b", NULL, NULL, NULL, "2026-01-01T00:00:00Z",
	    NULL); /* not opened */
	/* across a year and a leap day, and a negative one */
	job(st, 5, "2027-12-31T23:59:59.999Z", "b", NULL, NULL, "2027-12-31T23:59:59Z",
	    "2028-03-01T00:00:00Z", NULL); /* 5184001000 from opened */
	job(st, 6, "2026-01-02T00:00:00.000Z", "c", NULL, NULL, "2026-01-02T00:00:00Z",
	    "2026-01-01T23:00:00Z", NULL); /* -3600000 */
	REQUIRE(st->ops->commit(st, &err) == 0);
	kn_group g = {"grp", KN_BUCKET_NONE};
	kn_metric m[] = {{KN_AGG_SUM_MS, "opened", "done"},
			 {KN_AGG_COUNT_MS, "opened", "done"},
			 {KN_AGG_MAX_MS, "opened", "done"},
			 {KN_AGG_SUM_MS, "created_at", "done"}};
	kn_statq q = {.groups = &g, .ngroups = 1, .metrics = m, .nmetrics = 4, .limit = 100};
	CHECK(rows_are(st, &q,
		       "[[\"a\",3,178201000,2,172801000,178200750],"
		       "[\"b\",2,5184001000,1,5184001000,5184000001],"
		       "[\"c\",1,-3600000,1,-3600000,-3600000]]",
		       6));
	st->ops->close(st);
}

TEST(stats_refuses_what_does_not_fit)
{
	kn_store *st = grouped_store();
	kn_error err = {0};
	json_t *rows = NULL;
	int64_t total = 0;
	kn_group bad_groups[] = {{"nosuch", KN_BUCKET_NONE},
				 {"impact", KN_BUCKET_DAY},
				 {"title", KN_BUCKET_MONTH},
				 {"x\"; DROP TABLE rec_job; --", KN_BUCKET_NONE}};
	for (size_t i = 0; i < sizeof bad_groups / sizeof bad_groups[0]; i++) {
		kn_statq q = {.groups = &bad_groups[i], .ngroups = 1, .limit = 10};
		CHECK(st->ops->rec_stats(st, JOB, &q, &rows, &total, &err) == KN_EINVAL);
	}
	kn_metric bad_metrics[] = {{KN_AGG_SUM, "title", NULL},
				   {KN_AGG_SUM, "nosuch", NULL},
				   {KN_AGG_SUM_MS, "due", "done"},
				   {KN_AGG_MAX_MS, "opened", "impact"},
				   {KN_AGG_COUNT_MS, "opened", "nosuch"}};
	for (size_t i = 0; i < sizeof bad_metrics / sizeof bad_metrics[0]; i++) {
		kn_statq q = {.metrics = &bad_metrics[i], .nmetrics = 1, .limit = 10};
		CHECK(st->ops->rec_stats(st, JOB, &q, &rows, &total, &err) == KN_EINVAL);
	}
	kn_group four[] = {{"grp", 0}, {"impact", 0}, {"urgent", 0}, {"due", 0}};
	kn_statq q4 = {.groups = four, .ngroups = 4, .limit = 10};
	CHECK(st->ops->rec_stats(st, JOB, &q4, &rows, &total, &err) == KN_EINVAL);
	/* the table is still there */
	kn_statq all = {.limit = 10};
	CHECK(rows_are(st, &all, "[[8]]", 8));
	st->ops->close(st);
}

/* Averages travel as JSON reals: the shortest text that reads back the same. */
TEST(stats_json_reals_shortest)
{
	static const struct {
		double v;
		const char *want;
	} cases[] = {
	    {2.5, "2.5"},
	    {2.0, "2.0"},
	    {1.667, "1.667"},
	    {0.1, "0.1"},
	    {-3.25, "-3.25"},
	    {1e-7, "1e-07"},
	    {0.1 + 0.2, "0.30000000000000004"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *j = json_real(cases[i].v);
		kn_buf b;
		kn_buf_init(&b, 0);
		REQUIRE(kn_json_write(&b, j) == 0);
		if (strcmp(b.data, cases[i].want) != 0) {
			printf("  %.17g: got %s, want %s\n", cases[i].v, b.data, cases[i].want);
			CHECK(!"shortest real");
		}
		CHECK(strtod(b.data, NULL) == cases[i].v);
		kn_buf_release(&b);
		json_decref(j);
	}
	json_t *r = kn_stats_real(2.0 / 3.0);
	CHECK(json_real_value(r) == 0.667);
	json_decref(r);
}

/* ---- the engine ------------------------------------------------------------------ */

typedef struct efx {
	char *dir, *dsn;
	kn_engine *e;
	const kn_type *inc;
	kn_user admin, agent, eve, audrey;
} efx;

static void euser(efx *f, const char *name, const char *role, const char *org, kn_user *out)
{
	kn_error err = {0};
	if (kn_user_add(f->e, "system", name, role, org, "correct horse", &err))
		printf("  user add %s: %s\n", name, err.detail);
	memset(out, 0, sizeof *out);
	f->e->store->ops->user_get(f->e->store, name, 0, out, &err);
}

static int esetup(efx *f)
{
	kn_error err = {0};
	memset(f, 0, sizeof *f);
	char *base = kn_test_tmpdir();
	f->dir = kn_xasprintf("%s/data", base);
	free(base);
	char *store = kn_test_pg() ? kn_test_store() : NULL;
	if (kn_test_pg() && !store)
		return -1;
	f->dsn = store ? store : kn_xasprintf("%s/kanri.db", f->dir);
	if (kn_engine_create(f->dir, store, false, NULL, &err) ||
	    kn_engine_open(f->dir, &f->e, &err)) {
		printf("  setup: %s\n", err.detail);
		return -1;
	}
	f->inc = kn_schema_type(f->e->schema, "incident");
	euser(f, "admin", "admin", NULL, &f->admin);
	euser(f, "alice", "agent", NULL, &f->agent);
	euser(f, "eve", "enduser", "acme", &f->eve);
	euser(f, "audrey", "auditor", NULL, &f->audrey);
	return f->inc ? 0 : -1;
}

static void eteardown(efx *f)
{
	kn_engine_close(f->e);
	free(f->dir);
	free(f->dsn);
}

static int64_t mk(efx *f, const kn_user *u, const char *json)
{
	json_t *body = json_loads(json, 0, NULL), *out = NULL;
	kn_error err = {0};
	int rc = kn_rec_create(f->e, u, f->inc, body, &out, &err);
	json_decref(body);
	if (rc) {
		printf("  create %s: %s\n", json, err.detail);
		return -1;
	}
	int64_t id = json_integer_value(json_object_get(out, "id"));
	json_decref(out);
	return id;
}

/* Set columns of incident id behind the engine's back (times in the past). */
static void poke(efx *f, int64_t id, const char *set)
{
	char *sql = kn_xasprintf("UPDATE rec_incident SET %s WHERE id = %lld", set, (long long)id);
	if (kn_test_exec(f->dsn, sql))
		printf("  could not run %s\n", sql);
	free(sql);
}

static json_t *estats(efx *f, const kn_user *u, const kn_param *p, size_t n, int *rc, kn_error *err)
{
	json_t *out = NULL;
	*rc = kn_rec_stats(f->e, u, f->inc, p, n, &out, NULL, NULL, err);
	return out;
}

static bool json_is(const json_t *j, const char *want)
{
	json_t *w = json_loads(want, 0, NULL);
	bool ok = w && json_equal(j, w);
	if (!ok) {
		char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
		printf("  got %s\n  want %s\n", s ? s : "(null)", want);
		free(s);
	}
	json_decref(w);
	return ok;
}

TEST(stats_engine_output_scope_and_checks)
{
	efx f;
	REQUIRE(esetup(&f) == 0);
	const kn_type *grp = kn_schema_type(f.e->schema, "group");
	json_t *gb = json_pack("{s:s,s:s}", "name", "net", "display_name", "Net"), *go = NULL;
	kn_error err = {0};
	REQUIRE(kn_rec_create(f.e, &f.admin, grp, gb, &go, &err) == 0);
	json_decref(gb);
	json_decref(go);
	int64_t a =
	    mk(&f, &f.agent,
	       "{\"title\": \"a\", \"organisation\": \"acme\", \"assignment_group\": \"net\","
	       " \"impact\": 1, \"urgency\": 1}");
	int64_t b =
	    mk(&f, &f.agent,
	       "{\"title\": \"b\", \"organisation\": \"acme\", \"assignment_group\": \"net\","
	       " \"impact\": 2, \"urgency\": 2}");
	int64_t c =
	    mk(&f, &f.agent,
	       "{\"title\": \"c\", \"organisation\": \"globex\", \"impact\": 3, \"urgency\": 3}");
	REQUIRE(a > 0 && b > 0 && c > 0);
	poke(&f, a,
	     "created_at = '2026-11-22T15:00:00.000Z', resolved_at = '2026-11-22T16:30:00Z'");
	poke(&f, b,
	     "created_at = '2026-11-22T14:00:00.000Z', resolved_at = '2026-11-22T15:00:00Z'");
	poke(&f, c, "created_at = '2026-11-30T00:00:00.000Z'");

	int rc;
	kn_param p1[] = {{"by", "assignment_group,created_at:day"},
			 {"sum", "impact"},
			 {"avg", "urgency"},
			 {"avg_hours", "created_at,resolved_at"},
			 {"max_hours", "created_at,resolved_at"}};
	json_t *out = estats(&f, &f.agent, p1, 5, &rc, &err);
	REQUIRE(rc == 0);
	CHECK(json_is(
	    out, "{\"by\": [\"assignment_group\", \"created_at:day\"], \"total\": 3, \"groups\": ["
		 "{\"key\": {\"assignment_group\": \"net\", \"created_at:day\": \"2026-11-22\"},"
		 " \"count\": 1, \"sum\": {\"impact\": 2}, \"avg\": {\"urgency\": 2.0},"
		 " \"avg_hours\": {\"created_at,resolved_at\": {\"value\": 1.0, \"n\": 1}},"
		 " \"max_hours\": {\"created_at,resolved_at\": 1.0}},"
		 "{\"key\": {\"assignment_group\": \"net\", \"created_at:day\": \"2026-11-23\"},"
		 " \"count\": 1, \"sum\": {\"impact\": 1}, \"avg\": {\"urgency\": 1.0},"
		 " \"avg_hours\": {\"created_at,resolved_at\": {\"value\": 1.5, \"n\": 1}},"
		 " \"max_hours\": {\"created_at,resolved_at\": 1.5}},"
		 "{\"key\": {\"assignment_group\": null, \"created_at:day\": \"2026-11-30\"},"
		 " \"count\": 1, \"sum\": {\"impact\": 3}, \"avg\": {\"urgency\": 3.0},"
		 " \"avg_hours\": {\"created_at,resolved_at\": {\"value\": null, \"n\": 0}},"
		 " \"max_hours\": {\"created_at,resolved_at\": null}}]}"));
	json_decref(out);

	/* averages round to 3 decimals; filters apply */
	kn_param p2[] = {{"avg", "urgency"},
			 {"avg_hours", "created_at,resolved_at"},
			 {"assignment_group", "net"}};
	out = estats(&f, &f.audrey, p2, 3, &rc, &err);
	REQUIRE(rc == 0);
	CHECK(json_is(out,
		      "{\"by\": [], \"total\": 2, \"groups\": [{\"key\": {}, \"count\": 2,"
		      " \"avg\": {\"urgency\": 1.5}, \"avg_hours\": {\"created_at,resolved_at\":"
		      " {\"value\": 1.25, \"n\": 2}}}]}"));
	json_decref(out);

	/* an end user counts the records of their organisation only */
	kn_param p3[] = {{"by", "organisation"}};
	out = estats(&f, &f.eve, p3, 1, &rc, &err);
	REQUIRE(rc == 0);
	CHECK(json_is(out, "{\"by\": [\"organisation\"], \"total\": 2, \"groups\":"
			   " [{\"key\": {\"organisation\": \"acme\"}, \"count\": 2}]}"));
	json_decref(out);
	/* ... and cannot group or measure what is hidden from them */
	kn_param hid1[] = {{"by", "escalation_level"}};
	kn_param hid2[] = {{"sum", "reassignment_count"}};
	CHECK(!estats(&f, &f.eve, hid1, 1, &rc, &err) && rc == KN_EINVAL &&
	      strcmp(err.field, "by") == 0);
	CHECK(!estats(&f, &f.eve, hid2, 1, &rc, &err) && rc == KN_EINVAL &&
	      strcmp(err.field, "sum") == 0);
	/* an agent may */
	out = estats(&f, &f.agent, hid1, 1, &rc, &err);
	CHECK(rc == 0);
	json_decref(out);

	/* bad parameters name themselves */
	static const struct {
		kn_param p;
		const char *field;
	} bad[] = {
	    {{"by", "nosuch"}, "by"},
	    {{"by", "title:month"}, "by"},
	    {{"by", "created_at:fortnight"}, "by"},
	    {{"by", "state,state"}, "by"},
	    {{"by", "state,priority,impact,urgency"}, "by"},
	    {{"by", "description"}, "by"},
	    {{"sum", "title"}, "sum"},
	    {{"avg", "created_at"}, "avg"},
	    {{"avg_hours", "created_at"}, "avg_hours"},
	    {{"avg_hours", "created_at,impact"}, "avg_hours"},
	    {{"max_hours", "a,b,c"}, "max_hours"},
	    {{"min_count", "0"}, "min_count"},
	    {{"limit", "0"}, "limit"},
	    {{"limit", "1001"}, "limit"},
	    {{"format", "xml"}, "format"},
	    {{"sort", "impact"}, ""},
	    {{"impact[gt]", "x"}, "impact"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		out = estats(&f, &f.agent, &bad[i].p, 1, &rc, &err);
		if (rc != KN_EINVAL || strcmp(err.field, bad[i].field) != 0) {
			printf("  %s=%s: rc %d field '%s' (%s)\n", bad[i].p.key, bad[i].p.value, rc,
			       err.field, err.detail);
			CHECK(!"bad parameter refused");
		}
		json_decref(out);
	}

	/* CSV: a byte order mark, a header, CRLF */
	kn_param pc[] = {
	    {"by", "assignment_group"}, {"avg_hours", "created_at,resolved_at"}, {"format", "csv"}};
	char *csv = NULL;
	size_t len = 0;
	out = NULL;
	REQUIRE(kn_rec_stats(f.e, &f.agent, f.inc, pc, 3, &out, &csv, &len, &err) == 0);
	CHECK(!out && csv);
	CHECK(csv && strcmp(csv, "\xEF\xBB\xBF"
				 "assignment_group,count,\"avg_hours(created_at,resolved_at)\","
				 "\"avg_hours_n(created_at,resolved_at)\"\r\n"
				 "net,2,1.25,2\r\n"
				 ",1,,0\r\n") == 0);
	CHECK(csv && len == strlen(csv));
	free(csv);
	eteardown(&f);
}

/* The desk report's figures, from incidents whose times, states and
 * counters are set behind the engine's back: the period is November 2020
 * in Tokyo, long past, and the backlog is aged from now. */
TEST(stats_desk_report_figures)
{
	efx f;
	REQUIRE(esetup(&f) == 0);
	const kn_type *grp = kn_schema_type(f.e->schema, "group");
	kn_error err = {0};
	for (int i = 0; i < 2; i++) {
		json_t *gb =
			   json_pack("{s:s,s:s}", "name", i ? "apps" : "net", "display_name", "G"),
		       *go = NULL;
		REQUIRE(kn_rec_create(f.e, &f.admin, grp, gb, &go, &err) == 0);
		json_decref(gb);
		json_decref(go);
	}
	int64_t id[9];
	for (int i = 0; i < 9; i++) {
		/* net: priority 1; apps: priority 5; then one unassigned */
		id[i] = mk(
		    &f, &f.agent,
		    i < 5    ? "{\"title\": \"x\", \"assignment_group\": \"net\", \"impact\": 1,"
			       " \"urgency\": 1}"
		    : i < 7  ? "{\"title\": \"x\", \"assignment_group\": \"apps\", \"impact\": 3,"
			       " \"urgency\": 3}"
		    : i == 7 ? "{\"title\": \"x\", \"impact\": 3, \"urgency\": 3}"
			     : "{\"title\": \"x\", \"assignment_group\": \"apps\", \"impact\": 3,"
			       " \"urgency\": 3}");
		REQUIRE(id[i] > 0);
	}
	int64_t t = kn_now_ms();
	static const struct {
		int i;
		int64_t ago_ms;
	} aged[] = {{3, 2 * 86400000LL}, {4, 10 * 86400000LL}, {6, 5 * 86400000LL}, {7, 3600000LL}};
	for (size_t k = 0; k < sizeof aged / sizeof aged[0]; k++) {
		char at[40];
		kn_format_datetime(t - aged[k].ago_ms, at, sizeof at);
		char *set = kn_xasprintf("created_at = '%.19s.000Z'", at);
		poke(&f, id[aged[k].i], set);
		free(set);
	}
	/* net: 0 and 1 created and resolved in the period (2 h and 4 h; 1
	 * reassigned once, reopened, escalated twice), 2 created in it and
	 * still new (escalated: level 1, count 1); 3 and 4 open, 2 and 10 days old */
	poke(&f, id[0],
	     "created_at = '2020-11-02T00:00:00.000Z', state = 'closed',"
	     " resolved_at = '2020-11-02T02:00:00Z'");
	poke(&f, id[1],
	     "created_at = '2020-11-03T00:00:00.000Z', state = 'closed',"
	     " resolved_at = '2020-11-03T04:00:00Z', reassignment_count = 1,"
	     " reopen_count = 1, escalation_count = 2");
	poke(&f, id[2],
	     "created_at = '2020-11-04T00:00:00.000Z', escalation_level = 1,"
	     " escalation_count = 1");
	/* apps: 5 created before the period, resolved in it (30 h); 6 open,
	 * 5 days old; 8 created in the period and cancelled */
	poke(&f, id[5],
	     "created_at = '2020-10-31T00:00:00.000Z', state = 'closed',"
	     " resolved_at = '2020-11-01T06:00:00Z'");
	poke(&f, id[8], "created_at = '2020-11-20T00:00:00.000Z', state = 'cancelled'");
	/* unassigned: 7, an hour old */

	kn_param p[] = {{"from", "2020-11-01T00:00:00+09:00"}, {"to", "2020-12-01"}};
	json_t *out = NULL;
	REQUIRE(kn_report_desk(f.e, &f.agent, p, 2, &out, NULL, NULL, &err) == 0);
	REQUIRE(out);
	CHECK_STR(json_string_value(json_object_get(out, "from")), "2020-10-31T15:00:00.000Z");
	CHECK_STR(json_string_value(json_object_get(out, "to")), "2020-11-30T15:00:00.000Z");
	const json_t *rows = json_object_get(out, "groups");
	CHECK(json_array_size(rows) == 3);
	/* by name, unassigned last */
	CHECK(json_is(json_array_get(rows, 0),
		      "{\"group\": \"apps\", \"tickets_in\": 1, \"tickets_out\": 1,"
		      " \"backlog\": 1, \"backlog_lt_1d\": 0, \"backlog_1d_3d\": 0,"
		      " \"backlog_3d_7d\": 1, \"backlog_gt_7d\": 0, \"mttr_hours\": 30.0,"
		      " \"mttr_hours_by_priority\": {\"5\": 30.0}, \"fcr\": 1, \"fcr_rate\": 1.0,"
		      " \"reassignments\": 0, \"reopened\": 0, \"reopen_rate\": 0.0,"
		      " \"escalations\": 0, \"escalated\": 0}"));
	CHECK(json_is(json_array_get(rows, 1),
		      "{\"group\": \"net\", \"tickets_in\": 3, \"tickets_out\": 2,"
		      " \"backlog\": 3, \"backlog_lt_1d\": 0, \"backlog_1d_3d\": 1,"
		      " \"backlog_3d_7d\": 0, \"backlog_gt_7d\": 2, \"mttr_hours\": 3.0,"
		      " \"mttr_hours_by_priority\": {\"1\": 3.0}, \"fcr\": 1, \"fcr_rate\": 0.5,"
		      " \"reassignments\": 1, \"reopened\": 1, \"reopen_rate\": 0.5,"
		      " \"escalations\": 3, \"escalated\": 1}"));
	CHECK(json_is(json_array_get(rows, 2),
		      "{\"group\": null, \"tickets_in\": 0, \"tickets_out\": 0,"
		      " \"backlog\": 1, \"backlog_lt_1d\": 1, \"backlog_1d_3d\": 0,"
		      " \"backlog_3d_7d\": 0, \"backlog_gt_7d\": 0, \"mttr_hours\": null,"
		      " \"mttr_hours_by_priority\": {}, \"fcr\": 0, \"fcr_rate\": null,"
		      " \"reassignments\": 0, \"reopened\": 0, \"reopen_rate\": null,"
		      " \"escalations\": 0, \"escalated\": 0}"));
	CHECK(json_is(json_object_get(out, "total"),
		      "{\"tickets_in\": 4, \"tickets_out\": 3,"
		      " \"backlog\": 5, \"backlog_lt_1d\": 1, \"backlog_1d_3d\": 1,"
		      " \"backlog_3d_7d\": 1, \"backlog_gt_7d\": 2, \"mttr_hours\": 12.0,"
		      " \"mttr_hours_by_priority\": {\"1\": 3.0, \"5\": 30.0}, \"fcr\": 2,"
		      " \"fcr_rate\": 0.667, \"reassignments\": 1, \"reopened\": 1,"
		      " \"reopen_rate\": 0.333, \"escalations\": 3, \"escalated\": 1}"));
	json_decref(out);

	/* one group only, for an auditor; as CSV */
	kn_param pg[] = {
	    {"from", "2020-11-01"}, {"to", "2020-12-01"}, {"group", "apps"}, {"format", "csv"}};
	char *csv = NULL;
	size_t len = 0;
	out = NULL;
	REQUIRE(kn_report_desk(f.e, &f.audrey, pg, 4, &out, &csv, &len, &err) == 0);
	CHECK(!out);
	CHECK(csv &&
	      strcmp(csv, "\xEF\xBB\xBF"
			  "group,tickets_in,tickets_out,backlog,backlog_lt_1d,backlog_1d_3d,"
			  "backlog_3d_7d,backlog_gt_7d,mttr_hours,mttr_hours_p1,mttr_hours_p2,"
			  "mttr_hours_p3,mttr_hours_p4,mttr_hours_p5,fcr,fcr_rate,reassignments,"
			  "reopened,reopen_rate,escalations,escalated\r\n"
			  "apps,1,1,1,0,0,1,0,30.0,,,,,30.0,1,1.0,0,0,0.0,0,0\r\n"
			  "(total),1,1,1,0,0,1,0,30.0,,,,,30.0,1,1.0,0,0,0.0,0,0\r\n") == 0);
	if (csv && !strstr(csv, "apps,1,1"))
		printf("  csv: %s\n", csv + 3);
	free(csv);

	/* end users may not; bad input names the parameter */
	CHECK(kn_report_desk(f.e, &f.eve, p, 2, &out, NULL, NULL, &err) == KN_EFORBIDDEN);
	static const struct {
		kn_param p[3];
		size_t n;
		const char *field;
	} bad[] = {
	    {{{"to", "2020-12-01"}}, 1, "from"},
	    {{{"from", "2020-11-01"}}, 1, "to"},
	    {{{"from", "yesterday"}, {"to", "2020-12-01"}}, 2, "from"},
	    {{{"from", "2020-11-01T00:00:00"}, {"to", "2020-12-01"}}, 2, "from"},
	    {{{"from", "2020-12-02"}, {"to", "2020-12-01"}}, 2, "from"},
	    {{{"from", "2020-11-01"}, {"to", "2020-12-01"}, {"group", "nosuch"}}, 3, "group"},
	    {{{"from", "2020-11-01"}, {"to", "2020-12-01"}, {"format", "pdf"}}, 3, "format"},
	    {{{"from", "2020-11-01"}, {"to", "2020-12-01"}, {"by", "x"}}, 3, "by"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = kn_report_desk(f.e, &f.agent, bad[i].p, bad[i].n, &out, NULL, NULL, &err);
		if (rc != KN_EINVAL || strcmp(err.field, bad[i].field) != 0) {
			printf("  desk bad %zu: rc %d field '%s' (%s)\n", i, rc, err.field,
			       err.detail);
			CHECK(!"desk refuses bad input");
		}
	}

	/* trends: created in the period by category is all null here */
	kn_param pt[] = {
	    {"from", "2020-11-01"}, {"to", "2020-12-01"}, {"by", "category"}, {"threshold", "4"}};
	REQUIRE(kn_report_trends(f.e, &f.agent, pt, 4, &out, NULL, NULL, &err) == 0);
	CHECK(json_is(out,
		      "{\"from\": \"2020-10-31T15:00:00.000Z\", \"to\":"
		      " \"2020-11-30T15:00:00.000Z\", \"by\": [\"category\"], \"threshold\": 4,"
		      " \"total\": 4, \"groups\": [{\"key\": {\"category\": null}, \"count\": 4}],"
		      " \"candidates\": [{\"key\": {\"category\": null}, \"count\": 4}]}"));
	json_decref(out);
	pt[3].value = "5";
	REQUIRE(kn_report_trends(f.e, &f.agent, pt, 4, &out, NULL, NULL, &err) == 0);
	CHECK(json_array_size(json_object_get(out, "candidates")) == 0);
	json_decref(out);
	eteardown(&f);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_store.c - unit tests of the storage backends (src/store/): SQLite,
 * or PostgreSQL when KANRI_TEST_PG names a server (see test.h). Both must
 * behave the same; the few tests about SQLite's file itself skip on
 * PostgreSQL, and where a test looks behind the store's back (the catalog,
 * the journal's guard) it asks each backend in its own SQL.
 *
 * The record types are built by hand here (no schema files), with a field
 * of every kind, so that these tests depend only on the store.
 */
#include "kanri.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

/* ---- fixtures ------------------------------------------------------------ */

/* ticket: every kind, "code" is the key, "group" is an SQL keyword. */
static kn_field ticket_fields[] = {
    {.name = "title", .kind = KN_TEXT},
    {.name = "body", .kind = KN_LONGTEXT},
    {.name = "impact", .kind = KN_INTEGER},
    {.name = "urgent", .kind = KN_BOOLEAN},
    {.name = "category", .kind = KN_ENUM},
    {.name = "due", .kind = KN_DATE},
    {.name = "closed_at", .kind = KN_DATETIME},
    {.name = "group", .kind = KN_REF},
    {.name = "code", .kind = KN_TEXT, .key = true},
    /* v2 adds: */
    {.name = "extra", .kind = KN_TEXT},
    {.name = "score", .kind = KN_INTEGER},
};
#define TICKET_V1 9
#define TICKET_V2 11

static char *ix_a[] = {"state", "impact", NULL};
static char *ix_b[] = {"group", "updated_at", NULL};
static char **ticket_ix[] = {ix_a, ix_b};

static kn_field note_fields[] = {
    {.name = "text", .kind = KN_TEXT},
};

static kn_type types_v1[2], types_v2[2];
static kn_schema schema_v1 = {.types = types_v1, .ntypes = 2};
static kn_schema schema_v2 = {.types = types_v2, .ntypes = 2};

__attribute__((constructor)) static void fixtures(void)
{
	for (int v = 0; v < 2; v++) {
		kn_type *t = v ? types_v2 : types_v1;
		t[0].name = "ticket";
		t[0].plural = "tickets";
		t[0].fields = ticket_fields;
		t[0].nfields = v ? TICKET_V2 : TICKET_V1;
		t[0].indexes = ticket_ix;
		t[0].nindexes = 2;
		t[0].key_field = &ticket_fields[8];
		t[1].name = "note";
		t[1].plural = "notes";
		t[1].fields = note_fields;
		t[1].nfields = 1;
	}
	for (size_t i = 0; i < sizeof ticket_fields / sizeof ticket_fields[0]; i++)
		ticket_fields[i].col = (int)i;
}

#define TICKET (&types_v1[0])
#define NOTE (&types_v1[1])

/* The SQL of this backend: SQLite's or PostgreSQL's. */
static const char *Q(const char *sqlite, const char *pg)
{
	return kn_test_pg() ? pg : sqlite;
}

/* A new migrated store (schema v1) on the DSN p made for it (NULL: a new
 * one of kn_test_store), which it takes; *path (may be NULL) gets it. */
static kn_store *fresh_on(char *p, char **path)
{
	if (!p)
		p = kn_test_store();
	if (!p)
		abort();
	kn_store *st = NULL;
	kn_error err = {0};
	if (kn_store_open(p, &st, &err) != 0 || st->ops->migrate(st, &schema_v1, &err) != 0) {
		printf("  store: %s\n", err.detail);
		abort();
	}
	if (path)
		*path = p;
	else
		free(p);
	return st;
}

static kn_store *fresh(char **path)
{
	return fresh_on(NULL, path);
}

/* A ticket with the system attributes; fields absent (NULL). */
static json_t *ticket(int64_t n)
{
	char num[32];
	snprintf(num, sizeof num, "TK-%06lld", (long long)n);
	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "number", num, "version", 1, "state",
			 "new", "created_at", "2026-01-01T00:00:00.000Z", "updated_at",
			 "2026-01-01T00:00:00.000Z", "created_by", "alice", "updated_by", "alice");
}

static int64_t insert(kn_store *st, const kn_type *t, json_t *rec)
{
	int64_t id = 0;
	kn_error err = {0};
	int r = st->ops->rec_insert(st, t, rec, &id, &err);
	if (r)
		printf("  insert: %s\n", err.detail);
	json_decref(rec);
	return r ? -1 : id;
}

static int64_t count_sql(const char *dsn, const char *sql)
{
	return kn_test_count(dsn, sql);
}

/* How many columns table has (catalog of either backend). */
static int64_t ncols(const char *dsn, const char *table)
{
	char *q = kn_test_pg()
		      ? kn_xasprintf("SELECT count(*) FROM information_schema.columns"
				     " WHERE table_schema = current_schema()"
				     " AND table_name = '%s'",
				     table)
		      : kn_xasprintf("SELECT count(*) FROM pragma_table_info('%s')", table);
	int64_t n = count_sql(dsn, q);
	free(q);
	return n;
}

/* ---- open and migrate ------------------------------------------------------ */

/* The DSN of a PostgreSQL URI in libpq's key=value words, as kanri takes
 * them ("postgres:host=... dbname=..."). */
static char *keyword_dsn(const char *uri)
{
	char *msg = NULL;
	PQconninfoOption *opts = PQconninfoParse(uri, &msg);
	if (!opts) {
		printf("  %s: %s\n", uri, msg ? msg : "cannot parse");
		PQfreemem(msg);
		return NULL;
	}
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_adds(&b, "postgres:");
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (o->val && *o->val)
			kn_buf_addf(&b, "%s='%s' ", o->keyword, o->val);
	PQconninfoFree(opts);
	return b.data;
}

TEST(store_open)
{
	char *p = kn_test_store();
	REQUIRE(p);
	kn_store *st = NULL;
	kn_error err = {0};
	REQUIRE(kn_store_open(p, &st, &err) == 0);
	CHECK_STR(st->ops->name, kn_test_backend());
	st->ops->close(st);

	if (!kn_test_pg()) {
		CHECK(access(p, F_OK) == 0);
		/* "sqlite:" prefix */
		char *dsn = kn_xasprintf("sqlite:%s", p);
		REQUIRE(kn_store_open(dsn, &st, &err) == 0);
		st->ops->close(st);
		free(dsn);
	} else {
		/* the same database named in libpq's key=value words */
		char *kw = keyword_dsn(p);
		REQUIRE(kw);
		CHECK(kn_store_open(kw, &st, &err) == 0);
		if (st)
			st->ops->close(st);
		st = NULL;
		free(kw);
		/* a database that does not exist: a clear error */
		char *nodb = kn_test_pg_dsn("kt_unit_no_such_database");
		CHECK(kn_store_open(nodb, &st, &err) == KN_ESTORE);
		CHECK(strstr(err.detail, "cannot connect to PostgreSQL") != NULL);
		free(nodb);
		/* a database that is not UTF8 is refused, naming the encoding */
		char *ascii = kn_test_store_with(
		    "ENCODING 'SQL_ASCII' TEMPLATE template0 LC_COLLATE 'C' LC_CTYPE 'C'");
		REQUIRE(ascii);
		CHECK(kn_store_open(ascii, &st, &err) == KN_ESTORE);
		CHECK(strstr(err.detail, "UTF8") != NULL);
		free(ascii);
	}

	/* an unknown scheme; a PostgreSQL server that is not there */
	CHECK(kn_store_open("mysql://localhost/kanri", &st, &err) == KN_EINVAL);
	CHECK(strstr(err.detail, "unsupported store") != NULL);
	CHECK(kn_store_open("postgres://kanri@127.0.0.1:1/kanri?connect_timeout=2", &st, &err) ==
	      KN_ESTORE);
	CHECK(strstr(err.detail, "cannot connect to PostgreSQL") != NULL);
	CHECK(kn_store_open("", &st, &err) == KN_EINVAL);
	free(p);
}

/* SQLite's database file: a missing folder, a file that is not a database. */
TEST(store_open_sqlite_file)
{
	SQLITE_ONLY("about SQLite's database file");
	char *p = kn_test_store();
	kn_store *st = NULL;
	kn_error err = {0};
	/* a folder that does not exist: clear error with the path */
	CHECK(kn_store_open("/nonexistent-kanri/dir/kanri.db", &st, &err) == KN_ESTORE);
	CHECK(strstr(err.detail, "/nonexistent-kanri/dir/kanri.db") != NULL);

	/* a file that is not a database */
	char *junk = kn_xasprintf("%s.junk", p);
	FILE *f = fopen(junk, "w");
	REQUIRE(f);
	for (int i = 0; i < 200; i++)
		fputs("this is not a database file at all ", f);
	fclose(f);
	CHECK(kn_store_open(junk, &st, &err) == KN_ESTORE);
	CHECK(strstr(err.detail, junk) != NULL);
	free(junk);
	free(p);
}

TEST(store_migrate_creates_tables)
{
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	const char *tables[] = {"rec_ticket", "rec_note", "counters", "comments",
				"relations",  "journal",  "users",    "tokens",
				"sessions",   "meta",	  "jobs"};
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char *q =
		    kn_xasprintf(kn_test_pg() ? "SELECT count(*) FROM information_schema.tables"
						" WHERE table_schema = current_schema()"
						" AND table_name='%s'"
					      : "SELECT count(*) FROM sqlite_master"
						" WHERE type='table' AND name='%s'",
				 tables[i]);
		CHECK(count_sql(p, q) == 1);
		free(q);
	}
	CHECK(count_sql(p, Q("SELECT count(*) FROM sqlite_master WHERE name IN"
			     " ('ix_ticket__state__impact','ix_ticket__group__updated_at',"
			     "'ux_ticket__code')",
			     "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()"
			     /* PostgreSQL's list indexes end with id */
			     " AND indexname IN ('ix_ticket__state__impact__id',"
			     "'ix_ticket__group__updated_at__id','ux_ticket__code')")) == 3);
	CHECK(ncols(p, "rec_ticket") == 8 + TICKET_V1);
	CHECK(count_sql(p, Q("SELECT count(*) FROM pragma_table_info('rec_ticket')"
			     " WHERE name='urgent' AND type='INTEGER'",
			     "SELECT count(*) FROM information_schema.columns WHERE"
			     " table_schema = current_schema() AND table_name='rec_ticket'"
			     " AND column_name='urgent' AND data_type='boolean'")) == 1);
	/* the journal's guard: two triggers on either */
	CHECK(count_sql(p, Q("SELECT count(*) FROM sqlite_master WHERE type='trigger'"
			     " AND tbl_name='journal'",
			     "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'journal'::regclass"
			     " AND NOT tgisinternal")) == 2);
	if (kn_test_pg()) /* record text sorts and compares byte by byte, as on SQLite */
		CHECK(count_sql(p, "SELECT count(*) FROM information_schema.columns WHERE"
				   " table_schema = current_schema() AND data_type = 'text'"
				   " AND table_name IN ('rec_ticket','rec_note')"
				   " AND collation_name IS DISTINCT FROM 'C'") == 0);
	/* idempotent */
	CHECK(st->ops->migrate(st, &schema_v1, &err) == 0);
	CHECK(st->ops->migrate(st, &schema_v1, &err) == 0);
	if (!kn_test_pg())
		CHECK(count_sql(p, "SELECT journal_mode = 'wal' FROM pragma_journal_mode") == 1);
	st->ops->close(st);
	free(p);
}

TEST(store_migrate_adds_column)
{
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	json_t *r = ticket(1);
	json_object_set_new(r, "title", json_string("kept"));
	int64_t id = insert(st, TICKET, r);
	REQUIRE(id > 0);
	st->ops->close(st);

	/* reopen with a schema that declares two more fields */
	REQUIRE(kn_store_open(p, &st, &err) == 0);
	REQUIRE(st->ops->migrate(st, &schema_v2, &err) == 0);
	CHECK(ncols(p, "rec_ticket") == 8 + TICKET_V2);
	json_t *got = NULL;
	REQUIRE(st->ops->rec_get(st, &types_v2[0], id, NULL, &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "title")), "kept");
	CHECK(json_is_null(json_object_get(got, "extra")));
	CHECK(json_is_null(json_object_get(got, "score")));
	json_decref(got);
	r = ticket(2);
	json_object_set_new(r, "extra", json_string("new"));
	json_object_set_new(r, "score", json_integer(7));
	int64_t id2 = insert(st, &types_v2[0], r);
	REQUIRE(id2 > 0);
	REQUIRE(st->ops->rec_get(st, &types_v2[0], id2, NULL, &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "extra")), "new");
	CHECK(json_integer_value(json_object_get(got, "score")) == 7);
	json_decref(got);
	/* again: nothing to do; an older schema drops nothing */
	CHECK(st->ops->migrate(st, &schema_v2, &err) == 0);
	CHECK(st->ops->migrate(st, &schema_v1, &err) == 0);
	CHECK(ncols(p, "rec_ticket") == 8 + TICKET_V2);
	st->ops->close(st);
	free(p);
}

/* ---- records ---------------------------------------------------------------- */

TEST(store_insert_get)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	json_t *r = ticket(1);
	json_object_set_new(r, "title", json_string("プリンタが動かない"));
	json_object_set_new(r, "body", json_string("line 1\nline 2"));
	json_object_set_new(r, "impact", json_integer(2));
	json_object_set_new(r, "urgent", json_true());
	json_object_set_new(r, "category", json_string("hardware"));
	json_object_set_new(r, "due", json_string("2026-02-01"));
	json_object_set_new(r, "group", json_string("network"));
	json_object_set_new(r, "code", json_string("K1"));
	int64_t id = insert(st, TICKET, r);
	REQUIRE(id > 0);

	json_t *a = NULL, *b = NULL, *c = NULL;
	REQUIRE(st->ops->rec_get(st, TICKET, id, NULL, &a, &err) == 0);
	REQUIRE(st->ops->rec_get(st, TICKET, 0, "TK-000001", &b, &err) == 0);
	REQUIRE(st->ops->rec_get_key(st, TICKET, "K1", &c, &err) == 0);
	CHECK(json_equal(a, b));
	CHECK(json_equal(a, c));
	CHECK(json_integer_value(json_object_get(a, "id")) == id);
	CHECK_STR(json_string_value(json_object_get(a, "type")), "ticket");
	CHECK_STR(json_string_value(json_object_get(a, "number")), "TK-000001");
	CHECK(json_integer_value(json_object_get(a, "version")) == 1);
	CHECK_STR(json_string_value(json_object_get(a, "state")), "new");
	CHECK_STR(json_string_value(json_object_get(a, "created_by")), "alice");
	CHECK_STR(json_string_value(json_object_get(a, "title")), "プリンタが動かない");
	CHECK_STR(json_string_value(json_object_get(a, "body")), "line 1\nline 2");
	CHECK(json_integer_value(json_object_get(a, "impact")) == 2);
	CHECK(json_is_true(json_object_get(a, "urgent")));
	CHECK_STR(json_string_value(json_object_get(a, "group")), "network");
	CHECK(json_is_null(json_object_get(a, "closed_at")));
	CHECK(json_object_size(a) == 8 + TICKET_V1 + 1);
	json_decref(a);
	json_decref(b);
	json_decref(c);

	CHECK(st->ops->rec_get(st, TICKET, id + 100, NULL, &a, &err) == KN_ENOTFOUND);
	CHECK(st->ops->rec_get(st, TICKET, 0, "TK-999999", &a, &err) == KN_ENOTFOUND);
	CHECK(st->ops->rec_get_key(st, TICKET, "nope", &a, &err) == KN_ENOTFOUND);

	/* a type without a key field: the key is the number */
	r = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "number", "NT-1", "version", 1, "state",
		      "open", "created_at", "x", "updated_at", "x", "created_by", "a", "updated_by",
		      "a", "text", "hello");
	int64_t nid = insert(st, NOTE, r);
	REQUIRE(nid > 0);
	REQUIRE(st->ops->rec_get_key(st, NOTE, "NT-1", &a, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(a, "text")), "hello");
	CHECK_STR(json_string_value(json_object_get(a, "type")), "note");
	json_decref(a);

	/* a value of the wrong JSON type, a missing system attribute */
	r = ticket(3);
	json_object_set_new(r, "impact", json_string("2"));
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_EINVAL);
	CHECK_STR(err.field, "impact");
	json_object_del(r, "impact");
	json_object_set_new(r, "nosuch", json_true());
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_EINVAL);
	CHECK_STR(err.field, "nosuch");
	json_object_del(r, "nosuch");
	/* "id" and "type" (as rec_get returns them) are ignored */
	json_object_set_new(r, "id", json_integer(999));
	json_object_set_new(r, "type", json_string("ticket"));
	int64_t id3 = 0;
	CHECK(st->ops->rec_insert(st, TICKET, r, &id3, &err) == 0 && id3 != 999 && id3 > 0);
	json_object_del(r, "state");
	json_object_set_new(r, "number", json_string("TK-000004"));
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_EINVAL);
	CHECK_STR(err.field, "state");
	json_decref(r);
	st->ops->close(st);
}

TEST(store_update_version)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	json_t *r = ticket(1);
	json_object_set_new(r, "title", json_string("before"));
	int64_t id = insert(st, TICKET, r);
	REQUIRE(id > 0);

	json_t *set = json_pack("{s:s,s:i,s:b,s:s}", "title", "after", "version", 2, "urgent", 0,
				"updated_by", "bob");
	REQUIRE(st->ops->rec_update(st, TICKET, id, 1, set, &err) == 0);
	json_t *got = NULL;
	REQUIRE(st->ops->rec_get(st, TICKET, id, NULL, &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "title")), "after");
	CHECK(json_integer_value(json_object_get(got, "version")) == 2);
	CHECK(json_is_false(json_object_get(got, "urgent")));
	CHECK_STR(json_string_value(json_object_get(got, "updated_by")), "bob");
	json_decref(got);

	/* stale version: conflict, nothing changed */
	json_object_set_new(set, "title", json_string("stale"));
	json_object_set_new(set, "version", json_integer(3));
	CHECK(st->ops->rec_update(st, TICKET, id, 1, set, &err) == KN_ECONFLICT);
	REQUIRE(st->ops->rec_get(st, TICKET, id, NULL, &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "title")), "after");
	CHECK(json_integer_value(json_object_get(got, "version")) == 2);
	json_decref(got);

	/* no such record */
	CHECK(st->ops->rec_update(st, TICKET, id + 50, 1, set, &err) == KN_ENOTFOUND);

	/* setting to null; unknown attributes and id are refused */
	json_t *nul = json_pack("{s:n,s:i}", "title", "version", 3);
	CHECK(st->ops->rec_update(st, TICKET, id, 2, nul, &err) == 0);
	REQUIRE(st->ops->rec_get(st, TICKET, id, NULL, &got, &err) == 0);
	CHECK(json_is_null(json_object_get(got, "title")));
	json_decref(got);
	json_object_set_new(nul, "nosuch", json_string("x"));
	CHECK(st->ops->rec_update(st, TICKET, id, 3, nul, &err) == KN_EINVAL);
	CHECK_STR(err.field, "nosuch");
	json_t *idset = json_pack("{s:i}", "id", 5);
	CHECK(st->ops->rec_update(st, TICKET, id, 3, idset, &err) == KN_EINVAL);
	CHECK_STR(err.field, "id");
	json_decref(idset);
	json_t *tyset = json_pack("{s:s}", "type", "ticket");
	CHECK(st->ops->rec_update(st, TICKET, id, 3, tyset, &err) == KN_EINVAL);
	json_decref(tyset);
	/* an empty set only checks the version */
	json_t *empty = json_object();
	CHECK(st->ops->rec_update(st, TICKET, id, 3, empty, &err) == 0);
	CHECK(st->ops->rec_update(st, TICKET, id, 2, empty, &err) == KN_ECONFLICT);
	CHECK(st->ops->rec_update(st, TICKET, id + 50, 3, empty, &err) == KN_ENOTFOUND);
	json_decref(empty);
	json_decref(nul);
	json_decref(set);
	st->ops->close(st);
}

TEST(store_unique_key)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t id;
	json_t *r = ticket(1);
	json_object_set_new(r, "code", json_string("K1"));
	REQUIRE(insert(st, TICKET, r) > 0);
	r = ticket(2);
	json_object_set_new(r, "code", json_string("K1"));
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_ECONFLICT);
	CHECK_STR(err.field, "code");
	CHECK(strstr(err.detail, "K1") != NULL);
	json_decref(r);
	/* duplicate number */
	r = ticket(1);
	json_object_set_new(r, "code", json_string("K2"));
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_ECONFLICT);
	CHECK_STR(err.field, "number");
	json_decref(r);
	/* NULL keys do not collide */
	REQUIRE(insert(st, TICKET, ticket(3)) > 0);
	REQUIRE(insert(st, TICKET, ticket(4)) > 0);
	/* update to a taken key */
	r = ticket(5);
	json_object_set_new(r, "code", json_string("K5"));
	int64_t id5 = insert(st, TICKET, r);
	json_t *set = json_pack("{s:s,s:i}", "code", "K1", "version", 2);
	CHECK(st->ops->rec_update(st, TICKET, id5, 1, set, &err) == KN_ECONFLICT);
	CHECK_STR(err.field, "code");
	json_decref(set);
	json_t *got = NULL;
	REQUIRE(st->ops->rec_get(st, TICKET, id5, NULL, &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "code")), "K5");
	CHECK(json_integer_value(json_object_get(got, "version")) == 1);
	json_decref(got);
	st->ops->close(st);
}

TEST(store_next_number)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t n = 0;
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 1);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 2);
	CHECK(st->ops->rec_next_number(st, NOTE, &n, &err) == 0 && n == 1);
	REQUIRE(st->ops->commit(st, &err) == 0);
	/* a rolled-back number is given again: gap-free */
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 3);
	st->ops->rollback(st);
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 3);
	REQUIRE(st->ops->commit(st, &err) == 0);
	/* transaction misuse */
	REQUIRE(st->ops->begin(st, false, &err) == 0);
	CHECK(st->ops->begin(st, false, &err) == KN_EINTERNAL);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == KN_EINTERNAL);
	CHECK(st->ops->meta_set(st, "k", "v", &err) == KN_EINTERNAL);
	st->ops->rollback(st);
	CHECK(st->ops->commit(st, &err) == KN_EINTERNAL);
	st->ops->rollback(st); /* harmless */
	st->ops->close(st);
}

/* ---- lists -------------------------------------------------------------------- */

#define NROWS 47

/* Deterministic rows with NULLs in every field. */
static kn_store *list_store(void)
{
	kn_store *st = fresh(NULL);
	static const char *cats[] = {NULL, "hardware", "software", "network"};
	static const char *titles[] = {"Printer jam", "VPN down", "printer toner", NULL,
				       "Mail PRINTER queue"};
	uint32_t x = 12345;
	kn_error err = {0};
	if (st->ops->begin(st, true, &err) != 0)
		abort();
	for (int i = 1; i <= NROWS; i++) {
		x = x * 1103515245u + 12345u;
		uint32_t v = x >> 8;
		json_t *r = ticket(i);
		json_object_set_new(r, "state", json_string(v % 3 ? "new" : "closed"));
		const char *ti = titles[(v / 3) % 5];
		json_object_set_new(r, "title", ti ? json_string(ti) : json_null());
		int imp = (int)((v / 15) % 4);
		json_object_set_new(r, "impact", imp ? json_integer(imp) : json_null());
		int u = (int)((v / 60) % 3);
		json_object_set_new(r, "urgent", u == 0 ? json_null() : json_boolean(u == 1));
		const char *cat = cats[(v / 180) % 4];
		json_object_set_new(r, "category", cat ? json_string(cat) : json_null());
		int d = (int)((v / 720) % 5);
		char due[16];
		snprintf(due, sizeof due, "2026-03-0%d", d);
		json_object_set_new(r, "due", d ? json_string(due) : json_null());
		if (insert(st, TICKET, r) <= 0)
			abort();
	}
	if (st->ops->commit(st, &err) != 0)
		abort();
	return st;
}

/* ids of a list result */
static int list_ids(kn_store *st, const kn_query *q, int64_t *ids, int max, int64_t *total)
{
	json_t *items = NULL;
	kn_error err = {0};
	int r = st->ops->rec_list(st, TICKET, q, &items, total, &err);
	if (r) {
		if (r != KN_EINVAL)
			printf("  list: %s\n", err.detail);
		return -1;
	}
	int n = 0;
	size_t i;
	json_t *it;
	json_array_foreach(items, i, it)
	{
		if (n < max)
			ids[n] = json_integer_value(json_object_get(it, "id"));
		n++;
	}
	json_decref(items);
	return n;
}

/* All rows (id order), for computing expectations independently. */
static json_t *all_rows(kn_store *st)
{
	kn_sort s = {"id", false};
	kn_query q = {.sorts = &s, .nsorts = 1, .limit = 1000};
	json_t *items = NULL;
	kn_error err = {0};
	if (st->ops->rec_list(st, TICKET, &q, &items, NULL, &err) != 0)
		abort();
	return items;
}

static int cmp_val(const json_t *a, const json_t *b)
{
	bool an = !a || json_is_null(a), bn = !b || json_is_null(b);
	if (an || bn)
		return an && bn ? 0 : an ? 1 : -1; /* NULL is greater than every value */
	if (json_is_string(a))
		return strcmp(json_string_value(a), json_string_value(b));
	long long x = json_is_boolean(a) ? json_is_true(a) : json_integer_value(a);
	long long y = json_is_boolean(b) ? json_is_true(b) : json_integer_value(b);
	return x < y ? -1 : x > y;
}

static const kn_sort *cmp_sorts;
static size_t cmp_nsorts;

static int cmp_rows(const void *pa, const void *pb)
{
	const json_t *a = *(const json_t *const *)pa, *b = *(const json_t *const *)pb;
	for (size_t i = 0; i < cmp_nsorts; i++) {
		int c = cmp_val(json_object_get(a, cmp_sorts[i].attr),
				json_object_get(b, cmp_sorts[i].attr));
		if (c)
			return cmp_sorts[i].desc ? -c : c;
	}
	return 0;
}

/* Expected ids: rows matching pred (NULL = all) sorted by sorts. */
static int expected(json_t *rows, bool (*pred)(const json_t *), const kn_sort *sorts, size_t ns,
		    int64_t *ids)
{
	const json_t *v[NROWS + 8];
	int n = 0;
	size_t i;
	json_t *it;
	json_array_foreach(rows, i, it) if (!pred || pred(it)) v[n++] = it;
	cmp_sorts = sorts;
	cmp_nsorts = ns;
	qsort(v, (size_t)n, sizeof v[0], cmp_rows);
	for (int k = 0; k < n; k++)
		ids[k] = json_integer_value(json_object_get(v[k], "id"));
	return n;
}

static bool p_impact2(const json_t *r)
{
	return json_integer_value(json_object_get(r, "impact")) == 2;
}
static bool p_impact_ne2(const json_t *r)
{
	return !p_impact2(r);
}
static bool p_cat_in(const json_t *r)
{
	const char *c = json_string_value(json_object_get(r, "category"));
	return c && (!strcmp(c, "hardware") || !strcmp(c, "network"));
}
static bool p_cat_in_or_null(const json_t *r)
{
	return p_cat_in(r) || json_is_null(json_object_get(r, "category"));
}
static bool p_cat_nin(const json_t *r)
{
	return !p_cat_in(r);
}
static bool p_cat_nin_notnull(const json_t *r)
{
	return !p_cat_in_or_null(r);
}
static bool p_cat_ne_hw(const json_t *r)
{
	const char *c = json_string_value(json_object_get(r, "category"));
	return !c || strcmp(c, "hardware") != 0;
}
static bool p_printer(const json_t *r)
{
	const char *t = json_string_value(json_object_get(r, "title"));
	return t && strcasestr(t, "printer");
}
static bool p_due_null(const json_t *r)
{
	return json_is_null(json_object_get(r, "due"));
}
static bool p_due_notnull(const json_t *r)
{
	return !p_due_null(r);
}
static bool p_urgent(const json_t *r)
{
	return json_is_true(json_object_get(r, "urgent"));
}
static bool p_new_imp_gte2(const json_t *r)
{
	return !strcmp(json_string_value(json_object_get(r, "state")), "new") &&
	       json_integer_value(json_object_get(r, "impact")) >= 2;
}
static bool p_due_lt(const json_t *r)
{
	const char *d = json_string_value(json_object_get(r, "due"));
	return d && strcmp(d, "2026-03-03") < 0;
}

static bool same(const int64_t *a, const int64_t *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

TEST(store_list_conds)
{
	kn_store *st = list_store();
	json_t *rows = all_rows(st);
	REQUIRE(json_array_size(rows) == NROWS);
	kn_sort byid = {"id", false};
	int64_t got[NROWS + 8], want[NROWS + 8], total;
	struct {
		const char *attr;
		kn_op op;
		const char *vals;
		bool (*pred)(const json_t *);
	} cases[] = {
	    {"impact", KN_OP_EQ, "[2]", p_impact2},
	    {"impact", KN_OP_NE, "[2]", p_impact_ne2},
	    {"category", KN_OP_IN, "[\"hardware\",\"network\"]", p_cat_in},
	    {"category", KN_OP_EQ, "[\"hardware\",\"network\"]", p_cat_in},
	    {"category", KN_OP_IN, "[\"hardware\",null,\"network\"]", p_cat_in_or_null},
	    {"category", KN_OP_NIN, "[\"hardware\",\"network\"]", p_cat_nin},
	    {"category", KN_OP_NIN, "[\"hardware\",\"network\",null]", p_cat_nin_notnull},
	    {"title", KN_OP_CONTAINS, "[\"PrInTeR\"]", p_printer},
	    {"due", KN_OP_NULL, "[]", p_due_null},
	    {"due", KN_OP_NOTNULL, "[]", p_due_notnull},
	    {"due", KN_OP_LT, "[\"2026-03-03\"]", p_due_lt},
	    {"urgent", KN_OP_EQ, "[true]", p_urgent},
	    {"category", KN_OP_IN, "[]", NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *vals = json_loads(cases[i].vals, 0, NULL);
		kn_cond c = {.attr = cases[i].attr, .op = cases[i].op, .values = vals};
		kn_query q = {.conds = &c,
			      .nconds = 1,
			      .sorts = &byid,
			      .nsorts = 1,
			      .limit = 1000,
			      .want_total = true};
		int n = list_ids(st, &q, got, NROWS + 8, &total);
		int m = cases[i].pred ? expected(rows, cases[i].pred, &byid, 1, want) : 0;
		if (n != m || !same(got, want, n) || total != m) {
			printf("  case %zu (%s): got %d/%lld rows, want %d\n", i, cases[i].attr, n,
			       (long long)total, m);
			CHECK(0);
		}
		CHECK(n > 0 || !cases[i].pred); /* every case selects something */
		CHECK(n < NROWS);
		json_decref(vals);
	}
	/* two conditions: state = new AND impact >= 2 */
	json_t *v1 = json_pack("[s]", "new"), *v2 = json_pack("[i]", 2);
	kn_cond cs[] = {{.attr = "state", .op = KN_OP_EQ, .values = v1},
			{.attr = "impact", .op = KN_OP_GTE, .values = v2}};
	kn_query q = {.conds = cs,
		      .nconds = 2,
		      .sorts = &byid,
		      .nsorts = 1,
		      .limit = 1000,
		      .want_total = true};
	int n = list_ids(st, &q, got, NROWS + 8, &total);
	int m = expected(rows, p_new_imp_gte2, &byid, 1, want);
	CHECK(n == m && same(got, want, n) && total == m && m > 0);
	/* limit and total */
	q.limit = 3;
	CHECK(list_ids(st, &q, got, NROWS, &total) == 3 && total == m);
	q.want_total = false;
	CHECK(list_ids(st, &q, got, NROWS, &total) == 3 && total == -1);
	/* bad attribute */
	kn_cond bad = {.attr = "nosuch", .op = KN_OP_EQ, .values = v1};
	q.conds = &bad;
	q.nconds = 1;
	CHECK(list_ids(st, &q, got, NROWS, &total) == -1);
	json_decref(v1);
	json_decref(v2);
	json_decref(rows);
	st->ops->close(st);
}

/* Walk all pages of size `page` and compare with the expected order. */
static void walk(kn_store *st, json_t *rows, const kn_cond *conds, size_t nconds,
		 bool (*pred)(const json_t *), const kn_sort *sorts, size_t ns, int page)
{
	int64_t want[NROWS + 8], got[NROWS + 8];
	int m = expected(rows, pred, sorts, ns, want);
	/* one page with everything: the ORDER BY itself */
	kn_query q = {
	    .conds = conds, .nconds = nconds, .sorts = sorts, .nsorts = ns, .limit = 1000};
	int n = list_ids(st, &q, got, NROWS + 8, NULL);
	CHECK(n == m && same(got, want, m));
	/* keyset pages */
	kn_error err = {0};
	int seen = 0, pages = 0;
	json_t *after = NULL;
	q.limit = page;
	for (;;) {
		json_t *items = NULL;
		q.after = after;
		if (st->ops->rec_list(st, TICKET, &q, &items, NULL, &err) != 0) {
			printf("  walk: %s\n", err.detail);
			CHECK(0);
			break;
		}
		json_decref(after);
		after = NULL;
		size_t k = json_array_size(items);
		for (size_t i = 0; i < k; i++) {
			int64_t id =
			    json_integer_value(json_object_get(json_array_get(items, i), "id"));
			if (seen >= m || want[seen] != id) {
				printf("  walk: row %d is %lld, want %lld\n", seen, (long long)id,
				       seen < m ? (long long)want[seen] : -1LL);
				CHECK(0);
				json_decref(items);
				return;
			}
			seen++;
		}
		if (k) {
			json_t *last = json_array_get(items, k - 1);
			after = json_array();
			for (size_t i = 0; i < ns; i++)
				json_array_append(after, json_object_get(last, sorts[i].attr));
		}
		json_decref(items);
		pages++;
		if ((int)k < page || pages > NROWS + 2)
			break;
	}
	json_decref(after);
	CHECK(seen == m);
}

TEST(store_list_sort_nulls)
{
	kn_store *st = list_store();
	json_t *rows = all_rows(st);
	int64_t got[NROWS + 8];
	/* ascending: NULLs after the values; descending: before */
	kn_sort s[2] = {{"impact", false}, {"id", false}};
	kn_query q = {.sorts = s, .nsorts = 2, .limit = 1000};
	int n = list_ids(st, &q, got, NROWS + 8, NULL);
	REQUIRE(n == NROWS);
	json_t *first = NULL, *last = NULL;
	kn_error err = {0};
	REQUIRE(st->ops->rec_get(st, TICKET, got[0], NULL, &first, &err) == 0);
	REQUIRE(st->ops->rec_get(st, TICKET, got[n - 1], NULL, &last, &err) == 0);
	CHECK(json_integer_value(json_object_get(first, "impact")) == 1);
	CHECK(json_is_null(json_object_get(last, "impact")));
	json_decref(first);
	json_decref(last);
	s[0].desc = true;
	n = list_ids(st, &q, got, NROWS + 8, NULL);
	REQUIRE(st->ops->rec_get(st, TICKET, got[0], NULL, &first, &err) == 0);
	REQUIRE(st->ops->rec_get(st, TICKET, got[n - 1], NULL, &last, &err) == 0);
	CHECK(json_is_null(json_object_get(first, "impact")));
	CHECK(json_integer_value(json_object_get(last, "impact")) == 1);
	json_decref(first);
	json_decref(last);
	/* full order for single sorts of every kind, both directions */
	const char *attrs[] = {"impact", "title", "urgent", "due", "number", "state", "updated_at"};
	for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
		for (int d = 0; d < 2; d++) {
			kn_sort ss[2] = {{attrs[i], d == 1}, {"id", false}};
			walk(st, rows, NULL, 0, NULL, ss, 2, 1000);
		}
	json_decref(rows);
	st->ops->close(st);
}

TEST(store_list_keyset)
{
	kn_store *st = list_store();
	json_t *rows = all_rows(st);
	/* multi-key sorts with NULLs, every direction combination, several page sizes */
	const char *pairs[][3] = {{"impact", "due", NULL},
				  {"category", "urgent", NULL},
				  {"due", "title", "impact"},
				  {"state", "impact", NULL}};
	int sizes[] = {1, 3, 7, 50};
	for (size_t p = 0; p < sizeof pairs / sizeof pairs[0]; p++) {
		size_t nk = pairs[p][2] ? 3 : 2;
		for (int dirs = 0; dirs < (1 << nk); dirs++) {
			kn_sort s[4];
			for (size_t k = 0; k < nk; k++)
				s[k] = (kn_sort){pairs[p][k], (dirs >> k) & 1};
			s[nk] = (kn_sort){"id", false};
			for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++)
				walk(st, rows, NULL, 0, NULL, s, nk + 1, sizes[z]);
		}
	}
	/* with a condition as well */
	json_t *v = json_pack("[s]", "hardware");
	kn_cond c = {.attr = "category", .op = KN_OP_NE, .values = v};
	kn_sort s[3] = {{"impact", true}, {"due", false}, {"id", false}};
	walk(st, rows, &c, 1, p_cat_ne_hw, s, 3, 4);
	json_decref(v);
	/* cursor values of another JSON type than the column's are converted */
	{
		kn_sort s2[2] = {{"impact", false}, {"id", false}};
		int64_t a[NROWS + 8], b[NROWS + 8];
		json_t *c1 = json_pack("[i,i]", 2, 10), *c2 = json_pack("[s,s]", "2", "10");
		kn_query q1 = {.sorts = s2, .nsorts = 2, .after = c1, .limit = 100};
		kn_query q2 = {.sorts = s2, .nsorts = 2, .after = c2, .limit = 100};
		int n1 = list_ids(st, &q1, a, NROWS + 8, NULL);
		int n2 = list_ids(st, &q2, b, NROWS + 8, NULL);
		CHECK(n1 > 0 && n1 < NROWS && n1 == n2 && same(a, b, n1));
		json_decref(c1);
		json_decref(c2);
	}
	/* a cursor that does not match the sort */
	json_t *after = json_pack("[i]", 1);
	kn_query q = {.sorts = s, .nsorts = 3, .after = after, .limit = 5};
	json_t *items = NULL;
	kn_error err = {0};
	CHECK(st->ops->rec_list(st, TICKET, &q, &items, NULL, &err) == KN_EINVAL);
	json_decref(after);
	json_decref(rows);
	st->ops->close(st);
}

/* Many distinct statements: the per-connection cache evicts and re-prepares
 * (SQLite's prepared statements; on PostgreSQL its named statements, all
 * deallocated past PG_CACHE_MAX and prepared again). */
TEST(store_stmt_cache)
{
	kn_store *st = list_store();
	kn_sort byid = {"id", false};
	int64_t got[NROWS + 8];
	for (int i = 1; i <= 700; i++) {
		json_t *vals = json_array();
		for (int k = 0; k < i; k++)
			json_array_append_new(vals, json_integer(k % 3 + 1));
		kn_cond c = {.attr = "impact", .op = KN_OP_IN, .values = vals};
		kn_query q = {.conds = &c, .nconds = 1, .sorts = &byid, .nsorts = 1, .limit = 100};
		int n = list_ids(st, &q, got, NROWS + 8, NULL);
		json_decref(vals);
		if (n <= 0) {
			CHECK(n > 0);
			break;
		}
	}
	st->ops->close(st);
}

/* ---- scans and re-entrancy ------------------------------------------------- */

struct scanctx {
	kn_store *st;
	int64_t last;
	int n, depth, stop_at;
};

static int scan_cb(void *ctx, json_t *rec)
{
	struct scanctx *sc = ctx;
	int64_t id = json_integer_value(json_object_get(rec, "id"));
	if (id <= sc->last)
		return -100;
	sc->last = id;
	sc->n++;
	/* the callback uses the store: the same SQL is busy further up */
	json_t *again = NULL;
	kn_error err = {0};
	if (sc->st->ops->rec_get(sc->st, TICKET, id, NULL, &again, &err) != 0)
		return -101;
	bool eq = json_equal(again, rec);
	json_decref(again);
	if (!eq)
		return -102;
	if (sc->depth == 0 && sc->n == 2) {
		struct scanctx inner = {sc->st, 0, 0, 1, 0};
		int r = sc->st->ops->rec_scan(sc->st, TICKET, scan_cb, &inner, &err);
		if (r || inner.n != NROWS)
			return -103;
	}
	return sc->stop_at && sc->n == sc->stop_at ? 7 : 0;
}

TEST(store_scan)
{
	kn_store *st = list_store();
	kn_error err = {0};
	struct scanctx sc = {st, 0, 0, 0, 0};
	CHECK(st->ops->rec_scan(st, TICKET, scan_cb, &sc, &err) == 0);
	CHECK(sc.n == NROWS);
	struct scanctx stop = {st, 0, 0, 1, 5};
	CHECK(st->ops->rec_scan(st, TICKET, scan_cb, &stop, &err) == 7);
	CHECK(stop.n == 5);
	st->ops->close(st);
}

/* ---- comments and relations ----------------------------------------------------- */

TEST(store_comments)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t id = 0;
	const char *kinds[] = {"comment", "work_note", "comment", "work_note", "comment"};
	for (int i = 0; i < 5; i++) {
		char body[32];
		snprintf(body, sizeof body, "body %d", i);
		json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1,
				      "kind", kinds[i], "body", body, "author", "alice",
				      "created_at", "2026-01-01T00:00:00.000Z");
		CHECK(st->ops->comment_insert(st, c, &id, &err) == 0 && id == i + 1);
		json_decref(c);
	}
	json_t *other =
	    json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "type", "ticket", "rec_id", 2, "kind", "comment",
		      "body", "elsewhere", "author", "bob", "created_at", "x");
	CHECK(st->ops->comment_insert(st, other, &id, &err) == 0);
	json_object_del(other, "body");
	CHECK(st->ops->comment_insert(st, other, &id, &err) == KN_EINVAL);
	CHECK_STR(err.field, "body");
	json_decref(other);

	json_t *all = NULL, *pub = NULL;
	REQUIRE(st->ops->comment_list(st, "ticket", 1, true, &all, &err) == 0);
	REQUIRE(st->ops->comment_list(st, "ticket", 1, false, &pub, &err) == 0);
	CHECK(json_array_size(all) == 5);
	CHECK(json_array_size(pub) == 3);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *c = json_array_get(all, i);
		CHECK(json_integer_value(json_object_get(c, "id")) == (json_int_t)i + 1);
		CHECK_STR(json_string_value(json_object_get(c, "kind")), kinds[i]);
		CHECK_STR(json_string_value(json_object_get(c, "author")), "alice");
		CHECK(json_object_size(c) == 5);
	}
	for (size_t i = 0; i < json_array_size(pub); i++)
		CHECK_STR(json_string_value(json_object_get(json_array_get(pub, i), "kind")),
			  "comment");
	CHECK_STR(json_string_value(json_object_get(json_array_get(pub, 1), "body")), "body 2");
	json_decref(all);
	json_decref(pub);
	REQUIRE(st->ops->comment_list(st, "note", 1, true, &all, &err) == 0);
	CHECK(json_array_size(all) == 0);
	json_decref(all);
	st->ops->close(st);
}

TEST(store_attachments)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t id = 0;
	unsigned char big[70000];
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (unsigned char)(i * 7);
	big[0] = 0;
	json_t *a = json_pack("{s:s,s:i,s:s,s:s,s:i,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1,
			      "name", "日本語.bin", "ctype", "application/octet-stream", "size",
			      (int)sizeof big, "sha256", "00", "created_by", "alice", "created_at",
			      "2026-01-01T00:00:00.000Z");
	REQUIRE(st->ops->attach_insert(st, a, big, sizeof big, &id, &err) == 0 && id == 1);
	/* the size must be that of the data */
	CHECK(st->ops->attach_insert(st, a, big, 3, &id, &err) == KN_EINVAL);
	json_object_set_new(a, "size", json_integer(2));
	json_object_set_new(a, "name", json_string("b"));
	REQUIRE(st->ops->attach_insert(st, a, "\0\1", 2, &id, &err) == 0 && id == 2);
	json_object_set_new(a, "rec_id", json_integer(2));
	REQUIRE(st->ops->attach_insert(st, a, "\0\1", 2, &id, &err) == 0 && id == 3);
	json_object_del(a, "sha256");
	CHECK(st->ops->attach_insert(st, a, "\0\1", 2, &id, &err) == KN_EINVAL);
	CHECK_STR(err.field, "sha256");
	json_decref(a);

	json_t *items = NULL;
	REQUIRE(st->ops->attach_list(st, "ticket", 1, &items, &err) == 0);
	CHECK(json_array_size(items) == 2);
	json_t *first = json_array_get(items, 0);
	CHECK(json_object_size(first) == 7 && !json_object_get(first, "data"));
	CHECK_STR(json_string_value(json_object_get(first, "name")), "日本語.bin");
	CHECK(json_integer_value(json_object_get(first, "size")) == (json_int_t)sizeof big);

	json_t *meta = NULL;
	kn_buf b;
	kn_buf_init(&b, 0);
	REQUIRE(st->ops->attach_get(st, "ticket", 1, 1, &meta, &b, &err) == 0);
	CHECK(json_equal(meta, first));
	CHECK(b.len == sizeof big && memcmp(b.data, big, sizeof big) == 0);
	json_decref(meta);
	kn_buf_release(&b);
	/* another record's attachment, or none such */
	kn_buf_init(&b, 0);
	CHECK(st->ops->attach_get(st, "ticket", 1, 3, &meta, &b, &err) == KN_ENOTFOUND && !meta);
	CHECK(st->ops->attach_get(st, "note", 1, 1, &meta, &b, &err) == KN_ENOTFOUND && !meta);
	kn_buf_release(&b);
	/* bytes beyond the caller's cap */
	kn_buf_init(&b, 100);
	CHECK(st->ops->attach_get(st, "ticket", 1, 1, &meta, &b, &err) == KN_ETOOBIG && !meta);
	kn_buf_release(&b);
	json_decref(items);
	st->ops->close(st);
}

static json_t *rel(const char *ft, int fid, const char *kind, const char *tt, int tid)
{
	return json_pack("{s:s,s:i,s:s,s:s,s:i,s:s,s:s}", "from_type", ft, "from_id", fid, "kind",
			 kind, "to_type", tt, "to_id", tid, "created_by", "alice", "created_at",
			 "2026-01-01T00:00:00.000Z");
}

TEST(store_relations)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t a = 0, b = 0, c = 0;
	json_t *r1 = rel("ticket", 1, "caused_by", "ticket", 2);
	json_t *r2 = rel("ticket", 3, "relates_to", "ticket", 1);
	json_t *r3 = rel("ticket", 1, "relates_to", "note", 1);
	REQUIRE(st->ops->rel_insert(st, r1, &a, &err) == 0);
	REQUIRE(st->ops->rel_insert(st, r2, &b, &err) == 0);
	REQUIRE(st->ops->rel_insert(st, r3, &c, &err) == 0);
	CHECK(a == 1 && b == 2 && c == 3);
	CHECK(st->ops->rel_insert(st, r1, &a, &err) == KN_ECONFLICT);

	json_t *l = NULL;
	REQUIRE(st->ops->rel_list(st, "ticket", 1, &l, &err) == 0);
	CHECK(json_array_size(l) == 3);
	json_t *first = json_array_get(l, 0);
	CHECK(json_integer_value(json_object_get(first, "id")) == 1);
	CHECK_STR(json_string_value(json_object_get(first, "kind")), "caused_by");
	CHECK(json_integer_value(json_object_get(first, "to_id")) == 2);
	CHECK_STR(json_string_value(json_object_get(first, "created_by")), "alice");
	CHECK(json_object_size(first) == 8);
	json_decref(l);
	REQUIRE(st->ops->rel_list(st, "note", 1, &l, &err) == 0);
	CHECK(json_array_size(l) == 1);
	json_decref(l);
	REQUIRE(st->ops->rel_list(st, "ticket", 2, &l, &err) == 0);
	CHECK(json_array_size(l) == 1);
	json_decref(l);

	CHECK(st->ops->rel_delete(st, 1, &err) == 0);
	CHECK(st->ops->rel_delete(st, 1, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->rel_list(st, "ticket", 1, &l, &err) == 0);
	CHECK(json_array_size(l) == 2);
	json_decref(l);
	/* after deletion the same relation may be made again */
	CHECK(st->ops->rel_insert(st, r1, &a, &err) == 0);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	st->ops->close(st);
}

/* ---- journal -------------------------------------------------------------------- */

static void jentry(kn_jentry *e, int64_t seq, const char *type, int64_t rec, const char *action,
		   char *changes, char *reason, const char *prev)
{
	memset(e, 0, sizeof *e);
	e->seq = seq;
	snprintf(e->at, sizeof e->at, "2026-01-01T00:00:%02d.000Z", (int)seq);
	snprintf(e->actor, sizeof e->actor, "alice");
	snprintf(e->type, sizeof e->type, "%s", type);
	e->rec_id = rec;
	snprintf(e->action, sizeof e->action, "%s", action);
	e->changes = changes;
	e->reason = reason;
	snprintf(e->digest, sizeof e->digest, "%s", *type ? "d1" : "");
	snprintf(e->prev, sizeof e->prev, "%s", prev);
	char buf[64];
	snprintf(buf, sizeof buf, "%s-%lld", prev, (long long)seq);
	kn_sha256_hex(buf, strlen(buf), e->hash);
}

struct jscan {
	int n;
	int64_t last;
	char prev[65];
	bool ok;
	bool reasons; /* entry 2 has reason "because", the others none */
};

static int jscan_cb(void *ctx, const kn_jentry *e)
{
	struct jscan *j = ctx;
	if (e->seq != j->last + 1 || strcmp(e->prev, j->prev) != 0)
		j->ok = false;
	if (j->reasons && e->seq == 2 && (!e->reason || strcmp(e->reason, "because") != 0))
		j->ok = false;
	if ((!j->reasons || e->seq != 2) && e->reason)
		j->ok = false;
	if (!e->changes || e->changes[0] != '{')
		j->ok = false;
	j->last = e->seq;
	snprintf(j->prev, sizeof j->prev, "%s", e->hash);
	j->n++;
	return 0;
}

TEST(store_journal)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t seq = -1;
	char hash[65];
	REQUIRE(st->ops->journal_head(st, &seq, hash, &err) == 0);
	CHECK(seq == 0);
	CHECK(strlen(hash) == 64 && strspn(hash, "0") == 64);

	kn_jentry e;
	char prev[65];
	snprintf(prev, sizeof prev, "%s", hash);
	char ch1[] = "{\"title\":[null,\"a\"]}", ch2[] = "{\"state\":[\"new\",\"closed\"]}",
	     ch3[] = "{\"name\":\"bob\"}", reason[] = "because";
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	jentry(&e, 1, "ticket", 1, "create", ch1, NULL, prev);
	CHECK(st->ops->journal_insert(st, &e, &err) == 0);
	snprintf(prev, sizeof prev, "%s", e.hash);
	jentry(&e, 2, "ticket", 1, "transition", ch2, reason, prev);
	CHECK(st->ops->journal_insert(st, &e, &err) == 0);
	snprintf(prev, sizeof prev, "%s", e.hash);
	jentry(&e, 3, "", 0, "user.add", ch3, NULL, prev);
	CHECK(st->ops->journal_insert(st, &e, &err) == 0);
	REQUIRE(st->ops->commit(st, &err) == 0);
	/* a duplicate seq is refused */
	CHECK(st->ops->journal_insert(st, &e, &err) == KN_ECONFLICT);

	REQUIRE(st->ops->journal_head(st, &seq, hash, &err) == 0);
	CHECK(seq == 3);
	CHECK_STR(hash, e.hash);

	json_t *l = NULL;
	REQUIRE(st->ops->journal_list(st, "ticket", 1, &l, &err) == 0);
	REQUIRE(json_array_size(l) == 2);
	json_t *j0 = json_array_get(l, 0), *j1 = json_array_get(l, 1);
	CHECK(json_integer_value(json_object_get(j0, "seq")) == 1);
	CHECK_STR(json_string_value(json_object_get(j0, "action")), "create");
	CHECK_STR(json_string_value(json_object_get(j0, "actor")), "alice");
	CHECK(json_is_null(json_object_get(j0, "reason")));
	CHECK(json_is_object(json_object_get(j0, "changes")));
	CHECK_STR(json_string_value(
		      json_array_get(json_object_get(json_object_get(j0, "changes"), "title"), 1)),
		  "a");
	CHECK_STR(json_string_value(json_object_get(j1, "reason")), "because");
	CHECK_STR(json_string_value(json_object_get(j1, "at")), "2026-01-01T00:00:02.000Z");
	CHECK(json_object_size(j1) == 6);
	json_decref(l);
	REQUIRE(st->ops->journal_list(st, "ticket", 2, &l, &err) == 0);
	CHECK(json_array_size(l) == 0);
	json_decref(l);

	struct jscan js = {0, 0, "", true, true};
	memset(js.prev, '0', 64);
	CHECK(st->ops->journal_scan(st, jscan_cb, &js, &err) == 0);
	CHECK(js.n == 3 && js.ok);

	/* the journal is append-only even for SQL run behind the store's back */
	char *p = NULL;
	kn_store *st2 = fresh(&p);
	st2->ops->close(st2);
	CHECK(kn_test_exec(
		  p, "INSERT INTO journal VALUES(1,'a','b','',0,'x','{}',NULL,'','','')") == 0);
	CHECK(kn_test_exec(p, "UPDATE journal SET actor='eve'") != 0);
	CHECK(kn_test_exec(p, "DELETE FROM journal") != 0);
	if (kn_test_pg())
		CHECK(kn_test_exec(p, "TRUNCATE journal") != 0);
	CHECK(count_sql(p, "SELECT count(*) FROM journal WHERE actor='b'") == 1);
	free(p);
	st->ops->close(st);
}

/* ---- principals ------------------------------------------------------------------ */

TEST(store_users_tokens_sessions)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	kn_user u = {0}, got;
	snprintf(u.name, sizeof u.name, "alice");
	u.role = KN_ROLE_AGENT;
	snprintf(u.org, sizeof u.org, "acme");
	snprintf(u.pwhash, sizeof u.pwhash, "$argon2id$v=19$m=65536,t=2,p=1$xx$yy");
	REQUIRE(st->ops->user_insert(st, &u, &err) == 0);
	CHECK(u.id == 1);
	CHECK(st->ops->user_insert(st, &u, &err) == KN_ECONFLICT);
	kn_user v = {0};
	snprintf(v.name, sizeof v.name, "bob");
	v.role = KN_ROLE_ENDUSER;
	v.disabled = true;
	REQUIRE(st->ops->user_insert(st, &v, &err) == 0);
	kn_user bad = {0};
	snprintf(bad.name, sizeof bad.name, "carol");
	bad.role = 12345;
	CHECK(st->ops->user_insert(st, &bad, &err) == KN_EINVAL);

	REQUIRE(st->ops->user_get(st, "alice", 0, &got, &err) == 0);
	CHECK(got.id == u.id && got.role == KN_ROLE_AGENT && !got.disabled);
	CHECK_STR(got.org, "acme");
	CHECK_STR(got.pwhash, u.pwhash);
	REQUIRE(st->ops->user_get(st, NULL, v.id, &got, &err) == 0);
	CHECK_STR(got.name, "bob");
	CHECK(got.role == KN_ROLE_ENDUSER && got.disabled);
	CHECK_STR(got.org, "");
	CHECK_STR(got.pwhash, "");
	CHECK(st->ops->user_get(st, "nobody", 0, &got, &err) == KN_ENOTFOUND);
	CHECK(st->ops->user_get(st, NULL, 99, &got, &err) == KN_ENOTFOUND);

	REQUIRE(st->ops->user_set_login(st, u.id, 3, 1700000000000LL, &err) == 0);
	REQUIRE(st->ops->user_get(st, "alice", 0, &got, &err) == 0);
	CHECK(got.failures == 3 && got.locked_until == 1700000000000LL);
	CHECK(st->ops->user_set_login(st, 99, 0, 0, &err) == KN_ENOTFOUND);

	REQUIRE(st->ops->token_insert(st, u.id, "h1", "ci", "2026-01-01T00:00:00Z", &err) == 0);
	CHECK(st->ops->token_insert(st, u.id, "h1", "dup", "2026-01-01T00:00:00Z", &err) ==
	      KN_ECONFLICT);
	CHECK(st->ops->token_insert(st, 99, "h2", NULL, "2026-01-01T00:00:00Z", &err) ==
	      KN_ENOTFOUND);
	REQUIRE(st->ops->token_lookup(st, "h1", &got, &err) == 0);
	CHECK_STR(got.name, "alice");
	CHECK(st->ops->token_lookup(st, "h9", &got, &err) == KN_ENOTFOUND);

	char csrf[64];
	REQUIRE(st->ops->session_insert(st, "s1", v.id, "csrf-1", 5000, &err) == 0);
	CHECK(st->ops->session_insert(st, "s1", v.id, "csrf-x", 5000, &err) == KN_ECONFLICT);
	REQUIRE(st->ops->session_lookup(st, "s1", 4999, &got, csrf, &err) == 0);
	CHECK_STR(got.name, "bob");
	CHECK_STR(csrf, "csrf-1");
	CHECK(st->ops->session_lookup(st, "s1", 5000, &got, csrf, &err) == KN_ENOTFOUND);
	CHECK(st->ops->session_lookup(st, "s2", 0, &got, csrf, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->session_delete(st, "s1", &err) == 0);
	CHECK(st->ops->session_lookup(st, "s1", 0, &got, csrf, &err) == KN_ENOTFOUND);
	CHECK(st->ops->session_delete(st, "s1", &err) == 0);
	st->ops->close(st);
}

TEST(store_meta)
{
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	char *v = (char *)"x";
	REQUIRE(st->ops->meta_get(st, "schema_digest", &v, &err) == 0);
	CHECK(v == NULL);
	REQUIRE(st->ops->meta_set(st, "schema_digest", "abc", &err) == 0);
	REQUIRE(st->ops->meta_set(st, "schema_digest", "def", &err) == 0);
	REQUIRE(st->ops->meta_get(st, "schema_digest", &v, &err) == 0);
	CHECK(v && strcmp(v, "def") == 0);
	free(v);
	st->ops->close(st);
	/* durable across reopen */
	REQUIRE(kn_store_open(p, &st, &err) == 0);
	REQUIRE(st->ops->meta_get(st, "schema_digest", &v, &err) == 0);
	CHECK(v && strcmp(v, "def") == 0);
	free(v);
	st->ops->close(st);
	free(p);
}

/* ---- transactions ----------------------------------------------------------------- */

TEST(store_rollback)
{
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	int64_t n, id;
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0);
	CHECK(insert(st, TICKET, ticket(n)) > 0);
	json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1, "kind",
			      "comment", "body", "b", "author", "a", "created_at", "x");
	CHECK(st->ops->comment_insert(st, c, &id, &err) == 0);
	json_decref(c);
	json_t *r = rel("ticket", 1, "k", "ticket", 2);
	CHECK(st->ops->rel_insert(st, r, &id, &err) == 0);
	json_decref(r);
	kn_jentry e;
	char zero[65], ch[] = "{}";
	memset(zero, '0', 64);
	zero[64] = 0;
	jentry(&e, 1, "ticket", 1, "create", ch, NULL, zero);
	CHECK(st->ops->journal_insert(st, &e, &err) == 0);
	kn_user u = {0};
	snprintf(u.name, sizeof u.name, "alice");
	u.role = KN_ROLE_ADMIN;
	CHECK(st->ops->user_insert(st, &u, &err) == 0);
	CHECK(st->ops->meta_set(st, "k", "v", &err) == 0);
	/* visible inside the transaction */
	json_t *got = NULL;
	CHECK(st->ops->rec_get(st, TICKET, 0, "TK-000001", &got, &err) == 0);
	json_decref(got);
	st->ops->rollback(st);

	CHECK(st->ops->rec_get(st, TICKET, 0, "TK-000001", &got, &err) == KN_ENOTFOUND);
	const char *tables[] = {"rec_ticket", "counters", "comments", "relations",
				"journal",    "users",	  "meta"};
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char *q = kn_xasprintf("SELECT count(*) FROM %s", tables[i]);
		CHECK(count_sql(p, q) == 0);
		free(q);
	}
	/* and the store is usable afterwards */
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 1);
	CHECK(st->ops->commit(st, &err) == 0);
	st->ops->close(st);
	free(p);
}

/* Several threads, each with its own connection, writing concurrently:
 * numbers and journal sequence stay gap-free and unique. */
#define NTHREADS 6
#define PER_THREAD 20

struct wctx {
	kn_store *st;
	int errors;
};

static void *writer(void *arg)
{
	struct wctx *w = arg;
	kn_store *st = w->st;
	kn_error err = {0};
	for (int i = 0; i < PER_THREAD; i++) {
		int64_t n, seq, id;
		char head[65];
		if (st->ops->begin(st, true, &err) != 0) {
			w->errors++;
			continue;
		}
		int r = st->ops->rec_next_number(st, TICKET, &n, &err);
		if (!r) {
			json_t *rec = ticket(n);
			r = st->ops->rec_insert(st, TICKET, rec, &id, &err);
			json_decref(rec);
		}
		if (!r)
			r = st->ops->journal_head(st, &seq, head, &err);
		if (!r) {
			kn_jentry e;
			char ch[] = "{}";
			jentry(&e, seq + 1, "ticket", id, "create", ch, NULL, head);
			r = st->ops->journal_insert(st, &e, &err);
		}
		if (!r)
			r = st->ops->commit(st, &err);
		else
			st->ops->rollback(st);
		if (r)
			w->errors++;
		/* a read between writes, outside any transaction */
		json_t *got = NULL;
		if (!r && st->ops->rec_get(st, TICKET, id, NULL, &got, &err) != 0)
			w->errors++;
		json_decref(got);
	}
	return NULL;
}

TEST(store_threads)
{
	char *p;
	kn_store *st = fresh(&p);
	pthread_t th[NTHREADS];
	struct wctx w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct wctx){st, 0};
		REQUIRE(pthread_create(&th[i], NULL, writer, &w[i]) == 0);
	}
	int errors = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		errors += w[i].errors;
	}
	CHECK(errors == 0);
	const int total = NTHREADS * PER_THREAD;
	CHECK(count_sql(p, "SELECT count(*) FROM rec_ticket") == total);
	CHECK(count_sql(p, "SELECT count(DISTINCT number) FROM rec_ticket") == total);
	CHECK(count_sql(p, "SELECT max(CAST(substr(number, 4) AS INTEGER)) FROM rec_ticket") ==
	      total);
	CHECK(count_sql(p, "SELECT count(*) FROM journal") == total);
	CHECK(count_sql(p, "SELECT max(seq) FROM journal") == total);
	struct jscan js = {0, 0, "", true, false};
	memset(js.prev, '0', 64);
	kn_error err = {0};
	CHECK(st->ops->journal_scan(st, jscan_cb, &js, &err) == 0);
	CHECK(js.n == total && js.last == total && js.ok);
	st->ops->close(st);
	free(p);
}

/* A table of some size whose indexes have no planner statistics is
 * analysed by migrate. */
TEST(store_analyze)
{
	SQLITE_ONLY("about SQLite's planner statistics (sqlite_stat1)");
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	for (int i = 1; i <= 1200; i++) {
		char num[32];
		snprintf(num, sizeof num, "NT-%d", i);
		json_t *r = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s}", "number", num, "version", 1,
				      "state", "open", "created_at", "x", "updated_at", "x",
				      "created_by", "a", "updated_by", "a");
		if (insert(st, NOTE, r) <= 0) {
			CHECK(0);
			break;
		}
	}
	REQUIRE(st->ops->commit(st, &err) == 0);
	CHECK(count_sql(p, "SELECT count(*) FROM sqlite_master WHERE name='sqlite_stat1'") == 0);
	REQUIRE(st->ops->migrate(st, &schema_v1, &err) == 0);
	CHECK(count_sql(p, "SELECT count(*) FROM sqlite_stat1 WHERE tbl='rec_note'") == 1);
	CHECK(count_sql(p, "SELECT count(*) FROM sqlite_stat1 WHERE tbl='rec_ticket'") == 0);
	REQUIRE(st->ops->migrate(st, &schema_v1, &err) == 0);
	st->ops->close(st);
	free(p);
}

/* ---- savepoints ------------------------------------------------------------------- */

/* A unit inside a write transaction: undo throws away its work (its numbers
 * too), release keeps it; a failed statement inside one leaves the
 * transaction usable once undone (PostgreSQL would otherwise have aborted
 * the whole transaction). */
TEST(store_savepoints)
{
	char *p;
	kn_store *st = fresh(&p);
	kn_error err = {0};
	int64_t n = 0, id = 0;
	CHECK(st->ops->savepoint(st, &err) == KN_EINTERNAL); /* no transaction */
	REQUIRE(st->ops->begin(st, false, &err) == 0);
	CHECK(st->ops->savepoint(st, &err) == KN_EINTERNAL); /* a read transaction */
	st->ops->rollback(st);

	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 1);
	json_t *r = ticket(n);
	json_object_set_new(r, "code", json_string("K1"));
	CHECK(insert(st, TICKET, r) > 0);
	/* undone: the record and its number */
	REQUIRE(st->ops->savepoint(st, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 2);
	CHECK(insert(st, TICKET, ticket(n)) > 0);
	st->ops->undo(st);
	/* a conflict inside a unit, undone: the transaction goes on */
	REQUIRE(st->ops->savepoint(st, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 2);
	r = ticket(n);
	json_object_set_new(r, "code", json_string("K1"));
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == KN_ECONFLICT);
	json_decref(r);
	st->ops->undo(st);
	/* kept */
	REQUIRE(st->ops->savepoint(st, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 2);
	r = ticket(n);
	json_object_set_new(r, "code", json_string("K2"));
	CHECK(insert(st, TICKET, r) > 0);
	CHECK(st->ops->meta_set(st, "k", "v", &err) == 0);
	CHECK(st->ops->release(st, &err) == 0);
	REQUIRE(st->ops->commit(st, &err) == 0);

	CHECK(count_sql(p, "SELECT count(*) FROM rec_ticket") == 2);
	json_t *got = NULL;
	REQUIRE(st->ops->rec_get(st, TICKET, 0, "TK-000002", &got, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(got, "code")), "K2");
	json_decref(got);
	char *v = NULL;
	CHECK(st->ops->meta_get(st, "k", &v, &err) == 0 && v && strcmp(v, "v") == 0);
	free(v);
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 3);
	st->ops->rollback(st);
	st->ops->close(st);
	free(p);
}

/* ---- the same on both backends: text order, contains, cursors -------------------- */

/* The databases a backend-sensitive test runs on: the fixture's; on
 * PostgreSQL also databases whose own default locale is not C (ICU's root
 * locale, libc's C.utf8) when the server has them, since a production
 * database is seldom made with the C locale: the results must not depend
 * on it. *label: which one. NULL when there is no variant i. */
static char *variant_store(int i, const char **label)
{
	static const struct {
		const char *label, *opts;
	} v[] = {
	    {"C", NULL},
	    {"ICU und", "ENCODING 'UTF8' TEMPLATE template0 LOCALE 'C.utf8' LOCALE_PROVIDER icu"
			" ICU_LOCALE 'und'"},
	    {"C.utf8", "ENCODING 'UTF8' TEMPLATE template0 LOCALE 'C.utf8'"},
	};
	if (i == 0) {
		*label = kn_test_pg() ? "database locale C" : "sqlite";
		return kn_test_store();
	}
	if (!kn_test_pg() || i >= (int)(sizeof v / sizeof v[0]))
		return NULL;
	*label = v[i].label;
	char *dsn = kn_test_store_with(v[i].opts);
	return dsn ? dsn : kn_xstrdup(""); /* "": the server has no such locale */
}

/* A store (on dsn, which it takes) with a ticket per value of vals, its
 * title and its code (NULL: none), ids 1, 2, ... in this order. */
static kn_store *text_store(char *dsn, const char *const *vals, size_t n)
{
	kn_store *st = fresh_on(dsn, NULL);
	for (size_t i = 0; i < n; i++) {
		json_t *r = ticket((int64_t)i + 1);
		json_object_set_new(r, "title", vals[i] ? json_string(vals[i]) : json_null());
		json_object_set_new(r, "code", vals[i] ? json_string(vals[i]) : json_null());
		if (insert(st, TICKET, r) != (int64_t)i + 1)
			abort();
	}
	return st;
}

static const char *cmp_with; /* the value predicates below compare with */

static int title_cmp(const json_t *r)
{
	return strcmp(json_string_value(json_object_get(r, "title")), cmp_with);
}
static bool p_title_lt(const json_t *r)
{
	return json_is_string(json_object_get(r, "title")) && title_cmp(r) < 0;
}
static bool p_title_gt(const json_t *r)
{
	return json_is_string(json_object_get(r, "title")) && title_cmp(r) > 0;
}
static bool p_title_gte(const json_t *r)
{
	return json_is_string(json_object_get(r, "title")) && title_cmp(r) >= 0;
}

/* The position of the row with title t in ids (-1: none). */
static int pos_of(json_t *rows, const int64_t *ids, int n, const char *t)
{
	for (int k = 0; k < n; k++) {
		json_t *r = json_array_get(rows, (size_t)ids[k] - 1);
		const char *s = json_string_value(json_object_get(r, "title"));
		if (s && strcmp(s, t) == 0)
			return k;
	}
	return -1;
}

/* Text sorts and compares byte by byte (the C collation) on both backends,
 * whatever the database's own locale: "B" < "a" < "é" < "日本". */
TEST(store_text_order_bytes)
{
	static const char *const vals[] = {"é", "a",  "日本", "B",  NULL, "A", "b", "Z", "É",  "e",
					   "ä", "aa", "a b",  "Ab", NULL, "~", "0", "9", "ｚ", "z"};
	const size_t n = sizeof vals / sizeof vals[0];
	const char *label = NULL;
	char *dsn;
	for (int vi = 0; (dsn = variant_store(vi, &label)) != NULL; vi++) {
		if (!*dsn) {
			printf("  (no database with %s on this server)\n", label);
			free(dsn);
			continue;
		}
		int failed_before = kn_test_failed_now;
		kn_test_failed_now = 0;
		kn_store *st = text_store(dsn, vals, n);
		json_t *rows = all_rows(st);
		REQUIRE(json_array_size(rows) == n);
		int64_t got[NROWS + 8];
		kn_error err = {0};

		/* the order itself, both directions, NULLs last and first */
		kn_sort s[2] = {{"title", false}, {"id", false}};
		kn_query q = {.sorts = s, .nsorts = 2, .limit = 1000};
		int k = list_ids(st, &q, got, NROWS + 8, NULL);
		REQUIRE(k == (int)n);
		int pb = pos_of(rows, got, k, "B"), pa = pos_of(rows, got, k, "a"),
		    pe = pos_of(rows, got, k, "é"), pj = pos_of(rows, got, k, "日本");
		CHECK(pb >= 0 && pb < pa && pa < pe && pe < pj);
		CHECK(pos_of(rows, got, k, "Z") < pa);
		CHECK(pos_of(rows, got, k, "~") < pe);
		CHECK(pos_of(rows, got, k, "ｚ") > pj); /* U+FF5A: EF BD 9A, after E6 97 A5 */
		CHECK(json_is_null(
		    json_object_get(json_array_get(rows, (size_t)got[k - 1] - 1), "title")));
		s[0].desc = true;
		REQUIRE(list_ids(st, &q, got, NROWS + 8, NULL) == (int)n);
		CHECK(json_is_null(
		    json_object_get(json_array_get(rows, (size_t)got[0] - 1), "title")));
		CHECK(pos_of(rows, got, k, "日本") < pos_of(rows, got, k, "é"));
		for (int d = 0; d < 2; d++)
			for (int page = 1; page <= 3; page += 2) {
				kn_sort ss[2] = {{"title", d == 1}, {"id", false}};
				walk(st, rows, NULL, 0, NULL, ss, 2, page);
				kn_sort sk[2] = {{"code", d == 1}, {"id", false}};
				walk(st, rows, NULL, 0, NULL, sk, 2, page);
			}

		/* comparisons: the same byte order */
		static const struct {
			kn_op op;
			const char *v;
			bool (*pred)(const json_t *);
		} cmps[] = {{KN_OP_LT, "a", p_title_lt},   {KN_OP_GT, "a", p_title_gt},
			    {KN_OP_GTE, "é", p_title_gte}, {KN_OP_LT, "É", p_title_lt},
			    {KN_OP_GT, "Z", p_title_gt},   {KN_OP_GT, "日", p_title_gt}};
		for (size_t i = 0; i < sizeof cmps / sizeof cmps[0]; i++) {
			json_t *vv = json_pack("[s]", cmps[i].v);
			kn_cond c = {.attr = "title", .op = cmps[i].op, .values = vv};
			kn_sort byid = {"id", false};
			kn_query cq = {
			    .conds = &c, .nconds = 1, .sorts = &byid, .nsorts = 1, .limit = 1000};
			int64_t want[NROWS + 8];
			cmp_with = cmps[i].v;
			int m = expected(rows, cmps[i].pred, &byid, 1, want);
			int g = list_ids(st, &cq, got, NROWS + 8, NULL);
			if (g != m || !same(got, want, m)) {
				printf("  %s: title op %d \"%s\": %d rows, want %d\n", label,
				       (int)cmps[i].op, cmps[i].v, g, m);
				CHECK(0);
			}
			json_decref(vv);
		}

		/* equality is exact: no case or accent folding, in keys too */
		json_t *got1 = NULL;
		CHECK(st->ops->rec_get_key(st, TICKET, "é", &got1, &err) == 0);
		CHECK(got1 && strcmp(json_string_value(json_object_get(got1, "title")), "é") == 0);
		json_decref(got1);
		got1 = NULL;
		CHECK(st->ops->rec_get_key(st, TICKET, "É", &got1, &err) == 0);
		CHECK(got1 && strcmp(json_string_value(json_object_get(got1, "code")), "É") == 0);
		json_decref(got1);
		CHECK(st->ops->rec_get_key(st, TICKET, "E", &got1, &err) == KN_ENOTFOUND);
		json_t *vv = json_pack("[s,s]", "a", "é");
		kn_cond c = {.attr = "code", .op = KN_OP_IN, .values = vv};
		kn_sort byid = {"id", false};
		kn_query cq = {
		    .conds = &c, .nconds = 1, .sorts = &byid, .nsorts = 1, .limit = 1000};
		CHECK(list_ids(st, &cq, got, NROWS + 8, NULL) == 2);
		json_decref(vv);
		if (kn_test_failed_now)
			printf("  (the failures above: %s)\n", label);
		kn_test_failed_now |= failed_before;
		json_decref(rows);
		st->ops->close(st);
	}
}

static bool contains_ascii_ci(const char *hay, const char *needle)
{
	size_t h = strlen(hay), n = strlen(needle);
	for (size_t i = 0; i + n <= h; i++) {
		size_t j = 0;
		while (j < n) {
			unsigned char a = (unsigned char)hay[i + j], b = (unsigned char)needle[j];
			if (a >= 'A' && a <= 'Z')
				a = (unsigned char)(a + 32);
			if (b >= 'A' && b <= 'Z')
				b = (unsigned char)(b + 32);
			if (a != b)
				break;
			j++;
		}
		if (j == n)
			return true;
	}
	return false;
}

/* contains: case-insensitive for ASCII letters only, on both backends and
 * whatever the database's locale; no wildcards. */
TEST(store_contains_ascii_only)
{
	static const char *const vals[] = {
	    "PRINTER jam",	"printer", "Été",	"ÉTÉ", "été",	"straße", "STRASSE",
	    "日本語のプリンタ", NULL,	   "100% done", "a_b", "ǅemal", "ÀB"};
	static const char *const needles[] = {"printer", "PrInTeR", "été",	"ÉTÉ", "TÉ", "tÉ",
					      "SS",	 "ß",	    "プリンタ", "%",   "_",  "ǆ",
					      "ǅ",	 "àb",	    "Àb",	"ab"};
	const size_t n = sizeof vals / sizeof vals[0];
	const char *label = NULL;
	char *dsn;
	for (int vi = 0; (dsn = variant_store(vi, &label)) != NULL; vi++) {
		if (!*dsn) {
			printf("  (no database with %s on this server)\n", label);
			free(dsn);
			continue;
		}
		kn_store *st = text_store(dsn, vals, n);
		kn_sort byid = {"id", false};
		for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++) {
			json_t *vv = json_pack("[s]", needles[i]);
			kn_cond c = {.attr = "title", .op = KN_OP_CONTAINS, .values = vv};
			kn_query q = {.conds = &c,
				      .nconds = 1,
				      .sorts = &byid,
				      .nsorts = 1,
				      .limit = 1000,
				      .want_total = true};
			int64_t got[32], want[32], total = -1;
			int m = 0;
			for (size_t k = 0; k < n; k++)
				if (vals[k] && contains_ascii_ci(vals[k], needles[i]))
					want[m++] = (int64_t)k + 1;
			int g = list_ids(st, &q, got, 32, &total);
			if (g != m || !same(got, want, m) || total != m) {
				printf("  %s: contains \"%s\": %d rows (", label, needles[i], g);
				for (int k = 0; k < g && k < 32; k++)
					printf("%s%s", k ? ", " : "", vals[got[k] - 1]);
				printf("), want %d\n", m);
				CHECK(0);
			}
			json_decref(vv);
		}
		st->ops->close(st);
	}
}

/* A cursor whose value for an integer (or boolean) sort key is a string
 * that is no such value (a forged or damaged cursor) is refused with
 * KN_EINVAL, on both backends, and the store stays usable. */
TEST(store_cursor_type_mismatch)
{
	kn_store *st = list_store();
	kn_error err = {0};
	static const struct {
		const char *attr, *cursor;
	} bad[] = {
	    {"impact", "[\"abc\", 5]"}, {"impact", "[\"\", 5]"},       {"impact", "[\"2x\", 5]"},
	    {"impact", "[2, \"x\"]"},	{"id", "[\"1 OR 1=1\"]"},      {"urgent", "[\"maybe\", 5]"},
	    {"impact", "[[2], 5]"},	{"impact", "[{\"a\": 1}, 5]"}, {"impact", "[2.5, 5]"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		kn_sort s[2] = {{bad[i].attr, false}, {"id", false}};
		json_t *after = json_loads(bad[i].cursor, 0, NULL);
		REQUIRE(after);
		size_t ns = strcmp(bad[i].attr, "id") ? 2 : 1;
		kn_query q = {.sorts = s, .nsorts = ns, .after = after, .limit = 5};
		for (int tx = 0; tx < 2; tx++) {
			json_t *items = NULL;
			/* also inside a read transaction, which must stay usable */
			if (tx)
				REQUIRE(st->ops->begin(st, false, &err) == 0);
			memset(&err, 0, sizeof err);
			int rc = st->ops->rec_list(st, TICKET, &q, &items, NULL, &err);
			if (rc != KN_EINVAL) {
				printf("  %s after %s: %d (%s), %zu rows\n", bad[i].attr,
				       bad[i].cursor, rc, err.detail, json_array_size(items));
				CHECK(rc == KN_EINVAL);
			}
			CHECK(rc == 0 || items == NULL);
			json_decref(items);
			json_t *one = NULL;
			CHECK(st->ops->rec_get(st, TICKET, 1, NULL, &one, &err) == 0);
			json_decref(one);
			if (tx)
				CHECK(st->ops->commit(st, &err) == 0);
		}
		json_decref(after);
	}
	st->ops->close(st);
}

/* ---- sessions and jobs ------------------------------------------------------------ */

TEST(store_session_purge)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	kn_user u = {0}, got;
	char csrf[64];
	snprintf(u.name, sizeof u.name, "alice");
	u.role = KN_ROLE_AGENT;
	REQUIRE(st->ops->user_insert(st, &u, &err) == 0);
	REQUIRE(st->ops->session_insert(st, "s1", u.id, "c1", 1000, &err) == 0);
	REQUIRE(st->ops->session_insert(st, "s2", u.id, "c2", 2000, &err) == 0);
	REQUIRE(st->ops->session_insert(st, "s3", u.id, "c3", 3000, &err) == 0);
	int64_t n = -1;
	CHECK(st->ops->session_purge(st, 999, &n, &err) == 0 && n == 0);
	/* rolled back: nothing purged */
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->session_purge(st, 5000, &n, &err) == 0 && n == 3);
	st->ops->rollback(st);
	CHECK(st->ops->session_lookup(st, "s1", 0, &got, csrf, &err) == 0);
	/* expired at now: expires <= now */
	CHECK(st->ops->session_purge(st, 2000, &n, &err) == 0 && n == 2);
	CHECK(st->ops->session_lookup(st, "s1", 0, &got, csrf, &err) == KN_ENOTFOUND);
	CHECK(st->ops->session_lookup(st, "s2", 0, &got, csrf, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->session_lookup(st, "s3", 2500, &got, csrf, &err) == 0);
	CHECK_STR(csrf, "c3");
	CHECK_STR(got.name, "alice");
	CHECK(st->ops->session_purge(st, 2000, &n, &err) == 0 && n == 0);
	/* not inside a read transaction */
	REQUIRE(st->ops->begin(st, false, &err) == 0);
	CHECK(st->ops->session_purge(st, 9000, &n, &err) == KN_EINTERNAL);
	st->ops->rollback(st);
	CHECK(st->ops->session_lookup(st, "s3", 2500, &got, csrf, &err) == 0);
	st->ops->close(st);
}

static const kn_job *job_named(const kn_job *jobs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(jobs[i].name, name) == 0)
			return &jobs[i];
	return NULL;
}

/* The state of job name, into *out; false when it is not listed. */
static bool job_get(kn_store *st, const char *name, kn_job *out)
{
	kn_job *jobs = NULL;
	size_t n = 0;
	kn_error err = {0};
	if (st->ops->job_list(st, &jobs, &n, &err) != 0) {
		printf("  job_list: %s\n", err.detail);
		return false;
	}
	const kn_job *j = job_named(jobs, n, name);
	if (j)
		*out = *j;
	free(jobs);
	return j != NULL;
}

TEST(store_jobs)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	kn_job j;
	int64_t due = 0;
	REQUIRE(st->ops->job_ensure(st, "purge", 1000, &err) == 0);
	REQUIRE(st->ops->job_ensure(st, "purge", 5000, &err) == 0); /* exists: unchanged */
	REQUIRE(st->ops->job_ensure(st, "digest", 3000, &err) == 0);
	kn_job *jobs = NULL;
	size_t n = 0;
	REQUIRE(st->ops->job_list(st, &jobs, &n, &err) == 0);
	REQUIRE(n == 2);
	CHECK_STR(jobs[0].name, "digest"); /* by name */
	CHECK_STR(jobs[1].name, "purge");
	CHECK(jobs[1].due_at == 1000 && jobs[1].lease_until == 0 && jobs[1].runs == 0 &&
	      jobs[1].attempts == 0);
	CHECK_STR(jobs[1].owner, "");
	CHECK_STR(jobs[1].last_at, "");
	CHECK_STR(jobs[1].last_error, "");
	free(jobs);

	/* claimed only when due */
	CHECK(st->ops->job_claim(st, "purge", 999, 2000, "A", &due, &err) == KN_ENOTFOUND);
	CHECK(st->ops->job_claim(st, "nosuch", 9999, 20000, "A", &due, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->job_claim(st, "purge", 1000, 2000, "A", &due, &err) == 0);
	CHECK(due == 1000);
	REQUIRE(job_get(st, "purge", &j));
	CHECK(j.lease_until == 2000 && j.attempts == 1 && j.runs == 0);
	CHECK_STR(j.owner, "A");
	/* and not while held */
	CHECK(st->ops->job_claim(st, "purge", 1500, 2500, "B", &due, &err) == KN_ENOTFOUND);
	CHECK(st->ops->job_claim(st, "purge", 1999, 2500, "A", &due, &err) == KN_ENOTFOUND);
	/* finished only by its holder */
	CHECK(st->ops->job_finish(st, "purge", "B", 9000, 0, "t1", NULL, &err) == KN_ECONFLICT);
	CHECK(st->ops->job_finish(st, "nosuch", "A", 9000, 0, "t1", NULL, &err) == KN_ECONFLICT);
	REQUIRE(st->ops->job_finish(st, "purge", "A", 9000, 0, "t1", NULL, &err) == 0);
	REQUIRE(job_get(st, "purge", &j));
	CHECK(j.due_at == 9000 && j.lease_until == 0 && j.runs == 1 && j.attempts == 1);
	CHECK_STR(j.owner, "");
	CHECK_STR(j.last_at, "t1");
	CHECK_STR(j.last_error, "");
	/* a finished job is not held any more */
	CHECK(st->ops->job_finish(st, "purge", "A", 9000, 0, "t1", NULL, &err) == KN_ECONFLICT);

	/* a lease that runs out: another owner takes over, the first lost it */
	CHECK(st->ops->job_claim(st, "purge", 8999, 9500, "A", &due, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->job_claim(st, "purge", 9000, 9500, "A", &due, &err) == 0);
	CHECK(due == 9000);
	CHECK(st->ops->job_claim(st, "purge", 9499, 12000, "B", &due, &err) == KN_ENOTFOUND);
	REQUIRE(st->ops->job_claim(st, "purge", 9500, 12000, "B", &due, &err) == 0);
	CHECK(due == 9000);
	CHECK(st->ops->job_finish(st, "purge", "A", 20000, 0, "t2", NULL, &err) == KN_ECONFLICT);
	/* a failed run: the error is kept, the due time too (next_due < 0) */
	REQUIRE(st->ops->job_finish(st, "purge", "B", -1, 0, "t2", "boom", &err) == 0);
	REQUIRE(job_get(st, "purge", &j));
	CHECK(j.due_at == 9000 && j.lease_until == 0 && j.runs == 1 && j.attempts == 3);
	CHECK_STR(j.owner, "");
	CHECK_STR(j.last_at, "t2");
	CHECK_STR(j.last_error, "boom");
	/* finishing with a lease keeps holding it */
	REQUIRE(st->ops->job_claim(st, "purge", 9600, 10000, "C", &due, &err) == 0);
	REQUIRE(st->ops->job_finish(st, "purge", "C", 20000, 15000, "t3", NULL, &err) == 0);
	REQUIRE(job_get(st, "purge", &j));
	CHECK(j.due_at == 20000 && j.lease_until == 15000 && j.runs == 2);
	CHECK_STR(j.owner, "C");
	CHECK_STR(j.last_error, "");
	CHECK(st->ops->job_claim(st, "purge", 20000, 30000, "D", &due, &err) == 0); /* lease over */
	/* the other job was never touched */
	REQUIRE(job_get(st, "digest", &j));
	CHECK(j.due_at == 3000 && j.attempts == 0);
	/* a claim rolled back did not happen */
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->job_claim(st, "digest", 3000, 4000, "E", &due, &err) == 0);
	st->ops->rollback(st);
	REQUIRE(job_get(st, "digest", &j));
	CHECK(j.attempts == 0 && j.lease_until == 0);
	st->ops->close(st);
}

/* Several threads (connections) claim the same due job at once: one gets it. */
struct claimctx {
	kn_store *st;
	char owner[16];
	int rc;
};

static void *claimer(void *arg)
{
	struct claimctx *c = arg;
	kn_error err = {0};
	int64_t due = 0;
	c->rc = c->st->ops->job_claim(c->st, "race", 5000, 60000, c->owner, &due, &err);
	if (c->rc == 0 && due != 100)
		c->rc = -999;
	return NULL;
}

TEST(store_jobs_claim_race)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	REQUIRE(st->ops->job_ensure(st, "race", 100, &err) == 0);
	enum { N = 8 };
	pthread_t th[N];
	struct claimctx c[N];
	for (int i = 0; i < N; i++) {
		c[i] = (struct claimctx){st, "", -1};
		snprintf(c[i].owner, sizeof c[i].owner, "node%d", i);
		REQUIRE(pthread_create(&th[i], NULL, claimer, &c[i]) == 0);
	}
	int won = -1, wins = 0, others = 0;
	for (int i = 0; i < N; i++) {
		pthread_join(th[i], NULL);
		if (c[i].rc == 0)
			wins++, won = i;
		else if (c[i].rc != KN_ENOTFOUND)
			others++;
	}
	CHECK(wins == 1 && others == 0);
	kn_job j;
	REQUIRE(job_get(st, "race", &j));
	CHECK(won >= 0 && strcmp(j.owner, c[won].owner) == 0);
	CHECK(j.attempts == 1);
	st->ops->close(st);
}

/* ---- copies: table_scan, table_insert, rec_restore, load_done ------------------- */

static int collect_row(void *ctx, const json_t *row)
{
	json_array_append_new(ctx, json_deep_copy(row));
	return 0;
}

static int collect_rec(void *ctx, json_t *rec)
{
	json_array_append(ctx, rec);
	return 0;
}

/* Every row of system table t, or of record type ty, in key order. */
static json_t *table_rows(kn_store *st, const kn_systable *t, const kn_type *ty)
{
	json_t *a = json_array();
	kn_error err = {0};
	int r = t ? st->ops->table_scan(st, t, collect_row, a, &err)
		  : st->ops->rec_scan(st, ty, collect_rec, a, &err);
	if (r) {
		printf("  scan %s: %s\n", t ? t->name : ty->name, err.detail);
		json_decref(a);
		return NULL;
	}
	return a;
}

/* A store with something in every table, and ids with gaps. */
static void fill(kn_store *st)
{
	kn_error err = {0};
	int64_t n, id;
	if (st->ops->begin(st, true, &err) != 0)
		abort();
	for (int i = 0; i < 3; i++) {
		st->ops->rec_next_number(st, TICKET, &n, &err);
		json_t *r = ticket(n);
		json_object_set_new(r, "title", json_string(i ? "ünïcode" : "plain"));
		json_object_set_new(r, "impact", json_integer(i + 1));
		json_object_set_new(r, "urgent", json_boolean(i == 1));
		json_object_set_new(r, "code", json_string(i == 2 ? "K3" : i ? "K2" : "K1"));
		if (insert(st, TICKET, r) <= 0)
			abort();
	}
	/* a record with an id of its own: new ids continue after it */
	json_t *r = ticket(40);
	json_object_set_new(r, "id", json_integer(40));
	json_object_set_new(r, "body", json_string("restored\nbody"));
	if (st->ops->rec_restore(st, TICKET, r, &err) != 0) {
		printf("  rec_restore: %s\n", err.detail);
		abort();
	}
	json_decref(r);
	if (st->ops->load_done(st, &schema_v1, &err) != 0)
		abort();
	r = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s,s:s,s:s}", "number", "NT-1", "version", 1, "state",
		      "open", "created_at", "x", "updated_at", "x", "created_by", "a", "updated_by",
		      "a", "text", "note");
	if (insert(st, NOTE, r) <= 0)
		abort();
	kn_user u = {0};
	snprintf(u.name, sizeof u.name, "alice");
	u.role = KN_ROLE_ADMIN;
	snprintf(u.org, sizeof u.org, "acme");
	snprintf(u.pwhash, sizeof u.pwhash, "$argon2id$x");
	u.failures = 2;
	u.locked_until = 1700000000123LL;
	st->ops->user_insert(st, &u, &err);
	kn_user v = {0};
	snprintf(v.name, sizeof v.name, "bob");
	v.role = KN_ROLE_ENDUSER;
	v.disabled = true;
	st->ops->user_insert(st, &v, &err);
	st->ops->token_insert(st, u.id, "th1", "ci", "2026-01-01T00:00:00Z", &err);
	st->ops->token_insert(st, v.id, "th2", NULL, "2026-01-02T00:00:00Z", &err);
	st->ops->session_insert(st, "sh1", v.id, "csrf", 4102444800000LL, &err);
	json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1, "kind",
			      "work_note", "body", "b1", "author", "alice", "created_at", "x");
	st->ops->comment_insert(st, c, &id, &err);
	json_object_set_new(c, "body", json_string("b2 ü"));
	json_object_set_new(c, "kind", json_string("comment"));
	st->ops->comment_insert(st, c, &id, &err);
	json_decref(c);
	int64_t rid = 0;
	c = rel("ticket", 1, "caused_by", "ticket", 2);
	st->ops->rel_insert(st, c, &rid, &err);
	json_decref(c);
	c = rel("ticket", 1, "relates_to", "ticket", 3);
	st->ops->rel_insert(st, c, &id, &err);
	json_decref(c);
	st->ops->rel_delete(st, rid, &err); /* a gap: relation 1 is gone, 2 stays */
	static const unsigned char bytes[] = {0x00, 0xff, 'a', 0x00, 0x80, '\n'};
	c = json_pack("{s:s,s:i,s:s,s:s,s:i,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1, "name",
		      "報告.pdf", "ctype", "application/pdf", "size", (int)sizeof bytes, "sha256",
		      "ab", "created_by", "alice", "created_at", "x");
	st->ops->attach_insert(st, c, bytes, sizeof bytes, &id, &err);
	json_decref(c);
	kn_jentry e;
	char zero[65], ch[] = "{\"a\":1}", reason[] = "why";
	memset(zero, '0', 64);
	zero[64] = 0;
	jentry(&e, 1, "ticket", 1, "create", ch, NULL, zero);
	st->ops->journal_insert(st, &e, &err);
	char prev[65];
	snprintf(prev, sizeof prev, "%s", e.hash);
	jentry(&e, 2, "", 0, "user.add", ch, reason, prev);
	st->ops->journal_insert(st, &e, &err);
	st->ops->meta_set(st, "copied", "yes", &err);
	st->ops->job_ensure(st, "purge", 1000, &err);
	if (st->ops->commit(st, &err) != 0)
		abort();
	int64_t due;
	st->ops->job_claim(st, "purge", 1000, 2000, "A", &due, &err);
	st->ops->job_finish(st, "purge", "A", 5000, 0, "t1", "boom", &err);
}

/* Copy everything from src into the empty dst as kanri backup/restore do. */
static int copy_all(kn_store *src, kn_store *dst)
{
	kn_error err = {0};
	int r = dst->ops->begin(dst, true, &err);
	for (size_t i = 0; !r && i < kn_nsystables; i++) {
		json_t *rows = table_rows(src, &kn_systables[i], NULL);
		size_t k;
		json_t *row;
		if (!rows)
			r = -1;
		json_array_foreach(rows, k, row)
		{
			if (r)
				break;
			r = dst->ops->table_insert(dst, &kn_systables[i], row, &err);
			if (r)
				printf("  table_insert %s: %s\n", kn_systables[i].name, err.detail);
		}
		json_decref(rows);
	}
	for (size_t t = 0; !r && t < schema_v1.ntypes; t++) {
		json_t *recs = table_rows(src, NULL, &schema_v1.types[t]);
		size_t k;
		json_t *rec;
		if (!recs)
			r = -1;
		json_array_foreach(recs, k, rec)
		{
			if (r)
				break;
			r = dst->ops->rec_restore(dst, &schema_v1.types[t], rec, &err);
			if (r)
				printf("  rec_restore: %s\n", err.detail);
		}
		json_decref(recs);
	}
	if (!r && (r = dst->ops->load_done(dst, &schema_v1, &err)) != 0)
		printf("  load_done: %s\n", err.detail);
	if (r)
		dst->ops->rollback(dst);
	else
		r = dst->ops->commit(dst, &err);
	return r;
}

/* Every table of a and b holds the same rows. */
static bool same_content(kn_store *a, kn_store *b)
{
	bool ok = true;
	for (size_t i = 0; i < kn_nsystables + schema_v1.ntypes; i++) {
		const kn_systable *t = i < kn_nsystables ? &kn_systables[i] : NULL;
		const kn_type *ty = t ? NULL : &schema_v1.types[i - kn_nsystables];
		json_t *x = table_rows(a, t, ty), *y = table_rows(b, t, ty);
		if (!x || !y || !json_equal(x, y)) {
			char *sx = x ? json_dumps(x, JSON_COMPACT) : NULL;
			char *sy = y ? json_dumps(y, JSON_COMPACT) : NULL;
			printf("  %s differs:\n    %s\n    %s\n", t ? t->name : ty->name,
			       sx ? sx : "?", sy ? sy : "?");
			free(sx);
			free(sy);
			ok = false;
		}
		json_decref(x);
		json_decref(y);
	}
	return ok;
}

/* After the copy new rows continue after the copied ids and numbers. */
static void check_continues(kn_store *st)
{
	kn_error err = {0};
	int64_t n = 0, id = 0;
	REQUIRE(st->ops->begin(st, true, &err) == 0);
	CHECK(st->ops->rec_next_number(st, TICKET, &n, &err) == 0 && n == 4);
	json_t *r = ticket(n);
	CHECK(st->ops->rec_insert(st, TICKET, r, &id, &err) == 0 && id == 41);
	json_decref(r);
	kn_user u = {0};
	snprintf(u.name, sizeof u.name, "carol");
	u.role = KN_ROLE_AGENT;
	CHECK(st->ops->user_insert(st, &u, &err) == 0 && u.id == 3);
	json_t *c = json_pack("{s:s,s:i,s:s,s:s,s:s,s:s}", "type", "ticket", "rec_id", 1, "kind",
			      "comment", "body", "b3", "author", "carol", "created_at", "x");
	CHECK(st->ops->comment_insert(st, c, &id, &err) == 0 && id == 3);
	json_decref(c);
	c = rel("ticket", 2, "relates_to", "ticket", 3);
	CHECK(st->ops->rel_insert(st, c, &id, &err) == 0 && id == 3);
	json_decref(c);
	CHECK(st->ops->token_insert(st, u.id, "th3", "x", "2026-01-03T00:00:00Z", &err) == 0);
	c = json_pack("{s:s,s:i,s:s,s:s,s:i,s:s,s:s,s:s}", "type", "ticket", "rec_id", 2, "name",
		      "n.txt", "ctype", "text/plain", "size", 1, "sha256", "cd", "created_by",
		      "carol", "created_at", "x");
	CHECK(st->ops->attach_insert(st, c, "z", 1, &id, &err) == 0 && id == 2);
	json_decref(c);
	CHECK(st->ops->commit(st, &err) == 0);
}

TEST(store_copy_restore)
{
	kn_store *src = fresh(NULL), *dst = fresh(NULL);
	kn_error err = {0};
	fill(src);
	/* the source itself: rec_restore kept id 40, load_done moved on past it */
	json_t *recs = table_rows(src, NULL, TICKET);
	REQUIRE(recs && json_array_size(recs) == 4);
	CHECK(json_integer_value(json_object_get(json_array_get(recs, 3), "id")) == 40);
	CHECK_STR(json_string_value(json_object_get(json_array_get(recs, 3), "body")),
		  "restored\nbody");
	json_decref(recs);
	recs = table_rows(src, &kn_systables[0], NULL);
	CHECK(json_array_size(recs) == 2);
	json_decref(recs);

	REQUIRE(copy_all(src, dst) == 0);
	CHECK(same_content(src, dst));
	/* a table_insert of a row that is there: refused */
	json_t *rows = table_rows(src, &kn_systables[0], NULL);
	REQUIRE(rows && json_array_size(rows) > 0);
	CHECK(dst->ops->table_insert(dst, &kn_systables[0], json_array_get(rows, 0), &err) ==
	      KN_ECONFLICT);
	json_decref(rows);
	/* a record without its id cannot be restored */
	json_t *r = ticket(77);
	CHECK(dst->ops->rec_restore(dst, TICKET, r, &err) == KN_EINVAL);
	json_decref(r);
	check_continues(dst);
	check_continues(src);
	CHECK(same_content(src, dst));
	src->ops->close(src);
	dst->ops->close(dst);

	/* between the backends, as kanri migrate-store copies */
	if (kn_test_pg()) {
		char *d = kn_test_tmpdir();
		char *sq = kn_xasprintf("sqlite:%s/kanri.db", d);
		kn_store *lite = fresh_on(sq, NULL), *pg = fresh(NULL), *back = NULL;
		fill(lite);
		CHECK(copy_all(lite, pg) == 0);
		CHECK(same_content(lite, pg));
		char *sq2 = kn_xasprintf("sqlite:%s/back.db", d);
		back = fresh_on(sq2, NULL);
		CHECK(copy_all(pg, back) == 0);
		CHECK(same_content(pg, back));
		check_continues(pg);
		check_continues(back);
		CHECK(same_content(pg, back));
		lite->ops->close(lite);
		pg->ops->close(pg);
		back->ops->close(back);
		free(d);
	}
}

/* A deleted relation's id is not given to a later one: ids are never
 * reused (an unrelate retried by id must not remove another relation). */
TEST(store_relation_ids_not_reused)
{
	kn_store *st = fresh(NULL);
	kn_error err = {0};
	int64_t a = 0, b = 0, c = 0;
	json_t *r1 = rel("ticket", 1, "caused_by", "ticket", 2);
	json_t *r2 = rel("ticket", 1, "relates_to", "ticket", 3);
	json_t *r3 = rel("ticket", 1, "relates_to", "ticket", 4);
	REQUIRE(st->ops->rel_insert(st, r1, &a, &err) == 0);
	REQUIRE(st->ops->rel_insert(st, r2, &b, &err) == 0);
	REQUIRE(st->ops->rel_delete(st, b, &err) == 0); /* the newest */
	REQUIRE(st->ops->rel_insert(st, r3, &c, &err) == 0);
	if (c <= b)
		printf("  relation %lld deleted, the next one is %lld again\n", (long long)b,
		       (long long)c);
	CHECK(c > b);
	json_decref(r1);
	json_decref(r2);
	json_decref(r3);
	st->ops->close(st);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_record.c - the record engine end to end on a real data folder: its
 * database in the folder (SQLite), or a PostgreSQL database of its own when
 * KANRI_TEST_PG names a server (see test.h).
 */
#include "test.h"

#include <pthread.h>

#include "core/auth.h"
#include "core/record.h"

typedef struct fx {
	char *dir;
	char *dsn; /* the store: a PostgreSQL database, or the folder's kanri.db */
	kn_engine *e;
	const kn_type *inc;
	kn_user admin, agent, eve, mallory, audrey;
} fx;

static void mkuser(fx *f, const char *name, const char *role, const char *org, kn_user *out)
{
	kn_error err = {0};
	if (kn_user_add(f->e, "system", name, role, org, "correct horse", &err))
		printf("  user add %s: %s\n", name, err.detail);
	memset(out, 0, sizeof *out);
	f->e->store->ops->user_get(f->e->store, name, 0, out, &err);
}

static int setup(fx *f)
{
	kn_error err = {0};
	memset(f, 0, sizeof *f);
	char *base = kn_test_tmpdir();
	f->dir = kn_xasprintf("%s/data", base);
	free(base);
	/* SQLite: the engine's default, kanri.db in the folder */
	char *store = kn_test_pg() ? kn_test_store() : NULL;
	if (kn_test_pg() && !store)
		return -1;
	f->dsn = store ? store : kn_xasprintf("%s/kanri.db", f->dir);
	if (kn_engine_create(f->dir, store, false, NULL, &err) || kn_engine_open(f->dir, &f->e, &err)) {
		printf("  setup: %s\n", err.detail);
		return -1;
	}
	if (strcmp(f->e->store->ops->name, kn_test_backend()) != 0) {
		printf("  setup: the engine uses %s, not %s\n", f->e->store->ops->name,
		       kn_test_backend());
		return -1;
	}
	f->inc = kn_schema_type(f->e->schema, "incident");
	mkuser(f, "admin", "admin", NULL, &f->admin);
	mkuser(f, "alice", "agent", NULL, &f->agent);
	mkuser(f, "eve", "enduser", "acme", &f->eve);
	mkuser(f, "mallory", "enduser", "globex", &f->mallory);
	mkuser(f, "audrey", "auditor", NULL, &f->audrey);
	return 0;
}

static void teardown(fx *f)
{
	kn_engine_close(f->e);
	free(f->dir);
	free(f->dsn);
}

static json_t *create(fx *f, const kn_user *u, const char *json, int *rc, kn_error *err)
{
	json_t *body = json_loads(json, 0, NULL), *out = NULL;
	*rc = kn_rec_create(f->e, u, f->inc, body, &out, err);
	json_decref(body);
	return out;
}

static int64_t count(fx *f)
{
	json_t *out = NULL;
	kn_error err = {0};
	kn_param p[] = {{"limit", "1"}};
	if (kn_rec_list(f->e, NULL, f->inc, p, 1, &out, &err))
		return -1;
	int64_t n = json_integer_value(json_object_get(out, "total"));
	json_decref(out);
	return n;
}


TEST(record_create_numbers_priority)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	json_t *r = create(&f, &f.agent, "{\"title\":\"メールが送れない\",\"impact\":1,\"urgency\":2}",
			   &rc, &err);
	REQUIRE(rc == 0);
	CHECK_STR(json_string_value(json_object_get(r, "number")), "INC-000001");
	CHECK(json_integer_value(json_object_get(r, "priority")) == 2);
	CHECK_STR(json_string_value(json_object_get(r, "state")), "new");
	CHECK(json_integer_value(json_object_get(r, "version")) == 1);
	CHECK_STR(json_string_value(json_object_get(r, "created_by")), "alice");
	json_decref(r);
	r = create(&f, &f.agent, "{\"title\":\"second\"}", &rc, &err);
	REQUIRE(rc == 0);
	CHECK_STR(json_string_value(json_object_get(r, "number")), "INC-000002");
	CHECK(json_integer_value(json_object_get(r, "priority")) == 5); /* defaults 3/3 */
	json_decref(r);
	teardown(&f);
}

TEST(record_validation_writes_nothing)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	static const struct {
		const char *body, *field;
	} bad[] = {
		{"{\"impact\":1}", "title"},
		{"{\"title\":\"x\",\"impact\":4}", "impact"},
		{"{\"title\":\"x\",\"impact\":\"1\"}", "impact"},
		{"{\"title\":\"x\",\"category\":\"food\"}", "category"},
		{"{\"title\":\"x\",\"nosuch\":1}", "nosuch"},
		{"{\"title\":\"x\",\"priority\":1}", "priority"},
		{"{\"title\":\"x\",\"state\":\"closed\"}", "state"},
		{"{\"title\":\"x\",\"assignment_group\":\"ghosts\"}", "assignment_group"},
		{"{\"title\":\"x\",\"assignee\":\"nobody\"}", "assignee"},
		{"{\"title\":\"line1\\nline2\"}", "title"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		json_t *r = create(&f, &f.agent, bad[i].body, &rc, &err);
		CHECK(rc == KN_EVALID);
		CHECK(r == NULL);
		if (strcmp(err.field, bad[i].field) != 0)
			printf("  %s: field '%s' (%s)\n", bad[i].body, err.field, err.detail);
		CHECK_STR(err.field, bad[i].field);
	}
	char big[1024];
	memset(big, 'a', 201);
	strcpy(big + 201, "");
	char *body = kn_xasprintf("{\"title\":\"%s\"}", big);
	json_t *r = create(&f, &f.agent, body, &rc, &err);
	CHECK(rc == KN_EVALID && r == NULL);
	free(body);
	CHECK(count(&f) == 0);
	/* nothing numbered either: the next create is number 1 */
	r = create(&f, &f.agent, "{\"title\":\"ok\"}", &rc, &err);
	REQUIRE(rc == 0);
	CHECK_STR(json_string_value(json_object_get(r, "number")), "INC-000001");
	json_decref(r);
	teardown(&f);
}

TEST(record_update_conflict_and_transitions)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	json_t *r = create(&f, &f.agent, "{\"title\":\"VPN down\",\"impact\":2,\"urgency\":2}", &rc, &err);
	REQUIRE(rc == 0);
	json_decref(r);
	json_t *body = json_pack("{s:i,s:s}", "urgency", 1, "reason", "more users affected");
	json_t *out = NULL;
	CHECK(kn_rec_update(f.e, &f.agent, f.inc, "INC-000001", -1, body, &out, &err) == KN_EPRECOND);
	REQUIRE(kn_rec_update(f.e, &f.agent, f.inc, "INC-000001", 1, body, &out, &err) == 0);
	CHECK(json_integer_value(json_object_get(out, "version")) == 2);
	CHECK(json_integer_value(json_object_get(out, "priority")) == 2);
	json_decref(out);
	out = NULL;
	/* a stale version changes nothing */
	json_t *b2 = json_pack("{s:s}", "title", "lost update");
	CHECK(kn_rec_update(f.e, &f.agent, f.inc, "1", 1, b2, &out, &err) == KN_ECONFLICT);
	json_decref(b2);
	REQUIRE(kn_rec_get(f.e, &f.agent, f.inc, "1", &out, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(out, "title")), "VPN down");
	json_decref(out);
	json_decref(body);

	/* resolve needs a code and notes */
	json_t *t1 = json_pack("{s:s}", "to", "resolved");
	CHECK(kn_rec_transition(f.e, &f.agent, f.inc, "1", -1, t1, &out, &err) == KN_EVALID);
	CHECK_STR(err.field, "resolution_code");
	json_decref(t1);
	t1 = json_pack("{s:s}", "to", "closed");
	CHECK(kn_rec_transition(f.e, &f.agent, f.inc, "1", -1, t1, &out, &err) == KN_EVALID);
	json_decref(t1);
	t1 = json_pack("{s:s}", "to", "in_progress");
	CHECK(kn_rec_transition(f.e, &f.eve, f.inc, "1", -1, t1, &out, &err) != 0);
	REQUIRE(kn_rec_transition(f.e, &f.agent, f.inc, "1", -1, t1, &out, &err) == 0);
	json_decref(out);
	json_decref(t1);
	t1 = json_pack("{s:s,s:s,s:s}", "to", "resolved", "resolution_code", "fixed",
		       "resolution_notes", "restarted the concentrator");
	REQUIRE(kn_rec_transition(f.e, &f.agent, f.inc, "1", -1, t1, &out, &err) == 0);
	CHECK_STR(json_string_value(json_object_get(out, "state")), "resolved");
	CHECK(json_is_string(json_object_get(out, "resolved_at")));
	json_decref(out);
	json_decref(t1);

	REQUIRE(kn_rec_journal(f.e, &f.agent, f.inc, "1", &out, &err) == 0);
	json_t *items = json_object_get(out, "items");
	CHECK(json_array_size(items) == 4);
	CHECK_STR(json_string_value(json_object_get(json_array_get(items, 1), "reason")),
		  "more users affected");
	json_decref(out);
	CHECK(kn_audit_verify(f.e, NULL, &err) == 0);
	teardown(&f);
}

TEST(record_enduser_scope_and_auditor)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	json_t *r = create(&f, &f.eve, "{\"title\":\"printer\"}", &rc, &err);
	REQUIRE(rc == 0);
	CHECK_STR(json_string_value(json_object_get(r, "organisation")), "acme");
	json_decref(r);
	r = create(&f, &f.eve, "{\"title\":\"x\",\"organisation\":\"globex\"}", &rc, &err);
	CHECK(rc == KN_EFORBIDDEN && !r);
	r = create(&f, &f.mallory, "{\"title\":\"globex thing\"}", &rc, &err);
	REQUIRE(rc == 0);
	json_decref(r);
	json_t *out = NULL;
	CHECK(kn_rec_get(f.e, &f.eve, f.inc, "INC-000002", &out, &err) == KN_ENOTFOUND);
	kn_param p[] = {{"sort", "id"}};
	REQUIRE(kn_rec_list(f.e, &f.eve, f.inc, p, 1, &out, &err) == 0);
	CHECK(json_integer_value(json_object_get(out, "total")) == 1);
	json_decref(out);
	r = create(&f, &f.audrey, "{\"title\":\"x\"}", &rc, &err);
	CHECK(rc == KN_EFORBIDDEN && !r);
	REQUIRE(kn_rec_list(f.e, &f.audrey, f.inc, p, 1, &out, &err) == 0);
	CHECK(json_integer_value(json_object_get(out, "total")) == 2);
	json_decref(out);
	/* work notes stay with the agents */
	json_t *wn = json_pack("{s:s,s:s}", "kind", "work_note", "body", "suspect the driver");
	CHECK(kn_rec_comment(f.e, &f.eve, f.inc, "1", wn, &out, &err) == KN_EFORBIDDEN);
	REQUIRE(kn_rec_comment(f.e, &f.agent, f.inc, "1", wn, &out, &err) == 0);
	json_decref(out);
	json_decref(wn);
	REQUIRE(kn_rec_comments(f.e, &f.eve, f.inc, "1", &out, &err) == 0);
	CHECK(json_array_size(json_object_get(out, "items")) == 0);
	json_decref(out);
	REQUIRE(kn_rec_comments(f.e, &f.agent, f.inc, "1", &out, &err) == 0);
	CHECK(json_array_size(json_object_get(out, "items")) == 1);
	json_decref(out);
	teardown(&f);
}

TEST(record_list_paging)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	for (int i = 0; i < 23; i++) {
		char body[128];
		snprintf(body, sizeof body, "{\"title\":\"t%02d\",\"impact\":%d,\"urgency\":%d}", i,
			 i % 3 + 1, (i / 3) % 3 + 1);
		json_decref(create(&f, &f.agent, body, &rc, &err));
		REQUIRE(rc == 0);
	}
	int seen[24] = {0}, pages = 0, n = 0;
	int64_t last_pri = 0;
	char *cursor = NULL;
	do {
		kn_param p[3] = {{"sort", "-priority"}, {"limit", "5"}, {"cursor", cursor}};
		json_t *out = NULL;
		REQUIRE(kn_rec_list(f.e, &f.agent, f.inc, p, cursor ? 3 : 2, &out, &err) == 0);
		free(cursor);
		cursor = NULL;
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(out, "items"), i, it)
		{
			int64_t id = json_integer_value(json_object_get(it, "id"));
			int64_t pri = json_integer_value(json_object_get(it, "priority"));
			CHECK(id >= 1 && id <= 23 && !seen[id]);
			if (id >= 1 && id <= 23)
				seen[id] = 1;
			CHECK(!last_pri || pri <= last_pri);
			last_pri = pri;
			n++;
		}
		if (json_is_string(json_object_get(out, "next")))
			cursor = kn_xstrdup(json_string_value(json_object_get(out, "next")));
		json_decref(out);
		pages++;
	} while (cursor && pages < 10);
	CHECK(n == 23);
	CHECK(pages == 5);
	kn_param bad[] = {{"nosuch", "1"}};
	json_t *out = NULL;
	CHECK(kn_rec_list(f.e, &f.agent, f.inc, bad, 1, &out, &err) == KN_EINVAL);
	kn_param bad2[] = {{"impact[lt]", "x"}};
	CHECK(kn_rec_list(f.e, &f.agent, f.inc, bad2, 1, &out, &err) == KN_EINVAL);
	kn_param ok[] = {{"impact", "1"}, {"impact", "2"}, {"open", "true"}};
	REQUIRE(kn_rec_list(f.e, &f.agent, f.inc, ok, 3, &out, &err) == 0);
	CHECK(json_integer_value(json_object_get(out, "total")) == 16);
	json_decref(out);
	teardown(&f);
}

/* Run SQL on the fixture's database behind the engine's back. */
static int exec_sql(fx *f, const char *sql)
{
	return kn_test_exec(f->dsn, sql);
}

TEST(record_audit_detects_tampering)
{
	/* { SQLite, PostgreSQL (NULL: the same) } */
	static const char *const tamper[][2] = {
		{"UPDATE rec_incident SET title='edited behind kanri' WHERE id=1", NULL},
		/* the journal is append-only: someone with the database drops the guard first */
		{"DROP TRIGGER journal_no_update; UPDATE journal SET actor='mallory' WHERE seq=7",
		 "DROP TRIGGER journal_no_change ON journal;"
		 " UPDATE journal SET actor='mallory' WHERE seq=7"},
		{"DROP TRIGGER journal_no_delete; DELETE FROM journal WHERE seq=8",
		 "DROP TRIGGER journal_no_change ON journal; DELETE FROM journal WHERE seq=8"},
		{"DROP TRIGGER journal_no_delete; DELETE FROM journal WHERE seq=6",
		 "DROP TRIGGER journal_no_change ON journal; DELETE FROM journal WHERE seq=6"},
		{"DELETE FROM rec_incident WHERE id=2", NULL},
		{"UPDATE comments SET body='I never said that' WHERE id=1", NULL},
		{"DELETE FROM comments WHERE id=1", NULL},
		{"INSERT INTO comments(type,rec_id,kind,body,author,created_at) VALUES"
		 "('incident',1,'comment','forged','alice','x')",
		 NULL},
		{"UPDATE relations SET kind='blocks'", NULL},
		{"DELETE FROM relations", NULL},
		{"INSERT INTO rec_incident(number,version,state,created_at,updated_at,created_by,"
		 "updated_by,title,impact,urgency,priority) VALUES('INC-000099',1,'new','x','x','x',"
		 "'x','forged',1,1,1)",
		 NULL},
	};
	for (size_t i = 0; i < sizeof tamper / sizeof tamper[0]; i++) {
		const char *sql = kn_test_pg() && tamper[i][1] ? tamper[i][1] : tamper[i][0];
		fx f;
		REQUIRE(setup(&f) == 0);
		kn_error err = {0};
		int rc;
		json_decref(create(&f, &f.agent, "{\"title\":\"one\"}", &rc, &err));
		json_decref(create(&f, &f.agent, "{\"title\":\"two\"}", &rc, &err));
		json_decref(create(&f, &f.agent, "{\"title\":\"three\"}", &rc, &err));
		json_t *b = json_pack("{s:s}", "body", "on it"), *out = NULL;
		REQUIRE(kn_rec_comment(f.e, &f.agent, f.inc, "1", b, &out, &err) == 0);
		json_decref(out);
		json_decref(b);
		b = json_pack("{s:s,s:s}", "kind", "relates_to", "target", "incidents/INC-000002");
		REQUIRE(kn_rec_relate(f.e, &f.agent, f.inc, "1", b, &out, &err) == 0);
		json_decref(out);
		json_decref(b);
		REQUIRE(kn_audit_verify(f.e, NULL, &err) == 0);
		/* untouched, the guard holds */
		CHECK(exec_sql(&f, "DELETE FROM journal WHERE seq=8") != 0);
		CHECK(exec_sql(&f, "UPDATE journal SET actor='mallory' WHERE seq=7") != 0);
		REQUIRE(exec_sql(&f, sql) == 0);
		memset(&err, 0, sizeof err);
		CHECK(kn_audit_verify(f.e, NULL, &err) == KN_ECONFLICT);
		if (!err.detail[0])
			printf("  no detail for %s\n", sql);
		teardown(&f);
	}
}

TEST(record_login_throttle)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	kn_user u;
	char *sid = NULL, *csrf = NULL;
	for (int i = 0; i < 5; i++)
		CHECK(kn_login(f.e, "alice", "wrong password", &u, &sid, &csrf, &err) == KN_EAUTH);
	CHECK(kn_login(f.e, "alice", "correct horse", &u, &sid, &csrf, &err) == KN_ETHROTTLE);
	CHECK(kn_login(f.e, "nobody", "x", &u, &sid, &csrf, &err) == KN_EAUTH);
	REQUIRE(kn_login(f.e, "eve", "correct horse", &u, &sid, &csrf, &err) == 0);
	kn_user s;
	char c2[64];
	REQUIRE(kn_auth_session(f.e, sid, &s, c2, &err) == 0);
	CHECK_STR(s.name, "eve");
	CHECK_STR(c2, csrf);
	CHECK(kn_logout(f.e, sid, &err) == 0);
	CHECK(kn_auth_session(f.e, sid, &s, c2, &err) == KN_EAUTH);
	free(sid);
	free(csrf);
	char *tok = NULL;
	REQUIRE(kn_token_create(f.e, "system", "alice", "ci", &tok, &err) == 0);
	REQUIRE(kn_auth_token(f.e, tok, &s, &err) == 0);
	CHECK_STR(s.name, "alice");
	tok[5] ^= 1;
	CHECK(kn_auth_token(f.e, tok, &s, &err) == KN_EAUTH);
	free(tok);
	teardown(&f);
}

TEST(record_relations_and_comments_verify)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	json_decref(create(&f, &f.agent, "{\"title\":\"one\"}", &rc, &err));
	json_decref(create(&f, &f.agent, "{\"title\":\"two\"}", &rc, &err));
	json_t *b = json_pack("{s:s,s:s}", "kind", "caused_by", "target", "incidents/2"), *out = NULL;
	REQUIRE(kn_rec_relate(f.e, &f.agent, f.inc, "1", b, &out, &err) == 0);
	int64_t rid = json_integer_value(json_object_get(out, "id"));
	json_decref(out);
	CHECK(kn_rec_relate(f.e, &f.agent, f.inc, "1", b, &out, &err) == KN_ECONFLICT);
	json_decref(b);
	b = json_pack("{s:s,s:s}", "kind", "relates_to", "target", "incidents/1");
	CHECK(kn_rec_relate(f.e, &f.agent, f.inc, "1", b, &out, &err) == KN_EVALID); /* itself */
	json_decref(b);
	REQUIRE(kn_rec_relations(f.e, &f.agent, f.inc, "2", &out, &err) == 0);
	json_t *it = json_array_get(json_object_get(out, "items"), 0);
	CHECK_STR(json_string_value(json_object_get(it, "from")), "INC-000001");
	CHECK_STR(json_string_value(json_object_get(it, "to")), "INC-000002");
	json_decref(out);
	REQUIRE(kn_rec_unrelate(f.e, &f.agent, f.inc, "1", rid, &err) == 0);
	CHECK(kn_rec_unrelate(f.e, &f.agent, f.inc, "1", rid, &err) == KN_ENOTFOUND);
	CHECK(kn_audit_verify(f.e, NULL, &err) == 0);
	teardown(&f);
}

/* A list total read from the kept counts equals one counted row by row. */
static int64_t total_for(fx *f, const kn_user *u, kn_param *p, size_t np)
{
	json_t *out = NULL;
	kn_error err = {0};
	if (kn_rec_list(f->e, u, f->inc, p, np, &out, &err))
		return -1;
	int64_t n = json_integer_value(json_object_get(out, "total"));
	json_decref(out);
	return n;
}

static int64_t total_of(fx *f, kn_param *p, size_t np) { return total_for(f, NULL, p, np); }

TEST(record_kept_counts_follow_every_write)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	static const char *const groups[] = {"network", "desk", "apps"};
	for (int g = 0; g < 3; g++) {
		char *b = kn_xasprintf("{\"name\":\"%s\"}", groups[g]);
		json_t *body = json_loads(b, 0, NULL), *out = NULL;
		REQUIRE(kn_rec_create(f.e, &f.admin, kn_schema_type(f.e->schema, "group"), body, &out,
				      &err) == 0);
		json_decref(out);
		json_decref(body);
		free(b);
	}
	for (int i = 0; i < 30; i++) {
		char body[200];
		/* every fifth a security incident, which agents do not count */
		snprintf(body, sizeof body, "{\"title\":\"c%d\"%s%s%s%s}", i,
			 i % 4 ? ",\"assignment_group\":\"" : "", i % 4 ? groups[i % 3] : "",
			 i % 4 ? "\"" : "",
			 i % 5 == 0 ? ",\"category\":\"security\""
			 : i % 5 == 1 ? ",\"category\":\"network\"" : "");
		json_decref(create(&f, &f.agent, body, &rc, &err));
		REQUIRE(rc == 0);
	}
	/* move some: start, resolve, reassign, clear the group */
	for (int i = 1; i <= 30; i += 3) {
		char ref[16];
		snprintf(ref, sizeof ref, "%d", i);
		json_t *t1 = json_pack("{s:s}", "to", "in_progress"), *out = NULL;
		REQUIRE(kn_rec_transition(f.e, &f.admin, f.inc, ref, -1, t1, &out, &err) == 0);
		json_decref(out);
		json_decref(t1);
		json_t *p = i % 2 ? json_pack("{s:s}", "assignment_group", "apps")
				  : json_pack("{s:n}", "assignment_group");
		REQUIRE(kn_rec_update(f.e, &f.admin, f.inc, ref, 2, p, &out, &err) == 0);
		json_decref(out);
		json_decref(p);
		if (i % 5 == 0) {
			t1 = json_pack("{s:s,s:s,s:s}", "to", "resolved", "resolution_code", "fixed",
				       "resolution_notes", "ok");
			REQUIRE(kn_rec_transition(f.e, &f.admin, f.inc, ref, -1, t1, &out, &err) == 0);
			json_decref(out);
			json_decref(t1);
		}
	}
	const char *qs[][2] = {{"assignment_group", "network"}, {"assignment_group", "desk"},
			       {"assignment_group", "apps"},    {"assignment_group[null]", "true"},
			       {"state", "in_progress"},	     {"state[in]", "new,resolved"}};
	int64_t sum = 0;
	for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
		kn_param kept[] = {{qs[i][0], qs[i][1]}, {"open", "true"}};
		kn_param slow[] = {{qs[i][0], qs[i][1]}, {"open", "true"}, {"title[contains]", "c"}};
		int64_t a = total_of(&f, kept, 2), b = total_of(&f, slow, 3);
		if (a != b)
			printf("  %s=%s: kept %lld, counted %lld\n", qs[i][0], qs[i][1], (long long)a,
			       (long long)b);
		CHECK(a == b && a >= 0);
		if (i < 4)
			sum += a;
		/* an agent's totals exclude security incidents, from the kept counts too */
		int64_t c = total_for(&f, &f.agent, kept, 2), d = total_for(&f, &f.agent, slow, 3);
		if (c != d)
			printf("  agent %s=%s: kept %lld, counted %lld\n", qs[i][0], qs[i][1],
			       (long long)c, (long long)d);
		CHECK(c == d && c >= 0 && c <= a);
	}
	kn_param sec[] = {{"open", "true"}, {"category", "security"}};
	CHECK(total_for(&f, &f.agent, sec, 2) == 0);
	CHECK(total_of(&f, sec, 2) > 0);
	kn_param open[] = {{"open", "true"}};
	CHECK(sum == total_of(&f, open, 1));
	CHECK(total_of(&f, open, 1) > 0);
	teardown(&f);
}

/* Group commit: many threads writing at once, some of them stale. */
typedef struct wctx {
	fx *f;
	int n, ok, conflicts;
} wctx;

static void *writer_client(void *p)
{
	wctx *w = p;
	for (int i = 0; i < w->n; i++) {
		kn_error err = {0};
		json_t *body = json_pack("{s:s,s:i}", "title", "load", "impact", i % 3 + 1), *out = NULL;
		if (kn_rec_create(w->f->e, &w->f->agent, w->f->inc, body, &out, &err) == 0)
			w->ok++;
		json_decref(out);
		json_decref(body);
		/* every client updates record 1 claiming version 1: only one may win */
		body = json_pack("{s:s}", "description", "mine");
		out = NULL;
		int rc = kn_rec_update(w->f->e, &w->f->agent, w->f->inc, "1", 1, body, &out, &err);
		w->conflicts += rc == KN_ECONFLICT;
		json_decref(out);
		json_decref(body);
	}
	return NULL;
}

TEST(record_group_commit)
{
	fx f;
	REQUIRE(setup(&f) == 0);
	kn_error err = {0};
	int rc;
	json_decref(create(&f, &f.agent, "{\"title\":\"first\"}", &rc, &err));
	REQUIRE(rc == 0);
	REQUIRE(kn_engine_writer_start(f.e, &err) == 0);
	enum { NT = 6, PER = 15 };
	pthread_t th[NT];
	wctx w[NT];
	for (int i = 0; i < NT; i++) {
		w[i] = (wctx){&f, PER, 0, 0};
		pthread_create(&th[i], NULL, writer_client, &w[i]);
	}
	int ok = 0, conflicts = 0;
	for (int i = 0; i < NT; i++) {
		pthread_join(th[i], NULL);
		ok += w[i].ok;
		conflicts += w[i].conflicts;
	}
	CHECK(ok == NT * PER);
	CHECK(conflicts == NT * PER - 1); /* exactly one update of version 1 won */
	CHECK(count(&f) == NT * PER + 1);
	json_t *out = NULL;
	kn_param p[] = {{"sort", "-id"}, {"limit", "1"}};
	REQUIRE(kn_rec_list(f.e, NULL, f.inc, p, 2, &out, &err) == 0);
	char want[32];
	snprintf(want, sizeof want, "INC-%06d", NT * PER + 1); /* gap-free */
	CHECK_STR(json_string_value(json_object_get(json_array_get(json_object_get(out, "items"), 0),
						    "number")),
		  want);
	json_decref(out);
	CHECK(kn_audit_verify(f.e, NULL, &err) == 0);
	teardown(&f);
}

/* SPDX-License-Identifier: Apache-2.0 */
/* test_schema.c - declarations: embedded types, overlays, validation. */
#include "test.h"

#include <sys/stat.h>

#include "core/schema.h"

static void write_file(const char *dir, const char *name, const char *text)
{
	char *p = kn_xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	free(p);
}

TEST(schema_embedded_incident)
{
	kn_proc_register_all();
	kn_schema *s;
	kn_error err = {0};
	REQUIRE(kn_schema_load(&s, NULL, &err) == 0);
	const kn_type *t = kn_schema_type(s, "incident");
	REQUIRE(t);
	CHECK(kn_schema_type_plural(s, "incidents") == t);
	CHECK_STR(t->number_prefix, "INC-");
	CHECK(t->number_width == 6);
	const kn_field *f = kn_type_field(t, "priority");
	REQUIRE(f);
	CHECK(f->readonly && f->verb);
	CHECK(kn_type_field(t, "title")->required);
	CHECK_STR(kn_type_initial(t)->name, "new");
	const kn_transition *tr = kn_type_transition(t, "in_progress", "resolved");
	REQUIRE(tr);
	CHECK(tr->nrequires == 2);
	CHECK(kn_type_transition(t, "new", "closed") == NULL);
	CHECK(t->can_read & KN_ROLE_AUDITOR);
	CHECK(!(t->can_update & KN_ROLE_AUDITOR));
	CHECK(kn_type_state(t, "closed")->final);
	CHECK(s->digest && strlen(s->digest) == 64);
	kn_schema_free(s);
}

TEST(schema_priority_matrix_default)
{
	kn_proc_register_all();
	kn_schema *s;
	kn_error err = {0};
	REQUIRE(kn_schema_load(&s, NULL, &err) == 0);
	const kn_field *f = kn_type_field(kn_schema_type(s, "incident"), "priority");
	static const int want[3][3] = {{1, 2, 3}, {2, 3, 4}, {3, 4, 5}};
	for (int i = 1; i <= 3; i++)
		for (int u = 1; u <= 3; u++) {
			json_t *rec = json_pack("{s:i,s:i}", "impact", i, "urgency", u);
			json_t *v = kn_verb_find(f->verb)(f, rec, &err);
			CHECK(json_integer_value(v) == want[i - 1][u - 1]);
			json_decref(v);
			json_decref(rec);
		}
	kn_schema_free(s);
}

TEST(schema_overlay_adds_and_adjusts)
{
	kn_proc_register_all();
	char *d = kn_test_tmpdir();
	write_file(d, "10-vendor.json",
		   "{\"type\":\"incident\",\"fields\":[{\"name\":\"x_vendor\",\"kind\":\"text\","
		   "\"max\":40,\"label\":{\"ja\":\"ベンダー\",\"en\":\"Vendor\"}},"
		   "{\"name\":\"priority\",\"computed\":{\"config\":{\"matrix\":"
		   "[[1,1,2],[1,2,3],[2,3,4]]}}}]}");
	kn_schema *s;
	kn_error err = {0};
	REQUIRE(kn_schema_load(&s, d, &err) == 0);
	const kn_type *t = kn_schema_type(s, "incident");
	const kn_field *f = kn_type_field(t, "x_vendor");
	REQUIRE(f);
	CHECK(f->custom && f->max == 40 && f->kind == KN_TEXT);
	CHECK_STR(f->label_ja, "ベンダー");
	const kn_field *p = kn_type_field(t, "priority");
	CHECK_STR(p->verb, "priority_matrix"); /* kept from the base */
	json_t *rec = json_pack("{s:i,s:i}", "impact", 1, "urgency", 2);
	json_t *v = kn_verb_find(p->verb)(p, rec, &err);
	CHECK(json_integer_value(v) == 1);
	json_decref(v);
	json_decref(rec);
	kn_schema_free(s);
	free(d);
}

static void expect_bad(const char *overlay, const char *needle)
{
	kn_proc_register_all();
	char *d = kn_test_tmpdir();
	write_file(d, "bad.json", overlay);
	kn_schema *s = NULL;
	kn_error err = {0};
	int rc = kn_schema_load(&s, d, &err);
	CHECK(rc != 0);
	if (rc == 0)
		kn_schema_free(s);
	else if (!strstr(err.detail, needle)) {
		printf("  detail was: %s\n", err.detail);
		CHECK(!"detail names the problem");
	}
	free(d);
}

TEST(schema_overlay_rejects_bad)
{
	expect_bad("{\"type\":\"incident\",\"fields\":[{\"name\":\"Bad Name\",\"kind\":\"text\"}]}",
		   "Bad Name");
	expect_bad("{\"type\":\"incident\",\"fields\":[{\"name\":\"x\",\"kind\":\"blob\"}]}",
		   "blob");
	expect_bad("{\"type\":\"incident\",\"fields\":[{\"name\":\"state\",\"kind\":\"text\"}]}",
		   "reserved");
	expect_bad("{\"type\":\"incident\",\"fields\":[{\"name\":\"x\",\"kind\":\"ref\",\"ref\":\"nothing\"}]}",
		   "nothing");
	expect_bad("{\"type\":\"incident\",\"fields\":[{\"name\":\"priority\",\"computed\":"
		   "{\"config\":{\"matrix\":[[1,2],[3]]}}}]}",
		   "matrix");
	expect_bad("{\"type\":\"incident\",\"states\":[]}", "states");
	expect_bad("{\"type\":\"incident\", \"fields\": [", "line");
	expect_bad("{\"type\":\"change\",\"plural\":\"changes\",\"number\":\"CHG\",\"fields\":[],"
		   "\"states\":[{\"name\":\"new\"}]}",
		   "number");
}

TEST(schema_overlay_new_type)
{
	kn_proc_register_all();
	char *d = kn_test_tmpdir();
	write_file(d, "site.json",
		   "{\"type\":\"visit\",\"plural\":\"visits\",\"number\":\"VIS-{5}\","
		   "\"fields\":[{\"name\":\"site\",\"kind\":\"text\",\"required\":true}],"
		   "\"states\":[{\"name\":\"planned\",\"initial\":true},{\"name\":\"done\",\"final\":true}],"
		   "\"transitions\":[{\"name\":\"finish\",\"from\":[\"planned\"],\"to\":\"done\","
		   "\"roles\":[\"agent\"]}],\"access\":{\"read\":[\"agent\"],\"create\":[\"agent\"]}}");
	kn_schema *s;
	kn_error err = {0};
	REQUIRE(kn_schema_load(&s, d, &err) == 0);
	const kn_type *t = kn_schema_type_plural(s, "visits");
	REQUIRE(t);
	CHECK(t->number_width == 5);
	CHECK(t->can_create & KN_ROLE_ADMIN); /* admin always may */
	kn_schema_free(s);
	free(d);
}

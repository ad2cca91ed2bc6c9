/* SPDX-License-Identifier: Apache-2.0 */
/* test_rules.c - business days of timer rules, and rule conditions. */
#include "test.h"

#include "core/rules.h"

static int64_t at(const char *iso)
{
	int64_t ms = 0;
	kn_parse_datetime(iso, &ms);
	return ms;
}

static void iso(int64_t ms, char *out, size_t n) { kn_format_datetime(ms, out, n); }

TEST(rules_business_days_weekends_and_holidays)
{
	kn_engine e;
	memset(&e, 0, sizeof e);
	e.config = json_pack("{s:[s,s]}", "holidays", "2026-11-23", "2026-12-31");
	char out[40];
	/* Friday 2026-11-20 15:30 JST + 1 business day = Tuesday (Mon 23rd is a holiday) */
	iso(kn_business_days_add(&e, at("2026-11-20T15:30:00+09:00"), 1), out, sizeof out);
	CHECK_STR(out, "2026-11-24T06:30:00Z");
	/* Wednesday + 3 = Monday */
	iso(kn_business_days_add(&e, at("2026-11-25T10:00:00+09:00"), 3), out, sizeof out);
	CHECK_STR(out, "2026-11-30T01:00:00Z");
	/* backwards: Tuesday 24th - 1 = Friday 20th */
	iso(kn_business_days_add(&e, at("2026-11-24T09:00:00+09:00"), -1), out, sizeof out);
	CHECK_STR(out, "2026-11-20T00:00:00Z");
	/* the day is the local one: Friday 16:00 UTC is Saturday in Japan, so
	 * one business day later is Monday 01:00 there */
	iso(kn_business_days_add(&e, at("2026-11-27T16:00:00Z"), 1), out, sizeof out);
	CHECK_STR(out, "2026-11-29T16:00:00Z");
	/* a resolution on a Saturday: three business days later is Wednesday */
	iso(kn_business_days_add(&e, at("2026-12-05T12:00:00+09:00"), 3), out, sizeof out);
	CHECK_STR(out, "2026-12-09T03:00:00Z");
	/* in UTC the same instant is still Friday: Monday 16:00 UTC */
	json_object_set_new(e.config, "utc_offset_minutes", json_integer(0));
	iso(kn_business_days_add(&e, at("2026-11-27T16:00:00Z"), 1), out, sizeof out);
	CHECK_STR(out, "2026-11-30T16:00:00Z");
	/* zero days: the same instant */
	CHECK(kn_business_days_add(&e, at("2026-11-29T23:30:00Z"), 0) == at("2026-11-29T23:30:00Z"));
	json_decref(e.config);
}

TEST(rules_match_values)
{
	json_t *one = json_integer(1), *list = json_pack("[s,n]", "new", NULL);
	kn_match m = {.attr = "priority", .values = one};
	json_t *v1 = json_integer(1), *v2 = json_integer(2), *s = json_string("new"),
	       *empty = json_string("");
	CHECK(kn_match_value(&m, v1));
	CHECK(!kn_match_value(&m, v2));
	CHECK(!kn_match_value(&m, NULL));
	m.values = list;
	CHECK(kn_match_value(&m, s));
	CHECK(kn_match_value(&m, NULL));  /* null in the list: a missing value */
	CHECK(kn_match_value(&m, empty)); /* and an empty one */
	CHECK(!kn_match_value(&m, v1));
	json_decref(one), json_decref(list), json_decref(v1), json_decref(v2);
	json_decref(s), json_decref(empty);
}

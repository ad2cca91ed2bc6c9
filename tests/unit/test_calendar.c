/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_calendar.c - time zones (TZif files and their footer rules, fixed
 * offsets), business calendars (hours, holidays, exceptions, zone offset
 * changes), Japanese public holidays and durations.
 *
 * Expected instants come from the official holiday lists and from glibc /
 * zdump for the zone rules, never from the code under test.
 */
#include "test.h"

#include "core/calendar.h"

#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

static int64_t at(const char *iso)
{
	int64_t ms = 0;
	if (kn_parse_datetime(iso, &ms))
		printf("  bad instant in test: %s\n", iso);
	return ms;
}

/* An instant formatted in z (a ring of buffers: several per expression). */
static const char *fmt(const kn_tz *z, int64_t ms)
{
	static char ring[8][48];
	static int k;
	char *b = ring[k++ % 8];
	kn_tz_format(z, ms, b, 48);
	return b;
}

static kn_calendar *cal(const char *json)
{
	json_error_t je;
	json_t *d = json_loads(json, 0, &je);
	if (!d) {
		printf("  bad JSON in test: %s: %s\n", json, je.text);
		return NULL;
	}
	kn_calendar *c = NULL;
	kn_error err = {0};
	if (kn_calendar_new(d, &c, &err))
		printf("  calendar refused: %s: %s\n", err.field, err.detail);
	json_decref(d);
	return c;
}

/* The error kn_calendar_new gives json (code 0 when it accepts it). */
static kn_error cal_err(const char *json)
{
	kn_error err = {0};
	json_t *d = json_loads(json, 0, NULL);
	kn_calendar *c = NULL;
	if (!d) {
		err.code = 99;
		return err;
	}
	kn_calendar_new(d, &c, &err);
	kn_calendar_free(c);
	json_decref(d);
	return err;
}

static bool refused(const char *json, const char *field, const char *part)
{
	kn_error e = cal_err(json);
	if (e.code == KN_EVALID && !strcmp(e.field, field) && strstr(e.detail, part))
		return true;
	printf("  %s: got %d '%s' '%s', want '%s' ~ '%s'\n", json, e.code, e.field, e.detail, field,
	       part);
	return false;
}

static int64_t dur(const char *s)
{
	int64_t ms = -1;
	kn_error err = {0};
	if (kn_duration_parse(s, &ms, &err))
		printf("  bad duration in test: %s: %s\n", s, err.detail);
	return ms;
}

/* kn_calendar_add(from + d) formatted in the calendar's zone is want. */
static bool add_is(const kn_calendar *c, const char *from, const char *d, const char *want)
{
	int64_t due = 0;
	kn_error err = {0};
	if (kn_calendar_add(c, at(from), dur(d), &due, &err)) {
		printf("  add %s + %s: %s\n", from, d, err.detail);
		return false;
	}
	const char *got = fmt(kn_calendar_tz(c), due);
	if (strcmp(got, want)) {
		printf("  add %s + %s = %s, want %s\n", from, d, got, want);
		return false;
	}
	return true;
}

/* kn_calendar_between(a, b) is want ("2h30m"). */
static bool between_is(const kn_calendar *c, const char *a, const char *b, const char *want)
{
	char got[32];
	kn_duration_format(kn_calendar_between(c, at(a), at(b)), got, sizeof got);
	if (strcmp(got, want)) {
		printf("  between %s and %s = %s, want %s\n", a, b, got, want);
		return false;
	}
	return true;
}

static bool offset_is(const kn_tz *z, const char *iso, int want)
{
	int got = kn_tz_offset(z, at(iso) / 1000);
	if (got != want)
		printf("  %s at %s: offset %d, want %d\n", kn_tz_name(z), iso, got, want);
	return got == want;
}

static kn_tz *zone(const char *name)
{
	kn_tz *z = NULL;
	kn_error err = {0};
	if (kn_tz_load(name, &z, &err))
		printf("  zone %s: %s\n", name, err.detail);
	return z;
}

#define WEEKDAYS(h) "\"mon\": " h ", \"tue\": " h ", \"wed\": " h ", \"thu\": " h ", \"fri\": " h
#define EVERY_DAY(h) WEEKDAYS(h) ", \"sat\": " h ", \"sun\": " h

static const char JP_OFFICE[] = "{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"jp\", "
				"\"hours\": {" WEEKDAYS("[\"09:00-18:00\"]") "}}";

/* ---- a TZif file writer, for zones the system does not have ------------------- */

static void put32(FILE *f, uint32_t v)
{
	unsigned char b[4] = {v >> 24, v >> 16, v >> 8, v};
	fwrite(b, 1, 4, f);
}

static void put64(FILE *f, int64_t v)
{
	put32(f, (uint32_t)((uint64_t)v >> 32));
	put32(f, (uint32_t)v);
}

/* Write dir/name as TZif version ver ('\0', '2', '3', '4') with the given
 * types (offsets), transitions and footer (ignored for version 1). */
static void write_tzif(const char *dir, const char *name, char ver, const int32_t *offs, int ntypes,
		       const int64_t *times, const unsigned char *idx, int n, const char *footer)
{
	char *path = kn_xasprintf("%s/%s", dir, name);
	char *slash = strrchr(path, '/');
	*slash = 0;
	mkdir(path, 0755);
	*slash = '/';
	FILE *f = fopen(path, "wb");
	free(path);
	if (!f)
		return;
	for (int pass = 0; pass < (ver ? 2 : 1); pass++) {
		fwrite("TZif", 1, 4, f);
		fputc(ver, f);
		for (int i = 0; i < 15; i++)
			fputc(0, f);
		put32(f, 0), put32(f, 0), put32(f, 0); /* isut, isstd, leap */
		put32(f, (uint32_t)n), put32(f, (uint32_t)ntypes), put32(f, 2);
		for (int i = 0; i < n; i++) {
			if (pass)
				put64(f, times[i]);
			else
				put32(f, (uint32_t)(int32_t)times[i]);
		}
		if (n)
			fwrite(idx, 1, (size_t)n, f);
		for (int i = 0; i < ntypes; i++) {
			put32(f, (uint32_t)offs[i]);
			fputc(i > 0, f);
			fputc(0, f);
		}
		fwrite("X", 1, 2, f);
	}
	if (ver)
		fprintf(f, "\n%s\n", footer);
	fclose(f);
}

/* A slim file: no transitions, the footer's rule for all time. */
static void write_slim(const char *dir, const char *name, int32_t std, const char *footer)
{
	write_tzif(dir, name, '2', &std, 1, NULL, NULL, 0, footer);
}

/* Point TZDIR at dir (NULL: back to the system's). */
static void use_tzdir(const char *dir)
{
	if (dir)
		setenv("TZDIR", dir, 1);
	else
		unsetenv("TZDIR");
}

/* ---- time zones ------------------------------------------------------------- */

TEST(tz_zoneinfo_present)
{
	struct stat st;
	CHECK(stat("/usr/share/zoneinfo/Asia/Tokyo", &st) == 0);
	CHECK(stat("/usr/share/zoneinfo/America/New_York", &st) == 0);
}

TEST(tz_utc_and_fixed_offsets)
{
	const char *names[][2] = {{"UTC", "UTC"},      {"Etc/UTC", "Etc/UTC"}, {"+09:00", "+09:00"},
				  {"+0900", "+09:00"}, {"-05:30", "-05:30"},   {"+05", "+05:00"}};
	const int offs[] = {0, 0, 9 * 3600, 9 * 3600, -(5 * 3600 + 1800), 5 * 3600};
	for (int i = 0; i < 6; i++) {
		kn_tz *z = zone(names[i][0]);
		REQUIRE(z);
		CHECK_STR(kn_tz_name(z), names[i][1]);
		CHECK(kn_tz_offset(z, 0) == offs[i]);
		CHECK(kn_tz_offset(z, 4102444800) == offs[i]);
		kn_tz_free(z);
	}
	kn_tz *z = zone("-05:30");
	REQUIRE(z);
	CHECK_STR(fmt(z, at("2026-11-20T06:30:00Z")), "2026-11-20T01:00:00-05:30");
	CHECK(kn_tz_utc(z, at("2026-11-20T01:00:00Z") / 1000) * 1000 == at("2026-11-20T06:30:00Z"));
	kn_tz_free(z);
	z = zone("UTC");
	REQUIRE(z);
	CHECK_STR(fmt(z, at("2026-11-20T06:30:00.999Z")), "2026-11-20T06:30:00+00:00");
	CHECK_STR(fmt(z, -1), "1969-12-31T23:59:59+00:00");
	kn_tz_free(z);
}

TEST(tz_unknown_and_bad_names)
{
	const char *bad[] = {"Foo/Bar",	       "../etc/passwd",
			     "/etc/localtime", "Asia//Tokyo",
			     "Asia/Tokyo/",    "Asia/../Asia/Tokyo",
			     "Asia/Tokyo ",    "",
			     "zone.tab",       "America",
			     "+25:00",	       "+9",
			     "09:00",	       "Asia/.Tokyo",
			     "Asia\\Tokyo",    "+09:60"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		kn_tz *z = (kn_tz *)1;
		kn_error err = {0};
		int rc = kn_tz_load(bad[i], &z, &err);
		if (rc != KN_EVALID || z || strcmp(err.field, "time_zone"))
			printf("  '%s' accepted or wrong error: %d %s\n", bad[i], rc, err.detail);
		CHECK(rc == KN_EVALID && z == NULL);
		CHECK_STR(err.field, "time_zone");
	}
	kn_tz *z;
	kn_error err = {0};
	CHECK(kn_tz_load("Foo/Bar", &z, &err) == KN_EVALID);
	CHECK_STR(err.detail, "unknown time zone 'Foo/Bar'");
	CHECK(kn_tz_load("Asia\n/Tokyo", &z, &err) == KN_EVALID);
	CHECK(strchr(err.detail, '\n') == NULL);
}

TEST(tz_new_york_2026)
{
	kn_tz *z = zone("America/New_York");
	REQUIRE(z);
	CHECK_STR(kn_tz_name(z), "America/New_York");
	CHECK(offset_is(z, "2026-03-08T06:59:59Z", -5 * 3600));
	CHECK(offset_is(z, "2026-03-08T07:00:00Z", -4 * 3600));
	CHECK(offset_is(z, "2026-11-01T05:59:59Z", -4 * 3600));
	CHECK(offset_is(z, "2026-11-01T06:00:00Z", -5 * 3600));
	CHECK_STR(fmt(z, at("2026-07-04T16:00:00Z")), "2026-07-04T12:00:00-04:00");
	/* a wall time in the spring gap maps to the jump; a repeated one to
	 * its first occurrence */
	CHECK(kn_tz_utc(z, at("2026-03-08T02:30:00Z") / 1000) * 1000 == at("2026-03-08T07:00:00Z"));
	CHECK(kn_tz_utc(z, at("2026-03-08T01:59:59Z") / 1000) * 1000 == at("2026-03-08T06:59:59Z"));
	CHECK(kn_tz_utc(z, at("2026-03-08T03:00:00Z") / 1000) * 1000 == at("2026-03-08T07:00:00Z"));
	CHECK(kn_tz_utc(z, at("2026-11-01T01:30:00Z") / 1000) * 1000 == at("2026-11-01T05:30:00Z"));
	CHECK(kn_tz_utc(z, at("2026-11-01T00:59:59Z") / 1000) * 1000 == at("2026-11-01T04:59:59Z"));
	CHECK(kn_tz_utc(z, at("2026-11-01T02:00:00Z") / 1000) * 1000 == at("2026-11-01T07:00:00Z"));
	/* the repeated hour formats with the offset of each occurrence */
	CHECK_STR(fmt(z, at("2026-11-01T05:30:00Z")), "2026-11-01T01:30:00-04:00");
	CHECK_STR(fmt(z, at("2026-11-01T06:30:00Z")), "2026-11-01T01:30:00-05:00");
	/* the interval kn_tz_period gives holds the offset */
	int64_t s, e;
	CHECK(kn_tz_period(z, at("2026-07-01T00:00:00Z") / 1000, &s, &e) == -4 * 3600);
	CHECK(s == at("2026-03-08T07:00:00Z") / 1000 && e == at("2026-11-01T06:00:00Z") / 1000);
	/* LMT before the first transition: -4:56:02 */
	CHECK(offset_is(z, "1850-01-01T00:00:00Z", -(4 * 3600 + 56 * 60 + 2)));
	CHECK_STR(fmt(z, at("1850-01-01T00:00:00Z")), "1849-12-31T19:03:58-04:56:02");
	kn_tz_free(z);
}

TEST(tz_footer_far_future)
{
	/* zdump / Python zoneinfo: 2060-03-14T07:00Z and 2060-11-07T06:00Z,
	 * 2260-03-11T07:00Z and 2260-11-04T06:00Z */
	kn_tz *z = zone("America/New_York");
	REQUIRE(z);
	CHECK(offset_is(z, "2060-03-14T06:59:59Z", -5 * 3600));
	CHECK(offset_is(z, "2060-03-14T07:00:00Z", -4 * 3600));
	CHECK(offset_is(z, "2060-11-07T05:59:59Z", -4 * 3600));
	CHECK(offset_is(z, "2060-11-07T06:00:00Z", -5 * 3600));
	CHECK(offset_is(z, "2260-03-11T06:59:59Z", -5 * 3600));
	CHECK(offset_is(z, "2260-03-11T07:00:00Z", -4 * 3600));
	CHECK(offset_is(z, "2260-11-04T06:00:00Z", -5 * 3600));
	CHECK(kn_tz_utc(z, at("2060-03-14T02:30:00Z") / 1000) * 1000 == at("2060-03-14T07:00:00Z"));
	CHECK(kn_tz_utc(z, at("2060-11-07T01:30:00Z") / 1000) * 1000 == at("2060-11-07T05:30:00Z"));
	CHECK_STR(fmt(z, at("2060-07-01T16:00:00Z")), "2060-07-01T12:00:00-04:00");
	kn_tz_free(z);
	z = zone("Europe/London");
	REQUIRE(z);
	CHECK(offset_is(z, "2026-03-29T00:59:59Z", 0));
	CHECK(offset_is(z, "2026-03-29T01:00:00Z", 3600));
	CHECK(offset_is(z, "2026-10-25T00:59:59Z", 3600));
	CHECK(offset_is(z, "2026-10-25T01:00:00Z", 0));
	CHECK(offset_is(z, "2099-07-01T00:00:00Z", 3600));
	/* east of Greenwich the solutions lie before the wall time */
	CHECK(kn_tz_utc(z, at("2026-03-29T01:30:00Z") / 1000) * 1000 == at("2026-03-29T01:00:00Z"));
	CHECK(kn_tz_utc(z, at("2026-03-29T02:00:00Z") / 1000) * 1000 == at("2026-03-29T01:00:00Z"));
	CHECK(kn_tz_utc(z, at("2026-10-25T01:30:00Z") / 1000) * 1000 == at("2026-10-25T00:30:00Z"));
	CHECK(kn_tz_utc(z, at("2026-10-25T02:00:00Z") / 1000) * 1000 == at("2026-10-25T02:00:00Z"));
	kn_tz_free(z);
	z = zone("Australia/Sydney");
	REQUIRE(z);
	CHECK(offset_is(z, "2026-01-15T00:00:00Z", 11 * 3600));
	CHECK(offset_is(z, "2026-04-04T16:00:00Z", 10 * 3600));
	CHECK(offset_is(z, "2070-01-15T00:00:00Z", 11 * 3600));
	CHECK(offset_is(z, "2070-07-15T00:00:00Z", 10 * 3600));
	CHECK(kn_tz_utc(z, at("2026-04-05T02:30:00Z") / 1000) * 1000 == at("2026-04-04T15:30:00Z"));
	CHECK(kn_tz_utc(z, at("2026-10-04T02:30:00Z") / 1000) * 1000 == at("2026-10-03T16:00:00Z"));
	kn_tz_free(z);
	z = zone("Asia/Tokyo");
	REQUIRE(z);
	CHECK(offset_is(z, "2026-11-20T00:00:00Z", 9 * 3600));
	CHECK(offset_is(z, "2999-01-01T00:00:00Z", 9 * 3600));
	kn_tz_free(z);
}

/* Footer rules on slim files, against glibc's reading of the same TZ
 * strings (TZ=... date), and RFC 8536's "DST all year". */
TEST(tz_posix_footer_rules)
{
	static const struct {
		const char *rule, *at;
		int off;
	} cases[] = {
	    {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T06:59:59Z", -18000},
	    {"EST5EDT,M3.2.0,M11.1.0", "2026-03-08T07:00:00Z", -14400},
	    {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T05:59:59Z", -14400},
	    {"EST5EDT,M3.2.0,M11.1.0", "2026-11-01T06:00:00Z", -18000},
	    {"EST5EDT,M3.2.0,M11.1.0", "1900-07-01T00:00:00Z", -14400},
	    {"<+0330>-3:30", "2026-06-01T00:00:00Z", 12600},
	    {"GMT0BST,M3.5.0/1,M10.5.0", "2026-03-29T00:59:59Z", 0},
	    {"GMT0BST,M3.5.0/1,M10.5.0", "2026-03-29T01:00:00Z", 3600},
	    {"GMT0BST,M3.5.0/1,M10.5.0", "2026-10-25T00:59:59Z", 3600},
	    {"GMT0BST,M3.5.0/1,M10.5.0", "2026-10-25T01:00:00Z", 0},
	    /* Israel: Thursday of the 4th week at 26:00 is Friday 02:00 */
	    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-26T23:59:59Z", 7200},
	    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-03-27T00:00:00Z", 10800},
	    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-10-24T22:59:59Z", 10800},
	    {"IST-2IDT,M3.4.4/26,M10.5.0", "2026-10-24T23:00:00Z", 7200},
	    /* Greenland: negative times of day */
	    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-03-29T00:59:59Z", -7200},
	    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-03-29T01:00:00Z", -3600},
	    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-10-25T00:59:59Z", -3600},
	    {"<-02>2<-01>,M3.5.0/-1,M10.5.0/0", "2026-10-25T01:00:00Z", -7200},
	    /* the southern hemisphere: DST across the new year */
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-01-15T00:00:00Z", 39600},
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T15:59:59Z", 39600},
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-04-04T16:00:00Z", 36000},
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T15:59:59Z", 36000},
	    {"AEST-10AEDT,M10.1.0,M4.1.0/3", "2026-10-03T16:00:00Z", 39600},
	    /* Jn never counts Feb 29: J60 is Mar 1 */
	    {"XXX3YYY,J60/2,J300/2", "2026-03-01T04:59:59Z", -10800},
	    {"XXX3YYY,J60/2,J300/2", "2026-03-01T05:00:00Z", -7200},
	    {"XXX3YYY,J60/2,J300/2", "2026-10-27T03:59:59Z", -7200},
	    {"XXX3YYY,J60/2,J300/2", "2026-10-27T04:00:00Z", -10800},
	    {"XXX3YYY,J60/2,J300/2", "2028-02-29T05:00:00Z", -10800},
	    {"XXX3YYY,J60/2,J300/2", "2028-10-27T03:59:59Z", -7200},
	    {"XXX3YYY,J60/2,J300/2", "2028-10-27T04:00:00Z", -10800},
	    /* n counts from 0 and does count Feb 29 */
	    {"XXX3YYY,59,299", "2026-03-01T04:59:59Z", -10800},
	    {"XXX3YYY,59,299", "2026-03-01T05:00:00Z", -7200},
	    {"XXX3YYY,59,299", "2028-02-29T04:59:59Z", -10800},
	    {"XXX3YYY,59,299", "2028-02-29T05:00:00Z", -7200},
	    {"XXX3YYY,59,299", "2026-10-27T03:59:59Z", -7200},
	    {"XXX3YYY,59,299", "2026-10-27T04:00:00Z", -10800},
	    {"XXX3YYY,59,299", "2028-10-26T03:59:59Z", -7200},
	    {"XXX3YYY,59,299", "2028-10-26T04:00:00Z", -10800},
	    /* RFC 8536 3.3.1: DST all year */
	    {"EST5EDT,0/0,J365/25", "2026-01-01T04:59:59Z", -14400},
	    {"EST5EDT,0/0,J365/25", "2026-01-01T05:00:00Z", -14400},
	    {"EST5EDT,0/0,J365/25", "2026-07-01T00:00:00Z", -14400},
	    {"EST5EDT,0/0,J365/25", "2028-12-31T23:00:00Z", -14400},
	    /* no rule given: the United States' */
	    {"EST5EDT", "2026-03-08T07:00:00Z", -14400},
	    {"EST5EDT", "2026-11-01T06:00:00Z", -18000},
	    {"<+13>-13", "2026-06-01T00:00:00Z", 46800},
	};
	char *dir = kn_test_tmpdir();
	use_tzdir(dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char name[32];
		snprintf(name, sizeof name, "Test/Z%zu", i);
		write_slim(dir, name, 0, cases[i].rule);
		kn_tz *z = zone(name);
		CHECK(z != NULL);
		if (!z)
			continue;
		if (!offset_is(z, cases[i].at, cases[i].off))
			printf("  (rule %s)\n", cases[i].rule);
		CHECK(kn_tz_offset(z, at(cases[i].at) / 1000) == cases[i].off);
		kn_tz_free(z);
	}
	/* bad footers: a corrupt file, not an unknown zone */
	const char *bad[] = {"EST", "EST5EDT,M3.2.0",  "EST5EDT,M13.1.0,M11.1.0",
			     "E5",  "EST5EDT,J0,J100", "EST5EDT,M3.2.0/200,M11.1.0",
			     "<+03"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		write_slim(dir, "Test/Bad", 0, bad[i]);
		kn_tz *z = NULL;
		kn_error err = {0};
		CHECK(kn_tz_load("Test/Bad", &z, &err) == KN_EVALID && !z);
		if (!strstr(err.detail, "footer"))
			printf("  footer '%s': %s\n", bad[i], err.detail);
		CHECK(strstr(err.detail, "footer") != NULL);
	}
	use_tzdir(NULL);
	free(dir);
}

/* Versions 1 to 4, transitions then the footer, corrupt files. */
TEST(tz_tzif_versions)
{
	char *dir = kn_test_tmpdir();
	use_tzdir(dir);
	const int32_t offs[] = {-18000, -14400};
	const int64_t t[] = {at("2026-03-08T07:00:00Z") / 1000, at("2026-11-01T06:00:00Z") / 1000};
	const unsigned char idx[] = {1, 0};
	/* version 1: no footer, the last type holds for ever */
	write_tzif(dir, "V/One", 0, offs, 2, t, idx, 2, NULL);
	kn_tz *z = zone("V/One");
	REQUIRE(z);
	CHECK(offset_is(z, "2026-01-01T00:00:00Z", -18000));
	CHECK(offset_is(z, "2026-07-01T00:00:00Z", -14400));
	CHECK(offset_is(z, "2027-07-01T00:00:00Z", -18000));
	kn_tz_free(z);
	/* versions 2 to 4: the table, then the footer past its end */
	for (char v = '2'; v <= '4'; v++) {
		write_tzif(dir, "V/Two", v, offs, 2, t, idx, 2, "EST5EDT,M3.2.0,M11.1.0");
		z = zone("V/Two");
		REQUIRE(z);
		CHECK(offset_is(z, "2025-07-01T00:00:00Z", -18000)); /* before: type 0 */
		CHECK(offset_is(z, "2026-07-01T00:00:00Z", -14400));
		CHECK(offset_is(z, "2026-12-01T00:00:00Z", -18000));
		CHECK(offset_is(z, "2027-03-14T06:59:59Z", -18000));
		CHECK(offset_is(z, "2027-03-14T07:00:00Z", -14400));
		kn_tz_free(z);
	}
	/* an empty footer: the last type past the table */
	write_tzif(dir, "V/Empty", '2', offs, 2, t, idx, 2, "");
	z = zone("V/Empty");
	REQUIRE(z);
	CHECK(offset_is(z, "2030-07-01T00:00:00Z", -18000));
	kn_tz_free(z);
	/* not TZif: unknown; TZif but cut short: corrupt */
	char *text = kn_xasprintf("%s/V/Text", dir);
	FILE *f = fopen(text, "w");
	free(text);
	if (f) {
		fputs("hello, world\n", f);
		fclose(f);
	}
	kn_error err = {0};
	CHECK(kn_tz_load("V/Text", &z, &err) == KN_EVALID);
	CHECK_STR(err.detail, "unknown time zone 'V/Text'");
	char *path = kn_xasprintf("%s/V/Two", dir);
	CHECK(truncate(path, 60) == 0);
	free(path);
	CHECK(kn_tz_load("V/Two", &z, &err) == KN_EVALID);
	CHECK(strstr(err.detail, "corrupt") != NULL);
	use_tzdir(NULL);
	free(dir);
}

/* ---- Japanese public holidays ---------------------------------------------------- */

/* The holidays of year y are want ("MM-DD 名前"), in order. */
static bool jp_year_is(int y, const char *const *want, int n)
{
	kn_holiday h[40];
	int got = kn_holidays_jp(y, h, 40);
	bool ok = got == n;
	if (got != n)
		printf("  %d: %d holidays, want %d\n", y, got, n);
	for (int i = 0; i < got && i < n; i++) {
		char s[96];
		snprintf(s, sizeof s, "%02d-%02d %s", h[i].m, h[i].d, h[i].name_ja);
		if (strcmp(s, want[i]) || h[i].y != y || !h[i].name_en || !*h[i].name_en) {
			printf("  %d: holiday %d is %s, want %s\n", y, i, s, want[i]);
			ok = false;
		}
	}
	return ok;
}

#define JP_YEAR(y, ...)                                                                            \
	do {                                                                                       \
		static const char *const w_[] = {__VA_ARGS__};                                     \
		CHECK(jp_year_is(y, w_, (int)(sizeof w_ / sizeof *w_)));                           \
	} while (0)

/* 内閣府「国民の祝日について」 */
TEST(calendar_jp_2026)
{
	JP_YEAR(2026, "01-01 元日", "01-12 成人の日", "02-11 建国記念の日", "02-23 天皇誕生日",
		"03-20 春分の日", "04-29 昭和の日", "05-03 憲法記念日", "05-04 みどりの日",
		"05-05 こどもの日", "05-06 振替休日", "07-20 海の日", "08-11 山の日",
		"09-21 敬老の日", "09-22 国民の休日", "09-23 秋分の日", "10-12 スポーツの日",
		"11-03 文化の日", "11-23 勤労感謝の日");
	kn_holiday h[40];
	REQUIRE(kn_holidays_jp(2026, h, 40) == 18);
	CHECK_STR(h[0].name_en, "New Year's Day");
	CHECK_STR(h[1].name_en, "Coming of Age Day");
	CHECK_STR(h[9].name_en, "Substitute Holiday");
	CHECK_STR(h[13].name_en, "Citizens' Holiday");
	/* max cuts the list */
	CHECK(kn_holidays_jp(2026, h, 3) == 3);
	CHECK(h[2].m == 2 && h[2].d == 11);
}

TEST(calendar_jp_2025)
{
	JP_YEAR(2025, "01-01 元日", "01-13 成人の日", "02-11 建国記念の日", "02-23 天皇誕生日",
		"02-24 振替休日", "03-20 春分の日", "04-29 昭和の日", "05-03 憲法記念日",
		"05-04 みどりの日", "05-05 こどもの日", "05-06 振替休日", "07-21 海の日",
		"08-11 山の日", "09-15 敬老の日", "09-23 秋分の日", "10-13 スポーツの日",
		"11-03 文化の日", "11-23 勤労感謝の日", "11-24 振替休日");
}

TEST(calendar_jp_2019_2020_2021)
{
	/* the enthronement: 5/1 and 10/22 by their own law, 4/30 and 5/2
	 * between two holidays; no Emperor's Birthday that year */
	JP_YEAR(2019, "01-01 元日", "01-14 成人の日", "02-11 建国記念の日", "03-21 春分の日",
		"04-29 昭和の日", "04-30 国民の休日", "05-01 即位の日", "05-02 国民の休日",
		"05-03 憲法記念日", "05-04 みどりの日", "05-05 こどもの日", "05-06 振替休日",
		"07-15 海の日", "08-11 山の日", "08-12 振替休日", "09-16 敬老の日",
		"09-23 秋分の日", "10-14 体育の日", "10-22 即位礼正殿の儀", "11-03 文化の日",
		"11-04 振替休日", "11-23 勤労感謝の日");
	/* the Olympic years moved 海の日, スポーツの日 and 山の日 */
	JP_YEAR(2020, "01-01 元日", "01-13 成人の日", "02-11 建国記念の日", "02-23 天皇誕生日",
		"02-24 振替休日", "03-20 春分の日", "04-29 昭和の日", "05-03 憲法記念日",
		"05-04 みどりの日", "05-05 こどもの日", "05-06 振替休日", "07-23 海の日",
		"07-24 スポーツの日", "08-10 山の日", "09-21 敬老の日", "09-22 秋分の日",
		"11-03 文化の日", "11-23 勤労感謝の日");
	JP_YEAR(2021, "01-01 元日", "01-11 成人の日", "02-11 建国記念の日", "02-23 天皇誕生日",
		"03-20 春分の日", "04-29 昭和の日", "05-03 憲法記念日", "05-04 みどりの日",
		"05-05 こどもの日", "07-22 海の日", "07-23 スポーツの日", "08-08 山の日",
		"08-09 振替休日", "09-20 敬老の日", "09-23 秋分の日", "11-03 文化の日",
		"11-23 勤労感謝の日");
}

/* Is y-m-d a holiday named ja (NULL: not a holiday)? */
static bool jp_day_is(int y, int m, int d, const char *ja)
{
	kn_holiday h[40];
	int n = kn_holidays_jp(y, h, 40);
	for (int i = 0; i < n; i++)
		if (h[i].m == m && h[i].d == d) {
			if (ja && !strcmp(h[i].name_ja, ja))
				return true;
			printf("  %04d-%02d-%02d is %s, want %s\n", y, m, d, h[i].name_ja,
			       ja ? ja : "no holiday");
			return false;
		}
	if (ja)
		printf("  %04d-%02d-%02d is no holiday, want %s\n", y, m, d, ja);
	return !ja;
}

TEST(calendar_jp_equinoxes)
{
	/* 国立天文台 暦要項 */
	static const int v[][3] = {{1980, 20, 23}, {1996, 20, 23}, {2012, 20, 22}, {2019, 21, 23},
				   {2020, 20, 22}, {2023, 21, 23}, {2024, 20, 22}, {2025, 20, 23},
				   {2026, 20, 23}, {2027, 21, 23}, {2028, 20, 22}, {2030, 20, 23},
				   {2044, 20, 22}};
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		CHECK(jp_day_is(v[i][0], 3, v[i][1], "春分の日"));
		CHECK(jp_day_is(v[i][0], 9, v[i][2], "秋分の日"));
	}
}

TEST(calendar_jp_history)
{
	CHECK(kn_holidays_jp(1979, NULL, 0) == 0);
	CHECK(kn_holidays_jp(2100, NULL, 0) == 0);
	CHECK(jp_day_is(1980, 4, 29, "天皇誕生日"));
	CHECK(jp_day_is(1988, 4, 29, "天皇誕生日"));
	CHECK(jp_day_is(1989, 4, 29, "みどりの日"));
	CHECK(jp_day_is(2006, 4, 29, "みどりの日"));
	CHECK(jp_day_is(2007, 4, 29, "昭和の日"));
	CHECK(jp_day_is(2007, 5, 4, "みどりの日"));
	CHECK(jp_day_is(1989, 12, 23, "天皇誕生日"));
	CHECK(jp_day_is(2018, 12, 23, "天皇誕生日"));
	CHECK(jp_day_is(2018, 12, 24, "振替休日"));
	CHECK(jp_day_is(2019, 12, 23, NULL));
	CHECK(jp_day_is(2019, 2, 23, NULL));
	CHECK(jp_day_is(1989, 2, 24, "昭和天皇の大喪の礼"));
	CHECK(jp_day_is(1990, 11, 12, "即位礼正殿の儀"));
	CHECK(jp_day_is(1993, 6, 9, "皇太子徳仁親王の結婚の儀"));
	/* 国民の休日 from the 1985 amendment; a Sunday is none */
	CHECK(jp_day_is(1985, 5, 4, NULL));
	CHECK(jp_day_is(1987, 5, 4, "振替休日")); /* 5/3 a Sunday */
	CHECK(jp_day_is(1988, 5, 4, "国民の休日"));
	CHECK(jp_day_is(2006, 5, 4, "国民の休日"));
	CHECK(jp_day_is(2003, 5, 4, NULL)); /* a Sunday */
	/* before 2007 only the Monday after; from 2007 the next free day */
	CHECK(jp_day_is(2003, 5, 6, NULL));
	CHECK(jp_day_is(2008, 5, 6, "振替休日"));
	CHECK(jp_day_is(1999, 10, 11, "振替休日"));
	CHECK(jp_day_is(1999, 10, 10, "体育の日"));
	CHECK(jp_day_is(1998, 1, 15, "成人の日"));
	CHECK(jp_day_is(2000, 1, 10, "成人の日"));
	CHECK(jp_day_is(1995, 7, 20, NULL));
	CHECK(jp_day_is(1996, 7, 20, "海の日"));
	CHECK(jp_day_is(2002, 9, 15, "敬老の日"));
	CHECK(jp_day_is(2003, 9, 15, "敬老の日"));
	CHECK(jp_day_is(2015, 8, 11, NULL));
	CHECK(jp_day_is(2016, 8, 11, "山の日"));
	CHECK(jp_day_is(2019, 10, 14, "体育の日"));
	CHECK(jp_day_is(2022, 10, 10, "スポーツの日"));
	/* the September "silver weeks" */
	CHECK(jp_day_is(2009, 9, 22, "国民の休日"));
	CHECK(jp_day_is(2015, 9, 22, "国民の休日"));
	CHECK(jp_day_is(2032, 9, 21, "国民の休日"));
	CHECK(jp_day_is(2037, 9, 22, "国民の休日"));
	CHECK(jp_day_is(2099, 1, 1, "元日"));
	/* every year of the range: sorted, 12 or more, one a date */
	for (int y = 1980; y <= 2099; y++) {
		kn_holiday h[40];
		int n = kn_holidays_jp(y, h, 40);
		CHECK(n >= 12 && n < 40);
		for (int i = 1; i < n; i++)
			CHECK(h[i - 1].m * 100 + h[i - 1].d < h[i].m * 100 + h[i].d);
	}
}

/* ---- business time ---------------------------------------------------------- */

TEST(calendar_add_weekend_and_holiday)
{
	kn_calendar *c = cal(JP_OFFICE);
	REQUIRE(c);
	CHECK_STR(kn_tz_name(kn_calendar_tz(c)), "Asia/Tokyo");
	/* Friday 16:00 + 4h: 2h Friday, 2h Monday */
	CHECK(add_is(c, "2026-11-13T16:00:00+09:00", "4h", "2026-11-16T11:00:00+09:00"));
	/* Monday 11/23 is 勤労感謝の日 */
	CHECK(add_is(c, "2026-11-20T15:30:00+09:00", "6h", "2026-11-24T12:30:00+09:00"));
	CHECK(add_is(c, "2026-11-20T06:30:00Z", "6h", "2026-11-24T12:30:00+09:00"));
	/* 40h from Monday 09:00: four days and four hours */
	CHECK(add_is(c, "2026-11-16T09:00:00+09:00", "40h", "2026-11-20T13:00:00+09:00"));
	CHECK(add_is(c, "2026-11-16T09:00:00+09:00", "PT40H", "2026-11-20T13:00:00+09:00"));
	/* Golden week: 5/3 a Sunday, so 5/6 is its substitute */
	CHECK(add_is(c, "2026-05-01T17:00:00+09:00", "2h", "2026-05-07T10:00:00+09:00"));
	/* the silver week: 9/21, 9/22 (国民の休日), 9/23 */
	CHECK(add_is(c, "2026-09-18T17:00:00+09:00", "2h", "2026-09-24T10:00:00+09:00"));
	/* the new year: 1/1 Friday 2027 */
	CHECK(add_is(c, "2026-12-31T17:30:00+09:00", "1h", "2027-01-04T09:30:00+09:00"));
	kn_calendar_free(c);
}

TEST(calendar_holiday_on_weekend)
{
	/* a Saturday holiday closes nothing more on a Monday-Friday calendar */
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"hours\": {" WEEKDAYS(
	    "[\"09:00-18:00\"]") "}, \"holiday_dates\": [\"2026-06-13\"]}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-06-12T17:00:00+09:00", "2h", "2026-06-15T10:00:00+09:00"));
	kn_calendar_free(c);
	/* on a calendar open on Saturdays, it closes that Saturday only */
	c = cal("{\"time_zone\": \"Asia/Tokyo\", \"hours\": {" WEEKDAYS(
	    "[\"09:00-18:00\"]") ", \"sat\": [\"10:00-12:00\"]}, "
				 "\"holiday_dates\": [\"2026-06-13\"]}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-06-12T17:00:00+09:00", "2h", "2026-06-15T10:00:00+09:00"));
	CHECK(add_is(c, "2026-06-19T17:00:00+09:00", "2h", "2026-06-20T11:00:00+09:00"));
	kn_calendar_free(c);
	/* jp: 2026-05-03 (Sunday) closes only through its substitute, 5/6 */
	c = cal(JP_OFFICE);
	REQUIRE(c);
	CHECK(!kn_calendar_open(c, at("2026-05-06T10:00:00+09:00")));
	CHECK(kn_calendar_open(c, at("2026-05-07T10:00:00+09:00")));
	/* 2026-11-23's week: a Sunday holiday in 2025 (11/23) moved to 11/24 */
	CHECK(add_is(c, "2025-11-21T17:00:00+09:00", "2h", "2025-11-25T10:00:00+09:00"));
	kn_calendar_free(c);
}

TEST(calendar_start_outside_hours)
{
	kn_calendar *c = cal(JP_OFFICE);
	REQUIRE(c);
	/* before opening: counts from 09:00 */
	CHECK(add_is(c, "2026-11-17T07:00:00+09:00", "1h", "2026-11-17T10:00:00+09:00"));
	/* after closing: from the next day's opening */
	CHECK(add_is(c, "2026-11-17T19:00:00+09:00", "1h", "2026-11-18T10:00:00+09:00"));
	/* on a Saturday and on a holiday */
	CHECK(add_is(c, "2026-11-21T12:00:00+09:00", "30m", "2026-11-24T09:30:00+09:00"));
	CHECK(add_is(c, "2026-11-23T12:00:00+09:00", "30m", "2026-11-24T09:30:00+09:00"));
	kn_calendar_free(c);
}

TEST(calendar_end_exactly_at_closing)
{
	kn_calendar *c = cal(JP_OFFICE);
	REQUIRE(c);
	CHECK(add_is(c, "2026-11-17T09:00:00+09:00", "9h", "2026-11-17T18:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T15:00:00+09:00", "3h", "2026-11-17T18:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T07:00:00+09:00", "9h", "2026-11-17T18:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T15:00:00+09:00", "3h1s", "2026-11-18T09:00:01+09:00"));
	/* a whole week to the minute: Friday's closing, not Monday's opening */
	CHECK(add_is(c, "2026-11-09T09:00:00+09:00", "45h", "2026-11-13T18:00:00+09:00"));
	CHECK(add_is(c, "2026-11-09T09:00:00+09:00", "90h", "2026-11-20T18:00:00+09:00"));
	kn_calendar_free(c);
}

TEST(calendar_zero_duration)
{
	kn_calendar *c = cal(JP_OFFICE);
	REQUIRE(c);
	int64_t due = 0, t = at("2026-11-17T10:00:00.500+09:00");
	kn_error err = {0};
	/* open: the start itself, to the millisecond */
	REQUIRE(kn_calendar_add(c, t, 0, &due, &err) == 0);
	CHECK(due == t);
	/* closed: the next opening */
	CHECK(add_is(c, "2026-11-17T18:00:00+09:00", "0m", "2026-11-18T09:00:00+09:00"));
	CHECK(add_is(c, "2026-11-20T18:00:00+09:00", "0m", "2026-11-24T09:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T08:59:59+09:00", "0s", "2026-11-17T09:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T09:00:00+09:00", "0s", "2026-11-17T09:00:00+09:00"));
	/* a negative duration is refused */
	CHECK(kn_calendar_add(c, t, -1, &due, &err) == KN_EVALID);
	kn_calendar_free(c);
}

TEST(calendar_between_pause_across_holiday)
{
	kn_calendar *c = cal(JP_OFFICE);
	REQUIRE(c);
	const char *a = "2026-11-20T15:30:00+09:00", *b = "2026-11-23T12:00:00+09:00",
		   *m = "2026-11-24T12:30:00+09:00";
	CHECK(between_is(c, a, b, "2h30m"));
	CHECK(between_is(c, b, m, "3h30m"));
	CHECK(between_is(c, a, m, "6h"));
	CHECK(between_is(c, m, a, "-6h"));
	CHECK(between_is(c, a, a, "0m"));
	CHECK(kn_calendar_between(c, at(a), at(b)) + kn_calendar_between(c, at(b), at(m)) ==
	      kn_calendar_between(c, at(a), at(m)));
	/* paused at b (a holiday): the time until then ran out at Friday's
	 * closing */
	int64_t due;
	kn_error err = {0};
	REQUIRE(kn_calendar_add(c, at(a), kn_calendar_between(c, at(a), at(b)), &due, &err) == 0);
	CHECK_STR(fmt(kn_calendar_tz(c), due), "2026-11-20T18:00:00+09:00");
	/* a weekend alone is worth nothing; a month is its business days */
	CHECK(between_is(c, "2026-11-21T00:00:00+09:00", "2026-11-23T23:59:59+09:00", "0m"));
	CHECK(between_is(c, "2026-11-01T00:00:00+09:00", "2026-12-01T00:00:00+09:00", "171h"));
	kn_calendar_free(c);
}

TEST(calendar_lunch_break)
{
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"hours\": {" WEEKDAYS(
	    "[\"13:00-18:00\", \"09:00-12:00\"]") "}}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-11-17T11:00:00+09:00", "2h", "2026-11-17T14:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T11:00:00+09:00", "1h", "2026-11-17T12:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T12:30:00+09:00", "0m", "2026-11-17T13:00:00+09:00"));
	CHECK(add_is(c, "2026-11-17T12:30:00+09:00", "8h", "2026-11-18T12:00:00+09:00"));
	CHECK(between_is(c, "2026-11-17T11:00:00+09:00", "2026-11-17T14:00:00+09:00", "2h"));
	CHECK(!kn_calendar_open(c, at("2026-11-17T12:30:00+09:00")));
	CHECK(kn_calendar_open(c, at("2026-11-17T11:59:59+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-17T12:00:00+09:00")));
	int32_t sp[8][2];
	const char *name = "x";
	REQUIRE(kn_calendar_day(c, 2026, 11, 17, sp, 8, &name) == 2);
	CHECK(sp[0][0] == 9 * 3600 && sp[0][1] == 12 * 3600);
	CHECK(sp[1][0] == 13 * 3600 && sp[1][1] == 18 * 3600);
	CHECK_STR(name, "");
	CHECK(kn_calendar_day(c, 2026, 11, 17, sp, 1, NULL) == 1);
	CHECK(kn_calendar_day(c, 2026, 11, 21, sp, 8, NULL) == 0);
	CHECK(kn_calendar_day(c, 2026, 2, 29, sp, 8, NULL) == 0);
	kn_calendar_free(c);
}

TEST(calendar_overnight_hours)
{
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"jp\", "
			     "\"hours\": {" WEEKDAYS("[\"22:00-06:00\"]") "}}");
	REQUIRE(c);
	/* Friday's hours run into Saturday morning; Sunday has none */
	CHECK(kn_calendar_open(c, at("2026-11-14T03:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-14T06:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-15T23:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-16T05:00:00+09:00")));
	CHECK(kn_calendar_open(c, at("2026-11-17T05:00:00+09:00")));
	CHECK(add_is(c, "2026-11-13T23:00:00+09:00", "8h", "2026-11-16T23:00:00+09:00"));
	CHECK(add_is(c, "2026-11-14T05:00:00+09:00", "1h", "2026-11-14T06:00:00+09:00"));
	/* Monday 11/23 is a holiday: its night is closed, Friday's is not */
	CHECK(add_is(c, "2026-11-20T23:00:00+09:00", "8h", "2026-11-24T23:00:00+09:00"));
	CHECK(between_is(c, "2026-11-20T00:00:00+09:00", "2026-11-25T00:00:00+09:00", "16h"));
	int32_t sp[8][2];
	REQUIRE(kn_calendar_day(c, 2026, 11, 20, sp, 8, NULL) == 1);
	CHECK(sp[0][0] == 22 * 3600 && sp[0][1] == 30 * 3600);
	kn_calendar_free(c);
	/* a holiday Friday: Thursday's night still runs into it */
	c = cal("{\"time_zone\": \"Asia/Tokyo\", \"holiday_dates\": [\"2026-11-20\"], "
		"\"hours\": {" WEEKDAYS("[\"22:00-06:00\"]") "}}");
	REQUIRE(c);
	CHECK(kn_calendar_open(c, at("2026-11-20T03:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-20T23:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-21T03:00:00+09:00")));
	kn_calendar_free(c);
	/* overlapping nights count once: Monday 22:00-06:00, Tuesday 05:00-10:00 */
	c = cal("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"22:00-06:00\"], "
		"\"tue\": [\"05:00-10:00\"]}}");
	REQUIRE(c);
	CHECK(between_is(c, "2026-11-16T22:00:00Z", "2026-11-17T10:00:00Z", "12h"));
	CHECK(between_is(c, "2026-11-16T00:00:00Z", "2026-11-23T00:00:00Z", "12h"));
	CHECK(between_is(c, "2026-11-02T00:00:00Z", "2026-11-30T00:00:00Z", "48h"));
	CHECK(add_is(c, "2026-11-16T22:00:00Z", "11h", "2026-11-17T09:00:00+00:00"));
	/* twelve hours a week: three weeks, then the next Monday night */
	CHECK(add_is(c, "2026-11-16T22:00:00Z", "36h", "2026-12-01T10:00:00+00:00"));
	CHECK(add_is(c, "2026-11-16T22:00:00Z", "36h1s", "2026-12-07T22:00:01+00:00"));
	CHECK(add_is(c, "2026-11-17T07:00:00Z", "36h", "2026-12-08T07:00:00+00:00"));
	kn_calendar_free(c);
	/* the same with a holiday Monday: the Tuesday after counts whole */
	c = cal("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"22:00-06:00\"], "
		"\"tue\": [\"05:00-10:00\"]}, \"holiday_dates\": [\"2026-11-23\"]}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-11-22T12:00:00Z", "36h", "2026-12-15T05:00:00+00:00"));
	CHECK(between_is(c, "2026-11-22T12:00:00Z", "2026-12-15T05:00:00Z", "36h"));
	CHECK(between_is(c, "2026-11-16T00:00:00Z", "2026-12-28T00:00:00Z", "65h"));
	kn_calendar_free(c);
}

TEST(calendar_midnight_end)
{
	kn_calendar *c =
	    cal("{\"time_zone\": \"UTC\", \"hours\": {" EVERY_DAY("[\"00:00-24:00\"]") "}}");
	REQUIRE(c);
	CHECK(between_is(c, "2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z", "24h"));
	CHECK(kn_calendar_open(c, at("2026-11-16T23:59:59Z")));
	CHECK(kn_calendar_open(c, at("2026-11-17T00:00:00Z")));
	CHECK(add_is(c, "2026-11-16T00:00:00Z", "24h", "2026-11-17T00:00:00+00:00"));
	CHECK(add_is(c, "2026-11-16T12:00:00Z", "1000h", "2026-12-28T04:00:00+00:00"));
	CHECK(between_is(c, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", "8760h"));
	int32_t sp[8][2];
	REQUIRE(kn_calendar_day(c, 2026, 11, 16, sp, 8, NULL) == 1);
	CHECK(sp[0][0] == 0 && sp[0][1] == 86400);
	kn_calendar_free(c);
	/* "22:00-24:00" then "00:00-02:00": four hours over midnight */
	c = cal("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"22:00-24:00\"], "
		"\"tue\": [\"00:00-02:00\"]}}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-11-16T22:00:00Z", "3h", "2026-11-17T01:00:00+00:00"));
	kn_calendar_free(c);
}

TEST(calendar_exceptions_year_end)
{
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"hours\": {" WEEKDAYS(
	    "[\"09:00-18:00\"]") "}, \"exceptions\": [{\"from\": \"12-29\", \"to\": \"01-03\", "
				 "\"name\": \"年末年始\"}]}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-12-28T17:00:00+09:00", "2h", "2027-01-04T10:00:00+09:00"));
	int32_t sp[8][2];
	const char *name = NULL;
	CHECK(kn_calendar_day(c, 2026, 12, 31, sp, 8, &name) == 0);
	CHECK_STR(name, "年末年始");
	CHECK(kn_calendar_day(c, 2027, 1, 1, sp, 8, &name) == 0);
	CHECK(kn_calendar_day(c, 2027, 1, 4, sp, 8, &name) == 1);
	CHECK_STR(name, "");
	/* every year, on both sides of the bitmap's range */
	CHECK(!kn_calendar_open(c, at("2030-12-30T10:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2031-01-02T10:00:00+09:00")));
	CHECK(kn_calendar_open(c, at("2030-12-27T10:00:00+09:00"))); /* a Friday */
	CHECK(!kn_calendar_open(c, at("2250-12-30T10:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("1960-01-02T10:00:00+09:00")));
	CHECK(kn_weekday(kn_days_from_civil(2201, 12, 28)) == 1);
	CHECK(add_is(c, "2201-12-28T17:00:00+09:00", "2h", "2202-01-04T10:00:00+09:00"));
	CHECK(add_is(c, "1959-12-28T17:00:00+09:00", "2h", "1960-01-04T10:00:00+09:00"));
	kn_calendar_free(c);
	/* Feb 29 of a yearly range in common years */
	c = cal("{\"time_zone\": \"UTC\", \"hours\": {" EVERY_DAY(
	    "[\"09:00-10:00\"]") "}, "
				 "\"exceptions\": [{\"from\": \"02-29\"}, {\"from\": \"02-27\", "
				 "\"to\": "
				 "\"02-28\", \"hours\": [\"11:00-12:00\"]}]}");
	REQUIRE(c);
	CHECK(!kn_calendar_open(c, at("2028-02-29T09:30:00Z")));
	CHECK(kn_calendar_open(c, at("2027-03-01T09:30:00Z")));
	CHECK(kn_calendar_open(c, at("2027-02-28T11:30:00Z")));
	CHECK(!kn_calendar_open(c, at("2027-02-28T09:30:00Z")));
	CHECK(add_is(c, "2028-02-27T00:00:00Z", "3h", "2028-03-01T10:00:00+00:00"));
	kn_calendar_free(c);
}

TEST(calendar_exception_hours)
{
	kn_calendar *c =
	    cal("{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"jp\", \"hours\": {" WEEKDAYS(
		"[\"09:00-18:00\"]") "}, \"exceptions\": ["
				     "{\"from\": \"2026-12-26\", \"hours\": [\"10:00-15:00\"], "
				     "\"name\": \"Stocktake\"},"
				     "{\"from\": \"2026-11-23\", \"hours\": \"09:00-12:00\"},"
				     "{\"from\": \"12-29\", \"to\": \"01-03\"},"
				     "{\"from\": \"2026-12-30\", \"hours\": [\"10:00-12:00\"]},"
				     "{\"from\": \"2026-12-07\", \"to\": \"2026-12-09\", "
				     "\"hours\": [\"13:00-14:00\"]}]}");
	REQUIRE(c);
	/* a Saturday opened */
	CHECK(add_is(c, "2026-12-26T09:00:00+09:00", "1h", "2026-12-26T11:00:00+09:00"));
	int32_t sp[8][2];
	const char *name;
	REQUIRE(kn_calendar_day(c, 2026, 12, 26, sp, 8, &name) == 1);
	CHECK(sp[0][0] == 36000 && sp[0][1] == 54000);
	CHECK_STR(name, "Stocktake");
	/* an exception beats a holiday */
	CHECK(kn_calendar_open(c, at("2026-11-23T10:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-23T13:00:00+09:00")));
	CHECK(kn_calendar_day(c, 2026, 11, 23, sp, 8, &name) == 1);
	CHECK_STR(name, "exception");
	/* a dated exception beats a yearly one */
	CHECK(kn_calendar_open(c, at("2026-12-30T11:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-12-29T11:00:00+09:00")));
	/* a range of dates */
	CHECK(add_is(c, "2026-12-04T17:00:00+09:00", "4h", "2026-12-09T14:00:00+09:00"));
	CHECK(add_is(c, "2026-12-04T17:00:00+09:00", "5h", "2026-12-10T10:00:00+09:00"));
	/* the holiday's name when no exception applies */
	CHECK(kn_calendar_day(c, 2026, 11, 3, sp, 8, &name) == 0);
	CHECK_STR(name, "文化の日");
	kn_calendar_free(c);
}

TEST(calendar_dst_new_york)
{
	kn_calendar *c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {" EVERY_DAY(
	    "[\"00:00-24:00\"]") "}}");
	REQUIRE(c);
	/* the spring day has 23 hours, the autumn one 25 */
	CHECK(between_is(c, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", "23h"));
	CHECK(between_is(c, "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", "25h"));
	CHECK(between_is(c, "2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00", "24h"));
	CHECK(add_is(c, "2026-03-07T23:00:00-05:00", "3h", "2026-03-08T03:00:00-04:00"));
	CHECK(add_is(c, "2026-11-01T00:00:00-04:00", "2h", "2026-11-01T01:00:00-05:00"));
	CHECK(add_is(c, "2026-03-01T00:00:00-05:00", "695h", "2026-03-30T00:00:00-04:00"));
	CHECK(between_is(c, "2026-01-01T00:00:00-05:00", "2027-01-01T00:00:00-05:00", "8760h"));
	kn_calendar_free(c);
	c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {" EVERY_DAY(
	    "[\"01:00-04:00\"]") "}}");
	REQUIRE(c);
	CHECK(between_is(c, "2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00", "3h"));
	CHECK(between_is(c, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", "2h"));
	CHECK(between_is(c, "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", "4h"));
	CHECK(add_is(c, "2026-03-08T00:00:00-05:00", "2h", "2026-03-08T04:00:00-04:00"));
	CHECK(add_is(c, "2026-03-08T00:00:00-05:00", "2h1m", "2026-03-09T01:01:00-04:00"));
	/* the repeated hour: 01:00 EDT to 04:00 EST */
	CHECK(add_is(c, "2026-11-01T00:00:00-04:00", "1h30m", "2026-11-01T01:30:00-05:00"));
	CHECK(add_is(c, "2026-11-01T00:00:00-04:00", "3h", "2026-11-01T03:00:00-05:00"));
	CHECK(add_is(c, "2026-11-01T00:00:00-04:00", "4h", "2026-11-01T04:00:00-05:00"));
	CHECK(kn_calendar_open(c, at("2026-11-01T01:30:00-05:00")));
	kn_calendar_free(c);
	/* hours inside the repeated hour are its first occurrence, even seen
	 * from the second one */
	c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {\"sun\": [\"01:10-01:50\"]}}");
	REQUIRE(c);
	CHECK(between_is(c, "2026-11-01T00:00:00-04:00", "2026-11-02T00:00:00-05:00", "40m"));
	CHECK(between_is(c, "2026-11-01T01:20:00-05:00", "2026-11-02T00:00:00-05:00", "0m"));
	CHECK(!kn_calendar_open(c, at("2026-11-01T01:30:00-05:00")));
	CHECK(kn_calendar_open(c, at("2026-11-01T01:30:00-04:00")));
	CHECK(add_is(c, "2026-11-01T01:20:00-05:00", "10m", "2026-11-08T01:20:00-05:00"));
	CHECK(add_is(c, "2026-11-01T01:20:00-04:00", "10m", "2026-11-01T01:30:00-04:00"));
	kn_calendar_free(c);
	/* hours starting in the gap start at the jump */
	c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {\"sun\": [\"02:30-03:30\"]}}");
	REQUIRE(c);
	CHECK(between_is(c, "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00", "30m"));
	CHECK(add_is(c, "2026-03-08T00:00:00-05:00", "0m", "2026-03-08T03:00:00-04:00"));
	CHECK(between_is(c, "2026-03-15T00:00:00-04:00", "2026-03-16T00:00:00-04:00", "1h"));
	kn_calendar_free(c);
}

TEST(calendar_dst_london_and_far_future)
{
	kn_calendar *c = cal(
	    "{\"time_zone\": \"Europe/London\", \"hours\": {" WEEKDAYS("[\"09:00-17:00\"]") "}}");
	REQUIRE(c);
	CHECK(add_is(c, "2026-03-27T16:00:00+00:00", "2h", "2026-03-30T10:00:00+01:00"));
	CHECK(between_is(c, "2026-03-27T09:00:00+00:00", "2026-03-30T17:00:00+01:00", "16h"));
	CHECK(add_is(c, "2026-03-02T09:00:00+00:00", "200h", "2026-04-03T17:00:00+01:00"));
	CHECK(add_is(c, "2026-10-23T16:00:00+01:00", "2h", "2026-10-26T10:00:00+00:00"));
	kn_calendar_free(c);
	/* 2060: past the table of the file, the footer's rule */
	c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {" WEEKDAYS(
	    "[\"09:00-17:00\"]") "}}");
	REQUIRE(c);
	CHECK(add_is(c, "2060-03-12T16:00:00-05:00", "2h", "2060-03-15T10:00:00-04:00"));
	CHECK(add_is(c, "2060-11-05T16:00:00-04:00", "2h", "2060-11-08T10:00:00-05:00"));
	kn_calendar_free(c);
	c = cal("{\"time_zone\": \"America/New_York\", \"hours\": {" EVERY_DAY(
	    "[\"00:00-24:00\"]") "}}");
	REQUIRE(c);
	CHECK(between_is(c, "2060-03-14T00:00:00-05:00", "2060-03-15T00:00:00-04:00", "23h"));
	CHECK(between_is(c, "2060-11-07T00:00:00-04:00", "2060-11-08T00:00:00-05:00", "25h"));
	kn_calendar_free(c);
}

TEST(calendar_fixed_offset_zone)
{
	kn_calendar *c =
	    cal("{\"time_zone\": \"+05:30\", \"hours\": {" WEEKDAYS("[\"09:00-17:00\"]") "}}");
	REQUIRE(c);
	CHECK_STR(kn_tz_name(kn_calendar_tz(c)), "+05:30");
	CHECK(add_is(c, "2026-11-20T16:00:00+05:30", "2h", "2026-11-23T10:00:00+05:30"));
	CHECK(add_is(c, "2026-11-20T11:00:00Z", "1h", "2026-11-23T09:30:00+05:30"));
	kn_calendar_free(c);
}

TEST(calendar_declaration_errors)
{
	CHECK(refused("[]", "", "object"));
	CHECK(refused("{\"hours\": {\"mon\": [\"09:00-18:00\"]}}", "time_zone", "required"));
	CHECK(refused("{\"time_zone\": 9, \"hours\": {\"mon\": [\"09:00-18:00\"]}}", "time_zone",
		      "string"));
	CHECK(refused("{\"time_zone\": \"Foo/Bar\", \"hours\": {\"mon\": [\"09:00-18:00\"]}}",
		      "time_zone", "unknown time zone 'Foo/Bar'"));
	const char *spans[] = {"25:00-26:00",
			       "9-18",
			       "0900-1800",
			       "09:00",
			       "09:00-",
			       "-18:00",
			       "09:00-18:00 ",
			       "24:00-01:00",
			       "09:60-10:00",
			       "09:00-24:01",
			       "09:00~18:00",
			       "",
			       "09:00-18:00-19:00",
			       "123:00-18:00",
			       "09:0-18:00"};
	for (size_t i = 0; i < sizeof spans / sizeof *spans; i++) {
		char *j = kn_xasprintf("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"%s\"]}}",
				       spans[i]);
		char *want = kn_xasprintf("bad span '%s' for mon", spans[i]);
		CHECK(refused(j, "hours", want));
		free(j);
		free(want);
	}
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"01:00-02:00\", "
		      "\"02:00-03:00\", \"03:00-04:00\", \"04:00-05:00\", \"05:00-06:00\", "
		      "\"06:00-07:00\", \"07:00-08:00\", \"08:00-09:00\", \"09:00-10:00\"]}}",
		      "hours", "more than 8"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"09:00-12:00\", "
		      "\"11:00-13:00\"]}}",
		      "hours", "overlap"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"22:00-06:00\", "
		      "\"23:00-23:30\"]}}",
		      "hours", "overlap"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"monday\": [\"09:00-18:00\"]}}",
		      "hours", "unknown weekday 'monday'"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": 9}}", "hours", "list"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [9]}}", "hours", "strings"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": []}", "hours", "object"));
	CHECK(refused("{\"time_zone\": \"UTC\"}", "hours", "required"));
	/* never open */
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {}}", "hours", "never open"));
	CHECK(refused("{\"time_zone\": \"UTC\", \"hours\": {\"mon\": []}}", "hours", "never open"));
	/* holidays */
	const char *H = "{\"time_zone\": \"UTC\", \"hours\": {\"mon\": [\"09:00-18:00\"]}, ";
	char *j = kn_xasprintf("%s\"holidays\": \"xx\"}", H);
	CHECK(refused(j, "holidays", "unknown holiday set 'xx'"));
	free(j);
	j = kn_xasprintf("%s\"holidays\": 5}", H);
	CHECK(refused(j, "holidays", "set"));
	free(j);
	j = kn_xasprintf("%s\"holidays\": \"xx\", \"holiday_dates\": [\"2026-11-16\"]}", H);
	CHECK(cal_err(j).code == 0);
	free(j);
	const char *dates[] = {"[\"2026-13-01\"]", "[\"11-23\"]",
			       "[\"2026-02-29\"]", "[5]",
			       "\"2026-11-23\"",   "[{\"date\": \"2026-11-23\", \"name\": 5}]",
			       "[\"2026-11-23 \"]"};
	for (size_t i = 0; i < sizeof dates / sizeof *dates; i++) {
		j = kn_xasprintf("%s\"holiday_dates\": %s}", H, dates[i]);
		CHECK(refused(j, "holiday_dates", "holiday"));
		free(j);
	}
	/* exceptions */
	const char *exc[][2] = {
	    {"{\"from\": \"13-01\"}", "from"},
	    {"{\"from\": \"02-30\"}", "from"},
	    {"{\"from\": \"2026-02-30\"}", "from"},
	    {"{\"to\": \"2026-02-01\"}", "from"},
	    {"{\"from\": \"12-29\", \"to\": \"2027-01-03\"}", "mixes"},
	    {"{\"from\": \"2026-12-29\", \"to\": \"2026-12-01\"}", "ends before"},
	    {"{\"from\": \"2026-12-29\", \"to\": \"2026-12\"}", "'to'"},
	    {"{\"from\": \"2026-12-29\", \"hours\": [\"9-18\"]}",
	     "bad span '9-18' for exception 1"},
	    {"{\"from\": \"2026-12-29\", \"name\": 5}", "name"},
	    {"\"2026-12-29\"", "object"},
	};
	for (size_t i = 0; i < sizeof exc / sizeof *exc; i++) {
		j = kn_xasprintf("%s\"exceptions\": [%s]}", H, exc[i][0]);
		CHECK(refused(j, "exceptions", exc[i][1]));
		free(j);
	}
	j = kn_xasprintf("%s\"exceptions\": {}}", H);
	CHECK(refused(j, "exceptions", "list"));
	free(j);
	/* what is fine: "none", null, "" and unknown members */
	const char *fine[] = {"\"holidays\": \"none\"", "\"holidays\": null",
			      "\"holidays\": \"\"",	"\"holidays\": \"JP\"",
			      "\"exceptions\": null",	"\"name\": \"Office hours\""};
	for (size_t i = 0; i < sizeof fine / sizeof *fine; i++) {
		j = kn_xasprintf("%s%s}", H, fine[i]);
		kn_error e = cal_err(j);
		if (e.code)
			printf("  %s: %s\n", j, e.detail);
		CHECK(e.code == 0);
		free(j);
	}
}

TEST(calendar_holiday_sets)
{
	/* none: 11/23 is a working day */
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"none\", "
			     "\"hours\": {" WEEKDAYS("[\"09:00-18:00\"]") "}}");
	REQUIRE(c);
	CHECK(kn_calendar_open(c, at("2026-11-23T10:00:00+09:00")));
	kn_calendar_free(c);
	/* holiday_dates replace the built-in set; duplicates are fine */
	c = cal("{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"jp\", \"holiday_dates\": "
		"[\"2026-11-24\", {\"date\": \"2026-11-25\", \"name\": \"Founding day\"}, "
		"\"2026-11-24\"], \"hours\": {" WEEKDAYS("[\"09:00-18:00\"]") "}}");
	REQUIRE(c);
	CHECK(kn_calendar_open(c, at("2026-11-23T10:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-24T10:00:00+09:00")));
	CHECK(!kn_calendar_open(c, at("2026-11-25T10:00:00+09:00")));
	int32_t sp[8][2];
	const char *name;
	CHECK(kn_calendar_day(c, 2026, 11, 25, sp, 8, &name) == 0);
	CHECK_STR(name, "Founding day");
	CHECK(kn_calendar_day(c, 2026, 11, 24, sp, 8, &name) == 0);
	CHECK_STR(name, "holiday");
	kn_calendar_free(c);
	/* jp: the names of the built-in set */
	c = cal(JP_OFFICE);
	REQUIRE(c);
	CHECK(kn_calendar_day(c, 2026, 11, 23, sp, 8, &name) == 0);
	CHECK_STR(name, "勤労感謝の日");
	CHECK(kn_calendar_day(c, 2026, 5, 6, sp, 8, &name) == 0);
	CHECK_STR(name, "振替休日");
	kn_calendar_free(c);
}

TEST(calendar_never_open_in_ten_years)
{
	kn_calendar *c = cal("{\"time_zone\": \"Asia/Tokyo\", \"hours\": {}, \"exceptions\": "
			     "[{\"from\": \"2020-01-06\", \"hours\": [\"09:00-18:00\"]}]}");
	REQUIRE(c);
	int64_t due = 0;
	kn_error err = {0};
	CHECK(kn_calendar_add(c, at("2026-01-01T00:00:00Z"), 3600000, &due, &err) == KN_EVALID);
	CHECK(strstr(err.detail, "never open") != NULL);
	CHECK(add_is(c, "2019-12-01T00:00:00Z", "1h", "2020-01-06T10:00:00+09:00"));
	/* open then, but not for long enough */
	CHECK(kn_calendar_add(c, at("2019-12-01T00:00:00Z"), 10 * 3600000, &due, &err) ==
	      KN_EVALID);
	CHECK(between_is(c, "2010-01-01T00:00:00Z", "2030-01-01T00:00:00Z", "9h"));
	kn_calendar_free(c);
	/* out of range */
	c = cal(JP_OFFICE);
	REQUIRE(c);
	CHECK(kn_calendar_add(c, INT64_MAX / 2, 0, &due, &err) == KN_EVALID);
	CHECK(kn_calendar_add(c, at("9999-12-30T00:00:00Z"), 100 * 3600000LL, &due, &err) ==
	      KN_EVALID);
	CHECK(kn_calendar_between(c, INT64_MIN, INT64_MAX) > 0);
	CHECK(!kn_calendar_open(c, INT64_MAX));
	kn_calendar_free(c);
}

/* A small deterministic generator for the property tests. */
static uint64_t rnd_state = 88172645463325252ULL;
static uint64_t rnd(uint64_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

static const char *const PROPERTY_CALENDARS[] = {
    JP_OFFICE,
    "{\"time_zone\": \"Asia/Tokyo\", \"holidays\": \"jp\", \"hours\": {" WEEKDAYS(
	"[\"09:00-12:00\", \"13:00-18:00\"]") "}}",
    "{\"time_zone\": \"America/New_York\", \"hours\": {" EVERY_DAY("[\"01:00-04:00\"]") "}}",
    "{\"time_zone\": \"America/New_York\", \"hours\": {" EVERY_DAY("[\"00:00-24:00\"]") "}}",
    "{\"time_zone\": \"Europe/London\", \"hours\": {" WEEKDAYS(
	"[\"22:00-06:00\"]") ", \"sat\": [\"05:00-10:00\"]}, "
			     "\"holiday_dates\": [\"2026-03-30\", \"2026-10-26\"]}",
    "{\"time_zone\": \"America/New_York\", \"hours\": {\"mon\": [\"00:00-00:00\"], "
    "\"tue\": [\"01:30-02:30\"], \"sun\": [\"01:00-03:00\", \"23:00-01:30\"]}, "
    "\"exceptions\": [{\"from\": \"12-29\", \"to\": \"01-03\"}]}",
};

/* between(a,b) + between(b,c) = between(a,c); add and between agree;
 * add in one step = add in many (the first skips weeks, the others not). */
TEST(calendar_properties)
{
	const int64_t y2026 = at("2026-01-01T00:00:00Z"), span = 366LL * 86400000;
	for (size_t k = 0; k < sizeof PROPERTY_CALENDARS / sizeof *PROPERTY_CALENDARS; k++) {
		kn_calendar *c = cal(PROPERTY_CALENDARS[k]);
		REQUIRE(c);
		int bad = 0;
		for (int i = 0; i < 300 && bad < 5; i++) {
			int64_t t[3];
			for (int j = 0; j < 3; j++)
				t[j] = y2026 + (int64_t)rnd((uint64_t)span);
			if (i % 3 == 0) /* on the minute, often on an edge */
				for (int j = 0; j < 3; j++)
					t[j] -= t[j] % 3600000;
			for (int j = 0; j < 2; j++)
				for (int l = 0; l < 2 - j; l++)
					if (t[l] > t[l + 1]) {
						int64_t x = t[l];
						t[l] = t[l + 1], t[l + 1] = x;
					}
			int64_t ab = kn_calendar_between(c, t[0], t[1]);
			int64_t bc = kn_calendar_between(c, t[1], t[2]);
			int64_t ac = kn_calendar_between(c, t[0], t[2]);
			int64_t due = 0, due2 = 0;
			kn_error err = {0};
			bool ok = ab >= 0 && bc >= 0 && ab + bc == ac &&
				  kn_calendar_between(c, t[1], t[0]) == -ab;
			ok = ok && kn_calendar_add(c, t[0], ab, &due, &err) == 0 &&
			     kn_calendar_between(c, t[0], due) == ab && (ab == 0 || due <= t[1]);
			ok = ok && kn_calendar_add(c, t[0], ac, &due, &err) == 0 &&
			     kn_calendar_add(c, t[0], ab, &due2, &err) == 0 &&
			     kn_calendar_add(c, due2, bc + 1, &due2, &err) == 0 &&
			     kn_calendar_add(c, t[0], ac + 1, &due, &err) == 0 && due == due2;
			/* a due instant is open, or a closing one */
			if (ok && ac > 0) {
				kn_calendar_add(c, t[0], ac, &due, &err);
				ok = kn_calendar_open(c, due) || kn_calendar_open(c, due - 1);
			}
			if (!ok) {
				bad++;
				printf("  calendar %zu: %s %s %s: %lld + %lld vs %lld\n", k,
				       fmt(kn_calendar_tz(c), t[0]), fmt(kn_calendar_tz(c), t[1]),
				       fmt(kn_calendar_tz(c), t[2]), (long long)ab, (long long)bc,
				       (long long)ac);
			}
		}
		CHECK(bad == 0);
		/* one long step and many short ones */
		for (int i = 0; i < 10; i++) {
			int64_t a = y2026 + (int64_t)rnd((uint64_t)span), one = 0, many = a;
			kn_error err = {0};
			CHECK(kn_calendar_add(c, a, 120 * 3600000LL, &one, &err) == 0);
			for (int s = 0; s < 40; s++)
				CHECK(kn_calendar_add(c, many, 3 * 3600000LL, &many, &err) == 0);
			if (one != many)
				printf("  calendar %zu from %s: %s in one step, %s in 40\n", k,
				       fmt(kn_calendar_tz(c), a), fmt(kn_calendar_tz(c), one),
				       fmt(kn_calendar_tz(c), many));
			CHECK(one == many);
			CHECK(kn_calendar_between(c, a, one) == 120 * 3600000LL);
		}
		kn_calendar_free(c);
	}
}

/* between counted minute by minute with kn_calendar_open, across the
 * offset changes of 2026. */
TEST(calendar_between_matches_open_minutes)
{
	const char *windows[] = {"2026-03-04T00:00:00Z", "2026-03-20T00:00:00Z",
				 "2026-10-21T00:00:00Z", "2026-11-14T00:00:00Z",
				 "2026-12-24T00:00:00Z"};
	for (size_t k = 0; k < sizeof PROPERTY_CALENDARS / sizeof *PROPERTY_CALENDARS; k++) {
		kn_calendar *c = cal(PROPERTY_CALENDARS[k]);
		REQUIRE(c);
		for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
			int64_t a = at(windows[w]), b = a + 14 * 86400000LL, open = 0;
			for (int64_t t = a; t < b; t += 60000)
				open += kn_calendar_open(c, t) ? 60000 : 0;
			int64_t got = kn_calendar_between(c, a, b);
			if (got != open)
				printf("  calendar %zu from %s: between %lld, open minutes %lld\n",
				       k, windows[w], (long long)got, (long long)open);
			CHECK(got == open);
		}
		kn_calendar_free(c);
	}
}

/* ---- durations ------------------------------------------------------------------ */

TEST(calendar_duration_parse)
{
	static const struct {
		const char *s;
		int64_t ms;
	} ok[] = {
	    {"6h", 21600000},
	    {"1h30m", 5400000},
	    {"90m", 5400000},
	    {"45s", 45000},
	    {"2h15m30s", 8130000},
	    {"PT6H30M", 23400000},
	    {"PT45S", 45000},
	    {"pt1h", 3600000},
	    {"0m", 0},
	    {"PT0S", 0},
	    {"1.5h", 5400000},
	    {"PT0.5S", 500},
	    {"1h30s", 3630000},
	    {"6H", 21600000},
	    {"0.001s", 1},
	    {"PT1H0.25M", 3615000},
	    {"2562047788015h", 2562047788015LL * 3600000},
	};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
		int64_t ms = -1;
		kn_error err = {0};
		int rc = kn_duration_parse(ok[i].s, &ms, &err);
		if (rc || ms != ok[i].ms)
			printf("  '%s': %d %lld (%s)\n", ok[i].s, rc, (long long)ms, err.detail);
		CHECK(rc == 0 && ms == ok[i].ms);
	}
	const char *bad[] = {"1d",
			     "P1D",
			     "P1DT2H",
			     "",
			     "h",
			     "-5m",
			     "5",
			     "1h1h",
			     "30m1h",
			     "1h 30m",
			     "PT",
			     "P",
			     "99999999999999999999h",
			     "2562047788016h",
			     "1.h",
			     "0.0001s",
			     "1.5h30m",
			     "1w",
			     "abc",
			     " 1h",
			     "1h ",
			     "+5m",
			     "PT1D",
			     "P1W",
			     "1m1h",
			     "1hm",
			     "1x"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int64_t ms = 12345;
		kn_error err = {0};
		int rc = kn_duration_parse(bad[i], &ms, &err);
		if (rc != KN_EVALID)
			printf("  '%s' accepted as %lld\n", bad[i], (long long)ms);
		CHECK(rc == KN_EVALID && ms == 12345);
		CHECK_STR(err.field, "duration");
	}
	kn_error err = {0};
	int64_t ms;
	CHECK(kn_duration_parse("1d", &ms, &err) == KN_EVALID);
	CHECK(strstr(err.detail, "days") != NULL);
	CHECK(kn_duration_parse("-5m", &ms, &err) == KN_EVALID);
	CHECK(strstr(err.detail, "negative") != NULL);
	CHECK(kn_duration_parse("99999999999999999999h", &ms, &err) == KN_EVALID);
	CHECK(strstr(err.detail, "too long") != NULL);
	CHECK(kn_duration_parse(NULL, &ms, &err) == KN_EVALID);
}

TEST(calendar_duration_format)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
	    {0, "0m"},
	    {21600000, "6h"},
	    {23400000, "6h30m"},
	    {2700000, "45m"},
	    {90000, "1m30s"},
	    {45000, "45s"},
	    {-5400000, "-1h30m"},
	    {500, "0.5s"},
	    {3630000, "1h30s"},
	    {1250, "1.25s"},
	    {3600001, "1h0.001s"},
	    {-1, "-0.001s"},
	    {360000000000, "100000h"},
	    {INT64_MIN, "-2562047788015h12m55.808s"},
	};
	char out[64];
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		kn_duration_format(cases[i].ms, out, sizeof out);
		if (strcmp(out, cases[i].s))
			printf("  %lld: %s, want %s\n", (long long)cases[i].ms, out, cases[i].s);
		CHECK_STR(out, cases[i].s);
		/* and back */
		int64_t back = 0;
		kn_error err = {0};
		if (cases[i].ms >= 0) {
			CHECK(kn_duration_parse(out, &back, &err) == 0);
			CHECK(back == cases[i].ms);
		}
	}
	kn_duration_format(5400000, out, 4);
	CHECK_STR(out, "1h3");
}

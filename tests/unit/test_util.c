/* SPDX-License-Identifier: Apache-2.0 */
/* test_util.c - time parsing, UTF-8, base64url, buffers. */
#include "test.h"

TEST(util_datetime_zones)
{
	int64_t a, b;
	REQUIRE(kn_parse_datetime("2026-11-20T15:30:00+09:00", &a) == 0);
	REQUIRE(kn_parse_datetime("2026-11-20T06:30:00Z", &b) == 0);
	CHECK(a == b);
	char out[40];
	kn_format_datetime(a, out, sizeof out);
	CHECK_STR(out, "2026-11-20T06:30:00Z");
	REQUIRE(kn_parse_datetime("2024-02-29T23:59:59.250-05:30", &a) == 0);
	kn_format_datetime(a, out, sizeof out);
	CHECK_STR(out, "2024-03-01T05:29:59Z");
	CHECK(a % 1000 == 250);
	REQUIRE(kn_parse_datetime("1970-01-01", &a) == 0);
	CHECK(a == 0);
}

TEST(util_datetime_rejects)
{
	int64_t v;
	CHECK(kn_parse_datetime("2026-02-29", &v) != 0);
	CHECK(kn_parse_datetime("2026-13-01", &v) != 0);
	CHECK(kn_parse_datetime("2026-11-20T15:30", &v) != 0); /* no zone */
	CHECK(kn_parse_datetime("2026-11-20T24:00Z", &v) != 0);
	CHECK(kn_parse_datetime("2026-11-20T10:00Zjunk", &v) != 0);
	CHECK(kn_parse_datetime("", &v) != 0);
	CHECK(kn_parse_datetime("20261120", &v) != 0);
}

TEST(util_utf8)
{
	const char *ja = "サーバ停止";
	CHECK(kn_utf8_valid(ja, strlen(ja)));
	CHECK(kn_utf8_len(ja) == 5);
	CHECK(kn_utf8_len("\xf0\x9f\x98\x80x") == 2);
	CHECK(!kn_utf8_valid("\xc0\xaf", 2));          /* overlong */
	CHECK(!kn_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
	CHECK(!kn_utf8_valid("\xe3\x81", 2));          /* truncated */
	CHECK(!kn_utf8_valid("a\0b", 3));              /* NUL */
}

TEST(util_b64url_roundtrip)
{
	const unsigned char data[] = {0, 1, 2, 250, 251, 252, 253, 254, 255};
	char *s = kn_b64url_encode(data, sizeof data);
	CHECK(strchr(s, '+') == NULL && strchr(s, '/') == NULL && strchr(s, '=') == NULL);
	size_t n;
	unsigned char *back = kn_b64url_decode(s, &n);
	REQUIRE(back);
	CHECK(n == sizeof data && memcmp(back, data, n) == 0);
	free(back);
	free(s);
	CHECK(kn_b64url_decode("***", &n) == NULL);
}

TEST(util_buf_cap)
{
	kn_buf b;
	kn_buf_init(&b, 10);
	CHECK(kn_buf_adds(&b, "12345") == 0);
	CHECK(kn_buf_addf(&b, "%d", 67890) == 0);
	CHECK(kn_buf_adds(&b, "x") == KN_ETOOBIG);
	CHECK(b.len == 10);
	CHECK_STR(b.data, "1234567890");
	kn_buf_release(&b);
}

TEST(util_sha256)
{
	char h[65];
	kn_sha256_hex("abc", 3, h);
	CHECK_STR(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(util_error_table)
{
	CHECK(kn_err_status(KN_EVALID) == 422);
	CHECK(kn_err_status(KN_ETOOBIG) == 413);
	CHECK(kn_err_status(KN_ECONFLICT) == 409);
	CHECK(kn_err_status(KN_EPRECOND) == 428);
	CHECK(kn_err_status(-999) == 500);
	kn_error e;
	CHECK(kn_fail(&e, KN_EVALID, "impact", "impact must be %d", 3) == KN_EVALID);
	CHECK_STR(e.field, "impact");
	CHECK_STR(e.detail, "impact must be 3");
}

TEST(util_json_write_matches_jansson)
{
	json_t *j = json_pack("{s:s,s:s,s:I,s:b,s:n,s:[s,i,{}],s:s}", "ja", "サーバ停止 \"引用\"",
			      "ctl", "a\nb\tc\\d\x01\x1f/<script>", "big", (json_int_t)-9007199254740993LL,
			      "ok", 1, "none", "arr", "x", 3, "emoji", "\xf0\x9f\x98\x80");
	REQUIRE(j);
	kn_buf b;
	kn_buf_init(&b, 0);
	REQUIRE(kn_json_write(&b, j) == 0);
	char *ref = json_dumps(j, JSON_COMPACT);
	CHECK_STR(b.data, ref);
	json_t *back = json_loads(b.data, 0, NULL);
	CHECK(back && json_equal(back, j));
	json_decref(back);
	free(ref);
	kn_buf_release(&b);
	kn_buf_init(&b, 8);
	CHECK(kn_json_write(&b, j) == KN_ETOOBIG);
	kn_buf_release(&b);
	json_decref(j);
}

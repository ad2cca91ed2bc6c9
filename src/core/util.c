/* SPDX-License-Identifier: Apache-2.0 */
/* util.c - allocation, buffers, time, hashing, tokens, UTF-8, canonical JSON. */
#include "kanri.h"

#include <stdarg.h>
#include <time.h>

#include <sodium.h>

static void oom(void)
{
	fputs("kanri: out of memory\n", stderr);
	abort();
}

void *kn_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *kn_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *kn_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *kn_xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");
	if (!p)
		oom();
	return p;
}

char *kn_xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *kn_xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	int r = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (r < 0)
		oom();
	return s;
}

/* ---- kn_buf ---------------------------------------------------------- */

void kn_buf_init(kn_buf *b, size_t max)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->max = max;
}

void kn_buf_release(kn_buf *b)
{
	free(b->data);
	kn_buf_init(b, b->max);
}

int kn_buf_add(kn_buf *b, const void *p, size_t n)
{
	if (b->max && b->len + n > b->max)
		return KN_ETOOBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->data = kn_xrealloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

int kn_buf_adds(kn_buf *b, const char *s) { return kn_buf_add(b, s, strlen(s)); }

int kn_buf_addf(kn_buf *b, const char *fmt, ...)
{
	va_list ap;
	char small[256];
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof small, fmt, ap);
	va_end(ap);
	if (n < 0)
		return KN_EINTERNAL;
	if ((size_t)n < sizeof small)
		return kn_buf_add(b, small, (size_t)n);
	char *big = kn_xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	int r = kn_buf_add(b, big, (size_t)n);
	free(big);
	return r;
}

/* ---- time -------------------------------------------------------------- */

int64_t kn_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void kn_now_iso(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000000);
}

static int digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (**p < '0' || **p > '9')
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	*out = v;
	return 0;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

int kn_parse_datetime(const char *s, int64_t *ms_out)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0, ms = 0;
	if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' ||
	    digits(&p, 2, &d))
		return KN_EVALID;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return KN_EVALID;
	int off = 0;
	if (*p == 'T' || *p == ' ') {
		p++;
		if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi))
			return KN_EVALID;
		if (*p == ':') {
			p++;
			if (digits(&p, 2, &sec))
				return KN_EVALID;
			if (*p == '.') {
				p++;
				int scale = 100, nd = 0;
				while (*p >= '0' && *p <= '9') {
					if (nd < 3)
						ms += (*p - '0') * scale, scale /= 10;
					p++, nd++;
				}
				if (!nd)
					return KN_EVALID;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return KN_EVALID;
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (digits(&p, 2, &oh))
				return KN_EVALID;
			if (*p == ':')
				p++;
			if (digits(&p, 2, &om) || oh > 23 || om > 59)
				return KN_EVALID;
			off = sign * (oh * 60 + om);
		} else {
			return KN_EVALID; /* a zone is required: no guessing */
		}
	}
	if (*p)
		return KN_EVALID;
	int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
	int64_t t = ((days * 24 + h) * 60 + mi - off) * 60 + sec;
	*ms_out = t * 1000 + ms;
	return 0;
}

void kn_format_datetime(int64_t ms, char *out, size_t n)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* ---- hashing and tokens ----------------------------------------------- */

void kn_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char h[crypto_hash_sha256_BYTES];
	crypto_hash_sha256(h, data, n);
	sodium_bin2hex(out, 65, h, sizeof h);
}

char *kn_b64url_encode(const void *data, size_t n)
{
	size_t len = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = kn_xmalloc(len);
	sodium_bin2base64(s, len, data, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

unsigned char *kn_b64url_decode(const char *s, size_t *n_out)
{
	size_t sl = strlen(s);
	unsigned char *out = kn_xmalloc(sl + 1);
	size_t bin_len;
	const char *end;
	if (sodium_base642bin(out, sl + 1, s, sl, NULL, &bin_len, &end,
			      sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
	    *end) {
		free(out);
		return NULL;
	}
	*n_out = bin_len;
	return out;
}

char *kn_random_token(size_t nbytes)
{
	unsigned char buf[64];
	if (nbytes > sizeof buf)
		nbytes = sizeof buf;
	randombytes_buf(buf, nbytes);
	return kn_b64url_encode(buf, nbytes);
}

/* ---- UTF-8 ----------------------------------------------------------- */

bool kn_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	while (p < e) {
		unsigned c = *p;
		if (c == 0)
			return false;
		if (c < 0x80) {
			p++;
			continue;
		}
		int len;
		unsigned min;
		if ((c & 0xe0) == 0xc0)
			len = 2, min = 0x80, c &= 0x1f;
		else if ((c & 0xf0) == 0xe0)
			len = 3, min = 0x800, c &= 0x0f;
		else if ((c & 0xf8) == 0xf0)
			len = 4, min = 0x10000, c &= 0x07;
		else
			return false;
		if (e - p < len)
			return false;
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		p += len;
	}
	return true;
}

size_t kn_utf8_len(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

char *kn_json_canon(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!s)
		abort();
	return s;
}

/* ---- fast JSON output ------------------------------------------------- */

static int write_string(kn_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = kn_buf_add(b, "\"", 1);
	size_t run = 0; /* bytes copied as they are, pending */
	for (size_t i = 0; i < n && !rc; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			run++;
			continue;
		}
		rc = kn_buf_add(b, s + i - run, run);
		run = 0;
		char esc[7] = {'\\', 0};
		size_t el = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u', esc[2] = '0', esc[3] = '0';
			esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
			el = 6;
		}
		if (!rc)
			rc = kn_buf_add(b, esc, el);
	}
	if (!rc)
		rc = kn_buf_add(b, s + n - run, run);
	return rc ? rc : kn_buf_add(b, "\"", 1);
}

int kn_json_write(kn_buf *b, const json_t *j)
{
	int rc = 0;
	switch (json_typeof(j)) {
	case JSON_OBJECT: {
		rc = kn_buf_add(b, "{", 1);
		bool first = true;
		const char *key;
		json_t *v;
		json_object_foreach((json_t *)j, key, v)
		{
			if (!first)
				rc = rc ? rc : kn_buf_add(b, ",", 1);
			first = false;
			rc = rc ? rc : write_string(b, key, strlen(key));
			rc = rc ? rc : kn_buf_add(b, ":", 1);
			rc = rc ? rc : kn_json_write(b, v);
		}
		return rc ? rc : kn_buf_add(b, "}", 1);
	}
	case JSON_ARRAY: {
		rc = kn_buf_add(b, "[", 1);
		for (size_t i = 0; i < json_array_size(j) && !rc; i++) {
			if (i)
				rc = kn_buf_add(b, ",", 1);
			rc = rc ? rc : kn_json_write(b, json_array_get(j, i));
		}
		return rc ? rc : kn_buf_add(b, "]", 1);
	}
	case JSON_STRING:
		return write_string(b, json_string_value(j), json_string_length(j));
	case JSON_INTEGER: {
		char num[24];
		int n = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		return kn_buf_add(b, num, (size_t)n);
	}
	case JSON_REAL: {
		/* the shortest text that reads back as the same number (2.5,
		 * not 2.5000000000000000), with ".0" when it is whole */
		char num[40];
		double v = json_real_value(j);
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(num, sizeof num, "%.*g", prec, v);
			if (strtod(num, NULL) == v)
				break;
		}
		if (!strpbrk(num, ".eEn"))
			snprintf(num + strlen(num), sizeof num - strlen(num), ".0");
		return kn_buf_adds(b, num);
	}
	case JSON_TRUE:
		return kn_buf_add(b, "true", 4);
	case JSON_FALSE:
		return kn_buf_add(b, "false", 5);
	case JSON_NULL:
		return kn_buf_add(b, "null", 4);
	}
	return kn_buf_add(b, "null", 4);
}

int kn_buf_read_file(kn_buf *b, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	char chunk[65536];
	size_t got;
	int rc = 0;
	while (!rc && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
		rc = kn_buf_add(b, chunk, got);
	if (ferror(f))
		rc = -1;
	fclose(f);
	return rc ? -1 : 0;
}

const char *kn_tmpdir(void)
{
	const char *d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}

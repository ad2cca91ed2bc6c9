/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tz.c - time zones (see calendar.h): TZif files of the tz database
 * (RFC 8536, versions 1 to 4) with the POSIX TZ rule of their footer,
 * "UTC" and fixed offsets; and the proleptic Gregorian day arithmetic the
 * calendars share.
 *
 * A kn_tz is immutable once loaded: threads share it without locks. The
 * transitions of the file are kept as (instant, offset) pairs, those that
 * change nothing but the abbreviation or the DST flag dropped, and found by
 * binary search. Past the file's last transition the footer rule gives the
 * offset: the transitions of the years around the instant are computed on
 * the fly (Debian's "slim" files stop their table early and rely on it).
 */
#include "kanri.h"

#include "core/calendar.h"

#include <ctype.h>

#define TZ_FAR (INT64_C(1) << 60)   /* an instant beyond all others */
#define TZ_LIMIT (INT64_C(1) << 46) /* ~2.2 million years: rules end here */
#define TZ_MAX_OFF (26 * 3600)	    /* no zone is further from UTC */
#define TZ_MAX_FILE (1 << 20)
#define TZ_NAME_MAX 128

/* ---- dates ---------------------------------------------------------------- */

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int64_t kn_days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const int64_t yoe = y - era * 400;
	const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void kn_civil_from_days(int64_t days, int *y, int *m, int *d)
{
	days += 719468;
	const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	const int64_t doe = days - era * 146097;
	const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	const int64_t mp = (5 * doy + 2) / 153;
	const int64_t dd = doy - (153 * mp + 2) / 5 + 1;
	const int64_t mm = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400 + (mm <= 2));
	*m = (int)mm;
	*d = (int)dd;
}

int kn_weekday(int64_t days)
{
	int64_t w = (days + 4) % 7; /* 1970-01-01 was a Thursday */
	return (int)(w < 0 ? w + 7 : w);
}

bool kn_leap_year(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int kn_days_in_month(int64_t y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && kn_leap_year(y) ? 29 : dm[m - 1];
}

/* ---- POSIX TZ rules ------------------------------------------------------- */

/* A date of a rule and the local time of day the change happens at. */
struct tz_date {
	char kind;    /* 'J': Julian day 1..365 without Feb 29; 'N': day 0..365; 'M' */
	int a, b, c;  /* J and N: the day; M: month, week (5 = last), weekday (0 = Sunday) */
	int32_t secs; /* -167h..167h (RFC 8536 extends POSIX's 0..24h) */
};

struct tz_rule {
	int32_t std_off, dst_off; /* seconds east of UTC */
	bool has_dst;
	struct tz_date start, end; /* std -> dst, in standard time; dst -> std, in DST */
};

struct kn_tz {
	char *name;
	int64_t *at;  /* instants of the offset changes, ascending */
	int32_t *off; /* the offset from at[i] on */
	size_t n;
	int32_t off0;  /* before at[0] (the file's type 0) */
	bool has_rule; /* the footer's rule applies from rule_from on */
	int64_t rule_from;
	struct tz_rule rule;
};

/* A zone name: "<+0330>" or at least three letters. */
static const char *rule_name(const char *p)
{
	int n = 0;
	if (*p == '<') {
		for (p++; *p && *p != '>'; p++, n++)
			if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-')
				return NULL;
		return *p == '>' && n >= 3 ? p + 1 : NULL;
	}
	while (isalpha((unsigned char)*p))
		p++, n++;
	return n >= 3 ? p : NULL;
}

static const char *rule_num(const char *p, int maxdig, int lo, int hi, int *out)
{
	int v = 0, n = 0;
	while (isdigit((unsigned char)*p) && n < maxdig)
		v = v * 10 + (*p++ - '0'), n++;
	if (!n || isdigit((unsigned char)*p) || v < lo || v > hi)
		return NULL;
	*out = v;
	return p;
}

/* [+-]hh[:mm[:ss]] with hh up to maxh, as seconds. */
static const char *rule_hms(const char *p, int maxh, int32_t *out)
{
	int sign = 1, h, m = 0, s = 0;
	if (*p == '+' || *p == '-')
		sign = *p++ == '-' ? -1 : 1;
	if (!(p = rule_num(p, 3, 0, maxh, &h)))
		return NULL;
	if (*p == ':') {
		if (!(p = rule_num(p + 1, 2, 0, 59, &m)))
			return NULL;
		if (*p == ':' && !(p = rule_num(p + 1, 2, 0, 59, &s)))
			return NULL;
	}
	*out = sign * (h * 3600 + m * 60 + s);
	return p;
}

static const char *rule_date(const char *p, struct tz_date *d)
{
	if (*p == 'J') {
		d->kind = 'J';
		p = rule_num(p + 1, 3, 1, 365, &d->a);
	} else if (*p == 'M') {
		d->kind = 'M';
		if ((p = rule_num(p + 1, 2, 1, 12, &d->a)) && *p == '.' &&
		    (p = rule_num(p + 1, 1, 1, 5, &d->b)) && *p == '.')
			p = rule_num(p + 1, 1, 0, 6, &d->c);
		else
			p = NULL;
	} else {
		d->kind = 'N';
		p = rule_num(p, 3, 0, 365, &d->a);
	}
	d->secs = 7200;
	if (p && *p == '/')
		p = rule_hms(p + 1, 167, &d->secs);
	return p;
}

/* Parse a POSIX TZ string ("EST5EDT,M3.2.0,M11.1.0", "<+0330>-3:30",
 * "IST-2IDT,M3.4.4/26,M10.5.0"); 0 or -1. */
static int rule_parse(const char *s, struct tz_rule *r)
{
	const char *p = rule_name(s);
	int32_t v;
	memset(r, 0, sizeof *r);
	if (!p || !(p = rule_hms(p, 24, &v)))
		return -1;
	r->std_off = -v; /* POSIX counts west of Greenwich */
	if (!*p)
		return 0;
	if (!(p = rule_name(p)))
		return -1;
	r->has_dst = true;
	r->dst_off = r->std_off + 3600;
	if (*p && *p != ',') {
		if (!(p = rule_hms(p, 24, &v)))
			return -1;
		r->dst_off = -v;
	}
	if (!*p) /* no rule given: the United States' (what tzcode assumes) */
		p = ",M3.2.0,M11.1.0";
	if (*p != ',' || !(p = rule_date(p + 1, &r->start)) || *p != ',' ||
	    !(p = rule_date(p + 1, &r->end)) || *p)
		return -1;
	return 0;
}

/* The local time (seconds on the wall clock since 1970) of d in year y. */
static int64_t rule_local(int64_t y, const struct tz_date *d)
{
	int64_t day;
	if (d->kind == 'J') {
		day = kn_days_from_civil(y, 1, 1) + d->a - 1 + (kn_leap_year(y) && d->a >= 60);
	} else if (d->kind == 'N') {
		day = kn_days_from_civil(y, 1, 1) + d->a;
	} else {
		int64_t first = kn_days_from_civil(y, d->a, 1);
		day = first + (d->c - kn_weekday(first) + 7) % 7 + 7 * (d->b - 1);
		while (day >= first + kn_days_in_month(y, d->a))
			day -= 7;
	}
	return day * 86400 + d->secs;
}

/* The offset of rule r at t, and the interval [*start, *end) around t over
 * which it holds (*start no earlier than floor). */
static int32_t rule_period(const struct tz_rule *r, int64_t t, int64_t floor, int64_t *start,
			   int64_t *end)
{
	if (!r->has_dst || t >= TZ_LIMIT || t < -TZ_LIMIT) {
		/* beyond TZ_LIMIT, standard time for ever */
		*start = t >= TZ_LIMIT ? TZ_LIMIT : floor;
		*end = !r->has_dst || t >= TZ_LIMIT ? TZ_FAR : -TZ_LIMIT;
		if (*start < floor)
			*start = floor;
		return r->std_off;
	}
	/* The changes of the five years around t, in the order the rule makes
	 * them; a stable sort by instant keeps that order for ties (a DST
	 * "all year" rule ends a year at the instant it starts the next). */
	struct {
		int64_t at;
		int32_t off;
	} ev[10], tmp;
	int n = 0, y, m, d;
	kn_civil_from_days(floordiv(t + r->std_off, 86400), &y, &m, &d);
	for (int64_t yy = y - 2; yy <= y + 2; yy++) {
		int64_t s = rule_local(yy, &r->start) - r->std_off;
		int64_t e = rule_local(yy, &r->end) - r->dst_off;
		if (s <= e) {
			ev[n].at = s, ev[n++].off = r->dst_off;
			ev[n].at = e, ev[n++].off = r->std_off;
		} else {
			ev[n].at = e, ev[n++].off = r->std_off;
			ev[n].at = s, ev[n++].off = r->dst_off;
		}
	}
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && ev[j - 1].at > ev[j].at; j--)
			tmp = ev[j], ev[j] = ev[j - 1], ev[j - 1] = tmp;
	int i = n - 1;
	while (i > 0 && ev[i].at > t)
		i--;
	*start = ev[i].at > floor ? ev[i].at : floor;
	*end = i + 1 < n ? ev[i + 1].at : TZ_FAR;
	return ev[i].off;
}

/* ---- lookups -------------------------------------------------------------- */

int32_t kn_tz_period(const kn_tz *z, int64_t t, int64_t *start, int64_t *end)
{
	int64_t s = -TZ_FAR, e = TZ_FAR;
	if (z->has_rule && t >= z->rule_from)
		return rule_period(&z->rule, t, z->rule_from, start, end);
	if (z->has_rule)
		e = z->rule_from;
	int32_t off = z->off0;
	if (z->n && t >= z->at[0]) {
		size_t lo = 0, hi = z->n; /* at[lo] <= t < at[hi] */
		while (hi - lo > 1) {
			size_t mid = lo + (hi - lo) / 2;
			if (z->at[mid] <= t)
				lo = mid;
			else
				hi = mid;
		}
		s = z->at[lo];
		off = z->off[lo];
		if (hi < z->n && z->at[hi] < e)
			e = z->at[hi];
	} else if (z->n && z->at[0] < e) {
		e = z->at[0];
	}
	*start = s;
	*end = e;
	return off;
}

int kn_tz_offset(const kn_tz *z, int64_t t)
{
	int64_t s, e;
	return kn_tz_period(z, t, &s, &e);
}

int64_t kn_tz_utc(const kn_tz *z, int64_t local)
{
	if (local > TZ_FAR / 2)
		local = TZ_FAR / 2;
	if (local < -TZ_FAR / 2)
		local = -TZ_FAR / 2;
	/* Every solution t of t + offset(t) = local lies within TZ_MAX_OFF of
	 * local: walk the periods from there. The first whose wall clock
	 * covers local holds the earliest solution; one whose wall clock
	 * starts after local means local fell in the gap before it. */
	int64_t ps, pe;
	int32_t off = kn_tz_period(z, local - TZ_MAX_OFF, &ps, &pe);
	for (int k = 0; k < 64; k++) {
		int64_t t = local - off;
		if (t >= ps && t < pe)
			return t;
		if (k && ps + off > local)
			return ps;
		if (pe >= TZ_FAR)
			break;
		off = kn_tz_period(z, pe, &ps, &pe);
	}
	return local - off;
}

const char *kn_tz_name(const kn_tz *z)
{
	return z->name;
}

void kn_tz_format(const kn_tz *z, int64_t ms, char *out, size_t n)
{
	int64_t t = floordiv(ms, 1000);
	int off = kn_tz_offset(z, t);
	int64_t local = t + off, days = floordiv(local, 86400), sod = local - days * 86400;
	int y, m, d, a = off < 0 ? -off : off;
	kn_civil_from_days(days, &y, &m, &d);
	char zone[16];
	if (a % 60)
		snprintf(zone, sizeof zone, "%c%02d:%02d:%02d", off < 0 ? '-' : '+', a / 3600,
			 a / 60 % 60, a % 60);
	else
		snprintf(zone, sizeof zone, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600,
			 a / 60 % 60);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d%s", y, m, d, (int)(sod / 3600),
		 (int)(sod / 60 % 60), (int)(sod % 60), zone);
}

/* ---- loading ---------------------------------------------------------------- */

void kn_tz_free(kn_tz *z)
{
	if (!z)
		return;
	free(z->name);
	free(z->at);
	free(z->off);
	free(z);
}

static kn_tz *tz_fixed(const char *name, int32_t off)
{
	kn_tz *z = kn_xcalloc(1, sizeof *z);
	z->name = kn_xstrdup(name);
	z->off0 = off;
	return z;
}

/* "+09:00", "-0530", "+09": the offset, or -1 when s is not one. */
static int fixed_offset(const char *s, int32_t *off)
{
	int h, m = 0;
	const char *p = s + 1;
	if (*s != '+' && *s != '-')
		return -1;
	if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
		return -1;
	h = (p[0] - '0') * 10 + (p[1] - '0');
	p += 2;
	if (*p) {
		if (*p == ':')
			p++;
		if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) || p[2])
			return -1;
		m = (p[0] - '0') * 10 + (p[1] - '0');
	}
	if (h > 23 || m > 59)
		return -1;
	*off = (*s == '-' ? -1 : 1) * (h * 3600 + m * 60);
	return 0;
}

/* A name of the tz database: letters, digits and "_-+.", components
 * separated by single slashes, none empty or starting with a dot. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > TZ_NAME_MAX)
		return false;
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!isalnum(c) && !strchr("_-+./", c))
			return false;
		bool comp = p == s || p[-1] == '/';
		if (comp && (c == '/' || c == '.'))
			return false;
	}
	return s[n - 1] != '/';
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t be64(const unsigned char *p)
{
	return (int64_t)((uint64_t)be32(p) << 32 | be32(p + 4));
}

struct tzif_counts {
	uint32_t isut, isstd, leap, time, type, chr;
};

static void tzif_counts(const unsigned char *h, struct tzif_counts *c)
{
	c->isut = be32(h + 20);
	c->isstd = be32(h + 24);
	c->leap = be32(h + 28);
	c->time = be32(h + 32);
	c->type = be32(h + 36);
	c->chr = be32(h + 40);
}

/* The size of a data block whose times take tsz bytes (0 when the counts
 * are absurd). */
static size_t tzif_block(const struct tzif_counts *c, size_t tsz)
{
	if (c->time > 100000 || c->type == 0 || c->type > 256 || c->chr > 100000 ||
	    c->leap > 100000 || (c->isut && c->isut != c->type) ||
	    (c->isstd && c->isstd != c->type))
		return 0;
	return (size_t)c->time * (tsz + 1) + (size_t)c->type * 6 + c->chr +
	       (size_t)c->leap * (tsz + 4) + c->isstd + c->isut;
}

/* Fill z from a TZif file. 0; 1 when b is not TZif at all; -1 when it is
 * but cannot be used (the detail in *why). */
static int tzif_parse(kn_tz *z, const unsigned char *b, size_t len, const char **why)
{
	struct tzif_counts c;
	size_t tsz = 4;
	*why = "is corrupt";
	if (len < 44 || memcmp(b, "TZif", 4) != 0)
		return 1;
	tzif_counts(b, &c);
	size_t blk = tzif_block(&c, 4);
	if (!blk || 44 + blk > len)
		return -1;
	const unsigned char *p = b + 44, *end = b + len;
	if (b[4] >= '2') {
		/* version 2 and later: skip the 32-bit block for the 64-bit one */
		p += blk;
		if (end - p < 44 || memcmp(p, "TZif", 4) != 0)
			return -1;
		tzif_counts(p, &c);
		tsz = 8;
		if (!(blk = tzif_block(&c, 8)) || (size_t)(end - p) < 44 + blk)
			return -1;
		p += 44;
	} else if (b[4] != 0) {
		return -1;
	}
	if (c.leap) {
		*why = "has leap seconds (not supported)";
		return -1;
	}
	const unsigned char *times = p, *idx = p + c.time * tsz, *types = idx + c.time;
	int32_t toff[256];
	for (uint32_t i = 0; i < c.type; i++) {
		int32_t o = (int32_t)be32(types + i * 6);
		if (o < -TZ_MAX_OFF || o > TZ_MAX_OFF || types[i * 6 + 5] >= c.chr)
			return -1;
		toff[i] = o;
	}
	z->off0 = toff[0];
	z->at = kn_xmalloc((c.time ? c.time : 1) * sizeof *z->at);
	z->off = kn_xmalloc((c.time ? c.time : 1) * sizeof *z->off);
	int64_t last = 0;
	int32_t cur = z->off0;
	for (uint32_t i = 0; i < c.time; i++) {
		int64_t t = tsz == 8 ? be64(times + i * 8) : (int32_t)be32(times + i * 4);
		if (idx[i] >= c.type || (i && t <= last) || t <= -TZ_FAR / 2 || t >= TZ_FAR / 2)
			return -1;
		last = t;
		if (toff[idx[i]] == cur)
			continue; /* only the abbreviation or the DST flag changes */
		cur = toff[idx[i]];
		z->at[z->n] = t;
		z->off[z->n++] = cur;
	}
	if (tsz == 8) {
		/* the footer: "\n" TZ-string "\n" */
		const char *f = (const char *)p + blk, *fe = (const char *)end;
		if (fe - f < 2 || *f != '\n' || fe[-1] != '\n')
			return -1;
		size_t fl = (size_t)(fe - f) - 2;
		if (fl) {
			char rule[256];
			if (fl >= sizeof rule || memchr(f + 1, '\n', fl) || memchr(f + 1, 0, fl))
				return -1;
			memcpy(rule, f + 1, fl);
			rule[fl] = 0;
			if (rule_parse(rule, &z->rule)) {
				*why = "has a footer rule that cannot be read";
				return -1;
			}
			z->has_rule = true;
			z->rule_from = c.time ? last : -TZ_FAR;
		}
	}
	return 0;
}

int kn_tz_load(const char *name, kn_tz **out, kn_error *err)
{
	int32_t off;
	*out = NULL;
	if (!name)
		name = "";
	if (!strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "GMT") ||
	    !strcmp(name, "Etc/GMT")) {
		*out = tz_fixed(name, 0);
		return 0;
	}
	if (fixed_offset(name, &off) == 0) {
		char canon[16];
		int a = off < 0 ? -off : off;
		snprintf(canon, sizeof canon, "%c%02d:%02d", off < 0 ? '-' : '+', a / 3600,
			 a / 60 % 60);
		*out = tz_fixed(canon, off);
		return 0;
	}
	if (!name_ok(name)) {
		bool printable = true;
		for (const char *p = name; *p; p++)
			printable &= *p >= 0x20 && *p < 0x7f;
		if (printable && strlen(name) <= 100)
			return kn_fail(err, KN_EVALID, "time_zone", "unknown time zone '%s'", name);
		return kn_fail(err, KN_EVALID, "time_zone", "unknown time zone (invalid name)");
	}
	const char *dir = getenv("TZDIR");
	if (!dir || !*dir)
		dir = "/usr/share/zoneinfo";
	char *path = kn_xasprintf("%s/%s", dir, name);
	kn_buf b;
	kn_buf_init(&b, TZ_MAX_FILE);
	int rd = kn_buf_read_file(&b, path);
	free(path);
	kn_tz *z = kn_xcalloc(1, sizeof *z);
	const char *why = "";
	int rc = rd ? 1 : tzif_parse(z, (const unsigned char *)b.data, b.len, &why);
	kn_buf_release(&b);
	if (rc) {
		kn_tz_free(z);
		if (rc > 0)
			return kn_fail(err, KN_EVALID, "time_zone", "unknown time zone '%s'", name);
		return kn_fail(err, KN_EVALID, "time_zone", "the file of time zone '%s' %s", name,
			       why);
	}
	z->name = kn_xstrdup(name);
	*out = z;
	return 0;
}

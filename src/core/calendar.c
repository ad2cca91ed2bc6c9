/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calendar.c - business calendars (see calendar.h): their declaration, the
 * arithmetic of business time, Japanese public holidays and durations.
 *
 * A calendar is immutable once built: threads share it read-only. The
 * arithmetic walks local dates. The service spans of each date (those of an
 * exception or a holiday in place of the weekday's) become UTC instants and
 * are clipped against the end of the span before, so that overnight hours
 * overlapping the next date's count once. What keeps it cheap, with no
 * allocation and no file access per call:
 *  - a bitmap of the dates 1970-2199 that have a holiday or an exception
 *    (and whether there are any before or after): any other date takes its
 *    weekday's hours at once;
 *  - while the zone's offset stays put (kn_tz_period), a local wall time
 *    converts to UTC by a subtraction;
 *  - eight ordinary dates in a row at one offset (a week, and the date
 *    before whose overnight hours may spill into it) hold exactly the
 *    week's business time, precomputed: long durations skip whole weeks.
 */
#include "kanri.h"

#include "core/calendar.h"

#include <inttypes.h>
#include <pthread.h>
#include <strings.h>

#define CAL_SPANS 8
#define CAL_MARGIN (2 * 26 * 3600)   /* two offsets differ by less than this */
#define CAL_QUIET_DAYS 3653	     /* ten years without an open minute: never open */
#define CAL_MIN_DAY INT64_C(-719162) /* 0001-01-01 */
#define CAL_MAX_DAY INT64_C(2932897) /* 10000-01-01 */
#define CAL_MARK_FROM 1970
#define CAL_MARK_TO 2200 /* the bitmap covers [1970-01-01, 2200-01-01) */
#define CAL_MAX_EXC 4096
#define CAL_MAX_HOLIDAYS 100000

static int64_t floordiv(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ---- the calendar ------------------------------------------------------- */

/* The service hours of a date: spans in seconds after its local midnight,
 * sorted, not overlapping, to <= 2 days. */
struct hours {
	int n;
	int32_t s[CAL_SPANS][2];
};

struct cal_exc {
	bool annual;	  /* MM-DD dates, every year */
	int64_t from, to; /* day numbers, or month * 100 + day when annual */
	struct hours h;
	char *name;
};

struct cal_hol {
	int32_t day;
	uint32_t seq; /* order given, for holiday_dates */
	const char *name;
};

struct kn_calendar {
	kn_tz *tz;
	struct hours week[7];	   /* by weekday, 0 = Sunday */
	int32_t spill[7];	   /* how far a weekday's hours run past the next midnight */
	int64_t week_ms;	   /* business time of seven ordinary dates at one offset */
	const struct cal_hol *hol; /* sorted by day */
	size_t nhol;
	struct cal_hol *own_hol; /* hol, names included, when not the built-in set */
	struct cal_exc *exc;	 /* in declaration order */
	size_t nexc;
	bool annual;	/* some exception repeats every year */
	uint64_t *mark; /* dates with a holiday or an exception, from mark_lo */
	int64_t mark_lo, mark_hi;
	bool plain_below, plain_above; /* no holiday or exception outside them */
};

static const struct hours closed_hours;

/* The built-in Japanese holidays, 1980-2099: written once (jp_once), read
 * only after. */
static struct cal_hol jp_tab[120 * 32];
static size_t jp_n;
static pthread_once_t jp_once = PTHREAD_ONCE_INIT;

static void jp_build(void)
{
	kn_holiday h[32];
	for (int y = 1980; y <= 2099; y++) {
		int n = kn_holidays_jp(y, h, 32);
		for (int i = 0; i < n && jp_n < sizeof jp_tab / sizeof *jp_tab; i++) {
			jp_tab[jp_n].day = (int32_t)kn_days_from_civil(y, h[i].m, h[i].d);
			jp_tab[jp_n++].name = h[i].name_ja;
		}
	}
}

void kn_calendar_free(kn_calendar *c)
{
	if (!c)
		return;
	kn_tz_free(c->tz);
	for (size_t i = 0; c->own_hol && i < c->nhol; i++)
		free((char *)c->own_hol[i].name);
	free(c->own_hol);
	for (size_t i = 0; i < c->nexc; i++)
		free(c->exc[i].name);
	free(c->exc);
	free(c->mark);
	free(c);
}

const kn_tz *kn_calendar_tz(const kn_calendar *c)
{
	return c->tz;
}

/* s for an error message, or a stand-in when it is long. */
static const char *shown(const char *s)
{
	return strlen(s) <= 64 ? s : "(too long)";
}

/* "HH:MM" or "H:MM"; "24:00" only as an end. */
static const char *parse_hm(const char *p, bool end, int32_t *secs)
{
	int h = 0, n = 0;
	while (*p >= '0' && *p <= '9' && n < 2)
		h = h * 10 + (*p++ - '0'), n++;
	if (!n || p[0] != ':' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return NULL;
	int m = (p[1] - '0') * 10 + (p[2] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m || !end)))
		return NULL;
	*secs = h * 3600 + m * 60;
	return p + 3;
}

/* "09:00-18:00"; an end not after the start is on the next date. */
static int parse_span(const char *s, int32_t span[2])
{
	int32_t a, b;
	const char *p = parse_hm(s, false, &a);
	if (!p || *p != '-' || !(p = parse_hm(p + 1, true, &b)) || *p)
		return -1;
	span[0] = a;
	span[1] = b > a ? b : b + 86400;
	return 0;
}

/* The hours of a weekday or an exception (what names it in messages) from
 * v: a list of spans, one span, or null/absent for closed. */
static int parse_hours(const json_t *v, const char *field, const char *what, struct hours *h,
		       kn_error *err)
{
	const char *text[CAL_SPANS], *t;
	h->n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v) && !json_is_array(v))
		return kn_fail(err, KN_EVALID, field,
			       "hours of %s must be a list of spans such as [\"09:00-18:00\"]",
			       what);
	size_t n = json_is_string(v) ? 1 : json_array_size(v);
	if (n > CAL_SPANS)
		return kn_fail(err, KN_EVALID, field, "%s has more than %d spans of hours", what,
			       CAL_SPANS);
	for (size_t i = 0; i < n; i++) {
		const json_t *x = json_is_string(v) ? v : json_array_get(v, i);
		int32_t sp[2];
		if (!json_is_string(x))
			return kn_fail(err, KN_EVALID, field,
				       "hours of %s must be strings such as \"09:00-18:00\"", what);
		const char *s = json_string_value(x);
		if (parse_span(s, sp))
			return kn_fail(err, KN_EVALID, field,
				       "bad span '%s' for %s (want HH:MM-HH:MM, e.g. 09:00-18:00)",
				       shown(s), what);
		int j = h->n++;
		for (; j > 0 && h->s[j - 1][0] > sp[0]; j--) {
			h->s[j][0] = h->s[j - 1][0], h->s[j][1] = h->s[j - 1][1];
			text[j] = text[j - 1];
		}
		h->s[j][0] = sp[0], h->s[j][1] = sp[1];
		text[j] = s;
	}
	for (int i = 0; i + 1 < h->n; i++)
		if (h->s[i][1] > h->s[i + 1][0]) {
			t = text[i + 1];
			return kn_fail(err, KN_EVALID, field, "spans '%s' and '%s' of %s overlap",
				       shown(text[i]), shown(t), what);
		}
	return 0;
}

/* "YYYY-MM-DD" (a day number) or "MM-DD" (month * 100 + day, annual). */
static int parse_date(const char *s, bool *annual, int64_t *v)
{
	int y = 0, m, d, i;
	size_t n = strlen(s);
	if (n != 5 && n != 10)
		return -1;
	for (i = 0; i < (int)n; i++)
		if ((n - i == 3 || n - i == 6) ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
			return -1;
	const char *p = s;
	if (n == 10) {
		y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
		p += 5;
	}
	m = (p[0] - '0') * 10 + (p[1] - '0');
	d = (p[3] - '0') * 10 + (p[4] - '0');
	if (m < 1 || m > 12 || d < 1 || d > kn_days_in_month(n == 10 ? y : 2000, m) ||
	    (n == 10 && y < 1))
		return -1;
	*annual = n == 5;
	*v = n == 5 ? m * 100 + d : kn_days_from_civil(y, m, d);
	return 0;
}

static int parse_week(kn_calendar *c, const json_t *hours, kn_error *err)
{
	static const char *const wd[7] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
	const char *key;
	json_t *v;
	if (!hours)
		return kn_fail(err, KN_EVALID, "hours",
			       "hours is required (e.g. {\"mon\": "
			       "[\"09:00-18:00\"], ...})");
	if (!json_is_object(hours))
		return kn_fail(err, KN_EVALID, "hours",
			       "hours must be an object of weekdays (mon..sun)");
	json_object_foreach((json_t *)hours, key, v)
	{
		int w = 0;
		while (w < 7 && strcmp(key, wd[w]))
			w++;
		if (w == 7)
			return kn_fail(err, KN_EVALID, "hours",
				       "unknown weekday '%s' (use mon..sun)", shown(key));
		int rc = parse_hours(v, "hours", wd[w], &c->week[w], err);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_exceptions(kn_calendar *c, const json_t *list, kn_error *err)
{
	const char *F = "exceptions";
	if (!list || json_is_null(list))
		return 0;
	if (!json_is_array(list))
		return kn_fail(err, KN_EVALID, F, "exceptions must be a list");
	if (json_array_size(list) > CAL_MAX_EXC)
		return kn_fail(err, KN_EVALID, F, "more than %d exceptions", CAL_MAX_EXC);
	c->exc = kn_xcalloc(json_array_size(list), sizeof *c->exc);
	for (size_t i = 0; i < json_array_size(list); i++) {
		const json_t *x = json_array_get(list, i);
		struct cal_exc *e = &c->exc[c->nexc++];
		char what[48];
		snprintf(what, sizeof what, "exception %zu", i + 1);
		if (!json_is_object(x))
			return kn_fail(err, KN_EVALID, F,
				       "%s must be an object with from, to, hours", what);
		const json_t *jf = json_object_get(x, "from"), *jt = json_object_get(x, "to");
		const json_t *jn = json_object_get(x, "name");
		bool ann2;
		if (!json_is_string(jf) || parse_date(json_string_value(jf), &e->annual, &e->from))
			return kn_fail(err, KN_EVALID, F,
				       "%s needs a date 'from' as YYYY-MM-DD or MM-DD (every year)",
				       what);
		e->to = e->from;
		if (jt && !json_is_null(jt)) {
			if (!json_is_string(jt) || parse_date(json_string_value(jt), &ann2, &e->to))
				return kn_fail(err, KN_EVALID, F,
					       "%s has a bad date 'to' (want YYYY-MM-DD or MM-DD)",
					       what);
			if (ann2 != e->annual)
				return kn_fail(err, KN_EVALID, F,
					       "%s mixes a yearly MM-DD date with a full date",
					       what);
			if (!e->annual && e->to < e->from)
				return kn_fail(err, KN_EVALID, F, "%s ends before it starts", what);
		}
		if (jn && !json_is_null(jn) && !json_is_string(jn))
			return kn_fail(err, KN_EVALID, F, "the name of %s must be a string", what);
		e->name =
		    kn_xstrdup(json_is_string(jn) && *json_string_value(jn) ? json_string_value(jn)
									    : "exception");
		int rc = parse_hours(json_object_get(x, "hours"), F, what, &e->h, err);
		if (rc)
			return rc;
		c->annual |= e->annual;
	}
	return 0;
}

static int hol_cmp(const void *a, const void *b)
{
	const struct cal_hol *x = a, *y = b;
	if (x->day != y->day)
		return x->day < y->day ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int parse_holidays(kn_calendar *c, const json_t *set, const json_t *dates, kn_error *err)
{
	if (set && !json_is_null(set) && !json_is_string(set))
		return kn_fail(err, KN_EVALID, "holidays",
			       "holidays must name a set such as \"jp\", or be null");
	const char *sn = json_is_string(set) ? json_string_value(set) : "";
	if (dates && !json_is_null(dates)) {
		const char *F = "holiday_dates";
		if (!json_is_array(dates))
			return kn_fail(err, KN_EVALID, F,
				       "holiday_dates must be a list of dates (YYYY-MM-DD)");
		size_t n = json_array_size(dates);
		if (n > CAL_MAX_HOLIDAYS)
			return kn_fail(err, KN_EVALID, F, "more than %d holiday dates",
				       CAL_MAX_HOLIDAYS);
		c->own_hol = kn_xcalloc(n, sizeof *c->own_hol);
		for (size_t i = 0; i < n; i++) {
			const json_t *x = json_array_get(dates, i), *d = x, *nm = NULL;
			bool annual;
			int64_t day;
			if (json_is_object(x))
				d = json_object_get(x, "date"), nm = json_object_get(x, "name");
			if (!json_is_string(d) || parse_date(json_string_value(d), &annual, &day) ||
			    annual || (nm && !json_is_null(nm) && !json_is_string(nm)))
				return kn_fail(err, KN_EVALID, F,
					       "holiday date %zu is not a date YYYY-MM-DD (or "
					       "{\"date\": ..., \"name\": ...})",
					       i + 1);
			c->own_hol[c->nhol].day = (int32_t)day;
			c->own_hol[c->nhol].seq = (uint32_t)i;
			c->own_hol[c->nhol++].name = kn_xstrdup(
			    json_is_string(nm) && *json_string_value(nm) ? json_string_value(nm)
									 : "holiday");
		}
		/* sorted, one entry a date (the first given wins) */
		qsort(c->own_hol, c->nhol, sizeof *c->own_hol, hol_cmp);
		size_t k = 0;
		for (size_t i = 0; i < c->nhol; i++) {
			if (k && c->own_hol[k - 1].day == c->own_hol[i].day)
				free((char *)c->own_hol[i].name);
			else
				c->own_hol[k++] = c->own_hol[i];
		}
		c->nhol = k;
		c->hol = c->own_hol;
		return 0;
	}
	if (!*sn || !strcasecmp(sn, "none"))
		return 0;
	if (strcasecmp(sn, "jp"))
		return kn_fail(err, KN_EVALID, "holidays",
			       "unknown holiday set '%s' (built in: jp; or list holiday_dates)",
			       shown(sn));
	pthread_once(&jp_once, jp_build);
	c->hol = jp_tab;
	c->nhol = jp_n;
	return 0;
}

static void mark_range(kn_calendar *c, int64_t a, int64_t b)
{
	if (a < c->mark_lo)
		a = c->mark_lo;
	if (b >= c->mark_hi)
		b = c->mark_hi - 1;
	for (int64_t d = a; d <= b; d++)
		c->mark[(d - c->mark_lo) >> 6] |= UINT64_C(1) << ((d - c->mark_lo) & 63);
}

/* The first date on or after month*100+day in year y (Feb 29 of a common
 * year: Mar 1), or with last, the last on or before it. */
static int64_t annual_day(int y, int64_t key, bool last)
{
	int m = (int)(key / 100), d = (int)(key % 100), dim = kn_days_in_month(y, m);
	if (d <= dim)
		return kn_days_from_civil(y, m, d);
	return kn_days_from_civil(y, m, dim) + (last ? 0 : 1);
}

static void build_marks(kn_calendar *c)
{
	c->mark_lo = kn_days_from_civil(CAL_MARK_FROM, 1, 1);
	c->mark_hi = kn_days_from_civil(CAL_MARK_TO, 1, 1);
	c->mark = kn_xcalloc((size_t)(c->mark_hi - c->mark_lo + 63) / 64, sizeof *c->mark);
	c->plain_below = c->plain_above = !c->annual;
	if (c->nhol) {
		c->plain_below &= c->hol[0].day >= c->mark_lo;
		c->plain_above &= c->hol[c->nhol - 1].day < c->mark_hi;
	}
	for (size_t i = 0; i < c->nexc; i++) {
		c->plain_below &= c->exc[i].annual || c->exc[i].from >= c->mark_lo;
		c->plain_above &= c->exc[i].annual || c->exc[i].to < c->mark_hi;
	}
	for (size_t i = 0; i < c->nhol; i++)
		mark_range(c, c->hol[i].day, c->hol[i].day);
	for (size_t i = 0; i < c->nexc; i++) {
		const struct cal_exc *e = &c->exc[i];
		if (!e->annual) {
			mark_range(c, e->from, e->to);
			continue;
		}
		for (int y = CAL_MARK_FROM; y < CAL_MARK_TO; y++) {
			int64_t a = annual_day(y, e->from, false), b = annual_day(y, e->to, true);
			if (e->from <= e->to) {
				mark_range(c, a, b);
			} else {
				mark_range(c, kn_days_from_civil(y, 1, 1), b);
				mark_range(c, a, kn_days_from_civil(y, 12, 31));
			}
		}
	}
}

/* The business time of a week of ordinary dates, and how far each
 * weekday's hours run into the next date. A date's spans are clipped by
 * what the date before spilled into it, as the walk clips them. */
static void build_week(kn_calendar *c)
{
	int64_t secs = 0;
	for (int w = 0; w < 7; w++) {
		c->spill[w] = 0;
		for (int i = 0; i < c->week[w].n; i++)
			if (c->week[w].s[i][1] - 86400 > c->spill[w])
				c->spill[w] = c->week[w].s[i][1] - 86400;
	}
	for (int w = 0; w < 7; w++) {
		int32_t before = c->spill[(w + 6) % 7];
		for (int i = 0; i < c->week[w].n; i++) {
			int32_t a = c->week[w].s[i][0], b = c->week[w].s[i][1];
			if (a < before)
				a = before;
			if (b > a)
				secs += b - a;
		}
	}
	c->week_ms = secs * 1000;
}

int kn_calendar_new(const json_t *decl, kn_calendar **out, kn_error *err)
{
	*out = NULL;
	if (!json_is_object(decl))
		return kn_fail(err, KN_EVALID, "", "a calendar is declared by a JSON object");
	const json_t *zone = json_object_get(decl, "time_zone");
	if (!json_is_string(zone))
		return kn_fail(err, KN_EVALID, "time_zone",
			       zone ? "time_zone must be a string such as \"Asia/Tokyo\""
				    : "time_zone is required (e.g. \"Asia/Tokyo\")");
	kn_calendar *c = kn_xcalloc(1, sizeof *c);
	int rc = kn_tz_load(json_string_value(zone), &c->tz, err);
	if (!rc)
		rc = parse_week(c, json_object_get(decl, "hours"), err);
	if (!rc)
		rc = parse_holidays(c, json_object_get(decl, "holidays"),
				    json_object_get(decl, "holiday_dates"), err);
	if (!rc)
		rc = parse_exceptions(c, json_object_get(decl, "exceptions"), err);
	if (!rc) {
		bool open = false;
		for (int w = 0; w < 7; w++)
			open |= c->week[w].n > 0;
		for (size_t i = 0; i < c->nexc; i++)
			open |= c->exc[i].h.n > 0;
		if (!open)
			rc = kn_fail(err, KN_EVALID, "hours",
				     "the calendar is never open: give hours to some weekday");
	}
	if (rc) {
		kn_calendar_free(c);
		return rc;
	}
	build_week(c);
	build_marks(c);
	*out = c;
	return 0;
}

/* ---- the hours of a date -------------------------------------------------- */

static const struct hours *day_slow(const kn_calendar *c, int64_t day, const char **name)
{
	for (size_t i = 0; i < c->nexc; i++) {
		const struct cal_exc *e = &c->exc[i];
		if (!e->annual && day >= e->from && day <= e->to) {
			*name = e->name;
			return &e->h;
		}
	}
	if (c->annual) {
		int y, m, d;
		kn_civil_from_days(day, &y, &m, &d);
		int64_t key = m * 100 + d;
		for (size_t i = 0; i < c->nexc; i++) {
			const struct cal_exc *e = &c->exc[i];
			if (e->annual && (e->from <= e->to ? key >= e->from && key <= e->to
							   : key >= e->from || key <= e->to)) {
				*name = e->name;
				return &e->h;
			}
		}
	}
	size_t lo = 0, hi = c->nhol;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->hol[mid].day < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->nhol && c->hol[lo].day == day) {
		*name = c->hol[lo].name;
		return &closed_hours;
	}
	*name = "";
	return &c->week[kn_weekday(day)];
}

/* Whether local date `day` has neither a holiday nor an exception. */
static inline bool ordinary(const kn_calendar *c, int64_t day)
{
	if (day < c->mark_lo)
		return c->plain_below;
	if (day >= c->mark_hi)
		return c->plain_above;
	return !(c->mark[(day - c->mark_lo) >> 6] >> ((day - c->mark_lo) & 63) & 1);
}

/* The hours of local date `day` (days since 1970-01-01). */
static inline const struct hours *day_hours(const kn_calendar *c, int64_t day)
{
	const char *name;
	return ordinary(c, day) ? &c->week[kn_weekday(day)] : day_slow(c, day, &name);
}

int kn_calendar_day(const kn_calendar *c, int y, int m, int d, int32_t (*spans)[2], int max,
		    const char **name)
{
	const char *nm = "";
	int n = 0;
	if (y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= kn_days_in_month(y, m)) {
		const struct hours *h = day_slow(c, kn_days_from_civil(y, m, d), &nm);
		for (; n < h->n && n < max; n++)
			spans[n][0] = h->s[n][0], spans[n][1] = h->s[n][1];
	}
	if (name)
		*name = nm;
	return n;
}

/* ---- walking local dates ------------------------------------------------------ */

/* Local wall time to UTC (seconds), remembering the interval of UTC instants
 * [lo, hi) whose wall times no other instant shares: there, a subtraction. */
struct conv {
	const kn_tz *tz;
	int64_t lo, hi;
	int32_t off;
};

static void conv_at(struct conv *v, int64_t t)
{
	int64_t s, e;
	v->off = kn_tz_period(v->tz, t, &s, &e);
	v->lo = s + CAL_MARGIN;
	v->hi = e;
}

static inline int64_t conv_utc(struct conv *v, int64_t local)
{
	int64_t t = local - v->off;
	if (t >= v->lo && t < v->hi)
		return t;
	t = kn_tz_utc(v->tz, local);
	conv_at(v, t);
	return t;
}

/* Whether the week of dates day..day+6 may be skipped: it and the date
 * before are ordinary and one offset holds from the date before to the end
 * of the week's last overnight hours. */
static bool week_skips(const kn_calendar *c, const struct conv *v, int64_t day)
{
	if (c->week_ms <= 0 || !ordinary(c, day - 1) || !ordinary(c, day + 6))
		return false;
	for (int64_t d = day; d < day + 6; d++)
		if (!ordinary(c, d))
			return false;
	return (day - 1) * 86400 - v->off >= v->lo && (day + 8) * 86400 - v->off < v->hi;
}

/* The end (UTC ms) of the hours of a skipped week as the next date sees it. */
static int64_t week_end(const kn_calendar *c, const struct conv *v, int64_t day)
{
	int64_t last = day + 6;
	return ((last + 1) * 86400 + c->spill[kn_weekday(last)] - v->off) * 1000;
}

static bool in_range(int64_t ms)
{
	return ms >= CAL_MIN_DAY * 86400000 && ms < CAL_MAX_DAY * 86400000;
}

int kn_calendar_add(const kn_calendar *c, int64_t from_ms, int64_t dur_ms, int64_t *due_ms,
		    kn_error *err)
{
	if (dur_ms < 0)
		return kn_fail(err, KN_EVALID, "duration", "a duration cannot be negative");
	if (!in_range(from_ms))
		return kn_fail(err, KN_EVALID, "", "the start is out of range (years 1 to 9999)");
	struct conv v = {.tz = c->tz};
	int64_t fs = floordiv(from_ms, 1000);
	conv_at(&v, fs);
	/* from the date before: its overnight hours may still run */
	int64_t day = floordiv(fs + v.off, 86400) - 1, first = day + 2, quiet = day;
	int64_t rem = dur_ms, prev = from_ms;
	for (;; day++) {
		if (day - quiet > CAL_QUIET_DAYS)
			return kn_fail(
			    err, KN_EVALID, "hours",
			    "the calendar is never open in the ten years after the start");
		if (day >= CAL_MAX_DAY)
			return kn_fail(err, KN_EVALID, "duration",
				       "the end would fall after the year 9999");
		if (day >= first && rem > c->week_ms && week_skips(c, &v, day)) {
			rem -= c->week_ms;
			prev = week_end(c, &v, day);
			day += 6;
			quiet = day;
			continue;
		}
		const struct hours *h = day_hours(c, day);
		for (int i = 0; i < h->n; i++) {
			int64_t s = conv_utc(&v, day * 86400 + h->s[i][0]) * 1000;
			int64_t e = conv_utc(&v, day * 86400 + h->s[i][1]) * 1000;
			if (s < prev)
				s = prev;
			if (e <= s)
				continue;
			quiet = day;
			if (rem <= e - s) {
				*due_ms = s + rem;
				return 0;
			}
			rem -= e - s;
			prev = e;
		}
	}
}

int64_t kn_calendar_between(const kn_calendar *c, int64_t a_ms, int64_t b_ms)
{
	if (b_ms < a_ms)
		return -kn_calendar_between(c, b_ms, a_ms);
	const int64_t lo = CAL_MIN_DAY * 86400000, hi = CAL_MAX_DAY * 86400000 - 1;
	a_ms = a_ms < lo ? lo : a_ms > hi ? hi : a_ms;
	b_ms = b_ms < lo ? lo : b_ms > hi ? hi : b_ms;
	if (a_ms == b_ms)
		return 0;
	struct conv v = {.tz = c->tz};
	int64_t as = floordiv(a_ms, 1000);
	conv_at(&v, as);
	int64_t day = floordiv(as + v.off, 86400) - 1, first = day + 2;
	int64_t total = 0, prev = a_ms;
	for (; day < CAL_MAX_DAY; day++) {
		if (day >= first && week_skips(c, &v, day) &&
		    ((day + 8) * 86400 - v.off) * 1000 <= b_ms) {
			total += c->week_ms;
			prev = week_end(c, &v, day);
			day += 6;
			continue;
		}
		if (conv_utc(&v, day * 86400) * 1000 >= b_ms)
			break; /* this date's hours start at b or later */
		const struct hours *h = day_hours(c, day);
		for (int i = 0; i < h->n; i++) {
			int64_t s = conv_utc(&v, day * 86400 + h->s[i][0]) * 1000;
			int64_t e = conv_utc(&v, day * 86400 + h->s[i][1]) * 1000;
			if (s < prev)
				s = prev;
			if (e > b_ms)
				e = b_ms;
			if (e <= s)
				continue;
			total += e - s;
			prev = e;
		}
	}
	return total;
}

bool kn_calendar_open(const kn_calendar *c, int64_t t_ms)
{
	if (!in_range(t_ms))
		return false;
	struct conv v = {.tz = c->tz};
	int64_t ts = floordiv(t_ms, 1000);
	conv_at(&v, ts);
	int64_t day = floordiv(ts + v.off, 86400);
	for (int64_t d = day - 1; d <= day; d++) {
		const struct hours *h = day_hours(c, d);
		for (int i = 0; i < h->n; i++)
			if (t_ms >= conv_utc(&v, d * 86400 + h->s[i][0]) * 1000 &&
			    t_ms < conv_utc(&v, d * 86400 + h->s[i][1]) * 1000)
				return true;
	}
	return false;
}

/* ---- Japanese public holidays ------------------------------------------------- */

enum {
	JP_NEW_YEAR = 1,
	JP_COMING_OF_AGE,
	JP_FOUNDATION,
	JP_EMPEROR,
	JP_VERNAL,
	JP_SHOWA,
	JP_CONSTITUTION,
	JP_GREENERY,
	JP_CHILDREN,
	JP_MARINE,
	JP_MOUNTAIN,
	JP_AGED,
	JP_AUTUMNAL,
	JP_HEALTH_SPORTS,
	JP_SPORTS,
	JP_CULTURE,
	JP_LABOUR,
	JP_SUBSTITUTE,
	JP_CITIZENS,
	JP_FUNERAL_SHOWA,
	JP_ENTHRONEMENT_CEREMONY,
	JP_ROYAL_WEDDING,
	JP_ENTHRONEMENT,
};

static const char *const jp_names[][2] = {
    [JP_NEW_YEAR] = {"元日", "New Year's Day"},
    [JP_COMING_OF_AGE] = {"成人の日", "Coming of Age Day"},
    [JP_FOUNDATION] = {"建国記念の日", "National Foundation Day"},
    [JP_EMPEROR] = {"天皇誕生日", "The Emperor's Birthday"},
    [JP_VERNAL] = {"春分の日", "Vernal Equinox Day"},
    [JP_SHOWA] = {"昭和の日", "Showa Day"},
    [JP_CONSTITUTION] = {"憲法記念日", "Constitution Memorial Day"},
    [JP_GREENERY] = {"みどりの日", "Greenery Day"},
    [JP_CHILDREN] = {"こどもの日", "Children's Day"},
    [JP_MARINE] = {"海の日", "Marine Day"},
    [JP_MOUNTAIN] = {"山の日", "Mountain Day"},
    [JP_AGED] = {"敬老の日", "Respect for the Aged Day"},
    [JP_AUTUMNAL] = {"秋分の日", "Autumnal Equinox Day"},
    [JP_HEALTH_SPORTS] = {"体育の日", "Health and Sports Day"},
    [JP_SPORTS] = {"スポーツの日", "Sports Day"},
    [JP_CULTURE] = {"文化の日", "Culture Day"},
    [JP_LABOUR] = {"勤労感謝の日", "Labour Thanksgiving Day"},
    [JP_SUBSTITUTE] = {"振替休日", "Substitute Holiday"},
    [JP_CITIZENS] = {"国民の休日", "Citizens' Holiday"},
    [JP_FUNERAL_SHOWA] = {"昭和天皇の大喪の礼", "Funeral of Emperor Showa"},
    [JP_ENTHRONEMENT_CEREMONY] = {"即位礼正殿の儀", "Enthronement Ceremony"},
    [JP_ROYAL_WEDDING] = {"皇太子徳仁親王の結婚の儀", "Wedding of the Crown Prince"},
    [JP_ENTHRONEMENT] = {"即位の日", "Enthronement Day"},
};

/* The day of the month of the n-th Monday of m. */
static int nth_monday(int y, int m, int n)
{
	return 1 + (8 - kn_weekday(kn_days_from_civil(y, m, 1))) % 7 + 7 * (n - 1);
}

/* The day of March (vernal) or September of the equinox holiday, by the
 * formula the National Astronomical Observatory's dates follow, 1980-2099. */
static int equinox(int y, bool autumn)
{
	int64_t k = y - 1980;
	return (int)(((autumn ? 23248800 : 20843100) + 242194 * k - 1000000 * (k / 4)) / 1000000);
}

int kn_holidays_jp(int year, kn_holiday *out, int max)
{
	if (year < 1980 || year > 2099)
		return 0;
	const int y = year;
	uint8_t kind[367] = {0}; /* by day of the year, 1-based: a JP_* name */
	bool law[367] = {0};	 /* a 国民の祝日 proper (substitutes and citizens' are not) */
	const int64_t jan1 = kn_days_from_civil(y, 1, 1);
	const int ndays = kn_leap_year(y) ? 366 : 365;
#define DOY(m, d) ((int)(kn_days_from_civil(y, (m), (d)) - jan1) + 1)
#define SET(m, d, what) (kind[DOY(m, d)] = (what), law[DOY(m, d)] = true)

	SET(1, 1, JP_NEW_YEAR);
	if (y < 2000)
		SET(1, 15, JP_COMING_OF_AGE);
	else
		SET(1, nth_monday(y, 1, 2), JP_COMING_OF_AGE);
	SET(2, 11, JP_FOUNDATION);
	if (y >= 2020)
		SET(2, 23, JP_EMPEROR);
	else if (y >= 1989 && y <= 2018)
		SET(12, 23, JP_EMPEROR);
	SET(3, equinox(y, false), JP_VERNAL);
	SET(4, 29, y >= 2007 ? JP_SHOWA : y >= 1989 ? JP_GREENERY : JP_EMPEROR);
	SET(5, 3, JP_CONSTITUTION);
	if (y >= 2007)
		SET(5, 4, JP_GREENERY);
	SET(5, 5, JP_CHILDREN);
	if (y == 2020)
		SET(7, 23, JP_MARINE);
	else if (y == 2021)
		SET(7, 22, JP_MARINE);
	else if (y >= 2003)
		SET(7, nth_monday(y, 7, 3), JP_MARINE);
	else if (y >= 1996)
		SET(7, 20, JP_MARINE);
	if (y == 2020)
		SET(8, 10, JP_MOUNTAIN);
	else if (y == 2021)
		SET(8, 8, JP_MOUNTAIN);
	else if (y >= 2016)
		SET(8, 11, JP_MOUNTAIN);
	if (y >= 2003)
		SET(9, nth_monday(y, 9, 3), JP_AGED);
	else
		SET(9, 15, JP_AGED);
	SET(9, equinox(y, true), JP_AUTUMNAL);
	if (y == 2020)
		SET(7, 24, JP_SPORTS);
	else if (y == 2021)
		SET(7, 23, JP_SPORTS);
	else if (y >= 2022)
		SET(10, nth_monday(y, 10, 2), JP_SPORTS);
	else if (y >= 2000)
		SET(10, nth_monday(y, 10, 2), JP_HEALTH_SPORTS);
	else
		SET(10, 10, JP_HEALTH_SPORTS);
	SET(11, 3, JP_CULTURE);
	SET(11, 23, JP_LABOUR);
	/* days made holidays by their own laws */
	if (y == 1989)
		SET(2, 24, JP_FUNERAL_SHOWA);
	if (y == 1990)
		SET(11, 12, JP_ENTHRONEMENT_CEREMONY);
	if (y == 1993)
		SET(6, 9, JP_ROYAL_WEDDING);
	if (y == 2019) {
		SET(5, 1, JP_ENTHRONEMENT);
		SET(10, 22, JP_ENTHRONEMENT_CEREMONY);
	}
#undef SET
#undef DOY

	/* 振替休日: a holiday on a Sunday makes the next day a holiday; from
	 * 2007 the next day that is not a holiday itself */
	for (int i = 1; i <= ndays; i++) {
		if (!law[i] || kn_weekday(jan1 + i - 1) != 0)
			continue;
		int j = i + 1;
		while (y >= 2007 && j <= ndays && law[j])
			j++;
		if (j <= ndays && !kind[j])
			kind[j] = JP_SUBSTITUTE;
	}
	/* 国民の休日 (from the 1985 amendment): a day between two holidays */
	for (int i = 2; y >= 1986 && i < ndays; i++)
		if (!kind[i] && law[i - 1] && law[i + 1] && kn_weekday(jan1 + i - 1) != 0)
			kind[i] = JP_CITIZENS;

	int n = 0;
	for (int i = 1; i <= ndays; i++) {
		if (!kind[i])
			continue;
		if (n < max) {
			int yy, m, d;
			kn_civil_from_days(jan1 + i - 1, &yy, &m, &d);
			out[n] = (kn_holiday){.y = yy,
					      .m = m,
					      .d = d,
					      .name_ja = jp_names[kind[i]][0],
					      .name_en = jp_names[kind[i]][1]};
		}
		n++;
	}
	return n < max ? n : max;
}

/* ---- durations ------------------------------------------------------------ */

static int bad_duration(kn_error *err, const char *s)
{
	bool printable = strlen(s) <= 40;
	for (const char *p = s; *p && printable; p++)
		printable = *p >= 0x20 && *p < 0x7f;
	if (printable)
		return kn_fail(err, KN_EVALID, "duration",
			       "bad duration '%s' (use e.g. 6h, 1h30m, 45m, 90s or PT6H30M)", s);
	return kn_fail(err, KN_EVALID, "duration",
		       "bad duration (use e.g. 6h, 1h30m, 45m, 90s or PT6H30M)");
}

int kn_duration_parse(const char *s, int64_t *ms, kn_error *err)
{
	static const char units[] = "hms";
	static const int64_t unit_ms[] = {3600000, 60000, 1000};
	if (!s || !*s)
		return kn_fail(err, KN_EVALID, "duration",
			       "a duration is required (e.g. 6h, 1h30m, PT6H30M)");
	if (*s == '-')
		return kn_fail(err, KN_EVALID, "duration", "a duration cannot be negative");
	const char *p = s;
	bool iso = *p == 'P' || *p == 'p';
	if (iso) {
		p++;
		if (*p != 'T' && *p != 't') {
			/* a date part: days, weeks, months or years */
			const char *q = p;
			while (*q >= '0' && *q <= '9')
				q++;
			if (q > p && strchr("DdWwMmYy", *q) && *q)
				goto days;
			return bad_duration(err, s);
		}
		p++;
	}
	int64_t total = 0;
	int next = 0, parts = 0; /* the next unit allowed: h, m, s in that order */
	while (*p) {
		int64_t whole = 0, frac = 0, scale = 1;
		const char *d0 = p;
		for (; *p >= '0' && *p <= '9'; p++)
			if (__builtin_mul_overflow(whole, 10, &whole) ||
			    __builtin_add_overflow(whole, *p - '0', &whole))
				goto overflow;
		if (p == d0)
			return bad_duration(err, s);
		if (*p == '.' || *p == ',') {
			const char *f0 = ++p;
			for (; *p >= '0' && *p <= '9'; p++) {
				if (scale >= 1000000000)
					return kn_fail(err, KN_EVALID, "duration",
						       "a duration is counted in milliseconds at "
						       "most");
				frac = frac * 10 + (*p - '0'), scale *= 10;
			}
			if (p == f0)
				return bad_duration(err, s);
		}
		char u = (char)(*p | 0x20);
		if (u == 'd' || u == 'w')
			goto days;
		const char *k = *p ? strchr(units, u) : NULL;
		if (!k || k - units < next)
			return bad_duration(err, s);
		next = (int)(k - units) + 1;
		p++;
		int64_t um = unit_ms[k - units], v;
		if (scale > 1 && (*p || (frac * um) % scale))
			return kn_fail(err, KN_EVALID, "duration",
				       *p ? "only the last part of a duration may have a fraction"
					  : "a duration is counted in milliseconds at most");
		if (__builtin_mul_overflow(whole, um, &v) ||
		    __builtin_add_overflow(v, frac * um / scale, &v) ||
		    __builtin_add_overflow(total, v, &total))
			goto overflow;
		parts++;
	}
	if (!parts)
		return bad_duration(err, s);
	*ms = total;
	return 0;
days:
	return kn_fail(err, KN_EVALID, "duration",
		       "days are not a duration here: a business day's length depends on the "
		       "calendar, give hours (e.g. 8h)");
overflow:
	return kn_fail(err, KN_EVALID, "duration", "the duration is too long");
}

void kn_duration_format(int64_t ms, char *out, size_t n)
{
	uint64_t v = ms < 0 ? -(uint64_t)ms : (uint64_t)ms;
	uint64_t h = v / 3600000, m = v / 60000 % 60, s = v / 1000 % 60, f = v % 1000;
	char buf[64];
	size_t k = 0;
	if (ms < 0)
		buf[k++] = '-';
	if (h)
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%" PRIu64 "h", h);
	if (m || (!h && !s && !f))
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%" PRIu64 "m", m);
	if (s || f) {
		k += (size_t)snprintf(buf + k, sizeof buf - k, "%" PRIu64, s);
		if (f) {
			k += (size_t)snprintf(buf + k, sizeof buf - k, ".%03" PRIu64, f);
			while (buf[k - 1] == '0')
				k--;
		}
		buf[k++] = 's';
		buf[k] = 0;
	}
	snprintf(out, n, "%s", buf);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * calendar.h - time zones and business calendars.
 *
 * A time zone is read from the system's tz database (TZif files under
 * /usr/share/zoneinfo, or $TZDIR), including the rule in the file's footer
 * for instants past its last transition; "UTC" and fixed offsets such as
 * "+09:00" need no file.
 *
 * A business calendar is service hours per weekday in one time zone, minus
 * holidays, with exceptions (dates closed or with other hours). Arithmetic on
 * it is exact to the millisecond across weekends, holidays, midnight and the
 * zone's offset changes: kn_calendar_add finds the instant a duration of
 * business time after a start ends, kn_calendar_between measures the business
 * time between two instants.
 *
 * The declaration of a calendar (what a calendar record stores and what the
 * CLI builds from its options) is JSON:
 *
 *   {"time_zone": "Asia/Tokyo",
 *    "hours": {"mon": ["09:00-12:00", "13:00-18:00"], "tue": ["09:00-18:00"], ...},
 *    "holidays": "jp",                      set name: "jp" is built in
 *    "holiday_dates": ["2026-01-01", ...],  when given, these instead of the built-in set
 *    "exceptions": [{"from": "12-29", "to": "01-03", "hours": []},
 *                   {"from": "2026-12-26", "hours": ["10:00-15:00"], "name": "..."}]}
 *
 * Hours are local "HH:MM-HH:MM" spans ("24:00" closes at midnight; "9:00"
 * may drop the leading zero); a span whose end is not after its start runs
 * over midnight into the next date ("22:00-06:00"; "09:00-09:00" is 24
 * hours). At most 8 spans a date, not overlapping one another; a single
 * span may be given as a string. A weekday not listed is closed. An
 * exception names one date or a range (from..to inclusive); "MM-DD" dates
 * repeat every year (a range may wrap the year end; "02-29" is only in leap
 * years); its hours (none: closed) replace the weekday's on those dates. A
 * holiday closes its date. Precedence on a date: a dated exception, then a
 * yearly one (the first listed of each kind), then a holiday, then the
 * weekday. holiday_dates entries are "YYYY-MM-DD" or {"date": ..., "name":
 * ...}. "holidays" null, "" or "none": no set; a set name other than "jp"
 * needs holiday_dates. Other members are ignored (a record's own fields).
 *
 * Overnight hours belong to the date they start on: Friday's "22:00-06:00"
 * runs into Saturday even when Saturday is a holiday, and not at all when
 * Friday is. Where they overlap the next date's hours, the time counts once.
 *
 * Offset changes: a span runs between the instants of its two wall-clock
 * times (kn_tz_utc), so "00:00-24:00" is 23 hours on a spring-forward date
 * and 25 on a fall-back one; a span edge in a skipped hour moves to the
 * jump; one in a repeated hour means its first occurrence.
 *
 * A calendar is immutable once made: threads may share it without locks.
 * The arithmetic allocates nothing and reads no file; its cost grows with
 * the dates walked (whole weeks without holidays or exceptions at one
 * offset are skipped in one step). Instants are those of years 1 to 9999.
 */
#ifndef KN_CALENDAR_H
#define KN_CALENDAR_H

#include "kanri.h"

/* ---- time zones ------------------------------------------------------ */
typedef struct kn_tz kn_tz;

/* Load a zone by name ("Asia/Tokyo", "America/New_York", "UTC", "+09:00",
 * "-05:30"). "UTC", "Etc/UTC", "GMT", "Etc/GMT" and fixed offsets ("+09",
 * "+0900", "+09:00"; named "+09:00") need no file; other names are files
 * of $TZDIR or /usr/share/zoneinfo (TZif versions 1 to 4) and may hold only
 * letters, digits and "_-+./" (no "..", no leading or doubled "/").
 * KN_EVALID, field "time_zone": "unknown time zone 'Foo/Bar'"; also for a
 * file that is corrupt or has leap seconds ("right/..."). The zone is read
 * once here: free it with kn_tz_free; it may be shared by threads. */
int kn_tz_load(const char *name, kn_tz **out, kn_error *err);
void kn_tz_free(kn_tz *z);
const char *kn_tz_name(const kn_tz *z);
/* Seconds east of UTC in force at UTC instant t (epoch seconds). */
int kn_tz_offset(const kn_tz *z, int64_t t);
/* The UTC instant (epoch seconds) of local wall time `local` (seconds since
 * 1970-01-01T00:00 on the local wall clock). A wall time skipped by a
 * forward jump maps to the instant of the jump; a repeated one to its first
 * (earlier) occurrence. */
int64_t kn_tz_utc(const kn_tz *z, int64_t local);
/* Format UTC epoch ms as "YYYY-MM-DDTHH:MM:SS+09:00" in zone z (seconds
 * precision; "Z" is never used, UTC shows "+00:00"). */
void kn_tz_format(const kn_tz *z, int64_t ms, char *out, size_t n);
/* The offset in force at UTC instant t (as kn_tz_offset) and an interval
 * [*start, *end) around t over which it holds (not always the longest
 * one; +-2^60 stand for no bound). What lets a caller that converts many
 * nearby instants skip the lookups. */
int32_t kn_tz_period(const kn_tz *z, int64_t t, int64_t *start, int64_t *end);

/* ---- dates -------------------------------------------------------------
 * Days of the proleptic Gregorian calendar, counted from 1970-01-01 (day
 * 0; negative before). */
int64_t kn_days_from_civil(int64_t y, int m, int d);
void kn_civil_from_days(int64_t days, int *y, int *m, int *d);
/* 0 = Sunday .. 6 = Saturday. */
int kn_weekday(int64_t days);
bool kn_leap_year(int64_t y);
int kn_days_in_month(int64_t y, int m);

/* ---- business calendars ---------------------------------------------- */
typedef struct kn_calendar kn_calendar;

/* Build a calendar from its declaration (above). KN_EVALID naming the
 * member ("hours", "exceptions", "time_zone", "holidays", "holiday_dates")
 * on bad input, and ("hours") for a calendar with no hours at all, neither
 * on a weekday nor in an exception. *out: free with kn_calendar_free. */
int kn_calendar_new(const json_t *decl, kn_calendar **out, kn_error *err);
void kn_calendar_free(kn_calendar *c);
const kn_tz *kn_calendar_tz(const kn_calendar *c);
/* The instant dur_ms of business time after from_ms. A start outside
 * service hours counts from the next opening; dur_ms 0 gives the next
 * instant the calendar is open (from_ms itself when open). A duration that
 * runs out at a closing gives that closing instant (18:00, not the next
 * day's 09:00). KN_EVALID when the calendar is never open in the ten years
 * after from_ms, for a negative dur_ms ("duration"), or when the start or
 * the end falls outside the years 1 to 9999. */
int kn_calendar_add(const kn_calendar *c, int64_t from_ms, int64_t dur_ms, int64_t *due_ms,
		    kn_error *err);
/* The business time from a_ms to b_ms in ms (negative when b_ms < a_ms);
 * instants outside the years 1 to 9999 count as their bounds. */
int64_t kn_calendar_between(const kn_calendar *c, int64_t a_ms, int64_t b_ms);
/* Whether the calendar is open at instant t_ms. */
bool kn_calendar_open(const kn_calendar *c, int64_t t_ms);
/* The service hours in the calendar's zone of local date y-m-d, after
 * holidays and exceptions, into spans (seconds after that date's local
 * midnight, from < to, to <= 86400 * 2 for overnight hours). Returns the
 * number of spans (at most max; 0 for a date that does not exist). name
 * (may be NULL) gets the holiday's or exception's name when one applies
 * (the Japanese one for the "jp" set; "holiday" or "exception" when the
 * declaration gives none), else "". It points into the calendar. */
int kn_calendar_day(const kn_calendar *c, int y, int m, int d, int32_t (*spans)[2], int max,
		    const char **name);

/* ---- Japanese public holidays (国民の祝日) ------------------------------
 * The holidays of one year under the Act on National Holidays, with
 * substitute holidays (振替休日: before 2007 the Monday after a Sunday
 * holiday, since then the next day that is no holiday), citizens' holidays
 * (国民の休日: a day other than Sunday between two holidays, from 1986),
 * the dates moved in 2020-2021 and the days of their own laws (1989-02-24,
 * 1990-11-12, 1993-06-09, 2019-05-01, 2019-10-22); equinoxes by the
 * formula valid for 1980-2099. Years 1980-2099. Fills at most max entries
 * (names are static strings) and returns how many (0 outside those years);
 * out is sorted by date. A year has at most 25. */
typedef struct kn_holiday {
	int y, m, d;
	const char *name_ja, *name_en;
} kn_holiday;
int kn_holidays_jp(int year, kn_holiday *out, int max);

/* ---- durations ------------------------------------------------------- */
/* Parse "6h", "1h30m", "90m", "45s", "2h15m30s" or ISO 8601 "PT6H30M" into
 * ms. Units in that order, each once, letters in either case; the last
 * part may have a fraction ("1.5h", "PT0.5S") down to the millisecond. Days
 * (and weeks, months, years) are refused: a business day's length depends
 * on the calendar. KN_EVALID, field "duration", on bad input (empty, no
 * unit, negative, spaces, overflow); *ms is left alone then. */
int kn_duration_parse(const char *s, int64_t *ms, kn_error *err);
/* Format ms as "6h30m", "45m", "0m" (seconds shown only when not whole
 * minutes: "1m30s", "1h30s", "0.5s"); negative values get a leading "-".
 * kn_duration_parse reads it back. */
void kn_duration_format(int64_t ms, char *out, size_t n);

#endif

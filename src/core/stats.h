/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stats.h - aggregate queries over the records of a type ("stats"): counts,
 * sums, averages and durations per group of attribute values, computed by
 * the store in SQL (one query, whatever the number of records), under the
 * same filters and the same scoping as lists.
 *
 * A stats query is parsed once (kn_stats_parse, from the parameters of
 * GET /{type}/stats) and run inside the caller's read transaction
 * (kn_stats_run), so that a report can run many of them on one snapshot.
 * kn_rec_stats does both for the API. Every function returns 0 or a
 * negative KN_E* code and fills err.
 */
#ifndef KN_STATS_H
#define KN_STATS_H

#include "core/record.h"

/* The site's time zone, as minutes east of UTC: the calendar that day,
 * week, month and year buckets follow. Asia/Tokyo (+09:00, no daylight
 * saving time) for now; a calendar feature will replace this constant. */
#define KN_SITE_TZ_OFFSET_MIN 540

/* The most groups GET /{type}/stats returns (limit=). */
#define KN_STATS_LIMIT_MAX 1000

typedef struct kn_stats kn_stats;

/*
 * Parse a stats query on t for user u:
 *   by=a,b:bucket    0 to 3 attributes to group by; a datetime or date
 *                    attribute may carry :day, :week (ISO, the Monday),
 *                    :month or :year, in the site's time zone
 *   sum=f, avg=f     an integer field (each repeatable)
 *   avg_hours=a,b    mean hours from datetime a to b (rows with both set),
 *   max_hours=a,b    and the longest
 *   min_count=N      only groups of N records or more
 *   limit=N          groups, 1..1000 (default 100), most records first
 *   format=json|csv
 * and every filter of a list (field=value, field[op]=value, open=, q=),
 * with the scoping u is under. A field hidden from u's role can be neither
 * grouped nor measured: KN_EINVAL as for an unknown one (the problem names
 * the parameter). KN_EFORBIDDEN when u may not read t. *out: free with
 * kn_stats_free.
 */
int kn_stats_parse(const kn_type *t, const kn_user *u, const kn_param *p, size_t np, kn_stats **out,
		   kn_error *err);
/* Add a condition to s (values: a new reference, taken over), as
 * kn_filter_add. */
int kn_stats_where(kn_stats *s, const char *attr, kn_op op, json_t *values, kn_error *err);
/* Set how many groups s returns at most (> 0; beyond the API's 1000 for
 * reports that need every group). */
void kn_stats_set_limit(kn_stats *s, int limit);
/* Whether the query asked for format=csv. */
bool kn_stats_csv_wanted(const kn_stats *s);
/*
 * Run s inside the caller's (read) transaction. *out (new reference):
 *   {"by": [names], "total": N,
 *    "groups": [{"key": {name: value}, "count": N,
 *                "sum": {f: n}, "avg": {f: x|null},
 *                "avg_hours": {"a,b": {"value": x|null, "n": k}},
 *                "max_hours": {"a,b": x|null}}]}
 * with only the metric members asked for. Keys are the stored values
 * (refs: the key of the target), buckets as "2026-11-25", "2026-11" or
 * "2026"; averages and hours are rounded to 3 decimals. total counts every
 * matching record.
 */
int kn_stats_run(kn_engine *e, const kn_stats *s, json_t **out, kn_error *err);
/* The result of kn_stats_run as CSV (see kn_csv_begin): a header row, then
 * one row per group. A new string; *len its length. */
char *kn_stats_csv(const kn_stats *s, const json_t *res, size_t *len);
void kn_stats_free(kn_stats *s);

/* GET /{type}/stats: parse, run in a read transaction of its own, and give
 * either *out (JSON, above) or, for format=csv, *csv (a new string of
 * *csv_len bytes). */
int kn_rec_stats(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p, size_t np,
		 json_t **out, char **csv, size_t *csv_len, kn_error *err);

/* ---- CSV, as spreadsheets read it ---------------------------------------
 * RFC 4180 with CRLF line ends, after a UTF-8 byte order mark (without it
 * Excel reads UTF-8 as the local code page). */
void kn_csv_begin(kn_buf *b);
/* One field: a comma before it unless first in its row; text quoted when it
 * holds a comma, quote, CR or LF; null empty; numbers as in JSON. */
void kn_csv_text(kn_buf *b, bool first, const char *s);
void kn_csv_value(kn_buf *b, bool first, const json_t *v);
void kn_csv_end_row(kn_buf *b);

/* x rounded to 3 decimals, as a JSON real (new reference). */
json_t *kn_stats_real(double x);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kanri.h - the one header every kanri source file includes first.
 *
 * It pins the feature macros, the common includes, the allocation policy
 * (kn_xmalloc and friends abort on out-of-memory: a server that cannot
 * allocate a few bytes cannot recover meaningfully) and the error
 * convention (functions return 0 or a negative KN_E* code and, where a
 * caller needs details, fill a kn_error).
 */
#ifndef KANRI_H
#define KANRI_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define KN_VERSION "0.2.0"

/* ---- errors ------------------------------------------------------------
 * One table (error.c) maps each code to a name, an HTTP status and a title.
 * The details a 4xx needs (which field, which rule) travel in kn_error.
 */
enum {
	KN_OK = 0,
	KN_EINVAL = -1,      /* malformed input (bad JSON, bad query) -> 400 */
	KN_EVALID = -2,      /* well-formed but invalid (field, enum...) -> 422 */
	KN_ENOTFOUND = -3,   /* no such record / route                   -> 404 */
	KN_ECONFLICT = -4,   /* stale version / duplicate key            -> 409 */
	KN_EAUTH = -5,       /* no valid credentials                     -> 401 */
	KN_EFORBIDDEN = -6,  /* authenticated but not allowed            -> 403 */
	KN_ETOOBIG = -7,     /* body over the limit                      -> 413 */
	KN_ETHROTTLE = -8,   /* too many failed attempts                 -> 429 */
	KN_EPRECOND = -9,    /* If-Match required                        -> 428 */
	KN_EMETHOD = -10,    /* method not allowed on route              -> 405 */
	KN_ESTORE = -11,     /* storage failure                          -> 500 */
	KN_EINTERNAL = -12,  /* bug or environment failure               -> 500 */
	KN_EEXIST = -13,     /* already exists (CLI: data folder)        -> 409 */
	KN_EMEDIA = -14,     /* unsupported content type                 -> 415 */
	KN_EBUSY = -15,      /* storage busy, try again                  -> 503 */
	KN_ERR_COUNT = 16
};

typedef struct kn_error {
	int code;            /* one of the KN_E* codes, 0 when no error */
	char field[64];      /* the offending field, "" when none */
	char detail[512];    /* human-readable, lowercase, no trailing period */
} kn_error;

/* Fill err (may be NULL) and return code. fmt is printf-style. */
int kn_fail(kn_error *err, int code, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Short machine name of a code ("validation", "not-found"...). */
const char *kn_err_name(int code);
/* Human title of a code ("Validation failed"...). */
const char *kn_err_title(int code);
/* HTTP status of a code (400, 422, ...). */
int kn_err_status(int code);

/* ---- allocation ------------------------------------------------------ */
void *kn_xmalloc(size_t n);
void *kn_xcalloc(size_t n, size_t size);
void *kn_xrealloc(void *p, size_t n);
char *kn_xstrdup(const char *s);
char *kn_xstrndup(const char *s, size_t n);
/* asprintf that aborts on out-of-memory. Caller frees. */
char *kn_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- growable byte buffer with a hard cap -----------------------------
 * kn_buf_add* returns 0, or KN_ETOOBIG when the cap (0 = none) would be
 * exceeded; the buffer is always NUL-terminated.
 */
typedef struct kn_buf {
	char *data;
	size_t len, cap, max;
} kn_buf;

void kn_buf_init(kn_buf *b, size_t max);
void kn_buf_release(kn_buf *b);
/* Append the whole file at path to b; 0, or -1 when it cannot be read. */
int kn_buf_read_file(kn_buf *b, const char *path);
/* The folder for temporary files: $TMPDIR, else /tmp. */
const char *kn_tmpdir(void);
int kn_buf_add(kn_buf *b, const void *p, size_t n);
int kn_buf_adds(kn_buf *b, const char *s);
int kn_buf_addf(kn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- small helpers ----------------------------------------------------- */
/* Current time as UTC epoch milliseconds. */
int64_t kn_now_ms(void);
/* Current time as UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" into out (>= 32 bytes). */
void kn_now_iso(char *out, size_t n);
/* Parse ISO 8601 date-time (with Z or +hh:mm offset) to UTC epoch ms. */
int kn_parse_datetime(const char *s, int64_t *ms_out);
/* Format epoch ms as UTC "YYYY-MM-DDTHH:MM:SSZ" (seconds precision). */
void kn_format_datetime(int64_t ms, char *out, size_t n);
/* Lowercase hex SHA-256 of data into out (65 bytes). */
void kn_sha256_hex(const void *data, size_t n, char out[65]);
/* n random bytes as unpadded base64url into a new string. Caller frees. */
char *kn_random_token(size_t nbytes);
/* Base64url (unpadded) encode/decode. Caller frees. decode returns NULL on bad input. */
char *kn_b64url_encode(const void *data, size_t n);
unsigned char *kn_b64url_decode(const char *s, size_t *n_out);
/* true when s is valid UTF-8 without NUL. */
bool kn_utf8_valid(const char *s, size_t n);
/* Number of code points in valid UTF-8 s. */
size_t kn_utf8_len(const char *s);
/* Compact, key-sorted JSON dump (canonical form). Caller frees. */
char *kn_json_canon(const json_t *j);
/* Append j to b as compact JSON, members in insertion order: the fast path
 * for responses (several times quicker than json_dumps on large lists).
 * Returns 0 or KN_ETOOBIG when b's cap is reached. */
int kn_json_write(kn_buf *b, const json_t *j);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.h - full-text search for Japanese and English, the same on every
 * backend: the engine turns text into tokens itself and keeps them in the
 * store's search table, so SQLite and PostgreSQL find and rank the same
 * records for the same words.
 *
 * Text is normalised first: full-width ASCII becomes ASCII (Ｗｉｎｄｏｗｓ
 * = windows), letters are lowercased, the ideographic space is a space.
 * Then
 *   - a run of letters and digits (English, romaji, numbers, Latin) is one
 *     token: "outlook", "2026", "vpn";
 *   - a run of Japanese (or Chinese, Korean) characters, which has no
 *     spaces between words, gives every pair of neighbours (bigrams) and
 *     its last character: "メール送信" -> メー ール ル送 送信 信.
 * A record's tokens carry the weight of the field they come from (the
 * field's "search" in the schema) summed over occurrences.
 *
 * A query is tokenised the same way; a record matches when it has every
 * query token. A query word matches any token it begins ("mail" finds
 * "mailbox"), as does a single Japanese character; a longer Japanese run
 * matches through its bigrams, so that "送信" finds "メール送信" but
 * "信送" does not (ranked matches are checked for the whole run). Ranking
 * sums the weights of the matched tokens.
 */
#ifndef KN_SEARCH_H
#define KN_SEARCH_H

#include "core/schema.h"
#include "store/store.h"

#define KN_TERMS_MAX KN_TERMS_CAP

/* Whether type t has searched fields. */
bool kn_search_enabled(const kn_type *t);
/* The postings of record rec (its searched fields): a new array, *n entries. */
kn_posting *kn_search_postings(const kn_type *t, const json_t *rec, size_t *n);
/* Replace the postings of record rec (with its id) in store st, inside
 * the caller's write transaction (fresh: a new record, which has none);
 * nothing for a type without searched fields. */
int kn_search_index(kn_store *st, const kn_type *t, const json_t *rec, bool fresh,
		    kn_error *err);
/* The terms of query q into out (at most KN_TERMS_MAX): the number of
 * terms, 0 when q has no word at all. */
size_t kn_search_terms(const char *q, kn_sterm *out);
/* Whether text holds every word of q (from a word's start) and every
 * Japanese run as it is (bigrams can match in another order): the exact
 * check ranked results pass. */
bool kn_search_phrase_ok(const char *text, const char *q);
/* A snippet of text around the first match of q: at most width
 * characters, HTML-escaped, matches wrapped in <mark></mark>, "…" where
 * cut. A new string, or NULL when nothing in text matches; *nmatched: how
 * many of q's words occur in text. */
char *kn_search_snippet(const char *text, const char *q, size_t width, size_t *nmatched);

#endif

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * suggest.h - suggestions while a ticket is written: the records (knowledge
 * articles, known errors) that best match a free text, such as the title
 * and description someone is typing.
 *
 * Unlike search (core/search.h, kn_rec_search), where a record must hold
 * every word of the query, a suggestion needs only some of the text's
 * terms: each term is ranked on its own by the store's search index (one
 * search_rank call per term), and the scores are merged here. A term
 * counts for more when it is rare (found in few records) and when it is
 * found in a heavier field (a title more than a body); particles and other
 * runs of hiragana only, single characters and a few English function
 * words count for little or nothing. The best records are then read
 * through the engine's read path, so that every access rule applies: a
 * record the user may not read is never suggested.
 */
#ifndef KN_SUGGEST_H
#define KN_SUGGEST_H

#include "core/record.h"

/* The types suggested when the request names none (those the user may read). */
#define KN_SUGGEST_TYPES "articles,known_errors"
/* The most terms taken from one text, and the longest text looked at (in
 * bytes; the rest is ignored). */
#define KN_SUGGEST_TERMS 32
#define KN_SUGGEST_TEXT_MAX 4000

/*
 * GET /suggest: parameters
 *   text   the free text (required; KN_EINVAL when it holds no word)
 *   types  comma list of plurals of types with searched fields (default
 *          KN_SUGGEST_TYPES, those u may read); KN_EFORBIDDEN for a type
 *          named that u may not read
 *   state  comma list of states a suggested record must be in (default:
 *          "published" for a type that has that state, else any state
 *          that is not final)
 *   limit  1..20, default 5
 * *out: {"items": [{type, id, number, title, state, score, matched, field,
 * snippet}]}, best first: score (a whole number, higher is better, to
 * compare within one answer), matched (how many of the text's terms the
 * record holds), the snippet HTML-escaped around the matched terms, in
 * <mark></mark>, from the field holding most of them.
 */
int kn_rec_suggest(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		   kn_error *err);

#endif

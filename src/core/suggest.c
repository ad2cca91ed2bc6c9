/* SPDX-License-Identifier: Apache-2.0 */
/*
 * suggest.c - suggestions for a free text (see suggest.h).
 *
 * The text is cut at spaces and punctuation into pieces, each turned into
 * search terms as a query would be (kn_search_terms); the distinct terms,
 * at most KN_SUGGEST_TERMS, are each ranked by the store (search_rank with
 * one term: the records holding it, heaviest first). A record's score sums,
 * over the terms it holds, the term's weight in the record (field weight
 * times occurrences, capped so that one word repeated in a long body does
 * not win), times how rare the term is (the fewer records hold it, the
 * more it says), times how much the kind of term says (a run of hiragana is
 * mostly grammar: で き ま せ ん). Records holding only such weak terms are
 * left out when the text has stronger ones. The best records are read with
 * kn_rec_get as the user, so access rules and restrictions apply exactly
 * as for a read; all of it on one read snapshot.
 */
#include "kanri.h"

#include <math.h>

#include "core/search.h"
#include "core/suggest.h"

#define ST(e) ((e)->store)
#define OPS(e) ((e)->store->ops)

#define RANK_LIMIT 200 /* records asked for per term (and the rarity scale) */
#define TF_CAP 6       /* a term's weight in one record counts up to this */
#define FETCH_MAX 100  /* records read at most to fill one answer */
#define LIMIT_MAX 20
#define MAX_TYPES 16

/* ---- terms ------------------------------------------------------------------ */

typedef struct term {
	kn_sterm t;
	double factor; /* how much a match of it says */
	bool strong;   /* a word, a kanji or katakana pair: not grammar */
} term;

typedef struct terms {
	term v[KN_SUGGEST_TERMS];
	size_t n;
	bool any_strong;
} terms;

/* English words that say nothing about what is wrong. */
static const char *const stopwords[] = {
	"about", "after", "all",   "also",  "am",    "an",    "and",   "any",  "are",   "as",
	"at",	 "be",	  "been",  "before", "but",  "by",    "can",   "cannot", "could", "did",
	"do",	 "does",  "for",   "from",  "get",   "got",   "had",   "has",  "have",  "how",
	"if",	 "in",	  "into",  "is",    "it",    "its",   "me",    "my",   "no",    "not",
	"now",	 "of",	  "on",    "or",    "our",   "out",   "since", "so",   "some",  "that",
	"the",	 "their", "then",  "there", "this",  "to",    "too",   "up",   "us",    "was",
	"we",	 "were",  "what",  "when",  "which", "while", "who",   "why",  "will",  "with",
	"would", "you",	  "your",  NULL,
};

static bool stopword(const char *w)
{
	for (int i = 0; stopwords[i]; i++)
		if (strcmp(w, stopwords[i]) == 0)
			return true;
	return false;
}

/* The code points of a token (at most 2 are looked at); their count. */
static size_t token_cps(const char *tok, uint32_t out[2])
{
	const unsigned char *s = (const unsigned char *)tok;
	size_t n = 0;
	while (*s) {
		uint32_t c;
		size_t l;
		if (s[0] < 0x80)
			c = s[0], l = 1;
		else if ((s[0] & 0xE0) == 0xC0 && s[1])
			c = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F), l = 2;
		else if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2])
			c = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F),
			l = 3;
		else if ((s[0] & 0xF8) == 0xF0 && s[1] && s[2] && s[3])
			c = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
			    (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F),
			l = 4;
		else
			c = 0xFFFD, l = 1;
		if (n < 2)
			out[n] = c;
		n++;
		s += l;
	}
	return n;
}

static bool hiragana(uint32_t c) { return c >= 0x3040 && c <= 0x309F; }
static bool kana(uint32_t c) { return (c >= 0x3040 && c <= 0x30FF) || (c >= 0xFF66 && c <= 0xFF9F); }

/* Add term t (once) with what it says; false when full. */
static bool add_term(terms *ts, const kn_sterm *t)
{
	uint32_t c[2] = {0, 0};
	size_t n = token_cps(t->tok, c);
	double factor = 1.0;
	bool strong = true;
	if (t->prefix && c[0] < 0x80) { /* an English (or romaji, number) word */
		if (strlen(t->tok) < 2 || stopword(t->tok))
			return true;
	} else if (t->prefix) { /* a Japanese character standing alone */
		if (n != 1 || kana(c[0]))
			return true;
		factor = 0.5; /* a single kanji: it says something, not much */
	} else if (hiragana(c[0]) && hiragana(c[1])) {
		factor = 0.25, strong = false; /* でき, ませ: grammar */
	} else if (hiragana(c[0]) || hiragana(c[1])) {
		factor = 0.5, strong = false; /* 務で, を起: a word's edge */
	}
	for (size_t i = 0; i < ts->n; i++)
		if (ts->v[i].t.prefix == t->prefix && strcmp(ts->v[i].t.tok, t->tok) == 0)
			return true;
	if (ts->n == KN_SUGGEST_TERMS)
		return false;
	ts->v[ts->n++] = (term){*t, factor, strong};
	ts->any_strong |= strong;
	return true;
}

/* Whether the UTF-8 character at s (of length l) separates pieces: ASCII
 * other than letters and digits, CJK punctuation, full-width punctuation. */
static bool separator(const unsigned char *s, size_t *l)
{
	if (s[0] < 0x80) {
		*l = 1;
		return !((s[0] >= '0' && s[0] <= '9') || (s[0] >= 'a' && s[0] <= 'z') ||
			 (s[0] >= 'A' && s[0] <= 'Z'));
	}
	if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2]) {
		*l = 3;
		uint32_t c = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		return (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF0F) ||
		       (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) ||
		       (c >= 0xFF5B && c <= 0xFF65) || c == 0x30FB;
	}
	*l = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF8) == 0xF0 ? 4 : 1;
	return false;
}

/* The terms of text, piece by piece, so that a long text gives more than
 * one query's worth. */
static void text_terms(const char *text, size_t len, terms *ts)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < len && ts->n < KN_SUGGEST_TERMS) {
		size_t l;
		while (i < len && separator(s + i, &l))
			i += l;
		size_t start = i;
		while (i < len && !separator(s + i, &l))
			i += l;
		if (i > len)
			i = len;
		if (i == start)
			continue;
		char *piece = kn_xstrndup(text + start, i - start);
		kn_sterm found[KN_TERMS_MAX];
		size_t n = kn_search_terms(piece, found);
		free(piece);
		for (size_t k = 0; k < n; k++)
			if (!add_term(ts, &found[k]))
				break;
	}
}

/* ---- candidates ------------------------------------------------------------- */

typedef struct cand {
	int type;      /* index in the types asked for */
	int64_t id;
	double score;
	uint64_t terms; /* bit i: holds term i */
	int matched, strong;
} cand;

typedef struct cands {
	cand *v;
	size_t n, cap;
	size_t *slots, nslots; /* open addressing: index + 1 */
} cands;

static size_t cand_hash(int type, int64_t id, size_t m)
{
	uint64_t h = (uint64_t)id * 0x9E3779B97F4A7C15ull ^ (uint64_t)type * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 31)) & m;
}

static void cand_index(cands *cs, size_t i)
{
	size_t m = cs->nslots - 1, k = cand_hash(cs->v[i].type, cs->v[i].id, m);
	while (cs->slots[k])
		k = (k + 1) & m;
	cs->slots[k] = i + 1;
}

static cand *cand_get(cands *cs, int type, int64_t id)
{
	if (cs->nslots) {
		size_t m = cs->nslots - 1;
		for (size_t k = cand_hash(type, id, m); cs->slots[k]; k = (k + 1) & m) {
			cand *c = &cs->v[cs->slots[k] - 1];
			if (c->type == type && c->id == id)
				return c;
		}
	}
	if (cs->n == cs->cap) {
		cs->cap = cs->cap ? cs->cap * 2 : 256;
		cs->v = kn_xrealloc(cs->v, cs->cap * sizeof *cs->v);
	}
	cs->v[cs->n] = (cand){.type = type, .id = id};
	cs->n++;
	if (cs->n * 2 > cs->nslots) {
		free(cs->slots);
		cs->nslots = cs->nslots ? cs->nslots * 2 : 512;
		while (cs->n * 2 > cs->nslots)
			cs->nslots *= 2;
		cs->slots = kn_xcalloc(cs->nslots, sizeof *cs->slots);
		for (size_t i = 0; i < cs->n; i++)
			cand_index(cs, i);
	} else {
		cand_index(cs, cs->n - 1);
	}
	return &cs->v[cs->n - 1];
}

static int by_score(const void *a, const void *b)
{
	const cand *x = a, *y = b;
	if (x->score != y->score)
		return x->score < y->score ? 1 : -1;
	if (x->id != y->id)
		return x->id < y->id ? 1 : -1;
	return x->type - y->type;
}

/* Rank every term in type t (index ti) and add what it finds to cs. */
static int rank_type(kn_engine *e, const kn_type *t, int ti, const terms *ts, cands *cs,
		     kn_error *err)
{
	for (size_t i = 0; i < ts->n; i++) {
		int64_t *ids = NULL, *scores = NULL;
		size_t n = 0;
		int rc = OPS(e)->search_rank(ST(e), t->name, &ts->v[i].t, 1, RANK_LIMIT, &ids,
					     &scores, &n, err);
		if (rc)
			return rc;
		/* rarity: 5.3 for a term one record holds, 0.7 when RANK_LIMIT do */
		double idf = n ? log(1.0 + (double)RANK_LIMIT / (double)n) : 0;
		for (size_t j = 0; j < n; j++) {
			cand *c = cand_get(cs, ti, ids[j]);
			double tf = (double)(scores[j] < TF_CAP ? scores[j] : TF_CAP);
			c->score += idf * ts->v[i].factor * tf;
			c->terms |= 1ull << i;
			c->matched++;
			c->strong += ts->v[i].strong;
		}
		free(ids);
		free(scores);
	}
	return 0;
}

/* ---- the answer ------------------------------------------------------------- */

/* The searched fields of t that u sees, heaviest first. */
static size_t searched(const kn_type *t, const kn_user *u, const kn_field **out, size_t max)
{
	size_t n = 0;
	for (int w = 9; w >= 1; w--)
		for (size_t i = 0; i < t->nfields && n < max; i++)
			if (t->fields[i].search == w && !(u && (t->fields[i].hidden & u->role)))
				out[n++] = &t->fields[i];
	return n;
}

/* The item for record rec that c found: title, snippet around the terms it
 * holds (strong ones first). */
static json_t *item(const kn_type *t, const kn_user *u, const json_t *rec, const cand *c,
		    const terms *ts)
{
	kn_buf q;
	kn_buf_init(&q, 0);
	size_t runs = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < ts->n && runs < KN_TERMS_MAX; i++)
			if ((c->terms & (1ull << i)) && ts->v[i].strong == (pass == 0)) {
				kn_buf_addf(&q, "%s%s", runs ? " " : "", ts->v[i].t.tok);
				runs++;
			}
	const kn_field *fs[64];
	size_t nf = searched(t, u, fs, 64);
	char *snip = NULL;
	const kn_field *where = nf ? fs[0] : NULL;
	size_t best = 0;
	for (size_t k = 0; k < nf && q.data; k++) {
		size_t m = 0;
		char *sn = kn_search_snippet(json_string_value(json_object_get(rec, fs[k]->name)),
					     q.data, 120, &m);
		if (sn && m > best) {
			free(snip);
			snip = sn, where = fs[k], best = m;
		} else {
			free(sn);
		}
	}
	kn_buf_release(&q);
	json_t *title = nf ? json_object_get(rec, fs[0]->name) : NULL;
	json_t *it = json_pack("{s:s,s:O,s:O?,s:O?,s:O?,s:I,s:i,s:s?,s:s?}", "type", t->plural, "id",
			       json_object_get(rec, "id"), "number", json_object_get(rec, "number"),
			       "title", title, "state", json_object_get(rec, "state"), "score",
			       (json_int_t)llround(c->score * 10.0), "matched", c->matched, "field",
			       where ? where->name : NULL, "snippet", snip);
	free(snip);
	return it;
}

/* Whether state st is one a suggestion of t may be in. */
static bool state_ok(const kn_type *t, const char *states, const char *st)
{
	if (!st)
		return false;
	if (states) {
		size_t l = strlen(st);
		for (const char *p = states; *p;) {
			size_t n = strcspn(p, ",");
			if (n == l && strncmp(p, st, l) == 0)
				return true;
			p += n + (p[n] == ',');
		}
		return false;
	}
	if (kn_type_state(t, "published"))
		return strcmp(st, "published") == 0;
	const kn_state *s = kn_type_state(t, st);
	return s && !s->final;
}

/* The types named by list (comma plurals) into want; explicit: a type u
 * may not read is an error, else it is left out. */
static int pick_types(const kn_schema *s, const kn_user *u, const char *list, bool explicit,
		      const kn_type **want, size_t *n, kn_error *err)
{
	char *dup = kn_xstrdup(list), *save = NULL;
	int rc = 0;
	*n = 0;
	for (char *tok = strtok_r(dup, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
		const kn_type *t = kn_schema_type_plural(s, tok);
		bool readable = t && (!u || (u->role & t->can_read));
		if (!t || !kn_search_enabled(t)) {
			if (explicit)
				rc = kn_fail(err, KN_EINVAL, "types",
					     "\"%.64s\" is not a type with searched fields", tok);
		} else if (!readable) {
			if (explicit)
				rc = kn_fail(err, KN_EFORBIDDEN, "types",
					     "your role may not read %s records", t->name);
		} else {
			bool dup_type = false;
			for (size_t i = 0; i < *n; i++)
				dup_type |= want[i] == t;
			if (!dup_type && *n < MAX_TYPES)
				want[(*n)++] = t;
		}
	}
	free(dup);
	return rc;
}

int kn_rec_suggest(kn_engine *e, const kn_user *u, const kn_param *p, size_t np, json_t **out,
		   kn_error *err)
{
	const char *text = NULL, *types = NULL, *states = NULL;
	int limit = 5;
	for (size_t i = 0; i < np; i++) {
		const char *k = p[i].key, *v = p[i].value ? p[i].value : "";
		const char **slot = !strcmp(k, "text")	  ? &text
				    : !strcmp(k, "types") ? &types
				    : !strcmp(k, "state") ? &states
							  : NULL;
		if (slot) {
			if (*slot)
				return kn_fail(err, KN_EINVAL, k, "%s is given twice", k);
			*slot = v;
		} else if (strcmp(k, "limit") == 0) {
			char *end;
			long n = strtol(v, &end, 10);
			if (!*v || *end || n < 1 || n > LIMIT_MAX)
				return kn_fail(err, KN_EINVAL, "limit", "limit must be 1 to %d",
					       LIMIT_MAX);
			limit = (int)n;
		} else {
			return kn_fail(err, KN_EINVAL, k,
				       "unknown parameter \"%.64s\" (text, types, state, limit)", k);
		}
	}
	if (!text || !*text)
		return kn_fail(err, KN_EINVAL, "text", "text is required: what is being written");
	size_t len = strlen(text);
	if (!kn_utf8_valid(text, len))
		return kn_fail(err, KN_EINVAL, "text", "text is not valid UTF-8");
	if (len > KN_SUGGEST_TEXT_MAX) { /* the rest is ignored, cut on a character */
		len = KN_SUGGEST_TEXT_MAX;
		while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
			len--;
	}
	if (states && (!*states || !kn_utf8_valid(states, strlen(states))))
		return kn_fail(err, KN_EINVAL, "state", "state takes a comma list of states");
	const kn_type *want[MAX_TYPES];
	size_t nt = 0;
	int rc = pick_types(e->schema, u, types ? types : KN_SUGGEST_TYPES, types != NULL, want,
			    &nt, err);
	if (rc)
		return rc;
	if (states) { /* every state named must be one of some type asked for */
		char *dup = kn_xstrdup(states), *save = NULL;
		for (char *tok = strtok_r(dup, ",", &save); tok && !rc;
		     tok = strtok_r(NULL, ",", &save)) {
			bool known = false;
			for (size_t i = 0; i < nt && !known; i++)
				known = kn_type_state(want[i], tok) != NULL;
			if (!known)
				rc = kn_fail(err, KN_EINVAL, "state", "no type asked for has a state '%.64s'",
					     tok);
		}
		free(dup);
		if (rc)
			return rc;
	}
	terms ts = {0};
	text_terms(text, len, &ts);
	if (!ts.n)
		return kn_fail(err, KN_EINVAL, "text", "text has no word to suggest from");

	cands cs = {0};
	json_t *items = json_array();
	rc = OPS(e)->begin(ST(e), false, err);
	if (rc) {
		json_decref(items);
		return rc;
	}
	for (size_t i = 0; !rc && i < nt; i++)
		rc = rank_type(e, want[i], (int)i, &ts, &cs, err);
	if (!rc) {
		/* records holding only grammar say nothing when the text has words */
		size_t kept = 0;
		for (size_t i = 0; i < cs.n; i++)
			if (cs.v[i].strong || !ts.any_strong)
				cs.v[kept++] = cs.v[i];
		cs.n = kept;
		if (cs.n)
			qsort(cs.v, cs.n, sizeof *cs.v, by_score);
	}
	size_t fetched = 0;
	for (size_t i = 0; !rc && i < cs.n && json_array_size(items) < (size_t)limit &&
			   fetched < FETCH_MAX;
	     i++) {
		const kn_type *t = want[cs.v[i].type];
		char idbuf[32];
		snprintf(idbuf, sizeof idbuf, "%lld", (long long)cs.v[i].id);
		json_t *rec = NULL;
		kn_error e2 = {0};
		int r = kn_rec_get(e, u, t, idbuf, &rec, &e2);
		fetched++;
		if (r == KN_ENOTFOUND || r == KN_EFORBIDDEN)
			continue; /* not for u (or gone): never suggested */
		if (r) {
			*err = e2;
			rc = r;
			break;
		}
		if (state_ok(t, states, json_string_value(json_object_get(rec, "state"))))
			json_array_append_new(items, item(t, u, rec, &cs.v[i], &ts));
		json_decref(rec);
	}
	if (rc)
		OPS(e)->rollback(ST(e));
	else
		rc = OPS(e)->commit(ST(e), err);
	free(cs.v);
	free(cs.slots);
	if (rc) {
		json_decref(items);
		return rc;
	}
	*out = json_pack("{s:o}", "items", items);
	return 0;
}

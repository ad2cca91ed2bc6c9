/* SPDX-License-Identifier: Apache-2.0 */
/*
 * search.c - tokens, query terms and snippets for full-text search (see
 * search.h).
 */
#include "kanri.h"

#include "core/search.h"

#define WEIGHT_CAP 1000

/* ---- characters ------------------------------------------------------------- */

/* Decode one code point at s (valid UTF-8, as every stored text is);
 * *len gets its length in bytes. */
static uint32_t decode(const unsigned char *s, size_t *len)
{
	if (s[0] < 0x80) {
		*len = 1;
		return s[0];
	}
	if ((s[0] & 0xE0) == 0xC0 && s[1]) {
		*len = 2;
		return (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
	}
	if ((s[0] & 0xF0) == 0xE0 && s[1] && s[2]) {
		*len = 3;
		return (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
	}
	if ((s[0] & 0xF8) == 0xF0 && s[1] && s[2] && s[3]) {
		*len = 4;
		return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
		       (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
	}
	*len = 1;
	return 0xFFFD;
}

static size_t encode(uint32_t c, char *out)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xC0 | c >> 6);
		out[1] = (char)(0x80 | (c & 0x3F));
		return 2;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xE0 | c >> 12);
		out[1] = (char)(0x80 | (c >> 6 & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | c >> 18);
	out[1] = (char)(0x80 | (c >> 12 & 0x3F));
	out[2] = (char)(0x80 | (c >> 6 & 0x3F));
	out[3] = (char)(0x80 | (c & 0x3F));
	return 4;
}

/* Full-width ASCII to ASCII, the ideographic space to a space, letters to
 * lower case (ASCII and Latin-1). */
static uint32_t fold(uint32_t c)
{
	if (c >= 0xFF01 && c <= 0xFF5E)
		c -= 0xFEE0;
	else if (c == 0x3000)
		c = ' ';
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c >= 0xC0 && c <= 0xDE && c != 0xD7)
		return c + 32;
	return c;
}

enum cls { SEP, WORD, CJK };

static enum cls classify(uint32_t c)
{
	if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    (c >= 0xDF && c <= 0x24F && c != 0xF7))
		return WORD;
	if ((c >= 0x3040 && c <= 0x30FF) || c == 0x3005 || (c >= 0x31F0 && c <= 0x31FF) ||
	    (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
	    (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF66 && c <= 0xFF9F) ||
	    (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x20000 && c <= 0x2FFFF))
		return CJK;
	return SEP;
}

/* Text as folded code points, with each one's byte offset in the original
 * (off[n] is the length). */
typedef struct cps {
	uint32_t *c;
	size_t *off;
	size_t n;
} cps;

static void cps_of(const char *text, cps *out)
{
	size_t len = strlen(text);
	out->c = kn_xcalloc(len + 1, sizeof *out->c);
	out->off = kn_xcalloc(len + 1, sizeof *out->off);
	out->n = 0;
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < len) {
		size_t l;
		uint32_t c = decode(s + i, &l);
		out->off[out->n] = i;
		out->c[out->n++] = fold(c);
		i += l;
	}
	out->off[out->n] = len;
}

static void cps_free(cps *p)
{
	free(p->c);
	free(p->off);
}

/* The token of code points c[0..n): UTF-8, cut at KN_TOK_MAX - 1 bytes on
 * a character boundary. */
static void token(const uint32_t *c, size_t n, char out[KN_TOK_MAX])
{
	size_t k = 0;
	char buf[4];
	for (size_t i = 0; i < n; i++) {
		size_t l = encode(c[i], buf);
		if (k + l >= KN_TOK_MAX)
			break;
		memcpy(out + k, buf, l);
		k += l;
	}
	out[k] = 0;
}

/* Call fn for every token of p (a word, a bigram, a run's last character);
 * kind tells which (for query terms). */
enum tkind { T_WORD, T_BIGRAM, T_LAST, T_SINGLE };

static void tokens(const cps *p, void (*fn)(void *ctx, const char *tok, enum tkind k), void *ctx)
{
	char tok[KN_TOK_MAX];
	size_t i = 0;
	while (i < p->n) {
		enum cls k = classify(p->c[i]);
		size_t j = i + 1;
		while (j < p->n && classify(p->c[j]) == k)
			j++;
		if (k == WORD) {
			token(p->c + i, j - i, tok);
			fn(ctx, tok, T_WORD);
		} else if (k == CJK) {
			for (size_t a = i; a + 1 < j; a++) {
				token(p->c + a, 2, tok);
				fn(ctx, tok, T_BIGRAM);
			}
			token(p->c + j - 1, 1, tok);
			fn(ctx, tok, j - i == 1 ? T_SINGLE : T_LAST);
		}
		i = j;
	}
}

/* ---- postings ------------------------------------------------------------------ */

bool kn_search_enabled(const kn_type *t)
{
	for (size_t i = 0; i < t->nfields; i++)
		if (t->fields[i].search)
			return true;
	return false;
}

/* The postings being gathered, with a hash index (slot: index + 1). */
struct post_ctx {
	kn_posting *p;
	size_t n, cap;
	size_t *slots, nslots;
	int w;
};

static uint64_t tok_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static void post_index(struct post_ctx *x, size_t i)
{
	size_t m = x->nslots - 1, k = tok_hash(x->p[i].tok) & m;
	while (x->slots[k])
		k = (k + 1) & m;
	x->slots[k] = i + 1;
}

static void add_posting(void *ctx, const char *tok, enum tkind k)
{
	struct post_ctx *x = ctx;
	if (x->nslots) {
		size_t m = x->nslots - 1;
		for (size_t s = tok_hash(tok) & m; x->slots[s]; s = (s + 1) & m) {
			kn_posting *p = &x->p[x->slots[s] - 1];
			if (strcmp(p->tok, tok) == 0) {
				p->w = p->w + x->w > WEIGHT_CAP ? WEIGHT_CAP : p->w + x->w;
				return;
			}
		}
	}
	if (x->n == x->cap) {
		x->cap = x->cap ? x->cap * 2 : 32;
		x->p = kn_xrealloc(x->p, x->cap * sizeof *x->p);
	}
	snprintf(x->p[x->n].tok, KN_TOK_MAX, "%s", tok);
	x->p[x->n++].w = x->w;
	if ((x->n + 1) * 2 > x->nslots) { /* grow and rebuild the index */
		free(x->slots);
		x->nslots = x->nslots ? x->nslots * 2 : 64;
		while ((x->n + 1) * 2 > x->nslots)
			x->nslots *= 2;
		x->slots = kn_xcalloc(x->nslots, sizeof *x->slots);
		for (size_t i = 0; i < x->n; i++)
			post_index(x, i);
	} else {
		post_index(x, x->n - 1);
	}
}

kn_posting *kn_search_postings(const kn_type *t, const json_t *rec, size_t *n)
{
	struct post_ctx x = {0};
	for (size_t i = 0; i < t->nfields; i++) {
		const kn_field *f = &t->fields[i];
		const char *text = json_string_value(json_object_get(rec, f->name));
		if (!f->search || !text)
			continue;
		cps p;
		cps_of(text, &p);
		x.w = f->search;
		tokens(&p, add_posting, &x);
		cps_free(&p);
	}
	free(x.slots);
	*n = x.n;
	return x.p;
}

int kn_search_index(kn_store *st, const kn_type *t, const json_t *rec, bool fresh,
		    kn_error *err)
{
	if (!kn_search_enabled(t))
		return 0;
	size_t n = 0;
	kn_posting *p = kn_search_postings(t, rec, &n);
	int rc = st->ops->search_set(st, t->name, json_integer_value(json_object_get(rec, "id")),
				     fresh, p, n, err);
	free(p);
	return rc;
}

/* ---- query terms ----------------------------------------------------------------- */

struct term_ctx {
	kn_sterm *t;
	size_t n;
};

static void add_term(void *ctx, const char *tok, enum tkind k)
{
	struct term_ctx *x = ctx;
	if (k == T_LAST)
		return; /* the run's bigrams already hold it */
	bool prefix = k == T_WORD || k == T_SINGLE;
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->t[i].tok, tok) == 0 && x->t[i].prefix == prefix)
			return;
	if (x->n == KN_TERMS_MAX)
		return;
	snprintf(x->t[x->n].tok, KN_TOK_MAX, "%s", tok);
	x->t[x->n++].prefix = prefix;
}

size_t kn_search_terms(const char *q, kn_sterm *out)
{
	struct term_ctx x = {out, 0};
	cps p;
	cps_of(q ? q : "", &p);
	tokens(&p, add_term, &x);
	cps_free(&p);
	return x.n;
}

/* ---- matching in a text ---------------------------------------------------------- */

/* The runs of q (words and Japanese runs), as folded code points. */
typedef struct runs {
	struct run {
		uint32_t *c;
		size_t n;
		bool word;
	} r[KN_TERMS_MAX];
	size_t n;
	cps all;
} runs;

static void runs_of(const char *q, runs *out)
{
	cps_of(q ? q : "", &out->all);
	out->n = 0;
	size_t i = 0;
	while (i < out->all.n && out->n < KN_TERMS_MAX) {
		enum cls k = classify(out->all.c[i]);
		size_t j = i + 1;
		while (j < out->all.n && classify(out->all.c[j]) == k)
			j++;
		if (k != SEP)
			out->r[out->n++] = (struct run){out->all.c + i, j - i, k == WORD};
		i = j;
	}
}

/* Where run r occurs in p at or after `from` (a word only at a word's
 * start), or p->n. */
static size_t find_run(const cps *p, const struct run *r, size_t from)
{
	for (size_t i = from; i + r->n <= p->n; i++) {
		if (r->word && i > 0 && classify(p->c[i - 1]) == WORD)
			continue;
		if (memcmp(p->c + i, r->c, r->n * sizeof *r->c) == 0)
			return i;
	}
	return p->n;
}

bool kn_search_phrase_ok(const char *text, const char *q)
{
	runs rs;
	runs_of(q, &rs);
	cps p;
	cps_of(text ? text : "", &p);
	bool ok = true;
	for (size_t i = 0; i < rs.n && ok; i++)
		ok = find_run(&p, &rs.r[i], 0) < p.n;
	cps_free(&p);
	cps_free(&rs.all);
	return ok;
}

static void add_escaped(kn_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&':
			kn_buf_adds(b, "&amp;");
			break;
		case '<':
			kn_buf_adds(b, "&lt;");
			break;
		case '>':
			kn_buf_adds(b, "&gt;");
			break;
		case '"':
			kn_buf_adds(b, "&quot;");
			break;
		default:
			kn_buf_add(b, s + i, 1);
		}
	}
}

char *kn_search_snippet(const char *text, const char *q, size_t width, size_t *nmatched)
{
	*nmatched = 0;
	if (!text || !*text)
		return NULL;
	runs rs;
	runs_of(q, &rs);
	cps p;
	cps_of(text, &p);
	bool *mark = kn_xcalloc(p.n + 1, sizeof *mark);
	size_t first = p.n;
	for (size_t i = 0; i < rs.n; i++) {
		*nmatched += find_run(&p, &rs.r[i], 0) < p.n;
		for (size_t at = find_run(&p, &rs.r[i], 0); at < p.n;
		     at = find_run(&p, &rs.r[i], at + 1)) {
			for (size_t k = at; k < at + rs.r[i].n; k++)
				mark[k] = true;
			if (at < first)
				first = at;
		}
	}
	char *out = NULL;
	if (first < p.n) {
		size_t start = first > width / 4 ? first - width / 4 : 0;
		size_t end = start + width < p.n ? start + width : p.n;
		kn_buf b;
		kn_buf_init(&b, 0);
		if (start > 0)
			kn_buf_adds(&b, "…");
		for (size_t i = start; i < end;) {
			size_t j = i + 1;
			while (j < end && mark[j] == mark[i])
				j++;
			if (mark[i])
				kn_buf_adds(&b, "<mark>");
			add_escaped(&b, text + p.off[i], p.off[j] - p.off[i]);
			if (mark[i])
				kn_buf_adds(&b, "</mark>");
			i = j;
		}
		if (end < p.n)
			kn_buf_adds(&b, "…");
		out = b.data;
	}
	free(mark);
	cps_free(&p);
	cps_free(&rs.all);
	return out;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sql.c - the SQL both backends share (see sql.h).
 */
#include "kanri.h"

#include <errno.h>

#include "store/sql.h"

/* clang-format off */
const struct kn_syscol kn_syscols[KN_NSYS] = {
	{"id", 'i'},
	{"number", 't'},
	{"version", 'i'},
	{"state", 't'},
	{"created_at", 't'},
	{"updated_at", 't'},
	{"created_by", 't'},
	{"updated_by", 't'},
};
/* clang-format on */

bool kn_sql_ident_ok(const char *s)
{
	if (!s || !(*s >= 'a' && *s <= 'z'))
		return false;
	size_t n = 0;
	for (; *s; s++, n++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return n < 64;
}

uint64_t kn_sql_hash(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
	return h;
}

void kn_sql_param(kn_buf *b, kn_dialect d, size_t n)
{
	if (d == KN_PG)
		kn_buf_addf(b, "$%zu", n);
	else
		kn_buf_adds(b, "?");
}

int kn_sql_indexes(kn_dialect d, const kn_sqltype *y, const kn_type *t, kn_buf *key,
		   kn_buf *rest, kn_error *err)
{
	if (t->key_field)
		kn_buf_addf(key, "CREATE UNIQUE INDEX IF NOT EXISTS \"ux_%s__%s\" ON \"rec_%s\"(\"%s\")",
			    y->name, t->key_field->name, y->name, t->key_field->name);
	for (size_t i = 0; i < t->nindexes; i++) {
		char **ix = t->indexes[i];
		if (!ix || !ix[0])
			continue;
		kn_buf name, list;
		kn_buf_init(&name, 0);
		kn_buf_init(&list, 0);
		kn_buf_addf(&name, "ix_%s", y->name);
		int r = 0;
		for (size_t j = 0; ix[j] && !r; j++) {
			if (kn_sql_col(y, ix[j]) < 0)
				r = kn_fail(err, KN_EINVAL, "", "%s: index on unknown attribute \"%s\"",
					    y->name, ix[j]);
			kn_buf_addf(&name, "__%s", ix[j]);
			kn_buf_addf(&list, "%s\"%s\"", j ? "," : "", ix[j]);
		}
		/* PostgreSQL: id last, so that a list (which always ends its
		 * order with id) reads the page from the index alone; SQLite's
		 * indexes end with the row id by themselves. The index of the
		 * columns alone, made before, is dropped. */
		if (!r && d == KN_PG)
			kn_buf_addf(rest, "DROP INDEX IF EXISTS \"%s\";", name.data);
		if (!r && d == KN_PG && strcmp(ix[0], "id") != 0) {
			kn_buf_adds(&name, "__id");
			kn_buf_adds(&list, ",\"id\"");
		}
		if (!r)
			kn_buf_addf(rest, "CREATE INDEX IF NOT EXISTS \"%s\" ON \"rec_%s\"(%s);",
				    name.data, y->name, list.data);
		kn_buf_release(&name);
		kn_buf_release(&list);
		if (r)
			return r;
	}
	return 0;
}

int kn_sql_key_conflict(const kn_sqltype *y, const kn_type *t, kn_error *err)
{
	return kn_fail(err, KN_ECONFLICT, t->key_field->name,
		       "%s: cannot make %s a key: duplicate values exist", y->name,
		       t->key_field->name);
}

char *kn_sql_migrated_sig(const kn_schema *sch)
{
	return sch->digest ? kn_xasprintf("%d:%s", KN_STORE_FORMAT, sch->digest) : NULL;
}

char *kn_sql_systable_insert(const kn_systable *t)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_addf(&b, "INSERT INTO \"%s\"(", t->name);
	size_t n = 0;
	for (; t->cols[n]; n++)
		kn_buf_addf(&b, "%s\"%s\"", n ? "," : "", t->cols[n]);
	kn_buf_adds(&b, ") VALUES(");
	for (size_t i = 0; i < n; i++) {
		if (i)
			kn_buf_adds(&b, ",");
		kn_buf_adds(&b, "?");
	}
	kn_buf_adds(&b, ")");
	return b.data;
}

char *kn_sql_systable_select(const kn_systable *t, int page)
{
	kn_buf b;
	kn_buf_init(&b, 0);
	kn_buf_adds(&b, "SELECT ");
	for (size_t i = 0; t->cols[i]; i++)
		kn_buf_addf(&b, "%s\"%s\"", i ? "," : "", t->cols[i]);
	kn_buf_addf(&b, " FROM \"%s\"", t->name);
	if (t->int_key && page > 0) {
		kn_buf_addf(&b, " WHERE \"%s\">", t->cols[0]);
		kn_buf_adds(&b, "?");
		kn_buf_addf(&b, " ORDER BY \"%s\" LIMIT %d", t->cols[0], page);
	} else {
		kn_buf_addf(&b, " ORDER BY \"%s\"", t->cols[0]);
	}
	return b.data;
}

/* SQLite's unary + keeps a column out of index planning; PostgreSQL has no
 * such need (and no + on text). */
static const char *hint(kn_dialect d) { return d == KN_SQLITE ? "+" : ""; }

/* ---- types ---------------------------------------------------------------- */

static void type_free(kn_sqltype *y)
{
	for (size_t i = 0; i < y->ncols; i++)
		free(y->cols[i].name);
	free(y->cols);
	free(y->name);
	free(y->get_id);
	free(y->get_number);
	free(y->get_key);
	free(y->insert);
	free(y->scan);
	free(y->insert_all);
	free(y->version);
	free(y->collist);
	for (size_t i = 0; i < y->ncounts; i++)
		free(y->counts[i].table), free(y->counts[i].sum);
	free(y->counts);
	free(y->select);
	free(y->count);
	free(y);
}

static char kind_code(kn_kind k)
{
	return k == KN_INTEGER ? 'i' : k == KN_BOOLEAN ? 'b' : 't';
}

static bool type_match(const kn_sqltype *y, const kn_type *t)
{
	if (y->t != t || y->ncols != KN_NSYS + t->nfields || strcmp(y->name, t->name) != 0)
		return false;
	for (size_t i = 0; i < t->nfields; i++)
		if (strcmp(y->cols[KN_NSYS + i].name, t->fields[i].name) != 0 ||
		    y->cols[KN_NSYS + i].kind != kind_code(t->fields[i].kind))
			return false;
	return true;
}

int kn_sql_col(const kn_sqltype *y, const char *name)
{
	for (size_t i = 0; name && i < y->ncols; i++)
		if (strcmp(y->cols[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Build the per-type SQL once; validates every identifier. */
static int type_build(kn_dialect d, const kn_type *t, kn_sqltype **out, kn_error *err)
{
	if (!kn_sql_ident_ok(t->name))
		return kn_fail(err, KN_EINVAL, "", "bad type name \"%s\"", t->name ? t->name : "");
	for (size_t i = 0; i < t->nfields; i++) {
		const char *f = t->fields[i].name;
		if (!kn_sql_ident_ok(f))
			return kn_fail(err, KN_EINVAL, "", "type %s: bad field name \"%s\"",
				       t->name, f ? f : "");
		for (size_t j = 0; j < KN_NSYS; j++)
			if (strcmp(f, kn_syscols[j].name) == 0)
				return kn_fail(err, KN_EINVAL, f,
					       "type %s: field name %s is reserved", t->name, f);
		for (size_t j = 0; j < i; j++)
			if (strcmp(f, t->fields[j].name) == 0)
				return kn_fail(err, KN_EINVAL, f,
					       "type %s: field %s declared twice", t->name, f);
	}
	kn_sqltype *y = kn_xcalloc(1, sizeof *y);
	y->t = t;
	y->name = kn_xstrdup(t->name);
	y->ncols = KN_NSYS + t->nfields;
	y->cols = kn_xcalloc(y->ncols, sizeof *y->cols);
	for (size_t i = 0; i < KN_NSYS; i++) {
		y->cols[i].name = kn_xstrdup(kn_syscols[i].name);
		y->cols[i].kind = kn_syscols[i].kind;
		y->cols[i].notnull = true;
	}
	for (size_t i = 0; i < t->nfields; i++) {
		y->cols[KN_NSYS + i].name = kn_xstrdup(t->fields[i].name);
		y->cols[KN_NSYS + i].kind = kind_code(t->fields[i].kind);
	}

	kn_buf cols, ins, qs, qall;
	kn_buf_init(&cols, 0);
	kn_buf_init(&ins, 0);
	kn_buf_init(&qs, 0);
	kn_buf_init(&qall, 0);
	for (size_t i = 0; i < y->ncols; i++) {
		kn_buf_addf(&cols, "%s\"%s\"", i ? "," : "", y->cols[i].name);
		if (i)
			kn_buf_adds(&qall, ",");
		kn_sql_param(&qall, d, i + 1);
		if (i) {
			kn_buf_addf(&ins, "%s\"%s\"", i > 1 ? "," : "", y->cols[i].name);
			if (i > 1)
				kn_buf_adds(&qs, ",");
			kn_sql_param(&qs, d, i);
		}
	}
	const char *key = t->key_field ? t->key_field->name : "number";
	const char *p1 = d == KN_PG ? "$1" : "?";
	y->collist = kn_xstrdup(cols.data);
	y->select = kn_xasprintf("SELECT %s FROM \"rec_%s\"", cols.data, t->name);
	y->get_id = kn_xasprintf("%s WHERE \"id\"=%s", y->select, p1);
	y->get_number = kn_xasprintf("%s WHERE \"number\"=%s", y->select, p1);
	y->get_key = kn_xasprintf("%s WHERE \"%s\"=%s", y->select, key, p1);
	y->insert = kn_xasprintf("INSERT INTO \"rec_%s\"(%s) VALUES(%s)%s", t->name, ins.data,
				 qs.data, d == KN_PG ? " RETURNING \"id\"" : "");
	y->scan = kn_xasprintf("%s ORDER BY \"id\"", y->select);
	y->insert_all = kn_xasprintf("INSERT INTO \"rec_%s\"(%s) VALUES(%s)", t->name, cols.data,
				     qall.data);
	y->version =
	    kn_xasprintf("SELECT \"version\" FROM \"rec_%s\" WHERE \"id\"=%s", t->name, p1);
	y->count = kn_xasprintf("SELECT count(*) FROM \"rec_%s\"", t->name);
	y->counts = kn_xcalloc(t->ncounts + 1, sizeof *y->counts);
	for (size_t i = 0; i < t->ncounts; i++) {
		kn_sqlcount *k = &y->counts[y->ncounts];
		kn_buf name;
		kn_buf_init(&name, 0);
		kn_buf_addf(&name, "kc_%s", t->name);
		for (size_t j = 0; t->counts[i][j] && k->n < 4; j++) {
			int ci = kn_sql_col(y, t->counts[i][j]);
			if (ci < 0)
				continue;
			k->cols[k->n++] = ci;
			kn_buf_addf(&name, "__%s", t->counts[i][j]);
		}
		if (k->n) {
			k->table = kn_xstrdup(name.data);
			k->sum = kn_xasprintf("SELECT coalesce(sum(\"n\"),0) FROM \"%s\"", k->table);
			y->ncounts++;
		}
		kn_buf_release(&name);
	}
	kn_buf_release(&cols);
	kn_buf_release(&ins);
	kn_buf_release(&qs);
	kn_buf_release(&qall);
	*out = y;
	return 0;
}

void kn_sqltypes_init(kn_sqltypes *ts, kn_dialect d)
{
	ts->d = d;
	ts->head = NULL;
	pthread_mutex_init(&ts->lock, NULL);
}

void kn_sqltypes_free(kn_sqltypes *ts)
{
	while (ts->head) {
		kn_sqltype *y = ts->head;
		ts->head = y->next;
		type_free(y);
	}
	pthread_mutex_destroy(&ts->lock);
}

int kn_sqltypes_get(kn_sqltypes *ts, const kn_type *t, kn_sqltype **out, kn_error *err)
{
	kn_sqltype *y = NULL;
	pthread_mutex_lock(&ts->lock);
	for (y = ts->head; y; y = y->next)
		if (type_match(y, t))
			break;
	pthread_mutex_unlock(&ts->lock);
	if (y) {
		*out = y;
		return 0;
	}
	kn_sqltype *n = NULL;
	int r = type_build(ts->d, t, &n, err);
	if (r)
		return r;
	pthread_mutex_lock(&ts->lock);
	for (y = ts->head; y; y = y->next)
		if (type_match(y, t))
			break;
	if (!y) {
		n->next = ts->head;
		ts->head = y = n;
		n = NULL;
	}
	pthread_mutex_unlock(&ts->lock);
	if (n)
		type_free(n);
	*out = y;
	return 0;
}

/* ---- values ----------------------------------------------------------------- */

static void bind(kn_buf *b, kn_dialect d, kn_sqlbinds *bs, const kn_sqlcol *col, const json_t *v)
{
	if (bs->n == bs->cap) {
		bs->cap = bs->cap ? bs->cap * 2 : 16;
		bs->a = kn_xrealloc(bs->a, bs->cap * sizeof *bs->a);
	}
	bs->a[bs->n].v = v;
	bs->a[bs->n++].kind = col->kind;
	kn_sql_param(b, d, bs->n);
}

void kn_sqlbinds_release(kn_sqlbinds *bs)
{
	free(bs->a);
	bs->a = NULL;
	bs->n = bs->cap = 0;
}

/* Does v fit column col? (The engine has normalised values; this guards
 * against a value of the wrong JSON type silently changing meaning.) */
static int val_check(const kn_sqltype *y, const kn_sqlcol *col, const json_t *v, kn_error *err)
{
	if (!v || json_is_null(v)) {
		if (col->notnull)
			return kn_fail(err, KN_EINVAL, col->name, "%s: %s is missing", y->name,
				       col->name);
		return 0;
	}
	bool ok = col->kind == 'i'   ? json_is_integer(v)
		  : col->kind == 'b' ? json_is_boolean(v)
				     : json_is_string(v);
	if (!ok)
		return kn_fail(err, KN_EINVAL, col->name, "%s: %s has the wrong JSON type", y->name,
			       col->name);
	return 0;
}

/* KN_EINVAL naming the first member of o that is not a column to write
 * (insert tolerates and ignores "id" and "type"; update neither). */
static int unknown_member(const kn_sqltype *y, const json_t *o, bool insert, kn_error *err)
{
	for (void *it = json_object_iter((json_t *)o); it;
	     it = json_object_iter_next((json_t *)o, it)) {
		const char *k = json_object_iter_key(it);
		int i = kn_sql_col(y, k);
		if (insert ? i < 0 && strcmp(k, "type") != 0 : i <= 0)
			return kn_fail(err, KN_EINVAL, k, "%s: no attribute \"%s\" to set", y->name,
				       k);
	}
	return kn_fail(err, KN_EINVAL, "", "%s: unexpected members", y->name);
}

int kn_sql_check_insert(const kn_sqltype *y, const json_t *rec, kn_error *err)
{
	if (!json_is_object(rec))
		return kn_fail(err, KN_EINVAL, "", "%s: record is not an object", y->name);
	size_t known = 0;
	for (size_t i = 1; i < y->ncols; i++) {
		const json_t *v = json_object_get(rec, y->cols[i].name);
		int r = val_check(y, &y->cols[i], v, err);
		if (r)
			return r;
		known += v != NULL;
	}
	known += (json_object_get(rec, "id") != NULL) + (json_object_get(rec, "type") != NULL);
	return known == json_object_size(rec) ? 0 : unknown_member(y, rec, true, err);
}

int kn_sql_update(kn_dialect d, const kn_sqltype *y, const json_t *set, kn_buf *b,
		  kn_sqlbinds *bs, size_t *nset, kn_error *err)
{
	if (!json_is_object(set))
		return kn_fail(err, KN_EINVAL, "", "%s: update is not an object", y->name);
	kn_buf_addf(b, "UPDATE \"rec_%s\" SET ", y->name);
	*nset = 0;
	for (size_t i = 1; i < y->ncols; i++) {
		const json_t *v = json_object_get(set, y->cols[i].name);
		if (!v)
			continue;
		int r = val_check(y, &y->cols[i], v, err);
		if (r)
			return r;
		kn_buf_addf(b, "%s\"%s\"=", *nset ? "," : "", y->cols[i].name);
		bind(b, d, bs, &y->cols[i], v);
		(*nset)++;
	}
	if (*nset != json_object_size(set))
		return unknown_member(y, set, false, err);
	kn_buf_adds(b, " WHERE \"id\"=");
	kn_sql_param(b, d, *nset + 1);
	kn_buf_adds(b, " AND \"version\"=");
	kn_sql_param(b, d, *nset + 2);
	return 0;
}

void kn_sql_search_rank(const char *type, const kn_sterm *terms, size_t nterms, int limit,
			kn_buf *b, const char **params, size_t *nparams, char (*hi)[KN_TOK_MAX + 4])
{
	size_t n = 0;
	kn_buf_adds(b, "SELECT \"rec_id\", sum(\"w\") AS \"s\" FROM (");
	for (size_t i = 0; i < nterms; i++) {
		kn_buf_adds(b, i ? " UNION ALL SELECT" : "SELECT");
		kn_buf_adds(b, " \"rec_id\", max(\"w\") AS \"w\" FROM \"search\" WHERE \"type\"=");
		params[n++] = type;
		kn_buf_adds(b, "?");
		kn_buf_adds(b, terms[i].prefix ? " AND \"tok\">=" : " AND \"tok\"=");
		params[n++] = terms[i].tok;
		kn_buf_adds(b, "?");
		if (terms[i].prefix) {
			kn_sterm_end(terms[i].tok, hi[i]);
			kn_buf_adds(b, " AND \"tok\"<");
			params[n++] = hi[i];
			kn_buf_adds(b, "?");
		}
		kn_buf_adds(b, " GROUP BY \"rec_id\"");
	}
	kn_buf_addf(b, ") AS \"_m\" GROUP BY \"rec_id\" HAVING count(*)=%zu"
		       " ORDER BY \"s\" DESC, \"rec_id\" DESC LIMIT %d",
		    nterms, limit > 0 ? limit : 50);
	*nparams = n;
}

int kn_sql_unique_fail(const kn_sqltype *y, const char *col, const json_t *obj, kn_error *err)
{
	const json_t *v = json_object_get(obj, col);
	if (json_is_string(v))
		return kn_fail(err, KN_ECONFLICT, col, "a %s with %s \"%s\" already exists",
			       y->name, col, json_string_value(v));
	return kn_fail(err, KN_ECONFLICT, col, "a %s with this %s already exists", y->name, col);
}

/* ---- list queries ------------------------------------------------------------ */

/* Append one condition to b (the caller adds the AND between them). */
static int cond_sql(kn_dialect d, const kn_sqltype *y, const kn_cond *cd, kn_buf *b,
		    kn_sqlbinds *bs, kn_error *err)
{
	int ci = kn_sql_col(y, cd->attr);
	if (ci < 0)
		return kn_fail(err, KN_EINVAL, cd->attr ? cd->attr : "",
			       "%s: cannot filter on \"%s\"", y->name, cd->attr ? cd->attr : "");
	const kn_sqlcol *cc = &y->cols[ci];
	const char *col = cc->name;
	const json_t *vals = cd->values;
	size_t nv = json_is_array(vals) ? json_array_size(vals) : 0;
	const json_t *v0 = nv ? json_array_get(vals, 0) : NULL;
	bool v0null = !v0 || json_is_null(v0);
	switch (cd->op) {
	case KN_OP_NULL:
		kn_buf_addf(b, "\"%s\" IS NULL", col);
		return 0;
	case KN_OP_NOTNULL:
		kn_buf_addf(b, "\"%s\" IS NOT NULL", col);
		return 0;
	case KN_OP_EQ:
		if (nv > 1)
			break; /* several values: as IN */
		if (v0null) {
			kn_buf_addf(b, "\"%s\" IS NULL", col);
		} else {
			kn_buf_addf(b, "\"%s\"=", col);
			bind(b, d, bs, cc, v0);
		}
		return 0;
	case KN_OP_NE:
		if (v0null) {
			kn_buf_addf(b, "\"%s\" IS NOT NULL", col);
		} else {
			kn_buf_addf(b, "(\"%s\" IS NULL OR \"%s\"<>", col, col);
			bind(b, d, bs, cc, v0);
			kn_buf_adds(b, ")");
		}
		return 0;
	case KN_OP_LT:
	case KN_OP_LTE:
	case KN_OP_GT:
	case KN_OP_GTE: {
		static const char *const cmp[] = {"<", "<=", ">", ">="};
		kn_buf_addf(b, "\"%s\"%s", col, cmp[cd->op - KN_OP_LT]);
		bind(b, d, bs, cc, v0); /* NULL compares false: no row */
		return 0;
	}
	case KN_OP_CONTAINS: {
		/* lower() folds ASCII only on both: on PostgreSQL both sides
		 * in the C collation, whatever the database's locale. */
		static const kn_sqlcol text = {.name = "", .kind = 't'};
		if (d == KN_PG)
			kn_buf_addf(b, "strpos(lower(\"%s\"::text COLLATE \"C\"),lower(", col);
		else
			kn_buf_addf(b, "instr(lower(\"%s\"),lower(", col);
		bind(b, d, bs, &text, v0);
		kn_buf_adds(b, d == KN_PG ? "::text COLLATE \"C\"))>0" : "))>0");
		return 0;
	}
	case KN_OP_SEARCH: {
		/* values: the type, then per term its token, or a prefix's
		 * token and end (the engine made them) */
		static const kn_sqlcol text = {.name = "", .kind = 't'};
		size_t k = 1;
		if (!cd->nterms) {
			kn_buf_adds(b, "1=0");
			return 0;
		}
		kn_buf_adds(b, "\"id\" IN (");
		for (size_t i = 0; i < cd->nterms; i++) {
			kn_buf_adds(b, i ? " INTERSECT SELECT" : "SELECT");
			kn_buf_adds(b, " \"rec_id\" FROM \"search\" WHERE \"type\"=");
			bind(b, d, bs, &text, json_array_get(vals, 0));
			kn_buf_adds(b, cd->terms[i].prefix ? " AND \"tok\">=" : " AND \"tok\"=");
			bind(b, d, bs, &text, json_array_get(vals, k++));
			if (cd->terms[i].prefix) {
				kn_buf_adds(b, " AND \"tok\"<");
				bind(b, d, bs, &text, json_array_get(vals, k++));
			}
		}
		kn_buf_adds(b, ")");
		return 0;
	}
	case KN_OP_IN:
	case KN_OP_NIN:
		break;
	default:
		return kn_fail(err, KN_EINVAL, col, "%s: unknown operator", y->name);
	}
	/* IN / NIN / EQ with several values. A null among the values means
	 * "or empty" for IN; NIN matches empty values unless null is listed. */
	bool in = cd->op != KN_OP_NIN, hasnull = false;
	size_t nn = 0;
	for (size_t i = 0; i < nv; i++) {
		if (json_is_null(json_array_get(vals, i)))
			hasnull = true;
		else
			nn++;
	}
	if (!nn) {
		if (hasnull)
			kn_buf_addf(b, "\"%s\" IS %sNULL", col, in ? "" : "NOT ");
		else
			kn_buf_adds(b, in ? "1=0" : "1=1"); /* in nothing / not in nothing */
		return 0;
	}
	bool ornull = in ? hasnull : !hasnull;
	kn_buf_addf(b, "%s\"%s\" %sIN (", ornull ? "(" : "", col, in ? "" : "NOT ");
	size_t k = 0;
	for (size_t i = 0; i < nv; i++) {
		const json_t *v = json_array_get(vals, i);
		if (json_is_null(v))
			continue;
		if (k++)
			kn_buf_adds(b, ",");
		bind(b, d, bs, cc, v);
	}
	kn_buf_adds(b, ")");
	if (ornull)
		kn_buf_addf(b, " OR \"%s\" IS NULL)", col);
	return 0;
}

/* "Strictly after v in this sort" for one column. NULL is greater than
 * every value: last ascending, first descending. Returns false when no row
 * can be after v (ascending after NULL). */
static bool after_sql(kn_dialect d, const kn_sqlcol *col, bool desc, const json_t *v, kn_buf *b,
		      kn_sqlbinds *bs)
{
	const char *h = hint(d);
	bool vnull = !v || json_is_null(v);
	if (!desc) {
		if (vnull)
			return false;
		if (col->notnull)
			kn_buf_addf(b, "%s\"%s\">", h, col->name);
		else
			kn_buf_addf(b, "(%s\"%s\" IS NULL OR %s\"%s\">", h, col->name, h,
				    col->name);
		bind(b, d, bs, col, v);
		if (!col->notnull)
			kn_buf_adds(b, ")");
	} else if (vnull) {
		kn_buf_addf(b, "%s\"%s\" IS NOT NULL", h, col->name);
	} else {
		kn_buf_addf(b, "%s\"%s\"<", h, col->name);
		bind(b, d, bs, col, v);
	}
	return true;
}

/* Keyset predicate: rows strictly after the cursor q->after in the sort
 * order, as OR over i of (sort_0..i-1 equal AND sort_i after).
 *
 * On SQLite the disjunction is only a filter: its columns carry the unary
 * + that keeps SQLite from planning it as a MULTI-INDEX OR (which, once
 * ANALYZE statistics exist, it picks and then sorts every candidate row).
 * What lets an index seek to the cursor is a leading bound on the first
 * sort key, implied by the disjunction, wherever one index range
 * expresses it:
 *   ascending, cursor NULL:        "c" IS NULL (only NULLs follow)
 *   ascending, NOT NULL column:    "c" >= v
 *   descending, cursor not NULL:   "c" <= v (NULLs came first)
 * (An ascending nullable key after a value has two ranges, values > v and
 * NULL: it is left to the filter.) */
static void keyset_sql(kn_dialect d, const kn_sqltype *y, const kn_query *q, const int *sc,
		       kn_buf *b, kn_sqlbinds *bs)
{
	const kn_sqlcol *c0 = &y->cols[sc[0]];
	const json_t *a0 = json_array_get(q->after, 0);
	bool desc0 = q->sorts[0].desc;
	if (json_is_null(a0)) {
		if (!desc0)
			kn_buf_addf(b, "\"%s\" IS NULL AND ", c0->name);
	} else if (desc0 || c0->notnull) {
		kn_buf_addf(b, "\"%s\"%s", c0->name, desc0 ? "<=" : ">=");
		bind(b, d, bs, c0, a0);
		kn_buf_adds(b, " AND ");
	}
	kn_buf_adds(b, "(");
	size_t nterms = 0;
	for (size_t i = 0; i < q->nsorts; i++) {
		size_t mark = b->len, mbind = bs->n;
		kn_buf_adds(b, nterms ? " OR (" : "(");
		for (size_t j = 0; j < i; j++) {
			const json_t *v = json_array_get(q->after, j);
			const kn_sqlcol *cj = &y->cols[sc[j]];
			if (json_is_null(v)) {
				kn_buf_addf(b, "%s\"%s\" IS NULL AND ", hint(d), cj->name);
			} else {
				kn_buf_addf(b, "%s\"%s\"=", hint(d), cj->name);
				bind(b, d, bs, cj, v);
				kn_buf_adds(b, " AND ");
			}
		}
		if (!after_sql(d, &y->cols[sc[i]], q->sorts[i].desc, json_array_get(q->after, i),
			       b, bs)) {
			b->len = mark; /* this term matches nothing: drop it */
			b->data[mark] = 0;
			bs->n = mbind;
			continue;
		}
		kn_buf_adds(b, ")");
		nterms++;
	}
	kn_buf_adds(b, nterms ? ")" : "1=0)");
}

/* A text holding a whole decimal number that fits 64 bits. */
static bool decimal(const json_t *v)
{
	const char *s = json_string_value(v);
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	strtoll(s, &end, 10);
	return !*end && !errno;
}

/* The kept count that can answer a total under conditions conds: every
 * condition an =, in or not-in test on one of its attributes, with no null
 * among its values (a kept count keeps an empty value as x'00' on SQLite, not
 * NULL; "not in" without a null counts empty values on both). */
static const kn_sqlcount *count_for(const kn_sqltype *y, const kn_cond *conds, size_t nconds)
{
	const kn_sqlcount *best = NULL;
	for (size_t i = 0; i < y->ncounts; i++) {
		const kn_sqlcount *k = &y->counts[i];
		bool ok = true;
		for (size_t c = 0; c < nconds && ok; c++) {
			kn_op op = conds[c].op;
			ok = op == KN_OP_EQ || op == KN_OP_IN || op == KN_OP_NIN;
			size_t nv = json_array_size(conds[c].values);
			for (size_t v = 0; v < nv && ok; v++)
				ok = !json_is_null(json_array_get(conds[c].values, v));
			ok = ok && nv > 0;
			int ci = kn_sql_col(y, conds[c].attr);
			bool in = false;
			for (size_t j = 0; j < k->n; j++)
				in |= k->cols[j] == ci;
			ok = ok && in;
		}
		if (ok && (!best || k->n < best->n))
			best = k;
	}
	return best;
}

int kn_sql_where(kn_dialect d, const kn_sqltype *y, const kn_cond *conds, size_t n, kn_buf *w,
		 kn_sqlbinds *bs, kn_error *err)
{
	for (size_t i = 0; i < n; i++) {
		kn_buf_adds(w, i ? " AND " : " WHERE ");
		int r = cond_sql(d, y, &conds[i], w, bs, err);
		if (r)
			return r;
	}
	return 0;
}

void kn_sqllist_release(kn_sqllist *l)
{
	kn_buf_release(&l->sql);
	kn_buf_release(&l->count_sql);
	kn_sqlbinds_release(&l->bs);
	free(l->pick);
	l->pick = NULL;
}

/*
 * One page: conditions, ORDER BY the sorts (NULLS LAST ascending, NULLS
 * FIRST descending on nullable columns), keyset from q->after, LIMIT.
 *
 * Deferred row lookup: the inner query finds and orders the ids of the
 * page (reading only the columns it filters and sorts on), the outer one
 * fetches those rows and orders the few of them again (on SQLite CROSS
 * JOIN keeps the inner query as the outer loop). Without it SQLite copies
 * every column of every candidate row into its sorter. "_k" and "_p"
 * cannot clash with a field name.
 */
int kn_sql_list(kn_dialect d, const kn_sqltype *y, const kn_query *q, kn_sqllist *l,
		kn_error *err)
{
	memset(l, 0, sizeof *l);
	kn_buf_init(&l->sql, 0);
	kn_buf_init(&l->count_sql, 0);
	int scs[16], *sc = scs, r = 0;
	if (q->nsorts > sizeof scs / sizeof scs[0])
		sc = kn_xmalloc(q->nsorts * sizeof *sc);
	for (size_t i = 0; i < q->nsorts && !r; i++) {
		sc[i] = kn_sql_col(y, q->sorts[i].attr);
		if (sc[i] < 0)
			r = kn_fail(err, KN_EINVAL, q->sorts[i].attr ? q->sorts[i].attr : "",
				    "%s: cannot sort on \"%s\"", y->name,
				    q->sorts[i].attr ? q->sorts[i].attr : "");
	}
	if (!r && q->after &&
	    (!json_is_array(q->after) || json_array_size(q->after) != q->nsorts || !q->nsorts))
		r = kn_fail(err, KN_EINVAL, "cursor", "%s: the cursor does not match the sort",
			    y->name);
	/* a cursor comes back from clients: each value must fit its column
	 * (null; an integer, also as a decimal text; a boolean; a text or an
	 * integer for a text), the same on every backend */
	for (size_t i = 0; !r && q->after && i < q->nsorts; i++) {
		const json_t *v = json_array_get(q->after, i);
		char k = y->cols[sc[i]].kind;
		if (!json_is_null(v) && !(k == 'i'   ? json_is_integer(v) || decimal(v)
					  : k == 'b' ? json_is_boolean(v)
						     : json_is_string(v) || json_is_integer(v)))
			r = kn_fail(err, KN_EINVAL, "cursor",
				    "%s: the cursor does not match the sort", y->name);
	}
	kn_buf w;
	kn_buf_init(&w, 0);
	if (!r)
		r = kn_sql_where(d, y, q->conds, q->nconds, &w, &l->bs, err);
	l->ncount = l->bs.n;
	kn_buf *b = &l->sql;
	if (!r && q->attrs) {
		l->pick = kn_xcalloc(q->nattrs + 1, sizeof *l->pick);
		l->npick = q->nattrs;
		kn_buf_adds(b, "SELECT ");
		for (size_t i = 0; i < q->nattrs && !r; i++) {
			l->pick[i] = kn_sql_col(y, q->attrs[i]);
			if (l->pick[i] < 0)
				r = kn_fail(err, KN_EINVAL, q->attrs[i], "%s has no attribute \"%s\"",
					    y->name, q->attrs[i]);
			else
				kn_buf_addf(b, "%s\"%s\"", i ? "," : "", y->cols[l->pick[i]].name);
		}
	} else if (!r) {
		kn_buf_addf(b, "SELECT %s", y->collist);
	}
	if (r)
		goto out;
	kn_buf_addf(b, " FROM (SELECT \"id\" AS \"_k\" FROM \"rec_%s\"", y->name);
	kn_buf_add(b, w.data, w.len);
	if (q->after) {
		kn_buf_adds(b, q->nconds ? " AND " : " WHERE ");
		keyset_sql(d, y, q, sc, b, &l->bs);
	}
	size_t ob = b->len;
	kn_buf_adds(b, " ORDER BY ");
	for (size_t i = 0; i < q->nsorts; i++) {
		const kn_sqlcol *col = &y->cols[sc[i]];
		bool desc = q->sorts[i].desc;
		kn_buf_addf(b, "%s\"%s\" %s%s", i ? "," : "", col->name, desc ? "DESC" : "ASC",
			    col->notnull ? ""
			    : desc	 ? " NULLS FIRST"
					 : " NULLS LAST");
	}
	if (!q->nsorts)
		kn_buf_adds(b, "\"id\"");
	size_t oe = b->len;
	if (q->limit > 0) {
		static const kn_sqlcol limit = {.name = "", .kind = 'i'};
		kn_buf_adds(b, " LIMIT ");
		bind(b, d, &l->bs, &limit, NULL); /* the caller binds the limit */
	}
	kn_buf_addf(b, ") AS \"_p\" %s \"rec_%s\" ON \"id\"=\"_k\"",
		    d == KN_SQLITE ? "CROSS JOIN" : "JOIN", y->name);
	char *order = kn_xstrndup(b->data + ob, oe - ob);
	kn_buf_add(b, order, oe - ob); /* the same ORDER BY outside */
	free(order);
	if (q->want_total) {
		const kn_sqlcount *kc = count_for(y, q->conds, q->nconds);
		kn_buf_adds(&l->count_sql, kc ? kc->sum : y->count); /* same conditions there */
		kn_buf_add(&l->count_sql, w.data, w.len);
	}
out:
	kn_buf_release(&w);
	if (sc != scs)
		free(sc);
	if (r)
		kn_sqllist_release(l);
	return r;
}

/* ---- stats ------------------------------------------------------------------ */

/* What time column ci holds: 'T' a datetime (ISO 8601 UTC text), 'D' a
 * date ("YYYY-MM-DD"), 0 anything else. */
static char time_kind(const kn_sqltype *y, int ci)
{
	if (ci < 0)
		return 0;
	if (ci < KN_NSYS)
		return strcmp(y->cols[ci].name, "created_at") == 0 ||
			       strcmp(y->cols[ci].name, "updated_at") == 0
			   ? 'T'
			   : 0;
	const kn_field *f = &y->t->fields[ci - KN_NSYS];
	return f->kind == KN_DATETIME ? 'T' : f->kind == KN_DATE ? 'D' : 0;
}

/* A key: the column itself, or its bucket as text in the zone UTC + tz
 * minutes (dates have no zone). *kind: of the result. */
static int key_sql(kn_dialect d, const kn_sqltype *y, const kn_group *g, int tz, kn_buf *b,
		   char *kind, kn_error *err)
{
	int ci = kn_sql_col(y, g->attr);
	if (ci < 0)
		return kn_fail(err, KN_EINVAL, g->attr ? g->attr : "", "%s: cannot group by \"%s\"",
			       y->name, g->attr ? g->attr : "");
	const char *col = y->cols[ci].name;
	if (g->bucket == KN_BUCKET_NONE) {
		kn_buf_addf(b, "\"%s\"", col);
		*kind = y->cols[ci].kind;
		return 0;
	}
	char tk = time_kind(y, ci);
	if (!tk || g->bucket < KN_BUCKET_DAY || g->bucket > KN_BUCKET_YEAR)
		return kn_fail(err, KN_EINVAL, col, "%s: %s is not a date or time to cut in periods",
			       y->name, col);
	*kind = 't';
	if (d == KN_SQLITE) {
		/* SQLite's date functions read the stored ISO text (with its
		 * Z); the modifier moves it to the site's zone. 'weekday 1'
		 * goes forward to the next Monday unless it is one: six days
		 * back first gives the Monday on or before. */
		char mod[32] = "";
		if (tk == 'T')
			snprintf(mod, sizeof mod, ",'%+d minutes'", tz);
		static const char *const fmt[] = {"", "%Y-%m-%d", "", "%Y-%m", "%Y"};
		if (g->bucket == KN_BUCKET_WEEK)
			kn_buf_addf(b, "date(\"%s\"%s,'-6 days','weekday 1')", col, mod);
		else
			kn_buf_addf(b, "strftime('%s',\"%s\"%s)", fmt[g->bucket], col, mod);
		return 0;
	}
	/* PostgreSQL: a local timestamp (UTC moved by the offset; a date as
	 * it is), formatted as text in the C collation so that keys order
	 * byte by byte as on SQLite. date_trunc('week') is the ISO Monday. */
	kn_buf l;
	kn_buf_init(&l, 0);
	if (tk == 'T')
		kn_buf_addf(&l, "((\"%s\"::timestamptz AT TIME ZONE 'UTC')+interval '%d minutes')", col,
			    tz);
	else
		kn_buf_addf(&l, "(\"%s\"::timestamp)", col);
	static const char *const fmt[] = {"", "YYYY-MM-DD", "YYYY-MM-DD", "YYYY-MM", "YYYY"};
	if (g->bucket == KN_BUCKET_WEEK)
		kn_buf_addf(b, "to_char(date_trunc('week',%s),'%s') COLLATE \"C\"", l.data,
			    fmt[g->bucket]);
	else
		kn_buf_addf(b, "to_char(%s,'%s') COLLATE \"C\"", l.data, fmt[g->bucket]);
	kn_buf_release(&l);
	return 0;
}

/* The whole milliseconds from datetime column a to b (null when either is):
 * integers, so that sums and averages come out the same on both. SQLite's
 * julianday is exact to well below a millisecond at today's dates. */
static void duration_sql(kn_dialect d, const char *a, const char *b, kn_buf *o)
{
	if (d == KN_SQLITE)
		kn_buf_addf(o, "CAST(round((julianday(\"%s\")-julianday(\"%s\"))*86400000.0) AS INTEGER)",
			    b, a);
	else
		kn_buf_addf(o, "round(EXTRACT(EPOCH FROM (\"%s\"::timestamptz-\"%s\"::timestamptz))*1000)"
			       "::bigint",
			    b, a);
}

static int metric_sql(kn_dialect d, const kn_sqltype *y, const kn_metric *m, kn_buf *b,
		      kn_error *err)
{
	int ci = kn_sql_col(y, m->attr);
	if (ci < 0)
		return kn_fail(err, KN_EINVAL, m->attr ? m->attr : "", "%s: no attribute \"%s\"",
			       y->name, m->attr ? m->attr : "");
	const char *col = y->cols[ci].name;
	switch (m->agg) {
	case KN_AGG_SUM:
		if (y->cols[ci].kind != 'i')
			return kn_fail(err, KN_EINVAL, col, "%s: %s is not a whole number to add up",
				       y->name, col);
		kn_buf_addf(b, "coalesce(sum(\"%s\"),0)", col);
		return 0;
	case KN_AGG_COUNT:
		kn_buf_addf(b, "count(\"%s\")", col);
		return 0;
	case KN_AGG_SUM_MS:
	case KN_AGG_COUNT_MS:
	case KN_AGG_MAX_MS: {
		int c2 = kn_sql_col(y, m->attr2);
		if (time_kind(y, ci) != 'T' || time_kind(y, c2) != 'T')
			return kn_fail(err, KN_EINVAL, col, "%s: a duration needs two date-times",
				       y->name);
		static const char *const fn[] = {"", "", "coalesce(sum(", "count(", "max("};
		kn_buf_adds(b, fn[m->agg]);
		duration_sql(d, col, y->cols[c2].name, b);
		kn_buf_adds(b, m->agg == KN_AGG_SUM_MS ? "),0)" : ")");
		return 0;
	}
	}
	return kn_fail(err, KN_EINVAL, col, "%s: unknown aggregate", y->name);
}

static void stats_bind_int(kn_sqlstats *s, kn_dialect d, kn_buf *b, int64_t v)
{
	static const kn_sqlcol icol = {.name = "", .kind = 'i'};
	json_t *j = json_integer(v);
	json_array_append_new(s->own, j);
	bind(b, d, &s->bs, &icol, j);
}

void kn_sqlstats_release(kn_sqlstats *s)
{
	kn_buf_release(&s->sql);
	kn_buf_release(&s->count_sql);
	kn_sqlbinds_release(&s->bs);
	json_decref(s->own);
	s->own = NULL;
}

/*
 * SELECT keys, count(*), metrics FROM rec_<type> WHERE <conds>
 * GROUP BY keys HAVING count(*) >= min_count
 * ORDER BY count DESC, keys ASC NULLS LAST LIMIT n
 *
 * Keys are grouped and ordered by their position in the select list, so
 * that each expression is written once. Without keys the one row of the
 * aggregate is kept only when its count reaches min_count (a subquery:
 * HAVING without GROUP BY is not for every SQLite).
 */
int kn_sql_stats(kn_dialect d, const kn_sqltype *y, const kn_statq *q, kn_sqlstats *s,
		 kn_error *err)
{
	memset(s, 0, sizeof *s);
	kn_buf_init(&s->sql, 0);
	kn_buf_init(&s->count_sql, 0);
	s->own = json_array();
	int r = 0;
	if (q->ngroups > KN_STATS_GROUPS || q->nmetrics > KN_STATS_METRICS)
		r = kn_fail(err, KN_EINVAL, "", "%s: too many groups or metrics", y->name);
	kn_buf w, sel;
	kn_buf_init(&w, 0);
	kn_buf_init(&sel, 0);
	if (!r)
		r = kn_sql_where(d, y, q->conds, q->nconds, &w, &s->bs, err);
	s->ncount = s->bs.n;
	for (size_t i = 0; i < q->ngroups && !r; i++) {
		if (i)
			kn_buf_adds(&sel, ",");
		r = key_sql(d, y, &q->groups[i], q->tz_offset_min, &sel, &s->kinds[s->ncols++], err);
		kn_buf_addf(&sel, " AS \"_k%zu\"", i);
	}
	if (!r) {
		kn_buf_addf(&sel, "%scount(*) AS \"_n\"", q->ngroups ? "," : "");
		s->kinds[s->ncols++] = 'i';
	}
	for (size_t i = 0; i < q->nmetrics && !r; i++) {
		kn_buf_adds(&sel, ",");
		r = metric_sql(d, y, &q->metrics[i], &sel, err);
		kn_buf_addf(&sel, " AS \"_m%zu\"", i);
		s->kinds[s->ncols++] = 'i';
	}
	if (r)
		goto out;
	kn_buf *b = &s->sql;
	if (!q->ngroups) {
		kn_buf_adds(b, q->min_count > 1 ? "SELECT * FROM (SELECT " : "SELECT ");
		kn_buf_add(b, sel.data, sel.len);
		kn_buf_addf(b, " FROM \"rec_%s\"", y->name);
		kn_buf_add(b, w.data, w.len);
		if (q->min_count > 1) {
			kn_buf_adds(b, ") AS \"_s\" WHERE \"_n\">=");
			stats_bind_int(s, d, b, q->min_count);
		}
	} else {
		kn_buf_adds(b, "SELECT ");
		kn_buf_add(b, sel.data, sel.len);
		kn_buf_addf(b, " FROM \"rec_%s\"", y->name);
		kn_buf_add(b, w.data, w.len);
		kn_buf_adds(b, " GROUP BY ");
		for (size_t i = 0; i < q->ngroups; i++)
			kn_buf_addf(b, "%s%zu", i ? "," : "", i + 1);
		if (q->min_count > 1) {
			kn_buf_adds(b, " HAVING count(*)>=");
			stats_bind_int(s, d, b, q->min_count);
		}
		kn_buf_addf(b, " ORDER BY %zu DESC", q->ngroups + 1);
		for (size_t i = 0; i < q->ngroups; i++)
			kn_buf_addf(b, ",%zu ASC NULLS LAST", i + 1);
		kn_buf_adds(b, " LIMIT ");
		stats_bind_int(s, d, b, q->limit > 0 ? q->limit : 100);
	}
	const kn_sqlcount *kc = count_for(y, q->conds, q->nconds);
	kn_buf_adds(&s->count_sql, kc ? kc->sum : y->count);
	kn_buf_add(&s->count_sql, w.data, w.len);
out:
	kn_buf_release(&w);
	kn_buf_release(&sel);
	if (r)
		kn_sqlstats_release(s);
	return r;
}

/* ---- per-thread connections ----------------------------------------------- */

static void pool_unlink(kn_pool *p, kn_pconn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		p->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
}

/* Thread-exit destructor: the connection goes back to the idle list
 * (after its open transaction, if any, is ended), or is closed when
 * max_idle connections are idle already. */
static void pool_thread_exit(void *arg)
{
	kn_pconn *c = arg;
	kn_pool *p = c->pool;
	p->reset(c);
	pthread_mutex_lock(&p->lock);
	if (p->nidle < p->max_idle) {
		c->idle_next = p->idle;
		p->idle = c;
		p->nidle++;
		c = NULL;
	} else {
		pool_unlink(p, c);
	}
	pthread_mutex_unlock(&p->lock);
	if (c)
		p->free(c);
}

int kn_pool_init(kn_pool *p, size_t max_idle, kn_error *err)
{
	p->conns = p->idle = NULL;
	p->nidle = 0;
	p->max_idle = max_idle;
	pthread_mutex_init(&p->lock, NULL);
	if (pthread_key_create(&p->key, pool_thread_exit) != 0) {
		pthread_mutex_destroy(&p->lock);
		return kn_fail(err, KN_EINTERNAL, "", "pthread_key_create failed");
	}
	return 0;
}

kn_pconn *kn_pool_mine(kn_pool *p) { return pthread_getspecific(p->key); }

int kn_pool_get(kn_pool *p, kn_pconn **out, kn_error *err)
{
	kn_pconn *c = pthread_getspecific(p->key);
	if (c) {
		*out = c;
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	c = p->idle;
	if (c) {
		p->idle = c->idle_next;
		p->nidle--;
	}
	pthread_mutex_unlock(&p->lock);
	if (!c) {
		int r = p->open(p, &c, err);
		if (r)
			return r;
		c->pool = p;
		pthread_mutex_lock(&p->lock);
		c->prev = NULL;
		c->next = p->conns;
		if (p->conns)
			p->conns->prev = c;
		p->conns = c;
		pthread_mutex_unlock(&p->lock);
	}
	if (pthread_setspecific(p->key, c) != 0) {
		pthread_mutex_lock(&p->lock);
		pool_unlink(p, c);
		pthread_mutex_unlock(&p->lock);
		p->free(c);
		return kn_fail(err, KN_EINTERNAL, "", "pthread_setspecific failed");
	}
	*out = c;
	return 0;
}

void kn_pool_close(kn_pool *p, void (*each)(kn_pconn *c, bool mine))
{
	kn_pconn *mine = pthread_getspecific(p->key);
	pthread_setspecific(p->key, NULL);
	pthread_key_delete(p->key); /* no thread-exit destructor runs after this */
	pthread_mutex_lock(&p->lock);
	while (p->conns) {
		kn_pconn *c = p->conns;
		p->conns = c->next;
		if (each)
			each(c, c == mine);
		p->free(c);
	}
	p->idle = NULL;
	p->nidle = 0;
	pthread_mutex_unlock(&p->lock);
	pthread_mutex_destroy(&p->lock);
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.c - a list view as a file: every record the list's filters and
 * sort select (not only one page), with the columns asked for, as CSV (UTF-8
 * with a BOM, so that Excel opens it) or as an Excel workbook.
 */
#include "kanri.h"

#include <unistd.h>
#include <xlsxwriter.h>

#include "core/export.h"
#include "core/stats.h"

#define PAGE "500"

/* The columns: fields= as given, else the type's list fields (what u may see). */
static json_t *columns(const kn_type *t, const kn_user *u, const kn_param *p, size_t np)
{
	json_t *cols = json_array();
	for (size_t i = 0; i < np; i++) {
		if (strcmp(p[i].key, "fields") != 0 || !p[i].value)
			continue;
		char *dup = kn_xstrdup(p[i].value), *save = NULL;
		for (char *tok = strtok_r(dup, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
			json_array_append_new(cols, json_string(tok));
		free(dup);
	}
	if (!json_array_size(cols))
		for (size_t i = 0; i < t->nlist_fields; i++) {
			const kn_field *f = kn_type_field(t, t->list_fields[i]);
			if (!f || !u || !(f->hidden & u->role))
				json_array_append_new(cols, json_string(t->list_fields[i]));
		}
	return cols;
}

static const char *label_of(const kn_type *t, const char *name, bool ja)
{
	static const struct {
		const char *name, *ja, *en;
	} sys[] = {{"id", "ID", "ID"},
		   {"number", "番号", "Number"},
		   {"version", "版", "Version"},
		   {"state", "状態", "State"},
		   {"created_at", "作成日時", "Created at"},
		   {"updated_at", "更新日時", "Updated at"},
		   {"created_by", "作成者", "Created by"},
		   {"updated_by", "更新者", "Updated by"}};
	const kn_field *f = kn_type_field(t, name);
	if (f)
		return ja ? (f->label_ja ? f->label_ja : name) : (f->label_en ? f->label_en : name);
	for (size_t i = 0; i < sizeof sys / sizeof sys[0]; i++)
		if (strcmp(sys[i].name, name) == 0)
			return ja ? sys[i].ja : sys[i].en;
	return name;
}

/* Every page of the list, item by item (cb borrows each). */
static int each_record(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		       size_t np, const json_t *cols, int (*cb)(void *, const json_t *), void *ctx,
		       kn_error *err)
{
	kn_param *q = kn_xcalloc(np + 4, sizeof *q);
	size_t n = 0;
	for (size_t i = 0; i < np; i++)
		if (strcmp(p[i].key, "format") && strcmp(p[i].key, "lang") &&
		    strcmp(p[i].key, "limit") && strcmp(p[i].key, "cursor") &&
		    strcmp(p[i].key, "total") && strcmp(p[i].key, "fields"))
			q[n++] = p[i];
	char *fields = NULL;
	{
		kn_buf b;
		kn_buf_init(&b, 0);
		size_t i;
		json_t *c;
		json_array_foreach(cols, i, c) kn_buf_addf(&b, "%s%s", i ? "," : "",
							   json_string_value(c));
		fields = kn_xstrdup(b.data ? b.data : "id");
		kn_buf_release(&b);
	}
	q[n++] = (kn_param){"limit", PAGE};
	q[n++] = (kn_param){"total", "false"};
	q[n++] = (kn_param){"fields", fields};
	char *cursor = NULL;
	int rc = 0;
	size_t rows = 0;
	for (;;) {
		q[n] = (kn_param){"cursor", cursor};
		json_t *out = NULL;
		rc = kn_rec_list(e, u, t, q, cursor ? n + 1 : n, &out, err);
		if (rc)
			break;
		size_t i;
		json_t *it;
		json_array_foreach(json_object_get(out, "items"), i, it)
		{
			if (!rc && ++rows > KN_EXPORT_MAX_ROWS)
				rc = kn_fail(err, KN_EVALID, "",
					     "an export holds at most %d records: narrow the filters",
					     KN_EXPORT_MAX_ROWS);
			if (!rc)
				rc = cb(ctx, it);
		}
		const char *next = json_string_value(json_object_get(out, "next"));
		free(cursor);
		cursor = next && !rc ? kn_xstrdup(next) : NULL;
		json_decref(out);
		if (rc || !cursor)
			break;
	}
	free(cursor);
	free(fields);
	free(q);
	return rc;
}

/* ---- CSV -------------------------------------------------------------------- */

struct csv {
	kn_buf b;
	const json_t *cols;
};

static int csv_row(void *p, const json_t *rec)
{
	struct csv *c = p;
	size_t i;
	json_t *col;
	json_array_foreach(c->cols, i, col)
	{
		json_t *v = json_object_get(rec, json_string_value(col));
		if (json_is_object(v) || json_is_array(v)) {
			char *s = kn_json_canon(v);
			kn_csv_text(&c->b, i == 0, s);
			free(s);
		} else {
			kn_csv_value(&c->b, i == 0, v);
		}
	}
	kn_csv_end_row(&c->b);
	return 0;
}

/* ---- Excel ------------------------------------------------------------------- */

struct xlsx {
	lxw_worksheet *ws;
	const json_t *cols;
	lxw_format *when;
	lxw_row_t row;
	int error;
};

static int xlsx_row(void *p, const json_t *rec)
{
	struct xlsx *x = p;
	x->row++;
	size_t i;
	json_t *col;
	json_array_foreach(x->cols, i, col)
	{
		json_t *v = json_object_get(rec, json_string_value(col));
		lxw_col_t c = (lxw_col_t)i;
		lxw_error r = LXW_NO_ERROR;
		if (json_is_integer(v)) {
			r = worksheet_write_number(x->ws, x->row, c, (double)json_integer_value(v), NULL);
		} else if (json_is_real(v)) {
			r = worksheet_write_number(x->ws, x->row, c, json_real_value(v), NULL);
		} else if (json_is_boolean(v)) {
			r = worksheet_write_boolean(x->ws, x->row, c, json_is_true(v), NULL);
		} else if (json_is_string(v)) {
			r = worksheet_write_string(x->ws, x->row, c, json_string_value(v), NULL);
		} else if (json_is_object(v) || json_is_array(v)) {
			char *s = kn_json_canon(v);
			r = worksheet_write_string(x->ws, x->row, c, s, NULL);
			free(s);
		}
		if (r != LXW_NO_ERROR)
			x->error = (int)r;
	}
	return x->error ? KN_EINTERNAL : 0;
}

/* A new workbook in a temporary file (*path: free with workbook_done). */
static int workbook_open(const char *what, lxw_workbook **wb, char **path, kn_error *err)
{
	*wb = NULL;
	*path = kn_xasprintf("%s/kanri-%s-XXXXXX", kn_tmpdir(), what);
	int fd = mkstemp(*path);
	if (fd < 0) {
		int rc = kn_fail(err, KN_EINTERNAL, "", "cannot make a temporary file in %s: %s",
				 kn_tmpdir(), strerror(errno));
		free(*path);
		*path = NULL;
		return rc;
	}
	close(fd);
	*wb = workbook_new(*path);
	if (!*wb) {
		unlink(*path);
		free(*path);
		*path = NULL;
		return kn_fail(err, KN_EINTERNAL, "", "cannot make the workbook");
	}
	return 0;
}

/* Close wb and, when rc is 0, give its bytes as *body (*len); the file is
 * removed either way. */
static int workbook_done(lxw_workbook *wb, char *path, int rc, char **body, size_t *len,
			 kn_error *err)
{
	lxw_error closed = workbook_close(wb);
	if (!rc && closed != LXW_NO_ERROR)
		rc = kn_fail(err, KN_EINTERNAL, "", "cannot write the workbook: %s",
			     lxw_strerror(closed));
	if (!rc) {
		kn_buf b;
		kn_buf_init(&b, 0);
		if (kn_buf_read_file(&b, path) != 0) {
			kn_buf_release(&b);
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot read the workbook back");
		} else {
			*body = b.data;
			*len = b.len;
		}
	}
	unlink(path);
	free(path);
	return rc;
}

static int xlsx_file(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		     size_t np, const json_t *cols, bool ja, char **body, size_t *len,
		     kn_error *err)
{
	lxw_workbook *wb;
	char *path;
	int rc = workbook_open("export", &wb, &path, err);
	if (rc)
		return rc;
	lxw_worksheet *ws = workbook_add_worksheet(wb, t->plural);
	if (!ws)
		return workbook_done(wb, path, kn_fail(err, KN_EINTERNAL, "", "cannot make the workbook"),
				     body, len, err);
	lxw_format *head = workbook_add_format(wb);
	format_set_bold(head);
	size_t i;
	json_t *col;
	json_array_foreach(cols, i, col)
	{
		worksheet_write_string(ws, 0, (lxw_col_t)i, label_of(t, json_string_value(col), ja), head);
		worksheet_set_column(ws, (lxw_col_t)i, (lxw_col_t)i, 18, NULL);
	}
	worksheet_freeze_panes(ws, 1, 0);
	struct xlsx x = {ws, cols, NULL, 0, 0};
	rc = each_record(e, u, t, p, np, cols, xlsx_row, &x, err);
	if (!rc && x.row)
		worksheet_autofilter(ws, 0, 0, x.row, (lxw_col_t)(json_array_size(cols) - 1));
	return workbook_done(wb, path, rc, body, len, err);
}

int kn_rec_export(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		  size_t np, char **body, size_t *len, const char **ctype, kn_error *err)
{
	const char *format = "csv", *lang = "en";
	for (size_t i = 0; i < np; i++) {
		if (strcmp(p[i].key, "format") == 0)
			format = p[i].value ? p[i].value : "";
		else if (strcmp(p[i].key, "lang") == 0)
			lang = p[i].value ? p[i].value : "";
	}
	bool xlsx = strcmp(format, "xlsx") == 0, ja = strcmp(lang, "ja") == 0;
	if (!xlsx && strcmp(format, "csv") != 0)
		return kn_fail(err, KN_EINVAL, "format", "format is csv or xlsx");
	if (!ja && strcmp(lang, "en") != 0)
		return kn_fail(err, KN_EINVAL, "lang", "lang is ja or en");
	json_t *cols = columns(t, u, p, np);
	int rc;
	*body = NULL;
	*len = 0;
	if (xlsx) {
		rc = xlsx_file(e, u, t, p, np, cols, ja, body, len, err);
		*ctype = KN_XLSX_TYPE;
	} else {
		struct csv c = {.cols = cols};
		kn_buf_init(&c.b, 0);
		kn_csv_begin(&c.b);
		size_t i;
		json_t *col;
		json_array_foreach(cols, i, col)
			kn_csv_text(&c.b, i == 0, label_of(t, json_string_value(col), ja));
		kn_csv_end_row(&c.b);
		rc = each_record(e, u, t, p, np, cols, csv_row, &c, err);
		if (rc)
			kn_buf_release(&c.b);
		else
			*body = c.b.data, *len = c.b.len;
		*ctype = "text/csv; charset=utf-8";
	}
	json_decref(cols);
	return rc;
}

/* ---- tables as a workbook ------------------------------------------------------ */

int kn_xlsx_tables(const json_t *sheets, char **body, size_t *len, kn_error *err)
{
	lxw_workbook *wb;
	char *path;
	int rc = workbook_open("report", &wb, &path, err);
	if (rc)
		return rc;
	lxw_format *head = workbook_add_format(wb);
	format_set_bold(head);
	size_t i;
	json_t *sh;
	json_array_foreach(sheets, i, sh)
	{
		if (rc)
			break;
		lxw_worksheet *ws =
		    workbook_add_worksheet(wb, json_string_value(json_object_get(sh, "name")));
		if (!ws) {
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot add a worksheet");
			break;
		}
		const json_t *cols = json_object_get(sh, "columns"), *rows = json_object_get(sh, "rows");
		size_t c;
		json_t *v;
		json_array_foreach(cols, c, v)
		{
			worksheet_write_string(ws, 0, (lxw_col_t)c, json_string_value(v), head);
			worksheet_set_column(ws, (lxw_col_t)c, (lxw_col_t)c, 16, NULL);
		}
		worksheet_freeze_panes(ws, 1, 0);
		size_t r;
		json_t *row;
		json_array_foreach(rows, r, row)
		{
			json_array_foreach(row, c, v)
			{
				lxw_row_t y = (lxw_row_t)(r + 1);
				lxw_col_t x = (lxw_col_t)c;
				if (json_is_integer(v))
					worksheet_write_number(ws, y, x, (double)json_integer_value(v), NULL);
				else if (json_is_real(v))
					worksheet_write_number(ws, y, x, json_real_value(v), NULL);
				else if (json_is_boolean(v))
					worksheet_write_boolean(ws, y, x, json_is_true(v), NULL);
				else if (json_is_string(v))
					worksheet_write_string(ws, y, x, json_string_value(v), NULL);
			}
		}
	}
	return workbook_done(wb, path, rc, body, len, err);
}

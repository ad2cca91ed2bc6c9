/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.h - a list view as a file (GET /api/v1/{type}/export).
 *
 * Parameters: every filter and sort of the list (kn_rec_list), fields=a,b
 * (the columns; default the type's list fields), format=csv|xlsx (default
 * csv: UTF-8 with a BOM), lang=ja|en (the header row's labels). Every
 * matching record is written, at most KN_EXPORT_MAX_ROWS (more: KN_EVALID, naming the limit).
 */
#ifndef KN_EXPORT_H
#define KN_EXPORT_H

#include "core/record.h"

#define KN_EXPORT_MAX_ROWS 100000

/* *body (malloc'd, *len bytes) and its *ctype (static). */
int kn_rec_export(kn_engine *e, const kn_user *u, const kn_type *t, const kn_param *p,
		  size_t np, char **body, size_t *len, const char **ctype, kn_error *err);

/* Tables as an Excel workbook: sheets is [{"name", "columns": [header
 * texts], "rows": [[values]]}], a sheet each. *body (malloc'd, *len bytes). */
int kn_xlsx_tables(const json_t *sheets, char **body, size_t *len, kn_error *err);

#define KN_XLSX_TYPE "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#endif

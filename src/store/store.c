/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - choose the storage backend from a data source name.
 *
 *   sqlite:PATH or a plain PATH      SQLite database file (created if missing)
 *   postgres://... postgresql://...  a PostgreSQL database (libpq connection URI)
 *   host=... dbname=...              the same as libpq key=value words
 */
#include "kanri.h"

#include "store/store.h"

int kn_store_open(const char *dsn, kn_store **out, kn_error *err)
{
	*out = NULL;
	if (!dsn || !*dsn)
		return kn_fail(err, KN_EINVAL, "", "no store given");
	if (strncmp(dsn, "postgres://", 11) == 0 || strncmp(dsn, "postgresql://", 13) == 0)
		return kn_store_pg.open(dsn, out, err);
	if (strncmp(dsn, "postgres:", 9) == 0 && !strstr(dsn, "://"))
		return kn_store_pg.open(dsn + 9, out, err); /* postgres:host=... dbname=... */
	if (strstr(dsn, "://"))
		return kn_fail(err, KN_EINVAL, "", "unsupported store \"%s\" (sqlite:PATH or"
			       " postgres://...)", dsn);
	if (strncmp(dsn, "sqlite:", 7) == 0)
		dsn += 7;
	return kn_store_sqlite.open(dsn, out, err);
}

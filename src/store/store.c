/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - choose the storage backend from a data source name.
 *
 *   sqlite:PATH or a plain PATH   SQLite database file (created if missing)
 *   SCHEME://...                  a server backend (none built in yet)
 */
#include "kanri.h"

#include "store/store.h"

int kn_store_open(const char *dsn, kn_store **out, kn_error *err)
{
	*out = NULL;
	if (!dsn || !*dsn)
		return kn_fail(err, KN_EINVAL, "", "no store given");
	if (strstr(dsn, "://"))
		return kn_fail(err, KN_EINVAL, "", "unsupported store \"%s\"", dsn);
	if (strncmp(dsn, "sqlite:", 7) == 0)
		dsn += 7;
	return kn_store_sqlite.open(dsn, out, err);
}

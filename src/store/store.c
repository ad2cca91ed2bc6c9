/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - choose the storage backend from a data source name.
 *
 *   sqlite:PATH or a plain PATH      SQLite database file (created if missing)
 *   postgres://... postgresql://...  a PostgreSQL database (libpq connection URI)
 *   host=... dbname=...              the same as libpq key=value words
 */
#include "kanri.h"

#include <unistd.h>

#include "store/store.h"

static const char *const users_cols[] = {"id",	"name",		"role",	    "org",
					  "pwhash", "failures", "locked_until", "disabled",
					  NULL};
static const char *const tokens_cols[] = {"id", "user_id", "hash", "label", "created_at", NULL};
static const char *const sessions_cols[] = {"hash", "user_id", "csrf", "expires", NULL};
static const char *const counters_cols[] = {"type", "next", NULL};
static const char *const comments_cols[] = {"id",   "type",   "rec_id",	    "kind",
					    "body", "author", "created_at", NULL};
static const char *const relations_cols[] = {"id",	 "from_type",  "from_id",    "kind",
					     "to_type", "to_id",	"created_by", "created_at",
					     NULL};
static const char *const journal_cols[] = {"seq",     "at",	"actor",  "type",
					   "rec_id",  "action", "changes", "reason",
					   "digest",  "prev",	"hash",	   NULL};
static const char *const attachments_cols[] = {"id",	    "type",   "rec_id",	    "name",
					      "ctype",	    "size",   "sha256",	    "data",
					      "created_by", "created_at", NULL};
static const char *const meta_cols[] = {"key", "value", NULL};
static const char *const jobs_cols[] = {"name",	    "due_at",	"lease_until", "owner",
					"runs",	    "attempts", "last_at",     "last_error",
					NULL};

const kn_systable kn_systables[] = {
    {"users", users_cols, "ittttiii", true},
    {"tokens", tokens_cols, "iittt", true},
    {"sessions", sessions_cols, "titi", false},
    {"counters", counters_cols, "ti", false},
    {"comments", comments_cols, "ititttt", true},
    {"relations", relations_cols, "itittitt", true},
    {"attachments", attachments_cols, "itittitbtt", true},
    {"journal", journal_cols, "itttitttttt", true},
    {"meta", meta_cols, "tt", false},
    {"jobs", jobs_cols, "tiitiitt", false},
};
const size_t kn_nsystables = sizeof kn_systables / sizeof kn_systables[0];

void kn_sterm_end(const char *tok, char out[KN_TOK_MAX + 4])
{
	/* U+10FFFF: above every character a token can hold, and valid UTF-8 */
	snprintf(out, KN_TOK_MAX + 4, "%s\xF4\x8F\xBF\xBF", tok);
}

bool kn_store_is_sqlite(const char *dsn)
{
	return dsn && !strstr(dsn, "://") && strncmp(dsn, "postgres:", 9) != 0;
}

char *kn_store_absolute(const char *dsn)
{
	const char *path = strncmp(dsn, "sqlite:", 7) == 0 ? dsn + 7 : dsn;
	char cwd[4096];
	if (kn_store_is_sqlite(dsn) && path[0] != '/' && strncmp(path, "file:", 5) != 0 &&
	    getcwd(cwd, sizeof cwd))
		return kn_xasprintf("sqlite:%s/%s", cwd, path);
	return kn_xstrdup(dsn);
}

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

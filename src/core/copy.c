/* SPDX-License-Identifier: Apache-2.0 */
/*
 * copy.c - backups, restores and moves between stores (see copy.h).
 */
#include "kanri.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/copy.h"
#include "core/search.h"

#define OVERLAYS_KEY "backup.overlays"

/* ---- the copy ------------------------------------------------------------- */

struct sink {
	kn_store *dst;
	const kn_systable *table;
	const kn_type *type;
	int64_t n;
	kn_error *err;
};

static int put_row(void *p, const json_t *row)
{
	struct sink *k = p;
	int r;
	if (strcmp(k->table->name, "meta") == 0) /* the source's values win */
		r = k->dst->ops->meta_set(k->dst, json_string_value(json_object_get(row, "key")),
					  json_string_value(json_object_get(row, "value")), k->err);
	else
		r = k->dst->ops->table_insert(k->dst, k->table, row, k->err);
	k->n += !r;
	return r;
}

static int put_record(void *p, json_t *rec)
{
	struct sink *k = p;
	json_object_del(rec, "type");
	int r = k->dst->ops->rec_restore(k->dst, k->type, rec, k->err);
	if (!r) /* the search index is derived: made anew in the target */
		r = kn_search_index(k->dst, k->type, rec, true, k->err);
	k->n += !r;
	return r;
}

int kn_store_copy(kn_store *src, kn_store *dst, const kn_schema *s, kn_copy_stats *stats,
		  FILE *progress, kn_error *err)
{
	int64_t seq = 0;
	char head[65];
	kn_copy_stats z = {0};
	if (!stats)
		stats = &z;
	memset(stats, 0, sizeof *stats);
	int rc = dst->ops->journal_head(dst, &seq, head, err);
	if (!rc && seq > 0)
		return kn_fail(err, KN_EEXIST, "", "the target already holds data (%lld journal"
			       " entries); a copy goes into an empty one", (long long)seq);
	if (rc || (rc = src->ops->begin(src, false, err)) != 0)
		return rc;
	if ((rc = dst->ops->begin(dst, true, err)) != 0) {
		src->ops->rollback(src);
		return rc;
	}
	for (size_t i = 0; !rc && i < kn_nsystables; i++) {
		struct sink k = {dst, &kn_systables[i], NULL, 0, err};
		rc = src->ops->table_scan(src, k.table, put_row, &k, err);
		const char *n = k.table->name;
		int64_t *slot = !strcmp(n, "comments")	  ? &stats->comments
				: !strcmp(n, "relations") ? &stats->relations
				: !strcmp(n, "journal")	  ? &stats->journal
				: !strcmp(n, "users")	  ? &stats->users
							  : &stats->other;
		*slot += k.n;
		if (progress && !rc)
			fprintf(progress, "  %-10s %lld\n", n, (long long)k.n);
	}
	for (size_t i = 0; !rc && i < s->ntypes; i++) {
		struct sink k = {dst, NULL, &s->types[i], 0, err};
		rc = src->ops->rec_scan(src, k.type, put_record, &k, err);
		stats->records += k.n;
		if (progress && !rc)
			fprintf(progress, "  %-10s %lld\n", k.type->plural, (long long)k.n);
	}
	src->ops->rollback(src);
	if (rc) {
		dst->ops->rollback(dst);
		return rc;
	}
	if ((rc = dst->ops->commit(dst, err)) != 0)
		return rc;
	return dst->ops->load_done(dst, s, err);
}

/* Verify the journal and records of store st (under e's schema). */
static int verify_store(kn_engine *e, kn_store *st, FILE *progress, kn_error *err)
{
	kn_store *own = e->store;
	e->store = st;
	int rc = kn_audit_verify(e, NULL, err);
	e->store = own;
	if (!rc && progress)
		fprintf(progress, "  journal and records verified\n");
	return rc;
}

/* ---- backup ------------------------------------------------------------------- */

/* The overlay files of datadir/schema as {name: text}. */
static int read_overlays(const char *datadir, json_t **out, kn_error *err)
{
	char *dir = kn_xasprintf("%s/schema", datadir);
	json_t *o = json_object();
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;
	while (d && !rc && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		char *path = kn_xasprintf("%s/%s", dir, de->d_name);
		kn_buf b;
		kn_buf_init(&b, 0);
		if (kn_buf_read_file(&b, path) != 0)
			rc = kn_fail(err, KN_EINTERNAL, "", "cannot read %s", path);
		else
			json_object_set_new(o, de->d_name, json_stringn(b.data ? b.data : "", b.len));
		kn_buf_release(&b);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
	if (rc) {
		json_decref(o);
		return rc;
	}
	*out = o;
	return 0;
}

int kn_backup(kn_engine *e, const char *path, kn_copy_stats *stats, FILE *progress,
	      kn_error *err)
{
	struct stat sb;
	if (stat(path, &sb) == 0)
		return kn_fail(err, KN_EEXIST, "", "%s exists; a backup never overwrites a file",
			       path);
	json_t *overlays = NULL;
	int rc = read_overlays(e->datadir, &overlays, err);
	if (rc)
		return rc;
	kn_store *dst = NULL;
	if (e->store->ops->backup_file) {
		rc = e->store->ops->backup_file(e->store, path, err);
		if (!rc && progress)
			fprintf(progress, "  online copy of the SQLite database written\n");
		if (!rc)
			rc = kn_store_open(path, &dst, err);
	} else {
		rc = kn_store_open(path, &dst, err);
		if (!rc)
			rc = dst->ops->migrate(dst, e->schema, err);
		if (!rc)
			rc = kn_store_copy(e->store, dst, e->schema, stats, progress, err);
	}
	char *text = json_dumps(overlays, JSON_COMPACT | JSON_SORT_KEYS);
	if (!rc)
		rc = dst->ops->meta_set(dst, OVERLAYS_KEY, text, err);
	if (!rc)
		rc = verify_store(e, dst, progress, err);
	free(text);
	json_decref(overlays);
	if (dst)
		dst->ops->close(dst);
	if (!rc) /* the backup is one file, read as it is */
		rc = kn_store_sqlite_seal(path, err);
	if (rc) {
		unlink(path);
		char *side = kn_xasprintf("%s-wal", path);
		unlink(side);
		free(side);
		side = kn_xasprintf("%s-shm", path);
		unlink(side);
		free(side);
	}
	return rc;
}

/* ---- restore ---------------------------------------------------------------- */

/* Verify the backup src under the schema its overlays make, before
 * anything is created: a damaged backup is refused and leaves no trace. */
static int verify_backup(kn_store *src, const json_t *overlays, FILE *progress, kn_error *err)
{
	char *dir = kn_xasprintf("%s/kanri-restore.XXXXXX", kn_tmpdir());
	if (!mkdtemp(dir)) {
		int rc = kn_fail(err, KN_EINTERNAL, "", "mkdtemp %s: %s", dir, strerror(errno));
		free(dir);
		return rc;
	}
	int rc = kn_overlays_write(dir, overlays, err);
	kn_proc_register_all();
	kn_schema *sch = NULL;
	if (!rc)
		rc = kn_schema_load(&sch, dir, err);
	if (!rc) {
		kn_engine tmp = {.schema = sch, .store = src};
		rc = kn_audit_verify(&tmp, NULL, err);
		if (!rc && progress)
			fprintf(progress, "  backup verified\n");
	}
	kn_schema_free(sch);
	const char *fname;
	json_t *body;
	json_object_foreach((json_t *)overlays, fname, body) {
		if (strchr(fname, '/'))
			continue;
		char *path = kn_xasprintf("%s/%s", dir, fname);
		unlink(path);
		free(path);
	}
	rmdir(dir);
	free(dir);
	return rc;
}

int kn_restore(const char *backup, const char *datadir, const char *store, kn_copy_stats *stats,
	       FILE *progress, kn_error *err)
{
	if (access(backup, R_OK) != 0)
		return kn_fail(err, KN_ENOTFOUND, "", "cannot read %s: %s", backup,
			       strerror(errno));
	/* read-only: the backup file is not changed by reading it */
	char *dsn = kn_xasprintf("file:%s?mode=ro", backup);
	kn_store *src = NULL;
	char *inst = NULL, *ov = NULL;
	int rc = kn_store_open(dsn, &src, err);
	free(dsn);
	if (!rc && (src->ops->meta_get(src, "installation", &inst, err) != 0 || !inst))
		rc = kn_fail(err, KN_EVALID, "", "%s is not a kanri backup", backup);
	if (!rc)
		rc = src->ops->meta_get(src, OVERLAYS_KEY, &ov, err);
	json_t *overlays = ov ? json_loads(ov, 0, NULL) : json_object();
	if (!rc && !json_is_object(overlays))
		rc = kn_fail(err, KN_EVALID, "", "%s: the stored overlays are damaged", backup);
	bool installed = false;
	if (!rc && store && (rc = kn_store_installed(store, &installed, err)) == 0 && installed)
		rc = kn_fail(err, KN_EEXIST, "store",
			     "the database already holds a kanri installation; restore into an"
			     " empty one");
	if (!rc)
		rc = verify_backup(src, overlays, progress, err);
	struct stat sb;
	bool made = stat(datadir, &sb) != 0, created = false;
	if (!rc)
		created = (rc = kn_engine_create(datadir, store, false, overlays, err)) == 0;
	kn_engine *e = NULL;
	if (!rc)
		rc = kn_engine_open(datadir, &e, err);
	if (!rc)
		rc = kn_store_copy(src, e->store, e->schema, stats, progress, err);
	if (!rc)
		rc = verify_store(e, e->store, progress, err);
	kn_engine_close(e);
	if (rc && created)
		kn_engine_uncreate(datadir, overlays, made);
	if (src)
		src->ops->close(src);
	json_decref(overlays);
	free(inst);
	free(ov);
	return rc;
}

/* ---- move to another store ---------------------------------------------------- */

static int write_config(const char *datadir, json_t *cfg, kn_error *err)
{
	char *path = kn_xasprintf("%s/config.json", datadir);
	char *tmp = kn_xasprintf("%s.new", path);
	char *old = kn_xasprintf("%s.before-migrate", path);
	int rc = 0;
	if (json_dump_file(cfg, tmp, JSON_INDENT(1) | JSON_ENSURE_ASCII) != 0)
		rc = kn_fail(err, KN_EINTERNAL, "", "cannot write %s", tmp);
	if (!rc)
		chmod(tmp, 0640);
	/* the config being replaced, whatever an earlier move left there */
	if (!rc && access(path, F_OK) == 0 && (unlink(old), link(path, old) != 0))
		rc = kn_fail(err, KN_EINTERNAL, "", "cannot keep %s: %s", old, strerror(errno));
	if (!rc && rename(tmp, path) != 0)
		rc = kn_fail(err, KN_EINTERNAL, "", "cannot replace %s: %s", path, strerror(errno));
	if (rc)
		unlink(tmp);
	free(path);
	free(tmp);
	free(old);
	return rc;
}

int kn_migrate_store(const char *datadir, const char *target, kn_copy_stats *stats,
		     FILE *progress, kn_error *err)
{
	char *to = kn_store_absolute(target);
	kn_engine *e = NULL;
	kn_store *dst = NULL;
	char *inst = NULL;
	int rc = kn_engine_open(datadir, &e, err);
	if (!rc)
		rc = kn_store_open(to, &dst, err);
	if (!rc && dst->ops->meta_get(dst, "installation", &inst, err) == 0 && inst)
		rc = kn_fail(err, KN_EEXIST, "store",
			     "the target database already holds a kanri installation");
	if (!rc)
		rc = dst->ops->migrate(dst, e->schema, err);
	if (!rc)
		rc = kn_store_copy(e->store, dst, e->schema, stats, progress, err);
	if (!rc)
		rc = verify_store(e, dst, progress, err);
	if (!rc) {
		json_t *cfg = json_deep_copy(e->config);
		json_object_set_new(cfg, "store", json_string(to));
		rc = write_config(datadir, cfg, err);
		json_decref(cfg);
	}
	if (dst)
		dst->ops->close(dst);
	kn_engine_close(e);
	free(inst);
	free(to);
	return rc;
}

/* SPDX-License-Identifier: Apache-2.0 */
/*
 * copy.h - whole installations copied between stores: backups, restores
 * and moves from one backend to another.
 *
 * A copy reads one consistent snapshot of the source and writes every row
 * as it is (ids, numbers, versions, journal entries with their hashes) in
 * one transaction on the target, so the copy's journal verifies exactly as
 * the original's did, and API tokens and sessions keep working.
 */
#ifndef KN_COPY_H
#define KN_COPY_H

#include "core/record.h"

/* Rows copied, per kind. */
typedef struct kn_copy_stats {
	int64_t records, comments, relations, journal, users, other;
} kn_copy_stats;

/* Copy everything of src into dst, which must hold the same schema
 * (migrated) and no data yet (no journal entry): KN_EEXIST otherwise.
 * Meta values of src replace those of dst. progress may be NULL. */
int kn_store_copy(kn_store *src, kn_store *dst, const kn_schema *s, kn_copy_stats *stats,
		  FILE *progress, kn_error *err);

/* kanri backup: a consistent copy of the installation in e into a new
 * SQLite file at path (online: the server may keep running), with the
 * schema overlays of the data folder stored inside it. */
int kn_backup(kn_engine *e, const char *path, kn_copy_stats *stats, FILE *progress,
	      kn_error *err);

/* kanri restore: a new data folder (store NULL: SQLite inside it; else
 * that store, which must hold no installation) from a backup file, with
 * its overlays; the restored journal is verified. */
int kn_restore(const char *backup, const char *datadir, const char *store, kn_copy_stats *stats,
	       FILE *progress, kn_error *err);

/* kanri migrate-store: copy the installation of the data folder into
 * another store (which must hold none), verify it, and point the folder's
 * config.json at it. The old store is left as it was. */
int kn_migrate_store(const char *datadir, const char *to, kn_copy_stats *stats, FILE *progress,
		     kn_error *err);

#endif

/*
 * toolstack/dm_db_int.h - what the record cache (dm_db.c) offers its own
 * transactions (dm_txn.c) and nothing else: a cache-only read and the direct
 * application of a commit this process made. Not for other modules.
 * Threads: as dm_db.h; apply_begin..apply_end hold the cache's locks.
 */
#ifndef TS_DM_DB_INT_H
#define TS_DM_DB_INT_H

#include <stdint.h>

#include "dm_db.h"

/* Cache-only read (no sync): 1 found (outputs filled when not NULL), 0 absent. */
int ts_dm_db_cache_get(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                       struct atoll_value **rec, uint64_t *create_rev, uint64_t *mod_rev);

/*
 * Takes the cache's locks for a commit of revision rev; returns 1 when the cache
 * is at rev - 1 (nobody else committed in between: apply the writes with
 * apply_put/apply_delete), 0 when a sync will read them instead. apply_end
 * (applied = that answer) records rev and releases the locks.
 */
int ts_dm_db_apply_begin(struct ts_dm_db *db, uint64_t rev);
/* Stores rec (the reference is taken) as ref's record at revision rev. */
void ts_dm_db_apply_put(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                        uint64_t create_rev, uint64_t rev, struct atoll_value *rec);
void ts_dm_db_apply_delete(struct ts_dm_db *db, const char *ref, uint64_t rev);
void ts_dm_db_apply_end(struct ts_dm_db *db, int applied, uint64_t rev);

#endif

/*
 * toolstack/dm_db.h - the typed, cached view of the object store: every
 * stored object decoded once into an immutable record (atoll_value struct),
 * indexed by ref and uuid, kept current by following the store's revision
 * (so reads of 1,000 records cost no SQL and no decoding); and transactions
 * that read-modify-write records with compare-on-revision, retry on
 * conflicts (with backoff), and keep inverse links (VIF.VM <-> VM.VIFs) in sync.
 * Threads: any worker thread (rwlock; store I/O may block); only the *_nowait reads
 * may run on the libevent thread.
 * Trust: callers validate client input (dm_generic.c does); this layer trusts its callers.
 */
#ifndef TS_DM_DB_H
#define TS_DM_DB_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "dm.h"
#include "store.h"

struct ts_dm_db;
struct ts_dm_txn;

/*
 * Loads every object of the store (which the caller keeps open and owns). A
 * store last written by a newer datamodel (TS_DM_SCHEMA_VERSION) is refused
 * with INTERNAL_ERROR; an older one is marked current. 0 or -1.
 */
int ts_dm_db_open(struct ts_store *st, struct ts_dm_db **out, struct atoll_err *err);
void ts_dm_db_close(struct ts_dm_db *db); /* NULL is a no-op; does not close the store */
struct ts_store *ts_dm_db_store(struct ts_dm_db *db);

/* Catches up with commits made by anyone (cheap when nothing changed). 0 or -1. */
int ts_dm_db_sync(struct ts_dm_db *db, struct atoll_err *err);
/* The store revision the cache reflects. */
uint64_t ts_dm_db_revision(struct ts_dm_db *db);

/*
 * Reads one record (synced first). Returns 1 with *rec (a new reference to the
 * shared, immutable record: never modify it; atoll_value_unref when done) and
 * *rev (its mod revision; either may be NULL), 0 if absent, -1 on a store error.
 */
int ts_dm_db_get(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                 struct atoll_value **rec, uint64_t *rev, struct atoll_err *err);
/* Like ts_dm_db_get for a ref of unknown class; *cls gets the class. */
int ts_dm_db_get_any(struct ts_dm_db *db, const char *ref, const struct ts_dm_class **cls,
                     struct atoll_value **rec, struct atoll_err *err);
/* Finds the ref of an object by uuid: 1 (ref_out filled), 0 absent, -1 error. */
int ts_dm_db_find_uuid(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                       char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
/* The record at exactly revision rev if the cache holds it (new reference), else NULL. */
struct atoll_value *ts_dm_db_peek(struct ts_dm_db *db, const char *ref, uint64_t rev);

/*
 * Visits every object of class c (synced first) under the read lock: fn gets
 * the borrowed ref and record (take a reference to keep it) and returns 0 to
 * continue or nonzero to stop. fn must not call back into the db. 0 or -1.
 */
typedef int (*ts_dm_db_visit_fn)(void *arg, const char *ref, struct atoll_value *rec);
int ts_dm_db_foreach(struct ts_dm_db *db, const struct ts_dm_class *c, ts_dm_db_visit_fn fn,
                     void *arg, struct atoll_err *err);
/* Number of objects of class c (as of the last sync). */
size_t ts_dm_db_count(struct ts_dm_db *db, const struct ts_dm_class *c);

/*
 * Non-blocking reads, for the libevent thread: they never sync with the store
 * and never wait for a lock. They serve the cache only when it is as current
 * as the store (ts_store_revision, an in-memory counter) and the rwlock can be
 * taken at once (it is never held across store I/O: decoding and commits
 * happen outside it); otherwise they return TS_DM_DB_BUSY and the caller
 * retries on a worker with the blocking variant. Same results as those.
 */
#define TS_DM_DB_BUSY (-2)
/* Like ts_dm_db_get (no revision): 1 with *rec (new reference), 0 absent, or TS_DM_DB_BUSY. */
int ts_dm_db_get_nowait(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                        struct atoll_value **rec);
/* Like ts_dm_db_find_uuid: 1, 0, or TS_DM_DB_BUSY. */
int ts_dm_db_find_uuid_nowait(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                              char ref_out[ATOLL_REF_STRLEN + 1]);
/* Like ts_dm_db_foreach: 0, or TS_DM_DB_BUSY (fn not called), also when the class has more
 * than TS_DM_DB_NOWAIT_SCAN_MAX objects (the loop thread must stay responsive). */
#define TS_DM_DB_NOWAIT_SCAN_MAX 2048
int ts_dm_db_foreach_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                            ts_dm_db_visit_fn fn, void *arg);

/*
 * Transactions. fn reads and writes through t; ts_dm_db_txn commits what it
 * wrote atomically, provided nothing it read or wrote changed meanwhile
 * (serialisable); when another writer got in between (a compare failed)
 * it syncs and runs fn again (at most 64 times, with a growing random backoff;
 * then INTERNAL_ERROR). fn must be repeatable: no side effects outside t.
 * Returns 0 (*new_rev may be NULL), or -1 with err (from fn or the store).
 */
typedef int (*ts_dm_txn_fn)(struct ts_dm_txn *t, void *arg, struct atoll_err *err);
int ts_dm_db_txn(struct ts_dm_db *db, ts_dm_txn_fn fn, void *arg, uint64_t *new_rev,
                 struct atoll_err *err);

/* Inside fn: the current record (this transaction's version if it wrote one), borrowed. 1/0. */
int ts_dm_txn_get(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                  struct atoll_value **rec);
/* A private copy of the current record to modify and hand to ts_dm_txn_put. 1/0. */
int ts_dm_txn_get_mut(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                      struct atoll_value **rec);
/*
 * Writes (creates when absent) the record of (c, ref); takes ownership of rec,
 * which must be a complete record of c in canonical form (ts_dm_value_coerce).
 * Ref fields with an inverse update the target objects' ref sets. 0, or -1
 * with err if the object must be created but exists (create=1) or must exist
 * but does not (create=0): HANDLE_INVALID [class, ref].
 */
int ts_dm_txn_put(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                  struct atoll_value *rec, int create, struct atoll_err *err);
/* Deletes (c, ref), removing it from inverse ref sets. HANDLE_INVALID if absent. */
int ts_dm_txn_delete(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                     struct atoll_err *err);
/* Marks (c, ref) written without change, so that it gets a new revision and an event. */
int ts_dm_txn_touch(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                    struct atoll_err *err);

#endif

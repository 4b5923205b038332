/*
 * toolstack/store.h - the object store interface: opaque objects addressed by
 * (class, ref), each with a create and a modification revision taken from one
 * global, monotonically increasing revision (one step per committed
 * transaction); transactions with compare-on-revision; listing; and "watch
 * from revision" (what changed since rev N, coalesced per object) with a
 * blocking wait woken on commit. Backends plug in through struct
 * ts_store_backend (SQLite now, etcd later) without callers changing.
 * Threads: every function may be called from any worker thread; all of them
 * may block on disk I/O, so NEVER call them from the libevent thread.
 * Trust: class, ref and data are stored as given; callers validate them.
 */
#ifndef TS_STORE_H
#define TS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "atoll/err.h"

struct ts_store;
struct ts_store_txn;

/* Expected revision for a put or delete in a transaction. */
#define TS_STORE_REV_ANY UINT64_MAX /* no compare: write whatever is there */
#define TS_STORE_REV_ABSENT 0       /* create-if-absent: fails if the object exists */

/* One object as read from the store. Owned by whoever got it; free with ts_store_obj_free. */
struct ts_store_obj {
    char *cls;
    char *ref;
    uint64_t create_rev; /* revision of the transaction that created it */
    uint64_t mod_rev;    /* revision of the transaction that last wrote it */
    char *data;          /* NUL-terminated for convenience; len excludes the NUL */
    size_t len;
};

enum ts_store_change_op { TS_STORE_ADD, TS_STORE_MOD, TS_STORE_DEL };

/*
 * One coalesced change since a revision: ADD (created after it), MOD (existed
 * before, written after), DEL (deleted after it). ADD/MOD carry the current
 * object (obj.data); DEL carries only cls, ref and obj.mod_rev = the delete's revision.
 */
struct ts_store_change {
    enum ts_store_change_op op;
    struct ts_store_obj obj;
};

struct ts_store_changes {
    struct ts_store_change *v;
    size_t n;
    uint64_t revision;  /* the store revision these changes bring the caller up to */
    int compacted;      /* 1: "since" predates the kept deletion log: deletions may be missing */
};

/*
 * Opens a store. spec is "sqlite:<path-to-db-file>" or a plain path (SQLite), or
 * "etcd:http://host:port[,http://host:port...]" (etcd v3 through its JSON
 * gateway; opts may then be "prefix=/atoll/,tombstones=10000", see store_etcd.h).
 * opts may be NULL or "sync=normal" (the default: atomic and kill -9 safe; an OS
 * crash may lose the latest commits, see store_sqlite.c) / "sync=full" (an fsync
 * per commit: also power-loss durable, ~50x slower commits).
 * Returns 0 and *out (caller owns; ts_store_close), or -1 with err set.
 */
int ts_store_open(const char *spec, const char *opts, struct ts_store **out,
                  struct atoll_err *err);
/* Closes the store; NULL is a no-op. No call may be in progress. Wakes waiters first. */
void ts_store_close(struct ts_store *st);

/* Current global revision (0 for an empty, never written store). Never blocks on I/O. */
uint64_t ts_store_revision(struct ts_store *st);

/*
 * Reads one object. Returns 1 and fills *out (caller frees with ts_store_obj_fini),
 * 0 if absent, -1 with err set on an I/O error.
 */
int ts_store_get(struct ts_store *st, const char *cls, const char *ref, struct ts_store_obj *out,
                 struct atoll_err *err);
/*
 * Lists all objects of one class (cls NULL: every class), ordered by ref.
 * *out is an array of *n objects (caller frees with ts_store_objs_free). 0 or -1.
 */
int ts_store_list(struct ts_store *st, const char *cls, struct ts_store_obj **out, size_t *n,
                  struct atoll_err *err);
/* Counts objects of one class. 0 or -1. */
int ts_store_count(struct ts_store *st, const char *cls, uint64_t *out, struct atoll_err *err);

void ts_store_obj_fini(struct ts_store_obj *o);
void ts_store_objs_free(struct ts_store_obj *v, size_t n);

/*
 * Single-object writes (a one-operation transaction): put (create or replace)
 * and delete, with the same expected-revision rules and results as
 * ts_store_txn_commit (0, 1 on a failed compare, -1 on error). new_rev may be NULL.
 */
int ts_store_put(struct ts_store *st, const char *cls, const char *ref, const char *data,
                 size_t len, uint64_t expect_rev, uint64_t *new_rev, struct atoll_err *err);
int ts_store_delete(struct ts_store *st, const char *cls, const char *ref, uint64_t expect_rev,
                    uint64_t *new_rev, struct atoll_err *err);

/*
 * Transactions: collect puts and deletes, then commit them atomically. Each
 * operation carries the revision the caller expects the object to have:
 * TS_STORE_REV_ANY (no check), TS_STORE_REV_ABSENT (must not exist), or an
 * exact mod_rev (must exist with that revision: put-if-revision-is). A delete
 * with TS_STORE_REV_ANY of an absent object is a no-op. One object appears
 * at most once per transaction.
 */
struct ts_store_txn *ts_store_txn_new(struct ts_store *st);
/* Copies cls, ref and data. */
void ts_store_txn_put(struct ts_store_txn *t, const char *cls, const char *ref, const char *data,
                      size_t len, uint64_t expect_rev);
void ts_store_txn_delete(struct ts_store_txn *t, const char *cls, const char *ref,
                         uint64_t expect_rev);
/*
 * Compare only: the commit fails unless (cls, ref) still has expect_rev
 * (TS_STORE_REV_ABSENT: is still absent). Writes nothing. For objects a
 * transaction read but did not change. A put or delete of the same object
 * in the transaction replaces the check.
 */
void ts_store_txn_check(struct ts_store_txn *t, const char *cls, const char *ref,
                        uint64_t expect_rev);
/* Number of operations queued. */
size_t ts_store_txn_size(const struct ts_store_txn *t);
/*
 * Commits. Returns 0 (all applied; *new_rev = the transaction's revision, may
 * be NULL; an empty transaction commits nothing and reports the current
 * revision), 1 if a compare failed (nothing applied; *failed_op = index of the
 * first failing operation, may be NULL), or -1 with err set on an I/O error
 * (nothing applied). The transaction stays owned by the caller either way.
 */
int ts_store_txn_commit(struct ts_store_txn *t, uint64_t *new_rev, size_t *failed_op,
                        struct atoll_err *err);
void ts_store_txn_free(struct ts_store_txn *t); /* NULL is a no-op */

/*
 * Watch from a revision: every object changed after "since", coalesced to one
 * change per object (see struct ts_store_change), ordered by revision. cls
 * NULL: every class. Returns 0 and fills *out (free with ts_store_changes_fini), or -1.
 */
int ts_store_changes(struct ts_store *st, uint64_t since, const char *cls,
                     struct ts_store_changes *out, struct atoll_err *err);
void ts_store_changes_fini(struct ts_store_changes *c);

/*
 * Blocks until the store revision exceeds "since" or timeout_ms elapse
 * (negative: forever; 0: just check), or the store is closing. Returns the
 * current revision. Woken within microseconds of a commit in this process.
 */
uint64_t ts_store_wait(struct ts_store *st, uint64_t since, int64_t timeout_ms);

/*
 * Commit listeners, for callers that cannot block (e.g. the libevent thread parks
 * event.from requests and wakes them with event_active from here). fn runs on the
 * committing thread right after a commit, with the new revision; it must be quick
 * and must not call back into the store. Returns an id for ts_store_unlisten.
 */
typedef void (*ts_store_listener_fn)(void *arg, uint64_t revision);
int ts_store_listen(struct ts_store *st, ts_store_listener_fn fn, void *arg);
void ts_store_unlisten(struct ts_store *st, int id);

/* ---- backend interface (store_sqlite.c, later store_etcd.c) ---- */

struct ts_store_op {
    int is_delete;
    int is_check; /* compare only */
    char *cls, *ref;
    char *data;
    size_t len;
    uint64_t expect_rev;
};

struct ts_store_backend {
    const char *name;
    void (*close)(void *self);
    /* The revision persisted at open (the generic layer tracks it afterwards). */
    uint64_t (*revision)(void *self);
    int (*get)(void *self, const char *cls, const char *ref, struct ts_store_obj *out,
               struct atoll_err *err);
    int (*list)(void *self, const char *cls, struct ts_store_obj **out, size_t *n,
                struct atoll_err *err);
    int (*count)(void *self, const char *cls, uint64_t *out, struct atoll_err *err);
    /* Same contract as ts_store_txn_commit; ops are distinct objects. */
    int (*commit)(void *self, const struct ts_store_op *ops, size_t n, uint64_t *new_rev,
                  size_t *failed_op, struct atoll_err *err);
    int (*changes)(void *self, uint64_t since, const char *cls, struct ts_store_changes *out,
                   struct atoll_err *err);
    /*
     * Optional (NULL for a backend only this process writes): the backend calls
     * fn(arg, revision) from any thread whenever it learns that the store moved
     * on (commits by other hosts), so waiters and listeners wake up.
     */
    void (*set_notify)(void *self, void (*fn)(void *arg, uint64_t revision), void *arg);
};

#endif

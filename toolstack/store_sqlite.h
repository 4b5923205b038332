/*
 * toolstack/store_sqlite.h - the SQLite backend of the object store: one
 * database file (WAL journal), real SQLite transactions, a deletion log for
 * watch-from-revision. Survives kill -9 at any point: a commit is all or nothing.
 * Threads: one connection shared under a mutex; every call does disk I/O and
 * may wait for the lock, so it runs on worker threads, never on the libevent thread.
 */
#ifndef TS_STORE_SQLITE_H
#define TS_STORE_SQLITE_H

#include "store.h"

/*
 * Opens (creating if needed) the database file at path. opts: NULL,
 * "sync=full" or "sync=normal" (see ts_store_open). Returns 0 with the backend
 * table and its instance, or -1 with err set (message names the path and cause).
 */
int ts_store_sqlite_open(const char *path, const char *opts, const struct ts_store_backend **be,
                         void **self, struct atoll_err *err);

#endif

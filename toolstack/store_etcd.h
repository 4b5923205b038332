/*
 * toolstack/store_etcd.h - the etcd v3 backend of the object store, for
 * pools: objects are keys <prefix>o/<class>/<ref>, store revisions are etcd
 * revisions (one per transaction), transactions are etcd Txn with MOD/CREATE
 * compares, deletions leave tombstone keys <prefix>t/<class>/<ref> for watch,
 * and a watch on the prefix tells the generic layer about other hosts' commits.
 * The etcd members need --max-txn-ops above the largest transaction (2 per delete).
 * Threads: blocking HTTP under a mutex plus one watch thread: never the libevent thread.
 */
#ifndef TS_STORE_ETCD_H
#define TS_STORE_ETCD_H

#include "store.h"

/*
 * endpoints: "http://host:port[,...]"; opts: NULL or a comma-separated list of
 * "prefix=/atoll/" (the default key prefix) and "tombstones=N" (deletions kept
 * for watch; default 10000, pruned past twice that). Checks the cluster
 * answers. 0 with the backend, or -1 with err.
 */
int ts_store_etcd_open(const char *endpoints, const char *opts,
                       const struct ts_store_backend **be, void **self, struct atoll_err *err);

#endif

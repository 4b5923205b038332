/*
 * toolstack/core.h - the objects every XenAPI client expects to exist:
 * exactly one pool, this host (identified by <state-dir>/host-uuid, shared
 * with vmops' host_init.c) with its host_metrics and host_cpu objects, and the
 * six XenAPI role objects. Idempotent: creates only what is missing.
 * Threads: main thread at startup (store I/O). Trust: reads /proc and the state dir.
 */
#ifndef TS_CORE_H
#define TS_CORE_H

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "dm_db.h"

#define TS_CORE_PRODUCT_VERSION "0.1.0"

/*
 * Ensures pool, local host (+ metrics, CPUs) and roles exist.
 * Writes this host's ref and uuid (either may be NULL). 0, or -1 with err.
 */
int ts_core_bootstrap(struct ts_dm_db *db, const char *state_dir,
                      char host_ref[ATOLL_REF_STRLEN + 1], char host_uuid[ATOLL_UUID_STRLEN + 1],
                      struct atoll_err *err);

#endif

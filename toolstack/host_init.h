/*
 * toolstack/host_init.h - creates this host's pool, host, host_metrics and
 * host_cpu objects on first start, refreshes the metrics on every start.
 * Threads: main thread at startup (blocks on the store).
 */
#ifndef TS_HOST_INIT_H
#define TS_HOST_INIT_H

#include "atoll/err.h"

/* Needs ts_vm_ctx (vm_state.h) filled; sets ts_vm_ctx.host_ref/host_uuid. 0 or -1. */
int ts_host_init_run(struct atoll_err *err);

#endif

/*
 * toolstack/vm_lifecycle.h - the hand-written VM messages (VM.start, ...) and
 * host.compute_free_memory, registered with the dispatcher (rpc.h).
 * Threads: registration on the main thread before ts_rpc_start.
 */
#ifndef TS_VM_LIFECYCLE_H
#define TS_VM_LIFECYCLE_H

#include "atoll/err.h"

/* Registers the messages; must run before ts_dm_generic_register so that they win. 0 or -1. */
int ts_vm_lifecycle_register(struct atoll_err *err);

#endif

/*
 * toolstack/vm_reconcile.h - on startup, makes the database agree with the
 * VMMs actually alive: live ones are adopted through their control sockets,
 * VMs whose VMM is gone are marked Halted, nothing is started twice.
 * Threads: main thread at startup, before the API serves calls.
 */
#ifndef TS_VM_RECONCILE_H
#define TS_VM_RECONCILE_H

#include "atoll/err.h"

/* Needs ts_vm_ctx and this host (host_init.h). 0 or -1 on a database error. */
int ts_vm_reconcile_run(struct atoll_err *err);

#endif

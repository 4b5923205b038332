/*
 * toolstack/vm_copy.h - VM.clone, VM.copy, VM.snapshot, VM.revert and VM.provision
 * for VMs without disks or network interfaces.
 * Threads: registration on the main thread before ts_rpc_start.
 */
#ifndef TS_VM_COPY_H
#define TS_VM_COPY_H

#include "atoll/err.h"

/* Registers the messages (before ts_dm_generic_register). 0 or -1. */
int ts_vm_copy_register(struct atoll_err *err);

#endif

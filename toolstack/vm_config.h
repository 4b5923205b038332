/*
 * toolstack/vm_config.h - VM configuration messages (VCPUs and memory setters for
 * Halted VMs, allowed device numbers, possible hosts, resume_on).
 * Threads: registration on the main thread before ts_rpc_start.
 */
#ifndef TS_VM_CONFIG_H
#define TS_VM_CONFIG_H

#include "atoll/err.h"

/* Registers the messages (before ts_dm_generic_register). 0 or -1. */
int ts_vm_config_register(struct atoll_err *err);

#endif

/*
 * toolstack/vm_cgroup.h - VCPUs_params weight and cap through a per-VM CPU cgroup
 * (v2 cpu.weight/cpu.max, or v1 cpu.shares/cpu.cfs_quota_us), best effort.
 * Threads: any worker or watcher thread.
 */
#ifndef TS_VM_CGROUP_H
#define TS_VM_CGROUP_H

#include <stdint.h>
#include <sys/types.h>

#include "atoll/err.h"

/* Checks VCPUs_params weight (1..65535) and cap (0..25600 %); absent ones give 0. 0 or -1
 * with INVALID_VALUE ["VCPUs_params:weight", value]. */
int ts_vm_cgroup_parse(const char *weight, const char *cap, int64_t *w, int64_t *c,
                       struct atoll_err *err);
/* Moves pid into the VM's cgroup with that weight/cap (both 0: nothing). 0, or -1 logged. */
int ts_vm_cgroup_apply(const char *uuid, pid_t pid, int64_t weight, int64_t cap);
/* Removes the VM's cgroup directories if empty. */
void ts_vm_cgroup_remove(const char *uuid);

#endif

/*
 * toolstack/vm_metrics.h - the VM metrics sampler (memory_actual from each running VMM's
 * balloon every 5 s, written only when it changed).
 * Threads: start/stop on the main thread; one sampler thread.
 */
#ifndef TS_VM_METRICS_H
#define TS_VM_METRICS_H

/* Starts the sampler (after reconciliation). 0, or -1 logged (then only power changes
 * update the metrics). */
int ts_vm_metrics_start(void);
/* Stops and joins it (before the database closes). */
void ts_vm_metrics_stop(void);

#endif

/*
 * tests/guest/burn.h - the CPU-burn workload: every chosen vCPU spins at CPL 3 counting loop
 * iterations until stopped, so that host-side CPU weight, cap and pinning can be measured
 * from inside (loops per second per vCPU). Threads: started and stopped by the command loop;
 * APs run burn_ap, the boot CPU runs burn_step slices between console lines.
 */
#ifndef GUEST_BURN_H
#define GUEST_BURN_H

#include <stdint.h>

/* Starts on cpus CPUs (0 or more than online: all); returns how many run it. */
unsigned burn_start(unsigned cpus);
/* A slice of the boot CPU's share (if it takes part); returns 1 when it did work. */
int burn_step(void);
int burn_running(void);
/* Stops every CPU (waits up to 1 s for the APs); fills the totals. */
void burn_stop(uint64_t *loops, uint64_t *ms, unsigned *cpus);

#endif

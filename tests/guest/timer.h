/*
 * tests/guest/timer.h - time since boot from the TSC. The frequency comes from CPUID
 * 0x40000010 or 0x15, kvmclock, CPUID 0x16, else a PIT calibration (10 ms); else 2 GHz is
 * assumed and timer_source() says "default".
 * Threads: timer_init on the boot CPU before the other CPUs start; reads from any CPU.
 */
#ifndef GUEST_TIMER_H
#define GUEST_TIMER_H

#include <stdint.h>

extern uint64_t boot_tsc; /* TSC at the first instruction (entry.S) */

void timer_init(void);
uint64_t timer_tsc_khz(void);
const char *timer_source(void); /* how the frequency was found */
uint64_t timer_now_ns(void);    /* since the guest's entry point */
uint64_t timer_deadline_us(uint64_t us);
int timer_passed(uint64_t deadline);
void timer_delay_us(uint64_t us);

#endif

/*
 * tests/guest/smp.h - bringing up the application processors (INIT/SIPI through the LAPIC,
 * real-mode trampoline at TRAMPOLINE_PA) and running work on them.
 * Threads: smp_boot on the boot CPU; each AP runs smp_ap_main forever.
 */
#ifndef GUEST_SMP_H
#define GUEST_SMP_H

#include <stdint.h>

#include "acpi.h"

/* Starts every CPU of info except the boot CPU, taking each one's stacks and TSS from alloc
 * (returns 0 when out of memory); returns the number of CPUs online. */
unsigned smp_boot(const struct acpi_info *info, uint64_t (*alloc)(uint64_t size, uint64_t align));
unsigned smp_online(void);
/* Entry of an AP at CPL 3 (from guest_cpu_main). */
__attribute__((noreturn)) void smp_ap_main(unsigned idx);
/* Runs fn(arg) on CPU idx (asynchronously); returns 0, or -1 if it is offline or busy. */
int smp_call(unsigned idx, void (*fn)(void *), void *arg);
/* Number of CPU slots started (online or not), i.e. valid idx values are 0..smp_count()-1. */
unsigned smp_count(void);
/* Asks every AP to answer through smp_call (an IPI each) and waits up to timeout_us; returns
 * how many answered. */
unsigned smp_check(uint64_t timeout_us);

#endif

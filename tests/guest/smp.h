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

/* issue 3, CPU hotplug (cpuhp.c): starts the CPU with APIC id apic_id in a new slot (stacks
 * from alloc) with INIT/SIPI and waits for it; 0, or -1 if it did not come online. */
int smp_hotadd(uint32_t apic_id, uint64_t (*alloc)(uint64_t size, uint64_t align));
/* Takes CPU idx offline (it halts with interrupts off, ready to be ejected); 0 or -1. */
int smp_offline(unsigned idx);
/* The slot of the online AP with that APIC id, or -1. */
int smp_find_apic(uint32_t apic_id);

#endif

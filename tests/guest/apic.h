/*
 * tests/guest/apic.h - local APIC (xAPIC MMIO: EOI, IPIs, timer) and IOAPIC routing, both
 * driven from CPL 3 through the identity map. Threads: lapic_* act on the calling CPU's
 * LAPIC; ioapic_* on the boot CPU during boot.
 */
#ifndef GUEST_APIC_H
#define GUEST_APIC_H

#include <stdint.h>

void lapic_init(uint64_t base); /* enable this CPU's LAPIC, spurious vector, TPR 0 */
uint32_t lapic_id(void);
void lapic_eoi(void);
/* Whether an interrupt of vectors VEC_FIRST-VEC_LAST (all the guest uses) waits in this
 * LAPIC's IRR: one MMIO read. */
int lapic_irr_pending(void);
/* Sends an IPI (ICR low word, e.g. INIT, SIPI or a fixed vector) to apic_id; returns 0, or
 * -1 when the LAPIC kept it pending too long. */
int lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
/* Periodic timer on vector every period_us (0 stops it); calibrates against the TSC first. */
void lapic_timer_periodic(unsigned vector, uint64_t period_us);

void pic_disable(void); /* mask the legacy 8259s */
void ioapic_init(uint64_t base, uint32_t gsi_base);
/* Routes a GSI to vector on dest_apic; flags are MPS INTI flags (polarity/trigger). */
void ioapic_route(uint32_t gsi, unsigned vector, uint32_t dest_apic, uint16_t flags);

#endif

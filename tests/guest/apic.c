/*
 * tests/guest/apic.c - LAPIC and IOAPIC register access (see apic.h). Every access is an
 * MMIO exit handled by KVM's in-kernel irqchip, so nothing here polls without bound.
 * Threads: LAPIC functions on the calling CPU; IOAPIC set-up on the boot CPU.
 */
#include "apic.h"

#include "arch.h"
#include "layout.h"
#include "timer.h"

#define LAPIC_ID 0x20
#define LAPIC_TPR 0x80
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

static uint64_t lapic_base = 0xfee00000;
static uint64_t ioapic_base;
static uint32_t ioapic_gsi0, ioapic_nr;
static uint64_t timer_ticks_per_ms; /* divide-by-16 ticks */

static uint32_t lr(uint32_t reg)
{
    return mmio_read32(lapic_base + reg);
}

static void lw(uint32_t reg, uint32_t v)
{
    mmio_write32(lapic_base + reg, v);
}

void lapic_init(uint64_t base)
{
    if (base)
        lapic_base = base;
    lw(LAPIC_TPR, 0);
    lw(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lw(LAPIC_LVT_LINT0, 0x10000); /* masked: no ExtINT from the 8259 */
    lw(LAPIC_LVT_LINT1, 0x400);   /* NMI */
}

uint32_t lapic_id(void)
{
    return lr(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
    lw(LAPIC_EOI, 0);
}

int lapic_irr_pending(void)
{
    return lr(0x200 + 0x10 * (VEC_FIRST / 32)) != 0; /* IRR bits of vectors 0x40-0x5f */
}

int lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
    lw(LAPIC_ICR_HI, apic_id << 24);
    lw(LAPIC_ICR_LO, icr_low);
    uint64_t deadline = timer_deadline_us(100000);
    while (lr(LAPIC_ICR_LO) & (1u << 12)) {
        if (timer_passed(deadline))
            return -1;
        cpu_relax();
    }
    return 0;
}

static void timer_calibrate(void)
{
    lw(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
    lw(LAPIC_LVT_TIMER, 0x10000);
    lw(LAPIC_TIMER_INIT, 0xffffffff);
    uint64_t t0 = timer_now_ns();
    while (timer_now_ns() - t0 < 2000000)
        cpu_relax();
    uint32_t cur = lr(LAPIC_TIMER_CUR);
    uint64_t t1 = timer_now_ns();
    lw(LAPIC_TIMER_INIT, 0);
    uint64_t ticks = 0xffffffffu - cur;
    timer_ticks_per_ms = ticks * 1000000 / (t1 - t0 ? t1 - t0 : 1);
    if (!timer_ticks_per_ms)
        timer_ticks_per_ms = 1;
}

void lapic_timer_periodic(unsigned vector, uint64_t period_us)
{
    if (!period_us) {
        lw(LAPIC_LVT_TIMER, 0x10000);
        lw(LAPIC_TIMER_INIT, 0);
        return;
    }
    if (!timer_ticks_per_ms)
        timer_calibrate();
    uint64_t count = timer_ticks_per_ms * period_us / 1000;
    if (count == 0)
        count = 1;
    if (count > 0xffffffffu)
        count = 0xffffffffu;
    lw(LAPIC_TIMER_DIV, 0x3);
    lw(LAPIC_LVT_TIMER, (1u << 17) | vector); /* periodic */
    lw(LAPIC_TIMER_INIT, (uint32_t)count);
}

void pic_disable(void)
{
    outb(0xa1, 0xff);
    outb(0x21, 0xff);
}

static uint32_t ior(uint32_t reg)
{
    mmio_write32(ioapic_base, reg);
    return mmio_read32(ioapic_base + 0x10);
}

static void iow(uint32_t reg, uint32_t v)
{
    mmio_write32(ioapic_base, reg);
    mmio_write32(ioapic_base + 0x10, v);
}

void ioapic_init(uint64_t base, uint32_t gsi_base)
{
    ioapic_base = base;
    ioapic_gsi0 = gsi_base;
    ioapic_nr = ((ior(1) >> 16) & 0xff) + 1;
    for (uint32_t i = 0; i < ioapic_nr; i++) {
        iow(0x10 + 2 * i, 0x10000); /* masked */
        iow(0x11 + 2 * i, 0);
    }
}

void ioapic_route(uint32_t gsi, unsigned vector, uint32_t dest_apic, uint16_t flags)
{
    if (!ioapic_base || gsi < ioapic_gsi0 || gsi - ioapic_gsi0 >= ioapic_nr)
        return;
    uint32_t pin = gsi - ioapic_gsi0;
    uint32_t lo = vector; /* fixed delivery, physical destination */
    if ((flags & 3) == 3)
        lo |= 1u << 13; /* active low */
    if (((flags >> 2) & 3) == 3)
        lo |= 1u << 15; /* level triggered */
    iow(0x11 + 2 * pin, dest_apic << 24);
    iow(0x10 + 2 * pin, lo);
}

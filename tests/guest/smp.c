/*
 * tests/guest/smp.c - AP start-up: copies the trampoline (entry.S) below 1 MiB, sends INIT
 * and SIPI to every CPU the MADT or MP table lists, and waits for each to check in from CPL 3.
 * APs then idle in hlt and run work posted with smp_call (woken by an IPI).
 * Threads: the boot CPU starts; each AP owns its percpu block.
 */
#include "smp.h"

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "timer.h"

extern char tramp_start[], tramp_end[];
extern volatile uint32_t ap_next_index;

static volatile unsigned online = 1;
static unsigned ncpus = 1;
static int tramp_ready; /* issue 3: trampoline copied, wake handlers installed */

unsigned smp_online(void)
{
    return online;
}

static void wake_handler(unsigned vector)
{
    (void)vector;
    lapic_eoi();
}

static void spurious_handler(unsigned vector)
{
    (void)vector; /* no EOI for the spurious vector */
}

void smp_ap_main(unsigned idx)
{
    struct percpu *pc = this_cpu();

    pc->idx = idx;
    lapic_init(0);
    pc->apic_id = lapic_id();
    irq_enable();
    pc->online = 1;
    __atomic_add_fetch(&online, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        void (*fn)(void *) = pc->work;
        if (fn) {
            fn(pc->work_arg);
            __atomic_store_n(&pc->work, NULL, __ATOMIC_RELEASE);
            continue;
        }
        cpu_idle();
    }
}

int smp_call(unsigned idx, void (*fn)(void *), void *arg)
{
    if (idx == 0 || idx >= ncpus)
        return -1;
    struct percpu *pc = cpu_get(idx);
    if (!pc->online || pc->work)
        return -1;
    pc->work_arg = arg;
    __atomic_store_n(&pc->work, fn, __ATOMIC_RELEASE);
    pc->pending = 1;
    lapic_send_ipi(pc->apic_id, VEC_WAKE);
    return 0;
}

unsigned smp_count(void)
{
    return ncpus;
}

static void answer(void *arg)
{
    __atomic_add_fetch((volatile unsigned *)arg, 1, __ATOMIC_SEQ_CST);
}

unsigned smp_check(uint64_t timeout_us)
{
    static volatile unsigned answered;
    unsigned asked = 0;

    answered = 0;
    for (unsigned i = 1; i < ncpus; i++)
        if (smp_call(i, answer, (void *)&answered) == 0)
            asked++;
    uint64_t deadline = timer_deadline_us(timeout_us);
    while (answered < asked && !timer_passed(deadline))
        cpu_relax();
    return answered;
}

unsigned smp_boot(const struct acpi_info *info, uint64_t (*alloc)(uint64_t size, uint64_t align))
{
    uint32_t self = lapic_id();
    unsigned want = 1;

    cpu_set_handler(VEC_WAKE, wake_handler);
    cpu_set_handler(VEC_SPURIOUS, spurious_handler);
    memcpy((void *)(uintptr_t)TRAMPOLINE_PA, tramp_start, (size_t)(tramp_end - tramp_start));
    tramp_ready = 1;

    /* stacks and TSSs first: the APs take indices 1.. in the order they arrive */
    for (unsigned i = 0; i < info->ncpus; i++) {
        if (info->apic_ids[i] == self)
            continue;
        if (info->apic_ids[i] > 254) { /* xAPIC mode: 8-bit destinations only */
            con_printf("atoll-guest: warning: CPU with APIC ID %u needs x2APIC: not started\n",
                       info->apic_ids[i]);
            continue;
        }
        if (want == GUEST_MAX_CPUS) {
            con_printf("atoll-guest: warning: %u CPUs listed, only %u supported\n", info->ncpus,
                       GUEST_MAX_CPUS);
            break;
        }
        if (cpu_prepare(want, alloc) < 0) {
            con_printf("atoll-guest: warning: no memory for the stacks of CPU %u\n", want);
            break;
        }
        want++;
    }
    ncpus = want;
    /* INIT to all, then SIPI to all: the APs come up in parallel */
    unsigned inited = 1;
    for (unsigned i = 0; i < info->ncpus && inited < want; i++) {
        if (info->apic_ids[i] == self || info->apic_ids[i] > 254)
            continue;
        inited++;
        lapic_send_ipi(info->apic_ids[i], 0x4500); /* INIT, assert */
    }
    for (int round = 0; round < 2 && online < want; round++) {
        unsigned sent = 1;
        for (unsigned i = 0; i < info->ncpus && sent < want; i++) {
            if (info->apic_ids[i] == self || info->apic_ids[i] > 254)
                continue;
            sent++;
            lapic_send_ipi(info->apic_ids[i], 0x4600 | (TRAMPOLINE_PA >> 12)); /* SIPI */
        }
        /* the second SIPI is ignored by APs already running, as the MP spec allows */
        uint64_t deadline = timer_deadline_us(round == 0 ? 500000 : 10000000);
        while (online < want && !timer_passed(deadline))
            cpu_relax();
    }
    if (online < want)
        con_printf("atoll-guest: warning: %u of %u CPUs came online\n", online, want);
    return online;
}

/* ---- issue 3: CPU hotplug (cpuhp.c) ---- */

int smp_hotadd(uint32_t apic_id, uint64_t (*alloc)(uint64_t size, uint64_t align))
{
    unsigned idx = ncpus;

    if (apic_id > 254 || idx >= GUEST_MAX_CPUS || cpu_prepare(idx, alloc) < 0)
        return -1;
    if (!tramp_ready) { /* booted with one CPU: smp_boot never ran */
        cpu_set_handler(VEC_WAKE, wake_handler);
        cpu_set_handler(VEC_SPURIOUS, spurious_handler);
        memcpy((void *)(uintptr_t)TRAMPOLINE_PA, tramp_start, (size_t)(tramp_end - tramp_start));
        tramp_ready = 1;
    }
    ncpus = idx + 1;
    __atomic_store_n(&ap_next_index, idx, __ATOMIC_SEQ_CST); /* it takes this slot */
    struct percpu *pc = cpu_get(idx);
    lapic_send_ipi(apic_id, 0x4500); /* INIT */
    for (int round = 0; round < 2 && !pc->online; round++) {
        lapic_send_ipi(apic_id, 0x4600 | (TRAMPOLINE_PA >> 12)); /* SIPI */
        uint64_t deadline = timer_deadline_us(round == 0 ? 500000 : 5000000);
        while (!pc->online && !timer_passed(deadline))
            cpu_relax();
    }
    return pc->online ? 0 : -1;
}

static void go_offline(void *arg)
{
    struct percpu *pc = this_cpu();

    (void)arg;
    irq_disable();
    pc->online = 0;
    __atomic_sub_fetch(&online, 1, __ATOMIC_SEQ_CST);
    cpu_halt_forever();
}

int smp_offline(unsigned idx)
{
    if (smp_call(idx, go_offline, NULL) < 0)
        return -1;
    struct percpu *pc = cpu_get(idx);
    uint64_t deadline = timer_deadline_us(2000000);
    while (pc->online && !timer_passed(deadline))
        cpu_relax();
    return pc->online ? -1 : 0;
}

int smp_find_apic(uint32_t apic_id)
{
    for (unsigned i = 1; i < ncpus; i++) {
        struct percpu *pc = cpu_get(i);
        if (pc->online && pc->apic_id == apic_id)
            return (int)i;
    }
    return -1;
}

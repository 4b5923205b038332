/*
 * tests/guest/timer.c - TSC frequency discovery and TSC-based time (see timer.h). The TSC is
 * read at CPL 3 (rdtsc is not trapped); conversion uses a 32.32 fixed-point multiplier so no
 * 128-bit division is needed. Threads: init on the boot CPU, reads anywhere.
 */
#include "timer.h"

#include "arch.h"
#include "lib.h"

static uint64_t tsc_khz = 2000000; /* a guess until timer_init */
static uint64_t ns_mult = (1000000ULL << 32) / 2000000;
static const char *source = "default";

static void set_khz(uint64_t khz, const char *src)
{
    tsc_khz = khz;
    ns_mult = (1000000ULL << 32) / khz;
    source = src;
}

static uint64_t from_hypervisor_leaf(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    if (!(r[2] & (1u << 31)))
        return 0;
    cpuid(0x40000000, 0, r);
    if (r[0] < 0x40000010)
        return 0;
    cpuid(0x40000010, 0, r);
    return r[0];
}

static uint64_t from_leaf15(void)
{
    uint32_t r[4];
    cpuid(0, 0, r);
    if (r[0] < 0x15)
        return 0;
    cpuid(0x15, 0, r);
    if (!r[0] || !r[1] || !r[2])
        return 0;
    return (uint64_t)r[2] * r[1] / r[0] / 1000;
}

static uint64_t from_leaf16(void)
{
    uint32_t r[4];
    cpuid(0, 0, r);
    if (r[0] < 0x16)
        return 0;
    cpuid(0x16, 0, r);
    return (uint64_t)(r[0] & 0xffff) * 1000;
}

struct pvclock {
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t mul;
    int8_t shift;
    uint8_t flags, pad[2];
};

static struct pvclock kvmclock __attribute__((aligned(64)));

static uint64_t from_kvmclock(void)
{
    uint32_t r[4];
    cpuid(1, 0, r);
    if (!(r[2] & (1u << 31)))
        return 0;
    cpuid(0x40000000, 0, r);
    if (r[1] != 0x4b4d564b || r[2] != 0x564b4d56 || r[3] != 0x4d) /* "KVMKVMKVM\0\0\0" */
        return 0;
    cpuid(0x40000001, 0, r);
    if (!(r[0] & (1u << 3))) /* KVM_FEATURE_CLOCKSOURCE2 */
        return 0;
    wrmsr(0x4b564d01, (uint64_t)(uintptr_t)&kvmclock | 1);
    uint32_t mul = 0;
    int8_t shift = 0;
    for (int i = 0; i < 1000 && !mul; i++) {
        uint32_t v = __atomic_load_n(&kvmclock.version, __ATOMIC_ACQUIRE);
        if (v & 1)
            continue;
        mul = kvmclock.mul;
        shift = kvmclock.shift;
        if (__atomic_load_n(&kvmclock.version, __ATOMIC_ACQUIRE) != v)
            mul = 0;
    }
    wrmsr(0x4b564d01, 0); /* the host stops updating our memory */
    if (!mul)
        return 0;
    uint64_t khz = (1000000ULL << 32) / mul;
    return shift < 0 ? khz << -shift : khz >> shift;
}

static uint16_t pit_read0(void)
{
    outb(0x43, 0x00); /* latch channel 0 */
    uint8_t lo = inb(0x40);
    return (uint16_t)(lo | inb(0x40) << 8);
}

/* PIT channel 0 read back (not the port 0x61 gate, which microvm lacks): 10 ms of its
 * 1.193182 MHz count against the TSC. */
static uint64_t from_pit(void)
{
    const uint32_t want = 1193182 / 100;
    uint64_t polls = 0;

    outb(0x43, 0x34); /* channel 0, lo/hi byte, mode 2 (rate generator) */
    outb(0x40, 0xff);
    outb(0x40, 0xff);
    uint16_t last = pit_read0(), c;
    while ((c = pit_read0()) == last)
        if (++polls > 100000)
            return 0; /* not counting: no PIT */
    last = c;
    uint64_t t0 = rdtsc();
    uint32_t elapsed = 0;
    while (elapsed < want) {
        c = pit_read0();
        elapsed += (uint16_t)(last - c);
        last = c;
        if (++polls > 10000000)
            return 0;
    }
    uint64_t t1 = rdtsc();
    outb(0x43, 0x30); /* back to one-shot mode 0: no periodic IRQ 0 */
    outb(0x40, 0);
    outb(0x40, 0);
    return (t1 - t0) * 1193182 / elapsed / 1000;
}

void timer_init(void)
{
    uint64_t khz;

    if ((khz = from_hypervisor_leaf()) > 100000)
        set_khz(khz, "cpuid 0x40000010");
    else if ((khz = from_leaf15()) > 100000)
        set_khz(khz, "cpuid 0x15");
    else if ((khz = from_kvmclock()) > 100000)
        set_khz(khz, "kvmclock");
    else if ((khz = from_leaf16()) > 100000)
        set_khz(khz, "cpuid 0x16");
    else if ((khz = from_pit()) > 100000 && khz < 20000000)
        set_khz(khz, "PIT calibration");
}

uint64_t timer_tsc_khz(void)
{
    return tsc_khz;
}

const char *timer_source(void)
{
    return source;
}

uint64_t timer_now_ns(void)
{
    uint64_t d = rdtsc() - boot_tsc;
    return (uint64_t)(((unsigned __int128)d * ns_mult) >> 32);
}

uint64_t timer_deadline_us(uint64_t us)
{
    return timer_now_ns() + us * 1000;
}

int timer_passed(uint64_t deadline)
{
    return timer_now_ns() >= deadline;
}

void timer_delay_us(uint64_t us)
{
    uint64_t d = timer_deadline_us(us);
    while (!timer_passed(d))
        cpu_relax();
}

/*
 * tests/guest/arch.h - x86 helpers usable at CPL 3: port I/O (allowed by IOPL 3 and the TSS
 * I/O bitmap), MMIO, cpuid, rdtsc, and the svc_call wrappers for the few CPL 0 services
 * (entry.S). Header-only.
 */
#ifndef GUEST_ARCH_H
#define GUEST_ARCH_H

#include <stdint.h>

#include "layout.h"

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint32_t mmio_read32(uint64_t addr)
{
    return *(volatile uint32_t *)(uintptr_t)addr;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)addr = v;
}
static inline uint8_t mmio_read8(uint64_t addr)
{
    return *(volatile uint8_t *)(uintptr_t)addr;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
    *(volatile uint8_t *)(uintptr_t)addr = v;
}

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

static inline void barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

/* ---- CPL 0 services (entry.S svc_entry); each costs a few emulated instructions on PVM ---- */
static inline uint64_t svc2(uint64_t nr, uint64_t a, uint64_t b)
{
    __asm__ volatile("call svc_call" : "+a"(nr), "+D"(a), "+S"(b) : : "rcx", "rdx", "memory");
    return nr;
}

static inline uint64_t rdmsr(uint32_t msr)
{
    return svc2(SVC_RDMSR, msr, 0);
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
    svc2(SVC_WRMSR, msr, v);
}
static inline void irq_enable(void)
{
    svc2(SVC_STI, 0, 0);
}
static inline void irq_disable(void)
{
    svc2(SVC_CLI, 0, 0);
}

#endif

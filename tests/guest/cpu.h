/*
 * tests/guest/cpu.h - per-CPU state, the two IDTs (CPL 3 handlers; CPL 0 idle stubs), the
 * interrupt/exception dispatch, idling through the CPL 0 service, and the panic path.
 * Threads: every CPU; struct percpu is reached through the CPL 3 stack (this_cpu()).
 */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include <stdint.h>

#include "layout.h"

struct percpu {
    unsigned idx;
    uint32_t apic_id;
    volatile uint64_t pending; /* set by every handler: the idle service will not sleep */
    volatile int online;
    uint64_t interrupts;
    void (*volatile work)(void *arg); /* posted by another CPU (smp_call) */
    void *volatile work_arg;
};

struct isr_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void (*irq_handler_fn)(unsigned vector);

/* Where CPU idx's start-up code (entry.S) finds its stacks and TSS; entry 0 is static, the
 * others are filled by cpu_prepare before the CPU is started. */
struct cpu_boot {
    uint64_t kstack_top, tss, ustack_top;
};
extern struct cpu_boot cpu_boot_table[GUEST_MAX_CPUS];

static inline struct percpu *this_cpu(void)
{
    uint64_t sp;
    __asm__("mov %%rsp, %0" : "=r"(sp));
    return (struct percpu *)(sp & ~(uint64_t)(USTACK_SIZE - 1));
}

/* The percpu block of CPU idx (valid once cpu_prepare or the boot CPU set it up). */
struct percpu *cpu_get(unsigned idx);

/* Gives CPU idx (1 .. GUEST_MAX_CPUS - 1) its CPL 0 stack, TSS with an all-zero I/O bitmap
 * and CPL 3 stack, from alloc (page-granular, returns 0 when out of memory). Returns 0 or -1. */
int cpu_prepare(unsigned idx, uint64_t (*alloc)(uint64_t size, uint64_t align));

/* Fills both IDTs (the CPUs already point IDTR at them). Boot CPU, before interrupts. */
void cpu_idt_init(void);

/* Installs the handler for an interrupt vector (32..255). */
void cpu_set_handler(unsigned vector, irq_handler_fn fn);

/* Sleeps in hlt at CPL 0 until an interrupt, unless this CPU's pending flag is set, and
 * runs the handler of the interrupt that woke it. Clears the pending flag on return. */
void cpu_idle(void);

/* Takes the interrupts waiting for this CPU (a short window at CPL 0) and runs their
 * handlers. Busy loops call it every millisecond or so: on PVM, interrupts are delivered
 * only while the CPU is at CPL 0 (measured: none during CPL 3 loops, with or without exits). */
void cpu_poll(void);

/* Prints "ATOLL PANIC: <reason>", signals pvpanic (port 0x505) and halts this CPU. */
__attribute__((noreturn, format(printf, 1, 2))) void panic(const char *fmt, ...);

/* Loads an empty IDT and faults: the VMM sees a triple fault. */
__attribute__((noreturn)) void cpu_triple_fault(void);

/* Halts this CPU for good. */
__attribute__((noreturn)) void cpu_halt_forever(void);

/* Called by isr_common (entry.S). */
void isr_dispatch(struct isr_frame *f);
/* Entered at CPL 3 from svc_entry (entry.S) for a #UD that was not a service call. */
__attribute__((noreturn)) void exc_reflect(uint64_t vector, uint64_t rip);

#endif

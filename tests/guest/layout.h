/*
 * tests/guest/layout.h - constants shared by the assembly and the C side of the guest:
 * GDT selectors, per-CPU limits and stack sizes, the CPL 0 service numbers, fixed addresses.
 * Included from .S files, so only #defines here.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

#define GUEST_MAX_CPUS 255 /* xAPIC destinations */

/* GDT: null, kernel code64, kernel data, user data, user code64, kernel code32, TSS[cpu];
 * the order syscall/sysret need (STAR: kernel CS 0x08, sysret base 0x10) */
#define SEL_KCODE 0x08
#define SEL_KDATA 0x10
#define SEL_UDATA 0x1b /* 0x18 | RPL 3 */
#define SEL_UCODE 0x23 /* 0x20 | RPL 3 */
#define SEL_KCODE32 0x28
#define SEL_TSS0 0x30 /* TSS of cpu i is at SEL_TSS0 + 16 * i */
#define GDT_ENTRIES (6 + 2 * GUEST_MAX_CPUS)

#define KSTACK_SIZE 4096  /* CPL 0 stack per CPU: service calls and idle only */
#define USTACK_SIZE 16384 /* CPL 3 stack per CPU (aligned to its size); struct percpu at its base */

/* TSS: 104-byte header, then the I/O permission bitmap (all zero) and the 0xff terminator */
#define TSS_HDR_SIZE 104
#define TSS_IOMAP_SIZE 8192
#define TSS_SLOT_SIZE 8448 /* header + bitmap + terminator; no header crosses a page */

/* vectors */
/* Every vector the guest uses lies in 0x40-0x5f, so that one LAPIC IRR register read tells
 * a busy loop whether an interrupt waits (cpu_poll). */
#define VEC_IRQ_BASE 0x40 /* ISA IRQ n arrives on VEC_IRQ_BASE + n */
#define VEC_POWER 0x4f    /* ACPI SCI or GED interrupt (power button) */
#define VEC_TIMER 0x50    /* LAPIC timer */
#define VEC_WAKE 0x51     /* IPI: wake an idle CPU */
#define VEC_FIRST 0x40
#define VEC_LAST 0x5f
#define VEC_SPURIOUS 0xff

/* CPL 0 services: call svc_call with rax = number, rdi/rsi = arguments; rax = result.
 * svc_call's ud2 enters CPL 0 through the #UD gate (see entry.S for why not int/syscall). */
#define SVC_IDLE 1        /* rdi = &pending word; halts unless *pending; returns vector or 0 */
#define SVC_RDMSR 2       /* rdi = msr; returns value */
#define SVC_WRMSR 3       /* rdi = msr, rsi = value */
#define SVC_HALT 4        /* cli; hlt forever */
#define SVC_TRIPLEFAULT 5 /* empty IDT, then a fault */
#define SVC_RELOAD_CR3 6  /* flush the TLB */
#define SVC_STI 7         /* return to CPL 3 with interrupts enabled */
#define SVC_CLI 8         /* return to CPL 3 with interrupts disabled */

#define TRAMPOLINE_PA 0x8000 /* AP real-mode entry; SIPI vector 0x08 */

#define PVH_START_MAGIC 0x336ec578

#endif

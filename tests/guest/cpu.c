/*
 * tests/guest/cpu.c - IDT set-up, interrupt and exception dispatch at CPL 3, idling, panic.
 * Why two IDTs: a gate to the DPL 3 handlers cannot be taken from CPL 0 (#GP), so while a CPU
 * halts at CPL 0 its IDTR points at idt_idle, whose CPL 0 stubs return the vector to the
 * CPL 3 caller of the idle service, which then runs the handler here (see README.md).
 * Threads: every CPU; handlers run on the interrupted CPU's CPL 3 stack.
 */
#include "cpu.h"

#include <stdarg.h>

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "fmt.h"
#include "lib.h"

struct idt_gate {
    uint16_t off0, sel;
    uint8_t ist, type;
    uint16_t off1;
    uint32_t off2, zero;
};

extern struct idt_gate idt_main[256], idt_idle[256];
extern char isr_stubs[], idle_stubs[], svc_entry[];

static irq_handler_fn handlers[256];

static const char *const exc_names[32] = {
    "#DE divide error", "#DB debug", "NMI", "#BP breakpoint", "#OF overflow",
    "#BR bound range", "#UD invalid opcode", "#NM device not available", "#DF double fault",
    "coprocessor overrun", "#TS invalid TSS", "#NP segment not present", "#SS stack fault",
    "#GP general protection", "#PF page fault", "reserved 15", "#MF x87 error",
    "#AC alignment check", "#MC machine check", "#XM SIMD error", "#VE virtualization",
    "#CP control protection",
};

static void set_gate(struct idt_gate *g, uint64_t addr, uint16_t sel, uint8_t type)
{
    g->off0 = (uint16_t)addr;
    g->sel = sel;
    g->ist = 0;
    g->type = type;
    g->off1 = (uint16_t)(addr >> 16);
    g->off2 = (uint32_t)(addr >> 32);
    g->zero = 0;
}

struct percpu *cpu_get(unsigned idx)
{
    return (struct percpu *)(uintptr_t)(cpu_boot_table[idx].ustack_top - USTACK_SIZE);
}

int cpu_prepare(unsigned idx, uint64_t (*alloc)(uint64_t size, uint64_t align))
{
    if (idx == 0 || idx >= GUEST_MAX_CPUS)
        return -1;
    uint64_t k = alloc(KSTACK_SIZE, 4096);
    uint64_t t = alloc(TSS_SLOT_SIZE, 4096);
    uint64_t u = alloc(USTACK_SIZE, USTACK_SIZE);
    if (!k || !t || !u)
        return -1;
    /* RAM may hold anything (a reboot keeps it): the I/O bitmap must be all zero */
    memset((void *)(uintptr_t)t, 0, TSS_SLOT_SIZE);
    memset((void *)(uintptr_t)u, 0, sizeof(struct percpu));
    cpu_boot_table[idx].kstack_top = k + KSTACK_SIZE;
    cpu_boot_table[idx].tss = t;
    cpu_boot_table[idx].ustack_top = u + USTACK_SIZE;
    return 0;
}

void cpu_idt_init(void)
{
    for (unsigned v = 0; v < 256; v++) {
        /* 0x8e: present, DPL 0, 64-bit interrupt gate (IF cleared on entry) */
        set_gate(&idt_main[v], (uint64_t)(uintptr_t)(isr_stubs + 16 * v), SEL_UCODE, 0x8e);
        set_gate(&idt_idle[v], (uint64_t)(uintptr_t)(idle_stubs + 16 * v), SEL_KCODE, 0x8e);
    }
    /* #UD goes to CPL 0: it is how svc_call raises privilege (entry.S) */
    set_gate(&idt_main[6], (uint64_t)(uintptr_t)svc_entry, SEL_KCODE, 0x8e);
}

void cpu_set_handler(unsigned vector, irq_handler_fn fn)
{
    if (vector >= 32 && vector < 256)
        handlers[vector] = fn;
}

static void run_handler(unsigned vector)
{
    struct percpu *pc = this_cpu();
    irq_handler_fn fn = handlers[vector];

    pc->interrupts++;
    if (fn)
        fn(vector);
    pc->pending = 1;
}

void isr_dispatch(struct isr_frame *f)
{
    if (f->vector < 32) {
        panic("unexpected exception %lu (%s) error=0x%lx rip=0x%lx cs=0x%lx rsp=0x%lx cpu=%u", f->vector,
              exc_names[f->vector] ? exc_names[f->vector] : "reserved", f->error, f->rip, f->cs, f->rsp,
              this_cpu()->idx);
    }
    run_handler((unsigned)f->vector);
}

void exc_reflect(uint64_t vector, uint64_t rip)
{
    panic("unexpected exception %lu (%s) rip=0x%lx cpu=%u", vector, exc_names[vector & 31], rip,
          this_cpu()->idx);
}

void cpu_idle(void)
{
    struct percpu *pc = this_cpu();
    uint64_t vector = svc2(SVC_IDLE, (uint64_t)(uintptr_t)&pc->pending, 0);

    if (vector >= 32 && vector < 256)
        run_handler((unsigned)vector);
    pc->pending = 0;
}

void cpu_poll(void)
{
    static const uint64_t no_work = 0;

    /* an interrupt in the IRR makes hlt return at once, with that interrupt taken */
    for (int i = 0; i < 8 && lapic_irr_pending(); i++) {
        uint64_t vector = svc2(SVC_IDLE, (uint64_t)(uintptr_t)&no_work, 0);
        if (vector >= 32 && vector < 256)
            run_handler((unsigned)vector);
    }
}

void cpu_halt_forever(void)
{
    for (;;)
        svc2(SVC_HALT, 0, 0);
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    fmt_vformat(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    con_break_lock();
    con_printf("\nATOLL PANIC: %s\n", buf);
    outb(0x505, 1); /* pvpanic: the VMM ends the VM as panicked */
    cpu_halt_forever();
}

void cpu_triple_fault(void)
{
    svc2(SVC_TRIPLEFAULT, 0, 0);
    cpu_halt_forever();
}

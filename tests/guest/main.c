/*
 * tests/guest/main.c - the boot CPU's path from the first CPL 3 instruction to the command
 * loop: console, IDT, boot info (PVH start info: command line, memory map, RSDP), page
 * tables for RAM above 4 GiB, ACPI/MP tables, LAPIC/IOAPIC, TSC, SMP, the READY line.
 * Trust: the start info and the tables come from the VMM; lengths are bounded before use.
 */
#include "acpi.h"
#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "memmap.h"
#include "power.h"
#include "pvh.h"
#include "shell.h"
#include "smp.h"
#include "timer.h"

#define GIB ((uint64_t)1 << 30)
#define MAX_MAPPED (512 * GIB) /* one PDPT */

extern char guest_image_start[], guest_image_end[];
extern uint64_t boot_start_info;
extern uint64_t pt_pdpt[512];

void guest_cpu_main(unsigned idx);

static struct guest guest;
static uint64_t mapped_top = 4 * GIB;

static const void *phys_map(uint64_t pa, uint64_t len, void *ctx)
{
    (void)ctx;
    if (pa + len < pa || pa + len > mapped_top)
        return NULL;
    return (const void *)(uintptr_t)pa;
}

static void default_memory(struct mm *mm)
{
    mm_add(mm, 0, 0x9f000, MM_TYPE_RAM);
    mm_add(mm, 0x100000, 31ULL << 20, MM_TYPE_RAM);
}

static void read_boot_info(struct guest *g)
{
    const struct hvm_start_info *si = (const void *)(uintptr_t)boot_start_info;

    mm_init(&g->mm);
    if (!si || si->magic != PVH_START_MAGIC) {
        con_printf("atoll-guest: warning: no PVH start info (magic 0x%x at 0x%lx, expected "
                   "0x%x); assuming 32 MiB\n",
                   si ? si->magic : 0, boot_start_info, PVH_START_MAGIC);
        default_memory(&g->mm);
        return;
    }
    if (si->cmdline_paddr && si->cmdline_paddr < 4 * GIB) {
        const char *s = (const char *)(uintptr_t)si->cmdline_paddr;
        size_t n = 0;
        while (n < sizeof(g->cmdline) - 1 && s[n])
            n++;
        for (size_t i = 0; i < n; i++) /* one console line, whatever the VMM passed */
            g->cmdline[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
        g->cmdline[n] = '\0';
    }
    g->acpi.rsdp_pa = si->rsdp_paddr;
    if (si->version >= 1 && si->memmap_paddr && si->memmap_entries &&
        si->memmap_paddr < 4 * GIB) {
        const struct hvm_memmap_table_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
        uint32_t n = si->memmap_entries > 1024 ? 1024 : si->memmap_entries;
        for (uint32_t i = 0; i < n; i++)
            if (mm_add(&g->mm, e[i].addr, e[i].size, e[i].type) < 0)
                con_printf("atoll-guest: warning: memory map entry %u ignored (table full)\n",
                           i);
    }
    if (!g->mm.total) {
        con_printf("atoll-guest: warning: start info version %u has no memory map; assuming "
                   "32 MiB\n",
                   si->version);
        default_memory(&g->mm);
    }
}

/* Identity-maps RAM above 4 GiB with 2 MiB pages (page directories taken from low RAM). */
static void map_high_memory(struct mm *mm)
{
    uint64_t top = mm->top < MAX_MAPPED ? mm->top : MAX_MAPPED;

    if (mm->top > MAX_MAPPED)
        con_printf("atoll-guest: warning: RAM above %lu GiB is not used\n", MAX_MAPPED / GIB);
    for (uint64_t gib = 4; gib * GIB < top; gib++) {
        if (pt_pdpt[gib] & 1)
            continue;
        uint64_t pd = mm_alloc(mm, 4096, 4096, 4 * GIB);
        if (!pd) {
            con_printf("atoll-guest: warning: no page for the map of GiB %lu\n", gib);
            break;
        }
        uint64_t *e = (uint64_t *)(uintptr_t)pd;
        for (unsigned i = 0; i < 512; i++)
            e[i] = gib * GIB + i * (2ULL << 20) + 0x87;
        pt_pdpt[gib] = pd | 7;
        mapped_top = (gib + 1) * GIB;
    }
    svc2(SVC_RELOAD_CR3, 0, 0);
    /* RAM the page tables could not reach is not RAM to us */
    mm_reserve(mm, mapped_top, ~0ULL);
}

static void find_platform(struct guest *g)
{
    char err[128];
    struct acpi_info *a = &g->acpi;
    uint64_t rsdp = a->rsdp_pa;

    acpi_info_init(a);
    if (!rsdp)
        rsdp = acpi_find_rsdp(phys_map, NULL);
    if (!rsdp || acpi_parse(a, rsdp, phys_map, NULL, err, sizeof(err)) < 0)
        con_printf("atoll-guest: warning: %s\n", rsdp ? err : "no ACPI RSDP found");
    if (!a->cpu_source && mp_parse(a, phys_map, NULL) < 0) {
        con_printf("atoll-guest: warning: no MADT and no MP table: one CPU\n");
        a->ncpus = 0;
    }
    if (a->bad_checksums)
        con_printf("atoll-guest: warning: %u firmware tables with a bad checksum\n",
                   a->bad_checksums);
}

static uint64_t boot_alloc(uint64_t size, uint64_t align)
{
    return mm_alloc(&guest.mm, size, align, 0);
}

static void serial_irq(unsigned vector)
{
    con_irq(vector);
    lapic_eoi();
}

static void sci_irq(unsigned vector)
{
    power_sci(vector);
    lapic_eoi();
}

static void boot(void)
{
    struct guest *g = &guest;
    struct percpu *pc = this_cpu();

    pc->idx = 0;
    pc->online = 1;
    con_init();
    cpu_idt_init();
    read_boot_info(g);
    con_printf("atoll-guest: booting cmdline=\"%s\"\n", g->cmdline);

    int trampoline_ok = mm_is_free(&g->mm, TRAMPOLINE_PA, TRAMPOLINE_PA + 4096);
    mm_reserve(&g->mm, 0, 0x100000);
    mm_reserve(&g->mm, (uint64_t)(uintptr_t)guest_image_start,
               (uint64_t)(uintptr_t)guest_image_end);
    map_high_memory(&g->mm);
    find_platform(g);

    lapic_init(g->acpi.lapic_addr);
    pc->apic_id = lapic_id();
    pic_disable();
    int polled = 1;
    if (g->acpi.have_ioapic) {
        ioapic_init(g->acpi.ioapic_addr, g->acpi.ioapic_gsi_base);
        cpu_set_handler(VEC_IRQ_BASE + CON_IRQ, serial_irq);
        ioapic_route(g->acpi.isa_gsi[CON_IRQ], VEC_IRQ_BASE + CON_IRQ, pc->apic_id,
                     g->acpi.isa_flags[CON_IRQ]);
        polled = 0;
    } else {
        con_printf("atoll-guest: warning: no IOAPIC: console input is polled\n");
    }
    irq_enable();
    con_set_irq_mode(!polled);
    timer_init();
    power_init(&g->acpi);
    /* the power button's interrupt (SCI or GED) on the vector after the ISA IRQs */
    cpu_set_handler(VEC_POWER, sci_irq);
    power_button_init(VEC_POWER, pc->apic_id);
    if (!trampoline_ok && g->acpi.ncpus > 1)
        con_printf("atoll-guest: warning: no RAM at 0x%x for the AP trampoline: one CPU\n",
                   TRAMPOLINE_PA);
    unsigned online = g->acpi.ncpus > 1 && trampoline_ok ? smp_boot(&g->acpi, boot_alloc) : 1;
    uint64_t ms = timer_now_ns() / 1000000;
    con_printf("ATOLL READY cpus=%u mem_kib=%lu boot_ms=%lu\n", online, mm_total_kib(&g->mm),
               ms);
    shell_run(g, polled);
}

void guest_cpu_main(unsigned idx)
{
    if (idx)
        smp_ap_main(idx);
    boot();
    cpu_halt_forever();
}

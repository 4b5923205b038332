/*
 * hypervisor/acpi.h - the ACPI tables the VMM gives the guest: RSDP, XSDT,
 * RSDT, FADT (PM1a event/control blocks, reset register, SCI 9), MADT (one
 * LAPIC per vCPU, IOAPIC, overrides, LAPIC NMI) and a DSDT with \_S5.
 * Built into a caller's buffer for a given guest base address: pure, so the
 * unit test checks checksums and disassembles the tables with iasl.
 * Issue 3 extends it (power button, CPU hotplug, GED): add tables/AML here.
 */
#ifndef VMM_ACPI_H
#define VMM_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* Fixed I/O ports of the ACPI hardware model (ioport.c implements them). */
#define VMM_ACPI_PM1A_EVT   0x600   /* 4 bytes: status (2), enable (2) */
#define VMM_ACPI_PM1A_CNT   0x604   /* 2 bytes: SCI_EN, SLP_TYP, SLP_EN */
#define VMM_ACPI_RESET_PORT 0xCF9
#define VMM_ACPI_RESET_VAL  0x06
#define VMM_ACPI_SCI_IRQ    9
#define VMM_ACPI_S5_TYP     5       /* SLP_TYP for S5 in \_S5 */

struct vmm_acpi_params {
    unsigned nr_vcpus;
    unsigned max_vcpus;   /* issue 3: possible vCPUs (hotplug); 0 or <= nr_vcpus: none */
    uint64_t base;        /* guest-physical address where buf will be copied (RSDP first) */
};

/* Table offsets inside the built blob, for tests and the loader. */
struct vmm_acpi_layout {
    size_t rsdp, xsdt, rsdt, fadt, madt, dsdt, facs, total;
};

/*
 * Builds all tables into buf (cap bytes). Returns the total length, or 0 if cap
 * is too small. The RSDP is at offset 0 (16-byte aligned when base is).
 */
size_t vmm_acpi_build(const struct vmm_acpi_params *p, uint8_t *buf, size_t cap,
                      struct vmm_acpi_layout *layout);

/* 8-bit sum of len bytes (a valid table sums to 0). */
uint8_t vmm_acpi_sum(const uint8_t *p, size_t len);

#endif

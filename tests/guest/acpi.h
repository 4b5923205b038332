/*
 * tests/guest/acpi.h - what the guest learns from the firmware tables: CPUs (MADT, or the MP
 * table as fallback), the IOAPIC and ISA overrides, and the FADT power registers with the
 * DSDT's _S5_ sleep type. Pure parsing over a caller's map function, so the host unit test
 * test_acpi feeds synthetic tables. Trust: table contents are VMM-controlled; every offset
 * and length is checked against the mapped size.
 */
#ifndef GUEST_ACPI_H
#define GUEST_ACPI_H

#include <stddef.h>
#include <stdint.h>

#define ACPI_MAX_CPUS 256

/* Returns a pointer to len bytes at physical address pa, or NULL when not readable. */
typedef const void *(*acpi_map_fn)(uint64_t pa, uint64_t len, void *ctx);

enum { ACPI_SPACE_MEM = 0, ACPI_SPACE_IO = 1 };

struct acpi_gas {
    uint8_t space, bit_width, bit_offset, access_size;
    uint64_t addr;
};

/* A Generic Event Device (ACPI0013) as QEMU's microvm and other hardware-reduced platforms
 * describe it: an interrupt in _CRS, a SystemMemory region holding the event selector that
 * _EVT reads, and the selector bit whose handler notifies the power button. */
struct acpi_ged {
    int present;
    uint32_t gsi;
    uint16_t mps_flags; /* polarity/trigger in MPS INTI form, as ioapic_route takes */
    uint64_t sel_addr;  /* event selector register (MMIO, 32-bit) */
    uint32_t pwr_mask;  /* selector bit of the power button */
};

struct acpi_info {
    /* CPUs and interrupt controllers (MADT or MP table) */
    const char *cpu_source; /* "MADT", "MP table" or NULL */
    unsigned ncpus;         /* enabled CPUs, apic_ids[0..ncpus) */
    unsigned ncpus_possible; /* plus online-capable ones (hotplug) */
    uint32_t apic_ids[ACPI_MAX_CPUS];
    uint64_t lapic_addr;
    int have_ioapic;
    uint32_t ioapic_id, ioapic_addr, ioapic_gsi_base;
    uint32_t isa_gsi[16];   /* ISA IRQ -> GSI (identity unless overridden) */
    uint16_t isa_flags[16]; /* MPS INTI flags of the override, 0 = bus default */
    /* ACPI proper */
    int have_rsdp;
    uint64_t rsdp_pa;
    char oem_id[7];
    int have_fadt;
    uint32_t fadt_flags;
    int hw_reduced;
    uint16_t sci_irq;       /* ISA IRQ of the SCI (FADT SCI_INT) */
    uint32_t pm1a_evt;      /* PM1a_EVT_BLK I/O port (status; enable at + pm1_evt_len / 2) */
    uint8_t pm1_evt_len;
    uint32_t smi_cmd;
    uint8_t acpi_enable;
    struct acpi_gas pm1a_cnt, pm1b_cnt;
    int have_reset;
    struct acpi_gas reset_reg;
    uint8_t reset_value;
    int have_sleep_ctl;
    struct acpi_gas sleep_ctl;
    uint64_t dsdt_pa;
    int have_s5;
    uint8_t s5_typa, s5_typb;
    struct acpi_ged ged;
    unsigned bad_checksums; /* tables whose checksum did not add up (used anyway) */
};

#define ACPI_FADT_HW_REDUCED (1u << 20)

void acpi_info_init(struct acpi_info *info);

/* Scans the BIOS area 0xE0000-0xFFFFF (and the EBDA) for "RSD PTR " with a valid checksum;
 * returns its physical address or 0. */
uint64_t acpi_find_rsdp(acpi_map_fn map, void *ctx);

/* Parses RSDP -> XSDT/RSDT -> MADT, FADT, DSDT. Returns 0, or -1 with a one-line reason in
 * err when the RSDP itself is unusable (missing tables are only flagged in info). */
int acpi_parse(struct acpi_info *info, uint64_t rsdp_pa, acpi_map_fn map, void *ctx, char *err,
               size_t errlen);

/* Finds Name(_S5_, Package(){a, b, ...}) in AML and decodes the first two elements. Returns 0,
 * or -1 when absent or malformed. */
int acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typa, uint8_t *typb);

/* Finds the GED in AML (heuristic byte scan, like the _S5_ one: the "ACPI0013" _HID, then the
 * first Extended Interrupt descriptor, SystemMemory OperationRegion and And(Local0, mask)
 * after it; mask defaults to 2, QEMU's power-down event). Returns 0, or -1 when absent. */
int acpi_find_ged(const uint8_t *aml, size_t len, struct acpi_ged *ged);

/* Fallback when there is no MADT: the Intel MP table (floating pointer in the EBDA, the last
 * KiB of base memory or 0xF0000-0xFFFFF). Returns 0 when CPUs were found, -1 otherwise. */
int mp_parse(struct acpi_info *info, acpi_map_fn map, void *ctx);

#endif

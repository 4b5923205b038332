/*
 * hypervisor/virtio/pci_acpi.c - \_SB.PCI0 for the DSDT (see pci_acpi.h). Resource
 * descriptors follow ACPI 6.5 section 6.4; the _PRT uses the GSI form (Source 0), so pins
 * are level-triggered, active-low, as PCI INTx lines are.
 * Threads: main, at setup. Trust: VMM constants only.
 */
#include "pci_acpi.h"

#include <string.h>

#include "../aml.h"
#include "pci.h"

static size_t put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    return 2;
}

static size_t put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return 4;
}

/* Word Address Space Descriptor: producer, MinFixed, MaxFixed, PosDecode. */
static size_t word_space(uint8_t *p, uint8_t type, uint8_t type_flags, uint16_t min,
                         uint16_t max)
{
    size_t n = 0;
    p[n++] = 0x88;
    n += put16(p + n, 13);
    p[n++] = type;        /* 1 = I/O, 2 = bus numbers */
    p[n++] = 0x0C;        /* MaxFixed | MinFixed, producer, positive decode */
    p[n++] = type_flags;  /* I/O: EntireRange (3) */
    n += put16(p + n, 0); /* granularity */
    n += put16(p + n, min);
    n += put16(p + n, max);
    n += put16(p + n, 0); /* translation */
    n += put16(p + n, (uint16_t)(max - min + 1));
    return n;
}

static size_t resources(uint8_t *p, uint64_t base, uint64_t size)
{
    size_t n = 0;
    n += word_space(p + n, 2, 0, 0, 0);            /* bus 0 */
    /* IO(Decode16, 0xCF8, 0xCF8, 1, 8): the configuration mechanism */
    static const uint8_t cfg_io[] = {0x47, 0x01, 0xF8, 0x0C, 0xF8, 0x0C, 0x01, 0x08};
    memcpy(p + n, cfg_io, sizeof(cfg_io));
    n += sizeof(cfg_io);
    n += word_space(p + n, 1, 3, 0x0000, 0x0CF7);  /* legacy I/O below it */
    n += word_space(p + n, 1, 3, 0x0D00, 0xFFFF);  /* and above it */
    /* DWord Memory: producer, fixed, non-cacheable, read-write: the BAR window */
    p[n++] = 0x87;
    n += put16(p + n, 23);
    p[n++] = 0;          /* memory */
    p[n++] = 0x0C;
    p[n++] = 0x01;       /* read-write, non-cacheable */
    n += put32le(p + n, 0);
    n += put32le(p + n, (uint32_t)base);
    n += put32le(p + n, (uint32_t)(base + size - 1));
    n += put32le(p + n, 0);
    n += put32le(p + n, (uint32_t)size);
    p[n++] = 0x79;       /* end tag, checksum 0 (= "ignore") */
    p[n++] = 0x00;
    return n;
}

static void name_int(struct vmm_aml *a, const char *name, uint64_t v)
{
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, name);
    vmm_aml_int(a, v);
}

void pci_acpi_host_bridge(struct vmm_aml *a, uint64_t mmio_base, uint64_t mmio_size)
{
    if (mmio_base + mmio_size > 0x100000000ULL || !mmio_size || (mmio_size & 0xFFF)) {
        a->err = 1;
        return;
    }
    vmm_aml_begin(a, AML_EXT_DEVICE);
    vmm_aml_name(a, "PCI0");
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_HID");
    vmm_aml_eisaid(a, "PNP0A03");
    name_int(a, "_UID", 0);
    name_int(a, "_BBN", 0);

    uint8_t crs[96];
    size_t n = resources(crs, mmio_base, mmio_size);
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_CRS");
    vmm_aml_buffer(a, crs, n);

    /* _PRT: pin A (0) of slots 1..31 -> pci_slot_intx_gsi(slot), as pci_bus_add wires them */
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_PRT");
    vmm_aml_begin(a, AML_PACKAGE);
    vmm_aml_byte(a, PCI_MAX_SLOTS - 1);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        vmm_aml_begin(a, AML_PACKAGE);
        vmm_aml_byte(a, 4);
        vmm_aml_int(a, (uint64_t)s << 16 | 0xFFFF); /* device s, any function */
        vmm_aml_int(a, 0);                          /* INTA# */
        vmm_aml_int(a, 0);                          /* Source: none, SourceIndex is a GSI */
        vmm_aml_int(a, pci_slot_intx_gsi(s));
        vmm_aml_end(a);
    }
    vmm_aml_end(a);
    vmm_aml_end(a); /* Device(PCI0) */
}

/*
 * hypervisor/acpi.c - builds the guest's ACPI tables (ACPI 6.x layouts) into
 * a buffer: RSDP -> XSDT/RSDT -> FADT (-> FACS, DSDT) and MADT. The AML of the
 * DSDT is emitted by hand (a few byte codes); grow it with small emitters.
 * Threads: main, at setup. Trust: inputs come from the validated config.
 */
#include "acpi.h"

#include <string.h>

#include "dsdt.h"  /* issue 3: DSDT AML (processors, GPE, _S5) */
#include "pm.h"    /* issue 3: GPE0 block */

#define HDR_LEN 36

uint8_t vmm_acpi_sum(const uint8_t *p, size_t len)
{
    uint8_t s = 0;
    for (size_t i = 0; i < len; i++)
        s += p[i];
    return s;
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void header(uint8_t *t, const char sig[4], uint32_t len, uint8_t rev)
{
    memcpy(t, sig, 4);
    put32(t + 4, len);
    t[8] = rev;
    t[9] = 0;
    memcpy(t + 10, "ATOLL ", 6);
    memcpy(t + 16, "ATOLLVMM", 8);
    put32(t + 24, 1);
    memcpy(t + 28, "ATOL", 4);
    put32(t + 32, 1);
}

static void finish(uint8_t *t, uint32_t len)
{
    t[9] = (uint8_t)(0x100 - vmm_acpi_sum(t, len));
}

/* Generic Address Structure in system I/O space. */
static void gas_io(uint8_t *g, uint8_t bits, uint8_t access, uint64_t port)
{
    g[0] = 1;        /* SystemIO */
    g[1] = bits;
    g[2] = 0;
    g[3] = access;   /* 1 byte, 2 word, 3 dword */
    put64(g + 4, port);
}

static size_t align(size_t v, size_t a)
{
    return (v + a - 1) & ~(a - 1);
}

size_t vmm_acpi_build(const struct vmm_acpi_params *p, uint8_t *buf, size_t cap,
                      struct vmm_acpi_layout *lo)
{
    struct vmm_acpi_layout l = {0};
    unsigned n = p->nr_vcpus;
    /* issue 3: the MADT lists every possible vCPU; those not plugged are online-capable */
    unsigned max = p->max_vcpus > n ? p->max_vcpus : n;
    size_t fadt_len = 276, madt_len = HDR_LEN + 8 + 8 * max + 12 + 10 + 10 + 6;
    size_t facs_len = 64;

    l.rsdp = 0;
    l.xsdt = align(l.rsdp + 36, 64);
    l.rsdt = align(l.xsdt + HDR_LEN + 2 * 8, 64);
    l.facs = align(l.rsdt + HDR_LEN + 2 * 4, 64);
    l.fadt = align(l.facs + facs_len, 64);
    l.dsdt = align(l.fadt + fadt_len, 64);
    if (l.dsdt + HDR_LEN >= cap)
        return 0;
    memset(buf, 0, cap);
    size_t aml_len = vmm_dsdt_build_aml(max, buf + l.dsdt + HDR_LEN, cap - l.dsdt - HDR_LEN);
    if (!aml_len)
        return 0;
    size_t dsdt_len = HDR_LEN + aml_len;
    l.madt = align(l.dsdt + dsdt_len, 64);
    l.total = l.madt + madt_len;
    if (l.total > cap)
        return 0;
    uint64_t b = p->base;

    /* FACS: no checksum, 64-byte aligned */
    uint8_t *facs = buf + l.facs;
    memcpy(facs, "FACS", 4);
    put32(facs + 4, facs_len);
    facs[32] = 2;   /* version */

    /* DSDT */
    uint8_t *dsdt = buf + l.dsdt;
    header(dsdt, "DSDT", (uint32_t)dsdt_len, 2);
    finish(dsdt, dsdt_len);

    /* FADT (revision 6) */
    uint8_t *f = buf + l.fadt;
    header(f, "FACP", fadt_len, 6);
    put32(f + 36, (uint32_t)(b + l.facs));          /* FIRMWARE_CTRL */
    put32(f + 40, (uint32_t)(b + l.dsdt));          /* DSDT */
    f[45] = 4;                                       /* preferred profile: enterprise server */
    put16(f + 46, VMM_ACPI_SCI_IRQ);                 /* SCI_INT */
    /* SMI_CMD 0: no SMM, the machine is always in ACPI mode (SCI_EN reads 1) */
    put32(f + 56, VMM_ACPI_PM1A_EVT);                /* PM1a_EVT_BLK */
    put32(f + 64, VMM_ACPI_PM1A_CNT);                /* PM1a_CNT_BLK */
    put32(f + 80, VMM_ACPI_GPE0_BLK);                /* issue 3: GPE0_BLK */
    f[88] = 4;                                       /* PM1_EVT_LEN */
    f[89] = 2;                                       /* PM1_CNT_LEN */
    f[92] = VMM_ACPI_GPE0_LEN;                       /* GPE0_BLK_LEN */
    put16(f + 96, 101);                              /* P_LVL2_LAT > 100: no C2 */
    put16(f + 98, 1001);                             /* P_LVL3_LAT > 1000: no C3 */
    put16(f + 109, (1u << 2) | (1u << 4) | (1u << 5)); /* no VGA, no ASPM, no CMOS RTC */
    put32(f + 112, (1u << 0) | (1u << 2) | (1u << 5) | (1u << 10));
    /* WBINVD, PROC_C1, SLP_BUTTON (none), RESET_REG_SUP; PWR_BUTTON (bit 4) clear:
     * the fixed power button is present (issue 3, pm.c) */
    gas_io(f + 116, 8, 1, VMM_ACPI_RESET_PORT);      /* RESET_REG */
    f[128] = VMM_ACPI_RESET_VAL;                     /* RESET_VALUE */
    f[131] = 0;                                      /* FADT minor version */
    put64(f + 132, b + l.facs);                      /* X_FIRMWARE_CTRL */
    put64(f + 140, b + l.dsdt);                      /* X_DSDT */
    gas_io(f + 148, 32, 2, VMM_ACPI_PM1A_EVT);       /* X_PM1a_EVT_BLK */
    gas_io(f + 172, 16, 2, VMM_ACPI_PM1A_CNT);       /* X_PM1a_CNT_BLK */
    gas_io(f + 220, 8 * VMM_ACPI_GPE0_LEN, 1, VMM_ACPI_GPE0_BLK); /* X_GPE0_BLK */
    memcpy(f + 268, "ATOLLVMM", 8);                  /* hypervisor vendor identity */
    finish(f, fadt_len);

    /* MADT */
    uint8_t *m = buf + l.madt;
    header(m, "APIC", madt_len, 5);
    put32(m + 36, 0xFEE00000u);                      /* local APIC address */
    put32(m + 40, 1);                                /* PCAT_COMPAT: 8259s present */
    uint8_t *e = m + 44;
    for (unsigned i = 0; i < max; i++, e += 8) {
        e[0] = 0;                                    /* processor local APIC */
        e[1] = 8;
        e[2] = (uint8_t)i;                           /* ACPI processor uid */
        e[3] = (uint8_t)i;                           /* APIC id */
        put32(e + 4, i < n ? 1 : 2);                 /* enabled, or online-capable */
    }
    e[0] = 1; e[1] = 12; e[2] = 0; e[3] = 0;         /* IOAPIC id 0 */
    put32(e + 4, 0xFEC00000u);
    put32(e + 8, 0);                                 /* GSI base */
    e += 12;
    e[0] = 2; e[1] = 10; e[2] = 0; e[3] = 0;         /* ISA IRQ0 -> GSI2, bus defaults */
    put32(e + 4, 2);
    put16(e + 8, 0);
    e += 10;
    e[0] = 2; e[1] = 10; e[2] = 0; e[3] = VMM_ACPI_SCI_IRQ; /* SCI: level, active high */
    put32(e + 4, VMM_ACPI_SCI_IRQ);
    put16(e + 8, 0x000d);
    e += 10;
    e[0] = 4; e[1] = 6; e[2] = 0xff;                 /* LAPIC NMI on LINT1, all CPUs */
    put16(e + 3, 0);
    e[5] = 1;
    finish(m, madt_len);

    /* XSDT and RSDT: FADT, MADT */
    uint8_t *x = buf + l.xsdt;
    header(x, "XSDT", HDR_LEN + 16, 1);
    put64(x + 36, b + l.fadt);
    put64(x + 44, b + l.madt);
    finish(x, HDR_LEN + 16);
    uint8_t *r = buf + l.rsdt;
    header(r, "RSDT", HDR_LEN + 8, 1);
    put32(r + 36, (uint32_t)(b + l.fadt));
    put32(r + 40, (uint32_t)(b + l.madt));
    finish(r, HDR_LEN + 8);

    /* RSDP (ACPI 2.0+) */
    uint8_t *s = buf + l.rsdp;
    memcpy(s, "RSD PTR ", 8);
    memcpy(s + 9, "ATOLL ", 6);
    s[15] = 2;
    put32(s + 16, (uint32_t)(b + l.rsdt));
    put32(s + 20, 36);
    put64(s + 24, b + l.xsdt);
    s[8] = (uint8_t)(0x100 - vmm_acpi_sum(s, 20));
    s[32] = (uint8_t)(0x100 - vmm_acpi_sum(s, 36));
    if (lo)
        *lo = l;
    return l.total;
}

/*
 * tests/guest/test_acpi.c - host unit test of the guest's firmware-table parsing (acpi.c):
 * synthetic RSDP/XSDT/MADT/FADT/DSDT in a fake 1 MiB of "physical memory", as atoll-vmm and
 * QEMU lay them out, a hardware-reduced variant, hostile lengths, and the MP table fallback.
 */
#include "acpi.h"

#include <stdint.h>

#include "tap.h"

#define MEM_SIZE 0x100000
static uint8_t mem[MEM_SIZE];

static const void *map(uint64_t pa, uint64_t len, void *ctx)
{
    (void)ctx;
    if (pa >= MEM_SIZE || len > MEM_SIZE - pa)
        return NULL;
    return mem + pa;
}

static void w16(uint64_t pa, uint16_t v)
{
    mem[pa] = (uint8_t)v;
    mem[pa + 1] = (uint8_t)(v >> 8);
}

static void w32(uint64_t pa, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        mem[pa + i] = (uint8_t)(v >> (8 * i));
}

static void w64(uint64_t pa, uint64_t v)
{
    w32(pa, (uint32_t)v);
    w32(pa + 4, (uint32_t)(v >> 32));
}

static void fix_sum(uint64_t pa, uint32_t len, uint64_t sum_at)
{
    uint8_t s = 0;
    mem[sum_at] = 0;
    for (uint32_t i = 0; i < len; i++)
        s = (uint8_t)(s + mem[pa + i]);
    mem[sum_at] = (uint8_t)-s;
}

static void header(uint64_t pa, const char *sig, uint32_t len, uint8_t rev)
{
    memcpy(mem + pa, sig, 4);
    w32(pa + 4, len);
    mem[pa + 8] = rev;
    memcpy(mem + pa + 10, "ATOLL ", 6);
}

static void table_done(uint64_t pa)
{
    uint32_t len = (uint32_t)(mem[pa + 4] | mem[pa + 5] << 8 | mem[pa + 6] << 16);
    fix_sum(pa, len, pa + 9);
}

enum { RSDP = 0xe0010, XSDT = 0x80000, MADT = 0x80100, FADT = 0x80200, DSDT = 0x80400 };

static void gas(uint64_t pa, uint8_t space, uint8_t width, uint64_t addr)
{
    mem[pa] = space;
    mem[pa + 1] = width;
    w64(pa + 4, addr);
}

static void build(int hw_reduced)
{
    memset(mem, 0, sizeof(mem));
    memcpy(mem + RSDP, "RSD PTR ", 8);
    memcpy(mem + RSDP + 9, "ATOLL ", 6);
    mem[RSDP + 15] = 2;
    w32(RSDP + 20, 36);
    w64(RSDP + 24, XSDT);
    fix_sum(RSDP, 20, RSDP + 8);
    fix_sum(RSDP, 36, RSDP + 32);

    header(XSDT, "XSDT", 36 + 16, 1);
    w64(XSDT + 36, MADT);
    w64(XSDT + 44, FADT);
    table_done(XSDT);

    uint32_t off = 44;
    header(MADT, "APIC", 0, 3);
    w32(MADT + 36, 0xfee00000);
    for (int i = 0; i < 3; i++, off += 8) { /* LAPIC 0, 1 enabled; 2 online-capable only */
        mem[MADT + off] = 0;
        mem[MADT + off + 1] = 8;
        mem[MADT + off + 2] = (uint8_t)i;
        mem[MADT + off + 3] = (uint8_t)(i * 2);
        w32(MADT + off + 4, i < 2 ? 1 : 2);
    }
    mem[MADT + off] = 1; /* IOAPIC */
    mem[MADT + off + 1] = 12;
    mem[MADT + off + 2] = 9;
    w32(MADT + off + 4, 0xfec00000);
    w32(MADT + off + 8, 0);
    off += 12;
    mem[MADT + off] = 2; /* ISO: IRQ 0 -> GSI 2 */
    mem[MADT + off + 1] = 10;
    mem[MADT + off + 3] = 0;
    w32(MADT + off + 4, 2);
    w16(MADT + off + 8, 0);
    off += 10;
    mem[MADT + off] = 9; /* x2APIC entry, enabled, id 300 */
    mem[MADT + off + 1] = 16;
    w32(MADT + off + 4, 300);
    w32(MADT + off + 8, 1);
    off += 16;
    w32(MADT + 4, off);
    table_done(MADT);

    header(FADT, "FACP", 276, 6);
    w32(FADT + 40, DSDT);
    w16(FADT + 46, 9);
    w32(FADT + 48, 0xb2);
    w32(FADT + 56, 0x600);
    mem[FADT + 88] = 4;
    mem[FADT + 52] = 0xf1;
    w32(FADT + 64, 0x604);
    w32(FADT + 112, hw_reduced ? (1u << 20) : 0);
    gas(FADT + 116, 1, 8, 0xcf9);
    mem[FADT + 128] = 6;
    w64(FADT + 140, DSDT);
    if (hw_reduced)
        gas(FADT + 244, 0, 8, 0xfea00001);
    table_done(FADT);

    static const uint8_t aml[] = {
        0x10, 0x05, 0x5c, 0x00,                               /* some other object */
        0x08, '_', 'S', '4', '_', 0x12, 0x04, 0x01, 0x0a, 0x02,
        0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00,
    };
    header(DSDT, "DSDT", 36 + sizeof(aml), 2);
    memcpy(mem + DSDT + 36, aml, sizeof(aml));
    table_done(DSDT);
}

int main(void)
{
    struct acpi_info a;
    char err[128];

    build(0);
    is_int(acpi_find_rsdp(map, NULL), RSDP, "RSDP found by scanning 0xE0000-0xFFFFF");
    acpi_info_init(&a);
    is_int(acpi_parse(&a, RSDP, map, NULL, err, sizeof(err)), 0, "parse");
    is_str(a.cpu_source, "MADT", "CPUs from the MADT");
    is_int(a.ncpus, 3, "enabled CPUs (two xAPIC, one x2APIC)");
    is_int(a.ncpus_possible, 4, "online-capable counted as possible");
    ok(a.apic_ids[0] == 0 && a.apic_ids[1] == 2 && a.apic_ids[2] == 300, "APIC IDs");
    ok(a.have_ioapic && a.ioapic_addr == 0xfec00000 && a.ioapic_id == 9, "IOAPIC");
    is_int(a.isa_gsi[0], 2, "ISA override IRQ 0 -> GSI 2");
    is_int(a.isa_gsi[4], 4, "IRQ 4 identity");
    ok(a.have_fadt && !a.hw_reduced, "FADT, full ACPI");
    ok(a.pm1a_cnt.space == ACPI_SPACE_IO && a.pm1a_cnt.addr == 0x604, "PM1a_CNT port 0x604");
    ok(a.sci_irq == 9 && a.pm1a_evt == 0x600 && a.pm1_evt_len == 4,
       "SCI IRQ 9 and PM1a_EVT_BLK 0x600 (4 bytes) for the power button");
    ok(a.have_reset && a.reset_reg.addr == 0xcf9 && a.reset_value == 6, "RESET_REG 0xcf9 <- 6");
    ok(a.have_s5 && a.s5_typa == 5 && a.s5_typb == 0, "_S5_ from the DSDT (not _S4_)");
    is_str(a.oem_id, "ATOLL ", "OEM id");
    is_int(a.bad_checksums, 0, "checksums good");

    build(1);
    acpi_info_init(&a);
    acpi_parse(&a, RSDP, map, NULL, err, sizeof(err));
    ok(a.hw_reduced && a.have_sleep_ctl && a.sleep_ctl.addr == 0xfea00001 &&
           a.sleep_ctl.space == ACPI_SPACE_MEM,
       "hardware-reduced: SLEEP_CONTROL_REG");

    build(0);
    mem[RSDP + 8] ^= 1;
    acpi_info_init(&a);
    ok(acpi_parse(&a, RSDP, map, NULL, err, sizeof(err)) < 0 && strstr(err, "RSDP"),
       "bad RSDP checksum refused with a reason");
    is_int(acpi_find_rsdp(map, NULL), 0, "no RSDP found");

    build(0);
    w32(MADT + 44 + 1, 0); /* first entry length 0: must not loop */
    mem[MADT + 45] = 0;
    w32(FADT + 4, 0xfffffff0); /* FADT claims 4 GiB */
    acpi_info_init(&a);
    is_int(acpi_parse(&a, RSDP, map, NULL, err, sizeof(err)), 0, "hostile lengths still parse");
    ok(a.ncpus == 0 && !a.have_fadt, "zero-length entry ends the MADT; oversized FADT ignored");
    ok(a.bad_checksums > 0, "bad checksums counted");

    uint8_t t1, t2;
    static const uint8_t trunc[] = { 0x08, '_', 'S', '5', '_', 0x12 };
    ok(acpi_find_s5(trunc, sizeof(trunc), &t1, &t2) < 0, "truncated _S5_ refused");
    static const uint8_t ref[] = { 0x70, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x01, 0x01 };
    ok(acpi_find_s5(ref, sizeof(ref), &t1, &t2) < 0, "_S5_ not after NameOp ignored");
    static const uint8_t rooted[] = { 0x08, '\\', '_', 'S', '5', '_', 0x12, 0x05, 0x02, 0x01,
                                      0x0a, 0x07 };
    ok(acpi_find_s5(rooted + 1, sizeof(rooted) - 1, &t1, &t2) < 0 ||
           (acpi_find_s5(rooted, sizeof(rooted), &t1, &t2) == 0 && t1 == 1 && t2 == 7),
       "Name(\\_S5_, ...) with OneOp and BytePrefix");

    /* a GED as QEMU's microvm writes it (Device, _HID, _UID, _CRS, EREG, ESEL, _EVT) */
    static const uint8_t ged_aml[] = {
        0x5b, 0x82, 0x4c, 0x06, 'G', 'E', 'D', '_', 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C',
        'P', 'I', '0', '0', '1', '3', 0x00, 0x08, '_', 'U', 'I', 'D', 0x0d, 'G', 'E', 'D',
        0x00, 0x08, '_', 'C', 'R', 'S', 0x11, 0x0e, 0x0a, 0x0b, 0x89, 0x06, 0x00, 0x03, 0x01,
        0x09, 0x00, 0x00, 0x00, 0x79, 0x00, 0x5b, 0x80, 'E', 'R', 'E', 'G', 0x00, 0x0c, 0x00,
        0x00, 0xa0, 0xfe, 0x0a, 0x04, 0x5b, 0x81, 0x0b, 'E', 'R', 'E', 'G', 0x43, 'E', 'S',
        'E', 'L', 0x20, 0x14, 0x1d, '_', 'E', 'V', 'T', 0x09, 0x70, 'E', 'S', 'E', 'L', 0x60,
        0xa0, 0x10, 0x93, 0x7b, 0x60, 0x0a, 0x02, 0x00, 0x0a, 0x02, 0x86, 'P', 'W', 'R', 'B',
        0x0a, 0x80,
    };
    struct acpi_ged ged;
    ok(acpi_find_ged(ged_aml, sizeof(ged_aml), &ged) == 0 && ged.present, "GED found");
    is_int(ged.gsi, 9, "GED interrupt");
    is_int(ged.mps_flags, 0x5, "GED interrupt edge-triggered, active high");
    is_int(ged.sel_addr, 0xfea00000, "GED event selector address");
    is_int(ged.pwr_mask, 2, "GED power-down bit");
    uint8_t lvl[sizeof(ged_aml)];
    memcpy(lvl, ged_aml, sizeof(lvl));
    lvl[45] = 0x05; /* consumer, level, active low */
    lvl[99] = 0x08; /* And(Local0, 0x08) */
    ok(acpi_find_ged(lvl, sizeof(lvl), &ged) == 0 && ged.mps_flags == 0xf && ged.pwr_mask == 8,
       "GED level/low interrupt and another event bit");
    ok(acpi_find_ged(ged_aml, 40, &ged) < 0, "a GED without its _CRS is not used");
    ok(acpi_find_ged(mem, 4096, &ged) < 0, "no GED");

    /* MP table fallback: floating pointer at 0xF0000, config table at 0xF1000 */
    memset(mem, 0, sizeof(mem));
    memcpy(mem + 0xf0000, "_MP_", 4);
    w32(0xf0004, 0xf1000);
    mem[0xf0008] = 1;
    mem[0xf0009] = 4;
    fix_sum(0xf0000, 16, 0xf000a);
    memcpy(mem + 0xf1000, "PCMP", 4);
    w16(0xf1000 + 4, 44 + 20 * 2 + 8);
    mem[0xf1000 + 6] = 4;
    w16(0xf1000 + 34, 3);
    w32(0xf1000 + 36, 0xfee00000);
    for (int i = 0; i < 2; i++) {
        uint64_t e = 0xf1000 + 44 + 20 * i;
        mem[e] = 0;
        mem[e + 1] = (uint8_t)i;
        mem[e + 3] = (uint8_t)(1 | (i == 0 ? 2 : 0));
    }
    uint64_t io = 0xf1000 + 44 + 40;
    mem[io] = 2;
    mem[io + 1] = 2;
    mem[io + 3] = 1;
    w32(io + 4, 0xfec00000);
    fix_sum(0xf1000, 44 + 48, 0xf1000 + 7);
    acpi_info_init(&a);
    is_int(mp_parse(&a, map, NULL), 0, "MP table parsed");
    is_str(a.cpu_source, "MP table", "CPUs from the MP table");
    is_int(a.ncpus, 2, "two CPUs");
    ok(a.have_ioapic && a.ioapic_addr == 0xfec00000, "IOAPIC from the MP table");
    memset(mem, 0, sizeof(mem));
    acpi_info_init(&a);
    ok(mp_parse(&a, map, NULL) < 0, "no MP table");
    return tap_done();
}

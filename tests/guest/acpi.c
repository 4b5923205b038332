/*
 * tests/guest/acpi.c - parsing of the RSDP, XSDT/RSDT, MADT, FADT and the DSDT's _S5_ object
 * (see acpi.h), and of the MP table as a fallback. Pure code over a map function; every read
 * is bounded by the length the map function granted. Threads: the boot CPU only.
 */
#include "acpi.h"

#include "lib.h"

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum8(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void set_err(char *err, size_t errlen, const char *msg)
{
    size_t n = strlen(msg);
    if (!errlen)
        return;
    if (n >= errlen)
        n = errlen - 1;
    memcpy(err, msg, n);
    err[n] = '\0';
}

void acpi_info_init(struct acpi_info *info)
{
    memset(info, 0, sizeof(*info));
    info->lapic_addr = 0xfee00000;
    for (unsigned i = 0; i < 16; i++)
        info->isa_gsi[i] = i;
}

static void add_cpu(struct acpi_info *info, uint32_t apic_id)
{
    for (unsigned i = 0; i < info->ncpus; i++)
        if (info->apic_ids[i] == apic_id)
            return;
    if (info->ncpus < ACPI_MAX_CPUS)
        info->apic_ids[info->ncpus++] = apic_id;
}

static const uint8_t *rsdp_at(uint64_t pa, acpi_map_fn map, void *ctx)
{
    const uint8_t *p = map(pa, 20, ctx);

    if (!p || memcmp(p, "RSD PTR ", 8) != 0 || sum8(p, 20) != 0)
        return NULL;
    if (p[15] >= 2) {
        const uint8_t *x = map(pa, 36, ctx);
        if (!x)
            return NULL;
        uint32_t len = rd32(x + 20);
        if (len >= 36 && len <= 4096 && (x = map(pa, len, ctx)) != NULL && sum8(x, len) != 0)
            return NULL;
    }
    return p;
}

uint64_t acpi_find_rsdp(acpi_map_fn map, void *ctx)
{
    const uint8_t *bda = map(0x40e, 2, ctx);

    if (bda) {
        uint64_t ebda = (uint64_t)rd16(bda) << 4;
        if (ebda >= 0x80000 && ebda < 0xa0000)
            for (uint64_t pa = ebda; pa < ebda + 1024; pa += 16)
                if (rsdp_at(pa, map, ctx))
                    return pa;
    }
    for (uint64_t pa = 0xe0000; pa < 0x100000; pa += 16)
        if (rsdp_at(pa, map, ctx))
            return pa;
    return 0;
}

/* Maps a whole table after checking its header; NULL when unreadable or implausible. */
static const uint8_t *map_table(struct acpi_info *info, uint64_t pa, acpi_map_fn map, void *ctx,
                                uint32_t *len)
{
    const uint8_t *h = pa ? map(pa, 36, ctx) : NULL;

    if (!h)
        return NULL;
    uint32_t n = rd32(h + 4);
    if (n < 36 || n > (64u << 20))
        return NULL;
    const uint8_t *t = map(pa, n, ctx);
    if (!t)
        return NULL;
    if (sum8(t, n) != 0)
        info->bad_checksums++;
    *len = n;
    return t;
}

static void parse_madt(struct acpi_info *info, const uint8_t *t, uint32_t len)
{
    if (len < 44)
        return;
    info->cpu_source = "MADT";
    info->lapic_addr = rd32(t + 36);
    for (uint32_t off = 44; off + 2 <= len;) {
        uint8_t type = t[off], elen = t[off + 1];
        if (elen < 2 || off + elen > len)
            break;
        const uint8_t *e = t + off;
        if (type == 0 && elen >= 8) {
            uint32_t flags = rd32(e + 4);
            if (flags & 1)
                add_cpu(info, e[3]);
            if (flags & 3)
                info->ncpus_possible++;
        } else if (type == 9 && elen >= 16) {
            uint32_t flags = rd32(e + 8);
            if (flags & 1)
                add_cpu(info, rd32(e + 4));
            if (flags & 3)
                info->ncpus_possible++;
        } else if (type == 1 && elen >= 12 && !info->have_ioapic) {
            info->have_ioapic = 1;
            info->ioapic_id = e[2];
            info->ioapic_addr = rd32(e + 4);
            info->ioapic_gsi_base = rd32(e + 8);
        } else if (type == 2 && elen >= 10 && e[2] == 0 && e[3] < 16) {
            info->isa_gsi[e[3]] = rd32(e + 4);
            info->isa_flags[e[3]] = rd16(e + 8);
        } else if (type == 5 && elen >= 12) {
            info->lapic_addr = rd64(e + 4);
        }
        off += elen;
    }
}

static void read_gas(struct acpi_gas *g, const uint8_t *p)
{
    g->space = p[0];
    g->bit_width = p[1];
    g->bit_offset = p[2];
    g->access_size = p[3];
    g->addr = rd64(p + 4);
}

static void parse_fadt(struct acpi_info *info, const uint8_t *t, uint32_t len)
{
    if (len < 116)
        return;
    info->have_fadt = 1;
    info->dsdt_pa = rd32(t + 40);
    info->sci_irq = rd16(t + 46);
    info->smi_cmd = rd32(t + 48);
    info->pm1a_evt = rd32(t + 56);
    info->pm1_evt_len = t[88];
    info->acpi_enable = t[52];
    info->pm1a_cnt.space = ACPI_SPACE_IO;
    info->pm1a_cnt.bit_width = 16;
    info->pm1a_cnt.addr = rd32(t + 64);
    info->pm1b_cnt.space = ACPI_SPACE_IO;
    info->pm1b_cnt.bit_width = 16;
    info->pm1b_cnt.addr = rd32(t + 68);
    info->fadt_flags = rd32(t + 112);
    info->hw_reduced = (info->fadt_flags & ACPI_FADT_HW_REDUCED) != 0;
    if (len >= 129) {
        read_gas(&info->reset_reg, t + 116);
        info->reset_value = t[128];
        info->have_reset = info->reset_reg.addr != 0 &&
                           (info->reset_reg.space == ACPI_SPACE_IO ||
                            info->reset_reg.space == ACPI_SPACE_MEM);
    }
    if (len >= 148 && rd64(t + 140))
        info->dsdt_pa = rd64(t + 140);
    if (len >= 160) {
        struct acpi_gas g;
        read_gas(&g, t + 148);
        if (g.addr && g.space == ACPI_SPACE_IO && g.addr < 0x10000)
            info->pm1a_evt = (uint32_t)g.addr;
    }
    if (len >= 184) {
        struct acpi_gas g;
        read_gas(&g, t + 172);
        if (g.addr)
            info->pm1a_cnt = g;
    }
    if (len >= 196) {
        struct acpi_gas g;
        read_gas(&g, t + 184);
        if (g.addr)
            info->pm1b_cnt = g;
    }
    if (len >= 256) {
        read_gas(&info->sleep_ctl, t + 244);
        info->have_sleep_ctl = info->sleep_ctl.addr != 0;
    }
}

/* Decodes one AML integer element (ZeroOp, OneOp, OnesOp, BytePrefix, WordPrefix...). */
static int aml_int(const uint8_t *p, const uint8_t *end, uint8_t *v, const uint8_t **next)
{
    if (p >= end)
        return -1;
    switch (p[0]) {
    case 0x00:
    case 0x01:
        *v = p[0];
        *next = p + 1;
        return 0;
    case 0xff:
        *v = 0xff;
        *next = p + 1;
        return 0;
    case 0x0a:
        if (p + 2 > end)
            return -1;
        *v = p[1];
        *next = p + 2;
        return 0;
    case 0x0b:
        if (p + 3 > end)
            return -1;
        *v = p[1];
        *next = p + 3;
        return 0;
    case 0x0c:
        if (p + 5 > end)
            return -1;
        *v = p[1];
        *next = p + 5;
        return 0;
    default:
        return -1;
    }
}

int acpi_find_s5(const uint8_t *aml, size_t len, uint8_t *typa, uint8_t *typb)
{
    const uint8_t *end = aml + len;

    for (size_t i = 1; i + 4 < len; i++) {
        if (memcmp(aml + i, "_S5_", 4) != 0)
            continue;
        int named = aml[i - 1] == 0x08 || (i >= 2 && aml[i - 1] == '\\' && aml[i - 2] == 0x08);
        const uint8_t *p = aml + i + 4;
        if (!named || p >= end || *p != 0x12)
            continue;
        p++;
        if (p >= end)
            return -1;
        p += 1 + (*p >> 6); /* PkgLength */
        p++;                /* NumElements */
        uint8_t a, b = 0;
        const uint8_t *q;
        if (aml_int(p, end, &a, &q) < 0)
            return -1;
        if (aml_int(q, end, &b, &q) < 0)
            b = a;
        *typa = a;
        *typb = b;
        return 0;
    }
    return -1;
}

/* Reads an AML integer constant (Byte/Word/DWord/QWordPrefix, Zero, One) into *v. */
static int aml_const(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    unsigned n;

    if (p >= end)
        return -1;
    switch (p[0]) {
    case 0x00:
    case 0x01:
        *v = p[0];
        return 0;
    case 0x0a:
        n = 1;
        break;
    case 0x0b:
        n = 2;
        break;
    case 0x0c:
        n = 4;
        break;
    case 0x0e:
        n = 8;
        break;
    default:
        return -1;
    }
    if (p + 1 + n > end)
        return -1;
    *v = 0;
    for (unsigned i = 0; i < n; i++)
        *v |= (uint64_t)p[1 + i] << (8 * i);
    return 0;
}

int acpi_find_ged(const uint8_t *aml, size_t len, struct acpi_ged *ged)
{
    static const uint8_t hid[] = { 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00 };
    const uint8_t *end = aml + len, *p = NULL;

    for (size_t i = 0; i + sizeof(hid) <= len; i++)
        if (memcmp(aml + i, hid, sizeof(hid)) == 0) {
            p = aml + i + sizeof(hid);
            break;
        }
    if (!p)
        return -1;
    /* the device's body: up to the next Device() opcode or 512 bytes */
    const uint8_t *stop = p + 512 < end ? p + 512 : end;
    for (const uint8_t *q = p; q + 1 < stop; q++)
        if (q[0] == 0x5b && q[1] == 0x82) {
            stop = q;
            break;
        }
    struct acpi_ged g = { .pwr_mask = 2 };
    int have_irq = 0, have_reg = 0, have_mask = 0;
    for (const uint8_t *q = p; q < stop; q++) {
        if (!have_irq && q[0] == 0x89 && q + 9 <= stop && q[4] >= 1) {
            uint8_t fl = q[3];
            g.gsi = rd32(q + 5);
            /* MPS form: polarity 1 high / 3 low, trigger 1 edge / 3 level */
            g.mps_flags = (uint16_t)(((fl & 4) ? 3 : 1) | (((fl & 2) ? 1 : 3) << 2));
            have_irq = 1;
        } else if (!have_reg && q[0] == 0x5b && q[1] == 0x80 && q + 7 < stop && q[6] == 0x00) {
            uint64_t a;
            if (aml_const(q + 7, stop, &a) == 0 && a) {
                g.sel_addr = a;
                have_reg = 1;
            }
        } else if (!have_mask && q[0] == 0x7b && q + 4 <= stop && q[1] >= 0x60 && q[1] <= 0x67 &&
                   q[2] == 0x0a && q[3]) {
            g.pwr_mask = q[3];
            have_mask = 1;
        }
    }
    if (!have_irq || !have_reg)
        return -1;
    g.present = 1;
    *ged = g;
    return 0;
}

int acpi_parse(struct acpi_info *info, uint64_t rsdp_pa, acpi_map_fn map, void *ctx, char *err,
               size_t errlen)
{
    const uint8_t *r = rsdp_pa ? rsdp_at(rsdp_pa, map, ctx) : NULL;

    if (!r) {
        set_err(err, errlen, "no valid ACPI RSDP (signature 'RSD PTR ' with a good checksum)");
        return -1;
    }
    info->have_rsdp = 1;
    info->rsdp_pa = rsdp_pa;
    memcpy(info->oem_id, r + 9, 6);
    info->oem_id[6] = '\0';

    uint64_t root = rd32(r + 16);
    unsigned esz = 4;
    if (r[15] >= 2) {
        const uint8_t *x = map(rsdp_pa, 36, ctx);
        if (x && rd64(x + 24)) {
            root = rd64(x + 24);
            esz = 8;
        }
    }
    uint32_t rlen;
    const uint8_t *rt = map_table(info, root, map, ctx, &rlen);
    if (!rt || memcmp(rt, esz == 8 ? "XSDT" : "RSDT", 4) != 0) {
        set_err(err, errlen, esz == 8 ? "ACPI XSDT unreadable or bad signature"
                                      : "ACPI RSDT unreadable or bad signature");
        return -1;
    }
    for (uint32_t off = 36; off + esz <= rlen; off += esz) {
        uint64_t pa = esz == 8 ? rd64(rt + off) : rd32(rt + off);
        uint32_t len;
        const uint8_t *t = map_table(info, pa, map, ctx, &len);
        if (!t)
            continue;
        if (memcmp(t, "APIC", 4) == 0 && !info->cpu_source)
            parse_madt(info, t, len);
        else if (memcmp(t, "FACP", 4) == 0 && !info->have_fadt)
            parse_fadt(info, t, len);
    }
    if (info->dsdt_pa) {
        uint32_t len;
        const uint8_t *d = map_table(info, info->dsdt_pa, map, ctx, &len);
        if (d && memcmp(d, "DSDT", 4) == 0) {
            if (acpi_find_s5(d + 36, len - 36, &info->s5_typa, &info->s5_typb) == 0)
                info->have_s5 = 1;
            acpi_find_ged(d + 36, len - 36, &info->ged);
        }
    }
    return 0;
}

/* ---- MP table ---- */

static uint64_t mp_scan(uint64_t start, uint64_t len, acpi_map_fn map, void *ctx)
{
    for (uint64_t pa = start; pa + 16 <= start + len; pa += 16) {
        const uint8_t *p = map(pa, 16, ctx);
        if (p && memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && sum8(p, 16) == 0)
            return pa;
    }
    return 0;
}

int mp_parse(struct acpi_info *info, acpi_map_fn map, void *ctx)
{
    uint64_t fp = 0;
    const uint8_t *bda = map(0x40e, 2, ctx);

    if (bda) {
        uint64_t ebda = (uint64_t)rd16(bda) << 4;
        if (ebda >= 0x80000 && ebda < 0xa0000)
            fp = mp_scan(ebda, 1024, map, ctx);
    }
    if (!fp)
        fp = mp_scan(0x9fc00, 1024, map, ctx);
    if (!fp)
        fp = mp_scan(0xf0000, 0x10000, map, ctx);
    if (!fp)
        return -1;
    const uint8_t *f = map(fp, 16, ctx);
    uint32_t cfg = rd32(f + 4);
    if (!cfg || f[11] != 0)
        return -1; /* default configurations (feature byte 1) are not supported */
    const uint8_t *h = map(cfg, 44, ctx);
    if (!h || memcmp(h, "PCMP", 4) != 0)
        return -1;
    uint16_t len = rd16(h + 4);
    const uint8_t *t = len >= 44 ? map(cfg, len, ctx) : NULL;
    if (!t)
        return -1;
    if (sum8(t, len) != 0)
        info->bad_checksums++;
    info->lapic_addr = rd32(t + 36);
    unsigned before = info->ncpus;
    uint16_t count = rd16(t + 34);
    for (uint32_t off = 44, i = 0; i < count && off < len; i++) {
        uint8_t type = t[off];
        uint32_t elen = type == 0 ? 20 : 8;
        if (off + elen > len || type > 4)
            break;
        if (type == 0 && (t[off + 3] & 1)) {
            add_cpu(info, t[off + 1]);
            info->ncpus_possible++;
        } else if (type == 2 && (t[off + 3] & 1) && !info->have_ioapic) {
            info->have_ioapic = 1;
            info->ioapic_id = t[off + 1];
            info->ioapic_addr = rd32(t + off + 4);
            info->ioapic_gsi_base = 0;
        }
        off += elen;
    }
    if (info->ncpus == before)
        return -1;
    info->cpu_source = "MP table";
    return 0;
}

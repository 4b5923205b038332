/*
 * tests/guest/cpuhp.c - CPU hot-add and hot-remove through ACPI (see cpuhp.h). The event
 * path is the one Linux takes: SCI -> GPE0_STS bit -> (the _Exx method, which we do not
 * interpret: its effect is done here) walk the register block: for each selector with an
 * insert event, clear it and start the CPU; with a remove event, clear it, take the CPU
 * offline, then write the eject bit (what _EJ0 does). Threads: the boot CPU.
 */
#include "cpuhp.h"

#include "lib.h"
#ifndef CPUHP_HOST_TEST /* test_cpuhp builds only the pure parser on the host */
#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "fmt.h"
#include "power.h"
#include "shell.h"
#include "smp.h"
#endif

#define FLAG_PRESENT 1
#define FLAG_INSERT 2
#define FLAG_REMOVE 4
#define FLAG_EJECT 8


static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int hexdig(uint8_t c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* An AML integer at p (Zero, One, Byte/Word/DWordPrefix); returns its size or 0. */
static size_t aml_intval(const uint8_t *p, const uint8_t *end, uint32_t *v)
{
    if (p >= end)
        return 0;
    if (p[0] == 0x00 || p[0] == 0x01) {
        *v = p[0];
        return 1;
    }
    size_t n = p[0] == 0x0a ? 1 : p[0] == 0x0b ? 2 : p[0] == 0x0c ? 4 : 0;
    if (!n || p + 1 + n > end)
        return 0;
    *v = 0;
    for (size_t i = 0; i < n; i++)
        *v |= (uint32_t)p[1 + i] << (8 * i);
    return n + 1;
}

int cpuhp_parse_dsdt(struct cpuhp_info *hp, const uint8_t *aml, size_t len)
{
    static const uint8_t cpu_hid[] = {0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0};
    static const uint8_t cont_hid[] = {0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '0', 0};
    const uint8_t *end = aml + len;
    size_t cont = len;
    int have_base = 0, have_gpe = 0;

    hp->nslots = 0;
    for (size_t i = 0; i + sizeof(cpu_hid) <= len; i++) {
        if (memcmp(aml + i, cpu_hid, sizeof(cpu_hid)) == 0)
            hp->nslots++;
        else if (cont == len && memcmp(aml + i, cont_hid, sizeof(cont_hid)) == 0)
            cont = i;
    }
    /* QEMU's pc/q35 declare them with the ACPI 1.0 Processor() op (5B 83 PkgLength Name) */
    for (size_t i = 0; i + 2 < len; i++) {
        if (aml[i] != 0x5b || aml[i + 1] != 0x83)
            continue;
        size_t name = i + 2 + 1 + (aml[i + 2] >> 6);
        if (name + 4 <= len && (aml[name] == '_' || (aml[name] >= 'A' && aml[name] <= 'Z')))
            hp->nslots++;
    }
    /* the register block: OperationRegion(PRST, SystemIO, base, len) (QEMU's name too),
     * else the first SystemIO region after the processor container's _HID */
    for (int pass = 0; pass < 2 && !have_base; pass++) {
        for (size_t i = pass ? cont : 0; i + 8 <= len; i++) {
            const uint8_t *q = aml + i;
            if (q[0] != 0x5b || q[1] != 0x80 || q[6] != 0x01)
                continue;
            if (pass == 0 && memcmp(q + 2, "PRST", 4) != 0)
                continue;
            uint32_t base, rlen;
            size_t n = aml_intval(q + 7, end, &base);
            if (!n || !aml_intval(q + 7 + n, end, &rlen) || base > 0xfff0 || rlen < 5)
                continue;
            hp->base = (uint16_t)base;
            have_base = 1;
            break;
        }
    }
    /* the GPE: a method _Exx or _Lxx whose body calls CSCN within a few bytes */
    for (size_t i = 0; i + 4 <= len && !have_gpe; i++) {
        const uint8_t *q = aml + i;
        if (q[0] != '_' || (q[1] != 'E' && q[1] != 'L') || hexdig(q[2]) < 0 || hexdig(q[3]) < 0)
            continue;
        /* MethodOp PkgLength(1 or 2 bytes) NameString: "_E02", or "\\_GPE._E02" as QEMU
         * writes it; the body ends where the PkgLength says */
        size_t p = i, body_end;
        if (p >= 5 && aml[p - 5] == 0x2e)
            p -= 5;
        if (p >= 1 && aml[p - 1] == '\\')
            p--;
        if (p >= 2 && aml[p - 2] == 0x14 && (aml[p - 1] >> 6) == 0)
            body_end = p - 1 + aml[p - 1];
        else if (p >= 3 && aml[p - 3] == 0x14 && (aml[p - 2] >> 6) == 1)
            body_end = p - 2 + ((aml[p - 2] & 0x0fu) | (size_t)aml[p - 1] << 4);
        else
            continue;
        if (body_end > len)
            body_end = len;
        for (size_t j = i + 4; j + 4 <= body_end; j++)
            if (memcmp(aml + j, "CSCN", 4) == 0) {
                hp->gpe = (unsigned)(hexdig(q[2]) * 16 + hexdig(q[3]));
                have_gpe = 1;
                break;
            }
    }
    return have_base && have_gpe && hp->nslots ? 0 : -1;
}

int cpuhp_parse(struct cpuhp_info *hp, uint64_t rsdp_pa, acpi_map_fn map, void *ctx)
{
    memset(hp, 0, sizeof(*hp));
    const uint8_t *r = rsdp_pa ? map(rsdp_pa, 36, ctx) : NULL;
    if (!r)
        return -1;
    uint64_t root = rd32(r + 16);
    unsigned esz = 4;
    if (r[15] >= 2 && (rd32(r + 24) || rd32(r + 28))) {
        root = rd32(r + 24) | (uint64_t)rd32(r + 28) << 32;
        esz = 8;
    }
    const uint8_t *h = map(root, 36, ctx);
    uint32_t rlen = h ? rd32(h + 4) : 0;
    const uint8_t *rt = rlen >= 36 && rlen < 4096 ? map(root, rlen, ctx) : NULL;
    if (!rt)
        return -1;
    for (uint32_t off = 36; off + esz <= rlen; off += esz) {
        uint64_t pa = rd32(rt + off) | (esz == 8 ? (uint64_t)rd32(rt + off + 4) << 32 : 0);
        const uint8_t *f = map(pa, 36, ctx);
        if (!f || memcmp(f, "FACP", 4) != 0)
            continue;
        uint32_t flen = rd32(f + 4);
        if (flen < 116 || flen > 4096 || !(f = map(pa, flen, ctx)))
            return -1;
        hp->gpe0_blk = (uint16_t)rd32(f + 80);
        hp->gpe0_len = f[92];
        uint64_t dsdt = rd32(f + 40);
        if (flen >= 148 && (rd32(f + 140) || rd32(f + 144)))
            dsdt = rd32(f + 140) | (uint64_t)rd32(f + 144) << 32;
        if (flen >= 232 && f[220] == 1 && rd32(f + 224))
            hp->gpe0_blk = (uint16_t)rd32(f + 224);
        const uint8_t *d = map(dsdt, 36, ctx);
        uint32_t dlen = d ? rd32(d + 4) : 0;
        if (!d || memcmp(d, "DSDT", 4) != 0 || dlen < 36 || dlen > (1u << 20) ||
            !(d = map(dsdt, dlen, ctx)))
            return -1;
        if (!hp->gpe0_blk || hp->gpe0_len < 2 || cpuhp_parse_dsdt(hp, d + 36, dlen - 36) < 0 ||
            hp->gpe >= 8u * (hp->gpe0_len / 2))
            return -1;
        hp->present = 1;
        return 0;
    }
    return -1;
}

#ifndef CPUHP_HOST_TEST
static struct cpuhp_info info;
static volatile int kick;
static volatile int gpe_seen; /* the SCI handler found our GPE status set and cleared it */
static volatile unsigned long scis; /* SCIs taken since start-up (the cpuhp command) */
static int scan_all; /* the first look walks the slots whatever the GPE status says */
static struct guest *guest;

static const void *phys_map(uint64_t pa, uint64_t len, void *ctx)
{
    (void)ctx;
    if (pa + len < pa || pa + len > (4ULL << 30))
        return NULL;
    return (const void *)(uintptr_t)pa;
}

static uint16_t gpe_sts_port(void)
{
    return (uint16_t)(info.gpe0_blk + info.gpe / 8);
}

static uint8_t gpe_bit(void)
{
    return (uint8_t)(1u << (info.gpe % 8));
}

/* The SCI is level-triggered: it stays up while an enabled status bit is set. So the handler
 * acknowledges our GPE before the EOI, as Linux does for an edge (_Exx) GPE; otherwise the EOI
 * brings the same interrupt straight back, once per EOI, until the loop gets to clear it (a
 * storm where interrupts reach CPL 3). Clearing here loses nothing: the loop walks the slots
 * after this clear, and an event raised later sets the status again. Safe when re-entered. */
static void sci_handler(unsigned vector)
{
    __atomic_add_fetch(&scis, 1, __ATOMIC_RELAXED);
    if (inb(gpe_sts_port()) & gpe_bit()) {
        outb(gpe_sts_port(), gpe_bit());
        gpe_seen = 1;
    }
    power_sci(vector);  /* the power button shares the SCI (power.c acknowledges its own) */
    kick = 1;
    lapic_eoi();
}

static uint64_t hp_alloc(uint64_t size, uint64_t align)
{
    return mm_alloc(&guest->mm, size, align, 0);
}

void cpuhp_init(struct guest *g)
{
    guest = g;
    if (g->acpi.hw_reduced || !g->acpi.have_ioapic ||
        cpuhp_parse(&info, g->acpi.rsdp_pa, phys_map, NULL) < 0)
        return;
    outl(info.base, 0); /* QEMU: selects the modern interface; atoll-vmm: selector 0 */
    uint16_t sts = (uint16_t)(info.gpe0_blk + info.gpe / 8);
    uint16_t en = (uint16_t)(info.gpe0_blk + info.gpe0_len / 2 + info.gpe / 8);
    uint8_t bit = (uint8_t)(1u << (info.gpe % 8));
    cpu_set_handler(VEC_POWER, sci_handler);
    outb(sts, bit); /* clear the status (as ACPICA does before enabling a GPE) ... */
    outb(en, (uint8_t)(inb(en) | bit));
    scan_all = 1;   /* ... and walk the slots once: a CPU added during boot has its insert
                     * event set already (Linux finds such CPUs by its namespace scan) */
    kick = 1;
    con_printf("atoll-guest: cpu hotplug: registers 0x%x, GPE %u, %u slots\n", info.base,
               info.gpe, info.nslots);
}

static void handle_slot(unsigned sel, uint8_t f)
{
    if (f & FLAG_INSERT) {
        outb((uint16_t)(info.base + 4), FLAG_INSERT);
        if (smp_find_apic(sel) >= 0 || sel == lapic_id())
            return;
        int r = smp_hotadd(sel, hp_alloc);
        con_printf("atoll-guest: cpu %u %s online=%u\n", sel, r == 0 ? "added" : "FAILED to start",
                   smp_online());
    } else if (f & FLAG_REMOVE) {
        outb((uint16_t)(info.base + 4), FLAG_REMOVE);
        int idx = smp_find_apic(sel);
        if (idx > 0 && smp_offline((unsigned)idx) < 0) {
            con_printf("atoll-guest: cpu %u did not go offline: not ejected\n", sel);
            return;
        }
        outl(info.base, sel);
        outb((uint16_t)(info.base + 4), FLAG_EJECT);
        con_printf("atoll-guest: cpu %u removed online=%u\n", sel, smp_online());
    }
}

void cpuhp_poll(struct guest *g)
{
    (void)g;
    if (!info.present || !__atomic_exchange_n(&kick, 0, __ATOMIC_ACQ_REL))
        return;
    int seen = __atomic_exchange_n(&gpe_seen, 0, __ATOMIC_ACQ_REL);
    if (!seen && !(inb(gpe_sts_port()) & gpe_bit()) && !scan_all)
        return;
    scan_all = 0;
    outb(gpe_sts_port(), gpe_bit()); /* clear first: an event raised during the walk fires again */
    for (unsigned sel = 0; sel < info.nslots; sel++) {
        outl(info.base, sel);
        uint8_t f = inb((uint16_t)(info.base + 4));
        if (f & (FLAG_INSERT | FLAG_REMOVE))
            handle_slot(sel, f);
    }
}

void cpuhp_cmd(struct guest *g, int argc, char **argv)
{
    (void)g;
    (void)argc;
    (void)argv;
    if (!info.present) {
        con_printf("cpuhp none\n");
        return;
    }
    char present[256];
    size_t n = 0;
    present[0] = '\0';
    for (unsigned sel = 0; sel < info.nslots && n + 5 < sizeof(present); sel++) {
        outl(info.base, sel);
        if (!(inb((uint16_t)(info.base + 4)) & FLAG_PRESENT))
            continue;
        n += (size_t)fmt_format(present + n, sizeof(present) - n, "%s%u", n ? "," : "", sel);
    }
    con_printf("cpuhp slots=%u present=%s online=%u gpe=%u base=0x%x scis=%lu\n", info.nslots,
               present, smp_online(), info.gpe, info.base, scis);
}
#endif

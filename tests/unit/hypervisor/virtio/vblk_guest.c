/*
 * tests/unit/hypervisor/virtio/vblk_guest.c - a tiny PVH guest (32-bit, paging off, CPL 0)
 * that drives atoll-vmm's virtio-blk exactly as a driver would: finds the functions by
 * probing 0xCF8/0xCFC, walks their capability lists, enables MSI-X towards LAPIC vector
 * 0x40+n (disk 0) or routes INTx through the IOAPIC to vector 0x60+n (other disks: the
 * interrupt line register names the GSI), negotiates features, sets up one split queue, then GET_ID, writes, reads back,
 * posts a hostile (looping) chain, and reports on COM1. Used by
 * tests/integration/test_virtio_blk.py; every wait is bounded.
 */
#include <stdint.h>

#define COM1 0x3F8
#define LAPIC 0xFEE00000u
#define IOAPIC 0xFEC00000u
#define QSZ 16

static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" ::"a"(v), "Nd"(p)); }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p)); return v; }
#define MMIO8(a)  (*(volatile uint8_t *)(uintptr_t)(a))
#define MMIO16(a) (*(volatile uint16_t *)(uintptr_t)(a))
#define MMIO32(a) (*(volatile uint32_t *)(uintptr_t)(a))

static void puts_(const char *s) { while (*s) outb(COM1, (uint8_t)*s++); }
static void putx(uint32_t v)
{
    char b[11] = "0x";
    for (int i = 0; i < 8; i++)
        b[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 15];
    b[10] = 0;
    puts_(b);
}
static void putd(uint32_t v)
{
    char b[12];
    int i = 11;
    b[i] = 0;
    do { b[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    puts_(b + i);
}

static uint32_t cfg_rd(unsigned slot, unsigned off)
{
    outl(0xCF8, 0x80000000u | slot << 11 | (off & 0xFC));
    return inl(0xCFC) >> (8 * (off & 3));
}
static void cfg_wr16(unsigned slot, unsigned off, uint16_t v)
{
    outl(0xCF8, 0x80000000u | slot << 11 | (off & 0xFC));
    outw((uint16_t)(0xCFC + (off & 2)), v);
}

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct dev {
    unsigned slot, n;
    uint32_t common, notify, isr, devcfg, mult;
    struct desc *d;
    volatile uint16_t *avail; /* flags, idx, ring[QSZ], used_event */
    volatile uint16_t *used;  /* flags, idx, then {u32 id, u32 len}[QSZ] */
    uint16_t avail_idx, used_seen;
    uint8_t *hdr, *data, *status;
};

static uint32_t bar_addr(unsigned slot, unsigned bar)
{
    return cfg_rd(slot, 0x10 + 4 * bar) & ~0xFu; /* 64-bit BAR below 4 GiB */
}

static void memset_(void *p, int c, uint32_t n) { uint8_t *b = p; while (n--) *b++ = (uint8_t)c; }

/* Posts the chain at head 0 and waits for it; returns used len or -1 on timeout. */
static long submit(struct dev *v)
{
    v->avail[2 + v->avail_idx % QSZ] = 0;
    __asm__ volatile("" ::: "memory");
    v->avail[1] = ++v->avail_idx;
    __asm__ volatile("mfence" ::: "memory");
    if (!(v->used[0] & 1))
        MMIO16(v->notify) = 0; /* queue 0 */
    for (uint32_t i = 0; i < 50000000u; i++) {
        if (v->used[1] != v->used_seen) {
            volatile uint32_t *e = (volatile uint32_t *)(v->used + 2) + 2 * (v->used_seen % QSZ);
            v->used_seen++;
            return e[1];
        }
        __asm__ volatile("pause");
    }
    return -1;
}

static long blk_req(struct dev *v, uint32_t type, uint32_t sector, uint32_t len, int dev_writes)
{
    uint32_t *h = (uint32_t *)v->hdr;
    h[0] = type; h[1] = 0; h[2] = sector; h[3] = 0;
    *v->status = 0xEE;
    v->d[0] = (struct desc){(uint32_t)v->hdr, 16, 1, 1};
    v->d[1] = (struct desc){(uint32_t)v->data, len, (uint16_t)(1 | (dev_writes ? 2 : 0)), 2};
    v->d[2] = (struct desc){(uint32_t)v->status, 1, 2, 0};
    if (!len)
        v->d[0].next = 2;
    return submit(v);
}

static int setup(struct dev *v)
{
    uint32_t bar[6];
    for (unsigned b = 0; b < 6; b++)
        bar[b] = bar_addr(v->slot, b);
    unsigned msix = 0;
    for (unsigned p = cfg_rd(v->slot, 0x34) & 0xFF, k = 0; p && k < 48; k++) {
        unsigned id = cfg_rd(v->slot, p) & 0xFF;
        if (id == 0x11)
            msix = p;
        if (id == 0x09) {
            unsigned type = cfg_rd(v->slot, p + 3) & 0xFF, b = cfg_rd(v->slot, p + 4) & 0xFF;
            uint32_t off = cfg_rd(v->slot, p + 8);
            if (b < 6) {
                if (type == 1) v->common = bar[b] + off;
                if (type == 2) { v->notify = bar[b] + off; v->mult = cfg_rd(v->slot, p + 16); }
                if (type == 3) v->isr = bar[b] + off;
                if (type == 4) v->devcfg = bar[b] + off;
            }
        }
        p = (cfg_rd(v->slot, p + 1)) & 0xFF;
    }
    if (!v->common || !v->notify || !v->devcfg || !msix)
        return -1;
    if (v->n == 0) {
        /* MSI-X: vector 1 -> LAPIC 0, vector 0x40 + n; enable the function */
        uint32_t tbl = cfg_rd(v->slot, msix + 4);
        uint32_t t = bar[tbl & 7] + (tbl & ~7u);
        MMIO32(t + 16) = LAPIC;
        MMIO32(t + 20) = 0;
        MMIO32(t + 24) = 0x40 + v->n;
        MMIO32(t + 28) = 0; /* unmask */
        cfg_wr16(v->slot, msix + 2, 0x8000);
    } else {
        /* INTx: IOAPIC pin = interrupt line -> vector 0x60 + n, level, CPU 0, unmasked */
        unsigned gsi = cfg_rd(v->slot, 0x3C) & 0xFF;
        MMIO32(IOAPIC) = 0x10 + 2 * gsi;
        MMIO32(IOAPIC + 0x10) = (0x60 + v->n) | 1u << 15;
        MMIO32(IOAPIC) = 0x11 + 2 * gsi;
        MMIO32(IOAPIC + 0x10) = 0;
    }

    uint32_t c = v->common;
    MMIO8(c + 0x14) = 0;
    MMIO8(c + 0x14) = 1 | 2;
    MMIO32(c + 0x00) = 0;
    uint32_t f0 = MMIO32(c + 0x04);
    MMIO32(c + 0x08) = 0;
    MMIO32(c + 0x0C) = f0 & ((1u << 5) | (1u << 9) | (1u << 29)); /* RO, FLUSH, EVENT_IDX off */
    MMIO32(c + 0x0C) = f0 & ((1u << 5) | (1u << 9));
    MMIO32(c + 0x08) = 1;
    MMIO32(c + 0x0C) = 1; /* VERSION_1 */
    MMIO8(c + 0x14) = 1 | 2 | 8;
    if (!(MMIO8(c + 0x14) & 8))
        return -2;
    uint32_t base = 0x400000 + v->n * 0x10000;
    v->d = (struct desc *)base;
    v->avail = (volatile uint16_t *)(base + 0x1000);
    v->used = (volatile uint16_t *)(base + 0x2000);
    v->hdr = (uint8_t *)(base + 0x3000);
    v->status = (uint8_t *)(base + 0x3100);
    v->data = (uint8_t *)(base + 0x4000);
    memset_((void *)base, 0, 0x3000);
    MMIO16(c + 0x16) = 0;
    MMIO16(c + 0x18) = QSZ;
    MMIO16(c + 0x1A) = 1;
    MMIO32(c + 0x20) = base;
    MMIO32(c + 0x24) = 0;
    MMIO32(c + 0x28) = base + 0x1000;
    MMIO32(c + 0x2C) = 0;
    MMIO32(c + 0x30) = base + 0x2000;
    MMIO32(c + 0x34) = 0;
    v->notify += MMIO16(c + 0x1E) * v->mult;
    MMIO16(c + 0x1C) = 1;
    MMIO16(c + 0x10) = 0;
    MMIO8(c + 0x14) = 1 | 2 | 8 | 4;
    return (MMIO8(c + 0x14) & 0x40) ? -3 : (int)f0;
}

static int irr(unsigned vec)
{
    return (MMIO32(LAPIC + 0x200 + 0x10 * (vec / 32)) >> (vec % 32)) & 1;
}

void guest_main(uint32_t start_info);
void guest_main(uint32_t start_info)
{
    (void)start_info;
    MMIO32(LAPIC + 0xF0) = 0x1FF; /* software-enable the LAPIC; interrupts stay off (cli) */
    puts_("VBLK start\n");
    static struct dev devs[4];
    unsigned n = 0;
    for (unsigned s = 0; s < 32 && n < 4; s++) {
        uint32_t id = cfg_rd(s, 0);
        if (id == 0x10421af4) {
            devs[n].slot = s;
            devs[n].n = n;
            n++;
        }
    }
    puts_("VBLK disks "); putd(n); puts_("\n");
    for (unsigned i = 0; i < n; i++) {
        struct dev *v = &devs[i];
        int f = setup(v);
        puts_("VBLK disk "); putd(i); puts_(" slot "); putd(v->slot);
        if (f < 0) {
            puts_(" setup failed "); putd((uint32_t)-f); puts_("\n");
            continue;
        }
        int ro = (f >> 5) & 1;
        puts_(ro ? " ro" : " rw");
        puts_(" capacity "); putd(MMIO32(v->devcfg)); puts_("\n");

        long l = blk_req(v, 8, 0, 20, 1);
        v->data[20] = 0;
        puts_("VBLK id "); putd(i); puts_(" len "); putd((uint32_t)l); puts_(" '");
        puts_((char *)v->data); puts_("'\n");

        for (uint32_t k = 0; k < 4096; k++)
            v->data[k] = (uint8_t)(k ^ (0x5A + i));
        l = blk_req(v, 1, 8, 4096, 0);
        puts_("VBLK write "); putd(i); puts_(" status "); putd(*v->status); puts_("\n");
        memset_(v->data, 0, 4096);
        l = blk_req(v, 0, 8, 4096, 1);
        int good = *v->status == 0 && l == 4097;
        for (uint32_t k = 0; k < 4096 && good; k++)
            good = v->data[k] == (uint8_t)((ro ? 0xA5 : (k ^ (0x5A + i))));
        puts_("VBLK read "); putd(i); puts_(good ? " verify ok\n" : " verify BAD\n");
        blk_req(v, 4, 0, 0, 0);
        puts_("VBLK flush "); putd(i); puts_(" status "); putd(*v->status); puts_("\n");
        if (i == 0) {
            puts_("VBLK msi "); putd(i); puts_(irr(0x40 + i) ? " pending\n" : " none\n");
        } else {
            int pend = irr(0x60 + i);
            uint8_t isr = MMIO8(v->isr); /* acknowledges and lowers the line */
            puts_("VBLK intx "); putd(i); puts_(pend ? " pending" : " none");
            puts_(" isr "); putd(isr); puts_("\n");
        }

        /* hostile: a two-descriptor loop, then a buffer outside RAM, then a normal read */
        v->d[0] = (struct desc){(uint32_t)v->hdr, 16, 1, 1};
        v->d[1] = (struct desc){(uint32_t)v->data, 512, 1, 0};
        l = submit(v);
        puts_("VBLK loop "); putd(i); puts_(" len "); putd((uint32_t)l); puts_("\n");
        v->d[0] = (struct desc){(uint32_t)v->hdr, 16, 1, 1};
        v->d[1] = (struct desc){0xFFFFF000u, 0x100000, 3, 2};
        v->d[2] = (struct desc){(uint32_t)v->status, 1, 2, 0};
        l = submit(v);
        puts_("VBLK oob "); putd(i); puts_(" len "); putd((uint32_t)l); puts_("\n");
        l = blk_req(v, 0, 8, 512, 1);
        puts_("VBLK after "); putd(i); puts_(" status "); putd(*v->status); puts_("\n");
    }
    puts_("VBLK done "); putx(n); puts_("\n");
    outw(0x604, 0x3400); /* ACPI S5 */
}

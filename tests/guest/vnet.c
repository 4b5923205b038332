/*
 * tests/guest/vnet.c - virtio-net driver (see vnet.h): PCI probing, virtio-pci modern setup,
 * receive ring refilling, transmit with a free list of descriptors, MSI-X, and hostile chains.
 * Buffers are identity-mapped RAM from the page allocator (virtual = physical).
 * Threads: boot CPU only. Trust: the device is the VMM under test; waits are bounded.
 */
#include "vnet.h"

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "memmap.h"
#include "pci.h"
#include "timer.h"

#define QSZ 256
#define BUF 2048
#define HDR 12
#define F_MAC 5
#define F_STATUS 16
#define QMEM (4 * 4096) /* desc, avail, used (2 pages) */

struct vdesc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vqg {
    struct vdesc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[QSZ], used_event */
    volatile uint8_t *used;   /* flags, idx, {id, len}[QSZ], avail_event */
    uint64_t notify;
    uint16_t avail_idx, used_seen;
};

struct vnet_dev {
    unsigned idx, slot;
    uint64_t common, notify, devcfg, isr;
    uint32_t mult;
    uint8_t mac[6];
    int ready, has_status, msix;
    uint8_t *mem; /* two queues, then the receive and transmit buffers */
    struct vqg rx, tx;
    uint8_t *rxbuf, *txbuf;
    uint16_t free_tx[QSZ];
    unsigned nfree;
};

static struct vnet_dev nics[VNET_MAX];
static unsigned nnics;
static int probed;
static volatile uint64_t irq_count;

static inline void w8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void w16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline void w32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static inline uint8_t r8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t r16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
static inline uint32_t r32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

static uint16_t used_idx(struct vqg *q) { return *(volatile uint16_t *)(q->used + 2); }
static uint32_t used_id(struct vqg *q, uint16_t i)
{
    return *(volatile uint32_t *)(q->used + 4 + 8 * (i % QSZ));
}
static uint32_t used_len(struct vqg *q, uint16_t i)
{
    return *(volatile uint32_t *)(q->used + 8 + 8 * (i % QSZ));
}

static void vnet_irq(unsigned vector)
{
    (void)vector;
    irq_count++;
    lapic_eoi();
}

uint64_t vnet_irqs(void)
{
    return irq_count;
}

/* Publishes the avail index and, unless defer, kicks if the device did not ask not to be. */
static void publish_ex(struct vqg *q, int defer)
{
    barrier();
    q->avail[1] = q->avail_idx;
    mb();
    if (!defer && !(*(volatile uint16_t *)q->used & 1))
        w16(q->notify, 0);
}

static void publish(struct vqg *q)
{
    publish_ex(q, 0);
}

/* Configures queue n of d over memory m; 0 or -1. */
static int queue_setup(struct vnet_dev *d, unsigned n, struct vqg *q, uint8_t *m, uint16_t vec)
{
    uint64_t c = d->common;
    w16(c + 0x16, (uint16_t)n);
    if (r16(c + 0x18) < QSZ)
        return -1;
    w16(c + 0x18, QSZ);
    w16(c + 0x1A, vec);
    q->desc = (struct vdesc *)m;
    q->avail = (volatile uint16_t *)(m + 4096);
    q->used = m + 8192;
    q->avail_idx = q->used_seen = 0;
    uint64_t a[3] = {(uintptr_t)q->desc, (uintptr_t)q->avail, (uintptr_t)q->used};
    for (int i = 0; i < 3; i++) {
        w32(c + 0x20 + 8 * i, (uint32_t)a[i]);
        w32(c + 0x24 + 8 * i, (uint32_t)(a[i] >> 32));
    }
    q->notify = d->notify + (uint64_t)r16(c + 0x1E) * d->mult;
    w16(c + 0x1C, 1);
    return 0;
}

/* MSI-X entry 0 -> VEC_VNET on this CPU; 0 if the device has MSI-X. */
static int msix_setup(struct vnet_dev *d)
{
    unsigned cap = pci_find_cap(d->slot, 0x11, 0);
    if (!cap)
        return -1;
    uint32_t tbl = pci_read32(d->slot, cap + 4);
    uint64_t t = pci_bar(d->slot, tbl & 7) + (tbl & ~7u);
    w32(t + 0, 0xFEE00000u | lapic_id() << 12);
    w32(t + 4, 0);
    w32(t + 8, VEC_VNET);
    w32(t + 12, 0);
    pci_write16(d->slot, cap + 2, 0x8000);
    return 0;
}

/* Resets the device and sets up both queues; 0 or a negative step number. */
static int vnet_setup(struct guest *g, struct vnet_dev *d)
{
    uint64_t bar[6];
    d->ready = 0;
    for (unsigned b = 0; b < 6; b++)
        bar[b] = pci_bar(d->slot, b);
    d->common = d->notify = d->devcfg = d->isr = 0;
    for (unsigned p = pci_find_cap(d->slot, 0x09, 0); p; p = pci_find_cap(d->slot, 0x09, p)) {
        unsigned type = pci_read8(d->slot, p + 3), b = pci_read8(d->slot, p + 4);
        uint32_t off = pci_read32(d->slot, p + 8);
        if (b > 5 || !bar[b])
            continue;
        if (type == 1 && !d->common)
            d->common = bar[b] + off;
        if (type == 2 && !d->notify) {
            d->notify = bar[b] + off;
            d->mult = pci_read32(d->slot, p + 16);
        }
        if (type == 3 && !d->isr)
            d->isr = bar[b] + off;
        if (type == 4 && !d->devcfg)
            d->devcfg = bar[b] + off;
    }
    if (!d->common || !d->notify || !d->devcfg)
        return -1;
    pci_write16(d->slot, 0x04, 0x0006); /* memory decode + bus master */
    uint64_t c = d->common;
    w8(c + 0x14, 0);
    for (int i = 0; i < 1000 && r8(c + 0x14); i++)
        cpu_relax();
    w8(c + 0x14, 1 | 2);
    w32(c + 0x00, 0);
    uint32_t f0 = r32(c + 0x04);
    w32(c + 0x00, 1);
    if (!(r32(c + 0x04) & 1))
        return -2; /* not a modern device */
    uint32_t want = f0 & ((1u << F_MAC) | (1u << F_STATUS));
    w32(c + 0x08, 0);
    w32(c + 0x0C, want);
    w32(c + 0x08, 1);
    w32(c + 0x0C, 1); /* VERSION_1 */
    w8(c + 0x14, 1 | 2 | 8);
    if (!(r8(c + 0x14) & 8))
        return -3;
    d->has_status = (want >> F_STATUS) & 1;
    if (!d->mem) {
        uint64_t m = mm_alloc(&g->mm, 2 * QMEM + 2 * QSZ * BUF, 4096, 0);
        if (!m)
            return -4;
        d->mem = (uint8_t *)(uintptr_t)m;
    }
    memset(d->mem, 0, 2 * QMEM);
    d->rxbuf = d->mem + 2 * QMEM;
    d->txbuf = d->rxbuf + QSZ * BUF;
    int msix = d->msix = msix_setup(d) == 0;
    if (msix)
        w16(c + 0x10, 0); /* config changes on entry 0 */
    if (queue_setup(d, 0, &d->rx, d->mem, msix ? 0 : 0xFFFF) < 0 ||
        queue_setup(d, 1, &d->tx, d->mem + QMEM, msix ? 0 : 0xFFFF) < 0)
        return -5;
    d->tx.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: completions polled, unless the ring fills */
    for (unsigned i = 0; i < QSZ; i++) {
        d->rx.desc[i] = (struct vdesc){(uintptr_t)(d->rxbuf + i * BUF), BUF, 2, 0};
        d->rx.avail[2 + i] = (uint16_t)i;
        d->free_tx[i] = (uint16_t)(QSZ - 1 - i);
    }
    d->nfree = QSZ;
    d->rx.avail_idx = QSZ;
    d->rx.avail[1] = QSZ;
    w8(c + 0x14, 1 | 2 | 8 | 4);
    if (r8(c + 0x14) & 0x40)
        return -6;
    for (int i = 0; i < 6; i++)
        d->mac[i] = (want & (1u << F_MAC)) ? r8(d->devcfg + (unsigned)i) : 0;
    d->ready = 1;
    publish(&d->rx);
    return 0;
}

unsigned vnet_probe(struct guest *g)
{
    if (probed)
        return nnics;
    probed = 1;
    cpu_set_handler(VEC_VNET, vnet_irq);
    for (unsigned s = 0; s < 32 && nnics < VNET_MAX; s++) {
        uint32_t id = pci_read32(s, 0);
        if (id != 0x10411af4 && id != 0x10001af4) /* modern, or transitional (QEMU) */
            continue;
        struct vnet_dev *d = &nics[nnics];
        d->idx = nnics++;
        d->slot = s;
        int rc = vnet_setup(g, d);
        if (rc < 0)
            con_printf("error: nic at slot %u: setup failed at step %d\n", s, -rc);
    }
    return nnics;
}

struct vnet_dev *vnet_get(unsigned i)
{
    return i < nnics && nics[i].ready ? &nics[i] : NULL;
}

unsigned vnet_index(const struct vnet_dev *d) { return d->idx; }
unsigned vnet_slot(const struct vnet_dev *d) { return d->slot; }
const uint8_t *vnet_mac(const struct vnet_dev *d) { return d->mac; }

int vnet_link_up(struct vnet_dev *d)
{
    if (!d->has_status)
        return 1;
    return r16(d->devcfg + 6) & 1;
}

/* Takes back the transmit descriptors the device has finished with. */
static void tx_reclaim(struct vnet_dev *d)
{
    while (used_idx(&d->tx) != d->tx.used_seen) {
        barrier();
        uint32_t id = used_id(&d->tx, d->tx.used_seen);
        d->tx.used_seen++;
        if (id < QSZ && d->nfree < QSZ)
            d->free_tx[d->nfree++] = (uint16_t)id;
    }
}

int vnet_send(struct vnet_dev *d, const void *frame, unsigned len)
{
    return vnet_send_ex(d, frame, len, 0);
}

void vnet_flush(struct vnet_dev *d)
{
    if (d->ready)
        publish(&d->tx);
}

int vnet_send_ex(struct vnet_dev *d, const void *frame, unsigned len, int more)
{
    if (!d->ready || len < 14 || len > BUF - HDR)
        return -1;
    tx_reclaim(d);
    if (!d->nfree) {
        /* ring full: sleep until the device's completion interrupt (as Linux stops its
         * queue) rather than spin, leaving the host CPU to the device's thread */
        d->tx.avail[0] = 0;
        mb();
        w16(d->tx.notify, 0); /* make sure the device looks */
        uint64_t end = timer_now_ns() + 1000000000ULL;
        tx_reclaim(d);
        while (!d->nfree && timer_now_ns() < end) {
            if (d->msix)
                cpu_idle();
            else
                cpu_relax();
            tx_reclaim(d);
        }
        d->tx.avail[0] = 1;
        if (!d->nfree)
            return -1;
    }
    uint16_t id = d->free_tx[--d->nfree];
    uint8_t *b = d->txbuf + (uint64_t)id * BUF;
    memset(b, 0, HDR);
    memcpy(b + HDR, frame, len);
    d->tx.desc[id] = (struct vdesc){(uintptr_t)b, HDR + len, 0, 0};
    d->tx.avail[2 + d->tx.avail_idx % QSZ] = id;
    d->tx.avail_idx++;
    publish_ex(&d->tx, more);
    return 0;
}

unsigned vnet_receive(struct vnet_dev *d, void (*fn)(struct vnet_dev *d, const uint8_t *frame,
                                                    unsigned len))
{
    unsigned n = 0;
    if (!d->ready)
        return 0;
    while (used_idx(&d->rx) != d->rx.used_seen && n < QSZ) {
        barrier();
        uint32_t id = used_id(&d->rx, d->rx.used_seen), len = used_len(&d->rx, d->rx.used_seen);
        d->rx.used_seen++;
        if (id >= QSZ)
            continue;
        if (len > HDR && len <= BUF)
            fn(d, d->rxbuf + id * BUF + HDR, len - HDR);
        d->rx.desc[id] = (struct vdesc){(uintptr_t)(d->rxbuf + id * BUF), BUF, 2, 0};
        d->rx.avail[2 + d->rx.avail_idx % QSZ] = (uint16_t)id;
        d->rx.avail_idx++;
        n++;
    }
    if (n)
        publish(&d->rx);
    return n;
}

int vnet_bad(struct vnet_dev *d, const char *kind)
{
    tx_reclaim(d);
    if (d->nfree < 3)
        return -1;
    uint16_t h = d->free_tx[--d->nfree], h2 = d->free_tx[--d->nfree];
    uint8_t *b = d->txbuf + (uint64_t)h * BUF;
    memset(b, 0, 64);
    memset(b + HDR, 0xFF, 6); /* broadcast, if it ever got out */
    d->tx.desc[h] = (struct vdesc){(uintptr_t)b, HDR, 1, h2};
    d->tx.desc[h2] = (struct vdesc){(uintptr_t)(b + HDR), 60, 0, 0};
    uint16_t head = h;
    if (!strcmp(kind, "loop"))
        d->tx.desc[h2] = (struct vdesc){(uintptr_t)(b + HDR), 60, 1, h};
    else if (!strcmp(kind, "oob"))
        d->tx.desc[h2].addr = 0xFFFFFFFFF000ULL;
    else if (!strcmp(kind, "huge"))
        d->tx.desc[h2].len = 0xFFFFFFF0u;
    else if (!strcmp(kind, "zero"))
        d->tx.desc[h2].len = 0;
    else if (!strcmp(kind, "index"))
        head = 0xFFFF;
    else {
        d->free_tx[d->nfree++] = h2;
        d->free_tx[d->nfree++] = h;
        return -1;
    }
    d->free_tx[d->nfree++] = h2; /* only h goes to the device */
    uint16_t before = d->tx.used_seen;
    d->tx.avail[2 + d->tx.avail_idx % QSZ] = head;
    d->tx.avail_idx++;
    publish(&d->tx);
    uint64_t end = timer_now_ns() + (head == 0xFFFF ? 200000000ULL : 2000000000ULL);
    while (timer_now_ns() < end && used_idx(&d->tx) == before)
        cpu_relax();
    long len = -1;
    if (used_idx(&d->tx) != before)
        len = (long)used_len(&d->tx, before);
    tx_reclaim(d);
    int nr = (r8(d->common + 0x14) & 0x40) != 0;
    if (nr) {
        d->ready = 0;
        if (d->isr)
            (void)r8(d->isr); /* acknowledges an INTx config interrupt */
    }
    con_printf("net bad nic=%u kind=%s len=%ld needs_reset=%d\n", d->idx, kind, len, nr);
    return 0;
}

int vnet_reset(struct guest *g, unsigned i)
{
    if (i >= nnics)
        return -1;
    return vnet_setup(g, &nics[i]) == 0 ? 0 : -1;
}

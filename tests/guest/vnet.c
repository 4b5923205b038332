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
#include "timer.h"
#include "vio.h"

#define QSZ 256
#define BUF 2048
#define HDR 12
#define F_MAC 5
#define F_STATUS 16

struct vnet_dev {
    unsigned idx;
    struct vio_dev vio;
    uint8_t mac[6];
    int ready, has_status;
    uint8_t *mem; /* two queues, then the receive and transmit buffers */
    struct vio_q rx, tx;
    uint8_t *rxbuf, *txbuf;
    uint16_t free_tx[QSZ];
    unsigned nfree;
};

static struct vnet_dev nics[VNET_MAX];
static unsigned nnics;
static int probed;
static volatile uint64_t irq_count;

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

/* Resets the device and sets up both queues; 0 or a negative step number. */
static int vnet_setup(struct guest *g, struct vnet_dev *d)
{
    uint32_t want = 0;
    d->ready = 0;
    int rc = vio_begin(&d->vio, (1u << F_MAC) | (1u << F_STATUS), &want);
    if (rc < 0)
        return rc;
    if (!d->vio.devcfg)
        return -1;
    d->has_status = (want >> F_STATUS) & 1;
    if (!d->mem) {
        uint64_t m = mm_alloc(&g->mm, 2 * VIO_QMEM + 2 * QSZ * BUF, 4096, 0);
        if (!m)
            return -4;
        d->mem = (uint8_t *)(uintptr_t)m;
    }
    d->rxbuf = d->mem + 2 * VIO_QMEM;
    d->txbuf = d->rxbuf + QSZ * BUF;
    int msix = vio_msix(&d->vio, VEC_VNET) == 0;
    if (msix)
        vio_config_vector(&d->vio, 0); /* config changes on entry 0 */
    if (vio_queue(&d->vio, 0, &d->rx, d->mem, QSZ, msix ? 0 : 0xFFFF) < 0 ||
        vio_queue(&d->vio, 1, &d->tx, d->mem + VIO_QMEM, QSZ, msix ? 0 : 0xFFFF) < 0)
        return -5;
    d->tx.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: completions polled, unless the ring fills */
    for (unsigned i = 0; i < QSZ; i++) {
        d->rx.desc[i] =
            (struct vio_desc){(uintptr_t)(d->rxbuf + i * BUF), BUF, VIO_DESC_WRITE, 0};
        vio_post(&d->rx, (uint16_t)i);
        d->free_tx[i] = (uint16_t)(QSZ - 1 - i);
    }
    d->nfree = QSZ;
    vio_expose(&d->rx);
    if (vio_ready(&d->vio) < 0)
        return -6;
    for (unsigned i = 0; i < 6; i++)
        d->mac[i] = (want & (1u << F_MAC)) ? vio_cfg8(&d->vio, i) : 0;
    d->ready = 1;
    vio_publish(&d->rx);
    return 0;
}

unsigned vnet_probe(struct guest *g)
{
    if (probed)
        return nnics;
    probed = 1;
    cpu_set_handler(VEC_VNET, vnet_irq);
    /* modern 0x1041, or transitional 0x1000 (QEMU) */
    for (int s = vio_find(1, 0x1000, 0); s >= 0 && nnics < VNET_MAX;
         s = vio_find(1, 0x1000, (unsigned)s + 1)) {
        struct vnet_dev *d = &nics[nnics];
        d->idx = nnics++;
        d->vio.slot = (unsigned)s;
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
unsigned vnet_slot(const struct vnet_dev *d) { return d->vio.slot; }
const uint8_t *vnet_mac(const struct vnet_dev *d) { return d->mac; }

int vnet_link_up(struct vnet_dev *d)
{
    if (!d->has_status)
        return 1;
    return vio_cfg16(&d->vio, 6) & 1;
}

/* Returns transmit descriptor id (from the used ring, so checked) to the free list. */
static void tx_free(struct vnet_dev *d, uint32_t id)
{
    if (id < QSZ && d->nfree < QSZ)
        d->free_tx[d->nfree++] = (uint16_t)id;
}

/* Takes back the transmit descriptors the device has finished with. */
static void tx_reclaim(struct vnet_dev *d)
{
    uint32_t id, len;
    while (vio_used(&d->tx, &id, &len))
        tx_free(d, id);
}

int vnet_send(struct vnet_dev *d, const void *frame, unsigned len)
{
    return vnet_send_ex(d, frame, len, 0);
}

void vnet_flush(struct vnet_dev *d)
{
    if (d->ready)
        vio_publish(&d->tx);
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
        vio_expose(&d->tx); /* fences the flag before the kick */
        vio_kick(&d->tx);   /* make sure the device looks */
        uint64_t end = timer_now_ns() + 1000000000ULL;
        tx_reclaim(d);
        while (!d->nfree && timer_now_ns() < end) {
            if (d->vio.msix)
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
    d->tx.desc[id] = (struct vio_desc){(uintptr_t)b, HDR + len, 0, 0};
    vio_post(&d->tx, id);
    if (more)
        vio_expose(&d->tx);
    else
        vio_publish(&d->tx);
    return 0;
}

unsigned vnet_receive(struct vnet_dev *d, void (*fn)(struct vnet_dev *d, const uint8_t *frame,
                                                    unsigned len))
{
    unsigned n = 0;
    if (!d->ready)
        return 0;
    uint32_t id, len;
    while (n < QSZ && vio_used(&d->rx, &id, &len)) {
        if (id >= QSZ)
            continue;
        if (len > HDR && len <= BUF)
            fn(d, d->rxbuf + id * BUF + HDR, len - HDR);
        d->rx.desc[id] =
            (struct vio_desc){(uintptr_t)(d->rxbuf + id * BUF), BUF, VIO_DESC_WRITE, 0};
        vio_post(&d->rx, (uint16_t)id);
        n++;
    }
    if (n)
        vio_publish(&d->rx);
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
    d->tx.desc[h] = (struct vio_desc){(uintptr_t)b, HDR, VIO_DESC_NEXT, h2};
    d->tx.desc[h2] = (struct vio_desc){(uintptr_t)(b + HDR), 60, 0, 0};
    uint16_t head = h;
    if (!strcmp(kind, "loop"))
        d->tx.desc[h2] = (struct vio_desc){(uintptr_t)(b + HDR), 60, VIO_DESC_NEXT, h};
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
    vio_post(&d->tx, head);
    vio_publish(&d->tx);
    uint64_t end = timer_now_ns() + (head == 0xFFFF ? 200000000ULL : 2000000000ULL);
    uint32_t id, ulen;
    int got;
    while (!(got = vio_used(&d->tx, &id, &ulen)) && timer_now_ns() < end)
        cpu_relax();
    long len = -1;
    if (got) {
        len = (long)ulen;
        tx_free(d, id);
    }
    tx_reclaim(d);
    int nr = vio_needs_reset(&d->vio);
    if (nr) {
        d->ready = 0;
        vio_isr_ack(&d->vio); /* acknowledges an INTx config interrupt */
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

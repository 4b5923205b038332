/*
 * hypervisor/virtio/virtio_pci.c - virtio 1.x modern PCI transport (see virtio_pci.h).
 * Owns the transport registers, the queue configuration and the kick eventfds; the
 * device type owns request processing. Threads: vCPU threads take t->lock; I/O threads
 * only raise interrupts. Trust: every register write is validated before use.
 */
#include "virtio_pci.h"

#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* virtio PCI capability types */
enum { VPCI_CAP_COMMON = 1, VPCI_CAP_NOTIFY = 2, VPCI_CAP_ISR = 3, VPCI_CAP_DEVICE = 4,
       VPCI_CAP_PCI_CFG = 5 };

static struct vpci_dev *to_vpci(struct pci_dev *d)
{
    return (struct vpci_dev *)d->priv;
}

static void add_vcap(struct vpci_dev *t, uint8_t type, uint32_t off, uint32_t len)
{
    uint8_t cap_len = type == VPCI_CAP_NOTIFY ? 20 : 16;
    uint8_t o = pci_dev_add_cap(&t->pci, PCI_CAP_ID_VNDR, cap_len);
    uint8_t *c = t->pci.cfg + o;
    c[2] = cap_len;
    c[3] = type;
    c[4] = 0; /* BAR 0 */
    memcpy(c + 8, &off, 4);
    memcpy(c + 12, &len, 4);
    if (type == VPCI_CAP_NOTIFY) {
        uint32_t mult = VPCI_NOTIFY_MULT;
        memcpy(c + 16, &mult, 4);
    }
}

static uint64_t notify_addr(uint64_t bar, unsigned q)
{
    return bar + VPCI_NOTIFY_OFF + (uint64_t)q * VPCI_NOTIFY_MULT;
}

/* Moves the kick ioeventfds with BAR 0 (bus write lock held). */
static void vpci_bar_moved(struct pci_dev *d, unsigned bar, uint64_t old, uint64_t new_addr)
{
    struct vpci_dev *t = to_vpci(d);
    const struct pci_host_ops *h = d->bus ? pci_bus_host(d->bus) : NULL;
    if (bar != 0 || !h || !h->ioeventfd)
        return;
    for (unsigned q = 0; q < t->nq; q++) {
        if (t->ioeventfd_base)
            h->ioeventfd(h->opaque, t->q[q].kickfd, notify_addr(t->ioeventfd_base, q), 2, false);
    }
    t->ioeventfd_base = 0;
    if (!new_addr)
        return;
    for (unsigned q = 0; q < t->nq; q++) {
        if (h->ioeventfd(h->opaque, t->q[q].kickfd, notify_addr(new_addr, q), 2, true) < 0) {
            /* fall back to MMIO exits for all queues: undo what was registered */
            while (q-- > 0)
                h->ioeventfd(h->opaque, t->q[q].kickfd, notify_addr(new_addr, q), 2, false);
            return;
        }
    }
    t->ioeventfd_base = new_addr;
    (void)old;
}

/* Stops the device and returns every register to its reset value. t->lock held. */
static void vpci_reset(struct vpci_dev *t)
{
    if (t->started && t->ops->stop)
        t->ops->stop(t->dev);
    t->started = 0;
    t->guest_features = 0;
    t->dfselect = t->gfselect = 0;
    __atomic_store_n(&t->msix_config, VPCI_NO_VECTOR, __ATOMIC_RELAXED);
    t->queue_select = 0;
    __atomic_store_n(&t->status, 0, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&t->irq_lock);
    __atomic_store_n(&t->isr, 0, __ATOMIC_SEQ_CST);
    pci_intx_set(&t->pci, 0);
    pthread_mutex_unlock(&t->irq_lock);
    for (unsigned q = 0; q < t->nq; q++) {
        struct vpci_queue *vq = &t->q[q];
        vq->size = vq->max;
        vq->msix_vector = VPCI_NO_VECTOR;
        vq->enabled = 0;
        vq->desc = vq->avail = vq->used = 0;
        vq_reset(&vq->vq);
        uint64_t drain;
        while (read(vq->kickfd, &drain, sizeof(drain)) > 0) {
        }
    }
}

/* Status write: negotiation checks and DRIVER_OK start. t->lock held. */
static void vpci_status_write(struct vpci_dev *t, uint8_t v)
{
    uint8_t cur = __atomic_load_n(&t->status, __ATOMIC_SEQ_CST);
    if (v == 0) {
        vpci_reset(t);
        return;
    }
    if ((v & VIRTIO_S_FEATURES_OK) && !(cur & VIRTIO_S_FEATURES_OK)) {
        /* only features we offered, and always the modern interface */
        if ((t->guest_features & ~t->host_features) ||
            !(t->guest_features & (1ULL << VIRTIO_F_VERSION_1)))
            v &= (uint8_t)~VIRTIO_S_FEATURES_OK;
    }
    if ((v & VIRTIO_S_DRIVER_OK) && !(cur & VIRTIO_S_DRIVER_OK) && !t->started) {
        int bad = !(v & VIRTIO_S_FEATURES_OK);
        for (unsigned q = 0; q < t->nq && !bad; q++) {
            struct vpci_queue *vq = &t->q[q];
            if (!vq->enabled)
                continue;
            if (vq_init(&vq->vq, t->mem, vq->size, vq->desc, vq->avail, vq->used,
                        t->guest_features) < 0)
                bad = 1;
        }
        if (!bad && t->ops->start && t->ops->start(t->dev) < 0)
            bad = 1;
        if (bad) {
            v |= VIRTIO_S_NEEDS_RESET;
        } else {
            t->started = 1;
        }
    }
    __atomic_store_n(&t->status, (uint8_t)(cur | v), __ATOMIC_SEQ_CST);
}

/* Common configuration structure. t->lock held. */
static void common_read(struct vpci_dev *t, uint32_t off, void *data, unsigned size)
{
    struct vpci_queue *q = t->queue_select < t->nq ? &t->q[t->queue_select] : NULL;
    uint64_t v = 0;
    switch (off) {
    case 0x00: v = t->dfselect; break;
    case 0x04: v = t->dfselect < 2 ? (uint32_t)(t->host_features >> (32 * t->dfselect)) : 0; break;
    case 0x08: v = t->gfselect; break;
    case 0x0C: v = t->gfselect < 2 ? (uint32_t)(t->guest_features >> (32 * t->gfselect)) : 0; break;
    case 0x10: v = t->msix_config; break;
    case 0x12: v = t->nq; break;
    case 0x14: v = __atomic_load_n(&t->status, __ATOMIC_SEQ_CST); break;
    case 0x15: v = t->config_gen; break;
    case 0x16: v = t->queue_select; break;
    case 0x18: v = q ? q->size : 0; break;
    case 0x1A: v = q ? q->msix_vector : VPCI_NO_VECTOR; break;
    case 0x1C: v = q ? q->enabled : 0; break;
    case 0x1E: v = q ? t->queue_select : 0; break;
    case 0x20: v = q ? q->desc : 0; break;
    case 0x24: v = q ? q->desc >> 32 : 0; break;
    case 0x28: v = q ? q->avail : 0; break;
    case 0x2C: v = q ? q->avail >> 32 : 0; break;
    case 0x30: v = q ? q->used : 0; break;
    case 0x34: v = q ? q->used >> 32 : 0; break;
    default: v = 0;
    }
    memcpy(data, &v, size);
}

static void set_half(uint64_t *field, uint32_t off, uint64_t v, unsigned size)
{
    if (size == 8)
        *field = v;
    else if (off & 4)
        *field = (*field & 0xFFFFFFFFULL) | (v << 32);
    else
        *field = (*field & ~0xFFFFFFFFULL) | (v & 0xFFFFFFFFULL);
}

static void common_write(struct vpci_dev *t, uint32_t off, const void *data, unsigned size)
{
    uint64_t v = 0;
    memcpy(&v, data, size);
    struct vpci_queue *q = t->queue_select < t->nq ? &t->q[t->queue_select] : NULL;
    uint8_t st = __atomic_load_n(&t->status, __ATOMIC_SEQ_CST);
    /* queue registers are frozen once the queue is enabled or the driver is running */
    bool qw = q && !q->enabled && !(st & VIRTIO_S_DRIVER_OK);
    switch (off) {
    case 0x00: t->dfselect = (uint32_t)v; break;
    case 0x08: t->gfselect = (uint32_t)v; break;
    case 0x0C:
        if (t->gfselect < 2 && !(st & VIRTIO_S_FEATURES_OK)) {
            unsigned sh = 32 * t->gfselect;
            t->guest_features = (t->guest_features & ~(0xFFFFFFFFULL << sh)) |
                                ((v & 0xFFFFFFFFULL) << sh);
        }
        break;
    case 0x10:
        __atomic_store_n(&t->msix_config, v < t->pci.msix_n ? (uint16_t)v : VPCI_NO_VECTOR,
                         __ATOMIC_RELAXED);
        break;
    case 0x14: vpci_status_write(t, (uint8_t)v); break;
    case 0x16: t->queue_select = (uint16_t)v; break;
    case 0x18:
        /* a power of two no larger than the maximum; anything else is ignored */
        if (qw && v && v <= q->max && !(v & (v - 1)))
            q->size = (uint16_t)v;
        break;
    case 0x1A:
        if (q)
            __atomic_store_n(&q->msix_vector, v < t->pci.msix_n ? (uint16_t)v : VPCI_NO_VECTOR,
                             __ATOMIC_RELAXED);
        break;
    case 0x1C:
        if (qw && v == 1)
            q->enabled = 1;
        break;
    case 0x20: case 0x24:
        if (qw)
            set_half(&q->desc, off, v, size);
        break;
    case 0x28: case 0x2C:
        if (qw)
            set_half(&q->avail, off, v, size);
        break;
    case 0x30: case 0x34:
        if (qw)
            set_half(&q->used, off, v, size);
        break;
    default: break;
    }
}

/* Register width of each common-config offset (0 = not a register start). */
static unsigned common_width(uint32_t off)
{
    switch (off) {
    case 0x00: case 0x04: case 0x08: case 0x0C: return 4;
    case 0x10: case 0x12: case 0x16: case 0x18: case 0x1A: case 0x1C: case 0x1E: return 2;
    case 0x14: case 0x15: return 1;
    case 0x20: case 0x28: case 0x30: return 8;
    case 0x24: case 0x2C: case 0x34: return 4;
    default: return 0;
    }
}

static void vpci_bar_read(struct pci_dev *d, unsigned bar, uint64_t off, void *data,
                          unsigned size)
{
    struct vpci_dev *t = to_vpci(d);
    memset(data, 0, size);
    if (bar != 0)
        return;
    pthread_mutex_lock(&t->lock);
    if (off < VPCI_ISR_OFF) {
        unsigned w = common_width((uint32_t)off);
        if (w == size || (w == 8 && size == 4))
            common_read(t, (uint32_t)off, data, size);
    } else if (off == VPCI_ISR_OFF) {
        /* reading the ISR acknowledges it and lowers INTx */
        pthread_mutex_lock(&t->irq_lock);
        uint8_t isr = __atomic_exchange_n(&t->isr, 0, __ATOMIC_SEQ_CST);
        pci_intx_set(&t->pci, 0);
        pthread_mutex_unlock(&t->irq_lock);
        memcpy(data, &isr, 1);
    } else if (off >= VPCI_DEVCFG_OFF && off < VPCI_NOTIFY_OFF) {
        uint64_t o = off - VPCI_DEVCFG_OFF;
        if (o + size <= t->ops->config_size && t->ops->config_read)
            t->ops->config_read(t->dev, (uint32_t)o, data, size);
    }
    pthread_mutex_unlock(&t->lock);
}

static void vpci_bar_write(struct pci_dev *d, unsigned bar, uint64_t off, const void *data,
                           unsigned size)
{
    struct vpci_dev *t = to_vpci(d);
    if (bar != 0)
        return;
    if (off >= VPCI_NOTIFY_OFF) {
        /* a notification that did not go through an ioeventfd */
        uint64_t q = (off - VPCI_NOTIFY_OFF) / VPCI_NOTIFY_MULT, one = 1;
        if (q < t->nq && write(t->q[q].kickfd, &one, sizeof(one)) < 0) {
            /* counter saturated: the I/O thread is already due to run */
        }
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (off < VPCI_ISR_OFF) {
        unsigned w = common_width((uint32_t)off);
        if (w == size || (w == 8 && size == 4))
            common_write(t, (uint32_t)off, data, size);
    } else if (off >= VPCI_DEVCFG_OFF) {
        uint64_t o = off - VPCI_DEVCFG_OFF;
        if (o + size <= t->ops->config_size && t->ops->config_write)
            t->ops->config_write(t->dev, (uint32_t)o, data, size);
    }
    pthread_mutex_unlock(&t->lock);
}

/*
 * VIRTIO_PCI_CAP_PCI_CFG (virtio 1.x 4.1.4.9): the driver sets bar, offset and length in the
 * capability, then reads or writes pci_cfg_data to access BAR 0 without mapping it (firmware
 * uses this). Only naturally aligned 1/2/4-byte accesses of BAR 0 are performed.
 */
static bool pcicfg_window(struct vpci_dev *t, unsigned off, unsigned size, uint32_t *boff,
                          unsigned *blen)
{
    unsigned data = t->pcicfg_cap + 16u;
    if (!t->pcicfg_cap || off < data || off + size > data + 4)
        return false;
    const uint8_t *c = t->pci.cfg + t->pcicfg_cap;
    uint32_t o, l;
    memcpy(&o, c + 8, 4);
    memcpy(&l, c + 12, 4);
    if (c[4] != 0 || (l != 1 && l != 2 && l != 4) || (o & (l - 1)) || o + l > VPCI_BAR0_SIZE)
        return false;
    *boff = o;
    *blen = l;
    return true;
}

static void vpci_cfg_read(struct pci_dev *d, unsigned off, unsigned size, uint32_t *val)
{
    struct vpci_dev *t = to_vpci(d);
    uint32_t o;
    unsigned l;
    if (!pcicfg_window(t, off, size, &o, &l))
        return;
    uint32_t v = 0;
    vpci_bar_read(d, 0, o, &v, l);
    uint8_t b[4] = {0};
    memcpy(b, &v, 4);
    uint32_t r = 0;
    memcpy(&r, b + (off - (t->pcicfg_cap + 16u)), size);
    *val = r;
}

static void vpci_cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
    struct vpci_dev *t = to_vpci(d);
    uint32_t o;
    unsigned l;
    if (!pcicfg_window(t, off, size, &o, &l) || size < l)
        return;
    vpci_bar_write(d, 0, o, &val, l);
}

static const struct pci_dev_ops vpci_pci_ops = {
    .bar_read = vpci_bar_read,
    .bar_write = vpci_bar_write,
    .bar_moved = vpci_bar_moved,
    .cfg_read = vpci_cfg_read,
    .cfg_write = vpci_cfg_write,
};

int vpci_init(struct vpci_dev *t, const struct vdev_ops *ops, void *dev, unsigned nq,
              uint16_t qmax, uint64_t features, const struct guestmem *mem)
{
    if (!ops || !mem || nq == 0 || nq > VPCI_MAX_QUEUES || !qmax || qmax > VQ_MAX_SIZE ||
        (qmax & (qmax - 1)) || ops->config_size > VPCI_NOTIFY_OFF - VPCI_DEVCFG_OFF)
        return -EINVAL;
    memset(t, 0, sizeof(*t));
    pci_dev_init(&t->pci, 0x1af4, (uint16_t)(0x1040 + ops->device_id), ops->class_code, 1,
                 0x1af4, 0x40);
    t->pci.ops = &vpci_pci_ops;
    t->pci.priv = t;
    t->ops = ops;
    t->dev = dev;
    t->mem = mem;
    t->nq = nq;
    t->host_features = features | (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VQ_F_EVENT_IDX) |
                       (1ULL << VQ_F_INDIRECT_DESC);
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->irq_lock, NULL);
    for (unsigned q = 0; q < nq; q++) {
        t->q[q].max = qmax;
        t->q[q].vq.mem = mem;
        t->q[q].kickfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (t->q[q].kickfd < 0) {
            int e = errno;
            while (q-- > 0)
                close(t->q[q].kickfd);
            pci_dev_fini(&t->pci);
            pthread_mutex_destroy(&t->lock);
            pthread_mutex_destroy(&t->irq_lock);
            return -e;
        }
    }
    int rc = pci_dev_add_bar64(&t->pci, 0, VPCI_BAR0_SIZE);
    if (rc == 0)
        rc = pci_dev_add_bar64(&t->pci, VPCI_MSIX_BAR, VPCI_BAR2_SIZE);
    if (rc == 0)
        rc = pci_msix_init(&t->pci, nq + 1 > PCI_MSIX_MAX_VECTORS ? PCI_MSIX_MAX_VECTORS : nq + 1,
                           VPCI_MSIX_BAR, 0, 0x800);
    if (rc < 0) {
        vpci_fini(t);
        return rc;
    }
    add_vcap(t, VPCI_CAP_COMMON, VPCI_COMMON_OFF, 0x38);
    add_vcap(t, VPCI_CAP_NOTIFY, VPCI_NOTIFY_OFF, nq * VPCI_NOTIFY_MULT);
    add_vcap(t, VPCI_CAP_ISR, VPCI_ISR_OFF, 1);
    if (ops->config_size)
        add_vcap(t, VPCI_CAP_DEVICE, VPCI_DEVCFG_OFF, ops->config_size);
    /* VIRTIO_PCI_CAP_PCI_CFG: bar, offset, length and the data window are driver-writable */
    uint8_t pc = pci_dev_add_cap(&t->pci, PCI_CAP_ID_VNDR, 20);
    if (pc) {
        t->pci.cfg[pc + 2] = 20;
        t->pci.cfg[pc + 3] = VPCI_CAP_PCI_CFG;
        t->pci.wmask[pc + 4] = 0xFF;
        memset(t->pci.wmask + pc + 8, 0xFF, 12);
        t->pcicfg_cap = pc;
    }
    vpci_reset(t);
    return 0;
}

void vpci_fini(struct vpci_dev *t)
{
    pthread_mutex_lock(&t->lock);
    if (t->started && t->ops->stop)
        t->ops->stop(t->dev);
    t->started = 0;
    pthread_mutex_unlock(&t->lock);
    const struct pci_host_ops *h = t->pci.bus ? pci_bus_host(t->pci.bus) : NULL;
    for (unsigned q = 0; q < t->nq; q++) {
        if (t->ioeventfd_base && h && h->ioeventfd)
            h->ioeventfd(h->opaque, t->q[q].kickfd, notify_addr(t->ioeventfd_base, q), 2, false);
        if (t->q[q].kickfd >= 0)
            close(t->q[q].kickfd);
        t->q[q].kickfd = -1;
    }
    t->ioeventfd_base = 0;
    pci_dev_fini(&t->pci);
    pthread_mutex_destroy(&t->lock);
    pthread_mutex_destroy(&t->irq_lock);
}

struct vq *vpci_vq(struct vpci_dev *t, unsigned q)
{
    if (q >= t->nq || !t->q[q].enabled)
        return NULL;
    return &t->q[q].vq;
}

int vpci_kickfd(struct vpci_dev *t, unsigned q)
{
    return q < t->nq ? t->q[q].kickfd : -1;
}

uint64_t vpci_features(const struct vpci_dev *t)
{
    return t->guest_features;
}

static void raise_irq(struct vpci_dev *t, uint16_t vector, uint8_t isr_bit)
{
    if (pci_msix_enabled(&t->pci)) {
        if (vector != VPCI_NO_VECTOR)
            pci_msix_notify(&t->pci, vector);
        return;
    }
    pthread_mutex_lock(&t->irq_lock);
    __atomic_or_fetch(&t->isr, isr_bit, __ATOMIC_SEQ_CST);
    pci_intx_set(&t->pci, 1);
    pthread_mutex_unlock(&t->irq_lock);
}

void vpci_lock(struct vpci_dev *t)
{
    pthread_mutex_lock(&t->lock);
}

void vpci_unlock(struct vpci_dev *t)
{
    pthread_mutex_unlock(&t->lock);
}

void vpci_notify_queue(struct vpci_dev *t, unsigned q)
{
    if (q < t->nq)
        raise_irq(t, __atomic_load_n(&t->q[q].msix_vector, __ATOMIC_RELAXED), 1);
}

void vpci_notify_config(struct vpci_dev *t)
{
    __atomic_add_fetch(&t->config_gen, 1, __ATOMIC_SEQ_CST);
    raise_irq(t, __atomic_load_n(&t->msix_config, __ATOMIC_RELAXED), 2);
}

void vpci_set_needs_reset(struct vpci_dev *t)
{
    uint8_t old = __atomic_fetch_or(&t->status, VIRTIO_S_NEEDS_RESET, __ATOMIC_SEQ_CST);
    if ((old & VIRTIO_S_DRIVER_OK) && !(old & VIRTIO_S_NEEDS_RESET))
        vpci_notify_config(t);
}

/*
 * tests/guest/vio.c - virtio 1.x modern PCI helpers for the guest's virtio drivers (see
 * vio.h). Register offsets are those of struct virtio_pci_common_cfg. Threads: boot CPU.
 */
#include "vio.h"

#include "apic.h"
#include "arch.h"
#include "lib.h"
#include "pci.h"

static inline void w8(uint64_t a, uint8_t v) { *(volatile uint8_t *)(uintptr_t)a = v; }
static inline void w16(uint64_t a, uint16_t v) { *(volatile uint16_t *)(uintptr_t)a = v; }
static inline void w32(uint64_t a, uint32_t v) { *(volatile uint32_t *)(uintptr_t)a = v; }
static inline uint8_t r8(uint64_t a) { return *(volatile uint8_t *)(uintptr_t)a; }
static inline uint16_t r16(uint64_t a) { return *(volatile uint16_t *)(uintptr_t)a; }
static inline uint32_t r32(uint64_t a) { return *(volatile uint32_t *)(uintptr_t)a; }
static inline void mb(void) { __asm__ volatile("mfence" ::: "memory"); }

enum { C_DFSEL = 0x00, C_DF = 0x04, C_GFSEL = 0x08, C_GF = 0x0C, C_MSIX = 0x10, C_STATUS = 0x14,
       C_QSEL = 0x16, C_QSIZE = 0x18, C_QMSIX = 0x1A, C_QEN = 0x1C, C_QNOFF = 0x1E,
       C_QDESC = 0x20 };

int vio_find(unsigned id, unsigned transitional, unsigned from)
{
    for (unsigned s = from; s < 32; s++) {
        uint32_t v = pci_read32(s, 0);
        if (v == (0x1af4u | (0x1040u + id) << 16) ||
            (transitional && v == (0x1af4u | transitional << 16)))
            return (int)s;
    }
    return -1;
}

int vio_begin(struct vio_dev *d, uint32_t want, uint32_t *got)
{
    uint64_t bar[6];
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
    if (!d->common || !d->notify)
        return -1;
    pci_write16(d->slot, 0x04, 0x0006); /* memory decode + bus master */
    uint64_t c = d->common;
    w8(c + C_STATUS, 0);
    for (int i = 0; i < 1000 && r8(c + C_STATUS); i++)
        cpu_relax();
    w8(c + C_STATUS, 1 | 2);
    w32(c + C_DFSEL, 0);
    uint32_t f0 = r32(c + C_DF);
    w32(c + C_DFSEL, 1);
    if (!(r32(c + C_DF) & 1))
        return -2; /* not a modern device */
    *got = f0 & want;
    w32(c + C_GFSEL, 0);
    w32(c + C_GF, *got);
    w32(c + C_GFSEL, 1);
    w32(c + C_GF, 1); /* VERSION_1 */
    w8(c + C_STATUS, 1 | 2 | 8);
    if (!(r8(c + C_STATUS) & 8))
        return -3;
    d->msix = 0;
    return 0;
}

int vio_msix_entry(struct vio_dev *d, unsigned entry, unsigned vector)
{
    unsigned cap = pci_find_cap(d->slot, 0x11, 0);
    if (!cap)
        return -1;
    uint32_t tbl = pci_read32(d->slot, cap + 4);
    uint64_t t = pci_bar(d->slot, tbl & 7) + (tbl & ~7u) + 16 * entry;
    w32(t + 0, 0xFEE00000u | lapic_id() << 12);
    w32(t + 4, 0);
    w32(t + 8, vector);
    w32(t + 12, 0);
    pci_write16(d->slot, cap + 2, 0x8000);
    d->msix = 1;
    return 0;
}

int vio_msix(struct vio_dev *d, unsigned vector)
{
    return vio_msix_entry(d, 0, vector);
}

int vio_intx(struct vio_dev *d, unsigned vector)
{
    unsigned line = pci_read8(d->slot, 0x3C);
    if (!d->isr || line == 0 || line >= 24)
        return -1;
    ioapic_route(line, vector, lapic_id(), 0x0D); /* level, active high */
    return (int)line;
}

uint8_t vio_isr_ack(struct vio_dev *d)
{
    return d->isr ? r8(d->isr) : 0;
}

uint16_t vio_config_vector(struct vio_dev *d, uint16_t entry)
{
    w16(d->common + C_MSIX, entry);
    return r16(d->common + C_MSIX);
}

uint16_t vio_queue_vector(struct vio_dev *d, unsigned n, uint16_t entry)
{
    w16(d->common + C_QSEL, (uint16_t)n);
    w16(d->common + C_QMSIX, entry);
    return r16(d->common + C_QMSIX);
}

int vio_queue(struct vio_dev *d, unsigned n, struct vio_q *q, uint8_t *mem, uint16_t size,
              uint16_t msix)
{
    uint64_t c = d->common;
    w16(c + C_QSEL, (uint16_t)n);
    uint16_t max = r16(c + C_QSIZE);
    if (!max || max < size || size > 256)
        return -1;
    w16(c + C_QSIZE, size);
    w16(c + C_QMSIX, msix);
    memset(mem, 0, VIO_QMEM);
    q->desc = (struct vio_desc *)mem;
    q->avail = (volatile uint16_t *)(mem + 4096);
    q->used = mem + 8192;
    q->size = size;
    q->avail_idx = q->used_seen = q->used_idx = 0;
    uint64_t a[3] = {(uintptr_t)q->desc, (uintptr_t)q->avail, (uintptr_t)q->used};
    for (int i = 0; i < 3; i++) {
        w32(c + C_QDESC + 8 * i, (uint32_t)a[i]);
        w32(c + C_QDESC + 4 + 8 * i, (uint32_t)(a[i] >> 32));
    }
    q->notify = d->notify + (uint64_t)r16(c + C_QNOFF) * d->mult;
    w16(c + C_QEN, 1);
    return 0;
}

int vio_ready(struct vio_dev *d)
{
    w8(d->common + C_STATUS, 1 | 2 | 8 | 4);
    return vio_needs_reset(d) ? -1 : 0;
}

int vio_needs_reset(struct vio_dev *d)
{
    return (r8(d->common + C_STATUS) & 0x40) != 0;
}

void vio_post(struct vio_q *q, uint16_t head)
{
    q->avail[2 + q->avail_idx % q->size] = head;
    q->avail_idx++;
}

void vio_expose(struct vio_q *q)
{
    barrier();
    q->avail[1] = q->avail_idx;
    mb();
}

void vio_kick(struct vio_q *q)
{
    w16(q->notify, 0);
}

void vio_publish(struct vio_q *q)
{
    vio_expose(q);
    if (!(*(volatile uint16_t *)q->used & 1))
        vio_kick(q);
}

int vio_used(struct vio_q *q, uint32_t *id, uint32_t *len)
{
    /* used->idx is a line the device keeps writing: read it once per batch of entries */
    if (q->used_idx == q->used_seen) {
        q->used_idx = *(volatile uint16_t *)(q->used + 2);
        if (q->used_idx == q->used_seen)
            return 0;
        barrier();
    }
    unsigned i = q->used_seen % q->size;
    *id = *(volatile uint32_t *)(q->used + 4 + 8 * i);
    *len = *(volatile uint32_t *)(q->used + 8 + 8 * i);
    q->used_seen++;
    return 1;
}

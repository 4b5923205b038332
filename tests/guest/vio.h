/*
 * tests/guest/vio.h - the small virtio 1.x PCI (modern) layer shared by the test guest's
 * blk, net, balloon and vsock drivers: device lookup, capability walk, reset and feature
 * negotiation, split-queue set-up in identity-mapped RAM, MSI-X entries, posting and
 * harvesting buffers. Threads: the boot CPU (command loop and its idle-time services).
 * Trust: the device is the VMM under test; nothing here waits.
 */
#ifndef GUEST_VIO_H
#define GUEST_VIO_H

#include <stdint.h>

#define VIO_QMEM (3 * 4096) /* ring memory per queue: desc, avail, used (size <= 256) */
#define VIO_DESC_NEXT 1
#define VIO_DESC_WRITE 2

struct vio_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};

struct vio_q {
    struct vio_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint8_t *used;   /* flags, idx, {id, len}[size], avail_event */
    uint64_t notify;
    uint16_t size, avail_idx, used_seen;
    uint16_t used_idx; /* used->idx as last read: re-read only when used_seen reaches it */
};

struct vio_dev {
    unsigned slot;
    uint64_t common, notify, devcfg, isr;
    uint32_t mult;
    int msix;
};

/* Slot of the next virtio device of type id (modern 0x1040+id, or the transitional id given,
 * 0 for none) at or after slot from; -1 if none. */
int vio_find(unsigned id, unsigned transitional, unsigned from);
/* Finds the structures, resets, negotiates VERSION_1 plus the wanted low feature bits that the
 * device offers (*got gets them). 0 or a negative step number. */
int vio_begin(struct vio_dev *d, uint32_t want, uint32_t *got);
/* Points MSI-X entry 0 at vector on this CPU and enables MSI-X; 0, or -1 without MSI-X. */
int vio_msix(struct vio_dev *d, unsigned vector);
/* The same for MSI-X table entry `entry` (fixed, edge, unmasked); 0, or -1 without MSI-X. */
int vio_msix_entry(struct vio_dev *d, unsigned entry, unsigned vector);
/* Sets up queue n with size entries (power of two <= 256, <= the device's maximum) in mem
 * (VIO_QMEM bytes, page-aligned); msix: MSI-X entry or 0xFFFF. 0 or -1. */
int vio_queue(struct vio_dev *d, unsigned n, struct vio_q *q, uint8_t *mem, uint16_t size,
              uint16_t msix);
/* DRIVER_OK; 0, or -1 if the device wants a reset. */
int vio_ready(struct vio_dev *d);
/* Without MSI-X: routes the function's INTx (the GSI in its Interrupt Line register, level,
 * active high as on atoll-vmm and QEMU's pc machine) to vector on this CPU. The handler must
 * then read the ISR (vio_isr_ack) to lower the line. Returns the GSI, or -1 if none. */
int vio_intx(struct vio_dev *d, unsigned vector);
/* Reads (and so clears) the ISR status: bit 0 queue, bit 1 config change. */
uint8_t vio_isr_ack(struct vio_dev *d);
/* Sets msix_config (entry for config changes, 0xFFFF none); returns what the device kept
 * (0xFFFF if it refused the entry). */
uint16_t vio_config_vector(struct vio_dev *d, uint16_t entry);
/* Sets queue n's MSI-X entry (0xFFFF none); returns what the device kept. */
uint16_t vio_queue_vector(struct vio_dev *d, unsigned n, uint16_t entry);
/* Whether the device needs a reset. */
int vio_needs_reset(struct vio_dev *d);

/* Puts head in the avail ring (not yet visible). */
void vio_post(struct vio_q *q, uint16_t head);
/* Makes posted buffers visible and notifies the device unless it asked not to be. */
void vio_publish(struct vio_q *q);
/* Makes posted buffers visible without notifying (a later vio_publish kicks). */
void vio_expose(struct vio_q *q);
/* Notifies the device of queue q, whatever it asked. */
void vio_kick(struct vio_q *q);
/* Takes the next used entry: 1 (id, len filled) or 0 if none. */
int vio_used(struct vio_q *q, uint32_t *id, uint32_t *len);

static inline uint8_t vio_cfg8(const struct vio_dev *d, unsigned off)
{
    return *(volatile uint8_t *)(uintptr_t)(d->devcfg + off);
}
static inline uint16_t vio_cfg16(const struct vio_dev *d, unsigned off)
{
    return *(volatile uint16_t *)(uintptr_t)(d->devcfg + off);
}
static inline uint32_t vio_cfg32(const struct vio_dev *d, unsigned off)
{
    return *(volatile uint32_t *)(uintptr_t)(d->devcfg + off);
}
static inline void vio_cfg32_write(const struct vio_dev *d, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)(d->devcfg + off) = v;
}

#endif

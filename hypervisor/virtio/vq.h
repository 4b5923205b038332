/*
 * hypervisor/virtio/vq.h - split-virtqueue engine (virtio 1.x, little-endian x86 host):
 * pops descriptor chains (direct and indirect) as iovecs into guest RAM, publishes used
 * entries and decides when to interrupt the driver (EVENT_IDX or flags).
 * Threads: one vq is used by one thread at a time (the owning device's I/O thread);
 * vq_init/vq_reset run while that thread is stopped.
 * Trust: every index, address and length read from the rings is guest-controlled.
 */
#ifndef VMM_VIRTIO_VQ_H
#define VMM_VIRTIO_VQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "guestmem.h"

#define VQ_MAX_SIZE  1024  /* largest queue size a device may offer */
#define VQ_MAX_SEGS  258   /* most descriptors in one chain (direct + indirect) */

/* descriptor flags (virtio 1.x 2.7.5) */
#define VQ_DESC_F_NEXT     1
#define VQ_DESC_F_WRITE    2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1
#define VQ_USED_F_NO_NOTIFY     1

/* feature bits the engine implements */
#define VQ_F_INDIRECT_DESC 28
#define VQ_F_EVENT_IDX     29

/* guest-visible ring layout */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[]; /* size entries, then uint16_t used_event */
};
struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};
struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[]; /* size entries, then uint16_t avail_event */
};

/* One popped request: iov[0..nout) are device-readable, iov[nout..nout+nin) device-writable. */
struct vq_chain {
    uint16_t head;
    uint16_t nout, nin;
    uint64_t out_len, in_len; /* total bytes of each part */
    struct iovec iov[VQ_MAX_SEGS];
};

struct vq {
    const struct guestmem *mem;
    uint16_t size;
    bool event_idx, indirect, broken, kicks_off;
    volatile struct vq_desc *desc;
    volatile struct vq_avail *avail;
    volatile struct vq_used *used;
    uint16_t last_avail;     /* next avail slot to consume */
    uint16_t shadow_avail;   /* avail->idx as last read and checked by vq_pop */
    uint16_t used_idx;       /* our copy of used->idx */
    uint16_t signalled_used; /* used_idx when we last decided about an interrupt */
    bool signalled_valid;
    uint64_t nbad;           /* chains rejected (statistics) */
};

/*
 * Sets up vq over rings at the given guest-physical addresses. size must be a power of
 * two in [1, VQ_MAX_SIZE]; rings must be aligned (16/2/4) and lie inside RAM.
 * features: the negotiated feature bits (VQ_F_EVENT_IDX, VQ_F_INDIRECT_DESC are used).
 * Returns 0 or -EINVAL (vq left unusable: vq_pop fails with -EIO).
 */
int vq_init(struct vq *vq, const struct guestmem *mem, uint16_t size, uint64_t desc_gpa,
            uint64_t avail_gpa, uint64_t used_gpa, uint64_t features);
/* Forgets the rings (device reset); vq_pop then fails with -EIO until vq_init. */
void vq_reset(struct vq *vq);

/*
 * Pops the next available chain into c. Returns 1 (c filled), 0 (nothing available),
 * -EINVAL (malformed chain: the chain was consumed and c->head is valid; the caller
 * must complete it with vq_push(vq, c->head, 0)), or -EIO (the ring itself is broken:
 * bad head index or avail index; the queue is dead until reset: set NEEDS_RESET).
 * Never reads or writes outside guest RAM and never loops more than VQ_MAX_SEGS+size.
 */
int vq_pop(struct vq *vq, struct vq_chain *c);
/* True if the driver has made buffers available that vq_pop has not taken. */
bool vq_has_avail(struct vq *vq);
/* Publishes head as used with len bytes written into its writable part. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
/* After one or more vq_push: true if the driver wants an interrupt now. */
bool vq_need_notify(struct vq *vq);

/* Asks the driver not to kick (polling). */
void vq_kicks_disable(struct vq *vq);
/* Asks the driver to kick again; true if buffers are already waiting (process them). */
bool vq_kicks_enable(struct vq *vq);

/* Copies up to len bytes at offset off of the readable part into buf; returns bytes copied. */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *buf, size_t len);
/* Copies up to len bytes into the writable part at offset off; returns bytes copied. */
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *buf, size_t len);

#endif

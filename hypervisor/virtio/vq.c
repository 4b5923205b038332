/*
 * hypervisor/virtio/vq.c - split-virtqueue engine: walks descriptor chains,
 * publishes used entries, suppresses notifications. Knows no device types.
 * Threads: only the owning device's I/O thread (see vq.h).
 * Trust: every index and length read here is guest-controlled; each descriptor is
 * read once into a local copy (the guest may change it under us) and every buffer is
 * translated through gmem_ptr before use.
 */
#include "vq.h"

#include <errno.h>
#include <string.h>

#define VQ_MAX_INDIRECT VQ_MAX_SEGS /* entries in one indirect table */

static bool is_pow2(unsigned x) { return x && !(x & (x - 1)); }

int vq_init(struct vq *vq, const struct guestmem *mem, uint16_t size, uint64_t desc_gpa,
            uint64_t avail_gpa, uint64_t used_gpa, uint64_t features)
{
    vq_reset(vq);
    vq->mem = mem;
    if (!is_pow2(size) || size > VQ_MAX_SIZE)
        return -EINVAL;
    if ((desc_gpa & 15) || (avail_gpa & 1) || (used_gpa & 3))
        return -EINVAL;
    void *d = gmem_ptr(mem, desc_gpa, 16ULL * size);
    void *a = gmem_ptr(mem, avail_gpa, 6ULL + 2ULL * size);
    void *u = gmem_ptr(mem, used_gpa, 6ULL + 8ULL * size);
    if (!d || !a || !u)
        return -EINVAL;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    vq->size = size;
    vq->event_idx = features & (1ULL << VQ_F_EVENT_IDX);
    vq->indirect = features & (1ULL << VQ_F_INDIRECT_DESC);
    /* a fresh queue starts at index 0 on both sides (virtio 1.x 2.7.13) */
    vq->broken = false;
    return 0;
}

void vq_reset(struct vq *vq)
{
    const struct guestmem *mem = vq->mem;
    uint64_t nbad = vq->nbad;
    memset(vq, 0, sizeof(*vq));
    vq->mem = mem;
    vq->nbad = nbad;
    vq->broken = true; /* no rings until vq_init */
}

static inline volatile uint16_t *avail_used_event(struct vq *vq)
{
    return &vq->avail->ring[vq->size];
}

static inline volatile uint16_t *used_avail_event(struct vq *vq)
{
    return (volatile uint16_t *)&vq->used->ring[vq->size];
}

bool vq_has_avail(struct vq *vq)
{
    if (vq->broken)
        return false;
    if (vq->shadow_avail != vq->last_avail)
        return true;
    return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

/* Walks the chain starting at head; fills c. 0 or -EINVAL. */
static int vq_walk(struct vq *vq, uint16_t head, struct vq_chain *c)
{
    volatile struct vq_desc *table = vq->desc;
    unsigned tsize = vq->size, idx = head, count = 0;
    bool in_indirect = false;

    c->nout = c->nin = 0;
    c->out_len = c->in_len = 0;
    for (;;) {
        if (idx >= tsize || ++count > tsize)
            return -EINVAL; /* out-of-range index, or a loop */
        /* one copy, read once: an indirect table may be unaligned, and the guest may be
         * rewriting it as we go */
        struct vq_desc d;
        memcpy(&d, (const void *)&table[idx], sizeof(d));
        if (d.flags & VQ_DESC_F_INDIRECT) {
            /* one level only, never combined with NEXT, and only if negotiated */
            if (!vq->indirect || in_indirect || (d.flags & VQ_DESC_F_NEXT))
                return -EINVAL;
            if (d.len == 0 || d.len % sizeof(struct vq_desc) ||
                d.len / sizeof(struct vq_desc) > VQ_MAX_INDIRECT)
                return -EINVAL;
            void *t = gmem_ptr(vq->mem, d.addr, d.len);
            if (!t)
                return -EINVAL;
            table = t;
            tsize = d.len / sizeof(struct vq_desc);
            idx = 0;
            count = 0;
            in_indirect = true;
            continue;
        }
        if (d.len == 0)
            return -EINVAL;
        void *p = gmem_ptr(vq->mem, d.addr, d.len);
        if (!p)
            return -EINVAL;
        unsigned n = c->nout + c->nin;
        if (n >= VQ_MAX_SEGS)
            return -EINVAL;
        c->iov[n].iov_base = p;
        c->iov[n].iov_len = d.len;
        if (d.flags & VQ_DESC_F_WRITE) {
            c->nin++;
            c->in_len += d.len;
        } else {
            if (c->nin)
                return -EINVAL; /* readable after writable */
            c->nout++;
            c->out_len += d.len;
        }
        if (!(d.flags & VQ_DESC_F_NEXT))
            return 0;
        idx = d.next;
    }
}

int vq_pop(struct vq *vq, struct vq_chain *c)
{
    if (vq->broken)
        return -EIO;
    /* avail->idx is read (a cache line the driver keeps writing) only when the entries seen
     * last time are used up: one read per batch, not per request */
    if (vq->shadow_avail == vq->last_avail) {
        uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
        uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
        if (pending == 0)
            return 0;
        if (pending > vq->size) {
            vq->broken = true; /* the driver claims more buffers than the ring holds */
            return -EIO;
        }
        vq->shadow_avail = avail_idx;
    }
    uint16_t head = vq->avail->ring[vq->last_avail & (vq->size - 1)];
    if (head >= vq->size) {
        vq->broken = true; /* cannot even be returned as used */
        return -EIO;
    }
    vq->last_avail++;
    if (vq->event_idx && !vq->kicks_off)
        __atomic_store_n(used_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
    c->head = head;
    if (vq_walk(vq, head, c) < 0) {
        vq->nbad++;
        c->nout = c->nin = 0;
        c->out_len = c->in_len = 0;
        return -EINVAL;
    }
    return 1;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    if (vq->broken)
        return;
    volatile struct vq_used_elem *e = &vq->used->ring[vq->used_idx & (vq->size - 1)];
    e->id = head;
    e->len = len;
    vq->used_idx++;
    /* the element must be visible before the index that publishes it */
    __atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_need_notify(struct vq *vq)
{
    if (vq->broken)
        return false;
    /* used->idx store must be ordered before reading the driver's suppression state */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    uint16_t old = vq->signalled_used, cur = vq->used_idx;
    bool valid = vq->signalled_valid;
    vq->signalled_used = cur;
    vq->signalled_valid = true;
    if (valid && old == cur)
        return false; /* nothing new since the last decision */
    if (!vq->event_idx)
        return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VQ_AVAIL_F_NO_INTERRUPT);
    if (!valid)
        return true;
    uint16_t ev = __atomic_load_n(avail_used_event(vq), __ATOMIC_RELAXED);
    /* vring_need_event: did cur pass ev since old? */
    return (uint16_t)(cur - ev - 1) < (uint16_t)(cur - old);
}

void vq_kicks_disable(struct vq *vq)
{
    if (vq->broken || vq->kicks_off)
        return;
    vq->kicks_off = true;
    if (!vq->event_idx)
        __atomic_store_n(&vq->used->flags, VQ_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
    /* with EVENT_IDX, avail_event simply stops moving: the driver kicks at most once */
}

bool vq_kicks_enable(struct vq *vq)
{
    if (vq->broken)
        return false;
    vq->kicks_off = false;
    if (!vq->event_idx)
        __atomic_store_n(&vq->used->flags, 0, __ATOMIC_RELAXED);
    else
        __atomic_store_n(used_avail_event(vq), vq->last_avail, __ATOMIC_RELAXED);
    /* publish the request for kicks before re-checking the ring (no lost wake-up) */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < c->nout && done < len; i++) {
        size_t l = c->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy((char *)buf + done, (char *)c->iov[i].iov_base + off, n);
        done += n;
        off = 0;
    }
    return done;
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = c->nout; i < (unsigned)c->nout + c->nin && done < len; i++) {
        size_t l = c->iov[i].iov_len;
        if (off >= l) {
            off -= l;
            continue;
        }
        size_t n = l - off < len - done ? l - off : len - done;
        memcpy((char *)c->iov[i].iov_base + off, (const char *)buf + done, n);
        done += n;
        off = 0;
    }
    return done;
}

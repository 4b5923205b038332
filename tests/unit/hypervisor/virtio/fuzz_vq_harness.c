/*
 * tests/unit/hypervisor/virtio/fuzz_vq_harness.c - see fuzz_vq_harness.h. RAM is mmap'ed
 * between PROT_NONE guard pages (fakeram.h), so a stray access by vq.c crashes.
 */
#include "fuzz_vq_harness.h"

#include <errno.h>
#include <stdbool.h>

#include "fakeram.h"
#include "virtio/vq.h"

static struct fakeram r0, r1;
static struct guestmem gm;
static bool ready;

static bool in_ram(const void *p, size_t len)
{
    const uint8_t *b = p;
    return (b >= r0.base && len <= r0.size && (size_t)(b - r0.base) <= r0.size - len) ||
           (b >= r1.base && len <= r1.size && (size_t)(b - r1.base) <= r1.size - len);
}

void fz_vq_run(const uint8_t *data, size_t len, struct fz_counts *c)
{
    if (!ready) {
        fakeram_init(&r0, FZ_RAM0_SIZE);
        fakeram_init(&r1, FZ_RAM1_SIZE);
        gmem_add(&gm, 0, FZ_RAM0_SIZE, r0.base);
        gmem_add(&gm, FZ_RAM1_GPA, FZ_RAM1_SIZE, r1.base);
        ready = true;
    }
    if (len < FZ_HDR)
        return;
    uint8_t b0 = data[0];
    uint16_t size = (uint16_t)(1u << (b0 % 9));
    uint64_t features = ((data[1] & 1) ? 1ULL << VQ_F_EVENT_IDX : 0) |
                        ((data[1] & 2) ? 1ULL << VQ_F_INDIRECT_DESC : 0);
    data += FZ_HDR;
    len -= FZ_HDR;
    memset(r0.base, 0, r0.size);
    memset(r1.base, 0, r1.size);
    size_t n0 = len < r0.size ? len : r0.size;
    memcpy(r0.base, data, n0);
    if (len > n0)
        memcpy(r1.base, data + n0, len - n0 < r1.size ? len - n0 : r1.size);

    static struct vq vq;
    static struct vq_chain ch;
    uint64_t dg, ag, ug;
    fz_layout(size, &dg, &ag, &ug);
    if (vq_init(&vq, &gm, size, dg, ag, ug, features) < 0)
        abort(); /* the fixed layout is always valid */
    if (b0 & 0x80)
        vq_kicks_disable(&vq);
    /* at most one pass over the ring: a driver cannot post more than size buffers */
    for (unsigned i = 0; i < (unsigned)size + 1; i++) {
        int rc = vq_pop(&vq, &ch);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            c->broken++;
            break;
        }
        if (rc == -EINVAL) {
            c->bad++;
            if (ch.head >= size)
                abort();
            vq_push(&vq, ch.head, 0);
            continue;
        }
        c->good++;
        if (ch.nout + ch.nin == 0 || ch.nout + ch.nin > VQ_MAX_SEGS)
            abort();
        uint64_t tot = 0;
        uint8_t sum = 0;
        for (unsigned s = 0; s < (unsigned)ch.nout + ch.nin; s++) {
            if (!in_ram(ch.iov[s].iov_base, ch.iov[s].iov_len))
                abort();
            uint8_t *p = ch.iov[s].iov_base;
            for (size_t k = 0; k < ch.iov[s].iov_len; k += 64)
                sum ^= p[k];
            if (s >= ch.nout) /* the device writes its part */
                p[ch.iov[s].iov_len - 1] = sum;
            tot += ch.iov[s].iov_len;
        }
        if (tot != ch.out_len + ch.in_len)
            abort();
        uint8_t buf[64];
        vq_chain_read(&ch, ch.out_len > 32 ? ch.out_len - 32 : 0, buf, sizeof(buf));
        vq_chain_write(&ch, ch.in_len > 16 ? ch.in_len - 16 : 0, buf, 32);
        vq_push(&vq, ch.head, (uint32_t)ch.in_len);
        (void)vq_need_notify(&vq);
    }
    (void)vq_kicks_enable(&vq);
}

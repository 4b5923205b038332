/*
 * tests/unit/hypervisor/virtio/test_vq.c - split virtqueue engine over fake guest RAM
 * with guard pages: normal, indirect and hostile chains, EVENT_IDX suppression.
 */
#include <errno.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/vq.h"

#define QSZ   16
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define DATA  0x10000
#define RAMSZ (1u << 20)

static struct fakeram ram;
static struct guestmem gm;
static struct vq vq;
static uint16_t drv_avail; /* driver's avail index */

static struct vq_desc *D(unsigned i) { return (struct vq_desc *)(ram.base + DESC) + i; }
static struct vq_avail *A(void) { return (struct vq_avail *)(ram.base + AVAIL); }
static struct vq_used *U(void) { return (struct vq_used *)(ram.base + USED); }
static uint16_t *used_event(void) { return &A()->ring[QSZ]; }
static uint16_t *avail_event(void) { return (uint16_t *)&U()->ring[QSZ]; }

static void setd(unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    *D(i) = (struct vq_desc){.addr = addr, .len = len, .flags = flags, .next = next};
}

static void post(uint16_t head)
{
    A()->ring[drv_avail % QSZ] = head;
    drv_avail++;
    __atomic_store_n(&A()->idx, drv_avail, __ATOMIC_RELEASE);
}

static void fresh(uint64_t features)
{
    memset(ram.base, 0, 0x10000);
    drv_avail = 0;
    int rc = vq_init(&vq, &gm, QSZ, DESC, AVAIL, USED, features);
    if (rc)
        diag("vq_init failed: %d", rc);
}

static const uint64_t ALLF = (1ULL << VQ_F_EVENT_IDX) | (1ULL << VQ_F_INDIRECT_DESC);

static void test_init(void)
{
    is_int(vq_init(&vq, &gm, 16, DESC, AVAIL, USED, 0), 0, "init: valid rings");
    is_int(vq_init(&vq, &gm, 12, DESC, AVAIL, USED, 0), -EINVAL, "init: size not power of 2");
    is_int(vq_init(&vq, &gm, 0, DESC, AVAIL, USED, 0), -EINVAL, "init: size 0");
    is_int(vq_init(&vq, &gm, 2048, DESC, AVAIL, USED, 0), -EINVAL, "init: size too big");
    is_int(vq_init(&vq, &gm, 16, DESC + 8, AVAIL, USED, 0), -EINVAL, "init: misaligned desc");
    is_int(vq_init(&vq, &gm, 16, DESC, AVAIL + 1, USED, 0), -EINVAL, "init: misaligned avail");
    is_int(vq_init(&vq, &gm, 16, DESC, AVAIL, USED + 2, 0), -EINVAL, "init: misaligned used");
    /* used ring of 16: 6 + 128 bytes; ending exactly at the end of RAM is fine */
    is_int(vq_init(&vq, &gm, 16, DESC, AVAIL, RAMSZ - 136, 0), 0, "init: used ring at RAM end");
    is_int(vq_init(&vq, &gm, 16, DESC, AVAIL, RAMSZ - 132, 0), -EINVAL,
           "init: used ring crossing RAM end");
    is_int(vq_init(&vq, &gm, 16, 0xFFFFFFFFFFFFFFF0ULL, AVAIL, USED, 0), -EINVAL,
           "init: desc address wrapping");
    struct vq_chain c;
    is_int(vq_pop(&vq, &c), -EIO, "pop on a queue that failed init: -EIO");
}

static void test_normal(void)
{
    struct vq_chain c;
    fresh(0);
    is_int(vq_pop(&vq, &c), 0, "empty queue: pop returns 0");
    memcpy(ram.base + DATA, "hello", 5);
    memcpy(ram.base + DATA + 0x100, " world", 6);
    setd(0, DATA, 5, VQ_DESC_F_NEXT, 1);
    setd(1, DATA + 0x100, 6, VQ_DESC_F_NEXT, 2);
    setd(2, DATA + 0x200, 64, VQ_DESC_F_WRITE, 0);
    post(0);
    ok(vq_has_avail(&vq), "has_avail after post");
    is_int(vq_pop(&vq, &c), 1, "normal chain: pop returns 1");
    is_int(c.head, 0, "head 0");
    is_int(c.nout, 2, "two readable");
    is_int(c.nin, 1, "one writable");
    is_int(c.out_len, 11, "readable bytes");
    is_int(c.in_len, 64, "writable bytes");
    ok(c.iov[0].iov_base == ram.base + DATA, "iov points into guest RAM");
    char buf[32] = {0};
    is_int(vq_chain_read(&c, 0, buf, sizeof(buf)), 11, "chain_read gathers 11 bytes");
    is_str(buf, "hello world", "gathered contents");
    is_int(vq_chain_read(&c, 3, buf, 4), 4, "chain_read at offset across segments");
    ok(memcmp(buf, "lo w", 4) == 0, "offset read contents");
    is_int(vq_chain_write(&c, 60, "abcdefgh", 8), 4, "chain_write clipped at the end");
    ok(memcmp(ram.base + DATA + 0x200 + 60, "abcd", 4) == 0, "written into guest buffer");
    is_int(vq_pop(&vq, &c), 0, "queue empty again");
    vq_push(&vq, 0, 4);
    is_int(U()->idx, 1, "used idx published");
    is_int(U()->ring[0].id, 0, "used id");
    is_int(U()->ring[0].len, 4, "used len");
    ok(vq_need_notify(&vq), "no EVENT_IDX, no NO_INTERRUPT: notify");
    ok(!vq_need_notify(&vq), "nothing new pushed: no second notify");

    /* many chains wrapping the ring several times */
    int good = 1;
    for (unsigned i = 0; i < 3 * QSZ; i++) {
        setd(5, DATA, 16, VQ_DESC_F_WRITE, 0);
        post(5);
        if (vq_pop(&vq, &c) != 1 || c.head != 5)
            good = 0;
        vq_push(&vq, 5, 16);
    }
    ok(good, "48 chains across ring wrap-around");
    is_int(U()->idx, 49, "used idx after wrap-around");

    A()->flags = VQ_AVAIL_F_NO_INTERRUPT;
    setd(5, DATA, 16, VQ_DESC_F_WRITE, 0);
    post(5);
    vq_pop(&vq, &c);
    vq_push(&vq, 5, 0);
    ok(!vq_need_notify(&vq), "NO_INTERRUPT flag suppresses notify");
    vq_kicks_disable(&vq);
    is_int(U()->flags, VQ_USED_F_NO_NOTIFY, "kicks_disable sets NO_NOTIFY");
    ok(!vq_kicks_enable(&vq), "kicks_enable: nothing pending");
    is_int(U()->flags, 0, "kicks_enable clears NO_NOTIFY");
    post(5);
    vq_kicks_disable(&vq);
    ok(vq_kicks_enable(&vq), "kicks_enable reports a buffer posted meanwhile");
}

static void test_indirect(void)
{
    struct vq_chain c;
    fresh(ALLF);
    struct vq_desc *t = (struct vq_desc *)(ram.base + 0x8000);
    t[0] = (struct vq_desc){DATA, 16, VQ_DESC_F_NEXT, 1};
    t[1] = (struct vq_desc){DATA + 0x100, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2};
    t[2] = (struct vq_desc){DATA + 0x400, 1, VQ_DESC_F_WRITE, 0};
    setd(3, 0x8000, 3 * 16, VQ_DESC_F_INDIRECT, 0);
    post(3);
    is_int(vq_pop(&vq, &c), 1, "indirect chain pops");
    is_int(c.head, 3, "indirect: head is the ring descriptor");
    ok(c.nout == 1 && c.nin == 2, "indirect: 1 readable, 2 writable");
    is_int(c.in_len, 513, "indirect: writable bytes");
    vq_push(&vq, 3, 0);

    /* direct descriptor followed by an indirect one at the end of the chain */
    setd(4, DATA, 16, VQ_DESC_F_NEXT, 3);
    post(4);
    is_int(vq_pop(&vq, &c), 1, "direct then indirect pops");
    is_int(c.nout + c.nin, 4, "direct then indirect: 4 segments");
    vq_push(&vq, 4, 0);

    fresh(1ULL << VQ_F_EVENT_IDX);
    memcpy(t, (struct vq_desc[]){{DATA, 16, 0, 0}}, 16);
    setd(3, 0x8000, 16, VQ_DESC_F_INDIRECT, 0);
    post(3);
    is_int(vq_pop(&vq, &c), -EINVAL, "indirect without INDIRECT_DESC negotiated: rejected");
}

/* Posts head and expects a rejected chain; the queue must stay usable afterwards. */
static void expect_bad(uint16_t head, const char *what)
{
    struct vq_chain c;
    post(head);
    int rc = vq_pop(&vq, &c);
    is_int(rc, -EINVAL, "hostile: %s rejected", what);
    if (rc == -EINVAL) {
        vq_push(&vq, c.head, 0);
        setd(15, DATA, 8, 0, 0);
        post(15);
        ok(vq_pop(&vq, &c) == 1 && c.head == 15, "hostile: %s: queue still works", what);
        vq_push(&vq, 15, 0);
    }
}

static void test_hostile(void)
{
    struct vq_chain c;
    fresh(ALLF);
    setd(0, DATA, 8, VQ_DESC_F_NEXT, 1);
    setd(1, DATA, 8, VQ_DESC_F_NEXT, 0);
    expect_bad(0, "two-descriptor loop");
    setd(0, DATA, 8, VQ_DESC_F_NEXT, 0);
    expect_bad(0, "self loop");
    setd(0, DATA, 8, VQ_DESC_F_NEXT, 16);
    expect_bad(0, "next index out of range");
    setd(0, DATA, 8, VQ_DESC_F_NEXT, 0xFFFF);
    expect_bad(0, "next index 0xffff");
    setd(0, RAMSZ - 4, 8, 0, 0);
    expect_bad(0, "buffer crossing the end of RAM");
    setd(0, RAMSZ, 1, 0, 0);
    expect_bad(0, "buffer just past RAM");
    setd(0, 0xFFFFFFFFFFFFFFF8ULL, 16, 0, 0);
    expect_bad(0, "address wrapping around 2^64");
    setd(0, 0x100000000ULL, 16, 0, 0);
    expect_bad(0, "address in unbacked space");
    setd(0, DATA, 0xFFFFFFFFu, 0, 0);
    expect_bad(0, "huge length");
    setd(0, DATA, 0, 0, 0);
    expect_bad(0, "zero-length descriptor");
    setd(0, DATA, 8, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 1);
    setd(1, DATA, 8, 0, 0);
    expect_bad(0, "readable after writable");

    struct vq_desc *t = (struct vq_desc *)(ram.base + 0x8000);
    t[0] = (struct vq_desc){0x8000, 32, VQ_DESC_F_INDIRECT, 0};
    t[1] = (struct vq_desc){DATA, 8, 0, 0};
    setd(0, 0x8000, 32, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "indirect inside indirect");
    t[0] = (struct vq_desc){DATA, 8, VQ_DESC_F_NEXT, 1};
    t[1] = (struct vq_desc){DATA, 8, VQ_DESC_F_NEXT, 0};
    expect_bad(0, "loop inside an indirect table");
    t[1] = (struct vq_desc){DATA, 8, VQ_DESC_F_NEXT, 2};
    expect_bad(0, "indirect next beyond its table");
    setd(0, 0x8000, 32, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
    setd(1, DATA, 8, 0, 0);
    expect_bad(0, "INDIRECT together with NEXT");
    setd(0, 0x8000, 24, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "indirect length not a multiple of 16");
    setd(0, 0x8000, 0, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "zero-length indirect table");
    setd(0, RAMSZ - 16, 32, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "indirect table crossing RAM end");
    setd(0, 0x8000, 0xFFFFFFF0u, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "huge indirect table");
    /* an indirect table longer than VQ_MAX_SEGS */
    struct vq_desc *big = (struct vq_desc *)(ram.base + 0x20000);
    for (unsigned i = 0; i < VQ_MAX_SEGS + 1; i++)
        big[i] = (struct vq_desc){DATA, 8, i < VQ_MAX_SEGS ? VQ_DESC_F_NEXT : 0, (uint16_t)(i + 1)};
    setd(0, 0x20000, (VQ_MAX_SEGS + 1) * 16, VQ_DESC_F_INDIRECT, 0);
    expect_bad(0, "chain longer than VQ_MAX_SEGS");
    /* the longest allowed chain */
    big[VQ_MAX_SEGS - 1].flags = 0;
    setd(0, 0x20000, VQ_MAX_SEGS * 16, VQ_DESC_F_INDIRECT, 0);
    post(0);
    ok(vq_pop(&vq, &c) == 1 && c.nout == VQ_MAX_SEGS, "chain of exactly VQ_MAX_SEGS accepted");
    vq_push(&vq, 0, 0);
    ok(vq.nbad > 0, "rejections counted (%llu)", (unsigned long long)vq.nbad);

    /* ring-level corruption: the queue is dead until reset */
    post(16);
    is_int(vq_pop(&vq, &c), -EIO, "head index out of range: -EIO (needs reset)");
    is_int(vq_pop(&vq, &c), -EIO, "broken queue stays broken");
    ok(!vq_has_avail(&vq), "broken queue has nothing available");
    vq_push(&vq, 0, 0); /* must be ignored, not crash */
    fresh(ALLF);
    drv_avail = QSZ + 1;
    __atomic_store_n(&A()->idx, drv_avail, __ATOMIC_RELEASE);
    is_int(vq_pop(&vq, &c), -EIO, "avail idx more than size ahead: -EIO");
}

static void test_event_idx(void)
{
    struct vq_chain c;
    fresh(ALLF);
    setd(0, DATA, 16, VQ_DESC_F_WRITE, 0);
    post(0);
    vq_pop(&vq, &c);
    is_int(*avail_event(), 1, "EVENT_IDX: avail_event follows consumption");
    *used_event() = 0;
    vq_push(&vq, 0, 16);
    ok(vq_need_notify(&vq), "first completion always notifies");
    /* the driver asks for an interrupt only once used idx passes 3 */
    *used_event() = 3;
    for (unsigned i = 0; i < 2; i++) {
        post(0);
        vq_pop(&vq, &c);
        vq_push(&vq, 0, 16);
    }
    ok(!vq_need_notify(&vq), "used idx 3 has not passed used_event 3: suppressed");
    post(0);
    vq_pop(&vq, &c);
    vq_push(&vq, 0, 16);
    ok(vq_need_notify(&vq), "used idx 4 passed used_event 3: notify");
    /* a batch of completions that jumps over used_event still notifies once */
    *used_event() = 5;
    for (unsigned i = 0; i < 3; i++) {
        post(0);
        vq_pop(&vq, &c);
        vq_push(&vq, 0, 16);
    }
    ok(vq_need_notify(&vq), "batch crossing used_event: notify");
    ok(!vq_need_notify(&vq), "no new completions: no notify");
    *used_event() = 100;
    post(0);
    vq_pop(&vq, &c);
    vq_push(&vq, 0, 16);
    ok(!vq_need_notify(&vq), "used_event far ahead: suppressed");
    A()->flags = VQ_AVAIL_F_NO_INTERRUPT;
    *used_event() = 8; /* = used idx before this push */
    post(0);
    vq_pop(&vq, &c);
    vq_push(&vq, 0, 16);
    ok(vq_need_notify(&vq), "with EVENT_IDX the NO_INTERRUPT flag is ignored");
    /* kick suppression */
    vq_kicks_disable(&vq);
    uint16_t ev = *avail_event();
    post(0);
    vq_pop(&vq, &c);
    is_int(*avail_event(), ev, "kicks disabled: avail_event frozen");
    is_int(U()->flags, 0, "EVENT_IDX: used->flags untouched");
    ok(!vq_kicks_enable(&vq), "kicks enabled, nothing waiting");
    is_int(*avail_event(), vq.last_avail, "kicks enabled: avail_event = next avail");
}

int main(void)
{
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    test_init();
    test_normal();
    test_indirect();
    test_hostile();
    test_event_idx();
    fakeram_fini(&ram);
    return tap_done();
}

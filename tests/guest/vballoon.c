/*
 * tests/guest/vballoon.c - virtio-balloon driver (see vballoon.h). Pages in the balloon are
 * kept as extents claimed from the page allocator (mm_claim), most recent last, so that a
 * deflate gives back the newest first. The guest never touches a page while it is in the
 * balloon. Threads: boot CPU only.
 */
#include "vballoon.h"

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "cpu.h"
#include "lib.h"
#include "memmap.h"
#include "timer.h"
#include "vio.h"

#define QSZ 32
#define CHUNK 1024                  /* PFNs per request: one page of them */
#define MAX_EXT 8192                /* extents held by the balloon */
#define RESERVE (8ULL << 20)        /* free memory the balloon always leaves the guest */
#define WAIT_NS 1000000000ULL
#define F_STATS_VQ 1
enum { Q_INFLATE, Q_DEFLATE, Q_STATS };
enum { S_MAJFLT = 2, S_MINFLT = 3, S_MEMFREE = 4, S_MEMTOT = 5, S_AVAIL = 6 };

static struct {
    int probed, found, ready, stats, stuck, check;
    uint16_t cfgvec;    /* MSI-X entry the device kept for config changes */
    int intx;           /* GSI used without MSI-X, -1 none */
    struct vio_dev d;
    struct vio_q q[3];
    uint8_t *mem;       /* rings, then the PFN page, then the stats page */
    uint32_t *pfns;
    uint8_t *statbuf;
    struct mm_extent *ext;
    unsigned next;
    uint64_t pages;     /* in the balloon */
    uint32_t target, last_target;
    uint64_t stats_sent, errors;
} b;
static volatile uint64_t irqs;

static void vballoon_irq(unsigned vector)
{
    (void)vector;
    if (!b.d.msix)
        vio_isr_ack(&b.d); /* INTx: lowers the line */
    irqs++;
    lapic_eoi();
}

static void put_stat(unsigned i, uint16_t tag, uint64_t val)
{
    memcpy(b.statbuf + 10 * i, &tag, 2);
    memcpy(b.statbuf + 10 * i + 2, &val, 8);
}

static void send_stats(struct guest *g)
{
    uint64_t free = mm_free_bytes(&g->mm);
    put_stat(0, S_MEMFREE, free);
    put_stat(1, S_MEMTOT, g->mm.total);
    put_stat(2, S_AVAIL, free);
    put_stat(3, S_MAJFLT, 0);
    put_stat(4, S_MINFLT, 0);
    b.q[Q_STATS].desc[0] = (struct vio_desc){(uintptr_t)b.statbuf, 5 * 10, 0, 0};
    vio_post(&b.q[Q_STATS], 0);
    vio_publish(&b.q[Q_STATS]);
    b.stats_sent++;
}

/* Gives the balloon's pages back to the allocator without telling the device (reset). */
static void forget_pages(struct guest *g)
{
    mm_unclaim(&g->mm, b.ext, b.next);
    b.next = 0;
    b.pages = 0;
}

static int setup(struct guest *g)
{
    uint32_t got = 0;
    b.ready = 0;
    int rc = vio_begin(&b.d, 1u << F_STATS_VQ, &got);
    if (rc < 0)
        return rc;
    if (!b.mem) {
        uint64_t m = mm_alloc(&g->mm, 3 * VIO_QMEM + 2 * 4096, 4096, 0);
        uint64_t e = mm_alloc(&g->mm, MAX_EXT * sizeof(struct mm_extent), 4096, 0);
        if (!m || !e)
            return -4;
        b.mem = (uint8_t *)(uintptr_t)m;
        b.pfns = (uint32_t *)(b.mem + 3 * VIO_QMEM);
        b.statbuf = b.mem + 3 * VIO_QMEM + 4096;
        b.ext = (struct mm_extent *)(uintptr_t)e;
    }
    forget_pages(g);
    b.stats = (got >> F_STATS_VQ) & 1;
    int msix = vio_msix(&b.d, VEC_VBALLOON) == 0;
    b.cfgvec = vio_config_vector(&b.d, msix ? 0 : 0xFFFF);
    if (!msix)
        b.intx = vio_intx(&b.d, VEC_VBALLOON); /* QEMU's balloon has no MSI-X */
    if (vio_queue(&b.d, Q_INFLATE, &b.q[Q_INFLATE], b.mem, QSZ, 0xFFFF) < 0 ||
        vio_queue(&b.d, Q_DEFLATE, &b.q[Q_DEFLATE], b.mem + VIO_QMEM, QSZ, 0xFFFF) < 0 ||
        (b.stats && vio_queue(&b.d, Q_STATS, &b.q[Q_STATS], b.mem + 2 * VIO_QMEM, QSZ,
                              msix ? 0 : 0xFFFF) < 0))
        return -5;
    b.q[Q_INFLATE].avail[0] = 1; /* completions are polled */
    b.q[Q_DEFLATE].avail[0] = 1;
    if (vio_ready(&b.d) < 0)
        return -6;
    vio_cfg32_write(&b.d, 4, 0);
    b.ready = 1;
    b.stuck = 0;
    b.check = 1;
    if (b.stats)
        send_stats(g);
    return 0;
}

static void probe(struct guest *g)
{
    b.probed = 1;
    int slot = vio_find(5, 0x1002, 0);
    if (slot < 0)
        return;
    b.found = 1;
    b.d.slot = (unsigned)slot;
    cpu_set_handler(VEC_VBALLOON, vballoon_irq);
    int rc = setup(g);
    if (rc < 0)
        con_printf("error: balloon at slot %d: setup failed at step %d\n", slot, -rc);
}

/* Sends n PFNs on queue q and waits for the device; 0 or -1 (timeout). */
static int send_pfns(unsigned q, unsigned n)
{
    struct vio_q *vq = &b.q[q];
    vq->desc[0] = (struct vio_desc){(uintptr_t)b.pfns, n * 4, 0, 0};
    vio_post(vq, 0);
    vio_publish(vq);
    uint64_t end = timer_now_ns() + WAIT_NS;
    uint32_t id, len;
    while (!vio_used(vq, &id, &len)) {
        if (timer_now_ns() > end) {
            b.errors++;
            return -1;
        }
        cpu_relax();
    }
    return 0;
}

static void inflate(struct guest *g, uint64_t want)
{
    uint64_t free = mm_free_bytes(&g->mm);
    uint64_t room = free > RESERVE ? (free - RESERVE) / MM_PAGE : 0;
    if (want > room)
        want = room;
    struct mm_extent ex[16];
    unsigned k = 0;
    if (!want || b.next + 16 > MAX_EXT ||
        mm_claim(&g->mm, want * MM_PAGE, ex, ARRAY_SIZE(ex), &k) < 0) {
        b.stuck = 1; /* until the target changes */
        return;
    }
    unsigned n = 0;
    for (unsigned i = 0; i < k; i++) {
        for (uint64_t a = ex[i].start; a < ex[i].start + ex[i].len; a += MM_PAGE)
            b.pfns[n++] = (uint32_t)(a / MM_PAGE);
        struct mm_extent *last = b.next ? &b.ext[b.next - 1] : NULL;
        if (last && last->start + last->len == ex[i].start)
            last->len += ex[i].len;
        else
            b.ext[b.next++] = ex[i];
    }
    send_pfns(Q_INFLATE, n);
    b.pages += n;
}

static void deflate(struct guest *g, uint64_t want)
{
    struct mm_extent rel[16];
    unsigned nrel = 0, n = 0;
    while (want && b.next && nrel < ARRAY_SIZE(rel)) {
        struct mm_extent *last = &b.ext[b.next - 1];
        uint64_t take = last->len / MM_PAGE < want ? last->len / MM_PAGE : want;
        uint64_t start = last->start + last->len - take * MM_PAGE;
        for (uint64_t i = 0; i < take; i++)
            b.pfns[n++] = (uint32_t)(start / MM_PAGE + i);
        rel[nrel++] = (struct mm_extent){start, take * MM_PAGE};
        last->len -= take * MM_PAGE;
        if (!last->len)
            b.next--;
        want -= take;
    }
    if (!n)
        return;
    send_pfns(Q_DEFLATE, n); /* tell first, then use (no MUST_TELL_HOST needed either way) */
    mm_unclaim(&g->mm, rel, nrel);
    b.pages -= n;
}

int vballoon_poll(struct guest *g)
{
    if (!b.probed)
        probe(g);
    if (!b.ready)
        return 0;
    uint32_t id, len;
    int restat = 0;
    while (b.stats && vio_used(&b.q[Q_STATS], &id, &len))
        restat = 1;
    if (restat)
        send_stats(g);
    static uint64_t seen_irqs;
    if (irqs != seen_irqs) {
        seen_irqs = irqs;
        b.check = 1;
    }
    if (!b.check)
        return 0;
    if (vio_needs_reset(&b.d)) {
        b.ready = 0;
        return 0;
    }
    b.target = vio_cfg32(&b.d, 0);
    if (b.target != b.last_target) {
        b.last_target = b.target;
        b.stuck = 0;
    }
    if (!b.stuck && b.target > b.pages)
        inflate(g, b.target - b.pages < CHUNK ? b.target - b.pages : CHUNK);
    else if (b.target < b.pages)
        deflate(g, b.pages - b.target < CHUNK ? b.pages - b.target : CHUNK);
    vio_cfg32_write(&b.d, 4, (uint32_t)b.pages);
    int more = b.target != b.pages && !(b.stuck && b.target > b.pages);
    b.check = more;
    return more;
}

/* balloon bad: PFNs outside RAM (2^32-1, past the top, the MMIO hole at 3 GiB), then a
 * descriptor pointing outside RAM; the device must ignore them and keep working */
static void cmd_bad(struct guest *g)
{
    if (!b.ready) {
        con_printf("error: no balloon device\n");
        return;
    }
    b.pfns[0] = 0xFFFFFFFFu;
    b.pfns[1] = (uint32_t)(g->mm.top / MM_PAGE + 16);
    b.pfns[2] = (uint32_t)(0xC0000000ULL / MM_PAGE);
    int ok1 = send_pfns(Q_INFLATE, 3) == 0;
    struct vio_q *vq = &b.q[Q_INFLATE];
    vq->desc[0] = (struct vio_desc){0xFFFFFFFFF000ULL, 4096, 0, 0};
    vio_post(vq, 0);
    vio_publish(vq);
    uint64_t end = timer_now_ns() + WAIT_NS;
    uint32_t id, len;
    int ok2 = 0;
    while (!(ok2 = vio_used(vq, &id, &len)) && timer_now_ns() < end)
        cpu_relax();
    con_printf("balloon bad pfns=3 completed=%d chain=1 completed=%d needs_reset=%d\n", ok1, ok2,
               vio_needs_reset(&b.d));
}

void vballoon_cmd(struct guest *g, struct cmd_args *a)
{
    if (!b.probed)
        probe(g);
    if (a->argc > 1 && !strcmp(a->argv[1], "bad")) {
        cmd_bad(g);
        return;
    }
    if (b.ready)
        b.target = vio_cfg32(&b.d, 0);
    con_printf("balloon found=%d ready=%d target_pages=%u actual_pages=%lu free_kib=%lu "
               "total_kib=%lu stats_sent=%lu irqs=%lu errors=%lu stuck=%d msix=%d intx=%d\n",
               b.found, b.ready, b.target, b.pages, mm_free_bytes(&g->mm) / 1024,
               mm_total_kib(&g->mm), b.stats_sent, irqs, b.errors, b.stuck, b.d.msix,
               b.d.msix ? -1 : b.intx);
}

/*
 * tests/guest/vblk.c - virtio-blk driver and the `blk` command (see vblk.h). Buffers are
 * identity-mapped guest RAM from the page allocator, so virtual = physical addresses.
 * Threads: command loop only. Trust: the device is the VMM under test; every wait is
 * bounded so that a broken device yields "status=255", never a hang.
 */
#include "vblk.h"

#include "apic.h"
#include "arch.h"
#include "cpu.h"
#include "console.h"
#include "lib.h"
#include "memmap.h"
#include "timer.h"
#include "vio.h"

#define VBLK_MAX 8
#define QSZ 128
#define QD_MAX 32
#define BS_MAX (1024 * 1024)
#define SECTOR 512ULL
#define WAIT_NS 5000000000ULL /* 5 s per request at most */

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11 };
enum { F_RO = 5, F_VERSION_1 = 32 };
#define ST_TIMEOUT 255
/* MSI-X vectors for `blk irq` (one per disk): the top of the guest's VEC_FIRST..VEC_LAST range,
 * unused by layout.h so far */
#define VEC_VBLK 0x58

struct vhdr {
    uint32_t type, ioprio;
    uint64_t sector;
};

/* One request slot: its header and status byte share one cache line and no other slot's,
 * so that the device's reads and writes of one request never contend with the driver
 * preparing the next. */
struct vslot {
    struct vhdr hdr;
    volatile uint8_t status;
    uint8_t pad[64 - sizeof(struct vhdr) - 1];
};

_Static_assert(sizeof(struct vslot) == 64 && QD_MAX * 64 <= 4096, "request slots");

struct vblk {
    struct vio_dev vio;
    uint64_t sectors;
    int ro, ready;
    char serial[21];
    uint8_t *mem;                 /* the ring, headers, statuses, a scratch page */
    struct vio_q q;               /* queue 0 */
    struct vslot *slot;           /* QD_MAX request slots */
    uint8_t *scratch;             /* 4 KiB */
};

static struct vblk disks[VBLK_MAX];
static volatile uint64_t irq_count[VBLK_MAX];
static unsigned ndisks;
static int probed;
static uint8_t *arena;
static uint64_t arena_size;

/* Resets the device and sets up queue 0; 0 or a negative step number. */
static int vblk_setup(struct guest *g, struct vblk *d)
{
    uint32_t got = 0;
    int rc = vio_begin(&d->vio, 1u << F_RO, &got);
    if (rc < 0)
        return rc;
    if (!d->vio.devcfg)
        return -1;
    d->ro = (got >> F_RO) & 1;
    if (!d->mem) {
        uint64_t m = mm_alloc(&g->mm, 6 * 4096, 4096, 0);
        if (!m)
            return -4;
        d->mem = (uint8_t *)(uintptr_t)m;
    }
    memset(d->mem, 0, 6 * 4096);
    d->slot = (struct vslot *)(d->mem + VIO_QMEM); /* QD_MAX * 64 bytes, below scratch */
    d->scratch = d->mem + VIO_QMEM + 4096;
    if (vio_queue(&d->vio, 0, &d->q, d->mem, QSZ, 0xFFFF) < 0)
        return -5;
    d->q.avail[0] = 1; /* VRING_AVAIL_F_NO_INTERRUPT: this driver polls */
    if (vio_ready(&d->vio) < 0)
        return -6;
    d->sectors = (uint64_t)vio_cfg32(&d->vio, 0) | (uint64_t)vio_cfg32(&d->vio, 4) << 32;
    d->ready = 1;
    return 0;
}

/* Writes a descriptor only if it changes: an unchanged one stays cached on the device's
 * CPU too (a benchmark reposts the same descriptors of a slot again and again). */
static void set_desc(struct vio_desc *e, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    if (e->addr != addr || e->len != len || e->flags != flags || e->next != next)
        *e = (struct vio_desc){addr, len, flags, next};
}

/* Fills request slot s (descriptors 3s..3s+2); the caller posts head 3s. */
static void prep(struct vblk *d, unsigned s, uint32_t type, uint64_t sector, void *buf,
                 uint32_t len)
{
    d->slot[s].hdr = (struct vhdr){type, 0, sector};
    d->slot[s].status = 0xEE;
    unsigned h = 3 * s;
    struct vio_desc *desc = d->q.desc;
    if (len) {
        uint16_t fl = VIO_DESC_NEXT | (type == T_IN || type == T_GET_ID ? VIO_DESC_WRITE : 0);
        set_desc(&desc[h], (uintptr_t)&d->slot[s].hdr, 16, VIO_DESC_NEXT, (uint16_t)(h + 1));
        set_desc(&desc[h + 1], (uintptr_t)buf, len, fl, (uint16_t)(h + 2));
    } else {
        set_desc(&desc[h], (uintptr_t)&d->slot[s].hdr, 16, VIO_DESC_NEXT, (uint16_t)(h + 2));
    }
    set_desc(&desc[h + 2], (uintptr_t)&d->slot[s].status, 1, VIO_DESC_WRITE, 0);
}

/* Waits for the next used entry; fills *len and returns its id, or -1 on timeout. */
static long wait_one(struct vblk *d, uint32_t *len)
{
    uint64_t end = timer_now_ns() + WAIT_NS;
    uint32_t id;
    while (!vio_used(&d->q, &id, len)) {
        if (timer_now_ns() > end)
            return -1;
        cpu_relax();
    }
    return id;
}

/* One synchronous request in slot 0; returns the status byte or ST_TIMEOUT. */
static unsigned sync_req(struct vblk *d, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
    uint32_t ulen;
    prep(d, 0, type, sector, buf, len);
    vio_post(&d->q, 0);
    vio_publish(&d->q);
    if (wait_one(d, &ulen) < 0)
        return ST_TIMEOUT;
    return d->slot[0].status;
}

static void *arena_get(struct guest *g, uint64_t bytes)
{
    if (arena_size >= bytes)
        return arena;
    uint64_t m = mm_alloc(&g->mm, bytes, 4096, 0);
    if (!m)
        return NULL;
    arena = (uint8_t *)(uintptr_t)m;
    arena_size = bytes;
    return arena;
}

static void pattern(uint64_t *w, uint64_t off, uint64_t len, uint64_t seed)
{
    for (uint64_t i = 0; i < len / 8; i++)
        w[i] = ((off / 8 + i + 1) * 0x9E3779B97F4A7C15ULL) ^ seed;
}

static void probe(struct guest *g)
{
    probed = 1;
    /* modern 0x1042, or transitional 0x1001 (QEMU) */
    for (int s = vio_find(2, 0x1001, 0); s >= 0 && ndisks < VBLK_MAX;
         s = vio_find(2, 0x1001, (unsigned)s + 1)) {
        struct vblk *d = &disks[ndisks++];
        d->vio.slot = (unsigned)s;
        int rc = vblk_setup(g, d);
        if (rc < 0) {
            con_printf("error: disk at slot %u: setup failed at step %d\n", s, -rc);
            continue;
        }
        if (sync_req(d, T_GET_ID, 0, d->scratch, 20) == 0) {
            memcpy(d->serial, d->scratch, 20);
            d->serial[20] = 0;
        }
    }
}

static struct vblk *disk_arg(struct cmd_args *a, int i)
{
    uint64_t n;
    if (i >= a->argc || cmd_parse_u64(a->argv[i], &n) < 0 || n >= ndisks) {
        con_printf("error: disk index: expected 0 to %d\n", (int)ndisks - 1);
        return NULL;
    }
    if (!disks[n].ready) {
        con_printf("error: disk %lu is not set up (try blk reset %lu)\n", n, n);
        return NULL;
    }
    return &disks[n];
}

static int nums(struct cmd_args *a, int from, int n, uint64_t *out)
{
    for (int i = 0; i < n; i++)
        if (from + i >= a->argc || cmd_parse_u64(a->argv[from + i], &out[i]) < 0) {
            con_printf("error: expected %d numbers after the disk index\n", n);
            return -1;
        }
    return 0;
}

/* blk write|verify D SECTOR COUNT SEED, in chunks of up to 256 KiB */
static void cmd_rw(struct guest *g, struct cmd_args *a, int verify)
{
    struct vblk *d = disk_arg(a, 2);
    uint64_t v[3];
    if (!d || nums(a, 3, 3, v) < 0)
        return;
    uint64_t sector = v[0], count = v[1], seed = v[2], mism = 0;
    if (!count || sector > d->sectors || count > d->sectors - sector) {
        con_printf("error: sectors %lu+%lu are outside the disk (%lu sectors)\n", sector, count,
                   d->sectors);
        return;
    }
    uint64_t chunk = 512;
    uint64_t *buf = arena_get(g, chunk * SECTOR);
    unsigned st = 0;
    if (!buf) {
        con_printf("error: out of memory\n");
        return;
    }
    for (uint64_t s = sector; s < sector + count && st == 0; s += chunk) {
        uint64_t n = sector + count - s < chunk ? sector + count - s : chunk;
        if (!verify) {
            pattern(buf, s * SECTOR, n * SECTOR, seed);
            st = sync_req(d, T_OUT, s, buf, (uint32_t)(n * SECTOR));
        } else {
            memset(buf, 0, n * SECTOR);
            st = sync_req(d, T_IN, s, buf, (uint32_t)(n * SECTOR));
            for (uint64_t i = 0; st == 0 && i < n * SECTOR / 8; i++)
                if (buf[i] != (((s * SECTOR) / 8 + i + 1) * 0x9E3779B97F4A7C15ULL ^ seed))
                    mism++;
        }
    }
    unsigned idx = (unsigned)(d - disks);
    if (verify)
        con_printf("blk verify disk=%u sector=%lu count=%lu status=%u ok=%d mismatches=%lu\n",
                   idx, sector, count, st, st == 0 && mism == 0, mism);
    else
        con_printf("blk write disk=%u sector=%lu count=%lu status=%u\n", idx, sector, count, st);
}

/* blk bench D seq|rand read|write BS QD MS */
static void cmd_bench(struct guest *g, struct cmd_args *a)
{
    struct vblk *d = disk_arg(a, 2);
    uint64_t v[3];
    if (!d || nums(a, 5, 3, v) < 0)
        return;
    int rnd = !strcmp(a->argv[3], "rand"), wr = !strcmp(a->argv[4], "write");
    uint64_t bs = v[0], qd = v[1], ms = v[2];
    if ((!rnd && strcmp(a->argv[3], "seq")) || (!wr && strcmp(a->argv[4], "read")) ||
        !bs || bs % SECTOR || bs > BS_MAX || !qd || qd > QD_MAX || !ms || ms > 600000 ||
        bs / SECTOR > d->sectors) {
        con_printf("error: usage: blk bench D seq|rand read|write BS(512..1M, x512) "
                   "QD(1..%d) MS\n", QD_MAX);
        return;
    }
    uint8_t *buf = arena_get(g, bs * qd);
    if (!buf) {
        con_printf("error: out of memory for %lu bytes\n", bs * qd);
        return;
    }
    uint64_t blocks = d->sectors / (bs / SECTOR), next = 0, rng = 0x2545F4914F6CDD1DULL;
    uint64_t ops = 0, errors = 0, inflight = 0;
    uint32_t busy = 0;
    int stop = 0;
    uint64_t t0 = timer_now_ns(), end = t0 + ms * 1000000ULL, now = t0;
    while (!stop || inflight) {
        now = timer_now_ns();
        if (now >= end)
            stop = 1;
        if (now > end + WAIT_NS) {
            errors += inflight;
            break; /* the device stopped answering */
        }
        int posted = 0;
        for (unsigned s = 0; !stop && s < qd; s++) {
            if (busy & (1u << s))
                continue;
            uint64_t blk;
            if (rnd) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                blk = rng % blocks;
            } else {
                blk = next++ % blocks;
            }
            prep(d, s, wr ? T_OUT : T_IN, blk * (bs / SECTOR), buf + s * bs, (uint32_t)bs);
            vio_post(&d->q, (uint16_t)(3 * s));
            busy |= 1u << s;
            inflight++;
            posted = 1;
        }
        if (posted)
            vio_publish(&d->q);
        int got = 0;
        uint32_t id, len;
        while (vio_used(&d->q, &id, &len)) {
            unsigned s = id / 3;
            if (s < QD_MAX && (busy & (1u << s))) {
                busy &= ~(1u << s);
                inflight--;
                if (d->slot[s].status == 0)
                    ops++;
                else
                    errors++;
            }
            got = 1;
        }
        if (!got)
            cpu_relax();
    }
    uint64_t ns = now - t0 ? now - t0 : 1;
    con_printf("blk bench disk=%u mode=%s op=%s bs=%lu qd=%lu ms=%lu ops=%lu bytes=%lu "
               "iops=%lu kbps=%lu errors=%lu\n",
               (unsigned)(d - disks), rnd ? "rand" : "seq", wr ? "write" : "read", bs, qd,
               ns / 1000000, ops, ops * bs, ops * 1000000000UL / ns,
               ops * bs / 1024 * 1000000000UL / ns, errors);
}

/* blk bad D loop|oob|huge|zero|index: a hostile chain; the device must survive it */
static void cmd_bad(struct guest *g, struct cmd_args *a)
{
    struct vblk *d = disk_arg(a, 2);
    if (!d || a->argc < 4)
        return;
    const char *k = a->argv[3];
    unsigned h = 100; /* descriptors 100..102, outside the request slots */
    d->slot[0].hdr = (struct vhdr){T_IN, 0, 0};
    d->slot[0].status = 0xEE;
    struct vio_desc *desc = d->q.desc;
    desc[h] = (struct vio_desc){(uintptr_t)&d->slot[0].hdr, 16, 1, (uint16_t)(h + 1)};
    desc[h + 1] = (struct vio_desc){(uintptr_t)d->scratch, 512, 1 | 2, (uint16_t)(h + 2)};
    desc[h + 2] = (struct vio_desc){(uintptr_t)&d->slot[0].status, 1, 2, 0};
    uint16_t head = (uint16_t)h;
    if (!strcmp(k, "loop"))
        desc[h + 2] = (struct vio_desc){(uintptr_t)&d->slot[0].status, 1, 1 | 2, (uint16_t)h};
    else if (!strcmp(k, "oob"))
        desc[h + 1].addr = 0xFFFFFFFFF000ULL;
    else if (!strcmp(k, "huge"))
        desc[h + 1].len = 0xFFFFFFF0u;
    else if (!strcmp(k, "zero"))
        desc[h + 1].len = 0;
    else if (!strcmp(k, "index"))
        head = 0xFFFF;
    else {
        con_printf("error: kind: expected loop, oob, huge, zero or index\n");
        return;
    }
    vio_post(&d->q, head);
    vio_publish(&d->q);
    uint32_t id, len = 0;
    int got;
    uint64_t end = timer_now_ns() + (head == 0xFFFF ? 200000000ULL : WAIT_NS);
    while (!(got = vio_used(&d->q, &id, &len)) && timer_now_ns() < end)
        cpu_relax();
    int nr = vio_needs_reset(&d->vio);
    if (nr) {
        d->ready = 0;
        /* without MSI-X the config-change interrupt is INTx (level): reading the ISR
         * acknowledges it and lowers the line, as an interrupt handler would */
        vio_isr_ack(&d->vio);
    }
    con_printf("blk bad disk=%u kind=%s len=%ld status=%u needs_reset=%d\n",
               (unsigned)(d - disks), k, got ? (long)len : -1L, d->slot[0].status, nr);
}

static void vblk_irq(unsigned vector)
{
    if (vector >= VEC_VBLK && vector < VEC_VBLK + VBLK_MAX)
        irq_count[vector - VEC_VBLK]++;
    lapic_eoi();
}

/* blk irq D: completions of queue 0 by MSI-X (vector VEC_VBLK + D on this CPU) */
static void cmd_irq(struct cmd_args *a)
{
    struct vblk *d = disk_arg(a, 2);
    if (!d)
        return;
    unsigned i = (unsigned)(d - disks), vec = VEC_VBLK + i;
    cpu_set_handler(vec, vblk_irq);
    if (vio_msix_entry(&d->vio, 1, vec) < 0) { /* entry 1: this CPU, fixed, edge */
        con_printf("error: disk %u has no MSI-X capability\n", i);
        return;
    }
    if (vio_queue_vector(&d->vio, 0, 1) != 1) {
        con_printf("error: disk %u refused MSI-X vector 1 for queue 0\n", i);
        return;
    }
    d->q.avail[0] = 0; /* interrupts wanted now */
    uint64_t before = irq_count[i];
    unsigned st = 0;
    for (int k = 0; k < 8 && st == 0; k++)
        st = sync_req(d, T_GET_ID, 0, d->scratch, 20);
    /* CPL 3 runs with interrupts off; cpu_poll takes what waits in the IRR. Edge interrupts
     * of one vector merge meanwhile, so at least one must come; wait up to 1 s for it */
    uint64_t end = timer_now_ns() + 1000000000ULL;
    while (irq_count[i] == before && timer_now_ns() < end)
        cpu_poll();
    con_printf("blk irq disk=%u vector=0x%x status=%u interrupts=%lu\n", i, vec, st,
               irq_count[i] - before);
}

void vblk_cmd(struct guest *g, struct cmd_args *a)
{
    if (!probed)
        probe(g);
    const char *sub = a->argc > 1 ? a->argv[1] : "list";
    if (!strcmp(sub, "list")) {
        con_printf("blk disks=%u\n", ndisks);
        for (unsigned i = 0; i < ndisks; i++)
            con_printf("blk disk=%u slot=%u sectors=%lu ro=%d serial=\"%s\"\n", i,
                       disks[i].vio.slot, disks[i].sectors, disks[i].ro, disks[i].serial);
    } else if (!strcmp(sub, "write") || !strcmp(sub, "verify")) {
        cmd_rw(g, a, sub[0] == 'v');
    } else if (!strcmp(sub, "flush") || !strcmp(sub, "discard")) {
        struct vblk *d = disk_arg(a, 2);
        uint64_t v[2] = {0, 0};
        if (!d || (sub[0] == 'd' && nums(a, 3, 2, v) < 0))
            return;
        unsigned st;
        if (sub[0] == 'f') {
            st = sync_req(d, T_FLUSH, 0, NULL, 0);
        } else {
            uint64_t *r = (uint64_t *)d->scratch;
            r[0] = v[0];
            r[1] = v[1] & 0xFFFFFFFFu;
            st = sync_req(d, T_DISCARD, 0, r, 16);
        }
        con_printf("blk %s disk=%u status=%u\n", sub, (unsigned)(d - disks), st);
    } else if (!strcmp(sub, "bench")) {
        cmd_bench(g, a);
    } else if (!strcmp(sub, "bad")) {
        cmd_bad(g, a);
    } else if (!strcmp(sub, "irq")) {
        cmd_irq(a);
    } else if (!strcmp(sub, "reset")) {
        uint64_t n;
        if (a->argc < 3 || cmd_parse_u64(a->argv[2], &n) < 0 || n >= ndisks) {
            con_printf("error: disk index: expected 0 to %d\n", (int)ndisks - 1);
            return;
        }
        int rc = vblk_setup(g, &disks[n]);
        con_printf("blk reset disk=%lu ok=%d\n", n, rc == 0);
    } else {
        con_printf("error: usage: blk [list] | write|verify D SECTOR COUNT SEED | flush D | "
                   "discard D SECTOR COUNT | bench D seq|rand read|write BS QD MS | "
                   "bad D loop|oob|huge|zero|index | irq D | reset D\n");
    }
}

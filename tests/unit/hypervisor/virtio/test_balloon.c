/*
 * tests/unit/hypervisor/virtio/test_balloon.c - virtio-balloon without KVM: option parsing,
 * PFN validation and run coalescing over fake guest RAM (two regions, guard pages), page
 * discard (anonymous memory and a memfd whose blocks must really be freed), and the device
 * end to end through PCI config space and BAR 0 with its real I/O thread: target in config
 * space, inflate with valid and hostile PFNs, deflate, the stats buffer round trip, control.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/balloon.h"
#include "virtio/pci.h"
#include "virtio/virtio_pci.h"
#include "virtio/vq.h"

#define WIN   0xE0000000ULL
#define QSZ   16
#define RAMSZ (4u << 20)
#define PFNS  0x10000  /* PFN array */
#define STATS 0x11000  /* stats buffer */
#define VICTIM 0x200000 /* pages the driver gives up */

static struct fakeram ram;
static struct guestmem gm;
static struct pci_bus *bus;
static uint64_t bar0;

/* ---------------- PFN runs ---------------- */

struct run { uint8_t *host; uint64_t gpa, len; };
static struct run runs[16];
static unsigned nruns;

static void record(void *ctx, uint8_t *host, uint64_t gpa, uint64_t len)
{
    (void)ctx;
    if (nruns < 16)
        runs[nruns++] = (struct run){host, gpa, len};
}

static void test_runs(void)
{
    struct fakeram two;
    struct guestmem g2 = {0};
    fakeram_init(&two, 2 << 20);
    /* low 1 MiB at gpa 0 and 1 MiB at 4 GiB, adjacent in host memory like the VMM's memfd */
    gmem_add(&g2, 0, 1 << 20, two.base);
    gmem_add(&g2, 4ULL << 30, 1 << 20, two.base + (1 << 20));
    uint64_t bad = 99;
    nruns = 0;
    uint32_t a[] = {0, 1, 2, 5, 7, 8};
    is_int(vdev_balloon_pfn_runs(&g2, a, 6, record, NULL, &bad), 6, "6 valid PFNs");
    is_int(bad, 0, "none bad");
    is_int(nruns, 3, "coalesced into 3 runs (0-2, 5, 7-8)");
    ok(runs[0].gpa == 0 && runs[0].len == 3 * 4096 && runs[0].host == two.base, "run 0");
    ok(runs[1].gpa == 5 * 4096 && runs[1].len == 4096, "run 1");
    ok(runs[2].gpa == 7 * 4096 && runs[2].len == 2 * 4096, "run 2");

    nruns = 0;
    uint32_t b[] = {255, 0x100000, 0x100001, 256, 0xFFFFFFFFu, 0x100100, 0xA0000};
    is_int(vdev_balloon_pfn_runs(&g2, b, 7, record, NULL, &bad), 3,
           "last low page and two high pages valid");
    is_int(bad, 4, "1 MiB (hole), 2^32-1, past high RAM, 2.5 GiB: 4 bad");
    is_int(nruns, 2, "host-adjacent but not guest-adjacent pages are not merged");
    ok(nruns == 2 && runs[1].gpa == 4ULL << 30 && runs[1].host == two.base + (1 << 20) &&
       runs[1].len == 8192, "high run maps to the second region");
    is_int(vdev_balloon_pfn_runs(&g2, b, 0, record, NULL, NULL), 0, "empty list");
    fakeram_fini(&two);
}

static void test_discard(void)
{
    memset(ram.base + VICTIM, 0xAA, 8192);
    is_int(vdev_balloon_discard(ram.base + VICTIM, 8192), 0, "discard anonymous pages");
    ok(ram.base[VICTIM] == 0 && ram.base[VICTIM + 8191] == 0, "they read back as zero");

    int fd = memfd_create("t-balloon", MFD_CLOEXEC);
    ok(fd >= 0 && ftruncate(fd, 1 << 20) == 0, "memfd like guest RAM");
    uint8_t *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    memset(p, 0x55, 1 << 20);
    struct stat st0, st1;
    fstat(fd, &st0);
    is_int(vdev_balloon_discard(p + 4096, 256 * 1024), 0, "discard 256 KiB of the memfd");
    fstat(fd, &st1);
    ok(st0.st_blocks - st1.st_blocks >= 256 * 1024 / 512,
       "the memfd's blocks fell by 256 KiB (%lld -> %lld)", (long long)st0.st_blocks,
       (long long)st1.st_blocks);
    ok(p[4096] == 0 && p[4095] == 0x55 && p[4096 + 256 * 1024] == 0x55,
       "only the discarded range reads as zero");
    munmap(p, 1 << 20);
    close(fd);
}

static void test_parse(void)
{
    struct vdev_balloon_opts o;
    char e[256];
    ok(vdev_balloon_parse(NULL, &o, e, sizeof(e)) == 0 && o.enabled && !o.deflate_on_oom &&
       o.stats_interval == 0, "no option: on");
    ok(vdev_balloon_parse("off", &o, e, sizeof(e)) == 0 && !o.enabled, "off");
    ok(vdev_balloon_parse("on,stats=5,deflate_on_oom=on", &o, e, sizeof(e)) == 0 &&
       o.enabled && o.stats_interval == 5 && o.deflate_on_oom, "on,stats=5,deflate_on_oom=on");
    ok(vdev_balloon_parse("stats=9999", &o, e, sizeof(e)) < 0 && strstr(e, "9999"),
       "stats out of range: %s", e);
    ok(vdev_balloon_parse("size=3", &o, e, sizeof(e)) < 0 && strstr(e, "size"),
       "unknown key: %s", e);
    ok(vdev_balloon_parse("maybe", &o, e, sizeof(e)) < 0, "bare word other than on/off: %s", e);
}

/* ---------------- the device through the transport ---------------- */

static void wr(unsigned off, unsigned size, uint64_t v)
{
    pci_mmio_write(bus, bar0 + off, size, &v);
}
static uint64_t rd(unsigned off, unsigned size)
{
    uint64_t v = 0;
    pci_mmio_read(bus, bar0 + off, size, &v);
    return v;
}

struct q {
    uint64_t desc, avail, used;
    uint16_t idx, seen;
};
static struct q qs[3];

static struct vq_desc *D(struct q *q, unsigned i)
{
    return (struct vq_desc *)(ram.base + q->desc) + i;
}
static struct vq_avail *A(struct q *q) { return (struct vq_avail *)(ram.base + q->avail); }
static struct vq_used *U(struct q *q) { return (struct vq_used *)(ram.base + q->used); }

static void post(unsigned n, uint64_t addr, uint32_t len)
{
    struct q *q = &qs[n];
    *D(q, q->idx % QSZ) = (struct vq_desc){addr, len, 0, 0};
    A(q)->ring[q->idx % QSZ] = (uint16_t)(q->idx % QSZ);
    q->idx++;
    __atomic_store_n(&A(q)->idx, q->idx, __ATOMIC_RELEASE);
    wr(VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * n, 2, n);
}

static int wait_used(unsigned n)
{
    struct q *q = &qs[n];
    for (int i = 0; i < 3000; i++) {
        if (__atomic_load_n(&U(q)->idx, __ATOMIC_ACQUIRE) != q->seen) {
            q->seen++;
            return 1;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return 0;
}

static void drv_start(unsigned slot)
{
    bar0 = ((uint64_t)pci_cfg_read(bus, slot, 0x14, 4) << 32) |
           (pci_cfg_read(bus, slot, 0x10, 4) & ~0xFu);
    wr(0x14, 1, 0);
    wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(0x00, 4, 0);
    uint32_t f = (uint32_t)rd(0x04, 4);
    ok(f & 2, "device offers STATS_VQ");
    wr(0x08, 4, 0);
    wr(0x0C, 4, f & 6); /* STATS_VQ, DEFLATE_ON_OOM when offered */
    wr(0x08, 4, 1);
    wr(0x0C, 4, 1);
    wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    for (unsigned n = 0; n < 3; n++) {
        qs[n] = (struct q){0x1000 + 0x3000 * n, 0x2000 + 0x3000 * n, 0x3000 + 0x3000 * n, 0, 0};
        wr(0x16, 2, n);
        wr(0x18, 2, QSZ);
        wr(0x20, 8, qs[n].desc);
        wr(0x28, 8, qs[n].avail);
        wr(0x30, 8, qs[n].used);
        wr(0x1C, 2, 1);
    }
    wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
    ok(rd(0x14, 1) & VIRTIO_S_DRIVER_OK, "driver OK accepted");
}

static void test_device(void)
{
    struct vdev_balloon_opts o;
    char e[256], out[1024];
    vdev_balloon_parse("on", &o, e, sizeof(e));
    struct vdev_balloon *b = vdev_balloon_new(&o, &gm, RAMSZ, e, sizeof(e));
    ok(b != NULL, "device created");
    int slot = pci_bus_add(bus, vdev_balloon_pci(b), PCI_NO_GSI);
    ok(slot > 0, "on the bus at slot %d", slot);
    is_int(pci_cfg_read(bus, (unsigned)slot, 0, 4), 0x10451af4, "modern virtio-balloon id");
    drv_start((unsigned)slot);

    ok(vdev_balloon_set_target(b, RAMSZ + 4096, e, sizeof(e)) < 0, "target above RAM refused");
    is_int(vdev_balloon_set_target(b, RAMSZ - (64 << 12), e, sizeof(e)), 0, "target RAM-256K");
    is_int(rd(VPCI_DEVCFG_OFF, 4), 64, "config num_pages = 64");

    /* inflate: 4 good pages (2 runs) and 3 hostile PFNs */
    memset(ram.base + VICTIM, 0xAA, 16384);
    uint32_t pf[] = {VICTIM / 4096, VICTIM / 4096 + 1, RAMSZ / 4096, 0xFFFFFFFFu,
                     VICTIM / 4096 + 3, VICTIM / 4096 + 2, 0x100000};
    memcpy(ram.base + PFNS, pf, sizeof(pf));
    post(0, PFNS, sizeof(pf));
    ok(wait_used(0), "inflate buffer completed");
    wr(VPCI_DEVCFG_OFF + 4, 4, 4);
    is_int(rd(VPCI_DEVCFG_OFF + 4, 4), 4, "driver wrote actual = 4");
    struct vdev_balloon_info in;
    vdev_balloon_get_info(b, &in);
    is_int(in.inflated_pages, 4, "4 pages inflated");
    is_int(in.bad_pfns, 3, "3 PFNs outside RAM refused");
    is_int(in.discarded_bytes, 16384, "16 KiB given back");
    ok(ram.base[VICTIM] == 0 && ram.base[VICTIM + 16383] == 0, "their contents are gone");
    post(0, PFNS, 6); /* not a multiple of 4 */
    ok(wait_used(0), "odd-length buffer completed");
    post(1, PFNS, 8);
    ok(wait_used(1), "deflate buffer completed");
    vdev_balloon_get_info(b, &in);
    is_int(in.bad_chains, 1, "odd-length buffer counted as bad");
    is_int(in.deflated_pages, 2, "2 pages deflated");

    /* stats: the driver's buffer is kept until fresh numbers are wanted */
    uint8_t st[20];
    uint16_t tag = 4;
    uint64_t val = 123456;
    memcpy(st, &tag, 2);
    memcpy(st + 2, &val, 8);
    tag = 200; /* unknown tags are ignored */
    memcpy(st + 10, &tag, 2);
    memcpy(ram.base + STATS, st, 20);
    post(2, STATS, 20);
    for (int i = 0; i < 2000 && in.stats_updates == 0; i++) {
        nanosleep(&(struct timespec){0, 1000000}, NULL);
        vdev_balloon_get_info(b, &in);
    }
    ok(in.stats_updates == 1 && in.have[4] && in.stat[4] == 123456, "free memory stat recorded");
    is_int(__atomic_load_n(&U(&qs[2])->idx, __ATOMIC_ACQUIRE), 0, "stats buffer held");
    out[0] = 0;
    is_int(vdev_balloon_control(b, "query-balloon", NULL, out, sizeof(out)), 0, "query-balloon");
    ok(strstr(out, "stat_free_memory=123456") && strstr(out, " actual_pages=4") &&
       strstr(out, " num_pages=64") && strstr(out, " bad_pfns=3"), "answer: %.120s", out);
    ok(wait_used(2), "the query returned the stats buffer to the driver");

    is_int(vdev_balloon_control(b, "balloon", "3M", out, sizeof(out)), 0, "balloon 3M");
    is_str(out, "OK target_bytes=3145728 num_pages=256", "answer");
    vdev_balloon_control(b, "balloon", "4194304B", out, sizeof(out));
    is_str(out, "OK target_bytes=4194304 num_pages=0", "bytes with a B suffix");
    vdev_balloon_control(b, "balloon", "5", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "5 MiB > RAM: %s", out);
    vdev_balloon_control(b, "balloon", "-1", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "negative: %s", out);
    is_int(vdev_balloon_control(b, "disk", "0", out, sizeof(out)), -1, "not a balloon command");
    vdev_balloon_control(NULL, "query-balloon", NULL, out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_STATE", 13), "no balloon: %s", out);

    wr(0x14, 1, 0); /* driver reset stops the I/O thread */
    is_int(rd(VPCI_DEVCFG_OFF + 4, 4), 0, "reset empties actual");
    vdev_balloon_free(b);
}

/* stats=1: the device asks for statistics every second without being queried */
static void test_periodic(void)
{
    struct vdev_balloon_opts o;
    char e[256];
    vdev_balloon_parse("stats=1,deflate_on_oom=on", &o, e, sizeof(e));
    struct vdev_balloon *b = vdev_balloon_new(&o, &gm, RAMSZ, e, sizeof(e));
    int slot = pci_bus_add(bus, vdev_balloon_pci(b), PCI_NO_GSI);
    bar0 = ((uint64_t)pci_cfg_read(bus, (unsigned)slot, 0x14, 4) << 32) |
           (pci_cfg_read(bus, (unsigned)slot, 0x10, 4) & ~0xFu);
    wr(0x00, 4, 0);
    ok(rd(0x04, 4) & 4, "deflate_on_oom=on offers DEFLATE_ON_OOM");
    drv_start((unsigned)slot);
    memset(ram.base + STATS, 0, 10);
    post(2, STATS, 10);
    ok(wait_used(2), "the stats buffer comes back by itself within the interval");
    post(2, STATS, 10);
    ok(wait_used(2), "and again");
    struct vdev_balloon_info in;
    vdev_balloon_get_info(b, &in);
    ok(in.stats_updates >= 2 && in.deflate_on_oom, "two updates, DEFLATE_ON_OOM negotiated (%d)",
       (int)in.deflate_on_oom);
    vdev_balloon_free(b);
}

int main(void)
{
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    struct pci_host_ops ops = {0};
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    test_parse();
    test_runs();
    test_discard();
    test_device();
    test_periodic();
    pci_bus_free(bus);
    fakeram_fini(&ram);
    return tap_done();
}

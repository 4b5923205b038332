/*
 * tests/unit/hypervisor/virtio/test_blk.c - virtio-blk end to end without KVM: a test
 * "driver" programs the device through PCI config space and BAR 0 like a guest would, posts
 * requests in fake guest RAM (guard pages around it) and the device's real I/O thread
 * serves them from raw images in /tmp, which the test then reads back from the host side.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/vdevs.h"
#include "virtio/virtio_pci.h"

#define WIN   0xE0000000ULL
#define QSZ   16
#define DESC  0x1000
#define AVAIL 0x2000
#define USED  0x3000
#define HDR   0x4000
#define STAT  0x5000
#define DATA  0x10000
#define RAMSZ (1u << 20)
#define DISK_SECTORS 2048

static struct fakeram ram;
static struct guestmem gm;
static struct pci_bus *bus;
static int msis;

static int fake_send(void *o, uint64_t addr, uint32_t data)
{
    __atomic_add_fetch(&msis, 1, __ATOMIC_SEQ_CST);
    return 0;
}

struct drv {
    uint64_t bar0;
    unsigned slot;
    uint16_t avail, used_seen;
    bool event_idx;
};

static struct vq_desc *D(unsigned i) { return (struct vq_desc *)(ram.base + DESC) + i; }
static struct vq_avail *A(void) { return (struct vq_avail *)(ram.base + AVAIL); }
static struct vq_used *U(void) { return (struct vq_used *)(ram.base + USED); }

static void wr(struct drv *d, unsigned off, unsigned size, uint64_t v)
{
    pci_mmio_write(bus, d->bar0 + off, size, &v);
}

static uint64_t rd(struct drv *d, unsigned off, unsigned size)
{
    uint64_t v = 0;
    pci_mmio_read(bus, d->bar0 + off, size, &v);
    return v;
}

static void drv_start(struct drv *d, int slot, bool event_idx)
{
    memset(ram.base, 0, 0x8000);
    d->slot = (unsigned)slot;
    d->avail = d->used_seen = 0;
    d->event_idx = event_idx;
    d->bar0 = ((uint64_t)pci_cfg_read(bus, d->slot, 0x14, 4) << 32) |
              (pci_cfg_read(bus, d->slot, 0x10, 4) & ~0xFu);
    wr(d, 0x14, 1, 0);
    wr(d, 0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    wr(d, 0x00, 4, 0);
    uint32_t f = (uint32_t)rd(d, 0x04, 4);
    if (!event_idx)
        f &= ~(1u << VQ_F_EVENT_IDX);
    wr(d, 0x08, 4, 0);
    wr(d, 0x0C, 4, f);
    wr(d, 0x08, 4, 1);
    wr(d, 0x0C, 4, 1);
    wr(d, 0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    wr(d, 0x16, 2, 0);
    wr(d, 0x18, 2, QSZ);
    wr(d, 0x20, 8, DESC);
    wr(d, 0x28, 8, AVAIL);
    wr(d, 0x30, 8, USED);
    wr(d, 0x1C, 2, 1);
    wr(d, 0x14, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
}

/* Makes head available and kicks unless the device asked not to (like Linux's driver). */
static void drv_post(struct drv *d, uint16_t head)
{
    A()->ring[d->avail % QSZ] = head;
    uint16_t old = d->avail++;
    __atomic_store_n(&A()->idx, d->avail, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    bool kick;
    if (d->event_idx) {
        uint16_t ev = __atomic_load_n((uint16_t *)&U()->ring[QSZ], __ATOMIC_ACQUIRE);
        kick = (uint16_t)(d->avail - ev - 1) < (uint16_t)(d->avail - old);
    } else {
        kick = !(__atomic_load_n(&U()->flags, __ATOMIC_ACQUIRE) & VQ_USED_F_NO_NOTIFY);
    }
    if (kick)
        wr(d, VPCI_NOTIFY_OFF, 2, 0);
}

/* Waits (at most 5 s) for the next used entry; returns its len or -1 on timeout. */
static long drv_wait(struct drv *d)
{
    for (int i = 0; i < 5000; i++) {
        if (__atomic_load_n(&U()->idx, __ATOMIC_ACQUIRE) != d->used_seen) {
            struct vq_used_elem e = U()->ring[d->used_seen % QSZ];
            d->used_seen++;
            return e.len;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return -1;
}

static uint8_t *status_byte(void) { return ram.base + STAT; }

/* header, optional data (writable for reads), status */
static long request(struct drv *d, uint32_t type, uint64_t sector, uint32_t len, bool dev_writes)
{
    uint32_t hdr[4] = {type, 0, (uint32_t)sector, (uint32_t)(sector >> 32)};
    memcpy(ram.base + HDR, hdr, 16);
    *status_byte() = 0xEE;
    *D(0) = (struct vq_desc){HDR, 16, VQ_DESC_F_NEXT, 1};
    if (len) {
        *D(1) = (struct vq_desc){DATA, len, (uint16_t)(VQ_DESC_F_NEXT | (dev_writes ? VQ_DESC_F_WRITE : 0)), 2};
        *D(2) = (struct vq_desc){STAT, 1, VQ_DESC_F_WRITE, 0};
    } else {
        *D(0) = (struct vq_desc){HDR, 16, VQ_DESC_F_NEXT, 2};
        *D(2) = (struct vq_desc){STAT, 1, VQ_DESC_F_WRITE, 0};
    }
    drv_post(d, 0);
    return drv_wait(d);
}

static char img_rw[64], img_ro[64];

static void make_image(char *path, size_t n, const char *tag, uint8_t fill)
{
    snprintf(path, n, "/tmp/atoll-test-blk-%s-%d.img", tag, (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    uint8_t buf[512];
    memset(buf, fill, sizeof(buf));
    for (int i = 0; i < DISK_SECTORS; i++)
        if (write(fd, buf, sizeof(buf)) != sizeof(buf))
            abort();
    close(fd);
}

static void test_parse(void)
{
    struct vdev_blk_opts o;
    char e[256];
    is_int(vdev_blk_parse("path=/a.img,readonly=on,serial=SN1,poll=on,poll_us=50", &o, e, sizeof(e)),
           0, "parse: full option");
    ok(!strcmp(o.path, "/a.img") && o.readonly && o.poll && o.poll_us == 50 &&
       !strcmp(o.serial, "SN1"), "parse: values");
    is_int(vdev_blk_parse("/b.img", &o, e, sizeof(e)), 0, "parse: bare path");
    ok(!o.readonly && !o.poll && !strcmp(o.format, "auto"), "parse: defaults");
    is_int(vdev_blk_parse("path=/a,bogus=1", &o, e, sizeof(e)), -1, "parse: unknown key refused");
    diag("message: %s", e);
    is_int(vdev_blk_parse("readonly=on", &o, e, sizeof(e)), -1, "parse: missing path refused");
    is_int(vdev_blk_parse("path=/a,readonly=maybe", &o, e, sizeof(e)), -1, "parse: bad bool");
    is_int(vdev_blk_parse("path=/a,serial=123456789012345678901", &o, e, sizeof(e)), -1,
           "parse: serial over 20 bytes");
    is_int(vdev_blk_parse("path=/a,poll_us=0", &o, e, sizeof(e)), -1, "parse: poll_us 0");
    is_int(vdev_blk_parse("path=/a,format=vmdk", &o, e, sizeof(e)), -1, "parse: bad format");
    is_int(vdev_blk_parse("path=/a,,poll=on", &o, e, sizeof(e)), -1, "parse: empty item");
    is_int(vdev_blk_parse("", &o, e, sizeof(e)), -1, "parse: empty spec");
}

static void test_rw_disk(void)
{
    struct vdev_blk_opts o;
    char e[256];
    snprintf(e, sizeof(e), "path=%s,format=raw,serial=ATOLL-SERIAL-0001", img_rw);
    vdev_blk_parse(e, &o, e, sizeof(e));
    struct vdev_blk *b = vdev_blk_new(&o, &gm, e, sizeof(e));
    ok(b != NULL, "disk opened");
    if (!b) {
        diag("%s", e);
        return;
    }
    int slot = pci_bus_add(bus, vdev_blk_pci(b), PCI_NO_GSI);
    ok(slot > 0, "disk on the bus");
    struct drv d;
    drv_start(&d, slot, false);
    is_int(rd(&d, 0x14, 1), 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK, "driver OK");
    is_int(rd(&d, VPCI_DEVCFG_OFF, 8), DISK_SECTORS, "config: capacity in sectors");
    is_int(rd(&d, VPCI_DEVCFG_OFF + 20, 4), 512, "config: blk_size");
    d.bar0 = d.bar0; /* keep */
    wr(&d, 0x00, 4, 0);
    ok(!(rd(&d, 0x04, 4) & (1u << 5)), "read-write disk: no VIRTIO_BLK_F_RO");

    /* GET_ID */
    long n = request(&d, 8, 0, 20, true);
    is_int(n, 21, "GET_ID: 20 bytes + status");
    is_int(*status_byte(), 0, "GET_ID status OK");
    ok(!memcmp(ram.base + DATA, "ATOLL-SERIAL-0001", 17), "GET_ID returns the serial");

    /* write 8 sectors of a pattern at sector 100, read back */
    for (int i = 0; i < 4096; i++)
        ram.base[DATA + i] = (uint8_t)(i * 7 + 3);
    n = request(&d, 1, 100, 4096, false);
    is_int(n, 1, "write: used len 1 (status only)");
    is_int(*status_byte(), 0, "write status OK");
    memset(ram.base + DATA, 0, 4096);
    n = request(&d, 0, 100, 4096, true);
    is_int(n, 4097, "read: used len 4096 + 1");
    is_int(*status_byte(), 0, "read status OK");
    int good = 1;
    for (int i = 0; i < 4096; i++)
        good &= ram.base[DATA + i] == (uint8_t)(i * 7 + 3);
    ok(good, "read returns what was written");
    uint8_t host[4096];
    int fd = open(img_rw, O_RDONLY);
    ok(pread(fd, host, 4096, 100 * 512) == 4096 && !memcmp(host, ram.base + DATA, 4096),
       "host image holds the guest's data at sector 100");

    /* header split across two descriptors, data in three segments */
    uint32_t hdr[4] = {1, 0, 200, 0};
    memcpy(ram.base + HDR, hdr, 16);
    memset(ram.base + DATA, 0x5A, 1536);
    *D(0) = (struct vq_desc){HDR, 10, VQ_DESC_F_NEXT, 1};
    *D(1) = (struct vq_desc){HDR + 10, 6, VQ_DESC_F_NEXT, 2};
    *D(2) = (struct vq_desc){DATA, 512, VQ_DESC_F_NEXT, 3};
    *D(3) = (struct vq_desc){DATA + 512, 1000, VQ_DESC_F_NEXT, 4};
    *D(4) = (struct vq_desc){DATA + 1512, 24, VQ_DESC_F_NEXT, 5};
    *D(5) = (struct vq_desc){STAT, 1, VQ_DESC_F_WRITE, 0};
    *status_byte() = 0xEE;
    drv_post(&d, 0);
    is_int(drv_wait(&d), 1, "split header + 3 data segments: completed");
    is_int(*status_byte(), 0, "split request status OK");
    ok(pread(fd, host, 1536, 200 * 512) == 1536 && host[0] == 0x5A && host[1535] == 0x5A,
       "split request landed on disk");

    /* errors */
    n = request(&d, 0, DISK_SECTORS - 1, 1024, true);
    is_int(*status_byte(), 1, "read past the end: IOERR");
    is_int(n, 1, "failed read: used len 1");
    request(&d, 0, ~0ULL / 256, 512, true);
    is_int(*status_byte(), 1, "read at a huge sector (overflow): IOERR");
    request(&d, 1, DISK_SECTORS, 512, false);
    is_int(*status_byte(), 1, "write past the end: IOERR");
    request(&d, 0, 0, 100, true);
    is_int(*status_byte(), 1, "read not a multiple of 512: IOERR");
    request(&d, 99, 0, 0, false);
    is_int(*status_byte(), 2, "unknown request type: UNSUPP");
    request(&d, 4, 0, 0, false);
    is_int(*status_byte(), 0, "flush: OK");

    /* write zeroes then discard */
    uint32_t range[4] = {100, 0, 8, 0};
    memcpy(ram.base + DATA, range, 16);
    request(&d, 13, 0, 16, false);
    is_int(*status_byte(), 0, "write zeroes: OK");
    ok(pread(fd, host, 4096, 100 * 512) == 4096 && host[0] == 0 && host[4095] == 0,
       "write zeroes cleared the range on disk");
    range[0] = 0;
    range[2] = 16;
    memcpy(ram.base + DATA, range, 16);
    request(&d, 11, 0, 16, false);
    is_int(*status_byte(), 0, "discard: OK");
    range[0] = DISK_SECTORS - 1;
    memcpy(ram.base + DATA, range, 16);
    request(&d, 11, 0, 16, false);
    is_int(*status_byte(), 1, "discard beyond the end: IOERR");
    request(&d, 11, 0, 12, false);
    is_int(*status_byte(), 2, "discard with a partial range: UNSUPP");

    /* malformed chains: completed with length 0, status untouched, device keeps going */
    *D(0) = (struct vq_desc){HDR, 16, VQ_DESC_F_NEXT, 1};
    *D(1) = (struct vq_desc){DATA, 512, VQ_DESC_F_NEXT, 0};
    *status_byte() = 0xEE;
    drv_post(&d, 0);
    is_int(drv_wait(&d), 0, "looping chain: used len 0");
    is_int(*status_byte(), 0xEE, "looping chain: status not written");
    *D(0) = (struct vq_desc){HDR, 16, 0, 0};
    drv_post(&d, 0);
    is_int(drv_wait(&d), 0, "request without a writable status: used len 0");
    *D(0) = (struct vq_desc){HDR, 16, VQ_DESC_F_NEXT, 1};
    *D(1) = (struct vq_desc){RAMSZ - 256, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2};
    drv_post(&d, 0);
    is_int(drv_wait(&d), 0, "data buffer crossing the end of RAM: used len 0");
    request(&d, 0, 100, 512, true);
    is_int(*status_byte(), 0, "device still serves requests after hostile chains");
    struct vdev_blk_stats st;
    vdev_blk_get_stats(b, &st);
    is_int(st.bad_chains, 3, "three bad chains counted");
    ok(st.reads >= 2 && st.writes >= 2 && st.flushes == 1, "read/write/flush counters");

    /* polling: many requests, the driver skips kicks while the device polls */
    vdev_blk_set_poll(b, true, 100000);
    uint64_t kicks0 = st.kicks;
    good = 1;
    for (int i = 0; i < 200; i++) {
        request(&d, 0, (uint64_t)i, 512, true);
        good &= *status_byte() == 0;
    }
    ok(good, "200 requests in polling mode completed");
    vdev_blk_get_stats(b, &st);
    ok(st.polled > 0, "requests found by polling (%llu polled, %llu kicks)",
       (unsigned long long)st.polled, (unsigned long long)(st.kicks - kicks0));
    vdev_blk_set_poll(b, false, 0);

    /* a corrupted avail ring: NEEDS_RESET, then a reset brings the disk back */
    A()->ring[d.avail % QSZ] = 999;
    d.avail++;
    __atomic_store_n(&A()->idx, d.avail, __ATOMIC_RELEASE);
    wr(&d, VPCI_NOTIFY_OFF, 2, 0);
    good = 0;
    for (int i = 0; i < 5000 && !good; i++) {
        good = (rd(&d, 0x14, 1) & VIRTIO_S_NEEDS_RESET) != 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    ok(good, "head index out of range: device sets NEEDS_RESET");
    drv_start(&d, slot, true);
    request(&d, 0, 100, 512, true);
    is_int(*status_byte(), 0, "after reset (EVENT_IDX this time) the disk works again");
    close(fd);
    vdev_blk_free(b);
}

static void test_ro_disk(void)
{
    struct vdev_blk_opts o;
    char e[256];
    snprintf(e, sizeof(e), "path=%s,readonly=on,poll=on", img_ro);
    vdev_blk_parse(e, &o, e, sizeof(e));
    struct vdev_blk *b = vdev_blk_new(&o, &gm, e, sizeof(e));
    ok(b != NULL, "read-only disk opened");
    if (!b)
        return;
    int slot = pci_bus_add(bus, vdev_blk_pci(b), PCI_NO_GSI);
    struct drv d;
    drv_start(&d, slot, true);
    wr(&d, 0x00, 4, 0);
    ok(rd(&d, 0x04, 4) & (1u << 5), "read-only disk offers VIRTIO_BLK_F_RO");
    request(&d, 0, 7, 512, true);
    ok(*status_byte() == 0 && ram.base[DATA] == 0xA5, "read-only disk reads");
    memset(ram.base + DATA, 0x11, 512);
    request(&d, 1, 7, 512, false);
    is_int(*status_byte(), 1, "write to a read-only disk: IOERR");
    uint32_t range[4] = {0, 0, 8, 0};
    memcpy(ram.base + DATA, range, 16);
    request(&d, 11, 0, 16, false);
    is_int(*status_byte(), 1, "discard on a read-only disk: IOERR");
    int fd = open(img_ro, O_RDONLY);
    uint8_t host[512];
    ok(pread(fd, host, 512, 7 * 512) == 512 && host[0] == 0xA5, "image unchanged");
    close(fd);
    vdev_blk_free(b);
}

/* VIRTIO_BLK_F_MQ: two queues, each served by its own I/O thread. */
static void test_mq_disk(void)
{
    struct vdev_blk_opts o;
    char e[256];
    snprintf(e, sizeof(e), "path=%s,format=raw,serial=MQ,queues=2", img_rw);
    is_int(vdev_blk_parse(e, &o, e, sizeof(e)), 0, "parse queues=2");
    is_int(vdev_blk_parse("path=/a,queues=9", &o, e, sizeof(e)), -1, "queues=9 refused");
    snprintf(e, sizeof(e), "path=%s,format=raw,serial=MQ,queues=2", img_rw);
    vdev_blk_parse(e, &o, e, sizeof(e));
    struct vdev_blk *b = vdev_blk_new(&o, &gm, e, sizeof(e));
    ok(b != NULL, "two-queue disk opened");
    if (!b)
        return;
    int slot = pci_bus_add(bus, vdev_blk_pci(b), PCI_NO_GSI);
    struct drv d;
    drv_start(&d, slot, false); /* queue 0 as usual */
    wr(&d, 0x00, 4, 0);
    ok(rd(&d, 0x04, 4) & (1u << 12), "VIRTIO_BLK_F_MQ offered");
    is_int(rd(&d, 0x12, 2), 2, "two queues in common config");
    is_int(rd(&d, VPCI_DEVCFG_OFF + 34, 2), 2, "config num_queues = 2");
    /* reset, then set up both queues: queue 1's rings at 0x8000/0x9000/0xA000 */
    memset(ram.base + 0x8000, 0, 0x3000);
    wr(&d, 0x14, 1, 0);
    wr(&d, 0x14, 1, 3);
    wr(&d, 0x08, 4, 0);
    wr(&d, 0x0C, 4, 1u << 12);
    wr(&d, 0x08, 4, 1);
    wr(&d, 0x0C, 4, 1);
    wr(&d, 0x14, 1, 11);
    uint64_t rings[2][3] = {{DESC, AVAIL, USED}, {0x8000, 0x9000, 0xA000}};
    for (unsigned q = 0; q < 2; q++) {
        wr(&d, 0x16, 2, q);
        wr(&d, 0x18, 2, QSZ);
        wr(&d, 0x20, 8, rings[q][0]);
        wr(&d, 0x28, 8, rings[q][1]);
        wr(&d, 0x30, 8, rings[q][2]);
        is_int(rd(&d, 0x1E, 2), q, "queue_notify_off of queue %u", q);
        wr(&d, 0x1C, 2, 1);
    }
    wr(&d, 0x14, 1, 15);
    is_int(rd(&d, 0x14, 1), 15, "DRIVER_OK with two queues");
    /* GET_ID on queue 1 */
    struct vq_desc *d1 = (struct vq_desc *)(ram.base + 0x8000);
    uint32_t hdr[4] = {8, 0, 0, 0};
    memcpy(ram.base + 0xB000, hdr, 16);
    ram.base[0xB100] = 0xEE;
    d1[0] = (struct vq_desc){0xB000, 16, VQ_DESC_F_NEXT, 1};
    d1[1] = (struct vq_desc){0xB200, 20, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2};
    d1[2] = (struct vq_desc){0xB100, 1, VQ_DESC_F_WRITE, 0};
    struct vq_avail *a1 = (struct vq_avail *)(ram.base + 0x9000);
    struct vq_used *u1 = (struct vq_used *)(ram.base + 0xA000);
    a1->ring[0] = 0;
    __atomic_store_n(&a1->idx, 1, __ATOMIC_RELEASE);
    wr(&d, VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT, 2, 1);
    for (int i = 0; i < 5000 && __atomic_load_n(&u1->idx, __ATOMIC_ACQUIRE) != 1; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ok(u1->idx == 1 && ram.base[0xB100] == 0 && !memcmp(ram.base + 0xB200, "MQ", 2),
       "queue 1 served by its own thread (GET_ID)");
    /* and queue 0 still works, concurrently */
    d.avail = d.used_seen = 0;
    request(&d, 0, 100, 512, true);
    is_int(*status_byte(), 0, "queue 0 served too");
    vdev_blk_free(b);
}

/* The VMM-facing entry point without KVM: --disk options and control commands. */
static void test_vdevs(void)
{
    char e[512], out[512];
    struct vdevs *v = vdevs_new(-1, &gm, WIN, 256 << 20, e, sizeof(e));
    ok(v != NULL, "vdevs without KVM");
    snprintf(e, sizeof(e), "path=%s,format=raw,serial=S0", img_rw);
    is_int(vdevs_add_disk(v, e, e, sizeof(e)), 0, "vdevs_add_disk");
    snprintf(e, sizeof(e), "path=%s,readonly=on,serial=has space", img_ro);
    is_int(vdevs_add_disk(v, e, e, sizeof(e)), 0, "second disk");
    is_int(vdevs_add_disk(v, "path=/nonexistent/x.img", e, sizeof(e)), -1, "missing image refused");
    diag("%s", e);
    is_int(vdevs_add_disk(v, "bogus=1", e, sizeof(e)), -1, "bad option refused");
    is_int(vdevs_disk_count(v), 2, "two disks");
    uint32_t probe = 0x80000000u | 1u << 11, id = 0;
    vdevs_pio(v, 0xCF8, true, 4, (uint8_t *)&probe);
    vdevs_pio(v, 0xCFC, false, 4, (uint8_t *)&id);
    is_int(id, 0x10421af4, "disk 0 visible at 00:01.0 through vdevs_pio");
    is_int(vdevs_control(v, "status", NULL, out, sizeof(out)), -1, "foreign command not taken");
    vdevs_control(v, "disks", NULL, out, sizeof(out));
    is_str(out, "OK count=2", "disks");
    vdevs_control(v, "disk", "1", out, sizeof(out));
    ok(strstr(out, "readonly=on") && strstr(out, "serial=\"has space\"") &&
       strstr(out, "sectors=2048") && strstr(out, "format=raw"), "disk 1: %s", out);
    vdevs_control(v, "disk-poll", "0 on 250", out, sizeof(out));
    is_str(out, "OK disk=0 poll=on poll_us=250", "disk-poll on");
    vdevs_control(v, "disk-poll", "0 off", out, sizeof(out));
    is_str(out, "OK disk=0 poll=off poll_us=250", "disk-poll off keeps the window");
    vdevs_control(v, "disk-poll", "0 maybe", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "disk-poll bad mode: %s", out);
    vdevs_control(v, "disk-stats", "7", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "disk-stats bad index: %s", out);
    vdevs_control(v, "disk-stats", "0", out, sizeof(out));
    ok(!strncmp(out, "OK disk=0 reads=0 writes=0", 26), "disk-stats: %s", out);
    /* online resize: capacity and config generation change, the image grows */
    uint32_t lo = 0, hi = 0;
    probe = 0x80000000u | 1u << 11 | 0x10;
    vdevs_pio(v, 0xCF8, true, 4, (uint8_t *)&probe);
    vdevs_pio(v, 0xCFC, false, 4, (uint8_t *)&lo);
    probe = 0x80000000u | 1u << 11 | 0x14;
    vdevs_pio(v, 0xCF8, true, 4, (uint8_t *)&probe);
    vdevs_pio(v, 0xCFC, false, 4, (uint8_t *)&hi);
    uint64_t b0 = ((uint64_t)hi << 32) | (lo & ~0xFu), cap = 0, gen0 = 0, gen1 = 0;
    vdevs_mmio(v, b0 + 0x15, false, 1, (uint8_t *)&gen0);
    vdevs_control(v, "disk-resize", "0 2", out, sizeof(out));
    is_str(out, "OK disk=0 sectors=4096", "disk-resize 0 2 (MiB)");
    vdevs_mmio(v, b0 + VPCI_DEVCFG_OFF, false, 8, (uint8_t *)&cap);
    is_int(cap, 4096, "config capacity follows");
    vdevs_mmio(v, b0 + 0x15, false, 1, (uint8_t *)&gen1);
    is_int((uint8_t)(gen1 - gen0), 1, "config_generation bumped");
    struct stat sb;
    ok(stat(img_rw, &sb) == 0 && sb.st_size == 2 << 20, "the image file grew to 2 MiB");
    vdevs_control(v, "disk-resize", "0 1", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "shrinking refused: %s", out);
    vdevs_control(v, "disk-resize", "1 8", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "read-only disk not resized: %s", out);
    vdevs_control(v, "disk-resize", "0 lots", out, sizeof(out));
    ok(!strncmp(out, "ERR BAD_ARGUMENT", 16), "bad size refused");
    vdevs_free(v);
}

int main(void)
{
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    struct pci_host_ops ops = {.msi_send = fake_send};
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    make_image(img_rw, sizeof(img_rw), "rw", 0);
    make_image(img_ro, sizeof(img_ro), "ro", 0xA5);
    test_parse();
    test_rw_disk();
    test_ro_disk();
    test_mq_disk();
    test_vdevs();
    unlink(img_rw);
    unlink(img_ro);
    pci_bus_free(bus);
    fakeram_fini(&ram);
    return tap_done();
}

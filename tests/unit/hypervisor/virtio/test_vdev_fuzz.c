/*
 * tests/unit/hypervisor/virtio/test_vdev_fuzz.c - a hostile guest against the whole device
 * stack: random port and MMIO accesses (config space, BAR sizing and moves, common config,
 * notify, ISR, MSI-X table), random ring contents in fake RAM (guard pages around it) and,
 * now and then, a well-formed driver start with rings at random places so that the disk's
 * real I/O thread parses garbage chains concurrently. Passes if nothing crashes, hangs or
 * touches memory outside the fake RAM, and a clean driver start still works at the end.
 * Deterministic (fixed seed), bounded iteration count.
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdbool.h>
#include <time.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "virtio/virtio_pci.h"

#define WIN   0xE0000000ULL
#define RAMSZ (1u << 20)
#define ROUNDS 200000

static struct fakeram ram;
static struct guestmem gm;
static struct pci_bus *bus;
static __thread uint64_t rng = 0x853c49e6748fea9bULL;
static int irqs; /* atomic */
#define THREADS 3 /* vCPU threads hammering the bus at once */

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int fake_send(void *o, uint64_t a, uint32_t d)
{
    __atomic_add_fetch(&irqs, 1, __ATOMIC_RELAXED);
    return 0;
}
static int fake_ioevt(void *o, int efd, uint64_t gpa, uint32_t len, bool assign)
{
    return (rnd() % 4) ? 0 : -ENOSPC; /* sometimes refused: the MMIO fallback is used */
}
static void fake_intx(void *o, uint32_t gsi, int level) {}

static uint64_t val(void)
{
    switch (rnd() % 8) {
    case 0: return 0;
    case 1: return ~0ULL;
    case 2: return rnd() % 16;
    case 3: return 1ULL << (rnd() % 64);
    case 4: return (rnd() % RAMSZ) & ~15ULL; /* an address inside RAM */
    case 5: return RAMSZ - (rnd() % 64);
    default: return rnd();
    }
}

static unsigned size_of(void) { return 1u << (rnd() % 4); }

static uint64_t bar(unsigned slot, unsigned b)
{
    return ((uint64_t)pci_cfg_read(bus, slot, 0x14 + 4 * b, 4) << 32) |
           (pci_cfg_read(bus, slot, 0x10 + 4 * b, 4) & ~0xFu);
}

static void mmio(uint64_t gpa, bool write)
{
    uint64_t v = val();
    unsigned sz = size_of();
    if (write)
        pci_mmio_write(bus, gpa, sz, &v);
    else
        pci_mmio_read(bus, gpa, sz, &v);
}

/* Plausible but random requests in the sane layout (rings at 0x1000/0x2000/0x3000). */
static void fill_requests(void)
{
    struct vq_desc *d = (struct vq_desc *)(ram.base + 0x1000);
    static const uint32_t types[] = {0, 1, 4, 8, 11, 13, 99};
    for (unsigned i = 0; i < 16; i++) {
        uint16_t fl = (uint16_t)(rnd() % 4 ? VQ_DESC_F_NEXT : 0);
        if (rnd() % 2)
            fl |= VQ_DESC_F_WRITE;
        if (rnd() % 16 == 0)
            fl |= VQ_DESC_F_INDIRECT;
        uint32_t len = rnd() % 4 ? 16 * (uint32_t)(1 + rnd() % 64) : (uint32_t)val();
        uint64_t addr = rnd() % 8 ? 0x4000 + (rnd() % 0x8000) : val();
        d[i] = (struct vq_desc){addr, len, fl, (uint16_t)(rnd() % 8 ? (i + 1) % 16 : rnd())};
    }
    for (unsigned i = 0; i < 64; i++) { /* request headers scattered in the data area */
        uint32_t h[4] = {types[rnd() % 7], 0, (uint32_t)(rnd() % 4096), 0};
        memcpy(ram.base + 0x4000 + 16 * (rnd() % 0x800), h, 16);
    }
    /* some well-formed requests among them: header, data, status */
    for (unsigned i = 0; i < 15; i += 3) {
        if (rnd() % 2)
            continue;
        uint64_t h = 0x4000 + 16 * (rnd() % 0x800);
        uint32_t t = types[rnd() % 7];
        uint32_t hd[4] = {t, 0, (uint32_t)(rnd() % 2100), 0};
        memcpy(ram.base + h, hd, 16);
        uint32_t len = 512 * (uint32_t)(1 + rnd() % 8);
        d[i] = (struct vq_desc){h, 16, VQ_DESC_F_NEXT, (uint16_t)(i + 1)};
        d[i + 1] = (struct vq_desc){0xC000 + 4096 * (rnd() % 8), len,
                                    (uint16_t)(VQ_DESC_F_NEXT | (t == 1 ? 0 : VQ_DESC_F_WRITE)),
                                    (uint16_t)(i + 2)};
        d[i + 2] = (struct vq_desc){0x5000 + i, 1, VQ_DESC_F_WRITE, 0};
    }
    uint16_t *avail = (uint16_t *)(ram.base + 0x2000);
    for (unsigned i = 0; i < 16; i++)
        avail[2 + i] = (uint16_t)(rnd() % 16 ? 3 * (rnd() % 5) + (rnd() % 4 ? 0 : 1) : rnd());
    __atomic_store_n(&avail[1], (uint16_t)(1 + rnd() % 16), __ATOMIC_RELEASE);
}

/* The driver's normal start with rings at random aligned places (maybe overlapping). */
static void driver_start(uint64_t b0, bool sane)
{
    uint64_t v;
#define W(off, sz, x) (v = (x), pci_mmio_write(bus, b0 + (off), (sz), &v))
    W(0x14, 1, 0);
    W(0x14, 1, 3);
    W(0x08, 4, 0);
    W(0x0C, 4, (uint32_t)(sane ? (1u << 28) | (1u << 29) : rnd()));
    W(0x08, 4, 1);
    W(0x0C, 4, 1);
    W(0x14, 1, 11);
    W(0x16, 2, 0);
    W(0x18, 2, sane ? 16 : 1u << (rnd() % 10));
    W(0x20, 8, sane ? 0x1000 : (rnd() % RAMSZ) & ~15ULL);
    W(0x28, 8, sane ? 0x2000 : (rnd() % RAMSZ) & ~1ULL);
    W(0x30, 8, sane ? 0x3000 : (rnd() % RAMSZ) & ~3ULL);
    W(0x1C, 2, 1);
    W(0x14, 1, 15);
#undef W
}

/* One vCPU's worth of hostile accesses; returns the number of driver starts. */
static void *storm(void *arg)
{
    rng ^= (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL;
    unsigned starts = 0;
    for (unsigned i = 0; i < ROUNDS / THREADS; i++) {
        uint64_t b0 = bar(1, 0), b2 = bar(1, 2);
        unsigned r = (unsigned)(rnd() % 100);
        if (r < 15) {
            uint32_t a = 0x80000000u | (uint32_t)(rnd() % 3) << 11 | (uint32_t)(rnd() % 256);
            uint64_t v = val();
            pci_io_write(bus, 0xCF8, 4, &a);
            pci_io_write(bus, (uint16_t)(0xCFC + rnd() % 4), size_of() % 8 ? 1u << (rnd() % 3) : 4,
                         &v);
        } else if (r < 20) {
            uint32_t a = (uint32_t)rnd(), v = 0;
            pci_io_write(bus, 0xCF8, 4, &a);
            pci_io_read(bus, (uint16_t)(0xCF8 + rnd() % 8), 1u << (rnd() % 3), &v);
        } else if (r < 50) {
            mmio(b0 + rnd() % 0x40, true);
        } else if (r < 58) {
            mmio(b0 + 0x3000 + 4 * (rnd() % 4), true); /* notify */
        } else if (r < 64) {
            mmio(b0 + rnd() % 0x4000, rnd() % 2);
        } else if (r < 70) {
            mmio(b2 + rnd() % 0x1000, rnd() % 2);
        } else if (r < 72) {
            mmio(rnd() % 2 ? WIN + rnd() % (1 << 20) : rnd(), rnd() % 2);
        } else if (r < 95) {
            /* the guest scribbles over its rings and buffers while the device runs */
            uint64_t off = rnd() % (RAMSZ - 8);
            uint64_t v = val();
            memcpy(ram.base + (off < 0x10000 ? off : off % 0x4000), &v, 1 + rnd() % 8);
        } else if (r < 97) {
            uint64_t v = (rnd() % 3);
            /* bump an avail index as a driver would, then kick */
            uint16_t *idx = (uint16_t *)(ram.base + 0x2002);
            *idx = (uint16_t)(*idx + v);
            mmio(b0 + 0x3000, true);
        } else {
            bool sane = rnd() % 4;
            if (sane) {
                memset(ram.base + 0x1000, 0, 0x3000);
                if (rnd() % 2) { /* undo config damage so that the start can succeed */
                    pci_cfg_write(bus, 1, 0x10, 4, (uint32_t)WIN | 4);
                    pci_cfg_write(bus, 1, 0x14, 4, 0);
                    pci_cfg_write(bus, 1, 0x04, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
                    b0 = WIN;
                }
            }
            driver_start(b0 ? b0 : WIN, sane);
            if (sane) {
                fill_requests();
                uint64_t z = 0;
                pci_mmio_write(bus, (b0 ? b0 : WIN) + 0x3000, 2, &z);
                /* let the I/O thread chew on it while the storm goes on */
                nanosleep(&(struct timespec){0, 200000}, NULL);
            }
            starts++;
        }
    }
    return (void *)(uintptr_t)starts;
}

int main(void)
{
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    struct pci_host_ops ops = {.msi_send = fake_send, .ioeventfd = fake_ioevt,
                               .intx_set = fake_intx};
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    char path[64], e[256];
    snprintf(path, sizeof(path), "/tmp/atoll-test-vdev-fuzz-%d.img", (int)getpid());
    int fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
        /* a plan of 0 with SKIP, exit 0: the TAP driver calls exit 77 an ERROR */
        printf("1..0 # SKIP cannot create a disk image in /tmp\n");
        return 0;
    }
    close(fd);
    struct vdev_blk_opts o;
    snprintf(e, sizeof(e), "path=%s,format=raw,serial=FUZZ", path);
    vdev_blk_parse(e, &o, e, sizeof(e));
    struct vdev_blk *b = vdev_blk_new(&o, &gm, e, sizeof(e));
    if (!b) {
        unlink(path);
        printf("1..0 # SKIP cannot open the disk image: %s\n", e);
        return 0;
    }
    pci_bus_add(bus, vdev_blk_pci(b), 10);
    unsigned starts = 0;
    pthread_t th[THREADS];
    for (unsigned k = 0; k < THREADS; k++)
        pthread_create(&th[k], NULL, storm, (void *)(uintptr_t)(k + 1));
    for (unsigned k = 0; k < THREADS; k++) {
        void *r;
        pthread_join(th[k], &r);
        starts += (unsigned)(uintptr_t)r;
    }
    struct vdev_blk_stats st;
    vdev_blk_get_stats(b, &st);
    ok(1, "%u random accesses from %d threads (%u driver starts, %d interrupts), no crash",
       ROUNDS, THREADS, starts, irqs);
    diag("device saw: %llu reads, %llu writes, %llu bad chains, %llu broken rings, %llu kicks",
         (unsigned long long)st.reads, (unsigned long long)st.writes,
         (unsigned long long)st.bad_chains, (unsigned long long)st.broken_rings,
         (unsigned long long)st.kicks);
    ok(st.bad_chains + st.broken_rings > 0, "the device parsed hostile rings");

    /* restore sane config, then a clean driver start must still give a working disk */
    pci_cfg_write(bus, 1, 0x04, 2, 0);
    pci_cfg_write(bus, 1, 0x10, 4, (uint32_t)WIN | 4);
    pci_cfg_write(bus, 1, 0x14, 4, 0);
    pci_cfg_write(bus, 1, 0x04, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
    memset(ram.base, 0, 0x10000);
    driver_start(WIN, true);
    uint64_t status = 0;
    pci_mmio_read(bus, WIN + 0x14, 1, &status);
    is_int(status, 15, "clean restart: DRIVER_OK");
    struct vq_desc *d = (struct vq_desc *)(ram.base + 0x1000);
    uint32_t hdr[4] = {8, 0, 0, 0};
    memcpy(ram.base + 0x4000, hdr, 16);
    ram.base[0x5000] = 0xEE;
    d[0] = (struct vq_desc){0x4000, 16, VQ_DESC_F_NEXT, 1};
    d[1] = (struct vq_desc){0x4100, 20, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2};
    d[2] = (struct vq_desc){0x5000, 1, VQ_DESC_F_WRITE, 0};
    uint16_t *avail = (uint16_t *)(ram.base + 0x2000);
    avail[2] = 0;
    __atomic_store_n(&avail[1], 1, __ATOMIC_RELEASE);
    uint64_t one = 0;
    pci_mmio_write(bus, WIN + 0x3000, 2, &one);
    uint16_t *used = (uint16_t *)(ram.base + 0x3000);
    for (int i = 0; i < 5000 && __atomic_load_n(&used[1], __ATOMIC_ACQUIRE) != 1; i++)
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    ok(used[1] == 1 && ram.base[0x5000] == 0 && !memcmp(ram.base + 0x4100, "FUZZ", 4),
       "clean restart: GET_ID answered after the storm");
    vdev_blk_free(b);
    pci_bus_free(bus);
    unlink(path);
    fakeram_fini(&ram);
    return tap_done();
}

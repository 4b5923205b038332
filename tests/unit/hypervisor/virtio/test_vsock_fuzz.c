/*
 * tests/unit/hypervisor/virtio/test_vsock_fuzz.c - a hostile guest against the balloon and
 * vsock devices (deterministic pseudo-random storms, bounded): random PFN lists, chain
 * shapes and stats buffers for the balloon; random vsock headers (ops, ports, lengths, cids,
 * flags), odd receive buffers and kicks while host clients connect, send and hang up. The
 * devices must keep answering, never touch memory outside the fake RAM (guard pages) and
 * leave no connection behind once the host side is closed and the driver resets.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/balloon.h"
#include "virtio/pci.h"
#include "virtio/virtio_pci.h"
#include "virtio/vq.h"
#include "virtio/vsock.h"
#include "virtio/vsock_pkt.h"

#define WIN   0xE0000000ULL
#define QSZ   16
#define RAMSZ (2u << 20)
#define BUFS  0x40000 /* 64 KiB of packet buffers */
#define CID   11
#define ROUNDS 4000

static struct fakeram ram;
static struct guestmem gm;
static struct pci_bus *bus;
static uint64_t bar0, rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

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
    uint16_t idx;
};
static struct q qs[3];
static struct vq_desc *D(struct q *q, unsigned i)
{
    return (struct vq_desc *)(ram.base + q->desc) + i;
}
static struct vq_avail *A(struct q *q) { return (struct vq_avail *)(ram.base + q->avail); }

static void start(unsigned slot, uint32_t features)
{
    bar0 = ((uint64_t)pci_cfg_read(bus, slot, 0x14, 4) << 32) |
           (pci_cfg_read(bus, slot, 0x10, 4) & ~0xFu);
    memset(ram.base, 0, 0x10000);
    wr(0x14, 1, 0);
    wr(0x14, 1, 3);
    wr(0x08, 4, 0);
    wr(0x0C, 4, features);
    wr(0x08, 4, 1);
    wr(0x0C, 4, 1);
    wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    for (unsigned n = 0; n < 3; n++) {
        qs[n] = (struct q){0x1000 + 0x3000 * n, 0x2000 + 0x3000 * n, 0x3000 + 0x3000 * n, 0};
        wr(0x16, 2, n);
        wr(0x18, 2, QSZ);
        wr(0x20, 8, qs[n].desc);
        wr(0x28, 8, qs[n].avail);
        wr(0x30, 8, qs[n].used);
        wr(0x1C, 2, 1);
    }
    wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
}

/* Posts one chain of 1-3 descriptors with random shapes: mostly sane, sometimes hostile. */
static void post_random(unsigned n, uint64_t addr, uint32_t len, uint16_t flags)
{
    struct q *q = &qs[n];
    unsigned head = q->idx % QSZ;
    uint64_t r = rnd();
    *D(q, head) = (struct vq_desc){addr, len, flags, 0};
    switch (r % 16) {
    case 0: *D(q, head) = (struct vq_desc){rnd(), len, flags, 0}; break; /* wild address */
    case 1: D(q, head)->len = (uint32_t)rnd(); break;                   /* huge length */
    case 2: D(q, head)->flags ^= VQ_DESC_F_WRITE; break;                 /* wrong direction */
    case 3: D(q, head)->flags |= VQ_DESC_F_NEXT; D(q, head)->next = (uint16_t)head; break;
    case 4: /* split in two descriptors */
        if (len > 8) {
            unsigned nx = (head + 8) % QSZ;
            D(q, head)->len = len / 2;
            D(q, head)->flags |= VQ_DESC_F_NEXT;
            D(q, head)->next = (uint16_t)nx;
            *D(q, nx) = (struct vq_desc){addr + len / 2, len - len / 2, flags, 0};
        }
        break;
    default: break;
    }
    A(q)->ring[q->idx % QSZ] = (r % 997 == 0) ? (uint16_t)rnd() : (uint16_t)head;
    q->idx++;
    __atomic_store_n(&A(q)->idx, q->idx, __ATOMIC_RELEASE);
    if (rnd() % 4)
        wr(VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * n, 2, n);
}

static void pause_us(long us)
{
    nanosleep(&(struct timespec){0, us * 1000}, NULL);
}

static void storm_balloon(void)
{
    struct vdev_balloon_opts o;
    char e[256], out[1024];
    vdev_balloon_parse("stats=1", &o, e, sizeof(e));
    struct vdev_balloon *b = vdev_balloon_new(&o, &gm, RAMSZ, e, sizeof(e));
    int slot = pci_bus_add(bus, vdev_balloon_pci(b), PCI_NO_GSI);
    start((unsigned)slot, 2);
    for (int i = 0; i < ROUNDS; i++) {
        unsigned n = (unsigned)(rnd() % 3);
        uint32_t *p = (uint32_t *)(ram.base + BUFS + (i % 8) * 4096);
        for (unsigned k = 0; k < 1024; k++)
            p[k] = (rnd() & 1) ? (uint32_t)(rnd() % (RAMSZ / 4096 + 64)) : (uint32_t)rnd();
        post_random(n, BUFS + (uint64_t)(i % 8) * 4096, (uint32_t)(rnd() % 4100), 0);
        if (i % 500 == 0)
            vdev_balloon_set_target(b, rnd() % RAMSZ, e, sizeof(e));
        if (i % 97 == 0)
            vdev_balloon_request_stats(b);
        if (i % 1000 == 999 || (rd(0x14, 1) & VIRTIO_S_NEEDS_RESET))
            start((unsigned)slot, 2); /* driver reset (periodic, or the device asked) */
        if (i % 16 == 0)
            pause_us(50);
    }
    pause_us(20000);
    struct vdev_balloon_info in;
    vdev_balloon_get_info(b, &in);
    ok(in.bad_pfns > 0 && in.inflated_pages > 0, "balloon storm: good and bad PFNs seen "
       "(inflated %llu, bad %llu, bad chains %llu, broken rings %llu)",
       (unsigned long long)in.inflated_pages, (unsigned long long)in.bad_pfns,
       (unsigned long long)in.bad_chains, (unsigned long long)in.broken_rings);
    ok(vdev_balloon_control(b, "query-balloon", NULL, out, sizeof(out)) == 0 &&
       !strncmp(out, "OK ", 3), "balloon still answers");
    vdev_balloon_free(b);
}

static int client(const char *path)
{
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    if (connect(c, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(c);
        return -1;
    }
    return c;
}

static void storm_vsock(void)
{
    char dir[32] = "/tmp/atoll-fvsock-XXXXXX", uds[64], path[96], e[256], out[512];
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(uds, sizeof(uds), "%s/v", dir);
    struct vdev_vsock_opts o = {.cid = CID};
    snprintf(o.uds, sizeof(o.uds), "%s", uds);
    struct vdev_vsock *s = vdev_vsock_new(&o, &gm, e, sizeof(e));
    int slot = pci_bus_add(bus, vdev_vsock_pci(s), PCI_NO_GSI);
    snprintf(path, sizeof(path), "%s_7", uds);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    ok(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 64) == 0,
       "host listener on port 7");
    start((unsigned)slot, 0);
    int hosts[32], nh = 0;
    for (int i = 0; i < ROUNDS; i++) {
        uint64_t r = rnd();
        if (r % 3 == 0) { /* a receive buffer of a random size */
            uint32_t len = (uint32_t)(rnd() % 5000);
            post_random(0, BUFS + (uint64_t)(i % 16) * 4096, len, VQ_DESC_F_WRITE);
        } else { /* a packet from the guest */
            uint8_t *p = ram.base + BUFS + (uint64_t)(i % 16) * 4096;
            uint32_t ports[] = {7, 8, 0x40000000u + (uint32_t)(rnd() % 32), (uint32_t)rnd()};
            uint32_t sports[] = {5, 1000, 1001};
            uint16_t op = (uint16_t)(rnd() % 9);
            struct vsock_hdr h = {
                .src_cid = rnd() % 8 ? CID : rnd(), .dst_cid = rnd() % 8 ? 2 : rnd(),
                .src_port = sports[rnd() % 3], .dst_port = ports[rnd() % 4],
                .len = (uint32_t)(op == VSOCK_OP_RW || rnd() % 8 == 0
                                      ? (rnd() % 8 ? rnd() % 600 : rnd()) : 0),
                .type = rnd() % 8 ? 1 : 2, .op = op, .flags = (uint32_t)(rnd() % 4),
                .buf_alloc = (uint32_t)(rnd() % 2 ? 65536 : rnd()), .fwd_cnt = (uint32_t)rnd()};
            memcpy(p, &h, sizeof(h));
            for (unsigned k = 44; k + 8 <= 4096; k += 8) {
                uint64_t x = rnd();
                memcpy(p + k, &x, 8);
            }
            post_random(1, BUFS + (uint64_t)(i % 16) * 4096, 44 + (uint32_t)(rnd() % 700), 0);
        }
        if (r % 13 == 0) { /* host side: accept, connect, write, hang up */
            int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0 && nh < 32)
                hosts[nh++] = fd;
            else if (fd >= 0)
                close(fd);
            if (nh < 32 && (fd = client(uds)) >= 0) {
                const char *lines[] = {"CONNECT 5\n", "CONNECT 99999999999\n", "junk", "\n"};
                const char *ln = lines[rnd() % 4];
                if (send(fd, ln, strlen(ln), MSG_NOSIGNAL) < 0) {
                }
                hosts[nh++] = fd;
            }
            if (nh) {
                unsigned k = (unsigned)(rnd() % nh);
                char junk[256];
                memset(junk, (int)r, sizeof(junk));
                if (rnd() % 2) {
                    if (send(hosts[k], junk, sizeof(junk), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                    }
                } else {
                    close(hosts[k]);
                    hosts[k] = hosts[--nh];
                }
            }
        }
        if (i % 1500 == 1499 || (rd(0x14, 1) & VIRTIO_S_NEEDS_RESET))
            start((unsigned)slot, 0); /* driver reset (as a driver does on NEEDS_RESET) */
        if (i % 16 == 0)
            pause_us(50);
    }
    pause_us(20000);
    struct vdev_vsock_stats st;
    vdev_vsock_get_stats(s, &st);
    ok(st.bad_packets > 0 && st.tx_packets > 0, "vsock storm: %llu packets, %llu bad, %llu "
       "resets, %llu guest connects, %llu host connects, %llu broken rings",
       (unsigned long long)st.tx_packets, (unsigned long long)st.bad_packets,
       (unsigned long long)st.resets, (unsigned long long)st.guest_connects,
       (unsigned long long)st.host_connects, (unsigned long long)st.broken_rings);
    ok(vdev_vsock_control(s, "query-vsock", NULL, out, sizeof(out)) == 0 &&
       !strncmp(out, "OK ", 3), "vsock still answers");
    for (int k = 0; k < nh; k++)
        close(hosts[k]);
    wr(0x14, 1, 0); /* driver reset: the device forgets every connection */
    vdev_vsock_get_stats(s, &st);
    is_int(st.conns, 0, "no connection left after the reset");
    /* and it still works: a clean request gets an answer */
    start((unsigned)slot, 0);
    *D(&qs[0], 0) = (struct vq_desc){BUFS, 4096, VQ_DESC_F_WRITE, 0};
    A(&qs[0])->ring[0] = 0;
    qs[0].idx = 1;
    __atomic_store_n(&A(&qs[0])->idx, 1, __ATOMIC_RELEASE);
    struct vsock_hdr h = {.src_cid = CID, .dst_cid = 2, .src_port = 1, .dst_port = 424242,
                          .type = 1, .op = VSOCK_OP_REQUEST};
    memcpy(ram.base + BUFS + 8192, &h, sizeof(h));
    *D(&qs[1], 0) = (struct vq_desc){BUFS + 8192, 44, 0, 0};
    A(&qs[1])->ring[0] = 0;
    __atomic_store_n(&A(&qs[1])->idx, 1, __ATOMIC_RELEASE);
    wr(VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * 1, 2, 1);
    struct vq_used *u = (struct vq_used *)(ram.base + qs[0].used);
    for (int i = 0; i < 3000 && !__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE); i++)
        pause_us(1000);
    struct vsock_hdr back;
    memcpy(&back, ram.base + BUFS, sizeof(back));
    ok(u->idx == 1 && back.op == VSOCK_OP_RST && back.dst_port == 1,
       "after the storm a request to a closed port still gets its RST");
    close(lfd);
    unlink(path);
    vdev_vsock_free(s);
    rmdir(dir);
}

int main(void)
{
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    struct pci_host_ops ops = {0};
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    storm_balloon();
    storm_vsock();
    pci_bus_free(bus);
    fakeram_fini(&ram);
    return tap_done();
}

/*
 * tests/unit/hypervisor/virtio/test_vsock.c - virtio-vsock without KVM: header checks and
 * credit accounting (vsock_pkt.c, including u32 wrap-around and credit violations), option
 * parsing, and the hybrid device end to end through PCI/BAR 0 over fake guest RAM with its
 * real I/O thread and real UNIX sockets in a private /tmp directory: RST for a port nobody
 * listens on, guest connect + data both ways, a host CONNECT handshake, hostile packets.
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
#include "virtio/pci.h"
#include "virtio/virtio_pci.h"
#include "virtio/vq.h"
#include "virtio/vsock.h"
#include "virtio/vsock_pkt.h"

#define WIN   0xE0000000ULL
#define QSZ   16
#define RAMSZ (1u << 20)
#define RXBUF 0x20000 /* QSZ buffers of 4 KiB */
#define TXBUF 0x40000
#define CID   9

static void test_check(void)
{
    struct vsock_hdr h = {.src_cid = CID, .dst_cid = 2, .src_port = 5, .dst_port = 6,
                          .type = VSOCK_TYPE_STREAM, .op = VSOCK_OP_REQUEST};
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_OK, "a request is fine");
    is_int(vsock_pkt_check(&h, 43, CID), VSOCK_PKT_SHORT, "43 bytes: short");
    h.op = VSOCK_OP_RW;
    h.len = 10;
    is_int(vsock_pkt_check(&h, 54, CID), VSOCK_PKT_OK, "RW with its 10 bytes");
    is_int(vsock_pkt_check(&h, 53, CID), VSOCK_PKT_BAD_LEN, "len beyond the chain");
    h.len = 0xFFFFFFFFu;
    is_int(vsock_pkt_check(&h, UINT64_MAX, CID), VSOCK_PKT_BAD_LEN, "len above the maximum");
    h.len = 0;
    h.src_cid = 3;
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_BAD_SRC, "spoofed source cid");
    h.src_cid = CID;
    h.dst_cid = 7;
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_BAD_DST, "guest-to-guest refused");
    h.dst_cid = 2;
    h.type = 2;
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_BAD_TYPE, "seqpacket not offered");
    h.type = 1;
    h.op = 0;
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_BAD_OP, "op 0");
    h.op = 8;
    is_int(vsock_pkt_check(&h, 44, CID), VSOCK_PKT_BAD_OP, "op 8");
    h.op = VSOCK_OP_SHUTDOWN;
    h.len = 4;
    is_int(vsock_pkt_check(&h, 48, CID), VSOCK_PKT_BAD_OP, "payload on a control packet");
    is_str(vsock_pkt_strerror(VSOCK_PKT_BAD_SRC), "bad_src", "names");
    vsock_pkt_reply(&h, CID, 1234, 5678, VSOCK_OP_RST);
    ok(h.src_cid == 2 && h.dst_cid == CID && h.src_port == 1234 && h.dst_port == 5678 &&
       h.op == VSOCK_OP_RST && h.type == 1 && h.len == 0, "reply header");
}

static void test_credit(void)
{
    struct vsock_credit c;
    struct vsock_hdr h = {0};
    vsock_credit_init(&c, 1000);
    is_int(vsock_credit_peer_free(&c), 0, "no peer buffer known: no credit");
    h.buf_alloc = 500;
    h.fwd_cnt = 0;
    vsock_credit_peer(&c, &h);
    is_int(vsock_credit_peer_free(&c), 500, "peer advertises 500");
    vsock_credit_sent(&c, 300);
    is_int(vsock_credit_peer_free(&c), 200, "300 in flight");
    h.fwd_cnt = 250;
    vsock_credit_peer(&c, &h);
    is_int(vsock_credit_peer_free(&c), 450, "peer consumed 250");
    h.buf_alloc = 10; /* the peer shrank its buffer below what is in flight */
    vsock_credit_peer(&c, &h);
    is_int(vsock_credit_peer_free(&c), 0, "shrunk buffer: no credit, no underflow");

    is_int(vsock_credit_received(&c, 600), 0, "receive 600 of our 1000");
    is_int(vsock_credit_received(&c, 401), -1, "401 more would exceed the credit we gave");
    is_int(vsock_credit_buffered(&c), 600, "nothing counted for the violation");
    is_int(vsock_credit_received(&c, 400), 0, "exactly full is fine");
    ok(!vsock_credit_update_due(&c), "nothing freed: no update");
    vsock_credit_consumed(&c, 100);
    ok(!vsock_credit_update_due(&c), "peer thinks we are full, 100 freed: not worth a packet");
    vsock_credit_consumed(&c, 200);
    ok(vsock_credit_update_due(&c), "300 freed (a quarter of the buffer): update due");
    vsock_credit_stamp(&c, &h);
    ok(h.buf_alloc == 1000 && h.fwd_cnt == 300, "stamp carries buf_alloc and fwd_cnt");
    ok(!vsock_credit_update_due(&c), "after the stamp: not due");
    vsock_credit_consumed(&c, 100);
    ok(!vsock_credit_update_due(&c), "peer believes 300 free of 1000: no update");
    vsock_credit_consumed(&c, 600);
    ok(!vsock_credit_update_due(&c), "all drained, peer still sees 300 free: no update");
    is_int(vsock_credit_received(&c, 250), 0, "peer sends 250 more");
    ok(vsock_credit_update_due(&c), "peer now sees 50 free while 700 were freed: due");

    /* counters wrap at 2^32 */
    vsock_credit_init(&c, 1000);
    c.rx_cnt = c.fwd_cnt = c.last_fwd_sent = 0xFFFFFF00u;
    is_int(vsock_credit_received(&c, 1000), 0, "receive across the wrap");
    is_int(vsock_credit_buffered(&c), 1000, "buffered across the wrap");
    c.tx_cnt = 0x00000010u;
    h.buf_alloc = 4096;
    h.fwd_cnt = 0xFFFFFFF0u;
    vsock_credit_peer(&c, &h);
    is_int(vsock_credit_peer_free(&c), 4096 - 32, "peer credit across the wrap");
}

static void test_parse(void)
{
    struct vdev_vsock_opts o;
    char e[256];
    ok(vdev_vsock_parse("cid=3,uds=/tmp/v.sock", &o, e, sizeof(e)) == 0 && o.cid == 3 &&
       !strcmp(o.uds, "/tmp/v.sock"), "cid=3,uds=/tmp/v.sock");
    ok(vdev_vsock_parse("cid=2,uds=/x", &o, e, sizeof(e)) < 0 && strstr(e, "'2'"),
       "cid 2 is the host: %s", e);
    ok(vdev_vsock_parse("cid=4294967295,uds=/x", &o, e, sizeof(e)) < 0, "cid -1 refused");
    ok(vdev_vsock_parse("uds=/x", &o, e, sizeof(e)) < 0, "cid required: %s", e);
    ok(vdev_vsock_parse("cid=5", &o, e, sizeof(e)) < 0, "uds required");
    char longp[200];
    memset(longp, 'a', sizeof(longp));
    memcpy(longp, "cid=5,uds=/", 11);
    longp[199] = 0;
    ok(vdev_vsock_parse(longp, &o, e, sizeof(e)) < 0, "path too long for sun_path");
    ok(vdev_vsock_parse("cid=5,uds=/x,port=3", &o, e, sizeof(e)) < 0 && strstr(e, "port"),
       "unknown key: %s", e);
}

/* ---------------- end to end ---------------- */

static struct fakeram ram;
static struct guestmem gm;
static struct pci_bus *bus;
static uint64_t bar0;
struct q {
    uint64_t desc, avail, used;
    uint16_t idx, seen;
};
static struct q qs[3];
static char dir[32], uds[64];

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
static struct vq_desc *D(struct q *q, unsigned i)
{
    return (struct vq_desc *)(ram.base + q->desc) + i;
}
static struct vq_avail *A(struct q *q) { return (struct vq_avail *)(ram.base + q->avail); }
static struct vq_used *U(struct q *q) { return (struct vq_used *)(ram.base + q->used); }

static void post(unsigned n, uint64_t addr, uint32_t len, uint16_t flags)
{
    struct q *q = &qs[n];
    unsigned i = q->idx % QSZ;
    *D(q, i) = (struct vq_desc){addr, len, flags, 0};
    A(q)->ring[i] = (uint16_t)i;
    q->idx++;
    __atomic_store_n(&A(q)->idx, q->idx, __ATOMIC_RELEASE);
    wr(VPCI_NOTIFY_OFF + VPCI_NOTIFY_MULT * n, 2, n);
}

/* Next used entry of queue n within 3 s: its id, or -1. */
static int used(unsigned n, uint32_t *len)
{
    struct q *q = &qs[n];
    for (int i = 0; i < 3000; i++) {
        if (__atomic_load_n(&U(q)->idx, __ATOMIC_ACQUIRE) != q->seen) {
            struct vq_used_elem e = U(q)->ring[q->seen % QSZ];
            q->seen++;
            if (len)
                *len = e.len;
            return (int)e.id;
        }
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    return -1;
}

static unsigned txn;
static void send_pkt(uint32_t sport, uint32_t dport, uint16_t op, const void *data, uint32_t len,
                     uint64_t src_cid)
{
    uint64_t a = TXBUF + (txn++ % QSZ) * 4096;
    struct vsock_hdr h = {.src_cid = src_cid, .dst_cid = 2, .src_port = sport, .dst_port = dport,
                          .len = len, .type = 1, .op = op, .buf_alloc = 65536};
    memcpy(ram.base + a, &h, sizeof(h));
    if (len)
        memcpy(ram.base + a + 44, data, len);
    post(1, a, 44 + len, 0);
    used(1, NULL);
}

/* Next packet from the device; refills its buffer. */
static bool recv_pkt(struct vsock_hdr *h, uint8_t *data)
{
    uint32_t len;
    int id = used(0, &len);
    if (id < 0 || len < 44)
        return false;
    uint64_t a = qs[0].desc; /* descriptor id -> buffer address */
    a = D(&qs[0], (unsigned)id)->addr;
    memcpy(h, ram.base + a, 44);
    if (data)
        memcpy(data, ram.base + a + 44, len - 44);
    post(0, a, 4096, VQ_DESC_F_WRITE);
    return true;
}

static void test_device(void)
{
    snprintf(dir, sizeof(dir), "/tmp/atoll-tvsock-XXXXXX");
    ok(mkdtemp(dir) != NULL, "temporary directory");
    snprintf(uds, sizeof(uds), "%s/v.sock", dir);
    struct vdev_vsock_opts o = {.cid = CID};
    snprintf(o.uds, sizeof(o.uds), "%s", uds);
    char e[256], out[512];
    struct vdev_vsock *s = vdev_vsock_new(&o, &gm, e, sizeof(e));
    ok(s != NULL, "device created, listening on %s", uds);
    struct vdev_vsock *s2 = vdev_vsock_new(&o, &gm, e, sizeof(e));
    ok(!s2 && strstr(e, "in use"), "a second VMM on the same socket is refused: %s", e);
    int slot = pci_bus_add(bus, vdev_vsock_pci(s), PCI_NO_GSI);
    is_int(pci_cfg_read(bus, (unsigned)slot, 0, 4), 0x10531af4, "modern virtio-vsock id");
    bar0 = ((uint64_t)pci_cfg_read(bus, (unsigned)slot, 0x14, 4) << 32) |
           (pci_cfg_read(bus, (unsigned)slot, 0x10, 4) & ~0xFu);
    wr(0x14, 1, 0);
    wr(0x14, 1, 3);
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
    is_int(rd(VPCI_DEVCFG_OFF, 4), CID, "config guest_cid");
    for (unsigned i = 0; i < 8; i++)
        post(0, RXBUF + i * 4096, 4096, VQ_DESC_F_WRITE);

    struct vsock_hdr h;
    uint8_t data[4096];
    send_pkt(100, 999, VSOCK_OP_REQUEST, NULL, 0, CID);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_RST && h.dst_port == 100 && h.src_port == 999,
       "connect to a port nobody listens on: RST");

    char path[96];
    snprintf(path, sizeof(path), "%s_1234", uds);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    ok(bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 2) == 0, "host listener");
    send_pkt(101, 1234, VSOCK_OP_REQUEST, NULL, 0, CID);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_RESPONSE && h.buf_alloc == VDEV_VSOCK_BUF,
       "connect to <uds>_1234: RESPONSE advertising the VMM's buffer");
    int hc = accept(lfd, NULL, NULL);
    ok(hc >= 0, "the host listener got the connection");
    send_pkt(101, 1234, VSOCK_OP_RW, "ping", 4, CID);
    char buf[16] = "";
    struct pollfd pf = {.fd = hc, .events = POLLIN};
    poll(&pf, 1, 3000);
    ok(recv(hc, buf, sizeof(buf), MSG_DONTWAIT) == 4 && !memcmp(buf, "ping", 4),
       "guest bytes reach the host socket");
    ok(send(hc, "pong!", 5, 0) == 5, "host answers");
    ok(recv_pkt(&h, data) && h.op == VSOCK_OP_RW && h.len == 5 && !memcmp(data, "pong!", 5),
       "host bytes reach the guest as RW");

    /* credit violation: more than the VMM's buffer in flight without it being consumed */
    send_pkt(101, 1234, VSOCK_OP_CREDIT_REQUEST, NULL, 0, CID);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_CREDIT_UPDATE && h.fwd_cnt == 4,
       "credit request answered with fwd_cnt = 4");

    /* hostile: spoofed cid, bad op, truncated */
    send_pkt(102, 1234, VSOCK_OP_REQUEST, NULL, 0, 77);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_RST, "spoofed source cid: RST");
    send_pkt(101, 1234, 9, NULL, 0, CID);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_RST && h.dst_port == 101,
       "unknown op on a live connection: RST");
    pf.fd = hc;
    poll(&pf, 1, 3000);
    ok(recv(hc, buf, sizeof(buf), MSG_DONTWAIT) == 0, "and the VMM closed the host end");
    post(1, TXBUF, 20, 0);
    ok(used(1, NULL) >= 0, "a 20-byte packet is consumed");

    /* host-initiated: CONNECT 7000, the test plays the guest listener */
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds);
    ok(connect(c, (struct sockaddr *)&a, sizeof(a)) == 0, "host client connects to <uds>");
    send(c, "CONNECT 7000\n", 13, 0);
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_REQUEST && h.dst_port == 7000 &&
       h.src_port >= 0x40000000u, "guest gets a REQUEST from a host port >= 2^30");
    uint32_t hp = h.src_port;
    send_pkt(7000, hp, VSOCK_OP_RESPONSE, NULL, 0, CID);
    char line[32] = "";
    pf.fd = c;
    poll(&pf, 1, 3000);
    ssize_t n = recv(c, line, sizeof(line) - 1, 0);
    char want[32];
    snprintf(want, sizeof(want), "OK %u\n", hp);
    ok(n > 0 && !strcmp(line, want), "host client reads OK <host port> (%u)", hp);
    send_pkt(7000, hp, VSOCK_OP_SHUTDOWN, NULL, 0, CID); /* no flags: nothing happens */
    uint32_t both = VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
    {
        uint64_t ad = TXBUF + (txn++ % QSZ) * 4096;
        struct vsock_hdr sh = {.src_cid = CID, .dst_cid = 2, .src_port = 7000, .dst_port = hp,
                               .type = 1, .op = VSOCK_OP_SHUTDOWN, .flags = both};
        memcpy(ram.base + ad, &sh, 44);
        post(1, ad, 44, 0);
        used(1, NULL);
    }
    ok(recv_pkt(&h, NULL) && h.op == VSOCK_OP_RST && h.dst_port == 7000,
       "guest's full shutdown answered with RST");
    poll(&pf, 1, 3000);
    ok(recv(c, line, sizeof(line), MSG_DONTWAIT) == 0, "the host client sees EOF");
    close(c);

    vdev_vsock_control(s, "query-vsock", NULL, out, sizeof(out));
    ok(strstr(out, "conns=0 guest_connects=1 host_connects=1") && strstr(out, "bad_packets=3"),
       "query-vsock: %.200s", out);
    is_int(vdev_vsock_control(s, "balloon", NULL, out, sizeof(out)), -1, "not a vsock command");
    close(hc);
    close(lfd);
    unlink(path);
    vdev_vsock_free(s);
    ok(access(uds, F_OK) < 0, "socket removed when the device is freed");
    rmdir(dir);
}

int main(void)
{
    test_check();
    test_credit();
    test_parse();
    fakeram_init(&ram, RAMSZ);
    gmem_add(&gm, 0, RAMSZ, ram.base);
    struct pci_host_ops ops = {0};
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    test_device();
    pci_bus_free(bus);
    fakeram_fini(&ram);
    return tap_done();
}

/*
 * hypervisor/virtio/vsock_pkt.h - virtio-vsock packet header (virtio 1.x 5.10.6) and the
 * per-connection credit accounting of its stream flow control: pure code, no I/O, unit-tested
 * (tests/unit/hypervisor/virtio/test_vsock.c).
 * Threads: a connection's accounting belongs to the vsock device's I/O thread.
 * Trust: headers come from the guest; vsock_pkt_check is applied before anything is used.
 */
#ifndef VMM_VIRTIO_VSOCK_PKT_H
#define VMM_VIRTIO_VSOCK_PKT_H

#include <stdbool.h>
#include <stdint.h>

#define VSOCK_HOST_CID    2ULL
#define VSOCK_TYPE_STREAM 1
#define VSOCK_MAX_PAYLOAD 65536u /* largest payload accepted in one packet (Linux's maximum) */

enum vsock_op {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};
#define VSOCK_SHUTDOWN_RCV  1u /* the sender will receive no more */
#define VSOCK_SHUTDOWN_SEND 2u /* the sender will send no more */

/* little-endian on the wire; x86 hosts only (as the rest of the VMM) */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags;
    uint32_t buf_alloc, fwd_cnt;
} __attribute__((packed));
#define VSOCK_HDR_LEN 44
_Static_assert(sizeof(struct vsock_hdr) == VSOCK_HDR_LEN, "virtio-vsock header is 44 bytes");

enum vsock_pkt_err {
    VSOCK_PKT_OK = 0,
    VSOCK_PKT_SHORT,    /* fewer than 44 bytes */
    VSOCK_PKT_BAD_LEN,  /* len larger than the bytes after the header, or than the maximum */
    VSOCK_PKT_BAD_SRC,  /* src_cid is not the guest's */
    VSOCK_PKT_BAD_DST,  /* dst_cid is not the host (2) */
    VSOCK_PKT_BAD_TYPE, /* not a stream packet */
    VSOCK_PKT_BAD_OP,   /* unknown op, or a payload on a non-RW packet */
};

/*
 * Checks a packet from the guest whose chain holds chain_len readable bytes (header
 * included) against the guest's cid. Returns VSOCK_PKT_OK or the first problem found.
 */
enum vsock_pkt_err vsock_pkt_check(const struct vsock_hdr *h, uint64_t chain_len,
                                   uint64_t guest_cid);
/* A short name for logs and statistics ("short", "bad_len", ...). */
const char *vsock_pkt_strerror(enum vsock_pkt_err e);
/* Fills a header from the host (cid 2, host_port) to the guest (guest_cid, guest_port). */
void vsock_pkt_reply(struct vsock_hdr *h, uint64_t guest_cid, uint32_t host_port,
                     uint32_t guest_port, enum vsock_op op);

/*
 * Credit of one connection, counted in bytes with u32 wrap-around as the spec does.
 * "We" are the VMM's end: rx = guest to us, tx = us to guest.
 */
struct vsock_credit {
    uint32_t buf_alloc;      /* our receive buffer, advertised in every header */
    uint32_t fwd_cnt;        /* bytes of the guest's we have passed on (freed our buffer) */
    uint32_t rx_cnt;         /* bytes received from the guest */
    uint32_t last_fwd_sent;  /* fwd_cnt as last advertised to the guest */
    uint32_t peer_buf_alloc; /* the guest's receive buffer */
    uint32_t peer_fwd_cnt;   /* bytes the guest has consumed */
    uint32_t tx_cnt;         /* bytes sent to the guest */
};

void vsock_credit_init(struct vsock_credit *c, uint32_t buf_alloc);
/* Takes the peer's buf_alloc and fwd_cnt from any packet it sent. */
void vsock_credit_peer(struct vsock_credit *c, const struct vsock_hdr *h);
/* Bytes we may send the guest now (0 when its buffer is full or it shrank it). */
uint32_t vsock_credit_peer_free(const struct vsock_credit *c);
void vsock_credit_sent(struct vsock_credit *c, uint32_t n);
/* Counts n bytes received; -1 if they exceed the credit we gave (nothing counted then). */
int vsock_credit_received(struct vsock_credit *c, uint32_t n);
/* Bytes received and not yet passed on. */
uint32_t vsock_credit_buffered(const struct vsock_credit *c);
void vsock_credit_consumed(struct vsock_credit *c, uint32_t n);
/*
 * Whether to tell the guest about freed space now: the space it believes it has is below a
 * quarter of our buffer (or zero) while we have freed more than that.
 */
bool vsock_credit_update_due(const struct vsock_credit *c);
/* Writes buf_alloc and fwd_cnt into an outgoing header and remembers what was advertised. */
void vsock_credit_stamp(struct vsock_credit *c, struct vsock_hdr *h);

#endif

/*
 * hypervisor/virtio/vsock_pkt.c - virtio-vsock header checks and stream credit accounting
 * (see vsock_pkt.h). Pure. Threads: caller's. Trust: headers are guest-controlled.
 */
#include "vsock_pkt.h"

#include <string.h>

enum vsock_pkt_err vsock_pkt_check(const struct vsock_hdr *h, uint64_t chain_len,
                                   uint64_t guest_cid)
{
    if (chain_len < VSOCK_HDR_LEN)
        return VSOCK_PKT_SHORT;
    if (h->len > VSOCK_MAX_PAYLOAD || h->len > chain_len - VSOCK_HDR_LEN)
        return VSOCK_PKT_BAD_LEN;
    if (h->src_cid != guest_cid)
        return VSOCK_PKT_BAD_SRC;
    if (h->dst_cid != VSOCK_HOST_CID)
        return VSOCK_PKT_BAD_DST;
    if (h->type != VSOCK_TYPE_STREAM)
        return VSOCK_PKT_BAD_TYPE;
    if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST)
        return VSOCK_PKT_BAD_OP;
    if (h->len && h->op != VSOCK_OP_RW)
        return VSOCK_PKT_BAD_OP;
    return VSOCK_PKT_OK;
}

const char *vsock_pkt_strerror(enum vsock_pkt_err e)
{
    static const char *const names[] = {"ok", "short", "bad_len", "bad_src", "bad_dst",
                                        "bad_type", "bad_op"};
    return (unsigned)e < sizeof(names) / sizeof(names[0]) ? names[e] : "unknown";
}

void vsock_pkt_reply(struct vsock_hdr *h, uint64_t guest_cid, uint32_t host_port,
                     uint32_t guest_port, enum vsock_op op)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = VSOCK_HOST_CID;
    h->dst_cid = guest_cid;
    h->src_port = host_port;
    h->dst_port = guest_port;
    h->type = VSOCK_TYPE_STREAM;
    h->op = (uint16_t)op;
}

void vsock_credit_init(struct vsock_credit *c, uint32_t buf_alloc)
{
    memset(c, 0, sizeof(*c));
    c->buf_alloc = buf_alloc;
}

void vsock_credit_peer(struct vsock_credit *c, const struct vsock_hdr *h)
{
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
}

uint32_t vsock_credit_peer_free(const struct vsock_credit *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

void vsock_credit_sent(struct vsock_credit *c, uint32_t n)
{
    c->tx_cnt += n;
}

uint32_t vsock_credit_buffered(const struct vsock_credit *c)
{
    return c->rx_cnt - c->fwd_cnt;
}

int vsock_credit_received(struct vsock_credit *c, uint32_t n)
{
    if (n > c->buf_alloc || vsock_credit_buffered(c) > c->buf_alloc - n)
        return -1;
    c->rx_cnt += n;
    return 0;
}

void vsock_credit_consumed(struct vsock_credit *c, uint32_t n)
{
    c->fwd_cnt += n;
}

bool vsock_credit_update_due(const struct vsock_credit *c)
{
    uint32_t believed_used = c->rx_cnt - c->last_fwd_sent; /* what the guest thinks we hold */
    uint32_t believed_free = believed_used >= c->buf_alloc ? 0 : c->buf_alloc - believed_used;
    uint32_t freed = c->fwd_cnt - c->last_fwd_sent;
    return freed && (believed_free == 0 || believed_free < c->buf_alloc / 4) &&
           (freed >= c->buf_alloc / 4 || vsock_credit_buffered(c) == 0);
}

void vsock_credit_stamp(struct vsock_credit *c, struct vsock_hdr *h)
{
    h->buf_alloc = c->buf_alloc;
    h->fwd_cnt = c->fwd_cnt;
    c->last_fwd_sent = c->fwd_cnt;
}

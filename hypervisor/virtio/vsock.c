/*
 * hypervisor/virtio/vsock.c - hybrid virtio-vsock (see vsock.h): the device's one I/O
 * thread, which moves packets between the guest's queues and the host sockets with the
 * spec's credit flow control, the transport callbacks and the control command. Options,
 * host sockets and the connection table are in vsock_conn.c.
 * Threads: the I/O thread owns connections and queues; statistics are atomics.
 * Trust: guest packets pass vsock_pkt_check and the credit check before anything is done;
 * host clients get one bounded handshake line and a timeout.
 */
#define ATOLL_LOG_MODULE "virtio-vsock"
#include "vsock.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "vsock_int.h"

/* ---------------- guest to host (TX queue) ---------------- */

static void handle_pkt(struct vdev_vsock *s, const struct vsock_hdr *h, const struct vq_chain *ch)
{
    enum vsock_pkt_err e = vsock_pkt_check(h, ch->out_len, s->o.cid);
    if (e != VSOCK_PKT_OK) {
        vsock_st_add(&s->st.bad_packets, 1);
        static unsigned logged;
        if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
            log_warn("bad packet from the guest: %s", vsock_pkt_strerror(e));
        if (e != VSOCK_PKT_SHORT && h->op != VSOCK_OP_RST) {
            struct conn *bad = vsock_conn_find(s, h->src_port, h->dst_port);
            if (bad) /* the guest broke the protocol on a live connection: end it */
                vsock_conn_close(s, bad, true);
            else
                vsock_conn_queue_rst(s, h->src_port, h->dst_port);
        }
        return;
    }
    struct conn *c = vsock_conn_find(s, h->src_port, h->dst_port);
    if (!c) {
        if (h->op == VSOCK_OP_REQUEST)
            vsock_conn_guest_connect(s, h);
        else if (h->op != VSOCK_OP_RST)
            vsock_conn_queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    vsock_credit_peer(&c->cr, h);
    switch (h->op) {
    case VSOCK_OP_REQUEST: /* a second request for a live connection */
        vsock_conn_close(s, c, true);
        break;
    case VSOCK_OP_RESPONSE:
        if (c->st != C_CONNECTING) {
            vsock_conn_close(s, c, true);
            break;
        }
        {
            char line[32];
            int n = snprintf(line, sizeof(line), "OK %u\n", c->hport);
            if (send(c->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
                vsock_conn_close(s, c, true);
                break;
            }
        }
        c->st = C_OPEN;
        vsock_st_add(&s->st.host_connects, 1);
        break;
    case VSOCK_OP_RST:
        vsock_conn_close(s, c, false);
        break;
    case VSOCK_OP_SHUTDOWN:
        c->guest_shut |= h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
        if (c->st == C_CLOSING || c->st == C_CONNECTING) {
            vsock_conn_close(s, c, true);
            break;
        }
        if (c->guest_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
            c->close_when_flushed = true;
            c->deadline = atoll_now_ns() + CLOSE_NS;
        }
        vsock_conn_apply_shutdown(s, c);
        break;
    case VSOCK_OP_RW:
        if (c->st != C_OPEN || (c->guest_shut & VSOCK_SHUTDOWN_SEND) ||
            vsock_credit_received(&c->cr, h->len) < 0) {
            vsock_st_add(&s->st.bad_packets, c->st == C_OPEN);
            vsock_conn_close(s, c, true);
            break;
        }
        if (vq_chain_read(ch, VSOCK_HDR_LEN, s->pkt, h->len) != h->len) {
            vsock_conn_close(s, c, true);
            break;
        }
        vsock_st_add(&s->st.tx_bytes, h->len);
        vsock_conn_write(s, c, s->pkt, h->len);
        break;
    case VSOCK_OP_CREDIT_UPDATE:
        break; /* vsock_credit_peer took it; the RX pass sends what now fits */
    case VSOCK_OP_CREDIT_REQUEST:
        c->pend |= P_CREDIT;
        break;
    }
}

static void ring_broken(struct vdev_vsock *s, const char *which)
{
    static unsigned logged;
    if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
        log_warn("corrupt %s ring: device needs a reset", which);
    vsock_st_add(&s->st.broken_rings, 1);
    vpci_set_needs_reset(&s->t);
}

static void tx_pump(struct vdev_vsock *s)
{
    struct vq_chain *ch = &s->c;
    bool pushed = false;
    for (int done = 0; done < BUDGET; done++) {
        int rc = vq_pop(s->tx, ch);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            ring_broken(s, "transmit");
            s->tx_ok = false;
            return;
        }
        vsock_st_add(&s->st.tx_packets, 1);
        if (rc < 0 || ch->nin) {
            vsock_st_add(&s->st.bad_packets, 1);
        } else {
            struct vsock_hdr h = {0};
            vq_chain_read(ch, 0, &h, sizeof(h));
            handle_pkt(s, &h, ch);
        }
        vq_push(s->tx, ch->head, 0);
        pushed = true;
    }
    if (pushed && vq_need_notify(s->tx))
        vpci_notify_queue(&s->t, Q_TX);
}

/* ---------------- host to guest (RX queue) ---------------- */

static struct vq_chain *rx_chain(struct vdev_vsock *s)
{
    if (s->have_rxc)
        return &s->rxc;
    for (;;) {
        int rc = vq_pop(s->rx, &s->rxc);
        if (rc == 0) {
            s->rx_starved = true;
            return NULL;
        }
        if (rc == -EIO) {
            ring_broken(s, "receive");
            s->rx_ok = false;
            return NULL;
        }
        if (rc < 0 || s->rxc.nout || s->rxc.in_len < VSOCK_HDR_LEN) {
            vsock_st_add(&s->st.bad_packets, 1);
            vq_push(s->rx, s->rxc.head, 0);
            s->rx_pushed = true;
            continue;
        }
        s->have_rxc = true;
        return &s->rxc;
    }
}

/* Sends one packet to the guest; false when it has no buffer. */
static bool rx_send(struct vdev_vsock *s, struct vsock_hdr *h, const uint8_t *payload)
{
    struct vq_chain *ch = rx_chain(s);
    if (!ch)
        return false;
    vq_chain_write(ch, 0, h, sizeof(*h));
    if (h->len)
        vq_chain_write(ch, VSOCK_HDR_LEN, payload, h->len);
    vq_push(s->rx, ch->head, VSOCK_HDR_LEN + h->len);
    s->have_rxc = false;
    s->rx_pushed = true;
    vsock_st_add(&s->st.rx_packets, 1);
    vsock_st_add(&s->st.rx_bytes, h->len);
    return true;
}

static bool send_ctl(struct vdev_vsock *s, struct conn *c, enum vsock_op op, uint32_t flags)
{
    struct vsock_hdr h;
    vsock_pkt_reply(&h, s->o.cid, c->hport, c->gport, op);
    h.flags = flags;
    struct vsock_credit save = c->cr;
    vsock_credit_stamp(&c->cr, &h);
    if (!rx_send(s, &h, NULL)) {
        c->cr = save;
        return false;
    }
    return true;
}

/* Reads from the host socket into RW packets while the guest has credit and buffers. */
static bool rx_data(struct vdev_vsock *s, struct conn *c)
{
    for (int n = 0; n < 16 && c->readable && !c->host_eof; n++) {
        uint32_t credit = vsock_credit_peer_free(&c->cr);
        if (!credit)
            return true;
        struct vq_chain *ch = rx_chain(s);
        if (!ch)
            return false;
        uint64_t room = ch->in_len - VSOCK_HDR_LEN;
        if (room > credit)
            room = credit;
        if (room > VSOCK_MAX_PAYLOAD)
            room = VSOCK_MAX_PAYLOAD;
        if (!room) { /* a header-only buffer cannot carry data: give it back empty */
            vq_push(s->rx, ch->head, 0);
            s->have_rxc = false;
            s->rx_pushed = true;
            continue;
        }
        ssize_t r = recv(c->fd, s->pkt, room, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                c->readable = false;
                return true;
            }
            vsock_conn_close(s, c, true);
            return true;
        }
        if (r == 0) {
            c->host_eof = true;
            c->pend |= P_SHUTDOWN;
            c->shut_flags = VSOCK_SHUTDOWN_SEND | (c->hup ? VSOCK_SHUTDOWN_RCV : 0);
            return true;
        }
        struct vsock_hdr h;
        vsock_pkt_reply(&h, s->o.cid, c->hport, c->gport, VSOCK_OP_RW);
        h.len = (uint32_t)r;
        vsock_credit_stamp(&c->cr, &h);
        rx_send(s, &h, s->pkt); /* cannot fail: the chain is held */
        vsock_credit_sent(&c->cr, (uint32_t)r);
    }
    return true;
}

static void rx_pump(struct vdev_vsock *s)
{
    while (s->nrst) {
        struct vsock_hdr h;
        vsock_pkt_reply(&h, s->o.cid, s->rst[0].hport, s->rst[0].gport, VSOCK_OP_RST);
        if (!rx_send(s, &h, NULL))
            return;
        memmove(&s->rst[0], &s->rst[1], (s->nrst - 1) * sizeof(s->rst[0]));
        s->nrst--;
    }
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->st == C_FREE || c->st == C_HANDSHAKE)
            continue;
        static const struct { unsigned bit; enum vsock_op op; } order[] = {
            {P_REQUEST, VSOCK_OP_REQUEST}, {P_RESPONSE, VSOCK_OP_RESPONSE},
            {P_CREDIT, VSOCK_OP_CREDIT_UPDATE}, {P_SHUTDOWN, VSOCK_OP_SHUTDOWN},
        };
        for (unsigned k = 0; k < ATOLL_ARRAY_SIZE(order); k++) {
            if (!(c->pend & order[k].bit))
                continue;
            if (!send_ctl(s, c, order[k].op, order[k].bit == P_SHUTDOWN ? c->shut_flags : 0))
                return;
            c->pend &= ~order[k].bit;
            if (order[k].bit == P_SHUTDOWN &&
                c->shut_flags == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
                /* the host end is gone: wait for the guest's RST */
                close(c->fd);
                c->fd = -1;
                c->st = C_CLOSING;
                c->deadline = atoll_now_ns() + CLOSE_NS;
            }
        }
        if (c->st == C_OPEN && !rx_data(s, c))
            return;
    }
}

static void drain(int fd)
{
    uint64_t cnt;
    while (read(fd, &cnt, sizeof(cnt)) == sizeof(cnt)) {
    }
}

static void *vsock_thread(void *arg)
{
    struct vdev_vsock *s = arg;
    struct pollfd pfd[4 + VDEV_VSOCK_MAX_CONNS];
    struct conn *who[VDEV_VSOCK_MAX_CONNS];
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        bool again = false;
        if (s->tx_ok) {
            vq_kicks_disable(s->tx);
            tx_pump(s);
            if (s->tx_ok && vq_kicks_enable(s->tx))
                again = true;
        }
        if (s->rx_ok) {
            s->rx_starved = false;
            s->rx_pushed = false;
            rx_pump(s);
            if (s->rx_pushed && vq_need_notify(s->rx))
                vpci_notify_queue(&s->t, Q_RX);
            if (s->rx_ok && s->rx_starved && vq_kicks_enable(s->rx))
                again = true;
            /* control packets owed (e.g. a SHUTDOWN found while reading): another pass */
            for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS && s->rx_ok && !s->rx_starved; i++)
                if (s->conns[i].st != C_FREE && s->conns[i].st != C_HANDSHAKE &&
                    s->conns[i].pend)
                    again = true;
        }
        uint64_t now = atoll_now_ns(), next = 0;
        vsock_conn_timeouts(s, now, &next);
        if (again)
            continue;
        int n = 0;
        pfd[n++] = (struct pollfd){.fd = vpci_kickfd(&s->t, Q_RX), .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = vpci_kickfd(&s->t, Q_TX), .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = s->wakefd, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
        unsigned nw = 0;
        for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
            struct conn *c = &s->conns[i];
            short ev = 0;
            if (c->st == C_FREE || c->fd < 0)
                continue;
            if (c->st == C_HANDSHAKE)
                ev = POLLIN;
            if (c->st == C_OPEN) {
                if (!c->host_eof && !c->readable && !s->rx_starved &&
                    vsock_credit_peer_free(&c->cr))
                    ev |= POLLIN;
                if (c->len)
                    ev |= POLLOUT;
            }
            if (!ev && c->hup)
                continue; /* nothing to learn from it until the guest acts */
            who[nw++] = c;
            pfd[n++] = (struct pollfd){.fd = c->fd, .events = ev};
        }
        int timeout = next ? (int)((next - now) / 1000000ULL) + 1 : -1;
        if (poll(pfd, (nfds_t)n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error("vsock: poll: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < 3; i++)
            if (pfd[i].revents & POLLIN)
                drain(pfd[i].fd);
        if (pfd[3].revents & POLLIN)
            vsock_conn_accept(s);
        for (unsigned i = 0; i < nw; i++) {
            struct conn *c = who[i];
            short re = pfd[4 + i].revents;
            if (!re || c->st == C_FREE)
                continue;
            if (c->st == C_HANDSHAKE) {
                vsock_conn_handshake(s, c);
                continue;
            }
            if (re & (POLLHUP | POLLERR))
                c->hup = true;
            if (c->st == C_CONNECTING) {
                if (c->hup) /* the host client gave up */
                    vsock_conn_close(s, c, true);
                continue;
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                c->readable = true;
            if ((re & POLLOUT) && c->len)
                vsock_conn_flush(s, c);
        }
    }
    return NULL;
}

/* ---------------- transport callbacks ---------------- */

static void vsock_config_read(void *dev, uint32_t off, void *data, unsigned size)
{
    struct vdev_vsock *s = dev;
    uint64_t cid = s->o.cid;
    memcpy(data, (uint8_t *)&cid + off, size);
}

static int vsock_start(void *dev)
{
    struct vdev_vsock *s = dev;
    s->rx = vpci_vq(&s->t, Q_RX);
    s->tx = vpci_vq(&s->t, Q_TX);
    s->rx_ok = s->rx != NULL;
    s->tx_ok = s->tx != NULL;
    s->have_rxc = false;
    vsock_conn_close_all(s);
    __atomic_store_n(&s->stop, 0, __ATOMIC_RELEASE);
    int rc = pthread_create(&s->thread, NULL, vsock_thread, s);
    if (rc) {
        log_error("cannot start the vsock I/O thread: %s", strerror(rc));
        return -rc;
    }
    pthread_setname_np(s->thread, "virtio-vsock");
    s->running = true;
    return 0;
}

static void vsock_stop(void *dev)
{
    struct vdev_vsock *s = dev;
    if (s->running) {
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(s->wakefd, &one, sizeof(one)) < 0)
            log_warn("cannot wake the vsock thread: %s", strerror(errno));
        pthread_join(s->thread, NULL);
        s->running = false;
        drain(s->wakefd);
    }
    vsock_conn_close_all(s); /* the guest forgot its sockets */
    s->have_rxc = false;
}

static const struct vdev_ops vsock_ops = {
    .name = "virtio-vsock",
    .device_id = 19,
    .class_code = 0x078000, /* communication controller, other */
    .config_size = VSOCK_CONFIG_SIZE,
    .config_read = vsock_config_read,
    .start = vsock_start,
    .stop = vsock_stop,
};

struct vdev_vsock *vdev_vsock_new(const struct vdev_vsock_opts *o, const struct guestmem *mem,
                                  char *errbuf, size_t errlen)
{
    struct vdev_vsock *s = atoll_calloc(1, sizeof(*s));
    s->o = *o;
    s->wakefd = -1;
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++)
        s->conns[i].fd = -1;
    s->lfd = vsock_conn_listen(o->uds, errbuf, errlen);
    if (s->lfd < 0)
        goto fail;
    s->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->wakefd < 0) {
        snprintf(errbuf, errlen, "vsock: eventfd: %s", strerror(errno));
        goto fail;
    }
    int rc = vpci_init(&s->t, &vsock_ops, s, 3, VDEV_VSOCK_QUEUE_SIZE, 0, mem);
    if (rc < 0) {
        snprintf(errbuf, errlen, "vsock: cannot create its PCI function: %s", strerror(-rc));
        goto fail;
    }
    log_info("vsock: guest cid %llu, host socket '%s'", (unsigned long long)o->cid, o->uds);
    return s;
fail:
    if (s->lfd >= 0) {
        close(s->lfd);
        unlink(o->uds);
    }
    if (s->wakefd >= 0)
        close(s->wakefd);
    free(s);
    return NULL;
}

struct pci_dev *vdev_vsock_pci(struct vdev_vsock *s)
{
    return &s->t.pci;
}

void vdev_vsock_free(struct vdev_vsock *s)
{
    if (!s)
        return;
    vpci_fini(&s->t); /* stops the thread, closes the connections */
    vsock_conn_close_all(s);
    close(s->lfd);
    unlink(s->o.uds);
    close(s->wakefd);
    free(s);
}

void vdev_vsock_get_stats(struct vdev_vsock *s, struct vdev_vsock_stats *out)
{
    uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&s->st;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

int vdev_vsock_control(struct vdev_vsock *s, const char *cmd, const char *arg, char *out,
                       size_t outlen)
{
    if (strcmp(cmd, "query-vsock"))
        return -1;
    if (!s) {
        snprintf(out, outlen, "ERR BAD_STATE this VM has no vsock device (no --vsock)");
        return 0;
    }
    if (arg && *arg) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT query vsock takes no argument");
        return 0;
    }
    struct vdev_vsock_stats st;
    vdev_vsock_get_stats(s, &st);
    uint8_t status = __atomic_load_n(&s->t.status, __ATOMIC_SEQ_CST);
    char path[2 * VDEV_VSOCK_PATH_MAX + 1]; /* the protocol's quoting: \" and \\ */
    size_t k = 0;
    for (const char *p = s->o.uds; *p && k + 2 < sizeof(path); p++) {
        if (*p == '"' || *p == '\\')
            path[k++] = '\\';
        path[k++] = (unsigned char)*p < 0x20 ? ' ' : *p;
    }
    path[k] = '\0';
    snprintf(out, outlen, "OK cid=%llu uds=\"%s\" driver=%s conns=%llu guest_connects=%llu "
             "host_connects=%llu resets=%llu rx_packets=%llu rx_bytes=%llu tx_packets=%llu "
             "tx_bytes=%llu bad_packets=%llu broken_rings=%llu",
             (unsigned long long)s->o.cid, path,
             (status & VIRTIO_S_DRIVER_OK) ? "on" : "off", (unsigned long long)st.conns,
             (unsigned long long)st.guest_connects, (unsigned long long)st.host_connects,
             (unsigned long long)st.resets, (unsigned long long)st.rx_packets,
             (unsigned long long)st.rx_bytes, (unsigned long long)st.tx_packets,
             (unsigned long long)st.tx_bytes, (unsigned long long)st.bad_packets,
             (unsigned long long)st.broken_rings);
    return 0;
}

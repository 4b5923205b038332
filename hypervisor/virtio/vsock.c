/*
 * hypervisor/virtio/vsock.c - hybrid virtio-vsock (see vsock.h): option parsing, the host
 * UNIX sockets, the connection table and the device's one I/O thread, which moves packets
 * between the guest's queues and the host sockets with the spec's credit flow control.
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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "virtio_pci.h"
#include "vsock_pkt.h"

#define Q_RX  0
#define Q_TX  1
#define Q_EVT 2
#define VSOCK_CONFIG_SIZE 8 /* guest_cid */
#define HANDSHAKE_NS (5 * 1000000000ULL) /* host client: CONNECT line within 5 s */
#define CONNECT_NS   (2 * 1000000000ULL) /* guest: RESPONSE within 2 s (as Firecracker) */
#define CLOSE_NS     (2 * 1000000000ULL) /* guest: RST after our SHUTDOWN, flush on close */
#define RST_RING     64
#define HOST_PORT_BASE 0x40000000u /* local ports of host-initiated connections */
#define LINE_MAX_LEN 64
#define BUDGET 64

enum cstate { C_FREE, C_HANDSHAKE, C_CONNECTING, C_OPEN, C_CLOSING };
#define P_REQUEST  1u
#define P_RESPONSE 2u
#define P_CREDIT   4u
#define P_SHUTDOWN 8u

struct conn {
    enum cstate st;
    int fd;
    uint32_t gport, hport;
    struct vsock_credit cr;
    uint8_t *buf;        /* guest-to-host bytes the socket did not take yet (ring) */
    uint32_t head, len;
    unsigned pend;       /* control packets owed to the guest (P_*) */
    uint32_t shut_flags; /* flags of the SHUTDOWN owed */
    uint32_t guest_shut; /* SHUTDOWN flags the guest sent */
    bool readable, hup, host_eof, wr_shut, close_when_flushed;
    uint64_t deadline;
};

struct vdev_vsock {
    struct vpci_dev t;
    struct vdev_vsock_opts o;
    int lfd, wakefd;
    pthread_t thread;
    bool running;
    int stop; /* atomic */
    struct conn conns[VDEV_VSOCK_MAX_CONNS];
    struct { uint32_t gport, hport; } rst[RST_RING];
    unsigned nrst;
    uint32_t next_hport;
    struct vq *rx, *tx;
    bool rx_ok, tx_ok, have_rxc, rx_starved, rx_pushed;
    struct vq_chain c, rxc;
    uint8_t pkt[VSOCK_MAX_PAYLOAD];
    struct vdev_vsock_stats st;
};

static void st_add(uint64_t *c, int64_t n)
{
    __atomic_add_fetch(c, (uint64_t)n, __ATOMIC_RELAXED);
}

/* ---------------- options and the listening socket ---------------- */

int vdev_vsock_parse(const char *spec, struct vdev_vsock_opts *o, char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    ATOLL_AUTOFREE char *copy = atoll_strdup(spec ? spec : "");
    for (char *item = copy, *next; item && *item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "vsock option item '%s': expected key=value", item);
            return -1;
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        if (!strcmp(key, "cid")) {
            if (atoll_parse_u64(val, 10, &o->cid) < 0 || o->cid < 3 || o->cid > 0xFFFFFFFEULL) {
                snprintf(errbuf, errlen, "vsock cid '%s': expected a number from 3 to "
                         "4294967294", val);
                return -1;
            }
        } else if (!strcmp(key, "uds") || !strcmp(key, "path")) {
            if (!*val || strlen(val) > VDEV_VSOCK_PATH_MAX) {
                snprintf(errbuf, errlen, "vsock uds '%s': expected a socket path of 1 to %d "
                         "bytes", val, VDEV_VSOCK_PATH_MAX);
                return -1;
            }
            snprintf(o->uds, sizeof(o->uds), "%s", val);
        } else {
            snprintf(errbuf, errlen, "unknown vsock option '%s': expected cid or uds", key);
            return -1;
        }
    }
    if (!o->cid || !o->uds[0]) {
        snprintf(errbuf, errlen, "vsock option '%s': expected cid=N,uds=PATH", spec ? spec : "");
        return -1;
    }
    return 0;
}

static int uds_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return -1;
    memcpy(a->sun_path, path, strlen(path));
    return 0;
}

static int uds_listen(const char *path, char *errbuf, size_t errlen)
{
    struct sockaddr_un a;
    uds_addr(&a, path);
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        int probe = S_ISSOCK(sb.st_mode) ? socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) : -1;
        if (probe < 0) {
            snprintf(errbuf, errlen, "vsock socket '%s' exists and is not a socket", path);
            return -1;
        }
        int live = connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0;
        close(probe);
        if (live) {
            snprintf(errbuf, errlen, "vsock socket '%s' is in use by another process", path);
            return -1;
        }
        unlink(path);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, 16) < 0) {
        snprintf(errbuf, errlen, "cannot listen on vsock socket '%s': %s", path,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ---------------- connections ---------------- */

static struct conn *find(struct vdev_vsock *s, uint32_t gport, uint32_t hport)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->st != C_FREE && c->st != C_HANDSHAKE && c->gport == gport && c->hport == hport)
            return c;
    }
    return NULL;
}

static struct conn *conn_new(struct vdev_vsock *s, int fd, enum cstate st)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->st != C_FREE)
            continue;
        *c = (struct conn){.st = st, .fd = fd};
        vsock_credit_init(&c->cr, VDEV_VSOCK_BUF);
        st_add(&s->st.conns, 1);
        return c;
    }
    return NULL;
}

static void queue_rst(struct vdev_vsock *s, uint32_t gport, uint32_t hport)
{
    st_add(&s->st.resets, 1);
    if (s->nrst == RST_RING)
        return; /* the guest times the connection out instead */
    s->rst[s->nrst].gport = gport;
    s->rst[s->nrst].hport = hport;
    s->nrst++;
}

static void conn_close(struct vdev_vsock *s, struct conn *c, bool rst)
{
    if (rst && c->st != C_HANDSHAKE)
        queue_rst(s, c->gport, c->hport);
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    *c = (struct conn){.st = C_FREE, .fd = -1};
    st_add(&s->st.conns, -1);
}

static void close_all(struct vdev_vsock *s)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++)
        if (s->conns[i].st != C_FREE)
            conn_close(s, &s->conns[i], false);
    s->nrst = 0;
}

/* After the guest's SHUTDOWN or a flush: half-close or finish the connection. */
static void apply_shutdown(struct vdev_vsock *s, struct conn *c)
{
    if (c->len)
        return;
    if (c->close_when_flushed) {
        conn_close(s, c, true);
        return;
    }
    if ((c->guest_shut & VSOCK_SHUTDOWN_SEND) && !c->wr_shut && c->fd >= 0) {
        shutdown(c->fd, SHUT_WR);
        c->wr_shut = true;
    }
}

static void note_consumed(struct conn *c, uint32_t n)
{
    vsock_credit_consumed(&c->cr, n);
    if (vsock_credit_update_due(&c->cr))
        c->pend |= P_CREDIT;
}

/* Writes the ring to the socket. false if the connection was reset. */
static bool flush(struct vdev_vsock *s, struct conn *c)
{
    while (c->len) {
        uint32_t seg = VDEV_VSOCK_BUF - c->head < c->len ? VDEV_VSOCK_BUF - c->head : c->len;
        ssize_t w = send(c->fd, c->buf + c->head, seg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return true;
            conn_close(s, c, true);
            return false;
        }
        c->head = (c->head + (uint32_t)w) % VDEV_VSOCK_BUF;
        c->len -= (uint32_t)w;
        note_consumed(c, (uint32_t)w);
    }
    apply_shutdown(s, c);
    return true;
}

/* Guest data for the host: straight to the socket, the rest into the ring. */
static void conn_write(struct vdev_vsock *s, struct conn *c, const uint8_t *p, uint32_t n)
{
    uint32_t done = 0;
    if (!c->len) {
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            conn_close(s, c, true);
            return;
        }
        done = w > 0 ? (uint32_t)w : 0;
        note_consumed(c, done);
    }
    if (done < n && !c->buf)
        c->buf = atoll_malloc(VDEV_VSOCK_BUF);
    while (done < n) { /* fits: the credit check bounds what is buffered */
        uint32_t tail = (c->head + c->len) % VDEV_VSOCK_BUF;
        uint32_t room = VDEV_VSOCK_BUF - tail, k = n - done < room ? n - done : room;
        memcpy(c->buf + tail, p + done, k);
        c->len += k;
        done += k;
    }
}

/* A guest connection to host port hport: connect to "<uds>_<hport>". */
static void guest_connect(struct vdev_vsock *s, const struct vsock_hdr *h)
{
    char path[VDEV_VSOCK_PATH_MAX + 16];
    struct sockaddr_un a;
    snprintf(path, sizeof(path), "%s_%u", s->o.uds, h->dst_port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || uds_addr(&a, path) < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        log_debug("guest port %u -> '%s': %s", h->src_port, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    struct conn *c = conn_new(s, fd, C_OPEN);
    if (!c) {
        close(fd);
        queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    c->gport = h->src_port;
    c->hport = h->dst_port;
    vsock_credit_peer(&c->cr, h);
    c->pend |= P_RESPONSE;
    st_add(&s->st.guest_connects, 1);
}

/* ---------------- guest to host (TX queue) ---------------- */

static void handle_pkt(struct vdev_vsock *s, const struct vsock_hdr *h, const struct vq_chain *ch)
{
    enum vsock_pkt_err e = vsock_pkt_check(h, ch->out_len, s->o.cid);
    if (e != VSOCK_PKT_OK) {
        st_add(&s->st.bad_packets, 1);
        static unsigned logged;
        if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
            log_warn("bad packet from the guest: %s", vsock_pkt_strerror(e));
        if (e != VSOCK_PKT_SHORT && h->op != VSOCK_OP_RST) {
            struct conn *bad = find(s, h->src_port, h->dst_port);
            if (bad) /* the guest broke the protocol on a live connection: end it */
                conn_close(s, bad, true);
            else
                queue_rst(s, h->src_port, h->dst_port);
        }
        return;
    }
    struct conn *c = find(s, h->src_port, h->dst_port);
    if (!c) {
        if (h->op == VSOCK_OP_REQUEST)
            guest_connect(s, h);
        else if (h->op != VSOCK_OP_RST)
            queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    vsock_credit_peer(&c->cr, h);
    switch (h->op) {
    case VSOCK_OP_REQUEST: /* a second request for a live connection */
        conn_close(s, c, true);
        break;
    case VSOCK_OP_RESPONSE:
        if (c->st != C_CONNECTING) {
            conn_close(s, c, true);
            break;
        }
        {
            char line[32];
            int n = snprintf(line, sizeof(line), "OK %u\n", c->hport);
            if (send(c->fd, line, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n) {
                conn_close(s, c, true);
                break;
            }
        }
        c->st = C_OPEN;
        st_add(&s->st.host_connects, 1);
        break;
    case VSOCK_OP_RST:
        conn_close(s, c, false);
        break;
    case VSOCK_OP_SHUTDOWN:
        c->guest_shut |= h->flags & (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
        if (c->st == C_CLOSING || c->st == C_CONNECTING) {
            conn_close(s, c, true);
            break;
        }
        if (c->guest_shut == (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)) {
            c->close_when_flushed = true;
            c->deadline = atoll_now_ns() + CLOSE_NS;
        }
        apply_shutdown(s, c);
        break;
    case VSOCK_OP_RW:
        if (c->st != C_OPEN || (c->guest_shut & VSOCK_SHUTDOWN_SEND) ||
            vsock_credit_received(&c->cr, h->len) < 0) {
            st_add(&s->st.bad_packets, c->st == C_OPEN);
            conn_close(s, c, true);
            break;
        }
        if (vq_chain_read(ch, VSOCK_HDR_LEN, s->pkt, h->len) != h->len) {
            conn_close(s, c, true);
            break;
        }
        st_add(&s->st.tx_bytes, h->len);
        conn_write(s, c, s->pkt, h->len);
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
    st_add(&s->st.broken_rings, 1);
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
        st_add(&s->st.tx_packets, 1);
        if (rc < 0 || ch->nin) {
            st_add(&s->st.bad_packets, 1);
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
            st_add(&s->st.bad_packets, 1);
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
    st_add(&s->st.rx_packets, 1);
    st_add(&s->st.rx_bytes, h->len);
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
            conn_close(s, c, true);
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

/* ---------------- host sockets ---------------- */

static void do_accept(struct vdev_vsock *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct conn *c = conn_new(s, fd, C_HANDSHAKE);
        if (!c) {
            log_warn("vsock: more than %d connections: refusing a host client",
                     VDEV_VSOCK_MAX_CONNS);
            close(fd);
            continue;
        }
        c->deadline = atoll_now_ns() + HANDSHAKE_NS;
    }
}

/* Reads "CONNECT <port>\n" (nothing after it is consumed). */
static void handshake(struct vdev_vsock *s, struct conn *c)
{
    char line[LINE_MAX_LEN];
    ssize_t r = recv(c->fd, line, sizeof(line) - 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    char *nl = r > 0 ? memchr(line, '\n', (size_t)r) : NULL;
    if (!nl) {
        if (r <= 0 || r >= (ssize_t)sizeof(line) - 1)
            conn_close(s, c, false); /* EOF, error or an overlong line */
        return;
    }
    size_t n = (size_t)(nl - line) + 1;
    if (recv(c->fd, line, n, MSG_DONTWAIT) != (ssize_t)n) {
        conn_close(s, c, false);
        return;
    }
    line[n - 1] = '\0';
    if (n >= 2 && line[n - 2] == '\r')
        line[n - 2] = '\0';
    uint64_t port;
    if (strncmp(line, "CONNECT ", 8) || atoll_parse_u64(line + 8, 10, &port) < 0 ||
        port > UINT32_MAX) {
        static const char msg[] = "ERR expected CONNECT <port>\n";
        if (send(c->fd, msg, sizeof(msg) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
        }
        conn_close(s, c, false);
        return;
    }
    uint32_t hp;
    do {
        hp = HOST_PORT_BASE + (s->next_hport++ % HOST_PORT_BASE);
    } while (find(s, (uint32_t)port, hp));
    c->gport = (uint32_t)port;
    c->hport = hp;
    c->st = C_CONNECTING;
    c->pend |= P_REQUEST;
    c->deadline = atoll_now_ns() + CONNECT_NS;
}

static void timeouts(struct vdev_vsock *s, uint64_t now, uint64_t *next)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        bool timed = c->st == C_HANDSHAKE || c->st == C_CONNECTING || c->st == C_CLOSING ||
                     (c->st == C_OPEN && c->close_when_flushed);
        if (!timed)
            continue;
        if (now >= c->deadline)
            conn_close(s, c, c->st != C_HANDSHAKE);
        else if (!*next || c->deadline < *next)
            *next = c->deadline;
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
        timeouts(s, now, &next);
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
            do_accept(s);
        for (unsigned i = 0; i < nw; i++) {
            struct conn *c = who[i];
            short re = pfd[4 + i].revents;
            if (!re || c->st == C_FREE)
                continue;
            if (c->st == C_HANDSHAKE) {
                handshake(s, c);
                continue;
            }
            if (re & (POLLHUP | POLLERR))
                c->hup = true;
            if (c->st == C_CONNECTING) {
                if (c->hup) /* the host client gave up */
                    conn_close(s, c, true);
                continue;
            }
            if (re & (POLLIN | POLLHUP | POLLERR))
                c->readable = true;
            if ((re & POLLOUT) && c->len)
                flush(s, c);
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
    close_all(s);
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
    close_all(s); /* the guest forgot its sockets */
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
    s->lfd = uds_listen(o->uds, errbuf, errlen);
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
    close_all(s);
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
    snprintf(out, outlen, "OK cid=%llu uds=\"%s\" driver=%s conns=%llu guest_connects=%llu "
             "host_connects=%llu resets=%llu rx_packets=%llu rx_bytes=%llu tx_packets=%llu "
             "tx_bytes=%llu bad_packets=%llu broken_rings=%llu",
             (unsigned long long)s->o.cid, s->o.uds,
             (status & VIRTIO_S_DRIVER_OK) ? "on" : "off", (unsigned long long)st.conns,
             (unsigned long long)st.guest_connects, (unsigned long long)st.host_connects,
             (unsigned long long)st.resets, (unsigned long long)st.rx_packets,
             (unsigned long long)st.rx_bytes, (unsigned long long)st.tx_packets,
             (unsigned long long)st.tx_bytes, (unsigned long long)st.bad_packets,
             (unsigned long long)st.broken_rings);
    return 0;
}

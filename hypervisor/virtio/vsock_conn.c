/*
 * hypervisor/virtio/vsock_conn.c - the host side of the hybrid vsock (see vsock.h): the
 * --vsock option, the listening UNIX socket and the "CONNECT <port>" handshake of host
 * clients, connections to "<uds>_<port>" for the guest, the connection table with its
 * guest-to-host buffers, shutdown and timeouts.
 * Threads: the device's I/O thread (parse/listen: main thread). Trust: host clients send
 * one bounded line within a deadline; guest payloads were checked against the credit.
 */
#define ATOLL_LOG_MODULE "virtio-vsock"
#include "vsock_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"

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

int vsock_conn_listen(const char *path, char *errbuf, size_t errlen)
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

struct conn *vsock_conn_find(struct vdev_vsock *s, uint32_t gport, uint32_t hport)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->st != C_FREE && c->st != C_HANDSHAKE && c->gport == gport && c->hport == hport)
            return c;
    }
    return NULL;
}

struct conn *vsock_conn_new(struct vdev_vsock *s, int fd, enum cstate st)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        if (c->st != C_FREE)
            continue;
        *c = (struct conn){.st = st, .fd = fd};
        vsock_credit_init(&c->cr, VDEV_VSOCK_BUF);
        vsock_st_add(&s->st.conns, 1);
        return c;
    }
    return NULL;
}

void vsock_conn_queue_rst(struct vdev_vsock *s, uint32_t gport, uint32_t hport)
{
    vsock_st_add(&s->st.resets, 1);
    if (s->nrst == RST_RING)
        return; /* the guest times the connection out instead */
    s->rst[s->nrst].gport = gport;
    s->rst[s->nrst].hport = hport;
    s->nrst++;
}

void vsock_conn_close(struct vdev_vsock *s, struct conn *c, bool rst)
{
    if (rst && c->st != C_HANDSHAKE)
        vsock_conn_queue_rst(s, c->gport, c->hport);
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
    *c = (struct conn){.st = C_FREE, .fd = -1};
    vsock_st_add(&s->st.conns, -1);
}

void vsock_conn_close_all(struct vdev_vsock *s)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++)
        if (s->conns[i].st != C_FREE)
            vsock_conn_close(s, &s->conns[i], false);
    s->nrst = 0;
}

/* After the guest's SHUTDOWN or a flush: half-close or finish the connection. */
void vsock_conn_apply_shutdown(struct vdev_vsock *s, struct conn *c)
{
    if (c->len)
        return;
    if (c->close_when_flushed) {
        vsock_conn_close(s, c, true);
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
bool vsock_conn_flush(struct vdev_vsock *s, struct conn *c)
{
    while (c->len) {
        uint32_t seg = VDEV_VSOCK_BUF - c->head < c->len ? VDEV_VSOCK_BUF - c->head : c->len;
        ssize_t w = send(c->fd, c->buf + c->head, seg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return true;
            vsock_conn_close(s, c, true);
            return false;
        }
        c->head = (c->head + (uint32_t)w) % VDEV_VSOCK_BUF;
        c->len -= (uint32_t)w;
        note_consumed(c, (uint32_t)w);
    }
    vsock_conn_apply_shutdown(s, c);
    return true;
}

/* Guest data for the host: straight to the socket, the rest into the ring. */
void vsock_conn_write(struct vdev_vsock *s, struct conn *c, const uint8_t *p, uint32_t n)
{
    uint32_t done = 0;
    if (!c->len) {
        ssize_t w = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EINTR) {
            vsock_conn_close(s, c, true);
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
void vsock_conn_guest_connect(struct vdev_vsock *s, const struct vsock_hdr *h)
{
    char path[VDEV_VSOCK_PATH_MAX + 16];
    struct sockaddr_un a;
    snprintf(path, sizeof(path), "%s_%u", s->o.uds, h->dst_port);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || uds_addr(&a, path) < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        log_debug("guest port %u -> '%s': %s", h->src_port, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        vsock_conn_queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    struct conn *c = vsock_conn_new(s, fd, C_OPEN);
    if (!c) {
        close(fd);
        vsock_conn_queue_rst(s, h->src_port, h->dst_port);
        return;
    }
    c->gport = h->src_port;
    c->hport = h->dst_port;
    vsock_credit_peer(&c->cr, h);
    c->pend |= P_RESPONSE;
    vsock_st_add(&s->st.guest_connects, 1);
}


/* ---------------- host sockets ---------------- */

void vsock_conn_accept(struct vdev_vsock *s)
{
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            return;
        struct conn *c = vsock_conn_new(s, fd, C_HANDSHAKE);
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
void vsock_conn_handshake(struct vdev_vsock *s, struct conn *c)
{
    char line[LINE_MAX_LEN];
    ssize_t r = recv(c->fd, line, sizeof(line) - 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    char *nl = r > 0 ? memchr(line, '\n', (size_t)r) : NULL;
    if (!nl) {
        if (r <= 0 || r >= (ssize_t)sizeof(line) - 1)
            vsock_conn_close(s, c, false); /* EOF, error or an overlong line */
        return;
    }
    size_t n = (size_t)(nl - line) + 1;
    if (recv(c->fd, line, n, MSG_DONTWAIT) != (ssize_t)n) {
        vsock_conn_close(s, c, false);
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
        vsock_conn_close(s, c, false);
        return;
    }
    uint32_t hp;
    do {
        hp = HOST_PORT_BASE + (s->next_hport++ % HOST_PORT_BASE);
    } while (vsock_conn_find(s, (uint32_t)port, hp));
    c->gport = (uint32_t)port;
    c->hport = hp;
    c->st = C_CONNECTING;
    c->pend |= P_REQUEST;
    c->deadline = atoll_now_ns() + CONNECT_NS;
}

void vsock_conn_timeouts(struct vdev_vsock *s, uint64_t now, uint64_t *next)
{
    for (unsigned i = 0; i < VDEV_VSOCK_MAX_CONNS; i++) {
        struct conn *c = &s->conns[i];
        bool timed = c->st == C_HANDSHAKE || c->st == C_CONNECTING || c->st == C_CLOSING ||
                     (c->st == C_OPEN && c->close_when_flushed);
        if (!timed)
            continue;
        if (now >= c->deadline)
            vsock_conn_close(s, c, c->st != C_HANDSHAKE);
        else if (!*next || c->deadline < *next)
            *next = c->deadline;
    }
}


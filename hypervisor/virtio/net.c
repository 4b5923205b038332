/*
 * hypervisor/virtio/net.c - virtio-net on a TAP (see net.h): option parsing, the per-NIC I/O
 * thread (TX: pop, writev to the TAP with the guest's virtio-net header; RX: read a frame
 * into a bounce buffer, place it into one or, with MRG_RXBUF, several guest buffers),
 * config space (MAC, link status) and the control commands.
 * Threads: the I/O thread alone touches the queues and the TAP's data path; vCPU threads
 * start/stop it through vdev_ops (transport lock held). Trust: every chain comes through
 * the vq engine (bounds-checked); lengths are bounded here; the TAP checks GSO headers.
 */
#define ATOLL_LOG_MODULE "virtio-net"
#include "net.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "tap.h"
#include "virtio_pci.h"

/* virtio-net feature bits (virtio 1.x 5.1.3) */
#define VNET_F_CSUM       0
#define VNET_F_GUEST_CSUM 1
#define VNET_F_MAC        5
#define VNET_F_GUEST_TSO4 7
#define VNET_F_GUEST_TSO6 8
#define VNET_F_GUEST_ECN  9
#define VNET_F_HOST_TSO4  11
#define VNET_F_HOST_TSO6  12
#define VNET_F_HOST_ECN   13
#define VNET_F_MRG_RXBUF  15
#define VNET_F_STATUS     16
#define VNET_S_LINK_UP    1
#define VNET_CONFIG_SIZE  12 /* mac[6], status, max_virtqueue_pairs, mtu */
#define VNET_HDR          VDEV_TAP_HDR_LEN
#define VNET_MAX_FRAME    (65536 + 256) /* a 64 KiB GSO frame with its headers */
#define VNET_BUDGET       256 /* packets per direction before looking at the other */
#define Q_RX 0
#define Q_TX 1

struct vdev_net {
    struct vpci_dev t;
    struct vdev_tap tap;
    uint8_t mac[6];
    int link_up; /* atomic */
    unsigned offloads;
    bool mrg;
    /* I/O thread */
    pthread_t thread;
    bool running;
    int stopfd;
    int stop; /* atomic */
    /* RX: the frame being placed (kept while the guest has no buffers for the rest) */
    bool pending;
    size_t pkt_len, pkt_off;
    unsigned nheads;
    uint16_t heads[VDEV_NET_QUEUE_SIZE];
    uint32_t lens[VDEV_NET_QUEUE_SIZE];
    struct vq_chain c0, c1, txc; /* c0: first buffer of the frame (its header) */
    struct iovec txiov[VQ_MAX_SEGS];
    uint8_t pkt[VNET_HDR + VNET_MAX_FRAME];
    struct vdev_net_stats st;
};

static void st_add(uint64_t *c, uint64_t n) { __atomic_add_fetch(c, n, __ATOMIC_RELAXED); }

/* ---------------- options ---------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
               &end) != 6 || strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return (mac[0] & 1) ? -1 : 0; /* multicast addresses cannot be a NIC's */
}

int vdev_net_parse(const char *spec, struct vdev_net_opts *o, char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->fd = -1;
    if (!spec || !*spec) {
        snprintf(errbuf, errlen, "empty net option: expected fd=N or tap=NAME[,mac=...]");
        return -1;
    }
    ATOLL_AUTOFREE char *copy = atoll_strdup(spec);
    for (char *item = copy, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "net option item '%s': expected key=value", item);
            return -1;
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        if (!strcmp(key, "fd")) {
            uint64_t fd;
            if (atoll_parse_u64(val, 10, &fd) < 0 || fd > 1000000) {
                snprintf(errbuf, errlen, "net fd '%s': expected a file descriptor number", val);
                return -1;
            }
            o->fd = (int)fd;
        } else if (!strcmp(key, "tap") || !strcmp(key, "ifname")) {
            if (!*val || strlen(val) >= sizeof(o->tap) || strchr(val, '/')) {
                snprintf(errbuf, errlen, "net tap '%s': expected an interface name of 1 to "
                         "15 characters", val);
                return -1;
            }
            snprintf(o->tap, sizeof(o->tap), "%s", val);
        } else if (!strcmp(key, "mac")) {
            if (parse_mac(val, o->mac) < 0) {
                snprintf(errbuf, errlen, "net mac '%s': expected a unicast address like "
                         "52:54:00:12:34:56", val);
                return -1;
            }
            o->mac_set = true;
        } else if (!strcmp(key, "link")) {
            if (strcmp(val, "up") && strcmp(val, "down")) {
                snprintf(errbuf, errlen, "net link '%s': expected up or down", val);
                return -1;
            }
            o->link_down = !strcmp(val, "down");
        } else {
            snprintf(errbuf, errlen, "unknown net option '%s': expected fd, tap, mac or link",
                     key);
            return -1;
        }
    }
    if ((o->fd >= 0) == (o->tap[0] != '\0')) {
        snprintf(errbuf, errlen, "net option '%s': expected exactly one of fd=N and tap=NAME",
                 spec);
        return -1;
    }
    return 0;
}

/* ---------------- I/O thread ---------------- */

static bool link_is_up(struct vdev_net *n)
{
    return __atomic_load_n(&n->link_up, __ATOMIC_RELAXED);
}

static void notify(struct vdev_net *n, struct vq *vq, unsigned q)
{
    if (vq_need_notify(vq)) {
        vpci_notify_queue(&n->t, q);
        st_add(&n->st.irqs, 1);
    }
}

static void ring_broken(struct vdev_net *n, const char *which)
{
    static unsigned logged; /* guest-triggered: a few lines at most */
    if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
        log_warn("tap '%s': corrupt %s ring: device needs a reset", n->tap.name, which);
    st_add(&n->st.broken_rings, 1);
    vpci_set_needs_reset(&n->t);
}

/* Sends what the guest queued on TX. Returns false if the ring broke. */
static bool net_tx(struct vdev_net *n, struct vq *vq)
{
    struct vq_chain *c = &n->txc;
    for (int done = 0; done < VNET_BUDGET; done++) {
        int rc = vq_pop(vq, c);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            ring_broken(n, "transmit");
            return false;
        }
        if (rc < 0 || c->nin || c->out_len <= VNET_HDR || c->out_len > VNET_HDR + VNET_MAX_FRAME) {
            st_add(&n->st.bad_chains, 1);
            vq_push(vq, c->head, 0);
            continue;
        }
        if (!link_is_up(n)) {
            st_add(&n->st.tx_dropped, 1);
            vq_push(vq, c->head, 0);
            continue;
        }
        const struct iovec *iov = c->iov;
        int cnt = c->nout;
        if (!n->tap.vnet_hdr) {
            /* the TAP takes bare frames: skip the header */
            size_t skip = VNET_HDR;
            int k = 0, i = 0;
            for (; i < c->nout && skip >= c->iov[i].iov_len; i++)
                skip -= c->iov[i].iov_len;
            for (; i < c->nout; i++, k++) {
                n->txiov[k].iov_base = (char *)c->iov[i].iov_base + skip;
                n->txiov[k].iov_len = c->iov[i].iov_len - skip;
                skip = 0;
            }
            iov = n->txiov;
            cnt = k;
        }
        ssize_t w = writev(n->tap.fd, iov, cnt);
        if (w < 0) {
            st_add(&n->st.tx_errors, 1);
        } else {
            st_add(&n->st.tx_packets, 1);
            st_add(&n->st.tx_bytes, c->out_len - VNET_HDR);
        }
        vq_push(vq, c->head, 0);
        if ((done & 31) == 31)
            notify(n, vq, Q_TX);
    }
    notify(n, vq, Q_TX);
    return true;
}

/* Places the pending frame. 1 placed (or dropped), 0 out of buffers, -1 ring broken. */
static int rx_place(struct vdev_net *n, struct vq *vq)
{
    while (n->pkt_off < n->pkt_len) {
        struct vq_chain *c = n->nheads == 0 ? &n->c0 : &n->c1;
        int rc = vq_pop(vq, c);
        if (rc == 0)
            return 0;
        if (rc == -EIO) {
            n->pending = false;
            ring_broken(n, "receive");
            return -1;
        }
        bool first = n->nheads == 0;
        if (rc < 0 || c->nout || c->in_len > UINT32_MAX || (first && c->in_len < VNET_HDR)) {
            st_add(&n->st.bad_chains, 1);
            vq_push(vq, c->head, 0);
            continue;
        }
        if ((!n->mrg && c->in_len < n->pkt_len) || n->nheads >= VDEV_NET_QUEUE_SIZE) {
            /* the frame does not fit what the driver gave: drop it, return the buffer(s) */
            st_add(&n->st.rx_dropped, 1);
            vq_push(vq, c->head, 0);
            for (unsigned i = 0; i < n->nheads; i++)
                vq_push(vq, n->heads[i], 0);
            n->pending = false;
            return 1;
        }
        size_t w = vq_chain_write(c, 0, n->pkt + n->pkt_off, n->pkt_len - n->pkt_off);
        n->heads[n->nheads] = c->head;
        n->lens[n->nheads] = (uint32_t)w;
        n->nheads++;
        n->pkt_off += w;
    }
    if (n->mrg) {
        uint16_t nb = (uint16_t)n->nheads;
        vq_chain_write(&n->c0, 10, &nb, sizeof(nb)); /* num_buffers */
    }
    for (unsigned i = 0; i < n->nheads; i++)
        vq_push(vq, n->heads[i], n->lens[i]);
    st_add(&n->st.rx_packets, 1);
    st_add(&n->st.rx_bytes, n->pkt_len - VNET_HDR);
    n->pending = false;
    return 1;
}

/* Moves frames from the TAP to the guest. Returns true if the TAP fd should be polled. */
static bool net_rx(struct vdev_net *n, struct vq *vq)
{
    vq_kicks_disable(vq);
    for (int done = 0; done < VNET_BUDGET; done++) {
        if (!n->pending) {
            bool up = link_is_up(n);
            if (up && !vq_has_avail(vq)) {
                notify(n, vq, Q_RX);
                if (vq_kicks_enable(vq))
                    continue;
                return false; /* sleep until the driver adds buffers */
            }
            uint8_t *dst = n->tap.vnet_hdr ? n->pkt : n->pkt + VNET_HDR;
            size_t room = n->tap.vnet_hdr ? sizeof(n->pkt) : sizeof(n->pkt) - VNET_HDR;
            ssize_t r = read(n->tap.fd, dst, room);
            if (r < 0) {
                notify(n, vq, Q_RX);
                return true;
            }
            if (!up) {
                st_add(&n->st.rx_dropped, 1); /* link down: the wire is cut */
                continue;
            }
            if (n->tap.vnet_hdr) {
                if (r <= VNET_HDR)
                    continue;
                n->pkt_len = (size_t)r;
            } else {
                memset(n->pkt, 0, VNET_HDR);
                n->pkt_len = (size_t)r + VNET_HDR;
            }
            uint16_t one = 1; /* num_buffers: the TAP leaves these two bytes alone */
            memcpy(n->pkt + 10, &one, sizeof(one));
            n->pending = true;
            n->pkt_off = 0;
            n->nheads = 0;
        }
        int rc = rx_place(n, vq);
        if (rc < 0)
            return false;
        if (rc == 0) {
            notify(n, vq, Q_RX);
            if (vq_kicks_enable(vq))
                continue;
            return false;
        }
        if ((done & 31) == 31)
            notify(n, vq, Q_RX);
    }
    notify(n, vq, Q_RX);
    return true;
}

static void drain(int fd)
{
    uint64_t cnt;
    while (read(fd, &cnt, sizeof(cnt)) == sizeof(cnt)) {
    }
}

static void *net_thread(void *arg)
{
    struct vdev_net *n = arg;
    struct vq *rx = vpci_vq(&n->t, Q_RX), *tx = vpci_vq(&n->t, Q_TX);
    int rxk = vpci_kickfd(&n->t, Q_RX), txk = vpci_kickfd(&n->t, Q_TX);
    bool rx_ok = rx != NULL, tx_ok = tx != NULL;
    while (!__atomic_load_n(&n->stop, __ATOMIC_ACQUIRE)) {
        bool again = false;
        if (tx_ok) {
            vq_kicks_disable(tx);
            tx_ok = net_tx(n, tx);
            if (tx_ok && vq_kicks_enable(tx))
                again = true;
        }
        bool want_tap = false;
        if (rx_ok) {
            want_tap = net_rx(n, rx);
            rx_ok = !rx->broken;
        }
        if (again)
            continue;
        struct pollfd pfd[4] = {
            {.fd = txk, .events = POLLIN},
            {.fd = rxk, .events = POLLIN},
            {.fd = n->tap.fd, .events = want_tap ? POLLIN : 0},
            {.fd = n->stopfd, .events = POLLIN},
        };
        if (poll(pfd, 4, -1) < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & POLLIN) {
            drain(txk);
            st_add(&n->st.kicks, 1);
        }
        if (pfd[1].revents & POLLIN) {
            drain(rxk);
            st_add(&n->st.kicks, 1);
        }
    }
    return NULL;
}

/* ---------------- transport callbacks (vCPU threads, transport lock held) ---------------- */

static void net_config_read(void *dev, uint32_t off, void *data, unsigned size)
{
    struct vdev_net *n = dev;
    uint8_t cfg[VNET_CONFIG_SIZE] = {0};
    memcpy(cfg, n->mac, 6);
    uint16_t status = link_is_up(n) ? VNET_S_LINK_UP : 0, pairs = 1, mtu = 1500;
    memcpy(cfg + 6, &status, 2);
    memcpy(cfg + 8, &pairs, 2);
    memcpy(cfg + 10, &mtu, 2);
    memcpy(data, cfg + off, size);
}

static int net_start(void *dev)
{
    struct vdev_net *n = dev;
    uint64_t f = vpci_features(&n->t);
    n->mrg = f & (1ULL << VNET_F_MRG_RXBUF);
    unsigned off = 0;
    if (f & (1ULL << VNET_F_GUEST_CSUM)) {
        off |= VDEV_TAP_OFF_CSUM;
        if (f & (1ULL << VNET_F_GUEST_TSO4))
            off |= VDEV_TAP_OFF_TSO4;
        if (f & (1ULL << VNET_F_GUEST_TSO6))
            off |= VDEV_TAP_OFF_TSO6;
        if ((off & (VDEV_TAP_OFF_TSO4 | VDEV_TAP_OFF_TSO6)) && (f & (1ULL << VNET_F_GUEST_ECN)))
            off |= VDEV_TAP_OFF_ECN;
    }
    int rc = vdev_tap_set_offload(&n->tap, off);
    if (rc < 0) {
        log_warn("tap '%s': TUNSETOFFLOAD 0x%x: %s", n->tap.name, off, strerror(-rc));
        return rc;
    }
    n->offloads = off;
    n->pending = false;
    if (!vpci_vq(&n->t, Q_RX) && !vpci_vq(&n->t, Q_TX))
        return 0;
    __atomic_store_n(&n->stop, 0, __ATOMIC_RELEASE);
    rc = pthread_create(&n->thread, NULL, net_thread, n);
    if (rc) {
        log_error("tap '%s': cannot start the NIC's I/O thread: %s", n->tap.name, strerror(rc));
        return -rc;
    }
    pthread_setname_np(n->thread, "virtio-net");
    n->running = true;
    return 0;
}

static void net_stop(void *dev)
{
    struct vdev_net *n = dev;
    if (n->running) {
        __atomic_store_n(&n->stop, 1, __ATOMIC_RELEASE);
        uint64_t one = 1;
        if (write(n->stopfd, &one, sizeof(one)) < 0)
            log_warn("tap '%s': cannot wake the I/O thread: %s", n->tap.name, strerror(errno));
        pthread_join(n->thread, NULL);
        n->running = false;
        drain(n->stopfd);
    }
    n->pending = false;
    if (n->offloads)
        vdev_tap_set_offload(&n->tap, 0);
    n->offloads = 0;
}

static const struct vdev_ops net_ops = {
    .name = "virtio-net",
    .device_id = 1,
    .class_code = 0x020000, /* network controller, Ethernet */
    .config_size = VNET_CONFIG_SIZE,
    .config_read = net_config_read,
    .start = net_start,
    .stop = net_stop,
};

struct vdev_net *vdev_net_new(const struct vdev_net_opts *o, const struct guestmem *mem,
                              char *errbuf, size_t errlen)
{
    struct vdev_net *n = atoll_calloc(1, sizeof(*n));
    int rc = o->fd >= 0 ? vdev_tap_adopt(o->fd, &n->tap, errbuf, errlen)
                        : vdev_tap_open(o->tap, &n->tap, errbuf, errlen);
    if (rc < 0) {
        free(n);
        return NULL;
    }
    if (o->mac_set) {
        memcpy(n->mac, o->mac, 6);
    } else {
        uint8_t r[3] = {0};
        if (getrandom(r, sizeof(r), 0) != sizeof(r))
            r[2] = (uint8_t)getpid();
        memcpy(n->mac, (uint8_t[6]){0x52, 0x54, 0x00, r[0], r[1], r[2]}, 6);
    }
    n->link_up = !o->link_down;
    n->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (n->stopfd < 0) {
        snprintf(errbuf, errlen, "tap '%s': eventfd: %s", n->tap.name, strerror(errno));
        goto fail;
    }
    uint64_t features = (1ULL << VNET_F_MAC) | (1ULL << VNET_F_STATUS) |
                        (1ULL << VNET_F_MRG_RXBUF);
    if (n->tap.vnet_hdr) {
        /* the TAP takes our header: checksum and segmentation happen in the host */
        features |= (1ULL << VNET_F_CSUM) | (1ULL << VNET_F_HOST_TSO4) |
                    (1ULL << VNET_F_HOST_TSO6) | (1ULL << VNET_F_HOST_ECN);
        if (n->tap.offload_ok)
            features |= (1ULL << VNET_F_GUEST_CSUM) | (1ULL << VNET_F_GUEST_TSO4) |
                        (1ULL << VNET_F_GUEST_TSO6) | (1ULL << VNET_F_GUEST_ECN);
    }
    rc = vpci_init(&n->t, &net_ops, n, 2, VDEV_NET_QUEUE_SIZE, features, mem);
    if (rc < 0) {
        snprintf(errbuf, errlen, "tap '%s': cannot create its PCI function: %s", n->tap.name,
                 strerror(-rc));
        goto fail;
    }
    if (o->link_down)
        vdev_tap_set_carrier(&n->tap, false);
    log_info("tap '%s': mac %02x:%02x:%02x:%02x:%02x:%02x, vnet header %s, link %s",
             n->tap.name, n->mac[0], n->mac[1], n->mac[2], n->mac[3], n->mac[4], n->mac[5],
             n->tap.vnet_hdr ? "on" : "off", o->link_down ? "down" : "up");
    return n;
fail:
    if (n->stopfd >= 0)
        close(n->stopfd);
    if (o->fd < 0)
        vdev_tap_close(&n->tap);
    free(n);
    return NULL;
}

struct pci_dev *vdev_net_pci(struct vdev_net *n)
{
    return &n->t.pci;
}

void vdev_net_free(struct vdev_net *n)
{
    if (!n)
        return;
    vpci_fini(&n->t); /* stops the I/O thread */
    close(n->stopfd);
    vdev_tap_close(&n->tap);
    free(n);
}

void vdev_net_set_link(struct vdev_net *n, bool up)
{
    int old = __atomic_exchange_n(&n->link_up, up ? 1 : 0, __ATOMIC_SEQ_CST);
    if (old == (up ? 1 : 0))
        return;
    int rc = vdev_tap_set_carrier(&n->tap, up);
    if (rc < 0 && rc != -EINVAL)
        log_debug("tap '%s': TUNSETCARRIER: %s", n->tap.name, strerror(-rc));
    uint8_t st = __atomic_load_n(&n->t.status, __ATOMIC_SEQ_CST);
    if (st & VIRTIO_S_DRIVER_OK)
        vpci_notify_config(&n->t);
    /* wake the I/O thread: it re-reads the link state (RX starts or stops dropping) */
    uint64_t one = 1;
    if (write(vpci_kickfd(&n->t, Q_RX), &one, sizeof(one)) < 0) {
    }
    log_info("tap '%s': link %s", n->tap.name, up ? "up" : "down");
}

void vdev_net_get_info(struct vdev_net *n, struct vdev_net_info *out)
{
    *out = (struct vdev_net_info){
        .tap = n->tap.name,
        .link_up = link_is_up(n),
        .vnet_hdr = n->tap.vnet_hdr,
        .offloads = n->offloads,
    };
    memcpy(out->mac, n->mac, 6);
    uint8_t st = __atomic_load_n(&n->t.status, __ATOMIC_SEQ_CST);
    if (st & VIRTIO_S_FEATURES_OK)
        out->features = n->t.guest_features;
}

void vdev_net_get_stats(struct vdev_net *n, struct vdev_net_stats *out)
{
    uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&n->st;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---------------- control commands (main-loop thread) ---------------- */

static void put(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *out, size_t outlen, const char *fmt, ...)
{
    size_t len = strlen(out);
    if (len + 1 >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + len, outlen - len, fmt, ap);
    va_end(ap);
}

int vdev_net_control(struct vdev_net *const *nics, unsigned n, const char *cmd, const char *arg,
                     char *out, size_t outlen)
{
    if (!strcmp(cmd, "nics")) {
        snprintf(out, outlen, "OK count=%u", n);
        return 0;
    }
    if (strcmp(cmd, "nic") && strcmp(cmd, "nic-stats") && strcmp(cmd, "nic-link"))
        return -1;
    char num[16] = "", mode[16] = "", extra[4] = "";
    int k = arg ? sscanf(arg, "%15s %15s %3s", num, mode, extra) : 0;
    uint64_t i;
    if (k < 1 || atoll_parse_u64(num, 10, &i) < 0 || i >= n) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT nic index '%s' is invalid: expected 0 to %d",
                 num, (int)n - 1);
        return 0;
    }
    struct vdev_net *nic = nics[i];
    if (!strcmp(cmd, "nic-link")) {
        if (k != 2 || (strcmp(mode, "up") && strcmp(mode, "down"))) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT usage: nic-link N up|down");
            return 0;
        }
        vdev_net_set_link(nic, !strcmp(mode, "up"));
        snprintf(out, outlen, "OK nic=%u link=%s", (unsigned)i, mode);
        return 0;
    }
    if (k != 1) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT %s takes only a nic index", cmd);
        return 0;
    }
    snprintf(out, outlen, "OK nic=%u", (unsigned)i);
    if (!strcmp(cmd, "nic")) {
        struct vdev_net_info in;
        vdev_net_get_info(nic, &in);
        put(out, outlen, " tap=%s mac=%02x:%02x:%02x:%02x:%02x:%02x link=%s vnet_hdr=%s "
            "features=0x%llx offloads=0x%x", in.tap, in.mac[0], in.mac[1], in.mac[2],
            in.mac[3], in.mac[4], in.mac[5], in.link_up ? "up" : "down",
            in.vnet_hdr ? "on" : "off", (unsigned long long)in.features, in.offloads);
        return 0;
    }
    struct vdev_net_stats s;
    vdev_net_get_stats(nic, &s);
    put(out, outlen, " rx_packets=%llu rx_bytes=%llu rx_dropped=%llu tx_packets=%llu "
        "tx_bytes=%llu tx_dropped=%llu tx_errors=%llu bad_chains=%llu kicks=%llu irqs=%llu "
        "broken_rings=%llu",
        (unsigned long long)s.rx_packets, (unsigned long long)s.rx_bytes,
        (unsigned long long)s.rx_dropped, (unsigned long long)s.tx_packets,
        (unsigned long long)s.tx_bytes, (unsigned long long)s.tx_dropped,
        (unsigned long long)s.tx_errors, (unsigned long long)s.bad_chains,
        (unsigned long long)s.kicks, (unsigned long long)s.irqs,
        (unsigned long long)s.broken_rings);
    return 0;
}

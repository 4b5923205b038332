/*
 * hypervisor/virtio/vsock_int.h - what vsock.c (queues, I/O thread, transport) and
 * vsock_conn.c (options, host sockets, connection table) share: the device and connection
 * structures and the connection functions. Private to those two files.
 * Threads: everything here runs on the device's I/O thread (new/free: main thread).
 * Trust: see vsock.c.
 */
#ifndef VMM_VIRTIO_VSOCK_INT_H
#define VMM_VIRTIO_VSOCK_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio_pci.h"
#include "vsock.h"
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

static inline void vsock_st_add(uint64_t *c, int64_t n)
{
    __atomic_add_fetch(c, (uint64_t)n, __ATOMIC_RELAXED);
}

/* The listening socket at path (mode 0600; a stale socket replaced, a live one refused). */
int vsock_conn_listen(const char *path, char *errbuf, size_t errlen);
/* The connection of (guest port, host port), NULL if none (handshaking ones excluded). */
struct conn *vsock_conn_find(struct vdev_vsock *s, uint32_t gport, uint32_t hport);
/* A free slot set up in state st around fd; NULL when all are taken. */
struct conn *vsock_conn_new(struct vdev_vsock *s, int fd, enum cstate st);
/* Owes the guest an RST for (gport, hport) (dropped when the ring is full). */
void vsock_conn_queue_rst(struct vdev_vsock *s, uint32_t gport, uint32_t hport);
/* Closes the host socket, frees the slot; rst: owe the guest an RST. */
void vsock_conn_close(struct vdev_vsock *s, struct conn *c, bool rst);
void vsock_conn_close_all(struct vdev_vsock *s);
/* After the guest's SHUTDOWN or a flush: half-close or finish the connection. */
void vsock_conn_apply_shutdown(struct vdev_vsock *s, struct conn *c);
/* Writes buffered guest bytes to the host socket; false if the connection was reset. */
bool vsock_conn_flush(struct vdev_vsock *s, struct conn *c);
/* Guest payload for the host socket (what it does not take now is buffered). */
void vsock_conn_write(struct vdev_vsock *s, struct conn *c, const uint8_t *p, uint32_t n);
/* A guest REQUEST to a host port: connect to "<uds>_<port>", RESPONSE or RST owed. */
void vsock_conn_guest_connect(struct vdev_vsock *s, const struct vsock_hdr *h);
/* Accepts host clients on the listening socket. */
void vsock_conn_accept(struct vdev_vsock *s);
/* Reads a host client's "CONNECT <port>" line; a REQUEST is then owed to the guest. */
void vsock_conn_handshake(struct vdev_vsock *s, struct conn *c);
/* Ends connections past their deadline; *next gets the earliest remaining deadline. */
void vsock_conn_timeouts(struct vdev_vsock *s, uint64_t now, uint64_t *next);

#endif

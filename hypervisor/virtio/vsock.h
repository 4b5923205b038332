/*
 * hypervisor/virtio/vsock.h - virtio-vsock (device id 19) served in the VMM's userspace,
 * "hybrid" as Firecracker does it: a guest connection to the host (CID 2) port P is
 * forwarded to the host UNIX socket "<uds>_<P>"; a host process connects to "<uds>", writes
 * "CONNECT <port>\n" and, once the guest accepted, reads "OK <hostport>\n" and then talks to
 * the guest's listener. Stream sockets only, with the spec's credit-based flow control.
 * Threads: new/free on the main thread; one I/O thread owns the queues, the sockets and
 * the connections; statistics are read from any thread.
 * Trust: packets from the guest (vsock_pkt_check), bytes from host socket clients.
 */
#ifndef VMM_VIRTIO_VSOCK_H
#define VMM_VIRTIO_VSOCK_H

#include <stddef.h>
#include <stdint.h>

#include "guestmem.h"
#include "pci.h"

#define VDEV_VSOCK_QUEUE_SIZE 256
#define VDEV_VSOCK_MAX_CONNS  64
#define VDEV_VSOCK_BUF        (256 * 1024) /* per-connection buffer advertised to the guest */
#define VDEV_VSOCK_PATH_MAX   96           /* uds prefix; "_<port>" must still fit sun_path */

/* The --vsock option, parsed. */
struct vdev_vsock_opts {
    uint64_t cid;                      /* the guest's CID: 3 .. 2^32-2 */
    char uds[VDEV_VSOCK_PATH_MAX + 1]; /* host UNIX socket path prefix */
};

/* Parses "cid=N,uds=PATH". Returns 0, or -1 with a one-line message in errbuf. */
int vdev_vsock_parse(const char *spec, struct vdev_vsock_opts *o, char *errbuf, size_t errlen);

struct vdev_vsock;

/*
 * Creates the listening socket at o->uds (mode 0600; a stale socket is replaced, a live one
 * refused) and the PCI function (mem borrowed). NULL with errbuf set on failure.
 */
struct vdev_vsock *vdev_vsock_new(const struct vdev_vsock_opts *o, const struct guestmem *mem,
                                  char *errbuf, size_t errlen);
struct pci_dev *vdev_vsock_pci(struct vdev_vsock *s);
/* Stops the I/O thread, closes every connection, unlinks the socket. NULL: no-op. */
void vdev_vsock_free(struct vdev_vsock *s);

struct vdev_vsock_stats {
    uint64_t conns;          /* open now */
    uint64_t guest_connects, host_connects; /* established, by who initiated */
    uint64_t resets;         /* RST sent to the guest */
    uint64_t rx_packets, rx_bytes; /* to the guest (payload bytes) */
    uint64_t tx_packets, tx_bytes; /* from the guest */
    uint64_t bad_packets;    /* rejected by vsock_pkt_check or a credit violation */
    uint64_t broken_rings;
};
void vdev_vsock_get_stats(struct vdev_vsock *s, struct vdev_vsock_stats *out);

/*
 * Control-socket command (vdevs.c forwards it):
 *   query-vsock   OK cid=N uds=PATH driver=on|off conns= guest_connects= host_connects=
 *                 resets= rx_packets= rx_bytes= tx_packets= tx_bytes= bad_packets=
 *                 broken_rings=
 * s may be NULL (no vsock device: ERR BAD_STATE). Returns 0 if cmd is this, else -1.
 */
int vdev_vsock_control(struct vdev_vsock *s, const char *cmd, const char *arg, char *out,
                       size_t outlen);

#endif

/*
 * hypervisor/virtio/net.h - virtio-net over a Linux TAP: one receive and one transmit queue,
 * MAC and link status in config space (link switchable at run time, with a config-change
 * interrupt), checksum/TSO offloads passed through to the TAP's virtio-net header,
 * mergeable receive buffers, one I/O thread per NIC (TX kicks by ioeventfd, RX by poll on
 * the TAP fd). Threads: new/free on the main thread; register callbacks on vCPU threads;
 * packets on the NIC's I/O thread; link and stats from any thread.
 * Trust: rings and headers come from the guest, frames from the host network.
 */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmem.h"
#include "pci.h"

#define VDEV_NET_QUEUE_SIZE 256

/* One --net option, parsed. */
struct vdev_net_opts {
    int fd;            /* fd=N: a TAP queue opened by the caller, or -1 */
    char tap[16];      /* tap=NAME: opened here (needs CAP_NET_ADMIN or the TAP's owner) */
    uint8_t mac[6];
    bool mac_set;      /* false: a random locally administered 52:54:00:xx:xx:xx */
    bool link_down;    /* link=down: start with the link down */
};

/*
 * Parses "fd=N|tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,link=up|down]". Exactly one of fd and tap;
 * a multicast MAC is refused. Returns 0, or -1 with a one-line message in errbuf.
 */
int vdev_net_parse(const char *spec, struct vdev_net_opts *o, char *errbuf, size_t errlen);

struct vdev_net;

/*
 * Opens or adopts the TAP and builds the virtio-pci function (mem borrowed). Add it to the
 * bus with pci_bus_add(bus, vdev_net_pci(n), gsi). Returns NULL with errbuf set on failure
 * (an fd given with fd= is then left open).
 */
struct vdev_net *vdev_net_new(const struct vdev_net_opts *o, const struct guestmem *mem,
                              char *errbuf, size_t errlen);
struct pci_dev *vdev_net_pci(struct vdev_net *n);
/* Stops the I/O thread and closes the TAP fd. NULL is a no-op. After the vCPUs stopped. */
void vdev_net_free(struct vdev_net *n);

/* Link up or down (VIRTIO_NET_S_LINK_UP, config interrupt, TAP carrier). Any thread. */
void vdev_net_set_link(struct vdev_net *n, bool up);

struct vdev_net_info {
    const char *tap;         /* interface name (borrowed) */
    uint8_t mac[6];
    bool link_up, vnet_hdr;
    uint64_t features;       /* negotiated (0 before the driver set FEATURES_OK) */
    unsigned offloads;       /* VDEV_TAP_OFF_* given to the TAP */
};
void vdev_net_get_info(struct vdev_net *n, struct vdev_net_info *out);

struct vdev_net_stats {
    uint64_t rx_packets, rx_bytes, rx_dropped; /* dropped: link down or guest buffer too small */
    uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors; /* errors: the TAP refused a frame */
    uint64_t bad_chains;   /* malformed descriptor chains (completed with length 0) */
    uint64_t kicks, irqs;
    uint64_t broken_rings; /* corrupt rings (DEVICE_NEEDS_RESET) */
};
void vdev_net_get_stats(struct vdev_net *n, struct vdev_net_stats *out);

/*
 * Control-socket commands over the NICs nics[0..n) (vdevs.c forwards them):
 *   nics                 OK count=N
 *   nic N                OK nic=N tap=NAME mac=M link=up|down vnet_hdr=on|off features=0x..
 *                        offloads=0x..
 *   nic-stats N          OK nic=N rx_packets= rx_bytes= rx_dropped= tx_packets= tx_bytes=
 *                        tx_dropped= tx_errors= bad_chains= kicks= irqs= broken_rings=
 *   nic-link N up|down   OK nic=N link=up|down
 * Writes "OK ..." or "ERR BAD_ARGUMENT <message>" into out. Returns 0 if cmd is one of
 * these, -1 otherwise (out untouched).
 */
int vdev_net_control(struct vdev_net *const *nics, unsigned n, const char *cmd, const char *arg,
                     char *out, size_t outlen);

#endif

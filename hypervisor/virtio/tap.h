/*
 * hypervisor/virtio/tap.h - Linux TAP devices for virtio-net: opened by name through
 * /dev/net/tun, or adopted from an fd the caller (atolld) opened and handed over; the
 * virtio-net header (IFF_VNET_HDR, TUNSETVNETHDRSZ) and the offloads the TAP may hand us
 * (TUNSETOFFLOAD), and the carrier seen by the host.
 * Threads: open/adopt/close on the main thread; the rest from any one thread at a time.
 * Trust: the fd number and the name are user input and are checked.
 */
#ifndef VMM_VIRTIO_TAP_H
#define VMM_VIRTIO_TAP_H

#include <stdbool.h>
#include <stddef.h>

#define VDEV_TAP_NAME_MAX 16 /* IFNAMSIZ */
#define VDEV_TAP_HDR_LEN 12  /* struct virtio_net_hdr_v1 (with num_buffers) */

/* TUNSETOFFLOAD bits (linux/if_tun.h) */
#define VDEV_TAP_OFF_CSUM 0x01
#define VDEV_TAP_OFF_TSO4 0x02
#define VDEV_TAP_OFF_TSO6 0x04
#define VDEV_TAP_OFF_ECN  0x08

struct vdev_tap {
    int fd;                           /* non-blocking, close-on-exec */
    char name[VDEV_TAP_NAME_MAX + 1]; /* interface name as the kernel reports it */
    bool vnet_hdr;                    /* frames carry a VDEV_TAP_HDR_LEN-byte header */
    bool offload_ok;                  /* TUNSETOFFLOAD works: the guest may get GSO frames */
};

/*
 * Opens the existing or new TAP interface name (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR).
 * 0, or -1 with a one-line message in errbuf.
 */
int vdev_tap_open(const char *name, struct vdev_tap *t, char *errbuf, size_t errlen);
/*
 * Adopts fd, which must be an open TAP queue without packet information (IFF_NO_PI); a
 * header is used if the fd was opened with IFF_VNET_HDR. On success the fd belongs to t
 * (closed by vdev_tap_close). 0, or -1 with errbuf set (fd left open).
 */
int vdev_tap_adopt(int fd, struct vdev_tap *t, char *errbuf, size_t errlen);
/* Closes the fd. */
void vdev_tap_close(struct vdev_tap *t);
/* Lets the TAP hand us frames with the VDEV_TAP_OFF_* offloads (0: none). 0 or -errno. */
int vdev_tap_set_offload(struct vdev_tap *t, unsigned flags);
/* Carrier up or down on the host side (TUNSETCARRIER, Linux 5.0+). 0 or -errno. */
int vdev_tap_set_carrier(struct vdev_tap *t, bool up);

#endif

/*
 * hypervisor/virtio/blk.h - virtio-blk device on libatoll-block images: read, write,
 * flush, discard, write-zeroes, GET_ID (serial), read-only disks, one I/O thread per disk
 * with an optional adaptive busy-polling mode.
 * Threads: created and freed by the VMM's main thread; register callbacks on vCPU threads
 * (transport lock); requests on the disk's own I/O thread.
 * Trust: requests come from the guest; the image file is untrusted (libatoll-block).
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmem.h"
#include "pci.h"

#define VDEV_BLK_SERIAL_MAX  20  /* VIRTIO_BLK_ID_BYTES */
#define VDEV_BLK_QUEUE_SIZE  256
#define VDEV_BLK_POLL_US_DEF 64  /* default busy-poll window after the last request */
#define VDEV_BLK_POLL_US_MAX 100000
#define VDEV_BLK_MAX_QUEUES  8   /* VIRTIO_BLK_F_MQ: one I/O thread per queue */

/* One --disk option, parsed. */
struct vdev_blk_opts {
    char path[4096];
    char format[16];             /* "auto" (default), "raw" or "qcow2" */
    char serial[VDEV_BLK_SERIAL_MAX + 1];
    bool readonly;
    bool poll;                   /* busy-poll the ring before sleeping on the eventfd */
    uint32_t poll_us;            /* longest poll window (adaptive below it) */
    uint32_t queues;             /* request queues, 1..VDEV_BLK_MAX_QUEUES (default 1) */
};

/*
 * Parses "path=IMG[,format=raw|qcow2|auto][,readonly=on|off][,serial=S][,poll=on|off]
 * [,poll_us=N][,queues=N]" (a bare first item without '=' is taken as the path).
 * queues > 1 offers VIRTIO_BLK_F_MQ with one I/O thread per queue. Unknown keys,
 * bad values, a missing path, a serial longer than 20 bytes or with ',' are refused.
 * Returns 0, or -1 with a one-line message in errbuf naming the bad item.
 */
int vdev_blk_parse(const char *spec, struct vdev_blk_opts *o, char *errbuf, size_t errlen);

struct vdev_blk;

/*
 * Opens the image (read-only if o->readonly, else read-write) and builds the virtio-pci
 * function. mem is borrowed (guest RAM, filled by the VMM). Add the result to the bus with
 * pci_bus_add(bus, vdev_blk_pci(b), gsi). Returns the device, or NULL with errbuf set.
 */
struct vdev_blk *vdev_blk_new(const struct vdev_blk_opts *o, const struct guestmem *mem,
                              char *errbuf, size_t errlen);
/* The PCI function to add to the bus (borrowed). */
struct pci_dev *vdev_blk_pci(struct vdev_blk *b);
/* Stops the I/O thread, closes the image. NULL is a no-op. Call after the vCPUs stopped. */
void vdev_blk_free(struct vdev_blk *b);
/*
 * Grows the disk to new_size bytes (a multiple of 512, not smaller: shrinking under a
 * running guest is refused) and tells the driver (capacity + config-change interrupt),
 * as an online VDI.resize needs. Main thread. 0, or -1 with a one-line message.
 */
int vdev_blk_resize(struct vdev_blk *b, uint64_t new_size, char *errbuf, size_t errlen);
/* Switches polling at run time (e.g. from the control socket). */
void vdev_blk_set_poll(struct vdev_blk *b, bool on, uint32_t poll_us);

struct vdev_blk_stats {
    uint64_t reads, writes, flushes, discards, get_ids, unsupported;
    uint64_t read_bytes, write_bytes;
    uint64_t io_errors;     /* requests answered VIRTIO_BLK_S_IOERR */
    uint64_t bad_chains;    /* malformed descriptor chains (completed with length 0) */
    uint64_t kicks;         /* wake-ups from the eventfd */
    uint64_t polled;        /* requests found while busy-polling */
    uint64_t irqs;          /* interrupts raised */
    uint64_t broken_rings;  /* corrupt rings (DEVICE_NEEDS_RESET) */
};
/* Snapshot of the counters (any thread). */
void vdev_blk_get_stats(struct vdev_blk *b, struct vdev_blk_stats *out);

struct vdev_blk_info {
    const char *path;   /* borrowed until vdev_blk_free */
    const char *format; /* "raw" or "qcow2" */
    const char *serial;
    uint64_t sectors;
    bool readonly, poll;
    uint32_t poll_us;
    uint32_t queues;
};
/* Describes the disk (any thread). */
void vdev_blk_get_info(struct vdev_blk *b, struct vdev_blk_info *out);

#endif

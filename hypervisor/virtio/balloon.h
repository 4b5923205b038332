/*
 * hypervisor/virtio/balloon.h - virtio-balloon (virtio 1.x, device id 5): the target
 * (num_pages) set from the control socket, inflate/deflate queues whose pages are handed
 * back to the host (hole punched in the guest-RAM memfd), the stats queue whose numbers
 * `query balloon` shows, DEFLATE_ON_OOM offered on request.
 * Threads: new/free on the main thread; config callbacks on vCPU threads (transport lock);
 * queues on the device's own I/O thread; target/info/stats requests from the main loop.
 * Trust: every PFN, ring and stats entry comes from the guest and is bounds-checked.
 */
#ifndef VMM_VIRTIO_BALLOON_H
#define VMM_VIRTIO_BALLOON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmem.h"
#include "pci.h"

#define VDEV_BALLOON_QUEUE_SIZE 128
#define VDEV_BALLOON_PAGE 4096ULL /* balloon PFNs are 4 KiB frames whatever the guest uses */
#define VDEV_BALLOON_NSTATS 16    /* stats tags kept (the spec defines 0..10) */

/* The --balloon option, parsed. */
struct vdev_balloon_opts {
    bool enabled;            /* default on: dynamic memory control needs it */
    bool deflate_on_oom;     /* offer VIRTIO_BALLOON_F_DEFLATE_ON_OOM */
    uint32_t stats_interval; /* seconds between stats requests; 0: only on `query balloon` */
};

/*
 * Parses "on|off[,stats=SECONDS][,deflate_on_oom=on|off]" (NULL or "" = on). Returns 0, or
 * -1 with a one-line message in errbuf naming the bad item.
 */
int vdev_balloon_parse(const char *spec, struct vdev_balloon_opts *o, char *errbuf,
                       size_t errlen);

struct vdev_balloon;

/*
 * Builds the PCI function for a guest of ram_bytes of RAM listed in mem (borrowed).
 * Add it with pci_bus_add(bus, vdev_balloon_pci(b), gsi). NULL with errbuf set on failure.
 */
struct vdev_balloon *vdev_balloon_new(const struct vdev_balloon_opts *o,
                                      const struct guestmem *mem, uint64_t ram_bytes,
                                      char *errbuf, size_t errlen);
struct pci_dev *vdev_balloon_pci(struct vdev_balloon *b);
/* Stops the I/O thread. NULL is a no-op. After the vCPUs stopped. */
void vdev_balloon_free(struct vdev_balloon *b);

/*
 * Sets the guest's memory target (what the guest should keep, as XAPI's memory target and
 * QEMU's `balloon` mean it): num_pages = (ram_bytes - target) / 4 KiB, and a config-change
 * interrupt. 0, or -1 with a message (target above the RAM size). Any thread.
 */
int vdev_balloon_set_target(struct vdev_balloon *b, uint64_t target_bytes, char *errbuf,
                            size_t errlen);
/* Asks the driver for fresh statistics (returns the held stats buffer). Any thread. */
void vdev_balloon_request_stats(struct vdev_balloon *b);

struct vdev_balloon_info {
    uint64_t ram_bytes;
    uint32_t num_pages;     /* target balloon size (device config) */
    uint32_t actual_pages;  /* balloon size the driver reports (config "actual") */
    bool driver_ok, stats_vq, deflate_on_oom;
    uint64_t inflated_pages, deflated_pages; /* PFNs received on each queue (valid ones) */
    uint64_t discarded_bytes; /* host memory given back (holes punched) */
    uint64_t bad_pfns, bad_chains, broken_rings;
    uint64_t stats_updates;   /* stats buffers received */
    uint64_t stats_age_ms;    /* since the last one (UINT64_MAX: none yet) */
    bool have[VDEV_BALLOON_NSTATS];
    uint64_t stat[VDEV_BALLOON_NSTATS]; /* by VIRTIO_BALLOON_S_* tag */
};
void vdev_balloon_get_info(struct vdev_balloon *b, struct vdev_balloon_info *out);

/*
 * Control-socket commands (vdevs.c forwards them):
 *   balloon SIZE      SIZE: the guest's memory target, MiB when bare, or with K/M/G suffix,
 *                     or bytes with a B suffix. OK target_bytes=N num_pages=N
 *   query-balloon     OK target_bytes= actual_bytes= memory_bytes= num_pages= actual_pages=
 *                     driver=on|off inflated_pages= deflated_pages= discarded_bytes=
 *                     bad_pfns= stats_updates= stats_age_ms= [stat_<name>=N ...]
 * Writes "OK ..." or "ERR BAD_ARGUMENT|BAD_STATE <message>" into out. b may be NULL (no
 * balloon). Returns 0 when cmd is one of these, -1 otherwise (out untouched).
 */
int vdev_balloon_control(struct vdev_balloon *b, const char *cmd, const char *arg, char *out,
                         size_t outlen);

/*
 * Pure helper (unit-tested): walks n guest PFNs, checks each 4 KiB frame against guest RAM
 * (gm) and calls fn once per run of frames contiguous in both guest and host memory.
 * Returns the number of valid frames; *bad (if not NULL) gets the invalid ones.
 */
typedef void (*vdev_balloon_run_fn)(void *ctx, uint8_t *host, uint64_t gpa, uint64_t len);
uint64_t vdev_balloon_pfn_runs(const struct guestmem *gm, const uint32_t *pfns, size_t n,
                               vdev_balloon_run_fn fn, void *ctx, uint64_t *bad);
/* Gives [host, host+len) back to the host: MADV_REMOVE (memfd: punches the hole), else
 * MADV_DONTNEED. 0 or -errno. */
int vdev_balloon_discard(uint8_t *host, uint64_t len);

#endif

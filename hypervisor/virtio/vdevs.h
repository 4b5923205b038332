/*
 * hypervisor/virtio/vdevs.h - the VMM's one entry point to PCI and virtio: creates the PCI
 * bus over a KVM VM (GSI routing + irqfd for MSI-X, ioeventfd for queue notifications,
 * KVM_IRQ_LINE for INTx), adds devices from their command-line options, and dispatches
 * port and MMIO exits.
 * Threads: new/add/free on the main thread before vCPUs run / after they stopped;
 * vdevs_pio/vdevs_mmio on any vCPU thread. Trust: exit data is guest-controlled.
 */
#ifndef VMM_VIRTIO_VDEVS_H
#define VMM_VIRTIO_VDEVS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guestmem.h"

/* Default PCI MMIO window: inside the [3 GiB, 4 GiB) hole, below the IOAPIC (0xFEC00000). */
#define VDEVS_MMIO_BASE 0xE0000000ULL
#define VDEVS_MMIO_SIZE 0x10000000ULL
#define VDEVS_MAX_DISKS 16
#define VDEVS_MAX_NICS 8 /* virtio-net */

struct vdevs;
struct vdev_blk;
struct vdev_net;

/*
 * Creates the bus for the VM behind vm_fd (which must have an in-kernel irqchip).
 * gm (copied) lists guest RAM. BARs go to [mmio_base, mmio_base + mmio_size).
 * vm_fd < 0 gives a bus without KVM (tests): MSI-X and notifications then do nothing.
 * Returns NULL with errbuf set on failure.
 */
struct vdevs *vdevs_new(int vm_fd, const struct guestmem *gm, uint64_t mmio_base,
                        uint64_t mmio_size, char *errbuf, size_t errlen);
/* Stops every device and frees everything (after the vCPU threads ended). NULL: no-op. */
void vdevs_free(struct vdevs *v);

/*
 * Adds a virtio-blk disk from a --disk option ("path=IMG,readonly=on,serial=S,poll=on",
 * see blk.h). 0, or -1 with a one-line message naming the option and the problem.
 */
int vdevs_add_disk(struct vdevs *v, const char *spec, char *errbuf, size_t errlen);
/* Disk i (0-based, in the order added) or NULL. */
struct vdev_blk *vdevs_get_disk(struct vdevs *v, unsigned i);
unsigned vdevs_disk_count(const struct vdevs *v);

/*
 * virtio-net: adds a NIC from a --net option ("fd=N|tap=NAME[,mac=M][,link=up|down]", see
 * net.h). 0, or -1 with a one-line message. NIC i (0-based, in the order added) or NULL.
 * Control commands nics, nic N, nic-stats N, nic-link N up|down go through vdevs_control.
 */
int vdevs_add_nic(struct vdevs *v, const char *spec, char *errbuf, size_t errlen);
struct vdev_net *vdevs_get_nic(struct vdevs *v, unsigned i);

/*
 * balloon: adds the virtio-balloon from the --balloon option (NULL = on; "off" adds nothing;
 * balloon.h) for a guest of ram_bytes. vsock: adds the virtio-vsock device from --vsock
 * ("cid=N,uds=PATH", vsock.h). 0, or -1 with a one-line message. Control commands balloon,
 * query-balloon, vsock, query-vsock go through vdevs_control.
 */
int vdevs_add_balloon(struct vdevs *v, const char *spec, uint64_t ram_bytes, char *errbuf,
                      size_t errlen);
int vdevs_add_vsock(struct vdevs *v, const char *spec, char *errbuf, size_t errlen);

/*
 * Control-socket commands for the devices; the VMM's control.c forwards them here:
 *   disks                     OK count=N
 *   disk N                    OK disk=N path=P format=F sectors=S readonly=on|off
 *                             serial=S queues=Q poll=on|off poll_us=U
 *   disk-stats N              OK disk=N reads=.. writes=.. flushes=.. discards=..
 *                             read_bytes=.. write_bytes=.. io_errors=.. bad_chains=..
 *                             kicks=.. polled=.. irqs=..
 *   disk-poll N on|off [US]   OK disk=N poll=on|off poll_us=U
 *   disk-resize N SIZE        OK disk=N sectors=S (grows the disk; the guest is told)
 * Writes "OK ..." or "ERR BAD_ARGUMENT <message>" (no newline) into out. Returns 0 when
 * cmd is one of these, -1 otherwise (out untouched). Main-loop thread.
 */
int vdevs_control(struct vdevs *v, const char *cmd, const char *arg, char *out,
                  size_t outlen);

/*
 * Exit dispatch: true if the access was PCI's (ports 0xCF8-0xCFF, or a BAR). For reads
 * data is filled. size: 1, 2, 4 for ports; 1, 2, 4, 8 for MMIO.
 */
bool vdevs_pio(struct vdevs *v, uint16_t port, bool is_write, unsigned size, uint8_t *data);
bool vdevs_mmio(struct vdevs *v, uint64_t gpa, bool is_write, unsigned size, uint8_t *data);

#endif

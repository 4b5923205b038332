/*
 * tests/guest/vnet.h - virtio-net driver of the test guest (virtio 1.x over PCI; features
 * VERSION_1, MAC, STATUS; one receive and one transmit split queue of 256 entries, 2 KiB
 * receive buffers, MSI-X vector VEC_VNET for receive and config changes, transmit completions
 * reclaimed by polling). Frames go in and out without the 12-byte virtio-net header, which
 * the driver adds (all zero: no offloads) and strips.
 * Threads: the boot CPU only (command loop and the idle-time service); the interrupt handler
 * only counts. Trust: the device is the VMM under test; every wait is bounded.
 */
#ifndef GUEST_VNET_H
#define GUEST_VNET_H

#include <stdint.h>

#include "shell.h"

#define VNET_MAX 4
#define VEC_VNET 0x52 /* MSI-X: every NIC's receive queue and config changes */

struct vnet_dev;

/* Finds and sets up the NICs on first use; returns how many there are. */
unsigned vnet_probe(struct guest *g);
struct vnet_dev *vnet_get(unsigned i); /* NULL if absent or not set up */
unsigned vnet_index(const struct vnet_dev *d);
unsigned vnet_slot(const struct vnet_dev *d);
const uint8_t *vnet_mac(const struct vnet_dev *d);
/* Link state from config space (1 up, 0 down; 1 if the device has no STATUS feature). */
int vnet_link_up(struct vnet_dev *d);
/* Interrupts taken so far (all NICs). */
uint64_t vnet_irqs(void);

/* Queues one Ethernet frame (14..1514 bytes) for sending; waits up to 1 s for a free slot.
 * 0 or -1. */
int vnet_send(struct vnet_dev *d, const void *frame, unsigned len);
/* The same; with more != 0 the frame is made visible to the device but not kicked (a running
 * device thread still takes it): batches of frames end with vnet_flush (Linux's xmit_more). */
int vnet_send_ex(struct vnet_dev *d, const void *frame, unsigned len, int more);
void vnet_flush(struct vnet_dev *d);
/* Hands every received frame to fn and gives its buffer back; returns frames handled. */
unsigned vnet_receive(struct vnet_dev *d, void (*fn)(struct vnet_dev *d, const uint8_t *frame,
                                                    unsigned len));

/* A hostile transmit chain (loop, oob, huge, zero, index). Prints
 * "net bad nic=I kind=K len=L needs_reset=0|1"; 0 or -1 on a usage error. */
int vnet_bad(struct vnet_dev *d, const char *kind);
/* Resets and sets the NIC up again; 0 or -1. */
int vnet_reset(struct guest *g, unsigned i);

#endif

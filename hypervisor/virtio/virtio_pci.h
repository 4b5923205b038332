/*
 * hypervisor/virtio/virtio_pci.h - virtio 1.x modern PCI transport: common, notify,
 * ISR and device config structures in BAR 0, MSI-X in BAR 2, feature negotiation,
 * queue setup, device status and reset. Device types (blk.c) plug in through
 * struct vdev_ops and get their queues and kick eventfds from here.
 * Threads: register accesses from vCPU threads (transport lock); vpci_notify_* and
 * vpci_set_needs_reset from the device's I/O threads.
 * Trust: all register values and ring addresses are guest-controlled.
 */
#ifndef VMM_VIRTIO_VIRTIO_PCI_H
#define VMM_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "guestmem.h"
#include "pci.h"
#include "vq.h"

#define VPCI_MAX_QUEUES 16
#define VPCI_NO_VECTOR  0xFFFF

/* virtio device status bits */
#define VIRTIO_S_ACKNOWLEDGE 1
#define VIRTIO_S_DRIVER      2
#define VIRTIO_S_DRIVER_OK   4
#define VIRTIO_S_FEATURES_OK 8
#define VIRTIO_S_NEEDS_RESET 0x40
#define VIRTIO_S_FAILED      0x80
#define VIRTIO_F_VERSION_1   32

/* BAR 0 layout (16 KiB) and BAR 2 (MSI-X) */
#define VPCI_COMMON_OFF 0x0000
#define VPCI_ISR_OFF    0x1000
#define VPCI_DEVCFG_OFF 0x2000
#define VPCI_NOTIFY_OFF 0x3000
#define VPCI_NOTIFY_MULT 4
#define VPCI_BAR0_SIZE  0x4000
#define VPCI_MSIX_BAR   2
#define VPCI_BAR2_SIZE  0x1000

/* What a device type provides. Callbacks run on vCPU threads under the transport lock. */
struct vdev_ops {
    const char *name;
    uint16_t device_id;  /* virtio device id: 2 = block */
    uint32_t class_code; /* PCI class, e.g. 0x010000 */
    uint32_t config_size;
    /* device config space; off + size <= config_size is checked by the transport */
    void (*config_read)(void *dev, uint32_t off, void *data, unsigned size);
    void (*config_write)(void *dev, uint32_t off, const void *data, unsigned size);
    /* DRIVER_OK: every enabled queue is valid (vpci_vq); start processing. 0 or -errno
     * (the transport then sets NEEDS_RESET). */
    int (*start)(void *dev);
    /* Reset: stop processing. On return the device no longer touches any queue. */
    void (*stop)(void *dev);
};

struct vpci_queue {
    uint16_t size, max, msix_vector, enabled;
    uint64_t desc, avail, used;
    int kickfd; /* signalled on each driver notification (ioeventfd or our MMIO path) */
    struct vq vq;
};

struct vpci_dev {
    struct pci_dev pci;
    const struct vdev_ops *ops;
    void *dev;
    const struct guestmem *mem;
    pthread_mutex_t lock;
    pthread_mutex_t irq_lock; /* ISR and INTx level change together (any thread) */
    uint64_t host_features, guest_features;
    uint32_t dfselect, gfselect;
    uint16_t msix_config, queue_select;
    uint8_t status, config_gen, isr;
    int started;
    unsigned nq;
    uint64_t ioeventfd_base; /* BAR 0 address the kickfds are registered at, 0 = none */
    uint8_t pcicfg_cap;      /* VIRTIO_PCI_CAP_PCI_CFG: BAR access through config space */
    struct vpci_queue q[VPCI_MAX_QUEUES];
};

/*
 * Builds the PCI function for a device with nq queues of at most qmax entries offering
 * features (VERSION_1, EVENT_IDX and INDIRECT_DESC are added here). mem is borrowed.
 * Then add it to the bus with pci_bus_add(bus, &t->pci, gsi). Returns 0 or -errno.
 */
int vpci_init(struct vpci_dev *t, const struct vdev_ops *ops, void *dev, unsigned nq,
              uint16_t qmax, uint64_t features, const struct guestmem *mem);
/* Stops the device, unregisters ioeventfds and closes the kick eventfds. */
void vpci_fini(struct vpci_dev *t);

/* The started queue q (between ops->start and ops->stop), or NULL if not enabled. */
struct vq *vpci_vq(struct vpci_dev *t, unsigned q);
/* The eventfd signalled when the driver notifies queue q (never closed before fini). */
int vpci_kickfd(struct vpci_dev *t, unsigned q);
/* Negotiated features (valid from ops->start). */
uint64_t vpci_features(const struct vpci_dev *t);
/* Interrupts the driver for used buffers on queue q (MSI-X vector, or ISR bit 0 + INTx). */
void vpci_notify_queue(struct vpci_dev *t, unsigned q);
/* Holds the transport lock around a change of the device's config bytes, so that no vCPU
 * reads them half-written (config_read runs under the same lock). Not from I/O threads
 * while a vCPU may be in ops->stop (which joins them). */
void vpci_lock(struct vpci_dev *t);
void vpci_unlock(struct vpci_dev *t);
/* Interrupts the driver for a config change (ISR bit 1), bumping config_generation. */
void vpci_notify_config(struct vpci_dev *t);
/* Marks the device broken (DEVICE_NEEDS_RESET) and tells the driver. Any thread. */
void vpci_set_needs_reset(struct vpci_dev *t);

#endif

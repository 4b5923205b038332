/*
 * hypervisor/virtio/pci.h - PCI bus 0 for atoll-vmm: host bridge at 00:00.0, config
 * space through ports 0xCF8/0xCFC, 64-bit memory BARs placed in an MMIO window,
 * capability lists, MSI-X (table and PBA inside a BAR) delivered through the VMM's
 * irqfd/MSI callbacks, and optional INTx.
 * Threads: config and BAR accesses come from any vCPU thread (bus rwlock); MSI-X
 * notification from device I/O threads (per-device msix lock).
 * Trust: every port/MMIO access value is guest-controlled.
 */
#ifndef VMM_VIRTIO_PCI_H
#define VMM_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define PCI_CFG_SIZE   256
#define PCI_MAX_SLOTS  32
#define PCI_NUM_BARS   6
#define PCI_CFG_ADDR_PORT 0xCF8
#define PCI_CFG_DATA_PORT 0xCFC

/* config space registers used here */
#define PCI_R_VENDOR     0x00
#define PCI_R_DEVICE     0x02
#define PCI_R_COMMAND    0x04
#define PCI_R_STATUS     0x06
#define PCI_R_REVISION   0x08
#define PCI_R_CLASS      0x09 /* 3 bytes: prog-if, subclass, class */
#define PCI_R_HEADER     0x0E
#define PCI_R_BAR0       0x10
#define PCI_R_SUBVENDOR  0x2C
#define PCI_R_SUBSYSTEM  0x2E
#define PCI_R_CAP_PTR    0x34
#define PCI_R_INT_LINE   0x3C
#define PCI_R_INT_PIN    0x3D
#define PCI_CMD_MEMORY   0x0002
#define PCI_CMD_MASTER   0x0004
#define PCI_CMD_INTX_OFF 0x0400
#define PCI_STATUS_INTX  0x0008
#define PCI_STATUS_CAPS  0x0010
#define PCI_CAP_ID_VNDR  0x09
#define PCI_CAP_ID_MSIX  0x11
#define PCI_MSIX_ENABLE  0x8000
#define PCI_MSIX_MASKALL 0x4000
#define PCI_MSIX_MAX_VECTORS 64

/*
 * What the VMM core provides (all optional except where noted; may be called from
 * any thread, so the VMM must lock its GSI routing table).
 *  msi_route: bind eventfd efd to an MSI route (KVM_SET_GSI_ROUTING entry of type
 *     KVM_IRQ_ROUTING_MSI + KVM_IRQFD). *gsi == PCI_NO_GSI on the first call: allocate
 *     a GSI and store it; later calls with the same *gsi update the route's address/data.
 *     Return 0 or -errno. After success the device raises the interrupt by writing efd.
 *  msi_unroute: KVM_IRQFD with KVM_IRQFD_FLAG_DEASSIGN, free the GSI's routing entry.
 *  msi_send: deliver one MSI directly (KVM_SIGNAL_MSI); used when msi_route is NULL.
 *  ioeventfd: KVM_IOEVENTFD for an MMIO write of len bytes at gpa (no datamatch);
 *     assign=false removes it. Return 0 or -errno (then the write exits to the VMM and
 *     reaches the device through pci_mmio_write, which is slower but correct).
 *  intx_set: KVM_IRQ_LINE(gsi, level) for devices whose driver does not enable MSI-X.
 */
#define PCI_NO_GSI UINT32_MAX
/* pci_bus_add: wire INTx to pci_slot_intx_gsi(slot), the GSI the DSDT's _PRT names */
#define PCI_INTX_BY_SLOT (UINT32_MAX - 1)
/* INTx GSI of a slot: IOAPIC pins no legacy device uses (SCI is 9, COM1 4, RTC 8). */
static inline uint32_t pci_slot_intx_gsi(unsigned slot)
{
    return slot % 2 ? 10 : 11;
}
struct pci_host_ops {
    void *opaque;
    int (*msi_route)(void *opaque, int efd, uint32_t *gsi, uint64_t addr, uint32_t data);
    void (*msi_unroute)(void *opaque, int efd, uint32_t gsi);
    int (*msi_send)(void *opaque, uint64_t addr, uint32_t data);
    int (*ioeventfd)(void *opaque, int efd, uint64_t gpa, uint32_t len, bool assign);
    void (*intx_set)(void *opaque, uint32_t gsi, int level);
};

struct pci_dev;
struct pci_bus;

/* Device callbacks. bar_read/bar_write get accesses of 1, 2, 4 or 8 bytes inside a BAR
 * (MSI-X table/PBA excluded); bar_moved (optional) runs after a BAR's decoded address
 * changed (addr 0 = no longer decoded), under the bus write lock. */
struct pci_dev_ops {
    void (*bar_read)(struct pci_dev *d, unsigned bar, uint64_t off, void *data, unsigned size);
    void (*bar_write)(struct pci_dev *d, unsigned bar, uint64_t off, const void *data,
                      unsigned size);
    void (*bar_moved)(struct pci_dev *d, unsigned bar, uint64_t old_addr, uint64_t new_addr);
    /* optional: config-space hooks for device-owned registers, under the bus lock. cfg_read
     * may replace *val (already read from cfg[]); cfg_write runs after the masked write. */
    void (*cfg_read)(struct pci_dev *d, unsigned off, unsigned size, uint32_t *val);
    void (*cfg_write)(struct pci_dev *d, unsigned off, unsigned size, uint32_t val);
};

struct pci_msix_vec {
    uint32_t addr_lo, addr_hi, data, ctrl; /* the guest-visible table entry */
    int efd;                               /* irqfd, -1 until first use */
    uint32_t gsi;                          /* PCI_NO_GSI until routed */
    uint64_t r_addr;                       /* route currently programmed */
    uint32_t r_data;
};

struct pci_dev {
    struct pci_bus *bus;
    unsigned slot;
    const struct pci_dev_ops *ops;
    void *priv;
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];
    uint8_t w1cmask[PCI_CFG_SIZE];
    uint8_t cap_end; /* next free config offset for a capability */
    uint64_t bar_size[PCI_NUM_BARS]; /* 0 = no BAR (or upper half of a 64-bit BAR) */
    uint64_t bar_addr[PCI_NUM_BARS]; /* currently decoded address, 0 = none */
    /* MSI-X and INTx state used by I/O threads: guarded by msix_lock (not the bus lock),
     * through shadows of the config registers they depend on */
    pthread_mutex_t msix_lock;
    uint16_t msix_ctrl; /* shadow of the MSI-X message control word */
    uint16_t cmd;       /* shadow of the command register (atomic) */
    unsigned msix_n, msix_bar;
    uint8_t msix_cap;
    uint32_t msix_table_off, msix_pba_off;
    uint64_t msix_pba;
    struct pci_msix_vec msix[PCI_MSIX_MAX_VECTORS];
    uint32_t intx_gsi;
    int intx_level;     /* msix_lock; reported in the status register's INTx bit */
};

/* Fills the header of a type-0 function. class_code is 24-bit (class<<16|sub<<8|progif).
 * Must be called before the other pci_dev_* functions; pci_dev_fini releases. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subvendor, uint16_t subsystem);
void pci_dev_fini(struct pci_dev *d);
/* Declares a 64-bit non-prefetchable memory BAR (bar even, < 5) of size bytes (power of
 * two, >= 4096). Returns 0 or -EINVAL. The address is chosen by pci_bus_add. */
int pci_dev_add_bar64(struct pci_dev *d, unsigned bar, uint64_t size);
/* Appends a capability of len bytes (id and next filled in); returns its offset, or 0 if
 * config space is full. The caller fills bytes [off+2, off+len) and their wmask. */
uint8_t pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len);
/* Adds an MSI-X capability with n vectors (1..PCI_MSIX_MAX_VECTORS); table and PBA live in
 * BAR bar at the given offsets (8-byte aligned). Returns 0 or -EINVAL. */
int pci_msix_init(struct pci_dev *d, unsigned n, unsigned bar, uint32_t table_off,
                  uint32_t pba_off);
/* True if the guest enabled MSI-X. */
bool pci_msix_enabled(struct pci_dev *d);
/* Raises vector vec (any thread). Masked: sets its PBA bit and delivers on unmask.
 * Returns 0, -ENODEV if MSI-X is disabled (use INTx), -EINVAL for a bad vector. */
int pci_msix_notify(struct pci_dev *d, unsigned vec);
/* Drives the INTx pin (level-triggered; pin A); no-op without intx_set. */
void pci_intx_set(struct pci_dev *d, int level);

/*
 * Creates bus 0 with its host bridge. BARs are allocated from [mmio_base, mmio_base +
 * mmio_size) (e.g. 0xE0000000, 256 MiB: inside the VMM's MMIO hole). ops is copied.
 * Returns NULL on bad arguments.
 */
struct pci_bus *pci_bus_new(const struct pci_host_ops *ops, uint64_t mmio_base,
                            uint64_t mmio_size);
/* Frees the bus, not its devices: free those first (pci_dev_fini). NULL is a no-op. */
void pci_bus_free(struct pci_bus *bus);
/* Puts d in the next free slot, places its BARs, enables decode. Setup only.
 * intx_gsi: the GSI for INTx (PCI_NO_GSI: none; PCI_INTX_BY_SLOT: pci_slot_intx_gsi).
 * Returns the slot or -ENOSPC. */
int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, uint32_t intx_gsi);
/* Takes d off the bus (its BARs stop decoding; bar_moved reports it); no-op if absent.
 * pci_dev_fini calls it, so a device is never reachable after it was freed. */
void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d);
const struct pci_host_ops *pci_bus_host(const struct pci_bus *bus);

/* Exit dispatch. Return true if the access belonged to PCI (data filled on reads;
 * unclaimed/unimplemented reads give all ones). size is 1, 2, 4 (or 8 for MMIO). */
bool pci_io_read(struct pci_bus *bus, uint16_t port, unsigned size, void *data);
bool pci_io_write(struct pci_bus *bus, uint16_t port, unsigned size, const void *data);
bool pci_mmio_read(struct pci_bus *bus, uint64_t gpa, unsigned size, void *data);
bool pci_mmio_write(struct pci_bus *bus, uint64_t gpa, unsigned size, const void *data);

/* Direct config access for (bus 0, slot, function 0): tests and ECAM. */
uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size);
void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size,
                   uint32_t val);

#endif

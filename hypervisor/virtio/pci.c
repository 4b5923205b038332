/*
 * hypervisor/virtio/pci.c - PCI bus 0: config space (0xCF8/0xCFC), BAR placement and
 * sizing, capability lists, MSI-X table/PBA emulation and delivery, INTx.
 * Owns the bus and the generic part of each function's config space; devices own their
 * BAR contents. Threads: vCPU threads (bus rwlock), device I/O threads (msix_lock).
 * Trust: ports, offsets, sizes and values all come from the guest.
 */
#include "pci.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct pci_bus {
    struct pci_host_ops host;
    uint64_t mmio_base, mmio_size, mmio_next;
    uint32_t cf8;
    pthread_rwlock_t lock;
    struct pci_dev *slot[PCI_MAX_SLOTS];
    struct pci_dev bridge;
};

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subvendor, uint16_t subsystem)
{
    memset(d, 0, sizeof(*d));
    pthread_mutex_init(&d->msix_lock, NULL);
    put_le(d->cfg + PCI_R_VENDOR, vendor, 2);
    put_le(d->cfg + PCI_R_DEVICE, device, 2);
    d->cfg[PCI_R_REVISION] = revision;
    put_le(d->cfg + PCI_R_CLASS, class_code, 3);
    put_le(d->cfg + PCI_R_SUBVENDOR, subvendor, 2);
    put_le(d->cfg + PCI_R_SUBSYSTEM, subsystem, 2);
    put_le(d->wmask + PCI_R_COMMAND, PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_OFF, 2);
    d->wmask[PCI_R_INT_LINE] = 0xFF;
    d->cap_end = 0x40;
    d->intx_gsi = PCI_NO_GSI;
    for (unsigned i = 0; i < PCI_MSIX_MAX_VECTORS; i++) {
        d->msix[i].efd = -1;
        d->msix[i].gsi = PCI_NO_GSI;
    }
}

void pci_dev_fini(struct pci_dev *d)
{
    if (d->bus)
        pci_bus_remove(d->bus, d);
    const struct pci_host_ops *h = d->bus ? &d->bus->host : NULL;
    for (unsigned i = 0; i < PCI_MSIX_MAX_VECTORS; i++) {
        struct pci_msix_vec *v = &d->msix[i];
        if (v->gsi != PCI_NO_GSI && h && h->msi_unroute)
            h->msi_unroute(h->opaque, v->efd, v->gsi);
        if (v->efd >= 0)
            close(v->efd);
        v->efd = -1;
        v->gsi = PCI_NO_GSI;
    }
    pthread_mutex_destroy(&d->msix_lock);
}

int pci_dev_add_bar64(struct pci_dev *d, unsigned bar, uint64_t size)
{
    if (bar >= PCI_NUM_BARS - 1 || (bar & 1) || size < 4096 || (size & (size - 1)))
        return -EINVAL;
    d->bar_size[bar] = size;
    uint8_t *r = d->cfg + PCI_R_BAR0 + 4 * bar;
    put_le(r, 0x4, 4); /* memory, 64-bit, not prefetchable */
    /* writable bits are exactly the address bits above the size: this is what makes the
     * all-ones sizing protocol read back ~(size - 1) */
    uint64_t mask = ~(size - 1) & ~0xFULL;
    put_le(d->wmask + PCI_R_BAR0 + 4 * bar, mask, 8);
    return 0;
}

uint8_t pci_dev_add_cap(struct pci_dev *d, uint8_t id, uint8_t len)
{
    unsigned off = (d->cap_end + 3u) & ~3u;
    if (len < 2 || off + len > PCI_CFG_SIZE)
        return 0;
    d->cfg[off] = id;
    d->cfg[off + 1] = 0;
    /* append at the end of the list so that the walk order is the order of addition */
    if (!d->cfg[PCI_R_CAP_PTR]) {
        d->cfg[PCI_R_CAP_PTR] = (uint8_t)off;
    } else {
        unsigned p = d->cfg[PCI_R_CAP_PTR];
        while (d->cfg[p + 1])
            p = d->cfg[p + 1];
        d->cfg[p + 1] = (uint8_t)off;
    }
    d->cfg[PCI_R_STATUS] |= PCI_STATUS_CAPS;
    d->cap_end = (uint8_t)(off + len < PCI_CFG_SIZE ? off + len : 0xFF);
    return (uint8_t)off;
}

int pci_msix_init(struct pci_dev *d, unsigned n, unsigned bar, uint32_t table_off,
                  uint32_t pba_off)
{
    if (n == 0 || n > PCI_MSIX_MAX_VECTORS || bar >= PCI_NUM_BARS || !d->bar_size[bar] ||
        (table_off & 7) || (pba_off & 7) || table_off + 16ULL * n > d->bar_size[bar] ||
        pba_off + 8ULL > d->bar_size[bar])
        return -EINVAL;
    uint8_t off = pci_dev_add_cap(d, PCI_CAP_ID_MSIX, 12);
    if (!off)
        return -EINVAL;
    put_le(d->cfg + off + 2, n - 1, 2);
    d->wmask[off + 3] = (PCI_MSIX_ENABLE | PCI_MSIX_MASKALL) >> 8;
    put_le(d->cfg + off + 4, table_off | bar, 4);
    put_le(d->cfg + off + 8, pba_off | bar, 4);
    d->msix_cap = off;
    d->msix_n = n;
    d->msix_bar = bar;
    d->msix_table_off = table_off;
    d->msix_pba_off = pba_off;
    for (unsigned i = 0; i < n; i++)
        d->msix[i].ctrl = 1; /* masked at reset */
    return 0;
}

/* The message control word as the guest last wrote it. msix_lock held. */
static uint16_t msix_ctrl(const struct pci_dev *d)
{
    return d->msix_ctrl;
}

bool pci_msix_enabled(struct pci_dev *d)
{
    if (!d->msix_cap)
        return false;
    pthread_mutex_lock(&d->msix_lock);
    bool on = d->msix_ctrl & PCI_MSIX_ENABLE;
    pthread_mutex_unlock(&d->msix_lock);
    return on;
}

/* Sends vector v now. Called with msix_lock held. */
static void msix_deliver(struct pci_dev *d, struct pci_msix_vec *v)
{
    const struct pci_host_ops *h = &d->bus->host;
    uint64_t addr = (uint64_t)v->addr_hi << 32 | v->addr_lo;
    if (h->msi_route) {
        if (v->efd < 0)
            v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (v->efd >= 0 && (v->gsi == PCI_NO_GSI || v->r_addr != addr || v->r_data != v->data)) {
            if (h->msi_route(h->opaque, v->efd, &v->gsi, addr, v->data) == 0) {
                v->r_addr = addr;
                v->r_data = v->data;
            }
        }
        if (v->efd >= 0 && v->gsi != PCI_NO_GSI) {
            uint64_t one = 1;
            if (write(v->efd, &one, sizeof(one)) == sizeof(one))
                return;
        }
    }
    if (h->msi_send)
        h->msi_send(h->opaque, addr, v->data);
}

/* Delivers every pending vector that is no longer masked. msix_lock held. */
static void msix_flush_pending(struct pci_dev *d)
{
    uint16_t ctrl = msix_ctrl(d);
    if (!(ctrl & PCI_MSIX_ENABLE) || (ctrl & PCI_MSIX_MASKALL))
        return;
    for (unsigned i = 0; i < d->msix_n; i++) {
        if ((d->msix_pba & (1ULL << i)) && !(d->msix[i].ctrl & 1)) {
            d->msix_pba &= ~(1ULL << i);
            msix_deliver(d, &d->msix[i]);
        }
    }
}

int pci_msix_notify(struct pci_dev *d, unsigned vec)
{
    if (!d->msix_cap)
        return -ENODEV;
    if (vec >= d->msix_n)
        return -EINVAL;
    pthread_mutex_lock(&d->msix_lock);
    uint16_t ctrl = msix_ctrl(d);
    int rc = 0;
    if (!(ctrl & PCI_MSIX_ENABLE))
        rc = -ENODEV;
    else if ((ctrl & PCI_MSIX_MASKALL) || (d->msix[vec].ctrl & 1))
        d->msix_pba |= 1ULL << vec;
    else
        msix_deliver(d, &d->msix[vec]);
    pthread_mutex_unlock(&d->msix_lock);
    return rc;
}

void pci_intx_set(struct pci_dev *d, int level)
{
    const struct pci_host_ops *h = d->bus ? &d->bus->host : NULL;
    if (!h || !h->intx_set || d->intx_gsi == PCI_NO_GSI)
        return;
    /* under the lock, so that a raise and a lower from two threads reach KVM in the order
     * they changed intx_level; the line follows the command register's INTx disable bit */
    pthread_mutex_lock(&d->msix_lock);
    d->intx_level = level;
    bool off = __atomic_load_n(&d->cmd, __ATOMIC_RELAXED) & PCI_CMD_INTX_OFF;
    h->intx_set(h->opaque, d->intx_gsi, level && !off);
    pthread_mutex_unlock(&d->msix_lock);
}

/* MSI-X table or PBA access inside the MSI-X BAR; true if off was in either. */
static bool msix_bar_access(struct pci_dev *d, uint64_t off, void *data, unsigned size,
                            bool write)
{
    uint64_t tend = d->msix_table_off + 16ULL * d->msix_n;
    uint64_t pend = d->msix_pba_off + 8ULL;
    if (off >= d->msix_table_off && off < tend) {
        uint64_t rel = off - d->msix_table_off;
        struct pci_msix_vec *v = &d->msix[rel / 16];
        unsigned in = rel % 16;
        if (in + size > 16 || (size != 4 && size != 8)) {
            if (!write)
                memset(data, 0xFF, size);
            return true;
        }
        pthread_mutex_lock(&d->msix_lock);
        uint32_t words[4] = {v->addr_lo, v->addr_hi, v->data, v->ctrl};
        if (write) {
            memcpy((uint8_t *)words + in, data, size);
            v->addr_lo = words[0] & ~3u;
            v->addr_hi = words[1];
            v->data = words[2];
            v->ctrl = words[3] & 1;
            msix_flush_pending(d);
        } else {
            memcpy(data, (uint8_t *)words + in, size);
        }
        pthread_mutex_unlock(&d->msix_lock);
        return true;
    }
    if (off >= d->msix_pba_off && off < pend) {
        if (!write) {
            pthread_mutex_lock(&d->msix_lock);
            uint64_t pba = d->msix_pba;
            pthread_mutex_unlock(&d->msix_lock);
            unsigned in = (unsigned)(off - d->msix_pba_off);
            uint8_t b[16] = {0};
            put_le(b, pba, 8);
            memcpy(data, b + in, size);
        }
        return true;
    }
    return false;
}

/* Recomputes decoded BAR addresses after a command or BAR write. Bus write lock held. */
static void update_bars(struct pci_dev *d)
{
    bool mem = get_le(d->cfg + PCI_R_COMMAND, 2) & PCI_CMD_MEMORY;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        if (!d->bar_size[b])
            continue;
        uint64_t a = mem ? get_le(d->cfg + PCI_R_BAR0 + 4 * b, 8) & ~0xFULL : 0;
        /* a BAR at 0 or wrapping around is not decoded */
        if (a + d->bar_size[b] < a)
            a = 0;
        if (a != d->bar_addr[b]) {
            uint64_t old = d->bar_addr[b];
            d->bar_addr[b] = a;
            if (d->ops && d->ops->bar_moved)
                d->ops->bar_moved(d, b, old, a);
        }
    }
}

static uint32_t dev_cfg_read(struct pci_dev *d, unsigned off, unsigned size)
{
    if (off + size > PCI_CFG_SIZE)
        return 0xFFFFFFFFu;
    uint32_t v = (uint32_t)get_le(d->cfg + off, size);
    if (off <= PCI_R_STATUS && off + size > PCI_R_STATUS) {
        pthread_mutex_lock(&d->msix_lock);
        uint32_t bit = (uint32_t)PCI_STATUS_INTX << (8 * (PCI_R_STATUS - off));
        v = d->intx_level ? v | bit : v & ~bit;
        pthread_mutex_unlock(&d->msix_lock);
    }
    if (d->ops && d->ops->cfg_read)
        d->ops->cfg_read(d, off, size, &v);
    return v;
}

static void dev_cfg_write(struct pci_dev *d, unsigned off, unsigned size, uint32_t val)
{
    if (off + size > PCI_CFG_SIZE)
        return;
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i)), *c = &d->cfg[off + i];
        *c = (uint8_t)((*c & ~d->wmask[off + i]) | (b & d->wmask[off + i]));
        *c &= (uint8_t) ~(b & d->w1cmask[off + i]);
    }
    unsigned end = off + size;
    if (off < PCI_R_COMMAND + 2 && end > PCI_R_COMMAND) {
        uint16_t cmd = (uint16_t)get_le(d->cfg + PCI_R_COMMAND, 2);
        uint16_t old = __atomic_exchange_n(&d->cmd, cmd, __ATOMIC_RELAXED);
        /* INTx disable toggled while the device asserts its pin: the line follows */
        const struct pci_host_ops *h = d->bus ? &d->bus->host : NULL;
        if ((old ^ cmd) & PCI_CMD_INTX_OFF && h && h->intx_set && d->intx_gsi != PCI_NO_GSI) {
            pthread_mutex_lock(&d->msix_lock);
            if (d->intx_level)
                h->intx_set(h->opaque, d->intx_gsi, !(cmd & PCI_CMD_INTX_OFF));
            pthread_mutex_unlock(&d->msix_lock);
        }
    }
    if ((off < PCI_R_COMMAND + 2 && end > PCI_R_COMMAND) ||
        (off < PCI_R_BAR0 + 24 && end > PCI_R_BAR0))
        update_bars(d);
    if (d->msix_cap && off < d->msix_cap + 4u && end > d->msix_cap + 2u) {
        pthread_mutex_lock(&d->msix_lock);
        d->msix_ctrl = (uint16_t)get_le(d->cfg + d->msix_cap + 2, 2);
        msix_flush_pending(d);
        pthread_mutex_unlock(&d->msix_lock);
    }
    if (d->ops && d->ops->cfg_write)
        d->ops->cfg_write(d, off, size, val);
}

struct pci_bus *pci_bus_new(const struct pci_host_ops *ops, uint64_t mmio_base,
                            uint64_t mmio_size)
{
    if (!mmio_size || (mmio_base & 0xFFF) || mmio_base + mmio_size < mmio_base)
        return NULL;
    struct pci_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    if (ops)
        bus->host = *ops;
    bus->mmio_base = bus->mmio_next = mmio_base;
    bus->mmio_size = mmio_size;
    pthread_rwlock_init(&bus->lock, NULL);
    /* 00:00.0: a plain host bridge (Red Hat QEMU PCIe host bridge IDs, class 06/00) */
    pci_dev_init(&bus->bridge, 0x1b36, 0x0008, 0x060000, 0, 0x1af4, 0x1100);
    bus->bridge.bus = bus;
    bus->slot[0] = &bus->bridge;
    return bus;
}

void pci_bus_free(struct pci_bus *bus)
{
    if (!bus)
        return;
    pci_dev_fini(&bus->bridge);
    pthread_rwlock_destroy(&bus->lock);
    free(bus);
}

const struct pci_host_ops *pci_bus_host(const struct pci_bus *bus)
{
    return &bus->host;
}

int pci_bus_add(struct pci_bus *bus, struct pci_dev *d, uint32_t intx_gsi)
{
    unsigned s = 1;
    while (s < PCI_MAX_SLOTS && bus->slot[s])
        s++;
    if (s == PCI_MAX_SLOTS)
        return -ENOSPC;
    uint64_t next = bus->mmio_next;
    for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
        uint64_t sz = d->bar_size[b];
        if (!sz)
            continue;
        next = (next + sz - 1) & ~(sz - 1);
        if (next + sz > bus->mmio_base + bus->mmio_size)
            return -ENOSPC;
        put_le(d->cfg + PCI_R_BAR0 + 4 * b, next | 0x4, 4);
        put_le(d->cfg + PCI_R_BAR0 + 4 * b + 4, next >> 32, 4);
        next += sz;
    }
    bus->mmio_next = next;
    d->bus = bus;
    d->slot = s;
    if (intx_gsi == PCI_INTX_BY_SLOT)
        intx_gsi = pci_slot_intx_gsi(s);
    d->intx_gsi = intx_gsi;
    if (intx_gsi != PCI_NO_GSI && bus->host.intx_set) {
        d->cfg[PCI_R_INT_PIN] = 1;
        d->cfg[PCI_R_INT_LINE] = (uint8_t)intx_gsi;
    }
    pthread_rwlock_wrlock(&bus->lock);
    bus->slot[s] = d;
    put_le(d->cfg + PCI_R_COMMAND, PCI_CMD_MEMORY | PCI_CMD_MASTER, 2);
    __atomic_store_n(&d->cmd, PCI_CMD_MEMORY | PCI_CMD_MASTER, __ATOMIC_RELAXED);
    update_bars(d);
    pthread_rwlock_unlock(&bus->lock);
    return (int)s;
}

void pci_bus_remove(struct pci_bus *bus, struct pci_dev *d)
{
    pthread_rwlock_wrlock(&bus->lock);
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        if (bus->slot[s] != d)
            continue;
        bus->slot[s] = NULL;
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            uint64_t old = d->bar_addr[b];
            d->bar_addr[b] = 0;
            if (old && d->ops && d->ops->bar_moved)
                d->ops->bar_moved(d, b, old, 0);
        }
    }
    pthread_rwlock_unlock(&bus->lock);
}

/* Device addressed by a config address; NULL if none. */
static struct pci_dev *cfg_target(struct pci_bus *bus, uint32_t busno, unsigned slot,
                                  unsigned fn)
{
    if (busno != 0 || fn != 0 || slot >= PCI_MAX_SLOTS)
        return NULL;
    return bus->slot[slot];
}

uint32_t pci_cfg_read(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size)
{
    pthread_rwlock_rdlock(&bus->lock);
    struct pci_dev *d = cfg_target(bus, 0, slot, 0);
    uint32_t v = d ? dev_cfg_read(d, off, size) : 0xFFFFFFFFu;
    pthread_rwlock_unlock(&bus->lock);
    if (size < 4)
        v &= (1u << (8 * size)) - 1;
    return v;
}

void pci_cfg_write(struct pci_bus *bus, unsigned slot, unsigned off, unsigned size,
                   uint32_t val)
{
    pthread_rwlock_wrlock(&bus->lock);
    struct pci_dev *d = cfg_target(bus, 0, slot, 0);
    if (d)
        dev_cfg_write(d, off, size, val);
    pthread_rwlock_unlock(&bus->lock);
}

static bool io_size_ok(unsigned size)
{
    return size == 1 || size == 2 || size == 4;
}

/* Ports of the configuration mechanism: 0xCF8 as a dword only (byte accesses to 0xCF9
 * are the chipset's reset control register, which the VMM core handles), 0xCFC-0xCFF. */
static bool cfg_port(uint16_t port, unsigned size)
{
    if (port == PCI_CFG_ADDR_PORT)
        return size == 4;
    return port >= PCI_CFG_DATA_PORT && port <= PCI_CFG_DATA_PORT + 3;
}

bool pci_io_read(struct pci_bus *bus, uint16_t port, unsigned size, void *data)
{
    if (!cfg_port(port, size))
        return false;
    uint32_t v = 0xFFFFFFFFu;
    if (!io_size_ok(size)) {
        memset(data, 0xFF, size > 8 ? 8 : size);
        return true;
    }
    pthread_rwlock_rdlock(&bus->lock);
    uint32_t a = bus->cf8;
    if (port == PCI_CFG_ADDR_PORT && size == 4) {
        v = a;
    } else if (port >= PCI_CFG_DATA_PORT && (a & 0x80000000u)) {
        unsigned off = (a & 0xFC) + (port - PCI_CFG_DATA_PORT);
        struct pci_dev *d = cfg_target(bus, (a >> 16) & 0xFF, (a >> 11) & 0x1F, (a >> 8) & 7);
        if (d && off + size <= PCI_CFG_SIZE)
            v = dev_cfg_read(d, off, size);
    }
    pthread_rwlock_unlock(&bus->lock);
    uint8_t b[4];
    put_le(b, v, 4);
    memcpy(data, b, size);
    return true;
}

bool pci_io_write(struct pci_bus *bus, uint16_t port, unsigned size, const void *data)
{
    if (!cfg_port(port, size))
        return false;
    if (!io_size_ok(size))
        return true;
    uint8_t b[4] = {0};
    memcpy(b, data, size);
    uint32_t v = (uint32_t)get_le(b, size);
    pthread_rwlock_wrlock(&bus->lock);
    if (port == PCI_CFG_ADDR_PORT && size == 4) {
        bus->cf8 = v & 0x80FFFFFCu;
    } else if (port >= PCI_CFG_DATA_PORT && (bus->cf8 & 0x80000000u)) {
        uint32_t a = bus->cf8;
        unsigned off = (a & 0xFC) + (port - PCI_CFG_DATA_PORT);
        struct pci_dev *d = cfg_target(bus, (a >> 16) & 0xFF, (a >> 11) & 0x1F, (a >> 8) & 7);
        if (d && off + size <= PCI_CFG_SIZE)
            dev_cfg_write(d, off, size, v);
    }
    pthread_rwlock_unlock(&bus->lock);
    return true;
}

/* Finds the BAR decoding [gpa, gpa+size). Bus lock held. */
static struct pci_dev *mmio_target(struct pci_bus *bus, uint64_t gpa, unsigned size,
                                   unsigned *bar, uint64_t *off)
{
    /* BARs may be moved by the guest anywhere, so the whole bus is searched */
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++) {
        struct pci_dev *d = bus->slot[s];
        if (!d)
            continue;
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            uint64_t a = d->bar_addr[b], sz = d->bar_size[b];
            if (a && gpa >= a && gpa - a < sz && size <= sz - (gpa - a)) {
                *bar = b;
                *off = gpa - a;
                return d;
            }
        }
    }
    return NULL;
}

static bool mmio_access(struct pci_bus *bus, uint64_t gpa, unsigned size, void *data,
                        bool write)
{
    if (size != 1 && size != 2 && size != 4 && size != 8)
        return false;
    unsigned bar;
    uint64_t off;
    pthread_rwlock_rdlock(&bus->lock);
    struct pci_dev *d = mmio_target(bus, gpa, size, &bar, &off);
    if (d) {
        if (d->msix_cap && bar == d->msix_bar && msix_bar_access(d, off, data, size, write))
            ;
        else if (write && d->ops && d->ops->bar_write)
            d->ops->bar_write(d, bar, off, data, size);
        else if (!write && d->ops && d->ops->bar_read)
            d->ops->bar_read(d, bar, off, data, size);
        else if (!write)
            memset(data, 0xFF, size);
    }
    pthread_rwlock_unlock(&bus->lock);
    return d != NULL;
}

bool pci_mmio_read(struct pci_bus *bus, uint64_t gpa, unsigned size, void *data)
{
    return mmio_access(bus, gpa, size, data, false);
}

bool pci_mmio_write(struct pci_bus *bus, uint64_t gpa, unsigned size, const void *data)
{
    return mmio_access(bus, gpa, size, (void *)data, true);
}

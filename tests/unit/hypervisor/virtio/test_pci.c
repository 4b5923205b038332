/*
 * tests/unit/hypervisor/virtio/test_pci.c - PCI bus and virtio-pci transport without KVM:
 * config space through 0xCF8/0xCFC, BAR sizing, capability walk, MSI-X masking and
 * delivery through a fake irqfd router, ioeventfd registration, feature negotiation,
 * queue setup, DRIVER_OK and reset, with fake guest RAM behind guard pages.
 */
#include <errno.h>
#include <stdbool.h>

#include "fakeram.h"
#include "tap.h"
#include "virtio/pci.h"
#include "virtio/virtio_pci.h"

#define WIN 0xE0000000ULL

/* ---- fake VMM callbacks ---- */
static int routes, unroutes, ioevt_assigned, ioevt_removed, sent;
static uint64_t last_addr;
static uint32_t last_data, next_gsi = 24;
static uint64_t ioevt_gpa[16];

static int fake_route(void *o, int efd, uint32_t *gsi, uint64_t addr, uint32_t data)
{
    if (*gsi == PCI_NO_GSI)
        *gsi = next_gsi++;
    routes++;
    last_addr = addr;
    last_data = data;
    return 0;
}
static void fake_unroute(void *o, int efd, uint32_t gsi) { unroutes++; }
static int fake_send(void *o, uint64_t addr, uint32_t data)
{
    sent++;
    last_addr = addr;
    last_data = data;
    return 0;
}
static int fake_ioevt(void *o, int efd, uint64_t gpa, uint32_t len, bool assign)
{
    if (assign && ioevt_assigned < 16)
        ioevt_gpa[ioevt_assigned] = gpa;
    if (assign)
        ioevt_assigned++;
    else
        ioevt_removed++;
    return 0;
}

/* ---- port I/O helpers, as a guest would do it ---- */
static struct pci_bus *bus;

static uint32_t cfg_rd(unsigned slot, unsigned off, unsigned size)
{
    uint32_t a = 0x80000000u | slot << 11 | (off & 0xFC), v = 0;
    pci_io_write(bus, 0xCF8, 4, &a);
    pci_io_read(bus, (uint16_t)(0xCFC + (off & 3)), size, &v);
    return v;
}

static void cfg_wr(unsigned slot, unsigned off, unsigned size, uint32_t v)
{
    uint32_t a = 0x80000000u | slot << 11 | (off & 0xFC);
    pci_io_write(bus, 0xCF8, 4, &a);
    pci_io_write(bus, (uint16_t)(0xCFC + (off & 3)), size, &v);
}

static uint64_t mmio_rd(uint64_t gpa, unsigned size)
{
    uint64_t v = 0;
    if (!pci_mmio_read(bus, gpa, size, &v))
        return 0xDEAD;
    return v;
}

static bool mmio_wr(uint64_t gpa, unsigned size, uint64_t v)
{
    return pci_mmio_write(bus, gpa, size, &v);
}

/* ---- a stub virtio device ---- */
static int started, stopped;
static uint8_t devcfg[8] = {1, 2, 3, 4, 5, 6, 7, 8};
static void st_cfg_read(void *d, uint32_t off, void *data, unsigned size)
{
    memcpy(data, devcfg + off, size);
}
static int st_start(void *d) { started++; return 0; }
static void st_stop(void *d) { stopped++; }
static const struct vdev_ops stub_ops = {
    .name = "stub", .device_id = 2, .class_code = 0x018000, .config_size = sizeof(devcfg),
    .config_read = st_cfg_read, .start = st_start, .stop = st_stop,
};

static uint64_t bar0;

static uint64_t common_rd(unsigned off, unsigned size) { return mmio_rd(bar0 + off, size); }
static void common_wr(unsigned off, unsigned size, uint64_t v) { mmio_wr(bar0 + off, size, v); }

static void test_bus(void)
{
    is_int(cfg_rd(0, 0, 2), 0x1b36, "host bridge vendor at 00:00.0");
    is_int(cfg_rd(0, 0x0A, 2), 0x0600, "host bridge class 06/00");
    is_int(cfg_rd(7, 0, 4), 0xFFFFFFFF, "empty slot reads all ones");
    uint32_t a = 0x80000000u | 1 << 16, v = 0;
    pci_io_write(bus, 0xCF8, 4, &a);
    pci_io_read(bus, 0xCFC, 4, &v);
    is_int(v, 0xFFFFFFFF, "bus 1 reads all ones");
    a = 0x00000800u;
    pci_io_write(bus, 0xCF8, 4, &a);
    pci_io_read(bus, 0xCFC, 4, &v);
    is_int(v, 0xFFFFFFFF, "config disabled (bit 31 clear) reads all ones");
    pci_io_read(bus, 0xCF8, 4, &v);
    is_int(v, 0x800, "0xCF8 reads back the address");
    ok(!pci_io_read(bus, 0x3F8, 1, &v), "port 0x3F8 is not claimed");
    uint8_t rst = 6;
    ok(!pci_io_write(bus, 0xCF9, 1, &rst), "byte write to 0xCF9 (reset register) not claimed");
    ok(!pci_io_read(bus, 0xCF8, 1, &rst), "byte read of 0xCF8 not claimed");
    ok(pci_io_read(bus, 0xCFE, 2, &v), "word read of 0xCFE claimed");
    ok(!pci_mmio_read(bus, WIN - 8, 4, &v), "MMIO below the window is not claimed");
}

static void test_virtio_pci(struct fakeram *ram, struct guestmem *gm)
{
    static struct vpci_dev t;
    is_int(vpci_init(&t, &stub_ops, NULL, 2, 256, 1ULL << 9, gm), 0, "vpci_init");
    int slot = pci_bus_add(bus, &t.pci, PCI_NO_GSI);
    is_int(slot, 1, "device in slot 1");
    is_int(cfg_rd(1, 0, 2), 0x1af4, "virtio vendor");
    is_int(cfg_rd(1, 2, 2), 0x1042, "modern virtio-blk device id 0x1042");
    is_int(cfg_rd(1, 0x2E, 2), 0x40, "subsystem id");
    ok(cfg_rd(1, 4, 2) & PCI_CMD_MEMORY, "memory decode enabled at add");

    /* BAR placement and the sizing protocol */
    uint32_t lo = cfg_rd(1, 0x10, 4), hi = cfg_rd(1, 0x14, 4);
    bar0 = ((uint64_t)hi << 32 | lo) & ~0xFULL;
    is_int(lo & 0xF, 0x4, "BAR0: 64-bit memory, not prefetchable");
    ok(bar0 >= WIN && bar0 < WIN + (256 << 20), "BAR0 inside the window (0x%llx)",
       (unsigned long long)bar0);
    is_int(bar0 % VPCI_BAR0_SIZE, 0, "BAR0 naturally aligned");
    int removed = ioevt_removed;
    cfg_wr(1, 4, 2, 0); /* decode off while sizing, as Linux does */
    is_int(ioevt_removed - removed, 2, "ioeventfds removed when decode turns off");
    ok(pci_mmio_read(bus, bar0, 4, &lo) == false, "decode off: BAR not claimed");
    cfg_wr(1, 0x10, 4, 0xFFFFFFFF);
    cfg_wr(1, 0x14, 4, 0xFFFFFFFF);
    uint64_t sz = (uint64_t)cfg_rd(1, 0x14, 4) << 32 | (cfg_rd(1, 0x10, 4) & ~0xFu);
    is_int(~sz + 1, VPCI_BAR0_SIZE, "BAR0 sizing: all ones reads back ~(size-1)");
    is_int(cfg_rd(1, 0x10, 4) & 0xF, 0x4, "sizing keeps the type bits");
    uint64_t moved = WIN + 0x100000;
    cfg_wr(1, 0x10, 4, (uint32_t)moved);
    cfg_wr(1, 0x14, 4, (uint32_t)(moved >> 32));
    int assigned = ioevt_assigned;
    cfg_wr(1, 4, 2, PCI_CMD_MEMORY | PCI_CMD_MASTER);
    is_int(ioevt_assigned - assigned, 2, "decode on: one ioeventfd per queue registered");
    is_int(ioevt_gpa[ioevt_assigned - 1], moved + VPCI_NOTIFY_OFF + 4, "queue 1 notify address");
    bar0 = moved;
    is_int(common_rd(0x12, 2), 2, "BAR0 answers at its new address: num_queues 2");
    uint64_t bar2 = (uint64_t)cfg_rd(1, 0x1C, 4) << 32 | (cfg_rd(1, 0x18, 4) & ~0xFu);
    ok(bar2 >= WIN, "BAR2 (MSI-X) placed");

    /* capability walk, the way a driver finds the virtio structures */
    ok(cfg_rd(1, 6, 2) & PCI_STATUS_CAPS, "status: capability list present");
    unsigned p = cfg_rd(1, 0x34, 1), n = 0, seen = 0, msix = 0, pcicfg = 0;
    while (p && n < 48) {
        unsigned id = cfg_rd(1, p, 1);
        if (id == PCI_CAP_ID_VNDR)
            seen |= 1u << cfg_rd(1, p + 3, 1);
        if (id == PCI_CAP_ID_VNDR && cfg_rd(1, p + 3, 1) == 5)
            pcicfg = p;
        if (id == PCI_CAP_ID_MSIX)
            msix = p;
        p = cfg_rd(1, p + 1, 1);
        n++;
    }
    is_int(n, 6, "six capabilities (MSI-X + 5 virtio)");
    is_int(seen, 0x3E, "virtio common, notify, ISR, device cfg, PCI cfg capabilities");
    ok(msix != 0, "MSI-X capability found");
    is_int(cfg_rd(1, msix + 2, 2) & 0x7FF, 2, "MSI-X table size 3 (encoded 2)");
    is_int(cfg_rd(1, msix + 4, 4), 2, "MSI-X table in BAR2 at 0");

    /* the PCI-configuration access window reaches BAR 0 without mapping it */
    cfg_wr(1, pcicfg + 4, 1, 0);
    cfg_wr(1, pcicfg + 8, 4, 0x12);
    cfg_wr(1, pcicfg + 12, 4, 2);
    is_int(cfg_rd(1, pcicfg + 16, 2), 2, "PCI_CFG window: num_queues read through config space");
    cfg_wr(1, pcicfg + 8, 4, 0x16);
    cfg_wr(1, pcicfg + 16, 2, 1);
    is_int(common_rd(0x16, 2), 1, "PCI_CFG window: queue_select written through config space");
    common_wr(0x16, 2, 0);
    cfg_wr(1, pcicfg + 12, 4, 3);
    is_int(cfg_rd(1, pcicfg + 16, 4), 1, "PCI_CFG window: bad length: no BAR access (data as stored)");
    cfg_wr(1, pcicfg + 4, 1, 2);
    cfg_wr(1, pcicfg + 12, 4, 4);
    cfg_wr(1, pcicfg + 16, 4, 0xFFFFFFFF);
    ok(1, "PCI_CFG window: other BARs refused without effect");

    /* feature negotiation */
    common_wr(0x00, 4, 1);
    is_int(common_rd(0x04, 4), 1 + 0, "device features high word: VERSION_1");
    common_wr(0x00, 4, 0);
    uint32_t f0 = (uint32_t)common_rd(0x04, 4);
    ok((f0 & (1u << 9)) && (f0 & (1u << 28)) && (f0 & (1u << 29)),
       "device features: device bit, INDIRECT_DESC, EVENT_IDX");
    common_wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    common_wr(0x08, 4, 0);
    common_wr(0x0C, 4, (1u << 9) | (1u << 29));
    common_wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER | VIRTIO_S_FEATURES_OK);
    ok(!(common_rd(0x14, 1) & VIRTIO_S_FEATURES_OK), "FEATURES_OK refused without VERSION_1");
    common_wr(0x14, 1, 0);
    is_int(common_rd(0x14, 1), 0, "reset");
    common_wr(0x14, 1, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);
    common_wr(0x08, 4, 0);
    common_wr(0x0C, 4, 1u << 5); /* not offered */
    common_wr(0x08, 4, 1);
    common_wr(0x0C, 4, 1);
    common_wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    ok(!(common_rd(0x14, 1) & VIRTIO_S_FEATURES_OK), "FEATURES_OK refused for unoffered bit");
    common_wr(0x14, 1, 0);
    common_wr(0x14, 1, 3);
    common_wr(0x08, 4, 0);
    common_wr(0x0C, 4, (1u << 9) | (1u << 29) | (1u << 28));
    common_wr(0x08, 4, 1);
    common_wr(0x0C, 4, 1);
    common_wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    ok(common_rd(0x14, 1) & VIRTIO_S_FEATURES_OK, "FEATURES_OK accepted");

    /* queue setup */
    common_wr(0x16, 2, 0);
    is_int(common_rd(0x18, 2), 256, "queue 0 max size 256");
    common_wr(0x18, 2, 100);
    is_int(common_rd(0x18, 2), 256, "queue size 100 (not a power of 2) ignored");
    common_wr(0x18, 2, 64);
    is_int(common_rd(0x18, 2), 64, "queue size 64 accepted");
    common_wr(0x1A, 2, 1);
    is_int(common_rd(0x1A, 2), 1, "queue 0 vector 1");
    common_wr(0x1A, 2, 7);
    is_int(common_rd(0x1A, 2), 0xFFFF, "vector beyond the table reads NO_VECTOR");
    common_wr(0x1A, 2, 1);
    common_wr(0x20, 4, 0x1000);
    common_wr(0x24, 4, 0);
    common_wr(0x28, 8, 0x2000);
    common_wr(0x30, 8, 0x3000);
    is_int(common_rd(0x20, 8), 0x1000, "queue_desc 64-bit readback");
    common_wr(0x1C, 2, 1);
    is_int(common_rd(0x1C, 2), 1, "queue 0 enabled");
    common_wr(0x20, 8, 0x5000);
    is_int(common_rd(0x20, 8), 0x1000, "queue address frozen once enabled");
    common_wr(0x16, 2, 1);
    common_wr(0x1A, 2, 2);
    common_wr(0x20, 8, 0xFFFF0000ULL); /* outside RAM: DRIVER_OK must fail */
    common_wr(0x28, 8, 0x2800);
    common_wr(0x30, 8, 0x3800);
    common_wr(0x1C, 2, 1);
    common_wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
    ok(common_rd(0x14, 1) & VIRTIO_S_NEEDS_RESET, "DRIVER_OK with a queue outside RAM: NEEDS_RESET");
    is_int(started, 0, "device not started");
    common_wr(0x14, 1, 0);
    common_wr(0x14, 1, 3);
    common_wr(0x08, 4, 0);
    common_wr(0x0C, 4, (1u << 29) | (1u << 28));
    common_wr(0x08, 4, 1);
    common_wr(0x0C, 4, 1);
    common_wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK);
    common_wr(0x16, 2, 0);
    is_int(common_rd(0x1C, 2), 0, "reset disabled the queue");
    common_wr(0x18, 2, 64);
    common_wr(0x1A, 2, 1);
    common_wr(0x20, 8, 0x1000);
    common_wr(0x28, 8, 0x2000);
    common_wr(0x30, 8, 0x3000);
    common_wr(0x1C, 2, 1);
    common_wr(0x10, 2, 0);
    common_wr(0x14, 1, 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
    is_int(common_rd(0x14, 1), 3 | VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK, "DRIVER_OK");
    is_int(started, 1, "device started once");
    ok(vpci_vq(&t, 0) != NULL && vpci_vq(&t, 1) == NULL, "queue 0 live, queue 1 not enabled");
    is_int(vpci_vq(&t, 0)->size, 64, "live queue has the driver's size");
    ok(!!(vpci_features(&t) & (1ULL << VIRTIO_F_VERSION_1)), "negotiated VERSION_1");

    /* device config and ISR */
    is_int(mmio_rd(bar0 + VPCI_DEVCFG_OFF + 4, 4), 0x08070605, "device config read");
    is_int(mmio_rd(bar0 + VPCI_DEVCFG_OFF + 6, 4), 0, "device config read past its end: 0");

    /* notify without ioeventfd reaches the kick eventfd */
    uint64_t cnt = 0;
    mmio_wr(bar0 + VPCI_NOTIFY_OFF, 2, 0);
    ok(read(vpci_kickfd(&t, 0), &cnt, 8) == 8 && cnt == 1, "notify write signals kickfd");
    mmio_wr(bar0 + VPCI_NOTIFY_OFF + 4 * 9, 2, 9);
    ok(read(vpci_kickfd(&t, 1), &cnt, 8) < 0, "notify for a nonexistent queue ignored");

    /* MSI-X: masked at reset, pending bit, delivery on unmask through the irqfd */
    unsigned mc = msix + 2;
    is_int(vpci_vq(&t, 0) ? 0 : 1, 0, "queue live");
    vpci_notify_queue(&t, 0);
    is_int(routes + sent, 0, "MSI-X disabled and no INTx: nothing delivered");
    cfg_wr(1, mc, 2, PCI_MSIX_ENABLE);
    ok(pci_msix_enabled(&t.pci), "MSI-X enabled");
    mmio_wr(bar2 + 16, 4, 0xFEE01000);
    mmio_wr(bar2 + 20, 4, 0);
    mmio_wr(bar2 + 24, 4, 0x4041);
    is_int(mmio_rd(bar2 + 28, 4), 1, "vector 1 masked at reset");
    vpci_notify_queue(&t, 0);
    is_int(routes, 0, "masked vector: not delivered");
    is_int(mmio_rd(bar2 + 0x800, 8), 2, "PBA bit 1 pending");
    mmio_wr(bar2 + 28, 4, 0);
    is_int(routes, 1, "unmask delivers the pending interrupt (route programmed)");
    ok(last_addr == 0xFEE01000 && last_data == 0x4041, "route carries the table entry");
    is_int(mmio_rd(bar2 + 0x800, 8), 0, "PBA cleared");
    int efd = t.pci.msix[1].efd;
    ok(efd >= 0 && read(efd, &cnt, 8) == 8 && cnt == 1, "irqfd written once");
    vpci_notify_queue(&t, 0);
    is_int(routes, 1, "same entry: route not reprogrammed");
    ok(read(efd, &cnt, 8) == 8 && cnt == 1, "irqfd written again");
    mmio_wr(bar2 + 24, 4, 0x4042);
    vpci_notify_queue(&t, 0);
    is_int(routes, 2, "entry changed: route updated");
    cfg_wr(1, mc, 2, PCI_MSIX_ENABLE | PCI_MSIX_MASKALL);
    vpci_notify_queue(&t, 0);
    is_int(routes, 2, "function mask holds the interrupt");
    cfg_wr(1, mc, 2, PCI_MSIX_ENABLE);
    ok(read(efd, &cnt, 8) == 8 && cnt == 2, "function unmask delivers");
    is_int(mmio_rd(bar2 + 16 * 3, 4), 0, "table beyond its size: not a vector (reads 0)");
    is_int(pci_msix_notify(&t.pci, 9), -EINVAL, "bad vector number refused");

    /* needs-reset from the device side, then a reset stops the device */
    vpci_set_needs_reset(&t);
    ok(common_rd(0x14, 1) & VIRTIO_S_NEEDS_RESET, "NEEDS_RESET visible");
    is_int(common_rd(0x15, 1), 1, "config generation bumped");
    common_wr(0x14, 1, 0);
    is_int(stopped, 1, "reset stopped the device");
    is_int(common_rd(0x14, 1), 0, "status 0 after reset");
    is_int(common_rd(0x10, 2), 0xFFFF, "config vector NO_VECTOR after reset");

    /* guest nonsense on the transport */
    mmio_wr(bar0 + 0x3, 1, 0xFF);
    mmio_wr(bar0 + 0x800, 8, ~0ULL);
    common_wr(0x16, 2, 999);
    is_int(common_rd(0x18, 2), 0, "queue_select out of range: size 0");
    common_wr(0x1C, 2, 1);
    common_wr(0x20, 8, 1);
    ok(1, "writes to nonexistent registers and queues are ignored");
    (void)ram;
    vpci_fini(&t);
    ok(ioevt_removed >= 4, "fini removed the ioeventfds");
}

/* ---- INTx when the driver does not enable MSI-X ---- */
static int line_level = -1;
static uint32_t line_gsi;
static void fake_intx(void *o, uint32_t gsi, int level)
{
    line_gsi = gsi;
    line_level = level;
}

static void test_intx(struct guestmem *gm)
{
    struct pci_host_ops ops = {.intx_set = fake_intx};
    struct pci_bus *b2 = pci_bus_new(&ops, WIN, 256 << 20);
    static struct vpci_dev t;
    vpci_init(&t, &stub_ops, NULL, 1, 16, 0, gm);
    int slot = pci_bus_add(b2, &t.pci, PCI_INTX_BY_SLOT);
    is_int(pci_cfg_read(b2, slot, PCI_R_INT_PIN, 1), 1, "INTx: pin A");
    is_int(pci_cfg_read(b2, slot, PCI_R_INT_LINE, 1), pci_slot_intx_gsi(slot),
           "INTx: line register = the slot's GSI (as the _PRT says)");
    uint64_t b0 = ((uint64_t)pci_cfg_read(b2, slot, 0x14, 4) << 32) |
                  (pci_cfg_read(b2, slot, 0x10, 4) & ~0xFu);
    vpci_notify_queue(&t, 0);
    ok(line_level == 1 && line_gsi == pci_slot_intx_gsi(slot), "INTx: used buffer raises the line");
    ok(pci_cfg_read(b2, slot, PCI_R_STATUS, 2) & PCI_STATUS_INTX, "INTx: status bit set");
    uint64_t isr = 0;
    pci_mmio_read(b2, b0 + VPCI_ISR_OFF, 1, &isr);
    is_int(isr, 1, "ISR reads 1 (queue interrupt)");
    is_int(line_level, 0, "reading the ISR lowers the line");
    pci_mmio_read(b2, b0 + VPCI_ISR_OFF, 1, &isr);
    is_int(isr, 0, "ISR cleared by the read");
    pci_cfg_write(b2, slot, PCI_R_COMMAND, 2, PCI_CMD_MEMORY | PCI_CMD_INTX_OFF);
    vpci_notify_queue(&t, 0);
    is_int(line_level, 0, "INTx disabled in the command register: line stays low");
    ok(pci_cfg_read(b2, slot, PCI_R_STATUS, 2) & PCI_STATUS_INTX, "...but the status bit shows it");
    pci_cfg_write(b2, slot, PCI_R_COMMAND, 2, PCI_CMD_MEMORY);
    is_int(line_level, 1, "INTx enabled again: the pending interrupt drives the line");
    vpci_set_needs_reset(&t); /* not started: no config interrupt */
    vpci_fini(&t);
    pci_bus_free(b2);
}

int main(void)
{
    struct fakeram ram;
    struct guestmem gm = {0};
    fakeram_init(&ram, 1 << 20);
    gmem_add(&gm, 0, ram.size, ram.base);
    struct pci_host_ops ops = {
        .msi_route = fake_route, .msi_unroute = fake_unroute, .msi_send = fake_send,
        .ioeventfd = fake_ioevt,
    };
    ok(pci_bus_new(&ops, WIN + 1, 4096) == NULL, "unaligned window refused");
    bus = pci_bus_new(&ops, WIN, 256 << 20);
    ok(bus != NULL, "bus created");
    test_bus();
    test_virtio_pci(&ram, &gm);
    test_intx(&gm);
    pci_bus_free(bus);
    fakeram_fini(&ram);
    return tap_done();
}

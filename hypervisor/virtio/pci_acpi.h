/*
 * hypervisor/virtio/pci_acpi.h - the DSDT description of PCI bus 0 (Device \_SB.PCI0):
 * a PNP0A03 host bridge whose _CRS gives bus 0, the 0xCF8 configuration ports, the I/O
 * ranges around them and the MMIO window the BARs live in, and a _PRT for INTx (pin A of
 * slot s -> GSI 10 or 11, as vdevs assigns them). Guests under ACPI (Linux) find PCI only
 * through such a device. Pure: emits AML with the VMM's builder (../aml.h).
 * Threads: main, at setup. Trust: inputs are the VMM's own constants.
 */
#ifndef VMM_VIRTIO_PCI_ACPI_H
#define VMM_VIRTIO_PCI_ACPI_H

#include <stdint.h>

struct vmm_aml;

/*
 * Emits Device(PCI0) { _HID, _UID, _BBN, _CRS, _PRT } at the current scope
 * (call it inside Scope(\_SB)). mmio_base/mmio_size: the BAR window (below 4 GiB, size a
 * multiple of 4 KiB). Errors surface through the builder's err flag.
 */
void pci_acpi_host_bridge(struct vmm_aml *a, uint64_t mmio_base, uint64_t mmio_size);

#endif

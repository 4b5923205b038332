/*
 * tests/guest/pci.h - PCI bus 0 for the test guest: configuration access through ports
 * 0xCF8/0xCFC (as Linux's pci=conf1), BAR decoding (32- and 64-bit memory BARs) and the
 * capability-list walk. Runs at CPL 3 (the TSS I/O bitmap allows the ports).
 * Threads: the boot CPU's command loop only.
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include <stdint.h>

uint32_t pci_read32(unsigned slot, unsigned off);
uint16_t pci_read16(unsigned slot, unsigned off);
uint8_t pci_read8(unsigned slot, unsigned off);
void pci_write16(unsigned slot, unsigned off, uint16_t v);
/* Address of memory BAR bar (the low half of a 64-bit pair), 0 if none or I/O. */
uint64_t pci_bar(unsigned slot, unsigned bar);
/* Offset of the first capability with id after `after` (0: from the start), 0 if none.
 * At most 48 steps, so a looping list ends. */
unsigned pci_find_cap(unsigned slot, uint8_t id, unsigned after);

#endif

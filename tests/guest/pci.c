/*
 * tests/guest/pci.c - configuration mechanism #1 on bus 0, function 0 of each slot.
 * See pci.h. Threads: command loop only.
 */
#include "pci.h"

#include "arch.h"

static void pci_addr(unsigned slot, unsigned off)
{
    outl(0xCF8, 0x80000000u | (slot & 31) << 11 | (off & 0xFC));
}

uint32_t pci_read32(unsigned slot, unsigned off)
{
    pci_addr(slot, off);
    return inl(0xCFC);
}

uint16_t pci_read16(unsigned slot, unsigned off)
{
    pci_addr(slot, off);
    return inw((uint16_t)(0xCFC + (off & 2)));
}

uint8_t pci_read8(unsigned slot, unsigned off)
{
    pci_addr(slot, off);
    return inb((uint16_t)(0xCFC + (off & 3)));
}

void pci_write16(unsigned slot, unsigned off, uint16_t v)
{
    pci_addr(slot, off);
    outw((uint16_t)(0xCFC + (off & 2)), v);
}

uint64_t pci_bar(unsigned slot, unsigned bar)
{
    if (bar > 5)
        return 0;
    uint32_t lo = pci_read32(slot, 0x10 + 4 * bar);
    if (lo & 1)
        return 0; /* I/O BAR */
    uint64_t a = lo & ~0xFu;
    if (((lo >> 1) & 3) == 2 && bar < 5)
        a |= (uint64_t)pci_read32(slot, 0x14 + 4 * bar) << 32;
    return a;
}

unsigned pci_find_cap(unsigned slot, uint8_t id, unsigned after)
{
    if (!(pci_read16(slot, 0x06) & 0x10))
        return 0;
    unsigned p = after ? pci_read8(slot, after + 1) : pci_read8(slot, 0x34);
    for (int n = 0; p >= 0x40 && n < 48; n++) {
        p &= 0xFC;
        if (pci_read8(slot, p) == id)
            return p;
        p = pci_read8(slot, p + 1);
    }
    return 0;
}

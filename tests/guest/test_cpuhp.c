/*
 * tests/guest/test_cpuhp.c - the guest's CPU hotplug discovery over AML shaped like
 * atoll-vmm's and QEMU's DSDTs: the register block (OperationRegion PRST, SystemIO), the
 * number of ACPI0007 processor devices and the GPE whose _Exx method calls CSCN; absent
 * pieces make it report no hotplug.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "cpuhp.h"
#include "tap.h"

/* Scope(\_SB) { Device(CPUS) { _HID "ACPI0010", OperationRegion(PRST, SystemIO, 0x0CD8, 12),
 * Device(C000) {_HID "ACPI0007"}, Device(C001) {...}, Method(CSCN) {} } }
 * Scope(\_GPE) { Method(_E02) { \_SB.CPUS.CSCN() } } (PkgLengths need not be exact here) */
static const unsigned char vmm_aml[] = {
    0x10, 0x3f, '\\', '_', 'S', 'B', '_',
    0x5b, 0x82, 0x3f, 'C', 'P', 'U', 'S',
    0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '0', 0x00,
    0x5b, 0x80, 'P', 'R', 'S', 'T', 0x01, 0x0b, 0xd8, 0x0c, 0x0a, 0x0c,
    0x5b, 0x82, 0x10, 'C', '0', '0', '0',
    0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
    0x5b, 0x82, 0x10, 'C', '0', '0', '1',
    0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '0', '7', 0x00,
    0x14, 0x06, 'C', 'S', 'C', 'N', 0x08,
    0x10, 0x20, '\\', '_', 'G', 'P', 'E',
    0x14, 0x07, '_', 'E', '0', '1', 0x00, 0xa3,              /* another GPE: no CSCN */
    0x14, 0x16, '_', 'E', '0', '2', 0x00,
    '\\', 0x2f, 0x03, '_', 'S', 'B', '_', 'C', 'P', 'U', 'S', 'C', 'S', 'C', 'N',
};

int main(void)
{
    struct cpuhp_info hp;
    unsigned char aml[sizeof(vmm_aml)];

    memset(&hp, 0, sizeof(hp));
    is_int(cpuhp_parse_dsdt(&hp, vmm_aml, sizeof(vmm_aml)), 0, "hotplug found");
    is_int(hp.base, 0xcd8, "register block at 0xcd8 (PRST, SystemIO)");
    is_int(hp.nslots, 2, "two processor devices");
    is_int(hp.gpe, 2, "the GPE that calls CSCN is 2, not the other _E01");

    memcpy(aml, vmm_aml, sizeof(aml));
    unsigned char *prst = memmem(aml, sizeof(aml), "PRST", 4);
    memcpy(prst, "XXXX", 4); /* another name */
    ok(cpuhp_parse_dsdt(&hp, aml, sizeof(aml)) == 0 && hp.base == 0xcd8,
       "a region with another name after the ACPI0010 container is found too");

    memcpy(aml, vmm_aml, sizeof(aml));
    ((unsigned char *)memmem(aml, sizeof(aml), "PRST", 4))[4] = 0x00; /* SystemMemory */
    ok(cpuhp_parse_dsdt(&hp, aml, sizeof(aml)) < 0, "no SystemIO region: no hotplug");
    memcpy(aml, vmm_aml, sizeof(aml));
    memcpy(aml + sizeof(aml) - 4, "XXXX", 4);
    ok(cpuhp_parse_dsdt(&hp, aml, sizeof(aml)) < 0, "no GPE method calling CSCN: no hotplug");
    /* QEMU pc/q35: Processor(C001, 0x01, 0, 0) { ... } instead of ACPI0007 devices */
    memcpy(aml, vmm_aml, sizeof(aml));
    unsigned char *hid = memmem(aml, sizeof(aml), "\x0d" "ACPI0007", 9);
    static const unsigned char proc[] = {0x5b, 0x83, 0x0b, 'C', '0', '0', '0', 0x00, 0, 0, 0, 0, 0};
    memcpy(hid - 5, proc, sizeof(proc)); /* over Name(_HID, "ACPI0007") of C000 */
    ok(cpuhp_parse_dsdt(&hp, aml, sizeof(aml)) == 0 && hp.nslots == 2,
       "a Processor() object counts as a slot too (QEMU's pc/q35)");
    for (size_t n = 0; n < sizeof(vmm_aml); n++)
        cpuhp_parse_dsdt(&hp, vmm_aml, n); /* truncated AML: no read past the end (ASan) */
    ok(1, "every truncation parsed without reading past the end");
    return tap_done();
}

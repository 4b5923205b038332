/*
 * hypervisor/dsdt.h - the DSDT's AML: \_SB.CPUS (processor container) with one
 * Device(Cnnn) per possible vCPU (_HID ACPI0007, _UID, _STA, _MAT, _EJ0) over the
 * CPU hotplug register block (cpuhp.h), the \_GPE._E02 handler that scans it and
 * Notify()s the CPUs, and \_S5. Pure (aml.c); checked with iasl in the unit test.
 */
#ifndef VMM_DSDT_H
#define VMM_DSDT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Writes the DSDT body (the AML after the 36-byte header) for max_vcpus possible CPUs
 * into buf. Returns its length, or 0 when cap is too small or max_vcpus is 0 or > 255.
 */
size_t vmm_dsdt_build_aml(unsigned max_vcpus, uint8_t *buf, size_t cap);

#endif

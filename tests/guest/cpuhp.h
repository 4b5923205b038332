/*
 * tests/guest/cpuhp.h - ACPI CPU hotplug, driven the way Linux's ACPI code drives it on
 * atoll-vmm (and QEMU's modern interface): the SCI, GPE0 status/enable from the FADT, the
 * GPE whose _Exx method calls the CPU scan (CSCN), and the CPU hotplug register block (the
 * SystemIO OperationRegion of the processor container, ACPI0010) found in the DSDT. Inserted
 * CPUs are started with INIT/SIPI, removed ones taken offline and ejected.
 * Threads: the boot CPU (the shell loop). Trust: tables and registers come from the VMM;
 * lengths and selector counts are bounded.
 */
#ifndef GUEST_CPUHP_H
#define GUEST_CPUHP_H

#include <stddef.h>
#include <stdint.h>

#include "acpi.h"

struct cpuhp_info {
    int present;           /* all of the below were found */
    uint16_t gpe0_blk;     /* GPE0 status port (enable at + gpe0_len / 2) */
    uint8_t gpe0_len;
    unsigned gpe;          /* the GPE number of the CPU scan (_Exx / _Lxx calling CSCN) */
    uint16_t base;         /* register block: selector +0, flags +4 */
    unsigned nslots;       /* processor devices (ACPI0007) in the DSDT */
};

/* Pure: fills hp from the FADT (GPE0) and the DSDT at dsdt_pa. Returns 0, or -1 when the
 * platform has no CPU hotplug (hp->present stays 0). */
int cpuhp_parse(struct cpuhp_info *hp, uint64_t rsdp_pa, acpi_map_fn map, void *ctx);
/* Pure: the DSDT part (register block, GPE number, slot count) over the AML bytes. */
int cpuhp_parse_dsdt(struct cpuhp_info *hp, const uint8_t *aml, size_t len);

struct guest;
/* Finds the interface, enables its GPE and takes over the SCI vector (still passing it to
 * power.c). Prints one line saying what it found. */
void cpuhp_init(struct guest *g);
/* From the loop: when an SCI came, clears the GPE and handles insert/remove events. */
void cpuhp_poll(struct guest *g);
/* The 'cpuhp' command: what the register block says about each slot. */
void cpuhp_cmd(struct guest *g, int argc, char **argv);

#endif

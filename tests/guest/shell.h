/*
 * tests/guest/shell.h - the serial command loop: reads lines, runs the command table,
 * paces the background workloads between lines, idles when there is nothing to do.
 * Threads: the boot CPU only.
 */
#ifndef GUEST_SHELL_H
#define GUEST_SHELL_H

#include "acpi.h"
#include "memmap.h"

struct guest {
    struct mm mm;
    struct acpi_info acpi;
    char cmdline[1024];
};

/* Never returns. polled: console input has no interrupt, so a timer tick wakes the loop. */
__attribute__((noreturn)) void shell_run(struct guest *g, int polled);

#endif

/*
 * hypervisor/ioport.h - the port I/O map of the machine: COM1 (uart.c), the
 * ACPI PM1a event/control blocks (poweroff), the reset register 0xCF9 and the
 * keyboard controller's reset (0x64), pvpanic (0x505), and harmless answers
 * for probing of absent legacy ports. Threads: vCPU threads.
 * Trust: port, size and data are guest-controlled; sizes are bounded to 1..4.
 */
#ifndef VMM_IOPORT_H
#define VMM_IOPORT_H

#include <stdint.h>

#include "vm.h"

#define VMM_PVPANIC_PORT 0x505

/*
 * Handles one port access of size bytes (1, 2 or 4). For reads fills data.
 * Power events (poweroff, reset, panic) become stop requests on vm.
 */
void vmm_ioport_access(struct vmm_vm *vm, uint16_t port, int is_write, unsigned size,
                       uint8_t *data);

#endif

/*
 * hypervisor/ioport.c - port I/O dispatch. The few ports with meaning are
 * explicit cases; everything else reads as all-ones and ignores writes, with
 * a rate-limited debug line. Threads: vCPU threads (the UART locks itself).
 */
#define ATOLL_LOG_MODULE "ioport"
#include "ioport.h"

#include <string.h>

#include "acpi.h"
#include "hotplug.h" /* issue 3: PM1 event, GPE0, CPU hotplug blocks */
#include "atoll/log.h"

static uint32_t get(const uint8_t *d, unsigned size)
{
    uint32_t v = 0;
    memcpy(&v, d, size);
    return v;
}

static void put(uint8_t *d, unsigned size, uint32_t v)
{
    memcpy(d, &v, size);
}

void vmm_ioport_access(struct vmm_vm *vm, uint16_t port, int is_write, unsigned size,
                       uint8_t *data)
{
    if (size != 1 && size != 2 && size != 4)
        return;
    if (vmm_hotplug_pio(vm, port, is_write, size, data)) /* issue 3 */
        return;
    if (port >= VMM_UART_COM1_BASE && port < VMM_UART_COM1_BASE + 8) {
        /* byte registers; wider accesses touch consecutive registers */
        for (unsigned i = 0; i < size && port + i < VMM_UART_COM1_BASE + 8; i++) {
            unsigned off = port + i - VMM_UART_COM1_BASE;
            if (is_write)
                vmm_uart_write(&vm->uart, off, data[i]);
            else
                data[i] = vmm_uart_read(&vm->uart, off);
        }
        return;
    }
    switch (port) {
    case VMM_ACPI_PM1A_CNT: {
        if (!is_write) {
            put(data, size, 1);  /* SCI_EN: always in ACPI mode */
            return;
        }
        uint32_t v = get(data, size);
        unsigned typ = (v >> 10) & 7;
        if ((v & (1u << 13)) && typ == VMM_ACPI_S5_TYP) {
            /* issue 3: after the 'reboot' command's power button, S5 means reboot */
            int st = vmm_hotplug_s5_status(vm);
            vmm_vm_request_stop(vm, st, st == VMM_EXIT_REBOOT
                                ? "guest powered off after a reboot request (ACPI S5, port 0x604)"
                                : "guest powered off (ACPI S5, port 0x604)");
        }
        else if (v & (1u << 13))
            log_debug("guest asked for sleep state SLP_TYP=%u: unsupported, ignored", typ);
        return;
    }
    case VMM_ACPI_RESET_PORT:
        if (is_write && (data[0] & 0x04))
            vmm_vm_request_stop(vm, VMM_EXIT_REBOOT, "guest rebooted (reset via port 0xcf9)");
        else if (!is_write)
            put(data, size, 0);
        return;
    case 0x64:
        if (is_write && data[0] == 0xfe)
            vmm_vm_request_stop(vm, VMM_EXIT_REBOOT,
                                "guest rebooted (keyboard controller reset, port 0x64)");
        else if (!is_write)
            put(data, size, 0);   /* status: no data, input buffer empty */
        return;
    case 0x60:
        if (!is_write)
            put(data, size, 0);
        return;
    case VMM_PVPANIC_PORT:
        if (!is_write) {
            put(data, size, 1);   /* capabilities: PANICKED */
        } else if (data[0] & 1) {
            vmm_vm_request_stop(vm, VMM_EXIT_PANIC, "guest panicked (pvpanic port 0x505)");
        }
        return;
    case 0x80:                  /* POST codes / I/O delay */
        return;
    default:
        break;
    }
    if (!is_write)
        memset(data, 0xff, size);
    static unsigned reported;
    if (reported < 16) {
        reported++;
        log_debug("unhandled port %s 0x%x size %u", is_write ? "write" : "read", port, size);
    }
}

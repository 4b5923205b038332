/*
 * tests/guest/power.h - poweroff and reboot through the ACPI registers the FADT names
 * (SLEEP_CONTROL_REG on hardware-reduced platforms, PM1a/PM1b_CNT with the DSDT's _S5_
 * otherwise; RESET_REG), with legacy fallbacks. Threads: the boot CPU.
 */
#ifndef GUEST_POWER_H
#define GUEST_POWER_H

#include "acpi.h"

void power_init(const struct acpi_info *info);

/* The power button: full ACPI's fixed button (PM1 PWRBTN_EN/STS, the SCI) or, on a
 * hardware-reduced platform, the GED's power-down event (its interrupt and event selector).
 * power_button_init enables it and routes its interrupt to vector on dest_apic; returns the
 * ISA IRQ / GSI used, or -1 when the platform has none. */
int power_button_init(unsigned vector, uint32_t dest_apic);
/* The SCI / GED interrupt handler: acknowledges a power-button press (PWRBTN_STS cleared, or
 * the GED selector read) before the caller's EOI and flags the loop (idempotent). */
void power_sci(unsigned vector);
/* From the command loop: whether the button was pressed since the last call (clears it). */
int power_button_pressed(void);
/* Each returns only when the platform ignored the request, with a reason for the console. */
const char *power_off(void);
const char *power_reboot(void);

#endif

/*
 * tests/guest/power.h - poweroff and reboot through the ACPI registers the FADT names
 * (SLEEP_CONTROL_REG on hardware-reduced platforms, PM1a/PM1b_CNT with the DSDT's _S5_
 * otherwise; RESET_REG), with legacy fallbacks. Threads: the boot CPU.
 */
#ifndef GUEST_POWER_H
#define GUEST_POWER_H

#include "acpi.h"

void power_init(const struct acpi_info *info);
/* Each returns only when the platform ignored the request, with a reason for the console. */
const char *power_off(void);
const char *power_reboot(void);

#endif

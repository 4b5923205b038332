/*
 * hypervisor/pm.h - ACPI fixed hardware events: the PM1a event block (the fixed
 * power button: PWRBTN_STS/PWRBTN_EN), the GPE0 block (GPE 2 = CPU hotplug) and
 * the SCI they drive (ISA IRQ 9, level-triggered, active high: the MADT override).
 * Pure state machine; the interrupt line is a callback. Threads: vCPU threads
 * (port I/O) and main (control commands); one mutex inside. Trust: guest port
 * writes are masked to the implemented bits.
 */
#ifndef VMM_PM_H
#define VMM_PM_H

#include <pthread.h>
#include <stdint.h>

#define VMM_ACPI_GPE0_BLK 0x608   /* 4 bytes: GPE0_STS (2), GPE0_EN (2) */
#define VMM_ACPI_GPE0_LEN 4
#define VMM_PM1_PWRBTN (1u << 8)  /* PM1 status/enable bit of the fixed power button */

struct vmm_pm {
    pthread_mutex_t lock;
    uint16_t pm1_sts, pm1_en, gpe_sts, gpe_en;
    int sci;                      /* level last given to set_sci */
    int reboot_requested;         /* 'reboot' pressed the button: S5 then means reboot */
    void (*set_sci)(void *opaque, int level);
    void *opaque;
};

void vmm_pm_init(struct vmm_pm *pm, void (*set_sci)(void *opaque, int level), void *opaque);
void vmm_pm_fini(struct vmm_pm *pm);
/* PM1a_EVT (VMM_ACPI_PM1A_EVT, 4 bytes) and GPE0 ports: 1 when handled, 0 otherwise. */
int vmm_pm_pio(struct vmm_pm *pm, uint16_t port, int is_write, unsigned size, uint8_t *data);
/*
 * Presses the fixed power button (sets PWRBTN_STS; SCI if the guest enabled it).
 * reboot: remember that the following S5 is a reboot. Returns 1 if the guest had
 * enabled the button (PWRBTN_EN), 0 if the press is pending unseen.
 */
int vmm_pm_power_button(struct vmm_pm *pm, int reboot);
/* Raises GPE bit gpe (0..15). Returns 1 if the guest enabled it. */
int vmm_pm_gpe(struct vmm_pm *pm, unsigned gpe);
int vmm_pm_reboot_requested(struct vmm_pm *pm);
/* Current SCI level (tests). */
int vmm_pm_sci_level(struct vmm_pm *pm);

#endif

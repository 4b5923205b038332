/*
 * hypervisor/pm.c - PM1a event and GPE0 registers and the SCI (see pm.h).
 * Status bits are write-1-to-clear; the SCI line follows (STS & EN) after
 * every change, so a level-triggered SCI stays asserted until the guest
 * clears the event, as on real chipsets. Threads: any, under pm->lock.
 */
#include "pm.h"

#include <string.h>

#include "acpi.h"

/* PM1 status bits the guest may enable: TMR, GBL, PWRBTN, SLPBTN, RTC */
#define PM1_EN_MASK 0x0721u

void vmm_pm_init(struct vmm_pm *pm, void (*set_sci)(void *opaque, int level), void *opaque)
{
    memset(pm, 0, sizeof(*pm));
    pthread_mutex_init(&pm->lock, NULL);
    pm->set_sci = set_sci;
    pm->opaque = opaque;
}

void vmm_pm_fini(struct vmm_pm *pm)
{
    pthread_mutex_destroy(&pm->lock);
}

/* Called with the lock held. */
static void update_sci(struct vmm_pm *pm)
{
    int level = (pm->pm1_sts & pm->pm1_en & PM1_EN_MASK) || (pm->gpe_sts & pm->gpe_en);
    if (level != pm->sci) {
        pm->sci = level;
        if (pm->set_sci)
            pm->set_sci(pm->opaque, level);
    }
}

/* The low size bytes of a port access as a little-endian value. */
static uint32_t get(const uint8_t *d, unsigned size)
{
    uint32_t v = 0;
    memcpy(&v, d, size > 4 ? 4 : size);
    return v;
}

int vmm_pm_pio(struct vmm_pm *pm, uint16_t port, int is_write, unsigned size, uint8_t *data)
{
    uint16_t *sts, *en;
    unsigned off;
    if (port >= VMM_ACPI_PM1A_EVT && port < VMM_ACPI_PM1A_EVT + 4) {
        sts = &pm->pm1_sts;
        en = &pm->pm1_en;
        off = port - VMM_ACPI_PM1A_EVT;
    } else if (port >= VMM_ACPI_GPE0_BLK && port < VMM_ACPI_GPE0_BLK + VMM_ACPI_GPE0_LEN) {
        sts = &pm->gpe_sts;
        en = &pm->gpe_en;
        off = port - VMM_ACPI_GPE0_BLK;
    } else {
        return 0;
    }
    if (size > 4)
        size = 4;
    pthread_mutex_lock(&pm->lock);
    /* the block as one little-endian 32-bit word: status in bytes 0-1, enable in 2-3 */
    uint32_t word = *sts | (uint32_t)*en << 16;
    if (!is_write) {
        uint32_t v = word >> (8 * off);
        memcpy(data, &v, size);
    } else {
        uint32_t v = get(data, size);
        for (unsigned i = 0; i < size && off + i < 4; i++) {
            uint8_t b = (uint8_t)(v >> (8 * i));
            unsigned at = off + i;
            if (at < 2) {
                *sts &= (uint16_t)~((uint16_t)b << (8 * at));      /* write 1 to clear */
            } else {
                unsigned sh = 8 * (at - 2);
                *en = (uint16_t)((*en & ~(0xFFu << sh)) | (unsigned)b << sh);
            }
        }
        update_sci(pm);
    }
    pthread_mutex_unlock(&pm->lock);
    return 1;
}

int vmm_pm_power_button(struct vmm_pm *pm, int reboot)
{
    pthread_mutex_lock(&pm->lock);
    pm->pm1_sts |= VMM_PM1_PWRBTN;
    if (reboot)
        pm->reboot_requested = 1;
    int enabled = (pm->pm1_en & VMM_PM1_PWRBTN) != 0;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    return enabled;
}

int vmm_pm_gpe(struct vmm_pm *pm, unsigned gpe)
{
    if (gpe > 15)
        return 0;
    pthread_mutex_lock(&pm->lock);
    pm->gpe_sts |= (uint16_t)(1u << gpe);
    int enabled = (pm->gpe_en >> gpe) & 1;
    update_sci(pm);
    pthread_mutex_unlock(&pm->lock);
    return enabled;
}

int vmm_pm_reboot_requested(struct vmm_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    int r = pm->reboot_requested;
    pthread_mutex_unlock(&pm->lock);
    return r;
}

int vmm_pm_sci_level(struct vmm_pm *pm)
{
    pthread_mutex_lock(&pm->lock);
    int r = pm->sci;
    pthread_mutex_unlock(&pm->lock);
    return r;
}

/*
 * tests/unit/hypervisor/test_pm.c - ACPI event hardware without KVM: the PM1a
 * event block and GPE0 (write-1-to-clear status, enables, the level of the SCI
 * callback), the power button and reboot flag, and the CPU hotplug register block
 * (selector, flags, insert/remove events, eject callback, hostile selectors).
 */
#include <string.h>

#include "acpi.h"
#include "cpuhp.h"
#include "pm.h"
#include "tap.h"

static int sci_level = -1, sci_changes;
static unsigned ejected[8], nejected;

static void set_sci(void *opaque, int level)
{
    (void)opaque;
    sci_level = level;
    sci_changes++;
}

static void on_eject(void *opaque, unsigned idx)
{
    (void)opaque;
    if (nejected < 8)
        ejected[nejected++] = idx;
}

static uint32_t in(struct vmm_pm *pm, uint16_t port, unsigned size)
{
    uint8_t d[4] = {0};
    uint32_t v = 0;
    vmm_pm_pio(pm, port, 0, size, d);
    memcpy(&v, d, size);
    return v;
}

static void out(struct vmm_pm *pm, uint16_t port, unsigned size, uint32_t v)
{
    uint8_t d[4];
    memcpy(d, &v, 4);
    vmm_pm_pio(pm, port, 1, size, d);
}

static uint32_t hin(struct vmm_cpuhp *h, uint16_t off, unsigned size)
{
    uint8_t d[4] = {0};
    uint32_t v = 0;
    vmm_cpuhp_pio(h, (uint16_t)(VMM_CPUHP_BASE + off), 0, size, d);
    memcpy(&v, d, size);
    return v;
}

static void hout(struct vmm_cpuhp *h, uint16_t off, unsigned size, uint32_t v)
{
    uint8_t d[4];
    memcpy(d, &v, 4);
    vmm_cpuhp_pio(h, (uint16_t)(VMM_CPUHP_BASE + off), 1, size, d);
}

int main(void)
{
    struct vmm_pm pm;
    vmm_pm_init(&pm, set_sci, NULL);
    uint8_t d[4] = {0};
    ok(!vmm_pm_pio(&pm, 0x604, 0, 2, d) && !vmm_pm_pio(&pm, 0x60C, 0, 1, d),
       "PM1a_CNT and ports past GPE0 are not this module's");
    is_int(in(&pm, VMM_ACPI_PM1A_EVT, 4), 0, "PM1 status/enable start at 0");

    /* power button pressed before the guest enabled it: status only, no SCI */
    is_int(vmm_pm_power_button(&pm, 0), 0, "press before PWRBTN_EN: reported as not enabled");
    is_int(in(&pm, VMM_ACPI_PM1A_EVT, 2), VMM_PM1_PWRBTN, "PWRBTN_STS set");
    ok(sci_changes == 0 && vmm_pm_sci_level(&pm) == 0, "no SCI while disabled");
    out(&pm, VMM_ACPI_PM1A_EVT + 2, 2, VMM_PM1_PWRBTN);
    is_int(sci_level, 1, "enabling PWRBTN_EN with the status set raises the SCI");
    is_int(in(&pm, VMM_ACPI_PM1A_EVT, 4), VMM_PM1_PWRBTN | VMM_PM1_PWRBTN << 16,
           "32-bit read returns status | enable << 16");
    out(&pm, VMM_ACPI_PM1A_EVT, 2, 0x0001);
    is_int(sci_level, 1, "writing 1 to another bit does not clear PWRBTN_STS");
    out(&pm, VMM_ACPI_PM1A_EVT, 2, VMM_PM1_PWRBTN);
    ok(sci_level == 0 && in(&pm, VMM_ACPI_PM1A_EVT, 2) == 0, "write 1 to clear drops the SCI");
    is_int(vmm_pm_power_button(&pm, 0), 1, "press with PWRBTN_EN: reported as enabled");
    is_int(sci_level, 1, "SCI raised at once");
    out(&pm, VMM_ACPI_PM1A_EVT + 1, 1, VMM_PM1_PWRBTN >> 8);
    is_int(sci_level, 0, "byte write to the status high byte clears it too");
    is_int(vmm_pm_reboot_requested(&pm), 0, "no reboot requested by 'shutdown'");
    vmm_pm_power_button(&pm, 1);
    is_int(vmm_pm_reboot_requested(&pm), 1, "'reboot' marks the next S5 as a reboot");
    out(&pm, VMM_ACPI_PM1A_EVT, 4, VMM_PM1_PWRBTN);   /* clear status, enable 0 */
    ok(sci_level == 0 && in(&pm, VMM_ACPI_PM1A_EVT + 2, 2) == 0,
       "32-bit write sets the enable half too");

    /* GPE0 */
    is_int(vmm_pm_gpe(&pm, VMM_GPE_CPU_HOTPLUG), 0, "GPE 2 raised while disabled");
    is_int(in(&pm, VMM_ACPI_GPE0_BLK, 1), 4, "GPE0_STS bit 2");
    is_int(sci_level, 0, "no SCI while GPE 2 is disabled");
    out(&pm, VMM_ACPI_GPE0_BLK + 2, 1, 4);
    is_int(sci_level, 1, "GPE0_EN bit 2 raises the SCI");
    is_int(in(&pm, VMM_ACPI_GPE0_BLK + 2, 1), 4, "GPE0_EN reads back");
    out(&pm, VMM_ACPI_GPE0_BLK, 1, 4);
    is_int(sci_level, 0, "clearing GPE0_STS drops the SCI");
    ok(vmm_pm_gpe(&pm, 16) == 0 && in(&pm, VMM_ACPI_GPE0_BLK, 2) == 0, "GPE 16 is ignored");
    vmm_pm_fini(&pm);

    /* CPU hotplug register block: 4 slots, 2 present */
    struct vmm_cpuhp h;
    vmm_cpuhp_init(&h, 4, 2, on_eject, NULL);
    ok(!vmm_cpuhp_pio(&h, VMM_CPUHP_BASE - 1, 0, 1, d) &&
       !vmm_cpuhp_pio(&h, VMM_CPUHP_BASE + VMM_CPUHP_LEN, 0, 1, d), "ports outside the block");
    hout(&h, 0, 4, 1);
    is_int(hin(&h, 4, 1), 1, "slot 1 present, no events");
    hout(&h, 0, 4, 2);
    is_int(hin(&h, 4, 1), 0, "slot 2 absent");
    is_int(vmm_cpuhp_insert(&h, 2), 0, "insert slot 2");
    is_int(vmm_cpuhp_insert(&h, 2), -1, "inserting a present slot refused");
    is_int(hin(&h, 4, 1), 3, "slot 2: present + insert event");
    hout(&h, 4, 1, 2);
    is_int(hin(&h, 4, 1), 1, "writing bit 1 clears the insert event only");
    is_int(vmm_cpuhp_request_remove(&h, 3), -1, "removing an absent slot refused");
    is_int(vmm_cpuhp_request_remove(&h, 2), 0, "remove request on slot 2");
    is_int(hin(&h, 4, 1), 5, "slot 2: present + remove event");
    hout(&h, 4, 1, 4);
    is_int(hin(&h, 4, 1), 1, "writing bit 2 clears the remove event");
    hout(&h, 4, 1, 8);
    ok(nejected == 1 && ejected[0] == 2 && hin(&h, 4, 1) == 0,
       "eject: callback for slot 2, no longer present");
    hout(&h, 4, 1, 8);
    is_int(nejected, 1, "ejecting an absent slot does nothing");
    hout(&h, 0, 4, 0);
    hout(&h, 4, 1, 8);
    ok(nejected == 1 && hin(&h, 4, 1) == 1, "slot 0 (boot CPU) cannot be ejected");
    hout(&h, 0, 4, 0xFFFFFFFFu);
    is_int(hin(&h, 0, 4), 0xFFFFFFFFu, "selector reads back");
    is_int(hin(&h, 4, 1), 0, "out-of-range selector reads flags 0");
    hout(&h, 4, 1, 0xFF);
    ok(nejected == 1 && vmm_cpuhp_flags(&h, 1) == 1, "and its writes are ignored");
    is_int(hin(&h, 8, 4), 0, "command data reads 0");
    ok(vmm_cpuhp_insert(&h, 4) == -1 && vmm_cpuhp_insert(&h, 1000) == -1,
       "insert beyond the slots refused");
    vmm_cpuhp_fini(&h);

    /* a hostile guest: random accesses over both blocks keep every invariant */
    struct vmm_pm pm2;
    struct vmm_cpuhp h2;
    vmm_pm_init(&pm2, set_sci, NULL);
    vmm_cpuhp_init(&h2, 8, 3, on_eject, NULL);
    nejected = 0;
    unsigned seed = 12345, bad = 0;
    for (int i = 0; i < 200000; i++) {
        seed = seed * 1103515245u + 12345u;
        uint16_t port = (uint16_t)(i & 1 ? VMM_CPUHP_BASE + (seed >> 8) % 16
                                         : VMM_ACPI_PM1A_EVT + (seed >> 8) % 16);
        unsigned size = 1u << ((seed >> 20) % 3);
        uint8_t data[4];
        uint32_t v = seed * 2654435761u;
        memcpy(data, &v, 4);
        if (!vmm_pm_pio(&pm2, port, (seed >> 4) & 1, size, data))
            vmm_cpuhp_pio(&h2, port, (seed >> 4) & 1, size, data);
        if (vmm_pm_sci_level(&pm2) != sci_level ||
            (vmm_cpuhp_flags(&h2, 0) & VMM_CPUHP_PRESENT) == 0)
            bad++;
        for (unsigned k = 0; k < 8; k++)
            if (vmm_cpuhp_flags(&h2, k) & ~7u)
                bad++;
    }
    is_int(bad, 0, "200000 random accesses: SCI callback tracks the level, vCPU 0 stays, "
           "flags stay in bits 0-2");
    ok(nejected <= 2, "at most the two present APs were ejected (%u)", nejected);
    vmm_cpuhp_fini(&h2);
    vmm_pm_fini(&pm2);
    return tap_done();
}

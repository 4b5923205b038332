/*
 * tests/guest/power.c - ACPI S5 and reset (see power.h). Register writes go through a
 * Generic Address Structure (I/O port or MMIO). Without ACPI the guest tries port 0x604
 * (QEMU's and atoll-vmm's PM1a_CNT) and says so. The power button's interrupt handler
 * acknowledges the press (clears PWRBTN_STS, or reads the GED selector) before its EOI, so a
 * level SCI does not fire again at once, and flags it for the loop.
 * Threads: the boot CPU.
 */
#include "power.h"

#include "apic.h"
#include "arch.h"
#include "console.h"
#include "timer.h"

#define PWRBTN (1u << 8) /* PM1 status and enable bit of the fixed power button */

static const struct acpi_info *acpi;
static volatile int sci_kick;
static volatile int pressed; /* the interrupt handler saw and acknowledged a press */
static int button_ready;

void power_init(const struct acpi_info *info)
{
    acpi = info;
}

static void gas_write(const struct acpi_gas *g, uint32_t v)
{
    unsigned width = g->bit_width ? g->bit_width : 8;

    if (g->space == ACPI_SPACE_IO) {
        uint16_t port = (uint16_t)g->addr;
        if (width <= 8)
            outb(port, (uint8_t)v);
        else if (width <= 16)
            outw(port, (uint16_t)v);
        else
            outl(port, v);
    } else if (g->space == ACPI_SPACE_MEM && g->addr < (1ULL << 32)) {
        if (width <= 8)
            mmio_write8(g->addr, (uint8_t)v);
        else
            mmio_write32(g->addr, v);
    }
}

static void settle(void)
{
    timer_delay_us(200000);
}

int power_button_init(unsigned vector, uint32_t dest_apic)
{
    if (!acpi || !acpi->have_fadt || !acpi->have_ioapic)
        return -1;
    if (acpi->hw_reduced) {
        if (!acpi->ged.present || acpi->ged.sel_addr >= (1ULL << 32))
            return -1;
        ioapic_route(acpi->ged.gsi, vector, dest_apic, acpi->ged.mps_flags);
        button_ready = 2;
        return (int)acpi->ged.gsi;
    }
    if (!acpi->pm1a_evt || acpi->pm1_evt_len < 4 || acpi->sci_irq >= 16)
        return -1;
    uint16_t sts = (uint16_t)acpi->pm1a_evt;
    uint16_t en = (uint16_t)(acpi->pm1a_evt + acpi->pm1_evt_len / 2);
    outw(sts, (uint16_t)PWRBTN); /* write 1 to clear a stale press */
    outw(en, (uint16_t)(inw(en) | PWRBTN));
    uint16_t flags = acpi->isa_flags[acpi->sci_irq];
    if (!flags)
        flags = 0x0f; /* no override: the SCI is level-triggered, active low */
    ioapic_route(acpi->isa_gsi[acpi->sci_irq], vector, dest_apic, flags);
    button_ready = 1;
    return acpi->sci_irq;
}

/* Reads and acknowledges a pending press: 1 if there was one. Idempotent. */
static int take_press(void)
{
    if (button_ready == 2) /* GED: reading the event selector also clears it */
        return (mmio_read32(acpi->ged.sel_addr) & acpi->ged.pwr_mask) != 0;
    uint16_t sts = (uint16_t)acpi->pm1a_evt;
    if (!(inw(sts) & PWRBTN))
        return 0;
    outw(sts, (uint16_t)PWRBTN); /* write 1 to clear: the level SCI drops */
    return 1;
}

void power_sci(unsigned vector)
{
    (void)vector;
    if (button_ready && take_press())
        pressed = 1;
    sci_kick = 1;
}

int power_button_pressed(void)
{
    if (!button_ready || !__atomic_exchange_n(&sci_kick, 0, __ATOMIC_ACQ_REL))
        return 0;
    return __atomic_exchange_n(&pressed, 0, __ATOMIC_ACQ_REL) || take_press();
}

const char *power_off(void)
{
    if (!acpi || !acpi->have_fadt) {
        con_printf("atoll-guest: warning: no ACPI FADT, trying PM1a_CNT at port 0x604\n");
        outw(0x604, (uint16_t)(1u << 13));
        settle();
        return "no ACPI FADT and port 0x604 did not power off";
    }
    if (acpi->hw_reduced) {
        if (!acpi->have_sleep_ctl)
            return "hardware-reduced ACPI without SLEEP_CONTROL_REG";
        uint8_t typ = acpi->have_s5 ? acpi->s5_typa : 5;
        gas_write(&acpi->sleep_ctl, (uint32_t)((typ & 7) << 2) | (1u << 5));
        settle();
        return "SLEEP_CONTROL_REG write did not power off";
    }
    if (!acpi->have_s5)
        con_printf("atoll-guest: warning: no _S5_ in the DSDT, using SLP_TYP 0\n");
    if (acpi->pm1a_cnt.space == ACPI_SPACE_IO && acpi->smi_cmd && acpi->acpi_enable &&
        !(inw((uint16_t)acpi->pm1a_cnt.addr) & 1)) {
        outb((uint16_t)acpi->smi_cmd, acpi->acpi_enable); /* enter ACPI mode (SCI_EN) */
        uint64_t d = timer_deadline_us(100000);
        while (!(inw((uint16_t)acpi->pm1a_cnt.addr) & 1) && !timer_passed(d))
            cpu_relax();
    }
    uint32_t a = acpi->have_s5 ? acpi->s5_typa : 0, b = acpi->have_s5 ? acpi->s5_typb : 0;
    if (acpi->pm1b_cnt.addr)
        gas_write(&acpi->pm1b_cnt, ((b & 7) << 10) | (1u << 13));
    gas_write(&acpi->pm1a_cnt, ((a & 7) << 10) | (1u << 13));
    settle();
    return "PM1a_CNT write did not power off";
}

const char *power_reboot(void)
{
    if (acpi && acpi->have_reset) {
        gas_write(&acpi->reset_reg, acpi->reset_value);
        settle();
    }
    outb(0x64, 0xfe); /* keyboard controller pulse */
    settle();
    return "neither RESET_REG nor port 0x64 rebooted";
}

/*
 * tests/guest/shell.c - the command table and the boot CPU's main loop (see shell.h and the
 * command list in README.md). Output formats are a contract with atoll-vmm's and the
 * benchmarks' tests: change them only together. Threads: the boot CPU only.
 */
#include "shell.h"

#include "apic.h"
#include "arch.h"
#include "burn.h"
#include "cmd.h"
#include "cpuhp.h" /* issue 3: ACPI CPU hotplug */
#include "console.h"
#include "cpu.h"
#include "dirty.h"
#include "lib.h"
#include "power.h"
#include "smp.h"
#include "timer.h"
#include "vblk.h" /* virtio: the blk command (vblk.c) */
#include "netstack.h" /* virtio-net: net, ping, netsend, netrecv (netstack.c) */
#include "vballoon.h" /* balloon: */
#include "vsock.h"    /* vsock: */

#define MIB (1024ULL * 1024)
#define DIRTY_CHUNK_PAGES 256 /* 1 MiB between looks at the console */
#define DIRTY_TICK_US 2000
#define POLL_NS 2000000 /* busy loops take interrupts this often (see cpu_poll) */

struct shell_cmd {
    const char *name, *usage, *help;
    int min_args, max_args; /* words after the command name */
    void (*run)(struct guest *g, struct cmd_args *a);
};

static struct dirty dirty;
static struct mm_extent dirty_ext[DIRTY_MAX_EXTENTS];
static unsigned dirty_next;
static int dirty_running;
static uint64_t dirty_rate, dirty_t0, dirty_pages0;
static uint64_t base_tick_us; /* a standing tick when console input has no interrupt */

static void cmd_help(struct guest *g, struct cmd_args *a);

static void cmd_cpuhp(struct guest *g, struct cmd_args *a) /* issue 3 (cpuhp.c) */
{
    cpuhp_cmd(g, a->argc, a->argv);
}

static void cmd_cpus(struct guest *g, struct cmd_args *a)
{
    con_printf("cpus online=%u\n", smp_online());
}

static void cmd_smpcheck(struct guest *g, struct cmd_args *a)
{
    unsigned want = smp_online() - 1, got = smp_check(1000000);

    if (got == want)
        con_printf("smpcheck ok answered=%u\n", got);
    else
        con_printf("smpcheck FAILED answered=%u of %u\n", got, want);
}

static void cmd_mem(struct guest *g, struct cmd_args *a)
{
    con_printf("mem total_kib=%lu free_kib=%lu\n", mm_total_kib(&g->mm),
               mm_free_bytes(&g->mm) / 1024);
}

static void cmd_uptime(struct guest *g, struct cmd_args *a)
{
    con_printf("uptime ms=%lu\n", timer_now_ns() / 1000000);
}

static void cmd_echo(struct guest *g, struct cmd_args *a)
{
    con_printf("%s\n", a->rest);
}

static void cmd_info(struct guest *g, struct cmd_args *a)
{
    con_printf("info tsc_khz=%lu tsc_source=\"%s\" cpu_source=\"%s\" acpi_oem=\"%s\" "
               "hw_reduced=%d s5=%d ioapic=0x%x\n",
               timer_tsc_khz(), timer_source(), g->acpi.cpu_source ? g->acpi.cpu_source : "none",
               g->acpi.oem_id, g->acpi.hw_reduced, g->acpi.have_s5, g->acpi.ioapic_addr);
}

static void timer_tick(unsigned vector)
{
    (void)vector;
    lapic_eoi();
}

static void dirty_halt(void)
{
    if (dirty_running && dirty_rate)
        lapic_timer_periodic(VEC_TIMER, base_tick_us);
    dirty_running = 0;
}

static void cmd_dirty(struct guest *g, struct cmd_args *a)
{
    uint64_t mib, rate;

    if (a->argc == 2 && strcmp(a->argv[1], "stop") == 0) {
        dirty_halt();
        con_printf("dirty stopped generations=%lu\n", dirty_generations(&dirty));
        return;
    }
    if (a->argc != 3 || cmd_parse_u64(a->argv[1], &mib) < 0 ||
        cmd_parse_u64(a->argv[2], &rate) < 0) {
        con_printf("error: usage: dirty MIB RATE (MiB, MiB/s, 0 = unlimited) | dirty stop\n");
        return;
    }
    dirty_halt();
    mm_unclaim(&g->mm, dirty_ext, dirty_next);
    dirty_next = 0;
    memset(&dirty, 0, sizeof(dirty));
    uint64_t free_mib = mm_free_bytes(&g->mm) / MIB;
    if (mib == 0 || mib > free_mib) {
        con_printf("error: dirty: MIB must be between 1 and %lu (free memory), got %lu\n",
                   free_mib, mib);
        return;
    }
    if (mm_claim(&g->mm, mib * MIB, dirty_ext, DIRTY_MAX_EXTENTS, &dirty_next) < 0) {
        con_printf("error: dirty: cannot borrow %lu MiB in at most %u extents\n", mib,
                   DIRTY_MAX_EXTENTS);
        return;
    }
    dirty_start(&dirty, dirty_ext, dirty_next);
    dirty_rate = rate;
    dirty_t0 = timer_now_ns();
    dirty_pages0 = 0;
    dirty_running = 1;
    if (rate && (!base_tick_us || base_tick_us > DIRTY_TICK_US))
        lapic_timer_periodic(VEC_TIMER, DIRTY_TICK_US);
    con_printf("dirty started mib=%lu rate=%lu\n", mib, rate);
}

/* One slice of the dirtying workload; returns 1 when it did work (the loop must not idle). */
static int dirty_work(void)
{
    if (!dirty_running)
        return 0;
    if (!dirty_rate) {
        dirty_step(&dirty, DIRTY_CHUNK_PAGES);
        return 1;
    }
    uint64_t now = timer_now_ns(), us = (now - dirty_t0) / 1000;
    uint64_t allowed = dirty_rate * (MIB / 4096) * us / 1000000;
    uint64_t done = dirty.bytes / 4096 - dirty_pages0;
    if (us > 1000000) { /* a new one-second window keeps the products small */
        dirty_t0 = now;
        dirty_pages0 = dirty.bytes / 4096 - (done > allowed ? done - allowed : 0);
    }
    if (done >= allowed)
        return 0;
    uint64_t n = allowed - done;
    dirty_step(&dirty, n < DIRTY_CHUNK_PAGES ? n : DIRTY_CHUNK_PAGES);
    return 1;
}

static void cmd_burn(struct guest *g, struct cmd_args *a)
{
    uint64_t n = 0;

    if (a->argc == 2 && strcmp(a->argv[1], "stop") == 0) {
        uint64_t loops, ms;
        unsigned cpus;
        burn_stop(&loops, &ms, &cpus);
        con_printf("burn stopped cpus=%u ms=%lu mloops=%lu mloops_per_s=%lu\n", cpus, ms,
                   loops / 1000000, ms ? loops / 1000 / ms : 0);
        return;
    }
    if (a->argc == 2 && cmd_parse_u64(a->argv[1], &n) < 0) {
        con_printf("error: usage: burn [CPUS] | burn stop\n");
        return;
    }
    if (burn_running()) {
        con_printf("error: burn is running (burn stop first)\n");
        return;
    }
    con_printf("burn started cpus=%u\n", burn_start(n > 1000 ? 0 : (unsigned)n));
}

static void cmd_verify(struct guest *g, struct cmd_args *a)
{
    struct dirty_fault f;
    int64_t n = dirty_verify(&dirty, &f);

    if (n < 0)
        con_printf("verify FAILED addr=0x%lx expected=0x%lx got=0x%lx\n", f.addr, f.expected,
                   f.got);
    else
        con_printf("verify ok pages=%ld\n", n);
}

static void cmd_poweroff(struct guest *g, struct cmd_args *a)
{
    con_printf("atoll-guest: powering off\n");
    con_printf("error: poweroff: %s\n", power_off());
}

static void cmd_reboot(struct guest *g, struct cmd_args *a)
{
    con_printf("atoll-guest: rebooting\n");
    con_printf("error: reboot: %s\n", power_reboot());
}

static void cmd_panic(struct guest *g, struct cmd_args *a)
{
    panic("%s", a->argc > 1 ? a->rest : "requested by the panic command");
}

static void cmd_fault(struct guest *g, struct cmd_args *a)
{
    const char *kind = a->argc > 1 ? a->argv[1] : "pf";

    if (strcmp(kind, "pf") == 0) {
        (void)*(volatile uint64_t *)(uintptr_t)0x7f0000000000ULL; /* not mapped */
    } else if (strcmp(kind, "gp") == 0) {
        (void)*(volatile uint64_t *)(uintptr_t)0x8000000000000000ULL; /* non-canonical */
    } else if (strcmp(kind, "ud") == 0) {
        __asm__ volatile("ud2");
    } else {
        con_printf("error: usage: fault [pf|gp|ud]\n");
        return;
    }
    con_printf("error: fault %s did not fault\n", kind);
}

static void cmd_triplefault(struct guest *g, struct cmd_args *a)
{
    con_printf("atoll-guest: triple fault requested\n");
    cpu_triple_fault();
}

static const struct shell_cmd commands[] = {
    { "help", "help", "list the commands", 0, 0, cmd_help },
    { "cpus", "cpus", "CPUs online: cpus online=N", 0, 0, cmd_cpus },
    { "smpcheck", "smpcheck", "every AP answers an IPI: smpcheck ok answered=N", 0, 0,
      cmd_smpcheck },
    { "mem", "mem", "RAM from the memory map: mem total_kib=T free_kib=F", 0, 0, cmd_mem },
    { "uptime", "uptime", "time since boot: uptime ms=N", 0, 0, cmd_uptime },
    { "echo", "echo TEXT", "print TEXT", 0, 1000, cmd_echo },
    { "dirty", "dirty MIB RATE | dirty stop",
      "dirty MIB MiB at RATE MiB/s (0 = unlimited) in the background", 1, 2, cmd_dirty },
    { "burn", "burn [CPUS] | burn stop",
      "spin on CPUS vCPUs (default all); stop prints loops per second", 0, 1, cmd_burn },
    { "verify", "verify", "check the memory dirty wrote", 0, 0, cmd_verify },
    { "info", "info", "clock, CPU and ACPI sources", 0, 0, cmd_info },
    { "poweroff", "poweroff", "ACPI S5", 0, 0, cmd_poweroff },
    { "reboot", "reboot", "ACPI reset register, then the keyboard controller", 0, 0, cmd_reboot },
    { "panic", "panic [REASON]", "ATOLL PANIC and pvpanic (port 0x505)", 0, 1000, cmd_panic },
    { "fault", "fault [pf|gp|ud]", "take an unexpected exception (ends in ATOLL PANIC)", 0, 1,
      cmd_fault },
    { "triplefault", "triplefault", "load an empty IDT and fault", 0, 0, cmd_triplefault },
    { "cpuhp", "cpuhp", "ACPI CPU hotplug slots: cpuhp slots=N present=LIST online=N", 0, 0,
      cmd_cpuhp }, /* issue 3 */
    { "blk", "blk [list|write|verify|flush|discard|bench|bad|reset] ...",
      "virtio-blk disks (vblk.h lists the forms and outputs)", 0, 7, vblk_cmd }, /* virtio */
    { "net", "net [list|ip|stats|bad|reset] ...", "virtio-net NICs (netstack.h lists the forms)",
      0, 3, net_cmd }, /* virtio-net */
    { "balloon", "balloon [bad]", "virtio-balloon state (the driver follows the target by "
      "itself); bad: hostile PFNs", 0, 1, vballoon_cmd }, /* balloon: */
    { "vsock", "vsock [info|listen|echo-server|connect|send|sendbulk|recv|close|list] ...",
      "virtio-vsock guest channel (vsock.h lists the forms)", 0, 1000, vsock_cmd }, /* vsock: */
    { "ping", "ping A.B.C.D [COUNT]", "ICMP echo: ping to=A sent=N received=M", 1, 2, ping_cmd },
    { "netsend", "netsend A.B.C.D PORT MB", "send MB MiB of UDP to A:PORT, print the rate", 3, 3,
      netsend_cmd },
    { "netrecv", "netrecv PORT MS", "count UDP to PORT for up to MS ms, print the rate", 2, 2,
      netrecv_cmd },
};

static void cmd_help(struct guest *g, struct cmd_args *a)
{
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        con_printf("  %-28s %s\n", commands[i].usage, commands[i].help);
}

static void run_line(struct guest *g, const char *line, int overflow)
{
    struct cmd_args a;

    if (overflow) {
        con_printf("error: line longer than %d characters\n", CMD_LINE_MAX - 1);
        return;
    }
    if (cmd_split(line, &a) == 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
        const struct shell_cmd *c = &commands[i];
        if (strcmp(a.argv[0], c->name) != 0)
            continue;
        int n = a.truncated ? CMD_MAX_ARGS : a.argc - 1;
        if (n < c->min_args || n > c->max_args) {
            con_printf("error: usage: %s\n", c->usage);
            return;
        }
        c->run(g, &a);
        return;
    }
    con_printf("error: unknown command '%s' (try help)\n", a.argv[0]);
}

static void echo_cb(const char *s, size_t n, void *ctx)
{
    (void)ctx;
    con_write(s, n);
}

void shell_run(struct guest *g, int polled)
{
    struct cmd_editor ed;

    cpu_set_handler(VEC_TIMER, timer_tick);
    if (polled) {
        base_tick_us = 10000;
        lapic_timer_periodic(VEC_TIMER, base_tick_us);
    }
    cmd_editor_init(&ed, echo_cb, NULL);
    cpuhp_init(g); /* issue 3: ACPI CPU hotplug (takes over the SCI vector, chains power.c) */
    con_puts("atoll> ");
    uint64_t next_poll = 0;
    for (;;) {
        int c;
        while ((c = con_getc()) >= 0) {
            if (cmd_editor_feed(&ed, (char)c)) {
                run_line(g, ed.line, ed.overflow);
                cmd_editor_reset(&ed);
                con_puts("atoll> ");
            }
        }
        cpuhp_poll(g); /* issue 3 */
        if (power_button_pressed()) {
            con_printf("\natoll-guest: power button pressed\n");
            cmd_poweroff(g, NULL);
            con_puts("atoll> ");
        }
        if (dirty_work() | burn_step() | vballoon_poll(g) | vsock_poll(g)) { /* balloon: vsock: */
            uint64_t now = timer_now_ns();
            if (now >= next_poll) {
                cpu_poll();
                next_poll = now + POLL_NS;
            }
            continue;
        }
        net_service(); /* virtio-net: answer ARP and pings, report link changes */
        cpu_idle();
    }
}

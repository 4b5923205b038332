/*
 * tests/guest/burn.c - CPU burn (see burn.h). The APs never take interrupts while they spin
 * at CPL 3 on PVM, so they stop on a shared flag, not an IPI. Counts are per CPU and summed
 * at stop. Threads: command loop (start/stop/step), APs (burn_ap).
 */
#include "burn.h"

#include "arch.h"
#include "cpu.h"
#include "smp.h"
#include "timer.h"

#define SLICE 2000000 /* iterations between looks at the stop flag */

static volatile int stop;
static volatile uint64_t count[GUEST_MAX_CPUS];
static volatile unsigned running_aps;
static int running, bsp_part;
static unsigned ncpus;
static uint64_t t0;

static uint64_t spin(uint64_t n)
{
    uint64_t x = 0;
    for (uint64_t i = 0; i < n; i++)
        __asm__ volatile("" : "+r"(x) : "r"(i));
    return n;
}

static void burn_ap(void *arg)
{
    unsigned idx = this_cpu()->idx;
    (void)arg;
    while (!stop)
        count[idx] += spin(SLICE);
    __atomic_sub_fetch(&running_aps, 1, __ATOMIC_SEQ_CST);
}

unsigned burn_start(unsigned cpus)
{
    unsigned online = smp_online();

    if (running)
        return ncpus;
    if (cpus == 0 || cpus > online)
        cpus = online;
    stop = 0;
    for (unsigned i = 0; i < GUEST_MAX_CPUS; i++)
        count[i] = 0;
    running_aps = 0;
    ncpus = 0;
    /* APs first; the boot CPU takes part only when every CPU is asked for */
    for (unsigned i = 1; i < smp_count() && ncpus < cpus - (cpus == online); i++) {
        __atomic_add_fetch(&running_aps, 1, __ATOMIC_SEQ_CST);
        if (smp_call(i, burn_ap, NULL) == 0)
            ncpus++;
        else
            __atomic_sub_fetch(&running_aps, 1, __ATOMIC_SEQ_CST);
    }
    bsp_part = cpus == online || ncpus < cpus;
    if (bsp_part)
        ncpus++;
    running = 1;
    t0 = timer_now_ns();
    return ncpus;
}

int burn_step(void)
{
    if (!running || !bsp_part)
        return 0;
    count[0] += spin(SLICE);
    return 1;
}

int burn_running(void)
{
    return running;
}

void burn_stop(uint64_t *loops, uint64_t *ms, unsigned *cpus)
{
    uint64_t total = 0;

    stop = 1;
    uint64_t d = timer_deadline_us(1000000);
    while (running_aps && !timer_passed(d))
        cpu_relax();
    uint64_t t1 = timer_now_ns();
    for (unsigned i = 0; i < GUEST_MAX_CPUS; i++)
        total += count[i];
    *loops = total;
    *ms = running ? (t1 - t0) / 1000000 : 0;
    *cpus = running ? ncpus : 0;
    running = 0;
}

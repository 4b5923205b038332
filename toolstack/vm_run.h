/*
 * toolstack/vm_run.h - running one VM's VMM: launch from the VM record (kernel,
 * ramdisk, args, memory, vCPUs, pinning), adoption of a VMM that outlived an
 * atolld restart, the watcher thread that learns of every VMM exit through the
 * control socket (and acts on exits nobody asked for: guest poweroff, reboot,
 * crash, following actions_after_*), clean requests to the guest and hard stops.
 * Threads: worker threads call these while holding the VM's operation guard
 * (vm_state.h); one detached watcher thread per VMM.
 * Trust: VM records are validated here (paths, sizes, masks) before use.
 */
#ifndef TS_VM_RUN_H
#define TS_VM_RUN_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/value.h"
#include "vm_state.h"

/* Memory and vCPUs a start would give, validated (MEMORY_CONSTRAINT_VIOLATION, ...). 0 or -1. */
int ts_vm_run_sizing(const char *ref, struct atoll_value *rec, uint64_t *memory,
                     unsigned *vcpus, struct atoll_err *err);

/*
 * Starts a VMM for rec into rt (guard held, rt->pid == 0): validates the boot
 * fields, spawns (RAM = memory_static_max, --max-vcpus VCPUs_max), waits for the
 * control socket, pauses it when asked, sets the balloon to memory (the target),
 * applies the VCPUs_params mask and weight/cap, starts the watcher. Fills rt->pid,
 * memory, vcpus, start_time. On failure nothing is left running. 0 or -1.
 */
int ts_vm_run_launch(struct ts_vm_rt *rt, struct atoll_value *rec, uint64_t memory,
                     unsigned vcpus, int paused, struct atoll_err *err);

/*
 * Adopts the VMM of rt (uuid, dir set) if one is alive and answers on its
 * control socket: fills pid, memory, vcpus, start_time, starts the watcher and
 * writes its state ("running"/"paused") into state. 1 adopted, 0 none alive.
 */
int ts_vm_run_adopt(struct ts_vm_rt *rt, char *state, size_t len);

/* Pins every started vCPU thread of rt's VMM to the CPU list mask ("0,2-3"); logged. */
void ts_vm_run_apply_mask(struct ts_vm_rt *rt, const char *mask);

/*
 * Sets the VMM's balloon target (bytes the guest may use) and rt->memory. 0, or -1 with
 * INTERNAL_ERROR carrying the VMM's words (err may be NULL).
 */
int ts_vm_run_balloon(struct ts_vm_rt *rt, uint64_t target, struct atoll_err *err);

/* Pause or resume through the control socket. 0 or -1 (INTERNAL_ERROR with the VMM's words). */
int ts_vm_run_command(struct ts_vm_rt *rt, const char *cmd, struct atoll_err *err);

/*
 * Asks the guest to power off (reboot=0) or reboot (1): the VMM's own command
 * when it advertises one, else the guest's serial-console command
 * (other_config:atoll-console-poweroff / atoll-console-reboot, default
 * "poweroff" / "reboot", the test guest's shell). Then waits for the VMM to
 * exit up to the shutdown timeout: VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT if not.
 * Caller set rt->expect_exit. 0 or -1.
 */
int ts_vm_run_clean(struct ts_vm_rt *rt, struct atoll_value *rec, int reboot,
                    struct atoll_err *err);

/* Ends the VMM for sure ("destroy", then SIGKILL); caller set rt->expect_exit; rt->pid = 0. */
void ts_vm_run_destroy(struct ts_vm_rt *rt);

/* Waits (guard held) until the watcher saw the VMM exit: 1, or 0 after timeout_ms. */
int ts_vm_run_wait_exit(struct ts_vm_rt *rt, int timeout_ms);

/* atolld is stopping: detach every watcher (VMMs keep running), bounded wait. */
void ts_vm_run_detach_all(void);

#endif

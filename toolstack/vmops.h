/*
 * toolstack/vmops.h - VM operations on this host, as one unit atolld starts:
 * the hand-written VM messages, the /console side handler, this host's
 * objects, reconciliation with the VMMs alive, and their watchers.
 * Threads: init/start/stop on the main thread; the rest see vm_*.h.
 *
 * USE FROM atolld.c (in this order):
 *   ts_vmops_init(db, &cfg, err)   after the store and ts_dm_db are open and BEFORE
 *                                  ts_dm_generic_register (so VM.create/destroy here win)
 *                                  and before ts_rpc_start;
 *   ts_vmops_start(err)            after ts_rpc_start, before the loop serves calls;
 *   ts_vmops_stop()                at shutdown, before the db is closed: VMMs keep running.
 *
 * ON DISK: <state_dir>/vms/<VM uuid>/{control.sock,console.sock,console.log,vmm.log} (under
 * /run/atoll/vms-<hash>/ when the state dir is too long for socket paths); the VMM runs in its
 * own session, so atolld can restart and adopt it; domid = the VMM's pid.
 * PER-VM KNOBS (VM.other_config): atoll-shutdown-timeout (seconds a clean shutdown/reboot may
 * take, default 60), atoll-console-poweroff / atoll-console-reboot (what is typed on the
 * serial console when the VMM has no ACPI shutdown/reboot command, default "poweroff" /
 * "reboot", the test guest's shell). Exits nobody asked for follow actions_after_shutdown,
 * actions_after_reboot and actions_after_crash (restart at most 3 crashes a minute).
 * VCPUs_params: mask pins the vCPU threads; weight/cap go to a per-VM CPU cgroup (vm_cgroup.h).
 * MEMORY: the VMM gets memory_static_max of RAM, the balloon holds the guest at
 * memory_dynamic_max (set_memory_dynamic_range moves it live); VCPUs: --max-vcpus VCPUs_max,
 * so set_VCPUs_number_live can hot-add up to it.
 * CONSOLE: GET|CONNECT /console?ref=<VM or console ref>|uuid=...&session_id=... streams it
 * (raw after the headers for HTTP/1.0, chunked for 1.1); POST the same URL to type (vm_console.c).
 */
#ifndef TS_VMOPS_H
#define TS_VMOPS_H

#include "atoll/err.h"
#include "dm_db.h"

struct ts_vmops_config {
    const char *state_dir;        /* VM runtime dirs go to <state_dir>/vms/<uuid>/ */
    const char *vmm_path;         /* NULL: $ATOLL_VMM, the build tree's, or the installed one */
    int shutdown_timeout_s;       /* clean shutdown/reboot acknowledgement bound; 0: 60 */
};

/* Registers methods and /console; db stays owned by the caller. 0 or -1 with err. */
int ts_vmops_init(struct ts_dm_db *db, const struct ts_vmops_config *cfg, struct atoll_err *err);
/* Host objects (first start), reconciliation. 0 or -1 with err. */
int ts_vmops_start(struct atoll_err *err);
/* Detaches from the VMMs (they keep running; the next start adopts them). */
void ts_vmops_stop(void);

/* The atoll-vmm binary in use (after init), for logs and --help. */
const char *ts_vmops_vmm_path(void);

#endif

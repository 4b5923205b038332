/*
 * toolstack/vm_state.h - what VM operations share: the context (database,
 * VMM binary, state directory, this host), the in-memory table of VMs that
 * have a VMM or an operation in progress, the per-VM operation guard, and the
 * one function that writes a VM's power state with everything derived from it
 * (resident_on, domid, allowed/current_operations, VM_metrics) atomically.
 * Threads: any worker thread; the table has one mutex (ts_vm_state_lock).
 * Trust: refs reaching here were validated by the RPC handlers.
 */
#ifndef TS_VM_STATE_H
#define TS_VM_STATE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "dm.h"
#include "dm_db.h"

struct ts_vm_ctx {
    struct ts_dm_db *db;
    char *vmm_path;              /* atoll-vmm binary */
    char *vmm_ld_path;           /* its LD_LIBRARY_PATH when it is the build tree's real binary */
    char *run_dir;               /* <state-dir>/vms: one directory per VM uuid */
    char *state_dir;
    char host_ref[ATOLL_REF_STRLEN + 1];
    char host_uuid[ATOLL_UUID_STRLEN + 1];
    int shutdown_timeout_s;      /* clean_shutdown / clean_reboot acknowledgement bound */
    const struct ts_dm_class *vm, *vm_metrics, *host, *host_metrics;
};
/* The one context (filled by vmops.c before anything else runs). */
extern struct ts_vm_ctx ts_vm_ctx;

/* One VM with a VMM (running, paused) or an operation in progress. */
struct ts_vm_rt {
    struct ts_vm_rt *next;
    char ref[ATOLL_REF_STRLEN + 1];
    char uuid[ATOLL_UUID_STRLEN + 1];
    char *dir;                   /* <run_dir>/<uuid> */
    pid_t pid;                   /* VMM pid (domid), 0 when none */
    int child;                   /* spawned by this atolld (reaped with waitpid) */
    uint64_t memory;             /* bytes given to the guest */
    unsigned vcpus;
    int64_t start_time;          /* epoch seconds of the current VMM start */
    int ctl_fd;                  /* the watcher's control connection, -1 when none */
    int watching;                /* watcher thread alive */
    int exited;                  /* the VMM ended; status/reason valid */
    int status;                  /* exit status, -1 unknown (killed) */
    char reason[160];
    int op_active;               /* an operation holds this VM */
    int op_unpublished;          /* ...not yet in current_operations (op_begin_ex defer) */
    char op[32];                 /* its name ("start") */
    char op_ref[ATOLL_REF_STRLEN + 1];
    int expect_exit;             /* the operation itself handles the next exit */
    int detach;                  /* atolld is stopping: watcher leaves without acting */
    char console_ref[ATOLL_REF_STRLEN + 1];   /* its console object (vt100), "" if none */
    char console_uuid[ATOLL_UUID_STRLEN + 1];
    unsigned crashes;            /* crash restarts in the current window */
    int64_t crash_window;        /* start of that window (epoch seconds) */
};

extern pthread_mutex_t ts_vm_state_lock;
extern pthread_cond_t ts_vm_state_cond;

/* The database record of VM ref into *rec (HANDLE_INVALID when there is none). 0 or -1. */
int ts_vm_state_get_record(const char *ref, struct atoll_value **rec, struct atoll_err *err);
/* With the lock held: the entry of ref or NULL / the entry, created if absent. */
struct ts_vm_rt *ts_vm_state_find(const char *ref);
struct ts_vm_rt *ts_vm_state_get(const char *ref, const char *uuid);
/* With the lock held: drops the entry when it has neither VMM nor operation nor watcher. */
void ts_vm_state_release(struct ts_vm_rt *rt);
/* Visits every entry under the lock (fn must not block). */
void ts_vm_state_foreach(void (*fn)(struct ts_vm_rt *rt, void *arg), void *arg);

/*
 * Operation guard. begin: takes the VM for op (OTHER_OPERATION_IN_PROGRESS
 * [VM, ref, op, op_ref] if another holds it), records current_operations in the
 * database and returns the entry in *rt and the VM record in *rec (owned).
 * end: releases it (the caller recorded the final state already).
 */
int ts_vm_state_op_begin(const char *ref, const char *op, const char *task_ref,
                         struct ts_vm_rt **rt, struct atoll_value **rec, struct atoll_err *err);
void ts_vm_state_op_end(struct ts_vm_rt *rt);
/*
 * Same with defer=1: the guard is taken but current_operations is written only by
 * ts_vm_state_op_publish (VM.start calls it right after spawning the VMM, so that the
 * database commit overlaps the guest's boot instead of delaying it).
 */
int ts_vm_state_op_begin_ex(const char *ref, const char *op, const char *task_ref, int defer,
                            struct ts_vm_rt **rt, struct atoll_value **rec, struct atoll_err *err);
void ts_vm_state_op_publish(struct ts_vm_rt *rt);

/*
 * Writes in one transaction: power_state (NULL: unchanged), resident_on and
 * domid from rt (NULL or pid 0: not resident, domid -1), allowed_operations
 * for the state, current_operations ({op_ref: op} when op is set, else empty)
 * and the VM_metrics object (created when missing). 0 or -1.
 */
int ts_vm_state_record(const char *ref, const char *power_state, const struct ts_vm_rt *rt,
                       const char *op, const char *op_ref, struct atoll_err *err);

/*
 * Makes sure the VM has its vt100 console object (location
 * https://<host address>/console?uuid=<console uuid>, served by vm_console.c) and
 * remembers its ref and uuid in rt, so /console can be asked by console or VM.
 */
void ts_vm_state_ensure_console(struct ts_vm_rt *rt);

/*
 * allowed_operations for a power state ("Halted", ...) and a VM record (may be NULL):
 * templates never start; clone/copy/snapshot only without VBDs and VIFs. New array.
 */
struct atoll_value *ts_vm_state_allowed_ops(const char *power_state, struct atoll_value *rec);

/* Lower-case power state for VM_BAD_POWER_STATE ("running"). */
const char *ts_vm_state_lower(const char *power_state);
/* Fills VM_BAD_POWER_STATE [ref, expected, lower(actual)]; returns -1. */
int ts_vm_state_bad_power(const char *ref, const char *expected, const char *actual,
                          struct atoll_err *err);

/*
 * Memory this host can still give to a new VM, in bytes: MemAvailable, bounded
 * by MemTotal minus what running VMs were given and what starting ones reserved.
 */
uint64_t ts_vm_state_free_memory(void);
/* MemTotal and MemAvailable of /proc/meminfo in bytes (0 when unreadable). */
void ts_vm_state_meminfo(uint64_t *total, uint64_t *available);
/* Reserves bytes for a start (HOST_NOT_ENOUGH_FREE_MEMORY [needed, available]); release undoes. */
int ts_vm_state_reserve(uint64_t bytes, struct atoll_err *err);
void ts_vm_state_unreserve(uint64_t bytes);
/* Writes host_metrics (memory_total, memory_free if the datamodel has it, live, last_updated). */
void ts_vm_state_update_host_metrics(void);

#endif

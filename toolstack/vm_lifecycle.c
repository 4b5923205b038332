/*
 * toolstack/vm_lifecycle.c - the hand-written VM messages: create, destroy,
 * start/start_on, pause/unpause, clean/hard shutdown, shutdown, clean/hard
 * reboot, suspend/resume (refused: no save/restore in atoll-vmm yet),
 * power_state_reset, send_trigger ("power"), assert_operation_valid,
 * update_allowed_operations, and host.compute_free_memory. Each runs check -> reserve
 * -> act -> record under the VM's operation guard (vm_state.h) and leaves the database
 * true.
 * Threads: RPC worker threads (Async.* through the dispatcher's task pool).
 * Trust: parameters are client data: refs are checked against the database.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_lifecycle.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "rpc.h"
#include "vm_run.h"
#include "vm_state.h"

static const char *power(struct atoll_value *rec)
{
    const char *s = atoll_value_struct_get_string(rec, "power_state");
    return s ? s : "Halted";
}

/* 0 if the power state is one of the '|'-free list "Running;Paused", else VM_BAD_POWER_STATE */
static int require(const char *ref, struct atoll_value *rec, const char *states,
                   struct atoll_err *err)
{
    const char *ps = power(rec);
    char buf[64], expected[64] = "";
    snprintf(buf, sizeof(buf), "%s", states);
    int match = 0;
    for (char *save = NULL, *p = buf, *tok; (tok = strtok_r(p, ";", &save)); p = NULL) {
        if (strcmp(tok, ps) == 0)
            match = 1;
        size_t n = strlen(expected);
        snprintf(expected + n, sizeof(expected) - n, "%s%s", n ? ";" : "",
                 ts_vm_state_lower(tok));
    }
    if (match)
        return 0;
    return ts_vm_state_bad_power(ref, expected, ps, err);
}

static int blocked(const char *ref, struct atoll_value *rec, const char *op,
                   struct atoll_err *err)
{
    struct atoll_value *b = atoll_value_struct_get(rec, "blocked_operations");
    const char *code = b ? atoll_value_struct_get_string(b, op) : NULL;
    if (!code)
        return 0;
    ATOLL_ERR(err, ATOLL_E_OPERATION_BLOCKED, ref, code);
    return -1;
}

/* Records the outcome (ps NULL: unchanged), ends the guard; returns rc. */
static int finish(struct ts_vm_rt *rt, const char *ps, int rc, struct atoll_err *err)
{
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(rt->ref, ps, rt->pid > 0 ? rt : NULL, NULL, NULL, &e2) < 0) {
        log_error("VM %s: cannot record the operation's result: %s", rt->uuid,
                  atoll_err_code_name(e2.code));
        if (rc == 0) {
            atoll_err_move(err, &e2);
            rc = -1;
        }
    }
    atoll_err_clear(&e2);
    if (ps)
        ts_vm_state_update_host_metrics();
    ts_vm_state_op_end(rt);
    return rc;
}

static void set_expect_exit(struct ts_vm_rt *rt, int on)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->expect_exit = on; /* exited stays: a VMM that already ended is not alive again */
    if (on) /* a watcher waiting for this operation to end learns that it handles the exit */
        pthread_cond_broadcast(&ts_vm_state_cond);
    pthread_mutex_unlock(&ts_vm_state_lock);
}

/* Starts a VMM for rec (guard held, no VMM): sizing, memory reservation, launch. */
static int boot(struct ts_vm_rt *rt, struct atoll_value *rec, int paused, struct atoll_err *err)
{
    uint64_t memory;
    unsigned vcpus;
    if (ts_vm_run_sizing(rt->ref, rec, &memory, &vcpus, err) < 0 ||
        ts_vm_state_reserve(memory, err) < 0)
        return -1;
    int r = ts_vm_run_launch(rt, rec, memory, vcpus, paused, err);
    ts_vm_state_unreserve(memory); /* from now on the running VMM's size counts */
    return r;
}

/* ---- handlers ---- */

static int get_vm(struct atoll_value *const *params, const char **ref, struct atoll_err *err)
{
    return ts_rpc_param_ref(params, 0, "VM", ref, err);
}

/*
 * The prelude of a guarded operation op on the VM of params[0]: the guard taken,
 * the power state one of states (NULL: any), op not blocked. 0 with *rt held
 * (end it with finish), or -1 with the guard already released.
 */
static int op_prelude(struct ts_call *call, struct atoll_value *const *params, const char *op,
                      const char *states, const char **ref, struct ts_vm_rt **rt,
                      struct atoll_value **rec, struct atoll_err *err)
{
    if (get_vm(params, ref, err) < 0 ||
        ts_vm_state_op_begin(*ref, op, call->task_ref, rt, rec, err) < 0)
        return -1;
    if ((states && require(*ref, *rec, states, err) < 0) || blocked(*ref, *rec, op, err) < 0)
        return finish(*rt, NULL, -1, err);
    return 0;
}

static int do_start(struct ts_call *call, const char *ref, int paused, struct atoll_err *err)
{
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin_ex(ref, "start", call->task_ref, 1, &rt, &rec, err) < 0)
        return -1;
    struct atoll_value *tmpl = atoll_value_struct_get(rec, "is_a_template");
    if (tmpl && atoll_value_get_bool(tmpl)) {
        ATOLL_ERR(err, ATOLL_E_VM_IS_TEMPLATE, ref);
        return finish(rt, NULL, -1, err);
    }
    if (require(ref, rec, "Halted", err) < 0 || blocked(ref, rec, "start", err) < 0 ||
        boot(rt, rec, paused, err) < 0)
        return finish(rt, NULL, -1, err);
    log_info("VM %s started%s by %s (VMM pid %d)", rt->uuid, paused ? " paused" : "",
             call->user ? call->user : "?", (int)rt->pid);
    return finish(rt, paused ? "Paused" : "Running", 0, err);
}

static int h_start(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                   struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    int paused, force;
    if (get_vm(params, &ref, err) < 0 ||
        ts_rpc_param_bool(params, 1, "start_paused", &paused, err) < 0 ||
        ts_rpc_param_bool(params, 2, "force", &force, err) < 0)
        return -1;
    return do_start(call, ref, paused, err);
}

static int check_host(struct atoll_value *const *params, unsigned i, struct atoll_err *err)
{
    const char *host;
    if (ts_rpc_param_ref(params, i, "host", &host, err) < 0)
        return -1;
    if (strcmp(host, ts_vm_ctx.host_ref) != 0) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "host", host);
        return -1;
    }
    return 0;
}

static int h_start_on(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                      struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    int paused, force;
    if (get_vm(params, &ref, err) < 0 || check_host(params, 1, err) < 0 ||
        ts_rpc_param_bool(params, 2, "start_paused", &paused, err) < 0 ||
        ts_rpc_param_bool(params, 3, "force", &force, err) < 0)
        return -1;
    return do_start(call, ref, paused, err);
}

static int pause_resume(struct ts_call *call, struct atoll_value *const *params, int pause,
                        struct atoll_err *err)
{
    const char *ref;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    const char *op = pause ? "pause" : "unpause";
    if (op_prelude(call, params, op, pause ? "Running" : "Paused", &ref, &rt, &rec, err) < 0)
        return -1;
    if (ts_vm_run_command(rt, pause ? "pause" : "resume", err) < 0)
        return finish(rt, NULL, -1, err);
    return finish(rt, pause ? "Paused" : "Running", 0, err);
}

static int h_pause(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                   struct atoll_value **result, struct atoll_err *err)
{
    return pause_resume(call, params, 1, err);
}

static int h_unpause(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    return pause_resume(call, params, 0, err);
}

enum stop_kind { STOP_CLEAN, STOP_HARD, STOP_EITHER, STOP_RESET };

static int do_stop(struct ts_call *call, struct atoll_value *const *params, enum stop_kind k,
                   struct atoll_err *err)
{
    static const char *const names[] = {"clean_shutdown", "hard_shutdown", "shutdown",
                                        "power_state_reset"};
    static const char *const states[] = {"Running", "Running;Paused;Suspended",
                                         "Running;Paused;Suspended", NULL};
    const char *ref;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (op_prelude(call, params, names[k], states[k], &ref, &rt, &rec, err) < 0)
        return -1;
    set_expect_exit(rt, 1);
    int clean = k == STOP_CLEAN || (k == STOP_EITHER && strcmp(power(rec), "Running") == 0);
    if (clean && rt->pid > 0 && ts_vm_run_clean(rt, rec, 0, err) < 0 && !rt->exited) {
        if (k == STOP_CLEAN) {
            set_expect_exit(rt, 0);
            return finish(rt, NULL, -1, err);
        }
        log_info("VM %s: clean shutdown failed (%s): hard shutdown", rt->uuid,
                 atoll_err_code_name(err->code));
        atoll_err_clear(err);
    }
    atoll_err_clear(err);
    ts_vm_run_destroy(rt); /* no-op when the guest already powered off */
    log_info("VM %s: %s by %s", rt->uuid, names[k], call->user ? call->user : "?");
    return finish(rt, "Halted", 0, err);
}

static int h_clean_shutdown(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    return do_stop(call, params, STOP_CLEAN, err);
}

static int h_hard_shutdown(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                           struct atoll_value **result, struct atoll_err *err)
{
    return do_stop(call, params, STOP_HARD, err);
}

static int h_shutdown(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                      struct atoll_value **result, struct atoll_err *err)
{
    return do_stop(call, params, STOP_EITHER, err);
}

static int h_power_state_reset(struct ts_call *call, struct atoll_value *const *params,
                               unsigned n, struct atoll_value **result, struct atoll_err *err)
{
    return do_stop(call, params, STOP_RESET, err);
}

static int do_reboot(struct ts_call *call, struct atoll_value *const *params, int hard,
                     struct atoll_err *err)
{
    const char *ref;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    const char *op = hard ? "hard_reboot" : "clean_reboot";
    if (op_prelude(call, params, op, hard ? "Running;Paused" : "Running", &ref, &rt, &rec, err) < 0)
        return -1;
    int paused = strcmp(power(rec), "Paused") == 0;
    set_expect_exit(rt, 1);
    if (!hard && ts_vm_run_clean(rt, rec, 1, err) < 0 && !rt->exited) {
        set_expect_exit(rt, 0);
        return finish(rt, NULL, -1, err);
    }
    atoll_err_clear(err);
    ts_vm_run_destroy(rt); /* hard reboot; after a clean one only reaps */
    set_expect_exit(rt, 0);
    if (boot(rt, rec, paused, err) < 0) {
        log_warn("VM %s: %s could not start it again: now Halted", rt->uuid, op);
        return finish(rt, "Halted", -1, err);
    }
    log_info("VM %s: %s by %s (new VMM pid %d)", rt->uuid, op, call->user ? call->user : "?",
             (int)rt->pid);
    return finish(rt, paused ? "Paused" : "Running", 0, err);
}

static int h_clean_reboot(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                          struct atoll_value **result, struct atoll_err *err)
{
    return do_reboot(call, params, 0, err);
}

static int h_hard_reboot(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    return do_reboot(call, params, 1, err);
}

/* suspend/resume: atoll-vmm cannot save or restore a machine yet */
static int h_suspend(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_vm(params, &ref, err) < 0)
        return -1;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    if (require(ref, rec, "Running", err) < 0)
        return -1;
    ATOLL_ERR(err, ATOLL_E_VM_LACKS_FEATURE, ref);
    atoll_err_detail(err, "suspend needs save/restore, which atoll-vmm does not offer yet");
    return -1;
}

static int h_resume(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_vm(params, &ref, err) < 0)
        return -1;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    if (require(ref, rec, "Suspended", err) < 0)
        return -1;
    ATOLL_ERR(err, ATOLL_E_VM_LACKS_FEATURE, ref);
    return -1;
}

/* An int field of a client record (int or decimal string); def when absent or malformed. */
static int64_t arg_int(struct atoll_value *rec, const char *name, int64_t def)
{
    struct atoll_value *v = rec ? atoll_value_struct_get(rec, name) : NULL;
    int64_t i;
    if (v && atoll_value_type(v) == ATOLL_VALUE_INT)
        return atoll_value_get_int(v);
    if (v && atoll_value_type(v) == ATOLL_VALUE_STRING &&
        atoll_parse_i64(atoll_value_get_string(v), 10, &i) == 0)
        return i;
    return def;
}

/* XAPI validates a new VM's memory and vCPU numbers at create time */
static int validate_new(struct atoll_value *rec, struct atoll_err *err)
{
    if (!rec || atoll_value_type(rec) != ATOLL_VALUE_STRUCT)
        return 0; /* the generic create reports the type error */
    int64_t smin = arg_int(rec, "memory_static_min", 0);
    int64_t smax = arg_int(rec, "memory_static_max", 0);
    int64_t dmin = arg_int(rec, "memory_dynamic_min", 0);
    int64_t dmax = arg_int(rec, "memory_dynamic_max", 0);
    if (smin < 0 || !(smin <= dmin && dmin <= dmax && dmax <= smax)) {
        ATOLL_ERR(err, ATOLL_E_MEMORY_CONSTRAINT_VIOLATION,
                  "static_min <= dynamic_min <= dynamic_max <= static_max");
        return -1;
    }
    int64_t vmax = arg_int(rec, "VCPUs_max", 1), vstart = arg_int(rec, "VCPUs_at_startup", 1);
    if (vmax < 1 || vstart < 1 || vstart > vmax) {
        char v[32];
        snprintf(v, sizeof(v), "%lld", (long long)(vmax < 1 ? vmax : vstart));
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, vmax < 1 ? "VCPUs_max" : "VCPUs_at_startup", v);
        return -1;
    }
    return 0;
}

/* send_trigger(vm, trigger): "power" presses the ACPI power button; the rest need
 * hardware atoll-vmm does not emulate (VALUE_NOT_SUPPORTED) */
static int h_send_trigger(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                          struct atoll_value **result, struct atoll_err *err)
{
    const char *ref, *trigger;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_vm(params, &ref, err) < 0 ||
        ts_rpc_param_string(params, 1, "trigger", &trigger, err) < 0)
        return -1;
    if (strcmp(trigger, "power") != 0) {
        ATOLL_ERR(err, ATOLL_E_VALUE_NOT_SUPPORTED, "trigger", trigger,
                  "atoll-vmm supports the 'power' trigger only");
        return -1;
    }
    if (ts_vm_state_op_begin(ref, "send_trigger", call->task_ref, &rt, &rec, err) < 0)
        return -1;
    int rc = require(ref, rec, "Running", err) < 0 ? -1 : ts_vm_run_command(rt, "shutdown", err);
    return finish(rt, NULL, rc, err);
}

static int h_create(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    char ref[ATOLL_REF_STRLEN + 1];
    if (validate_new(params[0], err) < 0 ||
        ts_dm_generic_create(ts_vm_ctx.db, ts_vm_ctx.vm, params[0], ref, err) < 0)
        return -1;
    /* XAPI: a new VM is Halted whatever the record said, with its VM_metrics object (one
     * transaction: vm_state.c also turns an unspecified domain type into this host's, PVH) */
    if (ts_vm_state_record(ref, "Halted", NULL, NULL, NULL, err) < 0)
        return -1;
    *result = atoll_value_string(ref);
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            ATOLL_AUTOFREE char *p = atoll_strdup_printf("%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

static int h_destroy(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (op_prelude(call, params, "destroy", "Halted;Suspended", &ref, &rt, &rec, err) < 0)
        return -1;
    const char *mref = atoll_value_struct_get_string(rec, "metrics");
    if (mref && strcmp(mref, ATOLL_REF_NULL) != 0) {
        struct atoll_err e2 = ATOLL_ERR_INIT;
        if (ts_dm_generic_remove(ts_vm_ctx.db, ts_vm_ctx.vm_metrics, mref, &e2) < 0)
            atoll_err_clear(&e2); /* already gone */
    }
    /* its consoles go with it (XAPI); disks stay, as XAPI leaves VDIs to the client */
    struct atoll_value *cons = atoll_value_struct_get(rec, "consoles");
    const struct ts_dm_class *cc = ts_dm_class_find("console");
    for (size_t i = 0; cc && cons && i < atoll_value_array_len(cons); i++) {
        const char *c = atoll_value_get_string(atoll_value_array_get(cons, i));
        struct atoll_err e2 = ATOLL_ERR_INIT;
        if (c && ts_dm_generic_remove(ts_vm_ctx.db, cc, c, &e2) < 0)
            atoll_err_clear(&e2);
    }
    if (ts_dm_generic_remove(ts_vm_ctx.db, ts_vm_ctx.vm, ref, err) < 0)
        return finish(rt, NULL, -1, err);
    remove_dir(rt->dir);
    ts_vm_state_op_end(rt);
    return 0;
}

/* assert_operation_valid(vm, op): OPERATION_NOT_ALLOWED unless op is allowed now */
static int h_assert_operation_valid(struct ts_call *call, struct atoll_value *const *params,
                                    unsigned n, struct atoll_value **result,
                                    struct atoll_err *err)
{
    const char *ref, *op;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_vm(params, &ref, err) < 0 || ts_rpc_param_string(params, 1, "op", &op, err) < 0)
        return -1;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    struct atoll_value *allowed = atoll_value_struct_get(rec, "allowed_operations");
    for (size_t i = 0; allowed && i < atoll_value_array_len(allowed); i++) {
        const char *s = atoll_value_get_string(atoll_value_array_get(allowed, i));
        if (s && strcmp(s, op) == 0)
            return 0;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "operation '%.40s' is not allowed on a %s VM", op,
             ts_vm_state_lower(power(rec)));
    ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, msg);
    return -1;
}

static int h_update_allowed_operations(struct ts_call *call, struct atoll_value *const *params,
                                       unsigned n, struct atoll_value **result,
                                       struct atoll_err *err)
{
    const char *ref;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_vm(params, &ref, err) < 0 ||
        ts_vm_state_op_begin(ref, "update_allowed_operations", call->task_ref, &rt, &rec,
                             err) < 0)
        return -1;
    return finish(rt, NULL, 0, err);
}

static int h_compute_free_memory(struct ts_call *call, struct atoll_value *const *params,
                                 unsigned n, struct atoll_value **result, struct atoll_err *err)
{
    if (check_host(params, 0, err) < 0)
        return -1;
    *result = atoll_value_int((int64_t)ts_vm_state_free_memory());
    return 0;
}

static int h_assert_can_boot_here(struct ts_call *call, struct atoll_value *const *params,
                                  unsigned n, struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    uint64_t memory;
    unsigned vcpus;
    if (get_vm(params, &ref, err) < 0 || check_host(params, 1, err) < 0)
        return -1;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    if (ts_vm_run_sizing(ref, rec, &memory, &vcpus, err) < 0 ||
        ts_vm_state_reserve(memory, err) < 0)
        return -1;
    ts_vm_state_unreserve(memory);
    return 0;
}

/* ---- registration ---- */

int ts_vm_lifecycle_register(struct atoll_err *err)
{
    const unsigned W = TS_RPC_WRITE;
    const struct ts_rpc_method methods[] = {
        {"VM.create", 2, 2, TS_ROLE_VM_ADMIN, W, h_create, NULL, NULL, "session_id,args"},
        {"VM.destroy", 2, 2, TS_ROLE_VM_ADMIN, W, h_destroy, NULL, NULL, "session_id,self"},
        {"VM.start", 4, 4, TS_ROLE_VM_OPERATOR, W, h_start, NULL, NULL,
         "session_id,vm,start_paused,force"},
        {"VM.start_on", 5, 5, TS_ROLE_VM_POWER_ADMIN, W, h_start_on, NULL, NULL,
         "session_id,vm,host,start_paused,force"},
        {"VM.pause", 2, 2, TS_ROLE_VM_OPERATOR, W, h_pause, NULL, NULL, "session_id,vm"},
        {"VM.unpause", 2, 2, TS_ROLE_VM_OPERATOR, W, h_unpause, NULL, NULL, "session_id,vm"},
        {"VM.clean_shutdown", 2, 2, TS_ROLE_VM_OPERATOR, W, h_clean_shutdown, NULL, NULL,
         "session_id,vm"},
        {"VM.hard_shutdown", 2, 2, TS_ROLE_VM_OPERATOR, W, h_hard_shutdown, NULL, NULL,
         "session_id,vm"},
        {"VM.shutdown", 2, 2, TS_ROLE_VM_OPERATOR, W, h_shutdown, NULL, NULL, "session_id,vm"},
        {"VM.clean_reboot", 2, 2, TS_ROLE_VM_OPERATOR, W, h_clean_reboot, NULL, NULL,
         "session_id,vm"},
        {"VM.hard_reboot", 2, 2, TS_ROLE_VM_OPERATOR, W, h_hard_reboot, NULL, NULL,
         "session_id,vm"},
        {"VM.suspend", 2, 2, TS_ROLE_VM_OPERATOR, W, h_suspend, NULL, NULL, "session_id,vm"},
        {"VM.resume", 4, 4, TS_ROLE_VM_OPERATOR, W, h_resume, NULL, NULL,
         "session_id,vm,start_paused,force"},
        {"VM.power_state_reset", 2, 2, TS_ROLE_VM_ADMIN, W, h_power_state_reset, NULL, NULL,
         "session_id,vm"},
        {"VM.send_trigger", 3, 3, TS_ROLE_VM_POWER_ADMIN, W, h_send_trigger, NULL, NULL,
         "session_id,vm,trigger"},
        {"VM.assert_operation_valid", 3, 3, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC,
         h_assert_operation_valid, NULL, NULL, "session_id,self,op"},
        {"VM.update_allowed_operations", 2, 2, TS_ROLE_VM_OPERATOR, W,
         h_update_allowed_operations, NULL, NULL, "session_id,self"},
        {"VM.assert_can_boot_here", 3, 3, TS_ROLE_READ_ONLY, 0, h_assert_can_boot_here, NULL,
         NULL, "session_id,self,host"},
        {"host.compute_free_memory", 2, 2, TS_ROLE_READ_ONLY, 0, h_compute_free_memory, NULL,
         NULL, "session_id,host"},
    };
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(methods); i++)
        if (ts_rpc_register(&methods[i], err) < 0)
            return -1;
    return 0;
}

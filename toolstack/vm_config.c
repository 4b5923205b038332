/*
 * toolstack/vm_config.c - VM messages that change or query its configuration
 * rather than its power state: set_VCPUs_max/at_startup, set_memory_limits,
 * set_memory_static_range, set_memory (Halted VMs), set_memory_dynamic_range (also
 * Running: the balloon), set_VCPUs_number_live (vCPU hot-add/remove), get_allowed_VBD_devices,
 * get_allowed_VIF_devices, get_possible_hosts, resume_on.
 * Threads: RPC worker threads, under the VM's operation guard for writes.
 * Trust: values are client data, checked against XAPI's constraints.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "rpc.h"
#include "vm_run.h"
#include "vm_state.h"

static int64_t rec_int(struct atoll_value *rec, const char *f)
{
    struct atoll_value *v = atoll_value_struct_get(rec, f);
    return v && atoll_value_type(v) == ATOLL_VALUE_INT ? atoll_value_get_int(v) : 0;
}

/* Takes the guard, requires Halted, writes fields (a struct) after check(); ends the guard. */
typedef int (*check_fn)(const char *ref, struct atoll_value *rec, struct atoll_value *fields,
                        struct atoll_err *err);

static int halted_update(struct ts_call *call, const char *ref, const char *op,
                         struct atoll_value *fields, check_fn check, struct atoll_err *err)
{
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin(ref, op, call->task_ref, &rt, &rec, err) < 0)
        return -1;
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    int rc = 0;
    if (ps && strcmp(ps, "Halted") != 0)
        rc = ts_vm_state_bad_power(ref, "halted", ps, err);
    if (rc == 0 && check)
        rc = check(ref, rec, fields, err);
    if (rc == 0)
        rc = ts_dm_generic_update(ts_vm_ctx.db, ts_vm_ctx.vm, ref, fields, err);
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(ref, NULL, NULL, NULL, NULL, &e2) < 0)
        atoll_err_clear(&e2);
    ts_vm_state_op_end(rt);
    return rc;
}

static int64_t pick(struct atoll_value *rec, struct atoll_value *fields, const char *f)
{
    struct atoll_value *v = atoll_value_struct_get(fields, f);
    return v ? atoll_value_get_int(v) : rec_int(rec, f);
}

static int check_memory(const char *ref, struct atoll_value *rec, struct atoll_value *fields,
                        struct atoll_err *err)
{
    int64_t smin = pick(rec, fields, "memory_static_min");
    int64_t smax = pick(rec, fields, "memory_static_max");
    int64_t dmin = pick(rec, fields, "memory_dynamic_min");
    int64_t dmax = pick(rec, fields, "memory_dynamic_max");
    if (smin < 0 || !(smin <= dmin && dmin <= dmax && dmax <= smax)) {
        ATOLL_ERR(err, ATOLL_E_MEMORY_CONSTRAINT_VIOLATION,
                  "static_min <= dynamic_min <= dynamic_max <= static_max");
        return -1;
    }
    return 0;
}

static int check_vcpus(const char *ref, struct atoll_value *rec, struct atoll_value *fields,
                       struct atoll_err *err)
{
    int64_t max = pick(rec, fields, "VCPUs_max"), start = pick(rec, fields, "VCPUs_at_startup");
    if (max > 254) {
        ATOLL_ERR(err, ATOLL_E_VM_TOO_MANY_VCPUS, ref);
        return -1;
    }
    if (max < 1 || start < 1 || start > max) {
        char v[32];
        const char *f = atoll_value_struct_get(fields, "VCPUs_max") ? "VCPUs_max"
                                                                     : "VCPUs_at_startup";
        snprintf(v, sizeof(v), "%lld", (long long)pick(rec, fields, f));
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, f, v);
        return -1;
    }
    return 0;
}

static int ints(struct atoll_value *const *params, unsigned first, unsigned n,
                const char *const *names, struct atoll_value *fields, struct atoll_err *err)
{
    for (unsigned i = 0; i < n; i++) {
        int64_t v;
        if (ts_rpc_param_int(params, first + i, names[i], &v, err) < 0)
            return -1;
        atoll_value_struct_set_int(fields, names[i], v);
    }
    return 0;
}

#define SETTER(fn, op, check, ...)                                                           \
    static int fn(struct ts_call *call, struct atoll_value *const *params, unsigned n,      \
                  struct atoll_value **result, struct atoll_err *err)                       \
    {                                                                                        \
        static const char *const names[] = {__VA_ARGS__};                                   \
        const char *ref;                                                                     \
        ATOLL_AUTOVALUE f = atoll_value_struct();                                            \
        if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0 ||                              \
            ints(params, 1, ATOLL_ARRAY_SIZE(names), names, f, err) < 0)                     \
            return -1;                                                                       \
        return halted_update(call, ref, op, f, check, err);                                  \
    }

SETTER(h_set_vcpus_max, "changing_VCPUs", check_vcpus, "VCPUs_max")
SETTER(h_set_vcpus_at_startup, "changing_VCPUs", check_vcpus, "VCPUs_at_startup")
SETTER(h_set_memory_limits, "changing_memory_limits", check_memory, "memory_static_min",
       "memory_static_max", "memory_dynamic_min", "memory_dynamic_max")
SETTER(h_set_memory_static_range, "changing_static_range", check_memory, "memory_static_min",
       "memory_static_max")
/*
 * set_memory_dynamic_range(self, min, max): Halted VMs as the other setters; on a Running
 * VM the balloon moves to max (XAPI gives a running guest its dynamic_max when the host
 * has the memory) and the fields follow.
 */
static int h_set_memory_dynamic_range(struct ts_call *call, struct atoll_value *const *params,
                                      unsigned n, struct atoll_value **result,
                                      struct atoll_err *err)
{
    static const char *const names[] = {"memory_dynamic_min", "memory_dynamic_max"};
    const char *ref;
    ATOLL_AUTOVALUE f = atoll_value_struct();
    if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0 ||
        ints(params, 1, 2, names, f, err) < 0)
        return -1;
    ATOLL_AUTOVALUE peek = NULL;
    int r = ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm, ref, &peek, NULL, err);
    if (r <= 0) {
        if (r == 0)
            ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "VM", ref);
        return -1;
    }
    const char *ps0 = atoll_value_struct_get_string(peek, "power_state");
    if (!ps0 || strcmp(ps0, "Running") != 0)
        return halted_update(call, ref, "changing_dynamic_range", f, check_memory, err);

    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin(ref, "changing_dynamic_range", call->task_ref, &rt, &rec, err) < 0)
        return -1;
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    uint64_t target = (uint64_t)atoll_value_get_int(atoll_value_struct_get(f, names[1]));
    uint64_t old = rt->memory;
    int rc = -1, reserved = 0;
    if (!ps || strcmp(ps, "Running") != 0) {
        ts_vm_state_bad_power(ref, "running", ps, err);
    } else if (check_memory(ref, rec, f, err) == 0 &&
               (target <= old || (reserved = ts_vm_state_reserve(target - old, err) == 0)) &&
               ts_vm_run_balloon(rt, target, err) == 0) {
        rc = ts_dm_generic_update(ts_vm_ctx.db, ts_vm_ctx.vm, ref, f, err);
    }
    if (reserved)
        ts_vm_state_unreserve(target - old); /* rt->memory counts it now (or it failed) */
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(ref, rc == 0 ? "Running" : NULL, rt->pid > 0 ? rt : NULL, NULL,
                           NULL, &e2) < 0)
        atoll_err_clear(&e2);
    ts_vm_state_op_end(rt);
    return rc;
}

static int h_set_memory(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    int64_t v;
    if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0 ||
        ts_rpc_param_int(params, 1, "value", &v, err) < 0)
        return -1;
    /* XAPI: static_max, dynamic_min and dynamic_max all become value */
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_int(f, "memory_static_max", v);
    atoll_value_struct_set_int(f, "memory_dynamic_min", v);
    atoll_value_struct_set_int(f, "memory_dynamic_max", v);
    return halted_update(call, ref, "changing_memory_limits", f, check_memory, err);
}

/* set_VCPUs_number_live(self, nvcpu): hot-add/remove up to VCPUs_max on a Running VM */
static int h_set_vcpus_live(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    int64_t nv;
    if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0 ||
        ts_rpc_param_int(params, 1, "nvcpu", &nv, err) < 0)
        return -1;
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin(ref, "changing_VCPUs_live", call->task_ref, &rt, &rec, err) < 0)
        return -1;
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    int rc = -1;
    char cmd[32], v[32];
    snprintf(v, sizeof(v), "%lld", (long long)nv);
    snprintf(cmd, sizeof(cmd), "vcpus %lld", (long long)nv);
    if (!ps || strcmp(ps, "Running") != 0) {
        ts_vm_state_bad_power(ref, "running", ps, err);
    } else if (nv < 1 || nv > rec_int(rec, "VCPUs_max")) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "nvcpu", v);
    } else if (ts_vm_run_command(rt, cmd, err) == 0) {
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->vcpus = (unsigned)nv;
        pthread_mutex_unlock(&ts_vm_state_lock);
        /* XAPI: the next boot keeps the new count */
        ATOLL_AUTOVALUE f = atoll_value_struct();
        atoll_value_struct_set_int(f, "VCPUs_at_startup", nv);
        rc = ts_dm_generic_update(ts_vm_ctx.db, ts_vm_ctx.vm, ref, f, err);
        struct atoll_value *vp = atoll_value_struct_get(rec, "VCPUs_params");
        const char *mask = vp ? atoll_value_struct_get_string(vp, "mask") : NULL;
        if (rc == 0 && mask && *mask)
            ts_vm_run_apply_mask(rt, mask); /* the new vCPU threads too */
    }
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(ref, rc == 0 ? "Running" : NULL, rt->pid > 0 ? rt : NULL, NULL, NULL,
                           &e2) < 0)
        atoll_err_clear(&e2);
    ts_vm_state_op_end(rt);
    return rc;
}

/* ---- queries ---- */

static int get_rec(struct atoll_value *const *params, const char **ref,
                   struct atoll_value **rec, struct atoll_err *err)
{
    if (ts_rpc_param_ref(params, 0, "VM", ref, err) < 0)
        return -1;
    return ts_vm_state_get_record(*ref, rec, err);
}

/* Devices "0".."max-1" not used by the VM's VBDs/VIFs (field "userdevice" / "device"). */
static int free_devices(struct atoll_value *const *params, const char *set, const char *cls,
                        const char *field, int max, struct atoll_value **result,
                        struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_rec(params, &ref, &rec, err) < 0)
        return -1;
    char used[64] = {0};
    struct atoll_value *refs = atoll_value_struct_get(rec, set);
    const struct ts_dm_class *c = ts_dm_class_find(cls);
    for (size_t i = 0; c && refs && i < atoll_value_array_len(refs); i++) {
        ATOLL_AUTOVALUE d = NULL;
        const char *r = atoll_value_get_string(atoll_value_array_get(refs, i));
        if (!r || ts_dm_db_get(ts_vm_ctx.db, c, r, &d, NULL, err) <= 0) {
            atoll_err_clear(err);
            continue;
        }
        int64_t n;
        const char *dev = atoll_value_struct_get_string(d, field);
        if (dev && atoll_parse_i64(dev, 10, &n) == 0 && n >= 0 && n < max)
            used[n] = 1;
    }
    struct atoll_value *a = atoll_value_array();
    for (int i = 0; i < max; i++)
        if (!used[i]) {
            char b[8];
            snprintf(b, sizeof(b), "%d", i);
            atoll_value_array_append(a, atoll_value_string(b));
        }
    *result = a;
    return 0;
}

static int h_allowed_vbd(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    return free_devices(params, "VBDs", "VBD", "userdevice", 16, result, err); /* virtio-blk */
}

static int h_allowed_vif(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    return free_devices(params, "VIFs", "VIF", "device", 7, result, err); /* XAPI's 7 */
}

static int h_possible_hosts(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    uint64_t memory;
    unsigned vcpus;
    if (get_rec(params, &ref, &rec, err) < 0)
        return -1;
    struct atoll_value *a = atoll_value_array();
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_run_sizing(ref, rec, &memory, &vcpus, &e2) == 0 &&
        memory <= ts_vm_state_free_memory())
        atoll_value_array_append(a, atoll_value_string(ts_vm_ctx.host_ref));
    atoll_err_clear(&e2);
    *result = a;
    return 0;
}

static int h_resume_on(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                       struct atoll_value **result, struct atoll_err *err)
{
    const char *ref, *host;
    ATOLL_AUTOVALUE rec = NULL;
    if (get_rec(params, &ref, &rec, err) < 0 ||
        ts_rpc_param_ref(params, 1, "host", &host, err) < 0)
        return -1;
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    if (!ps || strcmp(ps, "Suspended") != 0)
        return ts_vm_state_bad_power(ref, "suspended", ps, err);
    ATOLL_ERR(err, ATOLL_E_VM_LACKS_FEATURE, ref);
    return -1;
}

int ts_vm_config_register(struct atoll_err *err)
{
    const unsigned W = TS_RPC_WRITE, R = TS_RPC_NO_ASYNC;
    const struct ts_rpc_method methods[] = {
        {"VM.set_VCPUs_max", 3, 3, TS_ROLE_VM_ADMIN, W, h_set_vcpus_max, NULL, NULL,
         "session_id,self,value"},
        {"VM.set_VCPUs_at_startup", 3, 3, TS_ROLE_VM_ADMIN, W, h_set_vcpus_at_startup, NULL,
         NULL, "session_id,self,value"},
        {"VM.set_memory_limits", 6, 6, TS_ROLE_VM_POWER_ADMIN, W, h_set_memory_limits, NULL,
         NULL, "session_id,self,static_min,static_max,dynamic_min,dynamic_max"},
        {"VM.set_memory_static_range", 4, 4, TS_ROLE_VM_POWER_ADMIN, W,
         h_set_memory_static_range, NULL, NULL, "session_id,self,min,max"},
        {"VM.set_memory_dynamic_range", 4, 4, TS_ROLE_VM_POWER_ADMIN, W,
         h_set_memory_dynamic_range, NULL, NULL, "session_id,self,min,max"},
        {"VM.set_memory", 3, 3, TS_ROLE_VM_POWER_ADMIN, W, h_set_memory, NULL, NULL,
         "session_id,self,value"},
        {"VM.set_VCPUs_number_live", 3, 3, TS_ROLE_VM_POWER_ADMIN, W, h_set_vcpus_live, NULL,
         NULL, "session_id,self,nvcpu"},
        {"VM.get_allowed_VBD_devices", 2, 2, TS_ROLE_READ_ONLY, R, h_allowed_vbd, NULL, NULL,
         "session_id,vm"},
        {"VM.get_allowed_VIF_devices", 2, 2, TS_ROLE_READ_ONLY, R, h_allowed_vif, NULL, NULL,
         "session_id,vm"},
        {"VM.get_possible_hosts", 2, 2, TS_ROLE_READ_ONLY, 0, h_possible_hosts, NULL, NULL,
         "session_id,vm"},
        {"VM.resume_on", 5, 5, TS_ROLE_VM_POWER_ADMIN, W, h_resume_on, NULL, NULL,
         "session_id,vm,host,start_paused,force"},
    };
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(methods); i++)
        if (ts_rpc_register(&methods[i], err) < 0)
            return -1;
    return 0;
}

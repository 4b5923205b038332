/*
 * toolstack/vm_copy.c - VM.clone, VM.copy, VM.snapshot, VM.revert and VM.provision
 * for VMs without disks or network interfaces (their configuration is the whole VM:
 * kernel, memory, vCPUs, maps). With VBDs or VIFs they answer NOT_IMPLEMENTED until
 * storage and network plugins can clone what those point at.
 * Threads: RPC worker threads, under the source VM's operation guard.
 * Trust: refs and names are client data; records come from the database.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_copy.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "rpc.h"
#include "vm_state.h"

/* Fields a copy takes from its source: the configuration (RW and static_ro) minus identity. */
static struct atoll_value *config_of(struct atoll_value *rec)
{
    const struct ts_dm_class *c = ts_vm_ctx.vm;
    struct atoll_value *f = atoll_value_struct();
    for (unsigned i = 0; i < c->nfields; i++) {
        const struct ts_dm_field *fd = &c->fields[i];
        if (fd->qual == TS_DM_DRO || strcmp(fd->name, "power_state") == 0 ||
            strcmp(fd->name, "suspend_VDI") == 0)
            continue;
        struct atoll_value *v = atoll_value_struct_get(rec, fd->name);
        if (v)
            atoll_value_struct_set(f, fd->name, atoll_value_ref(v));
    }
    return f;
}

static int has_devices(const char *ref, struct atoll_value *rec, const char *what,
                       struct atoll_err *err)
{
    struct atoll_value *vbds = atoll_value_struct_get(rec, "VBDs");
    struct atoll_value *vifs = atoll_value_struct_get(rec, "VIFs");
    if ((vbds && atoll_value_array_len(vbds)) || (vifs && atoll_value_array_len(vifs))) {
        char msg[160];
        snprintf(msg, sizeof(msg), "VM.%s of a VM with disks or network interfaces", what);
        ATOLL_ERR(err, ATOLL_E_NOT_IMPLEMENTED, msg);
        return -1;
    }
    return 0;
}

static int states_ok(const char *ref, struct atoll_value *rec, int any, struct atoll_err *err)
{
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    if (any || !ps || strcmp(ps, "Halted") == 0 || strcmp(ps, "Suspended") == 0)
        return 0;
    return ts_vm_state_bad_power(ref, "halted;suspended", ps, err);
}

enum kind { K_CLONE, K_COPY, K_SNAPSHOT };

static int do_copy(struct ts_call *call, struct atoll_value *const *params, enum kind k,
                   struct atoll_value **result, struct atoll_err *err)
{
    static const char *const ops[] = {"clone", "copy", "snapshot"};
    const char *ref, *name;
    if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0 ||
        ts_rpc_param_string(params, 1, "new_name", &name, err) < 0)
        return -1;
    if (k == K_COPY) { /* the SR matters only for disks, which are refused below */
        const char *sr;
        if (ts_rpc_param_ref(params, 2, "SR", &sr, err) < 0)
            return -1;
    }
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin(ref, ops[k], call->task_ref, &rt, &rec, err) < 0)
        return -1;
    int rc = -1;
    char nref[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE f = NULL;
    if (states_ok(ref, rec, k == K_SNAPSHOT, err) < 0 || has_devices(ref, rec, ops[k], err) < 0)
        goto out;
    f = config_of(rec);
    atoll_value_struct_set_string(f, "name_label", name);
    atoll_value_struct_set_string(f, "power_state", "Halted");
    if (k == K_SNAPSHOT) {
        atoll_value_struct_set_bool(f, "is_a_snapshot", 1);
        atoll_value_struct_set_bool(f, "is_a_template", 1); /* XAPI: snapshots are templates */
        atoll_value_struct_set_string(f, "snapshot_of", ref);
        atoll_value_struct_set(f, "snapshot_time", atoll_value_datetime((int64_t)time(NULL)));
    }
    if (ts_dm_generic_insert(ts_vm_ctx.db, ts_vm_ctx.vm, f, nref, err) < 0 ||
        ts_vm_state_record(nref, "Halted", NULL, NULL, NULL, err) < 0)
        goto out;
    log_info("VM %s: %s -> '%s' (%s)", rt->uuid, ops[k], name, nref);
    *result = atoll_value_string(nref);
    rc = 0;
out:;
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(ref, NULL, rt->pid > 0 ? rt : NULL, NULL, NULL, &e2) < 0)
        atoll_err_clear(&e2);
    ts_vm_state_op_end(rt);
    return rc;
}

static int h_clone(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                   struct atoll_value **result, struct atoll_err *err)
{
    return do_copy(call, params, K_CLONE, result, err);
}

static int h_copy(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    return do_copy(call, params, K_COPY, result, err);
}

static int h_snapshot(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                      struct atoll_value **result, struct atoll_err *err)
{
    return do_copy(call, params, K_SNAPSHOT, result, err);
}

/* revert(snapshot): the snapshot's configuration back onto the VM it was taken of (Halted) */
static int h_revert(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    const char *snap;
    ATOLL_AUTOVALUE srec = NULL;
    if (ts_rpc_param_ref(params, 0, "VM", &snap, err) < 0)
        return -1;
    if (ts_vm_state_get_record(snap, &srec, err) < 0)
        return -1;
    struct atoll_value *is = atoll_value_struct_get(srec, "is_a_snapshot");
    const char *of = atoll_value_struct_get_string(srec, "snapshot_of");
    if (!is || !atoll_value_get_bool(is) || !of || strcmp(of, ATOLL_REF_NULL) == 0) {
        ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, "revert needs a snapshot of a live VM");
        return -1;
    }
    struct ts_vm_rt *rt;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_op_begin(of, "revert", call->task_ref, &rt, &rec, err) < 0)
        return -1;
    int rc = -1;
    const char *ps = atoll_value_struct_get_string(rec, "power_state");
    if (ps && strcmp(ps, "Halted") != 0) {
        ts_vm_state_bad_power(of, "halted", ps, err);
    } else if (has_devices(of, rec, "revert", err) == 0) {
        ATOLL_AUTOVALUE f = config_of(srec);
        atoll_value_struct_remove(f, "name_label"); /* the VM keeps its name and role */
        atoll_value_struct_remove(f, "name_description");
        atoll_value_struct_remove(f, "is_a_template");
        rc = ts_dm_generic_update(ts_vm_ctx.db, ts_vm_ctx.vm, of, f, err);
    }
    struct atoll_err e2 = ATOLL_ERR_INIT;
    if (ts_vm_state_record(of, NULL, NULL, NULL, NULL, &e2) < 0)
        atoll_err_clear(&e2);
    ts_vm_state_op_end(rt);
    return rc;
}

/* provision: creates the disks a template lists in other_config:disks; none -> nothing to do */
static int h_provision(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                       struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_rpc_param_ref(params, 0, "VM", &ref, err) < 0)
        return -1;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    if (states_ok(ref, rec, 0, err) < 0)
        return -1;
    struct atoll_value *oc = atoll_value_struct_get(rec, "other_config");
    const char *disks = oc ? atoll_value_struct_get_string(oc, "disks") : NULL;
    if (disks && strstr(disks, "<disk")) {
        ATOLL_ERR(err, ATOLL_E_NOT_IMPLEMENTED, "VM.provision of a template with disks");
        return -1;
    }
    return 0;
}

int ts_vm_copy_register(struct atoll_err *err)
{
    const unsigned W = TS_RPC_WRITE;
    /* VM.snapshot's optional ignore_vdis (XAPI 21.x) defaults to the empty set */
    ATOLL_AUTOVALUE none = atoll_value_array();
    struct atoll_value *const snap_defaults[4] = {NULL, NULL, NULL, none};
    const struct ts_rpc_method methods[] = {
        {"VM.clone", 3, 3, TS_ROLE_VM_ADMIN, W, h_clone, NULL, NULL, "session_id,vm,new_name"},
        {"VM.copy", 4, 4, TS_ROLE_VM_ADMIN, W, h_copy, NULL, NULL,
         "session_id,vm,new_name,sr"},
        {"VM.snapshot", 3, 4, TS_ROLE_VM_POWER_ADMIN, W, h_snapshot, NULL, snap_defaults,
         "session_id,vm,new_name,ignore_vdis"},
        {"VM.revert", 2, 2, TS_ROLE_VM_POWER_ADMIN, W, h_revert, NULL, NULL,
         "session_id,snapshot"},
        {"VM.provision", 2, 2, TS_ROLE_VM_ADMIN, W, h_provision, NULL, NULL, "session_id,vm"},
    };
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(methods); i++)
        if (ts_rpc_register(&methods[i], err) < 0)
            return -1;
    return 0;
}

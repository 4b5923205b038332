/*
 * tests/unit/toolstack/test_vm_state.c - the shared state of VM operations without a
 * VMM or KVM, over a real SQLite store: allowed_operations per power state, lower-case
 * states and VM_BAD_POWER_STATE parameters, sizing (XAPI memory constraints, vCPU
 * bounds), the operation guard (OTHER_OPERATION_IN_PROGRESS, current_operations), the
 * atomic power-state record (resident_on, domid, VM_metrics created and filled), and the
 * memory reservation (HOST_NOT_ENOUGH_FREE_MEMORY).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/util.h"
#include "dm.h"
#include "dm_db.h"
#include "dm_generic.h"
#include "store.h"
#include "tap.h"
#include "vm_run.h"
#include "vm_state.h"

static int has(struct atoll_value *arr, const char *s)
{
    for (size_t i = 0; arr && i < atoll_value_array_len(arr); i++)
        if (strcmp(atoll_value_get_string(atoll_value_array_get(arr, i)), s) == 0)
            return 1;
    return 0;
}

static struct atoll_value *vm_rec(int64_t smin, int64_t smax, int64_t dmin, int64_t dmax,
                                  int64_t vmax, int64_t vstart)
{
    struct atoll_value *r = atoll_value_struct();
    atoll_value_struct_set_int(r, "memory_static_min", smin);
    atoll_value_struct_set_int(r, "memory_static_max", smax);
    atoll_value_struct_set_int(r, "memory_dynamic_min", dmin);
    atoll_value_struct_set_int(r, "memory_dynamic_max", dmax);
    atoll_value_struct_set_int(r, "VCPUs_max", vmax);
    atoll_value_struct_set_int(r, "VCPUs_at_startup", vstart);
    return r;
}

int main(void)
{
    const int64_t M = 1024 * 1024;
    struct atoll_err err = ATOLL_ERR_INIT;
    ts_dm_init();

    /* allowed operations and names */
    ATOLL_AUTOVALUE h = ts_vm_state_allowed_ops("Halted", NULL);
    ATOLL_AUTOVALUE r = ts_vm_state_allowed_ops("Running", NULL);
    ATOLL_AUTOVALUE p = ts_vm_state_allowed_ops("Paused", NULL);
    ATOLL_AUTOVALUE trec = atoll_value_struct();
    atoll_value_struct_set_bool(trec, "is_a_template", 1);
    ATOLL_AUTOVALUE th = ts_vm_state_allowed_ops("Halted", trec);
    ok(!has(th, "start") && !has(th, "start_on") && has(th, "clone"),
       "a Halted template: no start, clone allowed");
    struct atoll_value *vbds = atoll_value_array();
    atoll_value_array_append(vbds, atoll_value_string("OpaqueRef:vbd"));
    atoll_value_struct_set(trec, "VBDs", vbds);
    ATOLL_AUTOVALUE td = ts_vm_state_allowed_ops("Halted", trec);
    ok(!has(td, "clone") && !has(td, "snapshot"), "with a disk: no clone or snapshot (yet)");
    ok(has(h, "start") && has(h, "destroy") && !has(h, "pause"), "Halted: start, destroy");
    ok(has(r, "clean_shutdown") && has(r, "pause") && has(r, "clean_reboot") && !has(r, "start")
       && !has(r, "suspend"), "Running: shutdown, pause, reboot; no start, no suspend");
    ok(has(p, "unpause") && has(p, "hard_shutdown") && !has(p, "clean_shutdown"),
       "Paused: unpause, hard_shutdown; no clean_shutdown");
    is_str(ts_vm_state_lower("Running"), "running", "lower-case state");
    is_str(ts_vm_state_lower(NULL), "halted", "no state is halted");
    ts_vm_state_bad_power("OpaqueRef:x", "halted", "Paused", &err);
    ok(err.code == ATOLL_E_VM_BAD_POWER_STATE && err.nparams == 3 &&
       strcmp(err.params[1], "halted") == 0 && strcmp(err.params[2], "paused") == 0,
       "VM_BAD_POWER_STATE [vm, expected, actual lower-case]");
    atoll_err_clear(&err);

    /* sizing */
    uint64_t mem;
    unsigned vcpus;
    ATOLL_AUTOVALUE good = vm_rec(32 * M, 128 * M, 64 * M, 96 * M, 4, 2);
    ok(ts_vm_run_sizing("r", good, &mem, &vcpus, &err) == 0 && mem == (uint64_t)(96 * M) &&
       vcpus == 2, "sizing: dynamic_max and VCPUs_at_startup are given");
    ATOLL_AUTOVALUE nodyn = vm_rec(0, 80 * M, 0, 0, 1, 1);
    ok(ts_vm_run_sizing("r", nodyn, &mem, &vcpus, &err) == 0 && mem == (uint64_t)(80 * M),
       "sizing: static_max when dynamic_max is unset");
    ATOLL_AUTOVALUE over = vm_rec(0, 64 * M, 0, 128 * M, 1, 1);
    ok(ts_vm_run_sizing("r", over, &mem, &vcpus, &err) < 0 &&
       err.code == ATOLL_E_MEMORY_CONSTRAINT_VIOLATION, "sizing: dynamic_max > static_max");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE tiny = vm_rec(0, 4 * M, 0, 4 * M, 1, 1);
    ok(ts_vm_run_sizing("r", tiny, &mem, &vcpus, &err) < 0 &&
       err.code == ATOLL_E_VM_MEMORY_SIZE_TOO_LOW, "sizing: 4 MiB is too low");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE cpus = vm_rec(0, 64 * M, 0, 64 * M, 2, 3);
    ok(ts_vm_run_sizing("r", cpus, &mem, &vcpus, &err) < 0 &&
       err.code == ATOLL_E_INVALID_VALUE, "sizing: VCPUs_at_startup > VCPUs_max");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE many = vm_rec(0, 64 * M, 0, 64 * M, 300, 300);
    ok(ts_vm_run_sizing("r", many, &mem, &vcpus, &err) < 0 &&
       err.code == ATOLL_E_VM_TOO_MANY_VCPUS, "sizing: 300 vCPUs is too many");
    atoll_err_clear(&err);

    /* a real store */
    char dir[] = "/tmp/atoll-vmstate-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    ATOLL_AUTOFREE char *dbpath = atoll_strdup_printf("%s/atoll.db", dir);
    struct ts_store *st = NULL;
    struct ts_dm_db *db = NULL;
    if (ts_store_open(dbpath, "sync=normal", &st, &err) < 0 || ts_dm_db_open(st, &db, &err) < 0)
        tap_skip_all("cannot open a store");
    ts_vm_ctx.db = db;
    ts_vm_ctx.state_dir = dir;
    ts_vm_ctx.run_dir = atoll_strdup_printf("%s/vms", dir);
    ts_vm_ctx.vm = ts_dm_class_find("VM");
    ts_vm_ctx.vm_metrics = ts_dm_class_find("VM_metrics");
    ts_vm_ctx.host = ts_dm_class_find("host");
    ts_vm_ctx.host_metrics = ts_dm_class_find("host_metrics");
    ATOLL_AUTOVALUE hf = atoll_value_struct();
    atoll_value_struct_set_string(hf, "name_label", "h");
    ok(ts_dm_generic_insert(db, ts_vm_ctx.host, hf, ts_vm_ctx.host_ref, &err) == 0,
       "a host object");
    char vm[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE vf = vm_rec(0, 64 * M, 0, 64 * M, 1, 1);
    atoll_value_struct_set_string(vf, "name_label", "v");
    ok(ts_dm_generic_insert(db, ts_vm_ctx.vm, vf, vm, &err) == 0, "a VM object");

    /* the guard */
    struct ts_vm_rt *rt = NULL;
    struct atoll_value *rec = NULL;
    ok(ts_vm_state_op_begin(vm, "start", "OpaqueRef:11111111-1111-1111-1111-111111111111", &rt,
                            &rec, &err) == 0 && rt && rec, "op_begin takes the VM");
    struct atoll_value *cur = atoll_value_struct_get(rec, "current_operations");
    ok(cur && atoll_value_struct_len(cur) == 1 &&
       strcmp(atoll_value_struct_get_string(cur, "OpaqueRef:11111111-1111-1111-1111-111111111111"),
              "start") == 0, "current_operations names the task and the operation");
    ok(atoll_value_array_len(atoll_value_struct_get(rec, "allowed_operations")) == 0,
       "allowed_operations empty during it");
    atoll_value_unref(rec);
    struct ts_vm_rt *rt2 = NULL;
    ok(ts_vm_state_op_begin(vm, "pause", NULL, &rt2, &rec, &err) < 0 &&
       err.code == ATOLL_E_OTHER_OPERATION_IN_PROGRESS && err.nparams == 4 &&
       strcmp(err.params[2], "start") == 0, "a second operation: OTHER_OPERATION_IN_PROGRESS");
    atoll_err_clear(&err);

    /* record Running as if a VMM (this process) ran it */
    rt->pid = getpid();
    rt->memory = 64 * M;
    rt->vcpus = 1;
    rt->start_time = 1700000000;
    ok(ts_vm_state_record(vm, "Running", rt, NULL, NULL, &err) == 0, "record Running");
    struct atoll_value *got = NULL;
    ts_dm_db_get(db, ts_vm_ctx.vm, vm, &got, NULL, &err);
    is_str(atoll_value_struct_get_string(got, "power_state"), "Running", "power_state");
    is_str(atoll_value_struct_get_string(got, "resident_on"), ts_vm_ctx.host_ref, "resident_on");
    is_int((int)atoll_value_get_int(atoll_value_struct_get(got, "domid")), (int)getpid(),
           "domid is the VMM pid");
    ok(has(atoll_value_struct_get(got, "allowed_operations"), "clean_shutdown") &&
       atoll_value_struct_len(atoll_value_struct_get(got, "current_operations")) == 0,
       "allowed_operations for Running, no current operation");
    const char *mref = atoll_value_struct_get_string(got, "metrics");
    struct atoll_value *m = NULL;
    ok(mref && ts_dm_db_get(db, ts_vm_ctx.vm_metrics, mref, &m, NULL, &err) == 1,
       "VM_metrics created by the record");
    ok(m && atoll_value_get_int(atoll_value_struct_get(m, "memory_actual")) == 64 * M &&
       atoll_value_get_int(atoll_value_struct_get(m, "VCPUs_number")) == 1 &&
       atoll_value_get_datetime(atoll_value_struct_get(m, "start_time")) == 1700000000 &&
       has(atoll_value_struct_get(m, "state"), "running"), "VM_metrics filled");
    atoll_value_unref(m);
    atoll_value_unref(got);

    /* memory reservation counts running VMs */
    uint64_t free0 = ts_vm_state_free_memory();
    ok(free0 > 0, "some memory is free");
    ok(ts_vm_state_reserve(free0 + 1, &err) < 0 &&
       err.code == ATOLL_E_HOST_NOT_ENOUGH_FREE_MEMORY && err.nparams == 2,
       "more than free: HOST_NOT_ENOUGH_FREE_MEMORY [needed, available]");
    atoll_err_clear(&err);
    ok(ts_vm_state_reserve(16 * M, &err) == 0, "a small reservation");
    ok(ts_vm_state_free_memory() <= free0, "it lowers what is free");
    ts_vm_state_unreserve(16 * M);

    /* back to Halted, guard released */
    rt->pid = 0;
    ok(ts_vm_state_record(vm, "Halted", rt, NULL, NULL, &err) == 0, "record Halted");
    ts_vm_state_op_end(rt);
    ts_dm_db_get(db, ts_vm_ctx.vm, vm, &got, NULL, &err);
    ok(strcmp(atoll_value_struct_get_string(got, "resident_on"), ATOLL_REF_NULL) == 0 &&
       atoll_value_get_int(atoll_value_struct_get(got, "domid")) == -1 &&
       has(atoll_value_struct_get(got, "allowed_operations"), "start"),
       "Halted: not resident, domid -1, start allowed");
    atoll_value_unref(got);
    ok(ts_vm_state_op_begin(vm, "pause", NULL, &rt2, &rec, &err) == 0,
       "after op_end the VM can be taken again");
    atoll_value_unref(rec);
    ts_vm_state_record(vm, NULL, NULL, NULL, NULL, &err); /* as every operation's end does */
    ts_vm_state_op_end(rt2);

    /* deferred publication (VM.start): guard now, current_operations after the spawn */
    ok(ts_vm_state_op_begin_ex(vm, "start", "OpaqueRef:22222222-2222-2222-2222-222222222222", 1,
                               &rt2, &rec, &err) == 0, "op_begin_ex(defer) takes the VM");
    atoll_value_unref(rec);
    ts_dm_db_get(db, ts_vm_ctx.vm, vm, &got, NULL, &err);
    ok(atoll_value_struct_len(atoll_value_struct_get(got, "current_operations")) == 0,
       "nothing written yet");
    atoll_value_unref(got);
    ts_vm_state_op_publish(rt2);
    ts_dm_db_get(db, ts_vm_ctx.vm, vm, &got, NULL, &err);
    cur = atoll_value_struct_get(got, "current_operations");
    ok(cur && atoll_value_struct_len(cur) == 1, "op_publish writes current_operations");
    atoll_value_unref(got);
    ts_vm_state_op_end(rt2);

    ts_dm_db_close(db);
    ts_store_close(st);
    ATOLL_AUTOFREE char *cmd = atoll_strdup_printf("rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}

/*
 * toolstack/cli_vm.c - the atoll CLI's VM actions: vm-start, -shutdown,
 * -reboot, -pause, -unpause, -suspend, -resume on xe selectors, vm-destroy by
 * uuid, and vm-install (from a template - VM.clone, or a copy of its settings
 * where the server has no clone - or, in Atoll, directly from a kernel).
 * Threads: single-threaded. Trust: arguments are user input, checked before use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"
#include "cli.h"
#include "cli_format.h"
#include "dm.h"

static int parse_bool(struct cli *c, const char *key, const char *v, int *out)
{
    if (!v)
        return 0;
    if (strcmp(v, "true") == 0 || strcmp(v, "yes") == 0 || strcmp(v, "1") == 0)
        *out = 1;
    else if (strcmp(v, "false") == 0 || strcmp(v, "no") == 0 || strcmp(v, "0") == 0)
        *out = 0;
    else
        return cli_usage(c, "%s: expected true or false, got '%s'", key, v);
    return 0;
}

static int report(struct cli_err *e)
{
    cli_err_print(e);
    cli_err_clear(e);
    return -1;
}

/* The one record from `method` (a get_all_records; only templates if `templates`) whose uuid or
 * name-label is name: its ref (owned), or NULL after printing the error, which calls it a
 * `noun` and points to `list_cmd`. */
static struct atoll_value *find_named(struct cli *c, const char *method, int templates,
                                      const char *noun, const char *list_cmd, const char *name)
{
    struct cli_err e = {0};
    ATOLL_AUTOVALUE all = cli_call(c, method, NULL, 0, &e);
    if (!all) {
        report(&e);
        return NULL;
    }
    struct atoll_value *found = NULL;
    unsigned matches = 0;
    for (size_t i = 0; i < atoll_value_struct_len(all); i++) {
        const char *ref;
        struct atoll_value *rec;
        atoll_value_struct_at(all, i, &ref, &rec);
        if (templates) {
            const struct atoll_value *t = atoll_value_struct_get(rec, "is_a_template");
            if (!t || atoll_value_type(t) != ATOLL_VALUE_BOOL || !atoll_value_get_bool(t))
                continue;
        }
        const char *u = atoll_value_struct_get_string(rec, "uuid");
        const char *l = atoll_value_struct_get_string(rec, "name_label");
        if ((u && strcmp(u, name) == 0) || (l && strcmp(l, name) == 0)) {
            if (!matches++)
                found = atoll_value_string(ref);
        }
    }
    if (matches != 1) {
        if (matches)
            fprintf(stderr, "Several %ss are called '%s': give its uuid\n", noun, name);
        else
            fprintf(stderr, "No %s named '%s' (see %s)\n", noun, name, list_cmd);
        atoll_value_unref(found);
        return NULL;
    }
    return found;
}

int cli_cmd_vm_power(struct cli *c, const struct cli_cmd *cmd)
{
    static const struct {
        const char *cmd, *method, *forced;
        int flags;              /* 1: takes (paused, force) */
    } ops[] = {
        {"vm-start", "VM.start", "VM.start", 1},
        {"vm-shutdown", "VM.clean_shutdown", "VM.hard_shutdown", 0},
        {"vm-reboot", "VM.clean_reboot", "VM.hard_reboot", 0},
        {"vm-pause", "VM.pause", NULL, 0},
        {"vm-unpause", "VM.unpause", NULL, 0},
        {"vm-suspend", "VM.suspend", NULL, 0},
        {"vm-resume", "VM.resume", "VM.resume", 1},
    };
    unsigned op = 0;
    while (op < ATOLL_ARRAY_SIZE(ops) && strcmp(ops[op].cmd, cmd->name) != 0)
        op++;
    if (op == ATOLL_ARRAY_SIZE(ops))
        return cli_usage(c, "no such VM action");
    int paused = 0, force = c->force;
    if (ops[op].flags && parse_bool(c, "paused", cli_arg(c, "paused"), &paused) < 0)
        return -1;
    if (ops[op].forced && parse_bool(c, "force", cli_arg(c, "force"), &force) < 0)
        return -1;
    if (!ops[op].forced && (c->force || cli_arg(c, "force")))
        return cli_usage(c, "--force is not an option of %s", cmd->name);
    const char *on = ops[op].flags ? cli_arg(c, "on") : NULL;
    ATOLL_AUTOVALUE host =
        on ? find_named(c, "host.get_all_records", 0, "host", "host-list", on) : NULL;
    if (on && !host)
        return -1;
    struct cli_view *v;
    unsigned n;
    if (cli_select(c, "VM", "vm", 1, &v, &n) < 0)
        return -1;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct cli_err e = {0};
        ATOLL_AUTOVALUE p1 = atoll_value_bool(paused);
        ATOLL_AUTOVALUE p2 = atoll_value_bool(force);
        struct atoll_value *p[] = {v[i].ref, p1, p2};
        const char *m = force ? ops[op].forced : ops[op].method;
        ATOLL_AUTOVALUE r = NULL;
        if (host) { /* VM.start_on / VM.resume_on (vm, host, paused, force) */
            ATOLL_AUTOFREE char *mon = atoll_strdup_printf("%s_on", ops[op].method);
            struct atoll_value *po[] = {v[i].ref, host, p1, p2};
            r = cli_call(c, mon, po, 4, &e);
        } else {
            r = cli_call(c, m, p, ops[op].flags ? 3 : 1, &e);
        }
        if (!r)
            rc = report(&e);
    }
    cli_views_free(v, n);
    return rc;
}

int cli_cmd_vm_destroy(struct cli *c, const struct cli_cmd *cmd)
{
    const char *uuid = cli_arg(c, "uuid");
    if (!uuid)
        return cli_usage(c, "missing parameter 'uuid' (expected uuid=<uuid of the VM>)");
    if (cli_check_unused(c) < 0)
        return -1;
    ATOLL_AUTOVALUE ref = cli_ref_by_uuid(c, "VM", uuid);
    if (!ref)
        return -1;
    struct cli_err e = {0};
    struct atoll_value *p[] = {ref};
    ATOLL_AUTOVALUE r = cli_call(c, "VM.destroy", p, 1, &e);
    (void)cmd;
    return r ? 0 : report(&e);
}

int cli_cmd_vm_reset_powerstate(struct cli *c, const struct cli_cmd *cmd)
{
    int force = c->force;
    if (parse_bool(c, "force", cli_arg(c, "force"), &force) < 0)
        return -1;
    if (!force)
        return cli_usage(c, "--force is required: this marks the VM Halted without stopping "
                         "anything, only right if its VMM is already gone");
    struct cli_view *v;
    unsigned n;
    if (cli_select(c, "VM", "vm", 1, &v, &n) < 0)
        return -1;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct cli_err e = {0};
        struct atoll_value *p[] = {v[i].ref};
        ATOLL_AUTOVALUE r = cli_call(c, "VM.power_state_reset", p, 1, &e);
        if (!r)
            rc = report(&e);
    }
    cli_views_free(v, n);
    (void)cmd;
    return rc;
}

int cli_cmd_vm_copy(struct cli *c, const struct cli_cmd *cmd)
{
    const char *name = cli_arg(c, "new-name-label"), *desc = cli_arg(c, "new-name-description");
    if (!name)
        return cli_usage(c, "missing parameter 'new-name-label' (the new VM's name)");
    struct cli_view *v;
    unsigned n;
    if (cli_select(c, "VM", "vm", 1, &v, &n) < 0)
        return -1;
    int rc = 0;
    for (unsigned i = 0; i < n && rc == 0; i++) {
        struct cli_err e = {0};
        ATOLL_AUTOVALUE nm = atoll_value_string(name);
        struct atoll_value *p[] = {v[i].ref, nm};
        ATOLL_AUTOVALUE ref = cli_call(c, cmd->method, p, 2, &e);
        if (!ref || atoll_value_type(ref) != ATOLL_VALUE_STRING) {
            rc = ref ? cli_usage(c, "the server's answer is not a VM reference") : report(&e);
            break;
        }
        if (desc) {
            ATOLL_AUTOVALUE d = atoll_value_string(desc);
            struct atoll_value *pd[] = {ref, d};
            ATOLL_AUTOVALUE r = cli_call(c, "VM.set_name_description", pd, 2, &e);
            if (!r) {
                rc = report(&e);
                break;
            }
        }
        struct atoll_value *pu[] = {ref};
        ATOLL_AUTOVALUE uuid = cli_call(c, "VM.get_uuid", pu, 1, &e);
        if (!uuid || atoll_value_type(uuid) != ATOLL_VALUE_STRING)
            rc = uuid ? -1 : report(&e);
        else
            printf("%s\n", atoll_value_get_string(uuid));
    }
    cli_views_free(v, n);
    return rc;
}

/* VM.<method>(ref, value) with value borrowed; prints errors. */
static int set(struct cli *c, struct atoll_value *ref, const char *method,
               struct atoll_value *value)
{
    struct cli_err e = {0};
    struct atoll_value *p[] = {ref, value};
    ATOLL_AUTOVALUE r = cli_call(c, method, p, 2, &e);
    return r ? 0 : report(&e);
}

/* What vm-install was asked for. */
struct install {
    const char *name, *desc, *kernel, *ramdisk, *args;
    int has_mem, has_vcpus;
    int64_t mem, vcpus;
};

static void set_int_text(struct atoll_value *rec, const char *key, int64_t v)
{
    atoll_value_struct_set(rec, key, atoll_value_string_take(
                                         atoll_strdup_printf("%lld", (long long)v)));
}

/*
 * The record for VM.create: the template's settable and create-time fields
 * (its run-time state left out), or defaults, with what was asked on top.
 */
static struct atoll_value *install_record(struct atoll_value *tmpl, const struct install *in)
{
    static const char *const skip[] = {"power_state", "suspend_VDI", "last_booted_record",
                                       "last_boot_CPU_flags", "generation_id", "NVRAM",
                                       "is_vmss_snapshot", "snapshot_schedule", NULL};
    struct atoll_value *rec = atoll_value_struct();
    const struct ts_dm_class *dc = ts_dm_class_find("VM");
    for (size_t i = 0; tmpl && dc && i < atoll_value_struct_len(tmpl); i++) {
        const char *k;
        struct atoll_value *v;
        atoll_value_struct_at(tmpl, i, &k, &v);
        const struct ts_dm_field *f = ts_dm_field_find(dc, k, NULL);
        int skipped = !f || f->qual == TS_DM_DRO;
        for (unsigned j = 0; skip[j] && !skipped; j++)
            skipped = strcmp(skip[j], k) == 0;
        if (!skipped)
            atoll_value_struct_set(rec, k, atoll_value_ref(v));
    }
    atoll_value_struct_set_string(rec, "name_label", in->name);
    atoll_value_struct_set_bool(rec, "is_a_template", 0);
    if (in->desc || !tmpl)
        atoll_value_struct_set_string(rec, "name_description", in->desc ? in->desc : "");
    const char *const strs[][2] = {{"PV_kernel", in->kernel}, {"PV_ramdisk", in->ramdisk},
                                   {"PV_args", in->args}};
    for (unsigned i = 0; i < 3; i++)
        if (strs[i][1] || !tmpl)
            atoll_value_struct_set_string(rec, strs[i][0], strs[i][1] ? strs[i][1] : "");
    if (in->has_mem || !tmpl) {
        const char *memf[] = {"memory_static_min", "memory_static_max", "memory_dynamic_min",
                              "memory_dynamic_max"};
        for (unsigned i = 0; i < 4; i++)
            set_int_text(rec, memf[i], in->has_mem ? in->mem : 256 << 20);
    }
    if (in->has_vcpus || !tmpl) {
        set_int_text(rec, "VCPUs_max", in->has_vcpus ? in->vcpus : 1);
        set_int_text(rec, "VCPUs_at_startup", in->has_vcpus ? in->vcpus : 1);
    }
    return rec;
}

/* After VM.clone: what was asked, through the setters. 0 or -1 (printed). */
static int adjust_clone(struct cli *c, struct atoll_value *ref, const struct install *in)
{
    struct cli_err e = {0};
    struct atoll_value *pp[] = {ref};
    ATOLL_AUTOVALUE r = cli_call(c, "VM.provision", pp, 1, &e);
    if (!r && !cli_err_is(&e, "MESSAGE_METHOD_UNKNOWN"))
        return report(&e);
    cli_err_clear(&e);
    ATOLL_AUTOVALUE no = atoll_value_bool(0);
    if (set(c, ref, "VM.set_is_a_template", no) < 0)
        return -1;
    const char *const strs[][2] = {{"VM.set_name_description", in->desc},
                                   {"VM.set_PV_kernel", in->kernel},
                                   {"VM.set_PV_ramdisk", in->ramdisk},
                                   {"VM.set_PV_args", in->args}};
    for (unsigned i = 0; i < 4; i++) {
        if (!strs[i][1])
            continue;
        ATOLL_AUTOVALUE sv = atoll_value_string(strs[i][1]);
        if (set(c, ref, strs[i][0], sv) < 0)
            return -1;
    }
    if (in->has_mem) {
        ATOLL_AUTOVALUE m = atoll_value_int(in->mem);
        struct atoll_value *mp[] = {ref, m, m, m, m};
        ATOLL_AUTOVALUE r2 = cli_call(c, "VM.set_memory_limits", mp, 5, &e);
        if (!r2)
            return report(&e);
    }
    if (in->has_vcpus) { /* raise the maximum first, lower it last */
        ATOLL_AUTOVALUE nvv = atoll_value_int(in->vcpus);
        if (set(c, ref, "VM.set_VCPUs_at_startup", nvv) < 0)
            return set(c, ref, "VM.set_VCPUs_max", nvv) < 0 ||
                   set(c, ref, "VM.set_VCPUs_at_startup", nvv) < 0 ? -1 : 0;
        return set(c, ref, "VM.set_VCPUs_max", nvv);
    }
    return 0;
}

int cli_cmd_vm_install(struct cli *c, const struct cli_cmd *cmd)
{
    struct install in = {.name = cli_arg(c, "new-name-label"),
                         .desc = cli_arg(c, "new-name-description"),
                         .kernel = cli_arg(c, "kernel"), .ramdisk = cli_arg(c, "ramdisk"),
                         .args = cli_arg(c, "args")};
    const char *tmpl = cli_arg(c, "template");
    const char *mem = cli_arg(c, "memory"), *vcpus = cli_arg(c, "vcpus");
    (void)cmd;
    if (!in.name)
        return cli_usage(c, "missing parameter 'new-name-label' (the new VM's name)");
    if (!tmpl && !in.kernel)
        return cli_usage(c, "expected template=<template name or uuid> or kernel=<path of the "
                         "kernel to boot>");
    if (cli_check_unused(c) < 0)
        return -1;
    uint64_t bytes = 0, nv = 0;
    if (mem && (atoll_parse_size(mem, 1, &bytes) < 0 || bytes < (1u << 20) ||
                bytes > INT64_MAX))
        return cli_usage(c, "memory: expected a size of at least 1M (256M, 1G; a bare number "
                         "is MiB), got '%s'", mem);
    if (vcpus && (atoll_parse_u64(vcpus, 10, &nv) < 0 || nv < 1 || nv > 256))
        return cli_usage(c, "vcpus: expected a count from 1 to 256, got '%s'", vcpus);
    in.has_mem = mem != NULL;
    in.mem = (int64_t)bytes;
    in.has_vcpus = vcpus != NULL;
    in.vcpus = (int64_t)nv;

    struct cli_err e = {0};
    ATOLL_AUTOVALUE ref = NULL;
    ATOLL_AUTOVALUE trec = NULL;
    if (tmpl) {
        ATOLL_AUTOVALUE t = find_named(c, "VM.get_all_records", 1, "template",
                                       "vm-list is-a-template=true", tmpl);
        if (!t)
            return -1;
        ATOLL_AUTOVALUE nm = atoll_value_string(in.name);
        struct atoll_value *p[] = {t, nm};
        ref = cli_call(c, "VM.clone", p, 2, &e);
        if (ref && adjust_clone(c, ref, &in) < 0)
            return -1;
        if (!ref && !cli_err_is(&e, "MESSAGE_METHOD_UNKNOWN"))
            return report(&e);
        cli_err_clear(&e);
        if (!ref) { /* no VM.clone here: a new VM from the template's settings (no disks) */
            struct atoll_value *tp[] = {t};
            trec = cli_call(c, "VM.get_record", tp, 1, &e);
            if (!trec)
                return report(&e);
        }
    }
    if (!ref) {
        ATOLL_AUTOVALUE rec = install_record(trec, &in);
        struct atoll_value *p[] = {rec};
        ref = cli_call(c, "VM.create", p, 1, &e);
        if (!ref)
            return report(&e);
    }
    if (atoll_value_type(ref) != ATOLL_VALUE_STRING)
        return cli_usage(c, "the server's answer is not a VM reference");
    struct atoll_value *p[] = {ref};
    ATOLL_AUTOVALUE uuid = cli_call(c, "VM.get_uuid", p, 1, &e);
    if (!uuid || atoll_value_type(uuid) != ATOLL_VALUE_STRING)
        return uuid ? -1 : report(&e);
    printf("%s\n", atoll_value_get_string(uuid));
    return 0;
}

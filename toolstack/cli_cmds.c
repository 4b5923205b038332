/*
 * toolstack/cli_cmds.c - the atoll CLI's command table, help, and the
 * commands every class shares in xe: <class>-list, -param-list, -param-get,
 * -param-set, -param-add, -param-remove, -param-clear.
 * Threads: single-threaded. Trust: arguments are user input, checked here
 * before anything is sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"
#include "cli.h"
#include "cli_format.h"
#include "dm.h"

static int cmd_help(struct cli *c, const struct cli_cmd *cmd);

/* ---- <class>-list ---- */

static int cmd_list(struct cli *c, const struct cli_cmd *cmd)
{
    const char *params = cli_arg(c, "params");
    struct cli_view *v;
    unsigned n;
    if (cli_select(c, cmd->cls, NULL, 0, &v, &n) < 0)
        return -1;
    int r = cli_print_records(c, v, n, params, cmd->defaults, c->minimal);
    cli_views_free(v, n);
    return r;
}

/* The one object named by uuid=, as a view. -1 after printing the error. */
static int one_by_uuid(struct cli *c, const char *cls, struct cli_view *out)
{
    const char *uuid = cli_arg(c, "uuid");
    if (!uuid)
        return cli_usage(c, "missing parameter 'uuid' (expected uuid=<uuid of the %s>)", cls);
    ATOLL_AUTOVALUE ref = cli_ref_by_uuid(c, cls, uuid);
    if (!ref)
        return -1;
    struct cli_err e = {0};
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_record", cls);
    struct atoll_value *p[] = {ref};
    ATOLL_AUTOVALUE rec = cli_call(c, m, p, 1, &e);
    if (!rec) {
        cli_err_print(&e);
        cli_err_clear(&e);
        return -1;
    }
    cli_view_init(out, cls, ref, rec);
    return 0;
}

static int cmd_param_list(struct cli *c, const struct cli_cmd *cmd)
{
    struct cli_view v;
    if (one_by_uuid(c, cmd->cls, &v) < 0)
        return -1;
    int r = cli_check_unused(c);
    if (r == 0)
        r = cli_print_records(c, &v, 1, "all", NULL, 0);
    cli_view_fini(&v);
    return r;
}

static struct cli_field *need_field(struct cli *c, struct cli_view *v, const char *name)
{
    struct cli_field *f = cli_view_field_any(c, v, name);
    const char *dash = strstr(c->cmd, "-param-");
    if (!f)
        cli_usage(c, "unknown field '%s' of %s (%.*s-param-list shows the fields)", name, v->cls,
                  dash ? (int)(dash - c->cmd) : 0, c->cmd);
    return f;
}

static int cmd_param_get(struct cli *c, const struct cli_cmd *cmd)
{
    struct cli_view v;
    if (one_by_uuid(c, cmd->cls, &v) < 0)
        return -1;
    int r = -1;
    const char *name = cli_arg(c, "param-name"), *key = cli_arg(c, "param-key");
    struct cli_field *f;
    if (!name) {
        cli_usage(c, "missing parameter 'param-name' (expected param-name=<field>)");
    } else if (cli_check_unused(c) == 0 && (f = need_field(c, &v, name))) {
        if (key) {
            const char *val = cli_field_map_get(f, key);
            if (!cli_field_is_map(f))
                cli_usage(c, "param-key given, but '%s' is not a map", name);
            else if (!val)
                fprintf(stderr, "Key %s not found in map %s\n", key, name);
            else
                r = printf("%s\n", val) < 0 ? -1 : 0;
        } else {
            r = printf("%s\n", cli_field_text(c, f)) < 0 ? -1 : 0;
        }
    }
    cli_view_fini(&v);
    return r;
}

/* Runs Class.method(ref, args...) with string args; prints any error. */
static int call_void(struct cli *c, const char *cls, const char *method,
                     struct atoll_value *ref, struct atoll_value *a1, struct atoll_value *a2)
{
    struct cli_err e = {0};
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.%s", cls, method);
    struct atoll_value *p[] = {ref, a1, a2};
    unsigned n = a2 ? 3 : a1 ? 2 : 1;
    ATOLL_AUTOVALUE r = cli_call(c, m, p, n, &e);
    if (!r) {
        cli_err_print(&e);
        cli_err_clear(&e);
        return -1;
    }
    return 0;
}

/* VM memory fields are set together through VM.set_memory_limits, as xe does. */
static int set_vm_memory(struct cli *c, struct cli_view *v, const char *api, const char *val)
{
    static const char *const order[] = {"memory_static_min", "memory_static_max",
                                        "memory_dynamic_min", "memory_dynamic_max"};
    uint64_t bytes;
    if (atoll_parse_size(val, 0, &bytes) < 0 || bytes > INT64_MAX)
        return cli_usage(c, "%s: expected a size in bytes (or with K, M, G), got '%s'", api, val);
    struct atoll_value *p[5];
    p[0] = v->ref;
    for (unsigned i = 0; i < 4; i++) {
        struct cli_field *f = cli_view_field(v, order[i]);
        const char *cur = f ? cli_field_text(c, f) : "0";
        p[i + 1] = strcmp(order[i], api) == 0 ? atoll_value_int((int64_t)bytes)
                                              : atoll_value_string(cur);
    }
    struct cli_err e = {0};
    ATOLL_AUTOVALUE r = cli_call(c, "VM.set_memory_limits", p, 5, &e);
    for (unsigned i = 1; i < 5; i++)
        atoll_value_unref(p[i]);
    if (!r) {
        cli_err_print(&e);
        cli_err_clear(&e);
        return -1;
    }
    return 0;
}

static int set_one(struct cli *c, struct cli_view *v, const char *key, const char *val)
{
    const char *colon = strchr(key, ':');
    ATOLL_AUTOFREE char *fname = atoll_strndup(key, colon ? (size_t)(colon - key) : strlen(key));
    struct cli_field *f = need_field(c, v, fname);
    if (!f)
        return -1;
    if (colon) { /* map:key=value - replace the entry */
        if (!cli_field_is_map(f) || strcmp(f->tag, "MRW") != 0)
            return cli_usage(c, "'%s' is not a map that can be changed", fname);
        ATOLL_AUTOVALUE k = atoll_value_string(colon + 1);
        ATOLL_AUTOVALUE val_v = atoll_value_string(val);
        ATOLL_AUTOFREE char *rm = atoll_strdup_printf("remove_from_%s", f->api);
        ATOLL_AUTOFREE char *add = atoll_strdup_printf("add_to_%s", f->api);
        if (call_void(c, v->cls, rm, v->ref, k, NULL) < 0)
            return -1;
        return call_void(c, v->cls, add, v->ref, k, val_v);
    }
    if (strcmp(f->tag, " RW") != 0 && strcmp(f->tag, "SRW") != 0)
        return cli_usage(c, "field '%s' is read-only (%s)", fname,
                         cli_field_is_map(f) ? "set map entries with field:key=value" : f->tag);
    if (strcmp(v->cls, "VM") == 0 && strncmp(f->api, "memory_", 7) == 0)
        return set_vm_memory(c, v, f->api, val);
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("set_%s", f->api);
    ATOLL_AUTOVALUE value = NULL;
    if (strcmp(f->tag, "SRW") == 0) { /* a set: comma-separated members */
        value = atoll_value_array();
        ATOLL_AUTOFREE char *copy = atoll_strdup(val);
        for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
            atoll_value_array_append(value, atoll_value_string(p));
    } else {
        value = atoll_value_string(val); /* the server coerces ints, bools and enums */
    }
    return call_void(c, v->cls, m, v->ref, value, NULL);
}

static int cmd_param_set(struct cli *c, const struct cli_cmd *cmd)
{
    struct cli_view v;
    if (one_by_uuid(c, cmd->cls, &v) < 0)
        return -1;
    int r = 0, any = 0;
    for (unsigned i = 0; i < c->nargs && r == 0; i++) {
        if (c->args[i].used)
            continue;
        c->args[i].used = 1;
        any = 1;
        r = set_one(c, &v, c->args[i].key, c->args[i].val);
    }
    if (r == 0 && !any)
        r = cli_usage(c, "nothing to set: expected field=value or map-field:key=value");
    cli_view_fini(&v);
    return r;
}

/* The body of -param-add/-remove/-clear on field f of view v. */
static int param_change(struct cli *c, struct cli_view *v, const char *verb, const char *name,
                        const char *key)
{
    struct cli_field *f = need_field(c, v, name);
    if (!f)
        return -1;
    int is_map = strcmp(f->tag, "MRW") == 0, is_set = strcmp(f->tag, "SRW") == 0;
    if (!is_map && !is_set)
        return cli_usage(c, "'%s' is not a map or set that can be changed (it is %s)", name,
                         f->tag);
    if (strcmp(verb, "clear") == 0) {
        ATOLL_AUTOFREE char *m = atoll_strdup_printf("set_%s", f->api);
        ATOLL_AUTOVALUE empty = is_map ? atoll_value_struct() : atoll_value_array();
        return cli_check_unused(c) < 0 ? -1 : call_void(c, v->cls, m, v->ref, empty, NULL);
    }
    ATOLL_AUTOFREE char *m = is_map ? atoll_strdup_printf("%s_%s", strcmp(verb, "add") == 0
                                                          ? "add_to" : "remove_from", f->api)
                                    : atoll_strdup_printf("%s_%s", verb, f->api);
    if (is_set || strcmp(verb, "remove") == 0) {
        if (!key)
            return cli_usage(c, "missing parameter 'param-key' (the %s to %s)",
                             is_set ? "member" : "key", verb);
        ATOLL_AUTOVALUE k = atoll_value_string(key);
        return cli_check_unused(c) < 0 ? -1 : call_void(c, v->cls, m, v->ref, k, NULL);
    }
    int r = 0, any = key != NULL;
    if (key) { /* xe also takes param-key=k for a map add with an empty value */
        ATOLL_AUTOVALUE k = atoll_value_string(key);
        ATOLL_AUTOVALUE empty = atoll_value_string("");
        r = call_void(c, v->cls, m, v->ref, k, empty);
    }
    for (unsigned i = 0; i < c->nargs && r == 0; i++) {
        if (c->args[i].used)
            continue;
        c->args[i].used = 1;
        any = 1;
        ATOLL_AUTOVALUE k = atoll_value_string(c->args[i].key);
        ATOLL_AUTOVALUE val = atoll_value_string(c->args[i].val);
        r = call_void(c, v->cls, m, v->ref, k, val);
    }
    if (r == 0 && !any)
        r = cli_usage(c, "nothing to add: expected <key>=<value> entries for the map '%s'", name);
    return r;
}

/* -param-add / -param-remove / -param-clear: maps and sets. */
static int cmd_param_change(struct cli *c, const struct cli_cmd *cmd)
{
    const char *verb = strstr(cmd->name, "-param-") + 7;
    struct cli_view v;
    if (one_by_uuid(c, cmd->cls, &v) < 0)
        return -1;
    const char *name = cli_arg(c, "param-name"), *key = cli_arg(c, "param-key");
    int r = name ? param_change(c, &v, verb, name, key)
                 : cli_usage(c, "missing parameter 'param-name' (expected param-name=<map or "
                             "set field>)");
    cli_view_fini(&v);
    return r;
}

/* <class>-<action> uuid=...: cmd->method(ref), e.g. task-cancel. */
static int cmd_uuid_action(struct cli *c, const struct cli_cmd *cmd)
{
    const char *uuid = cli_arg(c, "uuid");
    if (!uuid)
        return cli_usage(c, "missing parameter 'uuid' (expected uuid=<uuid of the %s>)",
                         cmd->cls);
    if (cli_check_unused(c) < 0)
        return -1;
    ATOLL_AUTOVALUE ref = cli_ref_by_uuid(c, cmd->cls, uuid);
    return ref ? call_void(c, cmd->cls, strchr(cmd->method, '.') + 1, ref, NULL, NULL) : -1;
}

/* user-password-change old=... new=...: session.change_password for the logged-in user. */
static int cmd_password_change(struct cli *c, const struct cli_cmd *cmd)
{
    const char *old = cli_arg(c, "old"), *new_pw = cli_arg(c, "new");
    (void)cmd;
    if (!old || !new_pw)
        return cli_usage(c, "missing parameter '%s' (expected old=<password> new=<password>)",
                         old ? "new" : "old");
    if (cli_check_unused(c) < 0)
        return -1;
    struct cli_err e = {0};
    ATOLL_AUTOVALUE r = cli_callv(c, "session.change_password", &e, old, new_pw, NULL);
    if (!r) {
        cli_err_print(&e);
        cli_err_clear(&e);
        return -1;
    }
    return 0;
}

/* ---- the table ---- */

#define SEL "<selectors>: any field=value (name-label=, power-state=, other-config:key=)"
/* A table entry: name, handler, class, default list fields, required, optional, help. */
#define CMD(n, fn, cl, def, rq, opt, hlp) \
    {.name = n, .run = fn, .cls = cl, .defaults = def, .reqd = rq, .optional = opt, .help = hlp}
#define CLASS_CMDS(pfx, cls, defaults, what)                                                   \
    CMD(pfx "-list", cmd_list, cls, defaults, "",                                             \
        "params=<field,...|all>, --minimal, <field>=<value>",                                 \
        "List the " what " that match every <field>=<value> given."),                         \
    CMD(pfx "-param-list", cmd_param_list, cls, NULL, "uuid", "",                             \
        "Show every field of one " what "."),                                                 \
    CMD(pfx "-param-get", cmd_param_get, cls, NULL, "uuid, param-name", "param-key",          \
        "Show one field (or one map entry with param-key) of a " what "."),                   \
    CMD(pfx "-param-set", cmd_param_set, cls, NULL, "uuid",                                   \
        "<field>=<value>, <map>:<key>=<value>",                                               \
        "Set read-write fields and map entries of a " what "."),                              \
    CMD(pfx "-param-add", cmd_param_change, cls, NULL, "uuid, param-name",                    \
        "param-key, <key>=<value>", "Add map entries or a set member to a " what "'s field."), \
    CMD(pfx "-param-remove", cmd_param_change, cls, NULL, "uuid, param-name, param-key", "",  \
        "Remove a map entry or set member from a " what "'s field."),                         \
    CMD(pfx "-param-clear", cmd_param_change, cls, NULL, "uuid, param-name", "",              \
        "Empty a map or set field of a " what ".")

const struct cli_cmd cli_cmds[] = {
    CMD("help", cmd_help, NULL, NULL, "", "<command>, --minimal",
        "Show the commands, or one's usage."),
    CMD("vm-start", cli_cmd_vm_power, "VM", NULL, "",
        "vm, paused=true, on=<host>, --force, --multiple, " SEL, "Start the selected VM."),
    CMD("vm-shutdown", cli_cmd_vm_power, "VM", NULL, "", "vm, --force, --multiple, " SEL,
        "Shut the selected VM down cleanly (--force: hard shutdown)."),
    CMD("vm-reboot", cli_cmd_vm_power, "VM", NULL, "", "vm, --force, --multiple, " SEL,
        "Reboot the selected VM cleanly (--force: hard reboot)."),
    CMD("vm-pause", cli_cmd_vm_power, "VM", NULL, "", "vm, --multiple, " SEL,
        "Pause a running VM."),
    CMD("vm-unpause", cli_cmd_vm_power, "VM", NULL, "", "vm, --multiple, " SEL,
        "Unpause a paused VM."),
    CMD("vm-suspend", cli_cmd_vm_power, "VM", NULL, "", "vm, --multiple, " SEL,
        "Suspend a running VM to disk."),
    CMD("vm-resume", cli_cmd_vm_power, "VM", NULL, "",
        "vm, paused=true, on=<host>, --force, --multiple, " SEL, "Resume a suspended VM."),
    {.name = "vm-clone", .run = cli_cmd_vm_copy, .cls = "VM", .reqd = "new-name-label",
     .optional = "new-name-description, vm, " SEL,
     .help = "Clone a halted VM (VM.clone); prints the new VM's uuid.", .method = "VM.clone"},
    {.name = "vm-snapshot", .run = cli_cmd_vm_copy, .cls = "VM", .reqd = "new-name-label",
     .optional = "new-name-description, vm, " SEL,
     .help = "Snapshot a VM (VM.snapshot); prints the snapshot's uuid.",
     .method = "VM.snapshot"},
    CMD("vm-destroy", cli_cmd_vm_destroy, "VM", NULL, "uuid", "",
        "Remove a halted VM from the database (its disks stay)."),
    CMD("vm-install", cli_cmd_vm_install, "VM", NULL, "new-name-label",
        "template, kernel, ramdisk, args, memory, vcpus, new-name-description",
        "Create a VM from a template or, in Atoll, directly from a kernel; prints its uuid. "
        "memory takes a size (256M, 1G; a bare number is MiB), vcpus a count."),
    CMD("vm-reset-powerstate", cli_cmd_vm_reset_powerstate, "VM", NULL, "--force",
        "vm, --multiple, " SEL,
        "Mark a VM Halted in the database without touching its VMM (VM.power_state_reset); "
        "only for VMs whose VMM is known to be gone."),
    {.name = "task-cancel", .run = cmd_uuid_action, .cls = "task", .reqd = "uuid",
     .optional = "", .help = "Ask a running task to stop.", .method = "task.cancel"},
    CMD("user-password-change", cmd_password_change, NULL, NULL, "old, new", "",
        "Change the password of the user logged in (session.change_password)."),
    CMD("event-wait", cli_cmd_event_wait, NULL, NULL, "class",
        "<field>=<value>, <field>=/=<value>, timeout=<seconds>",
        "Wait until an object of the class has every field given at the value given "
        "(=/= for not equal)."),
    CMD("console", cli_cmd_console, "VM", NULL, "", "vm, " SEL,
        "Attach to a running VM's serial console; press Ctrl-] to leave."),
    CLASS_CMDS("vm", "VM", "uuid,name-label,power-state", "VMs"),
    CLASS_CMDS("host", "host", "uuid,name-label,name-description", "hosts"),
    CLASS_CMDS("task", "task", "uuid,name-label,name-description,status,progress", "tasks"),
    CLASS_CMDS("pool", "pool", "uuid,name-label,name-description,master", "pools"),
    CLASS_CMDS("sr", "SR", "uuid,name-label,name-description,type,content-type", "SRs"),
    CLASS_CMDS("vdi", "VDI", "uuid,name-label,name-description,virtual-size", "VDIs"),
    CLASS_CMDS("vbd", "VBD", "uuid,VM,VDI,userdevice,empty", "VBDs"),
    CLASS_CMDS("vif", "VIF", "uuid,VM,network,device,MAC", "VIFs"),
    CLASS_CMDS("network", "network", "uuid,name-label,name-description,bridge", "networks"),
    CLASS_CMDS("pif", "PIF", "uuid,device,MAC,VLAN,network", "PIFs"),
    CLASS_CMDS("message", "message", "uuid,name,priority,cls,obj-uuid,timestamp,body",
               "messages"),
    {.name = NULL},
};

const struct cli_cmd *cli_cmd_find(const char *name)
{
    for (const struct cli_cmd *k = cli_cmds; k->name; k++)
        if (strcmp(k->name, name) == 0)
            return k;
    return NULL;
}

/* Prints the parameter names of k and, for class commands, the class's fields (xe names). */
static void print_param_names(const struct cli_cmd *k)
{
    int first = 1;
    const char *lists[] = {k->reqd, k->optional};
    for (unsigned l = 0; l < 2; l++) {
        const char *p = lists[l];
        while (p && *p) {
            size_t len = strcspn(p, ",=|");
            if (len && p[0] != '<' && p[0] != '-') {
                printf("%s%.*s", first ? "" : ",", (int)len, p);
                first = 0;
            }
            p += strcspn(p, ",");
            p += strspn(p, ", ");
        }
    }
    const struct ts_dm_class *dc = k->cls ? ts_dm_class_find(k->cls) : NULL;
    int selects = k->run == cmd_list || k->run == cli_cmd_vm_power || k->run == cmd_param_set ||
                  k->run == cli_cmd_console;
    for (unsigned i = 0; dc && selects && i < dc->nfields; i++) {
        ATOLL_AUTOFREE char *x = cli_xe_name(dc->fields[i].name);
        printf("%s%s", first ? "" : ",", x);
        first = 0;
    }
    printf("\n");
}

static int cmd_help(struct cli *c, const struct cli_cmd *cmd)
{
    const char *which = NULL;
    for (unsigned i = 0; i < c->nargs; i++) {
        c->args[i].used = 1;
        if (!c->args[i].val[0] || strcmp(c->args[i].key, "command") == 0)
            which = strcmp(c->args[i].key, "command") == 0 ? c->args[i].val : c->args[i].key;
    }
    (void)cmd;
    if (which) {
        const struct cli_cmd *k = cli_cmd_find(which);
        if (!k) {
            fprintf(stderr, "Unknown command: %s\nFor usage run: 'atoll help'\n", which);
            return -1;
        }
        if (c->minimal) { /* for shell completion */
            print_param_names(k);
            return 0;
        }
        printf("command name            : %s\n        reqd params     : %s\n"
               "        optional params : %s\n        description     : %s\n",
               k->name, k->reqd, k->optional, k->help);
        return 0;
    }
    if (c->minimal) { /* for shell completion, as "xe help --minimal" */
        for (const struct cli_cmd *k = cli_cmds; k->name; k++)
            printf("%s%s", k == cli_cmds ? "" : ",", k->name);
        printf("\n");
        return 0;
    }
    printf("Usage: atoll [-s server] [-p port] [-u user] [-pw password | --password-file file]\n"
           "             [--nossl] [--cafile file] [--socket path] <command> [key=value ...]\n"
           "Without -s, atoll talks to atolld's local socket (%s, or $ATOLL_SOCKET).\n"
           "Over TCP it uses HTTPS; the host certificate is verified with --cafile, else\n"
           "its SHA-256 fingerprint is pinned on first use in ~/.atoll/known_hosts\n"
           "($ATOLL_KNOWN_HOSTS), and a changed one is refused. -pw is visible to other\n"
           "local users in ps: prefer --password-file (-pwf), or type it when asked.\n\n"
           "Commands (atoll help <command> for details):\n",
           "/var/lib/atoll/atolld.sock");
    unsigned col = 0;
    for (const struct cli_cmd *k = cli_cmds; k->name; k++) {
        printf("%s%-20s", col == 0 ? "  " : " ", k->name);
        if (++col == 3) {
            printf("\n");
            col = 0;
        }
    }
    if (col)
        printf("\n");
    return 0;
}

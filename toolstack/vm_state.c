/*
 * toolstack/vm_state.c - the shared state of VM operations (vm_state.h): the
 * runtime table, the per-VM operation guard, atomic recording of power states
 * with their derived fields and metrics, and host memory accounting.
 * Threads: worker threads and VM watcher threads; one mutex guards the table
 * and the reservations; database writes happen outside it.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"

struct ts_vm_ctx ts_vm_ctx = {.shutdown_timeout_s = 60};
pthread_mutex_t ts_vm_state_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t ts_vm_state_cond = PTHREAD_COND_INITIALIZER;

static struct ts_vm_rt *table;
static uint64_t reserved;

struct ts_vm_rt *ts_vm_state_find(const char *ref)
{
    for (struct ts_vm_rt *r = table; r; r = r->next)
        if (strcmp(r->ref, ref) == 0)
            return r;
    return NULL;
}

struct ts_vm_rt *ts_vm_state_get(const char *ref, const char *uuid)
{
    struct ts_vm_rt *r = ts_vm_state_find(ref);
    if (r)
        return r;
    r = atoll_calloc(1, sizeof(*r));
    snprintf(r->ref, sizeof(r->ref), "%s", ref);
    snprintf(r->uuid, sizeof(r->uuid), "%s", uuid ? uuid : "");
    r->dir = atoll_strdup_printf("%s/%s", ts_vm_ctx.run_dir, r->uuid);
    r->ctl_fd = -1;
    r->status = -1;
    r->next = table;
    table = r;
    return r;
}

void ts_vm_state_release(struct ts_vm_rt *rt)
{
    if (!rt || rt->pid > 0 || rt->op_active || rt->watching)
        return;
    for (struct ts_vm_rt **p = &table; *p; p = &(*p)->next)
        if (*p == rt) {
            *p = rt->next;
            free(rt->dir);
            free(rt);
            return;
        }
}

void ts_vm_state_foreach(void (*fn)(struct ts_vm_rt *rt, void *arg), void *arg)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    for (struct ts_vm_rt *r = table; r; r = r->next)
        fn(r, arg);
    pthread_mutex_unlock(&ts_vm_state_lock);
}

const char *ts_vm_state_lower(const char *ps)
{
    if (!ps)
        return "halted";
    if (strcmp(ps, "Running") == 0)
        return "running";
    if (strcmp(ps, "Paused") == 0)
        return "paused";
    if (strcmp(ps, "Suspended") == 0)
        return "suspended";
    return "halted";
}

int ts_vm_state_bad_power(const char *ref, const char *expected, const char *actual,
                          struct atoll_err *err)
{
    ATOLL_ERR(err, ATOLL_E_VM_BAD_POWER_STATE, ref, expected, ts_vm_state_lower(actual));
    return -1;
}

static int set_nonempty(struct atoll_value *rec, const char *field)
{
    struct atoll_value *v = rec ? atoll_value_struct_get(rec, field) : NULL;
    return v && atoll_value_type(v) == ATOLL_VALUE_ARRAY && atoll_value_array_len(v) > 0;
}

struct atoll_value *ts_vm_state_allowed_ops(const char *ps, struct atoll_value *rec)
{
    static const char *const halted[] = {"start", "start_on", "destroy", "power_state_reset",
                                         "changing_VCPUs", "changing_memory_limits",
                                         "changing_static_range", "changing_dynamic_range",
                                         "provision", NULL};
    static const char *const running[] = {"clean_shutdown", "hard_shutdown", "shutdown",
                                          "clean_reboot", "hard_reboot", "pause",
                                          "changing_VCPUs_live", "changing_dynamic_range",
                                          "send_trigger", "power_state_reset", NULL};
    static const char *const paused[] = {"unpause", "hard_shutdown", "shutdown", "hard_reboot",
                                         "power_state_reset", NULL};
    static const char *const suspended[] = {"hard_shutdown", "shutdown", "destroy",
                                            "power_state_reset", NULL};
    /* what vm_copy.c can do: VMs without disks or network interfaces */
    static const char *const copies_halted[] = {"clone", "copy", "snapshot", NULL};
    static const char *const copies_live[] = {"snapshot", NULL};
    const char *const *ops = halted, *const *extra = copies_halted;
    if (ps && strcmp(ps, "Running") == 0)
        ops = running, extra = copies_live;
    else if (ps && strcmp(ps, "Paused") == 0)
        ops = paused, extra = copies_live;
    else if (ps && strcmp(ps, "Suspended") == 0)
        ops = suspended, extra = NULL;
    struct atoll_value *tmpl = rec ? atoll_value_struct_get(rec, "is_a_template") : NULL;
    int is_template = tmpl && atoll_value_type(tmpl) == ATOLL_VALUE_BOOL &&
                      atoll_value_get_bool(tmpl);
    if (set_nonempty(rec, "VBDs") || set_nonempty(rec, "VIFs"))
        extra = NULL;
    struct atoll_value *a = atoll_value_array();
    for (unsigned i = 0; ops[i]; i++)
        if (!is_template || strncmp(ops[i], "start", 5) != 0) /* templates never start */
            atoll_value_array_append(a, atoll_value_string(ops[i]));
    for (unsigned i = 0; extra && extra[i]; i++)
        atoll_value_array_append(a, atoll_value_string(extra[i]));
    return a;
}

/* ---- recording ---- */

struct rec_arg {
    const char *ref, *power_state, *op, *op_ref;
    const struct ts_vm_rt *rt;
};

static struct atoll_value *string_set(const char *s)
{
    struct atoll_value *a = atoll_value_array();
    if (s)
        atoll_value_array_append(a, atoll_value_string(s));
    return a;
}

static int do_record(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct rec_arg *a = arg;
    const struct ts_vm_ctx *c = &ts_vm_ctx;
    struct atoll_value *vm = NULL;
    if (!ts_dm_txn_get_mut(t, c->vm, a->ref, &vm)) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "VM", a->ref);
        return -1;
    }
    const char *ps = a->power_state ? a->power_state
                                    : atoll_value_struct_get_string(vm, "power_state");
    int resident = ps && strcmp(ps, "Halted") != 0 && strcmp(ps, "Suspended") != 0 && a->rt &&
                   a->rt->pid > 0;
    atoll_value_struct_set_string(vm, "power_state", ps ? ps : "Halted");
    atoll_value_struct_set_string(vm, "resident_on", resident ? c->host_ref : ATOLL_REF_NULL);
    atoll_value_struct_set_string(vm, "scheduled_to_be_resident_on", ATOLL_REF_NULL);
    atoll_value_struct_set_int(vm, "domid", resident ? (int64_t)a->rt->pid : -1);
    struct atoll_value *cur = atoll_value_struct();
    if (a->op) {
        atoll_value_struct_set_string(cur, a->op_ref, a->op);
        atoll_value_struct_set(vm, "allowed_operations", atoll_value_array());
    } else {
        atoll_value_struct_set(vm, "allowed_operations", ts_vm_state_allowed_ops(ps, vm));
    }
    atoll_value_struct_set(vm, "current_operations", cur);
    const char *dt = atoll_value_struct_get_string(vm, "domain_type");
    if (!dt || strcmp(dt, "unspecified") == 0) /* the only kind this host runs */
        atoll_value_struct_set_string(vm, "domain_type", "pvh");

    /* VM_metrics: created with the VM by VM.create; created here for VMs made otherwise */
    const char *mref = atoll_value_struct_get_string(vm, "metrics");
    char newref[ATOLL_REF_STRLEN + 1];
    struct atoll_value *m = NULL;
    int create = 0;
    if (!mref || !ts_dm_txn_get_mut(t, c->vm_metrics, mref, &m)) {
        atoll_ref_generate(newref);
        mref = newref;
        m = ts_dm_record_default(c->vm_metrics);
        char uuid[ATOLL_UUID_STRLEN + 1];
        atoll_uuid_generate(uuid);
        atoll_value_struct_set_string(m, "uuid", uuid);
        create = 1;
    }
    char mref_copy[ATOLL_REF_STRLEN + 1];
    snprintf(mref_copy, sizeof(mref_copy), "%s", mref);
    atoll_value_struct_set_string(vm, "metrics", mref_copy);
    if (a->power_state) { /* metrics change with the power state only */
        int64_t now = (int64_t)time(NULL);
        atoll_value_struct_set_int(m, "memory_actual", resident ? (int64_t)a->rt->memory : 0);
        atoll_value_struct_set_int(m, "VCPUs_number", resident ? (int64_t)a->rt->vcpus : 0);
        if (resident)
            atoll_value_struct_set(m, "start_time", atoll_value_datetime(a->rt->start_time));
        atoll_value_struct_set(m, "state", string_set(resident ? ts_vm_state_lower(ps) : NULL));
        atoll_value_struct_set(m, "last_updated", atoll_value_datetime(now));
        atoll_value_struct_set_string(m, "current_domain_type", resident ? "pvh" : "unspecified");
        struct atoll_value *vp = atoll_value_struct_get(vm, "VCPUs_params");
        atoll_value_struct_set(m, "VCPUs_params",
                               resident && vp ? atoll_value_ref(vp) : atoll_value_struct());
    }
    if (ts_dm_txn_put(t, c->vm_metrics, mref_copy, m, create, err) < 0) {
        atoll_value_unref(vm);
        return -1;
    }
    return ts_dm_txn_put(t, c->vm, a->ref, vm, 0, err);
}

int ts_vm_state_record(const char *ref, const char *power_state, const struct ts_vm_rt *rt,
                       const char *op, const char *op_ref, struct atoll_err *err)
{
    struct rec_arg a = {.ref = ref, .power_state = power_state, .rt = rt, .op = op,
                        .op_ref = op_ref};
    return ts_dm_db_txn(ts_vm_ctx.db, do_record, &a, NULL, err);
}

/* ---- operation guard ---- */

int ts_vm_state_op_begin(const char *ref, const char *op, const char *task_ref,
                         struct ts_vm_rt **out, struct atoll_value **rec_out,
                         struct atoll_err *err)
{
    return ts_vm_state_op_begin_ex(ref, op, task_ref, 0, out, rec_out, err);
}

void ts_vm_state_op_publish(struct ts_vm_rt *rt)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    int todo = rt->op_active && rt->op_unpublished;
    rt->op_unpublished = 0;
    char op[32], op_ref[ATOLL_REF_STRLEN + 1];
    snprintf(op, sizeof(op), "%s", rt->op);
    snprintf(op_ref, sizeof(op_ref), "%s", rt->op_ref);
    pthread_mutex_unlock(&ts_vm_state_lock);
    struct atoll_err err = ATOLL_ERR_INIT;
    if (todo && ts_vm_state_record(rt->ref, NULL, NULL, op, op_ref, &err) < 0) {
        log_warn("VM %s: cannot record operation %s: %s", rt->uuid, op,
                 atoll_err_code_name(err.code));
        atoll_err_clear(&err);
    }
}

int ts_vm_state_get_record(const char *ref, struct atoll_value **rec, struct atoll_err *err)
{
    int r = ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm, ref, rec, NULL, err);
    if (r == 0)
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "VM", ref);
    return r > 0 ? 0 : -1;
}

int ts_vm_state_op_begin_ex(const char *ref, const char *op, const char *task_ref, int defer,
                            struct ts_vm_rt **out, struct atoll_value **rec_out,
                            struct atoll_err *err)
{
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_vm_state_get_record(ref, &rec, err) < 0)
        return -1;
    char op_ref[ATOLL_REF_STRLEN + 1];
    if (task_ref && *task_ref)
        snprintf(op_ref, sizeof(op_ref), "%s", task_ref);
    else
        atoll_ref_generate(op_ref);
    const char *uuid = atoll_value_struct_get_string(rec, "uuid");
    pthread_mutex_lock(&ts_vm_state_lock);
    struct ts_vm_rt *rt = ts_vm_state_get(ref, uuid);
    if (rt->op_active) {
        ATOLL_ERR(err, ATOLL_E_OTHER_OPERATION_IN_PROGRESS, "VM", ref, rt->op, rt->op_ref);
        pthread_mutex_unlock(&ts_vm_state_lock);
        return -1;
    }
    rt->op_active = 1;
    rt->op_unpublished = defer;
    snprintf(rt->op, sizeof(rt->op), "%s", op);
    snprintf(rt->op_ref, sizeof(rt->op_ref), "%s", op_ref);
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (defer) {
        *out = rt;
        *rec_out = atoll_steal_ptr(&rec);
        return 0;
    }
    if (ts_vm_state_record(ref, NULL, rt, op, op_ref, err) < 0) {
        ts_vm_state_op_end(rt);
        return -1;
    }
    atoll_value_unref(rec);
    rec = NULL;
    if (ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm, ref, &rec, NULL, err) <= 0) {
        ts_vm_state_op_end(rt);
        return -1;
    }
    *out = rt;
    *rec_out = atoll_steal_ptr(&rec);
    return 0;
}

void ts_vm_state_op_end(struct ts_vm_rt *rt)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->op_active = 0;
    rt->op_unpublished = 0;
    rt->op[0] = '\0';
    rt->expect_exit = 0;
    pthread_cond_broadcast(&ts_vm_state_cond);
    ts_vm_state_release(rt);
    pthread_mutex_unlock(&ts_vm_state_lock);
}

/* ---- memory ---- */

void ts_vm_state_meminfo(uint64_t *total, uint64_t *available)
{
    *total = *available = 0;
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof(line), f)) {
        unsigned long long kb;
        if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
            *total = kb * 1024ULL;
        else if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            *available = kb * 1024ULL;
    }
    fclose(f);
}

static uint64_t free_locked(void)
{
    uint64_t total, avail, given = 0;
    ts_vm_state_meminfo(&total, &avail);
    for (struct ts_vm_rt *r = table; r; r = r->next)
        if (r->pid > 0)
            given += r->memory;
    given += reserved;
    uint64_t bound = total > given ? total - given : 0;
    return avail < bound ? avail : bound;
}

uint64_t ts_vm_state_free_memory(void)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    uint64_t f = free_locked();
    pthread_mutex_unlock(&ts_vm_state_lock);
    return f;
}

int ts_vm_state_reserve(uint64_t bytes, struct atoll_err *err)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    uint64_t f = free_locked();
    if (bytes > f) {
        pthread_mutex_unlock(&ts_vm_state_lock);
        char need[32], have[32];
        snprintf(need, sizeof(need), "%llu", (unsigned long long)bytes);
        snprintf(have, sizeof(have), "%llu", (unsigned long long)f);
        ATOLL_ERR(err, ATOLL_E_HOST_NOT_ENOUGH_FREE_MEMORY, need, have);
        return -1;
    }
    reserved += bytes;
    pthread_mutex_unlock(&ts_vm_state_lock);
    return 0;
}

void ts_vm_state_unreserve(uint64_t bytes)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    reserved = reserved > bytes ? reserved - bytes : 0;
    pthread_mutex_unlock(&ts_vm_state_lock);
}

void ts_vm_state_update_host_metrics(void)
{
    const struct ts_vm_ctx *c = &ts_vm_ctx;
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE host = NULL;
    if (ts_dm_db_get(c->db, c->host, c->host_ref, &host, NULL, &err) <= 0) {
        atoll_err_clear(&err);
        return;
    }
    const char *mref = atoll_value_struct_get_string(host, "metrics");
    if (!mref || strcmp(mref, ATOLL_REF_NULL) == 0)
        return;
    uint64_t total, avail;
    ts_vm_state_meminfo(&total, &avail);
    int has_free = ts_dm_field_find(c->host_metrics, "memory_free", NULL) != NULL;
    int64_t free_now = has_free ? (int64_t)ts_vm_state_free_memory() : 0;
    ATOLL_AUTOVALUE cur = NULL;
    if (ts_dm_db_get(c->db, c->host_metrics, mref, &cur, NULL, &err) > 0) {
        struct atoll_value *t = atoll_value_struct_get(cur, "memory_total");
        struct atoll_value *fr = atoll_value_struct_get(cur, "memory_free");
        struct atoll_value *lv = atoll_value_struct_get(cur, "live");
        if (t && atoll_value_get_int(t) == (int64_t)total && lv && atoll_value_get_bool(lv) &&
            (!has_free || (fr && atoll_value_get_int(fr) == free_now)))
            return; /* nothing changed: no write, no event */
    }
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_int(f, "memory_total", (int64_t)total);
    if (has_free)
        atoll_value_struct_set_int(f, "memory_free", free_now);
    atoll_value_struct_set_bool(f, "live", 1);
    atoll_value_struct_set(f, "last_updated", atoll_value_datetime((int64_t)time(NULL)));
    if (ts_dm_generic_update(c->db, c->host_metrics, mref, f, &err) < 0) {
        log_warn("cannot update host_metrics: %s", err.nparams ? err.params[0] : "?");
        atoll_err_clear(&err);
    }
}

/* ---- console objects ---- */

void ts_vm_state_ensure_console(struct ts_vm_rt *rt)
{
    const struct ts_vm_ctx *c = &ts_vm_ctx;
    const struct ts_dm_class *cc = ts_dm_class_find("console");
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE vm = NULL;
    if (!cc || ts_dm_db_get(c->db, c->vm, rt->ref, &vm, NULL, &err) <= 0) {
        atoll_err_clear(&err);
        return;
    }
    char ref[ATOLL_REF_STRLEN + 1] = "", uuid[ATOLL_UUID_STRLEN + 1] = "";
    struct atoll_value *set = atoll_value_struct_get(vm, "consoles");
    for (size_t i = 0; set && i < atoll_value_array_len(set) && !ref[0]; i++) {
        const char *r = atoll_value_get_string(atoll_value_array_get(set, i));
        ATOLL_AUTOVALUE con = NULL;
        if (r && ts_dm_db_get(c->db, cc, r, &con, NULL, &err) > 0) {
            const char *p = atoll_value_struct_get_string(con, "protocol");
            const char *u = atoll_value_struct_get_string(con, "uuid");
            if (p && u && strcmp(p, "vt100") == 0) {
                snprintf(ref, sizeof(ref), "%s", r);
                snprintf(uuid, sizeof(uuid), "%s", u);
            }
        }
        atoll_err_clear(&err);
    }
    if (!ref[0]) {
        ATOLL_AUTOVALUE host = NULL;
        const char *addr = NULL;
        if (ts_dm_db_get(c->db, c->host, c->host_ref, &host, NULL, &err) > 0)
            addr = atoll_value_struct_get_string(host, "address");
        atoll_err_clear(&err);
        atoll_uuid_generate(uuid);
        ATOLL_AUTOVALUE f = atoll_value_struct();
        atoll_value_struct_set_string(f, "uuid", uuid);
        atoll_value_struct_set_string(f, "protocol", "vt100");
        atoll_value_struct_set(f, "location",
                               atoll_value_string_take(atoll_strdup_printf(
                                   "https://%s/console?uuid=%s", addr && *addr ? addr
                                                                             : "localhost",
                                   uuid)));
        atoll_value_struct_set_string(f, "VM", rt->ref);
        if (ts_dm_generic_insert(c->db, cc, f, ref, &err) < 0) {
            log_warn("VM %s: cannot create its console object: %s", rt->uuid,
                     atoll_err_code_name(err.code));
            atoll_err_clear(&err);
            return;
        }
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    snprintf(rt->console_ref, sizeof(rt->console_ref), "%s", ref);
    snprintf(rt->console_uuid, sizeof(rt->console_uuid), "%s", uuid);
    pthread_mutex_unlock(&ts_vm_state_lock);
}

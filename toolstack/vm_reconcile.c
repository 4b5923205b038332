/*
 * toolstack/vm_reconcile.c - startup reconciliation (vm_reconcile.h). A VMM
 * is recognised by its control socket under <state-dir>/vms/<uuid>/ and its
 * greeting, which names the VM's uuid; its own "status" gives pid, size and
 * run state. Whatever the database said before, the VMM's answer wins.
 * Threads: main thread at startup (watchers start for adopted VMMs).
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_reconcile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "vm_run.h"
#include "vm_state.h"

struct item {
    char ref[ATOLL_REF_STRLEN + 1];
    char uuid[ATOLL_UUID_STRLEN + 1];
    char power[16];
    int busy; /* current_operations left over from a stopped atolld */
};

struct list {
    struct item *v;
    size_t n, cap;
};

static int collect(void *arg, const char *ref, struct atoll_value *rec)
{
    struct list *l = arg;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = atoll_realloc(l->v, l->cap * sizeof(*l->v));
    }
    struct item *it = &l->v[l->n++];
    memset(it, 0, sizeof(*it));
    snprintf(it->ref, sizeof(it->ref), "%s", ref);
    const char *u = atoll_value_struct_get_string(rec, "uuid");
    const char *p = atoll_value_struct_get_string(rec, "power_state");
    snprintf(it->uuid, sizeof(it->uuid), "%s", u ? u : "");
    snprintf(it->power, sizeof(it->power), "%s", p ? p : "Halted");
    struct atoll_value *cur = atoll_value_struct_get(rec, "current_operations");
    it->busy = cur && atoll_value_struct_len(cur) > 0;
    return 0;
}

int ts_vm_reconcile_run(struct atoll_err *err)
{
    struct list l = {0};
    if (ts_dm_db_foreach(ts_vm_ctx.db, ts_vm_ctx.vm, collect, &l, err) < 0) {
        free(l.v);
        return -1;
    }
    unsigned adopted = 0, halted = 0;
    int rc = 0;
    for (size_t i = 0; i < l.n; i++) {
        struct item *it = &l.v[i];
        if (!atoll_uuid_is_valid(it->uuid))
            continue;
        pthread_mutex_lock(&ts_vm_state_lock);
        struct ts_vm_rt *rt = ts_vm_state_get(it->ref, it->uuid);
        rt->op_active = 1;
        snprintf(rt->op, sizeof(rt->op), "%s", "reconcile");
        pthread_mutex_unlock(&ts_vm_state_lock);
        char state[32] = "";
        const char *ps = NULL;
        if (ts_vm_run_adopt(rt, state, sizeof(state))) {
            ps = strcmp(state, "paused") == 0 ? "Paused" : "Running";
            adopted++;
            if (strcmp(ps, it->power) != 0)
                log_info("VM %s: database said %s, its VMM says %s", it->uuid, it->power, ps);
        } else if (strcmp(it->power, "Running") == 0 || strcmp(it->power, "Paused") == 0) {
            ps = "Halted";
            halted++;
            log_info("VM %s: was %s but its VMM is gone: marked Halted", it->uuid, it->power);
        }
        if (ps || it->busy) {
            struct atoll_err e = ATOLL_ERR_INIT;
            if (ts_vm_state_record(it->ref, ps, rt->pid > 0 ? rt : NULL, NULL, NULL, &e) < 0) {
                log_error("VM %s: cannot record its reconciled state: %s", it->uuid,
                          atoll_err_code_name(e.code));
                if (!atoll_err_is_set(err))
                    atoll_err_move(err, &e);
                rc = -1;
            }
            atoll_err_clear(&e);
        }
        ts_vm_state_op_end(rt);
    }
    free(l.v);
    log_info("reconciled %zu VM(s): %u VMM(s) adopted, %u marked Halted", l.n, adopted, halted);
    ts_vm_state_update_host_metrics();
    return rc;
}

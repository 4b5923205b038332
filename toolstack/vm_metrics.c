/*
 * toolstack/vm_metrics.c - a sampler that keeps VM_metrics.memory_actual true while VMs
 * run: every 5 s it asks each running VMM's balloon what the guest really has (RAM minus
 * the pages the guest gave back) and writes the VM_metrics object only when that changed,
 * so idle hosts make no events. Power-state changes write metrics themselves (vm_state.c).
 * Threads: one sampler thread; store writes happen outside the table lock.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "vm_state.h"
#include "vmm_client.h"

#define PERIOD_S 5
#define MAX_VMS 4096

static pthread_t sampler;
static int running, stopping;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

struct sample {
    char ref[ATOLL_REF_STRLEN + 1];
    char uuid[ATOLL_UUID_STRLEN + 1];
    char *dir;
};

struct snap {
    struct sample *v;
    size_t n;
};

static void take(struct ts_vm_rt *rt, void *arg)
{
    struct snap *s = arg;
    if (rt->pid <= 0 || rt->exited || rt->op_active || s->n >= MAX_VMS)
        return;
    struct sample *x = &s->v[s->n++];
    snprintf(x->ref, sizeof(x->ref), "%s", rt->ref);
    snprintf(x->uuid, sizeof(x->uuid), "%s", rt->uuid);
    x->dir = atoll_strdup(rt->dir);
}

/* memory the guest has now, from its balloon: -1 when unknown (no balloon, no driver) */
static int64_t actual_of(const struct sample *x)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(x->dir);
    char ans[TS_VMM_LINE_MAX], eb[128], v[32], drv[8];
    int64_t a;
    if (ts_vmm_client_command(ctl, x->uuid, "query balloon", ans, sizeof(ans), 2000, eb,
                              sizeof(eb)) != 0 ||
        !ts_vmm_client_kv(ans, "driver", drv, sizeof(drv)) || strcmp(drv, "on") != 0 ||
        !ts_vmm_client_kv(ans, "actual_bytes", v, sizeof(v)) || atoll_parse_i64(v, 10, &a) < 0)
        return -1;
    return a;
}

static void sample_one(const struct sample *x)
{
    int64_t actual = actual_of(x);
    if (actual <= 0)
        return;
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE vm = NULL;
    ATOLL_AUTOVALUE m = NULL;
    if (ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm, x->ref, &vm, NULL, &err) <= 0) {
        atoll_err_clear(&err);
        return;
    }
    const char *mref = atoll_value_struct_get_string(vm, "metrics");
    if (!mref || ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm_metrics, mref, &m, NULL, &err) <= 0) {
        atoll_err_clear(&err);
        return;
    }
    struct atoll_value *cur = atoll_value_struct_get(m, "memory_actual");
    if (cur && atoll_value_get_int(cur) == actual)
        return;
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_int(f, "memory_actual", actual);
    atoll_value_struct_set(f, "last_updated", atoll_value_datetime((int64_t)time(NULL)));
    if (ts_dm_generic_update(ts_vm_ctx.db, ts_vm_ctx.vm_metrics, mref, f, &err) < 0)
        atoll_err_clear(&err);
}

static void *run(void *arg)
{
    pthread_mutex_lock(&lock);
    while (!stopping) {
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += PERIOD_S;
        while (!stopping && pthread_cond_timedwait(&cond, &lock, &t) != ETIMEDOUT)
            ;
        if (stopping)
            break;
        pthread_mutex_unlock(&lock);
        struct snap s = {.v = atoll_calloc(MAX_VMS, sizeof(struct sample))};
        ts_vm_state_foreach(take, &s);
        for (size_t i = 0; i < s.n; i++) {
            sample_one(&s.v[i]);
            free(s.v[i].dir);
        }
        free(s.v);
        pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

int ts_vm_metrics_start(void)
{
    pthread_mutex_lock(&lock);
    stopping = 0;
    running = pthread_create(&sampler, NULL, run, NULL) == 0;
    pthread_mutex_unlock(&lock);
    if (!running)
        log_warn("cannot start the VM metrics sampler: memory_actual follows power changes only");
    return running ? 0 : -1;
}

void ts_vm_metrics_stop(void)
{
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_broadcast(&cond);
    int was = running;
    running = 0;
    pthread_mutex_unlock(&lock);
    if (was)
        pthread_join(sampler, NULL);
}

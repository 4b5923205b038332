/*
 * toolstack/rpc_task.c - in-memory Async tasks (see rpc_task.h): a small list
 * of task records, each an atoll_value struct in XAPI's task shape, guarded by
 * one mutex; readers get deep copies.
 * Threads: any. Trust: refs from clients are only compared, never parsed.
 */
#define ATOLL_LOG_MODULE "task"
#include "rpc_task.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "xmlrpc.h"

#define TASK_KEEP_S 3600
#define TASK_MAX 10000

struct task {
    char ref[ATOLL_REF_STRLEN + 1];
    char *owner;                 /* user name */
    struct atoll_value *rec;     /* the XAPI record */
    int64_t finished_at;         /* 0 while pending */
    int cancelled;
    struct task *next;
};

static struct {
    pthread_mutex_t lock;
    struct task *head;
    unsigned n;
} T = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

static void task_free(struct task *t)
{
    atoll_value_unref(t->rec);
    free(t->owner);
    free(t);
}

/* Drops finished tasks older than TASK_KEEP_S (lock held). */
static void gc_locked(void)
{
    int64_t now = now_s();
    for (struct task **pp = &T.head; *pp;) {
        struct task *t = *pp;
        if (t->finished_at && now - t->finished_at > TASK_KEEP_S) {
            *pp = t->next;
            task_free(t);
            T.n--;
        } else {
            pp = &t->next;
        }
    }
}

static struct task *find_locked(const char *ref)
{
    for (struct task *t = T.head; t; t = t->next)
        if (ref && strcmp(t->ref, ref) == 0)
            return t;
    return NULL;
}

int ts_rpc_task_mem_create(const struct ts_call *call, const char *name,
                           char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    struct task *t = atoll_calloc(1, sizeof(*t));
    char uuid[ATOLL_UUID_STRLEN + 1];
    atoll_ref_generate(t->ref);
    atoll_uuid_generate(uuid);
    t->owner = atoll_strdup(call && call->user ? call->user : "");
    struct atoll_value *r = atoll_value_struct();
    atoll_value_struct_set_string(r, "uuid", uuid);
    atoll_value_struct_set_string(r, "name_label", name);
    atoll_value_struct_set_string(r, "name_description", "");
    struct atoll_value *ops = atoll_value_array();
    atoll_value_array_append(ops, atoll_value_string("cancel"));
    atoll_value_struct_set(r, "allowed_operations", ops);
    atoll_value_struct_set(r, "current_operations", atoll_value_struct());
    atoll_value_struct_set(r, "created", atoll_value_datetime(now_s()));
    atoll_value_struct_set(r, "finished", atoll_value_datetime(0));
    atoll_value_struct_set_string(r, "status", "pending");
    atoll_value_struct_set_string(r, "resident_on", ATOLL_REF_NULL);
    atoll_value_struct_set(r, "progress", atoll_value_double(0.0));
    atoll_value_struct_set_string(r, "type", "<none/>");
    atoll_value_struct_set_string(r, "result", "");
    atoll_value_struct_set(r, "error_info", atoll_value_array());
    atoll_value_struct_set(r, "other_config", atoll_value_struct());
    atoll_value_struct_set_string(r, "subtask_of", ATOLL_REF_NULL);
    atoll_value_struct_set(r, "subtasks", atoll_value_array());
    atoll_value_struct_set_string(r, "backtrace", "()");
    t->rec = r;
    pthread_mutex_lock(&T.lock);
    gc_locked();
    if (T.n >= TASK_MAX) {
        pthread_mutex_unlock(&T.lock);
        task_free(t);
        ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, "too many tasks; destroy finished ones");
        return -1;
    }
    t->next = T.head;
    T.head = t;
    T.n++;
    memcpy(ref_out, t->ref, sizeof(t->ref));
    pthread_mutex_unlock(&T.lock);
    return 0;
}

void ts_rpc_task_mem_finish(const char *ref, const char *result_xml, const struct atoll_err *error)
{
    pthread_mutex_lock(&T.lock);
    struct task *t = find_locked(ref);
    if (t) {
        const char *status = error ? (t->cancelled ? "cancelled" : "failure") : "success";
        if (error && error->code == ATOLL_E_TASK_CANCELLED)
            status = "cancelled";
        atoll_value_struct_set_string(t->rec, "status", status);
        atoll_value_struct_set(t->rec, "progress", atoll_value_double(1.0));
        atoll_value_struct_set(t->rec, "finished", atoll_value_datetime(now_s()));
        atoll_value_struct_set_string(t->rec, "result", result_xml ? result_xml : "");
        if (error)
            atoll_value_struct_set(t->rec, "error_info", ts_xmlrpc_error_description(error));
        t->finished_at = now_s();
    }
    pthread_mutex_unlock(&T.lock);
}

int ts_rpc_task_mem_cancelled(const char *ref)
{
    pthread_mutex_lock(&T.lock);
    struct task *t = find_locked(ref);
    int c = t && t->cancelled;
    pthread_mutex_unlock(&T.lock);
    return c;
}

/* Looks a task up for call: HANDLE_INVALID for unknown refs, RBAC denial for other users'
 * tasks unless the caller is a pool operator or admin. Returns a deep copy of the record. */
static struct atoll_value *get_rec(struct ts_call *call, const char *ref, struct atoll_err *err)
{
    pthread_mutex_lock(&T.lock);
    struct task *t = find_locked(ref);
    struct atoll_value *copy = NULL;
    int denied = 0;
    if (t) {
        denied = strcmp(t->owner, call->user ? call->user : "") != 0 &&
                 call->role < TS_ROLE_POOL_OPERATOR;
        if (!denied)
            copy = atoll_value_dup(t->rec);
    }
    pthread_mutex_unlock(&T.lock);
    if (!t)
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "task", ref ? ref : "");
    else if (denied)
        ts_rbac_check(call, TS_ROLE_POOL_OPERATOR, call->method, err);
    return copy;
}

static int h_get_record(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    struct atoll_value *r = get_rec(call, atoll_value_get_string(p[0]), err);
    if (!r)
        return -1;
    *result = r;
    return 0;
}

/* task.get_<field>: call->data is the field name. */
static int h_get_field(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                       struct atoll_value **result, struct atoll_err *err)
{
    ATOLL_AUTOVALUE r = get_rec(call, atoll_value_get_string(p[0]), err);
    if (!r)
        return -1;
    *result = atoll_value_ref(atoll_value_struct_get(r, call->data));
    return 0;
}

static int h_get_all(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    int records = call->data != NULL;
    struct atoll_value *out = records ? atoll_value_struct() : atoll_value_array();
    pthread_mutex_lock(&T.lock);
    gc_locked();
    for (struct task *t = T.head; t; t = t->next) {
        if (call->role < TS_ROLE_POOL_OPERATOR && strcmp(t->owner, call->user) != 0)
            continue;
        if (records)
            atoll_value_struct_set(out, t->ref, atoll_value_dup(t->rec));
        else
            atoll_value_array_append(out, atoll_value_string(t->ref));
    }
    pthread_mutex_unlock(&T.lock);
    *result = out;
    return 0;
}

static int h_get_by_uuid(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    const char *uuid = atoll_value_get_string(p[0]);
    pthread_mutex_lock(&T.lock);
    struct task *t = T.head;
    for (; t; t = t->next)
        if (uuid && strcmp(atoll_value_struct_get_string(t->rec, "uuid"), uuid) == 0)
            break;
    if (t)
        *result = atoll_value_string(t->ref);
    pthread_mutex_unlock(&T.lock);
    if (!t) {
        ATOLL_ERR(err, ATOLL_E_UUID_INVALID, "task", uuid ? uuid : "");
        return -1;
    }
    return 0;
}

/* task.cancel (data NULL) and task.destroy (data non-NULL). */
static int h_cancel_destroy(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    const char *ref = atoll_value_get_string(p[0]);
    ATOLL_AUTOVALUE r = get_rec(call, ref, err);
    if (!r)
        return -1;
    pthread_mutex_lock(&T.lock);
    for (struct task **pp = &T.head; *pp; pp = &(*pp)->next) {
        struct task *t = *pp;
        if (strcmp(t->ref, ref) != 0)
            continue;
        if (call->data) {
            *pp = t->next;
            task_free(t);
            T.n--;
        } else if (!t->finished_at) {
            t->cancelled = 1;
            atoll_value_struct_set_string(t->rec, "status", "cancelling");
        }
        break;
    }
    pthread_mutex_unlock(&T.lock);
    return 0;
}

int ts_rpc_task_mem_register(struct atoll_err *err)
{
    static const char *const fields[] = {
        "uuid", "name_label", "name_description", "allowed_operations", "current_operations",
        "created", "finished", "status", "resident_on", "progress", "type", "result",
        "error_info", "other_config", "subtask_of", "subtasks", "backtrace"};
    struct ts_rpc_method m = {.min_params = 2, .max_params = 2, .role = TS_ROLE_READ_ONLY,
                              .flags = TS_RPC_NO_ASYNC};
    m.name = "task.get_record";
    m.fn = h_get_record;
    ts_rpc_register_default(&m);
    m.name = "task.get_by_uuid";
    m.fn = h_get_by_uuid;
    ts_rpc_register_default(&m);
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(fields); i++) {
        ATOLL_AUTOFREE char *name = atoll_strdup_printf("task.get_%s", fields[i]);
        m.name = name;
        m.fn = h_get_field;
        m.data = (void *)fields[i];
        ts_rpc_register_default(&m);
    }
    m.data = NULL;
    m.min_params = m.max_params = 1;
    m.name = "task.get_all";
    m.fn = h_get_all;
    ts_rpc_register_default(&m);
    m.name = "task.get_all_records";
    m.data = (void *)"records";
    ts_rpc_register_default(&m);
    m.data = NULL;
    m.min_params = m.max_params = 2;
    m.flags |= TS_RPC_WRITE;
    m.role = TS_ROLE_READ_ONLY; /* own tasks; others' need pool-operator (checked inside) */
    m.name = "task.cancel";
    m.fn = h_cancel_destroy;
    ts_rpc_register_default(&m);
    m.name = "task.destroy";
    m.data = (void *)"destroy";
    ts_rpc_register_default(&m);
    (void)err;
    return 0;
}

void ts_rpc_task_mem_fini(void)
{
    pthread_mutex_lock(&T.lock);
    while (T.head) {
        struct task *t = T.head;
        T.head = t->next;
        task_free(t);
    }
    T.n = 0;
    pthread_mutex_unlock(&T.lock);
}

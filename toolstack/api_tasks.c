/*
 * toolstack/api_tasks.c - Async task objects in the datamodel store (see
 * api_tasks.h): task records are written through the generic server-side
 * insert/update helpers so that they produce events like any other object
 * (clients such as Xen Orchestra follow tasks through event.from).
 * Threads: worker threads. Trust: task refs from clients are looked up, not trusted.
 */
#define ATOLL_LOG_MODULE "task"
#include "api_tasks.h"

#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm.h"
#include "dm_db.h"
#include "dm_generic.h"
#include "rpc.h"
#include "xmlrpc.h"

static struct ts_dm_db *tasks_db;

static const struct ts_dm_class *task_class(void)
{
    return ts_dm_class_find("task");
}

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

static int create_task(const char *label, const char *descr, char ref_out[ATOLL_REF_STRLEN + 1],
                       struct atoll_err *err)
{
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_string(f, "name_label", label);
    atoll_value_struct_set_string(f, "name_description", descr ? descr : "");
    atoll_value_struct_set_string(f, "status", "pending");
    atoll_value_struct_set(f, "created", atoll_value_datetime(now_s()));
    atoll_value_struct_set(f, "progress", atoll_value_double(0.0));
    struct atoll_value *ops = atoll_value_array();
    atoll_value_array_append(ops, atoll_value_string("cancel"));
    atoll_value_struct_set(f, "allowed_operations", ops);
    return ts_dm_generic_insert(tasks_db, task_class(), f, ref_out, err);
}

static int op_create(void *arg, const struct ts_call *call, const char *name,
                     char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    return create_task(name, "", ref_out, err);
}

static void op_finish(void *arg, const char *task_ref, const char *result_xml,
                      const struct atoll_err *error)
{
    ATOLL_AUTOVALUE f = atoll_value_struct();
    const char *status = "success";
    if (error)
        status = error->code == ATOLL_E_TASK_CANCELLED ? "cancelled" : "failure";
    atoll_value_struct_set_string(f, "status", status);
    atoll_value_struct_set(f, "progress", atoll_value_double(1.0));
    atoll_value_struct_set(f, "finished", atoll_value_datetime(now_s()));
    atoll_value_struct_set_string(f, "result", result_xml ? result_xml : "");
    struct atoll_value *info = error ? ts_xmlrpc_error_description(error) : atoll_value_array();
    atoll_value_struct_set(f, "error_info", info);
    atoll_value_struct_set(f, "allowed_operations", atoll_value_array());
    struct atoll_err e = ATOLL_ERR_INIT;
    if (ts_dm_generic_update(tasks_db, task_class(), task_ref, f, &e) < 0)
        log_info("task %s could not be completed (destroyed by its client?): %s", task_ref,
                 atoll_err_code_name(e.code) ? atoll_err_code_name(e.code) : "error");
    atoll_err_clear(&e);
}

static int op_cancelled(void *arg, const char *task_ref)
{
    struct atoll_value *rec = NULL;
    struct atoll_err e = ATOLL_ERR_INIT;
    int c = 0;
    if (ts_dm_db_get(tasks_db, task_class(), task_ref, &rec, NULL, &e) == 1) {
        const char *st = atoll_value_struct_get_string(rec, "status");
        c = st && (strcmp(st, "cancelling") == 0 || strcmp(st, "cancelled") == 0);
    }
    atoll_value_unref(rec);
    atoll_err_clear(&e);
    return c;
}

/* task.create(session, label, description) -> task ref */
static int h_create(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    const char *label, *descr;
    if (ts_rpc_param_string(p, 0, "label", &label, err) < 0 ||
        ts_rpc_param_string(p, 1, "description", &descr, err) < 0)
        return -1;
    char ref[ATOLL_REF_STRLEN + 1];
    if (create_task(label, descr, ref, err) < 0)
        return -1;
    *result = atoll_value_string(ref);
    return 0;
}

/* task.cancel(session, task): pending -> cancelling; the running call notices and stops. */
static int h_cancel(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    const char *ref;
    if (ts_rpc_param_ref(p, 0, "task", &ref, err) < 0)
        return -1;
    struct atoll_value *rec = NULL;
    int rc = ts_dm_db_get(tasks_db, task_class(), ref, &rec, NULL, err);
    if (rc <= 0) {
        if (rc == 0)
            ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "task", ref);
        return -1;
    }
    const char *st = atoll_value_struct_get_string(rec, "status");
    int pending = st && strcmp(st, "pending") == 0;
    atoll_value_unref(rec);
    if (!pending) {
        ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, "the task is not pending");
        return -1;
    }
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_string(f, "status", "cancelling");
    return ts_dm_generic_update(tasks_db, task_class(), ref, f, err);
}

int ts_api_tasks_install(struct ts_dm_db *db, struct atoll_err *err)
{
    if (!task_class()) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "the datamodel has no task class");
        return -1;
    }
    tasks_db = db;
    struct ts_rpc_task_ops ops = {.create = op_create, .finish = op_finish,
                                  .cancelled = op_cancelled};
    ts_rpc_set_task_ops(&ops);
    const struct ts_rpc_method create = {
        .name = "task.create", .min_params = 3, .max_params = 3, .role = TS_ROLE_READ_ONLY,
        .flags = TS_RPC_NO_ASYNC | TS_RPC_WRITE, .fn = h_create,
        .param_names = "session_id,label,description"};
    const struct ts_rpc_method cancel = {
        .name = "task.cancel", .min_params = 2, .max_params = 2, .role = TS_ROLE_READ_ONLY,
        .flags = TS_RPC_NO_ASYNC | TS_RPC_WRITE, .fn = h_cancel,
        .param_names = "session_id,task"};
    if (ts_rpc_register_default(&create) < 0 || ts_rpc_register_default(&cancel) < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register task.create/task.cancel");
        return -1;
    }
    return 0;
}

/*
 * toolstack/api_tasks.h - Async tasks as store objects: the struct
 * ts_rpc_task_ops the dispatcher uses (create pending, finish with the
 * XML-RPC result fragment or the ErrorDescription, cancellation flag), plus
 * the explicit task messages task.create and task.cancel.
 * Threads: worker threads (store I/O). Trust: refs from clients are looked up.
 */
#ifndef TS_API_TASKS_H
#define TS_API_TASKS_H

#include "atoll/err.h"

struct ts_dm_db;

/* Installs the task ops and registers task.create / task.cancel (before ts_rpc_start;
 * db must outlive the dispatcher). 0 or -1. */
int ts_api_tasks_install(struct ts_dm_db *db, struct atoll_err *err);

#endif

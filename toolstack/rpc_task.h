/*
 * toolstack/rpc_task.h - in-memory task objects for Async.* calls, used until
 * the object store serves the task class (ts_rpc_set_task_ops replaces them).
 * Serves task.get_record/get_all/get_all_records/get_by_uuid/get_<field>/
 * cancel/destroy with XAPI's record shape. Finished tasks are dropped after
 * an hour. Threads: any (one mutex).
 */
#ifndef TS_RPC_TASK_H
#define TS_RPC_TASK_H

#include "rpc.h"

int ts_rpc_task_mem_create(const struct ts_call *call, const char *name,
                           char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
void ts_rpc_task_mem_finish(const char *ref, const char *result_xml, const struct atoll_err *error);
int ts_rpc_task_mem_cancelled(const char *ref);
/* Registers the task.* methods (as defaults: a datamodel registration wins). */
int ts_rpc_task_mem_register(struct atoll_err *err);
void ts_rpc_task_mem_fini(void);

#endif

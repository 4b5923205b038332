/*
 * toolstack/rpc.h - the API dispatcher: a table from wire method name
 * ("VM.start") to handler, with arity checks, optional trailing parameters,
 * session and RBAC checks, audit of writes, Async.* tasks, system.* methods.
 * Transports (xmlrpc.c, jsonrpc.c via http.c) decode a call, hand it to
 * ts_rpc_dispatch on a worker thread, and encode what comes back.
 * Threads: registration happens before ts_rpc_start (main thread); dispatch
 * and handlers run on worker threads, so a handler may block on SQLite, the
 * VMM or a wait (event.from). Only TS_RPC_NOWAIT handlers are also tried on
 * the libevent thread (ts_rpc_dispatch_nowait, call->nowait set), where they
 * must not block and answer TS_RPC_AGAIN to be run on a worker instead.
 * Trust: params are client data, already decoded into atoll_values; handlers
 * validate types with the helpers below.
 *
 * INTERFACE FOR THE DATAMODEL (toolstack/core.am) AND VM OPERATIONS:
 *   1. Fill a struct ts_rpc_method and call ts_rpc_register() once per wire name,
 *      from main() before ts_rpc_start (ts_dm_register_all() or similar).
 *   2. The handler gets the caller in struct ts_call and the parameters AFTER the
 *      session parameter, with optional trailing ones already defaulted.
 *   3. Return 0 with *result set (owned; void methods may leave it NULL: "" on the
 *      wire), or -1 with err set (becomes {Status: Failure, ErrorDescription}).
 *   4. For finer permission rules call ts_rbac_check(call, role, perm, err) (rbac.h).
 *   5. Tasks: the core provides struct ts_rpc_task_ops (task objects in the store)
 *      with ts_rpc_set_task_ops(); until then rpc.c keeps Async tasks in memory.
 */
#ifndef TS_RPC_H
#define TS_RPC_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "rbac.h"

#define TS_RPC_MAX_PARAMS 16

enum ts_rpc_proto { TS_RPC_XMLRPC, TS_RPC_JSONRPC, TS_RPC_INTERNAL };

/* Who is calling: built by the dispatcher, valid for the duration of the handler (borrowed). */
struct ts_call {
    const char *method;        /* wire name without "Async." ("VM.start") */
    const char *session_ref;   /* caller's session ref; NULL for TS_RPC_NO_SESSION methods */
    const char *user;          /* authenticated user name ("root"); NULL without a session */
    enum ts_role role;         /* the session's role; TS_ROLE_NONE without a session */
    int is_local_superuser;    /* 1 for root */
    const char *task_ref;      /* the Async task this call runs for; NULL when synchronous */
    enum ts_rpc_proto proto;   /* which transport the call came in on */
    const char *peer;          /* "127.0.0.1:51234", "unix" or "internal" (for logs/audit) */
    void *data;                /* ts_rpc_method.data of the registration */
    const char *session_uuid;  /* the session's uuid (safe to log, unlike the ref); NULL without */
    int local;                 /* 1 if the call came over the local UNIX socket */
    int nowait;                /* 1 on the libevent thread: never block (TS_RPC_NOWAIT) */
};

/*
 * A method handler. params[0..n-1] are the wire parameters after the session
 * (for TS_RPC_NO_SESSION methods, all of them); n == max_params - (has session),
 * missing optional ones already filled from defaults. params are borrowed and
 * read-only (may be shared with other threads): never modify them, take a
 * reference or a copy to keep one. On success set *result (owned, may stay
 * NULL for void) and return 0; on failure fill err and return -1. A
 * TS_RPC_NOWAIT handler called with call->nowait may instead return
 * TS_RPC_AGAIN, having done nothing, when it could answer only by blocking.
 */
#define TS_RPC_AGAIN 1
typedef int (*ts_rpc_handler)(struct ts_call *call, struct atoll_value *const *params,
                              unsigned n, struct atoll_value **result, struct atoll_err *err);

enum ts_rpc_flags {
    TS_RPC_NO_SESSION = 1u << 0,  /* no session parameter (session.login_with_password, system.*) */
    TS_RPC_NO_ASYNC = 1u << 1,    /* no Async.* variant (getters, setters, event.*, task.*) */
    TS_RPC_WRITE = 1u << 2,       /* changes state: one audit line per call */
    TS_RPC_SECRET = 1u << 3,      /* only the first argument (a user name) is audited */
    TS_RPC_HIDDEN = 1u << 4,      /* not listed by system.listMethods */
    TS_RPC_SECRET_ALL = 1u << 5,  /* no argument is ever logged or audited */
    /*
     * A read that can be answered from memory: the call is first tried on the
     * libevent thread with call->nowait = 1, where the handler may take no lock
     * that is ever held across I/O (only try-locks), touch no store, plugin,
     * Lua or VMM, and writes nothing; it returns TS_RPC_AGAIN to be rerun on
     * a worker (call->nowait = 0) when it cannot answer that way.
     */
    TS_RPC_NOWAIT = 1u << 6,
};

struct ts_rpc_method {
    const char *name;             /* "VM.start" (copied) */
    unsigned min_params;          /* wire count INCLUDING the session parameter */
    unsigned max_params;          /* >= min_params, <= TS_RPC_MAX_PARAMS */
    enum ts_role role;            /* least role allowed to call it (ignored with NO_SESSION) */
    unsigned flags;               /* enum ts_rpc_flags */
    ts_rpc_handler fn;
    void *data;                   /* passed back in ts_call.data */
    /*
     * Defaults of the optional trailing parameters, indexed by wire position
     * (defaults[min_params .. max_params-1]); may be NULL when min == max.
     * ts_rpc_register takes a reference to each; the caller keeps its own.
     */
    struct atoll_value *const *defaults;
    const char *param_names;      /* "session_id,vm,start_paused,force": docs and audit */
};

/*
 * Registers a method (main thread, before ts_rpc_start). Returns 0, or -1 if
 * the name is taken or the description is inconsistent (err says which).
 */
int ts_rpc_register(const struct ts_rpc_method *m, struct atoll_err *err);
/* Same, but silently keeps an existing registration: returns 0 and does nothing. */
int ts_rpc_register_default(const struct ts_rpc_method *m);
/* 1 if a method of that wire name is registered. */
int ts_rpc_has(const char *name);

/* Async tasks: how the dispatcher creates and completes task objects. */
struct ts_rpc_task_ops {
    /*
     * Creates a pending task named name ("Async.VM.start") owned by call's
     * session; writes its ref. 0 or -1 with err.
     */
    int (*create)(void *arg, const struct ts_call *call, const char *name,
                  char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
    /*
     * Completes it: on success result_xml is the XML-RPC serialisation of the
     * result ("<value>OpaqueRef:...</value>") and error is NULL; on failure
     * result_xml is NULL and error the ErrorDescription. Must not fail.
     */
    void (*finish)(void *arg, const char *task_ref, const char *result_xml,
                   const struct atoll_err *error);
    /* 1 if the task was cancelled by a client (handlers may poll it); may be NULL. */
    int (*cancelled)(void *arg, const char *task_ref);
    void *arg;
};
/* Installs the task ops (copied). Before this, rpc.c keeps tasks in memory and
 * registers task.get_record/get_status/get_result/get_error_info/destroy/... itself. */
void ts_rpc_set_task_ops(const struct ts_rpc_task_ops *ops);
/* 1 if the task of call (Async) was cancelled; 0 for synchronous calls. */
int ts_rpc_task_cancelled(const struct ts_call *call);

/*
 * Starts the dispatcher: registers the built-in methods (system.*, session.*,
 * in-memory tasks if no task ops were set), then freezes the table and starts
 * the Async worker pool (at most max_async concurrent Async calls).
 */
int ts_rpc_start(unsigned max_async, struct atoll_err *err);
/* Waits for running Async calls (up to timeout_ms), then frees the table. */
void ts_rpc_stop(int timeout_ms);

/* One decoded call as a transport hands it over. */
struct ts_rpc_request {
    const char *method;              /* as received, maybe "Async.VM.start" */
    struct atoll_value **params;     /* borrowed */
    unsigned nparams;
    enum ts_rpc_proto proto;
    const char *peer;                /* for logs */
    int local;                       /* came over the UNIX socket */
};

enum ts_rpc_reply_flags {
    TS_RPC_REPLY_BARE = 1u << 0,     /* XML-RPC: send the value without {Status, Value} */
};

/*
 * Dispatches one call (worker thread). Returns 0 with *result (owned; never
 * NULL: void becomes "") and *reply_flags, or -1 with err: the XenAPI error
 * for the envelope. May block as long as the handler does.
 */
int ts_rpc_dispatch(const struct ts_rpc_request *req, struct atoll_value **result,
                    unsigned *reply_flags, struct atoll_err *err);
/*
 * The same on the libevent thread, for TS_RPC_NOWAIT methods only: 0 or -1 as
 * above, or TS_RPC_AGAIN (nothing done, result and err untouched) when the
 * call must go through ts_rpc_dispatch on a worker: other methods, Async.*,
 * a session or cache lock that is busy, an expired session, a denied call.
 */
int ts_rpc_dispatch_nowait(const struct ts_rpc_request *req, struct atoll_value **result,
                           unsigned *reply_flags, struct atoll_err *err);

/* ---- parameter helpers for handlers: each sets FIELD_TYPE_ERROR [name] on a mismatch ---- */

/* A string (XML-RPC untyped value). */
int ts_rpc_param_string(struct atoll_value *const *params, unsigned i, const char *name,
                        const char **out, struct atoll_err *err);
/* An int64: an int, or a string of decimal digits (XenAPI sends int64 as strings). */
int ts_rpc_param_int(struct atoll_value *const *params, unsigned i, const char *name,
                     int64_t *out, struct atoll_err *err);
/* A bool: a boolean, or the strings "true"/"false"/"1"/"0". */
int ts_rpc_param_bool(struct atoll_value *const *params, unsigned i, const char *name, int *out,
                      struct atoll_err *err);
/* A float: a double, an int, or a numeric string. */
int ts_rpc_param_double(struct atoll_value *const *params, unsigned i, const char *name,
                        double *out, struct atoll_err *err);
/* A ref: a string "OpaqueRef:<uuid>" or "OpaqueRef:NULL"; bad ones -> HANDLE_INVALID [cls, ref]. */
int ts_rpc_param_ref(struct atoll_value *const *params, unsigned i, const char *cls,
                     const char **out, struct atoll_err *err);

/* Names of every listed method (sorted), for system.listMethods; caller owns the array. */
struct atoll_value *ts_rpc_list_methods(void);

#endif

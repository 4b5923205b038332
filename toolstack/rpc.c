/*
 * toolstack/rpc.c - the dispatcher (see rpc.h): a hash table of methods
 * frozen at start, arity and session checks, RBAC, audit of writes, Async
 * calls run as tasks on the worker pool, and the system.* methods.
 * Threads: registration on the main thread before ts_rpc_start; afterwards
 * the table is read-only and dispatch runs concurrently on worker threads (and
 * ts_rpc_dispatch_nowait on the libevent thread).
 * Trust: the request (method name, params) is client data.
 */
#define ATOLL_LOG_MODULE "rpc"
#include "rpc.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "rpc_task.h"
#include "session.h"
#include "strbuf.h"
#include "workq.h"
#include "xmlrpc.h"

struct entry {
    char *name;
    unsigned min, max;
    enum ts_role role;
    unsigned flags;
    ts_rpc_handler fn;
    void *data;
    struct atoll_value *defaults[TS_RPC_MAX_PARAMS];
    char *param_names;
};

static struct {
    struct entry **slots; /* open addressing, power-of-two size */
    size_t cap, count;
    int frozen;
    struct ts_rpc_task_ops task_ops;
    int have_task_ops;
    pthread_mutex_t async_lock;
    pthread_cond_t async_done;
    unsigned async_running, async_max;
} R = {.async_lock = PTHREAD_MUTEX_INITIALIZER, .async_done = PTHREAD_COND_INITIALIZER};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

static struct entry *lookup(const char *name)
{
    if (!R.cap)
        return NULL;
    size_t mask = R.cap - 1;
    for (size_t i = name_hash(name) & mask; R.slots[i]; i = (i + 1) & mask)
        if (strcmp(R.slots[i]->name, name) == 0)
            return R.slots[i];
    return NULL;
}

static void insert(struct entry *e)
{
    if ((R.count + 1) * 2 > R.cap) {
        size_t ncap = R.cap ? R.cap * 2 : 1024;
        struct entry **ns = atoll_calloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < R.cap; i++) {
            if (!R.slots[i])
                continue;
            size_t j = name_hash(R.slots[i]->name) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = R.slots[i];
        }
        free(R.slots);
        R.slots = ns;
        R.cap = ncap;
    }
    size_t j = name_hash(e->name) & (R.cap - 1);
    while (R.slots[j])
        j = (j + 1) & (R.cap - 1);
    R.slots[j] = e;
    R.count++;
}

int ts_rpc_register(const struct ts_rpc_method *m, struct atoll_err *err)
{
    const char *why = NULL;
    if (R.frozen)
        why = "the method table is frozen (register before ts_rpc_start)";
    else if (!m || !m->name || !*m->name || !m->fn)
        why = "a method needs a name and a handler";
    else if (m->min_params > m->max_params || m->max_params > TS_RPC_MAX_PARAMS)
        why = "bad parameter counts";
    else if (!(m->flags & TS_RPC_NO_SESSION) && m->min_params < 1)
        why = "a method with a session takes at least one parameter";
    else if (m->min_params < m->max_params && !m->defaults)
        why = "optional parameters need defaults";
    else if (lookup(m->name))
        why = "already registered";
    if (why) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register an API method");
        atoll_err_detail(err, "method '%s': %s", m && m->name ? m->name : "?", why);
        return -1;
    }
    for (unsigned i = m->min_params; i < m->max_params; i++)
        if (!m->defaults[i]) {
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register an API method");
            atoll_err_detail(err, "method '%s': no default for parameter %u", m->name, i);
            return -1;
        }
    struct entry *e = atoll_calloc(1, sizeof(*e));
    e->name = atoll_strdup(m->name);
    e->min = m->min_params;
    e->max = m->max_params;
    e->role = (m->flags & TS_RPC_NO_SESSION) ? TS_ROLE_NONE : m->role;
    if (!(m->flags & TS_RPC_NO_SESSION) && e->role == TS_ROLE_NONE)
        e->role = TS_ROLE_POOL_ADMIN; /* forgotten role: safest default */
    e->flags = m->flags;
    e->fn = m->fn;
    e->data = m->data;
    e->param_names = atoll_strdup(m->param_names);
    for (unsigned i = m->min_params; i < m->max_params; i++)
        e->defaults[i] = atoll_value_ref(m->defaults[i]);
    insert(e);
    return 0;
}

int ts_rpc_register_default(const struct ts_rpc_method *m)
{
    if (m && m->name && lookup(m->name))
        return 0;
    struct atoll_err err = ATOLL_ERR_INIT;
    int rc = ts_rpc_register(m, &err);
    if (rc < 0)
        log_error("%s", err.detail ? err.detail : "cannot register a method");
    atoll_err_clear(&err);
    return rc;
}

int ts_rpc_has(const char *name)
{
    return name && lookup(name) != NULL;
}

void ts_rpc_set_task_ops(const struct ts_rpc_task_ops *ops)
{
    if (ops) {
        R.task_ops = *ops;
        R.have_task_ops = 1;
    } else {
        R.have_task_ops = 0;
    }
}

int ts_rpc_task_cancelled(const struct ts_call *call)
{
    if (!call || !call->task_ref)
        return 0;
    if (R.have_task_ops)
        return R.task_ops.cancelled ? R.task_ops.cancelled(R.task_ops.arg, call->task_ref) : 0;
    return ts_rpc_task_mem_cancelled(call->task_ref);
}

/* ---------------------------------------------------------------- param helpers */

static int type_error(const char *name, struct atoll_err *err)
{
    ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, name ? name : "");
    return -1;
}

int ts_rpc_param_string(struct atoll_value *const *params, unsigned i, const char *name,
                        const char **out, struct atoll_err *err)
{
    const char *s = atoll_value_get_string(params[i]);
    if (!s)
        return type_error(name, err);
    *out = s;
    return 0;
}

int ts_rpc_param_int(struct atoll_value *const *params, unsigned i, const char *name,
                     int64_t *out, struct atoll_err *err)
{
    const struct atoll_value *v = params[i];
    if (atoll_value_type(v) == ATOLL_VALUE_INT) {
        *out = atoll_value_get_int(v);
        return 0;
    }
    int64_t x;
    if (atoll_value_type(v) == ATOLL_VALUE_STRING &&
        atoll_parse_i64(atoll_value_get_string(v), 10, &x) == 0) {
        *out = x;
        return 0;
    }
    return type_error(name, err);
}

int ts_rpc_param_bool(struct atoll_value *const *params, unsigned i, const char *name, int *out,
                      struct atoll_err *err)
{
    const struct atoll_value *v = params[i];
    if (atoll_value_type(v) == ATOLL_VALUE_BOOL) {
        *out = atoll_value_get_bool(v);
        return 0;
    }
    const char *s = atoll_value_get_string(v);
    if (s && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0)) {
        *out = 1;
        return 0;
    }
    if (s && (strcmp(s, "false") == 0 || strcmp(s, "0") == 0)) {
        *out = 0;
        return 0;
    }
    return type_error(name, err);
}

int ts_rpc_param_double(struct atoll_value *const *params, unsigned i, const char *name,
                        double *out, struct atoll_err *err)
{
    const struct atoll_value *v = params[i];
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_DOUBLE:
        *out = atoll_value_get_double(v);
        return 0;
    case ATOLL_VALUE_INT:
        *out = (double)atoll_value_get_int(v);
        return 0;
    case ATOLL_VALUE_STRING: {
        const char *s = atoll_value_get_string(v);
        char *end;
        double d = strtod(s, &end);
        if (*s && !*end) {
            *out = d;
            return 0;
        }
        break;
    }
    default:
        break;
    }
    return type_error(name, err);
}

int ts_rpc_param_ref(struct atoll_value *const *params, unsigned i, const char *cls,
                     const char **out, struct atoll_err *err)
{
    const char *s = atoll_value_get_string(params[i]);
    if (!s || !atoll_ref_is_valid(s)) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, cls ? cls : "", s ? s : "");
        return -1;
    }
    *out = s;
    return 0;
}

/* ---------------------------------------------------------------- listing */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct atoll_value *ts_rpc_list_methods(void)
{
    const char **names = atoll_calloc(R.count ? R.count : 1, sizeof(*names));
    size_t n = 0;
    for (size_t i = 0; i < R.cap; i++)
        if (R.slots[i] && !(R.slots[i]->flags & TS_RPC_HIDDEN))
            names[n++] = R.slots[i]->name;
    qsort(names, n, sizeof(*names), cmp_str);
    struct atoll_value *a = atoll_value_array();
    for (size_t i = 0; i < n; i++)
        atoll_value_array_append(a, atoll_value_string(names[i]));
    free(names);
    return a;
}

static int sys_list_methods(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    *result = ts_rpc_list_methods();
    return 0;
}

static int sys_is_alive(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    *result = n > 0 && atoll_value_type(params[0]) != ATOLL_VALUE_NIL
                  ? atoll_value_ref(params[0])
                  : atoll_value_string("OK");
    return 0;
}

/* ---------------------------------------------------------------- audit */

/* A short, secret-free rendering of the arguments for the audit line. */
static char *audit_args(const struct entry *e, struct atoll_value *const *args, unsigned n)
{
    struct ts_strbuf b = {0};
    /* secret methods: only the first argument (a user name) is shown, or nothing */
    if (e->flags & TS_RPC_SECRET_ALL)
        n = 0;
    else if ((e->flags & TS_RPC_SECRET) && n > 1)
        n = 1;
    for (unsigned i = 0; i < n && b.len < 400; i++) {
        if (i)
            ts_strbuf_putc(&b, ' ');
        const struct atoll_value *v = args[i];
        switch (atoll_value_type(v)) {
        case ATOLL_VALUE_STRING: {
            const char *s = atoll_value_get_string(v);
            size_t len = strlen(s);
            ts_strbuf_putc(&b, '\'');
            for (size_t k = 0; k < len && k < 80; k++)
                ts_strbuf_putc(&b, s[k] > 0x20 && s[k] < 0x7f && s[k] != '\'' ? s[k] : '_');
            if (len > 80)
                ts_strbuf_puts(&b, "...");
            ts_strbuf_putc(&b, '\'');
            break;
        }
        case ATOLL_VALUE_INT: {
            char tmp[32];
            snprintf(tmp, sizeof(tmp), "%" PRId64, atoll_value_get_int(v));
            ts_strbuf_puts(&b, tmp);
            break;
        }
        case ATOLL_VALUE_BOOL:
            ts_strbuf_puts(&b, atoll_value_get_bool(v) ? "true" : "false");
            break;
        default:
            ts_strbuf_puts(&b, "<");
            ts_strbuf_puts(&b, atoll_value_type_name(atoll_value_type(v)));
            ts_strbuf_puts(&b, ">");
        }
    }
    if (e->flags & (TS_RPC_SECRET | TS_RPC_SECRET_ALL))
        ts_strbuf_puts(&b, n ? " (rest withheld)" : "(withheld)");
    char *s = ts_strbuf_take(&b, NULL);
    return s ? s : atoll_strdup("");
}

/* ---------------------------------------------------------------- async */

struct async_job {
    const struct entry *e;
    struct ts_session_info si;
    char task_ref[ATOLL_REF_STRLEN + 1];
    char *peer;
    enum ts_rpc_proto proto;
    int local;
    struct atoll_value *args[TS_RPC_MAX_PARAMS];
    unsigned nargs;
};

static void fill_call(struct ts_call *call, const struct entry *e,
                      const struct ts_session_info *si)
{
    call->method = e->name;
    call->data = e->data;
    if (si && si->user) {
        call->session_ref = si->ref;
        call->session_uuid = si->uuid;
        call->user = si->user;
        call->role = si->role;
        call->is_local_superuser = si->is_local_superuser;
    }
}

static void async_run(void *arg)
{
    struct async_job *j = arg;
    struct ts_call call = {.proto = j->proto, .peer = j->peer, .local = j->local,
                           .task_ref = j->task_ref};
    fill_call(&call, j->e, &j->si);
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *res = NULL;
    int rc = j->e->fn(&call, j->args, j->nargs, &res, &err);
    if (rc < 0 && !atoll_err_is_set(&err))
        ATOLL_ERR(&err, ATOLL_E_INTERNAL_ERROR, "the handler failed without saying why");
    if (rc == 0 && !res)
        res = atoll_value_string("");
    if (j->e->flags & TS_RPC_WRITE) {
        ATOLL_AUTOFREE char *a = audit_args(j->e, j->args, j->nargs);
        ts_rbac_audit(&call, a, rc < 0 ? &err : NULL);
    }
    ATOLL_AUTOFREE char *xml = rc == 0 ? ts_xmlrpc_value_to_string(res) : NULL;
    if (R.have_task_ops)
        R.task_ops.finish(R.task_ops.arg, j->task_ref, xml, rc < 0 ? &err : NULL);
    else
        ts_rpc_task_mem_finish(j->task_ref, xml, rc < 0 ? &err : NULL);
    if (rc < 0)
        log_debug("Async.%s failed: %s", j->e->name, atoll_err_code_name(err.code));
    atoll_value_unref(res);
    atoll_err_clear(&err);
    for (unsigned i = 0; i < j->nargs; i++)
        atoll_value_unref(j->args[i]);
    ts_session_info_fini(&j->si);
    free(j->peer);
    free(j);
    pthread_mutex_lock(&R.async_lock);
    R.async_running--;
    pthread_cond_broadcast(&R.async_done);
    pthread_mutex_unlock(&R.async_lock);
}

static int start_async(const struct entry *e, struct ts_call *call,
                       const struct ts_session_info *si, struct atoll_value *const *args,
                       unsigned nargs, struct atoll_value **result, struct atoll_err *err)
{
    pthread_mutex_lock(&R.async_lock);
    int busy = R.async_running >= R.async_max;
    if (!busy)
        R.async_running++;
    pthread_mutex_unlock(&R.async_lock);
    if (busy) {
        ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, "too many asynchronous calls in progress");
        return -1;
    }
    struct async_job *j = atoll_calloc(1, sizeof(*j));
    ATOLL_AUTOFREE char *tname = atoll_strdup_printf("Async.%s", e->name);
    int rc = R.have_task_ops
                 ? R.task_ops.create(R.task_ops.arg, call, tname, j->task_ref, err)
                 : ts_rpc_task_mem_create(call, tname, j->task_ref, err);
    if (rc < 0) {
        free(j);
        pthread_mutex_lock(&R.async_lock);
        R.async_running--;
        pthread_mutex_unlock(&R.async_lock);
        return -1;
    }
    j->e = e;
    j->si = *si;
    j->si.user = atoll_strdup(si->user);
    j->si.originator = atoll_strdup(si->originator);
    j->peer = atoll_strdup(call->peer);
    j->proto = call->proto;
    j->local = call->local;
    j->nargs = nargs;
    for (unsigned i = 0; i < nargs; i++)
        j->args[i] = atoll_value_ref(args[i]);
    *result = atoll_value_string(j->task_ref);
    ts_workq_submit(async_run, j);
    return 0;
}

/* ---------------------------------------------------------------- dispatch */

/* XAPI also accepts "Class_message" for "Class.message" (sync only). */
static struct entry *lookup_underscore(const char *name)
{
    if (strchr(name, '.') || strlen(name) > 256)
        return NULL;
    char tmp[260];
    snprintf(tmp, sizeof(tmp), "%s", name);
    for (char *u = strchr(tmp, '_'); u; u = strchr(u + 1, '_')) {
        *u = '.';
        struct entry *e = lookup(tmp);
        if (e)
            return e;
        *u = '_';
    }
    return NULL;
}

/*
 * nowait (libevent thread): only TS_RPC_NOWAIT methods, synchronous, with a
 * session that can be checked without waiting; anything else returns
 * TS_RPC_AGAIN before doing anything, and so does a denied call (its log line
 * is written by the worker).
 */
static int dispatch(const struct ts_rpc_request *req, int nowait, struct atoll_value **result,
                    unsigned *reply_flags, struct atoll_err *err)
{
    const char *name = req->method ? req->method : "";
    int async = 0;
    *reply_flags = 0;
    if (strncmp(name, "Async.", 6) == 0) {
        async = 1;
        name += 6;
    }
    struct entry *e = lookup(name);
    if (!e && !async)
        e = lookup_underscore(name);
    if (!e && strncmp(name, "system.isAlive", 14) == 0)
        e = lookup("system.isAlive");
    if (nowait && (!e || async || !(e->flags & TS_RPC_NOWAIT)))
        return TS_RPC_AGAIN;
    if (!e || (async && (e->flags & (TS_RPC_NO_ASYNC | TS_RPC_NO_SESSION)))) {
        ATOLL_ERR(err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, req->method ? req->method : "");
        return -1;
    }
    if (req->nparams < e->min || req->nparams > e->max) {
        char want[16], got[16];
        snprintf(want, sizeof(want), "%u", e->max);
        snprintf(got, sizeof(got), "%u", req->nparams);
        ATOLL_ERR(err, ATOLL_E_MESSAGE_PARAMETER_COUNT_MISMATCH, e->name, want, got);
        return -1;
    }
    struct ts_call call = {.proto = req->proto, .peer = req->peer, .local = req->local,
                           .nowait = nowait};
    struct ts_session_info si = {0};
    unsigned off = 0;
    if (!(e->flags & TS_RPC_NO_SESSION)) {
        const char *sref = atoll_value_get_string(req->params[0]);
        int src = nowait ? ts_session_check_nowait(sref ? sref : "", &si, err)
                         : ts_session_check(sref ? sref : "", &si, err);
        if (src == TS_SESSION_BUSY)
            return TS_RPC_AGAIN;
        if (src < 0)
            return -1;
        off = 1;
    }
    fill_call(&call, e, si.user ? &si : NULL);
    struct atoll_value *args[TS_RPC_MAX_PARAMS];
    unsigned nargs = 0;
    for (unsigned i = off; i < req->nparams; i++)
        args[nargs++] = req->params[i];
    for (unsigned i = req->nparams; i < e->max; i++)
        args[nargs++] = e->defaults[i];

    int rc;
    struct atoll_value *res = NULL;
    if (nowait && e->role != TS_ROLE_NONE && !(call.session_ref && call.role >= e->role)) {
        rc = TS_RPC_AGAIN; /* denied: the worker says so and logs it */
    } else if (ts_rbac_check(&call, e->role, e->name, err) < 0) {
        rc = -1;
        log_info("denied %s to user '%s' (role %s)", e->name, call.user ? call.user : "-",
                 ts_rbac_role_name(call.role));
    } else if (async) {
        rc = start_async(e, &call, &si, args, nargs, &res, err);
    } else {
        rc = e->fn(&call, args, nargs, &res, err);
        if (rc > 0 && !nowait) { /* TS_RPC_AGAIN is for nowait calls only */
            atoll_value_unref(res);
            res = NULL;
            rc = -1;
        }
        if (rc < 0 && !atoll_err_is_set(err))
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "the handler failed without saying why");
    }
    if ((e->flags & TS_RPC_WRITE) && !(async && rc == 0) && rc != TS_RPC_AGAIN) {
        ATOLL_AUTOFREE char *a = audit_args(e, args, nargs);
        ts_rbac_audit(&call, a, rc < 0 ? err : NULL);
    }
    ts_session_info_fini(&si);
    if (rc != 0) {
        atoll_value_unref(res);
        return rc < 0 ? -1 : TS_RPC_AGAIN;
    }
    if (e->fn == sys_list_methods)
        *reply_flags |= TS_RPC_REPLY_BARE;
    *result = res ? res : atoll_value_string("");
    return 0;
}

int ts_rpc_dispatch(const struct ts_rpc_request *req, struct atoll_value **result,
                    unsigned *reply_flags, struct atoll_err *err)
{
    return dispatch(req, 0, result, reply_flags, err);
}

int ts_rpc_dispatch_nowait(const struct ts_rpc_request *req, struct atoll_value **result,
                           unsigned *reply_flags, struct atoll_err *err)
{
    return dispatch(req, 1, result, reply_flags, err);
}

/* ---------------------------------------------------------------- lifecycle */

int ts_rpc_start(unsigned max_async, struct atoll_err *err)
{
    static const struct ts_rpc_method builtins[] = {
        {.name = "system.listMethods", .min_params = 0, .max_params = 0,
         .flags = TS_RPC_NO_SESSION | TS_RPC_HIDDEN | TS_RPC_NOWAIT, .fn = sys_list_methods},
    };
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(builtins); i++)
        if (ts_rpc_register(&builtins[i], err) < 0)
            return -1;
    ATOLL_AUTOVALUE ok = atoll_value_string("OK");
    struct atoll_value *alive_defaults[1] = {ok};
    struct ts_rpc_method alive = {.name = "system.isAlive", .min_params = 0, .max_params = 1,
                                  .flags = TS_RPC_NO_SESSION | TS_RPC_HIDDEN | TS_RPC_NOWAIT,
                                  .fn = sys_is_alive, .defaults = alive_defaults};
    if (ts_rpc_register(&alive, err) < 0)
        return -1;
    if (!R.have_task_ops && ts_rpc_task_mem_register(err) < 0)
        return -1;
    R.async_max = max_async ? max_async : 64;
    R.frozen = 1;
    log_info("%zu API methods registered", R.count);
    return 0;
}

void ts_rpc_stop(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000 + 1;
    pthread_mutex_lock(&R.async_lock);
    while (R.async_running > 0)
        if (pthread_cond_timedwait(&R.async_done, &R.async_lock, &ts) == ETIMEDOUT)
            break;
    unsigned left = R.async_running;
    pthread_mutex_unlock(&R.async_lock);
    if (left) {
        log_warn("%u asynchronous call(s) still running at shutdown", left);
        return; /* their jobs still point into the table: keep it */
    }
    for (size_t i = 0; i < R.cap; i++) {
        struct entry *e = R.slots[i];
        if (!e)
            continue;
        for (unsigned k = 0; k < TS_RPC_MAX_PARAMS; k++)
            atoll_value_unref(e->defaults[k]);
        free(e->name);
        free(e->param_names);
        free(e);
    }
    free(R.slots);
    R.slots = NULL;
    R.cap = R.count = 0;
    R.frozen = 0;
    ts_rpc_task_mem_fini();
}

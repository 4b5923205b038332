/*
 * toolstack/events_rpc.c - the event.* methods on the dispatcher (rpc.h):
 * event.from, event.inject, event.get_current_id, event.register,
 * event.unregister, event.next. Handlers run on worker threads and may block
 * (event.from up to its timeout, event.next up to 60 s).
 * Trust: parameters are client data, checked here or in events.c.
 */
#define ATOLL_LOG_MODULE "events"
#include "events.h"

#include "atoll/log.h"
#include "rpc.h"

#define NEXT_MAX_WAIT 60.0

static int m_from(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    const char *token;
    double timeout;
    if (ts_rpc_param_string(p, 1, "token", &token, err) < 0 ||
        ts_rpc_param_double(p, 2, "timeout", &timeout, err) < 0)
        return -1;
    return ts_events_from(call->data, call->session_ref, call->role, p[0], token, timeout,
                          result, err);
}

static int m_inject(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    const char *cls, *ref;
    if (ts_rpc_param_string(p, 0, "class", &cls, err) < 0 ||
        ts_rpc_param_string(p, 1, "ref", &ref, err) < 0)
        return -1;
    return ts_events_inject(call->data, cls, ref, result, err);
}

static int m_current(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    *result = ts_events_current_id(call->data);
    return 0;
}

static int m_register(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                      struct atoll_value **result, struct atoll_err *err)
{
    return ts_events_register(call->data, call->session_ref, p[0], err);
}

static int m_unregister(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    return ts_events_unregister(call->data, call->session_ref, p[0], err);
}

static int m_next(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    return ts_events_next(call->data, call->session_ref, call->role, NEXT_MAX_WAIT, result, err);
}

int ts_events_register_methods(struct ts_events *ev, struct atoll_err *err)
{
    const struct ts_rpc_method m[] = {
        {"event.from", 4, 4, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_from, ev, NULL,
         "session_id,classes,token,timeout"},
        {"event.inject", 3, 3, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_inject, ev, NULL,
         "session_id,class,ref"},
        {"event.get_current_id", 1, 1, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_current, ev, NULL,
         "session_id"},
        {"event.register", 2, 2, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_register, ev, NULL,
         "session_id,classes"},
        {"event.unregister", 2, 2, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_unregister, ev, NULL,
         "session_id,classes"},
        {"event.next", 1, 1, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_next, ev, NULL, "session_id"},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (ts_rpc_register(&m[i], err) < 0)
            return -1;
    log_debug("registered the event.* methods");
    return 0;
}

/*
 * tests/unit/toolstack/rpc_call.h - calls the dispatcher from a unit test the way a transport
 * does: name plus a NULL-terminated list of parameter values (consumed). Header only, shared
 * by the dispatcher and datamodel tests.
 */
#ifndef TS_TEST_RPC_CALL_H
#define TS_TEST_RPC_CALL_H

#include <stdarg.h>

#include "atoll/value.h"
#include "rpc.h"

/* Runs name(args in ap) through ts_rpc_dispatch, or ts_rpc_dispatch_nowait when nowait.
 * *res gets the result (owned; may be NULL). Returns the dispatcher's code. */
static inline int rpc_call_va(const char *name, int nowait, struct atoll_value **res,
                              struct atoll_err *err, va_list ap)
{
    struct atoll_value *p[TS_RPC_MAX_PARAMS + 2];
    unsigned n = 0, flags = 0;
    struct atoll_value *v;
    while ((v = va_arg(ap, struct atoll_value *)) != NULL && n < TS_RPC_MAX_PARAMS + 2)
        p[n++] = v;
    struct ts_rpc_request req = {.method = name, .params = p, .nparams = n,
                                 .proto = TS_RPC_INTERNAL, .peer = "test"};
    *res = NULL;
    int rc = nowait ? ts_rpc_dispatch_nowait(&req, res, &flags, err)
                    : ts_rpc_dispatch(&req, res, &flags, err);
    for (unsigned i = 0; i < n; i++)
        atoll_value_unref(p[i]);
    return rc;
}

/* Dispatches name(args...) (NULL-terminated, consumed); *result may be NULL to drop it. */
static inline int rpc(const char *name, struct atoll_value **result, struct atoll_err *err, ...)
{
    struct atoll_value *res;
    va_list ap;
    va_start(ap, err);
    int rc = rpc_call_va(name, 0, &res, err, ap);
    va_end(ap);
    if (result)
        *result = res;
    else
        atoll_value_unref(res);
    return rc;
}

#endif

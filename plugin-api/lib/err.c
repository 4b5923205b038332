/*
 * plugin-api/lib/err.c - error objects and the code table generated from
 * errors.def. Threads: any; an atoll_err is never shared between threads.
 */
#include "atoll/err.h"
#include "atoll/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct err_def {
    const char *name;
    const char *params;
};

static const struct err_def err_table[ATOLL_E__COUNT] = {
    [ATOLL_E_NONE] = {NULL, ""},
#define ATOLL_ERROR(sym, wire, params) [ATOLL_E_##sym] = {wire, params},
#include "atoll/errors.def"
#undef ATOLL_ERROR
};

void atoll_err_set(struct atoll_err *err, int code, const char *where, ...)
{
    if (!err || err->code != ATOLL_E_NONE)
        return;
    err->code = code;
    err->where = where;
    va_list ap;
    va_start(ap, where);
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL) {
        if (err->nparams < ATOLL_ERR_MAX_PARAMS)
            err->params[err->nparams++] = atoll_strdup(p);
    }
    va_end(ap);
}

void atoll_err_detail(struct atoll_err *err, const char *fmt, ...)
{
    if (!err)
        return;
    free(err->detail);
    va_list ap;
    va_start(ap, fmt);
    err->detail = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
}

int atoll_err_is_set(const struct atoll_err *err)
{
    return err && err->code != ATOLL_E_NONE;
}

void atoll_err_clear(struct atoll_err *err)
{
    if (!err)
        return;
    for (unsigned i = 0; i < err->nparams; i++)
        free(err->params[i]);
    free(err->detail);
    memset(err, 0, sizeof(*err));
}

void atoll_err_move(struct atoll_err *dst, struct atoll_err *src)
{
    *dst = *src;
    memset(src, 0, sizeof(*src));
}

const char *atoll_err_code_name(int code)
{
    return code > 0 && code < ATOLL_E__COUNT ? err_table[code].name : NULL;
}

const char *atoll_err_code_params(int code)
{
    return code > 0 && code < ATOLL_E__COUNT ? err_table[code].params : "";
}

int atoll_err_code_from_name(const char *name)
{
    for (int i = 1; i < ATOLL_E__COUNT; i++)
        if (strcmp(err_table[i].name, name) == 0)
            return i;
    return -1;
}

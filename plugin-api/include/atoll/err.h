/*
 * atoll/err.h - the error object that crosses module and ABI boundaries: a
 * XenAPI error code with its parameters (an ErrorDescription), errno at the
 * failure site, and a log-only detail. The first error set wins.
 * Threads: an atoll_err belongs to one request; the code table is constant.
 */
#ifndef ATOLL_ERR_H
#define ATOLL_ERR_H

#define ATOLL_ERR_MAX_PARAMS 8

enum atoll_err_code {
    ATOLL_E_NONE = 0,
#define ATOLL_ERROR(sym, wire, params) ATOLL_E_##sym,
#include "atoll/errors.def"
#undef ATOLL_ERROR
    ATOLL_E__COUNT
};

struct atoll_err {
    int code;                             /* enum atoll_err_code; ATOLL_E_NONE when unset */
    int sys_errno;                        /* errno at the failure site, 0 if none */
    unsigned nparams;
    char *params[ATOLL_ERR_MAX_PARAMS];   /* ErrorDescription[1..n], owned */
    char *detail;                         /* for the log only, never sent to clients; owned */
    const char *where;                    /* "file.c:123 func" of the first report */
};

#define ATOLL_ERR_INIT {0}
#define ATOLL_STR2(x) #x
#define ATOLL_STR(x) ATOLL_STR2(x)
#define ATOLL_WHERE __FILE__ ":" ATOLL_STR(__LINE__)

/*
 * Sets err (if not already set) to code with the NULL-terminated string
 * parameters that follow (copied). err may be NULL (error ignored).
 */
void atoll_err_set(struct atoll_err *err, int code, const char *where, ...)
    __attribute__((sentinel));
#define ATOLL_ERR(err, code, ...) \
    atoll_err_set((err), (code), ATOLL_WHERE, ##__VA_ARGS__, (const char *)NULL)
/* Attaches a log-only detail (printf) to a set error; replaces an earlier detail. */
void atoll_err_detail(struct atoll_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sets code and errno in one go; detail gets strerror. */
#define ATOLL_ERR_ERRNO(err, code, errnum, ...)                                       \
    do {                                                                             \
        atoll_err_set((err), (code), ATOLL_WHERE, ##__VA_ARGS__, (const char *)NULL); \
        if (err) (err)->sys_errno = (errnum);                                         \
    } while (0)

int atoll_err_is_set(const struct atoll_err *err);
/* Releases the strings and resets err to unset. */
void atoll_err_clear(struct atoll_err *err);
/* Moves src into dst (dst must be unset), leaving src unset. */
void atoll_err_move(struct atoll_err *dst, struct atoll_err *src);

/* Wire name of a code ("VM_BAD_POWER_STATE"), or NULL for an unknown code. */
const char *atoll_err_code_name(int code);
/* Comma-separated parameter names of a code ("vm,expected,actual"). */
const char *atoll_err_code_params(int code);
/* Code for a wire name, or -1. */
int atoll_err_code_from_name(const char *name);

#endif

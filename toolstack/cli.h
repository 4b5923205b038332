/*
 * toolstack/cli.h - shared state of the atoll CLI (an xe-compatible XenAPI
 * client): the parsed command line, the connection and session, API errors as
 * XenAPI ErrorDescriptions, and the helpers every command uses.
 * Threads: single-threaded program. Trust: server answers are checked for shape.
 */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stdio.h>

#include "atoll/value.h"

struct cli_conn;

/* One "key=value" argument after the command ("other-config:k=v" keeps its colon). */
struct cli_arg {
    char *key;
    char *val;
    int used;   /* set by the command that consumed it; leftovers are reported */
};

struct cli {
    struct cli_conn *conn;
    char *session;            /* OpaqueRef of our session (owned), NULL before login */
    const char *cmd;          /* command name ("vm-list") */
    struct cli_arg *args;
    unsigned nargs;
    int minimal, force, multiple;
};

/*
 * An API failure (the ErrorDescription array [CODE, params...], owned) or a
 * local failure (msg, owned). Exactly one is set after a failed call.
 */
struct cli_err {
    struct atoll_value *desc;
    char *msg;
};
void cli_err_clear(struct cli_err *e);
/* Prints e the way xe does (friendly line, "Error code:", "Error parameters:") to stderr. */
void cli_err_print(const struct cli_err *e);
/* 1 if e is the API error named code. */
int cli_err_is(const struct cli_err *e, const char *code);

/*
 * Calls method(session, params...) (the session is prepended unless method
 * is a session.login*); params are borrowed. Returns the Value (owned) or
 * NULL with e filled.
 */
struct atoll_value *cli_call(struct cli *c, const char *method, struct atoll_value *const *params,
                             unsigned n, struct cli_err *e);
/* Same with string parameters (NULL-terminated list). */
struct atoll_value *cli_callv(struct cli *c, const char *method, struct cli_err *e, ...)
    __attribute__((sentinel));

/* Argument lookup: the value of key (marked used) or NULL. */
const char *cli_arg(struct cli *c, const char *key);
/* Prints "atoll <cmd>: <message>" to stderr; returns -1 for "return cli_usage(...)". */
int cli_usage(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports arguments no step consumed; -1 if there were any. */
int cli_check_unused(struct cli *c);

/* Commands: each returns 0 (exit 0) or -1 (exit 1, the error already printed). */
struct cli_cmd {
    const char *name;
    int (*run)(struct cli *c, const struct cli_cmd *cmd);
    const char *cls;          /* XenAPI class for the generic commands ("VM") */
    const char *defaults;     /* fields a list shows without params= */
    const char *reqd;         /* usage: required parameters */
    const char *optional;     /* usage: optional parameters */
    const char *help;
    const char *method;       /* the XenAPI message of simple action commands ("task.cancel") */
};
extern const struct cli_cmd cli_cmds[];
const struct cli_cmd *cli_cmd_find(const char *name);

/* cli_vm.c / cli_event.c */
int cli_cmd_vm_power(struct cli *c, const struct cli_cmd *cmd);
int cli_cmd_vm_install(struct cli *c, const struct cli_cmd *cmd);
int cli_cmd_vm_destroy(struct cli *c, const struct cli_cmd *cmd);
int cli_cmd_vm_reset_powerstate(struct cli *c, const struct cli_cmd *cmd);
int cli_cmd_vm_copy(struct cli *c, const struct cli_cmd *cmd);   /* vm-clone, vm-snapshot */
int cli_cmd_event_wait(struct cli *c, const struct cli_cmd *cmd);
int cli_cmd_console(struct cli *c, const struct cli_cmd *cmd);

struct cli_view;
/*
 * Selects objects of class cls the way xe's selectors do: every unused
 * argument names a field (xe spelling; the selector pseudo field, e.g. "vm",
 * matches name-label or uuid; map entries "other-config:key") and must match.
 * Templates are left out for VM unless is-a-template is given. On 0 fills
 * *out (owned array, cli_views_free) and *n; -1 after printing the error.
 * With one_only, no match is an error and several need --multiple.
 */
int cli_select(struct cli *c, const char *cls, const char *selector, int one_only,
               struct cli_view **out, unsigned *n);
void cli_views_free(struct cli_view *v, unsigned n);
/* The one object of cls with this uuid: ref (owned) or NULL after printing the error. */
struct atoll_value *cli_ref_by_uuid(struct cli *c, const char *cls, const char *uuid);

#endif

/*
 * toolstack/cli.c - the atoll command line (xe syntax): global options
 * (-s -p -u -pw -pwf/--password-file --nossl --cafile --socket --minimal
 * --force --multiple), key=value arguments, login and logout, calls with xe's
 * error printing, and xe's object selectors. Commands live in cli_cmds.c,
 * cli_vm.c and cli_event.c; presentation in cli_format.c.
 * Threads: single-threaded. Trust: arguments are user input; answers server data.
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "atoll/util.h"
#include "cli_conn.h"
#include "cli_format.h"
#include "dm.h"
#include "xmlrpc.h"

#define DEFAULT_SOCKET "/var/lib/atoll/atolld.sock"

/* ---- errors ---- */

void cli_err_clear(struct cli_err *e)
{
    atoll_value_unref(e->desc);
    free(e->msg);
    e->desc = NULL;
    e->msg = NULL;
}

int cli_err_is(const struct cli_err *e, const char *code)
{
    const char *c0 = e->desc ? atoll_value_get_string(atoll_value_array_get(e->desc, 0)) : NULL;
    return c0 && strcmp(c0, code) == 0;
}

static const struct {
    const char *code, *text;
} friendly[] = {
    {"VM_BAD_POWER_STATE", "The VM is not in a power state that allows this operation."},
    {"SESSION_AUTHENTICATION_FAILED", "Authentication failed: the user name or password is "
                                      "wrong."},
    {"SESSION_INVALID", "The session is not valid (it expired or was logged out)."},
    {"HANDLE_INVALID", "The object named is not in the database."},
    {"UUID_INVALID", "The uuid you supplied was invalid."},
    {"RBAC_PERMISSION_DENIED", "You do not have the permissions required to perform this "
                               "operation."},
    {"MESSAGE_METHOD_UNKNOWN", "The server does not know this message."},
    {"MESSAGE_PARAMETER_COUNT_MISMATCH", "The server expected another number of parameters."},
    {"FIELD_TYPE_ERROR", "A value given does not have the type the field needs."},
    {"HOST_NOT_ENOUGH_FREE_MEMORY", "The host does not have enough free memory to run the VM."},
    {"OPERATION_NOT_ALLOWED", "The operation is not allowed now."},
    {"MAP_DUPLICATE_KEY", "The map already has this key."},
    {"INTERNAL_ERROR", "The server failed to handle your request, due to an internal error."},
};

void cli_err_print(const struct cli_err *e)
{
    if (!e->desc) {
        fprintf(stderr, "atoll: %s\n", e->msg ? e->msg : "unknown error");
        return;
    }
    size_t n = atoll_value_array_len(e->desc);
    const char *code = atoll_value_get_string(atoll_value_array_get(e->desc, 0));
    code = code ? code : "";
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(friendly); i++)
        if (strcmp(friendly[i].code, code) == 0)
            fprintf(stderr, "%s\n", friendly[i].text);
    fprintf(stderr, "Error code: %s\nError parameters: ", code);
    for (size_t i = 1; i < n; i++) {
        const struct atoll_value *p = atoll_value_array_get(e->desc, i);
        fprintf(stderr, "%s%s", i > 1 ? ", " : "",
                atoll_value_type(p) == ATOLL_VALUE_STRING ? atoll_value_get_string(p) : "?");
    }
    fprintf(stderr, "\n");
}

/* ---- calls ---- */

struct atoll_value *cli_call(struct cli *c, const char *method, struct atoll_value *const *params,
                             unsigned n, struct cli_err *e)
{
    struct atoll_value *all[16];
    unsigned k = 0;
    if (n + 1 > ATOLL_ARRAY_SIZE(all)) {
        e->msg = atoll_strdup_printf("too many parameters for %s", method);
        return NULL;
    }
    ATOLL_AUTOVALUE s = NULL;
    if (c->session && strncmp(method, "session.login", 13) != 0 &&
        strncmp(method, "system.", 7) != 0) {
        s = atoll_value_string(c->session);
        all[k++] = s;
    }
    for (unsigned i = 0; i < n; i++)
        all[k++] = params[i];
    return cli_conn_xmlrpc(c->conn, method, all, k, e);
}

struct atoll_value *cli_callv(struct cli *c, const char *method, struct cli_err *e, ...)
{
    struct atoll_value *p[15];
    unsigned n = 0;
    va_list ap;
    va_start(ap, e);
    for (const char *s; (s = va_arg(ap, const char *)) && n < ATOLL_ARRAY_SIZE(p);)
        p[n++] = atoll_value_string(s);
    va_end(ap);
    struct atoll_value *r = cli_call(c, method, p, n, e);
    for (unsigned i = 0; i < n; i++)
        atoll_value_unref(p[i]);
    return r;
}

/* ---- arguments ---- */

const char *cli_arg(struct cli *c, const char *key)
{
    for (unsigned i = 0; i < c->nargs; i++)
        if (strcmp(c->args[i].key, key) == 0) {
            c->args[i].used = 1;
            return c->args[i].val;
        }
    return NULL;
}

int cli_usage(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "atoll %s: ", c->cmd ? c->cmd : "");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return -1;
}

int cli_check_unused(struct cli *c)
{
    int bad = 0;
    for (unsigned i = 0; i < c->nargs; i++)
        if (!c->args[i].used) {
            fprintf(stderr, "atoll %s: unknown parameter '%s' (see 'atoll help %s')\n", c->cmd,
                    c->args[i].key, c->cmd);
            bad = 1;
        }
    return bad ? -1 : 0;
}

/* ---- selectors ---- */

void cli_views_free(struct cli_view *v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        cli_view_fini(&v[i]);
    free(v);
}

/* 1 if key names a field of cls (xe spelling, optionally "map:key"). */
static int is_field(const char *cls, const char *key)
{
    const struct ts_dm_class *dc = ts_dm_class_find(cls);
    if (!dc || cli_is_derived(cls, key))
        return 1; /* a class this CLI does not describe: let the records decide */
    ATOLL_AUTOFREE char *api = cli_api_name(key);
    char *colon = strchr(api, ':');
    if (colon)
        *colon = '\0';
    const struct ts_dm_field *f = ts_dm_field_find(dc, api, NULL);
    return f && (!colon || f->type->kind == TS_DM_MAP);
}

static const char *plural(const char *cls)
{
    return strcmp(cls, "VM") == 0 ? "VMs" : cls;
}

int cli_select(struct cli *c, const char *cls, const char *selector, int one_only,
               struct cli_view **out, unsigned *nout)
{
    int templates_given = 0;
    for (unsigned i = 0; i < c->nargs; i++) {
        struct cli_arg *a = &c->args[i];
        if (a->used)
            continue;
        if (!(selector && strcmp(a->key, selector) == 0) && !is_field(cls, a->key)) {
            fprintf(stderr, "atoll %s: unknown parameter '%s': expected a field of %s (see "
                    "'atoll help %s')\n", c->cmd, a->key, cls, c->cmd);
            return -1;
        }
        if (strcmp(a->key, "is-a-template") == 0)
            templates_given = 1;
    }
    struct cli_err e = {0};
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_all_records", cls);
    ATOLL_AUTOVALUE all = cli_call(c, m, NULL, 0, &e);
    if (!all || atoll_value_type(all) != ATOLL_VALUE_STRUCT) {
        if (!all)
            cli_err_print(&e);
        else
            fprintf(stderr, "atoll: %s answered with no map of records\n", m);
        cli_err_clear(&e);
        return -1;
    }
    size_t total = atoll_value_struct_len(all);
    struct cli_view *v = atoll_calloc(total ? total : 1, sizeof(*v));
    unsigned n = 0;
    for (size_t i = 0; i < total; i++) {
        const char *ref;
        struct atoll_value *rec;
        atoll_value_struct_at(all, i, &ref, &rec);
        ATOLL_AUTOVALUE rv = atoll_value_string(ref);
        cli_view_init(&v[n], cls, rv, rec);
        int keep = 1;
        if (strcmp(cls, "VM") == 0 && !templates_given) {
            struct cli_field *t = cli_view_field(&v[n], "is-a-template");
            keep = !(t && strcmp(cli_field_text(c, t), "true") == 0);
        }
        for (unsigned j = 0; j < c->nargs && keep; j++) {
            if (c->args[j].used)
                continue;
            int r = cli_view_match(c, &v[n], c->args[j].key, c->args[j].val, selector);
            if (r < 0) {
                fprintf(stderr, "atoll %s: '%s' is not a field of %s\n", c->cmd,
                        c->args[j].key, cls);
                cli_view_fini(&v[n]);
                cli_views_free(v, n);
                return -1;
            }
            keep = r;
        }
        if (keep)
            n++;
        else
            cli_view_fini(&v[n]);
    }
    for (unsigned j = 0; j < c->nargs; j++)
        c->args[j].used = 1;
    if (one_only && n == 0) {
        fprintf(stderr, "No matching %s found\n", plural(cls));
        cli_views_free(v, n);
        return -1;
    }
    if (one_only && n > 1 && !c->multiple) {
        fprintf(stderr, "Multiple matches %s found (%u); the operation can only be performed on "
                "one %s at a time, unless --multiple is given\n", plural(cls), n, cls);
        cli_views_free(v, n);
        return -1;
    }
    *out = v;
    *nout = n;
    return 0;
}

struct atoll_value *cli_ref_by_uuid(struct cli *c, const char *cls, const char *uuid)
{
    struct cli_err e = {0};
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_by_uuid", cls);
    struct atoll_value *r = cli_callv(c, m, &e, uuid, NULL);
    if (!r) {
        if (cli_err_is(&e, "UUID_INVALID") || cli_err_is(&e, "HANDLE_INVALID"))
            fprintf(stderr, "The uuid you supplied was invalid.\nError code: UUID_INVALID\n"
                    "Error parameters: %s, %s\n", cls, uuid);
        else
            cli_err_print(&e);
        cli_err_clear(&e);
    }
    return r;
}

/* ---- main ---- */

static char *read_password_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "atoll: cannot read the password file '%s': %s\n", path,
                strerror(errno));
        return NULL;
    }
    char *pw = atoll_read_secret_line(f);
    fclose(f);
    if (!pw)
        fprintf(stderr, "atoll: the password file '%s' is empty\n", path);
    return pw;
}

/* Asks for the password on the terminal with echo off; NULL if there is no terminal. */
static char *prompt_password(const char *user, const char *host)
{
    if (!isatty(STDIN_FILENO))
        return NULL;
    struct termios old, quiet;
    if (tcgetattr(STDIN_FILENO, &old) < 0)
        return NULL;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet); /* echo off (and typeahead dropped) first */
    fprintf(stderr, "Password for %s@%s: ", user, host);
    fflush(stderr);
    char *pw = atoll_read_secret_line(stdin);
    tcsetattr(STDIN_FILENO, TCSANOW, &old);
    fprintf(stderr, "\n");
    return pw;
}

static int parse_port(const char *s, int *out)
{
    uint64_t v;
    if (atoll_parse_u64(s, 10, &v) < 0 || v < 1 || v > 65535) {
        fprintf(stderr, "atoll: -p: expected a port number from 1 to 65535, got '%s'\n", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int login(struct cli *c, const char *user, const char *pw)
{
    struct cli_err e = {0};
    ATOLL_AUTOVALUE s = cli_callv(c, "session.login_with_password", &e, user, pw ? pw : "",
                                  "1.0", "atoll-cli", NULL);
    if (!s || atoll_value_type(s) != ATOLL_VALUE_STRING) {
        if (s)
            fprintf(stderr, "atoll: the login answer is not a session reference\n");
        else
            cli_err_print(&e);
        cli_err_clear(&e);
        return -1;
    }
    c->session = atoll_strdup(atoll_value_get_string(s));
    return 0;
}

int main(int argc, char **argv)
{
    struct cli_conn_opts co = {.port = 0};
    const char *user = NULL, *pwfile = NULL;
    ATOLL_AUTOFREE char *pw = NULL;
    struct cli c = {0};
    c.args = atoll_calloc((size_t)argc + 1, sizeof(*c.args));
    int help = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *const with_val[] = {"-s", "-p", "-u", "-pw", "-pwf", "--password-file",
                                        "--cafile", "--socket", NULL};
        int takes = 0;
        for (unsigned k = 0; with_val[k]; k++)
            if (strcmp(a, with_val[k]) == 0)
                takes = 1;
        if (takes) {
            if (i + 1 >= argc) {
                fprintf(stderr, "atoll: option %s needs a value\n", a);
                return 1;
            }
            const char *v = argv[++i];
            if (strcmp(a, "-s") == 0)
                co.server = v;
            else if (strcmp(a, "-p") == 0 && parse_port(v, &co.port) < 0)
                return 1;
            else if (strcmp(a, "-u") == 0)
                user = v;
            else if (strcmp(a, "-pw") == 0)
                pw = atoll_strdup(v);
            else if (strcmp(a, "-pwf") == 0 || strcmp(a, "--password-file") == 0)
                pwfile = v;
            else if (strcmp(a, "--cafile") == 0)
                co.cafile = v;
            else if (strcmp(a, "--socket") == 0)
                co.socket_path = v;
        } else if (strcmp(a, "--minimal") == 0) {
            c.minimal = 1;
        } else if (strcmp(a, "--force") == 0) {
            c.force = 1;
        } else if (strcmp(a, "--multiple") == 0) {
            c.multiple = 1;
        } else if (strcmp(a, "--nossl") == 0) {
            co.nossl = 1;
        } else if (strcmp(a, "--debug") == 0) {
            co.debug = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            help = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "atoll: unknown option '%s' (see 'atoll help')\n", a);
            return 1;
        } else if (!c.cmd) {
            c.cmd = a;
        } else if (strcmp(c.cmd, "help") == 0 && !strchr(a, '=')) {
            c.args[c.nargs].key = atoll_strdup(a); /* "atoll help vm-start" */
            c.args[c.nargs].val = atoll_strdup("");
            c.nargs++;
        } else {
            const char *eq = strchr(a, '=');
            if (!eq || eq == a) {
                fprintf(stderr, "atoll %s: argument '%s' is not of the form key=value\n", c.cmd,
                        a);
                return 1;
            }
            c.args[c.nargs].key = atoll_strndup(a, (size_t)(eq - a));
            c.args[c.nargs].val = atoll_strdup(eq + 1);
            c.nargs++;
        }
    }
    if (help && c.cmd && strcmp(c.cmd, "help") != 0) { /* "atoll vm-start --help" */
        c.args[c.nargs].key = atoll_strdup(c.cmd);
        c.args[c.nargs].val = atoll_strdup("");
        c.nargs++;
    }
    if (help || !c.cmd)
        c.cmd = "help";
    const struct cli_cmd *cmd = cli_cmd_find(c.cmd);
    if (!cmd) {
        fprintf(stderr, "Unknown command: %s\nFor usage run: 'atoll help'\n", c.cmd);
        return 1;
    }
    ts_dm_init();
    if (strcmp(cmd->name, "help") == 0)
        return cmd->run(&c, cmd) < 0 ? 1 : 0;

    if (pwfile) {
        free(pw);
        if (!(pw = read_password_file(pwfile)))
            return 1;
    }
    if (!co.server) {
        co.socket_path = co.socket_path ? co.socket_path
                         : getenv("ATOLL_SOCKET") ? getenv("ATOLL_SOCKET") : DEFAULT_SOCKET;
    } else {
        if (!co.port)
            co.port = co.nossl ? 80 : 443;
        if (!pw)
            pw = prompt_password(user ? user : "root", co.server);
        if (!pw) {
            fprintf(stderr, "atoll: a password is needed for %s: give -pw PASSWORD or "
                    "--password-file FILE\n", co.server);
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN); /* a closed connection or pipe is an error return, not a death */
    ts_xmlrpc_init();
    ATOLL_AUTOFREE char *msg = NULL;
    c.conn = cli_conn_open(&co, &msg);
    if (!c.conn) {
        fprintf(stderr, "atoll: %s\n", msg);
        return 1;
    }
    int rc = 1;
    if (login(&c, user ? user : "root", pw) == 0) {
        if (pw)
            explicit_bzero(pw, strlen(pw));
        rc = cmd->run(&c, cmd) < 0 ? 1 : 0;
        struct cli_err e = {0};
        ATOLL_AUTOVALUE r = cli_callv(&c, "session.logout", &e, NULL);
        cli_err_clear(&e);
    }
    fflush(stdout);
    cli_format_fini();
    cli_conn_free(c.conn);
    free(c.session);
    for (unsigned i = 0; i < c.nargs; i++) {
        free(c.args[i].key);
        free(c.args[i].val);
    }
    free(c.args);
    return rc;
}

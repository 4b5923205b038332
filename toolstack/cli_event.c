/*
 * toolstack/cli_event.c - the atoll CLI's waiting and streaming commands:
 * event-wait (event.from until an object of a class has the field values
 * given) and console (the VM's serial console over the /console handler,
 * Ctrl-] to leave).
 * Threads: single-threaded. Trust: event records are server data of any shape.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "atoll/util.h"
#include "cli.h"
#include "cli_conn.h"
#include "cli_format.h"
#include "dm.h"

/* 1 if the record matches every unused argument (the conditions), 0 if not. */
static int matches(struct cli *c, const char *cls, struct atoll_value *ref,
                   struct atoll_value *rec)
{
    struct cli_view v;
    cli_view_init(&v, cls, ref, rec);
    int ok = 1;
    for (unsigned i = 0; i < c->nargs && ok; i++)
        if (!c->args[i].used)
            ok = cli_view_match(c, &v, c->args[i].key, c->args[i].val, NULL) == 1;
    cli_view_fini(&v);
    return ok;
}

static int report(struct cli_err *e)
{
    cli_err_print(e);
    cli_err_clear(e);
    return -1;
}

/* event.from(classes, token, timeout): the answer struct (owned) or NULL with e. */
static struct atoll_value *event_from(struct cli *c, const char *lname, const char *token,
                                      double timeout, struct cli_err *e)
{
    ATOLL_AUTOVALUE classes = atoll_value_array();
    atoll_value_array_append(classes, atoll_value_string(lname));
    ATOLL_AUTOVALUE tok = atoll_value_string(token);
    ATOLL_AUTOVALUE to = atoll_value_double(timeout);
    struct atoll_value *p[] = {classes, tok, to};
    return cli_call(c, "event.from", p, 3, e);
}

/* Does a batch of events hold a matching add/mod? 1 yes, 0 no. */
static int batch_matches(struct cli *c, const struct ts_dm_class *dc, struct atoll_value *ans)
{
    const struct atoll_value *evs = atoll_value_type(ans) == ATOLL_VALUE_STRUCT
                                        ? atoll_value_struct_get(ans, "events") : NULL;
    if (!evs || atoll_value_type(evs) != ATOLL_VALUE_ARRAY)
        return 0;
    for (size_t i = 0; i < atoll_value_array_len(evs); i++) {
        const struct atoll_value *ev = atoll_value_array_get(evs, i);
        const char *op = atoll_value_struct_get_string(ev, "operation");
        const char *ref = atoll_value_struct_get_string(ev, "ref");
        struct atoll_value *snap = atoll_value_struct_get(ev, "snapshot");
        if (!op || strcmp(op, "del") == 0 || !ref || !snap ||
            atoll_value_type(snap) != ATOLL_VALUE_STRUCT)
            continue;
        ATOLL_AUTOVALUE r = atoll_value_string(ref);
        if (matches(c, dc->name, r, snap))
            return 1;
    }
    return 0;
}

int cli_cmd_event_wait(struct cli *c, const struct cli_cmd *cmd)
{
    const char *cls = cli_arg(c, "class"), *tos = cli_arg(c, "timeout");
    (void)cmd;
    if (!cls)
        return cli_usage(c, "missing parameter 'class' (expected class=vm, host, task, ...)");
    const struct ts_dm_class *dc = ts_dm_class_find_ci(cls);
    if (!dc)
        return cli_usage(c, "class: '%s' is not a class (expected vm, host, task, ...)", cls);
    double timeout = -1;
    if (tos) {
        uint64_t t;
        if (atoll_parse_u64(tos, 10, &t) < 0 || t > 86400 * 365)
            return cli_usage(c, "timeout: expected a number of seconds, got '%s'", tos);
        timeout = (double)t;
    }
    for (unsigned i = 0; i < c->nargs; i++) {
        if (c->args[i].used)
            continue;
        ATOLL_AUTOFREE char *api = cli_api_name(c->args[i].key);
        char *colon = strchr(api, ':');
        if (colon)
            *colon = '\0';
        if (!ts_dm_field_find(dc, api, NULL))
            return cli_usage(c, "'%s' is not a field of %s", c->args[i].key, dc->name);
    }
    uint64_t deadline = timeout < 0 ? 0 : atoll_now_ns() + (uint64_t)(timeout * 1e9);
    const char *lname = ts_dm_class_lname(dc);
    struct cli_err e = {0};

    /* a token first, so that no change between the check and the wait is missed */
    ATOLL_AUTOVALUE first = event_from(c, lname, "", 0.0, &e);
    if (!first)
        return report(&e);
    const char *t0 = atoll_value_struct_get_string(first, "token");
    if (!t0)
        return cli_usage(c, "event.from answered without a token");
    ATOLL_AUTOFREE char *token = atoll_strdup(t0);
    if (batch_matches(c, dc, first))
        return 0;
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_all_records", dc->name);
    ATOLL_AUTOVALUE all = cli_call(c, m, NULL, 0, &e);
    if (!all)
        return report(&e);
    for (size_t i = 0; i < atoll_value_struct_len(all); i++) {
        const char *ref;
        struct atoll_value *rec;
        atoll_value_struct_at(all, i, &ref, &rec);
        ATOLL_AUTOVALUE r = atoll_value_string(ref);
        if (matches(c, dc->name, r, rec))
            return 0;
    }
    for (;;) {
        double wait = 30.0;
        if (deadline) {
            uint64_t now = atoll_now_ns();
            if (now >= deadline) {
                fprintf(stderr, "atoll event-wait: timed out after %s s waiting for the %s\n",
                        tos, dc->name);
                return -1;
            }
            if ((double)(deadline - now) / 1e9 < wait)
                wait = (double)(deadline - now) / 1e9;
        }
        ATOLL_AUTOVALUE ans = event_from(c, lname, token, wait, &e);
        if (!ans)
            return report(&e);
        const char *nt = atoll_value_struct_get_string(ans, "token");
        if (nt) {
            free(token);
            token = atoll_strdup(nt);
        }
        if (batch_matches(c, dc, ans))
            return 0;
    }
}

/* ---- console ---- */

static struct termios saved_tio;
static int tio_saved;

static void restore_tty(void)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
    tio_saved = 0;
}

/* Killed while the terminal is raw: give it back, then die of the signal as usual. */
static void on_fatal_signal(int sig)
{
    if (tio_saved)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio); /* async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

int cli_cmd_console(struct cli *c, const struct cli_cmd *cmd)
{
    struct cli_view *v;
    unsigned n;
    (void)cmd;
    c->multiple = 0;
    if (cli_select(c, "VM", "vm", 1, &v, &n) < 0)
        return -1;
    /* output streams on a second connection; input goes as POSTs over the first */
    ATOLL_AUTOFREE char *target = atoll_strdup_printf(
        "/console?ref=%s&session_id=%s", atoll_value_get_string(v[0].ref), c->session);
    struct cli_field *name = cli_view_field(&v[0], "name-label");
    ATOLL_AUTOFREE char *label = atoll_strdup(name ? cli_field_text(c, name) : "");
    cli_views_free(v, n);
    ATOLL_AUTOFREE char *msg = NULL;
    struct cli_conn *s = cli_conn_dup(c->conn, &msg);
    if (!s || cli_conn_stream_open(s, target, &msg) < 0) {
        fprintf(stderr, "atoll console: %s\n", msg);
        cli_conn_free(s);
        return -1;
    }
    int tty = isatty(STDIN_FILENO);
    if (tty && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        signal(SIGTERM, on_fatal_signal);
        signal(SIGHUP, on_fatal_signal);
        signal(SIGINT, on_fatal_signal);
        tio_saved = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
        fprintf(stderr, "Connected to the console of %s; press Ctrl-] to leave.\r\n", label);
    }
    int in_open = 1, rc = 0;
    char buf[4096];
    for (;;) {
        if (cli_conn_pending(s) == 0) {
            struct pollfd p[2] = {{.fd = cli_conn_fd(s), .events = POLLIN},
                                  {.fd = STDIN_FILENO, .events = POLLIN}};
            if (poll(p, in_open ? 2 : 1, -1) < 0) {
                if (errno == EINTR)
                    continue;
                rc = -1;
                break;
            }
            if (in_open && (p[1].revents & (POLLIN | POLLHUP))) {
                ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
                if (r <= 0) {
                    in_open = 0; /* keep showing output until the server closes */
                } else {
                    char *esc = memchr(buf, 0x1d, (size_t)r);
                    size_t len = esc ? (size_t)(esc - buf) : (size_t)r;
                    int status = 0;
                    ATOLL_AUTOFREE char *err = NULL;
                    if (len && (cli_conn_post(c->conn, target, buf, len, &status, &err) < 0 ||
                                status != 200)) {
                        restore_tty();
                        fprintf(stderr, "\r\natoll console: input not delivered: %s\n",
                                err ? err : "refused by the server");
                        rc = -1;
                        break;
                    }
                    if (esc)
                        break;
                }
            }
            if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
        }
        ssize_t r = cli_conn_read(s, buf, sizeof(buf));
        if (r <= 0)
            break; /* the VM stopped or the server closed the stream */
        if (atoll_write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
            rc = -1;
            break;
        }
    }
    restore_tty();
    if (tty)
        fprintf(stderr, "\r\nDisconnected from the console.\n");
    cli_conn_free(s);
    return rc;
}

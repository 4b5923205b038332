/*
 * toolstack/atolld.c - the Atoll host daemon: parses options, prepares the
 * state directory, starts sessions/RBAC, the datamodel and its methods, the
 * dispatcher, the worker pool and the HTTP(S) listeners, then runs the
 * libevent loop until SIGTERM/SIGINT, and shuts down in reverse order.
 * Threads: main runs the loop; API calls run on the worker pool.
 */
#define ATOLL_LOG_MODULE "atolld"
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "api_tasks.h"
#include "atoll/log.h"
#include "atoll/util.h"
#include "core.h"
#include "dm.h"
#include "dm_db.h"
#include "dm_generic.h"
#include "events.h"
#include "http.h"
#include "http_auth.h"
#include "rbac.h"
#include "rpc.h"
#include "session.h"
#include "store.h"
#include "workq.h"
#include "vmops.h" /* vmops: */
#include "xmlrpc.h"

struct opts {
    const char *state_dir, *socket, *root_pw, *root_pw_file, *log, *bind, *cert, *key;
    int port, http_port;
    unsigned workers, max_conns, session_timeout, http_timeout;
    size_t max_body;
    const char *vmm; /* vmops: --vmm PATH */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: atolld [options]\n"
            "  --state-dir DIR           state directory (default /var/lib/atoll)\n"
            "  --port N                  HTTPS port (default 443; 0 = none)\n"
            "  --http-port N             plain HTTP port (default 0 = none)\n"
            "  --bind ADDR               address of the TCP listeners (default 0.0.0.0)\n"
            "  --socket PATH             local UNIX socket (default <state-dir>/atolld.sock;\n"
            "                            'none' = no socket)\n"
            "  --root-password-file F    first start: root's password is the first line of F\n"
            "  --root-password PW        first start: root's password (visible in ps; prefer\n"
            "                            the file)\n"
            "  --cert FILE --key FILE    host certificate and key (default <state-dir>/host.*,\n"
            "                            a self-signed pair is generated if both are missing)\n"
            "  --log FILE                append log lines to FILE instead of stderr\n"
            "  --workers N               most API worker threads (default 1024:\n"
            "                            one per connection, as calls may block)\n"
            "  --max-connections N       connections served at once (default 1024)\n"
            "  --max-body BYTES          API request body limit (default 1M; XAPI uses 300K)\n"
            "  --session-timeout S       idle session expiry in seconds (default 86400)\n"
            "  --http-timeout S          idle/read/write timeout of a connection (default 60;\n"
            "                            calls in progress are not cut by it)\n"
            "  --vmm PATH                atoll-vmm binary (default $ATOLL_VMM, the build tree's,\n"
            "                            or the installed one)\n" /* vmops: */
            "Environment: ATOLL_LOG=\"info,rpc=debug\" sets log levels.\n");
}

static int parse_uint(const char *s, const char *what, unsigned long max, unsigned long *out)
{
    uint64_t v;
    if (atoll_parse_u64(s, 10, &v) < 0 || v > max) {
        fprintf(stderr, "atolld: %s: expected a number from 0 to %lu, got '%s'\n", what, max, s);
        return -1;
    }
    *out = (unsigned long)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"state-dir", 1, 0, 's'}, {"port", 1, 0, 'p'}, {"http-port", 1, 0, 'H'},
        {"socket", 1, 0, 'S'}, {"root-password-file", 1, 0, 'f'}, {"root-password", 1, 0, 'P'},
        {"log", 1, 0, 'l'}, {"bind", 1, 0, 'b'}, {"cert", 1, 0, 'c'}, {"key", 1, 0, 'k'},
        {"workers", 1, 0, 'w'}, {"max-connections", 1, 0, 'm'}, {"max-body", 1, 0, 'B'},
        {"session-timeout", 1, 0, 't'}, {"http-timeout", 1, 0, 'T'}, {"help", 0, 0, 'h'},
        {"vmm", 1, 0, 'M'} /* vmops: */, {0, 0, 0, 0}};
    *o = (struct opts){.state_dir = "/var/lib/atoll", .port = 443, .workers = 1024,
                       .max_conns = 1024, .max_body = 1u << 20, .http_timeout = 60};
    int c;
    unsigned long v;
    uint64_t bytes;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 's': o->state_dir = optarg; break;
        case 'S': o->socket = optarg; break;
        case 'f': o->root_pw_file = optarg; break;
        case 'P': o->root_pw = optarg; break;
        case 'l': o->log = optarg; break;
        case 'b': o->bind = optarg; break;
        case 'c': o->cert = optarg; break;
        case 'k': o->key = optarg; break;
        case 'p':
            if (parse_uint(optarg, "--port", 65535, &v) < 0)
                return -1;
            o->port = (int)v;
            break;
        case 'H':
            if (parse_uint(optarg, "--http-port", 65535, &v) < 0)
                return -1;
            o->http_port = (int)v;
            break;
        case 'w':
            if (parse_uint(optarg, "--workers", 4096, &v) < 0 || v < 2) {
                fprintf(stderr, "atolld: --workers: expected 2 to 4096\n");
                return -1;
            }
            o->workers = (unsigned)v;
            break;
        case 'm':
            if (parse_uint(optarg, "--max-connections", 65536, &v) < 0 || v < 1)
                return -1;
            o->max_conns = (unsigned)v;
            break;
        case 'B':
            if (atoll_parse_size(optarg, 0, &bytes) < 0 || bytes < 1024 || bytes > (1u << 30)) {
                fprintf(stderr, "atolld: --max-body: expected 1K to 1G, got '%s'\n", optarg);
                return -1;
            }
            o->max_body = (size_t)bytes;
            break;
        case 't':
            if (parse_uint(optarg, "--session-timeout", 30L * 86400, &v) < 0 || v < 1)
                return -1;
            o->session_timeout = (unsigned)v;
            break;
        case 'M': /* vmops: */
            o->vmm = optarg;
            break;
        case 'T':
            if (parse_uint(optarg, "--http-timeout", 3600, &v) < 0 || v < 1)
                return -1;
            o->http_timeout = (unsigned)v;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "atolld: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        fprintf(stderr, "atolld: --cert and --key go together\n");
        return -1;
    }
    return 0;
}

/* The first line of the password file (owned), or NULL with a message. */
static char *read_password_file(const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        fprintf(stderr, "atolld: cannot read the root password file '%s': %s\n", path,
                strerror(errno));
        return NULL;
    }
    char *pw = atoll_read_secret_line(f);
    fclose(f);
    if (!pw)
        fprintf(stderr, "atolld: the root password file '%s' is empty\n", path);
    return pw;
}

static void session_gone(void *arg, const char *ref)
{
    ts_events_session_gone(arg, ref);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("signal %d: shutting down", (int)sig);
    event_base_loopbreak(arg);
}

static void on_drain(evutil_socket_t fd, short what, void *arg)
{
    unsigned busy = 0, queued = 0;
    ts_workq_stats(NULL, &busy, &queued);
    if (busy == 0 && queued == 0)
        event_base_loopbreak(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    /* idle expiry is also checked on every use; this frees memory of the forgotten ones */
    ts_session_expire();
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_opts(argc, argv, &o) < 0)
        return 2;
    atoll_log_init_from_env();
    if (o.log) {
        int fd = open(o.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
            fprintf(stderr, "atolld: cannot open the log '%s': %s\n", o.log, strerror(errno));
            return 1;
        }
        close(fd);
    }
    if (mkdir(o.state_dir, 0700) < 0 && errno != EEXIST) {
        log_error("cannot create the state directory '%s': %s", o.state_dir, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOFREE char *root_pw = o.root_pw_file ? read_password_file(o.root_pw_file)
                                                  : atoll_strdup(o.root_pw);
    if (o.root_pw_file && !root_pw)
        return 1;
    ATOLL_AUTOFREE char *audit = atoll_strdup_printf("%s/audit.log", o.state_dir);
    ATOLL_AUTOFREE char *db_path = atoll_strdup_printf("%s/atoll.db", o.state_dir);
    struct ts_store *store = NULL;
    struct ts_dm_db *db = NULL;
    struct ts_events *events = NULL;
    unsigned left = 0;
    ATOLL_AUTOFREE char *sock = o.socket ? atoll_strdup(o.socket)
                                         : atoll_strdup_printf("%s/atolld.sock", o.state_dir);
    if (strcmp(sock, "none") == 0) {
        free(sock);
        sock = NULL;
    }
    evthread_use_pthreads();
    struct event_base *base = event_base_new();
    if (!base) {
        log_error("cannot create the event loop");
        return 1;
    }
    ts_xmlrpc_init();
    int rc = 1;
    if (ts_session_init(o.state_dir, root_pw, o.session_timeout, &err) < 0)
        goto out;
    if (root_pw)
        explicit_bzero(root_pw, strlen(root_pw));
    if (ts_rbac_audit_open(audit, &err) < 0)
        goto out;
    /* the object store, the datamodel over it, the objects every client expects, events */
    ts_dm_init();
    char host_ref[ATOLL_REF_STRLEN + 1], host_uuid[ATOLL_UUID_STRLEN + 1];
    if (ts_store_open(db_path, NULL, &store, &err) < 0 || ts_dm_db_open(store, &db, &err) < 0 ||
        ts_core_bootstrap(db, o.state_dir, host_ref, host_uuid, &err) < 0 ||
        ts_events_new(db, &events, &err) < 0)
        goto out;
    ts_session_set_this_host(host_ref);
    ts_session_set_gone_hook(session_gone, events);
    /*
     * Method registration, hand-written first: the generic datamodel methods
     * are registered LAST, as defaults that never replace them (session.* is
     * served by session_api.c, task.create/cancel by api_tasks.c).
     */
    /* vmops: VM operations register before the generic datamodel methods (theirs win) */
    struct ts_vmops_config vmops_cfg = {.state_dir = o.state_dir, .vmm_path = o.vmm};
    if (ts_vmops_init(db, &vmops_cfg, &err) < 0)
        goto out;
    if (ts_session_register_methods(&err) < 0 || ts_api_tasks_install(db, &err) < 0 ||
        ts_events_register_methods(events, &err) < 0 || ts_dm_generic_register(db, &err) < 0 ||
        ts_rpc_start(256, &err) < 0)
        goto out;
    if (ts_vmops_start(&err) < 0) /* vmops: this host's objects, adopt live VMMs */
        goto out;
    ts_workq_set_thread_fini(ts_xmlrpc_thread_fini);
    if (ts_workq_start(4, o.workers) < 0) {
        ATOLL_ERR(&err, ATOLL_E_INTERNAL_ERROR, "cannot start the worker pool");
        atoll_err_detail(&err, "cannot start worker threads: %s", strerror(errno));
        goto out;
    }
    struct ts_http_config hc = {.state_dir = o.state_dir, .cert_file = o.cert,
                                .key_file = o.key, .bind_addr = o.bind,
                                .https_port = o.port, .http_port = o.http_port,
                                .unix_path = sock, .max_body = o.max_body,
                                .timeout_s = (int)o.http_timeout, .max_conns = o.max_conns};
    if (ts_http_start(base, &hc, &err) < 0 || ts_http_auth_register_audit_log(audit) < 0)
        goto out_workq;

    struct event *sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    struct event *sigint = evsignal_new(base, SIGINT, on_signal, base);
    struct event *tick = event_new(base, -1, EV_PERSIST, on_tick, NULL);
    struct timeval minute = {60, 0};
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    event_add(tick, &minute);
    log_info("atolld ready (state in %s)", o.state_dir);
    event_base_dispatch(base);

    /*
     * Graceful part: end the sessions (waking event.from/event.next callers),
     * then keep the loop running until the workers are idle, at most 3 s, so
     * that the calls in flight get their replies.
     */
    ts_session_end_all();
    struct event *drain = event_new(base, -1, EV_PERSIST, on_drain, base);
    struct timeval every = {0, 10000}, grace = {3, 0};
    event_add(drain, &every);
    event_base_loopexit(base, &grace);
    event_base_dispatch(base);
    event_free(drain);
    event_free(sigterm);
    event_free(sigint);
    event_free(tick);
    rc = 0;
out_workq: {
    /* ending the sessions wakes calls blocked in event.from/event.next */
    ts_session_end_all();
    left = ts_workq_stop(3000);
    ts_vmops_stop(); /* vmops: VMMs keep running; the next start adopts them */
    ts_http_stop();
    ts_xmlrpc_thread_fini(); /* the loop thread's parser (it decodes small calls) */
    if (left)
        log_warn("%u API call(s) still running at exit", left);
    else
        ts_rpc_stop(1000);
}
out:
    if (atoll_err_is_set(&err)) {
        log_error("%s%s%s", err.nparams > 0 ? err.params[0] : "startup failed",
                  err.detail ? ": " : "", err.detail ? err.detail : "");
        rc = 1;
    }
    atoll_err_clear(&err);
    if (sock && rc == 0)
        unlink(sock);
    ts_rbac_audit_close();
    ts_session_fini();
    ts_session_set_gone_hook(NULL, NULL);
    if (left == 0) { /* never pull the store from under a call still running */
        ts_events_free(events);
        ts_dm_db_close(db);
        ts_store_close(store);
    }
    event_base_free(base);
    log_info("atolld stopped");
    return rc;
}

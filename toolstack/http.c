/*
 * toolstack/http.c - evhttp listeners (HTTPS, optional plain TCP, UNIX
 * socket), routing, connection accounting, and the hand-off of RPC bodies to
 * the worker pool and of replies back to the loop (see http.h).
 * Threads: the libevent thread owns every evhttp object; it decodes small
 * bodies and answers TS_RPC_NOWAIT calls itself (memory only, never blocks);
 * workers decode, dispatch and encode the rest, then post the reply with
 * event_base_once.
 * Trust: paths, headers and bodies are client data; bodies are size-capped by
 * evhttp before we see them.
 */
#define ATOLL_LOG_MODULE "http"
#include "http.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "jsonrpc.h"
#include "rpc.h"
#include "session.h"
#include "tls.h"
#include "workq.h"
#include "xmlrpc.h"

#define MAX_LISTENERS 3
#define MAX_ROUTES 32

enum body_kind { BODY_XMLRPC, BODY_JSONRPC };

struct listener {
    struct evhttp *http;
    int local;
    const char *what;
};

struct route {
    char *path;
    ts_http_handler fn;
    void *arg;
};

/* Bodies up to this size are decoded on the loop thread and, for TS_RPC_NOWAIT methods,
 * answered there; larger ones are decoded on a worker. */
#define INLINE_MAX_BODY 8192

struct job {
    struct evhttp_request *req;
    enum body_kind kind;
    int local;
    char peer[64];
    char *body;
    size_t len;
    /* the decoded call (decoded = 1) */
    int decoded;
    char *method;                 /* XML-RPC */
    struct atoll_value *params;   /* XML-RPC */
    struct ts_jsonrpc_call jc;    /* JSON-RPC */
    /* the reply */
    int status;
    const char *ctype;
    char *resp;
    size_t resp_len;
};

static struct {
    struct event_base *base;
    struct listener l[MAX_LISTENERS];
    unsigned nl;
    SSL_CTX *ssl;
    struct route routes[MAX_ROUTES];
    unsigned nroutes;
    unsigned max_conns;
    /* tracked connections: open addressing with backward-shift deletion (loop thread) */
    struct evhttp_connection **conns;
    size_t conns_cap, nconns;
    struct ts_http_stats stats;
    /* HTTPS connections are also counted from accept to close (SSL ex_data free callback):
     * at max_conns the HTTPS listener stops accepting until one closes */
    struct evconnlistener *tls_listener;
    unsigned tls_conns;
    int tls_paused;
    int ssl_idx;
    pthread_mutex_t stop_lock; /* orders workers' reply posting against shutdown */
    int stopping;
} H = {.stop_lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- connection set */

static size_t conn_slot(const struct evhttp_connection *c)
{
    uintptr_t x = (uintptr_t)c;
    x ^= x >> 17;
    x *= 0xed5ad4bbu;
    x ^= x >> 11;
    return (size_t)x & (H.conns_cap - 1);
}

static int conn_find(const struct evhttp_connection *c, size_t *at)
{
    for (size_t i = conn_slot(c);; i = (i + 1) & (H.conns_cap - 1)) {
        if (!H.conns[i]) {
            *at = i;
            return 0;
        }
        if (H.conns[i] == c) {
            *at = i;
            return 1;
        }
    }
}

static void conn_closed(struct evhttp_connection *c, void *unused)
{
    size_t i;
    if (!conn_find(c, &i))
        return;
    H.conns[i] = NULL;
    H.nconns--;
    /* backward-shift the cluster after i so lookups keep working */
    for (size_t j = (i + 1) & (H.conns_cap - 1); H.conns[j]; j = (j + 1) & (H.conns_cap - 1)) {
        size_t home = conn_slot(H.conns[j]);
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (!between) {
            H.conns[i] = H.conns[j];
            H.conns[j] = NULL;
            i = j;
        }
    }
}

/* Tracks the request's connection; -1 if it is new and the server is full. */
static int conn_admit(struct evhttp_request *req)
{
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    size_t i;
    if (!c)
        return 0;
    if (conn_find(c, &i))
        return 0;
    if (H.nconns >= H.max_conns)
        return -1;
    H.conns[i] = c;
    H.nconns++;
    evhttp_connection_set_closecb(c, conn_closed, NULL);
    return 0;
}

/* ---------------------------------------------------------------- replies */

static void add_common_headers(struct evhttp_request *req, const char *ctype)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
    evhttp_add_header(h, "Cache-Control", "no-cache, no-store");
}

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                       const char *body)
{
    add_common_headers(req, ctype);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, body, strlen(body));
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static char *html_escape(const char *s)
{
    struct ts_strbuf b = {0};
    for (; s && *s; s++) {
        if (*s == '<')
            ts_strbuf_puts(&b, "&lt;");
        else if (*s == '>')
            ts_strbuf_puts(&b, "&gt;");
        else if (*s == '&')
            ts_strbuf_puts(&b, "&amp;");
        else
            ts_strbuf_putc(&b, *s);
    }
    char *r = ts_strbuf_take(&b, NULL);
    return r ? r : atoll_strdup("");
}

/* The HTTP 500 page XAPI sends for a request it cannot parse (no XML-RPC envelope). */
static char *error_page(const struct atoll_err *err)
{
    ATOLL_AUTOFREE char *exp = html_escape(err->nparams > 0 ? err->params[0] : "");
    ATOLL_AUTOFREE char *got = html_escape(err->nparams > 1 ? err->params[1] : "");
    return atoll_strdup_printf("<html><body><h1>HTTP 500 internal server error</h1>"
                               "The request could not be parsed: expected %s, got %s."
                               "</body></html>",
                               exp, got);
}

static void free_resp(const void *data, size_t len, void *arg)
{
    free((void *)data);
}

static void job_free(struct job *j)
{
    free(j->resp);
    free(j->body);
    free(j->method);
    atoll_value_unref(j->params);
    if (j->decoded && j->kind == BODY_JSONRPC)
        ts_jsonrpc_call_fini(&j->jc);
    free(j);
}

/* Loop thread: sends the reply and frees the job. */
static void reply_cb(evutil_socket_t fd, short what, void *arg)
{
    struct job *j = arg;
    add_common_headers(j->req, j->ctype);
    struct evbuffer *b = evbuffer_new();
    if (evbuffer_add_reference(b, j->resp, j->resp_len, free_resp, NULL) == 0)
        j->resp = NULL; /* now owned by the buffer */
    evhttp_send_reply(j->req, j->status, j->status == 200 ? "OK" : "Internal Server Error", b);
    evbuffer_free(b);
    job_free(j);
}

/* ---------------------------------------------------------------- RPC work */

/* Decodes the body (any thread): 0 (j->decoded), or -1 with the error reply in j. */
static int decode(struct job *j)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    j->status = 200;
    if (j->kind == BODY_XMLRPC) {
        j->ctype = "text/xml";
        if (ts_xmlrpc_decode_call(j->body, j->len, &j->method, &j->params, &err) == 0) {
            j->decoded = 1;
            return 0;
        }
        log_debug("bad XML-RPC request from %s: %s", j->peer,
                  err.nparams > 1 ? err.params[1] : "?");
        j->status = 500;
        j->ctype = "text/html";
        j->resp = error_page(&err);
        j->resp_len = strlen(j->resp);
    } else {
        j->ctype = "application/json";
        if (ts_jsonrpc_decode_call(j->body, j->len, &j->jc, &err) == 0) {
            j->decoded = 1;
            return 0;
        }
        /* valid JSON but not a request -> -32600; anything else -> -32700 */
        ATOLL_AUTOVALUE probe = NULL;
        struct atoll_err perr = ATOLL_ERR_INIT;
        int parsed = ts_json_decode(j->body, j->len, &probe, &perr) == 0;
        atoll_err_clear(&perr);
        j->resp = ts_jsonrpc_encode_protocol_error(&j->jc, parsed ? -32600 : -32700, &err,
                                                   &j->resp_len);
        ts_jsonrpc_call_fini(&j->jc);
    }
    __atomic_add_fetch(&H.stats.bad_requests, 1, __ATOMIC_RELAXED);
    atoll_err_clear(&err);
    return -1;
}

/*
 * Dispatches the decoded call and encodes the reply into j. nowait (loop
 * thread): ts_rpc_dispatch_nowait, and TS_RPC_AGAIN when the call must run on
 * a worker (j unchanged). Otherwise (worker) ts_rpc_dispatch: 0.
 */
static int run(struct job *j, int nowait)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    int xml = j->kind == BODY_XMLRPC;
    struct atoll_value *params = xml ? j->params : j->jc.params;
    unsigned n = (unsigned)atoll_value_array_len(params);
    struct atoll_value *pv[TS_RPC_MAX_PARAMS + 1];
    for (unsigned i = 0; i < n && i <= TS_RPC_MAX_PARAMS; i++)
        pv[i] = atoll_value_array_get(params, i);
    struct ts_rpc_request r = {.method = xml ? j->method : j->jc.method, .params = pv,
                               .nparams = n, /* > TS_RPC_MAX_PARAMS fails the arity check */
                               .proto = xml ? TS_RPC_XMLRPC : TS_RPC_JSONRPC, .peer = j->peer,
                               .local = j->local};
    struct atoll_value *result = NULL;
    unsigned flags = 0;
    int rc = nowait ? ts_rpc_dispatch_nowait(&r, &result, &flags, &err)
                    : ts_rpc_dispatch(&r, &result, &flags, &err);
    if (rc == TS_RPC_AGAIN) {
        atoll_err_clear(&err);
        return TS_RPC_AGAIN;
    }
    if (xml)
        j->resp = rc == 0 ? ts_xmlrpc_encode_success(result, flags & TS_RPC_REPLY_BARE,
                                                     &j->resp_len)
                          : ts_xmlrpc_encode_failure(&err, &j->resp_len);
    else
        j->resp = rc == 0 ? ts_jsonrpc_encode_success(&j->jc, result, &j->resp_len)
                          : ts_jsonrpc_encode_failure(&j->jc, &err, &j->resp_len);
    atoll_value_unref(result);
    atoll_err_clear(&err);
    __atomic_add_fetch(&H.stats.rpc_calls, 1, __ATOMIC_RELAXED);
    return 0;
}

/* Worker thread: decodes if the loop did not, runs the call, posts the reply to the loop. */
static void work(void *arg)
{
    struct job *j = arg;
    if (j->decoded || decode(j) == 0)
        run(j, 0);
    static const struct timeval now = {0, 0};
    pthread_mutex_lock(&H.stop_lock);
    int posted = !H.stopping && event_base_once(H.base, -1, EV_TIMEOUT, reply_cb, j, &now) == 0;
    pthread_mutex_unlock(&H.stop_lock);
    if (!posted) /* shutting down: the connection is gone with the server */
        job_free(j);
}

struct post {
    void (*fn)(void *arg);
    void *arg;
};

static void post_cb(evutil_socket_t fd, short what, void *p)
{
    struct post *po = p;
    po->fn(po->arg);
    free(po);
}

int ts_http_post(void (*fn)(void *arg), void *arg)
{
    static const struct timeval now = {0, 0};
    struct post *po = atoll_malloc(sizeof(*po));
    po->fn = fn;
    po->arg = arg;
    pthread_mutex_lock(&H.stop_lock);
    int posted = !H.stopping && H.base &&
                 event_base_once(H.base, -1, EV_TIMEOUT, post_cb, po, &now) == 0;
    pthread_mutex_unlock(&H.stop_lock);
    if (!posted)
        free(po);
    return posted ? 0 : -1;
}

/* ---------------------------------------------------------------- routing (loop thread) */

static void peer_of(struct evhttp_request *req, const struct listener *L, char *out, size_t cap)
{
    struct evhttp_connection *c = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;
    if (L->local || !c) {
        snprintf(out, cap, "unix");
        return;
    }
    evhttp_connection_get_peer(c, &addr, &port);
    /* "addr:port" without snprintf: this runs for every request */
    const char *a = addr ? addr : "?";
    size_t n = strlen(a);
    char num[8], *e = num + sizeof(num), *p = e;
    unsigned v = port;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    size_t k = (size_t)(e - p);
    if (n + 1 + k + 1 > cap) {
        snprintf(out, cap, "%s:%u", a, (unsigned)port);
        return;
    }
    memcpy(out, a, n);
    out[n] = ':';
    memcpy(out + n + 1, p, k);
    out[n + 1 + k] = '\0';
}

static void gencb(struct evhttp_request *req, void *arg)
{
    struct listener *L = arg;
    H.stats.requests++;
    if (conn_admit(req) < 0) {
        H.stats.rejected_busy++;
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        reply_text(req, 503, "Service Unavailable", "text/plain", "too many connections\n");
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct evhttp_uri *connect_uri = NULL;
    if (cmd == EVHTTP_REQ_CONNECT) {
        /* libevent parses a CONNECT target as host:port; XAPI's console clients send a path */
        connect_uri = evhttp_uri_parse(evhttp_request_get_uri(req));
        uri = connect_uri;
    }
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path)
        path = "/";
    for (unsigned i = 0; i < H.nroutes; i++)
        if (strcmp(H.routes[i].path, path) == 0) {
            if (connect_uri)
                evhttp_uri_free(connect_uri);
            H.routes[i].fn(req, L->local, H.routes[i].arg);
            return;
        }
    if (connect_uri) {
        evhttp_uri_free(connect_uri);
        path = "";  /* only side handlers take CONNECT */
    }
    if (cmd == EVHTTP_REQ_OPTIONS) { /* CORS preflight for browser clients */
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Access-Control-Allow-Methods", "POST, GET, OPTIONS");
        evhttp_add_header(h, "Access-Control-Allow-Headers", "Content-Type");
        evhttp_add_header(h, "Access-Control-Max-Age", "86400");
        reply_text(req, 200, "OK", "text/plain", "");
        return;
    }
    if (cmd == EVHTTP_REQ_GET && strcmp(path, "/") == 0) {
        reply_text(req, 200, "OK", "text/html",
                   "<html><head><title>Atoll</title></head><body><h1>Atoll host</h1>"
                   "<p>XenAPI: XML-RPC at /, /RPC2 and /xmlrpc; JSON-RPC at /jsonrpc.</p>"
                   "</body></html>");
        return;
    }
    if (cmd != EVHTTP_REQ_POST) {
        reply_text(req, cmd == EVHTTP_REQ_GET ? 404 : 405,
                   cmd == EVHTTP_REQ_GET ? "Not Found" : "Method Not Allowed", "text/plain",
                   "the API takes POST requests\n");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    struct job *j = atoll_calloc(1, sizeof(*j));
    j->req = req;
    j->kind = strcmp(path, "/jsonrpc") == 0 ? BODY_JSONRPC : BODY_XMLRPC;
    j->local = L->local;
    peer_of(req, L, j->peer, sizeof(j->peer));
    j->body = atoll_malloc(len + 1);
    j->len = len;
    if (len && evbuffer_remove(in, j->body, len) != (ev_ssize_t)len) {
        free(j->body);
        free(j);
        reply_text(req, 500, "Internal Server Error", "text/plain", "cannot read the body\n");
        return;
    }
    j->body[len] = '\0';
    /* small calls: decoded here; the cache reads (TS_RPC_NOWAIT) answered without a hand-off */
    if (len <= INLINE_MAX_BODY && (decode(j) < 0 || run(j, 1) == 0)) {
        reply_cb(-1, 0, j);
        return;
    }
    ts_workq_submit(work, j);
}

int ts_http_register(const char *path, ts_http_handler fn, void *arg)
{
    if (!path || path[0] != '/' || !fn || H.nroutes >= MAX_ROUTES)
        return -1;
    for (unsigned i = 0; i < H.nroutes; i++)
        if (strcmp(H.routes[i].path, path) == 0)
            return -1;
    H.routes[H.nroutes++] = (struct route){atoll_strdup(path), fn, arg};
    return 0;
}

char *ts_http_query_get(struct evhttp_request *req, const char *name)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    if (!q || evhttp_parse_query_str(q, &kv) < 0)
        return NULL;
    const char *v = evhttp_find_header(&kv, name);
    char *r = v ? atoll_strdup(v) : NULL;
    evhttp_clear_headers(&kv);
    return r;
}

/* The value of one cookie (owned) from the Cookie header, or NULL. */
static char *cookie_get(struct evhttp_request *req, const char *name)
{
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
    size_t n = strlen(name);
    while (h && *h) {
        while (*h == ' ' || *h == ';')
            h++;
        const char *end = strchr(h, ';');
        size_t len = end ? (size_t)(end - h) : strlen(h);
        if (len > n && strncmp(h, name, n) == 0 && h[n] == '=')
            return atoll_strndup(h + n + 1, len - n - 1);
        h = end;
    }
    return NULL;
}

int ts_http_session(struct evhttp_request *req, int needed_role, struct ts_session_info *out,
                    struct atoll_err *err)
{
    ATOLL_AUTOFREE char *ref = ts_http_query_get(req, "session_id");
    if (!ref)
        ref = cookie_get(req, "session_id");
    if (ts_session_check(ref ? ref : "", out, err) < 0)
        return -1;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    /* the path, never the query: that holds the session ref */
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct ts_call call = {.method = path ? path : "/", .session_ref = out->ref,
                           .user = out->user, .role = out->role};
    if (ts_rbac_check(&call, (enum ts_role)needed_role, NULL, err) < 0) {
        ts_session_info_fini(out);
        return -1;
    }
    return 0;
}

void ts_http_get_stats(struct ts_http_stats *out)
{
    *out = H.stats;
    out->connections = (unsigned)H.nconns;
}

/* ---------------------------------------------------------------- listeners */

/* Called by OpenSSL when a connection's SSL object is freed (the bufferevent owns it). */
static void tls_conn_gone(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
                          void *argp)
{
    if (!ptr || H.tls_conns == 0)
        return;
    H.tls_conns--;
    if (H.tls_paused && H.tls_conns < H.max_conns && H.tls_listener) {
        evconnlistener_enable(H.tls_listener);
        H.tls_paused = 0;
    }
}

static struct bufferevent *bev_tls(struct event_base *base, void *arg)
{
    SSL *ssl = SSL_new(H.ssl);
    if (!ssl)
        return NULL;
    SSL_set_ex_data(ssl, H.ssl_idx, &H); /* non-NULL: counted */
    if (++H.tls_conns >= H.max_conns && H.tls_listener && !H.tls_paused) {
        evconnlistener_disable(H.tls_listener);
        H.tls_paused = 1;
        static uint64_t last_ns; /* a client can cause this: at most one line per 10 s */
        uint64_t now = atoll_now_ns();
        if (!last_ns || now - last_ns > 10000000000ull) {
            last_ns = now;
            log_warn("%u HTTPS connections: not accepting more until one closes", H.tls_conns);
        }
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    else
        SSL_free(ssl); /* uncounts it; evhttp then speaks plain HTTP, which TLS clients refuse */
    return bev;
}

static struct evhttp *new_http(const struct ts_http_config *cfg, int local, const char *what)
{
    struct evhttp *http = evhttp_new(H.base);
    if (!http)
        return NULL;
    size_t max_body = cfg->max_body ? cfg->max_body : 1u << 20;
    evhttp_set_max_body_size(http, (ev_ssize_t)max_body);
    evhttp_set_max_headers_size(http, 16384);
    evhttp_set_timeout(http, cfg->timeout_s > 0 ? cfg->timeout_s : 60);
    evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                         EVHTTP_REQ_OPTIONS | EVHTTP_REQ_HEAD |
                                         EVHTTP_REQ_CONNECT | EVHTTP_REQ_DELETE);
    struct listener *L = &H.l[H.nl++];
    L->http = http;
    L->local = local;
    L->what = what;
    evhttp_set_gencb(http, gencb, L);
    return http;
}

static int bind_tcp(struct evhttp *http, const char *addr, int port, const char *what,
                    struct evconnlistener **listener, struct atoll_err *err)
{
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, addr, (ev_uint16_t)port);
    if (listener && bs)
        *listener = evhttp_bound_socket_get_listener(bs);
    if (!bs) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot listen");
        atoll_err_detail(err, "%s on %s:%d: %s", what, addr, port, strerror(errno));
        return -1;
    }
    log_info("%s listening on %s:%d", what, addr, port);
    return 0;
}

static int bind_unix(struct evhttp *http, const char *path, struct atoll_err *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "UNIX socket path too long");
        atoll_err_detail(err, "'%s' is longer than %zu bytes", path, sizeof(sa.sun_path) - 1);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct stat st;
    if (fd >= 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
        unlink(path); /* a stale socket from an earlier run */
    mode_t old = umask(0177);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(fd, 128) == 0;
    umask(old);
    if (!ok || !evhttp_accept_socket_with_handle(http, fd)) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot listen on the local socket");
        atoll_err_detail(err, "'%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    log_info("local API socket at %s", path);
    return 0;
}

int ts_http_start(struct event_base *base, const struct ts_http_config *cfg,
                  struct atoll_err *err)
{
    H.base = base;
    H.stopping = 0;
    H.max_conns = cfg->max_conns ? cfg->max_conns : 1024;
    H.conns_cap = 64;
    while (H.conns_cap < (size_t)H.max_conns * 2)
        H.conns_cap *= 2;
    H.conns = atoll_calloc(H.conns_cap, sizeof(*H.conns));
    const char *addr = cfg->bind_addr ? cfg->bind_addr : "0.0.0.0";
    if (cfg->https_port) {
        ATOLL_AUTOFREE char *cert = cfg->cert_file ? atoll_strdup(cfg->cert_file)
                                                   : atoll_strdup_printf("%s/host.crt",
                                                                         cfg->state_dir);
        ATOLL_AUTOFREE char *key = cfg->key_file ? atoll_strdup(cfg->key_file)
                                                 : atoll_strdup_printf("%s/host.key",
                                                                       cfg->state_dir);
        H.ssl = ts_tls_server_ctx(cert, key, err);
        if (!H.ssl)
            return -1;
        H.ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, tls_conn_gone);
        struct evhttp *https = new_http(cfg, 0, "HTTPS");
        evhttp_set_bevcb(https, bev_tls, NULL);
        if (bind_tcp(https, addr, cfg->https_port, "HTTPS", &H.tls_listener, err) < 0)
            return -1;
    }
    if (cfg->http_port) {
        struct evhttp *http = new_http(cfg, 0, "HTTP");
        if (bind_tcp(http, addr, cfg->http_port, "HTTP", NULL, err) < 0)
            return -1;
    }
    if (cfg->unix_path) {
        struct evhttp *lh = new_http(cfg, 1, "local");
        if (bind_unix(lh, cfg->unix_path, err) < 0)
            return -1;
    }
    if (H.nl == 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "no listener configured");
        return -1;
    }
    return 0;
}

void ts_http_stop(void)
{
    pthread_mutex_lock(&H.stop_lock);
    H.stopping = 1;
    pthread_mutex_unlock(&H.stop_lock);
    H.tls_listener = NULL; /* freed with its evhttp below; SSL frees must not touch it */
    for (unsigned i = 0; i < H.nl; i++)
        evhttp_free(H.l[i].http);
    H.nl = 0;
    SSL_CTX_free(H.ssl);
    H.ssl = NULL;
    free(H.conns);
    H.conns = NULL;
    H.nconns = H.conns_cap = 0;
    for (unsigned i = 0; i < H.nroutes; i++)
        free(H.routes[i].path);
    H.nroutes = 0;
}

/*
 * toolstack/vm_console.c - the /console HTTP side handler: a running VM's serial
 * console. GET or CONNECT /console?ref=<ref>|uuid=<uuid>&session_id=<ref>, naming the
 * VM or its vt100 console object (whose location is this URL), answers 200 and
 * streams the console (recent output replayed first, then live): chunked for
 * HTTP/1.1, a raw stream for HTTP/1.0 as XAPI's clients expect. POST with the same
 * query writes its body (at most 4 KiB) to the console's input. Needs vm-operator.
 * Threads: the libevent loop thread only (never blocks: UNIX connects are
 * immediate, writes are small and non-blocking).
 * Trust: query and body are client data; the session is checked first.
 */
#define ATOLL_LOG_MODULE "console"
#include "vm_console.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/queue.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "http.h"
#include "rbac.h"
#include "rpc.h"
#include "session.h"
#include "vm_state.h"
#include "vmm_client.h"

#define INPUT_MAX 4096
#define BACKLOG_MAX (1024 * 1024)  /* console bytes queued for one slow client */
#define WRITE_TIMEOUT_S 60         /* a client that reads nothing for this long is dropped */

struct stream {
    struct evhttp_request *req;
    struct bufferevent *bev;   /* the VMM's console socket */
    struct event *tick;        /* notices a client that went away while the guest is quiet */
};

static void reply(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    evbuffer_add_printf(b, "%s\n", text);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void stream_end(struct stream *s)
{
    event_free(s->tick);
    bufferevent_free(s->bev);
    evhttp_send_reply_end(s->req); /* frees req, also when the client already left */
    free(s);
}

static void on_console(struct bufferevent *bev, void *arg)
{
    struct stream *s = arg;
    if (!evhttp_request_get_connection(s->req)) {
        stream_end(s);
        return;
    }
    struct evbuffer *in = bufferevent_get_input(bev);
    struct bufferevent *hb = evhttp_connection_get_bufferevent(
        evhttp_request_get_connection(s->req));
    if (hb && evbuffer_get_length(bufferevent_get_output(hb)) > BACKLOG_MAX) {
        /* a client that does not read loses output, as atoll-vmm's own console does */
        evbuffer_drain(in, evbuffer_get_length(in));
        return;
    }
    if (hb && evhttp_request_get_command(s->req) == EVHTTP_REQ_CONNECT) {
        /* a CONNECT answer has no body for libevent (RFC 7231): the stream is a raw tunnel */
        bufferevent_write_buffer(hb, in);
        return;
    }
    struct evbuffer *out = evbuffer_new();
    evbuffer_add_buffer(out, in);
    evhttp_send_reply_chunk(s->req, out);
    evbuffer_free(out);
}

static void on_console_event(struct bufferevent *bev, short what, void *arg)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        stream_end(arg); /* the VM stopped */
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct stream *s = arg;
    if (!evhttp_request_get_connection(s->req))
        stream_end(s);
}

static int connect_console(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/*
 * atoll-vmm drops a console client that is gone before it sent the replay, and
 * its input with it: an input-only connection stays until the replay (or 1 s).
 */
struct lingerer {
    struct bufferevent *bev;
    struct event *timer;
};

static void linger_end(struct lingerer *l)
{
    event_free(l->timer);
    bufferevent_free(l->bev);
    free(l);
}

static void linger_read(struct bufferevent *bev, void *arg)
{
    linger_end(arg);
}

static void linger_event(struct bufferevent *bev, short what, void *arg)
{
    linger_end(arg);
}

static void linger_timeout(evutil_socket_t fd, short what, void *arg)
{
    linger_end(arg);
}

static void linger_close(struct event_base *base, int fd)
{
    struct lingerer *l = atoll_calloc(1, sizeof(*l));
    l->bev = base ? bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    l->timer = base ? evtimer_new(base, linger_timeout, l) : NULL;
    if (!l->bev || !l->timer) {
        if (l->bev)
            bufferevent_free(l->bev);
        else
            close(fd);
        event_free(l->timer);
        free(l);
        return;
    }
    bufferevent_setcb(l->bev, linger_read, NULL, linger_event, l);
    bufferevent_enable(l->bev, EV_READ);
    struct timeval one = {1, 0};
    evtimer_add(l->timer, &one);
}

struct lookup {
    const char *ref, *uuid;
    char *path;
};

static void find_vm(struct ts_vm_rt *rt, void *arg)
{
    struct lookup *l = arg;
    if (l->path || rt->pid <= 0 || rt->exited)
        return;
    if ((l->ref && (strcmp(rt->ref, l->ref) == 0 || strcmp(rt->console_ref, l->ref) == 0)) ||
        (l->uuid && (strcmp(rt->uuid, l->uuid) == 0 || strcmp(rt->console_uuid, l->uuid) == 0)))
        l->path = ts_vmm_client_console_path(rt->dir);
}

static void handler(struct evhttp_request *req, int local, void *arg)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    struct evhttp_uri *raw = NULL;
    if (evhttp_request_get_command(req) == EVHTTP_REQ_CONNECT) {
        /* libevent parses a CONNECT target as an authority; XAPI's clients send a path */
        raw = evhttp_uri_parse(evhttp_request_get_uri(req));
        uri = raw;
    }
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kv;
    TAILQ_INIT(&kv);
    int bad = q && evhttp_parse_query_str(q, &kv) < 0;
    if (raw)
        evhttp_uri_free(raw);
    if (bad) {
        reply(req, 400, "Bad Request", "malformed query string");
        return;
    }
    const char *ref = evhttp_find_header(&kv, "ref");
    const char *uuid = evhttp_find_header(&kv, "uuid");
    const char *sid = evhttp_find_header(&kv, "session_id");
    if (!sid) { /* XAPI also takes the session from a cookie */
        const char *cookie = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
        const char *p = cookie ? strstr(cookie, "session_id=") : NULL;
        static char buf[ATOLL_REF_STRLEN + 1];
        if (p) {
            snprintf(buf, sizeof(buf), "%.*s", (int)strcspn(p + 11, "; "), p + 11);
            sid = buf;
        }
    }
    struct ts_session_info si = {0};
    struct atoll_err err = ATOLL_ERR_INIT;
    if (!sid || ts_session_check(sid, &si, &err) < 0) {
        atoll_err_clear(&err);
        evhttp_clear_headers(&kv);
        reply(req, 401, "Unauthorized", "console: a valid session_id is required");
        return;
    }
    struct ts_call call = {.method = "http/console", .session_ref = sid, .user = si.user,
                           .role = si.role, .is_local_superuser = si.is_local_superuser,
                           .proto = TS_RPC_INTERNAL, .peer = local ? "unix" : "tcp",
                           .session_uuid = si.uuid, .local = local};
    int denied = ts_rbac_check(&call, TS_ROLE_VM_OPERATOR, "http/get_console", &err) < 0;
    ts_session_info_fini(&si);
    atoll_err_clear(&err);
    if (denied) {
        evhttp_clear_headers(&kv);
        reply(req, 403, "Forbidden", "console: RBAC_PERMISSION_DENIED (needs vm-operator)");
        return;
    }
    if ((!ref || !atoll_ref_is_valid(ref)) && (!uuid || !atoll_uuid_is_valid(uuid))) {
        evhttp_clear_headers(&kv);
        reply(req, 400, "Bad Request", "console: expected ref=OpaqueRef:<uuid> or uuid=<uuid>");
        return;
    }
    struct lookup l = {.ref = ref, .uuid = uuid};
    ts_vm_state_foreach(find_vm, &l);
    evhttp_clear_headers(&kv);
    ATOLL_AUTOFREE char *path = l.path;
    int fd = path ? connect_console(path) : -1;
    if (fd < 0) {
        reply(req, 404, "Not Found", "console: no running VM with that ref or uuid");
        return;
    }
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd == EVHTTP_REQ_POST || cmd == EVHTTP_REQ_PUT) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t len = evbuffer_get_length(in);
        char buf[INPUT_MAX];
        int ok = len <= INPUT_MAX && evbuffer_remove(in, buf, len) == (int)len &&
                 (len == 0 || send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)len);
        if (ok)
            linger_close(evhttp_connection_get_base(evhttp_request_get_connection(req)), fd);
        else
            close(fd);
        if (!ok)
            reply(req, len > INPUT_MAX ? 413 : 503, len > INPUT_MAX ? "Payload Too Large"
                                                                     : "Service Unavailable",
                  "console: input not delivered (at most 4096 bytes per request)");
        else
            reply(req, 200, "OK", "");
        return;
    }
    struct event_base *base = evhttp_connection_get_base(evhttp_request_get_connection(req));
    struct stream *s = atoll_calloc(1, sizeof(*s));
    s->req = req;
    s->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->tick = event_new(base, -1, EV_PERSIST, on_tick, s);
    if (!s->bev || !s->tick) {
        if (s->bev)
            bufferevent_free(s->bev);
        else
            close(fd);
        event_free(s->tick);
        free(s);
        reply(req, 500, "Internal Server Error", "console: out of resources");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache, no-store");
    evhttp_send_reply_start(req, 200, "OK");
    /* a console may stay quiet for hours: no read timeout on this connection, only a write
     * timeout (the server's idle timeout would otherwise end the stream) */
    struct bufferevent *hb = evhttp_connection_get_bufferevent(evhttp_request_get_connection(req));
    struct timeval wt = {WRITE_TIMEOUT_S, 0};
    if (hb)
        bufferevent_set_timeouts(hb, NULL, &wt);
    bufferevent_setcb(s->bev, on_console, NULL, on_console_event, s);
    bufferevent_enable(s->bev, EV_READ);
    struct timeval two = {2, 0};
    event_add(s->tick, &two);
}

int ts_vm_console_register(void)
{
    return ts_http_register("/console", handler, NULL);
}

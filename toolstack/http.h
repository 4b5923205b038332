/*
 * toolstack/http.h - the API's HTTP/1.1 server (libevent evhttp): HTTPS with
 * OpenSSL (TLS 1.2 minimum; a self-signed host certificate generated on first
 * start under the state dir, replaceable by the admin), optional plain HTTP on
 * TCP, and plain HTTP on a local UNIX socket (mode 0600; logins there skip the
 * password, as XAPI's local socket does). Keep-alive, body size limit, timeouts,
 * a bound on concurrently served connections. Routes: XML-RPC at "/", "/RPC2",
 * "/xmlrpc" (and any other unclaimed POST path, as XAPI), JSON-RPC at
 * "/jsonrpc", side handlers registered by exact path ("/console", ...).
 * Threads: everything here runs on the libevent thread except the RPC work,
 * which goes to the worker pool (workq.h) and comes back with event_base_once.
 * Trust: every byte from a connection is hostile until decoded and bounded.
 */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include <stddef.h>

#include "atoll/err.h"

struct event_base;
struct evhttp_request;

struct ts_http_config {
    const char *state_dir;    /* host.crt / host.key live here unless given below */
    const char *cert_file;    /* NULL: <state_dir>/host.crt (generated if both absent) */
    const char *key_file;     /* NULL: <state_dir>/host.key */
    const char *bind_addr;    /* NULL: "0.0.0.0" */
    int https_port;           /* 0: no HTTPS listener */
    int http_port;            /* 0: no plain-HTTP TCP listener */
    const char *unix_path;    /* NULL: no UNIX socket */
    size_t max_body;          /* request body limit in bytes (0: 1 MiB) */
    int timeout_s;            /* idle/read/write timeout per connection (0: 60) */
    unsigned max_conns;       /* connections served at once (0: 1024); more get 503 */
};

/* Starts the listeners on base (with evthread_use_pthreads already called). 0 or -1. */
int ts_http_start(struct event_base *base, const struct ts_http_config *cfg,
                  struct atoll_err *err);
/* Closes listeners and connections (loop thread). Replies still owed are dropped. */
void ts_http_stop(void);

/*
 * Side handlers (loop thread): called for any method on exactly this path
 * (query string ignored). The handler must reply (evhttp_send_reply/_start/...)
 * now or later on the loop thread; it must not block. local is 1 for requests
 * from the UNIX socket. Register before or after ts_http_start; path copied.
 */
typedef void (*ts_http_handler)(struct evhttp_request *req, int local, void *arg);
int ts_http_register(const char *path, ts_http_handler fn, void *arg);

/*
 * Helpers for side handlers (loop thread). ts_http_query_get: the decoded value
 * of a query parameter, owned, or NULL. ts_http_session: authenticates the
 * request the XAPI way: "session_id" in the query string, else in a Cookie
 * header; fills *out (ts_session_info_fini) and returns 0, or -1 with
 * SESSION_INVALID (unknown/expired) or PERMISSION_DENIED-like RBAC error when
 * the session's role is below "needed". Never blocks (no password hashing).
 */
struct ts_session_info;
char *ts_http_query_get(struct evhttp_request *req, const char *name);
int ts_http_session(struct evhttp_request *req, int needed_role, struct ts_session_info *out,
                    struct atoll_err *err);

/*
 * Runs fn(arg) on the loop thread soon (any thread may call it: how workers hand
 * results back to side handlers). Returns 0, or -1 when the server is stopping
 * (fn will never run: the caller frees arg; the request goes with the server).
 */
int ts_http_post(void (*fn)(void *arg), void *arg);

/* Counters since start (for stats and tests). */
struct ts_http_stats {
    unsigned long requests, rpc_calls, rejected_busy, bad_requests;
    unsigned connections; /* currently tracked */
};
void ts_http_get_stats(struct ts_http_stats *out);

#endif

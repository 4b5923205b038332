/*
 * toolstack/cli_conn.h - the atoll CLI's connection to atolld: HTTP/1.1 with
 * keep-alive over the local UNIX socket (default), plain TCP (--nossl) or
 * HTTPS with OpenSSL (-s host -p port), XML-RPC calls through the toolstack's
 * codec, and raw streams for side handlers (/console).
 * Certificates: with --cafile the chain and host name are verified; without,
 * the server's SHA-256 fingerprint is trusted on first use and pinned in
 * ~/.atoll/known_hosts (or $ATOLL_KNOWN_HOSTS); a changed one is refused.
 * Threads: single-threaded. Trust: every byte from the server is bounded and checked.
 */
#ifndef TS_CLI_CONN_H
#define TS_CLI_CONN_H

#include <stddef.h>
#include <sys/types.h>

#include "cli.h"

struct cli_conn_opts {
    const char *server;       /* NULL: the local UNIX socket */
    int port;                 /* TCP port (default 443, 80 with nossl) */
    int nossl;                /* plain HTTP over TCP */
    const char *socket_path;  /* UNIX socket path */
    const char *cafile;       /* verify against these CAs instead of pinning */
    int debug;                /* print requests and answers on stderr */
};

/* Connects (and handshakes). NULL with *msg (owned) naming what failed. */
struct cli_conn *cli_conn_open(const struct cli_conn_opts *o, char **msg);
void cli_conn_free(struct cli_conn *c);   /* NULL is a no-op */
/* 1 for the local UNIX socket (logins there need no password). */
int cli_conn_is_local(const struct cli_conn *c);

/*
 * XML-RPC call of method with params (borrowed). Returns the Value of a
 * {Status: Success} answer (owned) or NULL with e filled: the ErrorDescription
 * of a Failure, or a message for transport and protocol errors. Reconnects
 * once when a kept-alive connection was closed before the request went out.
 */
struct atoll_value *cli_conn_xmlrpc(struct cli_conn *c, const char *method,
                                    struct atoll_value *const *params, unsigned n,
                                    struct cli_err *e);

/*
 * Starts a raw stream: "GET <target> HTTP/1.0" (atolld's side handlers then
 * stream the body raw until either side closes) and reads the answer's status
 * line and headers. 0 on 200 (read the stream with cli_conn_read), else -1
 * with *msg (owned; includes the status and body text).
 */
int cli_conn_stream_open(struct cli_conn *c, const char *target, char **msg);
/* A second connection with the same options (for a stream next to calls). NULL with *msg. */
struct cli_conn *cli_conn_dup(const struct cli_conn *c, char **msg);
/* POSTs body to path (kept-alive): 0 with the HTTP status, or -1 with *msg (owned). */
int cli_conn_post(struct cli_conn *c, const char *path, const char *body, size_t len,
                  int *status, char **msg);
/* Raw stream I/O: read returns bytes read, 0 at EOF, -1 on error (EAGAIN never: blocking). */
ssize_t cli_conn_read(struct cli_conn *c, void *buf, size_t n);
int cli_conn_write(struct cli_conn *c, const void *buf, size_t n);
/* Bytes already buffered (to read before polling the fd again). */
size_t cli_conn_pending(struct cli_conn *c);
int cli_conn_fd(const struct cli_conn *c);

#endif

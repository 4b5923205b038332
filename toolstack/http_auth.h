/*
 * toolstack/http_auth.h - authentication of side-handler requests the XAPI
 * way, without blocking the libevent thread: "session_id" (query string or
 * cookie) is checked at once; HTTP Basic "user:password" runs the (slow,
 * PBKDF2) password check on a worker and uses a throw-away session that ends
 * after the callback. Also the built-in admin handler GET /audit_log.
 * Threads: called and called back on the libevent thread.
 * Trust: headers and query strings are client data.
 */
#ifndef TS_HTTP_AUTH_H
#define TS_HTTP_AUTH_H

#include "atoll/err.h"

struct evhttp_request;
struct ts_session_info;

/*
 * Called on the loop thread once the request is authenticated (si: the
 * session, borrowed for the call) or not (si NULL, err says why:
 * SESSION_INVALID / SESSION_AUTHENTICATION_FAILED / RBAC_PERMISSION_DENIED).
 * The callback must reply to req (ts_http_auth_reply_error does it for failures).
 */
typedef void (*ts_http_auth_cb)(struct evhttp_request *req, int local,
                                const struct ts_session_info *si, const struct atoll_err *err,
                                void *arg);
/* Starts authentication of req needing role needed_role (enum ts_role). */
void ts_http_auth_request(struct evhttp_request *req, int local, int needed_role,
                          ts_http_auth_cb cb, void *arg);
/* The HTTP answer for a failed authentication: 401 with a Basic challenge, or 403. */
void ts_http_auth_reply_error(struct evhttp_request *req, const struct atoll_err *err);

/* Registers GET /audit_log (pool-admin): the audit log file as text/plain. */
int ts_http_auth_register_audit_log(const char *audit_path);

#endif

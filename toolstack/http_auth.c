/*
 * toolstack/http_auth.c - side-handler authentication (see http_auth.h):
 * session_id from the query or a cookie, else HTTP Basic checked on a worker;
 * and GET /audit_log, which reads the log on a worker too.
 * Threads: entry points and callbacks on the loop thread; hashing and file
 * reads on workers, handed back with ts_http_post.
 * Trust: Authorization headers, cookies and query strings are client data.
 */
#define ATOLL_LOG_MODULE "http"
#include "http_auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "http.h"
#include "rbac.h"
#include "rpc.h"
#include "session.h"
#include "strbuf.h"
#include "workq.h"

struct auth_job {
    struct evhttp_request *req;
    int local, needed_role;
    ts_http_auth_cb cb;
    void *arg;
    char *user, *password;
    char ref[ATOLL_REF_STRLEN + 1];
    struct atoll_err err;
};

void ts_http_auth_reply_error(struct evhttp_request *req, const struct atoll_err *err)
{
    const char *code = err ? atoll_err_code_name(err->code) : NULL;
    int denied = err && err->code == ATOLL_E_RBAC_PERMISSION_DENIED;
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain");
    if (!denied)
        evhttp_add_header(h, "WWW-Authenticate", "Basic realm=\"xapi\"");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_printf(b, "%s\n", code ? code : "SESSION_INVALID");
    evhttp_send_reply(req, denied ? 403 : 401, denied ? "Forbidden" : "Unauthorized", b);
    evbuffer_free(b);
}

/* Role check and callback for an authenticated session (loop thread). */
static void finish(struct evhttp_request *req, int local, int needed_role,
                   struct ts_session_info *si, ts_http_auth_cb cb, void *arg)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct ts_call call = {.method = path ? path : "/", .session_ref = si->ref, .user = si->user,
                           .role = si->role, .local = local};
    if (ts_rbac_check(&call, (enum ts_role)needed_role, NULL, &err) < 0)
        cb(req, local, NULL, &err, arg);
    else
        cb(req, local, si, NULL, arg);
    atoll_err_clear(&err);
}

static void basic_done(void *p)
{
    struct auth_job *j = p;
    if (atoll_err_is_set(&j->err)) {
        j->cb(j->req, j->local, NULL, &j->err, j->arg);
    } else {
        struct ts_session_info si = {0};
        if (ts_session_get(j->ref, &si)) {
            finish(j->req, j->local, j->needed_role, &si, j->cb, j->arg);
            ts_session_info_fini(&si);
        } else {
            ATOLL_ERR(&j->err, ATOLL_E_SESSION_INVALID, "");
            j->cb(j->req, j->local, NULL, &j->err, j->arg);
        }
        ts_session_logout(j->ref, NULL); /* the throw-away session of a Basic login */
    }
    atoll_err_clear(&j->err);
    free(j);
}

static void basic_work(void *p)
{
    struct auth_job *j = p;
    if (j->local)
        ts_session_login_trusted(j->user, "http-basic", j->ref, &j->err);
    else
        ts_session_login(j->user, j->password, "http-basic", j->ref, &j->err);
    OPENSSL_cleanse(j->password, strlen(j->password));
    free(j->user);
    free(j->password);
    j->user = j->password = NULL;
    if (ts_http_post(basic_done, j) < 0) { /* shutting down: the request goes with the server */
        if (!atoll_err_is_set(&j->err))
            ts_session_logout(j->ref, NULL);
        atoll_err_clear(&j->err);
        free(j);
    }
}

/* Splits "Basic <base64 user:password>"; 0 with owned strings, or -1. */
static int parse_basic(const char *h, char **user, char **password)
{
    if (!h || strncasecmp(h, "Basic ", 6) != 0)
        return -1;
    h += 6;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    if (n == 0 || n > 2048 || n % 4 != 0)
        return -1;
    ATOLL_AUTOFREE unsigned char *out = atoll_malloc(n / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)h, (int)n);
    if (got < 0)
        return -1;
    if (h[n - 1] == '=')
        got--;
    if (h[n - 2] == '=')
        got--;
    out[got] = '\0';
    if (memchr(out, '\0', (size_t)got))
        return -1;
    char *colon = strchr((char *)out, ':');
    if (!colon)
        return -1;
    *user = atoll_strndup((char *)out, (size_t)(colon - (char *)out));
    *password = atoll_strdup(colon + 1);
    OPENSSL_cleanse(out, (size_t)got);
    return 0;
}

void ts_http_auth_request(struct evhttp_request *req, int local, int needed_role,
                          ts_http_auth_cb cb, void *arg)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_session_info si = {0};
    const char *authz = evhttp_find_header(evhttp_request_get_input_headers(req),
                                           "Authorization");
    char *user = NULL, *password = NULL;
    /* session_id first, as XAPI; a Basic header is the fallback */
    if (!authz || parse_basic(authz, &user, &password) < 0) {
        if (ts_http_session(req, TS_ROLE_NONE, &si, &err) < 0) {
            cb(req, local, NULL, &err, arg);
        } else {
            finish(req, local, needed_role, &si, cb, arg);
            ts_session_info_fini(&si);
        }
        atoll_err_clear(&err);
        return;
    }
    ATOLL_AUTOFREE char *sid = ts_http_query_get(req, "session_id");
    if (sid && ts_session_check(sid, &si, NULL) == 0) {
        finish(req, local, needed_role, &si, cb, arg);
        ts_session_info_fini(&si);
        OPENSSL_cleanse(password, strlen(password));
        free(user);
        free(password);
        return;
    }
    struct auth_job *j = atoll_calloc(1, sizeof(*j));
    *j = (struct auth_job){.req = req, .local = local, .needed_role = needed_role, .cb = cb,
                           .arg = arg, .user = user, .password = password};
    ts_workq_submit(basic_work, j);
}

/* ---------------------------------------------------------------- GET /audit_log */

struct file_job {
    struct evhttp_request *req;
    char *data;
    size_t len;
    int ok;
};

static char *audit_path;

static void file_done(void *p)
{
    struct file_job *j = p;
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(j->req), "Content-Type",
                      "text/plain");
    evbuffer_add(b, j->data ? j->data : "", j->len);
    evhttp_send_reply(j->req, j->ok ? 200 : 500, j->ok ? "OK" : "Internal Server Error", b);
    evbuffer_free(b);
    free(j->data);
    free(j);
}

static void file_work(void *p)
{
    struct file_job *j = p;
    int fd = open(audit_path, O_RDONLY | O_CLOEXEC);
    struct ts_strbuf b = {0};
    j->ok = fd >= 0 || errno == ENOENT;
    char chunk[65536];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, chunk, sizeof(chunk))) > 0 && b.len < (64u << 20))
        ts_strbuf_add(&b, chunk, (size_t)n);
    if (fd >= 0)
        close(fd);
    j->data = ts_strbuf_take(&b, &j->len);
    if (ts_http_post(file_done, j) < 0) {
        free(j->data);
        free(j);
    }
}

static void audit_authed(struct evhttp_request *req, int local, const struct ts_session_info *si,
                         const struct atoll_err *err, void *arg)
{
    if (!si) {
        ts_http_auth_reply_error(req, err);
        return;
    }
    struct file_job *j = atoll_calloc(1, sizeof(*j));
    j->req = req;
    ts_workq_submit(file_work, j);
}

static void audit_handler(struct evhttp_request *req, int local, void *arg)
{
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_reply(req, 405, "Method Not Allowed", NULL);
        return;
    }
    ts_http_auth_request(req, local, TS_ROLE_POOL_ADMIN, audit_authed, NULL);
}

int ts_http_auth_register_audit_log(const char *path)
{
    free(audit_path);
    audit_path = atoll_strdup(path);
    return ts_http_register("/audit_log", audit_handler, NULL);
}

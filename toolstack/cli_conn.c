/*
 * toolstack/cli_conn.c - the CLI's HTTP/1.1 client: one kept-alive connection
 * (UNIX socket, TCP or TLS), XML-RPC request/response framing (Content-Length
 * or chunked answers), trust-on-first-use certificate pinning, raw streams.
 * Threads: single-threaded. Trust: answers are size-bounded; headers parsed
 * strictly; the codec decodes bodies with its hostile-input limits.
 */
#include "cli_conn.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "atoll/util.h"
#include "xmlrpc.h"

#define MAX_ANSWER (512u << 20)   /* get_all_records of a large pool fits */
#define MAX_HEADER_LINE 8192

struct cli_conn {
    struct cli_conn_opts o;
    char *server, *socket_path, *cafile;   /* owned copies of the option strings */
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    char rbuf[16384];
    size_t rpos, rlen;
    int used;        /* a request completed on this connection (keep-alive reuse) */
};

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = atoll_strdup_vprintf(f, ap);
    va_end(ap);
    return s;
}

static char *ssl_errmsg(void)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    if (!e)
        return atoll_strdup("connection closed during the TLS handshake");
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return atoll_strdup(buf);
}

/* ---- trust on first use ---- */

static char *known_hosts_path(void)
{
    const char *env = getenv("ATOLL_KNOWN_HOSTS");
    if (env && *env)
        return atoll_strdup(env);
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    return fmt("%s/.atoll/known_hosts", home);
}

/* Checks (or records) the fingerprint hex for "host:port". 0 ok, -1 with *msg. */
static int tofu_check(const char *hostport, const char *hex, char **msg)
{
    ATOLL_AUTOFREE char *path = known_hosts_path();
    if (!path) {
        fprintf(stderr, "atoll: warning: no HOME: accepting %s's certificate (SHA-256 %s) "
                "without pinning it\n", hostport, hex);
        return 0;
    }
    FILE *f = fopen(path, "re");
    if (f) {
        char line[1024];
        while (fgets(line, sizeof(line), f)) {
            char name[512], fp[256];
            if (sscanf(line, "%511s %255s", name, fp) != 2 || strcmp(name, hostport) != 0)
                continue;
            fclose(f);
            if (strcasecmp(fp, hex) == 0)
                return 0;
            *msg = fmt("the certificate of %s has changed (SHA-256 %s, pinned %s in %s); if "
                       "the host certificate was replaced on purpose, remove that line",
                       hostport, hex, fp, path);
            return -1;
        }
        fclose(f);
    }
    /* first use: pin it (creating ~/.atoll when that is where the file lives) */
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    f = fopen(path, "ae");
    if (!f) {
        fprintf(stderr, "atoll: warning: cannot record %s's certificate in '%s': %s\n",
                hostport, path, strerror(errno));
        return 0;
    }
    fprintf(f, "%s %s\n", hostport, hex);
    fclose(f);
    fprintf(stderr, "atoll: trusting the certificate of %s on first use (SHA-256 %s); "
            "pinned in %s\n", hostport, hex, path);
    return 0;
}

static int tls_start(struct cli_conn *c, char **msg)
{
    if (!c->ctx) {
        c->ctx = SSL_CTX_new(TLS_client_method());
        if (!c->ctx) {
            *msg = ssl_errmsg();
            return -1;
        }
        SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
        /* a stream (console) may end without close_notify; bodies are length-checked */
        SSL_CTX_set_options(c->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        if (c->cafile) {
            if (SSL_CTX_load_verify_locations(c->ctx, c->cafile, NULL) != 1) {
                ATOLL_AUTOFREE char *why = ssl_errmsg();
                *msg = fmt("cannot load the CA file '%s': %s", c->cafile, why);
                return -1;
            }
            SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
        } else {
            SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL); /* pinned below instead */
        }
    }
    c->ssl = SSL_new(c->ctx);
    if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1) {
        *msg = ssl_errmsg();
        return -1;
    }
    unsigned char addr[16];
    int is_ip = inet_pton(AF_INET, c->server, addr) == 1 ||
                inet_pton(AF_INET6, c->server, addr) == 1;
    if (!is_ip)
        SSL_set_tlsext_host_name(c->ssl, c->server);
    if (c->cafile) { /* the certificate must name the host (or address) we asked for */
        X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
        if (is_ip)
            X509_VERIFY_PARAM_set1_ip_asc(vp, c->server);
        else
            SSL_set1_host(c->ssl, c->server);
    }
    if (SSL_connect(c->ssl) != 1) {
        ATOLL_AUTOFREE char *why = ssl_errmsg();
        long vr = SSL_get_verify_result(c->ssl);
        if (vr != X509_V_OK)
            *msg = fmt("TLS with %s:%d failed: certificate not trusted: %s", c->server,
                       c->o.port, X509_verify_cert_error_string(vr));
        else
            *msg = fmt("TLS with %s:%d failed: %s", c->server, c->o.port, why);
        return -1;
    }
    if (c->cafile)
        return 0;
    X509 *cert = SSL_get1_peer_certificate(c->ssl);
    if (!cert) {
        *msg = fmt("%s:%d sent no certificate", c->server, c->o.port);
        return -1;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int r = X509_digest(cert, EVP_sha256(), md, &mdlen);
    X509_free(cert);
    if (r != 1) {
        *msg = ssl_errmsg();
        return -1;
    }
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    ATOLL_AUTOFREE char *hp = fmt("%s:%d", c->server, c->o.port);
    return tofu_check(hp, hex, msg);
}

/* ---- connecting ---- */

static void conn_close(struct cli_conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rpos = c->rlen = 0;
    c->used = 0;
}

static int conn_connect(struct cli_conn *c, char **msg)
{
    if (!c->server) {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (strlen(c->socket_path) >= sizeof(sa.sun_path)) {
            *msg = fmt("the socket path '%s' is too long (at most %zu bytes)", c->socket_path,
                       sizeof(sa.sun_path) - 1);
            return -1;
        }
        strcpy(sa.sun_path, c->socket_path);
        c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            *msg = fmt("cannot connect to atolld's local socket '%s': %s (is atolld running? "
                       "use -s HOST for a remote host)", c->socket_path, strerror(errno));
            conn_close(c);
            return -1;
        }
        return 0;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char port[16];
    snprintf(port, sizeof(port), "%d", c->o.port);
    int gr = getaddrinfo(c->server, port, &hints, &res);
    if (gr != 0) {
        *msg = fmt("cannot resolve '%s': %s", c->server, gai_strerror(gr));
        return -1;
    }
    int saved = 0;
    for (ai = res; ai; ai = ai->ai_next) {
        c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (c->fd < 0)
            continue;
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(c->fd);
        c->fd = -1;
    }
    freeaddrinfo(res);
    if (c->fd < 0) {
        *msg = fmt("cannot connect to %s:%d: %s", c->server, c->o.port, strerror(saved));
        return -1;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (!c->o.nossl && tls_start(c, msg) < 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

struct cli_conn *cli_conn_open(const struct cli_conn_opts *o, char **msg)
{
    struct cli_conn *c = atoll_calloc(1, sizeof(*c));
    c->o = *o;
    c->server = atoll_strdup(o->server);
    c->socket_path = atoll_strdup(o->socket_path);
    c->cafile = atoll_strdup(o->cafile);
    c->fd = -1;
    if (conn_connect(c, msg) < 0) {
        cli_conn_free(c);
        return NULL;
    }
    return c;
}

void cli_conn_free(struct cli_conn *c)
{
    if (!c)
        return;
    conn_close(c);
    SSL_CTX_free(c->ctx);
    free(c->server);
    free(c->socket_path);
    free(c->cafile);
    free(c);
}

int cli_conn_is_local(const struct cli_conn *c)
{
    return c->server == NULL;
}

int cli_conn_fd(const struct cli_conn *c)
{
    return c->fd;
}

/* ---- byte I/O ---- */

static ssize_t raw_read(struct cli_conn *c, void *buf, size_t n)
{
    for (;;) {
        if (c->ssl) {
            int r = SSL_read(c->ssl, buf, n > 1u << 30 ? 1 << 30 : (int)n);
            if (r > 0)
                return r;
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_ZERO_RETURN)
                return 0;
            if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
                return errno ? -1 : 0;
            return -1;
        }
        ssize_t r = read(c->fd, buf, n);
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

int cli_conn_write(struct cli_conn *c, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w;
        if (c->ssl) {
            int r = SSL_write(c->ssl, p, n > 1u << 30 ? 1 << 30 : (int)n);
            if (r <= 0)
                return -1;
            w = r;
        } else {
            w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

size_t cli_conn_pending(struct cli_conn *c)
{
    return (c->rlen - c->rpos) + (c->ssl ? (size_t)SSL_pending(c->ssl) : 0);
}

ssize_t cli_conn_read(struct cli_conn *c, void *buf, size_t n)
{
    if (c->rpos < c->rlen) {
        size_t k = c->rlen - c->rpos < n ? c->rlen - c->rpos : n;
        memcpy(buf, c->rbuf + c->rpos, k);
        c->rpos += k;
        return (ssize_t)k;
    }
    return raw_read(c, buf, n);
}

static int fill(struct cli_conn *c)
{
    if (c->rpos < c->rlen)
        return 1;
    ssize_t r = raw_read(c, c->rbuf, sizeof(c->rbuf));
    if (r <= 0)
        return (int)r;
    c->rpos = 0;
    c->rlen = (size_t)r;
    return 1;
}

/* One header line without its CRLF into buf. 1 ok, 0 EOF before any byte, -1 error. */
static int read_line(struct cli_conn *c, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        int r = fill(c);
        if (r <= 0)
            return n == 0 && r == 0 ? 0 : -1;
        char ch = c->rbuf[c->rpos++];
        if (ch == '\n') {
            if (n && buf[n - 1] == '\r')
                n--;
            buf[n] = '\0';
            return 1;
        }
        if (n + 1 >= cap)
            return -1;
        buf[n++] = ch;
    }
}

static int read_exact(struct cli_conn *c, char *buf, size_t n)
{
    while (n) {
        ssize_t r = cli_conn_read(c, buf, n);
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- HTTP ---- */

struct answer {
    int status;
    long long length;     /* -1: unknown */
    int chunked, close, upgrade;
};

/* Status line and headers. 0, 1 for EOF before the status line, -1 with *msg. */
static int read_head(struct cli_conn *c, struct answer *a, char **msg)
{
    char line[MAX_HEADER_LINE];
    int r = read_line(c, line, sizeof(line));
    if (r == 0)
        return 1;
    int minor;
    if (r < 0 || sscanf(line, "HTTP/1.%d %d", &minor, &a->status) != 2) {
        *msg = fmt("the server sent a malformed HTTP answer");
        return -1;
    }
    a->length = -1;
    a->close = minor == 0;
    for (unsigned nh = 0;; nh++) {
        if (read_line(c, line, sizeof(line)) <= 0 || nh > 200) {
            *msg = fmt("the server sent malformed HTTP headers");
            return -1;
        }
        if (!line[0])
            return 0;
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = colon + 1 + strspn(colon + 1, " \t");
        if (strcasecmp(line, "Content-Length") == 0) {
            uint64_t len;
            if (atoll_parse_u64(v, 10, &len) < 0 || len > MAX_ANSWER) {
                *msg = fmt("the server's answer has a bad or too large length '%s'", v);
                return -1;
            }
            a->length = (long long)len;
        } else if (strcasecmp(line, "Transfer-Encoding") == 0) {
            a->chunked = strcasestr(v, "chunked") != NULL;
        } else if (strcasecmp(line, "Connection") == 0) {
            if (strcasestr(v, "close"))
                a->close = 1;
            if (strcasestr(v, "keep-alive"))
                a->close = 0;
            if (strcasestr(v, "upgrade"))
                a->upgrade = 1;
        }
    }
}

static int read_body(struct cli_conn *c, const struct answer *a, char **out, size_t *outlen,
                     char **msg)
{
    size_t len = 0, cap = 0;
    char *body = NULL;
    if (a->chunked) {
        char line[256];
        for (;;) {
            uint64_t n;
            if (read_line(c, line, sizeof(line)) <= 0)
                goto bad;
            line[strcspn(line, "; \t")] = '\0';
            if (atoll_parse_u64(line, 16, &n) < 0 || n > MAX_ANSWER - len)
                goto bad;
            if (n == 0) {
                while (read_line(c, line, sizeof(line)) > 0 && line[0])
                    ; /* trailers */
                break;
            }
            if (len + n + 1 > cap) {
                cap = (len + n + 1) * 2;
                body = atoll_realloc(body, cap);
            }
            if (read_exact(c, body + len, n) < 0 || read_line(c, line, sizeof(line)) <= 0)
                goto bad;
            len += n;
        }
    } else if (a->length >= 0) {
        body = atoll_malloc((size_t)a->length + 1);
        if (read_exact(c, body, (size_t)a->length) < 0)
            goto bad;
        len = (size_t)a->length;
    } else {
        for (;;) { /* until the server closes */
            if (len + 65537 > cap) {
                cap = cap ? cap * 2 : 65536 * 2;
                if (cap > MAX_ANSWER)
                    goto bad;
                body = atoll_realloc(body, cap);
            }
            ssize_t r = cli_conn_read(c, body + len, 65536);
            if (r < 0)
                goto bad;
            if (r == 0)
                break;
            len += (size_t)r;
        }
    }
    if (!body)
        body = atoll_malloc(1);
    body[len] = '\0';
    *out = body;
    *outlen = len;
    return 0;
bad:
    free(body);
    *msg = fmt("the server's answer was cut short or malformed");
    return -1;
}

static const char *host_header(const struct cli_conn *c)
{
    return c->server ? c->server : "localhost";
}

/* POSTs body to path; the answer's status and body (owned). Retries once on a stale keep-alive. */
static int post(struct cli_conn *c, const char *path, const char *body, size_t blen, int *status,
                char **out, size_t *outlen, char **msg)
{
    for (int attempt = 0;; attempt++) {
        int reused = c->used;
        if (c->fd < 0 && conn_connect(c, msg) < 0)
            return -1;
        ATOLL_AUTOFREE char *head = fmt("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: atoll-cli\r\n"
                                        "Content-Type: text/xml\r\nContent-Length: %zu\r\n\r\n",
                                        path, host_header(c), blen);
        int sent = cli_conn_write(c, head, strlen(head)) == 0 &&
                   cli_conn_write(c, body, blen) == 0;
        struct answer a = {0};
        int r = sent ? read_head(c, &a, msg) : 1;
        if (r == 1) {
            conn_close(c);
            if (reused && attempt == 0)
                continue; /* the server closed an idle connection: the request never ran */
            *msg = fmt("the connection to atolld was closed before an answer came");
            return -1;
        }
        if (r < 0 || read_body(c, &a, out, outlen, msg) < 0) {
            conn_close(c);
            return -1;
        }
        *status = a.status;
        if (a.close)
            conn_close(c);
        else
            c->used = 1;
        return 0;
    }
}

struct atoll_value *cli_conn_xmlrpc(struct cli_conn *c, const char *method,
                                    struct atoll_value *const *params, unsigned n,
                                    struct cli_err *e)
{
    size_t blen;
    ATOLL_AUTOFREE char *body = ts_xmlrpc_encode_call(method, params, n, &blen);
    ATOLL_AUTOFREE char *ans = NULL;
    size_t alen = 0;
    int status = 0;
    if (c->o.debug)
        fprintf(stderr, "atoll: debug: call %s\n", method);
    int r = post(c, "/", body, blen, &status, &ans, &alen, &e->msg);
    if (body)
        explicit_bzero(body, blen); /* may hold a password */
    if (r < 0)
        return NULL;
    if (status != 200) {
        e->msg = fmt("atolld answered HTTP %d to %s: %.200s", status, method, ans);
        return NULL;
    }
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE res = NULL;
    if (ts_xmlrpc_decode_response(ans, alen, &res, &err) < 0) {
        e->msg = fmt("cannot decode atolld's answer to %s: %s", method,
                     err.nparams > 1 ? err.params[1] : "malformed XML-RPC");
        atoll_err_clear(&err);
        return NULL;
    }
    if (c->o.debug)
        fprintf(stderr, "atoll: debug: %zu bytes of answer\n", alen);
    const char *st = atoll_value_type(res) == ATOLL_VALUE_STRUCT
                         ? atoll_value_struct_get_string(res, "Status") : NULL;
    if (st && strcmp(st, "Success") == 0) {
        struct atoll_value *v = atoll_value_struct_get(res, "Value");
        return v ? atoll_value_ref(v) : atoll_value_string("");
    }
    struct atoll_value *d = st ? atoll_value_struct_get(res, "ErrorDescription") : NULL;
    if (st && strcmp(st, "Failure") == 0 && d && atoll_value_type(d) == ATOLL_VALUE_ARRAY &&
        atoll_value_array_len(d) > 0) {
        e->desc = atoll_value_ref(d);
        return NULL;
    }
    e->msg = fmt("atolld's answer to %s is not a XenAPI result", method);
    return NULL;
}

int cli_conn_stream_open(struct cli_conn *c, const char *target, char **msg)
{
    if (c->fd < 0 && conn_connect(c, msg) < 0)
        return -1;
    ATOLL_AUTOFREE char *head = fmt("GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: atoll-cli\r\n\r\n",
                                    target, host_header(c));
    struct answer a = {0};
    int r = cli_conn_write(c, head, strlen(head)) == 0 ? read_head(c, &a, msg) : 1;
    if (r == 1) {
        *msg = fmt("the connection was closed before an answer came");
        conn_close(c);
        return -1;
    }
    if (r < 0) {
        conn_close(c);
        return -1;
    }
    if (a.status == 200)
        return 0;
    ATOLL_AUTOFREE char *body = NULL;
    size_t blen = 0;
    char *ignored = NULL;
    read_body(c, &a, &body, &blen, &ignored);
    free(ignored);
    if (body)
        body[strcspn(body, "\r\n")] = '\0';
    *msg = fmt("the server refused the stream: HTTP %d%s%s", a.status, body && *body ? ": " : "",
               body ? body : "");
    conn_close(c);
    return -1;
}

struct cli_conn *cli_conn_dup(const struct cli_conn *c, char **msg)
{
    struct cli_conn_opts o = c->o;
    o.server = c->server;
    o.socket_path = c->socket_path;
    o.cafile = c->cafile;
    return cli_conn_open(&o, msg);
}

int cli_conn_post(struct cli_conn *c, const char *path, const char *body, size_t len,
                  int *status, char **msg)
{
    ATOLL_AUTOFREE char *ans = NULL;
    size_t alen = 0;
    return post(c, path, body, len, status, &ans, &alen, msg);
}

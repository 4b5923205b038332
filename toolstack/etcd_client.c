/*
 * toolstack/etcd_client.c - HTTP/1.1 to etcd's JSON gateway: one keep-alive
 * connection per client, fail-over to the next endpoint when connecting or
 * sending fails, when a kept-alive connection closes without answering, or
 * when a member answers 5xx (no leader, timeout). Reads are always resent; a
 * txn whose answer was lost mid-way is not (it may have been applied); a txn
 * refused with 5xx is, so a create may then report a compare failure for an
 * object it did create. Content-Length and chunked bodies, and the watch
 * stream (chunked, one JSON message per line) on a thread of its own.
 * Threads: client calls under a mutex; each watch owns a thread.
 */
#define ATOLL_LOG_MODULE "etcd"
#include "etcd_client.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "json.h"
#include "strbuf.h"

#define MAX_ENDPOINTS 8
#define MAX_HEAD 65536
#define MAX_BODY (512u << 20)
#define IO_TIMEOUT_S 15

struct conn {
    int fd;
    char buf[16384];
    size_t off, len;
};

struct ts_etcd {
    pthread_mutex_t lock;
    char *host[MAX_ENDPOINTS], *port[MAX_ENDPOINTS];
    unsigned n, cur;
    struct conn conn;
};

struct ts_etcd_watch {
    struct ts_etcd *c;
    char *body_head, *body_tail; /* the request around the start revision */
    void (*fn)(void *, uint64_t);
    void *arg;
    uint64_t next_rev;
    pthread_t thread;
    pthread_mutex_t lock;
    int fd, stop;
};

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *ts_etcd_b64(const char *data, size_t n)
{
    const unsigned char *d = (const unsigned char *)data;
    char *out = atoll_malloc(4 * ((n + 2) / 3) + 1), *o = out;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
                     (i + 2 < n ? d[i + 2] : 0);
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *ts_etcd_unb64(const char *text, size_t *n)
{
    size_t len = strlen(text);
    if (len % 4)
        return NULL;
    char *out = atoll_malloc(len / 4 * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            char ch = text[i + k];
            const char *p = ch ? strchr(b64, ch) : NULL;
            if (ch == '=' && i + 4 == len && k >= 2) {
                pad++;
                v <<= 6;
                continue;
            }
            if (!p || pad) {
                free(out);
                return NULL;
            }
            v = v << 6 | (uint32_t)(p - b64);
        }
        out[o++] = (char)(v >> 16);
        if (pad < 2)
            out[o++] = (char)(v >> 8);
        if (pad < 1)
            out[o++] = (char)v;
    }
    out[o] = '\0';
    *n = o;
    return out;
}

uint64_t ts_etcd_u64(const struct atoll_value *obj, const char *key)
{
    struct atoll_value *v = obj ? atoll_value_struct_get(obj, key) : NULL;
    uint64_t u = 0;
    if (!v)
        return 0;
    if (atoll_value_type(v) == ATOLL_VALUE_INT)
        return (uint64_t)atoll_value_get_int(v);
    if (atoll_value_type(v) == ATOLL_VALUE_STRING && atoll_parse_u64(atoll_value_get_string(v), 10,
                                                                     &u) == 0)
        return u;
    return 0;
}

/* ---- connections ---- */

static void conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->off = c->len = 0;
}

static int conn_open(struct conn *c, const char *host, const char *port, int timeout_s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    conn_close(c);
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            if (timeout_s > 0) {
                struct timeval tv = {.tv_sec = timeout_s};
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            }
            c->fd = fd;
            break;
        }
        close(fd);
    }
    freeaddrinfo(res);
    return c->fd >= 0 ? 0 : -1;
}

static int conn_fill(struct conn *c)
{
    if (c->off < c->len)
        return 0;
    ssize_t r;
    do
        r = read(c->fd, c->buf, sizeof(c->buf));
    while (r < 0 && errno == EINTR);
    if (r <= 0)
        return -1;
    c->off = 0;
    c->len = (size_t)r;
    return 0;
}

/* One line without its CRLF into out (bounded). */
static int conn_line(struct conn *c, char *out, size_t max)
{
    size_t n = 0;
    for (;;) {
        if (conn_fill(c) < 0)
            return -1;
        char ch = c->buf[c->off++];
        if (ch == '\n')
            break;
        if (n + 1 >= max)
            return -1;
        out[n++] = ch;
    }
    if (n && out[n - 1] == '\r')
        n--;
    out[n] = '\0';
    return 0;
}

static int conn_read(struct conn *c, struct ts_strbuf *b, size_t n)
{
    while (n > 0) {
        if (conn_fill(c) < 0)
            return -1;
        size_t k = c->len - c->off < n ? c->len - c->off : n;
        ts_strbuf_add(b, c->buf + c->off, k);
        c->off += k;
        n -= k;
    }
    return 0;
}

/* Status line and headers: status, body length (-1 unknown) and chunked flag. */
static int read_head(struct conn *c, int *status, int64_t *clen, int *chunked)
{
    char line[4096];
    size_t total = 0;
    *clen = -1;
    *chunked = 0;
    if (conn_line(c, line, sizeof(line)) < 0 || sscanf(line, "HTTP/1.%*d %d", status) != 1)
        return -1;
    for (;;) {
        if (conn_line(c, line, sizeof(line)) < 0)
            return -1;
        total += strlen(line) + 2;
        if (total > MAX_HEAD)
            return -1;
        if (!line[0])
            return 0;
        if (!strncasecmp(line, "content-length:", 15)) {
            int64_t v;
            const char *p = line + 15;
            while (*p == ' ')
                p++;
            if (atoll_parse_i64(p, 10, &v) < 0 || v < 0 || v > MAX_BODY)
                return -1;
            *clen = v;
        } else if (!strncasecmp(line, "transfer-encoding:", 18) && strcasestr(line, "chunked")) {
            *chunked = 1;
        }
    }
}

/* Next chunk of a chunked body appended to b; returns its size (0 = last), -1 on error. */
static int64_t read_chunk(struct conn *c, struct ts_strbuf *b)
{
    char line[128];
    uint64_t n;
    if (conn_line(c, line, sizeof(line)) < 0)
        return -1;
    line[strcspn(line, ";")] = '\0';
    if (atoll_parse_u64(line, 16, &n) < 0 || n > MAX_BODY || b->len + n > MAX_BODY)
        return -1;
    if (n && conn_read(c, b, n) < 0)
        return -1;
    if (conn_line(c, line, sizeof(line)) < 0 || line[0])
        return -1;
    return (int64_t)n;
}

int ts_etcd_new(const char *endpoints, struct ts_etcd **out, struct atoll_err *err)
{
    struct ts_etcd *c = atoll_calloc(1, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->conn.fd = -1;
    ATOLL_AUTOFREE char *list = atoll_strdup(endpoints ? endpoints : "");
    char *save = NULL;
    for (char *e = strtok_r(list, ",", &save); e && c->n < MAX_ENDPOINTS;
         e = strtok_r(NULL, ",", &save)) {
        if (strncmp(e, "http://", 7) != 0)
            goto bad;
        char *hp = e + 7, *slash = strchr(hp, '/');
        if (slash)
            *slash = '\0';
        char *colon = strrchr(hp, ':');
        if (!colon || colon == hp || !colon[1])
            goto bad;
        *colon = '\0';
        char *host = hp;
        if (host[0] == '[' && colon[-1] == ']') { /* [::1]:2379 */
            host++;
            colon[-1] = '\0';
        }
        c->host[c->n] = atoll_strdup(host);
        c->port[c->n] = atoll_strdup(colon + 1);
        c->n++;
    }
    if (c->n == 0)
        goto bad;
    *out = c;
    return 0;
bad:
    ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR,
              "etcd: bad endpoint list, expected http://host:port[,http://host:port...]");
    atoll_err_detail(err, "etcd endpoints '%s'", endpoints ? endpoints : "");
    ts_etcd_free(c);
    return -1;
}

void ts_etcd_free(struct ts_etcd *c)
{
    if (!c)
        return;
    conn_close(&c->conn);
    for (unsigned i = 0; i < c->n; i++) {
        free(c->host[i]);
        free(c->port[i]);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static char *request_text(const char *host, const char *path, const char *body, size_t len)
{
    return atoll_strdup_printf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                               "Content-Length: %zu\r\n\r\n%.*s",
                               path, host, len, (int)len, body);
}

int ts_etcd_call(struct ts_etcd *c, const char *path, const struct atoll_value *req,
                 struct atoll_value **resp, struct atoll_err *err)
{
    struct ts_strbuf body = {0}, in = {0};
    const char *why = "no endpoint answered";
    int rc = -1, status = 0;

    ts_json_put_value(&body, req);
    pthread_mutex_lock(&c->lock);
    unsigned ep = c->cur;
    for (unsigned attempt = 0; attempt <= c->n; attempt++) {
        int fresh = 0;
        if (c->conn.fd < 0) {
            ep = c->cur;
            if (conn_open(&c->conn, c->host[ep], c->port[ep], IO_TIMEOUT_S) < 0) {
                why = "cannot connect";
                c->cur = (c->cur + 1) % c->n;
                continue;
            }
            fresh = 1;
        }
        ATOLL_AUTOFREE char *txt = request_text(c->host[ep], path, body.p, body.len);
        if (atoll_write_all(c->conn.fd, txt, strlen(txt)) < 0) {
            /* a kept-alive connection the server closed: reconnect, same endpoint first */
            why = "cannot send";
            conn_close(&c->conn);
            if (fresh)
                c->cur = (c->cur + 1) % c->n;
            continue;
        }
        int64_t clen;
        int chunked;
        c->conn.off = c->conn.len = 0;
        if (read_head(&c->conn, &status, &clen, &chunked) < 0) {
            /*
             * Reads are always safe to resend. A write is resent only when a kept-alive
             * connection closed without a byte of answer (the server had already
             * dropped it); otherwise it may have been applied and the caller must look.
             */
            int silent = c->conn.len == 0;
            conn_close(&c->conn);
            if (!strcmp(path, "/v3/kv/range") || (silent && !fresh)) {
                why = "connection lost";
                c->cur = (c->cur + 1) % c->n;
                continue;
            }
            why = "no answer (the request may have been applied)";
            break;
        }
        if (chunked) {
            int64_t k;
            while ((k = read_chunk(&c->conn, &in)) > 0)
                ;
            if (k < 0) {
                why = "truncated chunked answer";
                conn_close(&c->conn);
                if (!strcmp(path, "/v3/kv/range") || status != 200) {
                    c->cur = (c->cur + 1) % c->n;
                    in.len = 0;
                    continue;
                }
                break;
            }
        } else if (clen < 0 || conn_read(&c->conn, &in, (size_t)clen) < 0) {
            why = "truncated answer";
            conn_close(&c->conn);
            break;
        }
        if (status != 200) {
            /* 503 and friends: this member cannot serve now (no leader, timeout); try another */
            why = "error status";
            conn_close(&c->conn);
            c->cur = (c->cur + 1) % c->n;
            if (status >= 500 && attempt < c->n) {
                in.len = 0;
                continue;
            }
            break;
        }
        *resp = ts_json_parse(in.p ? in.p : "", in.len, NULL);
        if (!*resp || atoll_value_type(*resp) != ATOLL_VALUE_STRUCT) {
            atoll_value_unref(*resp);
            *resp = NULL;
            why = "unparsable answer";
            break;
        }
        rc = 0;
        break;
    }
    if (rc < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "object store (etcd) unavailable");
        atoll_err_detail(err, "etcd %s:%s %s: %s (HTTP %d) %.200s", c->host[ep], c->port[ep], path,
                         why, status, in.p ? in.p : "");
    }
    pthread_mutex_unlock(&c->lock);
    free(body.p);
    free(in.p);
    return rc;
}

/* ---- watch ---- */

static void watch_line(struct ts_etcd_watch *w, const char *line, size_t n)
{
    ATOLL_AUTOVALUE msg = ts_json_parse(line, n, NULL);
    struct atoll_value *res = msg ? atoll_value_struct_get(msg, "result") : NULL;
    struct atoll_value *hdr = res ? atoll_value_struct_get(res, "header") : NULL;
    uint64_t rev = ts_etcd_u64(hdr, "revision");
    uint64_t compacted = ts_etcd_u64(res, "compact_revision");
    if (compacted && compacted > w->next_rev) /* history gone: resume from what is left */
        w->next_rev = compacted;
    if (rev) {
        if (rev + 1 > w->next_rev)
            w->next_rev = rev + 1;
        w->fn(w->arg, rev);
    }
}

static void *watch_main(void *arg)
{
    struct ts_etcd_watch *w = arg;
    struct conn cn = {.fd = -1};
    unsigned ep = 0;

    for (;;) {
        pthread_mutex_lock(&w->lock);
        int stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        if (conn_open(&cn, w->c->host[ep], w->c->port[ep], 0) < 0) {
            ep = (ep + 1) % w->c->n;
            usleep(300000);
            continue;
        }
        pthread_mutex_lock(&w->lock);
        w->fd = cn.fd;
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            break;
        /* resume from the revision after the last one seen */
        ATOLL_AUTOFREE char *body = atoll_strdup_printf("%s%llu%s", w->body_head,
                                                        (unsigned long long)w->next_rev,
                                                        w->body_tail);
        ATOLL_AUTOFREE char *txt = request_text(w->c->host[ep], "/v3/watch", body, strlen(body));
        int status = 0, chunked = 0;
        int64_t clen;
        struct ts_strbuf acc = {0};
        if (atoll_write_all(cn.fd, txt, strlen(txt)) == 0 &&
            read_head(&cn, &status, &clen, &chunked) == 0 && status == 200 && chunked) {
            for (;;) {
                if (read_chunk(&cn, &acc) <= 0)
                    break;
                char *nl;
                while (acc.p && (nl = memchr(acc.p, '\n', acc.len))) {
                    size_t n = (size_t)(nl - acc.p);
                    watch_line(w, acc.p, n);
                    memmove(acc.p, nl + 1, acc.len - n - 1);
                    acc.len -= n + 1;
                }
                if (acc.len > MAX_HEAD * 64) /* a message without end: start over */
                    break;
            }
        }
        free(acc.p);
        pthread_mutex_lock(&w->lock);
        w->fd = -1;
        stop = w->stop;
        pthread_mutex_unlock(&w->lock);
        conn_close(&cn);
        if (stop)
            break;
        ep = (ep + 1) % w->c->n;
        usleep(300000);
    }
    conn_close(&cn);
    return NULL;
}

int ts_etcd_watch_start(struct ts_etcd *c, const char *key, const char *range_end,
                        uint64_t start_rev, void (*fn)(void *arg, uint64_t revision), void *arg,
                        struct ts_etcd_watch **out, struct atoll_err *err)
{
    struct ts_etcd_watch *w = atoll_calloc(1, sizeof(*w));
    ATOLL_AUTOFREE char *k = ts_etcd_b64(key, strlen(key));
    ATOLL_AUTOFREE char *e = ts_etcd_b64(range_end, strlen(range_end));
    w->c = c;
    w->fn = fn;
    w->arg = arg;
    w->fd = -1;
    w->next_rev = start_rev;
    w->body_head = atoll_strdup_printf("{\"create_request\":{\"key\":\"%s\",\"range_end\":\"%s\","
                                       "\"start_revision\":\"",
                                       k, e);
    w->body_tail = atoll_strdup("\",\"progress_notify\":true}}");
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot start the etcd watch");
        pthread_mutex_destroy(&w->lock);
        free(w->body_head);
        free(w->body_tail);
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void ts_etcd_watch_stop(struct ts_etcd_watch *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stop = 1;
    if (w->fd >= 0)
        shutdown(w->fd, SHUT_RDWR); /* wakes the blocked read */
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_mutex_destroy(&w->lock);
    free(w->body_head);
    free(w->body_tail);
    free(w);
}

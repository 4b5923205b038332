/*
 * toolstack/jsonrpc.c - strict recursive-descent JSON decoder with a depth
 * bound, compact encoder, and the JSON-RPC 1.0/2.0 envelopes (see jsonrpc.h).
 * Written here rather than taken from a library: ~400 lines, exactly the
 * value model we need, and every limit under our control.
 * Threads: any. Trust: request bodies are client-controlled.
 */
#include "jsonrpc.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"
#include "xmlrpc.h"

struct parser {
    const char *s;
    size_t len, pos;
    struct atoll_err *err;
};

static int pfail(struct parser *p, const char *expected)
{
    char got[48];
    if (p->pos >= p->len)
        snprintf(got, sizeof(got), "end of input at offset %zu", p->pos);
    else
        snprintf(got, sizeof(got), "byte 0x%02x at offset %zu", (unsigned char)p->s[p->pos],
                 p->pos);
    ATOLL_ERR(p->err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, expected, got);
    return -1;
}

static void skip_ws(struct parser *p)
{
    while (p->pos < p->len) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int literal(struct parser *p, const char *word)
{
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return pfail(p, word);
    p->pos += n;
    return 0;
}

static int hex4(struct parser *p, uint32_t *out)
{
    uint32_t v = 0;
    if (p->len - p->pos < 4)
        return pfail(p, "4 hex digits");
    for (int i = 0; i < 4; i++) {
        char c = p->s[p->pos];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return pfail(p, "a hex digit");
        p->pos++;
    }
    *out = v;
    return 0;
}

/* Parses a string at p->pos (which is '"') into b. */
static int parse_string(struct parser *p, struct ts_strbuf *b)
{
    p->pos++;
    for (;;) {
        size_t start = p->pos;
        while (p->pos < p->len) {
            unsigned char c = (unsigned char)p->s[p->pos];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
                break;
            p->pos++;
        }
        ts_strbuf_add(b, p->s + start, p->pos - start);
        if (p->pos >= p->len)
            return pfail(p, "a closing quote");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            return 0;
        }
        if (c < 0x20)
            return pfail(p, "no raw control characters in a string");
        if (c >= 0x80) {
            size_t n = ts_utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos, NULL);
            if (!n)
                return pfail(p, "valid UTF-8");
            ts_strbuf_add(b, p->s + p->pos, n);
            p->pos += n;
            continue;
        }
        /* backslash */
        p->pos++;
        if (p->pos >= p->len)
            return pfail(p, "an escape");
        char e = p->s[p->pos++];
        switch (e) {
        case '"': ts_strbuf_putc(b, '"'); break;
        case '\\': ts_strbuf_putc(b, '\\'); break;
        case '/': ts_strbuf_putc(b, '/'); break;
        case 'b': ts_strbuf_putc(b, '\b'); break;
        case 'f': ts_strbuf_putc(b, '\f'); break;
        case 'n': ts_strbuf_putc(b, '\n'); break;
        case 'r': ts_strbuf_putc(b, '\r'); break;
        case 't': ts_strbuf_putc(b, '\t'); break;
        case 'u': {
            uint32_t cp;
            if (hex4(p, &cp) < 0)
                return -1;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return pfail(p, "a low surrogate");
                p->pos += 2;
                if (hex4(p, &lo) < 0)
                    return -1;
                if (lo < 0xdc00 || lo > 0xdfff)
                    return pfail(p, "a low surrogate");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return pfail(p, "no lone low surrogate");
            }
            if (cp == 0)
                return pfail(p, "no NUL character in a string");
            ts_strbuf_put_utf8(b, cp);
            break;
        }
        default:
            p->pos--;
            return pfail(p, "a valid escape");
        }
    }
}

static struct atoll_value *parse_number(struct parser *p)
{
    size_t start = p->pos;
    int is_int = 1;
    if (p->pos < p->len && p->s[p->pos] == '-')
        p->pos++;
    if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
        pfail(p, "a digit");
        return NULL;
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        is_int = 0;
        p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
            pfail(p, "a digit after the decimal point");
            return NULL;
        }
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        is_int = 0;
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
            p->pos++;
        if (p->pos >= p->len || p->s[p->pos] < '0' || p->s[p->pos] > '9') {
            pfail(p, "a digit in the exponent");
            return NULL;
        }
        while (p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            p->pos++;
    }
    size_t n = p->pos - start;
    if (n > 64) {
        p->pos = start;
        pfail(p, "a number of at most 64 characters");
        return NULL;
    }
    char tmp[65];
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    if (is_int) {
        int64_t i;
        if (atoll_parse_i64(tmp, 10, &i) == 0)
            return atoll_value_int(i);
        /* too large for int64: fall through to a double */
    }
    errno = 0;
    double d = strtod(tmp, NULL);
    if (errno == ERANGE && isinf(d)) {
        p->pos = start;
        pfail(p, "a number in range");
        return NULL;
    }
    return atoll_value_double(d);
}

static struct atoll_value *parse_value(struct parser *p, int depth);

static struct atoll_value *parse_object(struct parser *p, int depth)
{
    ATOLL_AUTOVALUE obj = atoll_value_struct();
    struct ts_strbuf key = {0};
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
        p->pos++;
        return atoll_steal_ptr(&obj);
    }
    for (;;) {
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != '"') {
            pfail(p, "a member name");
            goto fail;
        }
        key.len = 0;
        if (parse_string(p, &key) < 0)
            goto fail;
        ts_strbuf_reserve(&key, 0);
        key.p[key.len] = '\0';
        if (atoll_value_struct_get(obj, key.p)) {
            ATOLL_ERR(p->err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "unique member names", key.p);
            goto fail;
        }
        skip_ws(p);
        if (p->pos >= p->len || p->s[p->pos] != ':') {
            pfail(p, "':'");
            goto fail;
        }
        p->pos++;
        struct atoll_value *v = parse_value(p, depth + 1);
        if (!v)
            goto fail;
        atoll_value_struct_set(obj, key.p, v);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == '}') {
            p->pos++;
            break;
        }
        pfail(p, "',' or '}'");
        goto fail;
    }
    ts_strbuf_fini(&key);
    return atoll_steal_ptr(&obj);
fail:
    ts_strbuf_fini(&key);
    return NULL;
}

static struct atoll_value *parse_array(struct parser *p, int depth)
{
    ATOLL_AUTOVALUE arr = atoll_value_array();
    p->pos++;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
        p->pos++;
        return atoll_steal_ptr(&arr);
    }
    for (;;) {
        struct atoll_value *v = parse_value(p, depth + 1);
        if (!v)
            return NULL;
        atoll_value_array_append(arr, v);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == ']') {
            p->pos++;
            return atoll_steal_ptr(&arr);
        }
        pfail(p, "',' or ']'");
        return NULL;
    }
}

static struct atoll_value *parse_value(struct parser *p, int depth)
{
    if (depth > TS_JSON_MAX_DEPTH) {
        pfail(p, "nesting of at most 64 levels");
        return NULL;
    }
    skip_ws(p);
    if (p->pos >= p->len) {
        pfail(p, "a value");
        return NULL;
    }
    switch (p->s[p->pos]) {
    case '{':
        return parse_object(p, depth);
    case '[':
        return parse_array(p, depth);
    case '"': {
        struct ts_strbuf b = {0};
        if (parse_string(p, &b) < 0) {
            ts_strbuf_fini(&b);
            return NULL;
        }
        size_t n = b.len;
        char *s = ts_strbuf_take(&b, NULL);
        struct atoll_value *v = atoll_value_string_len(s, n);
        free(s);
        return v;
    }
    case 't':
        return literal(p, "true") < 0 ? NULL : atoll_value_bool(1);
    case 'f':
        return literal(p, "false") < 0 ? NULL : atoll_value_bool(0);
    case 'n':
        return literal(p, "null") < 0 ? NULL : atoll_value_nil();
    default:
        return parse_number(p);
    }
}

int ts_json_decode(const char *buf, size_t len, struct atoll_value **out, struct atoll_err *err)
{
    struct parser p = {.s = buf, .len = len, .pos = 0, .err = err};
    struct atoll_value *v = parse_value(&p, 0);
    if (!v)
        return -1;
    skip_ws(&p);
    if (p.pos != p.len) {
        atoll_value_unref(v);
        return pfail(&p, "end of input");
    }
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- encoding */

/* Bytes copied as they are: printable ASCII but the quote and the backslash. */
static const unsigned char json_plain[256] = {
    [0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1, /* not " \\ */
};

static void put_json_string(struct ts_strbuf *b, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0, i = ts_strbuf_plain_run(str, n, '"', '\\', '"');
    while (i < n && json_plain[s[i]]) /* the tail after the last whole 8 bytes */
        i++;
    if (i == n) { /* nothing to escape (the usual case): one copy */
        ts_strbuf_reserve(b, n + 2);
        char *o = b->p + b->len;
        o[0] = '"';
        memcpy(o + 1, str, n);
        o[n + 1] = '"';
        o[n + 2] = '\0';
        b->len += n + 2;
        return;
    }
    ts_strbuf_putc(b, '"');
    while (i < n) {
        unsigned char c = s[i];
        if (json_plain[c]) {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t l = ts_utf8_seq(s + i, n - i, NULL);
            if (l) {
                i += l;
                continue;
            }
        }
        ts_strbuf_add(b, str + start, i - start);
        char esc[7];
        switch (c) {
        case '"': ts_strbuf_puts(b, "\\\""); break;
        case '\\': ts_strbuf_puts(b, "\\\\"); break;
        case '\n': ts_strbuf_puts(b, "\\n"); break;
        case '\r': ts_strbuf_puts(b, "\\r"); break;
        case '\t': ts_strbuf_puts(b, "\\t"); break;
        default:
            if (c >= 0x80) { /* invalid UTF-8 byte: U+FFFD */
                ts_strbuf_puts(b, "\\ufffd");
            } else {
                esc[0] = '\\';
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                ts_strbuf_add(b, esc, 6);
            }
        }
        i++;
        start = i;
    }
    ts_strbuf_add(b, str + start, n - start);
    ts_strbuf_putc(b, '"');
}

void ts_json_encode(struct ts_strbuf *b, const struct atoll_value *v)
{
    char tmp[40];
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_NIL:
        ts_strbuf_puts(b, "null");
        return;
    case ATOLL_VALUE_BOOL:
        ts_strbuf_puts(b, atoll_value_get_bool(v) ? "true" : "false");
        return;
    case ATOLL_VALUE_INT:
        ts_strbuf_put_i64(b, atoll_value_get_int(v));
        return;
    case ATOLL_VALUE_DOUBLE: {
        double d = atoll_value_get_double(v);
        if (isnan(d) || isinf(d)) {
            ts_strbuf_puts(b, "null");
            return;
        }
        if (d == (double)(int64_t)d && d > -1e15 && d < 1e15 && (d != 0 || !signbit(d))) {
            ts_strbuf_put_i64(b, (int64_t)d); /* what %.15g writes for these, then ".0" */
            ts_strbuf_puts(b, ".0");
            return;
        }
        snprintf(tmp, sizeof(tmp), "%.15g", d);
        if (strtod(tmp, NULL) != d)
            snprintf(tmp, sizeof(tmp), "%.17g", d);
        /* keep it a float on the wire so clients see 60.0, not 60 */
        if (!strpbrk(tmp, ".eE"))
            strcat(tmp, ".0");
        ts_strbuf_puts(b, tmp);
        return;
    }
    case ATOLL_VALUE_STRING:
        put_json_string(b, atoll_value_get_string(v), atoll_value_string_length(v));
        return;
    case ATOLL_VALUE_DATETIME: {
        char dt[32];
        atoll_datetime_format(atoll_value_get_datetime(v), dt);
        put_json_string(b, dt, strlen(dt));
        return;
    }
    case ATOLL_VALUE_ARRAY: {
        ts_strbuf_putc(b, '[');
        size_t n = atoll_value_array_len(v);
        for (size_t i = 0; i < n; i++) {
            if (i)
                ts_strbuf_putc(b, ',');
            ts_json_encode(b, atoll_value_array_get(v, i));
        }
        ts_strbuf_putc(b, ']');
        return;
    }
    case ATOLL_VALUE_STRUCT: {
        ts_strbuf_putc(b, '{');
        size_t n = atoll_value_struct_len(v);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            struct atoll_value *mv;
            atoll_value_struct_at(v, i, &k, &mv);
            if (i)
                ts_strbuf_putc(b, ',');
            put_json_string(b, k, strlen(k));
            ts_strbuf_putc(b, ':');
            ts_json_encode(b, mv);
        }
        ts_strbuf_putc(b, '}');
        return;
    }
    }
}

char *ts_json_to_string(const struct atoll_value *v)
{
    struct ts_strbuf b = {0};
    ts_json_encode(&b, v);
    return ts_strbuf_take(&b, NULL);
}

/* ---------------------------------------------------------------- JSON-RPC */

void ts_jsonrpc_call_fini(struct ts_jsonrpc_call *c)
{
    free(c->method);
    atoll_value_unref(c->params);
    atoll_value_unref(c->id);
    memset(c, 0, sizeof(*c));
}

int ts_jsonrpc_decode_call(const char *buf, size_t len, struct ts_jsonrpc_call *out,
                           struct atoll_err *err)
{
    memset(out, 0, sizeof(*out));
    out->version = 2;
    out->id = atoll_value_nil();
    ATOLL_AUTOVALUE req = NULL;
    if (ts_json_decode(buf, len, &req, err) < 0)
        return -1;
    if (atoll_value_type(req) != ATOLL_VALUE_STRUCT) {
        ATOLL_ERR(err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "a request object",
                  atoll_value_type_name(atoll_value_type(req)));
        return -1;
    }
    struct atoll_value *id = atoll_value_struct_get(req, "id");
    struct atoll_value *ver = atoll_value_struct_get(req, "jsonrpc");
    if (id) {
        atoll_value_unref(out->id);
        out->id = atoll_value_ref(id);
    }
    if (ver) {
        const char *vs = atoll_value_get_string(ver);
        if (!vs || strcmp(vs, "2.0") != 0) {
            ATOLL_ERR(err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "jsonrpc \"2.0\"",
                      vs ? vs : atoll_value_type_name(atoll_value_type(ver)));
            return -1;
        }
    } else {
        out->version = 1;
    }
    if (!id) {
        ATOLL_ERR(err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "an id", "no id (notifications are "
                  "not supported)");
        return -1;
    }
    const char *m = atoll_value_struct_get_string(req, "method");
    if (!m || !*m || strlen(m) > 256) {
        ATOLL_ERR(err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "a method name string",
                  m ? "an empty or over-long name" : "no method");
        return -1;
    }
    struct atoll_value *params = atoll_value_struct_get(req, "params");
    if (params && atoll_value_type(params) != ATOLL_VALUE_ARRAY &&
        atoll_value_type(params) != ATOLL_VALUE_NIL) {
        ATOLL_ERR(err, ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "params as an array",
                  atoll_value_type_name(atoll_value_type(params)));
        return -1;
    }
    out->method = atoll_strdup(m);
    out->params = params && atoll_value_type(params) == ATOLL_VALUE_ARRAY
                      ? atoll_value_ref(params)
                      : atoll_value_array();
    return 0;
}

static char *finish_reply(struct atoll_value *reply, size_t *len)
{
    struct ts_strbuf b = {0};
    ts_strbuf_reserve(&b, 1024);
    ts_json_encode(&b, reply);
    atoll_value_unref(reply);
    return ts_strbuf_take(&b, len);
}

char *ts_jsonrpc_encode_success(const struct ts_jsonrpc_call *c, const struct atoll_value *result,
                                size_t *len)
{
    struct atoll_value *r = atoll_value_struct();
    if (c->version == 2)
        atoll_value_struct_set_string(r, "jsonrpc", "2.0");
    /* the reply holds references only: result and id stay the caller's */
    atoll_value_struct_set(r, "result", result ? atoll_value_ref((struct atoll_value *)result)
                                               : atoll_value_string(""));
    if (c->version == 1)
        atoll_value_struct_set(r, "error", atoll_value_nil());
    atoll_value_struct_set(r, "id", c->id ? atoll_value_ref(c->id) : atoll_value_nil());
    return finish_reply(r, len);
}

char *ts_jsonrpc_encode_failure(const struct ts_jsonrpc_call *c, const struct atoll_err *err,
                                size_t *len)
{
    struct atoll_value *r = atoll_value_struct();
    struct atoll_value *desc = ts_xmlrpc_error_description(err);
    if (c->version == 1) {
        atoll_value_struct_set(r, "result", atoll_value_nil());
        atoll_value_struct_set(r, "error", desc);
    } else {
        atoll_value_struct_set_string(r, "jsonrpc", "2.0");
        struct atoll_value *e = atoll_value_struct();
        atoll_value_struct_set_int(e, "code", 1);
        atoll_value_struct_set(e, "message", atoll_value_dup(atoll_value_array_get(desc, 0)));
        atoll_value_array_remove(desc, 0);
        atoll_value_struct_set(e, "data", desc);
        atoll_value_struct_set(r, "error", e);
    }
    atoll_value_struct_set(r, "id", c->id ? atoll_value_ref(c->id) : atoll_value_nil());
    return finish_reply(r, len);
}

char *ts_jsonrpc_encode_protocol_error(const struct ts_jsonrpc_call *c, int code,
                                       const struct atoll_err *err, size_t *len)
{
    struct atoll_value *r = atoll_value_struct();
    atoll_value_struct_set_string(r, "jsonrpc", "2.0");
    struct atoll_value *e = atoll_value_struct();
    atoll_value_struct_set_int(e, "code", code);
    ATOLL_AUTOFREE char *msg = atoll_strdup_printf(
        "%s: expected %s, got %s", code == -32700 ? "Parse error" : "Invalid Request",
        err && err->nparams > 0 ? err->params[0] : "?",
        err && err->nparams > 1 ? err->params[1] : "?");
    atoll_value_struct_set_string(e, "message", msg);
    atoll_value_struct_set(e, "data", ts_xmlrpc_error_description(err));
    atoll_value_struct_set(r, "error", e);
    atoll_value_struct_set(r, "id", c && c->id ? atoll_value_ref(c->id) : atoll_value_nil());
    return finish_reply(r, len);
}

char *ts_jsonrpc_encode_call(const char *method, struct atoll_value *const *params, unsigned n,
                             long id, size_t *len)
{
    struct atoll_value *r = atoll_value_struct();
    atoll_value_struct_set_string(r, "jsonrpc", "2.0");
    atoll_value_struct_set_string(r, "method", method);
    struct atoll_value *a = atoll_value_array();
    for (unsigned i = 0; i < n; i++)
        atoll_value_array_append(a, atoll_value_ref(params[i]));
    atoll_value_struct_set(r, "params", a);
    atoll_value_struct_set_int(r, "id", id);
    return finish_reply(r, len);
}

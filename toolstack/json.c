/*
 * toolstack/json.c - a small JSON reader and writer over atoll_values, for
 * the datamodel's stored records and the etcd backend's HTTP/JSON gateway.
 * Reading: strings (all escapes, surrogate pairs; NUL refused), integers as
 * int64 when they fit, other numbers as double, true/false/null, arrays,
 * objects; nesting depth bounded. Writing: datetimes as XAPI text.
 * Threads: any. Trust: input is untrusted (client, disk or network).
 */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"

#define MAX_DEPTH 32

void ts_json_put_string(struct ts_strbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ts_strbuf_reserve(b, n + 2);
    ts_strbuf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ts_strbuf_add(b, s + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ts_strbuf_add(b, e, 2);
        } else {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ts_strbuf_add(b, e, 6);
        }
    }
    ts_strbuf_add(b, s + run, n - run);
    ts_strbuf_putc(b, '"');
}

void ts_json_put_value(struct ts_strbuf *b, const struct atoll_value *v)
{
    char num[48];
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_NIL: ts_strbuf_puts(b, "null"); break;
    case ATOLL_VALUE_BOOL: ts_strbuf_puts(b, atoll_value_get_bool(v) ? "true" : "false"); break;
    case ATOLL_VALUE_INT:
        snprintf(num, sizeof(num), "%" PRId64, atoll_value_get_int(v));
        ts_strbuf_puts(b, num);
        break;
    case ATOLL_VALUE_DOUBLE: {
        double d = atoll_value_get_double(v);
        snprintf(num, sizeof(num), "%.17g", isfinite(d) ? d : 0.0);
        if (!strpbrk(num, ".eE"))
            strcat(num, ".0");
        ts_strbuf_puts(b, num);
        break;
    }
    case ATOLL_VALUE_STRING:
        ts_json_put_string(b, atoll_value_get_string(v), atoll_value_string_length(v));
        break;
    case ATOLL_VALUE_DATETIME:
        atoll_datetime_format(atoll_value_get_datetime(v), num);
        ts_json_put_string(b, num, strlen(num));
        break;
    case ATOLL_VALUE_ARRAY:
        ts_strbuf_putc(b, '[');
        for (size_t i = 0; i < atoll_value_array_len(v); i++) {
            if (i)
                ts_strbuf_putc(b, ',');
            ts_json_put_value(b, atoll_value_array_get(v, i));
        }
        ts_strbuf_putc(b, ']');
        break;
    case ATOLL_VALUE_STRUCT:
        ts_strbuf_putc(b, '{');
        for (size_t i = 0; i < atoll_value_struct_len(v); i++) {
            const char *k;
            struct atoll_value *e;
            atoll_value_struct_at(v, i, &k, &e);
            if (i)
                ts_strbuf_putc(b, ',');
            ts_json_put_string(b, k, strlen(k));
            ts_strbuf_putc(b, ':');
            ts_json_put_value(b, e);
        }
        ts_strbuf_putc(b, '}');
        break;
    }
}

/* ---- a small JSON reader producing untyped values ---- */

struct rd {
    const char *p, *end;
};

static void skip_ws(struct rd *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\t' || *r->p == '\r'))
        r->p++;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int read_u4(struct rd *r, unsigned *cp)
{
    if (r->end - r->p < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(r->p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + (unsigned)h;
    }
    r->p += 4;
    *cp = v;
    return 0;
}

/* After the opening quote; returns a malloc'd string (len in *n) or NULL. */
static char *read_string(struct rd *r, size_t *n)
{
    struct ts_strbuf b = {0};
    ts_strbuf_reserve(&b, 16);
    while (r->p < r->end) {
        const char *start = r->p;
        while (r->p < r->end && *r->p != '"' && *r->p != '\\')
            r->p++;
        ts_strbuf_add(&b, start, (size_t)(r->p - start));
        if (r->p >= r->end)
            break;
        if (*r->p == '"') {
            r->p++;
            *n = b.len;
            return b.p;
        }
        r->p++; /* backslash */
        if (r->p >= r->end)
            break;
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"': case '\\': case '/': ts_strbuf_putc(&b, e); break;
        case 'b': ts_strbuf_putc(&b, '\b'); break;
        case 'f': ts_strbuf_putc(&b, '\f'); break;
        case 'n': ts_strbuf_putc(&b, '\n'); break;
        case 'r': ts_strbuf_putc(&b, '\r'); break;
        case 't': ts_strbuf_putc(&b, '\t'); break;
        case 'u':
            if (read_u4(r, &cp) < 0)
                goto bad;
            if (cp >= 0xd800 && cp < 0xdc00 && r->end - r->p >= 6 && r->p[0] == '\\' &&
                r->p[1] == 'u') {
                unsigned lo;
                r->p += 2;
                if (read_u4(r, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
                    goto bad;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0)
                goto bad; /* strings never hold NUL */
            ts_strbuf_put_utf8(&b, cp);
            break;
        default:
            goto bad;
        }
    }
bad:
    free(b.p);
    return NULL;
}

static struct atoll_value *read_value(struct rd *r, int depth)
{
    skip_ws(r);
    if (r->p >= r->end || depth > MAX_DEPTH)
        return NULL;
    char c = *r->p;
    if (c == '"') {
        size_t n;
        r->p++;
        char *s = read_string(r, &n);
        return s ? atoll_value_string_take(s) : NULL;
    }
    if (c == '{' || c == '[') {
        int obj = c == '{';
        struct atoll_value *v = obj ? atoll_value_struct() : atoll_value_array();
        r->p++;
        skip_ws(r);
        if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
            r->p++;
            return v;
        }
        for (;;) {
            char *key = NULL;
            size_t kn;
            if (obj) {
                skip_ws(r);
                if (r->p >= r->end || *r->p != '"')
                    goto fail;
                r->p++;
                if (!(key = read_string(r, &kn)))
                    goto fail;
                skip_ws(r);
                if (r->p >= r->end || *r->p != ':') {
                    free(key);
                    goto fail;
                }
                r->p++;
            }
            struct atoll_value *e = read_value(r, depth + 1);
            if (!e) {
                free(key);
                goto fail;
            }
            if (obj) {
                atoll_value_struct_set(v, key, e);
                free(key);
            } else {
                atoll_value_array_append(v, e);
            }
            skip_ws(r);
            if (r->p < r->end && *r->p == ',') {
                r->p++;
                continue;
            }
            if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
                r->p++;
                return v;
            }
            goto fail;
        }
    fail:
        atoll_value_unref(v);
        return NULL;
    }
    if (r->end - r->p >= 4 && !memcmp(r->p, "true", 4)) {
        r->p += 4;
        return atoll_value_bool(1);
    }
    if (r->end - r->p >= 5 && !memcmp(r->p, "false", 5)) {
        r->p += 5;
        return atoll_value_bool(0);
    }
    if (r->end - r->p >= 4 && !memcmp(r->p, "null", 4)) {
        r->p += 4;
        return atoll_value_nil();
    }
    /* number */
    char num[64];
    size_t n = 0;
    int is_float = 0;
    while (r->p < r->end && n < sizeof(num) - 1 && strchr("+-0123456789.eE", *r->p)) {
        if (strchr(".eE", *r->p))
            is_float = 1;
        num[n++] = *r->p++;
    }
    num[n] = '\0';
    if (n == 0)
        return NULL;
    if (!is_float) {
        int64_t i;
        if (atoll_parse_i64(num, 10, &i) == 0)
            return atoll_value_int(i);
    }
    char *end;
    double d = strtod(num, &end);
    return *end == '\0' ? atoll_value_double(d) : NULL;
}

struct atoll_value *ts_json_parse(const char *text, size_t len, size_t *err_off)
{
    struct rd r = {text, text + len};
    struct atoll_value *v = read_value(&r, 0);
    skip_ws(&r);
    if (v && r.p != r.end) {
        atoll_value_unref(v);
        v = NULL;
    }
    if (!v && err_off)
        *err_off = (size_t)(r.p - text);
    return v;
}

/*
 * toolstack/strbuf.h - a growable byte buffer for the wire encoders (header
 * only, inline: the encoders append millions of small pieces for large
 * get_all_records answers). Aborts on OOM like atoll_malloc.
 * Threads: a buffer belongs to one thread.
 */
#ifndef TS_STRBUF_H
#define TS_STRBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"

struct ts_strbuf {
    char *p;
    size_t len, cap;
};

static inline void ts_strbuf_reserve(struct ts_strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    b->p = atoll_realloc(b->p, cap);
    b->cap = cap;
}

static inline void ts_strbuf_add(struct ts_strbuf *b, const char *s, size_t n)
{
    ts_strbuf_reserve(b, n);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static inline void ts_strbuf_puts(struct ts_strbuf *b, const char *s)
{
    ts_strbuf_add(b, s, strlen(s));
}

static inline void ts_strbuf_putc(struct ts_strbuf *b, char c)
{
    ts_strbuf_reserve(b, 1);
    b->p[b->len++] = c;
    b->p[b->len] = '\0';
}

/* Appends a signed decimal, as printf's PRId64 would write it (no snprintf on hot paths). */
static inline void ts_strbuf_put_i64(struct ts_strbuf *b, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp), *p = e;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    ts_strbuf_add(b, p, (size_t)(e - p));
}

/*
 * Length of the prefix of s[0..n) made of printable ASCII bytes (0x20-0x7f) other than a, b
 * and c, found 8 bytes at a time: the encoders copy such runs without looking at each byte.
 */
static inline size_t ts_strbuf_plain_run(const char *s, size_t n, char a, char b, char c)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t va = x ^ (ones * (unsigned char)a), vb = x ^ (ones * (unsigned char)b);
        uint64_t vc = x ^ (ones * (unsigned char)c);
        uint64_t hit = (x & high) | ((x - ones * 0x20) & ~x & high) | ((va - ones) & ~va & high) |
                       ((vb - ones) & ~vb & high) | ((vc - ones) & ~vc & high);
        if (hit)
            break;
    }
    return i;
}

/* Returns the NUL-terminated contents (caller frees) and resets the buffer. */
static inline char *ts_strbuf_take(struct ts_strbuf *b, size_t *len)
{
    ts_strbuf_reserve(b, 0);
    b->p[b->len] = '\0'; /* also when nothing was ever added */
    char *p = b->p;
    if (len)
        *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

static inline void ts_strbuf_fini(struct ts_strbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/*
 * Length of the valid UTF-8 sequence at s (n >= 1 bytes left), or 0 if invalid (overlong,
 * surrogate, beyond U+10FFFF, truncated). Its code point into *cp_out if not NULL.
 */
static inline size_t ts_utf8_seq(const unsigned char *s, size_t n, uint32_t *cp_out)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
        if (cp_out)
            *cp_out = c;
        return 1;
    }
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    if (cp_out)
        *cp_out = cp;
    return len;
}

/* Appends code point cp (at most U+10FFFF, no surrogate: the caller checked) as UTF-8. */
static inline void ts_strbuf_put_utf8(struct ts_strbuf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xe0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ts_strbuf_add(b, u, n);
}

#endif

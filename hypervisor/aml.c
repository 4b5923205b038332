/*
 * hypervisor/aml.c - the AML builder (see aml.h). Objects with a PkgLength
 * reserve four bytes when opened; closing one computes the length of what
 * follows and moves the body down to the shortest encoding, so nested objects
 * close innermost first and need no second pass.
 * Threads: any. Trust: inputs are the VMM's own constants.
 */
#include "aml.h"

#include <string.h>

void vmm_aml_init(struct vmm_aml *a, uint8_t *buf, size_t cap)
{
    memset(a, 0, sizeof(*a));
    a->buf = buf;
    a->cap = cap;
}

void vmm_aml_bytes(struct vmm_aml *a, const void *p, size_t n)
{
    if (a->err)
        return;
    if (n > a->cap - a->len) {
        a->err = 1;
        return;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void vmm_aml_byte(struct vmm_aml *a, uint8_t b)
{
    vmm_aml_bytes(a, &b, 1);
}

void vmm_aml_op(struct vmm_aml *a, unsigned op)
{
    if (op > 0xFF)
        vmm_aml_byte(a, (uint8_t)(op >> 8));
    vmm_aml_byte(a, (uint8_t)op);
}

static int seg_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

void vmm_aml_name(struct vmm_aml *a, const char *path)
{
    const char *p = path;
    if (*p == '\\')
        vmm_aml_byte(a, *p++);
    while (*p == '^')
        vmm_aml_byte(a, *p++);
    uint8_t segs[16][4];
    unsigned n = 0;
    while (*p) {
        unsigned l = 0;
        if (n == 16) {
            a->err = 1;
            return;
        }
        while (p[l] && p[l] != '.') {
            if (l == 4 || !seg_char(p[l]) || (l == 0 && p[l] >= '0' && p[l] <= '9')) {
                a->err = 1;
                return;
            }
            segs[n][l] = (uint8_t)p[l];
            l++;
        }
        if (l == 0) {
            a->err = 1;
            return;
        }
        for (unsigned i = l; i < 4; i++)
            segs[n][i] = '_';
        n++;
        p += l;
        if (*p == '.' && *++p == '\0') {
            a->err = 1;   /* trailing dot */
            return;
        }
    }
    if (n == 0) {
        vmm_aml_byte(a, 0x00);           /* NullName */
        return;
    }
    if (n == 2)
        vmm_aml_byte(a, 0x2E);           /* DualNamePrefix */
    else if (n > 2) {
        vmm_aml_byte(a, 0x2F);           /* MultiNamePrefix */
        vmm_aml_byte(a, (uint8_t)n);
    }
    vmm_aml_bytes(a, segs, 4 * (size_t)n);
}

void vmm_aml_int(struct vmm_aml *a, uint64_t v)
{
    uint8_t b[9];
    size_t n;
    if (v == 0 || v == 1) {
        vmm_aml_byte(a, (uint8_t)v);
        return;
    }
    if (v == UINT64_MAX) {
        vmm_aml_byte(a, AML_ONES);
        return;
    }
    if (v <= 0xFF) {
        b[0] = 0x0A;
        n = 1;
    } else if (v <= 0xFFFF) {
        b[0] = 0x0B;
        n = 2;
    } else if (v <= 0xFFFFFFFFu) {
        b[0] = 0x0C;
        n = 4;
    } else {
        b[0] = 0x0E;
        n = 8;
    }
    for (size_t i = 0; i < n; i++)
        b[1 + i] = (uint8_t)(v >> (8 * i));
    vmm_aml_bytes(a, b, n + 1);
}

void vmm_aml_string(struct vmm_aml *a, const char *s)
{
    for (const char *c = s; *c; c++)
        if ((unsigned char)*c < 0x01 || (unsigned char)*c > 0x7F)
            a->err = 1;
    vmm_aml_byte(a, 0x0D);
    vmm_aml_bytes(a, s, strlen(s) + 1);
}

void vmm_aml_eisaid(struct vmm_aml *a, const char *id)
{
    /* three letters (5 bits each, 'A' = 1) and four hex digits, stored big-endian */
    if (strlen(id) != 7) {
        a->err = 1;
        return;
    }
    uint32_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z') {
            a->err = 1;
            return;
        }
        v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
    }
    for (int i = 3; i < 7; i++) {
        char c = id[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10) : 16;
        if (d == 16) {
            a->err = 1;
            return;
        }
        v = (v << 4) | d;
    }
    uint8_t b[5] = {0x0C, (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    vmm_aml_bytes(a, b, 5);
}

void vmm_aml_begin(struct vmm_aml *a, unsigned op)
{
    vmm_aml_op(a, op);
    if (a->err)
        return;
    if (a->depth == AML_DEPTH_MAX) {
        a->err = 1;
        return;
    }
    a->open[a->depth++] = a->len;
    static const uint8_t slot[4];
    vmm_aml_bytes(a, slot, 4);
}

/* Encodes a PkgLength whose value counts its own bytes; n is 1..4. */
static void put_pkglen(uint8_t *p, size_t total, unsigned n)
{
    if (n == 1) {
        p[0] = (uint8_t)total;
        return;
    }
    p[0] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
    for (unsigned i = 1; i < n; i++)
        p[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
}

static unsigned pkglen_size(size_t body)
{
    if (body + 1 <= 0x3F)
        return 1;
    if (body + 2 <= 0xFFF)
        return 2;
    if (body + 3 <= 0xFFFFF)
        return 3;
    return 4;
}

void vmm_aml_end(struct vmm_aml *a)
{
    if (a->err)
        return;
    if (a->depth == 0) {
        a->err = 1;
        return;
    }
    size_t at = a->open[--a->depth];
    size_t body = a->len - at - 4;
    unsigned n = pkglen_size(body);
    if (body + n > 0xFFFFFFF) {
        a->err = 1;
        return;
    }
    memmove(a->buf + at + n, a->buf + at + 4, body);
    put_pkglen(a->buf + at, body + n, n);
    a->len -= 4 - n;
}

void vmm_aml_pkglen(struct vmm_aml *a, size_t v)
{
    /* a field width: the value is the number itself, not a byte count */
    uint8_t b[4];
    unsigned n = v <= 0x3F ? 1 : v <= 0xFFF ? 2 : v <= 0xFFFFF ? 3 : 4;
    put_pkglen(b, v, n);
    vmm_aml_bytes(a, b, n);
}

void vmm_aml_buffer(struct vmm_aml *a, const uint8_t *bytes, size_t n)
{
    vmm_aml_begin(a, AML_BUFFER);
    vmm_aml_int(a, n);
    vmm_aml_bytes(a, bytes, n);
    vmm_aml_end(a);
}

size_t vmm_aml_finish(struct vmm_aml *a)
{
    if (a->err || a->depth)
        return 0;
    return a->len;
}

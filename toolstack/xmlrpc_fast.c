/*
 * toolstack/xmlrpc_fast.c - a direct decoder for the plain XML-RPC calls
 * clients send (UTF-8, no DTD, no comments, no CDATA, no attributes, no CR,
 * only the five predefined entities), without building a libxml2 tree. It
 * answers exactly what the DOM decoder in xmlrpc.c would for such documents
 * and declines (0) everything else, errors included, which then go to libxml2.
 * Threads: any (no state). Trust: the body is client data; every read is bounded.
 */
#include "xmlrpc_fast.h"

#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"
#include "strbuf.h"

struct cur {
    const char *p, *end;
    struct ts_strbuf text; /* the current run of character data, entities decoded */
};

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n';
}

static int blank(const struct ts_strbuf *b)
{
    for (size_t i = 0; i < b->len; i++)
        if (!is_ws(b->p[i]))
            return 0;
    return 1;
}

/* Length of a UTF-8 sequence that XML allows as a character at s, or 0. */
static size_t xml_char(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return c >= 0x20 || c == '\t' || c == '\n';
    uint32_t cp = 0;
    size_t len = ts_utf8_seq(s, n, &cp);
    return cp == 0xfffe || cp == 0xffff ? 0 : len;
}

/* Character data up to the next '<' into c->text (reset first). 0, or -1 to decline. */
static int text(struct cur *c)
{
    c->text.len = 0;
    const char *start = c->p;
    while (c->p < c->end && *c->p != '<') {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '&') {
            static const struct {
                const char *ref;
                char ch;
            } ents[] = {{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'},
                        {"&apos;", '\''}};
            size_t k;
            for (k = 0; k < ATOLL_ARRAY_SIZE(ents); k++) {
                size_t l = strlen(ents[k].ref);
                if ((size_t)(c->end - c->p) >= l && memcmp(c->p, ents[k].ref, l) == 0)
                    break;
            }
            if (k == ATOLL_ARRAY_SIZE(ents))
                return -1; /* character references and the rest: libxml2 */
            ts_strbuf_add(&c->text, start, (size_t)(c->p - start));
            ts_strbuf_putc(&c->text, ents[k].ch);
            c->p += strlen(ents[k].ref);
            start = c->p;
            continue;
        }
        if (ch == '>' && c->p - start >= 2 && c->p[-1] == ']' && c->p[-2] == ']')
            return -1; /* "]]>" is not allowed in content */
        size_t l = xml_char((const unsigned char *)c->p, (size_t)(c->end - c->p));
        if (!l)
            return -1;
        c->p += l;
    }
    ts_strbuf_add(&c->text, start, (size_t)(c->p - start));
    return c->p < c->end ? 0 : -1;
}

/* Blank character data (skipped). 0, or -1 to decline. */
static int skip_blank(struct cur *c)
{
    return text(c) == 0 && blank(&c->text) ? 0 : -1;
}

/*
 * A start tag without attributes at c->p: 1 "<name>", 2 "<name/>", 0 if it is
 * an end tag, -1 to decline (anything else: comments, PIs, CDATA, attributes).
 */
static int start_tag(struct cur *c, const char **name, size_t *nlen)
{
    if (c->end - c->p < 3 || c->p[0] != '<')
        return -1;
    if (c->p[1] == '/')
        return 0;
    const char *s = c->p + 1, *e = s;
    while (e < c->end && ((*e >= 'a' && *e <= 'z') || (*e >= 'A' && *e <= 'Z') ||
                          (e > s && ((*e >= '0' && *e <= '9') || *e == '.' || *e == '_'))))
        e++;
    if (e == s || e >= c->end)
        return -1;
    *name = s;
    *nlen = (size_t)(e - s);
    if (*e == '>') {
        c->p = e + 1;
        return 1;
    }
    if (*e == '/' && e + 1 < c->end && e[1] == '>') {
        c->p = e + 2;
        return 2;
    }
    return -1;
}

static int name_is(const char *name, size_t nlen, const char *want)
{
    return strlen(want) == nlen && memcmp(name, want, nlen) == 0;
}

/* "</want>" at c->p: 0 (consumed) or -1. */
static int end_tag(struct cur *c, const char *want)
{
    size_t l = strlen(want);
    if ((size_t)(c->end - c->p) < l + 3 || c->p[0] != '<' || c->p[1] != '/' ||
        memcmp(c->p + 2, want, l) != 0 || c->p[2 + l] != '>')
        return -1;
    c->p += l + 3;
    return 0;
}

/* The character data of an element with no child elements, then its end tag. Owned. */
static char *leaf_text(struct cur *c, int empty, const char *tag)
{
    if (empty)
        return atoll_strdup("");
    if (text(c) < 0 || end_tag(c, tag) < 0)
        return NULL;
    return atoll_strndup(c->text.len ? c->text.p : "", c->text.len);
}

static char *trim(char *s)
{
    char *a = s;
    while (is_ws(*a))
        a++;
    size_t n = strlen(a);
    while (n && is_ws(a[n - 1]))
        n--;
    memmove(s, a, n);
    s[n] = '\0';
    return s;
}

static struct atoll_value *value(struct cur *c, int depth);

/* "<value/>" (an empty string) or "<value>" (st 2 or 1) at depth; NULL to decline. */
static struct atoll_value *value_at(struct cur *c, int st, int depth)
{
    if (st != 2)
        return value(c, depth);
    return depth > TS_XMLRPC_MAX_DEPTH ? NULL : atoll_value_string("");
}

static struct atoll_value *scalar(const char *type, size_t tlen, const char *t)
{
    int64_t i;
    if (name_is(type, tlen, "int") || name_is(type, tlen, "i4") || name_is(type, tlen, "i8"))
        return atoll_parse_i64(t, 10, &i) == 0 ? atoll_value_int(i) : NULL;
    if (name_is(type, tlen, "boolean")) {
        if (strcmp(t, "1") == 0 || strcmp(t, "true") == 0)
            return atoll_value_bool(1);
        if (strcmp(t, "0") == 0 || strcmp(t, "false") == 0)
            return atoll_value_bool(0);
        return NULL;
    }
    if (name_is(type, tlen, "double")) {
        char *end;
        double d = strtod(t, &end);
        return *t && !*end ? atoll_value_double(d) : NULL;
    }
    if (name_is(type, tlen, "dateTime.iso8601"))
        return atoll_datetime_parse(t, &i) == 0 ? atoll_value_datetime(i) : NULL;
    return NULL; /* base64 and unknown types: libxml2 */
}

static struct atoll_value *array(struct cur *c, int depth)
{
    const char *n;
    size_t nl;
    int st;
    if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) <= 0 || !name_is(n, nl, "data"))
        return NULL;
    ATOLL_AUTOVALUE a = atoll_value_array();
    while (st == 1) {
        if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) < 0)
            return NULL;
        if (st == 0)
            break;
        if (!name_is(n, nl, "value"))
            return NULL;
        struct atoll_value *v = value_at(c, st, depth + 1);
        if (!v)
            return NULL;
        atoll_value_array_append(a, v);
        st = 1;
    }
    if ((st == 0 && end_tag(c, "data") < 0) || skip_blank(c) < 0 || end_tag(c, "array") < 0)
        return NULL;
    return atoll_steal_ptr(&a);
}

static int member(struct cur *c, struct atoll_value *s, int depth)
{
    ATOLL_AUTOFREE char *key = NULL;
    ATOLL_AUTOVALUE v = NULL;
    for (int i = 0; i < 2; i++) {
        const char *n;
        size_t nl;
        int st;
        if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) <= 0)
            return -1;
        if (name_is(n, nl, "name") && !key) {
            if (!(key = leaf_text(c, st == 2, "name")))
                return -1;
        } else if (name_is(n, nl, "value") && !v) {
            if (!(v = value_at(c, st, depth + 1)))
                return -1;
        } else {
            return -1;
        }
    }
    if (skip_blank(c) < 0 || end_tag(c, "member") < 0 || atoll_value_struct_get(s, key))
        return -1;
    atoll_value_struct_set(s, key, atoll_steal_ptr(&v));
    return 0;
}

static struct atoll_value *structure(struct cur *c, int depth)
{
    ATOLL_AUTOVALUE s = atoll_value_struct();
    for (;;) {
        const char *n;
        size_t nl;
        int st;
        if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) < 0)
            return NULL;
        if (st == 0)
            break;
        if (st != 1 || !name_is(n, nl, "member") || member(c, s, depth) < 0)
            return NULL;
    }
    if (end_tag(c, "struct") < 0)
        return NULL;
    return atoll_steal_ptr(&s);
}

/* After "<value>": its content and "</value>"; NULL to decline. */
static struct atoll_value *value(struct cur *c, int depth)
{
    const char *n;
    size_t nl;
    int st;
    if (depth > TS_XMLRPC_MAX_DEPTH || text(c) < 0 || (st = start_tag(c, &n, &nl)) < 0)
        return NULL;
    if (st == 0) { /* untyped: the text exactly, whitespace included */
        struct atoll_value *s = atoll_value_string_len(c->text.len ? c->text.p : "", c->text.len);
        if (end_tag(c, "value") == 0)
            return s;
        atoll_value_unref(s);
        return NULL;
    }
    if (!blank(&c->text))
        return NULL;
    ATOLL_AUTOVALUE v = NULL;
    if (name_is(n, nl, "struct")) {
        v = st == 2 ? atoll_value_struct() : structure(c, depth);
    } else if (name_is(n, nl, "array")) {
        v = st == 1 ? array(c, depth) : NULL;
    } else if (name_is(n, nl, "nil")) {
        v = st == 2 || end_tag(c, "nil") == 0 ? atoll_value_nil() : NULL;
    } else {
        char tag[24];
        if (nl >= sizeof(tag))
            return NULL;
        memcpy(tag, n, nl);
        tag[nl] = '\0';
        ATOLL_AUTOFREE char *t = leaf_text(c, st == 2, tag);
        if (!t)
            return NULL;
        if (strcmp(tag, "string") == 0)
            v = atoll_value_string(t);
        else
            v = scalar(n, nl, trim(t));
    }
    if (!v || skip_blank(c) < 0 || end_tag(c, "value") < 0)
        return NULL;
    return atoll_steal_ptr(&v);
}

/* The XML declaration, if any: only version 1.0 and a UTF-8 encoding are taken. */
static int decl(struct cur *c)
{
    static const char *const ok[] = {
        "<?xml version='1.0'?>", "<?xml version=\"1.0\"?>",
        "<?xml version='1.0' encoding='UTF-8'?>", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<?xml version='1.0' encoding='utf-8'?>", "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
    };
    if (c->end - c->p < 5 || memcmp(c->p, "<?xml", 5) != 0)
        return 0;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(ok); i++) {
        size_t l = strlen(ok[i]);
        if ((size_t)(c->end - c->p) >= l && memcmp(c->p, ok[i], l) == 0) {
            c->p += l;
            return 0;
        }
    }
    return -1;
}

static int call(struct cur *c, char **method, struct atoll_value **params)
{
    const char *n;
    size_t nl;
    int st;
    if (decl(c) < 0 || skip_blank(c) < 0 || start_tag(c, &n, &nl) != 1 ||
        !name_is(n, nl, "methodCall"))
        return -1;
    ATOLL_AUTOFREE char *m = NULL;
    ATOLL_AUTOVALUE arr = NULL;
    for (;;) {
        if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) < 0)
            return -1;
        if (st == 0)
            break;
        if (name_is(n, nl, "methodName") && !m) {
            if (!(m = leaf_text(c, st == 2, "methodName")))
                return -1;
            trim(m);
            if (!*m || strlen(m) > 256)
                return -1;
        } else if (name_is(n, nl, "params") && !arr) {
            arr = atoll_value_array();
            while (st == 1) {
                if (skip_blank(c) < 0 || (st = start_tag(c, &n, &nl)) < 0)
                    return -1;
                if (st == 0)
                    break;
                if (st != 1 || !name_is(n, nl, "param") || skip_blank(c) < 0 ||
                    (st = start_tag(c, &n, &nl)) <= 0 || !name_is(n, nl, "value"))
                    return -1;
                struct atoll_value *v = value_at(c, st, 0);
                if (!v)
                    return -1;
                atoll_value_array_append(arr, v);
                if (skip_blank(c) < 0 || end_tag(c, "param") < 0)
                    return -1;
                st = 1;
            }
            if (st == 0 && end_tag(c, "params") < 0)
                return -1;
        } else {
            return -1;
        }
    }
    if (!m || end_tag(c, "methodCall") < 0)
        return -1;
    while (c->p < c->end && is_ws(*c->p))
        c->p++;
    if (c->p != c->end)
        return -1;
    *method = atoll_steal_ptr(&m);
    *params = arr ? atoll_steal_ptr(&arr) : atoll_value_array();
    return 0;
}

int ts_xmlrpc_fast_decode_call(const char *buf, size_t len, char **method,
                               struct atoll_value **params)
{
    if (len == 0 || len > TS_XMLRPC_FAST_MAX || memchr(buf, '\r', len))
        return 0; /* line-end normalisation and big documents: libxml2 */
    struct cur c = {.p = buf, .end = buf + len};
    int rc = call(&c, method, params);
    ts_strbuf_fini(&c.text);
    return rc == 0;
}

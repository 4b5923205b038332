/*
 * toolstack/xmlrpc.c - XML-RPC decoding (libxml2 DOM, no DTDs, no network,
 * bounded nesting) and XAPI-style compact encoding (see xmlrpc.h).
 * Threads: any, after ts_xmlrpc_init.
 * Trust: every document decoded here comes from a client or a peer.
 */
#include "xmlrpc.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "atoll/util.h"
#include "xmlrpc_fast.h"

void ts_xmlrpc_init(void)
{
    xmlInitParser();
}

/* ---------------------------------------------------------------- decoding */

static int fail(struct atoll_err *err, const char *expected, const char *received)
{
    ATOLL_ERR(err, ATOLL_E_XMLRPC_UNMARSHAL_FAILURE, expected, received);
    return -1;
}

static int is_named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static int is_blank_text(const xmlNode *n)
{
    if (n->type == XML_COMMENT_NODE || n->type == XML_PI_NODE)
        return 1;
    if (n->type != XML_TEXT_NODE)
        return 0;
    for (const xmlChar *c = n->content; c && *c; c++)
        if (*c != ' ' && *c != '\t' && *c != '\n' && *c != '\r')
            return 0;
    return 1;
}

/*
 * The only element child of n (whitespace and comments around it are fine).
 * Returns 1 and *out, 0 if there is none (text only), -1 if several or mixed.
 */
static int only_child(const xmlNode *n, xmlNode **out)
{
    xmlNode *found = NULL;
    int text = 0;
    for (xmlNode *c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            if (found)
                return -1;
            found = c;
        } else if (!is_blank_text(c)) {
            text = 1;
        }
    }
    if (found && text)
        return -1;
    *out = found;
    return found ? 1 : 0;
}

/* Text content with surrounding whitespace trimmed (owned). */
static char *trimmed_text(const xmlNode *n)
{
    xmlChar *t = xmlNodeGetContent(n);
    const char *s = t ? (const char *)t : "";
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    size_t len = strlen(s);
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n' ||
                   s[len - 1] == '\r'))
        len--;
    char *r = atoll_strndup(s, len);
    xmlFree(t);
    return r;
}

static struct atoll_value *decode_value(const xmlNode *v, int depth, struct atoll_err *err);

static struct atoll_value *decode_base64(const char *text, struct atoll_err *err)
{
    size_t n = strlen(text);
    ATOLL_AUTOFREE char *clean = atoll_malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
            clean[k++] = text[i];
    clean[k] = '\0';
    if (k % 4 != 0 || k > INT_MAX) {
        fail(err, "base64", "base64 text of a bad length");
        return NULL;
    }
    ATOLL_AUTOFREE unsigned char *out = atoll_malloc(k / 4 * 3 + 1);
    int got = EVP_DecodeBlock(out, (const unsigned char *)clean, (int)k);
    if (got < 0) {
        fail(err, "base64", "invalid base64 text");
        return NULL;
    }
    /* EVP_DecodeBlock counts the '=' padding as zero bytes */
    if (k >= 1 && clean[k - 1] == '=')
        got--;
    if (k >= 2 && clean[k - 2] == '=')
        got--;
    if (memchr(out, '\0', (size_t)got)) {
        fail(err, "string", "base64 data containing a NUL byte");
        return NULL;
    }
    return atoll_value_string_len((const char *)out, (size_t)got);
}

static struct atoll_value *decode_struct(const xmlNode *s, int depth, struct atoll_err *err)
{
    ATOLL_AUTOVALUE st = atoll_value_struct();
    for (const xmlNode *m = s->children; m; m = m->next) {
        if (is_blank_text(m))
            continue;
        if (!is_named(m, "member")) {
            fail(err, "member", m->name ? (const char *)m->name : "text");
            return NULL;
        }
        const xmlNode *name = NULL, *val = NULL;
        for (const xmlNode *c = m->children; c; c = c->next) {
            if (is_blank_text(c))
                continue;
            if (is_named(c, "name") && !name)
                name = c;
            else if (is_named(c, "value") && !val)
                val = c;
            else {
                fail(err, "name and value in member", c->name ? (const char *)c->name : "text");
                return NULL;
            }
        }
        if (!name || !val) {
            fail(err, "name and value in member", name ? "no value" : "no name");
            return NULL;
        }
        xmlChar *key = xmlNodeGetContent(name);
        const char *k = key ? (const char *)key : "";
        if (atoll_value_struct_get(st, k)) {
            fail(err, "unique struct member names", k);
            xmlFree(key);
            return NULL;
        }
        struct atoll_value *mv = decode_value(val, depth + 1, err);
        if (!mv) {
            xmlFree(key);
            return NULL;
        }
        atoll_value_struct_set(st, k, mv);
        xmlFree(key);
    }
    return atoll_steal_ptr(&st);
}

static struct atoll_value *decode_array(const xmlNode *a, int depth, struct atoll_err *err)
{
    xmlNode *data;
    if (only_child(a, &data) != 1 || !is_named(data, "data")) {
        fail(err, "data in array", "something else");
        return NULL;
    }
    ATOLL_AUTOVALUE arr = atoll_value_array();
    for (const xmlNode *c = data->children; c; c = c->next) {
        if (is_blank_text(c))
            continue;
        if (!is_named(c, "value")) {
            fail(err, "value in array data", c->name ? (const char *)c->name : "text");
            return NULL;
        }
        struct atoll_value *item = decode_value(c, depth + 1, err);
        if (!item)
            return NULL;
        atoll_value_array_append(arr, item);
    }
    return atoll_steal_ptr(&arr);
}

static struct atoll_value *decode_value(const xmlNode *v, int depth, struct atoll_err *err)
{
    if (depth > TS_XMLRPC_MAX_DEPTH) {
        fail(err, "nesting of at most 32 levels", "deeper nesting");
        return NULL;
    }
    xmlNode *t;
    int rc = only_child(v, &t);
    if (rc < 0) {
        fail(err, "one typed element or text in value", "mixed content");
        return NULL;
    }
    if (rc == 0) { /* untyped: a string, kept exactly (whitespace included) */
        xmlChar *c = xmlNodeGetContent(v);
        struct atoll_value *s = atoll_value_string(c ? (const char *)c : "");
        xmlFree(c);
        return s;
    }
    const char *type = (const char *)t->name;
    if (strcmp(type, "struct") == 0)
        return decode_struct(t, depth, err);
    if (strcmp(type, "array") == 0)
        return decode_array(t, depth, err);
    if (strcmp(type, "nil") == 0)
        return atoll_value_nil();
    if (strcmp(type, "string") == 0) {
        xmlChar *c = xmlNodeGetContent(t);
        struct atoll_value *s = atoll_value_string(c ? (const char *)c : "");
        xmlFree(c);
        return s;
    }
    ATOLL_AUTOFREE char *text = trimmed_text(t);
    if (strcmp(type, "int") == 0 || strcmp(type, "i4") == 0 || strcmp(type, "i8") == 0) {
        int64_t i;
        if (atoll_parse_i64(text, 10, &i) < 0) {
            fail(err, "int", text);
            return NULL;
        }
        return atoll_value_int(i);
    }
    if (strcmp(type, "boolean") == 0) {
        if (strcmp(text, "1") == 0 || strcmp(text, "true") == 0)
            return atoll_value_bool(1);
        if (strcmp(text, "0") == 0 || strcmp(text, "false") == 0)
            return atoll_value_bool(0);
        fail(err, "boolean", text);
        return NULL;
    }
    if (strcmp(type, "double") == 0) {
        char *end;
        double d = strtod(text, &end);
        if (!*text || *end) {
            fail(err, "double", text);
            return NULL;
        }
        return atoll_value_double(d);
    }
    if (strcmp(type, "dateTime.iso8601") == 0) {
        int64_t secs;
        if (atoll_datetime_parse(text, &secs) < 0) {
            fail(err, "dateTime.iso8601", text);
            return NULL;
        }
        return atoll_value_datetime(secs);
    }
    if (strcmp(type, "base64") == 0)
        return decode_base64(text, err);
    fail(err, "an XML-RPC type", type);
    return NULL;
}

/* One parser context per thread, reset between documents (saves its allocations);
 * freed when the thread exits. */
static pthread_key_t ctxt_key;
static pthread_once_t ctxt_once = PTHREAD_ONCE_INIT;

static void ctxt_free(void *p)
{
    xmlFreeParserCtxt(p);
}

static void ctxt_key_init(void)
{
    pthread_key_create(&ctxt_key, ctxt_free);
}

static xmlParserCtxtPtr thread_ctxt(void)
{
    pthread_once(&ctxt_once, ctxt_key_init);
    xmlParserCtxtPtr c = pthread_getspecific(ctxt_key);
    if (!c) {
        c = xmlNewParserCtxt();
        if (c)
            pthread_setspecific(ctxt_key, c);
    }
    return c;
}

void ts_xmlrpc_thread_fini(void)
{
    pthread_once(&ctxt_once, ctxt_key_init);
    xmlParserCtxtPtr c = pthread_getspecific(ctxt_key);
    if (c) {
        pthread_setspecific(ctxt_key, NULL);
        xmlFreeParserCtxt(c);
    }
}

/* Parses a document, refusing DTDs; NULL with err on failure. */
static xmlDoc *parse_doc(const char *buf, size_t len, struct atoll_err *err)
{
    if (len == 0 || len > INT_MAX) {
        fail(err, "an XML document", len ? "an oversized body" : "an empty body");
        return NULL;
    }
    xmlParserCtxtPtr ctxt = thread_ctxt();
    xmlDoc *doc = ctxt ? xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, NULL,
                                           XML_PARSE_NONET | XML_PARSE_NOERROR |
                                               XML_PARSE_NOWARNING)
                       : NULL;
    if (!doc) {
        const xmlError *e = ctxt ? xmlCtxtGetLastError(ctxt) : xmlGetLastError();
        ATOLL_AUTOFREE char *msg = atoll_strdup_printf(
            "malformed XML (line %d: %s)", e ? e->line : 0,
            e && e->message ? e->message : "parse error");
        size_t ml = strlen(msg);
        while (ml && msg[ml - 1] == '\n')
            msg[--ml] = '\0';
        fail(err, "well-formed XML", msg);
        return NULL;
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        fail(err, "XML without a DOCTYPE", "a DOCTYPE declaration");
        return NULL;
    }
    return doc;
}

int ts_xmlrpc_decode_call(const char *buf, size_t len, char **method, struct atoll_value **params,
                          struct atoll_err *err)
{
    /* plain calls without a libxml2 tree; the same answer, anything else below */
    if (ts_xmlrpc_fast_decode_call(buf, len, method, params))
        return 0;
    return ts_xmlrpc_decode_call_dom(buf, len, method, params, err);
}

int ts_xmlrpc_decode_call_dom(const char *buf, size_t len, char **method,
                              struct atoll_value **params, struct atoll_err *err)
{
    xmlDoc *doc = parse_doc(buf, len, err);
    if (!doc)
        return -1;
    int rc = -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    xmlNode *name = NULL, *ps = NULL;
    char *m = NULL;
    ATOLL_AUTOVALUE arr = NULL;
    if (!root || !is_named(root, "methodCall")) {
        fail(err, "methodCall", root ? (const char *)root->name : "no element");
        goto out;
    }
    for (xmlNode *c = root->children; c; c = c->next) {
        if (is_blank_text(c))
            continue;
        if (is_named(c, "methodName") && !name)
            name = c;
        else if (is_named(c, "params") && !ps)
            ps = c;
        else {
            fail(err, "methodName and params", c->name ? (const char *)c->name : "text");
            goto out;
        }
    }
    if (!name) {
        fail(err, "methodName", "none");
        goto out;
    }
    m = trimmed_text(name);
    if (!*m || strlen(m) > 256) {
        fail(err, "a method name of 1 to 256 characters", *m ? "a longer name" : "an empty name");
        goto out;
    }
    arr = atoll_value_array();
    for (xmlNode *p = ps ? ps->children : NULL; p; p = p->next) {
        if (is_blank_text(p))
            continue;
        xmlNode *v;
        if (!is_named(p, "param") || only_child(p, &v) != 1 || !is_named(v, "value")) {
            fail(err, "param containing one value", p->name ? (const char *)p->name : "text");
            goto out;
        }
        struct atoll_value *pv = decode_value(v, 0, err);
        if (!pv)
            goto out;
        atoll_value_array_append(arr, pv);
    }
    *method = atoll_steal_ptr(&m);
    *params = atoll_steal_ptr(&arr);
    rc = 0;
out:
    free(m);
    xmlFreeDoc(doc);
    return rc;
}

int ts_xmlrpc_decode_response(const char *buf, size_t len, struct atoll_value **result,
                              struct atoll_err *err)
{
    xmlDoc *doc = parse_doc(buf, len, err);
    if (!doc)
        return -1;
    int rc = -1;
    xmlNode *root = xmlDocGetRootElement(doc), *body, *v;
    if (!root || !is_named(root, "methodResponse") || only_child(root, &body) != 1) {
        fail(err, "methodResponse", root ? (const char *)root->name : "no element");
        goto out;
    }
    if (is_named(body, "fault")) {
        struct atoll_value *f = NULL;
        if (only_child(body, &v) == 1 && is_named(v, "value"))
            f = decode_value(v, 0, err);
        const struct atoll_value *fc = atoll_value_struct_get(f, "faultCode");
        const char *fs = atoll_value_struct_get_string(f, "faultString");
        ATOLL_AUTOFREE char *msg = atoll_strdup_printf(
            "fault %" PRId64 ": %s", atoll_value_get_int(fc), fs ? fs : "");
        atoll_value_unref(f);
        fail(err, "response", msg);
        goto out;
    }
    xmlNode *param;
    if (!is_named(body, "params") || only_child(body, &param) != 1 || !is_named(param, "param") ||
        only_child(param, &v) != 1 || !is_named(v, "value")) {
        fail(err, "params with one param", (const char *)body->name);
        goto out;
    }
    *result = decode_value(v, 0, err);
    rc = *result ? 0 : -1;
out:
    xmlFreeDoc(doc);
    return rc;
}

int ts_xmlrpc_decode_value(const char *buf, size_t len, struct atoll_value **out,
                           struct atoll_err *err)
{
    xmlDoc *doc = parse_doc(buf, len, err);
    if (!doc)
        return -1;
    xmlNode *root = xmlDocGetRootElement(doc);
    struct atoll_value *v = NULL;
    if (!root || !is_named(root, "value"))
        fail(err, "value", root ? (const char *)root->name : "no element");
    else
        v = decode_value(root, 0, err);
    xmlFreeDoc(doc);
    if (!v)
        return -1;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------- encoding */

/* ts_utf8_seq, also refusing the noncharacters U+FFFE and U+FFFF (not XML 1.0 characters). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    uint32_t cp = 0;
    size_t len = ts_utf8_seq(s, n, &cp);
    return cp == 0xfffe || cp == 0xffff ? 0 : len;
}

/*
 * Appends s escaped for XML text. Bytes XML 1.0 cannot carry (control
 * characters, invalid UTF-8) become '?'; CR is kept as a character reference.
 */
/* Bytes copied as they are: printable ASCII but for the three markup characters. */
static const unsigned char xml_plain[256] = {
    [0x20 ... 0x25] = 1, [0x27 ... 0x3b] = 1, [0x3d] = 1, [0x3f ... 0x7f] = 1, /* not & < > */
};

static void put_escaped(struct ts_strbuf *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t start = 0, i = ts_strbuf_plain_run(str, n, '<', '>', '&');
    while (i < n) {
        unsigned char c = s[i];
        const char *rep = NULL;
        size_t adv = 1;
        if (xml_plain[c]) {
            i++;
            continue;
        }
        if (c == '<')
            rep = "&lt;";
        else if (c == '>')
            rep = "&gt;";
        else if (c == '&')
            rep = "&amp;";
        else if (c == '\r')
            rep = "&#13;";
        else if (c == '\n' || c == '\t') {
            i++;
            continue;
        } else if (c < 0x20)
            rep = "?";
        else {
            adv = utf8_seq(s + i, n - i);
            if (adv) {
                i += adv;
                continue;
            }
            rep = "?";
            adv = 1;
        }
        ts_strbuf_add(b, str + start, i - start);
        ts_strbuf_puts(b, rep);
        i += adv;
        start = i;
    }
    ts_strbuf_add(b, str + start, n - start);
}

static void put_double(struct ts_strbuf *b, double d)
{
    char tmp[40];
    if (d == (double)(int64_t)d && d > -1e15 && d < 1e15 && (d != 0 || !signbit(d))) {
        ts_strbuf_put_i64(b, (int64_t)d); /* what %.15g writes for these, without printf */
        return;
    }
    if (isnan(d) || isinf(d)) {
        snprintf(tmp, sizeof(tmp), "%s", isnan(d) ? "nan" : d > 0 ? "inf" : "-inf");
    } else {
        snprintf(tmp, sizeof(tmp), "%.15g", d);
        if (strtod(tmp, NULL) != d)
            snprintf(tmp, sizeof(tmp), "%.17g", d);
    }
    ts_strbuf_puts(b, tmp);
}

void ts_xmlrpc_encode_value(struct ts_strbuf *b, const struct atoll_value *v)
{
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_NIL:
        ts_strbuf_puts(b, "<value></value>");
        return;
    case ATOLL_VALUE_STRING:
        ts_strbuf_puts(b, "<value>");
        put_escaped(b, atoll_value_get_string(v), atoll_value_string_length(v));
        ts_strbuf_puts(b, "</value>");
        return;
    case ATOLL_VALUE_INT:
        ts_strbuf_puts(b, "<value>");
        ts_strbuf_put_i64(b, atoll_value_get_int(v));
        ts_strbuf_puts(b, "</value>");
        return;
    case ATOLL_VALUE_BOOL:
        ts_strbuf_puts(b, atoll_value_get_bool(v) ? "<value><boolean>1</boolean></value>"
                                                  : "<value><boolean>0</boolean></value>");
        return;
    case ATOLL_VALUE_DOUBLE:
        ts_strbuf_puts(b, "<value><double>");
        put_double(b, atoll_value_get_double(v));
        ts_strbuf_puts(b, "</double></value>");
        return;
    case ATOLL_VALUE_DATETIME: {
        char dt[32];
        atoll_datetime_format(atoll_value_get_datetime(v), dt);
        ts_strbuf_puts(b, "<value><dateTime.iso8601>");
        ts_strbuf_puts(b, dt);
        ts_strbuf_puts(b, "</dateTime.iso8601></value>");
        return;
    }
    case ATOLL_VALUE_ARRAY: {
        ts_strbuf_puts(b, "<value><array><data>");
        size_t n = atoll_value_array_len(v);
        for (size_t i = 0; i < n; i++)
            ts_xmlrpc_encode_value(b, atoll_value_array_get(v, i));
        ts_strbuf_puts(b, "</data></array></value>");
        return;
    }
    case ATOLL_VALUE_STRUCT: {
        ts_strbuf_puts(b, "<value><struct>");
        size_t n = atoll_value_struct_len(v);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            struct atoll_value *mv;
            atoll_value_struct_at(v, i, &k, &mv);
            ts_strbuf_puts(b, "<member><name>");
            put_escaped(b, k, strlen(k));
            ts_strbuf_puts(b, "</name>");
            ts_xmlrpc_encode_value(b, mv);
            ts_strbuf_puts(b, "</member>");
        }
        ts_strbuf_puts(b, "</struct></value>");
        return;
    }
    }
}

char *ts_xmlrpc_value_to_string(const struct atoll_value *v)
{
    struct ts_strbuf b = {0};
    ts_xmlrpc_encode_value(&b, v);
    return ts_strbuf_take(&b, NULL);
}

static const char RESP_HEAD[] = "<methodResponse><params><param>";
static const char RESP_TAIL[] = "</param></params></methodResponse>";

char *ts_xmlrpc_encode_success(const struct atoll_value *result, int bare, size_t *len)
{
    struct ts_strbuf b = {0};
    ts_strbuf_reserve(&b, 4096);
    ts_strbuf_puts(&b, RESP_HEAD);
    if (bare) {
        ts_xmlrpc_encode_value(&b, result);
    } else {
        ts_strbuf_puts(&b, "<value><struct><member><name>Status</name><value>Success</value>"
                           "</member><member><name>Value</name>");
        ts_xmlrpc_encode_value(&b, result);
        ts_strbuf_puts(&b, "</member></struct></value>");
    }
    ts_strbuf_puts(&b, RESP_TAIL);
    return ts_strbuf_take(&b, len);
}

struct atoll_value *ts_xmlrpc_error_description(const struct atoll_err *err)
{
    struct atoll_value *a = atoll_value_array();
    const char *name = err ? atoll_err_code_name(err->code) : NULL;
    atoll_value_array_append(a, atoll_value_string(name ? name : "INTERNAL_ERROR"));
    if (!name)
        atoll_value_array_append(a, atoll_value_string("unknown error"));
    for (unsigned i = 0; name && i < err->nparams; i++)
        atoll_value_array_append(a, atoll_value_string(err->params[i]));
    return a;
}

char *ts_xmlrpc_encode_failure(const struct atoll_err *err, size_t *len)
{
    struct ts_strbuf b = {0};
    ATOLL_AUTOVALUE desc = ts_xmlrpc_error_description(err);
    ts_strbuf_puts(&b, RESP_HEAD);
    ts_strbuf_puts(&b, "<value><struct><member><name>Status</name><value>Failure</value>"
                       "</member><member><name>ErrorDescription</name>");
    ts_xmlrpc_encode_value(&b, desc);
    ts_strbuf_puts(&b, "</member></struct></value>");
    ts_strbuf_puts(&b, RESP_TAIL);
    return ts_strbuf_take(&b, len);
}

char *ts_xmlrpc_encode_call(const char *method, struct atoll_value *const *params, unsigned n,
                            size_t *len)
{
    struct ts_strbuf b = {0};
    ts_strbuf_puts(&b, "<?xml version=\"1.0\"?><methodCall><methodName>");
    put_escaped(&b, method, strlen(method));
    ts_strbuf_puts(&b, "</methodName><params>");
    for (unsigned i = 0; i < n; i++) {
        ts_strbuf_puts(&b, "<param>");
        ts_xmlrpc_encode_value(&b, params[i]);
        ts_strbuf_puts(&b, "</param>");
    }
    ts_strbuf_puts(&b, "</params></methodCall>");
    return ts_strbuf_take(&b, len);
}

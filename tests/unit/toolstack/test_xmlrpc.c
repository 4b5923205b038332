/* tests/unit/toolstack/test_xmlrpc.c - the XML-RPC codec: golden request/response pairs as
 * Python's xmlrpc.client and XAPI write them, type mapping, escaping, and hostile input. */
#include <string.h>

#include "atoll/util.h"
#include "tap.h"
#include "xmlrpc.h"
#include "xmlrpc_fast.h"

static struct atoll_value *param(struct atoll_value *params, size_t i)
{
    return atoll_value_array_get(params, i);
}

/* Decodes a call; returns params (owned) or NULL; *method owned. */
static struct atoll_value *call(const char *xml, char **method, struct atoll_err *err)
{
    struct atoll_value *p = NULL;
    *method = NULL;
    if (ts_xmlrpc_decode_call(xml, strlen(xml), method, &p, err) < 0)
        return NULL;
    return p;
}

static void test_python_request(void)
{
    /* exactly what xmlrpc.client.dumps(("root", "pw", 5, True), "session.login_with_password") emits */
    const char *xml = "<?xml version='1.0'?>\n<methodCall>\n"
                      "<methodName>session.login_with_password</methodName>\n<params>\n"
                      "<param>\n<value><string>root</string></value>\n</param>\n"
                      "<param>\n<value><string>p&amp;w &lt;x&gt;</string></value>\n</param>\n"
                      "<param>\n<value><int>5</int></value>\n</param>\n"
                      "<param>\n<value><boolean>1</boolean></value>\n</param>\n"
                      "</params>\n</methodCall>\n";
    struct atoll_err err = ATOLL_ERR_INIT;
    char *m;
    ATOLL_AUTOVALUE p = call(xml, &m, &err);
    ok(p != NULL, "Python-style request decodes");
    is_str(m, "session.login_with_password", "method name");
    is_int(atoll_value_array_len(p), 4, "four params");
    is_str(atoll_value_get_string(param(p, 0)), "root", "<string> param");
    is_str(atoll_value_get_string(param(p, 1)), "p&w <x>", "entities decoded");
    is_int(atoll_value_get_int(param(p, 2)), 5, "<int> param");
    is_int(atoll_value_get_bool(param(p, 3)), 1, "<boolean> param");
    free(m);
}

static void test_types(void)
{
    const char *xml =
        "<methodCall><methodName>x.y</methodName><params>"
        "<param><value>untyped  text </value></param>"
        "<param><value></value></param>"
        "<param><value/></param>"
        "<param><value><i4>-7</i4></value></param>"
        "<param><value><i8>9223372036854775807</i8></value></param>"
        "<param><value>1073741824</value></param>"
        "<param><value><double>60.1</double></value></param>"
        "<param><value><dateTime.iso8601>20210628T11:25:34Z</dateTime.iso8601></value></param>"
        "<param><value><nil/></value></param>"
        "<param><value><base64>aGVsbG8=</base64></value></param>"
        "<param><value><struct><member><name>a</name><value><int>1</int></value></member>"
        "<member><name>b</name><value><array><data><value>x</value><value><boolean>0</boolean>"
        "</value></data></array></value></member></struct></value></param>"
        "<param><value><array><data/></array></value></param>"
        "</params></methodCall>";
    struct atoll_err err = ATOLL_ERR_INIT;
    char *m;
    ATOLL_AUTOVALUE p = call(xml, &m, &err);
    ok(p != NULL, "all types decode");
    if (!p) {
        diag("%s / %s", err.nparams ? err.params[0] : "", err.nparams > 1 ? err.params[1] : "");
        return;
    }
    is_str(atoll_value_get_string(param(p, 0)), "untyped  text ", "untyped value is a string, kept");
    is_str(atoll_value_get_string(param(p, 1)), "", "<value></value> is an empty string");
    is_str(atoll_value_get_string(param(p, 2)), "", "<value/> is an empty string");
    is_int(atoll_value_get_int(param(p, 3)), -7, "<i4>");
    ok(atoll_value_get_int(param(p, 4)) == INT64_MAX, "<i8> int64 max");
    is_str(atoll_value_get_string(param(p, 5)), "1073741824", "int64 as string stays a string");
    ok(atoll_value_get_double(param(p, 6)) == 60.1, "<double>");
    is_int(atoll_value_get_datetime(param(p, 7)), 1624879534, "dateTime.iso8601");
    is_int(atoll_value_type(param(p, 8)), ATOLL_VALUE_NIL, "<nil/>");
    is_str(atoll_value_get_string(param(p, 9)), "hello", "base64 decoded");
    struct atoll_value *st = param(p, 10);
    is_int(atoll_value_struct_len(st), 2, "struct members");
    is_int(atoll_value_get_int(atoll_value_struct_get(st, "a")), 1, "struct int member");
    is_int(atoll_value_array_len(atoll_value_struct_get(st, "b")), 2, "nested array");
    is_int(atoll_value_array_len(param(p, 11)), 0, "empty array with <data/>");
    free(m);
}

static void expect_reject(const char *xml, const char *what)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    char *m;
    struct atoll_value *p = call(xml, &m, &err);
    ok(p == NULL && err.code == ATOLL_E_XMLRPC_UNMARSHAL_FAILURE, "rejected: %s", what);
    if (p)
        atoll_value_unref(p);
    free(m);
    atoll_err_clear(&err);
}

static void test_rejects(void)
{
    expect_reject("", "empty body");
    expect_reject("<methodCall><methodName>a</methodName>", "truncated XML");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><int>1</i4>"
                  "</value></param></params></methodCall>", "mismatched tags");
    expect_reject("<methodResponse/>", "wrong root element");
    expect_reject("<methodCall><params/></methodCall>", "no methodName");
    expect_reject("<methodCall><methodName></methodName></methodCall>", "empty method name");
    expect_reject("<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
                  "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>"
                  "<methodCall><methodName>&lol2;</methodName></methodCall>",
                  "DOCTYPE with entities (billion laughs)");
    expect_reject("<!DOCTYPE x SYSTEM \"file:///etc/passwd\"><methodCall><methodName>a"
                  "</methodName></methodCall>", "external DTD");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><int>12x</int>"
                  "</value></param></params></methodCall>", "bad int");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><int>"
                  "99999999999999999999</int></value></param></params></methodCall>",
                  "int overflow");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><boolean>2"
                  "</boolean></value></param></params></methodCall>", "bad boolean");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><double>x"
                  "</double></value></param></params></methodCall>", "bad double");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value>"
                  "<dateTime.iso8601>yesterday</dateTime.iso8601></value></param></params>"
                  "</methodCall>", "bad datetime");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><struct>"
                  "<member><name>k</name><value>1</value></member><member><name>k</name>"
                  "<value>2</value></member></struct></value></param></params></methodCall>",
                  "duplicate struct member");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value>text<int>1"
                  "</int></value></param></params></methodCall>", "mixed content");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><blob>1"
                  "</blob></value></param></params></methodCall>", "unknown type");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><int>1</int>"
                  "<int>2</int></value></param></params></methodCall>", "two typed children");
    expect_reject("<methodCall><methodName>a</methodName><params><param><value><base64>a"
                  "</base64></value></param></params></methodCall>", "bad base64");
    /* 40 nested arrays: deeper than TS_XMLRPC_MAX_DEPTH */
    struct ts_strbuf b = {0};
    ts_strbuf_puts(&b, "<methodCall><methodName>a</methodName><params><param>");
    for (int i = 0; i < 40; i++)
        ts_strbuf_puts(&b, "<value><array><data>");
    for (int i = 0; i < 40; i++)
        ts_strbuf_puts(&b, "</data></array></value>");
    ts_strbuf_puts(&b, "</param></params></methodCall>");
    expect_reject(b.p, "nesting deeper than 32");
    ts_strbuf_fini(&b);
}

static void expect_encoding(struct atoll_value *v, const char *want, const char *what)
{
    char *s = ts_xmlrpc_value_to_string(v);
    is_str(s, want, "encodes %s", what);
    free(s);
    atoll_value_unref(v);
}

static void test_encode(void)
{
    expect_encoding(atoll_value_string(""), "<value></value>", "empty string as <value></value>");
    expect_encoding(atoll_value_string("OpaqueRef:NULL"), "<value>OpaqueRef:NULL</value>",
                    "string untyped");
    expect_encoding(atoll_value_int(1073741824), "<value>1073741824</value>",
                    "int64 as a decimal string");
    expect_encoding(atoll_value_int(-5), "<value>-5</value>", "negative int");
    {
        /* one special byte at every offset of a 24-byte string (the encoder scans 8 at a time) */
        static const char *const sp[][2] = {{"<", "&lt;"}, {">", "&gt;"}, {"&", "&amp;"},
                                            {"\r", "&#13;"}, {"\n", "\n"}, {"\x01", "?"},
                                            {"\xc3\xa9", "\xc3\xa9"}, {"\xff", "?"}, {"\"", "\""}};
        int good = 1;
        for (size_t k = 0; k < sizeof(sp) / sizeof(sp[0]); k++)
            for (int pos = 0; pos < 24; pos++) {
                char in[64], want[96];
                snprintf(in, sizeof(in), "%.*s%s%.*s", pos, "aaaaaaaaaaaaaaaaaaaaaaaa", sp[k][0],
                         23 - pos, "bbbbbbbbbbbbbbbbbbbbbbbb");
                snprintf(want, sizeof(want), "<value>%.*s%s%.*s</value>", pos,
                         "aaaaaaaaaaaaaaaaaaaaaaaa", sp[k][1], 23 - pos,
                         "bbbbbbbbbbbbbbbbbbbbbbbb");
                struct atoll_value *v = atoll_value_string(in);
                char *out = ts_xmlrpc_value_to_string(v);
                if (strcmp(out, want) != 0) {
                    if (good)
                        diag("got %s want %s", out, want);
                    good = 0;
                }
                free(out);
                atoll_value_unref(v);
            }
        ok(good, "strings escaped the same with the special byte at any offset");
    }
    expect_encoding(atoll_value_int(INT64_MIN), "<value>-9223372036854775808</value>", "int64 min");
    expect_encoding(atoll_value_int(0), "<value>0</value>", "zero");
    expect_encoding(atoll_value_double(1.0), "<value><double>1</double></value>",
                    "whole double as %.15g writes it");
    expect_encoding(atoll_value_double(-0.0), "<value><double>-0</double></value>",
                    "negative zero");
    expect_encoding(atoll_value_double(-42.0), "<value><double>-42</double></value>",
                    "negative whole double");
    expect_encoding(atoll_value_double(1e15), "<value><double>1e+15</double></value>",
                    "1e15 with an exponent");
    expect_encoding(atoll_value_bool(1), "<value><boolean>1</boolean></value>", "bool");
    expect_encoding(atoll_value_double(60.1), "<value><double>60.1</double></value>", "double");
    expect_encoding(atoll_value_double(0.1 + 0.2),
                    "<value><double>0.30000000000000004</double></value>", "exact double");
    expect_encoding(atoll_value_datetime(1624879534),
                    "<value><dateTime.iso8601>20210628T11:25:34Z</dateTime.iso8601></value>",
                    "datetime");
    expect_encoding(atoll_value_nil(), "<value></value>", "nil as empty string");
    expect_encoding(atoll_value_string("a<b>&c\r\n\t"), "<value>a&lt;b&gt;&amp;c&#13;\n\t</value>",
                    "escaped text, CR kept");
    expect_encoding(atoll_value_string("bell\x07" "x\xff" "y\xc3\xa9"),
                    "<value>bell?x?y\xc3\xa9</value>", "control and invalid UTF-8 replaced");
    struct atoll_value *st = atoll_value_struct();
    atoll_value_struct_set_string(st, "name_label", "");
    struct atoll_value *a = atoll_value_array();
    atoll_value_array_append(a, atoll_value_string("x"));
    atoll_value_struct_set(st, "tags", a);
    atoll_value_struct_set(st, "other_config", atoll_value_struct());
    expect_encoding(st,
                    "<value><struct><member><name>name_label</name><value></value></member>"
                    "<member><name>tags</name><value><array><data><value>x</value></data>"
                    "</array></value></member><member><name>other_config</name><value><struct>"
                    "</struct></value></member></struct></value>",
                    "compact struct, no whitespace between tags");
}

static void test_envelopes(void)
{
    ATOLL_AUTOVALUE ref = atoll_value_string("OpaqueRef:abc");
    size_t len;
    char *s = ts_xmlrpc_encode_success(ref, 0, &len);
    is_str(s, "<methodResponse><params><param><value><struct><member><name>Status</name>"
              "<value>Success</value></member><member><name>Value</name><value>OpaqueRef:abc"
              "</value></member></struct></value></param></params></methodResponse>",
           "success envelope (golden)");
    is_int(len, strlen(s), "length reported");
    free(s);
    ATOLL_AUTOVALUE arr = atoll_value_array();
    atoll_value_array_append(arr, atoll_value_string("VM.start"));
    s = ts_xmlrpc_encode_success(arr, 1, NULL);
    is_str(s, "<methodResponse><params><param><value><array><data><value>VM.start</value>"
              "</data></array></value></param></params></methodResponse>",
           "bare response for system.listMethods");
    free(s);
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_ERR(&err, ATOLL_E_VM_BAD_POWER_STATE, "OpaqueRef:v", "halted", "running");
    s = ts_xmlrpc_encode_failure(&err, NULL);
    is_str(s, "<methodResponse><params><param><value><struct><member><name>Status</name>"
              "<value>Failure</value></member><member><name>ErrorDescription</name><value>"
              "<array><data><value>VM_BAD_POWER_STATE</value><value>OpaqueRef:v</value>"
              "<value>halted</value><value>running</value></data></array></value></member>"
              "</struct></value></param></params></methodResponse>",
           "failure envelope (golden)");
    free(s);
    atoll_err_clear(&err);
    /* round trip through the client-side decoder */
    ATOLL_AUTOVALUE st = atoll_value_struct();
    atoll_value_struct_set_int(st, "memory", 1 << 30);
    atoll_value_struct_set(st, "when", atoll_value_datetime(5));
    s = ts_xmlrpc_encode_success(st, 0, &len);
    struct atoll_value *back = NULL;
    ok(ts_xmlrpc_decode_response(s, len, &back, &err) == 0, "response decodes");
    is_str(atoll_value_struct_get_string(back, "Status"), "Success", "Status member");
    struct atoll_value *val = atoll_value_struct_get(back, "Value");
    is_str(atoll_value_struct_get_string(val, "memory"), "1073741824", "int came back as string");
    is_int(atoll_value_get_datetime(atoll_value_struct_get(val, "when")), 5, "datetime back");
    atoll_value_unref(back);
    free(s);
    const char *fault = "<methodResponse><fault><value><struct><member><name>faultCode</name>"
                        "<value><int>4</int></value></member><member><name>faultString</name>"
                        "<value>boom</value></member></struct></value></fault></methodResponse>";
    back = NULL;
    ok(ts_xmlrpc_decode_response(fault, strlen(fault), &back, &err) < 0 && back == NULL,
       "fault response reported as an error");
    is_str(err.nparams > 1 ? err.params[1] : "", "fault 4: boom", "fault text");
    atoll_err_clear(&err);
    /* call encoder -> decoder */
    struct atoll_value *ps[2] = {atoll_value_string("OpaqueRef:s"), atoll_value_int(42)};
    s = ts_xmlrpc_encode_call("VM.set_VCPUs_max", ps, 2, &len);
    char *m = NULL;
    struct atoll_value *dp = NULL;
    ok(ts_xmlrpc_decode_call(s, len, &m, &dp, &err) == 0, "encoded call decodes");
    is_str(m, "VM.set_VCPUs_max", "method back");
    is_str(atoll_value_get_string(atoll_value_array_get(dp, 1)), "42", "int sent as string");
    free(m);
    free(s);
    atoll_value_unref(dp);
    atoll_value_unref(ps[0]);
    atoll_value_unref(ps[1]);
    /* task.result fragments */
    struct atoll_value *frag = NULL;
    const char *fx = "<value>OpaqueRef:123</value>";
    ok(ts_xmlrpc_decode_value(fx, strlen(fx), &frag, &err) == 0 &&
           strcmp(atoll_value_get_string(frag), "OpaqueRef:123") == 0,
       "value fragment decodes");
    atoll_value_unref(frag);
}

/* ---- the direct decoder against libxml2's: same answer whenever it answers ---- */

static int same_value(const struct atoll_value *a, const struct atoll_value *b)
{
    if (atoll_value_type(a) != atoll_value_type(b))
        return 0;
    switch (atoll_value_type(a)) {
    case ATOLL_VALUE_STRING:
        return atoll_value_string_length(a) == atoll_value_string_length(b) &&
               memcmp(atoll_value_get_string(a), atoll_value_get_string(b),
                      atoll_value_string_length(a)) == 0;
    case ATOLL_VALUE_INT: return atoll_value_get_int(a) == atoll_value_get_int(b);
    case ATOLL_VALUE_BOOL: return atoll_value_get_bool(a) == atoll_value_get_bool(b);
    case ATOLL_VALUE_DOUBLE: return atoll_value_get_double(a) == atoll_value_get_double(b);
    case ATOLL_VALUE_DATETIME: return atoll_value_get_datetime(a) == atoll_value_get_datetime(b);
    case ATOLL_VALUE_ARRAY:
        if (atoll_value_array_len(a) != atoll_value_array_len(b))
            return 0;
        for (size_t i = 0; i < atoll_value_array_len(a); i++)
            if (!same_value(atoll_value_array_get((struct atoll_value *)a, i),
                            atoll_value_array_get((struct atoll_value *)b, i)))
                return 0;
        return 1;
    case ATOLL_VALUE_STRUCT:
        if (atoll_value_struct_len(a) != atoll_value_struct_len(b))
            return 0;
        for (size_t i = 0; i < atoll_value_struct_len(a); i++) {
            const char *k;
            struct atoll_value *m;
            atoll_value_struct_at(a, i, &k, &m);
            const struct atoll_value *o = atoll_value_struct_get(b, k);
            if (!o || !same_value(m, o))
                return 0;
        }
        return 1;
    default:
        return 1;
    }
}

static unsigned fast_taken, fast_mismatch;

/* Decodes doc both ways; counts a mismatch when the direct decoder answers differently. */
static void differential(const char *doc, size_t len)
{
    char *fm = NULL, *dm = NULL;
    struct atoll_value *fp = NULL, *dp = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    int fast = ts_xmlrpc_fast_decode_call(doc, len, &fm, &fp);
    int dom = ts_xmlrpc_decode_call_dom(doc, len, &dm, &dp, &err) == 0;
    if (fast) {
        fast_taken++;
        if (!dom || strcmp(fm, dm) != 0 || !same_value(fp, dp)) {
            if (fast_mismatch++ < 5)
                diag("direct decoder differs on: %.*s", (int)len, doc);
        }
    } else if (fm || fp) {
        fast_mismatch++;
        diag("direct decoder declined but left results");
    }
    free(fm);
    free(dm);
    atoll_value_unref(fp);
    atoll_value_unref(dp);
    atoll_err_clear(&err);
}

static uint64_t rng = 88172645463325252ull;
static unsigned rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

static void ws(struct ts_strbuf *b)
{
    static const char *const w[] = {"", "", "", " ", "\n", "\n  ", "\t"};
    ts_strbuf_puts(b, w[rnd(ATOLL_ARRAY_SIZE(w))]);
}

static void gen_text(struct ts_strbuf *b)
{
    static const char *const bits[] = {"a", "OpaqueRef:1", " ", "&amp;", "&lt;", "&gt;", "&quot;",
                                       "&apos;", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                                       "\n", "\t", "]]", ">", "42", "-7", "true", "1.5",
                                       "20210628T11:25:34Z", "&#65;", "\r\n", "x y"};
    unsigned n = rnd(5);
    for (unsigned i = 0; i < n; i++)
        ts_strbuf_puts(b, bits[rnd(ATOLL_ARRAY_SIZE(bits))]);
}

static void gen_value(struct ts_strbuf *b, int depth)
{
    static const char *const scalars[] = {"string", "int", "i4", "i8", "boolean", "double",
                                          "dateTime.iso8601", "base64", "nil", "bogus"};
    unsigned k = rnd(depth > 3 ? 3 : 6);
    if (k == 0 && rnd(4) == 0) {
        ts_strbuf_puts(b, "<value/>");
        return;
    }
    ts_strbuf_puts(b, "<value>");
    if (k <= 1) {
        gen_text(b);
    } else if (k == 2) {
        const char *t = scalars[rnd(ATOLL_ARRAY_SIZE(scalars))];
        ws(b);
        if (rnd(6) == 0) {
            ts_strbuf_puts(b, "<");
            ts_strbuf_puts(b, t);
            ts_strbuf_puts(b, "/>");
        } else {
            ts_strbuf_puts(b, "<");
            ts_strbuf_puts(b, t);
            ts_strbuf_puts(b, ">");
            gen_text(b);
            ts_strbuf_puts(b, "</");
            ts_strbuf_puts(b, t);
            ts_strbuf_puts(b, ">");
        }
        ws(b);
    } else if (k == 3 || k == 4) {
        ts_strbuf_puts(b, "<array>");
        ws(b);
        ts_strbuf_puts(b, "<data>");
        for (unsigned i = rnd(4); i > 0; i--) {
            ws(b);
            gen_value(b, depth + 1);
        }
        ws(b);
        ts_strbuf_puts(b, "</data>");
        ws(b);
        ts_strbuf_puts(b, "</array>");
    } else {
        ts_strbuf_puts(b, "<struct>");
        for (unsigned i = rnd(4); i > 0; i--) {
            ws(b);
            ts_strbuf_puts(b, "<member>");
            ws(b);
            if (rnd(2)) {
                ts_strbuf_puts(b, "<name>");
                gen_text(b);
                ts_strbuf_puts(b, "</name>");
                ws(b);
                gen_value(b, depth + 1);
            } else {
                gen_value(b, depth + 1);
                ws(b);
                ts_strbuf_puts(b, "<name>k");
                gen_text(b);
                ts_strbuf_puts(b, "</name>");
            }
            ws(b);
            ts_strbuf_puts(b, "</member>");
        }
        ws(b);
        ts_strbuf_puts(b, "</struct>");
    }
    ts_strbuf_puts(b, "</value>");
}

static void gen_call(struct ts_strbuf *b)
{
    static const char *const decls[] = {"", "<?xml version='1.0'?>\n", "<?xml version=\"1.0\"?>",
                                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
                                        "<?xml version='1.0' encoding='ISO-8859-1'?>", " "};
    ts_strbuf_puts(b, decls[rnd(ATOLL_ARRAY_SIZE(decls))]);
    ts_strbuf_puts(b, "<methodCall>");
    ws(b);
    ts_strbuf_puts(b, "<methodName>");
    ws(b);
    ts_strbuf_puts(b, rnd(8) ? "VM.get_record" : "");
    ws(b);
    ts_strbuf_puts(b, "</methodName>");
    ws(b);
    ts_strbuf_puts(b, "<params>");
    for (unsigned i = rnd(4); i > 0; i--) {
        ws(b);
        ts_strbuf_puts(b, "<param>");
        ws(b);
        gen_value(b, 0);
        ws(b);
        ts_strbuf_puts(b, "</param>");
    }
    ws(b);
    ts_strbuf_puts(b, "</params>");
    ws(b);
    ts_strbuf_puts(b, "</methodCall>");
    ws(b);
}

static void test_fast_decoder(void)
{
    static const char *const fixed[] = {
        "<?xml version='1.0'?>\n<methodCall>\n<methodName>VM.get_record</methodName>\n<params>\n"
        "<param>\n<value><string>OpaqueRef:a</string></value>\n</param>\n</params>\n"
        "</methodCall>\n",
        "<methodCall><methodName>system.isAlive</methodName></methodCall>",
        "<methodCall><params/><methodName>x</methodName></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value/></param></params>"
        "</methodCall>",
        "<methodCall><methodName>x</methodName><methodName>y</methodName></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><struct><member><name>a"
        "</name><value>1</value></member><member><name>a</name><value>2</value></member>"
        "</struct></value></param></params></methodCall>",
        "<!DOCTYPE x [<!ENTITY e 'boom'>]><methodCall><methodName>&e;</methodName></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><![CDATA[<a>]]></value>"
        "</param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value>a]]>b</value></param>"
        "</params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value>\xff</value></param>"
        "</params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value>\xef\xbf\xbe</value>"
        "</param></params></methodCall>",
        "<methodCall><methodName>x</methodName><params><param><value><nil/></value></param>"
        "<param><value><array><data/></array></value></param><param><value><struct/></value>"
        "</param></params></methodCall>",
        "<methodCall a='1'><methodName>x</methodName></methodCall>",
        "<methodCall><methodName>x</methodName></methodCall><!-- tail -->",
        "  <methodCall><methodName>x</methodName></methodCall>",
    };
    unsigned taken0 = fast_taken;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(fixed); i++)
        differential(fixed[i], strlen(fixed[i]));
    ok(fast_taken > taken0 + 4, "the direct decoder takes the plain calls (%u of %zu)",
       fast_taken - taken0, ATOLL_ARRAY_SIZE(fixed));
    char deep[4096] = "<methodCall><methodName>x</methodName><params><param>";
    for (int d = 0; d < 34; d++)
        strcat(deep, "<value><array><data>");
    strcat(deep, "<value/>");
    for (int d = 0; d < 34; d++)
        strcat(deep, "</data></array></value>");
    strcat(deep, "</param></params></methodCall>");
    differential(deep, strlen(deep));
    /* random documents, and each with a random byte changed, removed or added */
    unsigned taken1 = fast_taken, n = 0;
    for (int i = 0; i < 4000; i++) {
        struct ts_strbuf b = {0};
        gen_call(&b);
        differential(b.p, b.len);
        for (int m = 0; m < 3 && b.len > 1; m++) {
            size_t at = rnd((unsigned)b.len);
            static const char junk[] = "<>/&;\"' \n\r\txa\xc3\x80\0";
            switch (rnd(3)) {
            case 0: b.p[at] = junk[rnd(sizeof(junk))]; break;
            case 1: memmove(b.p + at, b.p + at + 1, b.len - at); b.len--; break;
            default:
                ts_strbuf_putc(&b, 0);
                memmove(b.p + at + 1, b.p + at, b.len - at - 1);
                b.p[at] = junk[rnd(sizeof(junk))];
            }
            differential(b.p, b.len);
        }
        n += 4;
        ts_strbuf_fini(&b);
    }
    is_int(fast_mismatch, 0, "the direct decoder never answers differently from libxml2 "
           "(%u documents, %u taken)", n, fast_taken - taken1);
    ok(fast_taken - taken1 > 1000, "and it takes a good share of them");
}

int main(void)
{
    ts_xmlrpc_init();
    test_python_request();
    test_types();
    test_rejects();
    test_encode();
    test_envelopes();
    test_fast_decoder();
    return tap_done();
}

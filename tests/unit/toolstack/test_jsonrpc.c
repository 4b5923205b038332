/* tests/unit/toolstack/test_jsonrpc.c - the JSON codec (round trips, strictness, limits) and
 * the JSON-RPC 1.0 / 2.0 envelopes XAPI uses on /jsonrpc. */
#include <string.h>

#include "atoll/util.h"
#include "jsonrpc.h"
#include "tap.h"

static struct atoll_value *dec(const char *s)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *v = NULL;
    if (ts_json_decode(s, strlen(s), &v, &err) < 0) {
        atoll_err_clear(&err);
        return NULL;
    }
    return v;
}

static void roundtrip(const char *in, const char *want, const char *what)
{
    struct atoll_value *v = dec(in);
    char *out = v ? ts_json_to_string(v) : NULL;
    is_str(out, want, "round trip: %s", what);
    free(out);
    atoll_value_unref(v);
}

static void reject(const char *in, const char *what)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *v = NULL;
    int rc = ts_json_decode(in, strlen(in), &v, &err);
    ok(rc < 0 && v == NULL && err.code == ATOLL_E_JSONRPC_UNMARSHAL_FAILURE, "rejected: %s", what);
    atoll_value_unref(v);
    atoll_err_clear(&err);
}

static void test_codec(void)
{
    roundtrip(" { \"a\" : [1, -2, 3.5, true, false, null, \"x\"] } ",
              "{\"a\":[1,-2,3.5,true,false,null,\"x\"]}", "mixed object");
    roundtrip("9223372036854775807", "9223372036854775807", "int64 max stays an int");
    roundtrip("-9223372036854775808", "-9223372036854775808", "int64 min");
    roundtrip("9223372036854775808", "9.2233720368547758e+18", "beyond int64 becomes a float");
    roundtrip("60.1", "60.1", "float");
    roundtrip("1e2", "100.0", "exponent is a float, kept a float");
    {
        /* one special byte at every offset of a 24-byte string (the encoder scans 8 at a time) */
        static const char *const sp[][2] = {{"\"", "\\\""}, {"\\", "\\\\"}, {"\n", "\\n"},
                                            {"\x01", "\\u0001"}, {"\xc3\xa9", "\xc3\xa9"},
                                            {"<", "<"}, {"\x7f", "\x7f"}, {"\xff", "\\ufffd"}};
        int good = 1;
        for (size_t k = 0; k < sizeof(sp) / sizeof(sp[0]); k++)
            for (int pos = 0; pos < 24; pos++) {
                char in[64], want[80];
                snprintf(in, sizeof(in), "%.*s%s%.*s", pos, "aaaaaaaaaaaaaaaaaaaaaaaa", sp[k][0],
                         23 - pos, "bbbbbbbbbbbbbbbbbbbbbbbb");
                snprintf(want, sizeof(want), "\"%.*s%s%.*s\"", pos, "aaaaaaaaaaaaaaaaaaaaaaaa",
                         sp[k][1], 23 - pos, "bbbbbbbbbbbbbbbbbbbbbbbb");
                struct atoll_value *v = atoll_value_string(in);
                char *out = ts_json_to_string(v);
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
    roundtrip("-0.0", "-0.0", "negative zero");
    roundtrip("-3.0", "-3.0", "negative whole float");
    roundtrip("999999999999999.0", "999999999999999.0", "largest whole float without exponent");
    roundtrip("1e15", "1e+15", "1e15 as printf's %.15g writes it");
    roundtrip("[0, -1, -9223372036854775807]", "[0,-1,-9223372036854775807]", "ints");
    roundtrip("\"\\u00e9\\ud83d\\ude00\\n\\\"\\\\\\/\"", "\"\xc3\xa9\xf0\x9f\x98\x80\\n\\\"\\\\/\"",
              "escapes and surrogate pairs");
    roundtrip("\"\xc3\xa9\"", "\"\xc3\xa9\"", "raw UTF-8 kept");
    roundtrip("\"\\u0001\"", "\"\\u0001\"", "control character escaped on output");
    roundtrip("{}", "{}", "empty object");
    roundtrip("[]", "[]", "empty array");
    struct atoll_value *v = dec("{\"b\":1,\"a\":2}");
    const char *k = NULL;
    atoll_value_struct_at(v, 0, &k, NULL);
    is_str(k, "b", "member order kept");
    atoll_value_unref(v);
    ATOLL_AUTOVALUE dt = atoll_value_datetime(1624879534);
    char *s = ts_json_to_string(dt);
    is_str(s, "\"20210628T11:25:34Z\"", "datetime as XAPI string");
    free(s);
    ATOLL_AUTOVALUE bad = atoll_value_string("a\xff");
    s = ts_json_to_string(bad);
    is_str(s, "\"a\\ufffd\"", "invalid UTF-8 replaced on output");
    free(s);

    reject("", "empty input");
    reject("{", "unterminated object");
    reject("[1,]", "trailing comma");
    reject("{\"a\":1,}", "trailing comma in object");
    reject("01", "leading zero");
    reject("1.", "no digit after point");
    reject("-", "lone minus");
    reject("NaN", "NaN");
    reject("\"\\x\"", "bad escape");
    reject("\"\\ud800\"", "lone high surrogate");
    reject("\"\\udc00\"", "lone low surrogate");
    reject("\"\\u0000\"", "NUL in a string");
    reject("\"a\nb\"", "raw control character");
    reject("\"\xc3\"", "truncated UTF-8");
    reject("\"\xed\xa0\x80\"", "UTF-8 encoded surrogate");
    reject("{\"a\":1,\"a\":2}", "duplicate key");
    reject("1 2", "trailing data");
    reject("tru", "truncated literal");
    reject("1e999", "float overflow");
    reject("{1:2}", "non-string key");
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *dv = NULL;
    ok(ts_json_decode(deep, 200, &dv, &err) < 0, "rejected: nesting deeper than 64");
    atoll_err_clear(&err);
    memset(deep, '[', 60);
    memset(deep + 60, ']', 60);
    ok(ts_json_decode(deep, 120, &dv, &err) == 0, "accepted: nesting of 60");
    atoll_value_unref(dv);
}

static void test_rpc_envelopes(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_jsonrpc_call c;
    const char *v2 = "{\"jsonrpc\":\"2.0\",\"method\":\"session.login_with_password\","
                     "\"params\":[\"root\",\"pw\"],\"id\":0}";
    ok(ts_jsonrpc_decode_call(v2, strlen(v2), &c, &err) == 0, "2.0 request decodes");
    is_int(c.version, 2, "version 2 detected");
    is_str(c.method, "session.login_with_password", "method");
    is_int(atoll_value_array_len(c.params), 2, "params");
    ATOLL_AUTOVALUE ref = atoll_value_string("OpaqueRef:s");
    char *s = ts_jsonrpc_encode_success(&c, ref, NULL);
    is_str(s, "{\"jsonrpc\":\"2.0\",\"result\":\"OpaqueRef:s\",\"id\":0}", "2.0 success (golden)");
    free(s);
    ATOLL_ERR(&err, ATOLL_E_SESSION_AUTHENTICATION_FAILED, "root", "Authentication failure");
    s = ts_jsonrpc_encode_failure(&c, &err, NULL);
    is_str(s, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":1,\"message\":"
              "\"SESSION_AUTHENTICATION_FAILED\",\"data\":[\"root\",\"Authentication failure\"]},"
              "\"id\":0}",
           "2.0 failure (golden)");
    free(s);
    atoll_err_clear(&err);
    ts_jsonrpc_call_fini(&c);

    const char *v1 = "{\"method\":\"VM.get_all\",\"params\":[\"OpaqueRef:s\"],\"id\":\"abc\"}";
    ok(ts_jsonrpc_decode_call(v1, strlen(v1), &c, &err) == 0, "1.0 request decodes");
    is_int(c.version, 1, "version 1 detected");
    ATOLL_AUTOVALUE arr = atoll_value_array();
    s = ts_jsonrpc_encode_success(&c, arr, NULL);
    is_str(s, "{\"result\":[],\"error\":null,\"id\":\"abc\"}", "1.0 success (golden)");
    free(s);
    ATOLL_ERR(&err, ATOLL_E_HANDLE_INVALID, "VM", "OpaqueRef:x");
    s = ts_jsonrpc_encode_failure(&c, &err, NULL);
    is_str(s, "{\"result\":null,\"error\":[\"HANDLE_INVALID\",\"VM\",\"OpaqueRef:x\"],"
              "\"id\":\"abc\"}",
           "1.0 failure (golden)");
    free(s);
    atoll_err_clear(&err);
    ts_jsonrpc_call_fini(&c);

    const char *noparams = "{\"jsonrpc\":\"2.0\",\"method\":\"system.listMethods\",\"id\":7}";
    ok(ts_jsonrpc_decode_call(noparams, strlen(noparams), &c, &err) == 0 &&
           atoll_value_array_len(c.params) == 0,
       "missing params is an empty list");
    ts_jsonrpc_call_fini(&c);

    const char *bad[][2] = {
        {"{\"jsonrpc\":\"2.0\",\"method\":\"x\"}", "notification (no id)"},
        {"{\"jsonrpc\":\"1.5\",\"method\":\"x\",\"id\":1}", "unknown version"},
        {"{\"jsonrpc\":\"2.0\",\"method\":3,\"id\":1}", "method not a string"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":{},\"id\":1}", "params not a list"},
        {"[1,2]", "not an object"},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1", "truncated JSON"},
    };
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(bad); i++) {
        ok(ts_jsonrpc_decode_call(bad[i][0], strlen(bad[i][0]), &c, &err) < 0,
           "request rejected: %s", bad[i][1]);
        atoll_err_clear(&err);
        ts_jsonrpc_call_fini(&c);
    }
    const char *bid = "{\"jsonrpc\":\"2.0\",\"method\":3,\"id\":42}";
    ts_jsonrpc_decode_call(bid, strlen(bid), &c, &err);
    s = ts_jsonrpc_encode_protocol_error(&c, -32600, &err, NULL);
    ok(strstr(s, "\"code\":-32600") && strstr(s, "\"id\":42"), "invalid request echoes the id");
    free(s);
    atoll_err_clear(&err);
    ts_jsonrpc_call_fini(&c);

    struct atoll_value *ps[1] = {atoll_value_int(5)};
    s = ts_jsonrpc_encode_call("VM.set_VCPUs_max", ps, 1, 3, NULL);
    is_str(s, "{\"jsonrpc\":\"2.0\",\"method\":\"VM.set_VCPUs_max\",\"params\":[5],\"id\":3}",
           "client call encoding; ints are numbers");
    free(s);
    atoll_value_unref(ps[0]);
}

int main(void)
{
    test_codec();
    test_rpc_envelopes();
    return tap_done();
}

/* tests/unit/toolstack/test_codec_fuzz.c - a deterministic mutation loop over the XML-RPC and
 * JSON-RPC decoders (what clients control): seed documents are truncated, bit-flipped, spliced
 * and repeated; every input must be decoded or refused cleanly, and whatever decodes must
 * re-encode and decode again to an equal value. Bounded: a fixed number of inputs. */
#include <stdint.h>
#include <string.h>

#include "atoll/util.h"
#include "jsonrpc.h"
#include "tap.h"
#include "xmlrpc.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)rng;
}

static const char *const xml_seeds[] = {
    "<methodCall><methodName>VM.start</methodName><params><param><value>OpaqueRef:1</value>"
    "</param><param><value><boolean>0</boolean></value></param></params></methodCall>",
    "<?xml version='1.0'?>\n<methodCall>\n<methodName>a.b</methodName>\n<params>\n<param>\n"
    "<value><struct><member><name>k</name><value><array><data><value><i4>1</i4></value>"
    "<value><double>2.5</double></value><value><dateTime.iso8601>20210628T11:25:34Z"
    "</dateTime.iso8601></value></data></array></value></member></struct></value>\n</param>\n"
    "</params>\n</methodCall>\n",
    "<methodCall><methodName>x</methodName><params><param><value><base64>aGVsbG8=</base64>"
    "</value></param><param><value><nil/></value></param><param><value>&amp;&lt;</value>"
    "</param></params></methodCall>",
};

static const char *const json_seeds[] = {
    "{\"jsonrpc\":\"2.0\",\"method\":\"VM.start\",\"params\":[\"OpaqueRef:1\",false,true],"
    "\"id\":0}",
    "{\"method\":\"a.b\",\"params\":[{\"k\":[1,2.5,-3e2,null,\"\\u00e9\\ud83d\\ude00\"]}],"
    "\"id\":\"x\"}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":[[[[{}]]],\"\\\"\\\\\\n\"],\"id\":7}",
};

/* Builds one mutant of a random seed into buf; returns its length. */
static size_t mutate(const char *const *seeds, unsigned nseeds, char *buf, size_t cap)
{
    const char *s = seeds[next() % nseeds];
    size_t n = strlen(s);
    memcpy(buf, s, n);
    unsigned ops = 1 + next() % 4;
    for (unsigned k = 0; k < ops; k++) {
        switch (next() % 6) {
        case 0: /* truncate */
            n = n ? next() % n : 0;
            break;
        case 1: /* flip a byte */
            if (n)
                buf[next() % n] ^= (char)(1u << (next() % 8));
            break;
        case 2: /* random byte */
            if (n)
                buf[next() % n] = (char)(next() & 0xff);
            break;
        case 3: { /* splice another seed in */
            const char *o = seeds[next() % nseeds];
            size_t ol = strlen(o), at = n ? next() % n : 0, take = ol ? next() % ol : 0;
            if (at + take < cap) {
                memcpy(buf + at, o, take);
                if (at + take > n)
                    n = at + take;
            }
            break;
        }
        case 4: { /* duplicate a range (deepens nesting) */
            if (!n)
                break;
            size_t a = next() % n, len = 1 + next() % (n - a);
            if (n + len < cap) {
                memmove(buf + a + len, buf + a, n - a);
                n += len;
            }
            break;
        }
        default: /* delete a range */
            if (n) {
                size_t a = next() % n, len = 1 + next() % (n - a);
                memmove(buf + a, buf + a + len, n - a - len);
                n -= len;
            }
        }
    }
    return n;
}

int main(void)
{
    ts_xmlrpc_init();
    static char buf[1 << 16];
    unsigned xml_ok = 0, xml_bad = 0, xml_rt = 0, json_ok = 0, json_bad = 0, json_rt = 0;
    for (unsigned i = 0; i < 20000; i++) {
        size_t n = mutate(xml_seeds, ATOLL_ARRAY_SIZE(xml_seeds), buf, sizeof(buf));
        struct atoll_err err = ATOLL_ERR_INIT;
        char *m = NULL;
        struct atoll_value *p = NULL;
        if (ts_xmlrpc_decode_call(buf, n, &m, &p, &err) == 0) {
            xml_ok++;
            size_t len;
            char *again = ts_xmlrpc_encode_call(m, NULL, 0, &len);
            free(again);
            char *frag = ts_xmlrpc_value_to_string(p);
            struct atoll_value *back = NULL;
            struct atoll_err e2 = ATOLL_ERR_INIT;
            /* ints are sent as strings and nil as "": compare through a second round */
            if (ts_xmlrpc_decode_value(frag, strlen(frag), &back, &e2) == 0) {
                char *frag2 = ts_xmlrpc_value_to_string(back);
                xml_rt += strcmp(frag, frag2) == 0;
                free(frag2);
            }
            atoll_value_unref(back);
            atoll_err_clear(&e2);
            free(frag);
        } else {
            xml_bad += err.code == ATOLL_E_XMLRPC_UNMARSHAL_FAILURE;
        }
        free(m);
        atoll_value_unref(p);
        atoll_err_clear(&err);

        n = mutate(json_seeds, ATOLL_ARRAY_SIZE(json_seeds), buf, sizeof(buf));
        struct atoll_value *v = NULL;
        if (ts_json_decode(buf, n, &v, &err) == 0) {
            json_ok++;
            char *s = ts_json_to_string(v);
            struct atoll_value *back = NULL;
            if (ts_json_decode(s, strlen(s), &back, &err) == 0)
                json_rt += atoll_value_equal(v, back) ||
                           atoll_value_type(v) == ATOLL_VALUE_DOUBLE; /* NaN-free floats differ */
            atoll_value_unref(back);
            free(s);
            struct ts_jsonrpc_call c;
            if (ts_jsonrpc_decode_call(buf, n, &c, &err) == 0) {
                char *r = ts_jsonrpc_encode_success(&c, c.params, NULL);
                free(r);
            }
            ts_jsonrpc_call_fini(&c);
        } else {
            json_bad += err.code == ATOLL_E_JSONRPC_UNMARSHAL_FAILURE;
        }
        atoll_value_unref(v);
        atoll_err_clear(&err);
    }
    diag("XML: %u decoded, %u refused; JSON: %u decoded, %u refused", xml_ok, xml_bad, json_ok,
         json_bad);
    is_int(xml_ok + xml_bad, 20000, "every XML mutant decoded or refused with the codec's error");
    is_int(xml_rt, xml_ok, "every decoded XML value re-encodes stably");
    is_int(json_ok + json_bad, 20000, "every JSON mutant decoded or refused with the codec's error");
    ok(json_rt == json_ok, "every decoded JSON value round-trips (%u/%u)", json_rt, json_ok);
    ok(xml_ok > 100 && json_ok > 100, "the mutants exercise both paths");
    return tap_done();
}

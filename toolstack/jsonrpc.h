/*
 * toolstack/jsonrpc.h - a small, strict JSON codec (RFC 8259; our own, no
 * dependency) and the JSON-RPC 1.0/2.0 envelopes XAPI speaks on /jsonrpc.
 * Ints are numbers; datetimes are strings in XAPI's format; nil is null.
 * Threads: any. Trust: the decoder takes hostile input: nesting is bounded,
 * strings must be valid UTF-8 without NUL, numbers must fit.
 */
#ifndef TS_JSONRPC_H
#define TS_JSONRPC_H

#include <stddef.h>

#include "atoll/err.h"
#include "atoll/value.h"
#include "strbuf.h"

#define TS_JSON_MAX_DEPTH 64

/*
 * Decodes one JSON text: objects -> struct (duplicate keys refused), arrays,
 * strings, integers that fit int64 -> int, other numbers -> double,
 * true/false -> bool, null -> nil. 0 with *out (owned), or -1 with err =
 * JSONRPC_UNMARSHAL_FAILURE [expected, received] naming the offset.
 */
int ts_json_decode(const char *buf, size_t len, struct atoll_value **out, struct atoll_err *err);
/* Appends v as compact JSON. */
void ts_json_encode(struct ts_strbuf *b, const struct atoll_value *v);
/* v as an owned JSON string. */
char *ts_json_to_string(const struct atoll_value *v);

/* One JSON-RPC request. */
struct ts_jsonrpc_call {
    int version;                  /* 1 or 2 */
    char *method;                 /* owned */
    struct atoll_value *params;   /* owned array (empty when absent) */
    struct atoll_value *id;       /* owned; nil when absent */
};
void ts_jsonrpc_call_fini(struct ts_jsonrpc_call *c);

/*
 * Decodes a request body. 0 with *out, or -1 with err. When the body was JSON
 * but not a valid request, out->version and out->id are still filled (so the
 * reply can echo the id); otherwise version is 2 and id nil.
 */
int ts_jsonrpc_decode_call(const char *buf, size_t len, struct ts_jsonrpc_call *out,
                           struct atoll_err *err);
/* Replies: 1.0 {result, error: null, id}; 2.0 {jsonrpc, result, id}. */
char *ts_jsonrpc_encode_success(const struct ts_jsonrpc_call *c, const struct atoll_value *result,
                                size_t *len);
/* 1.0 {result: null, error: [CODE, params...], id};
 * 2.0 {jsonrpc, error: {code: 1, message: CODE, data: [params...]}, id}. */
char *ts_jsonrpc_encode_failure(const struct ts_jsonrpc_call *c, const struct atoll_err *err,
                                size_t *len);
/* A JSON-RPC 2.0 error with a standard code (-32700 parse error, -32600 invalid request),
 * message = what was wrong, id = c's id (c may be NULL: id null). */
char *ts_jsonrpc_encode_protocol_error(const struct ts_jsonrpc_call *c, int code,
                                       const struct atoll_err *err, size_t *len);
/* A request (client side: CLI, tests): version 2, given id. */
char *ts_jsonrpc_encode_call(const char *method, struct atoll_value *const *params, unsigned n,
                             long id, size_t *len);

#endif

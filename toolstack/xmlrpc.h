/*
 * toolstack/xmlrpc.h - the XML-RPC codec (libxml2): decodes methodCall and
 * methodResponse documents into atoll_values and encodes values the way XAPI
 * does: compact (no whitespace between tags), untyped <value> for strings,
 * int64 as decimal strings, <value></value> for empty strings and void.
 * Threads: any (call ts_xmlrpc_init once from main first).
 * Trust: decoders take hostile input: DTDs are refused, nesting and sizes bounded.
 */
#ifndef TS_XMLRPC_H
#define TS_XMLRPC_H

#include <stddef.h>

#include "atoll/err.h"
#include "atoll/value.h"
#include "strbuf.h"

/* Deepest array/struct nesting accepted in a request. */
#define TS_XMLRPC_MAX_DEPTH 32

/* Initialises libxml2 for multi-threaded use (main thread, once). */
void ts_xmlrpc_init(void);
/* Frees the calling thread's cached parser (worker threads call it before exiting). */
void ts_xmlrpc_thread_fini(void);

/*
 * Decodes <methodCall>. Returns 0 with *method (owned string) and *params (an
 * owned ATOLL_VALUE_ARRAY), or -1 with err = XMLRPC_UNMARSHAL_FAILURE
 * [expected, received] naming what was wrong.
 */
int ts_xmlrpc_decode_call(const char *buf, size_t len, char **method, struct atoll_value **params,
                          struct atoll_err *err);
/* The same, always through the libxml2 tree (ts_xmlrpc_decode_call first tries a direct
 * decoder for plain documents, with identical results; tests compare the two). */
int ts_xmlrpc_decode_call_dom(const char *buf, size_t len, char **method,
                              struct atoll_value **params, struct atoll_err *err);
/*
 * Decodes <methodResponse> (a client's view: used by the CLI and tests):
 * 0 with *result = the single param's value (owned), or -1 with err;
 * a <fault> becomes XMLRPC_UNMARSHAL_FAILURE ["response", "fault <code>: <string>"].
 */
int ts_xmlrpc_decode_response(const char *buf, size_t len, struct atoll_value **result,
                              struct atoll_err *err);
/* Decodes one "<value>...</value>" fragment (task.result). 0 or -1 with err. */
int ts_xmlrpc_decode_value(const char *buf, size_t len, struct atoll_value **out,
                           struct atoll_err *err);

/* Appends <value>...</value> for v (nil is written as the empty string). */
void ts_xmlrpc_encode_value(struct ts_strbuf *b, const struct atoll_value *v);
/* The <value> fragment as an owned string (task.result). */
char *ts_xmlrpc_value_to_string(const struct atoll_value *v);

/* A methodResponse carrying {Status: Success, Value: result}, or result itself when bare. */
char *ts_xmlrpc_encode_success(const struct atoll_value *result, int bare, size_t *len);
/* A methodResponse carrying {Status: Failure, ErrorDescription: [code, params...]}. */
char *ts_xmlrpc_encode_failure(const struct atoll_err *err, size_t *len);
/* A methodCall (client side: CLI, tests). */
char *ts_xmlrpc_encode_call(const char *method, struct atoll_value *const *params, unsigned n,
                            size_t *len);

/* The ErrorDescription array for err: [CODE, params...] (owned). */
struct atoll_value *ts_xmlrpc_error_description(const struct atoll_err *err);

#endif

/*
 * toolstack/xmlrpc_fast.h - the direct decoder of plain XML-RPC calls that
 * ts_xmlrpc_decode_call tries before libxml2 (see xmlrpc_fast.c).
 * Threads: any. Trust: the body is client data.
 */
#ifndef TS_XMLRPC_FAST_H
#define TS_XMLRPC_FAST_H

#include <stddef.h>

#include "atoll/value.h"
#include "xmlrpc.h"

/* Bodies above this size always go to libxml2. */
#define TS_XMLRPC_FAST_MAX (1u << 20)

/*
 * Decodes a <methodCall> that uses only plain XML (UTF-8, no DTD, comments,
 * CDATA, attributes, CR or character references; the usual XML declaration):
 * 1 with *method and *params exactly as the libxml2 decoder would give them,
 * or 0 (nothing allocated) for anything else, valid or not: then use libxml2,
 * which also names the errors.
 */
int ts_xmlrpc_fast_decode_call(const char *buf, size_t len, char **method,
                               struct atoll_value **params);

#endif

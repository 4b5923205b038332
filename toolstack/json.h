/*
 * toolstack/json.h - JSON text <-> atoll_value (untyped: JSON has no
 * datetimes; numbers become int64 or double). Used for stored records and
 * the etcd gateway. Threads: any. Trust: parsing takes untrusted text.
 */
#ifndef TS_JSON_H
#define TS_JSON_H

#include <stddef.h>

#include "atoll/value.h"
#include "strbuf.h"

/*
 * Parses exactly one JSON value filling text[0..len). Returns it (caller owns)
 * or NULL on any syntax error, NUL in a string, or nesting deeper than 32;
 * *err_off (may be NULL) then gets the byte offset where reading stopped.
 */
struct atoll_value *ts_json_parse(const char *text, size_t len, size_t *err_off);
/* Appends v as compact JSON (datetimes as "YYYYMMDDTHH:MM:SSZ" strings, NaN/inf as 0). */
void ts_json_put_value(struct ts_strbuf *b, const struct atoll_value *v);
/* Appends s[0..n) as a JSON string literal. */
void ts_json_put_string(struct ts_strbuf *b, const char *s, size_t n);

#endif

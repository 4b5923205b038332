/*
 * toolstack/dm_where.h - XAPI's get_all_records_where expressions:
 *   field "power_state" = "Running" and (field "is_a_template" = "false" or not true)
 * also the short form power_state = "Running", operators = and <> (also !=),
 * and / or / not, true / false, parentheses. Fields compare by their text form
 * (ints in decimal, bools as true/false, datetimes in XAPI form; enums in any
 * case). XAPI's database spelling of nested names is accepted: name__label.
 * Threads: a compiled expression is immutable and may be shared.
 * Trust: the expression is client text; parsing is bounded (length, depth).
 */
#ifndef TS_DM_WHERE_H
#define TS_DM_WHERE_H

#include "atoll/err.h"
#include "atoll/value.h"
#include "dm.h"

struct ts_dm_where;

/*
 * Compiles expr for class c. Unknown fields and syntax errors fail with
 * INVALID_VALUE ["expr", expr] (detail says where). Returns 0 and *out, or -1.
 */
int ts_dm_where_compile(const struct ts_dm_class *c, const char *expr, struct ts_dm_where **out,
                        struct atoll_err *err);
/* 1 if rec (a record of the class) matches, else 0. */
int ts_dm_where_match(const struct ts_dm_where *w, const struct atoll_value *rec);
void ts_dm_where_free(struct ts_dm_where *w); /* NULL is a no-op */

#endif

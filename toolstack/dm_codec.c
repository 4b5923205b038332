/*
 * toolstack/dm_codec.c - the stored form of records: a JSON object of field
 * name -> value (datetimes as XAPI text, maps as objects, sets as arrays),
 * readable with `sqlite3 state.db` and ready for etcd. Reading is driven by
 * the class table, so records written by older schema versions still load.
 * Threads: any. Trust: stored text is checked like client input (depth and
 * syntax); a bad field falls back to its default with a warning.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm.h"

#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "json.h"
#include "strbuf.h"

char *ts_dm_record_to_json(const struct ts_dm_class *c, const struct atoll_value *rec, size_t *len)
{
    struct ts_strbuf b = {0};
    (void)c;
    ts_strbuf_reserve(&b, 2048);
    ts_json_put_value(&b, rec);
    if (len)
        *len = b.len;
    return b.p;
}

int ts_dm_record_from_json(const struct ts_dm_class *c, const char *json, size_t len,
                           struct atoll_value **out, struct atoll_err *err)
{
    size_t off = len;
    ATOLL_AUTOVALUE raw = ts_json_parse(json, len, &off);
    if (!raw || atoll_value_type(raw) != ATOLL_VALUE_STRUCT) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "corrupt record in the object store");
        atoll_err_detail(err, "stored %s record is not a JSON object (near byte %zu)", c->name,
                         off);
        return -1;
    }
    struct atoll_value *rec = atoll_value_struct();
    for (unsigned i = 0; i < c->nfields; i++) {
        const struct ts_dm_field *f = &c->fields[i];
        struct atoll_value *v = atoll_value_struct_get(raw, f->name);
        struct atoll_value *cv = NULL;
        if (v && ts_dm_value_coerce(f->type, v, f->name, &cv, NULL) < 0) {
            log_warn("stored %s.%s has the wrong type; using its default", c->name, f->name);
            cv = NULL;
        }
        atoll_value_struct_set(rec, f->name, cv ? cv : ts_dm_field_default(c, i));
    }
    *out = rec;
    return 0;
}

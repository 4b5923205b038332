/*
 * toolstack/dm_generic_call.c - names and arities of the implicit messages
 * (get_<f>, set_<f>, add_to_<f>, add_<f>, ...) and running one by name.
 * Threads: worker threads; ts_dm_generic_call_nowait on the libevent thread.
 * Trust: message names and parameters are client data.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_generic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"

enum gkind {
    G_GET_RECORD, G_GET_ALL, G_GET_ALL_RECORDS, G_GET_ALL_RECORDS_WHERE, G_GET_BY_UUID,
    G_GET_BY_NAME_LABEL, G_CREATE, G_DESTROY, G_GET, G_SET, G_MAP_ADD, G_MAP_REMOVE, G_SET_ADD,
    G_SET_REMOVE
};

/* parameters after the session, per kind */
static const unsigned gkind_nparams[] = {
    [G_GET_RECORD] = 1, [G_GET_ALL] = 0, [G_GET_ALL_RECORDS] = 0, [G_GET_ALL_RECORDS_WHERE] = 1,
    [G_GET_BY_UUID] = 1, [G_GET_BY_NAME_LABEL] = 1, [G_CREATE] = 1, [G_DESTROY] = 1,
    [G_GET] = 1, [G_SET] = 2, [G_MAP_ADD] = 3, [G_MAP_REMOVE] = 2, [G_SET_ADD] = 2,
    [G_SET_REMOVE] = 2,
};

static const char *const param_names[] = {
    [G_GET_RECORD] = "session_id,self", [G_GET_ALL] = "session_id",
    [G_GET_ALL_RECORDS] = "session_id", [G_GET_ALL_RECORDS_WHERE] = "session_id,expr",
    [G_GET_BY_UUID] = "session_id,uuid", [G_GET_BY_NAME_LABEL] = "session_id,label",
    [G_CREATE] = "session_id,args", [G_DESTROY] = "session_id,self",
    [G_GET] = "session_id,self", [G_SET] = "session_id,self,value",
    [G_MAP_ADD] = "session_id,self,key,value", [G_MAP_REMOVE] = "session_id,self,key",
    [G_SET_ADD] = "session_id,self,value", [G_SET_REMOVE] = "session_id,self,value",
};

static int rw_of_kind(const struct ts_dm_field *f, int kind)
{
    return f && f->qual == TS_DM_RW && (kind < 0 || (int)f->type->kind == kind);
}

/* Resolves "get_name_label" etc.; 0 with *kind and *f (NULL for whole-class ones) or -1. */
static int resolve(const struct ts_dm_class *c, const char *msg, enum gkind *kind,
                   const struct ts_dm_field **f)
{
    static const struct {
        const char *name;
        enum gkind kind;
    } fixed[] = {
        {"get_record", G_GET_RECORD}, {"get_all", G_GET_ALL},
        {"get_all_records", G_GET_ALL_RECORDS}, {"get_all_records_where", G_GET_ALL_RECORDS_WHERE},
        {"get_by_uuid", G_GET_BY_UUID}, {"get_by_name_label", G_GET_BY_NAME_LABEL},
        {"create", G_CREATE}, {"destroy", G_DESTROY},
    };
    const struct ts_dm_field *x;

    if (c->flags & TS_DM_C_NOT_STORED)
        return -1;
    *f = NULL;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(fixed); i++) {
        if (strcmp(msg, fixed[i].name) != 0)
            continue;
        *kind = fixed[i].kind;
        if (*kind == G_GET_BY_UUID && !ts_dm_class_has(c, "uuid"))
            return -1;
        if (*kind == G_GET_BY_NAME_LABEL && !ts_dm_class_has(c, "name_label"))
            return -1;
        if (*kind == G_CREATE && !(c->flags & TS_DM_C_CREATE))
            return -1;
        if (*kind == G_DESTROY && !(c->flags & TS_DM_C_DESTROY))
            return -1;
        return 0;
    }
    if (!strncmp(msg, "get_", 4) && (x = ts_dm_field_find(c, msg + 4, NULL))) {
        *kind = G_GET;
    } else if (!strncmp(msg, "set_", 4) && rw_of_kind(x = ts_dm_field_find(c, msg + 4, NULL), -1)) {
        *kind = G_SET;
    } else if (!strncmp(msg, "add_to_", 7) &&
               rw_of_kind(x = ts_dm_field_find(c, msg + 7, NULL), TS_DM_MAP)) {
        *kind = G_MAP_ADD;
    } else if (!strncmp(msg, "remove_from_", 12) &&
               rw_of_kind(x = ts_dm_field_find(c, msg + 12, NULL), TS_DM_MAP)) {
        *kind = G_MAP_REMOVE;
    } else if (!strncmp(msg, "add_", 4) &&
               rw_of_kind(x = ts_dm_field_find(c, msg + 4, NULL), TS_DM_SET)) {
        *kind = G_SET_ADD;
    } else if (!strncmp(msg, "remove_", 7) &&
               rw_of_kind(x = ts_dm_field_find(c, msg + 7, NULL), TS_DM_SET)) {
        *kind = G_SET_REMOVE;
    } else {
        return -1;
    }
    *f = x;
    return 0;
}

static int str_param(struct atoll_value *const *p, unsigned i, const char *name, const char **out,
                     struct atoll_err *err)
{
    if (!p[i] || atoll_value_type(p[i]) != ATOLL_VALUE_STRING) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, name);
        return -1;
    }
    *out = atoll_value_get_string(p[i]);
    return 0;
}

static int run(struct ts_dm_db *db, const struct ts_dm_class *c, enum gkind kind,
               const struct ts_dm_field *f, struct atoll_value *const *p, struct atoll_value **out,
               struct atoll_err *err)
{
    const char *s = NULL;
    char ref[ATOLL_REF_STRLEN + 1];
    int rc;

    if (gkind_nparams[kind] >= 1 && kind != G_CREATE &&
        str_param(p, 0, kind == G_GET_BY_UUID ? "uuid" : kind == G_GET_BY_NAME_LABEL ? "label"
                        : kind == G_GET_ALL_RECORDS_WHERE ? "expr" : "self", &s, err) < 0)
        return -1;
    switch (kind) {
    case G_GET_RECORD: return ts_dm_generic_get_record(db, c, s, out, err);
    case G_GET_ALL: return ts_dm_generic_get_all(db, c, out, err);
    case G_GET_ALL_RECORDS: return ts_dm_generic_get_all_records(db, c, out, err);
    case G_GET_ALL_RECORDS_WHERE: return ts_dm_generic_get_all_records_where(db, c, s, out, err);
    case G_GET_BY_UUID: return ts_dm_generic_get_by_uuid(db, c, s, out, err);
    case G_GET_BY_NAME_LABEL: return ts_dm_generic_get_by_name_label(db, c, s, out, err);
    case G_GET: return ts_dm_generic_get_field(db, c, s, f->name, out, err);
    case G_CREATE:
        if (ts_dm_generic_create(db, c, p[0], ref, err) < 0)
            return -1;
        *out = atoll_value_string(ref);
        return 0;
    case G_DESTROY: rc = ts_dm_generic_destroy(db, c, s, err); break;
    case G_SET: rc = ts_dm_generic_set_field(db, c, s, f->name, p[1], err); break;
    case G_MAP_ADD: rc = ts_dm_generic_map_add(db, c, s, f->name, p[1], p[2], err); break;
    case G_MAP_REMOVE: rc = ts_dm_generic_map_remove(db, c, s, f->name, p[1], err); break;
    case G_SET_ADD: rc = ts_dm_generic_set_add(db, c, s, f->name, p[1], err); break;
    case G_SET_REMOVE: rc = ts_dm_generic_set_remove(db, c, s, f->name, p[1], err); break;
    default: rc = -1; break;
    }
    if (rc == 0)
        *out = atoll_value_string("");
    return rc;
}

/* Resolves the message and checks the count: 0, or -1 with err. */
static int prepare(const struct ts_dm_class *c, const char *message, unsigned n, enum gkind *kind,
                   const struct ts_dm_field **f, struct atoll_err *err)
{
    if (message && resolve(c, message, kind, f) == 0 && n == gkind_nparams[*kind])
        return 0;
    ATOLL_AUTOFREE char *name = atoll_strdup_printf("%s.%s", c->name, message ? message : "");
    if (!message || resolve(c, message, kind, f) < 0) {
        ATOLL_ERR(err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, name);
        return -1;
    }
    char want[16], got[16];
    snprintf(want, sizeof(want), "%u", gkind_nparams[*kind] + 1);
    snprintf(got, sizeof(got), "%u", n + 1);
    ATOLL_ERR(err, ATOLL_E_MESSAGE_PARAMETER_COUNT_MISMATCH, name, want, got);
    return -1;
}

int ts_dm_generic_call(struct ts_dm_db *db, const struct ts_dm_class *c, const char *message,
                       struct atoll_value *const *params, unsigned n, struct atoll_value **out,
                       struct atoll_err *err)
{
    enum gkind kind;
    const struct ts_dm_field *f;
    if (prepare(c, message, n, &kind, &f, err) < 0)
        return -1;
    return run(db, c, kind, f, params, out, err);
}

int ts_dm_generic_call_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                              const char *message, struct atoll_value *const *params, unsigned n,
                              struct atoll_value **out, struct atoll_err *err)
{
    enum gkind kind;
    const struct ts_dm_field *f;
    enum ts_dm_generic_read what;
    if (prepare(c, message, n, &kind, &f, err) < 0)
        return -1;
    switch (kind) {
    case G_GET_RECORD: what = TS_DM_READ_RECORD; break;
    case G_GET: what = TS_DM_READ_FIELD; break;
    case G_GET_ALL: what = TS_DM_READ_ALL; break;
    case G_GET_BY_UUID: what = TS_DM_READ_BY_UUID; break;
    case G_GET_BY_NAME_LABEL: what = TS_DM_READ_BY_NAME_LABEL; break;
    default: return TS_DM_DB_BUSY; /* big answers and writes: on a worker */
    }
    const char *s = NULL;
    if (gkind_nparams[kind] >= 1 &&
        str_param(params, 0, kind == G_GET_BY_UUID ? "uuid" : kind == G_GET_BY_NAME_LABEL ? "label"
                             : "self", &s, err) < 0)
        return -1;
    return ts_dm_generic_read_nowait(db, c, what, s, f ? f->name : NULL, out, err);
}

int ts_dm_generic_nowait_ok(const struct ts_dm_class *c, const char *message)
{
    enum gkind kind;
    const struct ts_dm_field *f;
    if (!message || resolve(c, message, &kind, &f) < 0)
        return 0;
    return kind == G_GET_RECORD || kind == G_GET || kind == G_GET_ALL || kind == G_GET_BY_UUID ||
           kind == G_GET_BY_NAME_LABEL;
}

int ts_dm_generic_arity(const struct ts_dm_class *c, const char *message,
                        const char **pnames)
{
    enum gkind kind;
    const struct ts_dm_field *f;
    if (!message || resolve(c, message, &kind, &f) < 0)
        return -1;
    if (pnames)
        *pnames = param_names[kind];
    return (int)gkind_nparams[kind];
}

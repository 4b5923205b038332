/*
 * toolstack/dm_generic_rpc.c - registers every implicit datamodel message of
 * every stored class with the dispatcher (rpc.h), with its role and flags;
 * each handler runs ts_dm_generic_call. Also the message class's explicit
 * messages (create, get, get_since, destroy_many from dm_message.c).
 * Threads: registration on the main thread before ts_rpc_start; handlers on workers,
 * the small reads (TS_RPC_NOWAIT) first on the libevent thread without blocking.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_generic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_explicit.h"
#include "dm_message.h"
#include "rpc.h"

/* ---- registration with the dispatcher ---- */

struct gmethod {
    struct ts_dm_db *db;
    const struct ts_dm_class *c;
    char *msg;
};

static int handler(struct ts_call *call, struct atoll_value *const *params, unsigned n,
                   struct atoll_value **result, struct atoll_err *err)
{
    struct gmethod *g = call->data;
    if (call->nowait) {
        int rc = ts_dm_generic_call_nowait(g->db, g->c, g->msg, params, n, result, err);
        return rc == TS_DM_DB_BUSY ? TS_RPC_AGAIN : rc;
    }
    return ts_dm_generic_call(g->db, g->c, g->msg, params, n, result, err);
}

static int reg(struct ts_dm_db *db, const struct ts_dm_class *c, const char *msg,
               enum ts_role role, unsigned flags, unsigned *count)
{
    const char *pnames = NULL;
    int n = ts_dm_generic_arity(c, msg, &pnames);
    if (n < 0) {
        log_error("no generic message %s.%s", c->name, msg);
        return -1;
    }
    struct gmethod *g = atoll_calloc(1, sizeof(*g)); /* lives as long as the dispatcher */
    g->db = db;
    g->c = c;
    g->msg = atoll_strdup(msg);
    ATOLL_AUTOFREE char *name = atoll_strdup_printf("%s.%s", c->name, msg);
    struct ts_rpc_method m = {
        .name = name,
        .min_params = (unsigned)n + 1,
        .max_params = (unsigned)n + 1,
        .role = role,
        .flags = flags,
        .fn = handler,
        .data = g,
        .param_names = pnames,
    };
    if (c == ts_dm_class_find("secret") && (flags & TS_RPC_WRITE))
        m.flags |= TS_RPC_SECRET;
    if (!(flags & TS_RPC_WRITE) && ts_dm_generic_nowait_ok(c, msg))
        m.flags |= TS_RPC_NOWAIT; /* small cache reads: first tried on the libevent thread */
    if (ts_rpc_register_default(&m) < 0)
        return -1;
    (*count)++;
    return 0;
}

/* ---- the message class's explicit messages (dm_message.c) ---- */

static int param_since(struct atoll_value *const *p, unsigned i, int64_t *out,
                       struct atoll_err *err)
{
    const struct ts_dm_class *mc = ts_dm_class_find("message");
    const struct ts_dm_field *ts = ts_dm_field_find(mc, "timestamp", NULL);
    ATOLL_AUTOVALUE v = NULL;
    if (ts_dm_value_coerce(ts->type, p[i], "since", &v, err) < 0)
        return -1;
    *out = atoll_value_get_datetime(v);
    return 0;
}

static int m_msg_create(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    const char *name, *cls, *uuid, *body;
    int64_t prio;
    char ref[ATOLL_REF_STRLEN + 1];
    if (ts_rpc_param_string(p, 0, "name", &name, err) < 0 ||
        ts_rpc_param_int(p, 1, "priority", &prio, err) < 0 ||
        ts_rpc_param_string(p, 2, "cls", &cls, err) < 0 ||
        ts_rpc_param_string(p, 3, "obj_uuid", &uuid, err) < 0 ||
        ts_rpc_param_string(p, 4, "body", &body, err) < 0 ||
        ts_dm_message_create(call->data, name, prio, cls, uuid, body, ref, err) < 0)
        return -1;
    *result = atoll_value_string(ref);
    return 0;
}

static int m_msg_get(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    const char *cls, *uuid;
    int64_t since;
    if (ts_rpc_param_string(p, 0, "cls", &cls, err) < 0 ||
        ts_rpc_param_string(p, 1, "obj_uuid", &uuid, err) < 0 || param_since(p, 2, &since, err) < 0)
        return -1;
    return ts_dm_message_get(call->data, cls, uuid, since, result, err);
}

static int m_msg_get_since(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                           struct atoll_value **result, struct atoll_err *err)
{
    int64_t since;
    if (param_since(p, 0, &since, err) < 0)
        return -1;
    return ts_dm_message_get(call->data, NULL, NULL, since, result, err);
}

static int m_msg_destroy_many(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                              struct atoll_value **result, struct atoll_err *err)
{
    return ts_dm_message_destroy_many(call->data, p[0], err);
}

static int register_messages(struct ts_dm_db *db)
{
    const struct ts_rpc_method m[] = {
        {"message.create", 6, 6, TS_ROLE_POOL_OPERATOR, TS_RPC_WRITE, m_msg_create, db, NULL,
         "session_id,name,priority,cls,obj_uuid,body"},
        {"message.get", 4, 4, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_msg_get, db, NULL,
         "session_id,cls,obj_uuid,since"},
        {"message.get_since", 2, 2, TS_ROLE_READ_ONLY, TS_RPC_NO_ASYNC, m_msg_get_since, db, NULL,
         "session_id,since"},
        {"message.destroy_many", 2, 2, TS_ROLE_POOL_OPERATOR, TS_RPC_WRITE, m_msg_destroy_many, db,
         NULL, "session_id,messages"},
    };
    int rc = 0;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(m); i++)
        rc |= ts_rpc_register_default(&m[i]);
    return rc;
}

int ts_dm_generic_register(struct ts_dm_db *db, struct atoll_err *err)
{
    unsigned count = 0;
    int rc = 0;
    const unsigned RO = TS_RPC_NO_ASYNC, WR = TS_RPC_NO_ASYNC | TS_RPC_WRITE;

    for (unsigned i = 0; i < ts_dm_nclasses; i++) {
        const struct ts_dm_class *c = ts_dm_classes[i];
        if (c->flags & TS_DM_C_NOT_STORED)
            continue;
        enum ts_role rd = c->read_role;
        rc |= reg(db, c, "get_record", rd, RO, &count);
        rc |= reg(db, c, "get_all", rd, RO, &count);
        rc |= reg(db, c, "get_all_records", rd, RO, &count);
        rc |= reg(db, c, "get_all_records_where", rd,
                  RO | TS_RPC_HIDDEN, &count);
        if (ts_dm_class_has(c, "uuid"))
            rc |= reg(db, c, "get_by_uuid", rd, RO, &count);
        if (ts_dm_class_has(c, "name_label"))
            rc |= reg(db, c, "get_by_name_label", rd, RO, &count);
        if (c->flags & TS_DM_C_CREATE)
            rc |= reg(db, c, "create", c->create_role, TS_RPC_WRITE, &count);
        if (c->flags & TS_DM_C_DESTROY)
            rc |= reg(db, c, "destroy", c->create_role, TS_RPC_WRITE, &count);
        for (unsigned j = 0; j < c->nfields; j++) {
            const struct ts_dm_field *f = &c->fields[j];
            char msg[128];
            snprintf(msg, sizeof(msg), "get_%s", f->name);
            rc |= reg(db, c, msg, ts_dm_field_read_role(c, f), RO, &count);
            if (f->qual != TS_DM_RW)
                continue;
            enum ts_role wr = ts_dm_field_write_role(c, f);
            snprintf(msg, sizeof(msg), "set_%s", f->name);
            rc |= reg(db, c, msg, wr, WR, &count);
            if (f->type->kind == TS_DM_MAP) {
                snprintf(msg, sizeof(msg), "add_to_%s", f->name);
                rc |= reg(db, c, msg, wr, WR, &count);
                snprintf(msg, sizeof(msg), "remove_from_%s", f->name);
                rc |= reg(db, c, msg, wr, WR, &count);
            } else if (f->type->kind == TS_DM_SET) {
                snprintf(msg, sizeof(msg), "add_%s", f->name);
                rc |= reg(db, c, msg, wr, WR, &count);
                snprintf(msg, sizeof(msg), "remove_%s", f->name);
                rc |= reg(db, c, msg, wr, WR, &count);
            }
        }
    }
    rc |= register_messages(db);
    rc |= ts_dm_explicit_register(db);
    if (rc) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register the generic datamodel methods");
        return -1;
    }
    log_info("registered %u generic datamodel methods", count);
    return 0;
}

/*
 * toolstack/dm_generic_rpc.c - registers every implicit datamodel message of
 * every stored class with the dispatcher (rpc.h), with its role and flags;
 * each handler runs ts_dm_generic_call.
 * Threads: registration on the main thread before ts_rpc_start; handlers on workers.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_generic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
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
    if (ts_rpc_register_default(&m) < 0)
        return -1;
    (*count)++;
    return 0;
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
    if (rc) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register the generic datamodel methods");
        return -1;
    }
    log_info("registered %u generic datamodel methods", count);
    return 0;
}

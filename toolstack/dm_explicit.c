/*
 * toolstack/dm_explicit.c - explicit messages that are plain, typed edits of
 * one field (XAPI declares them because the field is read-only to the generic
 * setters: VDI/SR names go through the SR backend, task progress through its
 * owner, subject roles through RBAC). One table line per message; the edit
 * goes through dm_generic (type-checked, links kept, one revision, an event).
 * Threads: registration on the main thread; handlers on worker threads.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_explicit.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "rpc.h"

enum op { SET, ADD, REMOVE };

static const struct editor {
    const char *cls, *msg, *field;
    enum op op;
} editors[] = {
    {"VDI", "set_name_label", "name_label", SET},
    {"VDI", "set_name_description", "name_description", SET},
    {"VDI", "set_on_boot", "on_boot", SET},
    {"VDI", "set_allow_caching", "allow_caching", SET},
    {"VDI", "set_read_only", "read_only", SET},
    {"VDI", "set_sharable", "sharable", SET},
    {"SR", "set_name_label", "name_label", SET},
    {"SR", "set_name_description", "name_description", SET},
    {"SR", "set_physical_size", "physical_size", SET},
    {"SR", "set_shared", "shared", SET},
    {"PBD", "set_device_config", "device_config", SET},
    {"VIF", "set_locking_mode", "locking_mode", SET},
    {"VIF", "set_ipv4_allowed", "ipv4_allowed", SET},
    {"VIF", "add_ipv4_allowed", "ipv4_allowed", ADD},
    {"VIF", "remove_ipv4_allowed", "ipv4_allowed", REMOVE},
    {"VIF", "set_ipv6_allowed", "ipv6_allowed", SET},
    {"VIF", "add_ipv6_allowed", "ipv6_allowed", ADD},
    {"VIF", "remove_ipv6_allowed", "ipv6_allowed", REMOVE},
    {"network", "set_default_locking_mode", "default_locking_mode", SET},
    {"network", "add_purpose", "purpose", ADD},
    {"network", "remove_purpose", "purpose", REMOVE},
    {"task", "set_progress", "progress", SET},
    {"task", "set_status", "status", SET},
    {"task", "set_result", "result", SET},
    {"task", "set_error_info", "error_info", SET},
    {"subject", "add_to_roles", "roles", ADD},
    {"subject", "remove_from_roles", "roles", REMOVE},
};

struct binding {
    const struct editor *ed;
    struct ts_dm_db *db;
};

static int m_edit(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    const struct binding *b = call->data;
    const struct editor *ed = b->ed;
    const struct ts_dm_class *c = ts_dm_class_find(ed->cls);
    const char *ref;
    struct ts_dm_db *db = b->db;
    if (ts_rpc_param_string(p, 0, "self", &ref, err) < 0)
        return -1;
    if (ed->op != SET)
        return ts_dm_generic_update_set(db, c, ref, ed->field, p[1], ed->op == ADD, err);
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set(f, ed->field, atoll_value_ref(p[1]));
    return ts_dm_generic_update(db, c, ref, f, err);
}

/* blob.create(mime_type[, public]): the record; the content goes through /blob. */
static int m_blob_create(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    const char *mime;
    int pub = 0;
    char ref[ATOLL_REF_STRLEN + 1];
    if (ts_rpc_param_string(p, 0, "mime_type", &mime, err) < 0 ||
        ts_rpc_param_bool(p, 1, "public", &pub, err) < 0)
        return -1;
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_string(f, "mime_type", mime);
    atoll_value_struct_set_bool(f, "public", pub);
    atoll_value_struct_set(f, "last_updated", atoll_value_datetime((int64_t)time(NULL)));
    if (ts_dm_generic_insert(call->data, ts_dm_class_find("blob"), f, ref, err) < 0)
        return -1;
    *result = atoll_value_string(ref);
    return 0;
}

int ts_dm_explicit_register(struct ts_dm_db *db)
{
    int rc = 0;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(editors); i++) {
        const struct ts_dm_class *c = ts_dm_class_find(editors[i].cls);
        const struct ts_dm_field *f = c ? ts_dm_field_find(c, editors[i].field, NULL) : NULL;
        if (!f) {
            log_error("explicit message %s.%s names no field %s", editors[i].cls, editors[i].msg,
                      editors[i].field);
            rc = -1;
            continue;
        }
        struct binding *b = atoll_calloc(1, sizeof(*b)); /* lives as long as the dispatcher */
        b->ed = &editors[i];
        b->db = db;
        ATOLL_AUTOFREE char *name = atoll_strdup_printf("%s.%s", editors[i].cls, editors[i].msg);
        struct ts_rpc_method m = {
            .name = name,
            .min_params = 3,
            .max_params = 3,
            .role = ts_dm_field_write_role(c, f),
            .flags = TS_RPC_NO_ASYNC | TS_RPC_WRITE,
            .fn = m_edit,
            .data = b,
            .param_names = "session_id,self,value",
        };
        rc |= ts_rpc_register_default(&m);
    }
    static struct atoll_value *blob_defaults[3];
    if (!blob_defaults[2])
        blob_defaults[2] = atoll_value_bool(0);
    const struct ts_dm_class *blob = ts_dm_class_find("blob");
    struct ts_rpc_method m = {
        .name = "blob.create",
        .min_params = 2,
        .max_params = 3,
        .role = blob->create_role,
        .flags = TS_RPC_WRITE,
        .fn = m_blob_create,
        .data = db,
        .defaults = blob_defaults,
        .param_names = "session_id,mime_type,public",
    };
    rc |= ts_rpc_register_default(&m);
    return rc;
}

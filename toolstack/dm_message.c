/*
 * toolstack/dm_message.c - message.create / get / get_since / destroy_many
 * over the record cache; the implicit ones (get_record, get_all_records,
 * destroy, ...) come from dm_generic.c like for every class.
 * Threads: worker threads. Trust: parameters are client data.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_message.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#include "atoll/util.h"
#include "dm_generic.h"

/* message cls value -> datamodel class, for the ones Atoll models */
static const struct {
    const char *cls, *dm;
} cls_map[] = {{"VM", "VM"}, {"Host", "host"}, {"SR", "SR"}, {"Pool", "pool"}, {"VDI", "VDI"}};

static const struct ts_dm_class *message_class(void)
{
    return ts_dm_class_find("message");
}

int ts_dm_message_create(struct ts_dm_db *db, const char *name, int64_t priority,
                         const char *cls, const char *obj_uuid, const char *body,
                         char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    const struct ts_dm_class *mc = message_class();
    const struct ts_dm_field *cf = ts_dm_field_find(mc, "cls", NULL);
    ATOLL_AUTOVALUE in = atoll_value_string(cls ? cls : "");
    ATOLL_AUTOVALUE canon = NULL;
    if (ts_dm_value_coerce(cf->type, in, "cls", &canon, err) < 0)
        return -1;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(cls_map); i++) {
        if (strcmp(cls_map[i].cls, atoll_value_get_string(canon)) != 0)
            continue;
        char ref[ATOLL_REF_STRLEN + 1];
        int rc = obj_uuid ? ts_dm_db_find_uuid(db, ts_dm_class_find(cls_map[i].dm), obj_uuid,
                                               ref, err)
                          : 0;
        if (rc < 0)
            return -1;
        if (rc == 0) {
            ATOLL_ERR(err, ATOLL_E_UUID_INVALID, cls_map[i].dm, obj_uuid ? obj_uuid : "");
            return -1;
        }
    }
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_string(f, "name", name ? name : "");
    atoll_value_struct_set_int(f, "priority", priority);
    atoll_value_struct_set(f, "cls", atoll_value_ref(canon));
    atoll_value_struct_set_string(f, "obj_uuid", obj_uuid ? obj_uuid : "");
    atoll_value_struct_set_string(f, "body", body ? body : "");
    atoll_value_struct_set(f, "timestamp", atoll_value_datetime((int64_t)time(NULL)));
    return ts_dm_generic_insert(db, mc, f, ref_out, err);
}

struct get_arg {
    const char *cls, *obj_uuid;
    int64_t since;
    struct atoll_value *out;
};

static int match(void *arg, const char *ref, struct atoll_value *rec)
{
    struct get_arg *g = arg;
    struct atoll_value *ts = atoll_value_struct_get(rec, "timestamp");
    if (!ts || atoll_value_get_datetime(ts) <= g->since)
        return 0;
    if (g->cls) {
        const char *c = atoll_value_struct_get_string(rec, "cls");
        const char *u = atoll_value_struct_get_string(rec, "obj_uuid");
        if (!c || strcasecmp(c, g->cls) != 0 || !u || strcmp(u, g->obj_uuid) != 0)
            return 0;
    }
    atoll_value_struct_set(g->out, ref, atoll_value_ref(rec));
    return 0;
}

int ts_dm_message_get(struct ts_dm_db *db, const char *cls, const char *obj_uuid, int64_t since,
                      struct atoll_value **out, struct atoll_err *err)
{
    struct get_arg g = {.cls = cls, .obj_uuid = obj_uuid ? obj_uuid : "", .since = since,
                        .out = atoll_value_struct()};
    if (ts_dm_db_foreach(db, message_class(), match, &g, err) < 0) {
        atoll_value_unref(g.out);
        return -1;
    }
    *out = g.out;
    return 0;
}

static int do_destroy_many(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct atoll_value *refs = arg;
    for (size_t i = 0; i < atoll_value_array_len(refs); i++) {
        const char *r = atoll_value_get_string(atoll_value_array_get(refs, i));
        if (ts_dm_txn_delete(t, message_class(), r ? r : "", err) < 0)
            return -1;
    }
    return 0;
}

int ts_dm_message_destroy_many(struct ts_dm_db *db, struct atoll_value *refs,
                               struct atoll_err *err)
{
    if (!refs || atoll_value_type(refs) != ATOLL_VALUE_ARRAY) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "messages");
        return -1;
    }
    for (size_t i = 0; i < atoll_value_array_len(refs); i++) {
        if (atoll_value_type(atoll_value_array_get(refs, i)) != ATOLL_VALUE_STRING) {
            ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "messages");
            return -1;
        }
    }
    return ts_dm_db_txn(db, do_destroy_many, refs, NULL, err);
}

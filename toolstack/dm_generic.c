/*
 * toolstack/dm_generic.c - implicit XenAPI messages driven by the datamodel
 * table: reads come from the record cache (dm_db.c), writes are dm_db
 * transactions (so every write, add_to_other_config included, is one store
 * revision and therefore one event), values are coerced to the field type.
 * Threads: worker threads; ts_dm_generic_read_nowait also on the libevent thread.
 * Trust: all parameters are client data.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_generic.h"

#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_where.h"

static int bad_handle(const struct ts_dm_class *c, const char *ref, struct atoll_err *err)
{
    ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, c->name, ref ? ref : "");
    return -1;
}

static int unknown_message(const struct ts_dm_class *c, const char *msg, struct atoll_err *err)
{
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.%s", c->name, msg);
    ATOLL_ERR(err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, m);
    return -1;
}

/*
 * The reads take nowait: 0 syncs with the store first (workers), 1 reads the
 * cache without waiting (libevent thread) and returns TS_DM_DB_BUSY when it cannot.
 */
static int get_record(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                      int nowait, struct atoll_value **out, struct atoll_err *err)
{
    int rc = nowait ? ts_dm_db_get_nowait(db, c, ref ? ref : "", out)
                    : ts_dm_db_get(db, c, ref ? ref : "", out, NULL, err);
    if (rc < 0)
        return rc;
    return rc ? 0 : bad_handle(c, ref, err);
}

static int visit(struct ts_dm_db *db, const struct ts_dm_class *c, int nowait,
                 ts_dm_db_visit_fn fn, void *arg, struct atoll_err *err)
{
    return nowait ? ts_dm_db_foreach_nowait(db, c, fn, arg) : ts_dm_db_foreach(db, c, fn, arg, err);
}

int ts_dm_generic_get_record(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             struct atoll_value **out, struct atoll_err *err)
{
    return get_record(db, c, ref, 0, out, err);
}

static int add_ref(void *arg, const char *ref, struct atoll_value *rec)
{
    (void)rec;
    atoll_value_array_append(arg, atoll_value_string(ref));
    return 0;
}

static int get_all(struct ts_dm_db *db, const struct ts_dm_class *c, int nowait,
                   struct atoll_value **out, struct atoll_err *err)
{
    ATOLL_AUTOVALUE a = atoll_value_array();
    int rc = visit(db, c, nowait, add_ref, a, err);
    if (rc < 0)
        return rc;
    *out = atoll_steal_ptr(&a);
    return 0;
}

int ts_dm_generic_get_all(struct ts_dm_db *db, const struct ts_dm_class *c,
                          struct atoll_value **out, struct atoll_err *err)
{
    return get_all(db, c, 0, out, err);
}

struct where_arg {
    const struct ts_dm_where *w;
    struct atoll_value *out;
    int refs_only;
};

static int add_record(void *arg, const char *ref, struct atoll_value *rec)
{
    struct where_arg *wa = arg;
    if (wa->w && !ts_dm_where_match(wa->w, rec))
        return 0;
    if (wa->refs_only)
        atoll_value_array_append(wa->out, atoll_value_string(ref));
    else
        atoll_value_struct_set(wa->out, ref, atoll_value_ref(rec));
    return 0;
}

int ts_dm_generic_get_all_records(struct ts_dm_db *db, const struct ts_dm_class *c,
                                  struct atoll_value **out, struct atoll_err *err)
{
    struct where_arg wa = {.out = atoll_value_struct()};
    if (ts_dm_db_foreach(db, c, add_record, &wa, err) < 0) {
        atoll_value_unref(wa.out);
        return -1;
    }
    *out = wa.out;
    return 0;
}

static int where(struct ts_dm_db *db, const struct ts_dm_class *c, const char *expr,
                 int refs_only, struct atoll_value **out, struct atoll_err *err)
{
    struct ts_dm_where *w = NULL;
    if (ts_dm_where_compile(c, expr, &w, err) < 0)
        return -1;
    struct where_arg wa = {.w = w, .refs_only = refs_only};
    wa.out = refs_only ? atoll_value_array() : atoll_value_struct();
    int rc = ts_dm_db_foreach(db, c, add_record, &wa, err);
    ts_dm_where_free(w);
    if (rc < 0) {
        atoll_value_unref(wa.out);
        return -1;
    }
    *out = wa.out;
    return 0;
}

int ts_dm_generic_get_all_records_where(struct ts_dm_db *db, const struct ts_dm_class *c,
                                        const char *expr, struct atoll_value **out,
                                        struct atoll_err *err)
{
    return where(db, c, expr, 0, out, err);
}

static int get_by_uuid(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                       int nowait, struct atoll_value **out, struct atoll_err *err)
{
    char ref[ATOLL_REF_STRLEN + 1];
    int rc = !uuid ? 0
             : nowait ? ts_dm_db_find_uuid_nowait(db, c, uuid, ref)
                      : ts_dm_db_find_uuid(db, c, uuid, ref, err);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        ATOLL_ERR(err, ATOLL_E_UUID_INVALID, c->name, uuid ? uuid : "");
        return -1;
    }
    *out = atoll_value_string(ref);
    return 0;
}

int ts_dm_generic_get_by_uuid(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                              struct atoll_value **out, struct atoll_err *err)
{
    return get_by_uuid(db, c, uuid, 0, out, err);
}

struct label_arg {
    const char *label;
    struct atoll_value *out;
};

static int match_label(void *arg, const char *ref, struct atoll_value *rec)
{
    struct label_arg *la = arg;
    const char *l = atoll_value_struct_get_string(rec, "name_label");
    if (l && strcmp(l, la->label) == 0)
        atoll_value_array_append(la->out, atoll_value_string(ref));
    return 0;
}

static int get_by_name_label(struct ts_dm_db *db, const struct ts_dm_class *c, const char *label,
                             int nowait, struct atoll_value **out, struct atoll_err *err)
{
    struct label_arg la = {.label = label ? label : "", .out = atoll_value_array()};
    int rc = visit(db, c, nowait, match_label, &la, err);
    if (rc < 0) {
        atoll_value_unref(la.out);
        return rc;
    }
    *out = la.out;
    return 0;
}

int ts_dm_generic_get_by_name_label(struct ts_dm_db *db, const struct ts_dm_class *c,
                                    const char *label, struct atoll_value **out,
                                    struct atoll_err *err)
{
    return get_by_name_label(db, c, label, 0, out, err);
}

static int get_field(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                     const char *field, int nowait, struct atoll_value **out,
                     struct atoll_err *err)
{
    ATOLL_AUTOVALUE rec = NULL;
    int rc = get_record(db, c, ref, nowait, &rec, err);
    if (rc < 0)
        return rc;
    struct atoll_value *v = atoll_value_struct_get(rec, field);
    if (!v)
        return unknown_message(c, "get_field", err);
    *out = atoll_value_ref(v);
    return 0;
}

int ts_dm_generic_get_field(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                            const char *field, struct atoll_value **out, struct atoll_err *err)
{
    return get_field(db, c, ref, field, 0, out, err);
}

int ts_dm_generic_read_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                              enum ts_dm_generic_read what, const char *arg, const char *field,
                              struct atoll_value **out, struct atoll_err *err)
{
    switch (what) {
    case TS_DM_READ_RECORD: return get_record(db, c, arg, 1, out, err);
    case TS_DM_READ_FIELD: return get_field(db, c, arg, field, 1, out, err);
    case TS_DM_READ_ALL: return get_all(db, c, 1, out, err);
    case TS_DM_READ_BY_UUID: return get_by_uuid(db, c, arg, 1, out, err);
    case TS_DM_READ_BY_NAME_LABEL: return get_by_name_label(db, c, arg, 1, out, err);
    }
    return TS_DM_DB_BUSY;
}

/* ---- writes ---- */

/* Every ref inside v (a value of type t) must be NULL or a live object of its class. */
static int check_refs(struct ts_dm_txn *t, const struct ts_dm_type *ty, struct atoll_value *v,
                      struct atoll_err *err)
{
    switch (ty->kind) {
    case TS_DM_REF: {
        const char *r = atoll_value_get_string(v);
        if (!r || strcmp(r, ATOLL_REF_NULL) == 0 || !*r)
            return 0;
        const struct ts_dm_class *tc = ts_dm_class_find(ty->cls);
        if (!tc || !ts_dm_txn_get(t, tc, r, NULL)) {
            ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, ty->cls, r);
            return -1;
        }
        return 0;
    }
    case TS_DM_SET:
        for (size_t i = 0; i < atoll_value_array_len(v); i++)
            if (check_refs(t, ty->elem, atoll_value_array_get(v, i), err) < 0)
                return -1;
        return 0;
    case TS_DM_MAP:
        for (size_t i = 0; i < atoll_value_struct_len(v); i++) {
            const char *k;
            struct atoll_value *e;
            atoll_value_struct_at(v, i, &k, &e);
            if (ty->key->kind == TS_DM_REF) {
                ATOLL_AUTOVALUE kv = atoll_value_string(k);
                if (check_refs(t, ty->key, kv, err) < 0)
                    return -1;
            }
            if (check_refs(t, ty->elem, e, err) < 0)
                return -1;
        }
        return 0;
    default:
        return 0;
    }
}

enum edit_op { E_SET, E_MAP_ADD, E_MAP_REMOVE, E_SET_ADD, E_SET_REMOVE, E_FIELDS, E_TOUCH };

struct edit {
    const struct ts_dm_class *c;
    const char *ref;
    enum edit_op op;
    const struct ts_dm_field *f;
    struct atoll_value *value; /* canonical value (E_SET, E_MAP_ADD value, E_SET_* element) */
    const char *key;           /* canonical map key text */
    struct atoll_value *fields; /* E_FIELDS: canonical struct name -> value */
};

static int do_edit(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct edit *e = arg;
    struct atoll_value *rec = NULL;

    if (!ts_dm_txn_get_mut(t, e->c, e->ref, &rec))
        return bad_handle(e->c, e->ref, err);
    ATOLL_AUTOVALUE keep = rec;
    struct atoll_value *cur = e->f ? atoll_value_struct_get(rec, e->f->name) : NULL;
    switch (e->op) {
    case E_SET:
        if (check_refs(t, e->f->type, e->value, err) < 0)
            return -1;
        atoll_value_struct_set(rec, e->f->name, atoll_value_ref(e->value));
        break;
    case E_MAP_ADD: {
        if (atoll_value_struct_get(cur, e->key)) {
            const char *uuid = atoll_value_struct_get_string(rec, "uuid");
            ATOLL_ERR(err, ATOLL_E_MAP_DUPLICATE_KEY, e->c->name, e->f->name, uuid ? uuid : "",
                      e->key);
            return -1;
        }
        if (check_refs(t, e->f->type->elem, e->value, err) < 0)
            return -1;
        struct atoll_value *m = atoll_value_dup(cur);
        atoll_value_struct_set(m, e->key, atoll_value_ref(e->value));
        atoll_value_struct_set(rec, e->f->name, m);
        break;
    }
    case E_MAP_REMOVE: {
        if (!atoll_value_struct_get(cur, e->key))
            return 0; /* nothing to do, nothing written */
        struct atoll_value *m = atoll_value_dup(cur);
        atoll_value_struct_remove(m, e->key);
        atoll_value_struct_set(rec, e->f->name, m);
        break;
    }
    case E_SET_ADD:
    case E_SET_REMOVE: {
        size_t n = atoll_value_array_len(cur), at = n;
        for (size_t i = 0; i < n && at == n; i++)
            if (atoll_value_equal(atoll_value_array_get(cur, i), e->value))
                at = i;
        if ((e->op == E_SET_ADD) == (at < n))
            return 0; /* already there / already gone */
        if (e->op == E_SET_ADD && check_refs(t, e->f->type->elem, e->value, err) < 0)
            return -1;
        struct atoll_value *s = atoll_value_dup(cur);
        if (e->op == E_SET_ADD)
            atoll_value_array_append(s, atoll_value_ref(e->value));
        else
            atoll_value_array_remove(s, at);
        atoll_value_struct_set(rec, e->f->name, s);
        break;
    }
    case E_FIELDS:
        for (size_t i = 0; i < atoll_value_struct_len(e->fields); i++) {
            const char *k;
            struct atoll_value *v;
            atoll_value_struct_at(e->fields, i, &k, &v);
            atoll_value_struct_set(rec, k, atoll_value_ref(v));
        }
        break;
    case E_TOUCH:
        return ts_dm_txn_touch(t, e->c, e->ref, err);
    }
    return ts_dm_txn_put(t, e->c, e->ref, atoll_steal_ptr(&keep), 0, err);
}

/* Finds a field that clients may write, with the kind the message needs. */
static const struct ts_dm_field *rw_field(const struct ts_dm_class *c, const char *name,
                                          int kind, const char *msg, struct atoll_err *err)
{
    const struct ts_dm_field *f = ts_dm_field_find(c, name ? name : "", NULL);
    if (!f || f->qual != TS_DM_RW || (kind >= 0 && (int)f->type->kind != kind)) {
        unknown_message(c, msg, err);
        return NULL;
    }
    return f;
}

static int run_edit(struct ts_dm_db *db, struct edit *e, struct atoll_err *err)
{
    return ts_dm_db_txn(db, do_edit, e, NULL, err);
}

int ts_dm_generic_set_field(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                            const char *field, struct atoll_value *value, struct atoll_err *err)
{
    const struct ts_dm_field *f = rw_field(c, field, -1, "set_field", err);
    ATOLL_AUTOVALUE v = NULL;
    if (!f || ts_dm_value_coerce(f->type, value, f->name, &v, err) < 0)
        return -1;
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = E_SET, .f = f, .value = v};
    return run_edit(db, &e, err);
}

static int map_key(const struct ts_dm_field *f, struct atoll_value *key, char **out,
                   struct atoll_err *err)
{
    ATOLL_AUTOVALUE k = NULL;
    if (ts_dm_value_coerce(f->type->key, key, f->name, &k, err) < 0)
        return -1;
    *out = ts_dm_value_text(k);
    return 0;
}

int ts_dm_generic_map_add(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          const char *field, struct atoll_value *key, struct atoll_value *value,
                          struct atoll_err *err)
{
    const struct ts_dm_field *f = rw_field(c, field, TS_DM_MAP, "add_to_field", err);
    ATOLL_AUTOFREE char *k = NULL;
    ATOLL_AUTOVALUE v = NULL;
    if (!f || map_key(f, key, &k, err) < 0 ||
        ts_dm_value_coerce(f->type->elem, value, f->name, &v, err) < 0)
        return -1;
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = E_MAP_ADD, .f = f, .value = v, .key = k};
    return run_edit(db, &e, err);
}

int ts_dm_generic_map_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *key, struct atoll_err *err)
{
    const struct ts_dm_field *f = rw_field(c, field, TS_DM_MAP, "remove_from_field", err);
    ATOLL_AUTOFREE char *k = NULL;
    if (!f || map_key(f, key, &k, err) < 0)
        return -1;
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = E_MAP_REMOVE, .f = f, .key = k};
    return run_edit(db, &e, err);
}

static int set_edit(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                    const char *field, struct atoll_value *value, enum edit_op op,
                    struct atoll_err *err)
{
    const struct ts_dm_field *f = rw_field(c, field, TS_DM_SET, "add_field", err);
    ATOLL_AUTOVALUE v = NULL;
    if (!f || ts_dm_value_coerce(f->type->elem, value, f->name, &v, err) < 0)
        return -1;
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = op, .f = f, .value = v};
    return run_edit(db, &e, err);
}

int ts_dm_generic_update_set(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *value, int add,
                             struct atoll_err *err)
{
    const struct ts_dm_field *f = ts_dm_field_find(c, field ? field : "", NULL);
    ATOLL_AUTOVALUE v = NULL;
    if (!f || f->type->kind != TS_DM_SET) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, field ? field : "");
        atoll_err_detail(err, "%s.%s is not a set field", c->name, field ? field : "");
        return -1;
    }
    if (ts_dm_value_coerce(f->type->elem, value, f->name, &v, err) < 0)
        return -1;
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = add ? E_SET_ADD : E_SET_REMOVE, .f = f,
                     .value = v};
    return run_edit(db, &e, err);
}

int ts_dm_generic_set_add(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          const char *field, struct atoll_value *value, struct atoll_err *err)
{
    return set_edit(db, c, ref, field, value, E_SET_ADD, err);
}

int ts_dm_generic_set_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *value, struct atoll_err *err)
{
    return set_edit(db, c, ref, field, value, E_SET_REMOVE, err);
}

/* ---- create / destroy / internal writes ---- */

struct create {
    const struct ts_dm_class *c;
    struct atoll_value *rec; /* complete, canonical */
    const char *ref;
};

static int do_create(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct create *cr = arg;
    for (unsigned i = 0; i < cr->c->nfields; i++) {
        const struct ts_dm_field *f = &cr->c->fields[i];
        if (f->inverse || f->type->kind == TS_DM_REF || f->type->kind == TS_DM_SET ||
            f->type->kind == TS_DM_MAP)
            if (check_refs(t, f->type, atoll_value_struct_get(cr->rec, f->name), err) < 0)
                return -1;
    }
    return ts_dm_txn_put(t, cr->c, cr->ref, atoll_value_ref(cr->rec), 1, err);
}

/* Builds a complete record from fields; only_settable: RW/SRO only (client create). */
static int build_record(const struct ts_dm_class *c, struct atoll_value *fields, int only_settable,
                        struct atoll_value **out, struct atoll_err *err)
{
    if (!fields || atoll_value_type(fields) != ATOLL_VALUE_STRUCT) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "args");
        return -1;
    }
    ATOLL_AUTOVALUE rec = atoll_value_struct();
    for (unsigned i = 0; i < c->nfields; i++) {
        const struct ts_dm_field *f = &c->fields[i];
        struct atoll_value *in = atoll_value_struct_get(fields, f->name);
        struct atoll_value *v = NULL;
        if (in && (!only_settable || f->qual != TS_DM_DRO)) {
            if (ts_dm_value_coerce(f->type, in, f->name, &v, err) < 0)
                return -1;
        } else {
            v = ts_dm_field_default(c, i);
        }
        atoll_value_struct_set(rec, f->name, v);
    }
    if (!only_settable) {
        /* internal callers may only name known fields */
        for (size_t i = 0; i < atoll_value_struct_len(fields); i++) {
            const char *k;
            atoll_value_struct_at(fields, i, &k, NULL);
            if (!ts_dm_field_find(c, k, NULL)) {
                ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, k);
                atoll_err_detail(err, "class %s has no field '%s'", c->name, k);
                return -1;
            }
        }
    }
    const char *uuid = atoll_value_struct_get_string(rec, "uuid");
    if (ts_dm_class_has(c, "uuid") && (!uuid || !*uuid || only_settable)) {
        char u[ATOLL_UUID_STRLEN + 1];
        atoll_uuid_generate(u);
        atoll_value_struct_set_string(rec, "uuid", u);
    } else if (uuid && *uuid && !atoll_uuid_is_valid(uuid)) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "uuid", uuid);
        return -1;
    }
    *out = atoll_steal_ptr(&rec);
    return 0;
}

static int create_common(struct ts_dm_db *db, const struct ts_dm_class *c,
                         struct atoll_value *fields, int only_settable,
                         char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    ATOLL_AUTOVALUE rec = NULL;
    char ref[ATOLL_REF_STRLEN + 1];
    if (build_record(c, fields, only_settable, &rec, err) < 0)
        return -1;
    atoll_ref_generate(ref);
    struct create cr = {.c = c, .rec = rec, .ref = ref};
    if (ts_dm_db_txn(db, do_create, &cr, NULL, err) < 0)
        return -1;
    if (ref_out)
        memcpy(ref_out, ref, sizeof(ref));
    return 0;
}

int ts_dm_generic_create(struct ts_dm_db *db, const struct ts_dm_class *c,
                         struct atoll_value *record, char ref_out[ATOLL_REF_STRLEN + 1],
                         struct atoll_err *err)
{
    if (!(c->flags & TS_DM_C_CREATE))
        return unknown_message(c, "create", err);
    return create_common(db, c, record, 1, ref_out, err);
}

int ts_dm_generic_insert(struct ts_dm_db *db, const struct ts_dm_class *c,
                         struct atoll_value *fields, char ref_out[ATOLL_REF_STRLEN + 1],
                         struct atoll_err *err)
{
    return create_common(db, c, fields, 0, ref_out, err);
}

static int do_delete(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct edit *e = arg;
    return ts_dm_txn_delete(t, e->c, e->ref, err);
}

int ts_dm_generic_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                         struct atoll_err *err)
{
    struct edit e = {.c = c, .ref = ref ? ref : ""};
    return ts_dm_db_txn(db, do_delete, &e, NULL, err);
}

int ts_dm_generic_destroy(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          struct atoll_err *err)
{
    if (!(c->flags & TS_DM_C_DESTROY))
        return unknown_message(c, "destroy", err);
    return ts_dm_generic_remove(db, c, ref, err);
}

int ts_dm_generic_update(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                         struct atoll_value *fields, struct atoll_err *err)
{
    if (!fields || atoll_value_type(fields) != ATOLL_VALUE_STRUCT) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "fields");
        return -1;
    }
    ATOLL_AUTOVALUE canon = atoll_value_struct();
    for (size_t i = 0; i < atoll_value_struct_len(fields); i++) {
        const char *k;
        struct atoll_value *v, *cv = NULL;
        atoll_value_struct_at(fields, i, &k, &v);
        const struct ts_dm_field *f = ts_dm_field_find(c, k, NULL);
        if (!f) {
            ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, k);
            atoll_err_detail(err, "class %s has no field '%s'", c->name, k);
            return -1;
        }
        if (ts_dm_value_coerce(f->type, v, k, &cv, err) < 0)
            return -1;
        atoll_value_struct_set(canon, k, cv);
    }
    struct edit e = {.c = c, .ref = ref ? ref : "", .op = E_FIELDS, .fields = canon};
    return run_edit(db, &e, err);
}

/*
 * tests/unit/toolstack/test_dm_generic.c - the generic XenAPI messages over a
 * real SQLite store: create/get/set, records, where-expressions, maps, sets,
 * inverse links, XenAPI errors with their parameters, call-by-name and
 * arity, one revision per write, persistence, concurrent writers, and the
 * non-blocking reads of the libevent thread.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/util.h"
#include "atoll/uuid.h"
#include "dm_db.h"
#include "dm_generic.h"
#include "tap.h"

static char dir[256], dbpath[300];
static struct ts_store *st;
static struct ts_dm_db *db;
static const struct ts_dm_class *VM, *VBD, *POOL;

/* err holds code with these params? (NULL-terminated) */
static int err_is(struct atoll_err *err, int code, ...)
{
    va_list ap;
    int good = err->code == code;
    unsigned i = 0;
    va_start(ap, code);
    for (const char *p; (p = va_arg(ap, const char *)); i++)
        good &= i < err->nparams && strcmp(err->params[i], p) == 0;
    va_end(ap);
    good &= i == err->nparams;
    if (!good) {
        diag("  got error %s with %u params:",
             atoll_err_code_name(err->code) ? atoll_err_code_name(err->code) : "(none)",
             err->nparams);
        for (unsigned k = 0; k < err->nparams; k++)
            diag("    %s", err->params[k]);
    }
    atoll_err_clear(err);
    return good;
}

static struct atoll_value *call(const struct ts_dm_class *c, const char *msg, struct atoll_err *err,
                                unsigned n, ...)
{
    struct atoll_value *p[8], *out = NULL;
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        p[i] = va_arg(ap, struct atoll_value *);
    va_end(ap);
    int rc = ts_dm_generic_call(db, c, msg, p, n, &out, err);
    for (unsigned i = 0; i < n; i++)
        atoll_value_unref(p[i]);
    return rc == 0 ? out : NULL;
}
#define S(x) atoll_value_string(x)

static char vm1[ATOLL_REF_STRLEN + 1];

static void test_create_get(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE r = atoll_value_struct();
    atoll_value_struct_set_string(r, "name_label", "web1");
    atoll_value_struct_set_string(r, "memory_static_max", "1073741824");
    atoll_value_struct_set_int(r, "VCPUs_max", 2);
    atoll_value_struct_set_string(r, "power_state", "running");
    atoll_value_struct_set_string(r, "domid", "7"); /* dynamic RO: ignored at create */
    atoll_value_struct_set_string(r, "uuid", "not-used");
    atoll_value_struct_set_string(r, "no_such_field", "x");
    ok(ts_dm_generic_create(db, VM, r, vm1, &err) == 0, "VM.create from a partial record");
    ok(atoll_ref_is_valid(vm1) && strcmp(vm1, ATOLL_REF_NULL), "returns a ref %s", vm1);

    ATOLL_AUTOVALUE rec = call(VM, "get_record", &err, 1, S(vm1));
    ok(rec != NULL, "VM.get_record");
    is_int(atoll_value_struct_len(rec), VM->nfields, "the record has every VM field");
    const char *uuid = atoll_value_struct_get_string(rec, "uuid");
    ok(uuid && atoll_uuid_is_valid(uuid), "a fresh uuid was generated (%s)", uuid);
    is_str(atoll_value_struct_get_string(rec, "name_label"), "web1", "name_label set");
    is_str(atoll_value_struct_get_string(rec, "power_state"), "Running",
           "static_ro field set, canonical");
    is_int(atoll_value_get_int(atoll_value_struct_get(rec, "memory_static_max")), 1073741824,
           "int from a string");
    is_int(atoll_value_get_int(atoll_value_struct_get(rec, "domid")), -1,
           "dynamic_ro stays default");
    ok(atoll_value_type(atoll_value_struct_get(rec, "other_config")) == ATOLL_VALUE_STRUCT,
       "maps are structs");

    ATOLL_AUTOVALUE byu = call(VM, "get_by_uuid", &err, 1, S(uuid));
    is_str(byu ? atoll_value_get_string(byu) : NULL, vm1, "get_by_uuid");
    ok(!call(VM, "get_by_uuid", &err, 1, S("00000000-0000-0000-0000-000000000000")) &&
           err_is(&err, ATOLL_E_UUID_INVALID, "VM", "00000000-0000-0000-0000-000000000000", NULL),
       "unknown uuid -> UUID_INVALID [VM, uuid]");
    ATOLL_AUTOVALUE byl = call(VM, "get_by_name_label", &err, 1, S("web1"));
    ok(byl && atoll_value_array_len(byl) == 1 &&
           !strcmp(atoll_value_get_string(atoll_value_array_get(byl, 0)), vm1),
       "get_by_name_label");
    ATOLL_AUTOVALUE nl = call(VM, "get_name_label", &err, 1, S(vm1));
    is_str(nl ? atoll_value_get_string(nl) : NULL, "web1", "get_name_label");
    ok(!call(VM, "get_name_label", &err, 1, S("OpaqueRef:nope")) &&
           err_is(&err, ATOLL_E_HANDLE_INVALID, "VM", "OpaqueRef:nope", NULL),
       "bad ref -> HANDLE_INVALID [VM, ref]");
    ok(!call(VM, "get_record", &err, 0) &&
           err_is(&err, ATOLL_E_MESSAGE_PARAMETER_COUNT_MISMATCH, "VM.get_record", "2", "1", NULL),
       "wrong arity -> MESSAGE_PARAMETER_COUNT_MISMATCH [method, expected, received]");
    ok(!call(VM, "frobnicate", &err, 0) &&
           err_is(&err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, "VM.frobnicate", NULL),
       "unknown message -> MESSAGE_METHOD_UNKNOWN");
    ok(!call(POOL, "create", &err, 1, atoll_value_struct()) &&
           err_is(&err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, "pool.create", NULL),
       "pool has no generic create");
    is_int(ts_dm_generic_arity(VM, "add_to_other_config", NULL), 3, "arity of add_to_other_config");
    is_int(ts_dm_generic_arity(VM, "set_power_state", NULL), -1, "no setter for a RO field");
}

/* ts_dm_generic_call_nowait (n params, consumed): 0, -1 or TS_DM_DB_BUSY; *out owned. */
static int call_nowait(const struct ts_dm_class *c, const char *msg, struct atoll_value **out,
                       struct atoll_err *err, unsigned n, ...)
{
    struct atoll_value *p[8];
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++)
        p[i] = va_arg(ap, struct atoll_value *);
    va_end(ap);
    *out = NULL;
    int rc = ts_dm_generic_call_nowait(db, c, msg, p, n, out, err);
    for (unsigned i = 0; i < n; i++)
        atoll_value_unref(p[i]);
    return rc;
}

/* The loop-thread reads: same answers as the blocking ones, BUSY while the cache is behind. */
static void test_nowait(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *v = NULL;
    ATOLL_AUTOVALUE rec = call(VM, "get_record", &err, 1, S(vm1));
    is_int(call_nowait(VM, "get_record", &v, &err, 1, S(vm1)), 0, "get_record without waiting");
    ok(v == rec, "the same shared record as the blocking read");
    atoll_value_unref(v);
    const char *uuid = atoll_value_struct_get_string(rec, "uuid");
    is_int(call_nowait(VM, "get_by_uuid", &v, &err, 1, S(uuid)), 0, "get_by_uuid");
    is_str(v ? atoll_value_get_string(v) : NULL, vm1, "finds the ref");
    atoll_value_unref(v);
    is_int(call_nowait(VM, "get_name_label", &v, &err, 1, S(vm1)), 0, "get_<field>");
    is_str(v ? atoll_value_get_string(v) : NULL,
           atoll_value_struct_get_string(rec, "name_label"), "its value");
    atoll_value_unref(v);
    ATOLL_AUTOVALUE all = call(VM, "get_all", &err, 0);
    is_int(call_nowait(VM, "get_all", &v, &err, 0), 0, "get_all");
    is_int(v ? atoll_value_array_len(v) : 0, atoll_value_array_len(all), "as many refs");
    atoll_value_unref(v);
    is_int(call_nowait(VM, "get_by_name_label", &v, &err, 1,
                       S(atoll_value_struct_get_string(rec, "name_label"))), 0,
           "get_by_name_label");
    ok(v && atoll_value_array_len(v) >= 1, "finds it");
    atoll_value_unref(v);
    ok(call_nowait(VM, "get_record", &v, &err, 1, S("OpaqueRef:nope")) == -1 &&
           err_is(&err, ATOLL_E_HANDLE_INVALID, "VM", "OpaqueRef:nope", NULL),
       "bad ref -> HANDLE_INVALID, as the blocking read");
    ok(call_nowait(VM, "get_record", &v, &err, 0) == -1 &&
           err_is(&err, ATOLL_E_MESSAGE_PARAMETER_COUNT_MISMATCH, "VM.get_record", "2", "1", NULL),
       "wrong arity -> MESSAGE_PARAMETER_COUNT_MISMATCH");
    is_int(call_nowait(VM, "get_all_records", &v, &err, 0), TS_DM_DB_BUSY,
           "get_all_records: BUSY (big answers go to a worker)");
    is_int(call_nowait(VM, "set_name_label", &v, &err, 2, S(vm1), S("x")), TS_DM_DB_BUSY,
           "writes: BUSY");
    ok(!ts_dm_generic_nowait_ok(VM, "set_name_label") && ts_dm_generic_nowait_ok(VM, "get_record"),
       "nowait_ok tells which messages qualify");

    /* a commit the cache has not seen (another writer of the store): never served stale */
    ATOLL_AUTOVALUE mod = atoll_value_struct();
    for (size_t i = 0; i < atoll_value_struct_len(rec); i++) {
        const char *k;
        struct atoll_value *m;
        atoll_value_struct_at(rec, i, &k, &m);
        atoll_value_struct_set(mod, k, atoll_value_ref(m));
    }
    atoll_value_struct_set_string(mod, "name_label", "changed-behind");
    struct ts_store_obj o;
    size_t len;
    ATOLL_AUTOFREE char *js = ts_dm_record_to_json(VM, mod, &len);
    ok(ts_store_get(st, "VM", vm1, &o, &err) == 1, "the stored object");
    struct ts_store_txn *t = ts_store_txn_new(st);
    ts_store_txn_put(t, "VM", vm1, js, len, o.mod_rev);
    ts_store_obj_fini(&o);
    is_int(ts_store_txn_commit(t, NULL, NULL, &err), 0, "a commit behind the cache's back");
    ts_store_txn_free(t);
    is_int(call_nowait(VM, "get_name_label", &v, &err, 1, S(vm1)), TS_DM_DB_BUSY,
           "the cache is behind the store: BUSY, not a stale answer");
    ATOLL_AUTOVALUE nl = call(VM, "get_name_label", &err, 1, S(vm1));
    is_str(nl ? atoll_value_get_string(nl) : NULL, "changed-behind", "the blocking read syncs");
    is_int(call_nowait(VM, "get_name_label", &v, &err, 1, S(vm1)), 0, "then served again");
    is_str(v ? atoll_value_get_string(v) : NULL, "changed-behind", "with the new value");
    atoll_value_unref(v);
    ATOLL_AUTOVALUE back = call(VM, "set_name_label", &err, 2, S(vm1), S("web1"));
    ok(back != NULL, "name restored for the next tests");
    atoll_err_clear(&err);
}

static void test_set(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *v = NULL;
    uint64_t r0 = ts_store_revision(st);
    ok((v = call(VM, "set_name_label", &err, 2, S(vm1), S("web-one"))) != NULL, "set_name_label");
    atoll_value_unref(v);
    is_int(ts_store_revision(st), r0 + 1, "one write = one store revision");
    ATOLL_AUTOVALUE nl = call(VM, "get_name_label", &err, 1, S(vm1));
    is_str(nl ? atoll_value_get_string(nl) : NULL, "web-one", "the new name reads back");
    ok(!call(VM, "set_power_state", &err, 2, S(vm1), S("Halted")) &&
           err_is(&err, ATOLL_E_MESSAGE_METHOD_UNKNOWN, "VM.set_power_state", NULL),
       "read-only fields have no setter");
    ok(!call(VM, "set_VCPUs_params", &err, 2, S(vm1), S("x")) &&
           err_is(&err, ATOLL_E_FIELD_TYPE_ERROR, "VCPUs_params", NULL),
       "a string for a map -> FIELD_TYPE_ERROR [VCPUs_params]");
    ok(!call(VM, "set_actions_after_shutdown", &err, 2, S(vm1), S("explode")) &&
           err_is(&err, ATOLL_E_FIELD_TYPE_ERROR, "actions_after_shutdown", NULL),
       "a bad enum value -> FIELD_TYPE_ERROR");
    ok((v = call(VM, "set_user_version", &err, 2, S(vm1), S("5"))) != NULL,
       "int setter from a string");
    atoll_value_unref(v);
    ATOLL_AUTOVALUE uv = call(VM, "get_user_version", &err, 1, S(vm1));
    ok(uv && atoll_value_type(uv) == ATOLL_VALUE_INT && atoll_value_get_int(uv) == 5,
       "reads back as an int");
    ok(!call(VM, "set_affinity", &err, 2, S(vm1),
             S("OpaqueRef:11111111-1111-1111-1111-111111111111")) &&
           err_is(&err, ATOLL_E_HANDLE_INVALID, "host",
                  "OpaqueRef:11111111-1111-1111-1111-111111111111", NULL),
       "a ref field must point at a live object -> HANDLE_INVALID [host, ref]");
    ok((v = call(VM, "set_affinity", &err, 2, S(vm1), S(ATOLL_REF_NULL))) != NULL,
       "OpaqueRef:NULL is fine");
    atoll_value_unref(v);
}

static void test_maps_sets(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *v = NULL;
    uint64_t r0 = ts_store_revision(st);
    v = call(VM, "add_to_other_config", &err, 3, S(vm1), S("folder"), S("/web"));
    ok(v != NULL, "add_to_other_config");
    atoll_value_unref(v);
    is_int(ts_store_revision(st), r0 + 1, "add_to_other_config is a write (an event)");
    ATOLL_AUTOVALUE uuid = call(VM, "get_uuid", &err, 1, S(vm1));
    ok(!call(VM, "add_to_other_config", &err, 3, S(vm1), S("folder"), S("/x")) &&
           err_is(&err, ATOLL_E_MAP_DUPLICATE_KEY, "VM", "other_config",
                  atoll_value_get_string(uuid), "folder", NULL),
       "an existing key -> MAP_DUPLICATE_KEY [VM, other_config, uuid, key]");
    ATOLL_AUTOVALUE oc = call(VM, "get_other_config", &err, 1, S(vm1));
    is_str(oc ? atoll_value_struct_get_string(oc, "folder") : NULL, "/web", "value kept");
    atoll_value_unref(call(VM, "remove_from_other_config", &err, 2, S(vm1), S("folder")));
    ATOLL_AUTOVALUE oc2 = call(VM, "get_other_config", &err, 1, S(vm1));
    ok(oc2 && atoll_value_struct_len(oc2) == 0, "remove_from_other_config removed it");
    uint64_t r1 = ts_store_revision(st);
    ok((v = call(VM, "remove_from_other_config", &err, 2, S(vm1), S("folder"))) != NULL,
       "removing a missing key is fine");
    atoll_value_unref(v);
    is_int(ts_store_revision(st), r1, "and writes nothing");
    ok(!call(VM, "add_to_other_config", &err, 3, S(vm1), S("k"), atoll_value_int(3)) &&
           err_is(&err, ATOLL_E_FIELD_TYPE_ERROR, "other_config", NULL),
       "a non-string map value -> FIELD_TYPE_ERROR");

    atoll_value_unref(call(VM, "add_tags", &err, 2, S(vm1), S("prod")));
    atoll_value_unref(call(VM, "add_tags", &err, 2, S(vm1), S("prod")));
    atoll_value_unref(call(VM, "add_tags", &err, 2, S(vm1), S("web")));
    ATOLL_AUTOVALUE tags = call(VM, "get_tags", &err, 1, S(vm1));
    is_int(tags ? atoll_value_array_len(tags) : 0, 2, "add_tags is idempotent (2 tags)");
    atoll_value_unref(call(VM, "remove_tags", &err, 2, S(vm1), S("prod")));
    ATOLL_AUTOVALUE tags2 = call(VM, "get_tags", &err, 1, S(vm1));
    ok(tags2 && atoll_value_array_len(tags2) == 1 &&
           !strcmp(atoll_value_get_string(atoll_value_array_get(tags2, 0)), "web"),
       "remove_tags");
    ATOLL_AUTOVALUE set = atoll_value_array();
    atoll_value_array_append(set, S("a"));
    atoll_value_array_append(set, S("b"));
    atoll_value_unref(call(VM, "set_tags", &err, 2, S(vm1), atoll_value_ref(set)));
    ATOLL_AUTOVALUE tags3 = call(VM, "get_tags", &err, 1, S(vm1));
    ok(tags3 && atoll_value_equal(tags3, set), "set_tags replaces the set");
}

static void test_records_where(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    char r2[ATOLL_REF_STRLEN + 1], r3[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE a = atoll_value_struct();
    ATOLL_AUTOVALUE b = atoll_value_struct();
    atoll_value_struct_set_string(a, "name_label", "db1");
    atoll_value_struct_set_bool(a, "is_a_template", 1);
    atoll_value_struct_set_string(b, "name_label", "db2");
    ts_dm_generic_create(db, VM, a, r2, &err);
    ts_dm_generic_create(db, VM, b, r3, &err);
    ATOLL_AUTOVALUE all = call(VM, "get_all", &err, 0);
    is_int(all ? atoll_value_array_len(all) : 0, 3, "get_all lists 3 VMs");
    ATOLL_AUTOVALUE recs = call(VM, "get_all_records", &err, 0);
    ok(recs && atoll_value_struct_len(recs) == 3 && atoll_value_struct_get(recs, r2),
       "get_all_records maps ref -> record");
    struct {
        const char *expr;
        int n;
    } cases[] = {
        {"field \"name_label\" = \"db1\"", 1},
        {"name_label=\"db1\"", 1},
        {"name_label = \"db1\" or name_label = \"db2\"", 2},
        {"(name_label = \"db1\" or name_label = \"db2\") and is_a_template = \"false\"", 1},
        {"field \"power_state\" = \"Running\"", 1},
        {"not (power_state = \"Running\")", 2},
        {"power_state <> \"Running\" and true", 2},
        {"is_a_template = \"true\"", 1},
        {"field \"name__label\" = \"db2\"", 1},
        {"(field \"name__label\"=\"db1\") and (field \"memory__static_max\"=\"0\")", 1},
        {"field \"power_state\" = \"running\"", 1},
        {"", 3},
        {"false", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ATOLL_AUTOVALUE w = call(VM, "get_all_records_where", &err, 1, S(cases[i].expr));
        if (!w)
            atoll_err_clear(&err);
        is_int(w ? (long long)atoll_value_struct_len(w) : -1, cases[i].n, "where '%s'",
               cases[i].expr);
    }
    const char *bad[] = {"name_label = ",    "(name_label = \"a\"",    "nosuchfield = \"x\"",
                         "name_label \"x\"", "name_label = \"a\" and", "\"unterminated"};
    int refused = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct atoll_value *w = call(VM, "get_all_records_where", &err, 1, S(bad[i]));
        if (w) {
            refused = 0;
            diag("accepted '%s'", bad[i]);
            atoll_value_unref(w);
        } else if (err.code != ATOLL_E_INVALID_VALUE) {
            refused = 0;
        }
        atoll_err_clear(&err);
    }
    ok(refused, "bad expressions -> INVALID_VALUE");
}

static void test_links(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    char vbd[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE r = atoll_value_struct();
    atoll_value_struct_set_string(r, "VM", vm1);
    atoll_value_struct_set_string(r, "userdevice", "0");
    atoll_value_struct_set_string(r, "type", "Disk");
    ok(ts_dm_generic_create(db, VBD, r, vbd, &err) == 0, "VBD.create pointing at the VM");
    ATOLL_AUTOVALUE vbds = call(VM, "get_VBDs", &err, 1, S(vm1));
    ok(vbds && atoll_value_array_len(vbds) == 1 &&
           !strcmp(atoll_value_get_string(atoll_value_array_get(vbds, 0)), vbd),
       "VM.VBDs lists the new VBD (inverse link)");
    atoll_value_struct_set_string(r, "VM", "OpaqueRef:22222222-2222-2222-2222-222222222222");
    char x[ATOLL_REF_STRLEN + 1];
    ok(ts_dm_generic_create(db, VBD, r, x, &err) < 0 &&
           err_is(&err, ATOLL_E_HANDLE_INVALID, "VM",
                  "OpaqueRef:22222222-2222-2222-2222-222222222222", NULL),
       "create with a dangling ref -> HANDLE_INVALID");
    atoll_value_unref(call(VBD, "destroy", &err, 1, S(vbd)));
    ATOLL_AUTOVALUE vbds2 = call(VM, "get_VBDs", &err, 1, S(vm1));
    ok(vbds2 && atoll_value_array_len(vbds2) == 0, "VBD.destroy removes it from VM.VBDs");
    ok(!call(VBD, "destroy", &err, 1, S(vbd)) &&
           err_is(&err, ATOLL_E_HANDLE_INVALID, "VBD", vbd, NULL),
       "destroying it again -> HANDLE_INVALID");

    /* internal writes: any field, links kept */
    char host[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE h = atoll_value_struct();
    atoll_value_struct_set_string(h, "name_label", "host1");
    ok(ts_dm_generic_insert(db, ts_dm_class_find("host"), h, host, &err) == 0, "insert a host");
    ATOLL_AUTOVALUE f = atoll_value_struct();
    atoll_value_struct_set_string(f, "resident_on", host);
    atoll_value_struct_set_string(f, "power_state", "Paused");
    atoll_value_struct_set_int(f, "domid", 12);
    ok(ts_dm_generic_update(db, VM, vm1, f, &err) == 0, "update RO fields from server code");
    ATOLL_AUTOVALUE rv = call(ts_dm_class_find("host"), "get_resident_VMs", &err, 1, S(host));
    ok(rv && atoll_value_array_len(rv) == 1, "host.resident_VMs follows VM.resident_on");
    ATOLL_AUTOVALUE bad = atoll_value_struct();
    atoll_value_struct_set_string(bad, "power_state", "Exploded");
    ok(ts_dm_generic_update(db, VM, vm1, bad, &err) < 0 &&
           err_is(&err, ATOLL_E_FIELD_TYPE_ERROR, "power_state", NULL),
       "updates are type-checked");
}

struct inc_arg {
    const char *ref;
};

static int inc(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct inc_arg *a = arg;
    struct atoll_value *rec = NULL;
    if (!ts_dm_txn_get_mut(t, VM, a->ref, &rec))
        return -1;
    int64_t v = atoll_value_get_int(atoll_value_struct_get(rec, "user_version"));
    atoll_value_struct_set(rec, "user_version", atoll_value_int(v + 1));
    return ts_dm_txn_put(t, VM, a->ref, rec, 0, err);
}

static void *incrementer(void *arg)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    for (int i = 0; i < 200; i++)
        if (ts_dm_db_txn(db, inc, arg, NULL, &err) < 0) {
            diag("transaction failed: %s %s", atoll_err_code_name(err.code),
                 err.nparams ? err.params[0] : "");
            atoll_err_clear(&err);
        }
    return NULL;
}

static void test_concurrency_persistence(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct inc_arg a = {vm1};
    pthread_t th[4];
    ATOLL_AUTOVALUE before = call(VM, "get_user_version", &err, 1, S(vm1));
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, incrementer, &a);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    ATOLL_AUTOVALUE after = call(VM, "get_user_version", &err, 1, S(vm1));
    is_int(atoll_value_get_int(after) - atoll_value_get_int(before), 800,
           "4 threads x 200 read-modify-write transactions lose no update");

    /* the datamodel version stored with the data */
    struct ts_store_obj so;
    ok(ts_store_get(st, "_meta", "schema", &so, &err) == 1 && atoi(so.data) == TS_DM_SCHEMA_VERSION,
       "the store records the datamodel version");
    struct ts_store_txn *t = ts_store_txn_new(st);
    ts_store_txn_put(t, "_meta", "schema", "999", 3, so.mod_rev);
    ts_store_txn_commit(t, NULL, NULL, &err);
    ts_store_txn_free(t);
    ts_store_obj_fini(&so);
    struct ts_dm_db *newer = NULL;
    ok(ts_dm_db_open(st, &newer, &err) < 0 && err.code == ATOLL_E_INTERNAL_ERROR,
       "a store written by a newer datamodel is refused");
    atoll_err_clear(&err);
    ts_store_get(st, "_meta", "schema", &so, &err);
    t = ts_store_txn_new(st);
    ts_store_txn_put(t, "_meta", "schema", "1", 1, so.mod_rev);
    ts_store_txn_commit(t, NULL, NULL, &err);
    ts_store_txn_free(t);
    ts_store_obj_fini(&so);
    struct ts_dm_db *older = NULL;
    ok(ts_dm_db_open(st, &older, &err) == 0 &&
           ts_store_get(st, "_meta", "schema", &so, &err) == 1 &&
           atoi(so.data) == TS_DM_SCHEMA_VERSION,
       "an older one is upgraded in place");
    ts_store_obj_fini(&so);
    ts_dm_db_close(older);

    /* a second cache over the same store sees everything; so does a reopen */
    ATOLL_AUTOVALUE mine = call(VM, "get_all_records", &err, 0);
    ts_dm_db_close(db);
    ts_store_close(st);
    ok(ts_store_open(dbpath, "sync=normal", &st, &err) == 0 && ts_dm_db_open(st, &db, &err) == 0,
       "reopen store and cache");
    ATOLL_AUTOVALUE again = call(VM, "get_all_records", &err, 0);
    ok(again && atoll_value_equal(mine, again), "all VM records survive a reopen unchanged");
}

static void test_scale(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    uint64_t t0 = atoll_now_ns();
    int okall = 1;
    for (int i = 0; i < 1000; i++) {
        ATOLL_AUTOVALUE r = atoll_value_struct();
        char name[32];
        snprintf(name, sizeof(name), "bulk%d", i);
        atoll_value_struct_set_string(r, "name_label", name);
        okall &= ts_dm_generic_create(db, VM, r, NULL, &err) == 0;
    }
    uint64_t t1 = atoll_now_ns();
    ok(okall, "1000 more VMs created");
    ATOLL_AUTOVALUE recs = NULL;
    ok(ts_dm_generic_get_all_records(db, VM, &recs, &err) == 0 &&
           atoll_value_struct_len(recs) == 1003,
       "get_all_records returns all 1003");
    uint64_t t2 = atoll_now_ns();
    ATOLL_AUTOVALUE w = NULL;
    ts_dm_generic_get_all_records_where(db, VM, "name_label = \"bulk500\"", &w, &err);
    uint64_t t3 = atoll_now_ns();
    is_int(w ? atoll_value_struct_len(w) : 0, 1, "where finds one of 1003");
    diag("1000 creates: %.1f ms (%.3f ms each, sync=normal); get_all_records of 1003: %.3f ms; "
         "where over 1003: %.3f ms",
         (t1 - t0) / 1e6, (t1 - t0) / 1e9, (t2 - t1) / 1e6, (t3 - t2) / 1e6);
    ts_dm_db_close(db);
    uint64_t t4 = atoll_now_ns();
    ok(ts_dm_db_open(st, &db, &err) == 0, "reload the cache");
    diag("cold load of %zu objects: %.1f ms", ts_dm_db_count(db, VM), (atoll_now_ns() - t4) / 1e6);
}

int main(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-dmgen-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
    ts_dm_init();
    VM = ts_dm_class_find("VM");
    VBD = ts_dm_class_find("VBD");
    POOL = ts_dm_class_find("pool");
    if (ts_store_open(dbpath, "sync=normal", &st, &err) < 0 || ts_dm_db_open(st, &db, &err) < 0)
        tap_skip_all("cannot open a store");
    test_create_get();
    test_nowait();
    test_set();
    test_maps_sets();
    test_records_where();
    test_links();
    test_concurrency_persistence();
    test_scale();
    ts_dm_db_close(db);
    ts_store_close(st);
    char p[400];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return tap_done();
}

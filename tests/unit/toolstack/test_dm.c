/*
 * tests/unit/toolstack/test_dm.c - the datamodel table and its helpers:
 * schema hash pinned to the schema version, every stored class has a uuid,
 * enums and defaults, inverse links point at ref sets, wire-value coercion,
 * and the stored JSON form round-trips (also across schema changes).
 */
#include <inttypes.h>
#include <string.h>

#include "atoll/util.h"
#include "atoll/uuid.h"
#include "dm.h"
#include "tap.h"

static void test_schema(void)
{
    uint64_t h = ts_dm_schema_hash();
    const struct ts_dm_schema_mark *last = &ts_dm_schema_history[ts_dm_schema_history_len - 1];
    int increasing = 1;
    for (unsigned i = 1; i < ts_dm_schema_history_len; i++)
        increasing &= ts_dm_schema_history[i].version > ts_dm_schema_history[i - 1].version;
    ok(increasing, "schema history versions increase");
    is_int(last->version, TS_DM_SCHEMA_VERSION, "the last history entry is TS_DM_SCHEMA_VERSION");
    if (!ok(last->hash == h, "the datamodel hash matches the recorded one for version %u",
            last->version))
        diag("datamodel changed: bump TS_DM_SCHEMA_VERSION in dm.h and append {%u, 0x%016" PRIx64
             "} to ts_dm_schema_history (dm_classes.c)",
             last->version == TS_DM_SCHEMA_VERSION ? TS_DM_SCHEMA_VERSION + 1
                                                   : TS_DM_SCHEMA_VERSION, h);
}

static void test_table(void)
{
    int uuid_ok = 1, inv_ok = 1, names_ok = 1, defaults_ok = 1;
    unsigned nfields = 0;
    is_int(ts_dm_nclasses, 34, "34 classes (23 core + 11 more XenAPI classes)");
    for (unsigned i = 0; i < ts_dm_nclasses; i++) {
        const struct ts_dm_class *c = ts_dm_classes[i];
        nfields += c->nfields;
        if (!(c->flags & TS_DM_C_NOT_STORED)) {
            const struct ts_dm_field *u = ts_dm_field_find(c, "uuid", NULL);
            if (!u || u->type->kind != TS_DM_STRING || u->qual == TS_DM_RW) {
                uuid_ok = 0;
                diag("class %s lacks a read-only string uuid", c->name);
            }
        }
        for (unsigned j = 0; j < c->nfields; j++) {
            const struct ts_dm_field *f = &c->fields[j];
            unsigned idx = 99999;
            if (ts_dm_field_find(c, f->name, &idx) != f || idx != j) {
                names_ok = 0;
                diag("%s.%s: lookup finds another field (duplicate name?)", c->name, f->name);
            }
            if (f->inverse) {
                const struct ts_dm_class *t = ts_dm_class_find(f->type->cls);
                const struct ts_dm_field *inv = t ? ts_dm_field_find(t, f->inverse, NULL) : NULL;
                if (f->type->kind != TS_DM_REF || !inv || inv->type->kind != TS_DM_SET ||
                    inv->type->elem->kind != TS_DM_REF || strcmp(inv->type->elem->cls, c->name)) {
                    inv_ok = 0;
                    diag("%s.%s: inverse %s is not a %s ref set", c->name, f->name, f->inverse,
                         c->name);
                }
            }
            struct atoll_value *d = ts_dm_field_default(c, j);
            if (!d || atoll_value_type(d) == ATOLL_VALUE_NIL) {
                if (f->type->kind != TS_DM_ANY)
                    defaults_ok = 0;
            }
            atoll_value_unref(d);
        }
    }
    diag("%u fields in all", nfields);
    ok(uuid_ok, "every stored class has a read-only uuid");
    ok(names_ok, "field names are unique within each class");
    ok(inv_ok, "every inverse link names a ref set of the right class");
    ok(defaults_ok, "every field has a default");

    const struct ts_dm_class *vm = ts_dm_class_find("VM");
    ok(vm && ts_dm_class_find_ci("vm") == vm && ts_dm_class_find_ci("Vm") == vm,
       "VM found, any case");
    ok(ts_dm_class_find("vm") == NULL, "exact lookup is case-sensitive");
    is_str(ts_dm_class_lname(ts_dm_class_find("VM_guest_metrics")), "vm_guest_metrics",
           "lower-case name");
    const struct ts_dm_field *ps = ts_dm_field_find(vm, "power_state", NULL);
    ok(ps && ps->type->kind == TS_DM_ENUM, "VM.power_state is an enum");
    const char *const want[] = {"Halted", "Paused", "Running", "Suspended", NULL};
    int same = 1;
    for (int i = 0; want[i] || ps->type->values[i]; i++)
        same &= want[i] && ps->type->values[i] && !strcmp(want[i], ps->type->values[i]);
    ok(same, "power_state values are Halted|Paused|Running|Suspended");
    ATOLL_AUTOFREE char *tt =
        ts_dm_type_text(ts_dm_field_find(vm, "current_operations", NULL)->type);
    is_str(tt, "(string -> enum vm_operations) map", "type text of VM.current_operations");
    const struct ts_dm_field *oc = ts_dm_field_find(vm, "other_config", NULL);
    ok(oc && oc->qual == TS_DM_RW && oc->type->kind == TS_DM_MAP, "VM.other_config is a RW map");
    is_int(ts_dm_field_write_role(vm, oc), TS_ROLE_VM_ADMIN,
           "VM fields default to vm-admin writes");
    const struct ts_dm_class *secret = ts_dm_class_find("secret");
    is_int(ts_dm_field_read_role(secret, ts_dm_field_find(secret, "value", NULL)),
           TS_ROLE_POOL_ADMIN, "secret.value is readable by pool-admin only");

    ATOLL_AUTOVALUE rec = ts_dm_record_default(vm);
    is_int(atoll_value_struct_len(rec), vm->nfields, "a default VM record has every field");
    is_str(atoll_value_struct_get_string(rec, "power_state"), "Halted", "defaults to Halted");
    is_str(atoll_value_struct_get_string(rec, "resident_on"), ATOLL_REF_NULL,
           "refs default to NULL");
    is_int(atoll_value_get_int(atoll_value_struct_get(rec, "domid")), -1, "domid defaults to -1");
    ok(atoll_value_type(atoll_value_struct_get(rec, "tags")) == ATOLL_VALUE_ARRAY,
       "tags is an array");
    ok(atoll_value_type(atoll_value_struct_get(rec, "snapshot_time")) == ATOLL_VALUE_DATETIME,
       "snapshot_time is a datetime");
}

static void test_coerce(void)
{
    const struct ts_dm_class *vm = ts_dm_class_find("VM");
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *out = NULL;
#define FT(name) ts_dm_field_find(vm, name, NULL)->type
    ATOLL_AUTOVALUE s123 = atoll_value_string("123");
    ok(ts_dm_value_coerce(FT("VCPUs_max"), s123, "VCPUs_max", &out, &err) == 0 &&
           atoll_value_type(out) == ATOLL_VALUE_INT && atoll_value_get_int(out) == 123,
       "int from a decimal string (XML-RPC int64)");
    atoll_value_unref(out);
    ATOLL_AUTOVALUE sbad = atoll_value_string("12x");
    ok(ts_dm_value_coerce(FT("VCPUs_max"), sbad, "VCPUs_max", &out, &err) < 0 &&
           err.code == ATOLL_E_FIELD_TYPE_ERROR && err.nparams == 1 &&
           !strcmp(err.params[0], "VCPUs_max"),
       "junk int -> FIELD_TYPE_ERROR [VCPUs_max]");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE run = atoll_value_string("running");
    ok(ts_dm_value_coerce(FT("power_state"), run, "power_state", &out, &err) == 0 &&
           !strcmp(atoll_value_get_string(out), "Running"),
       "enums match any case, canonicalised");
    atoll_value_unref(out);
    ATOLL_AUTOVALUE bogus = atoll_value_string("Flying");
    ok(ts_dm_value_coerce(FT("power_state"), bogus, "power_state", &out, &err) < 0,
       "unknown enum value refused");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE t = atoll_value_string("true");
    ok(ts_dm_value_coerce(FT("is_a_template"), t, "is_a_template", &out, &err) == 0 &&
           atoll_value_get_bool(out) == 1,
       "bool from \"true\"");
    atoll_value_unref(out);
    ATOLL_AUTOVALUE i5 = atoll_value_int(5);
    ok(ts_dm_value_coerce(FT("name_label"), i5, "name_label", &out, &err) < 0,
       "an int is not a string");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE m = atoll_value_struct();
    atoll_value_struct_set_string(m, "a", "1");
    atoll_value_struct_set_int(m, "b", 2);
    ok(ts_dm_value_coerce(FT("other_config"), m, "other_config", &out, &err) < 0,
       "a map with a non-string value is refused");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE arr = atoll_value_array();
    atoll_value_array_append(arr, atoll_value_string("x"));
    atoll_value_array_append(arr, atoll_value_string("x"));
    atoll_value_array_append(arr, atoll_value_string("y"));
    ok(ts_dm_value_coerce(FT("tags"), arr, "tags", &out, &err) == 0 &&
           atoll_value_array_len(out) == 2,
       "sets drop duplicates");
    atoll_value_unref(out);
    ATOLL_AUTOVALUE dt = atoll_value_string("20261126T22:53:29Z");
    ok(ts_dm_value_coerce(FT("snapshot_time"), dt, "snapshot_time", &out, &err) == 0 &&
           atoll_value_type(out) == ATOLL_VALUE_DATETIME,
       "datetime from XAPI text");
    atoll_value_unref(out);
    ATOLL_AUTOVALUE f = atoll_value_int(2);
    ok(ts_dm_value_coerce(FT("HVM_shadow_multiplier"), f, "x", &out, &err) == 0 &&
           atoll_value_get_double(out) == 2.0,
       "float from an int");
    atoll_value_unref(out);
#undef FT
}

static void test_json(void)
{
    const struct ts_dm_class *vm = ts_dm_class_find("VM");
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE rec = ts_dm_record_default(vm);
    atoll_value_struct_set_string(rec, "name_label", "quote\" back\\ nl\n tab\t \x01 é");
    atoll_value_struct_set(rec, "memory_static_max", atoll_value_int(INT64_MAX));
    atoll_value_struct_set(rec, "snapshot_time", atoll_value_datetime(1795745609));
    atoll_value_struct_set(rec, "HVM_shadow_multiplier", atoll_value_double(1.5));
    struct atoll_value *oc = atoll_value_struct();
    atoll_value_struct_set_string(oc, "k", "v");
    atoll_value_struct_set(rec, "other_config", oc);
    size_t len;
    ATOLL_AUTOFREE char *js = ts_dm_record_to_json(vm, rec, &len);
    ok(js && len == strlen(js), "record to JSON (%zu bytes)", len);
    ATOLL_AUTOVALUE back = NULL;
    ok(ts_dm_record_from_json(vm, js, len, &back, &err) == 0, "JSON back to a record");
    ok(back && atoll_value_equal(rec, back), "the round trip is exact");

    /* older/newer schema: unknown fields dropped, missing ones defaulted */
    const char *old =
        "{\"uuid\":\"u\",\"name_label\":\"old\",\"gone_field\":1,\"VCPUs_max\":\"4\"}";
    ATOLL_AUTOVALUE o = NULL;
    ok(ts_dm_record_from_json(vm, old, strlen(old), &o, &err) == 0, "a partial record loads");
    ok(o && atoll_value_struct_len(o) == vm->nfields && !atoll_value_struct_get(o, "gone_field"),
       "with every current field and without unknown ones");
    is_str(atoll_value_struct_get_string(o, "power_state"), "Halted",
           "missing fields get defaults");
    is_int(atoll_value_get_int(atoll_value_struct_get(o, "VCPUs_max")), 4, "values are coerced");
    const char *bad[] = {"", "{", "[1]", "{\"a\":}", "{\"a\":\"\\u0000\"}", "{} x", "{\"a\":1,}"};
    int refused = 1;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct atoll_value *x = NULL;
        if (ts_dm_record_from_json(vm, bad[i], strlen(bad[i]), &x, &err) == 0) {
            refused = 0;
            diag("accepted bad JSON '%s'", bad[i]);
            atoll_value_unref(x);
        }
        atoll_err_clear(&err);
    }
    ok(refused, "malformed stored text is refused, not half-read");
}

int main(void)
{
    ts_dm_init();
    test_schema();
    test_table();
    test_coerce();
    test_json();
    return tap_done();
}

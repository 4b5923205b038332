/*
 * tests/unit/toolstack/test_dm_fuzz.c - deterministic mutation fuzzing of what
 * clients and the disk control in the datamodel: where-expressions (client
 * text), stored JSON records (disk), and wire values coerced to every field
 * type of every class (client values). Bounded: a fixed number of inputs from
 * a fixed seed (override with ATOLL_FUZZ_SEED); passes when nothing crashes
 * and every rejection is a clean error. Run it under ASan for full value.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm.h"
#include "dm_where.h"
#include "tap.h"

static uint64_t rng;

static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

static const char *const where_seeds[] = {
    "field \"name_label\" = \"a\" and (field \"power_state\" = \"Running\" or not true)",
    "(field \"name__label\"=\"x\") and (field \"SR\"=\"OpaqueRef:NULL\")",
    "name_label <> \"b\" or false",
    "not not not (tags = \"('a' 'b')\")",
    "\"x\" = \"x\"",
};

static const char *const json_seeds[] = {
    "{\"uuid\":\"u\",\"name_label\":\"a\\u00e9\\ud83d\\ude00\",\"VCPUs_max\":4,\"tags\":[\"x\"],"
    "\"other_config\":{\"k\":\"v\"},\"HVM_shadow_multiplier\":1.5e0,\"is_a_template\":true,"
    "\"snapshot_time\":\"20261126T22:53:29Z\",\"VCPUs_params\":{},\"domid\":-1}",
    "[1,2,{\"a\":[null,false]}]",
    "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
};

static const char charset[] =
    "\"\\(){}[]:,=<>!_ abcdefghijklmnopqrstuvwxyzAND0123456789.-+eE\x01\xff";

static char *mutate(const char *seed, size_t *out_len)
{
    size_t n = strlen(seed), cap = n * 2 + 64;
    char *s = atoll_malloc(cap);
    memcpy(s, seed, n);
    int edits = 1 + (int)(rnd() % 8);
    for (int e = 0; e < edits; e++) {
        size_t at = n ? rnd() % (n + 1) : 0;
        switch (rnd() % 4) {
        case 0: /* replace */
            if (at < n)
                s[at] = charset[rnd() % (sizeof(charset) - 1)];
            break;
        case 1: /* insert */
            if (n + 1 < cap) {
                memmove(s + at + 1, s + at, n - at);
                s[at] = charset[rnd() % (sizeof(charset) - 1)];
                n++;
            }
            break;
        case 2: /* delete a run */
            if (at < n) {
                size_t k = 1 + rnd() % 8;
                if (at + k > n)
                    k = n - at;
                memmove(s + at, s + at + k, n - at - k);
                n -= k;
            }
            break;
        default: /* truncate */
            n = at;
            break;
        }
    }
    s[n] = '\0';
    *out_len = n;
    return s;
}

/* A random value tree of bounded size. */
static struct atoll_value *random_value(int depth)
{
    char buf[32];
    switch (rnd() % (depth > 3 ? 6 : 8)) {
    case 0:
        return atoll_value_int((int64_t)rnd() - (int64_t)rnd() * 4096);
    case 1:
        return atoll_value_double((double)rnd() / 7.0);
    case 2:
        return atoll_value_bool((int)(rnd() & 1));
    case 3:
        return atoll_value_datetime((int64_t)rnd());
    case 4:
        return atoll_value_nil();
    case 5: {
        static const char *const s[] = {"",
                                        "Running",
                                        "halted",
                                        "true",
                                        "0",
                                        "-9",
                                        "1.5",
                                        "OpaqueRef:NULL",
                                        "20261126T22:53:29Z",
                                        "x y",
                                        "RW"};
        if (rnd() % 3 == 0) {
            snprintf(buf, sizeof(buf), "%u", rnd());
            return atoll_value_string(buf);
        }
        return atoll_value_string(s[rnd() % ATOLL_ARRAY_SIZE(s)]);
    }
    case 6: {
        struct atoll_value *a = atoll_value_array();
        for (unsigned i = rnd() % 4; i > 0; i--)
            atoll_value_array_append(a, random_value(depth + 1));
        return a;
    }
    default: {
        struct atoll_value *m = atoll_value_struct();
        for (unsigned i = rnd() % 4; i > 0; i--) {
            snprintf(buf, sizeof(buf), "%u", rnd() % 5);
            atoll_value_struct_set(m, buf, random_value(depth + 1));
        }
        return m;
    }
    }
}

int main(void)
{
    const char *env = getenv("ATOLL_FUZZ_SEED");
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    if (env)
        atoll_parse_u64(env, 10, &seed);
    rng = seed ? seed : 1;
    diag("seed %llu", (unsigned long long)seed);
    atoll_log_configure("error"); /* bad stored fields are warned about: thousands here */
    ts_dm_init();
    const struct ts_dm_class *vm = ts_dm_class_find("VM");

    /* where-expressions */
    unsigned compiled = 0, rejected = 0, clean = 1;
    ATOLL_AUTOVALUE rec = ts_dm_record_default(vm);
    for (int i = 0; i < 60000; i++) {
        size_t n;
        ATOLL_AUTOFREE char *e = mutate(where_seeds[rnd() % ATOLL_ARRAY_SIZE(where_seeds)], &n);
        struct ts_dm_where *w = NULL;
        struct atoll_err err = ATOLL_ERR_INIT;
        if (ts_dm_where_compile(vm, e, &w, &err) == 0) {
            compiled++;
            ts_dm_where_match(w, rec);
            ts_dm_where_free(w);
        } else {
            rejected++;
            clean &= err.code == ATOLL_E_INVALID_VALUE;
        }
        atoll_err_clear(&err);
    }
    ok(clean, "60000 mutated where-expressions: %u compiled, %u rejected with INVALID_VALUE",
       compiled, rejected);

    /* stored JSON */
    unsigned loaded = 0;
    clean = 1;
    for (int i = 0; i < 60000; i++) {
        size_t n;
        ATOLL_AUTOFREE char *j = mutate(json_seeds[rnd() % ATOLL_ARRAY_SIZE(json_seeds)], &n);
        struct atoll_value *r = NULL;
        struct atoll_err err = ATOLL_ERR_INIT;
        if (ts_dm_record_from_json(vm, j, n, &r, &err) == 0) {
            loaded++;
            clean &= atoll_value_struct_len(r) == vm->nfields;
            atoll_value_unref(r);
        } else {
            clean &= err.code == ATOLL_E_INTERNAL_ERROR;
        }
        atoll_err_clear(&err);
    }
    ok(clean, "60000 mutated stored records: %u loaded complete, the rest refused cleanly", loaded);

    /* wire values against every field type */
    unsigned accepted = 0, total = 0;
    clean = 1;
    for (int i = 0; i < 40; i++) {
        for (unsigned c = 0; c < ts_dm_nclasses; c++) {
            const struct ts_dm_class *cls = ts_dm_classes[c];
            for (unsigned f = 0; f < cls->nfields; f++) {
                ATOLL_AUTOVALUE v = random_value(0);
                struct atoll_value *out = NULL;
                struct atoll_err err = ATOLL_ERR_INIT;
                total++;
                if (ts_dm_value_coerce(cls->fields[f].type, v, cls->fields[f].name, &out, &err) ==
                    0) {
                    accepted++;
                    /* what coerce accepts must survive the stored form */
                    ATOLL_AUTOVALUE one = atoll_value_struct();
                    atoll_value_struct_set(one, cls->fields[f].name, out);
                    ATOLL_AUTOFREE char *js = ts_dm_record_to_json(cls, one, NULL);
                    struct atoll_value *back = NULL;
                    if (ts_dm_record_from_json(cls, js, strlen(js), &back, NULL) < 0)
                        clean = 0;
                    else if (cls->fields[f].type->kind != TS_DM_ANY &&
                             !atoll_value_equal(atoll_value_struct_get(back, cls->fields[f].name),
                                                out))
                        clean = 0,
                        diag("%s.%s changed through JSON", cls->name, cls->fields[f].name);
                    atoll_value_unref(back);
                } else {
                    clean &= err.code == ATOLL_E_FIELD_TYPE_ERROR;
                }
                atoll_err_clear(&err);
            }
        }
    }
    ok(clean,
       "%u random wire values coerced against every field: %u accepted and round-tripped, "
       "the rest FIELD_TYPE_ERROR",
       total, accepted);
    return tap_done();
}

/*
 * toolstack/cli_format.c - xe-style presentation of XenAPI records: names,
 * access tags from the datamodel table, value texts (lazily computed, refs
 * resolved to uuids with a cache), xe filters, aligned record blocks and
 * --minimal lists.
 * Threads: single-threaded. Trust: server records of any shape print safely.
 */
#include "cli_format.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atoll/util.h"
#include "dm.h"
#include "strbuf.h"

/* ---- names ---- */

char *cli_xe_name(const char *api)
{
    char *s = atoll_strdup(api);
    for (char *p = s; *p; p++)
        if (*p == '_')
            *p = '-';
    return s;
}

char *cli_api_name(const char *xe)
{
    char *s = atoll_strdup(xe);
    for (char *p = s; *p; p++)
        if (*p == '-')
            *p = '_';
    return s;
}

/* Fields with a setter message of their own: xe shows them RW and vm-param-set uses it. */
static int special_rw(const char *cls, const char *api)
{
    static const char *const vm[] = {"memory_static_max", "memory_static_min",
                                     "memory_dynamic_max", "memory_dynamic_min",
                                     "VCPUs_max", "VCPUs_at_startup", NULL};
    if (strcmp(cls, "VM") != 0)
        return 0;
    for (unsigned i = 0; vm[i]; i++)
        if (strcmp(vm[i], api) == 0)
            return 1;
    return 0;
}

/* ---- views ---- */

void cli_view_init(struct cli_view *v, const char *cls, struct atoll_value *ref,
                   struct atoll_value *rec)
{
    const struct ts_dm_class *dc = ts_dm_class_find(cls);
    *v = (struct cli_view){.cls = cls, .ref = atoll_value_ref(ref), .rec = atoll_value_ref(rec)};
    size_t n = atoll_value_type(rec) == ATOLL_VALUE_STRUCT ? atoll_value_struct_len(rec) : 0;
    v->f = atoll_calloc(n ? n : 1, sizeof(*v->f));
    /* uuid, name-label, name-description first, as xe has them; the rest in the server's order */
    static const char *const first[] = {"uuid", "name_label", "name_description"};
    for (unsigned pass = 0; pass <= ATOLL_ARRAY_SIZE(first); pass++) {
        for (size_t i = 0; i < n; i++) {
            const char *k;
            struct atoll_value *val;
            atoll_value_struct_at(rec, i, &k, &val);
            unsigned rank = 0;
            while (rank < ATOLL_ARRAY_SIZE(first) && strcmp(k, first[rank]) != 0)
                rank++;
            if (rank != pass)
                continue;
            struct cli_field *f = &v->f[v->n++];
            const struct ts_dm_field *df = dc ? ts_dm_field_find(dc, k, NULL) : NULL;
            enum ts_dm_kind kind = df ? df->type->kind
                                   : atoll_value_type(val) == ATOLL_VALUE_STRUCT ? TS_DM_MAP
                                   : atoll_value_type(val) == ATOLL_VALUE_ARRAY  ? TS_DM_SET
                                                                                 : TS_DM_STRING;
            int rw = (df && df->qual == TS_DM_RW) || special_rw(cls, k);
            f->name = cli_xe_name(k);
            f->api = k;
            f->val = val;
            f->type = df ? df->type : NULL;
            f->tag = kind == TS_DM_MAP ? (rw ? "MRW" : "MRO")
                     : kind == TS_DM_SET ? (rw ? "SRW" : "SRO")
                                         : (rw ? " RW" : " RO");
        }
    }
}

void cli_view_fini(struct cli_view *v)
{
    for (unsigned i = 0; i < v->n; i++) {
        free(v->f[i].name);
        free(v->f[i].text);
    }
    for (unsigned i = 0; i < v->nextra; i++)
        atoll_value_unref(v->extra[i]);
    free(v->f);
    atoll_value_unref(v->ref);
    atoll_value_unref(v->rec);
    *v = (struct cli_view){0};
}

struct cli_field *cli_view_field(struct cli_view *v, const char *name)
{
    for (unsigned i = 0; i < v->n; i++)
        if (strcmp(v->f[i].name, name) == 0 || strcmp(v->f[i].api, name) == 0)
            return &v->f[i];
    return NULL;
}

/* The value of derived fields whose object is missing (freed in cli_format_fini). */
static struct atoll_value *nil_value;

/* What xe shows of related objects, in its spelling. */
static const struct {
    const char *cls, *xe, *via, *via_cls, *field;
} derived[] = {
    {"VM", "memory-actual", "metrics", "VM_metrics", "memory_actual"},
    {"VM", "VCPUs-number", "metrics", "VM_metrics", "VCPUs_number"},
    {"VM", "start-time", "metrics", "VM_metrics", "start_time"},
    {"VM", "install-time", "metrics", "VM_metrics", "install_time"},
    {"VM", "os-version", "guest_metrics", "VM_guest_metrics", "os_version"},
    {"VM", "PV-drivers-version", "guest_metrics", "VM_guest_metrics", "PV_drivers_version"},
    {"VM", "networks", "guest_metrics", "VM_guest_metrics", "networks"},
    {"host", "memory-total", "metrics", "host_metrics", "memory_total"},
    {"host", "host-metrics-live", "metrics", "host_metrics", "live"},
};

void cli_view_derive(struct cli *c, struct cli_view *v)
{
    if (v->derived || atoll_value_type(v->rec) != ATOLL_VALUE_STRUCT)
        return;
    v->derived = 1;
    const char *via_done[4] = {0};
    struct atoll_value *via_rec[4] = {0};
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(derived); i++) {
        if (strcmp(derived[i].cls, v->cls) != 0 || cli_view_field(v, derived[i].xe))
            continue;
        unsigned k = 0;
        while (k < v->nextra && strcmp(via_done[k], derived[i].via) != 0)
            k++;
        if (k == v->nextra) { /* fetch the related record once */
            if (k == ATOLL_ARRAY_SIZE(v->extra))
                continue;
            const char *ref = atoll_value_struct_get_string(v->rec, derived[i].via);
            struct cli_err e = {0};
            ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_record", derived[i].via_cls);
            struct atoll_value *r = ref && strcmp(ref, "OpaqueRef:NULL") != 0
                                        ? cli_callv(c, m, &e, ref, NULL) : NULL;
            cli_err_clear(&e);
            via_done[k] = derived[i].via;
            via_rec[k] = v->extra[k] = r ? r : atoll_value_struct();
            v->nextra++;
        }
        struct atoll_value *val = atoll_value_struct_get(via_rec[k], derived[i].field);
        const struct ts_dm_class *dc = ts_dm_class_find(derived[i].via_cls);
        const struct ts_dm_field *df = dc ? ts_dm_field_find(dc, derived[i].field, NULL) : NULL;
        int missing = !val; /* no such object (halted VM, no guest agent) */
        if (missing) {
            if (!nil_value)
                nil_value = atoll_value_nil();
            val = nil_value;
        }
        v->f = atoll_realloc(v->f, (v->n + 1) * sizeof(*v->f));
        struct cli_field *f = &v->f[v->n++];
        int is_map = df && df->type->kind == TS_DM_MAP;
        *f = (struct cli_field){.name = atoll_strdup(derived[i].xe), .api = derived[i].xe,
                                .tag = is_map ? "MRO" : " RO", .val = val,
                                .type = df ? df->type : NULL};
        if (missing)
            f->text = atoll_strdup(is_map || !df ? "" : "<unknown>");
    }
}

int cli_is_derived(const char *cls, const char *xe)
{
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(derived); i++)
        if (strcmp(derived[i].cls, cls) == 0 && strcmp(derived[i].xe, xe) == 0)
            return 1;
    return 0;
}

struct cli_field *cli_view_field_any(struct cli *c, struct cli_view *v, const char *name)
{
    struct cli_field *f = cli_view_field(v, name);
    if (!f && c && !v->derived) {
        cli_view_derive(c, v);
        f = cli_view_field(v, name);
    }
    return f;
}

/* ---- values ---- */

struct uuid_cache {
    char *ref, *uuid;
    struct uuid_cache *next;
};
static struct uuid_cache *cache;

void cli_format_fini(void)
{
    atoll_value_unref(nil_value);
    nil_value = NULL;
    while (cache) {
        struct uuid_cache *n = cache->next;
        free(cache->ref);
        free(cache->uuid);
        free(cache);
        cache = n;
    }
}

static const char *ref_uuid(struct cli *c, const char *cls, const char *ref)
{
    if (strcmp(ref, "OpaqueRef:NULL") == 0 || !*ref)
        return "<not in database>";
    for (struct uuid_cache *e = cache; e; e = e->next)
        if (strcmp(e->ref, ref) == 0)
            return e->uuid;
    struct cli_err err = {0};
    ATOLL_AUTOFREE char *m = atoll_strdup_printf("%s.get_uuid", cls);
    ATOLL_AUTOVALUE u = cli_callv(c, m, &err, ref, NULL);
    cli_err_clear(&err);
    struct uuid_cache *e = atoll_calloc(1, sizeof(*e));
    e->ref = atoll_strdup(ref);
    e->uuid = atoll_strdup(u && atoll_value_type(u) == ATOLL_VALUE_STRING
                               ? atoll_value_get_string(u) : "<not in database>");
    e->next = cache;
    cache = e;
    return e->uuid;
}

static void put_scalar(struct cli *c, struct ts_strbuf *b, const struct atoll_value *v,
                       const struct ts_dm_type *t)
{
    char tmp[64];
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_NIL:
        break;
    case ATOLL_VALUE_BOOL:
        ts_strbuf_puts(b, atoll_value_get_bool(v) ? "true" : "false");
        break;
    case ATOLL_VALUE_INT:
        snprintf(tmp, sizeof(tmp), "%" PRId64, atoll_value_get_int(v));
        ts_strbuf_puts(b, tmp);
        break;
    case ATOLL_VALUE_DOUBLE:
        snprintf(tmp, sizeof(tmp), "%.3f", atoll_value_get_double(v));
        ts_strbuf_puts(b, tmp);
        break;
    case ATOLL_VALUE_DATETIME:
        atoll_datetime_format(atoll_value_get_datetime(v), tmp);
        ts_strbuf_puts(b, tmp);
        break;
    case ATOLL_VALUE_STRING: {
        const char *s = atoll_value_get_string(v);
        if (t && t->kind == TS_DM_REF && c) {
            ts_strbuf_puts(b, ref_uuid(c, t->cls, s));
        } else if (t && t->kind == TS_DM_ENUM) {
            for (const char *p = s; *p; p++)
                ts_strbuf_putc(b, (char)tolower((unsigned char)*p));
        } else {
            ts_strbuf_puts(b, s);
        }
        break;
    }
    default:
        break;
    }
}

static void put_value(struct cli *c, struct ts_strbuf *b, const struct atoll_value *v,
                      const struct ts_dm_type *t)
{
    if (atoll_value_type(v) == ATOLL_VALUE_ARRAY) {
        const struct ts_dm_type *et = t && t->kind == TS_DM_SET ? t->elem : NULL;
        for (size_t i = 0; i < atoll_value_array_len(v); i++) {
            if (i)
                ts_strbuf_puts(b, "; ");
            put_value(c, b, atoll_value_array_get(v, i), et);
        }
    } else if (atoll_value_type(v) == ATOLL_VALUE_STRUCT) {
        const struct ts_dm_type *kt = t && t->kind == TS_DM_MAP ? t->key : NULL;
        const struct ts_dm_type *vt = t && t->kind == TS_DM_MAP ? t->elem : NULL;
        for (size_t i = 0; i < atoll_value_struct_len(v); i++) {
            const char *k;
            struct atoll_value *e;
            atoll_value_struct_at(v, i, &k, &e);
            if (i)
                ts_strbuf_puts(b, "; ");
            if (kt && kt->kind == TS_DM_ENUM) {
                for (const char *p = k; *p; p++)
                    ts_strbuf_putc(b, (char)tolower((unsigned char)*p));
            } else {
                ts_strbuf_puts(b, k);
            }
            ts_strbuf_puts(b, ": ");
            /* refs inside maps (blobs) stay refs: resolving them costs a call each */
            put_value(c, b, e, vt && vt->kind == TS_DM_REF ? NULL : vt);
        }
    } else {
        put_scalar(c, b, v, t);
    }
}

const char *cli_field_text(struct cli *c, struct cli_field *f)
{
    if (!f->text) {
        struct ts_strbuf b = {0};
        put_value(c, &b, f->val, f->type);
        f->text = b.len ? ts_strbuf_take(&b, NULL) : atoll_strdup("");
        ts_strbuf_fini(&b);
    }
    return f->text;
}

int cli_field_is_map(const struct cli_field *f)
{
    return atoll_value_type(f->val) == ATOLL_VALUE_STRUCT;
}

int cli_field_is_enum(const struct cli_field *f)
{
    const struct ts_dm_type *t = f->type;
    return t && t->kind == TS_DM_ENUM;
}

const char *cli_field_map_get(const struct cli_field *f, const char *key)
{
    if (!cli_field_is_map(f))
        return NULL;
    const struct atoll_value *e = atoll_value_struct_get(f->val, key);
    if (!e)
        return NULL;
    return atoll_value_type(e) == ATOLL_VALUE_STRING ? atoll_value_get_string(e) : "";
}

/* ---- filters ---- */

int cli_view_match(struct cli *c, struct cli_view *v, const char *key, const char *value,
                   const char *selector)
{
    int negate = strncmp(value, "/=", 2) == 0;
    if (negate)
        value += 2;
    int eq;
    if (selector && strcmp(key, selector) == 0) {
        struct cli_field *u = cli_view_field(v, "uuid"), *l = cli_view_field(v, "name-label");
        eq = (u && strcmp(cli_field_text(c, u), value) == 0) ||
             (l && strcmp(cli_field_text(c, l), value) == 0);
        return negate ? !eq : eq;
    }
    const char *colon = strchr(key, ':');
    if (colon) {
        ATOLL_AUTOFREE char *fname = atoll_strndup(key, (size_t)(colon - key));
        struct cli_field *f = cli_view_field_any(c, v, fname);
        if (!f || !cli_field_is_map(f))
            return -1;
        const char *got = cli_field_map_get(f, colon + 1);
        eq = got && strcmp(got, value) == 0;
        return negate ? !eq : eq;
    }
    struct cli_field *f = cli_view_field_any(c, v, key);
    if (!f)
        return -1;
    const char *text = cli_field_text(c, f);
    eq = cli_field_is_enum(f) ? strcasecmp(text, value) == 0 : strcmp(text, value) == 0;
    return negate ? !eq : eq;
}

/* ---- printing ---- */

static void put_minimal(const char *s)
{
    for (; *s; s++) {
        if (*s == ',' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
}

int cli_print_records(struct cli *c, struct cli_view *views, unsigned n, const char *params,
                      const char *defaults, int minimal)
{
    int all = params && strcmp(params, "all") == 0;
    const char *list = params && !all ? params : defaults;
    /* validate the names once, against the first record */
    if (!all && list && n > 0) {
        ATOLL_AUTOFREE char *copy = atoll_strdup(list);
        for (char *save = NULL, *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
            if (!cli_view_field_any(c, &views[0], p)) {
                fprintf(stderr, "Unknown field '%s' in params (see params=all for the fields "
                        "of %s)\n", p, views[0].cls);
                return -1;
            }
    }
    int first_out = 1;
    for (unsigned r = 0; r < n; r++) {
        struct cli_view *v = &views[r];
        struct cli_field *sel[512];
        unsigned ns = 0;
        if (all) /* xe's records include fields of related objects */
            cli_view_derive(c, v);
        if (all || !list) {
            for (unsigned i = 0; i < v->n && ns < 512; i++)
                sel[ns++] = &v->f[i];
        } else {
            ATOLL_AUTOFREE char *copy = atoll_strdup(list);
            for (char *save = NULL, *p = strtok_r(copy, ",", &save); p && ns < 512;
                 p = strtok_r(NULL, ",", &save)) {
                struct cli_field *f = cli_view_field_any(c, v, p);
                if (f)
                    sel[ns++] = f;
            }
        }
        if (minimal) {
            if (ns == 0)
                continue;
            if (!first_out)
                putchar(',');
            first_out = 0;
            put_minimal(cli_field_text(c, sel[0]));
            continue;
        }
        size_t maxlen = 0;
        for (unsigned i = 0; i < ns; i++) {
            size_t l = strlen(sel[i]->name) + 6; /* " (" tag ")" */
            if (l > maxlen)
                maxlen = l;
        }
        maxlen += 4;
        for (unsigned i = 0; i < ns; i++) {
            char key[600];
            snprintf(key, sizeof(key), "%s (%s)", sel[i]->name, sel[i]->tag);
            int pad = (int)(maxlen - strlen(key));
            if (i == 0)
                printf("%s%*s: %s\n", key, pad, "", cli_field_text(c, sel[i]));
            else
                printf("%*s%s: %s\n", pad, "", key, cli_field_text(c, sel[i]));
        }
        printf("\n\n");
    }
    if (minimal)
        putchar('\n');
    return 0;
}

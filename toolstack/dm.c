/*
 * toolstack/dm.c - what the datamodel table means at run time: class and
 * field lookups (hashed), parsed defaults, default records, coercion of wire
 * values to a field's type, text forms, and the schema hash.
 * Threads: ts_dm_init runs once before anything else; afterwards everything
 * here is read-only and safe from any thread.
 * Trust: ts_dm_value_coerce takes client values and checks all of them.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "atoll/log.h"
#include "atoll/uuid.h"
#include "atoll/util.h"
#include "strbuf.h"

#define MAX_CLASSES 64

struct class_info {
    const struct ts_dm_class *c;
    char *lname;
    struct atoll_value **defaults; /* per field; NULL for containers (made fresh) */
    uint16_t *slots;               /* field hash: index + 1, 0 = empty */
    unsigned nslots;               /* power of two */
};

static struct class_info infos[MAX_CLASSES];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static uint32_t str_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static struct atoll_value *parse_default(const struct ts_dm_class *c, const struct ts_dm_field *f)
{
    const struct ts_dm_type *t = f->type;
    const char *d = f->def;
    struct atoll_err err = ATOLL_ERR_INIT;

    if (t->kind == TS_DM_SET || t->kind == TS_DM_MAP || t->kind == TS_DM_ANY)
        return NULL;
    if (!d) {
        switch (t->kind) {
        case TS_DM_INT: return atoll_value_int(0);
        case TS_DM_FLOAT: return atoll_value_double(0.0);
        case TS_DM_BOOL: return atoll_value_bool(0);
        case TS_DM_DATETIME: return atoll_value_datetime(0);
        case TS_DM_REF: return atoll_value_string(ATOLL_REF_NULL);
        case TS_DM_ENUM: return atoll_value_string(t->values[0]);
        default: return atoll_value_string("");
        }
    }
    ATOLL_AUTOVALUE in = atoll_value_string(d);
    struct atoll_value *out = NULL;
    if (ts_dm_value_coerce(t, in, f->name, &out, &err) < 0) {
        /* a table bug: fail loudly at startup rather than serve bad records */
        log_error("datamodel: bad default '%s' for %s.%s", d, c->name, f->name);
        abort();
    }
    return out;
}

static void do_init(void)
{
    if (ts_dm_nclasses > MAX_CLASSES) {
        log_error("datamodel: %u classes, at most %d supported", ts_dm_nclasses, MAX_CLASSES);
        abort();
    }
    for (unsigned i = 0; i < ts_dm_nclasses; i++) {
        const struct ts_dm_class *c = ts_dm_classes[i];
        struct class_info *ci = &infos[i];
        ci->c = c;
        ci->lname = atoll_strdup(c->name);
        for (char *p = ci->lname; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        ci->defaults = atoll_calloc(c->nfields, sizeof(*ci->defaults));
        ci->nslots = 16;
        while (ci->nslots < 2 * c->nfields)
            ci->nslots *= 2;
        ci->slots = atoll_calloc(ci->nslots, sizeof(*ci->slots));
        for (unsigned j = 0; j < c->nfields; j++) {
            ci->defaults[j] = parse_default(c, &c->fields[j]);
            unsigned s = str_hash(c->fields[j].name) & (ci->nslots - 1);
            while (ci->slots[s])
                s = (s + 1) & (ci->nslots - 1);
            ci->slots[s] = (uint16_t)(j + 1);
        }
    }
}

void ts_dm_init(void)
{
    pthread_once(&init_once, do_init);
}

static struct class_info *info_of(const struct ts_dm_class *c)
{
    ts_dm_init();
    for (unsigned i = 0; i < ts_dm_nclasses; i++)
        if (infos[i].c == c)
            return &infos[i];
    return NULL;
}

const struct ts_dm_class *ts_dm_class_find(const char *name)
{
    if (!name)
        return NULL;
    for (unsigned i = 0; i < ts_dm_nclasses; i++)
        if (strcmp(ts_dm_classes[i]->name, name) == 0)
            return ts_dm_classes[i];
    return NULL;
}

const struct ts_dm_class *ts_dm_class_find_ci(const char *name)
{
    if (!name)
        return NULL;
    for (unsigned i = 0; i < ts_dm_nclasses; i++)
        if (strcasecmp(ts_dm_classes[i]->name, name) == 0)
            return ts_dm_classes[i];
    return NULL;
}

const char *ts_dm_class_lname(const struct ts_dm_class *c)
{
    struct class_info *ci = info_of(c);
    return ci ? ci->lname : c->name;
}

const struct ts_dm_field *ts_dm_field_find(const struct ts_dm_class *c, const char *name,
                                           unsigned *index)
{
    struct class_info *ci = info_of(c);
    if (!ci || !name)
        return NULL;
    unsigned s = str_hash(name) & (ci->nslots - 1);
    while (ci->slots[s]) {
        unsigned j = ci->slots[s] - 1u;
        if (strcmp(c->fields[j].name, name) == 0) {
            if (index)
                *index = j;
            return &c->fields[j];
        }
        s = (s + 1) & (ci->nslots - 1);
    }
    return NULL;
}

int ts_dm_class_has(const struct ts_dm_class *c, const char *field)
{
    return ts_dm_field_find(c, field, NULL) != NULL;
}

enum ts_role ts_dm_field_read_role(const struct ts_dm_class *c, const struct ts_dm_field *f)
{
    return f->read_role != TS_ROLE_NONE ? f->read_role : c->read_role;
}

enum ts_role ts_dm_field_write_role(const struct ts_dm_class *c, const struct ts_dm_field *f)
{
    return f->write_role != TS_ROLE_NONE ? f->write_role : c->write_role;
}

static void type_text(struct ts_strbuf *b, const struct ts_dm_type *t)
{
    switch (t->kind) {
    case TS_DM_STRING: ts_strbuf_puts(b, "string"); break;
    case TS_DM_INT: ts_strbuf_puts(b, "int"); break;
    case TS_DM_FLOAT: ts_strbuf_puts(b, "float"); break;
    case TS_DM_BOOL: ts_strbuf_puts(b, "bool"); break;
    case TS_DM_DATETIME: ts_strbuf_puts(b, "datetime"); break;
    case TS_DM_ANY: ts_strbuf_puts(b, "<class> record"); break;
    case TS_DM_REF:
        ts_strbuf_puts(b, t->cls);
        ts_strbuf_puts(b, " ref");
        break;
    case TS_DM_ENUM:
        ts_strbuf_puts(b, "enum ");
        ts_strbuf_puts(b, t->name);
        break;
    case TS_DM_SET:
        type_text(b, t->elem);
        ts_strbuf_puts(b, " set");
        break;
    case TS_DM_MAP:
        ts_strbuf_putc(b, '(');
        type_text(b, t->key);
        ts_strbuf_puts(b, " -> ");
        type_text(b, t->elem);
        ts_strbuf_puts(b, ") map");
        break;
    }
}

char *ts_dm_type_text(const struct ts_dm_type *t)
{
    struct ts_strbuf b = {0};
    type_text(&b, t);
    return b.p;
}

struct atoll_value *ts_dm_field_default(const struct ts_dm_class *c, unsigned index)
{
    struct class_info *ci = info_of(c);
    const struct ts_dm_type *t = c->fields[index].type;
    if (ci->defaults[index])
        return atoll_value_ref(ci->defaults[index]);
    if (t->kind == TS_DM_SET)
        return atoll_value_array();
    if (t->kind == TS_DM_MAP)
        return atoll_value_struct();
    return atoll_value_nil();
}

struct atoll_value *ts_dm_record_default(const struct ts_dm_class *c)
{
    struct atoll_value *rec = atoll_value_struct();
    for (unsigned i = 0; i < c->nfields; i++)
        atoll_value_struct_set(rec, c->fields[i].name, ts_dm_field_default(c, i));
    return rec;
}

static int type_error(const char *field, struct atoll_err *err, const struct ts_dm_type *t,
                      const struct atoll_value *in)
{
    ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, field);
    if (err) {
        ATOLL_AUTOFREE char *want = ts_dm_type_text(t);
        atoll_err_detail(err, "field '%s' expects %s, got a %s", field, want,
                         atoll_value_type_name(atoll_value_type(in)));
    }
    return -1;
}

static int coerce_scalar(const struct ts_dm_type *t, struct atoll_value *in, const char *field,
                         struct atoll_value **out, struct atoll_err *err)
{
    enum atoll_value_type vt = atoll_value_type(in);
    const char *s = vt == ATOLL_VALUE_STRING ? atoll_value_get_string(in) : NULL;

    switch (t->kind) {
    case TS_DM_STRING:
    case TS_DM_REF:
        if (vt != ATOLL_VALUE_STRING)
            return type_error(field, err, t, in);
        *out = atoll_value_ref(in);
        return 0;
    case TS_DM_INT: {
        int64_t i;
        if (vt == ATOLL_VALUE_INT) {
            *out = atoll_value_ref(in);
            return 0;
        }
        if (s && atoll_parse_i64(s, 10, &i) == 0) {
            *out = atoll_value_int(i);
            return 0;
        }
        return type_error(field, err, t, in);
    }
    case TS_DM_FLOAT: {
        if (vt == ATOLL_VALUE_DOUBLE) {
            *out = atoll_value_ref(in);
            return 0;
        }
        if (vt == ATOLL_VALUE_INT) {
            *out = atoll_value_double((double)atoll_value_get_int(in));
            return 0;
        }
        if (s && *s) {
            char *end;
            double d = strtod(s, &end);
            if (*end == '\0' && isfinite(d)) {
                *out = atoll_value_double(d);
                return 0;
            }
        }
        return type_error(field, err, t, in);
    }
    case TS_DM_BOOL:
        if (vt == ATOLL_VALUE_BOOL) {
            *out = atoll_value_ref(in);
            return 0;
        }
        if (s && (!strcasecmp(s, "true") || !strcmp(s, "1"))) {
            *out = atoll_value_bool(1);
            return 0;
        }
        if (s && (!strcasecmp(s, "false") || !strcmp(s, "0"))) {
            *out = atoll_value_bool(0);
            return 0;
        }
        return type_error(field, err, t, in);
    case TS_DM_DATETIME: {
        int64_t e;
        /* years 1000..9999: what the four-digit year of "YYYYMMDDTHH:MM:SSZ" carries */
        const int64_t lo = -30610224000LL, hi = 253402300799LL;
        if (vt == ATOLL_VALUE_DATETIME) {
            e = atoll_value_get_datetime(in);
            if (e < lo || e > hi)
                return type_error(field, err, t, in);
            *out = atoll_value_ref(in);
            return 0;
        }
        if (vt == ATOLL_VALUE_INT) {
            e = atoll_value_get_int(in);
            if (e < lo || e > hi)
                return type_error(field, err, t, in);
            *out = atoll_value_datetime(e);
            return 0;
        }
        if (s && atoll_datetime_parse(s, &e) == 0) {
            *out = atoll_value_datetime(e);
            return 0;
        }
        return type_error(field, err, t, in);
    }
    case TS_DM_ENUM:
        if (s) {
            for (const char *const *v = t->values; *v; v++) {
                if (strcasecmp(*v, s) == 0) {
                    *out = strcmp(*v, s) == 0 ? atoll_value_ref(in) : atoll_value_string(*v);
                    return 0;
                }
            }
        }
        return type_error(field, err, t, in);
    default:
        return type_error(field, err, t, in);
    }
}

int ts_dm_value_coerce(const struct ts_dm_type *t, struct atoll_value *in, const char *field,
                       struct atoll_value **out, struct atoll_err *err)
{
    if (!in)
        return type_error(field, err, t, in);
    switch (t->kind) {
    case TS_DM_ANY:
        *out = atoll_value_ref(in);
        return 0;
    case TS_DM_SET: {
        if (atoll_value_type(in) != ATOLL_VALUE_ARRAY)
            return type_error(field, err, t, in);
        ATOLL_AUTOVALUE res = atoll_value_array();
        size_t n = atoll_value_array_len(in);
        for (size_t i = 0; i < n; i++) {
            struct atoll_value *e = NULL;
            if (ts_dm_value_coerce(t->elem, atoll_value_array_get(in, i), field, &e, err) < 0)
                return -1;
            /* a set: drop duplicates, keep the first occurrence */
            int dup = 0;
            for (size_t j = 0; j < atoll_value_array_len(res) && !dup; j++)
                dup = atoll_value_equal(atoll_value_array_get(res, j), e);
            if (dup)
                atoll_value_unref(e);
            else
                atoll_value_array_append(res, e);
        }
        *out = atoll_steal_ptr(&res);
        return 0;
    }
    case TS_DM_MAP: {
        if (atoll_value_type(in) != ATOLL_VALUE_STRUCT)
            return type_error(field, err, t, in);
        ATOLL_AUTOVALUE res = atoll_value_struct();
        size_t n = atoll_value_struct_len(in);
        for (size_t i = 0; i < n; i++) {
            const char *k;
            struct atoll_value *v, *cv = NULL;
            atoll_value_struct_at(in, i, &k, &v);
            ATOLL_AUTOVALUE kin = atoll_value_string(k);
            ATOLL_AUTOVALUE kout = NULL;
            if (ts_dm_value_coerce(t->key, kin, field, &kout, err) < 0)
                return -1;
            if (ts_dm_value_coerce(t->elem, v, field, &cv, err) < 0)
                return -1;
            ATOLL_AUTOFREE char *ktext = ts_dm_value_text(kout);
            atoll_value_struct_set(res, ktext, cv);
        }
        *out = atoll_steal_ptr(&res);
        return 0;
    }
    default:
        return coerce_scalar(t, in, field, out, err);
    }
}

char *ts_dm_value_text(const struct atoll_value *v)
{
    char buf[64];
    switch (atoll_value_type(v)) {
    case ATOLL_VALUE_STRING: return atoll_strdup(atoll_value_get_string(v));
    case ATOLL_VALUE_INT: return atoll_strdup_printf("%" PRId64, atoll_value_get_int(v));
    case ATOLL_VALUE_DOUBLE: return atoll_strdup_printf("%.17g", atoll_value_get_double(v));
    case ATOLL_VALUE_BOOL: return atoll_strdup(atoll_value_get_bool(v) ? "true" : "false");
    case ATOLL_VALUE_DATETIME:
        atoll_datetime_format(atoll_value_get_datetime(v), buf);
        return atoll_strdup(buf);
    case ATOLL_VALUE_ARRAY: {
        /* XAPI's text of a set: ('a' 'b') */
        struct ts_strbuf b = {0};
        ts_strbuf_putc(&b, '(');
        for (size_t i = 0; i < atoll_value_array_len(v); i++) {
            ATOLL_AUTOFREE char *e = ts_dm_value_text(atoll_value_array_get(v, i));
            if (i)
                ts_strbuf_putc(&b, ' ');
            ts_strbuf_putc(&b, '\'');
            ts_strbuf_puts(&b, e);
            ts_strbuf_putc(&b, '\'');
        }
        ts_strbuf_putc(&b, ')');
        return b.p;
    }
    case ATOLL_VALUE_STRUCT: {
        struct ts_strbuf b = {0};
        ts_strbuf_putc(&b, '(');
        for (size_t i = 0; i < atoll_value_struct_len(v); i++) {
            const char *k;
            struct atoll_value *e;
            atoll_value_struct_at(v, i, &k, &e);
            ATOLL_AUTOFREE char *et = ts_dm_value_text(e);
            if (i)
                ts_strbuf_putc(&b, ' ');
            ts_strbuf_puts(&b, "('");
            ts_strbuf_puts(&b, k);
            ts_strbuf_puts(&b, "' '");
            ts_strbuf_puts(&b, et);
            ts_strbuf_puts(&b, "')");
        }
        ts_strbuf_putc(&b, ')');
        return b.p;
    }
    default: return atoll_strdup("");
    }
}

static void hash_add(uint64_t *h, const char *s)
{
    for (s = s ? s : "(null)"; *s; s++)
        *h = (*h ^ (uint8_t)*s) * 1099511628211ULL;
    *h = (*h ^ 0xffu) * 1099511628211ULL; /* separator */
}

uint64_t ts_dm_schema_hash(void)
{
    uint64_t h = 14695981039346656037ULL;
    char num[64];

    for (unsigned i = 0; i < ts_dm_nclasses; i++) {
        const struct ts_dm_class *c = ts_dm_classes[i];
        snprintf(num, sizeof(num), "%u/%d/%d/%d", c->flags, c->read_role, c->write_role,
                 c->create_role);
        hash_add(&h, c->name);
        hash_add(&h, num);
        for (unsigned j = 0; j < c->nfields; j++) {
            const struct ts_dm_field *f = &c->fields[j];
            ATOLL_AUTOFREE char *t = ts_dm_type_text(f->type);
            snprintf(num, sizeof(num), "%d/%d/%d/%u", f->qual, f->read_role, f->write_role,
                     f->flags);
            hash_add(&h, f->name);
            hash_add(&h, t);
            hash_add(&h, num);
            hash_add(&h, f->def);
            hash_add(&h, f->inverse);
            if (f->type->kind == TS_DM_ENUM || (f->type->elem && f->type->elem->kind == TS_DM_ENUM))
                for (const char *const *v = f->type->kind == TS_DM_ENUM ? f->type->values
                                                                        : f->type->elem->values;
                     *v; v++)
                    hash_add(&h, *v);
        }
        for (unsigned j = 0; j < c->nmessages; j++) {
            const struct ts_dm_message *m = &c->messages[j];
            snprintf(num, sizeof(num), "%d", m->role);
            hash_add(&h, m->name);
            hash_add(&h, m->result);
            hash_add(&h, m->params);
            hash_add(&h, num);
        }
    }
    return h;
}

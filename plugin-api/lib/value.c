/*
 * plugin-api/lib/value.c - the XML-RPC value model: reference-counted trees of
 * nil, bool, int64, double, string, datetime, array and struct. Structs keep
 * insertion order and unique keys, with a hash index once they grow (records
 * and get_all_records maps have hundreds or thousands of members).
 * Threads: refcounts are atomic; mutation only before a value is shared.
 */
#include "atoll/value.h"
#include "atoll/util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct member {
    char *key;
    uint32_t hash;
    struct atoll_value *val;
};

struct atoll_value {
    unsigned refs; /* atomic */
    enum atoll_value_type type;
    union {
        int b;
        int64_t i;
        double d;
        struct {
            char *s;
            size_t len;
        } str;
        struct {
            struct atoll_value **items;
            size_t len, cap;
        } arr;
        struct {
            struct member *m;
            size_t len, cap;
            uint32_t *index; /* slot -> member index + 1; 0 = empty */
            size_t index_cap; /* power of two, 0 = no index */
        } st;
    } u;
};

/* Structs below this size are searched linearly; the index costs more than it saves. */
#define STRUCT_INDEX_MIN 16

static struct atoll_value *value_new(enum atoll_value_type t)
{
    struct atoll_value *v = atoll_calloc(1, sizeof(*v));
    v->refs = 1;
    v->type = t;
    return v;
}

struct atoll_value *atoll_value_nil(void)
{
    return value_new(ATOLL_VALUE_NIL);
}

struct atoll_value *atoll_value_bool(int b)
{
    struct atoll_value *v = value_new(ATOLL_VALUE_BOOL);
    v->u.b = b ? 1 : 0;
    return v;
}

struct atoll_value *atoll_value_int(int64_t i)
{
    struct atoll_value *v = value_new(ATOLL_VALUE_INT);
    v->u.i = i;
    return v;
}

struct atoll_value *atoll_value_double(double d)
{
    struct atoll_value *v = value_new(ATOLL_VALUE_DOUBLE);
    v->u.d = d;
    return v;
}

struct atoll_value *atoll_value_string_len(const char *s, size_t n)
{
    struct atoll_value *v = value_new(ATOLL_VALUE_STRING);
    v->u.str.s = atoll_malloc(n + 1);
    if (n)
        memcpy(v->u.str.s, s, n);
    v->u.str.s[n] = '\0';
    v->u.str.len = n;
    return v;
}

struct atoll_value *atoll_value_string(const char *s)
{
    if (!s)
        s = "";
    return atoll_value_string_len(s, strlen(s));
}

struct atoll_value *atoll_value_string_take(char *s)
{
    if (!s)
        return atoll_value_string("");
    struct atoll_value *v = value_new(ATOLL_VALUE_STRING);
    v->u.str.s = s;
    v->u.str.len = strlen(s);
    return v;
}

struct atoll_value *atoll_value_datetime(int64_t epoch_seconds)
{
    struct atoll_value *v = value_new(ATOLL_VALUE_DATETIME);
    v->u.i = epoch_seconds;
    return v;
}

struct atoll_value *atoll_value_array(void)
{
    return value_new(ATOLL_VALUE_ARRAY);
}

struct atoll_value *atoll_value_struct(void)
{
    return value_new(ATOLL_VALUE_STRUCT);
}

struct atoll_value *atoll_value_ref(struct atoll_value *v)
{
    if (v)
        __atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
    return v;
}

static void value_destroy(struct atoll_value *v)
{
    switch (v->type) {
    case ATOLL_VALUE_STRING:
        free(v->u.str.s);
        break;
    case ATOLL_VALUE_ARRAY:
        for (size_t i = 0; i < v->u.arr.len; i++)
            atoll_value_unref(v->u.arr.items[i]);
        free(v->u.arr.items);
        break;
    case ATOLL_VALUE_STRUCT:
        for (size_t i = 0; i < v->u.st.len; i++) {
            free(v->u.st.m[i].key);
            atoll_value_unref(v->u.st.m[i].val);
        }
        free(v->u.st.m);
        free(v->u.st.index);
        break;
    default:
        break;
    }
    free(v);
}

void atoll_value_unref(struct atoll_value *v)
{
    if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
        value_destroy(v);
}

void atoll_value_autoptr(struct atoll_value **vp)
{
    atoll_value_unref(*vp);
}

struct atoll_value *atoll_value_dup(const struct atoll_value *v)
{
    if (!v)
        return NULL;
    switch (v->type) {
    case ATOLL_VALUE_NIL:
        return atoll_value_nil();
    case ATOLL_VALUE_BOOL:
        return atoll_value_bool(v->u.b);
    case ATOLL_VALUE_INT:
        return atoll_value_int(v->u.i);
    case ATOLL_VALUE_DOUBLE:
        return atoll_value_double(v->u.d);
    case ATOLL_VALUE_STRING:
        return atoll_value_string_len(v->u.str.s, v->u.str.len);
    case ATOLL_VALUE_DATETIME:
        return atoll_value_datetime(v->u.i);
    case ATOLL_VALUE_ARRAY: {
        struct atoll_value *a = atoll_value_array();
        for (size_t i = 0; i < v->u.arr.len; i++)
            atoll_value_array_append(a, atoll_value_dup(v->u.arr.items[i]));
        return a;
    }
    case ATOLL_VALUE_STRUCT: {
        struct atoll_value *s = atoll_value_struct();
        for (size_t i = 0; i < v->u.st.len; i++)
            atoll_value_struct_set(s, v->u.st.m[i].key, atoll_value_dup(v->u.st.m[i].val));
        return s;
    }
    }
    return NULL;
}

int atoll_value_equal(const struct atoll_value *a, const struct atoll_value *b)
{
    if (a == b)
        return 1;
    if (!a || !b || a->type != b->type)
        return 0;
    switch (a->type) {
    case ATOLL_VALUE_NIL:
        return 1;
    case ATOLL_VALUE_BOOL:
        return a->u.b == b->u.b;
    case ATOLL_VALUE_INT:
    case ATOLL_VALUE_DATETIME:
        return a->u.i == b->u.i;
    case ATOLL_VALUE_DOUBLE:
        return a->u.d == b->u.d || (isnan(a->u.d) && isnan(b->u.d));
    case ATOLL_VALUE_STRING:
        return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
    case ATOLL_VALUE_ARRAY:
        if (a->u.arr.len != b->u.arr.len)
            return 0;
        for (size_t i = 0; i < a->u.arr.len; i++)
            if (!atoll_value_equal(a->u.arr.items[i], b->u.arr.items[i]))
                return 0;
        return 1;
    case ATOLL_VALUE_STRUCT:
        if (a->u.st.len != b->u.st.len)
            return 0;
        for (size_t i = 0; i < a->u.st.len; i++) {
            const struct atoll_value *bv = atoll_value_struct_get(b, a->u.st.m[i].key);
            if (!bv || !atoll_value_equal(a->u.st.m[i].val, bv))
                return 0;
        }
        return 1;
    }
    return 0;
}

enum atoll_value_type atoll_value_type(const struct atoll_value *v)
{
    return v ? v->type : ATOLL_VALUE_NIL;
}

const char *atoll_value_type_name(enum atoll_value_type t)
{
    switch (t) {
    case ATOLL_VALUE_NIL: return "nil";
    case ATOLL_VALUE_BOOL: return "bool";
    case ATOLL_VALUE_INT: return "int";
    case ATOLL_VALUE_DOUBLE: return "float";
    case ATOLL_VALUE_STRING: return "string";
    case ATOLL_VALUE_DATETIME: return "datetime";
    case ATOLL_VALUE_ARRAY: return "array";
    case ATOLL_VALUE_STRUCT: return "struct";
    }
    return "unknown";
}

int atoll_value_get_bool(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_BOOL ? v->u.b : 0;
}

int64_t atoll_value_get_int(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_INT ? v->u.i : 0;
}

double atoll_value_get_double(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_DOUBLE ? v->u.d : 0.0;
}

const char *atoll_value_get_string(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_STRING ? v->u.str.s : NULL;
}

size_t atoll_value_string_length(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_STRING ? v->u.str.len : 0;
}

int64_t atoll_value_get_datetime(const struct atoll_value *v)
{
    return v && v->type == ATOLL_VALUE_DATETIME ? v->u.i : 0;
}

/* ---- arrays ---- */

size_t atoll_value_array_len(const struct atoll_value *a)
{
    return a && a->type == ATOLL_VALUE_ARRAY ? a->u.arr.len : 0;
}

void atoll_value_array_append(struct atoll_value *a, struct atoll_value *item)
{
    if (!a || a->type != ATOLL_VALUE_ARRAY) {
        atoll_value_unref(item);
        return;
    }
    if (!item)
        item = atoll_value_nil();
    if (a->u.arr.len == a->u.arr.cap) {
        a->u.arr.cap = a->u.arr.cap ? a->u.arr.cap * 2 : 4;
        a->u.arr.items = atoll_realloc(a->u.arr.items, a->u.arr.cap * sizeof(*a->u.arr.items));
    }
    a->u.arr.items[a->u.arr.len++] = item;
}

struct atoll_value *atoll_value_array_get(const struct atoll_value *a, size_t i)
{
    if (!a || a->type != ATOLL_VALUE_ARRAY || i >= a->u.arr.len)
        return NULL;
    return a->u.arr.items[i];
}

int atoll_value_array_remove(struct atoll_value *a, size_t i)
{
    if (!a || a->type != ATOLL_VALUE_ARRAY || i >= a->u.arr.len)
        return -1;
    atoll_value_unref(a->u.arr.items[i]);
    memmove(&a->u.arr.items[i], &a->u.arr.items[i + 1],
            (a->u.arr.len - i - 1) * sizeof(*a->u.arr.items));
    a->u.arr.len--;
    return 0;
}

/* ---- structs ---- */

static uint32_t key_hash(const char *k)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 16777619u;
    return h;
}

static void index_insert(struct atoll_value *s, size_t member)
{
    size_t mask = s->u.st.index_cap - 1;
    size_t slot = s->u.st.m[member].hash & mask;
    while (s->u.st.index[slot])
        slot = (slot + 1) & mask;
    s->u.st.index[slot] = (uint32_t)(member + 1);
}

static void index_rebuild(struct atoll_value *s)
{
    free(s->u.st.index);
    s->u.st.index = NULL;
    s->u.st.index_cap = 0;
    if (s->u.st.len < STRUCT_INDEX_MIN)
        return;
    size_t cap = 64;
    while (cap < s->u.st.len * 2)
        cap *= 2;
    s->u.st.index = atoll_calloc(cap, sizeof(*s->u.st.index));
    s->u.st.index_cap = cap;
    for (size_t i = 0; i < s->u.st.len; i++)
        index_insert(s, i);
}

/* Index of key in s, or -1. */
static long struct_find(const struct atoll_value *s, const char *key, uint32_t h)
{
    if (s->u.st.index_cap) {
        size_t mask = s->u.st.index_cap - 1;
        for (size_t slot = h & mask; s->u.st.index[slot]; slot = (slot + 1) & mask) {
            const struct member *m = &s->u.st.m[s->u.st.index[slot] - 1];
            if (m->hash == h && strcmp(m->key, key) == 0)
                return (long)(s->u.st.index[slot] - 1);
        }
        return -1;
    }
    for (size_t i = 0; i < s->u.st.len; i++)
        if (s->u.st.m[i].hash == h && strcmp(s->u.st.m[i].key, key) == 0)
            return (long)i;
    return -1;
}

size_t atoll_value_struct_len(const struct atoll_value *s)
{
    return s && s->type == ATOLL_VALUE_STRUCT ? s->u.st.len : 0;
}

void atoll_value_struct_set(struct atoll_value *s, const char *key, struct atoll_value *val)
{
    if (!s || s->type != ATOLL_VALUE_STRUCT || !key) {
        atoll_value_unref(val);
        return;
    }
    if (!val)
        val = atoll_value_nil();
    uint32_t h = key_hash(key);
    long at = struct_find(s, key, h);
    if (at >= 0) {
        atoll_value_unref(s->u.st.m[at].val);
        s->u.st.m[at].val = val;
        return;
    }
    if (s->u.st.len == s->u.st.cap) {
        s->u.st.cap = s->u.st.cap ? s->u.st.cap * 2 : 8;
        s->u.st.m = atoll_realloc(s->u.st.m, s->u.st.cap * sizeof(*s->u.st.m));
    }
    size_t i = s->u.st.len++;
    s->u.st.m[i] = (struct member){.key = atoll_strdup(key), .hash = h, .val = val};
    if (s->u.st.index_cap && s->u.st.len * 2 <= s->u.st.index_cap)
        index_insert(s, i);
    else if (s->u.st.len >= STRUCT_INDEX_MIN)
        index_rebuild(s);
}

struct atoll_value *atoll_value_struct_get(const struct atoll_value *s, const char *key)
{
    if (!s || s->type != ATOLL_VALUE_STRUCT || !key)
        return NULL;
    long at = struct_find(s, key, key_hash(key));
    return at >= 0 ? s->u.st.m[at].val : NULL;
}

int atoll_value_struct_remove(struct atoll_value *s, const char *key)
{
    if (!s || s->type != ATOLL_VALUE_STRUCT || !key)
        return -1;
    long at = struct_find(s, key, key_hash(key));
    if (at < 0)
        return -1;
    free(s->u.st.m[at].key);
    atoll_value_unref(s->u.st.m[at].val);
    memmove(&s->u.st.m[at], &s->u.st.m[at + 1], (s->u.st.len - (size_t)at - 1) * sizeof(struct member));
    s->u.st.len--;
    if (s->u.st.index_cap)
        index_rebuild(s);
    return 0;
}

int atoll_value_struct_at(const struct atoll_value *s, size_t i, const char **key,
                          struct atoll_value **val)
{
    if (!s || s->type != ATOLL_VALUE_STRUCT || i >= s->u.st.len)
        return -1;
    if (key)
        *key = s->u.st.m[i].key;
    if (val)
        *val = s->u.st.m[i].val;
    return 0;
}

void atoll_value_struct_set_string(struct atoll_value *s, const char *key, const char *str)
{
    atoll_value_struct_set(s, key, atoll_value_string(str));
}

void atoll_value_struct_set_int(struct atoll_value *s, const char *key, int64_t i)
{
    atoll_value_struct_set(s, key, atoll_value_int(i));
}

void atoll_value_struct_set_bool(struct atoll_value *s, const char *key, int b)
{
    atoll_value_struct_set(s, key, atoll_value_bool(b));
}

const char *atoll_value_struct_get_string(const struct atoll_value *s, const char *key)
{
    return atoll_value_get_string(atoll_value_struct_get(s, key));
}

/* ---- datetimes ---- */

void atoll_datetime_format(int64_t epoch_seconds, char out[32])
{
    struct tm tm;
    time_t t = (time_t)epoch_seconds;
    if (!gmtime_r(&t, &tm)) {
        snprintf(out, 32, "19700101T00:00:00Z");
        return;
    }
    if (strftime(out, 32, "%Y%m%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "19700101T00:00:00Z");
}

/* Reads exactly n digits at *p into *out; advances *p. */
static int take_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

/*
 * Accepts XAPI's "YYYYMMDDTHH:MM:SSZ" and the ISO 8601 variants clients send:
 * dashes in the date, no colons in the time, a missing "Z", fractional seconds
 * (ignored), and a "+HH:MM"/"-HH:MM" offset.
 */
int atoll_datetime_parse(const char *s, int64_t *out_epoch_seconds)
{
    if (!s)
        return -1;
    const char *p = s;
    int y, mo, d, h, mi, sec;
    if (take_digits(&p, 4, &y) < 0)
        return -1;
    int dashes = *p == '-';
    if (dashes)
        p++;
    if (take_digits(&p, 2, &mo) < 0)
        return -1;
    if (dashes && *p++ != '-')
        return -1;
    if (take_digits(&p, 2, &d) < 0 || *p++ != 'T')
        return -1;
    if (take_digits(&p, 2, &h) < 0)
        return -1;
    int colons = *p == ':';
    if (colons)
        p++;
    if (take_digits(&p, 2, &mi) < 0)
        return -1;
    if (colons && *p++ != ':')
        return -1;
    if (take_digits(&p, 2, &sec) < 0)
        return -1;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    int offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om;
        if (take_digits(&p, 2, &oh) < 0)
            return -1;
        if (*p == ':')
            p++;
        if (take_digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0')
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 59)
        return -1;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (tm.tm_mday != d) /* 31 February and friends are normalised by timegm */
        return -1;
    *out_epoch_seconds = (int64_t)t - offset;
    return 0;
}

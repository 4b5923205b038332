/*
 * atoll/value.h - the XML-RPC value model shared by every layer: nil, bool,
 * int (int64), double, string, datetime, array, struct. Values are
 * reference-counted trees; structs keep insertion order and unique keys.
 * Threads: a value may be shared read-only once built; refcounts are atomic.
 * Trust: builders copy their inputs; nothing here parses wire formats.
 */
#ifndef ATOLL_VALUE_H
#define ATOLL_VALUE_H

#include <stddef.h>
#include <stdint.h>

enum atoll_value_type {
    ATOLL_VALUE_NIL,
    ATOLL_VALUE_BOOL,
    ATOLL_VALUE_INT,      /* int64 */
    ATOLL_VALUE_DOUBLE,
    ATOLL_VALUE_STRING,   /* UTF-8, may contain any byte but NUL */
    ATOLL_VALUE_DATETIME, /* seconds since the epoch, UTC */
    ATOLL_VALUE_ARRAY,
    ATOLL_VALUE_STRUCT,
};

struct atoll_value;

/* Constructors: each returns a new value with refcount 1 (caller owns). */
struct atoll_value *atoll_value_nil(void);
struct atoll_value *atoll_value_bool(int b);
struct atoll_value *atoll_value_int(int64_t i);
struct atoll_value *atoll_value_double(double d);
struct atoll_value *atoll_value_string(const char *s);             /* copies s; NULL -> "" */
struct atoll_value *atoll_value_string_len(const char *s, size_t n);
struct atoll_value *atoll_value_string_take(char *s);              /* takes ownership of s */
struct atoll_value *atoll_value_datetime(int64_t epoch_seconds);
struct atoll_value *atoll_value_array(void);
struct atoll_value *atoll_value_struct(void);

struct atoll_value *atoll_value_ref(struct atoll_value *v);        /* returns v */
void atoll_value_unref(struct atoll_value *v);                     /* NULL is a no-op */
void atoll_value_autoptr(struct atoll_value **vp);
#define ATOLL_AUTOVALUE __attribute__((cleanup(atoll_value_autoptr))) struct atoll_value *

/* Deep copy (refcount 1). */
struct atoll_value *atoll_value_dup(const struct atoll_value *v);
/* Structural equality (struct key order ignored). */
int atoll_value_equal(const struct atoll_value *a, const struct atoll_value *b);

enum atoll_value_type atoll_value_type(const struct atoll_value *v);
const char *atoll_value_type_name(enum atoll_value_type t); /* "string", "int", ... */

/* Accessors: the value must have the matching type (checked; wrong type -> 0 / NULL). */
int atoll_value_get_bool(const struct atoll_value *v);
int64_t atoll_value_get_int(const struct atoll_value *v);
double atoll_value_get_double(const struct atoll_value *v);
const char *atoll_value_get_string(const struct atoll_value *v);   /* borrowed */
size_t atoll_value_string_length(const struct atoll_value *v);
int64_t atoll_value_get_datetime(const struct atoll_value *v);

/* Arrays. append takes ownership of item. get returns a borrowed pointer or NULL. */
size_t atoll_value_array_len(const struct atoll_value *a);
void atoll_value_array_append(struct atoll_value *a, struct atoll_value *item);
struct atoll_value *atoll_value_array_get(const struct atoll_value *a, size_t i);
/* Removes element i (released); 0, or -1 if out of range. */
int atoll_value_array_remove(struct atoll_value *a, size_t i);

/* Structs. set takes ownership of val and replaces an existing key. get is borrowed or NULL. */
size_t atoll_value_struct_len(const struct atoll_value *s);
void atoll_value_struct_set(struct atoll_value *s, const char *key, struct atoll_value *val);
struct atoll_value *atoll_value_struct_get(const struct atoll_value *s, const char *key);
/* Removes key; 0, or -1 if absent. */
int atoll_value_struct_remove(struct atoll_value *s, const char *key);
/* i-th member in insertion order: borrowed key and value; -1 if out of range. */
int atoll_value_struct_at(const struct atoll_value *s, size_t i, const char **key,
                          struct atoll_value **val);

/* Convenience setters (copying). */
void atoll_value_struct_set_string(struct atoll_value *s, const char *key, const char *str);
void atoll_value_struct_set_int(struct atoll_value *s, const char *key, int64_t i);
void atoll_value_struct_set_bool(struct atoll_value *s, const char *key, int b);
const char *atoll_value_struct_get_string(const struct atoll_value *s, const char *key); /* NULL if absent or not a string */

/* XAPI's datetime text "20261126T22:53:29Z" <-> epoch seconds. parse: 0 or -1. */
void atoll_datetime_format(int64_t epoch_seconds, char out[32]);
int atoll_datetime_parse(const char *s, int64_t *out_epoch_seconds);

#endif

/*
 * toolstack/dm.h - the declarative datamodel: one constant table describing
 * every XenAPI class (fields with type, qualifier, default, roles; explicit
 * messages) plus the helpers everything else derives from it: lookups, default
 * records, wire-value type checking, the stored (JSON) form of records, and
 * the schema hash. Adding a field is one line in dm_classes*.c.
 * Threads: the tables are constant; ts_dm_init() runs once (main) before use.
 * Trust: ts_dm_value_coerce and ts_dm_record_from_json take client/disk data.
 */
#ifndef TS_DM_H
#define TS_DM_H

#include <stddef.h>
#include <stdint.h>

#include "atoll/err.h"
#include "atoll/value.h"
#include "rbac.h"

/*
 * Bump when the datamodel table changes (a field, type, default, role,
 * qualifier, class or message), and append {version, hash} to
 * ts_dm_schema_history in dm_classes.c: tests/unit/toolstack/test_dm.c fails
 * until both are done. Stored records stay readable across versions: missing
 * fields take their defaults, unknown ones are dropped.
 */
#define TS_DM_SCHEMA_VERSION 3

enum ts_dm_kind {
    TS_DM_STRING,
    TS_DM_INT,
    TS_DM_FLOAT,
    TS_DM_BOOL,
    TS_DM_DATETIME,
    TS_DM_REF,   /* cls: the target class ("VM"); wire: "OpaqueRef:..." */
    TS_DM_ENUM,  /* values: the allowed strings */
    TS_DM_SET,   /* elem: element type; wire: array */
    TS_DM_MAP,   /* key, elem: key and value types; wire: struct with stringified keys */
    TS_DM_ANY,   /* event.snapshot: any value, not checked */
};

struct ts_dm_type {
    enum ts_dm_kind kind;
    const char *cls;                /* REF */
    const struct ts_dm_type *elem;  /* SET element, MAP value */
    const struct ts_dm_type *key;   /* MAP key */
    const char *name;               /* ENUM: XenAPI enum name ("vm_power_state") */
    const char *const *values;      /* ENUM: NULL-terminated, canonical spelling */
};

/* XenAPI field qualifiers. */
enum ts_dm_qual {
    TS_DM_RW,   /* settable by clients: set_<f>, add_to_<f>, ... */
    TS_DM_SRO,  /* static_ro ("RO/c"): given at create, read-only afterwards */
    TS_DM_DRO,  /* dynamic_ro ("RO"): written only by the server */
};

struct ts_dm_field {
    const char *name;              /* "name_label" */
    const struct ts_dm_type *type;
    enum ts_dm_qual qual;
    const char *def;               /* default as text ("Halted", "0"); NULL: the type's zero */
    enum ts_role read_role;        /* TS_ROLE_NONE: the class default */
    enum ts_role write_role;       /* TS_ROLE_NONE: the class default */
    const char *inverse;           /* REF fields: the ref-set field of the target class that
                                    * lists the objects pointing at it ("VIFs" for VIF.VM) */
    unsigned flags;                /* TS_DM_F_* */
};

enum ts_dm_field_flags {
    TS_DM_F_DEPRECATED = 1u << 0,
};

/* An explicit (hand-written) message, for documentation, arity and roles. */
struct ts_dm_message {
    const char *name;              /* "start" */
    const char *result;            /* XenAPI result type text ("void", "VM ref") */
    const char *params;            /* XenAPI parameter list text after the session */
    enum ts_role role;             /* TS_ROLE_NONE: the class's write role */
};

enum ts_dm_class_flags {
    TS_DM_C_CREATE = 1u << 0,      /* generic <class>.create(record) */
    TS_DM_C_DESTROY = 1u << 1,     /* generic <class>.destroy(ref) */
    TS_DM_C_NO_EVENTS = 1u << 2,   /* gen_events=false (session, event) */
    TS_DM_C_NOT_STORED = 1u << 3,  /* not in the store, no generic methods (event, session) */
};

struct ts_dm_class {
    const char *name;              /* "VM" */
    const struct ts_dm_field *fields;
    unsigned nfields;
    const struct ts_dm_message *messages;
    unsigned nmessages;
    unsigned flags;                /* TS_DM_C_* */
    enum ts_role read_role;        /* default least role to read fields */
    enum ts_role write_role;       /* default least role to write RW fields */
    enum ts_role create_role;      /* create and destroy */
};

/* The table (dm_classes.c), in a fixed order. */
extern const struct ts_dm_class *const ts_dm_classes[];
extern const unsigned ts_dm_nclasses;

struct ts_dm_schema_mark {
    unsigned version;
    uint64_t hash;
};
extern const struct ts_dm_schema_mark ts_dm_schema_history[];
extern const unsigned ts_dm_schema_history_len;

/* Prepares defaults and indexes. Call once from main before any other ts_dm_ function. */
void ts_dm_init(void);

/* Exact-name class lookup ("VM"); NULL if unknown. */
const struct ts_dm_class *ts_dm_class_find(const char *name);
/* Case-insensitive class lookup ("vm", "Vm"); NULL if unknown. */
const struct ts_dm_class *ts_dm_class_find_ci(const char *name);
/* Lower-case name of a class ("vm"), as event records carry it. Static storage. */
const char *ts_dm_class_lname(const struct ts_dm_class *c);
/* Field lookup; NULL if unknown. *index (may be NULL) gets its position. */
const struct ts_dm_field *ts_dm_field_find(const struct ts_dm_class *c, const char *name,
                                           unsigned *index);
/* Effective roles of a field (class defaults applied). */
enum ts_role ts_dm_field_read_role(const struct ts_dm_class *c, const struct ts_dm_field *f);
enum ts_role ts_dm_field_write_role(const struct ts_dm_class *c, const struct ts_dm_field *f);
/* 1 if the class has a field of that name (e.g. "uuid", "name_label"). */
int ts_dm_class_has(const struct ts_dm_class *c, const char *field);

/* XenAPI type text of a type ("(string -> string) map", "VM ref set"); caller frees. */
char *ts_dm_type_text(const struct ts_dm_type *t);

/*
 * A new record of class c with every field at its default (uuid empty, refs
 * OpaqueRef:NULL, sets/maps empty). Caller owns. Fields are in table order.
 */
struct atoll_value *ts_dm_record_default(const struct ts_dm_class *c);
/* The default value of one field (new reference; caller owns). */
struct atoll_value *ts_dm_field_default(const struct ts_dm_class *c, unsigned index);

/*
 * Checks a wire value against a type and returns its canonical form in *out
 * (a new reference; may share structure with in): ints also from decimal
 * strings, floats from ints/strings, bools from "true"/"false", datetimes from
 * XAPI's text form or epoch ints, enums case-insensitively, refs syntactically
 * ("OpaqueRef:<uuid>" or OpaqueRef:NULL; existence is the caller's business).
 * On a mismatch: FIELD_TYPE_ERROR [field] and -1.
 */
int ts_dm_value_coerce(const struct ts_dm_type *t, struct atoll_value *in, const char *field,
                       struct atoll_value **out, struct atoll_err *err);

/* Text form of a field value, as where-expressions compare them ("true", "42"). Caller frees. */
char *ts_dm_value_text(const struct atoll_value *v);

/*
 * Stored form: a record as a JSON object of its fields (dm_codec.c). to_json
 * returns a malloc'd NUL-terminated string (len may be NULL). from_json parses
 * one, keeping known fields (coerced to their types), dropping unknown ones and
 * filling absent ones with defaults: 0 and *out, or -1 with INTERNAL_ERROR.
 */
char *ts_dm_record_to_json(const struct ts_dm_class *c, const struct atoll_value *rec, size_t *len);
int ts_dm_record_from_json(const struct ts_dm_class *c, const char *json, size_t len,
                           struct atoll_value **out, struct atoll_err *err);

/* 64-bit FNV-1a over a canonical text of the whole table: changes whenever the model does. */
uint64_t ts_dm_schema_hash(void);

#endif

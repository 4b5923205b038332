/*
 * toolstack/dm_generic.h - the XenAPI messages served from the datamodel
 * description alone: get_record, get_all, get_all_records(_where),
 * get_by_uuid, get_by_name_label, get_<f>, set_<f>, add_to_<f>/remove_from_<f>
 * (maps), add_<f>/remove_<f> (sets, e.g. add_tags), create(record), destroy,
 * with XenAPI's errors (HANDLE_INVALID [class, ref], UUID_INVALID [class, uuid],
 * FIELD_TYPE_ERROR [field], MAP_DUPLICATE_KEY [class, field, uuid, key]).
 * Results are atoll_values in XenAPI's wire shapes. Also the internal write
 * helpers hand-written handlers use (any field, still typed and linked).
 * Threads: worker threads only (store I/O), except ts_dm_generic_read_nowait.
 * Trust: every value is client data.
 */
#ifndef TS_DM_GENERIC_H
#define TS_DM_GENERIC_H

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "dm.h"
#include "dm_db.h"

/* Each returns 0 with *out (owned) or -1 with err. refs/uuids are client strings. */
int ts_dm_generic_get_record(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             struct atoll_value **out, struct atoll_err *err);
int ts_dm_generic_get_all(struct ts_dm_db *db, const struct ts_dm_class *c,
                          struct atoll_value **out, struct atoll_err *err);
/* Map ref -> record; records are shared with the cache (read-only). */
int ts_dm_generic_get_all_records(struct ts_dm_db *db, const struct ts_dm_class *c,
                                  struct atoll_value **out, struct atoll_err *err);
int ts_dm_generic_get_all_records_where(struct ts_dm_db *db, const struct ts_dm_class *c,
                                        const char *expr, struct atoll_value **out,
                                        struct atoll_err *err);
int ts_dm_generic_get_by_uuid(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                              struct atoll_value **out, struct atoll_err *err);
int ts_dm_generic_get_by_name_label(struct ts_dm_db *db, const struct ts_dm_class *c,
                                    const char *label, struct atoll_value **out,
                                    struct atoll_err *err);
int ts_dm_generic_get_field(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                            const char *field, struct atoll_value **out, struct atoll_err *err);

/*
 * The same small reads served from the record cache without blocking, for the
 * libevent thread (ts_dm_db_*_nowait): 0 with *out (owned), -1 with err (the
 * same errors as above), or TS_DM_DB_BUSY when the cache is behind the store
 * or its lock is busy (nothing done: run the blocking variant on a worker).
 * arg is the self ref (RECORD, FIELD), the uuid or the label; field for FIELD.
 */
enum ts_dm_generic_read {
    TS_DM_READ_RECORD, TS_DM_READ_FIELD, TS_DM_READ_ALL, TS_DM_READ_BY_UUID,
    TS_DM_READ_BY_NAME_LABEL
};
int ts_dm_generic_read_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                              enum ts_dm_generic_read what, const char *arg, const char *field,
                              struct atoll_value **out, struct atoll_err *err);

/* Client writes: RW fields only (others: MESSAGE_METHOD_UNKNOWN, as XAPI has no such setter). */
int ts_dm_generic_set_field(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                            const char *field, struct atoll_value *value, struct atoll_err *err);
int ts_dm_generic_map_add(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          const char *field, struct atoll_value *key, struct atoll_value *value,
                          struct atoll_err *err);
/* Removing a missing key is a no-op (as XAPI). */
int ts_dm_generic_map_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *key, struct atoll_err *err);
/* Sets are idempotent: adding a present value or removing an absent one is a no-op. */
int ts_dm_generic_set_add(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          const char *field, struct atoll_value *value, struct atoll_err *err);
int ts_dm_generic_set_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *value, struct atoll_err *err);
/*
 * <class>.create(record): RW and static_ro (RO/c) fields from the struct, the
 * rest defaulted; uuid and ref generated; ref fields must name live objects.
 * Writes the new ref into ref_out.
 */
int ts_dm_generic_create(struct ts_dm_db *db, const struct ts_dm_class *c,
                         struct atoll_value *record, char ref_out[ATOLL_REF_STRLEN + 1],
                         struct atoll_err *err);
int ts_dm_generic_destroy(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                          struct atoll_err *err);

/*
 * Runs an implicit message by name ("get_name_label", "add_to_other_config",
 * "add_tags", "create", ...) with its parameters after the session.
 * MESSAGE_METHOD_UNKNOWN ["<Class>.<message>"] when the class has no such
 * generic message; MESSAGE_PARAMETER_COUNT_MISMATCH on a wrong count.
 * *out is owned (void messages give an empty string).
 */
int ts_dm_generic_call(struct ts_dm_db *db, const struct ts_dm_class *c, const char *message,
                       struct atoll_value *const *params, unsigned n, struct atoll_value **out,
                       struct atoll_err *err);
/*
 * The same without blocking, for the libevent thread: the small reads
 * (get_record, get_<f>, get_all, get_by_uuid, get_by_name_label) from the
 * cache; 0, -1 with err, or TS_DM_DB_BUSY (always for the other messages, and
 * when the cache cannot be read at once): then run ts_dm_generic_call on a worker.
 */
int ts_dm_generic_call_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                              const char *message, struct atoll_value *const *params, unsigned n,
                              struct atoll_value **out, struct atoll_err *err);
/* 1 if ts_dm_generic_call_nowait can serve the message (otherwise it always returns BUSY). */
int ts_dm_generic_nowait_ok(const struct ts_dm_class *c, const char *message);

/*
 * Number of parameters (after the session) of an implicit message of c, or -1
 * if c has no such generic message; *pnames (may be NULL) gets their names
 * ("session_id,self,value") for docs and audit.
 */
int ts_dm_generic_arity(const struct ts_dm_class *c, const char *message, const char **pnames);

/* ---- server-side writes for hand-written handlers (VM.start, SR.create, ...) ---- */

/*
 * Creates an object from any fields (a struct name -> value; others default),
 * coercing types; uuid generated when absent. ref_out may be NULL. 0 or -1.
 */
int ts_dm_generic_insert(struct ts_dm_db *db, const struct ts_dm_class *c,
                         struct atoll_value *fields, char ref_out[ATOLL_REF_STRLEN + 1],
                         struct atoll_err *err);
/* Sets any fields (struct name -> value) of one object atomically, keeping links. 0 or -1. */
int ts_dm_generic_update(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                         struct atoll_value *fields, struct atoll_err *err);
/* Adds (add=1) or removes one element of any set field (typed, refs checked). 0 or -1. */
int ts_dm_generic_update_set(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                             const char *field, struct atoll_value *value, int add,
                             struct atoll_err *err);
/* Deletes one object whatever its class allows to clients. 0 or -1. */
int ts_dm_generic_remove(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                         struct atoll_err *err);

/*
 * Registers every generic message of every stored class with the dispatcher
 * (rpc.h, ts_rpc_register_default: hand-written handlers registered earlier
 * win), plus message.create/get/get_since/destroy_many (dm_message.h).
 * db stays owned by the caller and must outlive the dispatcher. 0 or -1.
 */
int ts_dm_generic_register(struct ts_dm_db *db, struct atoll_err *err);

#endif

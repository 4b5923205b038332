/*
 * toolstack/dm_message.h - the explicit messages of the XenAPI message class
 * (alerts shown by XenCenter and Xen Orchestra): create, get (by object and
 * time), get_since, destroy_many. Messages are ordinary store objects, so
 * they produce add/del events like everything else.
 * Threads: worker threads (store I/O). Trust: every parameter is client data.
 */
#ifndef TS_DM_MESSAGE_H
#define TS_DM_MESSAGE_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "dm_db.h"

/*
 * message.create(name, priority, cls, obj_uuid, body): cls is one of the
 * message cls enum (VM, Host, SR, Pool, VDI, ...; any case); for the classes
 * Atoll models, obj_uuid must name a live object (UUID_INVALID [class, uuid]).
 * timestamp = now. Writes the new ref. 0 or -1.
 */
int ts_dm_message_create(struct ts_dm_db *db, const char *name, int64_t priority,
                         const char *cls, const char *obj_uuid, const char *body,
                         char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
/*
 * message.get(cls, obj_uuid, since) and message.get_since(since) (cls NULL):
 * map ref -> record of the messages with timestamp > since. 0 or -1.
 */
int ts_dm_message_get(struct ts_dm_db *db, const char *cls, const char *obj_uuid, int64_t since,
                      struct atoll_value **out, struct atoll_err *err);
/* message.destroy_many(refs): all or nothing; HANDLE_INVALID [message, ref]. */
int ts_dm_message_destroy_many(struct ts_dm_db *db, struct atoll_value *refs,
                               struct atoll_err *err);

#endif

/*
 * toolstack/dm_explicit.h - explicit XenAPI messages that only edit the
 * database (VDI.set_name_label, SR.set_shared, VIF.add_ipv4_allowed,
 * task.set_progress, subject.add_to_roles, blob.create, ...), declared as one
 * table of (class, message, field, operation). Registered as defaults: a
 * storage or network plugin's hand-written handler registered first wins.
 * Threads: registration on the main thread; handlers on workers.
 */
#ifndef TS_DM_EXPLICIT_H
#define TS_DM_EXPLICIT_H

#include "dm_db.h"

/* Registers the table's messages with the dispatcher (rpc.h). 0, or -1 if one could not be. */
int ts_dm_explicit_register(struct ts_dm_db *db);

#endif

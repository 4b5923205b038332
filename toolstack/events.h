/*
 * toolstack/events.h - XenAPI events built on the store's watch-from-revision:
 * event.from (tokens, "*" / "vm" / "vm/<ref>" subscriptions, case-insensitive,
 * unknown classes ignored, add/mod/del coalesced per object, del without a
 * snapshot, valid_ref_counts, blocking up to the timeout and woken by a commit
 * within microseconds), event.inject, event.get_current_id, and the legacy
 * event.register / event.next / event.unregister with EVENTS_LOST.
 * Tokens are "<20-digit store revision>,<20-digit 0>" (ordered as strings).
 * Threads: worker threads; waits block the calling thread (never the libevent
 * thread). Trust: classes, tokens and refs are client data.
 */
#ifndef TS_EVENTS_H
#define TS_EVENTS_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/value.h"
#include "dm_db.h"
#include "rbac.h"

struct ts_events;

/* Follows db's store (commit listener); db must outlive it. 0 or -1. */
int ts_events_new(struct ts_dm_db *db, struct ts_events **out, struct atoll_err *err);
void ts_events_free(struct ts_events *ev); /* NULL is a no-op; no call may be in progress */

/*
 * event.from. classes: array of subscription strings; token: "" (everything
 * now live, as add events) or a token from an earlier call; timeout in seconds
 * (float; clamped to [0, 3600]). session may be NULL (internal callers); role
 * hides fields the caller may not read (secret.value) from snapshots.
 * Returns 0 and *out = {events: [...], valid_ref_counts: {class: n}, token: "..."}
 * (events empty only on timeout), or -1: EVENT_SUBSCRIPTION_PARSE_FAILURE [sub],
 * EVENT_FROM_TOKEN_PARSE_FAILURE [token], SESSION_INVALID [session] (logged out
 * while waiting), FIELD_TYPE_ERROR [classes], EVENTS_LOST when the token is older
 * than the kept deletion log (clients re-read everything with token "", as XO does).
 */
int ts_events_from(struct ts_events *ev, const char *session, enum ts_role role,
                   struct atoll_value *classes, const char *token, double timeout,
                   struct atoll_value **out, struct atoll_err *err);

/*
 * event.inject(class, ref): rewrites the object unchanged (a "mod" event) and
 * returns a token from just before that change. HANDLE_INVALID [class, ref].
 */
int ts_events_inject(struct ts_events *ev, const char *cls, const char *ref,
                     struct atoll_value **out, struct atoll_err *err);
/* event.get_current_id: the current store revision as an int. */
struct atoll_value *ts_events_current_id(struct ts_events *ev);

/* Legacy API: per-session subscriptions. register adds classes, unregister removes them. */
int ts_events_register(struct ts_events *ev, const char *session, struct atoll_value *classes,
                       struct atoll_err *err);
int ts_events_unregister(struct ts_events *ev, const char *session, struct atoll_value *classes,
                         struct atoll_err *err);
/*
 * event.next: the events since the session's previous next (or register),
 * blocking until there is one or max_wait seconds pass ([] then).
 * SESSION_NOT_REGISTERED [session]; EVENTS_LOST when the deletion log was
 * compacted past the session's position (it is moved to now: re-read state).
 */
int ts_events_next(struct ts_events *ev, const char *session, enum ts_role role, double max_wait,
                   struct atoll_value **out, struct atoll_err *err);

/* A session ended: drops its registration and wakes its waiters with SESSION_INVALID. */
void ts_events_session_gone(struct ts_events *ev, const char *session);

/* Registers event.from/inject/get_current_id/register/unregister/next with the dispatcher. */
int ts_events_register_methods(struct ts_events *ev, struct atoll_err *err);

#endif

/*
 * toolstack/session.h - sessions and local users. Sessions are kept in memory
 * (a hash table) until the object store holds them; callers use only this
 * header, so the storage can move without changing them. Users live in
 * <state-dir>/users (name:role:hash lines, salted PBKDF2-SHA256, replaced atomically).
 * Threads: every function is thread-safe (one mutex; hashing happens outside it).
 * Trust: user names and passwords are client data; never logged.
 */
#ifndef TS_SESSION_H
#define TS_SESSION_H

#include <stdint.h>

#include "atoll/err.h"
#include "atoll/uuid.h"
#include "atoll/value.h"
#include "rbac.h"

/* A snapshot of one session (strings owned; ts_session_info_fini). */
struct ts_session_info {
    char ref[ATOLL_REF_STRLEN + 1];
    char uuid[ATOLL_UUID_STRLEN + 1];
    char *user;
    char *originator;
    enum ts_role role;
    int is_local_superuser;
    int64_t created;      /* epoch seconds */
    int64_t last_active;  /* epoch seconds */
};
void ts_session_info_fini(struct ts_session_info *s);

/*
 * Opens the user table under state_dir. When it has no root yet, root_password
 * (may be NULL) creates root (pool-admin); with neither, -1 and err says how to
 * give one. idle_timeout_s: sessions idle longer expire (0: default 24 h).
 */
int ts_session_init(const char *state_dir, const char *root_password, unsigned idle_timeout_s,
                    struct atoll_err *err);
void ts_session_fini(void);

/*
 * Checks user/password and creates a session. Writes the new ref. Failure:
 * SESSION_AUTHENTICATION_FAILED [user, message]. Slow on purpose (PBKDF2).
 */
int ts_session_login(const char *user, const char *password, const char *originator,
                     char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
/* Logs out; SESSION_INVALID [ref] if unknown. */
int ts_session_logout(const char *ref, struct atoll_err *err);
/*
 * Validates a session and marks it active; fills *out (may be NULL).
 * SESSION_INVALID [ref] if unknown or expired.
 */
int ts_session_check(const char *ref, struct ts_session_info *out, struct atoll_err *err);
/*
 * The same without waiting (libevent thread): TS_SESSION_BUSY, having done
 * nothing, when the table's lock is taken or the session has just expired
 * (dropping it runs the gone hook); then call ts_session_check on a worker.
 */
#define TS_SESSION_BUSY (-2)
int ts_session_check_nowait(const char *ref, struct ts_session_info *out, struct atoll_err *err);
/* Snapshot without touching last_active: 1 found, 0 absent. */
int ts_session_get(const char *ref, struct ts_session_info *out);
/* All live sessions; *out array of *n (free each with fini, then the array). */
void ts_session_list(struct ts_session_info **out, unsigned *n);
/* Drops sessions idle longer than the timeout; returns how many. */
unsigned ts_session_expire(void);
/* Ends every session (shutdown), announcing each to the gone hook; returns how many. */
unsigned ts_session_end_all(void);
/* Logs out every session of one user; returns how many. */
unsigned ts_session_logout_user(const char *user);

/* ---- local users (Atoll extension methods local_user.*; root is pool-admin) ---- */
int ts_session_user_add(const char *user, const char *password, enum ts_role role,
                        struct atoll_err *err);
int ts_session_user_remove(const char *user, struct atoll_err *err);
int ts_session_user_set_password(const char *user, const char *password, struct atoll_err *err);
/* Array of {name, role} structs, sorted by name (owned). */
struct atoll_value *ts_session_user_list(void);

/* Creates a session without a password check (local UNIX socket logins, as XAPI does);
 * the user must exist. */
int ts_session_login_trusted(const char *user, const char *originator,
                             char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err);
/*
 * Called (outside the session lock, on whatever thread ended it) for every
 * session that ends: logout, idle expiry, eviction, user removal. events.c
 * uses it to wake event.from callers with SESSION_INVALID. One hook; NULL clears.
 */
typedef void (*ts_session_gone_fn)(void *arg, const char *ref);
void ts_session_set_gone_hook(ts_session_gone_fn fn, void *arg);

/* The host ref reported as session.this_host (default OpaqueRef:NULL); copied. */
void ts_session_set_this_host(const char *host_ref);
void ts_session_get_this_host(char out[ATOLL_REF_STRLEN + 1]);

/*
 * Registers session.* (login_with_password, logout, local_logout, change_password,
 * get_all_subject_identifiers, logout_subject_identifier, get_record, get_<field>,
 * get_all, get_all_records, get_by_uuid) and the Atoll extension local_user.*
 * (create, destroy, set_password, get_all) with the dispatcher. Sessions are not
 * store objects yet: the datamodel must not register the session class's
 * methods itself (or must use ts_rpc_register_default so these win).
 */
int ts_session_register_methods(struct atoll_err *err);

#endif

/*
 * toolstack/rbac.h - the XenAPI roles and the permission check every call goes
 * through, plus the audit log (one line per write: who, what, result).
 * Roles are ordered: each includes every permission of the roles below it.
 * Threads: any; the audit sink is serialised internally.
 * Trust: role names come from user files and clients; they are validated.
 */
#ifndef TS_RBAC_H
#define TS_RBAC_H

#include "atoll/err.h"

struct ts_call;

/* In XenAPI order, least to most powerful. TS_ROLE_NONE: no session needed. */
enum ts_role {
    TS_ROLE_NONE = 0,
    TS_ROLE_READ_ONLY,
    TS_ROLE_VM_OPERATOR,
    TS_ROLE_VM_ADMIN,
    TS_ROLE_VM_POWER_ADMIN,
    TS_ROLE_POOL_OPERATOR,
    TS_ROLE_POOL_ADMIN,
};

/* "pool-admin", "read-only", ...; "none" for TS_ROLE_NONE. */
const char *ts_rbac_role_name(enum ts_role role);
/* Parses "pool-admin" (also "pool_admin", any case). 0, or -1 if unknown. */
int ts_rbac_role_from_name(const char *name, enum ts_role *out);

/*
 * The permission check: 0 if the caller's role includes "needed", else -1 with
 * RBAC_PERMISSION_DENIED [permission, message] in err. permission is what the
 * client sees as denied (the method name, or "VM.set_other_config/key:foo").
 * The dispatcher calls it for every method with the registered role; generic
 * datamodel methods call it again for finer, per-field rules.
 */
int ts_rbac_check(const struct ts_call *call, enum ts_role needed, const char *permission,
                  struct atoll_err *err);

/*
 * Audit: opens the audit log (appending; NULL path = the daemon log only).
 * Lines: "<iso-time> AUDIT user=<u> session=<uuid-of-session> from=<peer> call=<method>
 * args=<refs/uuids, never secrets> result=<OK|ERROR_CODE>".
 */
int ts_rbac_audit_open(const char *path, struct atoll_err *err);
void ts_rbac_audit_close(void);
/* Writes one audit line for a finished write call; err NULL or unset means success. */
void ts_rbac_audit(const struct ts_call *call, const char *args, const struct atoll_err *err);

#endif

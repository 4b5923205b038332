/*
 * toolstack/rbac.c - XenAPI role names, the ordered permission check, and
 * the audit log (a file of one line per write call, fsync-free appends).
 * Threads: any; the audit file is written under a mutex, one write per line.
 * Trust: role names are validated; audit lines never carry secrets.
 */
#define ATOLL_LOG_MODULE "audit"
#include "rbac.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "atoll/value.h"
#include "rpc.h"

static const char *const role_names[] = {
    [TS_ROLE_NONE] = "none",
    [TS_ROLE_READ_ONLY] = "read-only",
    [TS_ROLE_VM_OPERATOR] = "vm-operator",
    [TS_ROLE_VM_ADMIN] = "vm-admin",
    [TS_ROLE_VM_POWER_ADMIN] = "vm-power-admin",
    [TS_ROLE_POOL_OPERATOR] = "pool-operator",
    [TS_ROLE_POOL_ADMIN] = "pool-admin",
};

const char *ts_rbac_role_name(enum ts_role role)
{
    if ((unsigned)role >= ATOLL_ARRAY_SIZE(role_names))
        return "unknown";
    return role_names[role];
}

int ts_rbac_role_from_name(const char *name, enum ts_role *out)
{
    if (!name)
        return -1;
    for (unsigned r = TS_ROLE_READ_ONLY; r < ATOLL_ARRAY_SIZE(role_names); r++) {
        const char *want = role_names[r];
        size_t n = strlen(want);
        if (strlen(name) != n)
            continue;
        size_t i = 0;
        for (; i < n; i++) {
            char c = name[i] == '_' ? '-' : name[i];
            if (c >= 'A' && c <= 'Z')
                c = (char)(c - 'A' + 'a');
            if (c != want[i])
                break;
        }
        if (i == n) {
            *out = (enum ts_role)r;
            return 0;
        }
    }
    return -1;
}

int ts_rbac_check(const struct ts_call *call, enum ts_role needed, const char *permission,
                  struct atoll_err *err)
{
    if (needed == TS_ROLE_NONE)
        return 0;
    if (call && call->session_ref && call->role >= needed)
        return 0;
    ATOLL_AUTOFREE char *msg = atoll_strdup_printf(
        "The role '%s' of user '%s' does not allow this action; it needs '%s' or higher.",
        ts_rbac_role_name(call ? call->role : TS_ROLE_NONE),
        call && call->user ? call->user : "(none)", ts_rbac_role_name(needed));
    ATOLL_ERR(err, ATOLL_E_RBAC_PERMISSION_DENIED,
              permission ? permission : call && call->method ? call->method : "", msg);
    return -1;
}

static struct {
    pthread_mutex_t lock;
    int fd;
} audit = {PTHREAD_MUTEX_INITIALIZER, -1};

int ts_rbac_audit_open(const char *path, struct atoll_err *err)
{
    if (!path)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot open the audit log");
        atoll_err_detail(err, "open '%s': %s", path, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&audit.lock);
    if (audit.fd >= 0)
        close(audit.fd);
    audit.fd = fd;
    pthread_mutex_unlock(&audit.lock);
    return 0;
}

void ts_rbac_audit_close(void)
{
    pthread_mutex_lock(&audit.lock);
    if (audit.fd >= 0)
        close(audit.fd);
    audit.fd = -1;
    pthread_mutex_unlock(&audit.lock);
}

/* Copies s into the line, replacing anything but printable ASCII so lines stay lines. */
static void put_clean(char *dst, size_t cap, const char *s)
{
    size_t i = 0;
    for (; s && *s && i + 1 < cap; s++)
        dst[i++] = (*s >= 0x21 && *s < 0x7f) ? *s : '_';
    dst[i] = '\0';
}

void ts_rbac_audit(const struct ts_call *call, const char *args, const struct atoll_err *err)
{
    char user[65], method[129], peer[65], when[32];
    char session[ATOLL_UUID_STRLEN + 1] = "-";
    put_clean(user, sizeof(user), call && call->user ? call->user : "-");
    put_clean(method, sizeof(method), call && call->method ? call->method : "-");
    put_clean(peer, sizeof(peer), call && call->peer ? call->peer : "-");
    /* the session's uuid identifies it in the log; the ref is a secret */
    if (call && call->session_uuid)
        put_clean(session, sizeof(session), call->session_uuid);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    atoll_datetime_format(ts.tv_sec, when);
    const char *result = atoll_err_is_set(err) ? atoll_err_code_name(err->code) : "OK";
    ATOLL_AUTOFREE char *line = atoll_strdup_printf(
        "%s AUDIT user=%s session=%s from=%s call=%s%s args=[%s] result=%s\n", when, user,
        session, peer, call && call->task_ref ? "Async." : "", method, args ? args : "",
        result ? result : "INTERNAL_ERROR");
    log_info("%.*s", (int)strlen(line) - 1, line);
    pthread_mutex_lock(&audit.lock);
    if (audit.fd >= 0 && atoll_write_all(audit.fd, line, strlen(line)) < 0)
        log_warn("cannot write the audit log: %s", strerror(errno));
    pthread_mutex_unlock(&audit.lock);
}

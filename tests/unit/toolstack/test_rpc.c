/* tests/unit/toolstack/test_rpc.c - the dispatcher without HTTP: registration rules, arity and
 * defaults, unknown methods, sessions (login with 2-4 args, logout, expiry of bad refs), RBAC
 * roles, error mapping, Async tasks, the audit log and the user table on disk, and what
 * ts_rpc_dispatch_nowait answers on the loop thread or hands back (TS_RPC_AGAIN). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atoll/util.h"
#include "rbac.h"
#include "rpc.h"
#include "session.h"
#include "rpc_call.h"
#include "tap.h"
#include "workq.h"
#include "xmlrpc.h"

static char dir[64];

#define S(x) atoll_value_string(x)

static int64_t last_default;

static int h_echo(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    int64_t i = 0;
    if (n == 2 && ts_rpc_param_int(p, 1, "count", &i, err) < 0)
        return -1;
    last_default = i;
    *result = atoll_value_ref(p[0]);
    return 0;
}

static int h_fail(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    ATOLL_ERR(err, ATOLL_E_VM_BAD_POWER_STATE, "OpaqueRef:v", "halted", "running");
    return -1;
}

static int h_whoami(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    *result = atoll_value_string_take(atoll_strdup_printf(
        "%s/%s/%s", call->user, ts_rbac_role_name(call->role), call->task_ref ? "async" : "sync"));
    return 0;
}

/* A TS_RPC_NOWAIT read: answers "loop" or "worker"; nowait_again makes the loop try give up. */
static int nowait_again, nowait_calls;

static int h_peek(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                  struct atoll_value **result, struct atoll_err *err)
{
    nowait_calls++;
    if (call->nowait && nowait_again)
        return TS_RPC_AGAIN;
    *result = atoll_value_string(call->nowait ? "loop" : "worker");
    return 0;
}

/* ts_rpc_dispatch_nowait of name(args) (NULL-terminated, consumed); the result's string in out. */
static int rpc_nowait(const char *name, char *out, size_t cap, struct atoll_err *err, ...)
{
    struct atoll_value *res;
    va_list ap;
    va_start(ap, err);
    int rc = rpc_call_va(name, 1, &res, err, ap);
    va_end(ap);
    snprintf(out, cap, "%s", res && atoll_value_get_string(res) ? atoll_value_get_string(res) : "");
    atoll_value_unref(res);
    return rc;
}

static char *login(const char *user, const char *pw)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *r = NULL;
    if (rpc("session.login_with_password", &r, &err, S(user), S(pw), NULL) < 0) {
        atoll_err_clear(&err);
        return NULL;
    }
    char *s = atoll_strdup(atoll_value_get_string(r));
    atoll_value_unref(r);
    return s;
}

static void test_registration(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE three = atoll_value_int(3);
    struct atoll_value *defs[3] = {NULL, NULL, three};
    struct ts_rpc_method echo = {"test.echo", 2, 3, TS_ROLE_READ_ONLY, 0, h_echo, NULL, defs,
                                 "session_id,value,count"};
    is_int(ts_rpc_register(&echo, &err), 0, "register test.echo");
    is_int(ts_rpc_register(&echo, &err), -1, "duplicate name refused");
    atoll_err_clear(&err);
    struct ts_rpc_method nodef = {.name = "test.nodef", .min_params = 1, .max_params = 2,
                                  .role = TS_ROLE_READ_ONLY, .fn = h_echo};
    is_int(ts_rpc_register(&nodef, &err), -1, "optional params without defaults refused");
    atoll_err_clear(&err);
    struct ts_rpc_method fail = {.name = "test.fail", .min_params = 1, .max_params = 1,
                                 .role = TS_ROLE_VM_OPERATOR, .flags = TS_RPC_WRITE, .fn = h_fail};
    struct ts_rpc_method admin = {.name = "test.admin_only", .min_params = 1, .max_params = 1,
                                  .role = TS_ROLE_POOL_ADMIN, .flags = TS_RPC_WRITE,
                                  .fn = h_whoami};
    struct ts_rpc_method power = {.name = "test.vm_power", .min_params = 1, .max_params = 1,
                                  .role = TS_ROLE_VM_POWER_ADMIN, .flags = TS_RPC_WRITE,
                                  .fn = h_whoami};
    struct ts_rpc_method who = {.name = "test.whoami", .min_params = 1, .max_params = 1,
                                .role = TS_ROLE_READ_ONLY, .fn = h_whoami};
    ok(ts_rpc_register(&fail, &err) == 0 && ts_rpc_register(&admin, &err) == 0 &&
           ts_rpc_register(&power, &err) == 0 && ts_rpc_register(&who, &err) == 0,
       "register the other test methods");
    is_int(ts_rpc_register_default(&who), 0, "register_default keeps the existing one");
    struct ts_rpc_method peek = {.name = "test.peek", .min_params = 1, .max_params = 1,
                                 .role = TS_ROLE_VM_OPERATOR,
                                 .flags = TS_RPC_NO_ASYNC | TS_RPC_NOWAIT, .fn = h_peek};
    struct ts_rpc_method peek_async = {.name = "test.peek_async", .min_params = 1,
                                       .max_params = 1, .role = TS_ROLE_READ_ONLY,
                                       .flags = TS_RPC_NOWAIT, .fn = h_peek};
    ok(ts_rpc_register(&peek, &err) == 0 && ts_rpc_register(&peek_async, &err) == 0,
       "register TS_RPC_NOWAIT methods");
    is_int(ts_session_register_methods(&err), 0, "session methods register");
    is_int(ts_rpc_start(4, &err), 0, "dispatcher starts");
    is_int(ts_rpc_register(&nodef, &err), -1, "registration after start refused");
    atoll_err_clear(&err);
}

static void test_sessions_and_errors(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *r = NULL;
    char *root = login("root", "rootpw");
    ok(root && strncmp(root, "OpaqueRef:", 10) == 0, "root logs in with 2 params");
    is_int(rpc("session.login_with_password", &r, &err, S("root"), S("rootpw"), S("1.1"),
               S("test"), NULL), 0, "login with 4 params");
    atoll_value_unref(r);
    is_int(rpc("session.login_with_password", NULL, &err, S("root"), NULL), -1,
           "login with 1 param fails");
    is_str(atoll_err_code_name(err.code), "MESSAGE_PARAMETER_COUNT_MISMATCH", "arity error");
    is_str(err.params[0], "session.login_with_password", "names the method");
    is_str(err.params[1], "4", "expected count");
    is_str(err.params[2], "1", "received count");
    atoll_err_clear(&err);
    is_int(rpc("session.login_with_password", NULL, &err, S("root"), S("nope"), NULL), -1,
           "wrong password");
    is_str(atoll_err_code_name(err.code), "SESSION_AUTHENTICATION_FAILED", "auth failure code");
    atoll_err_clear(&err);
    is_int(rpc("session.login_with_password", NULL, &err, S("ghost"), S("x"), NULL), -1,
           "unknown user");
    is_str(atoll_err_code_name(err.code), "SESSION_AUTHENTICATION_FAILED", "same code");
    atoll_err_clear(&err);
    is_int(rpc("session.login_with_password", NULL, &err, atoll_value_int(1), S("x"), NULL), -1,
           "non-string user name");
    is_str(atoll_err_code_name(err.code), "FIELD_TYPE_ERROR", "type error");
    atoll_err_clear(&err);

    is_int(rpc("No.such_method", NULL, &err, S(root), NULL), -1, "unknown method");
    is_str(atoll_err_code_name(err.code), "MESSAGE_METHOD_UNKNOWN", "unknown code");
    is_str(err.params[0], "No.such_method", "names the method");
    atoll_err_clear(&err);
    is_int(rpc("test.echo", &r, &err, S("OpaqueRef:bogus"), S("x"), NULL), -1, "bad session");
    is_str(atoll_err_code_name(err.code), "SESSION_INVALID", "SESSION_INVALID");
    is_str(err.params[0], "OpaqueRef:bogus", "names the handle");
    atoll_err_clear(&err);
    is_int(rpc("test.echo", &r, &err, S(root), S("hello"), NULL), 0, "call with a default");
    is_str(atoll_value_get_string(r), "hello", "result");
    is_int(last_default, 3, "missing trailing param defaulted");
    atoll_value_unref(r);
    is_int(rpc("test.echo", &r, &err, S(root), S("x"), S("7"), NULL), 0, "int64 as a string");
    is_int(last_default, 7, "string numeral accepted for int");
    atoll_value_unref(r);
    is_int(rpc("test.echo", &r, &err, S(root), S("x"), S("seven"), NULL), -1, "bad int");
    is_str(atoll_err_code_name(err.code), "FIELD_TYPE_ERROR", "FIELD_TYPE_ERROR [count]");
    is_str(err.params[0], "count", "names the parameter");
    atoll_err_clear(&err);
    is_int(rpc("test_echo", &r, &err, S(root), S("u"), NULL), 0, "Class_message form accepted");
    atoll_value_unref(r);
    is_int(rpc("test.fail", NULL, &err, S(root), NULL), -1, "handler error");
    is_str(atoll_err_code_name(err.code), "VM_BAD_POWER_STATE", "error code passed through");
    is_int(err.nparams, 3, "with its parameters");
    struct atoll_value *desc = ts_xmlrpc_error_description(&err);
    is_str(atoll_value_get_string(atoll_value_array_get(desc, 3)), "running",
           "ErrorDescription built in order");
    atoll_value_unref(desc);
    atoll_err_clear(&err);

    unsigned flags = 0;
    struct ts_rpc_request lm = {.method = "system.listMethods", .proto = TS_RPC_XMLRPC};
    ok(ts_rpc_dispatch(&lm, &r, &flags, &err) == 0 && (flags & TS_RPC_REPLY_BARE),
       "system.listMethods is bare");
    int found = 0, hidden = 0;
    for (size_t i = 0; i < atoll_value_array_len(r); i++) {
        const char *m = atoll_value_get_string(atoll_value_array_get(r, i));
        found |= strcmp(m, "test.echo") == 0;
        hidden |= strcmp(m, "system.listMethods") == 0;
    }
    ok(found && !hidden, "lists registered methods, not system.*");
    atoll_value_unref(r);
    is_int(rpc("system.isAlive", &r, &err, S("ping"), NULL), 0, "system.isAlive");
    is_str(atoll_value_get_string(r), "ping", "echoes its parameter");
    atoll_value_unref(r);

    is_int(rpc("session.logout", NULL, &err, S(root), NULL), 0, "logout");
    is_int(rpc("test.whoami", NULL, &err, S(root), NULL), -1, "logged-out session refused");
    is_str(atoll_err_code_name(err.code), "SESSION_INVALID", "SESSION_INVALID after logout");
    atoll_err_clear(&err);
    free(root);
}

/* ts_rpc_dispatch_nowait: what the libevent thread may answer itself, and what it hands on. */
static void test_nowait(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    char out[64];
    char *root = login("root", "rootpw"), *ro = login("ro", "new-pass");
    ok(root && ro, "root and read-only log in");
    nowait_calls = 0;
    is_int(rpc_nowait("test.peek", out, sizeof(out), &err, S(root), NULL), 0,
           "a TS_RPC_NOWAIT method is answered");
    is_str(out, "loop", "its handler ran with call->nowait set");
    is_int(rpc_nowait("test_peek", out, sizeof(out), &err, S(root), NULL), 0,
           "also in the Class_message form");
    is_int(rpc_nowait("test.whoami", out, sizeof(out), &err, S(root), NULL), TS_RPC_AGAIN,
           "other methods: TS_RPC_AGAIN");
    is_int(rpc_nowait("No.such_method", out, sizeof(out), &err, S(root), NULL), TS_RPC_AGAIN,
           "unknown methods: TS_RPC_AGAIN (the worker answers the error)");
    is_int(rpc_nowait("Async.test.peek_async", out, sizeof(out), &err, S(root), NULL),
           TS_RPC_AGAIN, "Async calls: TS_RPC_AGAIN (a task is a write)");
    is_int(rpc_nowait("test.peek", out, sizeof(out), &err, S(ro), NULL), TS_RPC_AGAIN,
           "a call the role does not allow: TS_RPC_AGAIN (the worker denies and logs)");
    ok(!atoll_err_is_set(&err), "TS_RPC_AGAIN leaves err untouched");
    is_int(nowait_calls, 2, "the handler ran only for the calls answered");
    is_int(rpc_nowait("test.peek", out, sizeof(out), &err, S("OpaqueRef:bogus"), NULL), -1,
           "a bad session is answered at once");
    is_str(atoll_err_code_name(err.code), "SESSION_INVALID", "SESSION_INVALID");
    atoll_err_clear(&err);
    is_int(rpc_nowait("test.peek", out, sizeof(out), &err, S(root), S("x"), NULL), -1,
           "a wrong parameter count is answered at once");
    is_str(atoll_err_code_name(err.code), "MESSAGE_PARAMETER_COUNT_MISMATCH", "count mismatch");
    atoll_err_clear(&err);
    nowait_again = 1;
    is_int(rpc_nowait("test.peek", out, sizeof(out), &err, S(root), NULL), TS_RPC_AGAIN,
           "the handler's TS_RPC_AGAIN is passed on");
    struct atoll_value *r = NULL;
    is_int(rpc("test.peek", &r, &err, S(root), NULL), 0, "the same call on a worker");
    is_str(r ? atoll_value_get_string(r) : NULL, "worker", "runs without call->nowait");
    atoll_value_unref(r);
    nowait_again = 0;
    is_int(rpc_nowait("system.isAlive", out, sizeof(out), &err, NULL), 0,
           "system.isAlive is answered at once");
    is_str(out, "OK", "with its default");
    rpc("session.logout", NULL, &err, S(ro), NULL);
    rpc("session.logout", NULL, &err, S(root), NULL);
    atoll_err_clear(&err);
    free(root);
    free(ro);
}

static void test_rbac(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *r = NULL;
    char *root = login("root", "rootpw");
    is_int(rpc("local_user.create", NULL, &err, S(root), S("ro"), S("ro-pass"), S("read-only"),
               NULL), 0, "create a read-only user");
    is_int(rpc("local_user.create", NULL, &err, S(root), S("op"), S("op-pass"), S("vm-operator"),
               NULL), 0, "create a vm-operator");
    is_int(rpc("local_user.create", NULL, &err, S(root), S("pa"), S("pa-pass"),
               S("vm_power_admin"), NULL), 0, "create a vm-power-admin (underscore spelling)");
    is_int(rpc("local_user.create", NULL, &err, S(root), S("bad"), S("x"), S("emperor"), NULL), -1,
           "unknown role refused");
    is_str(atoll_err_code_name(err.code), "INVALID_VALUE", "INVALID_VALUE [role, ...]");
    atoll_err_clear(&err);
    char *ro = login("ro", "ro-pass"), *op = login("op", "op-pass"), *pa = login("pa", "pa-pass");
    ok(ro && op && pa, "the new users log in");
    is_int(rpc("test.whoami", &r, &err, S(ro), NULL), 0, "read-only may read");
    is_str(atoll_value_get_string(r), "ro/read-only/sync", "call carries user and role");
    atoll_value_unref(r);
    is_int(rpc("test.fail", NULL, &err, S(ro), NULL), -1, "read-only may not operate VMs");
    is_str(atoll_err_code_name(err.code), "RBAC_PERMISSION_DENIED", "RBAC_PERMISSION_DENIED");
    is_str(err.params[0], "test.fail", "names the permission");
    atoll_err_clear(&err);
    is_int(rpc("test.fail", NULL, &err, S(op), NULL), -1, "vm-operator reaches the handler");
    is_str(atoll_err_code_name(err.code), "VM_BAD_POWER_STATE", "(which fails on its own)");
    atoll_err_clear(&err);
    is_int(rpc("test.vm_power", NULL, &err, S(op), NULL), -1, "vm-operator below vm-power-admin");
    atoll_err_clear(&err);
    is_int(rpc("test.vm_power", NULL, &err, S(pa), NULL), 0, "vm-power-admin allowed");
    is_int(rpc("test.admin_only", NULL, &err, S(pa), NULL), -1, "pool-admin only");
    is_str(atoll_err_code_name(err.code), "RBAC_PERMISSION_DENIED", "denied");
    atoll_err_clear(&err);
    is_int(rpc("local_user.create", NULL, &err, S(ro), S("x2"), S("pw"), S("pool-admin"), NULL),
           -1, "read-only cannot create users");
    atoll_err_clear(&err);
    is_int(rpc("session.get_all_subject_identifiers", &r, &err, S(root), NULL), 0,
           "get_all_subject_identifiers");
    is_int(atoll_value_array_len(r), 3, "one identifier per non-root user with a session");
    atoll_value_unref(r);
    is_int(rpc("session.change_password", NULL, &err, S(ro), S("wrong"), S("new-pass"), NULL), -1,
           "change_password checks the old password");
    atoll_err_clear(&err);
    is_int(rpc("session.change_password", NULL, &err, S(ro), S("ro-pass"), S("new-pass"), NULL), 0,
           "change_password");
    char *ro2 = login("ro", "new-pass");
    ok(ro2 != NULL, "new password works");
    is_int(rpc("local_user.destroy", NULL, &err, S(root), S("op"), NULL), 0, "destroy a user");
    is_int(rpc("test.whoami", NULL, &err, S(op), NULL), -1, "its sessions are gone");
    atoll_err_clear(&err);
    is_int(rpc("local_user.destroy", NULL, &err, S(root), S("root"), NULL), -1,
           "root cannot be destroyed");
    atoll_err_clear(&err);

    /* the session record */
    is_int(rpc("session.get_record", &r, &err, S(ro2), S(ro2), NULL), 0, "own session record");
    is_str(atoll_value_struct_get_string(r, "auth_user_name"), "ro", "auth_user_name");
    ok(atoll_value_get_bool(atoll_value_struct_get(r, "is_local_superuser")) == 0,
       "not a superuser");
    atoll_value_unref(r);
    is_int(rpc("session.get_record", &r, &err, S(ro2), S(root), NULL), -1,
           "read-only cannot read root's session");
    atoll_err_clear(&err);

    /* Async */
    is_int(rpc("Async.test.whoami", &r, &err, S(pa), NULL), 0, "Async call returns");
    char *task = atoll_strdup(atoll_value_get_string(r));
    atoll_value_unref(r);
    ok(task && strncmp(task, "OpaqueRef:", 10) == 0, "a task ref");
    const char *status = NULL;
    struct atoll_value *st = NULL;
    for (int i = 0; i < 500; i++) {
        atoll_value_unref(st);
        st = NULL;
        rpc("task.get_status", &st, &err, S(pa), S(task), NULL);
        status = atoll_value_get_string(st);
        if (status && strcmp(status, "pending") != 0)
            break;
        usleep(10000);
    }
    is_str(status, "success", "task succeeded");
    atoll_value_unref(st);
    is_int(rpc("task.get_result", &r, &err, S(pa), S(task), NULL), 0, "task.get_result");
    is_str(atoll_value_get_string(r), "<value>pa/vm-power-admin/async</value>",
           "result is the XML-RPC fragment");
    atoll_value_unref(r);
    is_int(rpc("task.get_name_label", &r, &err, S(pa), S(task), NULL), 0, "task name");
    is_str(atoll_value_get_string(r), "Async.test.whoami", "named after the call");
    atoll_value_unref(r);
    is_int(rpc("task.get_record", &r, &err, S(ro2), S(task), NULL), -1,
           "other users' tasks are private to read-only");
    atoll_err_clear(&err);
    is_int(rpc("task.destroy", NULL, &err, S(pa), S(task), NULL), 0, "task.destroy");
    is_int(rpc("task.get_status", NULL, &err, S(pa), S(task), NULL), -1, "destroyed task gone");
    is_str(atoll_err_code_name(err.code), "HANDLE_INVALID", "HANDLE_INVALID [task, ref]");
    atoll_err_clear(&err);
    is_int(rpc("Async.test.fail", &r, &err, S(root), NULL), 0, "failing Async call");
    free(task);
    task = atoll_strdup(atoll_value_get_string(r));
    atoll_value_unref(r);
    for (int i = 0; i < 500; i++) {
        rpc("task.get_status", &st, &err, S(root), S(task), NULL);
        int pending = strcmp(atoll_value_get_string(st), "pending") == 0;
        atoll_value_unref(st);
        if (!pending)
            break;
        usleep(10000);
    }
    rpc("task.get_error_info", &r, &err, S(root), S(task), NULL);
    is_str(atoll_value_get_string(atoll_value_array_get(r, 0)), "VM_BAD_POWER_STATE",
           "error_info carries the ErrorDescription");
    atoll_value_unref(r);
    is_int(rpc("Async.session.logout", NULL, &err, S(root), NULL), -1, "no Async for session.*");
    is_str(atoll_err_code_name(err.code), "MESSAGE_METHOD_UNKNOWN", "unknown as Async");
    atoll_err_clear(&err);
    free(task);
    free(root);
    free(ro);
    free(op);
    free(pa);
    free(ro2);
}

static void test_disk(void)
{
    char path[128], line[512];
    snprintf(path, sizeof(path), "%s/users", dir);
    FILE *f = fopen(path, "r");
    int plain = 0, hashed = 0;
    while (f && fgets(line, sizeof(line), f)) {
        plain |= strstr(line, "rootpw") != NULL || strstr(line, "new-pass") != NULL;
        hashed += strstr(line, ":pbkdf2-sha256$") != NULL;
    }
    if (f)
        fclose(f);
    ok(!plain && hashed == 3, "user table holds salted hashes only (%d users)", hashed);
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 077) == 0, "user table is private (0600)");
    snprintf(path, sizeof(path), "%s/audit.log", dir);
    f = fopen(path, "r");
    int create = 0, denied = 0, secret = 0;
    while (f && fgets(line, sizeof(line), f)) {
        create |= strstr(line, "call=local_user.create") && strstr(line, "result=OK") &&
                  strstr(line, "user=root");
        denied |= strstr(line, "call=test.fail") && strstr(line, "RBAC_PERMISSION_DENIED") &&
                  strstr(line, "user=ro");
        secret |= strstr(line, "ro-pass") != NULL || strstr(line, "new-pass") != NULL;
    }
    if (f)
        fclose(f);
    ok(create, "audit: a write with who, what and result");
    ok(denied, "audit: denied writes are recorded");
    ok(!secret, "audit: no passwords");
}

static unsigned group_count(const char *originator)
{
    struct ts_session_info *v;
    unsigned n, k = 0;
    ts_session_list(&v, &n);
    for (unsigned i = 0; i < n; i++) {
        k += strcmp(v[i].originator, originator) == 0;
        ts_session_info_fini(&v[i]);
    }
    free(v);
    return k;
}

static void test_session_caps(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    char ref[ATOLL_REF_STRLEN + 1];
    int good = 1;
    for (int i = 0; i < 500; i++)
        good &= ts_session_login_trusted("pa", "cap-test", ref, &err) == 0;
    ok(good, "500 sessions for one user and originator");
    is_int(group_count("cap-test"), 500, "all 500 live");
    is_int(ts_session_login_trusted("pa", "cap-test", ref, &err), 0, "a 501st login works");
    is_int(group_count("cap-test"), 500, "the least recently used one was evicted (cap 500)");
    ok(ts_session_check(ref, NULL, &err) == 0, "the new session is valid");
    ok(ts_session_login_trusted("nobody", "x", ref, &err) < 0 &&
           err.code == ATOLL_E_SESSION_AUTHENTICATION_FAILED,
       "trusted (local socket) login still needs an existing user");
    atoll_err_clear(&err);
    ok(ts_session_logout_user("pa") >= 500, "logout_user ends them all");
    is_int(group_count("cap-test"), 0, "none left");
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-rpc-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    struct atoll_err err = ATOLL_ERR_INIT;
    ok(ts_session_init(dir, NULL, 0, &err) < 0, "no root and no password: refused");
    ts_session_fini();
    atoll_err_clear(&err);
    is_int(ts_session_init(dir, "rootpw", 0, &err), 0, "first start creates root");
    char audit[128];
    snprintf(audit, sizeof(audit), "%s/audit.log", dir);
    ts_rbac_audit_open(audit, &err);
    ts_workq_start(2, 8);
    test_registration();
    test_sessions_and_errors();
    test_rbac();
    test_nowait();
    test_session_caps();
    ts_workq_stop(2000);
    ts_rpc_stop(1000);
    ts_session_fini();
    is_int(ts_session_init(dir, NULL, 0, &err), 0, "restart reads the user table, no password");
    char ref[ATOLL_REF_STRLEN + 1];
    ok(ts_session_login("ro", "new-pass", "", ref, &err) == 0, "users survive a restart");
    atoll_err_clear(&err);
    ts_session_fini();
    ts_rbac_audit_close();
    test_disk();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("could not remove %s", dir);
    return tap_done();
}

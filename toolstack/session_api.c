/*
 * toolstack/session_api.c - the session.* API methods (login with 2 to 4
 * parameters, logout, subject identifiers, change_password, the session
 * record and its getters) and Atoll's local_user.* extension for managing
 * local accounts. Storage is session.c; this file only maps the wire.
 * Threads: worker threads (handlers). Trust: all params are client data.
 */
#define ATOLL_LOG_MODULE "session"
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "rpc.h"
#include "session.h"

static int h_login(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                   struct atoll_value **result, struct atoll_err *err)
{
    const char *user, *pw, *version, *originator;
    if (ts_rpc_param_string(p, 0, "uname", &user, err) < 0 ||
        ts_rpc_param_string(p, 1, "pwd", &pw, err) < 0 ||
        ts_rpc_param_string(p, 2, "version", &version, err) < 0 ||
        ts_rpc_param_string(p, 3, "originator", &originator, err) < 0)
        return -1;
    char ref[ATOLL_REF_STRLEN + 1];
    /* over the local UNIX socket the password is not checked, as in XAPI */
    int rc = call->local ? ts_session_login_trusted(user, originator, ref, err)
                         : ts_session_login(user, pw, originator, ref, err);
    if (rc < 0)
        return -1;
    *result = atoll_value_string(ref);
    return 0;
}

static int h_logout(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                    struct atoll_value **result, struct atoll_err *err)
{
    return ts_session_logout(call->session_ref, err);
}

static int h_change_password(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                             struct atoll_value **result, struct atoll_err *err)
{
    const char *old_pw, *new_pw;
    if (ts_rpc_param_string(p, 0, "old_pwd", &old_pw, err) < 0 ||
        ts_rpc_param_string(p, 1, "new_pwd", &new_pw, err) < 0)
        return -1;
    /* proves the old password by logging in with it (slow on purpose) */
    char ref[ATOLL_REF_STRLEN + 1];
    if (ts_session_login(call->user, old_pw, "change_password", ref, err) < 0)
        return -1;
    ts_session_logout(ref, NULL);
    return ts_session_user_set_password(call->user, new_pw, err);
}

static int h_subject_ids(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    struct ts_session_info *v;
    unsigned k;
    ts_session_list(&v, &k);
    struct atoll_value *out = atoll_value_array();
    for (unsigned i = 0; i < k; i++) {
        int seen = v[i].is_local_superuser; /* root is not an external subject */
        for (unsigned j = 0; j < i && !seen; j++)
            seen = strcmp(v[i].user, v[j].user) == 0;
        if (!seen)
            atoll_value_array_append(out, atoll_value_string(v[i].user));
    }
    for (unsigned i = 0; i < k; i++)
        ts_session_info_fini(&v[i]);
    free(v);
    *result = out;
    return 0;
}

static int h_logout_subject(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                            struct atoll_value **result, struct atoll_err *err)
{
    const char *sid;
    if (ts_rpc_param_string(p, 0, "subject_identifier", &sid, err) < 0)
        return -1;
    ts_session_logout_user(sid);
    return 0;
}

static struct atoll_value *session_record(const struct ts_session_info *s)
{
    struct atoll_value *r = atoll_value_struct();
    char host[ATOLL_REF_STRLEN + 1];
    ts_session_get_this_host(host);
    atoll_value_struct_set_string(r, "uuid", s->uuid);
    atoll_value_struct_set_string(r, "this_host", host);
    atoll_value_struct_set_string(r, "this_user", ATOLL_REF_NULL);
    atoll_value_struct_set(r, "last_active", atoll_value_datetime(s->last_active));
    atoll_value_struct_set_bool(r, "pool", 0);
    atoll_value_struct_set(r, "other_config", atoll_value_struct());
    atoll_value_struct_set_bool(r, "is_local_superuser", s->is_local_superuser);
    atoll_value_struct_set_string(r, "subject", ATOLL_REF_NULL);
    atoll_value_struct_set(r, "validation_time", atoll_value_datetime(s->created));
    atoll_value_struct_set_string(r, "auth_user_sid", s->is_local_superuser ? "" : s->user);
    atoll_value_struct_set_string(r, "auth_user_name", s->user);
    struct atoll_value *perms = atoll_value_array();
    atoll_value_array_append(perms, atoll_value_string(ts_rbac_role_name(s->role)));
    atoll_value_struct_set(r, "rbac_permissions", perms);
    atoll_value_struct_set(r, "tasks", atoll_value_array());
    atoll_value_struct_set_string(r, "parent", ATOLL_REF_NULL);
    atoll_value_struct_set_string(r, "originator", s->originator);
    atoll_value_struct_set_bool(r, "client_certificate", 0);
    return r;
}

/* A session the caller may read: its own, or any for pool operators and admins. */
static int readable(struct ts_call *call, const char *ref, struct ts_session_info *out,
                    struct atoll_err *err)
{
    if (!ref || !ts_session_get(ref, out)) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, "session", ref ? ref : "");
        return -1;
    }
    if (strcmp(ref, call->session_ref) != 0 && call->role < TS_ROLE_POOL_OPERATOR) {
        ts_session_info_fini(out);
        return ts_rbac_check(call, TS_ROLE_POOL_OPERATOR, call->method, err);
    }
    return 0;
}

static int h_get_record(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                        struct atoll_value **result, struct atoll_err *err)
{
    struct ts_session_info s;
    if (readable(call, atoll_value_get_string(p[0]), &s, err) < 0)
        return -1;
    *result = session_record(&s);
    ts_session_info_fini(&s);
    return 0;
}

static int h_get_field(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                       struct atoll_value **result, struct atoll_err *err)
{
    struct ts_session_info s;
    if (readable(call, atoll_value_get_string(p[0]), &s, err) < 0)
        return -1;
    ATOLL_AUTOVALUE r = session_record(&s);
    ts_session_info_fini(&s);
    *result = atoll_value_ref(atoll_value_struct_get(r, call->data));
    return 0;
}

static int h_get_all(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                     struct atoll_value **result, struct atoll_err *err)
{
    struct ts_session_info *v;
    unsigned k;
    int records = call->data != NULL;
    ts_session_list(&v, &k);
    struct atoll_value *out = records ? atoll_value_struct() : atoll_value_array();
    for (unsigned i = 0; i < k; i++) {
        if (call->role >= TS_ROLE_POOL_OPERATOR || strcmp(v[i].ref, call->session_ref) == 0) {
            if (records)
                atoll_value_struct_set(out, v[i].ref, session_record(&v[i]));
            else
                atoll_value_array_append(out, atoll_value_string(v[i].ref));
        }
        ts_session_info_fini(&v[i]);
    }
    free(v);
    *result = out;
    return 0;
}

static int h_get_by_uuid(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    const char *uuid = atoll_value_get_string(p[0]);
    struct ts_session_info *v;
    unsigned k;
    ts_session_list(&v, &k);
    for (unsigned i = 0; i < k; i++) {
        if (!*result && uuid && strcmp(v[i].uuid, uuid) == 0 &&
            (call->role >= TS_ROLE_POOL_OPERATOR || strcmp(v[i].ref, call->session_ref) == 0))
            *result = atoll_value_string(v[i].ref);
        ts_session_info_fini(&v[i]);
    }
    free(v);
    if (!*result) {
        ATOLL_ERR(err, ATOLL_E_UUID_INVALID, "session", uuid ? uuid : "");
        return -1;
    }
    return 0;
}

static int h_user_create(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                         struct atoll_value **result, struct atoll_err *err)
{
    const char *name, *pw, *role_s;
    enum ts_role role;
    if (ts_rpc_param_string(p, 0, "name", &name, err) < 0 ||
        ts_rpc_param_string(p, 1, "password", &pw, err) < 0 ||
        ts_rpc_param_string(p, 2, "role", &role_s, err) < 0)
        return -1;
    if (ts_rbac_role_from_name(role_s, &role) < 0) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "role", role_s);
        return -1;
    }
    return ts_session_user_add(name, pw, role, err);
}

static int h_user_destroy(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                          struct atoll_value **result, struct atoll_err *err)
{
    const char *name;
    if (ts_rpc_param_string(p, 0, "name", &name, err) < 0)
        return -1;
    return ts_session_user_remove(name, err);
}

static int h_user_set_password(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                               struct atoll_value **result, struct atoll_err *err)
{
    const char *name, *pw;
    if (ts_rpc_param_string(p, 0, "name", &name, err) < 0 ||
        ts_rpc_param_string(p, 1, "password", &pw, err) < 0)
        return -1;
    return ts_session_user_set_password(name, pw, err);
}

static int h_user_get_all(struct ts_call *call, struct atoll_value *const *p, unsigned n,
                          struct atoll_value **result, struct atoll_err *err)
{
    *result = ts_session_user_list();
    return 0;
}

int ts_session_register_methods(struct atoll_err *err)
{
    static const char *const fields[] = {
        "uuid", "this_host", "this_user", "last_active", "pool", "other_config",
        "is_local_superuser", "subject", "validation_time", "auth_user_sid", "auth_user_name",
        "rbac_permissions", "tasks", "parent", "originator", "client_certificate"};
    ATOLL_AUTOVALUE v11 = atoll_value_string("1.1");
    ATOLL_AUTOVALUE empty = atoll_value_string("");
    struct atoll_value *login_defaults[4] = {NULL, NULL, v11, empty};
    const unsigned S = TS_RPC_NO_ASYNC;
    const struct ts_rpc_method methods[] = {
        {"session.login_with_password", 2, 4, TS_ROLE_NONE,
         TS_RPC_NO_SESSION | TS_RPC_SECRET | TS_RPC_WRITE | S, h_login, NULL, login_defaults,
         "uname,pwd,version,originator"},
        {"session.slave_local_login_with_password", 2, 2, TS_ROLE_NONE,
         TS_RPC_NO_SESSION | TS_RPC_SECRET | TS_RPC_WRITE | S | TS_RPC_HIDDEN, h_login, NULL,
         login_defaults, "uname,pwd"},
        {"session.logout", 1, 1, TS_ROLE_READ_ONLY, S, h_logout, NULL, NULL, "session_id"},
        {"session.local_logout", 1, 1, TS_ROLE_READ_ONLY, S, h_logout, NULL, NULL, "session_id"},
        {"session.change_password", 3, 3, TS_ROLE_READ_ONLY, S | TS_RPC_SECRET_ALL | TS_RPC_WRITE,
         h_change_password, NULL, NULL, "session_id,old_pwd,new_pwd"},
        {"session.get_all_subject_identifiers", 1, 1, TS_ROLE_POOL_OPERATOR, S, h_subject_ids,
         NULL, NULL, "session_id"},
        {"session.logout_subject_identifier", 2, 2, TS_ROLE_POOL_OPERATOR, S | TS_RPC_WRITE,
         h_logout_subject, NULL, NULL, "session_id,subject_identifier"},
        {"session.get_record", 2, 2, TS_ROLE_READ_ONLY, S, h_get_record, NULL, NULL,
         "session_id,self"},
        {"session.get_by_uuid", 2, 2, TS_ROLE_READ_ONLY, S, h_get_by_uuid, NULL, NULL,
         "session_id,uuid"},
        {"session.get_all", 1, 1, TS_ROLE_READ_ONLY, S | TS_RPC_HIDDEN, h_get_all, NULL, NULL,
         "session_id"},
        {"session.get_all_records", 1, 1, TS_ROLE_READ_ONLY, S | TS_RPC_HIDDEN, h_get_all,
         (void *)"records", NULL, "session_id"},
        {"local_user.create", 4, 4, TS_ROLE_POOL_ADMIN, TS_RPC_SECRET | TS_RPC_WRITE,
         h_user_create, NULL, NULL, "session_id,name,password,role"},
        {"local_user.destroy", 2, 2, TS_ROLE_POOL_ADMIN, TS_RPC_WRITE, h_user_destroy, NULL,
         NULL, "session_id,name"},
        {"local_user.set_password", 3, 3, TS_ROLE_POOL_ADMIN, TS_RPC_SECRET | TS_RPC_WRITE,
         h_user_set_password, NULL, NULL, "session_id,name,password"},
        {"local_user.get_all", 1, 1, TS_ROLE_POOL_ADMIN, S, h_user_get_all, NULL, NULL,
         "session_id"},
    };
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(methods); i++)
        if (ts_rpc_register(&methods[i], err) < 0)
            return -1;
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(fields); i++) {
        ATOLL_AUTOFREE char *name = atoll_strdup_printf("session.get_%s", fields[i]);
        struct ts_rpc_method m = {name, 2, 2, TS_ROLE_READ_ONLY, S, h_get_field,
                                  (void *)fields[i], NULL, "session_id,self"};
        if (ts_rpc_register(&m, err) < 0)
            return -1;
    }
    return 0;
}

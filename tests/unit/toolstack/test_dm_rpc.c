/*
 * tests/unit/toolstack/test_dm_rpc.c - the datamodel behind the real
 * dispatcher (no HTTP): generic methods and event.* registered with their
 * roles, listed by system.listMethods, enforced per user role (read-only,
 * vm-admin, root), XenAPI errors through the envelope path, and a logout
 * waking an event.from waiter with SESSION_INVALID via the session hook.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "atoll/util.h"
#include "core.h"
#include "dm_generic.h"
#include "events.h"
#include "rbac.h"
#include "rpc.h"
#include "session.h"
#include "rpc_call.h"
#include "tap.h"

static char dir[64];
static struct ts_events *ev;

#define S(x) atoll_value_string(x)

static char *login(const char *user, const char *pw)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *r = NULL;
    if (rpc("session.login_with_password", &r, &err, S(user), S(pw), NULL) < 0) {
        atoll_err_clear(&err);
        return NULL;
    }
    char *ref = atoll_strdup(atoll_value_get_string(r));
    atoll_value_unref(r);
    return ref;
}

/* rpc fails with code (and clears err) */
static int fails_with(int rc, struct atoll_err *err, int code)
{
    int good = rc < 0 && err->code == code;
    if (!good)
        diag("  got rc %d, error %s", rc,
             atoll_err_code_name(err->code) ? atoll_err_code_name(err->code) : "(none)");
    atoll_err_clear(err);
    return good;
}

static void on_gone(void *arg, const char *ref)
{
    ts_events_session_gone(arg, ref);
}

struct waiter {
    char *session;
    const char *token;
    int rc;
    struct atoll_err err;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    struct atoll_value *cl = atoll_value_array();
    atoll_value_array_append(cl, S("vm"));
    w->rc = rpc("event.from", NULL, &w->err, S(w->session), cl, S(w->token),
                atoll_value_double(30.0), NULL);
    return NULL;
}

int main(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store *st = NULL;
    struct ts_dm_db *db = NULL;
    struct atoll_value *r = NULL;
    char path[128];

    snprintf(dir, sizeof(dir), "/tmp/atoll-test-dmrpc-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    snprintf(path, sizeof(path), "%s/atoll.db", dir);
    ts_dm_init();
    if (ts_session_init(dir, "rootpw", 0, &err) < 0 ||
        ts_session_user_add("ro", "ropw", TS_ROLE_READ_ONLY, &err) < 0 ||
        ts_session_user_add("va", "vapw", TS_ROLE_VM_ADMIN, &err) < 0 ||
        ts_store_open(path, "sync=normal", &st, &err) < 0 || ts_dm_db_open(st, &db, &err) < 0 ||
        ts_core_bootstrap(db, dir, NULL, NULL, &err) < 0 || ts_events_new(db, &ev, &err) < 0)
        tap_skip_all("cannot set up sessions and the store");
    ts_session_set_gone_hook(on_gone, ev);
    ok(ts_session_register_methods(&err) == 0 && ts_events_register_methods(ev, &err) == 0 &&
           ts_dm_generic_register(db, &err) == 0,
       "session, event and generic methods register");
    ok(ts_rpc_start(2, &err) == 0, "dispatcher starts");

    struct atoll_value *lm = ts_rpc_list_methods();
    int has_all = 1, lacks = 1;
    const char *want[] = {"VM.get_all_records",
                          "VM.add_to_other_config",
                          "VM.add_tags",
                          "VM.remove_tags",
                          "VM.create",
                          "VM.destroy",
                          "VM.get_by_uuid",
                          "pool.add_to_other_config",
                          "event.from",
                          "event.inject",
                          "task.get_all_records",
                          "message.get_all_records",
                          "SR.get_VDIs",
                          "host.get_by_name_label",
                          "role.get_all_records"};
    const char *unwanted[] = {"VM.set_power_state", "pool.create", "VM.get_all_records_where",
                              "message.get_by_name_label", "session.get_all_records_where"};
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(want) + ATOLL_ARRAY_SIZE(unwanted); i++) {
        int is_want = i < ATOLL_ARRAY_SIZE(want);
        const char *name = is_want ? want[i] : unwanted[i - ATOLL_ARRAY_SIZE(want)];
        int found = 0;
        for (size_t j = 0; j < atoll_value_array_len(lm); j++)
            found |= !strcmp(atoll_value_get_string(atoll_value_array_get(lm, j)), name);
        if (is_want && !found)
            has_all = 0, diag("missing %s", name);
        if (!is_want && found)
            lacks = 0, diag("unexpected %s", name);
    }
    diag("system.listMethods lists %zu methods", atoll_value_array_len(lm));
    atoll_value_unref(lm);
    ok(has_all, "listMethods has the generic getters, map/set editors, create/destroy, event.*");
    ok(lacks, "and no setters of read-only fields, no create for pool, no hidden _where");

    char *root = login("root", "rootpw"), *ro = login("ro", "ropw"), *va = login("va", "vapw");
    ok(root && ro && va, "root, read-only and vm-admin users log in");
    struct atoll_value *rec = atoll_value_struct();
    atoll_value_struct_set_string(rec, "name_label", "web1");
    ok(rpc("VM.create", &r, &err, S(root), rec, NULL) == 0, "root: VM.create");
    ATOLL_AUTOFREE char *vm = atoll_strdup(r ? atoll_value_get_string(r) : "");
    atoll_value_unref(r);
    ok(rpc("VM.get_all_records", &r, &err, S(ro), NULL) == 0 && atoll_value_struct_len(r) == 1,
       "read-only: VM.get_all_records");
    atoll_value_unref(r);
    ok(fails_with(rpc("VM.set_name_label", NULL, &err, S(ro), S(vm), S("x"), NULL), &err,
                  ATOLL_E_RBAC_PERMISSION_DENIED),
       "read-only: VM.set_name_label is denied");
    ok(fails_with(rpc("secret.get_all_records", NULL, &err, S(ro), NULL), &err,
                  ATOLL_E_RBAC_PERMISSION_DENIED),
       "read-only: secrets are not readable");
    ok(rpc("VM.set_name_label", NULL, &err, S(va), S(vm), S("web2"), NULL) == 0,
       "vm-admin: VM.set_name_label");
    ok(fails_with(rpc("pool.add_to_other_config", NULL, &err, S(va), S("OpaqueRef:x"), S("k"),
                      S("v"), NULL),
                  &err, ATOLL_E_RBAC_PERMISSION_DENIED),
       "vm-admin: pool.add_to_other_config is denied (pool-operator)");
    ok(fails_with(rpc("VM.get_record", NULL, &err, S(root), NULL), &err,
                  ATOLL_E_MESSAGE_PARAMETER_COUNT_MISMATCH),
       "arity checked by the dispatcher");
    ok(fails_with(rpc("VM.get_record", NULL, &err, S(root), S("OpaqueRef:nope"), NULL), &err,
                  ATOLL_E_HANDLE_INVALID),
       "HANDLE_INVALID through the dispatcher");
    ok(fails_with(rpc("VM.set_power_state", NULL, &err, S(root), S(vm), S("Running"), NULL), &err,
                  ATOLL_E_MESSAGE_METHOD_UNKNOWN),
       "no setter for power_state");

    /* explicit messages that are field edits, and blob.create */
    struct atoll_value *vdi = NULL, *out = NULL;
    struct atoll_value *vrec = atoll_value_struct();
    atoll_value_struct_set_string(vrec, "name_label", "disk");
    ok(rpc("VDI.create", &vdi, &err, S(root), vrec, NULL) == 0, "VDI.create (a record only)");
    const char *vdiref = vdi ? atoll_value_get_string(vdi) : "";
    ok(rpc("VDI.set_name_label", NULL, &err, S(va), S(vdiref), S("data disk"), NULL) == 0 &&
           rpc("VDI.get_name_label", &out, &err, S(ro), S(vdiref), NULL) == 0 &&
           !strcmp(atoll_value_get_string(out), "data disk"),
       "VDI.set_name_label (explicit: name_label is RO/c) by vm-admin");
    atoll_value_unref(out);
    ok(fails_with(rpc("VDI.set_name_label", NULL, &err, S(ro), S(vdiref), S("x"), NULL), &err,
                  ATOLL_E_RBAC_PERMISSION_DENIED),
       "read-only may not rename a VDI");
    ok(fails_with(rpc("VDI.set_on_boot", NULL, &err, S(root), S(vdiref), S("sometimes"), NULL),
                  &err, ATOLL_E_FIELD_TYPE_ERROR),
       "VDI.set_on_boot checks the enum");
    struct atoll_value *roles = NULL, *subj = NULL;
    rpc("role.get_by_name_label", &roles, &err, S(root), S("vm-operator"), NULL);
    struct atoll_value *srec = atoll_value_struct();
    atoll_value_struct_set_string(srec, "subject_identifier", "u1000");
    ok(rpc("subject.create", &subj, &err, S(root), srec, NULL) == 0 && roles &&
           atoll_value_array_len(roles) == 1 &&
           rpc("subject.add_to_roles", NULL, &err, S(root), atoll_value_ref(subj),
               atoll_value_ref(atoll_value_array_get(roles, 0)), NULL) == 0 &&
           rpc("subject.get_roles", &out, &err, S(root), atoll_value_ref(subj), NULL) == 0 &&
           atoll_value_array_len(out) == 1,
       "subject.add_to_roles");
    atoll_value_unref(out);
    ok(fails_with(rpc("subject.add_to_roles", NULL, &err, S(root), atoll_value_ref(subj),
                      S("OpaqueRef:00000000-0000-0000-0000-000000000001"), NULL),
                  &err, ATOLL_E_HANDLE_INVALID),
       "subject.add_to_roles with a bogus role -> HANDLE_INVALID");
    atoll_value_unref(roles);
    atoll_value_unref(subj);
    atoll_value_unref(vdi);
    struct atoll_value *blob = NULL;
    ok(rpc("blob.create", &blob, &err, S(root), S("text/plain"), NULL) == 0 &&
           rpc("blob.get_mime_type", &out, &err, S(ro), atoll_value_ref(blob), NULL) == 0 &&
           !strcmp(atoll_value_get_string(out), "text/plain"),
       "blob.create(mime_type) with public defaulted");
    atoll_value_unref(out);
    atoll_value_unref(blob);

    /* the message class: create, get, get_since, destroy_many */
    struct atoll_value *vmuuid = NULL, *m1 = NULL, *m2 = NULL;
    rpc("VM.get_uuid", &vmuuid, &err, S(root), S(vm), NULL);
    const char *vu = vmuuid ? atoll_value_get_string(vmuuid) : "";
    ok(rpc("message.create", &m1, &err, S(root), S("VM_STARTED"), S("3"), S("vm"), S(vu),
           S("started"), NULL) == 0,
       "message.create for the VM (priority as a string, cls in any case)");
    ok(fails_with(rpc("message.create", NULL, &err, S(root), S("X"), atoll_value_int(1), S("VM"),
                      S("00000000-0000-0000-0000-000000000000"), S(""), NULL),
                  &err, ATOLL_E_UUID_INVALID),
       "message.create for an unknown VM -> UUID_INVALID");
    ok(rpc("message.create", &m2, &err, S(root), S("CERT"), atoll_value_int(2), S("Certificate"),
           S("c"), S(""), NULL) == 0,
       "message.create for a class Atoll does not model");
    ok(fails_with(rpc("message.create", NULL, &err, S(ro), S("X"), atoll_value_int(1), S("Pool"),
                      S(""), S(""), NULL),
                  &err, ATOLL_E_RBAC_PERMISSION_DENIED),
       "read-only may not create messages");
    struct atoll_value *ms = NULL;
    ok(rpc("message.get_since", &ms, &err, S(ro), S("19700101T00:00:00Z"), NULL) == 0 &&
           atoll_value_struct_len(ms) == 2,
       "message.get_since(epoch) lists both");
    atoll_value_unref(ms);
    ok(rpc("message.get_since", &ms, &err, S(ro), atoll_value_datetime(4102444800), NULL) == 0 &&
           atoll_value_struct_len(ms) == 0,
       "message.get_since(2100) lists none");
    atoll_value_unref(ms);
    ok(rpc("message.get", &ms, &err, S(ro), S("VM"), S(vu), S("19700101T00:00:00Z"), NULL) == 0 &&
           atoll_value_struct_len(ms) == 1,
       "message.get(VM, uuid, epoch) lists the VM's one");
    atoll_value_unref(ms);
    struct atoll_value *both = atoll_value_array();
    atoll_value_array_append(both, atoll_value_ref(m1));
    atoll_value_array_append(both, atoll_value_ref(m2));
    ok(rpc("message.destroy_many", NULL, &err, S(root), both, NULL) == 0 &&
           rpc("message.get_all", &ms, &err, S(root), NULL) == 0 && atoll_value_array_len(ms) == 0,
       "message.destroy_many removes both");
    atoll_value_unref(ms);
    atoll_value_unref(m1);
    atoll_value_unref(m2);
    atoll_value_unref(vmuuid);

    /* pool.add_to_other_config (XO's barrier) by root, seen by event.from */
    struct atoll_value *pools = NULL;
    rpc("pool.get_all", &pools, &err, S(root), NULL);
    const char *pool = pools && atoll_value_array_len(pools) == 1
                           ? atoll_value_get_string(atoll_value_array_get(pools, 0))
                           : "";
    struct atoll_value *tok = NULL;
    ok(rpc("event.inject", &tok, &err, S(root), S("pool"), S(pool), NULL) == 0,
       "event.inject(pool, the pool) gives a token");
    ok(rpc("pool.add_to_other_config", NULL, &err, S(root), S(pool), S("xo:barrier:1"), S("1"),
           NULL) == 0,
       "root: pool.add_to_other_config");
    struct atoll_value *cl = atoll_value_array();
    atoll_value_array_append(cl, S("pool"));
    struct atoll_value *batch = NULL;
    ok(rpc("event.from", &batch, &err, S(ro), cl, atoll_value_ref(tok), S("5.0"), NULL) == 0,
       "event.from (timeout given as a string, as XML-RPC clients may)");
    struct atoll_value *evs = batch ? atoll_value_struct_get(batch, "events") : NULL;
    struct atoll_value *e0 =
        evs && atoll_value_array_len(evs) ? atoll_value_array_get(evs, 0) : NULL;
    struct atoll_value *snap = e0 ? atoll_value_struct_get(e0, "snapshot") : NULL;
    struct atoll_value *oc = snap ? atoll_value_struct_get(snap, "other_config") : NULL;
    is_str(oc ? atoll_value_struct_get_string(oc, "xo:barrier:1") : NULL, "1",
           "the pool mod event carries the barrier key");
    atoll_value_unref(batch);
    atoll_value_unref(pools);

    /* logout wakes a blocked event.from of that session */
    struct atoll_value *b0 = NULL;
    cl = atoll_value_array();
    atoll_value_array_append(cl, S("vm"));
    rpc("event.from", &b0, &err, S(ro), cl, S(""), atoll_value_double(0), NULL);
    struct waiter w = {.session = ro,
                       .token = b0 ? atoll_value_struct_get_string(b0, "token") : ""};
    pthread_t th;
    pthread_create(&th, NULL, wait_thread, &w);
    usleep(100000);
    rpc("session.logout", NULL, &err, S(ro), NULL);
    pthread_join(th, NULL);
    ok(w.rc < 0 && w.err.code == ATOLL_E_SESSION_INVALID,
       "logout wakes the session's event.from with SESSION_INVALID");
    atoll_err_clear(&w.err);
    atoll_value_unref(b0);
    atoll_value_unref(tok);

    free(root);
    free(ro);
    free(va);
    ts_rpc_stop(1000);
    ts_session_fini();
    ts_events_free(ev);
    ts_dm_db_close(db);
    ts_store_close(st);
    const char *files[] = {"atoll.db", "atoll.db-wal", "atoll.db-shm",
                           "users",    "host-uuid",    "users.tmp"};
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(files); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rmdir(dir) < 0)
        diag("left files in %s", dir);
    return tap_done();
}

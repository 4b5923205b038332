/*
 * tests/unit/toolstack/test_events.c - XenAPI events over a real store:
 * token progression, class and object subscriptions (any case, unknown ones
 * ignored), add/mod/del with del carrying no snapshot, coalescing,
 * valid_ref_counts, blocking wait woken by a commit, inject, get_current_id,
 * role-filtered snapshots, EVENTS_LOST for too-old tokens, legacy
 * register/next/unregister with EVENTS_LOST,
 * and SESSION_INVALID for a waiter whose session ends.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/util.h"
#include "atoll/uuid.h"
#include "dm_generic.h"
#include "events.h"
#include "tap.h"

static char dir[256], dbpath[300];
static struct ts_store *st;
static struct ts_dm_db *db;
static struct ts_events *ev;
static const struct ts_dm_class *VM, *HOST;

static struct atoll_value *subs(const char *a, const char *b)
{
    struct atoll_value *v = atoll_value_array();
    if (a)
        atoll_value_array_append(v, atoll_value_string(a));
    if (b)
        atoll_value_array_append(v, atoll_value_string(b));
    return v;
}

/* event.from returning the batch (NULL on error, err filled) */
static struct atoll_value *from(struct atoll_value *classes, const char *token, double timeout,
                                enum ts_role role, struct atoll_err *err)
{
    struct atoll_value *out = NULL;
    int rc = ts_events_from(ev, "OpaqueRef:s1", role, classes, token, timeout, &out, err);
    atoll_value_unref(classes);
    return rc == 0 ? out : NULL;
}

static size_t nevents(struct atoll_value *b)
{
    return b ? atoll_value_array_len(atoll_value_struct_get(b, "events")) : 0;
}

static struct atoll_value *event_at(struct atoll_value *b, size_t i)
{
    return atoll_value_array_get(atoll_value_struct_get(b, "events"), i);
}

static const char *tok(struct atoll_value *b)
{
    return b ? atoll_value_struct_get_string(b, "token") : "";
}

static void mk(const struct ts_dm_class *c, const char *name, char ref[ATOLL_REF_STRLEN + 1])
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE r = atoll_value_struct();
    atoll_value_struct_set_string(r, "name_label", name);
    if (ts_dm_generic_insert(db, c, r, ref, &err) < 0)
        diag("insert failed");
}

static void rename_vm(const char *ref, const char *name)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE v = atoll_value_string(name);
    if (ts_dm_generic_set_field(db, VM, ref, "name_label", v, &err) < 0)
        diag("rename failed");
}

static char a[ATOLL_REF_STRLEN + 1], b[ATOLL_REF_STRLEN + 1], h[ATOLL_REF_STRLEN + 1];

static void test_from(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    mk(VM, "a", a);
    mk(VM, "b", b);
    mk(HOST, "h", h);

    ATOLL_AUTOVALUE b0 = from(subs("vm", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(b0), 2, "token \"\": one add per live VM");
    struct atoll_value *e0 = event_at(b0, 0);
    ok(e0 && !strcmp(atoll_value_struct_get_string(e0, "operation"), "add") &&
           !strcmp(atoll_value_struct_get_string(e0, "class"), "vm") &&
           atoll_value_struct_get(e0, "snapshot") && atoll_value_struct_get_string(e0, "id"),
       "add events carry class 'vm', id and a snapshot");
    struct atoll_value *snap = e0 ? atoll_value_struct_get(e0, "snapshot") : NULL;
    is_int(snap ? atoll_value_struct_len(snap) : 0, VM->nfields, "the snapshot is the full record");
    struct atoll_value *counts = b0 ? atoll_value_struct_get(b0, "valid_ref_counts") : NULL;
    ok(counts && atoll_value_get_int(atoll_value_struct_get(counts, "vm")) == 2 &&
           atoll_value_get_int(atoll_value_struct_get(counts, "host")) == 1 &&
           atoll_value_struct_get(counts, "task") && !atoll_value_struct_get(counts, "session"),
       "valid_ref_counts: vm 2, host 1, task present, no session");
    const char *t1 = tok(b0);
    ok(strlen(t1) == 41 && t1[20] == ',', "token looks like XAPI's (%s)", t1);

    ATOLL_AUTOVALUE ball = from(subs("*", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(ball), 3, "'*' sees every class");
    ATOLL_AUTOVALUE bci = from(subs("Vm", "no_such_class"), "", 0, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(bci), 2, "class names are case-insensitive; unknown ones are ignored");
    ATOLL_AUTOVALUE bs = from(subs("session", "event"), "", 0, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(bs), 0, "session and event generate no events");

    ATOLL_AUTOVALUE bt = from(subs("vm", NULL), t1, 0.05, TS_ROLE_POOL_ADMIN, &err);
    ok(bt && nevents(bt) == 0 && !strcmp(tok(bt), t1),
       "nothing new: empty after the timeout, same token");

    rename_vm(a, "a2");
    rename_vm(a, "a3");
    rename_vm(a, "a4");
    ATOLL_AUTOVALUE b1 = from(subs("vm", NULL), t1, 1, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(b1), 1, "three changes to one object coalesce into one event");
    struct atoll_value *e1 = event_at(b1, 0);
    ok(e1 && !strcmp(atoll_value_struct_get_string(e1, "operation"), "mod") &&
           !strcmp(atoll_value_struct_get_string(e1, "ref"), a),
       "a mod of the renamed VM");
    struct atoll_value *s1 = e1 ? atoll_value_struct_get(e1, "snapshot") : NULL;
    is_str(s1 ? atoll_value_struct_get_string(s1, "name_label") : NULL, "a4",
           "with the latest state");
    const char *t2 = tok(b1);
    ok(strcmp(t2, t1) > 0, "tokens grow (as strings too)");

    ATOLL_AUTOVALUE k = atoll_value_string("xo:barrier:1");
    ATOLL_AUTOVALUE v = atoll_value_string("x");
    ts_dm_generic_map_add(db, VM, b, "other_config", k, v, &err);
    ATOLL_AUTOVALUE b2 = from(subs("vm", NULL), t2, 1, TS_ROLE_POOL_ADMIN, &err);
    ok(nevents(b2) == 1 && !strcmp(atoll_value_struct_get_string(event_at(b2, 0), "ref"), b),
       "add_to_other_config produces its event");
    const char *t3 = tok(b2);

    ts_dm_generic_remove(db, VM, b, &err);
    ATOLL_AUTOVALUE b3 = from(subs("vm", NULL), t3, 1, TS_ROLE_POOL_ADMIN, &err);
    struct atoll_value *e3 = nevents(b3) == 1 ? event_at(b3, 0) : NULL;
    ok(e3 && !strcmp(atoll_value_struct_get_string(e3, "operation"), "del") &&
           !atoll_value_struct_get(e3, "snapshot"),
       "destroy: a del event without a snapshot");
    counts = atoll_value_struct_get(b3, "valid_ref_counts");
    is_int(atoll_value_get_int(atoll_value_struct_get(counts, "vm")), 1,
           "valid_ref_counts follows");
    ATOLL_AUTOVALUE b3b = from(subs("vm", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    is_int(nevents(b3b), 1, "token \"\" does not replay deletions");
    const char *t4 = tok(b3);

    char c[ATOLL_REF_STRLEN + 1];
    mk(VM, "c", c);
    rename_vm(a, "a5");
    ATOLL_AUTOFREE char *one = atoll_strdup_printf("vm/%s", c);
    ATOLL_AUTOVALUE b4 = from(subs(one, NULL), t4, 1, TS_ROLE_POOL_ADMIN, &err);
    ok(nevents(b4) == 1 && !strcmp(atoll_value_struct_get_string(event_at(b4, 0), "ref"), c) &&
           !strcmp(atoll_value_struct_get_string(event_at(b4, 0), "operation"), "add"),
       "'vm/<ref>' sees only that object (its add)");

    ok(!from(subs("vm/", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err) &&
           err.code == ATOLL_E_EVENT_SUBSCRIPTION_PARSE_FAILURE && !strcmp(err.params[0], "vm/"),
       "'vm/' -> EVENT_SUBSCRIPTION_PARSE_FAILURE [vm/]");
    atoll_err_clear(&err);
    ok(!from(subs("vm", NULL), "12x", 0, TS_ROLE_POOL_ADMIN, &err) &&
           err.code == ATOLL_E_EVENT_FROM_TOKEN_PARSE_FAILURE && !strcmp(err.params[0], "12x"),
       "bad token -> EVENT_FROM_TOKEN_PARSE_FAILURE [token]");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE notarr = atoll_value_string("vm");
    struct atoll_value *o = NULL;
    ok(ts_events_from(ev, NULL, TS_ROLE_POOL_ADMIN, notarr, "", 0, &o, &err) < 0 &&
           err.code == ATOLL_E_FIELD_TYPE_ERROR,
       "classes must be an array");
    atoll_err_clear(&err);

    /* inject and current id */
    ATOLL_AUTOVALUE cur = ts_events_current_id(ev);
    is_int(atoll_value_get_int(cur), ts_store_revision(st), "get_current_id is the store revision");
    ATOLL_AUTOVALUE itok = NULL;
    ok(ts_events_inject(ev, "pool", h, &itok, &err) < 0 && err.code == ATOLL_E_HANDLE_INVALID,
       "inject with a ref of another class -> HANDLE_INVALID");
    atoll_err_clear(&err);
    ok(ts_events_inject(ev, "host", h, &itok, &err) == 0, "inject(host, h)");
    ATOLL_AUTOVALUE b5 =
        from(subs("host", NULL), atoll_value_get_string(itok), 0, TS_ROLE_POOL_ADMIN, &err);
    ok(nevents(b5) == 1 &&
           !strcmp(atoll_value_struct_get_string(event_at(b5, 0), "operation"), "mod"),
       "from the injected token: the host's mod event");
}

struct waiter {
    const char *token;
    const char *session;
    struct atoll_value *out;
    struct atoll_err err;
    uint64_t woke_ns;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    ATOLL_AUTOVALUE cl = subs("vm", NULL);
    ts_events_from(ev, w->session, TS_ROLE_POOL_ADMIN, cl, w->token, 30, &w->out, &w->err);
    w->woke_ns = atoll_now_ns();
    return NULL;
}

static void test_blocking(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE b0 = from(subs("vm", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    pthread_t th;
    struct waiter w = {.token = tok(b0), .session = "OpaqueRef:s1"};

    pthread_create(&th, NULL, wait_thread, &w);
    usleep(100000);
    uint64_t t0 = atoll_now_ns();
    rename_vm(a, "wake");
    uint64_t t1 = atoll_now_ns();
    pthread_join(th, NULL);
    ok(w.out && nevents(w.out) == 1,
       "a blocked event.from returns with the change (not the 30 s timeout)");
    diag("commit took %.3f ms; event.from returned %.3f ms after the commit returned",
         (t1 - t0) / 1e6, w.woke_ns > t1 ? (w.woke_ns - t1) / 1e6 : 0.0);
    atoll_value_unref(w.out);

    struct waiter w2 = {.token = tok(b0), .session = "OpaqueRef:gone"};
    ATOLL_AUTOVALUE b1 = from(subs("vm", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    w2.token = tok(b1);
    pthread_create(&th, NULL, wait_thread, &w2);
    usleep(50000);
    ts_events_session_gone(ev, "OpaqueRef:gone");
    pthread_join(th, NULL);
    ok(!w2.out && w2.err.code == ATOLL_E_SESSION_INVALID,
       "a waiter whose session ends gets SESSION_INVALID");
    atoll_err_clear(&w2.err);
}

static void test_roles(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE r = atoll_value_struct();
    atoll_value_struct_set_string(r, "value", "s3cret");
    ts_dm_generic_insert(db, ts_dm_class_find("secret"), r, NULL, &err);
    ATOLL_AUTOVALUE ro = from(subs("secret", NULL), "", 0, TS_ROLE_READ_ONLY, &err);
    ATOLL_AUTOVALUE pa = from(subs("secret", NULL), "", 0, TS_ROLE_POOL_ADMIN, &err);
    struct atoll_value *sro =
        nevents(ro) ? atoll_value_struct_get(event_at(ro, 0), "snapshot") : NULL;
    struct atoll_value *spa =
        nevents(pa) ? atoll_value_struct_get(event_at(pa, 0), "snapshot") : NULL;
    is_str(sro ? atoll_value_struct_get_string(sro, "value") : NULL, "",
           "read-only callers do not see secret.value in snapshots");
    is_str(spa ? atoll_value_struct_get_string(spa, "value") : NULL, "s3cret", "pool-admin does");
}

static void test_legacy(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *out = NULL;
    const char *s = "OpaqueRef:legacy";

    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 0, &out, &err) < 0 &&
           err.code == ATOLL_E_SESSION_NOT_REGISTERED,
       "next before register -> SESSION_NOT_REGISTERED");
    atoll_err_clear(&err);
    ATOLL_AUTOVALUE cl = subs("vm", NULL);
    ok(ts_events_register(ev, s, cl, &err) == 0, "register [vm]");
    rename_vm(a, "legacy");
    mk(HOST, "h2", h); /* not subscribed */
    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 1, &out, &err) == 0 &&
           atoll_value_array_len(out) == 1,
       "next returns the VM change only");
    struct atoll_value *e = out ? atoll_value_array_get(out, 0) : NULL;
    ok(e && atoll_value_struct_get_string(e, "obj_uuid") && atoll_value_struct_get(e, "snapshot"),
       "legacy events carry obj_uuid and a snapshot");
    atoll_value_unref(out);
    out = NULL;
    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 0.05, &out, &err) == 0 &&
           atoll_value_array_len(out) == 0,
       "nothing new: next returns [] after its wait");
    atoll_value_unref(out);
    out = NULL;

    /* EVENTS_LOST: push the deletion log past the registration's position */
    struct ts_store_txn *t = ts_store_txn_new(st);
    char ref[64];
    for (int i = 0; i < 30000; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:lost%d", i);
        ts_store_txn_put(t, "blob", ref, "{}", 2, TS_STORE_REV_ABSENT);
    }
    ts_store_txn_commit(t, NULL, NULL, &err);
    ts_store_txn_free(t);
    for (int i = 0; i < 30000; i += 100) {
        t = ts_store_txn_new(st);
        for (int j = i; j < i + 100; j++) {
            snprintf(ref, sizeof(ref), "OpaqueRef:lost%d", j);
            ts_store_txn_delete(t, "blob", ref, TS_STORE_REV_ANY);
        }
        ts_store_txn_commit(t, NULL, NULL, &err);
        ts_store_txn_free(t);
    }
    ATOLL_AUTOVALUE oldcl = subs("vm", NULL);
    ok(ts_events_from(ev, NULL, TS_ROLE_POOL_ADMIN, oldcl, "1", 0, &out, &err) < 0 &&
           err.code == ATOLL_E_EVENTS_LOST,
       "event.from with a token older than the deletion log -> EVENTS_LOST");
    atoll_err_clear(&err);
    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 0, &out, &err) < 0 &&
           err.code == ATOLL_E_EVENTS_LOST,
       "a registration behind the compacted log gets EVENTS_LOST");
    atoll_err_clear(&err);
    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 0, &out, &err) == 0,
       "after EVENTS_LOST the registration continues from now");
    atoll_value_unref(out);
    out = NULL;
    ATOLL_AUTOVALUE cl2 = subs("vm", NULL);
    ts_events_unregister(ev, s, cl2, &err);
    ok(ts_events_next(ev, s, TS_ROLE_POOL_ADMIN, 0, &out, &err) < 0 &&
           err.code == ATOLL_E_SESSION_NOT_REGISTERED,
       "unregister of the last class ends the registration");
    atoll_err_clear(&err);
}

int main(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-events-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
    ts_dm_init();
    VM = ts_dm_class_find("VM");
    HOST = ts_dm_class_find("host");
    if (ts_store_open(dbpath, "sync=normal", &st, &err) < 0 || ts_dm_db_open(st, &db, &err) < 0 ||
        ts_events_new(db, &ev, &err) < 0)
        tap_skip_all("cannot open a store");
    test_from();
    test_blocking();
    test_roles();
    test_legacy();
    ts_events_free(ev);
    ts_dm_db_close(db);
    ts_store_close(st);
    char p[400];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
    return tap_done();
}

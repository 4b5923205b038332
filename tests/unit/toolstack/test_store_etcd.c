/*
 * tests/unit/toolstack/test_store_etcd.c - the object store on a real etcd
 * (Debian's etcd-server, started on loopback ports in a temporary directory;
 * skipped when etcd is not installed): revisions, compares, all-or-nothing
 * transactions, watch from a revision, paging, tombstone pruning, and two
 * store handles as two hosts: a commit through one wakes waiters, the record
 * cache and event.from of the other.
 */
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atoll/util.h"
#include "dm_generic.h"
#include "events.h"
#include "store.h"
#include "tap.h"

static char dir[256], spec[128];
static pid_t etcd_pid;

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void stop_etcd(void)
{
    if (etcd_pid > 0) {
        kill(etcd_pid, SIGTERM);
        waitpid(etcd_pid, NULL, 0);
        etcd_pid = 0;
    }
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void start_etcd(void)
{
    const char *bin = "/usr/bin/etcd";
    if (access(bin, X_OK) != 0)
        tap_skip_all("etcd is not installed (Debian package etcd-server)");
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-etcd-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    int cp = free_port(), pp = free_port();
    char curl[64], purl[64], data[300], log[300], cluster[128];
    snprintf(curl, sizeof(curl), "http://127.0.0.1:%d", cp);
    snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pp);
    snprintf(cluster, sizeof(cluster), "t=%s", purl);
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/etcd.log", dir);
    snprintf(spec, sizeof(spec), "etcd:%s", curl);
    etcd_pid = fork();
    if (etcd_pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        FILE *f = freopen(log, "w", stderr);
        (void)f;
        execl(bin, bin, "--name", "t", "--data-dir", data, "--listen-client-urls", curl,
              "--advertise-client-urls", curl, "--listen-peer-urls", purl,
              "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster, "--max-txn-ops",
              "1000", (char *)NULL);
        _exit(127);
    }
    /* ready when a store opens */
    for (int i = 0; i < 100; i++) {
        struct ts_store *st = NULL;
        struct atoll_err err = ATOLL_ERR_INIT;
        if (ts_store_open(spec, NULL, &st, &err) == 0) {
            ts_store_close(st);
            return;
        }
        atoll_err_clear(&err);
        usleep(100000);
    }
    stop_etcd();
    tap_skip_all("etcd did not start within 10 s");
}

static uint64_t put1(struct ts_store *st, const char *cls, const char *ref, const char *data,
                     uint64_t expect, int *rc)
{
    struct ts_store_txn *t = ts_store_txn_new(st);
    struct atoll_err err = ATOLL_ERR_INIT;
    uint64_t rev = 0;
    ts_store_txn_put(t, cls, ref, data, strlen(data), expect);
    *rc = ts_store_txn_commit(t, &rev, NULL, &err);
    if (*rc < 0)
        diag("commit failed: %s", err.detail ? err.detail : "?");
    ts_store_txn_free(t);
    atoll_err_clear(&err);
    return rev;
}

static void test_basics(struct ts_store *a)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store_obj o;
    int rc;
    uint64_t r0 = ts_store_revision(a);

    uint64_t r1 = put1(a, "raw", "OpaqueRef:a", "one", TS_STORE_REV_ABSENT, &rc);
    ok(rc == 0 && r1 == r0 + 1, "create-if-absent commits as one new revision");
    ok(ts_store_get(a, "raw", "OpaqueRef:a", &o, &err) == 1 && !strcmp(o.data, "one") &&
           o.create_rev == r1 && o.mod_rev == r1,
       "get returns data and revisions");
    ts_store_obj_fini(&o);
    put1(a, "raw", "OpaqueRef:a", "x", TS_STORE_REV_ABSENT, &rc);
    is_int(rc, 1, "create of an existing object is a compare failure");
    uint64_t r2 = put1(a, "raw", "OpaqueRef:a", "two", r1, &rc);
    ok(rc == 0 && r2 == r1 + 1, "put-if-revision-is with the right revision");
    put1(a, "raw", "OpaqueRef:a", "stale", r1, &rc);
    is_int(rc, 1, "put with a stale revision fails");

    struct ts_store_txn *t = ts_store_txn_new(a);
    size_t failed = 99;
    uint64_t rev;
    ts_store_txn_put(t, "raw", "OpaqueRef:b", "b", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_put(t, "raw", "OpaqueRef:a", "three", 5, r1);
    ok(ts_store_txn_commit(t, &rev, &failed, &err) == 1 && failed == 1,
       "a transaction with a bad compare fails and names it");
    ts_store_txn_free(t);
    ok(ts_store_get(a, "raw", "OpaqueRef:b", &o, &err) == 0, "nothing of it was applied");

    t = ts_store_txn_new(a);
    ts_store_txn_put(t, "raw", "OpaqueRef:b", "b", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_put(t, "rawh", "OpaqueRef:h", "h", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_delete(t, "raw", "OpaqueRef:zzz", TS_STORE_REV_ANY);
    ok(ts_store_txn_commit(t, &rev, NULL, &err) == 0 && rev == r2 + 1,
       "a two-object transaction is one revision");
    ts_store_txn_free(t);
    uint64_t r3 = rev;
    t = ts_store_txn_new(a);
    ts_store_txn_check(t, "raw", "OpaqueRef:b", r3);
    ts_store_txn_delete(t, "raw", "OpaqueRef:a", r2);
    ok(ts_store_txn_commit(t, &rev, NULL, &err) == 0, "check + delete with the right revision");
    ts_store_txn_free(t);
    uint64_t r4 = rev;
    t = ts_store_txn_new(a);
    ts_store_txn_delete(t, "raw", "OpaqueRef:a", TS_STORE_REV_ANY);
    ok(ts_store_txn_commit(t, &rev, NULL, &err) == 0 && rev == r4,
       "deleting what is gone commits nothing");
    ts_store_txn_free(t);

    struct ts_store_changes ch;
    ok(ts_store_changes(a, r1, NULL, &ch, &err) == 0 && ch.n == 3 && ch.revision >= r4,
       "changes since the first create: 3 objects");
    int add_b = 0, del_a = 0, add_h = 0;
    for (size_t i = 0; i < ch.n; i++) {
        struct ts_store_change *c = &ch.v[i];
        add_b |= !strcmp(c->obj.ref, "OpaqueRef:b") && c->op == TS_STORE_ADD &&
                 !strcmp(c->obj.data, "b");
        add_h |= !strcmp(c->obj.ref, "OpaqueRef:h") && c->op == TS_STORE_ADD;
        del_a |=
            !strcmp(c->obj.ref, "OpaqueRef:a") && c->op == TS_STORE_DEL && c->obj.mod_rev == r4;
    }
    ok(add_b && add_h && del_a, "add b, add h, del a at its revision");
    ts_store_changes_fini(&ch);
    ok(ts_store_changes(a, r1, "rawh", &ch, &err) == 0 && ch.n == 1, "class filter");
    ts_store_changes_fini(&ch);

    /* paging: more objects than one range page */
    int okall = 1;
    char ref[64];
    for (int i = 0; i < 1200; i += 100) {
        t = ts_store_txn_new(a);
        for (int j = i; j < i + 100; j++) {
            snprintf(ref, sizeof(ref), "OpaqueRef:p%05d", j);
            ts_store_txn_put(t, "page", ref, "x", 1, TS_STORE_REV_ABSENT);
        }
        okall &= ts_store_txn_commit(t, NULL, NULL, &err) == 0;
        ts_store_txn_free(t);
    }
    struct ts_store_obj *v = NULL;
    size_t n = 0;
    uint64_t cnt = 0;
    ok(okall && ts_store_list(a, "page", &v, &n, &err) == 0 && n == 1200 &&
           !strcmp(v[0].ref, "OpaqueRef:p00000") && !strcmp(v[1199].ref, "OpaqueRef:p01199"),
       "list pages through 1200 objects in order");
    ts_store_objs_free(v, n);
    ok(ts_store_count(a, "page", &cnt, &err) == 0 && cnt == 1200, "count = 1200");
}

struct waiter {
    struct ts_store *st;
    uint64_t since, got, woke;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->got = ts_store_wait(w->st, w->since, 10000);
    w->woke = atoll_now_ns();
    return NULL;
}

struct evwait {
    struct ts_events *ev;
    const char *token;
    struct atoll_value *out;
};

static void *ev_thread(void *arg)
{
    struct evwait *w = arg;
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE cl = atoll_value_array();
    atoll_value_array_append(cl, atoll_value_string("vm"));
    ts_events_from(w->ev, NULL, TS_ROLE_POOL_ADMIN, cl, w->token, 10, &w->out, &err);
    atoll_err_clear(&err);
    return NULL;
}

static void test_two_hosts(struct ts_store *a, struct ts_store *b)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    pthread_t th;
    int rc;

    struct waiter w = {.st = b, .since = ts_store_revision(b)};
    pthread_create(&th, NULL, wait_thread, &w);
    usleep(200000);
    uint64_t t0 = atoll_now_ns();
    uint64_t r = put1(a, "raw", "OpaqueRef:x", "from a", TS_STORE_REV_ANY, &rc);
    pthread_join(th, NULL);
    ok(w.got >= r, "a commit through one handle wakes a waiter on the other (watch)");
    diag("cross-host wake-up %.2f ms after the commit was sent", (w.woke - t0) / 1e6);

    struct ts_dm_db *da = NULL, *dbb = NULL;
    struct ts_events *evb = NULL;
    ok(ts_dm_db_open(a, &da, &err) == 0 && ts_dm_db_open(b, &dbb, &err) == 0 &&
           ts_events_new(dbb, &evb, &err) == 0,
       "record caches and events over both handles");
    const struct ts_dm_class *VM = ts_dm_class_find("VM");
    char ref[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE rec = atoll_value_struct();
    atoll_value_struct_set_string(rec, "name_label", "shared");
    ok(ts_dm_generic_create(da, VM, rec, ref, &err) == 0, "VM.create through host A");
    ATOLL_AUTOVALUE got = NULL;
    /* other hosts see a commit once their watch reports it (eventual, milliseconds) */
    uint64_t ra = ts_store_revision(a);
    ok(ts_store_wait(b, ra - 1, 5000) >= ra, "host B's watch reports host A's revision");
    ok(ts_dm_generic_get_record(dbb, VM, ref, &got, &err) == 0 &&
           !strcmp(atoll_value_struct_get_string(got, "name_label"), "shared"),
       "host B reads it from its cache");

    ATOLL_AUTOVALUE cl = atoll_value_array();
    atoll_value_array_append(cl, atoll_value_string("vm"));
    ATOLL_AUTOVALUE b0 = NULL;
    ts_events_from(evb, NULL, TS_ROLE_POOL_ADMIN, cl, "", 0, &b0, &err);
    struct evwait ew = {.ev = evb, .token = b0 ? atoll_value_struct_get_string(b0, "token") : ""};
    pthread_create(&th, NULL, ev_thread, &ew);
    usleep(200000);
    ATOLL_AUTOVALUE nv = atoll_value_string("renamed on A");
    ts_dm_generic_set_field(da, VM, ref, "name_label", nv, &err);
    pthread_join(th, NULL);
    struct atoll_value *evs = ew.out ? atoll_value_struct_get(ew.out, "events") : NULL;
    struct atoll_value *e0 =
        evs && atoll_value_array_len(evs) ? atoll_value_array_get(evs, 0) : NULL;
    struct atoll_value *snap = e0 ? atoll_value_struct_get(e0, "snapshot") : NULL;
    is_str(snap ? atoll_value_struct_get_string(snap, "name_label") : NULL, "renamed on A",
           "event.from on host B wakes with host A's change");
    atoll_value_unref(ew.out);
    ts_events_free(evb);
    ts_dm_db_close(da);
    ts_dm_db_close(dbb);
}

static void test_pruning(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store *a = NULL;
    char ref[64];
    if (!ok(ts_store_open(spec, "prefix=/prune/,tombstones=100", &a, &err) == 0,
            "a store under another prefix keeping 100 tombstones"))
        return;
    uint64_t before = ts_store_revision(a), last_del = 0;
    int okall = 1;
    for (int i = 0; i < 640; i += 10) {
        struct ts_store_txn *t = ts_store_txn_new(a);
        for (int j = i; j < i + 10; j++) {
            snprintf(ref, sizeof(ref), "OpaqueRef:d%05d", j);
            ts_store_txn_put(t, "blob", ref, "x", 1, TS_STORE_REV_ANY);
        }
        okall &= ts_store_txn_commit(t, NULL, NULL, &err) == 0;
        ts_store_txn_free(t);
        t = ts_store_txn_new(a);
        for (int j = i; j < i + 10; j++) {
            snprintf(ref, sizeof(ref), "OpaqueRef:d%05d", j);
            ts_store_txn_delete(t, "blob", ref, TS_STORE_REV_ANY);
        }
        okall &= ts_store_txn_commit(t, &last_del, NULL, &err) == 0;
        ts_store_txn_free(t);
    }
    ok(okall, "640 objects created and deleted in 64 + 64 transactions");
    struct ts_store_changes ch;
    ok(ts_store_changes(a, before, "blob", &ch, &err) == 0 && ch.compacted,
       "tombstones were pruned: an old revision is reported compacted");
    diag("%zu deletions still known", ch.n);
    ts_store_changes_fini(&ch);
    ok(ts_store_changes(a, last_del - 1, "blob", &ch, &err) == 0 && !ch.compacted && ch.n == 10,
       "recent deletions are complete");
    ts_store_changes_fini(&ch);
    ts_store_close(a);
}

int main(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store *a = NULL, *b = NULL;

    ts_dm_init();
    start_etcd();
    ok(ts_store_open(spec, NULL, &a, &err) == 0 && ts_store_open(spec, NULL, &b, &err) == 0,
       "two store handles on one etcd (%s)", spec);
    ok(ts_store_open("etcd:ftp://x", NULL, &b, &err) < 0, "a bad endpoint is refused");
    atoll_err_clear(&err);
    ok(ts_store_open(spec, "prefix=nope", &b, &err) < 0 &&
           ts_store_open(spec, "tombstones=0", &b, &err) < 0,
       "bad options are refused");
    atoll_err_clear(&err);
    test_basics(a);
    test_two_hosts(a, b);
    test_pruning();
    ts_store_close(a);
    ts_store_close(b);
    stop_etcd();
    return tap_done();
}

/*
 * tests/unit/toolstack/test_store.c - the object store on its SQLite backend:
 * revisions, compare failures, all-or-nothing transactions, watch from a
 * revision, blocking wait woken by a commit, listeners, reopen, deletion-log
 * compaction, and kill -9 during a write loop leaving a consistent store.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atoll/util.h"
#include "store.h"
#include "tap.h"

static char dir[256];
static char dbpath[300];

static uint64_t put(struct ts_store *st, const char *cls, const char *ref, const char *data,
                    uint64_t expect, int *rc_out)
{
    struct ts_store_txn *t = ts_store_txn_new(st);
    struct atoll_err err = ATOLL_ERR_INIT;
    uint64_t rev = 0;
    ts_store_txn_put(t, cls, ref, data, strlen(data), expect);
    int rc = ts_store_txn_commit(t, &rev, NULL, &err);
    ts_store_txn_free(t);
    atoll_err_clear(&err);
    if (rc_out)
        *rc_out = rc;
    return rev;
}

static void test_basic(void)
{
    struct ts_store *st = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store_obj o;
    int rc;

    ok(ts_store_open(dbpath, NULL, &st, &err) == 0, "open a new store");
    struct ts_store *second = NULL;
    ok(ts_store_open(dbpath, NULL, &second, &err) < 0 && err.detail &&
           strstr(err.detail, "another process"),
       "a second open of the same store is refused (one process per store)");
    atoll_err_clear(&err);
    struct stat sb;
    ok(stat(dbpath, &sb) == 0 && (sb.st_mode & 0077) == 0, "the database file is private (0600)");
    is_int(ts_store_revision(st), 0, "a new store is at revision 0");
    is_int(ts_store_get(st, "VM", "OpaqueRef:a", &o, &err), 0, "get of an absent object says 0");

    is_int(put(st, "VM", "OpaqueRef:a", "one", TS_STORE_REV_ABSENT, &rc), 1, "create -> rev 1");
    is_int(rc, 0, "create-if-absent commits");
    is_int(ts_store_get(st, "VM", "OpaqueRef:a", &o, &err), 1, "get finds it");
    is_str(o.data, "one", "data round-trips");
    ok(o.create_rev == 1 && o.mod_rev == 1, "create_rev and mod_rev are 1");
    ts_store_obj_fini(&o);

    put(st, "VM", "OpaqueRef:a", "again", TS_STORE_REV_ABSENT, &rc);
    is_int(rc, 1, "create-if-absent of an existing object is a compare failure");
    is_int(ts_store_revision(st), 1, "a failed compare does not move the revision");
    put(st, "VM", "OpaqueRef:a", "two", 1, &rc);
    is_int(rc, 0, "put-if-revision-is with the right revision commits");
    put(st, "VM", "OpaqueRef:a", "stale", 1, &rc);
    is_int(rc, 1, "put with a stale revision fails");
    put(st, "VM", "OpaqueRef:nope", "x", 7, &rc);
    is_int(rc, 1, "put-if-revision-is of an absent object fails");
    ts_store_get(st, "VM", "OpaqueRef:a", &o, &err);
    ok(strcmp(o.data, "two") == 0 && o.create_rev == 1 && o.mod_rev == 2,
       "the object holds the last good write (create 1, mod 2)");
    ts_store_obj_fini(&o);

    /* all or nothing */
    struct ts_store_txn *t = ts_store_txn_new(st);
    size_t failed = 99;
    uint64_t rev = 0;
    ts_store_txn_put(t, "VM", "OpaqueRef:b", "b", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_put(t, "VM", "OpaqueRef:a", "three", 5, 1);
    is_int(ts_store_txn_commit(t, &rev, &failed, &err), 1,
           "a transaction with one bad compare fails");
    is_int(failed, 1, "it names the failing operation");
    ts_store_txn_free(t);
    is_int(ts_store_get(st, "VM", "OpaqueRef:b", &o, &err), 0,
           "its other operation was not applied");

    t = ts_store_txn_new(st);
    ts_store_txn_put(t, "VM", "OpaqueRef:b", "b", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_put(t, "VM", "OpaqueRef:c", "c", 1, TS_STORE_REV_ABSENT);
    ts_store_txn_put(t, "host", "OpaqueRef:h", "h", 1, TS_STORE_REV_ABSENT);
    is_int(ts_store_txn_commit(t, &rev, NULL, &err), 0, "a three-object transaction commits");
    is_int(rev, 3, "as one revision");
    ts_store_txn_free(t);

    struct ts_store_obj *v = NULL;
    size_t n = 0;
    uint64_t cnt = 0;
    ok(ts_store_list(st, "VM", &v, &n, &err) == 0 && n == 3, "list VM gives 3 objects");
    ok(n == 3 && strcmp(v[0].ref, "OpaqueRef:a") == 0 && strcmp(v[2].ref, "OpaqueRef:c") == 0,
       "ordered by ref");
    ts_store_objs_free(v, n);
    ok(ts_store_count(st, "host", &cnt, &err) == 0 && cnt == 1, "count host = 1");

    t = ts_store_txn_new(st);
    ts_store_txn_delete(t, "VM", "OpaqueRef:c", 1);
    is_int(ts_store_txn_commit(t, &rev, NULL, &err), 1, "delete with a wrong revision fails");
    ts_store_txn_free(t);
    t = ts_store_txn_new(st);
    ts_store_txn_delete(t, "VM", "OpaqueRef:c", 3);
    ts_store_txn_put(t, "VM", "OpaqueRef:a", "four", 4, TS_STORE_REV_ANY);
    is_int(ts_store_txn_commit(t, &rev, NULL, &err), 0, "delete with the right revision commits");
    is_int(rev, 4, "at revision 4");
    ts_store_txn_free(t);
    t = ts_store_txn_new(st);
    ts_store_txn_delete(t, "VM", "OpaqueRef:zzz", TS_STORE_REV_ANY);
    is_int(ts_store_txn_commit(t, &rev, NULL, &err), 0, "unconditional delete of nothing is fine");
    ts_store_txn_free(t);

    /* compare-only operations */
    t = ts_store_txn_new(st);
    ts_store_txn_check(t, "VM", "OpaqueRef:b", 2);
    ts_store_txn_put(t, "VM", "OpaqueRef:new", "n", 1, TS_STORE_REV_ABSENT);
    is_int(ts_store_txn_commit(t, &rev, &failed, &err), 1, "a failed check fails the transaction");
    ts_store_txn_free(t);
    t = ts_store_txn_new(st);
    ts_store_txn_check(t, "VM", "OpaqueRef:b", 3);
    ts_store_txn_check(t, "VM", "OpaqueRef:nope", TS_STORE_REV_ABSENT);
    uint64_t before_checks = ts_store_revision(st);
    is_int(ts_store_txn_commit(t, &rev, &failed, &err), 0, "checks that hold commit");
    is_int(ts_store_revision(st), before_checks, "and, writing nothing, make no revision");
    ts_store_txn_free(t);

    /* watch from a revision */
    struct ts_store_changes ch;
    ok(ts_store_changes(st, 2, NULL, &ch, &err) == 0, "changes since 2");
    is_int(ch.n, 4, "four objects changed since rev 2 (b, c, h added after; a modified)");
    int seen_add_b = 0, seen_del_c = 0, seen_mod_a = 0;
    for (size_t i = 0; i < ch.n; i++) {
        struct ts_store_change *c = &ch.v[i];
        if (!strcmp(c->obj.ref, "OpaqueRef:b") && c->op == TS_STORE_ADD && c->obj.mod_rev == 3)
            seen_add_b = 1;
        if (!strcmp(c->obj.ref, "OpaqueRef:c") && c->op == TS_STORE_DEL && c->obj.mod_rev == 4)
            seen_del_c = 1;
        if (!strcmp(c->obj.ref, "OpaqueRef:a") && c->op == TS_STORE_MOD &&
            !strcmp(c->obj.data, "four"))
            seen_mod_a = 1;
    }
    ok(seen_add_b && seen_del_c && seen_mod_a, "add b, del c (rev 4) and mod a with its data");
    ok(ch.n >= 2 && ch.v[0].obj.mod_rev <= ch.v[ch.n - 1].obj.mod_rev, "ordered by revision");
    is_int(ch.revision, 4, "changes report the revision they bring us to");
    ts_store_changes_fini(&ch);
    ok(ts_store_changes(st, 4, NULL, &ch, &err) == 0 && ch.n == 0, "nothing changed since 4");
    ts_store_changes_fini(&ch);
    ok(ts_store_changes(st, 0, "host", &ch, &err) == 0 && ch.n == 1 && ch.v[0].op == TS_STORE_ADD,
       "class filter: host since 0 is one add");
    ts_store_changes_fini(&ch);
    ts_store_close(st);

    /* reopen */
    st = NULL;
    ok(ts_store_open(dbpath, "sync=normal", &st, &err) == 0, "reopen");
    is_int(ts_store_revision(st), 4, "the revision survives reopening");
    ok(ts_store_get(st, "VM", "OpaqueRef:a", &o, &err) == 1 && strcmp(o.data, "four") == 0,
       "so does the data");
    ts_store_obj_fini(&o);
    ts_store_close(st);
    ok(ts_store_open(dbpath, "sync=maybe", &st, &err) < 0 && atoll_err_is_set(&err),
       "bad options are refused");
    atoll_err_clear(&err);
    ok(ts_store_open("etcd://x", NULL, &st, &err) < 0, "an unknown backend is refused");
    atoll_err_clear(&err);
}

struct waiter {
    struct ts_store *st;
    uint64_t since, got;
    uint64_t woke_ns;
};

static void *wait_thread(void *arg)
{
    struct waiter *w = arg;
    w->got = ts_store_wait(w->st, w->since, 10000);
    w->woke_ns = atoll_now_ns();
    return NULL;
}

static int listener_calls;
static uint64_t listener_rev;
static void on_commit(void *arg, uint64_t rev)
{
    (void)arg;
    listener_calls++;
    listener_rev = rev;
}

static void test_wait(void)
{
    struct ts_store *st = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    pthread_t th;

    struct ts_store_obj o;
    ts_store_open(dbpath, "sync=normal", &st, &err);
    /* single-object helpers */
    uint64_t pr = 0;
    ok(ts_store_put(st, "VM", "OpaqueRef:single", "s", 1, TS_STORE_REV_ABSENT, &pr, &err) == 0 &&
           pr == ts_store_revision(st), "ts_store_put creates");
    is_int(ts_store_delete(st, "VM", "OpaqueRef:single", pr + 7, NULL, &err), 1,
           "ts_store_delete with a wrong revision is a compare failure");
    ok(ts_store_delete(st, "VM", "OpaqueRef:single", pr, NULL, &err) == 0 &&
           ts_store_get(st, "VM", "OpaqueRef:single", &o, &err) == 0, "ts_store_delete deletes");

    uint64_t r0 = ts_store_revision(st);
    is_int(ts_store_wait(st, r0, 0), r0, "wait with timeout 0 returns at once");
    is_int(ts_store_wait(st, r0, 30), r0, "wait times out with no commit");
    is_int(ts_store_wait(st, r0 - 1, 10000), r0, "wait for an older revision returns at once");

    int id = ts_store_listen(st, on_commit, NULL);
    ok(id > 0, "listener registered");
    struct waiter w = {.st = st, .since = r0};
    pthread_create(&th, NULL, wait_thread, &w);
    usleep(50000);
    uint64_t t0 = atoll_now_ns();
    put(st, "VM", "OpaqueRef:w", "w", TS_STORE_REV_ANY, NULL);
    uint64_t t1 = atoll_now_ns();
    pthread_join(th, NULL);
    is_int(w.got, r0 + 1, "a blocked wait is woken by the commit");
    diag("commit took %.3f ms; waiter woke %.3f ms after the commit returned", (t1 - t0) / 1e6,
         w.woke_ns > t1 ? (w.woke_ns - t1) / 1e6 : 0.0);
    ok(listener_calls == 1 && listener_rev == r0 + 1, "the listener saw the commit");
    ts_store_unlisten(st, id);
    put(st, "VM", "OpaqueRef:w", "w2", TS_STORE_REV_ANY, NULL);
    is_int(listener_calls, 1, "no calls after unlisten");
    ts_store_close(st);
}

static void test_compaction(void)
{
    struct ts_store *st = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    char ref[64];
    const int total = 30000, per = 100;

    ts_store_open(dbpath, "sync=normal", &st, &err);
    uint64_t before = ts_store_revision(st);
    struct ts_store_txn *t = ts_store_txn_new(st);
    for (int i = 0; i < total; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:t%d", i);
        ts_store_txn_put(t, "blob", ref, "x", 1, TS_STORE_REV_ABSENT);
    }
    ok(ts_store_txn_commit(t, NULL, NULL, &err) == 0, "30000 objects in one transaction");
    ts_store_txn_free(t);
    int okall = 1;
    for (int i = 0; i < total; i += per) {
        t = ts_store_txn_new(st);
        for (int j = i; j < i + per && j < total; j++) {
            snprintf(ref, sizeof(ref), "OpaqueRef:t%d", j);
            ts_store_txn_delete(t, "blob", ref, TS_STORE_REV_ANY);
        }
        okall &= ts_store_txn_commit(t, NULL, NULL, &err) == 0;
        ts_store_txn_free(t);
    }
    ok(okall, "deleted in 300 transactions");
    struct ts_store_changes ch;
    ok(ts_store_changes(st, before, "blob", &ch, &err) == 0 && ch.compacted,
       "watch from before the pruned deletion log says 'compacted'");
    ok(ch.n >= 10000 && ch.n < (size_t)total, "and still returns the kept deletions (%zu)", ch.n);
    ts_store_changes_fini(&ch);
    ok(ts_store_changes(st, ts_store_revision(st) - 10, "blob", &ch, &err) == 0 && !ch.compacted &&
           ch.n == 10 * per,
       "recent deletions are complete");
    ts_store_changes_fini(&ch);
    ts_store_close(st);
}

/* ---- kill -9 during a write loop ---- */

static void payload(char *buf, size_t len, long i)
{
    int n = snprintf(buf, len, "%ld:", i);
    for (size_t k = (size_t)n; k < len - 1; k++)
        buf[k] = (char)('a' + (i + (long)k) % 26);
    buf[len - 1] = '\0';
}

static int payload_ok(const char *data, long *i_out)
{
    char *end;
    long i = strtol(data, &end, 10);
    static char want[8192];
    if (*end != ':')
        return 0;
    payload(want, sizeof(want), i);
    *i_out = i;
    return strcmp(data, want) == 0;
}

static void writer(const char *path, const char *opts)
{
    struct ts_store *st = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    static char buf[8192];
    char ref[64];

    if (ts_store_open(path, opts, &st, &err) < 0)
        _exit(2);
    struct ts_store_obj o;
    long i = 0;
    if (ts_store_get(st, "pair", "OpaqueRef:a", &o, &err) == 1) {
        i = strtol(o.data, NULL, 10);
        ts_store_obj_fini(&o);
    }
    for (;;) {
        i++;
        payload(buf, sizeof(buf), i);
        struct ts_store_txn *t = ts_store_txn_new(st);
        ts_store_txn_put(t, "pair", "OpaqueRef:a", buf, strlen(buf), TS_STORE_REV_ANY);
        ts_store_txn_put(t, "pair", "OpaqueRef:b", buf, strlen(buf), TS_STORE_REV_ANY);
        snprintf(ref, sizeof(ref), "OpaqueRef:log%ld", i);
        ts_store_txn_put(t, "log", ref, buf, strlen(buf), TS_STORE_REV_ABSENT);
        snprintf(ref, sizeof(ref), "OpaqueRef:log%ld", i - 3);
        ts_store_txn_delete(t, "log", ref, TS_STORE_REV_ANY);
        if (ts_store_txn_commit(t, NULL, NULL, &err) != 0)
            _exit(3);
        ts_store_txn_free(t);
    }
}

static int integrity_ok(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int good = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, NULL) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        good = strcmp((const char *)sqlite3_column_text(s, 0), "ok") == 0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    return good;
}

static void test_kill9(void)
{
    char path[320];
    long last = 0;
    int consistent = 1, monotonic = 1, integrity = 1, opened = 1, progressed = 0;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();

    snprintf(path, sizeof(path), "%s/kill9.db", dir);
    diag("kill -9 seed %u", seed);
    srand(seed);
    for (int iter = 0; iter < 12; iter++) { /* alternately default (NORMAL) and sync=full */
        pid_t pid = fork();
        if (pid == 0)
            writer(path, iter % 2 ? "sync=full" : NULL);
        usleep(20000 + (useconds_t)(rand() % 80000));
        kill(pid, SIGKILL);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
            diag("writer exited early: status %d", status);

        integrity &= integrity_ok(path);
        struct ts_store *st = NULL;
        struct atoll_err err = ATOLL_ERR_INIT;
        if (ts_store_open(path, NULL, &st, &err) < 0) {
            opened = 0;
            atoll_err_clear(&err);
            continue;
        }
        struct ts_store_obj a = {0}, b = {0};
        long ia = 0, ib = 0;
        int ga = ts_store_get(st, "pair", "OpaqueRef:a", &a, &err);
        int gb = ts_store_get(st, "pair", "OpaqueRef:b", &b, &err);
        if (ga != gb)
            consistent = 0;
        if (ga == 1 && gb == 1) {
            if (!payload_ok(a.data, &ia) || !payload_ok(b.data, &ib) || ia != ib ||
                a.mod_rev != b.mod_rev || a.mod_rev > ts_store_revision(st))
                consistent = 0;
            if (ia < last)
                monotonic = 0;
            if (ia > last)
                progressed++;
            last = ia;
            /* the log holds exactly the last three entries of the last commit */
            uint64_t n = 0;
            ts_store_count(st, "log", &n, &err);
            if (n != (uint64_t)(ia < 3 ? ia : 3))
                consistent = 0;
        }
        ts_store_obj_fini(&a);
        ts_store_obj_fini(&b);
        ts_store_close(st);
    }
    ok(integrity, "SQLite integrity_check is 'ok' after every kill -9");
    ok(opened, "the store opens after every kill -9");
    ok(consistent, "no half-written object or half-applied transaction after kill -9");
    ok(monotonic, "committed state never goes backwards across kills");
    ok(progressed > 0, "the writer made progress (%d of 12 runs; last counter %ld)", progressed,
       last);
}

static void cleanup(void)
{
    const char *sfx[] = {"", "-wal", "-shm"};
    char p[400];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
        snprintf(p, sizeof(p), "%s/kill9.db%s", dir, sfx[i]);
        unlink(p);
    }
    rmdir(dir);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-store-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
    test_basic();
    test_wait();
    test_compaction();
    test_kill9();
    cleanup();
    return tap_done();
}

/*
 * toolstack/store.c - the backend-independent half of the object store:
 * picks a backend from the spec, queues transaction operations, tracks the
 * latest committed revision in memory, and wakes waiters and listeners when
 * a commit lands (or a backend reports commits made elsewhere). Backends
 * know nothing about waiting.
 * Threads: any worker thread; a mutex + condvar guard the revision.
 */
#define ATOLL_LOG_MODULE "store"
#include "store.h"
#include "store_etcd.h"
#include "store_sqlite.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"

#define MAX_LISTENERS 32

struct listener {
    int id;
    ts_store_listener_fn fn;
    void *arg;
};

struct ts_store {
    const struct ts_store_backend *be;
    void *self;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    uint64_t revision;
    int closing;
    struct listener listeners[MAX_LISTENERS];
    int next_listener_id;
};

struct ts_store_txn {
    struct ts_store *st;
    struct ts_store_op *ops;
    size_t n, cap;
};

static void notify(struct ts_store *st, uint64_t rev);

/* A backend learnt of commits made elsewhere (another host writing to etcd). */
static void backend_moved(void *arg, uint64_t rev)
{
    struct ts_store *st = arg;
    if (rev > ts_store_revision(st))
        notify(st, rev);
}

int ts_store_open(const char *spec, const char *opts, struct ts_store **out,
                  struct atoll_err *err)
{
    const char *path = spec;
    const struct ts_store_backend *be = NULL;
    void *self = NULL;

    if (!spec || !*spec) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "store: empty store spec, expected sqlite:<path>");
        return -1;
    }
    if (strncmp(spec, "sqlite:", 7) == 0) {
        path = spec + 7;
    } else if (strncmp(spec, "etcd:", 5) == 0) {
        if (ts_store_etcd_open(spec + 5, opts, &be, &self, err) < 0)
            return -1;
        goto opened;
    } else if (strstr(spec, "://") || (strchr(spec, ':') && spec[0] != '/' && spec[0] != '.')) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR,
                  "store: unsupported store spec, expected sqlite:<path>");
        atoll_err_detail(err, "store spec '%s' names no known backend", spec);
        return -1;
    }
    if (ts_store_sqlite_open(path, opts, &be, &self, err) < 0)
        return -1;
opened:;
    struct ts_store *st = atoll_calloc(1, sizeof(*st));
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&st->lock, NULL);
    st->be = be;
    st->self = self;
    st->revision = be->revision(self);
    st->next_listener_id = 1;
    if (be->set_notify)
        be->set_notify(self, backend_moved, st);
    log_debug("opened %s store '%s' at revision %llu", be->name, path,
              (unsigned long long)st->revision);
    *out = st;
    return 0;
}

void ts_store_close(struct ts_store *st)
{
    if (!st)
        return;
    pthread_mutex_lock(&st->lock);
    st->closing = 1;
    pthread_cond_broadcast(&st->cond);
    pthread_mutex_unlock(&st->lock);
    st->be->close(st->self);
    pthread_cond_destroy(&st->cond);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

uint64_t ts_store_revision(struct ts_store *st)
{
    pthread_mutex_lock(&st->lock);
    uint64_t r = st->revision;
    pthread_mutex_unlock(&st->lock);
    return r;
}

int ts_store_get(struct ts_store *st, const char *cls, const char *ref, struct ts_store_obj *out,
                 struct atoll_err *err)
{
    return st->be->get(st->self, cls, ref, out, err);
}

int ts_store_list(struct ts_store *st, const char *cls, struct ts_store_obj **out, size_t *n,
                  struct atoll_err *err)
{
    return st->be->list(st->self, cls, out, n, err);
}

int ts_store_count(struct ts_store *st, const char *cls, uint64_t *out, struct atoll_err *err)
{
    return st->be->count(st->self, cls, out, err);
}

void ts_store_obj_fini(struct ts_store_obj *o)
{
    if (!o)
        return;
    free(o->cls);
    free(o->ref);
    free(o->data);
    memset(o, 0, sizeof(*o));
}

void ts_store_objs_free(struct ts_store_obj *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        ts_store_obj_fini(&v[i]);
    free(v);
}

struct ts_store_txn *ts_store_txn_new(struct ts_store *st)
{
    struct ts_store_txn *t = atoll_calloc(1, sizeof(*t));
    t->st = st;
    return t;
}

static struct ts_store_op *txn_slot(struct ts_store_txn *t, const char *cls, const char *ref)
{
    /* one object at most once: a later operation replaces an earlier one */
    for (size_t i = 0; i < t->n; i++) {
        if (strcmp(t->ops[i].ref, ref) == 0 && strcmp(t->ops[i].cls, cls) == 0) {
            free(t->ops[i].data);
            t->ops[i].data = NULL;
            return &t->ops[i];
        }
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->ops = atoll_realloc(t->ops, t->cap * sizeof(*t->ops));
    }
    struct ts_store_op *op = &t->ops[t->n++];
    memset(op, 0, sizeof(*op));
    op->cls = atoll_strdup(cls);
    op->ref = atoll_strdup(ref);
    return op;
}

void ts_store_txn_put(struct ts_store_txn *t, const char *cls, const char *ref, const char *data,
                      size_t len, uint64_t expect_rev)
{
    struct ts_store_op *op = txn_slot(t, cls, ref);
    op->is_check = 0;
    op->is_delete = 0;
    op->data = atoll_malloc(len + 1);
    memcpy(op->data, data, len);
    op->data[len] = '\0';
    op->len = len;
    op->expect_rev = expect_rev;
}

void ts_store_txn_check(struct ts_store_txn *t, const char *cls, const char *ref,
                        uint64_t expect_rev)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->ops[i].ref, ref) == 0 && strcmp(t->ops[i].cls, cls) == 0)
            return; /* a write of the object already compares it */
    struct ts_store_op *op = txn_slot(t, cls, ref);
    op->is_check = 1;
    op->is_delete = 0;
    op->len = 0;
    op->expect_rev = expect_rev;
}

void ts_store_txn_delete(struct ts_store_txn *t, const char *cls, const char *ref,
                         uint64_t expect_rev)
{
    struct ts_store_op *op = txn_slot(t, cls, ref);
    op->is_check = 0;
    op->is_delete = 1;
    op->len = 0;
    op->expect_rev = expect_rev;
}

size_t ts_store_txn_size(const struct ts_store_txn *t)
{
    return t->n;
}

static void notify(struct ts_store *st, uint64_t rev)
{
    struct listener ls[MAX_LISTENERS];
    int nl = 0;

    pthread_mutex_lock(&st->lock);
    if (rev > st->revision)
        st->revision = rev;
    pthread_cond_broadcast(&st->cond);
    for (int i = 0; i < MAX_LISTENERS; i++)
        if (st->listeners[i].fn)
            ls[nl++] = st->listeners[i];
    pthread_mutex_unlock(&st->lock);
    for (int i = 0; i < nl; i++)
        ls[i].fn(ls[i].arg, rev);
}

int ts_store_txn_commit(struct ts_store_txn *t, uint64_t *new_rev, size_t *failed_op,
                        struct atoll_err *err)
{
    struct ts_store *st = t->st;
    uint64_t rev = 0;
    size_t failed = 0;

    if (t->n == 0) {
        if (new_rev)
            *new_rev = ts_store_revision(st);
        return 0;
    }
    int rc = st->be->commit(st->self, t->ops, t->n, &rev, &failed, err);
    if (rc == 1 && failed_op)
        *failed_op = failed;
    if (rc != 0)
        return rc;
    notify(st, rev);
    if (new_rev)
        *new_rev = rev;
    return 0;
}

void ts_store_txn_free(struct ts_store_txn *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->ops[i].cls);
        free(t->ops[i].ref);
        free(t->ops[i].data);
    }
    free(t->ops);
    free(t);
}

int ts_store_put(struct ts_store *st, const char *cls, const char *ref, const char *data,
                 size_t len, uint64_t expect_rev, uint64_t *new_rev, struct atoll_err *err)
{
    struct ts_store_txn *t = ts_store_txn_new(st);
    ts_store_txn_put(t, cls, ref, data, len, expect_rev);
    int rc = ts_store_txn_commit(t, new_rev, NULL, err);
    ts_store_txn_free(t);
    return rc;
}

int ts_store_delete(struct ts_store *st, const char *cls, const char *ref, uint64_t expect_rev,
                    uint64_t *new_rev, struct atoll_err *err)
{
    struct ts_store_txn *t = ts_store_txn_new(st);
    ts_store_txn_delete(t, cls, ref, expect_rev);
    int rc = ts_store_txn_commit(t, new_rev, NULL, err);
    ts_store_txn_free(t);
    return rc;
}

int ts_store_changes(struct ts_store *st, uint64_t since, const char *cls,
                     struct ts_store_changes *out, struct atoll_err *err)
{
    memset(out, 0, sizeof(*out));
    return st->be->changes(st->self, since, cls, out, err);
}

void ts_store_changes_fini(struct ts_store_changes *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        ts_store_obj_fini(&c->v[i].obj);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

uint64_t ts_store_wait(struct ts_store *st, uint64_t since, int64_t timeout_ms)
{
    struct timespec deadline;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (timeout_ms > 0) {
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&st->lock);
    while (st->revision <= since && !st->closing && timeout_ms != 0) {
        if (timeout_ms < 0) {
            pthread_cond_wait(&st->cond, &st->lock);
        } else if (pthread_cond_timedwait(&st->cond, &st->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    uint64_t r = st->revision;
    pthread_mutex_unlock(&st->lock);
    return r;
}

int ts_store_listen(struct ts_store *st, ts_store_listener_fn fn, void *arg)
{
    int id = -1;

    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < MAX_LISTENERS; i++) {
        if (!st->listeners[i].fn) {
            st->listeners[i].fn = fn;
            st->listeners[i].arg = arg;
            st->listeners[i].id = id = st->next_listener_id++;
            break;
        }
    }
    pthread_mutex_unlock(&st->lock);
    if (id < 0)
        log_error("no room for another commit listener (max %d)", MAX_LISTENERS);
    return id;
}

void ts_store_unlisten(struct ts_store *st, int id)
{
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < MAX_LISTENERS; i++)
        if (st->listeners[i].fn && st->listeners[i].id == id)
            memset(&st->listeners[i], 0, sizeof(st->listeners[i]));
    pthread_mutex_unlock(&st->lock);
}

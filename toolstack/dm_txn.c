/*
 * toolstack/dm_txn.c - the optimistic transactions over the record cache
 * (dm_db.c): reads and writes staged per transaction, the inverse ref sets
 * kept in step, the commit as one store transaction checked against the
 * revisions read, and the retry loop with backoff on a conflict.
 * Threads: a transaction belongs to the worker thread running ts_dm_db_txn.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_db.h"
#include "dm_db_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"

#define MAX_TXN_ATTEMPTS 64

struct txe {
    const struct ts_dm_class *c;
    char *ref;
    struct atoll_value *old;   /* as read; NULL if absent */
    uint64_t old_rev, old_create_rev;
    struct atoll_value *cur;   /* this transaction's version (written) */
    int written, deleted;
};

struct ts_dm_txn {
    struct ts_dm_db *db;
    struct txe *v;
    size_t n, cap;
};

static struct txe *txe_get(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->v[i].ref, ref) == 0 && t->v[i].c == c)
            return &t->v[i];
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 8;
        t->v = atoll_realloc(t->v, t->cap * sizeof(*t->v));
    }
    struct txe *e = &t->v[t->n++];
    memset(e, 0, sizeof(*e));
    e->c = c;
    e->ref = atoll_strdup(ref);
    ts_dm_db_cache_get(t->db, c, ref, &e->old, &e->old_create_rev, &e->old_rev);
    return e;
}

/* The live version inside the transaction, borrowed; NULL if absent/deleted. */
static struct atoll_value *txe_live(struct txe *e)
{
    if (e->written)
        return e->deleted ? NULL : e->cur;
    return e->old;
}

int ts_dm_txn_get(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                  struct atoll_value **rec)
{
    struct atoll_value *v = txe_live(txe_get(t, c, ref));
    if (rec)
        *rec = v;
    return v != NULL;
}

int ts_dm_txn_get_mut(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                      struct atoll_value **rec)
{
    struct atoll_value *v = txe_live(txe_get(t, c, ref));
    if (!v)
        return 0;
    /* a shallow copy: members are shared, replace them rather than mutate them */
    struct atoll_value *copy = atoll_value_struct();
    for (size_t i = 0; i < atoll_value_struct_len(v); i++) {
        const char *k;
        struct atoll_value *m;
        atoll_value_struct_at(v, i, &k, &m);
        atoll_value_struct_set(copy, k, atoll_value_ref(m));
    }
    *rec = copy;
    return 1;
}

static const char *ref_of(struct atoll_value *rec, const char *field)
{
    const char *s = rec ? atoll_value_struct_get_string(rec, field) : NULL;
    return s && *s && strcmp(s, ATOLL_REF_NULL) != 0 ? s : NULL;
}

/* Adds (add=1) or removes ref in target.field (a ref set). Missing targets are skipped. */
static void inverse_edit(struct ts_dm_txn *t, const char *tcls, const char *tref, const char *field,
                         const char *ref, int add)
{
    const struct ts_dm_class *tc = ts_dm_class_find(tcls);
    struct atoll_value *rec = NULL;
    if (!tc || !ts_dm_txn_get_mut(t, tc, tref, &rec))
        return;
    struct atoll_value *old = atoll_value_struct_get(rec, field);
    struct atoll_value *set = atoll_value_array();
    int present = 0;
    for (size_t i = 0; old && i < atoll_value_array_len(old); i++) {
        struct atoll_value *e = atoll_value_array_get(old, i);
        if (strcmp(atoll_value_get_string(e), ref) == 0) {
            present = 1;
            if (!add)
                continue;
        }
        atoll_value_array_append(set, atoll_value_ref(e));
    }
    if (add && !present)
        atoll_value_array_append(set, atoll_value_string(ref));
    atoll_value_struct_set(rec, field, set);
    struct txe *e = txe_get(t, tc, tref);
    atoll_value_unref(e->cur);
    e->cur = rec;
    e->written = 1;
}

static void inverses(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                     struct atoll_value *before, struct atoll_value *after)
{
    for (unsigned i = 0; i < c->nfields; i++) {
        const struct ts_dm_field *f = &c->fields[i];
        if (!f->inverse)
            continue;
        const char *o = ref_of(before, f->name), *n = ref_of(after, f->name);
        if (o && n && strcmp(o, n) == 0)
            continue;
        if (o)
            inverse_edit(t, f->type->cls, o, f->inverse, ref, 0);
        if (n)
            inverse_edit(t, f->type->cls, n, f->inverse, ref, 1);
    }
}

/*
 * Makes rec (taken; NULL with deleted) e's version and moves the inverse ref sets
 * along. e (of c, ref) may move in t->v afterwards (inverses add entries).
 */
static void txe_write(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                      struct txe *e, struct atoll_value *rec, int deleted)
{
    struct atoll_value *before = txe_live(e);
    struct atoll_value *keep = before ? atoll_value_ref(before) : NULL;
    atoll_value_unref(e->cur);
    e->cur = rec;
    e->written = 1;
    e->deleted = deleted;
    inverses(t, c, ref, keep, rec);
    atoll_value_unref(keep);
}

int ts_dm_txn_put(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                  struct atoll_value *rec, int create, struct atoll_err *err)
{
    struct txe *e = txe_get(t, c, ref);
    struct atoll_value *before = txe_live(e);
    if (create && before) {
        atoll_value_unref(rec);
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "object already exists");
        atoll_err_detail(err, "create of %s %s: the ref is taken", c->name, ref);
        return -1;
    }
    if (!create && !before) {
        atoll_value_unref(rec);
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, c->name, ref);
        return -1;
    }
    txe_write(t, c, ref, e, rec, 0);
    return 0;
}

int ts_dm_txn_delete(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                     struct atoll_err *err)
{
    struct txe *e = txe_get(t, c, ref);
    struct atoll_value *before = txe_live(e);
    if (!before) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, c->name, ref);
        return -1;
    }
    txe_write(t, c, ref, e, NULL, 1);
    return 0;
}

int ts_dm_txn_touch(struct ts_dm_txn *t, const struct ts_dm_class *c, const char *ref,
                    struct atoll_err *err)
{
    struct txe *e = txe_get(t, c, ref);
    struct atoll_value *before = txe_live(e);
    if (!before) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, c->name, ref);
        return -1;
    }
    if (!e->written) {
        e->cur = atoll_value_ref(before);
        e->written = 1;
    }
    return 0;
}

static void txn_free(struct ts_dm_txn *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].ref);
        atoll_value_unref(t->v[i].old);
        atoll_value_unref(t->v[i].cur);
    }
    free(t->v);
}

/* 0 committed, 1 conflict, -1 error */
static int txn_commit(struct ts_dm_txn *t, uint64_t *new_rev, struct atoll_err *err)
{
    size_t nwritten = 0;
    for (size_t i = 0; i < t->n; i++)
        nwritten += t->v[i].written != 0;
    if (nwritten == 0) { /* read only: nothing to commit */
        if (new_rev)
            *new_rev = ts_dm_db_revision(t->db);
        return 0;
    }
    struct ts_store_txn *st = ts_store_txn_new(ts_dm_db_store(t->db));
    for (size_t i = 0; i < t->n; i++) {
        struct txe *e = &t->v[i];
        uint64_t expect = e->old ? e->old_rev : TS_STORE_REV_ABSENT;
        if (!e->written) { /* read only: still, it must not have changed under us */
            ts_store_txn_check(st, e->c->name, e->ref, expect);
            continue;
        }
        if (e->deleted) {
            if (e->old)
                ts_store_txn_delete(st, e->c->name, e->ref, expect);
            continue;
        }
        size_t len;
        ATOLL_AUTOFREE char *js = ts_dm_record_to_json(e->c, e->cur, &len);
        ts_store_txn_put(st, e->c->name, e->ref, js, len, expect);
    }
    uint64_t rev = 0;
    int rc = ts_store_txn_commit(st, &rev, NULL, err);
    ts_store_txn_free(st);
    if (rc != 0)
        return rc;
    if (new_rev)
        *new_rev = rev;
    /* apply our own writes directly when nobody else committed in between */
    struct ts_dm_db *db = t->db;
    int direct = ts_dm_db_apply_begin(db, rev);
    if (direct) {
        for (size_t i = 0; i < t->n; i++) {
            struct txe *e = &t->v[i];
            if (!e->written)
                continue;
            if (e->deleted)
                ts_dm_db_apply_delete(db, e->ref, rev);
            else
                ts_dm_db_apply_put(db, e->c, e->ref, e->old ? e->old_create_rev : rev, rev,
                                   atoll_value_ref(e->cur));
        }
    }
    ts_dm_db_apply_end(db, direct, rev);
    return 0;
}

int ts_dm_db_txn(struct ts_dm_db *db, ts_dm_txn_fn fn, void *arg, uint64_t *new_rev,
                 struct atoll_err *err)
{
    for (int attempt = 0; attempt < MAX_TXN_ATTEMPTS; attempt++) {
        if (ts_dm_db_sync(db, err) < 0)
            return -1;
        struct ts_dm_txn t = {.db = db};
        int rc = fn(&t, arg, err);
        if (rc == 0)
            rc = txn_commit(&t, new_rev, err);
        txn_free(&t);
        if (rc <= 0)
            return rc < 0 ? -1 : 0;
        log_debug("transaction conflict, retrying (attempt %d)", attempt + 1);
        /* randomised, growing backoff so that contending writers spread out */
        unsigned cap = 50u << (attempt < 8 ? attempt : 8);
        usleep((useconds_t)(atoll_now_ns() % cap));
    }
    ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "too many concurrent updates of the same objects");
    return -1;
}

/*
 * toolstack/store_etcd.c - object store backend over etcd v3 (JSON gateway).
 * Layout under the prefix: o/<cls>/<ref> = object data (etcd's create and
 * mod revisions are ours), t/<cls>/<ref> = tombstone of a deleted object (its
 * mod revision is the deletion's), m/compact_rev = how far tombstones were
 * pruned. Watch-from-revision is two ranges with min_mod_revision read at one
 * revision. A watch stream on the prefix reports other hosts' commits.
 * Threads: any worker thread (the client serialises); the watch has its own.
 */
#define ATOLL_LOG_MODULE "store"
#include "store_etcd.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "etcd_client.h"

#define KEEP_TOMBSTONES 10000
#define PAGE 500
#define COMMIT_ATTEMPTS 5

struct et {
    struct ts_etcd *c;
    char *prefix;
    uint64_t keep; /* tombstones kept (at least) */
    pthread_mutex_t lock;
    unsigned delete_commits;
    struct ts_etcd_watch *watch;
};

static char *key_of(struct et *e, char kind, const char *cls, const char *ref)
{
    if (!cls)
        return atoll_strdup_printf("%s%c/", e->prefix, kind);
    if (!ref)
        return atoll_strdup_printf("%s%c/%s/", e->prefix, kind, cls);
    return atoll_strdup_printf("%s%c/%s/%s", e->prefix, kind, cls, ref);
}

/* The first key after every key starting with p. */
static char *prefix_end(const char *p)
{
    char *e = atoll_strdup(p);
    e[strlen(e) - 1]++;
    return e;
}

static struct atoll_value *b64v(const char *s, size_t n)
{
    return atoll_value_string_take(ts_etcd_b64(s, n));
}

/* A kv's raw key and value; 0, or -1 if not base64. */
static int kv_decode(struct atoll_value *kv, char **key, char **val, size_t *vlen)
{
    const char *k = atoll_value_struct_get_string(kv, "key");
    const char *v = atoll_value_struct_get_string(kv, "value");
    size_t kn;
    *key = k ? ts_etcd_unb64(k, &kn) : NULL;
    *val = ts_etcd_unb64(v ? v : "", vlen);
    if (!*key || !*val) {
        free(*key);
        free(*val);
        return -1;
    }
    return 0;
}

/* Splits "<prefix><kind>/<cls>/<ref>" into cls and ref (malloc'd). */
static int split_key(struct et *e, const char *key, char **cls, char **ref)
{
    size_t pl = strlen(e->prefix);
    if (strncmp(key, e->prefix, pl) != 0 || !key[pl] || key[pl + 1] != '/')
        return -1;
    const char *c = key + pl + 2, *slash = strchr(c, '/');
    if (!slash || slash == c || !slash[1])
        return -1;
    *cls = atoll_strndup(c, (size_t)(slash - c));
    *ref = atoll_strdup(slash + 1);
    return 0;
}

typedef int (*kv_fn)(struct et *e, void *arg, struct atoll_value *kv, struct atoll_err *err);

/*
 * Range [key, end) with mod revision >= min_mod, read at revision at_rev (0:
 * now), page by page, all pages at the revision of the first. *rev_out gets it.
 */
static int range_all(struct et *e, const char *key, const char *end, uint64_t min_mod,
                     uint64_t at_rev, kv_fn fn, void *arg, uint64_t *rev_out, struct atoll_err *err)
{
    ATOLL_AUTOFREE char *start = atoll_strdup(key);
    size_t start_len = strlen(start);
    char num[32];
    for (;;) {
        ATOLL_AUTOVALUE req = atoll_value_struct();
        atoll_value_struct_set(req, "key", b64v(start, start_len));
        atoll_value_struct_set(req, "range_end", b64v(end, strlen(end)));
        snprintf(num, sizeof(num), "%d", PAGE);
        atoll_value_struct_set_string(req, "limit", num);
        if (min_mod) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)min_mod);
            atoll_value_struct_set_string(req, "min_mod_revision", num);
        }
        if (at_rev) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)at_rev);
            atoll_value_struct_set_string(req, "revision", num);
        }
        ATOLL_AUTOVALUE resp = NULL;
        if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, err) < 0)
            return -1;
        if (!at_rev)
            at_rev = ts_etcd_u64(atoll_value_struct_get(resp, "header"), "revision");
        struct atoll_value *kvs = atoll_value_struct_get(resp, "kvs");
        size_t n = kvs ? atoll_value_array_len(kvs) : 0;
        for (size_t i = 0; i < n; i++)
            if (fn(e, arg, atoll_value_array_get(kvs, i), err) < 0)
                return -1;
        struct atoll_value *more = atoll_value_struct_get(resp, "more");
        if (!n || !more || !atoll_value_get_bool(more))
            break;
        /* next page: right after the last key */
        const char *lk = atoll_value_struct_get_string(atoll_value_array_get(kvs, n - 1), "key");
        size_t kl;
        char *last = lk ? ts_etcd_unb64(lk, &kl) : NULL;
        if (!last) {
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "object store (etcd) sent a bad key");
            return -1;
        }
        free(start);
        start = atoll_realloc(last, kl + 1);
        start[kl] = '\0'; /* the key plus a NUL byte: the smallest key after it */
        start_len = kl + 1;
    }
    if (rev_out)
        *rev_out = at_rev;
    return 0;
}

static int kv_obj(struct et *e, struct atoll_value *kv, struct ts_store_obj *o)
{
    char *key, *val;
    size_t vlen;
    memset(o, 0, sizeof(*o));
    if (kv_decode(kv, &key, &val, &vlen) < 0)
        return -1;
    int rc = split_key(e, key, &o->cls, &o->ref);
    free(key);
    if (rc < 0) {
        free(val);
        return -1;
    }
    o->data = val;
    o->len = vlen;
    o->create_rev = ts_etcd_u64(kv, "create_revision");
    o->mod_rev = ts_etcd_u64(kv, "mod_revision");
    return 0;
}

/* ---- backend operations ---- */

static void et_close(void *self)
{
    struct et *e = self;
    if (!e)
        return;
    ts_etcd_watch_stop(e->watch);
    ts_etcd_free(e->c);
    pthread_mutex_destroy(&e->lock);
    free(e->prefix);
    free(e);
}

static uint64_t meta_u64(struct et *e, const char *name, uint64_t at_rev, uint64_t *rev_out,
                         struct atoll_err *err)
{
    ATOLL_AUTOFREE char *k = atoll_strdup_printf("%sm/%s", e->prefix, name);
    ATOLL_AUTOVALUE req = atoll_value_struct();
    ATOLL_AUTOVALUE resp = NULL;
    char num[32];
    uint64_t v = 0;
    atoll_value_struct_set(req, "key", b64v(k, strlen(k)));
    if (at_rev) {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)at_rev);
        atoll_value_struct_set_string(req, "revision", num);
    }
    if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, err) < 0)
        return 0;
    if (rev_out)
        *rev_out = ts_etcd_u64(atoll_value_struct_get(resp, "header"), "revision");
    struct atoll_value *kvs = atoll_value_struct_get(resp, "kvs");
    if (kvs && atoll_value_array_len(kvs)) {
        char *key, *val;
        size_t n;
        if (kv_decode(atoll_value_array_get(kvs, 0), &key, &val, &n) == 0) {
            atoll_parse_u64(val, 10, &v);
            free(key);
            free(val);
        }
    }
    return v;
}

static uint64_t et_revision(void *self)
{
    struct et *e = self;
    struct atoll_err err = ATOLL_ERR_INIT;
    uint64_t rev = 0;
    meta_u64(e, "compact_rev", 0, &rev, &err);
    atoll_err_clear(&err);
    return rev;
}

static int et_get(void *self, const char *cls, const char *ref, struct ts_store_obj *out,
                  struct atoll_err *err)
{
    struct et *e = self;
    ATOLL_AUTOFREE char *k = key_of(e, 'o', cls, ref);
    ATOLL_AUTOVALUE req = atoll_value_struct();
    ATOLL_AUTOVALUE resp = NULL;
    atoll_value_struct_set(req, "key", b64v(k, strlen(k)));
    if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, err) < 0)
        return -1;
    struct atoll_value *kvs = atoll_value_struct_get(resp, "kvs");
    if (!kvs || atoll_value_array_len(kvs) == 0)
        return 0;
    if (kv_obj(e, atoll_value_array_get(kvs, 0), out) < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "object store (etcd) sent a bad object");
        return -1;
    }
    return 1;
}

struct objvec {
    struct ts_store_obj *v;
    size_t n, cap;
};

static int collect_obj(struct et *e, void *arg, struct atoll_value *kv, struct atoll_err *err)
{
    struct objvec *ov = arg;
    if (ov->n == ov->cap) {
        ov->cap = ov->cap ? 2 * ov->cap : 64;
        ov->v = atoll_realloc(ov->v, ov->cap * sizeof(*ov->v));
    }
    if (kv_obj(e, kv, &ov->v[ov->n]) < 0) {
        log_warn("etcd: skipping a key that is not an Atoll object");
        return 0;
    }
    ov->n++;
    return 0;
}

static int et_list(void *self, const char *cls, struct ts_store_obj **out, size_t *n,
                   struct atoll_err *err)
{
    struct et *e = self;
    struct objvec ov = {0};
    ATOLL_AUTOFREE char *k = key_of(e, 'o', cls, NULL);
    ATOLL_AUTOFREE char *end = prefix_end(k);
    if (range_all(e, k, end, 0, 0, collect_obj, &ov, NULL, err) < 0) {
        ts_store_objs_free(ov.v, ov.n);
        return -1;
    }
    *out = ov.v;
    *n = ov.n;
    return 0;
}

static int et_count(void *self, const char *cls, uint64_t *out, struct atoll_err *err)
{
    struct et *e = self;
    ATOLL_AUTOFREE char *k = key_of(e, 'o', cls, NULL);
    ATOLL_AUTOFREE char *end = prefix_end(k);
    ATOLL_AUTOVALUE req = atoll_value_struct();
    ATOLL_AUTOVALUE resp = NULL;
    atoll_value_struct_set(req, "key", b64v(k, strlen(k)));
    atoll_value_struct_set(req, "range_end", b64v(end, strlen(end)));
    atoll_value_struct_set_bool(req, "count_only", 1);
    if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, err) < 0)
        return -1;
    *out = ts_etcd_u64(resp, "count");
    return 0;
}

/* Current (create, mod) revisions of one key; 0/0 when absent. */
static int key_revs(struct et *e, const char *key, uint64_t *create, uint64_t *mod,
                    struct atoll_err *err)
{
    ATOLL_AUTOVALUE req = atoll_value_struct();
    ATOLL_AUTOVALUE resp = NULL;
    atoll_value_struct_set(req, "key", b64v(key, strlen(key)));
    atoll_value_struct_set_bool(req, "keys_only", 1);
    if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, err) < 0)
        return -1;
    struct atoll_value *kvs = atoll_value_struct_get(resp, "kvs");
    struct atoll_value *kv =
        kvs && atoll_value_array_len(kvs) ? atoll_value_array_get(kvs, 0) : NULL;
    *create = ts_etcd_u64(kv, "create_revision");
    *mod = ts_etcd_u64(kv, "mod_revision");
    return 0;
}

static void add_compare(struct atoll_value *cmps, const char *key, int absent, uint64_t mod)
{
    char num[32];
    struct atoll_value *c = atoll_value_struct();
    atoll_value_struct_set(c, "key", b64v(key, strlen(key)));
    atoll_value_struct_set_string(c, "result", "EQUAL");
    if (absent) {
        atoll_value_struct_set_string(c, "target", "CREATE");
        atoll_value_struct_set_string(c, "create_revision", "0");
    } else {
        snprintf(num, sizeof(num), "%llu", (unsigned long long)mod);
        atoll_value_struct_set_string(c, "target", "MOD");
        atoll_value_struct_set_string(c, "mod_revision", num);
    }
    atoll_value_array_append(cmps, c);
}

static void add_put(struct atoll_value *ops, const char *key, const char *data, size_t len)
{
    struct atoll_value *p = atoll_value_struct(), *op = atoll_value_struct();
    atoll_value_struct_set(p, "key", b64v(key, strlen(key)));
    atoll_value_struct_set(p, "value", b64v(data, len));
    atoll_value_struct_set(op, "request_put", p);
    atoll_value_array_append(ops, op);
}

static void add_delete(struct atoll_value *ops, const char *key)
{
    struct atoll_value *d = atoll_value_struct(), *op = atoll_value_struct();
    atoll_value_struct_set(d, "key", b64v(key, strlen(key)));
    atoll_value_struct_set(op, "request_delete_range", d);
    atoll_value_array_append(ops, op);
}

static void prune(struct et *e);

static int et_commit(void *self, const struct ts_store_op *ops, size_t n, uint64_t *new_rev,
                     size_t *failed_op, struct atoll_err *err)
{
    struct et *e = self;
    int deletes = 0;

    for (int attempt = 0; attempt < COMMIT_ATTEMPTS; attempt++) {
        ATOLL_AUTOVALUE txn = atoll_value_struct();
        struct atoll_value *cmps = atoll_value_array(), *succ = atoll_value_array();
        atoll_value_struct_set(txn, "compare", cmps);
        atoll_value_struct_set(txn, "success", succ);
        for (size_t i = 0; i < n; i++) {
            const struct ts_store_op *op = &ops[i];
            ATOLL_AUTOFREE char *k = key_of(e, 'o', op->cls, op->ref);
            uint64_t want = op->expect_rev;
            int exists = -1; /* unknown */
            if (want == TS_STORE_REV_ANY && op->is_delete) {
                /* delete (and leave a tombstone) only if it is there: a nested txn */
                ATOLL_AUTOFREE char *t = key_of(e, 't', op->cls, op->ref);
                struct atoll_value *inner = atoll_value_struct(), *op2 = atoll_value_struct();
                struct atoll_value *icmp = atoll_value_array(), *isucc = atoll_value_array();
                struct atoll_value *c = atoll_value_struct();
                atoll_value_struct_set(c, "key", b64v(k, strlen(k)));
                atoll_value_struct_set_string(c, "target", "CREATE");
                atoll_value_struct_set_string(c, "result", "GREATER");
                atoll_value_struct_set_string(c, "create_revision", "0");
                atoll_value_array_append(icmp, c);
                add_delete(isucc, k);
                add_put(isucc, t, "", 0);
                atoll_value_struct_set(inner, "compare", icmp);
                atoll_value_struct_set(inner, "success", isucc);
                atoll_value_struct_set(op2, "request_txn", inner);
                atoll_value_array_append(succ, op2);
                deletes = 1;
                continue;
            } else if (want == TS_STORE_REV_ABSENT) {
                add_compare(cmps, k, 1, 0);
                exists = 0;
            } else if (want != TS_STORE_REV_ANY) {
                add_compare(cmps, k, 0, want);
                exists = 1;
            }
            if (op->is_check)
                continue;
            if (!op->is_delete) {
                add_put(succ, k, op->data, op->len);
            } else if (exists) {
                ATOLL_AUTOFREE char *t = key_of(e, 't', op->cls, op->ref);
                add_delete(succ, k);
                add_put(succ, t, "", 0);
                deletes = 1;
            }
        }
        ATOLL_AUTOVALUE resp = NULL;
        if (ts_etcd_call(e->c, "/v3/kv/txn", txn, &resp, err) < 0)
            return -1;
        struct atoll_value *ok = atoll_value_struct_get(resp, "succeeded");
        if (ok && atoll_value_get_bool(ok)) {
            *new_rev = ts_etcd_u64(atoll_value_struct_get(resp, "header"), "revision");
            if (deletes) {
                pthread_mutex_lock(&e->lock);
                int now = ++e->delete_commits % 64 == 0;
                pthread_mutex_unlock(&e->lock);
                if (now)
                    prune(e);
            }
            return 0;
        }
        /* which of the caller's compares failed? (ours may have raced instead) */
        for (size_t i = 0; i < n; i++) {
            uint64_t want = ops[i].expect_rev, cr, mr;
            if (want == TS_STORE_REV_ANY)
                continue;
            ATOLL_AUTOFREE char *k = key_of(e, 'o', ops[i].cls, ops[i].ref);
            if (key_revs(e, k, &cr, &mr, err) < 0)
                return -1;
            if ((want == TS_STORE_REV_ABSENT && cr != 0) ||
                (want != TS_STORE_REV_ABSENT && (cr == 0 || mr != want))) {
                if (failed_op)
                    *failed_op = i;
                return 1;
            }
        }
    }
    if (failed_op)
        *failed_op = 0;
    return 1; /* kept racing with other writers: let the caller retry */
}

struct chv {
    struct ts_store_changes *out;
    size_t cap;
    uint64_t since;
    int tombs;
};

static int collect_change(struct et *e, void *arg, struct atoll_value *kv, struct atoll_err *err)
{
    struct chv *cv = arg;
    struct ts_store_changes *out = cv->out;
    struct ts_store_obj o;
    if (kv_obj(e, kv, &o) < 0)
        return 0;
    if (out->n == cv->cap) {
        cv->cap = cv->cap ? 2 * cv->cap : 64;
        out->v = atoll_realloc(out->v, cv->cap * sizeof(*out->v));
    }
    struct ts_store_change *c = &out->v[out->n++];
    c->obj = o;
    if (cv->tombs) {
        c->op = TS_STORE_DEL;
        c->obj.create_rev = 0;
    } else {
        c->op = o.create_rev > cv->since ? TS_STORE_ADD : TS_STORE_MOD;
    }
    return 0;
}

static int cmp_change(const void *a, const void *b)
{
    const struct ts_store_change *x = a, *y = b;
    if (x->obj.mod_rev != y->obj.mod_rev)
        return x->obj.mod_rev < y->obj.mod_rev ? -1 : 1;
    return strcmp(x->obj.ref, y->obj.ref);
}

static int et_changes(void *self, uint64_t since, const char *cls, struct ts_store_changes *out,
                      struct atoll_err *err)
{
    struct et *e = self;
    struct chv cv = {.out = out, .since = since};
    uint64_t rev = 0;
    ATOLL_AUTOFREE char *ok = key_of(e, 'o', cls, NULL);
    ATOLL_AUTOFREE char *oend = prefix_end(ok);
    ATOLL_AUTOFREE char *tk = key_of(e, 't', cls, NULL);
    ATOLL_AUTOFREE char *tend = prefix_end(tk);

    if (range_all(e, ok, oend, since + 1, 0, collect_change, &cv, &rev, err) < 0)
        goto fail;
    size_t nobj = out->n;
    cv.tombs = 1;
    if (range_all(e, tk, tend, since + 1, rev, collect_change, &cv, NULL, err) < 0)
        goto fail;
    out->revision = rev;
    out->compacted = since < meta_u64(e, "compact_rev", rev, NULL, err);
    /* a ref both live and deleted (re-created): keep the later state */
    for (size_t d = nobj; d < out->n; d++)
        for (size_t o = 0; o < nobj; o++)
            if (out->v[o].obj.ref && !strcmp(out->v[o].obj.ref, out->v[d].obj.ref) &&
                !strcmp(out->v[o].obj.cls, out->v[d].obj.cls))
                ts_store_obj_fini(out->v[o].obj.mod_rev > out->v[d].obj.mod_rev ? &out->v[d].obj
                                                                                  : &out->v[o].obj);
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++)
        if (out->v[i].obj.ref)
            out->v[w++] = out->v[i];
    out->n = w;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), cmp_change);
    return 0;
fail:
    ts_store_changes_fini(out);
    return -1;
}

struct tomb_keys {
    char **v;
    size_t n;
    uint64_t max_mod;
};

static int collect_tomb(struct et *e, void *arg, struct atoll_value *kv, struct atoll_err *err)
{
    struct tomb_keys *t = arg;
    const char *k = atoll_value_struct_get_string(kv, "key");
    size_t kn;
    char *raw = k ? ts_etcd_unb64(k, &kn) : NULL;
    if (!raw)
        return 0;
    t->v = atoll_realloc(t->v, (t->n + 1) * sizeof(*t->v));
    t->v[t->n++] = raw;
    uint64_t m = ts_etcd_u64(kv, "mod_revision");
    if (m > t->max_mod)
        t->max_mod = m;
    return 0;
}

/* Drops the oldest tombstones once there are twice as many as we keep. Best effort. */
static void prune(struct et *e)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOFREE char *tk = key_of(e, 't', NULL, NULL);
    ATOLL_AUTOFREE char *tend = prefix_end(tk);
    ATOLL_AUTOVALUE req = atoll_value_struct();
    ATOLL_AUTOVALUE resp = NULL;
    ATOLL_AUTOVALUE q = NULL;
    ATOLL_AUTOVALUE r = NULL;
    ATOLL_AUTOFREE char *mk = atoll_strdup_printf("%sm/compact_rev", e->prefix);
    struct tomb_keys t = {0};
    char num[32];
    atoll_value_struct_set(req, "key", b64v(tk, strlen(tk)));
    atoll_value_struct_set(req, "range_end", b64v(tend, strlen(tend)));
    atoll_value_struct_set_bool(req, "count_only", 1);
    if (ts_etcd_call(e->c, "/v3/kv/range", req, &resp, &err) < 0)
        goto out;
    uint64_t n = ts_etcd_u64(resp, "count");
    if (n <= 2 * e->keep)
        goto out;
    /* the oldest n - KEEP by mod revision */
    q = atoll_value_struct();
    atoll_value_struct_set(q, "key", b64v(tk, strlen(tk)));
    atoll_value_struct_set(q, "range_end", b64v(tend, strlen(tend)));
    snprintf(num, sizeof(num), "%llu", (unsigned long long)(n - e->keep));
    atoll_value_struct_set_string(q, "limit", num);
    atoll_value_struct_set_string(q, "sort_order", "ASCEND");
    atoll_value_struct_set_string(q, "sort_target", "MOD");
    atoll_value_struct_set_bool(q, "keys_only", 1);
    if (ts_etcd_call(e->c, "/v3/kv/range", q, &r, &err) < 0)
        goto out;
    struct atoll_value *kvs = atoll_value_struct_get(r, "kvs");
    for (size_t i = 0; kvs && i < atoll_value_array_len(kvs); i++)
        collect_tomb(e, &t, atoll_value_array_get(kvs, i), &err);
    /* the horizon first: a reader that sees missing tombstones also sees it */
    snprintf(num, sizeof(num), "%llu", (unsigned long long)t.max_mod);
    for (size_t i = 0; i <= t.n; i += 100) {
        ATOLL_AUTOVALUE txn = atoll_value_struct();
        struct atoll_value *succ = atoll_value_array();
        atoll_value_struct_set(txn, "success", succ);
        if (i == 0)
            add_put(succ, mk, num, strlen(num));
        for (size_t j = i; j < i + 100 && j < t.n; j++)
            add_delete(succ, t.v[j]);
        ATOLL_AUTOVALUE tr = NULL;
        if (ts_etcd_call(e->c, "/v3/kv/txn", txn, &tr, &err) < 0)
            break;
    }
    log_debug("etcd: pruned %zu tombstones up to revision %s", t.n, num);
out:
    for (size_t i = 0; i < t.n; i++)
        free(t.v[i]);
    free(t.v);
    if (atoll_err_is_set(&err))
        log_warn("etcd: tombstone pruning failed: %s", err.detail ? err.detail : "?");
    atoll_err_clear(&err);
}

static void et_set_notify(void *self, void (*fn)(void *arg, uint64_t revision), void *arg)
{
    struct et *e = self;
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOFREE char *all = atoll_strdup(e->prefix);
    ATOLL_AUTOFREE char *end = prefix_end(all);
    uint64_t rev = et_revision(e);
    if (ts_etcd_watch_start(e->c, all, end, rev + 1, fn, arg, &e->watch, &err) < 0) {
        log_warn("etcd: cannot watch for other hosts' commits: %s",
                 err.detail ? err.detail : "?");
        atoll_err_clear(&err);
    }
}

static const struct ts_store_backend etcd_backend = {
    .name = "etcd",
    .close = et_close,
    .revision = et_revision,
    .get = et_get,
    .list = et_list,
    .count = et_count,
    .commit = et_commit,
    .changes = et_changes,
    .set_notify = et_set_notify,
};

int ts_store_etcd_open(const char *endpoints, const char *opts,
                       const struct ts_store_backend **be, void **self, struct atoll_err *err)
{
    ATOLL_AUTOFREE char *prefix = atoll_strdup("/atoll/");
    uint64_t keep = KEEP_TOMBSTONES;
    ATOLL_AUTOFREE char *o = atoll_strdup(opts ? opts : "");
    char *save = NULL;
    for (char *kv = strtok_r(o, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        size_t l = strlen(kv);
        if (!strncmp(kv, "prefix=", 7) && kv[7] == '/' && kv[l - 1] == '/') {
            free(prefix);
            prefix = atoll_strdup(kv + 7);
        } else if (!strncmp(kv, "tombstones=", 11) && atoll_parse_u64(kv + 11, 10, &keep) == 0 &&
                   keep > 0) {
            continue;
        } else {
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR,
                      "store: bad etcd options, expected prefix=/some/path/,tombstones=N");
            return -1;
        }
    }
    struct et *e = atoll_calloc(1, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->prefix = atoll_strdup(prefix);
    e->keep = keep;
    if (ts_etcd_new(endpoints, &e->c, err) < 0) {
        et_close(e);
        return -1;
    }
    uint64_t rev = 0;
    meta_u64(e, "compact_rev", 0, &rev, err);
    if (atoll_err_is_set(err)) {
        et_close(e);
        return -1;
    }
    log_debug("etcd store at %s (prefix %s), revision %llu", endpoints, prefix,
              (unsigned long long)rev);
    *be = &etcd_backend;
    *self = e;
    return 0;
}

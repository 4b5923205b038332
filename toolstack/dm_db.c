/*
 * toolstack/dm_db.c - the record cache over the object store (its optimistic
 * transactions are in dm_txn.c, through dm_db_int.h). The cache maps ref ->
 * {class, revisions, immutable decoded record} with a uuid index and one array
 * per class; it follows the store by revision (ts_store_changes), and applies
 * this process's own commits directly when nothing else committed in between,
 * so a write costs one encode and no decode.
 * Threads: rwlock for the maps, a mutex serialising syncs; any worker thread. The
 * *_nowait reads may run on the libevent thread: they try-lock and never sync.
 */
#define ATOLL_LOG_MODULE "dm"
#include "dm_db.h"
#include "dm_db_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"

struct ent {
    const struct ts_dm_class *c;
    char *ref;
    char *uuid; /* NULL when the record has none (or it is empty) */
    uint64_t create_rev, mod_rev;
    struct atoll_value *rec;
    struct ent *next_ref, *next_uuid;
    size_t pos; /* index in its class array */
};

struct clsvec {
    struct ent **v;
    size_t n, cap;
};

struct ts_dm_db {
    struct ts_store *st;
    pthread_rwlock_t lock;
    pthread_mutex_t sync_lock;
    uint64_t rev;
    struct ent **by_ref, **by_uuid;
    size_t nbuckets, count;
    struct clsvec *cls; /* one per ts_dm_classes[] entry */
};

static uint32_t hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

static size_t class_index(const struct ts_dm_class *c)
{
    for (size_t i = 0; i < ts_dm_nclasses; i++)
        if (ts_dm_classes[i] == c)
            return i;
    return 0; /* not reached: classes come from the table */
}

static struct ent *find_ref(struct ts_dm_db *db, const char *ref)
{
    for (struct ent *e = db->by_ref[hash(ref) % db->nbuckets]; e; e = e->next_ref)
        if (strcmp(e->ref, ref) == 0)
            return e;
    return NULL;
}

static void uuid_unlink(struct ts_dm_db *db, struct ent *e)
{
    if (!e->uuid)
        return;
    struct ent **pp = &db->by_uuid[hash(e->uuid) % db->nbuckets];
    for (; *pp; pp = &(*pp)->next_uuid) {
        if (*pp == e) {
            *pp = e->next_uuid;
            break;
        }
    }
    free(e->uuid);
    e->uuid = NULL;
}

static void uuid_link(struct ts_dm_db *db, struct ent *e)
{
    const char *u = atoll_value_struct_get_string(e->rec, "uuid");
    if (!u || !*u)
        return;
    e->uuid = atoll_strdup(u);
    size_t b = hash(u) % db->nbuckets;
    e->next_uuid = db->by_uuid[b];
    db->by_uuid[b] = e;
}

static void rehash(struct ts_dm_db *db, size_t nb)
{
    struct ent **nr = atoll_calloc(nb, sizeof(*nr)), **nu = atoll_calloc(nb, sizeof(*nu));
    for (size_t i = 0; i < db->nbuckets; i++) {
        for (struct ent *e = db->by_ref[i], *next; e; e = next) {
            next = e->next_ref;
            size_t b = hash(e->ref) % nb;
            e->next_ref = nr[b];
            nr[b] = e;
            if (e->uuid) {
                size_t u = hash(e->uuid) % nb;
                e->next_uuid = nu[u];
                nu[u] = e;
            }
        }
    }
    free(db->by_ref);
    free(db->by_uuid);
    db->by_ref = nr;
    db->by_uuid = nu;
    db->nbuckets = nb;
}

/* Takes rec. Caller holds the write lock. */
static void upsert(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                   uint64_t create_rev, uint64_t mod_rev, struct atoll_value *rec)
{
    struct ent *e = find_ref(db, ref);
    if (e) {
        if (e->mod_rev > mod_rev) { /* never go backwards */
            atoll_value_unref(rec);
            return;
        }
        uuid_unlink(db, e);
        atoll_value_unref(e->rec);
        e->rec = rec;
        e->mod_rev = mod_rev;
        uuid_link(db, e);
        return;
    }
    if (db->count + 1 > db->nbuckets)
        rehash(db, db->nbuckets * 2 + 1);
    e = atoll_calloc(1, sizeof(*e));
    e->c = c;
    e->ref = atoll_strdup(ref);
    e->create_rev = create_rev;
    e->mod_rev = mod_rev;
    e->rec = rec;
    size_t b = hash(ref) % db->nbuckets;
    e->next_ref = db->by_ref[b];
    db->by_ref[b] = e;
    uuid_link(db, e);
    struct clsvec *cv = &db->cls[class_index(c)];
    if (cv->n == cv->cap) {
        cv->cap = cv->cap ? 2 * cv->cap : 16;
        cv->v = atoll_realloc(cv->v, cv->cap * sizeof(*cv->v));
    }
    e->pos = cv->n;
    cv->v[cv->n++] = e;
    db->count++;
}

static void remove_ent(struct ts_dm_db *db, const char *ref, uint64_t del_rev)
{
    struct ent *e = find_ref(db, ref);
    if (!e || e->mod_rev > del_rev)
        return;
    struct ent **pp = &db->by_ref[hash(ref) % db->nbuckets];
    for (; *pp; pp = &(*pp)->next_ref) {
        if (*pp == e) {
            *pp = e->next_ref;
            break;
        }
    }
    uuid_unlink(db, e);
    struct clsvec *cv = &db->cls[class_index(e->c)];
    cv->v[e->pos] = cv->v[--cv->n];
    cv->v[e->pos]->pos = e->pos;
    db->count--;
    atoll_value_unref(e->rec);
    free(e->ref);
    free(e);
}

static struct atoll_value *decode(const struct ts_dm_class *c, const struct ts_store_obj *o)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct atoll_value *rec = NULL;
    if (ts_dm_record_from_json(c, o->data, o->len, &rec, &err) < 0) {
        log_error("skipping unreadable %s %s: %s", o->cls, o->ref, err.detail ? err.detail : "?");
        atoll_err_clear(&err);
        return NULL;
    }
    return rec;
}

static void clear_all(struct ts_dm_db *db)
{
    for (size_t i = 0; i < ts_dm_nclasses; i++) {
        struct clsvec *cv = &db->cls[i];
        for (size_t j = 0; j < cv->n; j++) {
            atoll_value_unref(cv->v[j]->rec);
            free(cv->v[j]->ref);
            free(cv->v[j]->uuid);
            free(cv->v[j]);
        }
        cv->n = 0;
    }
    memset(db->by_ref, 0, db->nbuckets * sizeof(*db->by_ref));
    memset(db->by_uuid, 0, db->nbuckets * sizeof(*db->by_uuid));
    db->count = 0;
}

/* Full reload (open, or when the deletion log was compacted past us). Holds sync_lock. */
static int reload(struct ts_dm_db *db, struct atoll_err *err)
{
    struct ts_store_obj *v = NULL;
    size_t n = 0;
    uint64_t rev = ts_store_revision(db->st);
    if (ts_store_list(db->st, NULL, &v, &n, err) < 0)
        return -1;
    struct atoll_value **recs = atoll_calloc(n ? n : 1, sizeof(*recs));
    for (size_t i = 0; i < n; i++) {
        const struct ts_dm_class *c = ts_dm_class_find(v[i].cls);
        recs[i] = c && !(c->flags & TS_DM_C_NOT_STORED) ? decode(c, &v[i]) : NULL;
    }
    pthread_rwlock_wrlock(&db->lock);
    clear_all(db);
    for (size_t i = 0; i < n; i++)
        if (recs[i])
            upsert(db, ts_dm_class_find(v[i].cls), v[i].ref, v[i].create_rev, v[i].mod_rev,
                   recs[i]);
    db->rev = rev;
    pthread_rwlock_unlock(&db->lock);
    free(recs);
    ts_store_objs_free(v, n);
    return 0;
}

int ts_dm_db_sync(struct ts_dm_db *db, struct atoll_err *err)
{
    struct ts_store_changes ch;

    if (ts_store_revision(db->st) <= ts_dm_db_revision(db))
        return 0;
    pthread_mutex_lock(&db->sync_lock);
    uint64_t since = ts_dm_db_revision(db);
    if (ts_store_changes(db->st, since, NULL, &ch, err) < 0) {
        pthread_mutex_unlock(&db->sync_lock);
        return -1;
    }
    if (ch.compacted) {
        ts_store_changes_fini(&ch);
        int rc = reload(db, err);
        pthread_mutex_unlock(&db->sync_lock);
        return rc;
    }
    struct atoll_value **recs = atoll_calloc(ch.n ? ch.n : 1, sizeof(*recs));
    for (size_t i = 0; i < ch.n; i++) {
        const struct ts_dm_class *c = ts_dm_class_find(ch.v[i].obj.cls);
        if (ch.v[i].op != TS_STORE_DEL && c && !(c->flags & TS_DM_C_NOT_STORED))
            recs[i] = decode(c, &ch.v[i].obj);
    }
    pthread_rwlock_wrlock(&db->lock);
    for (size_t i = 0; i < ch.n; i++) {
        struct ts_store_obj *o = &ch.v[i].obj;
        if (ch.v[i].op == TS_STORE_DEL)
            remove_ent(db, o->ref, o->mod_rev);
        else if (recs[i])
            upsert(db, ts_dm_class_find(o->cls), o->ref, o->create_rev, o->mod_rev, recs[i]);
    }
    if (ch.revision > db->rev)
        db->rev = ch.revision;
    pthread_rwlock_unlock(&db->lock);
    pthread_mutex_unlock(&db->sync_lock);
    free(recs);
    ts_store_changes_fini(&ch);
    return 0;
}

/*
 * The datamodel version that last wrote the store, kept as object ("_meta",
 * "schema"): a store written by a newer datamodel is refused (this build would
 * drop the fields it does not know when rewriting records); an older one is
 * marked as ours from now on (its records load with defaults for new fields).
 */
static int check_schema(struct ts_store *st, struct atoll_err *err)
{
    struct ts_store_obj o;
    uint64_t have = 0, rev = TS_STORE_REV_ABSENT;
    int rc = ts_store_get(st, "_meta", "schema", &o, err);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (atoll_parse_u64(o.data, 10, &have) < 0)
            have = 0;
        rev = o.mod_rev;
        ts_store_obj_fini(&o);
    }
    if (have > TS_DM_SCHEMA_VERSION) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "the object store was written by a newer Atoll");
        atoll_err_detail(err, "store datamodel version %llu, this build knows up to %d: upgrade",
                         (unsigned long long)have, TS_DM_SCHEMA_VERSION);
        return -1;
    }
    if (have == TS_DM_SCHEMA_VERSION)
        return 0;
    char v[24];
    snprintf(v, sizeof(v), "%d", TS_DM_SCHEMA_VERSION);
    struct ts_store_txn *t = ts_store_txn_new(st);
    ts_store_txn_put(t, "_meta", "schema", v, strlen(v), rev);
    rc = ts_store_txn_commit(t, NULL, NULL, err);
    ts_store_txn_free(t);
    if (rc == 1) /* another host did it meanwhile: check again */
        return check_schema(st, err);
    if (rc == 0 && have)
        log_info("object store upgraded from datamodel version %llu to %d",
                 (unsigned long long)have, TS_DM_SCHEMA_VERSION);
    return rc;
}

int ts_dm_db_open(struct ts_store *st, struct ts_dm_db **out, struct atoll_err *err)
{
    ts_dm_init();
    if (check_schema(st, err) < 0)
        return -1;
    struct ts_dm_db *db = atoll_calloc(1, sizeof(*db));
    db->st = st;
    /* writers first: a stream of get_all_records readers must not starve syncs and commits */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&db->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&db->sync_lock, NULL);
    db->nbuckets = 1021;
    db->by_ref = atoll_calloc(db->nbuckets, sizeof(*db->by_ref));
    db->by_uuid = atoll_calloc(db->nbuckets, sizeof(*db->by_uuid));
    db->cls = atoll_calloc(ts_dm_nclasses, sizeof(*db->cls));
    pthread_mutex_lock(&db->sync_lock);
    int rc = reload(db, err);
    pthread_mutex_unlock(&db->sync_lock);
    if (rc < 0) {
        ts_dm_db_close(db);
        return -1;
    }
    log_debug("datamodel cache: %zu objects at revision %llu", db->count,
              (unsigned long long)db->rev);
    *out = db;
    return 0;
}

void ts_dm_db_close(struct ts_dm_db *db)
{
    if (!db)
        return;
    clear_all(db);
    for (size_t i = 0; i < ts_dm_nclasses; i++)
        free(db->cls[i].v);
    free(db->cls);
    free(db->by_ref);
    free(db->by_uuid);
    pthread_rwlock_destroy(&db->lock);
    pthread_mutex_destroy(&db->sync_lock);
    free(db);
}

struct ts_store *ts_dm_db_store(struct ts_dm_db *db)
{
    return db->st;
}

uint64_t ts_dm_db_revision(struct ts_dm_db *db)
{
    pthread_rwlock_rdlock(&db->lock);
    uint64_t r = db->rev;
    pthread_rwlock_unlock(&db->lock);
    return r;
}

/* Cache-only read (no sync). */
int ts_dm_db_cache_get(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                     struct atoll_value **rec, uint64_t *create_rev, uint64_t *mod_rev)
{
    int found = 0;
    pthread_rwlock_rdlock(&db->lock);
    struct ent *e = find_ref(db, ref);
    if (e && (!c || e->c == c)) {
        if (rec)
            *rec = atoll_value_ref(e->rec);
        if (create_rev)
            *create_rev = e->create_rev;
        if (mod_rev)
            *mod_rev = e->mod_rev;
        found = 1;
    }
    pthread_rwlock_unlock(&db->lock);
    return found;
}

int ts_dm_db_get(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                 struct atoll_value **rec, uint64_t *rev, struct atoll_err *err)
{
    if (ts_dm_db_sync(db, err) < 0)
        return -1;
    return ts_dm_db_cache_get(db, c, ref, rec, NULL, rev);
}

int ts_dm_db_get_any(struct ts_dm_db *db, const char *ref, const struct ts_dm_class **cls,
                     struct atoll_value **rec, struct atoll_err *err)
{
    int found = 0;
    if (ts_dm_db_sync(db, err) < 0)
        return -1;
    pthread_rwlock_rdlock(&db->lock);
    struct ent *e = find_ref(db, ref);
    if (e) {
        if (cls)
            *cls = e->c;
        if (rec)
            *rec = atoll_value_ref(e->rec);
        found = 1;
    }
    pthread_rwlock_unlock(&db->lock);
    return found;
}

static int find_uuid_locked(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                            char ref_out[ATOLL_REF_STRLEN + 1])
{
    for (struct ent *e = db->by_uuid[hash(uuid) % db->nbuckets]; e; e = e->next_uuid) {
        if (e->c == c && strcmp(e->uuid, uuid) == 0) {
            snprintf(ref_out, ATOLL_REF_STRLEN + 1, "%s", e->ref);
            return 1;
        }
    }
    return 0;
}

int ts_dm_db_find_uuid(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                       char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    int found = 0;
    if (ts_dm_db_sync(db, err) < 0)
        return -1;
    pthread_rwlock_rdlock(&db->lock);
    found = find_uuid_locked(db, c, uuid, ref_out);
    pthread_rwlock_unlock(&db->lock);
    return found;
}

struct atoll_value *ts_dm_db_peek(struct ts_dm_db *db, const char *ref, uint64_t rev)
{
    struct atoll_value *rec = NULL;
    pthread_rwlock_rdlock(&db->lock);
    struct ent *e = find_ref(db, ref);
    if (e && e->mod_rev == rev)
        rec = atoll_value_ref(e->rec);
    pthread_rwlock_unlock(&db->lock);
    return rec;
}

static void foreach_locked(struct ts_dm_db *db, const struct ts_dm_class *c,
                           ts_dm_db_visit_fn fn, void *arg)
{
    struct clsvec *cv = &db->cls[class_index(c)];
    for (size_t i = 0; i < cv->n; i++)
        if (fn(arg, cv->v[i]->ref, cv->v[i]->rec))
            break;
}

int ts_dm_db_foreach(struct ts_dm_db *db, const struct ts_dm_class *c, ts_dm_db_visit_fn fn,
                     void *arg, struct atoll_err *err)
{
    if (ts_dm_db_sync(db, err) < 0)
        return -1;
    pthread_rwlock_rdlock(&db->lock);
    foreach_locked(db, c, fn, arg);
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

size_t ts_dm_db_count(struct ts_dm_db *db, const struct ts_dm_class *c)
{
    pthread_rwlock_rdlock(&db->lock);
    size_t n = db->cls[class_index(c)].n;
    pthread_rwlock_unlock(&db->lock);
    return n;
}

/* ---- non-blocking reads (libevent thread) ---- */

/*
 * Takes the read lock without waiting, provided the cache is as current as the
 * store: 0 (locked) or TS_DM_DB_BUSY. The store's revision lives in memory
 * behind a mutex held for no I/O; db->lock is never held across store I/O
 * (syncs decode before taking it, commits apply after the store committed),
 * and sync_lock, which is, is not taken here.
 */
static int nowait_lock(struct ts_dm_db *db)
{
    uint64_t store_rev = ts_store_revision(db->st);
    if (pthread_rwlock_tryrdlock(&db->lock) != 0)
        return TS_DM_DB_BUSY;
    if (store_rev > db->rev) { /* a commit not yet in the cache: a worker syncs first */
        pthread_rwlock_unlock(&db->lock);
        return TS_DM_DB_BUSY;
    }
    return 0;
}

int ts_dm_db_get_nowait(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                        struct atoll_value **rec)
{
    if (nowait_lock(db) < 0)
        return TS_DM_DB_BUSY;
    struct ent *e = find_ref(db, ref);
    int found = e && (!c || e->c == c);
    if (found && rec)
        *rec = atoll_value_ref(e->rec);
    pthread_rwlock_unlock(&db->lock);
    return found;
}

int ts_dm_db_find_uuid_nowait(struct ts_dm_db *db, const struct ts_dm_class *c, const char *uuid,
                              char ref_out[ATOLL_REF_STRLEN + 1])
{
    if (nowait_lock(db) < 0)
        return TS_DM_DB_BUSY;
    int found = find_uuid_locked(db, c, uuid, ref_out);
    pthread_rwlock_unlock(&db->lock);
    return found;
}

int ts_dm_db_foreach_nowait(struct ts_dm_db *db, const struct ts_dm_class *c,
                            ts_dm_db_visit_fn fn, void *arg)
{
    if (nowait_lock(db) < 0)
        return TS_DM_DB_BUSY;
    if (db->cls[class_index(c)].n > TS_DM_DB_NOWAIT_SCAN_MAX) { /* long scans: a worker's job */
        pthread_rwlock_unlock(&db->lock);
        return TS_DM_DB_BUSY;
    }
    foreach_locked(db, c, fn, arg);
    pthread_rwlock_unlock(&db->lock);
    return 0;
}

/* ---- applying this process's own commits (dm_txn.c) ---- */

int ts_dm_db_apply_begin(struct ts_dm_db *db, uint64_t rev)
{
    pthread_mutex_lock(&db->sync_lock);
    pthread_rwlock_wrlock(&db->lock);
    return db->rev + 1 == rev;
}

void ts_dm_db_apply_put(struct ts_dm_db *db, const struct ts_dm_class *c, const char *ref,
                        uint64_t create_rev, uint64_t rev, struct atoll_value *rec)
{
    upsert(db, c, ref, create_rev, rev, rec);
}

void ts_dm_db_apply_delete(struct ts_dm_db *db, const char *ref, uint64_t rev)
{
    remove_ent(db, ref, rev);
}

void ts_dm_db_apply_end(struct ts_dm_db *db, int applied, uint64_t rev)
{
    if (applied)
        db->rev = rev;
    pthread_rwlock_unlock(&db->lock);
    pthread_mutex_unlock(&db->sync_lock);
}

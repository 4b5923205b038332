/*
 * toolstack/events.c - event.from / inject / next over the object store:
 * each call asks the store what changed since the token's revision (one
 * coalesced change per object), filters by subscription, and takes snapshots
 * from the record cache. Waiters sleep on a condvar that a store commit
 * listener broadcasts, so they wake as soon as a commit lands.
 * Threads: worker threads; one mutex guards waiting and legacy registrations.
 * Trust: classes, tokens, refs are client data and are validated here.
 */
#define ATOLL_LOG_MODULE "events"
#include "events.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm.h"

#define MAX_SUBS 256
#define MAX_DEAD 256

struct sub {
    const struct ts_dm_class *c; /* NULL: every class */
    char *ref;                   /* NULL: every object of c */
};

struct subs {
    struct sub v[MAX_SUBS];
    unsigned n;
};

struct reg {
    char *session;
    struct subs subs;
    uint64_t since;
    struct reg *next;
};

struct ts_events {
    struct ts_dm_db *db;
    struct ts_store *st;
    int listener;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* CLOCK_MONOTONIC */
    uint64_t rev;        /* latest committed revision seen */
    char *dead[MAX_DEAD];
    unsigned ndead;
    struct reg *regs;
};

static void on_commit(void *arg, uint64_t rev)
{
    struct ts_events *ev = arg;
    pthread_mutex_lock(&ev->lock);
    if (rev > ev->rev)
        ev->rev = rev;
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

int ts_events_new(struct ts_dm_db *db, struct ts_events **out, struct atoll_err *err)
{
    struct ts_events *ev = atoll_calloc(1, sizeof(*ev));
    pthread_condattr_t ca;
    ev->db = db;
    ev->st = ts_dm_db_store(db);
    pthread_mutex_init(&ev->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ev->cond, &ca);
    pthread_condattr_destroy(&ca);
    ev->rev = ts_store_revision(ev->st);
    ev->listener = ts_store_listen(ev->st, on_commit, ev);
    if (ev->listener < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot follow the object store");
        ts_events_free(ev);
        return -1;
    }
    *out = ev;
    return 0;
}

static void subs_fini(struct subs *s)
{
    for (unsigned i = 0; i < s->n; i++)
        free(s->v[i].ref);
    s->n = 0;
}

void ts_events_free(struct ts_events *ev)
{
    if (!ev)
        return;
    if (ev->listener > 0)
        ts_store_unlisten(ev->st, ev->listener);
    for (unsigned i = 0; i < ev->ndead; i++)
        free(ev->dead[i]);
    for (struct reg *r = ev->regs, *n; r; r = n) {
        n = r->next;
        subs_fini(&r->subs);
        free(r->session);
        free(r);
    }
    pthread_cond_destroy(&ev->cond);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

/* ---- subscriptions and tokens ---- */

static int subs_parse(struct atoll_value *classes, struct subs *out, struct atoll_err *err)
{
    if (!classes || atoll_value_type(classes) != ATOLL_VALUE_ARRAY) {
        ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "classes");
        return -1;
    }
    for (size_t i = 0; i < atoll_value_array_len(classes); i++) {
        struct atoll_value *v = atoll_value_array_get(classes, i);
        const char *s = atoll_value_get_string(v);
        if (atoll_value_type(v) != ATOLL_VALUE_STRING) {
            ATOLL_ERR(err, ATOLL_E_FIELD_TYPE_ERROR, "classes");
            return -1;
        }
        const char *slash = strchr(s, '/');
        size_t clen = slash ? (size_t)(slash - s) : strlen(s);
        if (clen == 0 || (slash && (!slash[1] || strchr(slash + 1, '/')))) {
            ATOLL_ERR(err, ATOLL_E_EVENT_SUBSCRIPTION_PARSE_FAILURE, s);
            return -1;
        }
        if (out->n == MAX_SUBS) {
            ATOLL_ERR(err, ATOLL_E_EVENT_SUBSCRIPTION_PARSE_FAILURE, s);
            atoll_err_detail(err, "more than %d subscriptions", MAX_SUBS);
            return -1;
        }
        ATOLL_AUTOFREE char *cname = atoll_strndup(s, clen);
        if (strcmp(cname, "*") == 0 && !slash) {
            out->v[out->n++] = (struct sub){0};
            continue;
        }
        const struct ts_dm_class *c = ts_dm_class_find_ci(cname);
        if (!c || (c->flags & (TS_DM_C_NO_EVENTS | TS_DM_C_NOT_STORED)))
            continue; /* unknown classes match nothing (XO subscribes to every class it saw) */
        out->v[out->n++] = (struct sub){.c = c, .ref = slash ? atoll_strdup(slash + 1) : NULL};
    }
    return 0;
}

static int subs_match(const struct subs *s, const struct ts_dm_class *c, const char *ref)
{
    for (unsigned i = 0; i < s->n; i++)
        if ((!s->v[i].c || s->v[i].c == c) && (!s->v[i].ref || strcmp(s->v[i].ref, ref) == 0))
            return 1;
    return 0;
}

static char *token_format(uint64_t rev)
{
    return atoll_strdup_printf("%020" PRIu64 ",%020d", rev, 0);
}

static int token_parse(const char *token, uint64_t *rev, struct atoll_err *err)
{
    if (!token || !*token) {
        *rev = 0;
        return 0;
    }
    const char *comma = strchr(token, ',');
    ATOLL_AUTOFREE char *first = comma ? atoll_strndup(token, (size_t)(comma - token))
                                       : atoll_strdup(token);
    uint64_t second;
    if (atoll_parse_u64(first, 10, rev) < 0 ||
        (comma && atoll_parse_u64(comma + 1, 10, &second) < 0)) {
        ATOLL_ERR(err, ATOLL_E_EVENT_FROM_TOKEN_PARSE_FAILURE, token);
        return -1;
    }
    return 0;
}

/* ---- collecting events ---- */

/* A copy of rec without the fields role may not read (NULL role: all of them). */
static struct atoll_value *visible(const struct ts_dm_class *c, struct atoll_value *rec,
                                   enum ts_role role)
{
    int hide = 0;
    for (unsigned i = 0; i < c->nfields && !hide; i++)
        hide = ts_dm_field_read_role(c, &c->fields[i]) > role;
    if (!hide)
        return atoll_value_ref(rec);
    struct atoll_value *copy = atoll_value_struct();
    for (unsigned i = 0; i < c->nfields; i++) {
        const struct ts_dm_field *f = &c->fields[i];
        struct atoll_value *v = atoll_value_struct_get(rec, f->name);
        if (ts_dm_field_read_role(c, f) > role)
            atoll_value_struct_set(copy, f->name, ts_dm_field_default(c, i));
        else if (v)
            atoll_value_struct_set(copy, f->name, atoll_value_ref(v));
    }
    return copy;
}

static struct atoll_value *snapshot(struct ts_events *ev, const struct ts_dm_class *c,
                                    const struct ts_store_obj *o, enum ts_role role)
{
    struct atoll_value *rec = ts_dm_db_peek(ev->db, o->ref, o->mod_rev);
    if (!rec && ts_dm_record_from_json(c, o->data, o->len, &rec, NULL) < 0)
        return NULL;
    struct atoll_value *v = visible(c, rec, role);
    atoll_value_unref(rec);
    return v;
}

/*
 * Events matching subs since "since" into *events (appended); *upto gets the
 * revision they bring the caller to; *lost is set if deletions may be missing.
 */
static int collect(struct ts_events *ev, const struct subs *subs, uint64_t since, int legacy,
                   enum ts_role role, struct atoll_value *events, uint64_t *upto, int *lost,
                   struct atoll_err *err)
{
    struct ts_store_changes ch;
    char ts[32];

    if (ts_dm_db_sync(ev->db, err) < 0 || ts_store_changes(ev->st, since, NULL, &ch, err) < 0)
        return -1;
    snprintf(ts, sizeof(ts), "%.6f", (double)time(NULL));
    for (size_t i = 0; i < ch.n; i++) {
        struct ts_store_obj *o = &ch.v[i].obj;
        const struct ts_dm_class *c = ts_dm_class_find(o->cls);
        if (!c || (c->flags & (TS_DM_C_NO_EVENTS | TS_DM_C_NOT_STORED)) ||
            !subs_match(subs, c, o->ref))
            continue;
        if (since == 0 && ch.v[i].op == TS_STORE_DEL)
            continue; /* from the beginning: only what is live now */
        static const char *const opname[] = {"add", "mod", "del"};
        struct atoll_value *e = atoll_value_struct();
        char id[32];
        snprintf(id, sizeof(id), "%" PRIu64, o->mod_rev);
        atoll_value_struct_set_string(e, "id", id);
        atoll_value_struct_set_string(e, "timestamp", ts);
        atoll_value_struct_set_string(e, "class", ts_dm_class_lname(c));
        atoll_value_struct_set_string(e, "operation", opname[ch.v[i].op]);
        atoll_value_struct_set_string(e, "ref", o->ref);
        if (ch.v[i].op != TS_STORE_DEL) {
            struct atoll_value *snap = snapshot(ev, c, o, role);
            if (legacy) {
                const char *u = snap ? atoll_value_struct_get_string(snap, "uuid") : NULL;
                atoll_value_struct_set_string(e, "obj_uuid", u ? u : "");
            }
            if (snap)
                atoll_value_struct_set(e, "snapshot", snap);
        }
        atoll_value_array_append(events, e);
    }
    *upto = ch.revision > since ? ch.revision : since;
    if (lost)
        *lost = ch.compacted;
    ts_store_changes_fini(&ch);
    return 0;
}

static int is_dead(struct ts_events *ev, const char *session)
{
    for (unsigned i = 0; session && i < ev->ndead; i++)
        if (strcmp(ev->dead[i], session) == 0)
            return 1;
    return 0;
}

/* Waits until the revision passes since, the deadline (monotonic ns) passes, or session dies. */
static int wait_change(struct ts_events *ev, const char *session, uint64_t since, uint64_t deadline)
{
    int dead;
    pthread_mutex_lock(&ev->lock);
    for (;;) {
        dead = is_dead(ev, session);
        uint64_t now = atoll_now_ns();
        if (dead || ev->rev > since || now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t left = deadline - now;
        ts.tv_sec += (time_t)(left / 1000000000u);
        ts.tv_nsec += (long)(left % 1000000000u);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&ev->cond, &ev->lock, &ts);
    }
    pthread_mutex_unlock(&ev->lock);
    return dead ? -1 : 0;
}

static uint64_t deadline_after(double seconds)
{
    if (!(seconds > 0)) /* also NaN */
        seconds = 0;
    if (seconds > 3600)
        seconds = 3600;
    return atoll_now_ns() + (uint64_t)(seconds * 1e9);
}

static struct atoll_value *ref_counts(struct ts_events *ev)
{
    struct atoll_value *m = atoll_value_struct();
    for (unsigned i = 0; i < ts_dm_nclasses; i++) {
        const struct ts_dm_class *c = ts_dm_classes[i];
        if (c->flags & (TS_DM_C_NO_EVENTS | TS_DM_C_NOT_STORED))
            continue;
        atoll_value_struct_set_int(m, ts_dm_class_lname(c), (int64_t)ts_dm_db_count(ev->db, c));
    }
    return m;
}

int ts_events_from(struct ts_events *ev, const char *session, enum ts_role role,
                   struct atoll_value *classes, const char *token, double timeout,
                   struct atoll_value **out, struct atoll_err *err)
{
    struct subs subs = {.n = 0};
    uint64_t since, upto = 0;
    int rc = -1;
    ATOLL_AUTOVALUE events = NULL;

    if (token_parse(token, &since, err) < 0 || subs_parse(classes, &subs, err) < 0)
        goto out;
    uint64_t deadline = deadline_after(timeout);
    events = atoll_value_array();
    for (;;) {
        int lost = 0;
        if (collect(ev, &subs, since, 0, role, events, &upto, &lost, err) < 0)
            goto out;
        if (lost && since > 0) { /* deletions since the token are no longer known */
            ATOLL_ERR(err, ATOLL_E_EVENTS_LOST);
            goto out;
        }
        if (atoll_value_array_len(events) > 0 || atoll_now_ns() >= deadline)
            break;
        since = upto; /* nothing of interest up to here */
        if (wait_change(ev, session, since, deadline) < 0) {
            ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, session);
            goto out;
        }
    }
    struct atoll_value *res = atoll_value_struct();
    atoll_value_struct_set(res, "events", atoll_steal_ptr(&events));
    atoll_value_struct_set(res, "valid_ref_counts", ref_counts(ev));
    atoll_value_struct_set(res, "token", atoll_value_string_take(token_format(upto)));
    *out = res;
    rc = 0;
out:
    subs_fini(&subs);
    return rc;
}

struct inject_arg {
    const struct ts_dm_class *c;
    const char *ref;
};

static int do_touch(struct ts_dm_txn *t, void *arg, struct atoll_err *err)
{
    struct inject_arg *a = arg;
    return ts_dm_txn_touch(t, a->c, a->ref, err);
}

int ts_events_inject(struct ts_events *ev, const char *cls, const char *ref,
                     struct atoll_value **out, struct atoll_err *err)
{
    const struct ts_dm_class *c = ts_dm_class_find_ci(cls ? cls : "");
    uint64_t rev = 0;
    if (!c || (c->flags & TS_DM_C_NOT_STORED)) {
        ATOLL_ERR(err, ATOLL_E_HANDLE_INVALID, cls ? cls : "", ref ? ref : "");
        return -1;
    }
    struct inject_arg a = {c, ref ? ref : ""};
    if (ts_dm_db_txn(ev->db, do_touch, &a, &rev, err) < 0)
        return -1;
    *out = atoll_value_string_take(token_format(rev - 1));
    return 0;
}

struct atoll_value *ts_events_current_id(struct ts_events *ev)
{
    return atoll_value_int((int64_t)ts_store_revision(ev->st));
}

/* ---- legacy register / next ---- */

static struct reg *reg_find(struct ts_events *ev, const char *session, int create)
{
    for (struct reg *r = ev->regs; r; r = r->next)
        if (strcmp(r->session, session) == 0)
            return r;
    if (!create)
        return NULL;
    struct reg *r = atoll_calloc(1, sizeof(*r));
    r->session = atoll_strdup(session);
    r->since = ts_store_revision(ev->st);
    r->next = ev->regs;
    ev->regs = r;
    return r;
}

static void reg_drop(struct ts_events *ev, const char *session)
{
    for (struct reg **pp = &ev->regs; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->session, session) == 0) {
            struct reg *r = *pp;
            *pp = r->next;
            subs_fini(&r->subs);
            free(r->session);
            free(r);
            return;
        }
    }
}

int ts_events_register(struct ts_events *ev, const char *session, struct atoll_value *classes,
                       struct atoll_err *err)
{
    struct subs add = {.n = 0};
    if (!session || subs_parse(classes, &add, err) < 0) {
        subs_fini(&add);
        if (!session)
            ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, "");
        return -1;
    }
    pthread_mutex_lock(&ev->lock);
    struct reg *r = reg_find(ev, session, 1);
    for (unsigned i = 0; i < add.n && r->subs.n < MAX_SUBS; i++) {
        r->subs.v[r->subs.n++] = add.v[i];
        add.v[i].ref = NULL;
    }
    pthread_mutex_unlock(&ev->lock);
    subs_fini(&add);
    return 0;
}

int ts_events_unregister(struct ts_events *ev, const char *session, struct atoll_value *classes,
                         struct atoll_err *err)
{
    struct subs del = {.n = 0};
    if (!session || subs_parse(classes, &del, err) < 0) {
        subs_fini(&del);
        return session ? -1 : 0;
    }
    pthread_mutex_lock(&ev->lock);
    struct reg *r = reg_find(ev, session, 0);
    for (unsigned i = 0; r && i < del.n; i++) {
        for (unsigned j = 0; j < r->subs.n; j++) {
            struct sub *s = &r->subs.v[j];
            if (s->c == del.v[i].c && ((!s->ref && !del.v[i].ref) ||
                                       (s->ref && del.v[i].ref && !strcmp(s->ref, del.v[i].ref)))) {
                free(s->ref);
                r->subs.v[j--] = r->subs.v[--r->subs.n];
            }
        }
    }
    if (r && r->subs.n == 0)
        reg_drop(ev, session);
    pthread_mutex_unlock(&ev->lock);
    subs_fini(&del);
    return 0;
}

int ts_events_next(struct ts_events *ev, const char *session, enum ts_role role, double max_wait,
                   struct atoll_value **out, struct atoll_err *err)
{
    uint64_t deadline = deadline_after(max_wait);
    ATOLL_AUTOVALUE events = atoll_value_array();

    for (;;) {
        struct subs subs = {.n = 0};
        uint64_t since, upto = 0;
        int lost = 0;
        pthread_mutex_lock(&ev->lock);
        struct reg *r = session ? reg_find(ev, session, 0) : NULL;
        if (r) {
            since = r->since;
            for (unsigned i = 0; i < r->subs.n; i++)
                subs.v[subs.n++] = (struct sub){r->subs.v[i].c, atoll_strdup(r->subs.v[i].ref)};
        }
        pthread_mutex_unlock(&ev->lock);
        if (!r) {
            ATOLL_ERR(err, ATOLL_E_SESSION_NOT_REGISTERED, session ? session : "");
            return -1;
        }
        int rc = collect(ev, &subs, since, 1, role, events, &upto, &lost, err);
        subs_fini(&subs);
        if (rc < 0)
            return -1;
        pthread_mutex_lock(&ev->lock);
        if ((r = reg_find(ev, session, 0)))
            r->since = lost ? ts_store_revision(ev->st) : upto;
        pthread_mutex_unlock(&ev->lock);
        if (lost) {
            ATOLL_ERR(err, ATOLL_E_EVENTS_LOST);
            return -1;
        }
        if (atoll_value_array_len(events) > 0 || atoll_now_ns() >= deadline)
            break;
        if (wait_change(ev, session, upto, deadline) < 0) {
            ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, session);
            return -1;
        }
    }
    *out = atoll_steal_ptr(&events);
    return 0;
}

void ts_events_session_gone(struct ts_events *ev, const char *session)
{
    if (!session)
        return;
    pthread_mutex_lock(&ev->lock);
    reg_drop(ev, session);
    if (ev->ndead == MAX_DEAD) { /* forget the oldest: its waiters are long gone */
        free(ev->dead[0]);
        memmove(ev->dead, ev->dead + 1, (MAX_DEAD - 1) * sizeof(ev->dead[0]));
        ev->ndead--;
    }
    ev->dead[ev->ndead++] = atoll_strdup(session);
    pthread_cond_broadcast(&ev->cond);
    pthread_mutex_unlock(&ev->lock);
}

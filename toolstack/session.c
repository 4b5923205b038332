/*
 * toolstack/session.c - local users (salted PBKDF2-SHA256 hashes in
 * <state-dir>/users, replaced atomically) and in-memory sessions (hash table
 * by ref, idle expiry, per-user caps), plus the session.* and local_user.*
 * API methods. Sessions move to the object store later behind session.h.
 * Threads: one mutex for users and sessions; password hashing runs outside it.
 * Trust: names and passwords come from clients; passwords are never logged.
 */
#define ATOLL_LOG_MODULE "session"
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "rpc.h"
#include "strbuf.h"

#define PBKDF2_ITER 100000
#define SALT_LEN 16
#define DK_LEN 32
#define MAX_SESSIONS 10000
#define MAX_SESSIONS_PER_GROUP 500
#define MAX_PASSWORD 1024
#define SESSION_BUCKETS 4096

struct user {
    char *name;
    enum ts_role role;
    char *hash; /* "pbkdf2-sha256$iter$salthex$dkhex" */
};

struct session {
    struct ts_session_info info;
    struct session *next; /* bucket chain */
};

static struct {
    pthread_mutex_t lock;
    char *users_path;
    struct user *users;
    unsigned nusers;
    struct session *buckets[SESSION_BUCKETS];
    unsigned nsessions;
    unsigned idle_timeout_s;
    char this_host[ATOLL_REF_STRLEN + 1];
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .this_host = ATOLL_REF_NULL};

static int64_t now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec;
}

void ts_session_info_fini(struct ts_session_info *s)
{
    free(s->user);
    free(s->originator);
    s->user = s->originator = NULL;
}

static void info_copy(struct ts_session_info *dst, const struct ts_session_info *src)
{
    *dst = *src;
    dst->user = atoll_strdup(src->user);
    dst->originator = atoll_strdup(src->originator);
}

void ts_session_set_this_host(const char *host_ref)
{
    pthread_mutex_lock(&S.lock);
    snprintf(S.this_host, sizeof(S.this_host), "%s", host_ref ? host_ref : ATOLL_REF_NULL);
    pthread_mutex_unlock(&S.lock);
}

void ts_session_get_this_host(char out[ATOLL_REF_STRLEN + 1])
{
    pthread_mutex_lock(&S.lock);
    memcpy(out, S.this_host, sizeof(S.this_host));
    pthread_mutex_unlock(&S.lock);
}

/* ---------------------------------------------------------------- hashing */

static void to_hex(const unsigned char *in, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    out[2 * n] = '\0';
}

static int from_hex(const char *in, unsigned char *out, size_t n)
{
    if (strlen(in) != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        char c = in[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return 0;
}

static char *hash_password(const char *pw)
{
    unsigned char salt[SALT_LEN], dk[DK_LEN];
    char salthex[2 * SALT_LEN + 1], dkhex[2 * DK_LEN + 1];
    if (RAND_bytes(salt, sizeof(salt)) != 1 ||
        PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), PBKDF2_ITER, EVP_sha256(),
                          sizeof(dk), dk) != 1)
        return NULL;
    to_hex(salt, sizeof(salt), salthex);
    to_hex(dk, sizeof(dk), dkhex);
    OPENSSL_cleanse(dk, sizeof(dk));
    return atoll_strdup_printf("pbkdf2-sha256$%d$%s$%s", PBKDF2_ITER, salthex, dkhex);
}

/* 1 if pw matches the stored hash, else 0 (also for a malformed hash). */
static int verify_password(const char *pw, const char *stored)
{
    char copy[256];
    unsigned char salt[SALT_LEN], want[DK_LEN], got[DK_LEN];
    if (!stored || snprintf(copy, sizeof(copy), "%s", stored) >= (int)sizeof(copy))
        return 0;
    char *save = NULL;
    const char *alg = strtok_r(copy, "$", &save);
    const char *iter_s = strtok_r(NULL, "$", &save);
    const char *salt_s = strtok_r(NULL, "$", &save);
    const char *dk_s = strtok_r(NULL, "$", &save);
    uint64_t iter;
    if (!alg || strcmp(alg, "pbkdf2-sha256") != 0 || !iter_s || !salt_s || !dk_s ||
        atoll_parse_u64(iter_s, 10, &iter) < 0 || iter < 1000 || iter > 10000000 ||
        from_hex(salt_s, salt, sizeof(salt)) < 0 || from_hex(dk_s, want, sizeof(want)) < 0)
        return 0;
    if (PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, sizeof(salt), (int)iter, EVP_sha256(),
                          sizeof(got), got) != 1)
        return 0;
    int same = CRYPTO_memcmp(got, want, sizeof(got)) == 0;
    OPENSSL_cleanse(got, sizeof(got));
    return same;
}

/* ---------------------------------------------------------------- users */

static int valid_user_name(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 64)
        return 0;
    for (; *n; n++)
        if (!((*n >= 'a' && *n <= 'z') || (*n >= 'A' && *n <= 'Z') || (*n >= '0' && *n <= '9') ||
              *n == '.' || *n == '_' || *n == '-' || *n == '@'))
            return 0;
    return 1;
}

static struct user *find_user_locked(const char *name)
{
    for (unsigned i = 0; i < S.nusers; i++)
        if (strcmp(S.users[i].name, name) == 0)
            return &S.users[i];
    return NULL;
}

/* Writes the user table (lock held). */
static int save_users_locked(struct atoll_err *err)
{
    struct ts_strbuf b = {0};
    for (unsigned i = 0; i < S.nusers; i++) {
        ATOLL_AUTOFREE char *line = atoll_strdup_printf(
            "%s:%s:%s\n", S.users[i].name, ts_rbac_role_name(S.users[i].role), S.users[i].hash);
        ts_strbuf_puts(&b, line);
    }
    int rc = atoll_write_file_atomic(S.users_path, b.p ? b.p : "", b.len, 0600);
    int e = errno;
    ts_strbuf_fini(&b);
    if (rc < 0) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, e, "cannot write the user table");
        atoll_err_detail(err, "'%s': %s", S.users_path, strerror(e));
        return -1;
    }
    return 0;
}

static int load_users(struct atoll_err *err)
{
    FILE *f = fopen(S.users_path, "re");
    if (!f) {
        if (errno == ENOENT)
            return 0;
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot read the user table");
        atoll_err_detail(err, "'%s': %s", S.users_path, strerror(errno));
        return -1;
    }
    char line[512];
    unsigned lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        line[strcspn(line, "\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        enum ts_role role;
        if (!c2) {
            log_warn("%s:%u: expected name:role:hash; line ignored", S.users_path, lineno);
            continue;
        }
        *c1 = *c2 = '\0';
        if (!valid_user_name(line) || ts_rbac_role_from_name(c1 + 1, &role) < 0 ||
            find_user_locked(line)) {
            log_warn("%s:%u: bad or duplicate user '%s' or role; line ignored", S.users_path,
                     lineno, line);
            continue;
        }
        S.users = atoll_realloc(S.users, (S.nusers + 1) * sizeof(*S.users));
        S.users[S.nusers++] = (struct user){atoll_strdup(line), role, atoll_strdup(c2 + 1)};
    }
    fclose(f);
    return 0;
}

int ts_session_user_add(const char *user, const char *password, enum ts_role role,
                        struct atoll_err *err)
{
    if (!valid_user_name(user)) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "name", user ? user : "");
        return -1;
    }
    if (!password || !*password || strlen(password) > MAX_PASSWORD) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "password", "(empty or longer than 1024 bytes)");
        return -1;
    }
    if (role <= TS_ROLE_NONE || role > TS_ROLE_POOL_ADMIN) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "role", ts_rbac_role_name(role));
        return -1;
    }
    char *hash = hash_password(password);
    if (!hash) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot hash the password");
        return -1;
    }
    pthread_mutex_lock(&S.lock);
    if (find_user_locked(user)) {
        pthread_mutex_unlock(&S.lock);
        free(hash);
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "name", user);
        atoll_err_detail(err, "user '%s' exists", user);
        return -1;
    }
    S.users = atoll_realloc(S.users, (S.nusers + 1) * sizeof(*S.users));
    S.users[S.nusers++] = (struct user){atoll_strdup(user), role, hash};
    int rc = save_users_locked(err);
    if (rc < 0) {
        S.nusers--;
        free(S.users[S.nusers].name);
        free(S.users[S.nusers].hash);
    }
    pthread_mutex_unlock(&S.lock);
    if (rc == 0)
        log_info("local user '%s' created with role %s", user, ts_rbac_role_name(role));
    return rc;
}

int ts_session_user_remove(const char *user, struct atoll_err *err)
{
    if (user && strcmp(user, "root") == 0) {
        ATOLL_ERR(err, ATOLL_E_OPERATION_NOT_ALLOWED, "the root account cannot be removed");
        return -1;
    }
    pthread_mutex_lock(&S.lock);
    struct user *u = user ? find_user_locked(user) : NULL;
    if (!u) {
        pthread_mutex_unlock(&S.lock);
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "name", user ? user : "");
        return -1;
    }
    struct user gone = *u;
    *u = S.users[--S.nusers];
    int rc = save_users_locked(err);
    pthread_mutex_unlock(&S.lock);
    free(gone.name);
    free(gone.hash);
    if (rc == 0)
        ts_session_logout_user(user);
    return rc;
}

int ts_session_user_set_password(const char *user, const char *password, struct atoll_err *err)
{
    if (!password || !*password || strlen(password) > MAX_PASSWORD) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "password", "(empty or longer than 1024 bytes)");
        return -1;
    }
    char *hash = hash_password(password);
    if (!hash) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot hash the password");
        return -1;
    }
    pthread_mutex_lock(&S.lock);
    struct user *u = user ? find_user_locked(user) : NULL;
    if (!u) {
        pthread_mutex_unlock(&S.lock);
        free(hash);
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "name", user ? user : "");
        return -1;
    }
    char *old = u->hash;
    u->hash = hash;
    int rc = save_users_locked(err);
    if (rc < 0) {
        u->hash = old;
        free(hash);
    } else {
        free(old);
    }
    pthread_mutex_unlock(&S.lock);
    return rc;
}

struct atoll_value *ts_session_user_list(void)
{
    struct atoll_value *a = atoll_value_array();
    pthread_mutex_lock(&S.lock);
    for (unsigned i = 0; i < S.nusers; i++) {
        struct atoll_value *u = atoll_value_struct();
        atoll_value_struct_set_string(u, "name", S.users[i].name);
        atoll_value_struct_set_string(u, "role", ts_rbac_role_name(S.users[i].role));
        atoll_value_array_append(a, u);
    }
    pthread_mutex_unlock(&S.lock);
    return a;
}

/* ---------------------------------------------------------------- sessions */

/* Refs of sessions dropped under the lock, announced to the hook after it is released. */
struct gone {
    char (*refs)[ATOLL_REF_STRLEN + 1];
    unsigned n;
};

static struct {
    ts_session_gone_fn fn;
    void *arg;
} gone_hook;

void ts_session_set_gone_hook(ts_session_gone_fn fn, void *arg)
{
    gone_hook.fn = fn;
    gone_hook.arg = arg;
}

static void gone_flush(struct gone *g)
{
    for (unsigned i = 0; i < g->n; i++)
        if (gone_hook.fn)
            gone_hook.fn(gone_hook.arg, g->refs[i]);
    free(g->refs);
    g->refs = NULL;
    g->n = 0;
}

static unsigned bucket_of(const char *ref)
{
    uint32_t h = 2166136261u;
    for (; *ref; ref++)
        h = (h ^ (unsigned char)*ref) * 16777619u;
    return h % SESSION_BUCKETS;
}

static struct session **find_slot_locked(const char *ref)
{
    struct session **pp = &S.buckets[bucket_of(ref)];
    while (*pp && strcmp((*pp)->info.ref, ref) != 0)
        pp = &(*pp)->next;
    return pp;
}

static void drop_locked(struct session **pp, struct gone *g)
{
    struct session *s = *pp;
    *pp = s->next;
    if (g) {
        g->refs = atoll_realloc(g->refs, (g->n + 1) * sizeof(*g->refs));
        memcpy(g->refs[g->n++], s->info.ref, sizeof(s->info.ref));
    }
    ts_session_info_fini(&s->info);
    free(s);
    S.nsessions--;
}

/* Evicts the least recently active session, of one (user, originator) group if user is given. */
static void evict_oldest_locked(const char *user, const char *originator, struct gone *g)
{
    struct session **oldest = NULL;
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        for (struct session **pp = &S.buckets[b]; *pp; pp = &(*pp)->next) {
            const struct ts_session_info *i = &(*pp)->info;
            if (user && (strcmp(i->user, user) != 0 || strcmp(i->originator, originator) != 0))
                continue;
            if (!oldest || i->last_active < (*oldest)->info.last_active)
                oldest = pp;
        }
    if (oldest)
        drop_locked(oldest, g);
}

static unsigned group_size_locked(const char *user, const char *originator)
{
    unsigned n = 0;
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        for (struct session *s = S.buckets[b]; s; s = s->next)
            n += strcmp(s->info.user, user) == 0 && strcmp(s->info.originator, originator) == 0;
    return n;
}

static int login_common(const char *user, const char *password, const char *originator,
                        int trusted, char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    static const char *const dummy =
        "pbkdf2-sha256$100000$00000000000000000000000000000000$"
        "0000000000000000000000000000000000000000000000000000000000000000";
    char *hash = NULL;
    enum ts_role role = TS_ROLE_NONE;
    int known = 0;
    if (user && (trusted || password) && valid_user_name(user) &&
        (trusted || strlen(password) <= MAX_PASSWORD)) {
        pthread_mutex_lock(&S.lock);
        struct user *u = find_user_locked(user);
        if (u) {
            known = 1;
            hash = atoll_strdup(u->hash);
            role = u->role;
        }
        pthread_mutex_unlock(&S.lock);
    }
    /* the same work for unknown users, so timing does not tell which names exist */
    int good = trusted ? known : verify_password(password ? password : "", known ? hash : dummy)
                                     && known;
    free(hash);
    if (!good) {
        log_warn("login failed for user '%s'", user && valid_user_name(user) ? user : "(invalid)");
        ATOLL_ERR(err, ATOLL_E_SESSION_AUTHENTICATION_FAILED, user ? user : "",
                  "Authentication failure");
        return -1;
    }
    struct session *s = atoll_calloc(1, sizeof(*s));
    atoll_ref_generate(s->info.ref);
    atoll_uuid_generate(s->info.uuid);
    s->info.user = atoll_strdup(user);
    s->info.originator = atoll_strdup(originator ? originator : "");
    s->info.role = role;
    s->info.is_local_superuser = strcmp(user, "root") == 0;
    s->info.created = s->info.last_active = now_s();
    struct gone g = {0};
    pthread_mutex_lock(&S.lock);
    if (group_size_locked(user, s->info.originator) >= MAX_SESSIONS_PER_GROUP)
        evict_oldest_locked(user, s->info.originator, &g);
    if (S.nsessions >= MAX_SESSIONS)
        evict_oldest_locked(NULL, NULL, &g);
    unsigned b = bucket_of(s->info.ref);
    s->next = S.buckets[b];
    S.buckets[b] = s;
    S.nsessions++;
    memcpy(ref_out, s->info.ref, sizeof(s->info.ref));
    pthread_mutex_unlock(&S.lock);
    gone_flush(&g);
    log_info("user '%s' logged in (session %s, originator '%s')", user, s->info.uuid,
             s->info.originator);
    return 0;
}

int ts_session_login(const char *user, const char *password, const char *originator,
                     char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    return login_common(user, password, originator, 0, ref_out, err);
}

int ts_session_logout(const char *ref, struct atoll_err *err)
{
    pthread_mutex_lock(&S.lock);
    struct session **pp = ref ? find_slot_locked(ref) : NULL;
    if (!pp || !*pp) {
        pthread_mutex_unlock(&S.lock);
        ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, ref ? ref : "");
        return -1;
    }
    struct gone g = {0};
    drop_locked(pp, &g);
    pthread_mutex_unlock(&S.lock);
    gone_flush(&g);
    return 0;
}

int ts_session_check(const char *ref, struct ts_session_info *out, struct atoll_err *err)
{
    int64_t now = now_s();
    struct gone g = {0};
    pthread_mutex_lock(&S.lock);
    struct session **pp = ref ? find_slot_locked(ref) : NULL;
    if (pp && *pp && now - (*pp)->info.last_active > (int64_t)S.idle_timeout_s) {
        drop_locked(pp, &g);
        pp = NULL;
    }
    if (!pp || !*pp) {
        pthread_mutex_unlock(&S.lock);
        gone_flush(&g);
        ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, ref ? ref : "");
        return -1;
    }
    (*pp)->info.last_active = now;
    if (out)
        info_copy(out, &(*pp)->info);
    pthread_mutex_unlock(&S.lock);
    return 0;
}

int ts_session_check_nowait(const char *ref, struct ts_session_info *out, struct atoll_err *err)
{
    int64_t now = now_s();
    /* S.lock is held across the users file's writes: never wait for it here */
    if (pthread_mutex_trylock(&S.lock) != 0)
        return TS_SESSION_BUSY;
    struct session **pp = ref ? find_slot_locked(ref) : NULL;
    if (pp && *pp && now - (*pp)->info.last_active > (int64_t)S.idle_timeout_s) {
        pthread_mutex_unlock(&S.lock); /* expiring it runs the gone hook: a worker does that */
        return TS_SESSION_BUSY;
    }
    if (!pp || !*pp) {
        pthread_mutex_unlock(&S.lock);
        ATOLL_ERR(err, ATOLL_E_SESSION_INVALID, ref ? ref : "");
        return -1;
    }
    (*pp)->info.last_active = now;
    if (out)
        info_copy(out, &(*pp)->info);
    pthread_mutex_unlock(&S.lock);
    return 0;
}

int ts_session_get(const char *ref, struct ts_session_info *out)
{
    pthread_mutex_lock(&S.lock);
    struct session **pp = ref ? find_slot_locked(ref) : NULL;
    int found = pp && *pp;
    if (found)
        info_copy(out, &(*pp)->info);
    pthread_mutex_unlock(&S.lock);
    return found;
}

void ts_session_list(struct ts_session_info **out, unsigned *n)
{
    pthread_mutex_lock(&S.lock);
    struct ts_session_info *v = atoll_calloc(S.nsessions ? S.nsessions : 1, sizeof(*v));
    unsigned k = 0;
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        for (struct session *s = S.buckets[b]; s; s = s->next)
            info_copy(&v[k++], &s->info);
    pthread_mutex_unlock(&S.lock);
    *out = v;
    *n = k;
}

unsigned ts_session_expire(void)
{
    int64_t now = now_s();
    unsigned n = 0;
    struct gone g = {0};
    pthread_mutex_lock(&S.lock);
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        for (struct session **pp = &S.buckets[b]; *pp;) {
            if (now - (*pp)->info.last_active > (int64_t)S.idle_timeout_s) {
                drop_locked(pp, &g);
                n++;
            } else {
                pp = &(*pp)->next;
            }
        }
    pthread_mutex_unlock(&S.lock);
    gone_flush(&g);
    if (n)
        log_info("%u idle session(s) expired", n);
    return n;
}

unsigned ts_session_end_all(void)
{
    unsigned n = 0;
    struct gone g = {0};
    pthread_mutex_lock(&S.lock);
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        while (S.buckets[b]) {
            drop_locked(&S.buckets[b], &g);
            n++;
        }
    pthread_mutex_unlock(&S.lock);
    gone_flush(&g);
    return n;
}

unsigned ts_session_logout_user(const char *user)
{
    unsigned n = 0;
    struct gone g = {0};
    pthread_mutex_lock(&S.lock);
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        for (struct session **pp = &S.buckets[b]; *pp;) {
            if (strcmp((*pp)->info.user, user) == 0) {
                drop_locked(pp, &g);
                n++;
            } else {
                pp = &(*pp)->next;
            }
        }
    pthread_mutex_unlock(&S.lock);
    gone_flush(&g);
    return n;
}

int ts_session_init(const char *state_dir, const char *root_password, unsigned idle_timeout_s,
                    struct atoll_err *err)
{
    S.idle_timeout_s = idle_timeout_s ? idle_timeout_s : 24 * 3600;
    free(S.users_path);
    S.users_path = atoll_strdup_printf("%s/users", state_dir);
    if (load_users(err) < 0)
        return -1;
    pthread_mutex_lock(&S.lock);
    int have_root = find_user_locked("root") != NULL;
    pthread_mutex_unlock(&S.lock);
    if (have_root)
        return 0;
    if (!root_password || !*root_password) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "no root account yet");
        atoll_err_detail(err, "no root account in '%s': give its password with "
                              "--root-password-file FILE on first start", S.users_path);
        return -1;
    }
    if (ts_session_user_add("root", root_password, TS_ROLE_POOL_ADMIN, err) < 0)
        return -1;
    log_info("created the root account in '%s'", S.users_path);
    return 0;
}

void ts_session_fini(void)
{
    pthread_mutex_lock(&S.lock);
    for (unsigned b = 0; b < SESSION_BUCKETS; b++)
        while (S.buckets[b])
            drop_locked(&S.buckets[b], NULL);
    for (unsigned i = 0; i < S.nusers; i++) {
        free(S.users[i].name);
        free(S.users[i].hash);
    }
    free(S.users);
    S.users = NULL;
    S.nusers = 0;
    free(S.users_path);
    S.users_path = NULL;
    pthread_mutex_unlock(&S.lock);
}

/* ts_session_register_methods and the handlers live in session_api.c. */
int ts_session_login_trusted(const char *user, const char *originator,
                             char ref_out[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    return login_common(user, NULL, originator, 1, ref_out, err);
}

/*
 * tests/unit/toolstack/test_core.c - bootstrap of pool, this host, its
 * metrics and CPUs, and the roles: complete on first start, idempotent on
 * the next (same host identity, nothing duplicated), links consistent.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/util.h"
#include "core.h"
#include "dm_generic.h"
#include "tap.h"

static struct ts_dm_db *db;

static size_t count(const char *cls)
{
    return ts_dm_db_count(db, ts_dm_class_find(cls));
}

int main(void)
{
    char dir[256], dbpath[300], p[400];
    struct atoll_err err = ATOLL_ERR_INIT;
    struct ts_store *st = NULL;
    char h1[ATOLL_REF_STRLEN + 1], h2[ATOLL_REF_STRLEN + 1];
    char u1[ATOLL_UUID_STRLEN + 1], u2[ATOLL_UUID_STRLEN + 1];

    snprintf(dir, sizeof(dir), "/tmp/atoll-test-core-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    snprintf(dbpath, sizeof(dbpath), "%s/atoll.db", dir);
    ts_dm_init();
    if (ts_store_open(dbpath, "sync=normal", &st, &err) < 0 || ts_dm_db_open(st, &db, &err) < 0)
        tap_skip_all("cannot open a store");

    ok(ts_core_bootstrap(db, dir, h1, u1, &err) == 0, "first bootstrap");
    if (atoll_err_is_set(&err))
        diag("%s", err.detail ? err.detail : "");
    size_t ncpu = count("host_cpu");
    ok(count("pool") == 1 && count("host") == 1 && count("host_metrics") == 1,
       "one pool, one host, one host_metrics");
    ok(ncpu >= 1, "host_cpu objects (%zu)", ncpu);
    is_int(count("role"), 6, "six XenAPI roles");
    uint64_t rev = ts_store_revision(st);
    ok(ts_core_bootstrap(db, dir, h2, u2, &err) == 0, "second bootstrap");
    is_str(h2, h1, "the same host ref");
    is_str(u2, u1, "the same host uuid (from host-uuid)");
    ok(count("pool") == 1 && count("host") == 1 && count("host_metrics") == 1 &&
           count("host_cpu") == ncpu && count("role") == 6,
       "nothing duplicated");
    is_int(ts_store_revision(st), rev, "and nothing rewritten");

    ATOLL_AUTOVALUE pools = NULL;
    ATOLL_AUTOVALUE host = NULL;
    ATOLL_AUTOVALUE ro = NULL;
    ts_dm_generic_get_all_records(db, ts_dm_class_find("pool"), &pools, &err);
    struct atoll_value *pool = NULL;
    atoll_value_struct_at(pools, 0, NULL, &pool);
    is_str(pool ? atoll_value_struct_get_string(pool, "master") : NULL, h1,
           "pool.master is this host");
    ts_dm_generic_get_record(db, ts_dm_class_find("host"), h1, &host, &err);
    const char *m = host ? atoll_value_struct_get_string(host, "metrics") : NULL;
    ATOLL_AUTOVALUE mrec = NULL;
    ok(m && ts_dm_generic_get_record(db, ts_dm_class_find("host_metrics"), m, &mrec, &err) == 0 &&
           atoll_value_get_int(atoll_value_struct_get(mrec, "memory_total")) > 0,
       "host.metrics points at metrics with memory_total");
    ok(host && atoll_value_array_len(atoll_value_struct_get(host, "host_CPUs")) == ncpu,
       "host.host_CPUs lists every host_cpu");
    struct atoll_value *sv = host ? atoll_value_struct_get(host, "software_version") : NULL;
    is_str(sv ? atoll_value_struct_get_string(sv, "product_brand") : NULL, "Atoll",
           "software_version.product_brand");
    ts_dm_generic_get_by_name_label(db, ts_dm_class_find("role"), "read-only", &ro, &err);
    is_int(ro ? atoll_value_array_len(ro) : 0, 1, "role 'read-only' found by name");

    ts_dm_db_close(db);
    ts_store_close(st);
    const char *sfx[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s%s", dbpath, sfx[i]);
        unlink(p);
    }
    snprintf(p, sizeof(p), "%s/host-uuid", dir);
    unlink(p);
    rmdir(dir);
    return tap_done();
}

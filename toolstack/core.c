/*
 * toolstack/core.c - bootstrap of the singleton and per-host objects: the
 * pool, this host (uuid kept in <state-dir>/host-uuid, the file vmops'
 * host_init.c uses too, so both find the same object), its host_metrics and
 * host_cpu objects, and the XenAPI roles. Only what is missing is created;
 * existing objects are left alone (host_init.c refreshes host facts).
 * Threads: main thread at startup. Trust: /proc/cpuinfo and the uuid file are parsed defensively.
 */
#define ATOLL_LOG_MODULE "core"
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"

#define MAX_CPUS 1024

static const struct {
    const char *name, *description;
} roles[] = {
    {"read-only", "Read-only access to everything"},
    {"vm-operator", "Read-only, plus start, stop and console access to VMs"},
    {"vm-admin", "VM operator, plus creating, changing and destroying VMs"},
    {"vm-power-admin", "VM admin, plus migration, snapshots and placement"},
    {"pool-operator", "VM power admin, plus host, storage and network management"},
    {"pool-admin", "Everything, including users, roles and secrets"},
};

struct first_arg {
    char ref[ATOLL_REF_STRLEN + 1];
    const char *label; /* NULL: any */
};

static int first_match(void *arg, const char *ref, struct atoll_value *rec)
{
    struct first_arg *f = arg;
    const char *l = atoll_value_struct_get_string(rec, "name_label");
    if (f->label && (!l || strcmp(l, f->label) != 0))
        return 0;
    snprintf(f->ref, sizeof(f->ref), "%s", ref);
    return 1;
}

/* Finds the first object of cls (with that name_label if given); 1, 0, or -1. */
static int find(struct ts_dm_db *db, const char *cls, const char *label,
                char ref[ATOLL_REF_STRLEN + 1], struct atoll_err *err)
{
    struct first_arg f = {.label = label};
    if (ts_dm_db_foreach(db, ts_dm_class_find(cls), first_match, &f, err) < 0)
        return -1;
    if (!f.ref[0])
        return 0;
    memcpy(ref, f.ref, sizeof(f.ref));
    return 1;
}

static int host_uuid_file(const char *state_dir, char uuid[ATOLL_UUID_STRLEN + 1],
                          struct atoll_err *err)
{
    ATOLL_AUTOFREE char *path = atoll_strdup_printf("%s/host-uuid", state_dir);
    FILE *f = fopen(path, "r");
    if (f) {
        char line[64] = "";
        if (!fgets(line, sizeof(line), f))
            line[0] = '\0';
        fclose(f);
        line[strcspn(line, "\r\n")] = '\0';
        if (atoll_uuid_is_valid(line)) {
            snprintf(uuid, ATOLL_UUID_STRLEN + 1, "%s", line);
            return 0;
        }
        log_warn("'%s' does not hold a uuid; making a new host identity", path);
    }
    atoll_uuid_generate(uuid);
    char text[ATOLL_UUID_STRLEN + 2];
    snprintf(text, sizeof(text), "%s\n", uuid);
    if (atoll_write_file_atomic(path, text, strlen(text), 0644) < 0) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot write the host identity");
        atoll_err_detail(err, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static void management_address(char *out, size_t len)
{
    struct ifaddrs *ifs = NULL, *i;
    snprintf(out, len, "127.0.0.1");
    if (getifaddrs(&ifs) < 0)
        return;
    for (i = ifs; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || (i->ifa_flags & IFF_LOOPBACK) ||
            !(i->ifa_flags & IFF_UP))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, out,
                  (socklen_t)len);
        break;
    }
    freeifaddrs(ifs);
}

struct cpu {
    char vendor[64], model[128], flags[2048], stepping[16];
    int64_t mhz, family, modelno;
};

/* Reads /proc/cpuinfo; returns the number of processors described (0 if unreadable). */
static int read_cpus(struct cpu *cpus, int max)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int n = -1;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *val = colon + 1;
        while (*val == ' ')
            val++;
        val[strcspn(val, "\n")] = '\0';
        *colon = '\0';
        for (char *e = colon - 1; e >= line && (*e == ' ' || *e == '\t'); e--)
            *e = '\0';
        if (!strcmp(line, "processor")) {
            if (n + 1 >= max)
                break;
            memset(&cpus[++n], 0, sizeof(cpus[0]));
        } else if (n < 0) {
            continue;
        } else if (!strcmp(line, "vendor_id")) {
            snprintf(cpus[n].vendor, sizeof(cpus[n].vendor), "%s", val);
        } else if (!strcmp(line, "model name")) {
            snprintf(cpus[n].model, sizeof(cpus[n].model), "%s", val);
        } else if (!strcmp(line, "flags")) {
            snprintf(cpus[n].flags, sizeof(cpus[n].flags), "%s", val);
        } else if (!strcmp(line, "stepping")) {
            snprintf(cpus[n].stepping, sizeof(cpus[n].stepping), "%s", val);
        } else if (!strcmp(line, "cpu MHz")) {
            cpus[n].mhz = strtoll(val, NULL, 10);
        } else if (!strcmp(line, "cpu family")) {
            cpus[n].family = strtoll(val, NULL, 10);
        } else if (!strcmp(line, "model")) {
            cpus[n].modelno = strtoll(val, NULL, 10);
        }
    }
    fclose(f);
    return n + 1;
}

static struct atoll_value *cpu_info(const struct cpu *c, int ncpus)
{
    struct atoll_value *m = atoll_value_struct();
    char num[32];
    snprintf(num, sizeof(num), "%d", ncpus);
    atoll_value_struct_set_string(m, "cpu_count", num);
    atoll_value_struct_set_string(m, "socket_count", "1");
    atoll_value_struct_set_string(m, "vendor", c ? c->vendor : "");
    snprintf(num, sizeof(num), "%lld", c ? (long long)c->mhz : 0LL);
    atoll_value_struct_set_string(m, "speed", num);
    atoll_value_struct_set_string(m, "modelname", c ? c->model : "");
    snprintf(num, sizeof(num), "%lld", c ? (long long)c->family : 0LL);
    atoll_value_struct_set_string(m, "family", num);
    snprintf(num, sizeof(num), "%lld", c ? (long long)c->modelno : 0LL);
    atoll_value_struct_set_string(m, "model", num);
    atoll_value_struct_set_string(m, "stepping", c ? c->stepping : "");
    atoll_value_struct_set_string(m, "flags", c ? c->flags : "");
    atoll_value_struct_set_string(m, "features", "");
    return m;
}

static int upsert(struct ts_dm_db *db, const char *cls, const char *ref,
                  struct atoll_value *fields, char out[ATOLL_REF_STRLEN + 1],
                  struct atoll_err *err)
{
    const struct ts_dm_class *c = ts_dm_class_find(cls);
    if (ref && *ref) {
        if (out && out != ref)
            snprintf(out, ATOLL_REF_STRLEN + 1, "%s", ref);
        return ts_dm_generic_update(db, c, ref, fields, err);
    }
    return ts_dm_generic_insert(db, c, fields, out, err);
}

static int bootstrap_roles(struct ts_dm_db *db, struct atoll_err *err)
{
    char prev[ATOLL_REF_STRLEN + 1] = "";
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(roles); i++) {
        char ref[ATOLL_REF_STRLEN + 1] = "";
        int rc = find(db, "role", roles[i].name, ref, err);
        if (rc < 0)
            return -1;
        if (rc) {
            memcpy(prev, ref, sizeof(prev));
            continue;
        }
        ATOLL_AUTOVALUE f = atoll_value_struct();
        atoll_value_struct_set_string(f, "name_label", roles[i].name);
        atoll_value_struct_set_string(f, "name_description", roles[i].description);
        struct atoll_value *sub = atoll_value_array();
        if (prev[0])
            atoll_value_array_append(sub, atoll_value_string(prev));
        atoll_value_struct_set(f, "subroles", sub);
        if (upsert(db, "role", NULL, f, ref, err) < 0)
            return -1;
        memcpy(prev, ref, sizeof(prev));
    }
    return 0;
}

int ts_core_bootstrap(struct ts_dm_db *db, const char *state_dir,
                      char host_ref[ATOLL_REF_STRLEN + 1], char host_uuid[ATOLL_UUID_STRLEN + 1],
                      struct atoll_err *err)
{
    char uuid[ATOLL_UUID_STRLEN + 1], host[ATOLL_REF_STRLEN + 1] = "";
    char metrics[ATOLL_REF_STRLEN + 1] = "", pool[ATOLL_REF_STRLEN + 1] = "";
    char hostname[256] = "localhost", addr[64];
    struct utsname un;
    struct sysinfo si;
    ATOLL_AUTOVALUE hostrec = NULL;
    ATOLL_AUTOVALUE hm = NULL;
    ATOLL_AUTOVALUE h = NULL;
    ATOLL_AUTOVALUE p = NULL;
    ATOLL_AUTOVALUE cpurefs = NULL;

    if (host_uuid_file(state_dir, uuid, err) < 0)
        return -1;
    int have_host = ts_dm_db_find_uuid(db, ts_dm_class_find("host"), uuid, host, err);
    if (have_host < 0)
        return -1;
    gethostname(hostname, sizeof(hostname) - 1);
    management_address(addr, sizeof(addr));
    uname(&un);
    sysinfo(&si);
    struct cpu *cpus = atoll_calloc(MAX_CPUS, sizeof(*cpus));
    int ncpus = read_cpus(cpus, MAX_CPUS);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpus == 0 && online > 0) /* no /proc/cpuinfo detail: still one object per CPU */
        ncpus = (int)(online < MAX_CPUS ? online : MAX_CPUS);
    int rc = -1;

    if (have_host)
        goto pool; /* facts are refreshed by host_init.c / metrics sampling */

    /* host_metrics */
    if (have_host && ts_dm_db_get(db, ts_dm_class_find("host"), host, &hostrec, NULL, err) < 0)
        goto out;
    const char *mref = hostrec ? atoll_value_struct_get_string(hostrec, "metrics") : NULL;
    hm = atoll_value_struct();
    atoll_value_struct_set(hm, "memory_total",
                           atoll_value_int((int64_t)si.totalram * (int64_t)si.mem_unit));
    atoll_value_struct_set_bool(hm, "live", 1);
    atoll_value_struct_set(hm, "last_updated", atoll_value_datetime((int64_t)time(NULL)));
    if (upsert(db, "host_metrics", mref && strcmp(mref, ATOLL_REF_NULL) ? mref : NULL, hm, metrics,
               err) < 0)
        goto out;

    /* the host */
    h = atoll_value_struct();
    if (!have_host) {
        atoll_value_struct_set_string(h, "uuid", uuid);
        atoll_value_struct_set_string(h, "name_label", hostname);
    }
    atoll_value_struct_set_string(h, "hostname", hostname);
    atoll_value_struct_set_string(h, "address", addr);
    atoll_value_struct_set_string(h, "metrics", metrics);
    atoll_value_struct_set_bool(h, "enabled", 1);
    atoll_value_struct_set_string(h, "edition", "free");
    atoll_value_struct_set(h, "cpu_info", cpu_info(ncpus ? &cpus[0] : NULL, ncpus));
    struct atoll_value *sv = atoll_value_struct();
    atoll_value_struct_set_string(sv, "product_brand", "Atoll");
    atoll_value_struct_set_string(sv, "product_version", TS_CORE_PRODUCT_VERSION);
    atoll_value_struct_set_string(sv, "platform_name", "Atoll");
    atoll_value_struct_set_string(sv, "platform_version", TS_CORE_PRODUCT_VERSION);
    atoll_value_struct_set_string(sv, "xapi", "24.0");
    atoll_value_struct_set_string(sv, "linux", un.release);
    atoll_value_struct_set_string(sv, "hostname", hostname);
    atoll_value_struct_set(h, "software_version", sv);
    struct atoll_value *caps = atoll_value_array();
    atoll_value_array_append(caps, atoll_value_string("hvm-3.0-x86_64"));
    atoll_value_struct_set(h, "capabilities", caps);
    if (upsert(db, "host", have_host ? host : NULL, h, host, err) < 0)
        goto out;

    /* one host_cpu per processor, created once */
    if (ts_dm_generic_get_field(db, ts_dm_class_find("host"), host, "host_CPUs", &cpurefs, err) < 0)
        goto out;
    for (int i = (int)atoll_value_array_len(cpurefs); i < ncpus; i++) {
        ATOLL_AUTOVALUE c = atoll_value_struct();
        atoll_value_struct_set_string(c, "host", host);
        atoll_value_struct_set_int(c, "number", i);
        atoll_value_struct_set_string(c, "vendor", cpus[i].vendor);
        atoll_value_struct_set_int(c, "speed", cpus[i].mhz);
        atoll_value_struct_set_string(c, "modelname", cpus[i].model);
        atoll_value_struct_set_int(c, "family", cpus[i].family);
        atoll_value_struct_set_int(c, "model", cpus[i].modelno);
        atoll_value_struct_set_string(c, "stepping", cpus[i].stepping);
        atoll_value_struct_set_string(c, "flags", cpus[i].flags);
        if (ts_dm_generic_insert(db, ts_dm_class_find("host_cpu"), c, NULL, err) < 0)
            goto out;
    }

    /* exactly one pool, mastered by the first host that bootstraps it */
pool:;
    int have_pool = find(db, "pool", NULL, pool, err);
    if (have_pool < 0)
        goto out;
    if (!have_pool) {
        p = atoll_value_struct();
        atoll_value_struct_set_string(p, "master", host);
        atoll_value_struct_set(p, "cpu_info", cpu_info(ncpus ? &cpus[0] : NULL, ncpus));
        if (upsert(db, "pool", NULL, p, pool, err) < 0)
            goto out;
    }
    if (bootstrap_roles(db, err) < 0)
        goto out;
    if (host_ref)
        snprintf(host_ref, ATOLL_REF_STRLEN + 1, "%s", host);
    if (host_uuid)
        snprintf(host_uuid, ATOLL_UUID_STRLEN + 1, "%s", uuid);
    log_info("this host: %s (%s), %d CPUs; pool %s", hostname, uuid, ncpus, pool);
    rc = 0;
out:
    free(cpus);
    return rc;
}

/*
 * toolstack/host_init.c - this host's objects: on first start the pool (with
 * this host as master), the host (name, CPU facts, software version), its
 * host_metrics and one host_cpu per online CPU; on every start the host's
 * metrics are refreshed. The host's uuid is kept in <state-dir>/host-uuid.
 * Threads: main thread at startup, before the API serves calls.
 * Trust: /proc and the state directory are the host's own.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "host_init.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

#include "atoll/log.h"
#include "atoll/util.h"
#include "dm_generic.h"
#include "session.h"
#include "vm_state.h"

struct cpu_facts {
    char vendor[64], model_name[128], flags[4096], stepping[16];
    long family, model, mhz;
};

static void read_cpu_facts(struct cpu_facts *c)
{
    memset(c, 0, sizeof(*c));
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    static char line[8192];
    while (fgets(line, sizeof(line), f)) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        char *v = colon + 1;
        while (*v == ' ')
            v++;
        v[strcspn(v, "\n")] = '\0';
        if (!strncmp(line, "processor", 9) && c->vendor[0])
            break; /* the first CPU says it all */
        if (!strncmp(line, "vendor_id", 9))
            snprintf(c->vendor, sizeof(c->vendor), "%s", v);
        else if (!strncmp(line, "model name", 10))
            snprintf(c->model_name, sizeof(c->model_name), "%s", v);
        else if (!strncmp(line, "flags", 5))
            snprintf(c->flags, sizeof(c->flags), "%s", v);
        else if (!strncmp(line, "stepping", 8))
            snprintf(c->stepping, sizeof(c->stepping), "%s", v);
        else if (!strncmp(line, "cpu family", 10))
            c->family = strtol(v, NULL, 10);
        else if (!strncmp(line, "model\t", 6))
            c->model = strtol(v, NULL, 10);
        else if (!strncmp(line, "cpu MHz", 7))
            c->mhz = strtol(v, NULL, 10);
    }
    fclose(f);
}

static int load_or_make_uuid(char uuid[ATOLL_UUID_STRLEN + 1], struct atoll_err *err)
{
    ATOLL_AUTOFREE char *path = atoll_strdup_printf("%s/host-uuid", ts_vm_ctx.state_dir);
    FILE *f = fopen(path, "re");
    if (f) {
        char buf[64] = "";
        if (!fgets(buf, sizeof(buf), f))
            buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
        if (atoll_uuid_is_valid(buf)) {
            snprintf(uuid, ATOLL_UUID_STRLEN + 1, "%s", buf);
            return 0;
        }
        log_warn("'%s' does not hold a uuid: making a new one", path);
    }
    atoll_uuid_generate(uuid);
    char text[ATOLL_UUID_STRLEN + 2];
    memcpy(text, uuid, ATOLL_UUID_STRLEN);
    text[ATOLL_UUID_STRLEN] = '\n';
    text[ATOLL_UUID_STRLEN + 1] = '\0';
    if (atoll_write_file_atomic(path, text, strlen(text), 0600) < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot write the host uuid");
        atoll_err_detail(err, "'%s'", path);
        return -1;
    }
    return 0;
}

static int first_ref(void *arg, const char *ref, struct atoll_value *rec)
{
    snprintf(arg, ATOLL_REF_STRLEN + 1, "%s", ref);
    return 1;
}

static int create_host(const char *uuid, struct atoll_err *err)
{
    const struct ts_vm_ctx *c = &ts_vm_ctx;
    struct ts_dm_db *db = c->db;
    struct cpu_facts cpu;
    read_cpu_facts(&cpu);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (ncpu < 1)
        ncpu = 1;
    char hostname[256] = "localhost";
    gethostname(hostname, sizeof(hostname) - 1);
    uint64_t total, avail;
    ts_vm_state_meminfo(&total, &avail);

    char mref[ATOLL_REF_STRLEN + 1];
    ATOLL_AUTOVALUE m = atoll_value_struct();
    atoll_value_struct_set_int(m, "memory_total", (int64_t)total);
    if (ts_dm_field_find(c->host_metrics, "memory_free", NULL))
        atoll_value_struct_set_int(m, "memory_free", (int64_t)avail);
    atoll_value_struct_set_bool(m, "live", 1);
    atoll_value_struct_set(m, "last_updated", atoll_value_datetime((int64_t)time(NULL)));
    if (ts_dm_generic_insert(db, c->host_metrics, m, mref, err) < 0)
        return -1;

    ATOLL_AUTOVALUE h = atoll_value_struct();
    atoll_value_struct_set_string(h, "uuid", uuid);
    atoll_value_struct_set_string(h, "name_label", hostname);
    atoll_value_struct_set_string(h, "name_description", "Atoll host");
    atoll_value_struct_set_string(h, "hostname", hostname);
    atoll_value_struct_set_string(h, "address", "127.0.0.1");
    atoll_value_struct_set_string(h, "metrics", mref);
    atoll_value_struct_set_string(h, "sched_policy", "linux");
    atoll_value_struct_set_string(h, "edition", "atoll");
    struct atoll_value *ci = atoll_value_struct();
    char n[32];
    snprintf(n, sizeof(n), "%ld", ncpu);
    atoll_value_struct_set_string(ci, "cpu_count", n);
    atoll_value_struct_set_string(ci, "socket_count", "1");
    atoll_value_struct_set_string(ci, "vendor", cpu.vendor);
    atoll_value_struct_set_string(ci, "modelname", cpu.model_name);
    snprintf(n, sizeof(n), "%ld", cpu.mhz);
    atoll_value_struct_set_string(ci, "speed", n);
    snprintf(n, sizeof(n), "%ld", cpu.family);
    atoll_value_struct_set_string(ci, "family", n);
    snprintf(n, sizeof(n), "%ld", cpu.model);
    atoll_value_struct_set_string(ci, "model", n);
    atoll_value_struct_set_string(ci, "stepping", cpu.stepping);
    atoll_value_struct_set_string(ci, "flags", cpu.flags);
    atoll_value_struct_set(h, "cpu_info", ci);
    struct atoll_value *sv = atoll_value_struct();
    atoll_value_struct_set_string(sv, "product_brand", "Atoll");
    atoll_value_struct_set_string(sv, "product_version", PACKAGE_VERSION);
    atoll_value_struct_set_string(sv, "platform_name", "Atoll");
    atoll_value_struct_set_string(sv, "hypervisor", "atoll-vmm (KVM)");
    atoll_value_struct_set(h, "software_version", sv);
    struct atoll_value *bl = atoll_value_array();
    atoll_value_array_append(bl, atoll_value_string("direct-kernel"));
    atoll_value_struct_set(h, "supported_bootloaders", bl);
    char href[ATOLL_REF_STRLEN + 1];
    if (ts_dm_generic_insert(db, c->host, h, href, err) < 0)
        return -1;

    const struct ts_dm_class *hc = ts_dm_class_find("host_cpu");
    for (long i = 0; hc && i < ncpu; i++) {
        ATOLL_AUTOVALUE r = atoll_value_struct();
        atoll_value_struct_set_string(r, "host", href);
        atoll_value_struct_set_int(r, "number", i);
        atoll_value_struct_set_string(r, "vendor", cpu.vendor);
        atoll_value_struct_set_int(r, "speed", cpu.mhz);
        atoll_value_struct_set_string(r, "modelname", cpu.model_name);
        atoll_value_struct_set_int(r, "family", cpu.family);
        atoll_value_struct_set_int(r, "model", cpu.model);
        atoll_value_struct_set_string(r, "stepping", cpu.stepping);
        atoll_value_struct_set_string(r, "flags", cpu.flags);
        if (ts_dm_generic_insert(db, hc, r, NULL, err) < 0)
            return -1;
    }

    const struct ts_dm_class *pc = ts_dm_class_find("pool");
    char pref[ATOLL_REF_STRLEN + 1] = "";
    if (pc && ts_dm_db_foreach(db, pc, first_ref, pref, err) < 0)
        return -1;
    if (pc && !pref[0]) {
        ATOLL_AUTOVALUE p = atoll_value_struct();
        atoll_value_struct_set_string(p, "master", href);
        if (ts_dm_generic_insert(db, pc, p, NULL, err) < 0)
            return -1;
    }
    log_info("first start: created host %s (%ld CPUs, %llu MiB) and its pool", hostname, ncpu,
             (unsigned long long)(total >> 20));
    return 0;
}

int ts_host_init_run(struct atoll_err *err)
{
    struct ts_vm_ctx *c = &ts_vm_ctx;
    if (load_or_make_uuid(c->host_uuid, err) < 0)
        return -1;
    int r = ts_dm_db_find_uuid(c->db, c->host, c->host_uuid, c->host_ref, err);
    if (r < 0)
        return -1;
    if (r == 0) {
        if (create_host(c->host_uuid, err) < 0)
            return -1;
        if (ts_dm_db_find_uuid(c->db, c->host, c->host_uuid, c->host_ref, err) <= 0) {
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "the new host object is missing");
            return -1;
        }
    }
    ts_session_set_this_host(c->host_ref);
    ts_vm_state_update_host_metrics();
    return 0;
}

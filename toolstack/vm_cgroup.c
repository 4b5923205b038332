/*
 * toolstack/vm_cgroup.c - XenAPI VCPUs_params weight and cap enforced with the Linux
 * CPU controller: each VM whose VCPUs_params names them gets a cgroup (v2:
 * /sys/fs/cgroup/atoll/vm-<uuid> with cpu.weight and cpu.max; v1:
 * /sys/fs/cgroup/cpu/atoll/vm-<uuid> with cpu.shares and cpu.cfs_quota_us) and its VMM
 * process is moved there. weight is the credit scheduler's (default 256, relative);
 * cap is a percentage of one CPU (0: none).
 * Threads: worker and watcher threads; each VM's directory is touched by its guard holder.
 * Trust: values come from the VM record and are range-checked before use.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"

#define V2_ROOT "/sys/fs/cgroup"
#define V1_ROOT "/sys/fs/cgroup/cpu"

int ts_vm_cgroup_parse(const char *weight, const char *cap, int64_t *w, int64_t *c,
                       struct atoll_err *err)
{
    *w = 0;
    *c = 0;
    if (weight && *weight && (atoll_parse_i64(weight, 10, w) < 0 || *w < 1 || *w > 65535)) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "VCPUs_params:weight", weight);
        return -1;
    }
    if (cap && *cap && (atoll_parse_i64(cap, 10, c) < 0 || *c < 0 || *c > 25600)) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "VCPUs_params:cap", cap);
        return -1;
    }
    return 0;
}

static int put(const char *dir, const char *file, const char *value)
{
    ATOLL_AUTOFREE char *p = atoll_strdup_printf("%s/%s", dir, file);
    ATOLL_AUTOCLOSE int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || atoll_write_all(fd, value, strlen(value)) < 0) {
        log_warn("cgroup: cannot write '%s' to '%s': %s", value, p, strerror(errno));
        return -1;
    }
    return 0;
}

static int v2_has_cpu(void)
{
    char buf[512] = "";
    FILE *f = fopen(V2_ROOT "/cgroup.controllers", "re");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f))
        buf[0] = '\0';
    fclose(f);
    for (char *s = buf, *save = NULL, *tok; (tok = strtok_r(s, " \n", &save)); s = NULL)
        if (strcmp(tok, "cpu") == 0)
            return 1;
    return 0;
}

int ts_vm_cgroup_apply(const char *uuid, pid_t pid, int64_t weight, int64_t cap)
{
    if (!weight && !cap)
        return 0;
    char val[64];
    ATOLL_AUTOFREE char *dir = NULL;
    if (v2_has_cpu()) {
        (void)mkdir(V2_ROOT "/atoll", 0755);
        (void)put(V2_ROOT, "cgroup.subtree_control", "+cpu");
        (void)put(V2_ROOT "/atoll", "cgroup.subtree_control", "+cpu");
        dir = atoll_strdup_printf(V2_ROOT "/atoll/vm-%s", uuid);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            goto fail;
        int64_t w2 = weight ? weight * 100 / 256 : 100; /* 256 (Xen's default) -> 100 */
        snprintf(val, sizeof(val), "%lld", (long long)(w2 < 1 ? 1 : w2 > 10000 ? 10000 : w2));
        if (put(dir, "cpu.weight", val) < 0)
            goto fail;
        if (cap)
            snprintf(val, sizeof(val), "%lld 100000", (long long)(cap * 1000));
        else
            snprintf(val, sizeof(val), "max 100000");
        if (put(dir, "cpu.max", val) < 0)
            goto fail;
    } else if (access(V1_ROOT "/cpu.shares", F_OK) == 0) {
        (void)mkdir(V1_ROOT "/atoll", 0755);
        dir = atoll_strdup_printf(V1_ROOT "/atoll/vm-%s", uuid);
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
            goto fail;
        int64_t shares = weight ? weight * 4 : 1024;
        snprintf(val, sizeof(val), "%lld", (long long)(shares < 2 ? 2 : shares));
        if (put(dir, "cpu.shares", val) < 0 || put(dir, "cpu.cfs_period_us", "100000") < 0)
            goto fail;
        snprintf(val, sizeof(val), "%lld", cap ? (long long)(cap * 1000) : -1LL);
        if (put(dir, "cpu.cfs_quota_us", val) < 0)
            goto fail;
    } else {
        log_warn("VM %s: no CPU controller (cgroup v2 'cpu' or v1 cpu hierarchy): VCPUs_params "
                 "weight/cap not enforced", uuid);
        return -1;
    }
    snprintf(val, sizeof(val), "%d", (int)pid);
    if (put(dir, "cgroup.procs", val) < 0)
        goto fail;
    log_info("VM %s: VMM in cgroup %s (weight %lld, cap %lld%%)", uuid, dir, (long long)weight,
             (long long)cap);
    return 0;
fail:
    log_warn("VM %s: cannot place the VMM in a CPU cgroup%s%s: VCPUs_params weight/cap not "
             "enforced", uuid, dir ? " " : "", dir ? dir : "");
    return -1;
}

void ts_vm_cgroup_remove(const char *uuid)
{
    ATOLL_AUTOFREE char *v2 = atoll_strdup_printf(V2_ROOT "/atoll/vm-%s", uuid);
    ATOLL_AUTOFREE char *v1 = atoll_strdup_printf(V1_ROOT "/atoll/vm-%s", uuid);
    (void)rmdir(v2); /* only empty cgroups go: a VMM still inside keeps it */
    (void)rmdir(v1);
}

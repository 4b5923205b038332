/*
 * toolstack/vmops.c - starts and stops VM operations as a unit (vmops.h):
 * fills the shared context, finds the atoll-vmm binary, registers the VM
 * messages and /console, creates this host's objects and reconciles.
 * Threads: main thread only.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vmops.h"

#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "host_init.h"
#include "vm_config.h"
#include "vm_console.h"
#include "vm_copy.h"
#include "vm_lifecycle.h"
#include "vm_metrics.h"
#include "vm_reconcile.h"
#include "vm_run.h"
#include "vm_state.h"

#ifndef ATOLL_VMM_INSTALLED
#define ATOLL_VMM_INSTALLED "/usr/local/bin/atoll-vmm"
#endif

static char *find_vmm(void)
{
    const char *env = getenv("ATOLL_VMM");
    if (env && *env)
        return atoll_strdup(env);
    /* the build tree: toolstack/.libs/atolld (libtool) or toolstack/atolld */
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *dir = dirname(exe);
        static const char *const rel[] = {"../hypervisor/atoll-vmm", "../../hypervisor/atoll-vmm"};
        for (size_t i = 0; i < ATOLL_ARRAY_SIZE(rel); i++) {
            char *p = atoll_strdup_printf("%s/%s", dir, rel[i]);
            if (access(p, X_OK) == 0)
                return p;
            free(p);
        }
    }
    return atoll_strdup(ATOLL_VMM_INSTALLED);
}

/*
 * In the build tree, hypervisor/atoll-vmm is libtool's wrapper script: about 20 ms of shell
 * per start. Its real binary is hypervisor/.libs/atoll-vmm, run with the tree's libraries.
 */
static void skip_libtool_wrapper(struct ts_vm_ctx *c)
{
    char head[512] = "";
    FILE *f = fopen(c->vmm_path, "re");
    if (!f)
        return;
    size_t n = fread(head, 1, sizeof(head) - 1, f);
    fclose(f);
    head[n] = '\0';
    if (strncmp(head, "#!", 2) != 0 || !strstr(head, "libtool"))
        return;
    char copy[PATH_MAX];
    snprintf(copy, sizeof(copy), "%s", c->vmm_path);
    char *dir = dirname(copy); /* .../hypervisor */
    ATOLL_AUTOFREE char *real = atoll_strdup_printf("%s/.libs/atoll-vmm", dir);
    if (access(real, X_OK) < 0)
        return;
    const char *old = getenv("LD_LIBRARY_PATH");
    c->vmm_ld_path = atoll_strdup_printf(
        "%s/../plugin-api/.libs:%s/block/.libs:%s/virtio/.libs:%s/.libs%s%s", dir, dir, dir, dir,
        old && *old ? ":" : "", old && *old ? old : "");
    free(c->vmm_path);
    c->vmm_path = atoll_steal_ptr(&real);
}

int ts_vmops_init(struct ts_dm_db *db, const struct ts_vmops_config *cfg, struct atoll_err *err)
{
    struct ts_vm_ctx *c = &ts_vm_ctx;
    c->db = db;
    c->state_dir = atoll_strdup(cfg->state_dir);
    c->run_dir = atoll_strdup_printf("%s/vms", cfg->state_dir);
    /* UNIX socket paths hold 107 bytes: <run_dir>/<uuid>/console.sock must fit, else the
     * sockets live under /run, in a directory named after the state dir (stable across
     * restarts, so that reconciliation finds the VMMs again) */
    if (strlen(c->run_dir) + 1 + 36 + strlen("/console.sock") >= 108) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = cfg->state_dir; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
        (void)mkdir("/run/atoll", 0700);
        free(c->run_dir);
        c->run_dir = atoll_strdup_printf("/run/atoll/vms-%016llx", (unsigned long long)h);
        log_info("state directory path too long for VMM sockets: VM runtime files in %s",
                 c->run_dir);
    }
    c->vmm_path = cfg->vmm_path ? atoll_strdup(cfg->vmm_path) : find_vmm();
    c->shutdown_timeout_s = cfg->shutdown_timeout_s > 0 ? cfg->shutdown_timeout_s : 60;
    skip_libtool_wrapper(c);
    c->vm = ts_dm_class_find("VM");
    c->vm_metrics = ts_dm_class_find("VM_metrics");
    c->host = ts_dm_class_find("host");
    c->host_metrics = ts_dm_class_find("host_metrics");
    if (!c->vm || !c->vm_metrics || !c->host || !c->host_metrics) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "the datamodel lacks VM, VM_metrics or host");
        return -1;
    }
    if (access(c->vmm_path, X_OK) < 0)
        log_warn("atoll-vmm '%s' is not executable: VM.start will fail until it is",
                 c->vmm_path);
    if (ts_vm_lifecycle_register(err) < 0 || ts_vm_config_register(err) < 0 ||
        ts_vm_copy_register(err) < 0)
        return -1;
    if (ts_vm_console_register() < 0) {
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot register the /console handler");
        return -1;
    }
    log_info("VM operations ready (VMM %s)", c->vmm_path);
    return 0;
}

int ts_vmops_start(struct atoll_err *err)
{
    if (ts_host_init_run(err) < 0 || ts_vm_reconcile_run(err) < 0)
        return -1;
    ts_vm_metrics_start();
    return 0;
}

void ts_vmops_stop(void)
{
    ts_vm_metrics_stop();
    ts_vm_run_detach_all();
}

const char *ts_vmops_vmm_path(void)
{
    return ts_vm_ctx.vmm_path;
}

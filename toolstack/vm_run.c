/*
 * toolstack/vm_run.c - one VM's VMM from launch to exit (vm_run.h). The VMM's
 * control socket is the single source of exit news: each VMM has a watcher
 * thread holding a connection that receives "EVENT exit status=N" when it ends
 * (EOF without it means it was killed). Exits that an operation expects are
 * left to that operation; the others follow the VM's actions_after_* fields.
 * Threads: worker threads (guard held) and one detached watcher per VMM.
 */
#define ATOLL_LOG_MODULE "vmops"
#include "vm_run.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "vm_cgroup.h"
#include "vmm_client.h"

#define MIB (1024ULL * 1024ULL)
#define CONNECT_TIMEOUT_MS 15000
#define COMMAND_TIMEOUT_MS 5000
#define CRASH_WINDOW_S 60
#define CRASH_RESTARTS 3

static int64_t field_int(struct atoll_value *rec, const char *name)
{
    struct atoll_value *v = atoll_value_struct_get(rec, name);
    return v && atoll_value_type(v) == ATOLL_VALUE_INT ? atoll_value_get_int(v) : 0;
}

static const char *field_str(struct atoll_value *rec, const char *name)
{
    const char *s = atoll_value_struct_get_string(rec, name);
    return s ? s : "";
}

static const char *map_get(struct atoll_value *rec, const char *map, const char *key)
{
    struct atoll_value *m = atoll_value_struct_get(rec, map);
    return m ? atoll_value_struct_get_string(m, key) : NULL;
}

int ts_vm_run_sizing(const char *ref, struct atoll_value *rec, uint64_t *memory,
                     unsigned *vcpus, struct atoll_err *err)
{
    int64_t smin = field_int(rec, "memory_static_min"), smax = field_int(rec, "memory_static_max");
    int64_t dmin = field_int(rec, "memory_dynamic_min");
    int64_t dmax = field_int(rec, "memory_dynamic_max");
    if (smin < 0 || smax < 0 || dmin < 0 || dmax < 0) {
        ATOLL_ERR(err, ATOLL_E_MEMORY_CONSTRAINT_VIOLATION, "memory sizes must not be negative");
        return -1;
    }
    /* XAPI's constraint, on the fields that are set */
    if ((smax && dmax && dmax > smax) || (dmin && dmax && dmin > dmax) ||
        (smin && dmin && smin > dmin) || (smin && smax && smin > smax)) {
        ATOLL_ERR(err, ATOLL_E_MEMORY_CONSTRAINT_VIOLATION,
                  "static_min <= dynamic_min <= dynamic_max <= static_max");
        return -1;
    }
    uint64_t mem = dmax ? (uint64_t)dmax : (uint64_t)smax;
    if (mem < 16 * MIB) { /* the smallest guest atoll-vmm lays out: below it nothing boots */
        ATOLL_ERR(err, ATOLL_E_VM_MEMORY_SIZE_TOO_LOW, ref);
        atoll_err_detail(err, "memory_dynamic_max/static_max is %llu bytes; at least 16 MiB",
                         (unsigned long long)mem);
        return -1;
    }
    int64_t vmax = field_int(rec, "VCPUs_max"), vstart = field_int(rec, "VCPUs_at_startup");
    if (vstart < 1 || vmax < 1 || vstart > vmax) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "VCPUs_at_startup",
                  atoll_value_struct_get(rec, "VCPUs_at_startup") ? "out of 1..VCPUs_max" : "");
        return -1;
    }
    if (vstart > 254) { /* atoll-vmm's limit (xAPIC ids) */
        ATOLL_ERR(err, ATOLL_E_VM_TOO_MANY_VCPUS, ref);
        return -1;
    }
    *memory = mem & ~4095ULL;
    *vcpus = (unsigned)vstart;
    return 0;
}

/* "0,2-3" -> cpu set; -1 on a malformed mask */
static int parse_mask(const char *s, cpu_set_t *set)
{
    CPU_ZERO(set);
    int any = 0;
    while (*s) {
        char *e;
        errno = 0;
        unsigned long a = strtoul(s, &e, 10), b;
        if (e == s || errno || a >= CPU_SETSIZE)
            return -1;
        b = a;
        if (*e == '-') {
            const char *s2 = e + 1;
            b = strtoul(s2, &e, 10);
            if (e == s2 || b < a || b >= CPU_SETSIZE)
                return -1;
        }
        for (unsigned long i = a; i <= b; i++)
            CPU_SET(i, set);
        any = 1;
        if (*e == ',')
            e++;
        else if (*e)
            return -1;
        s = e;
    }
    return any ? 0 : -1;
}

/*
 * Thread ids of the vCPUs once at least rt->vcpus threads have started (bounded wait);
 * absent (hot-pluggable, not yet added) vCPUs have none. Count or -1.
 */
static int vcpu_tids(struct ts_vm_rt *rt, pid_t *out, unsigned cap)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    char ans[TS_VMM_LINE_MAX], eb[256], tids[TS_VMM_LINE_MAX];
    for (int attempt = 0; attempt < 200; attempt++) {
        if (ts_vmm_client_command(ctl, rt->uuid, "query vcpus", ans, sizeof(ans),
                                  COMMAND_TIMEOUT_MS, eb, sizeof(eb)) != 0 ||
            !ts_vmm_client_kv(ans, "tids", tids, sizeof(tids)))
            return -1;
        unsigned n = 0, zero = 0;
        for (char *p = tids, *save = NULL, *tok; (tok = strtok_r(p, ",", &save)); p = NULL) {
            int64_t tid;
            if (atoll_parse_i64(tok, 10, &tid) < 0 || tid <= 0)
                zero++; /* that vCPU thread has not started yet */
            else if (n < cap)
                out[n++] = (pid_t)tid;
        }
        if (!zero || n >= rt->vcpus)
            return (int)n;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void ts_vm_run_apply_mask(struct ts_vm_rt *rt, const char *mask)
{
    cpu_set_t set;
    pid_t tids[256];
    if (parse_mask(mask, &set) < 0)
        return;
    int count = vcpu_tids(rt, tids, ATOLL_ARRAY_SIZE(tids));
    if (count < 0) {
        log_warn("VM %s: cannot read vCPU threads for pinning", rt->uuid);
        return;
    }
    unsigned n = 0;
    for (int i = 0; i < count; i++) {
        if (sched_setaffinity(tids[i], sizeof(set), &set) == 0)
            n++;
        else
            log_warn("VM %s: pinning vCPU thread %d to '%s': %s", rt->uuid, (int)tids[i], mask,
                     strerror(errno));
    }
    log_info("VM %s: %u vCPU thread(s) pinned to CPUs %s", rt->uuid, n, mask);
}

/* ---- watcher ---- */

static void handle_unexpected_exit(struct ts_vm_rt *rt);

static void *watch(void *arg)
{
    struct ts_vm_rt *rt = arg;
    char line[TS_VMM_LINE_MAX];
    int status = -1;
    char reason[160] = "killed (control socket closed without an exit event)";
    pthread_mutex_lock(&ts_vm_state_lock);
    int fd = rt->ctl_fd;
    pid_t pid = rt->pid;
    int child = rt->child;
    pthread_mutex_unlock(&ts_vm_state_lock);
    while (ts_vmm_client_read_line(fd, line, sizeof(line), -1) == 1) {
        if (strncmp(line, "EVENT exit ", 11) != 0)
            continue;
        char st[16];
        int64_t v;
        if (ts_vmm_client_kv(line, "status", st, sizeof(st)) && atoll_parse_i64(st, 10, &v) == 0)
            status = (int)v;
        if (!ts_vmm_client_kv(line, "reason", reason, sizeof(reason)))
            reason[0] = '\0';
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->ctl_fd = -1;
    close(fd);
    int detach = rt->detach;
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (!detach) {
        if (child) { /* wait for the exit without reaping: the pid stays ours until below */
            siginfo_t si;
            memset(&si, 0, sizeof(si));
            while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
                ;
            if (si.si_pid == pid && status < 0) {
                if (si.si_code == CLD_EXITED)
                    status = si.si_status;
                else
                    snprintf(reason, sizeof(reason), "killed by signal %d", si.si_status);
            }
        } else {
            for (int i = 0; i < 500 && ts_vmm_client_alive(pid); i++) {
                struct timespec ts = {0, 10 * 1000 * 1000};
                nanosleep(&ts, NULL);
            }
        }
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->watching = 0;
    if (rt->detach) {
        pthread_cond_broadcast(&ts_vm_state_cond);
        pthread_mutex_unlock(&ts_vm_state_lock);
        return NULL;
    }
    /* exited and reaped together under the lock: whoever signals rt->pid checks exited
     * under it too, so no signal can reach a recycled pid */
    rt->exited = 1;
    if (child)
        waitpid(pid, NULL, 0);
    ts_vm_cgroup_remove(rt->uuid);
    rt->status = status;
    snprintf(rt->reason, sizeof(rt->reason), "%s", reason);
    log_info("VM %s: VMM pid %d exited with status %d: %s", rt->uuid, (int)pid, status, reason);
    pthread_cond_broadcast(&ts_vm_state_cond);
    /* an operation in progress that expects an exit handles it; others finish first */
    while (rt->op_active && !rt->expect_exit && !rt->detach)
        pthread_cond_wait(&ts_vm_state_cond, &ts_vm_state_lock);
    if (rt->op_active || rt->detach || rt->pid != pid) {
        pthread_mutex_unlock(&ts_vm_state_lock);
        return NULL;
    }
    rt->op_active = 1;
    snprintf(rt->op, sizeof(rt->op), "%s", "vmm_exit");
    atoll_ref_generate(rt->op_ref);
    pthread_mutex_unlock(&ts_vm_state_lock);
    handle_unexpected_exit(rt);
    ts_vm_state_op_end(rt);
    return NULL;
}

static int start_watcher(struct ts_vm_rt *rt, int fd)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->ctl_fd = fd;
    rt->watching = 1;
    rt->exited = 0;
    rt->status = -1;
    rt->reason[0] = '\0';
    pthread_mutex_unlock(&ts_vm_state_lock);
    pthread_t th;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int r = pthread_create(&th, &at, watch, rt);
    pthread_attr_destroy(&at);
    if (r != 0) {
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->ctl_fd = -1;
        rt->watching = 0;
        pthread_mutex_unlock(&ts_vm_state_lock);
        close(fd);
        return -1;
    }
    return 0;
}

/* ---- strays ---- */

/*
 * Kills atoll-vmm processes of this VM (its control socket path on their command
 * line) that did not answer on that socket: a hung or orphaned VMM must never run
 * next to a new one. Returns how many were killed.
 */
static unsigned kill_strays(struct ts_vm_rt *rt)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    DIR *d = opendir("/proc");
    unsigned n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t pid;
        if (atoll_parse_i64(e->d_name, 10, &pid) < 0 || pid <= 1 || pid == getpid())
            continue;
        char path[64], buf[8192];
        snprintf(path, sizeof(path), "/proc/%lld/cmdline", (long long)pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = '\0';
        size_t a0 = strlen(buf);
        if (a0 < 9 || strcmp(buf + a0 - 9, "atoll-vmm") != 0)
            continue;
        int mine = 0;
        for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
            if (strcmp(buf + off, ctl) == 0)
                mine = 1;
        if (mine && kill((pid_t)pid, SIGKILL) == 0) {
            log_warn("VM %s: killed unresponsive VMM pid %lld", rt->uuid, (long long)pid);
            n++;
        }
    }
    closedir(d);
    return n;
}

/* ---- launch ---- */

static int check_file(const char *ref, const char *what, const char *path, struct atoll_err *err)
{
    struct stat st;
    if (path[0] != '/' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
        access(path, R_OK) < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "%s '%.500s' is not a readable file given by absolute path",
                 what, path);
        ATOLL_ERR(err, ATOLL_E_BOOTLOADER_FAILED, ref, msg);
        return -1;
    }
    return 0;
}

static void kill_and_reap(pid_t pid, int child)
{
    if (pid <= 0)
        return;
    kill(pid, SIGKILL);
    if (child)
        waitpid(pid, NULL, 0);
}

int ts_vm_run_launch(struct ts_vm_rt *rt, struct atoll_value *rec, uint64_t memory,
                     unsigned vcpus, int paused, struct atoll_err *err)
{
    const char *kernel = field_str(rec, "PV_kernel");
    const char *ramdisk = field_str(rec, "PV_ramdisk");
    const char *mask = map_get(rec, "VCPUs_params", "mask");
    if (!*kernel) {
        ATOLL_ERR(err, ATOLL_E_BOOTLOADER_FAILED, rt->ref,
                  "PV_kernel is empty: Atoll boots VMs by direct kernel boot");
        return -1;
    }
    if (field_str(rec, "PV_bootloader")[0] && strcmp(field_str(rec, "PV_bootloader"), "") != 0)
        log_info("VM %s: PV_bootloader '%s' ignored: direct kernel boot from PV_kernel", rt->uuid,
                 field_str(rec, "PV_bootloader"));
    if (check_file(rt->ref, "PV_kernel", kernel, err) < 0 ||
        (*ramdisk && check_file(rt->ref, "PV_ramdisk", ramdisk, err) < 0))
        return -1;
    cpu_set_t set;
    if (mask && *mask && parse_mask(mask, &set) < 0) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "VCPUs_params:mask", mask);
        return -1;
    }
    int64_t weight, cap;
    if (ts_vm_cgroup_parse(map_get(rec, "VCPUs_params", "weight"),
                           map_get(rec, "VCPUs_params", "cap"), &weight, &cap, err) < 0)
        return -1;
    if (strlen(field_str(rec, "PV_args")) > 4095) {
        ATOLL_ERR(err, ATOLL_E_INVALID_VALUE, "PV_args", "longer than 4095 bytes");
        return -1;
    }
    if ((mkdir(ts_vm_ctx.run_dir, 0700) < 0 && errno != EEXIST) ||
        (mkdir(rt->dir, 0700) < 0 && errno != EEXIST)) {
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, errno, "cannot create the VM's directory");
        atoll_err_detail(err, "'%s': %s", rt->dir, strerror(errno));
        return -1;
    }
    /* a control socket left behind: maybe a VMM of this VM that nobody could adopt */
    ATOLL_AUTOFREE char *old_ctl = ts_vmm_client_control_path(rt->dir);
    struct stat ost;
    if (stat(old_ctl, &ost) == 0)
        kill_strays(rt);
    /* the guest's RAM is memory_static_max; the balloon holds it at the target (dynamic_max) */
    uint64_t ram = memory;
    int64_t smax = field_int(rec, "memory_static_max");
    if (smax > 0 && (uint64_t)smax > ram)
        ram = (uint64_t)smax & ~4095ULL;
    struct ts_vmm_spec spec = {
        .vmm_path = ts_vm_ctx.vmm_path, .ld_library_path = ts_vm_ctx.vmm_ld_path,
        .dir = rt->dir, .uuid = rt->uuid,
        .name = field_str(rec, "name_label"), .kernel = kernel, .initrd = ramdisk,
        .cmdline = field_str(rec, "PV_args"), .memory = ram, .vcpus = vcpus,
        .max_vcpus = (unsigned)(field_int(rec, "VCPUs_max") > 254 ? 254
                                                                  : field_int(rec, "VCPUs_max")),
    };
    pid_t pid;
    long off;
    if (ts_vmm_client_spawn(&spec, &pid, &off, err) < 0)
        return -1;
    ts_vm_state_op_publish(rt); /* current_operations, written while the guest boots */
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    char eb[256];
    int fd = ts_vmm_client_connect(ctl, rt->uuid, pid, CONNECT_TIMEOUT_MS, eb, sizeof(eb));
    if (fd < 0) {
        kill_and_reap(pid, 1);
        char why[400];
        ts_vmm_client_startup_error(rt->dir, off, why, sizeof(why));
        if (strstr(why, "more than this host can give")) {
            char need[32], have[32];
            snprintf(need, sizeof(need), "%llu", (unsigned long long)ram);
            snprintf(have, sizeof(have), "%llu", (unsigned long long)ts_vm_state_free_memory());
            ATOLL_ERR(err, ATOLL_E_HOST_NOT_ENOUGH_FREE_MEMORY, need, have);
        } else if (strstr(why, "kernel image") || strstr(why, "initrd")) {
            ATOLL_ERR(err, ATOLL_E_BOOTLOADER_FAILED, rt->ref, why);
        } else {
            char msg[700];
            snprintf(msg, sizeof(msg), "the VMM did not start: %s", *why ? why : eb);
            ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, msg);
        }
        log_warn("VM %s: VMM start failed: %s (%s)", rt->uuid, *why ? why : "-", eb);
        return -1;
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->pid = pid;
    rt->child = 1;
    rt->memory = memory;
    rt->vcpus = vcpus;
    rt->start_time = (int64_t)time(NULL);
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (start_watcher(rt, fd) < 0) {
        kill_and_reap(pid, 1);
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->pid = 0;
        pthread_mutex_unlock(&ts_vm_state_lock);
        ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, "cannot start the VM watcher thread");
        return -1;
    }
    /* atoll-vmm has no start-paused option: pause right after the control socket answers */
    if (paused && ts_vm_run_command(rt, "pause", err) < 0) {
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->expect_exit = 1;
        pthread_mutex_unlock(&ts_vm_state_lock);
        ts_vm_run_destroy(rt);
        return -1;
    }
    if (ram > memory && ts_vm_run_balloon(rt, memory, NULL) < 0) {
        log_warn("VM %s: no balloon: the guest has all of memory_static_max", rt->uuid);
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->memory = ram;
        pthread_mutex_unlock(&ts_vm_state_lock);
    }
    if (mask && *mask)
        ts_vm_run_apply_mask(rt, mask);
    ts_vm_cgroup_remove(rt->uuid); /* a stale one from an earlier run */
    ts_vm_cgroup_apply(rt->uuid, pid, weight, cap);
    ts_vm_state_ensure_console(rt);
    return 0;
}

int ts_vm_run_adopt(struct ts_vm_rt *rt, char *state, size_t len)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    char eb[256], ans[TS_VMM_LINE_MAX], v[64];
    struct stat st;
    if (stat(ctl, &st) < 0)
        return 0;
    int fd = ts_vmm_client_connect(ctl, rt->uuid, 0, 2000, eb, sizeof(eb));
    if (fd < 0) {
        kill_strays(rt);
        return 0;
    }
    if (ts_vmm_client_command(ctl, rt->uuid, "status", ans, sizeof(ans), COMMAND_TIMEOUT_MS, eb,
                              sizeof(eb)) != 0) {
        close(fd);
        kill_strays(rt);
        return 0;
    }
    int64_t pid = 0, mem = 0, vcpus = 0, up = 0;
    if (ts_vmm_client_kv(ans, "pid", v, sizeof(v)))
        atoll_parse_i64(v, 10, &pid);
    if (ts_vmm_client_kv(ans, "memory_bytes", v, sizeof(v)))
        atoll_parse_i64(v, 10, &mem);
    if (ts_vmm_client_kv(ans, "vcpus", v, sizeof(v)))
        atoll_parse_i64(v, 10, &vcpus);
    if (ts_vmm_client_kv(ans, "uptime_ms", v, sizeof(v)))
        atoll_parse_i64(v, 10, &up);
    if (!ts_vmm_client_kv(ans, "state", state, len))
        snprintf(state, len, "running");
    char bal[TS_VMM_LINE_MAX];
    int64_t target = 0;
    if (ts_vmm_client_command(ctl, rt->uuid, "query balloon", bal, sizeof(bal),
                              COMMAND_TIMEOUT_MS, eb, sizeof(eb)) == 0 &&
        ts_vmm_client_kv(bal, "target_bytes", v, sizeof(v)) &&
        atoll_parse_i64(v, 10, &target) == 0 && target > 0 && target < mem)
        mem = target; /* what the guest is allowed, not its RAM */
    if (pid <= 0) {
        close(fd);
        return 0;
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->pid = (pid_t)pid;
    rt->child = 0;
    rt->memory = (uint64_t)mem;
    rt->vcpus = (unsigned)vcpus;
    rt->start_time = (int64_t)time(NULL) - up / 1000;
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (start_watcher(rt, fd) < 0) {
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->pid = 0;
        pthread_mutex_unlock(&ts_vm_state_lock);
        return 0;
    }
    log_info("VM %s: adopted running VMM pid %lld (%s)", rt->uuid, (long long)pid, state);
    ts_vm_state_ensure_console(rt);
    return 1;
}

int ts_vm_run_balloon(struct ts_vm_rt *rt, uint64_t target, struct atoll_err *err)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "balloon %lluB", (unsigned long long)target);
    if (ts_vm_run_command(rt, cmd, err) < 0)
        return -1;
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->memory = target;
    pthread_mutex_unlock(&ts_vm_state_lock);
    log_info("VM %s: balloon target %llu MiB", rt->uuid, (unsigned long long)(target >> 20));
    return 0;
}

int ts_vm_run_command(struct ts_vm_rt *rt, const char *cmd, struct atoll_err *err)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    char ans[TS_VMM_LINE_MAX], eb[256];
    int r = ts_vmm_client_command(ctl, rt->uuid, cmd, ans, sizeof(ans), COMMAND_TIMEOUT_MS, eb,
                                  sizeof(eb));
    if (r == 0)
        return 0;
    char msg[TS_VMM_LINE_MAX + 300];
    snprintf(msg, sizeof(msg), "VMM command '%.200s' failed: %s", cmd, r > 0 ? ans : eb);
    ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, msg);
    return -1;
}

int ts_vm_run_wait_exit(struct ts_vm_rt *rt, int timeout_ms)
{
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += timeout_ms / 1000;
    end.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (end.tv_nsec >= 1000000000L) {
        end.tv_sec++;
        end.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    while (!rt->exited && (rt->watching || ts_vmm_client_alive(rt->pid)))
        if (pthread_cond_timedwait(&ts_vm_state_cond, &ts_vm_state_lock, &end) == ETIMEDOUT)
            break;
    int done = rt->exited || (!rt->watching && !ts_vmm_client_alive(rt->pid));
    pthread_mutex_unlock(&ts_vm_state_lock);
    return done;
}

static int console_send(struct ts_vm_rt *rt, const char *text)
{
    ATOLL_AUTOFREE char *path = ts_vmm_client_console_path(rt->dir);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    ATOLL_AUTOCLOSE int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    if (atoll_write_all(fd, text, strlen(text)) < 0)
        return -1;
    /* atoll-vmm drops a console client that is gone before it sent the replay, input
     * included: stay until the replay arrives (bounded) */
    struct pollfd p = {.fd = fd, .events = POLLIN};
    (void)poll(&p, 1, 1000);
    return 0;
}

int ts_vm_run_clean(struct ts_vm_rt *rt, struct atoll_value *rec, int reboot,
                    struct atoll_err *err)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(rt->dir);
    char help[TS_VMM_LINE_MAX], eb[256];
    const char *vmm_cmd = reboot ? "reboot" : "shutdown";
    int sent = 0;
    if (ts_vmm_client_command(ctl, rt->uuid, "help", help, sizeof(help), COMMAND_TIMEOUT_MS, eb,
                              sizeof(eb)) == 0 &&
        ts_vmm_client_has_command(help, vmm_cmd)) {
        /* refused (a paused machine, say): the console is asked instead, and the timeout
         * decides */
        struct atoll_err e2 = ATOLL_ERR_INIT;
        sent = ts_vm_run_command(rt, vmm_cmd, &e2) == 0;
        if (!sent)
            log_info("VM %s: %s", rt->uuid, e2.nparams ? e2.params[0] : "VMM request failed");
        atoll_err_clear(&e2);
    }
    int timeout = ts_vm_ctx.shutdown_timeout_s;
    const char *t = map_get(rec, "other_config", "atoll-shutdown-timeout");
    int64_t tv;
    if (t && atoll_parse_i64(t, 10, &tv) == 0 && tv > 0 && tv <= 3600)
        timeout = (int)tv;
    const char *cmd = map_get(rec, "other_config",
                              reboot ? "atoll-console-reboot" : "atoll-console-poweroff");
    if (!cmd || !*cmd)
        cmd = reboot ? "reboot" : "poweroff";
    ATOLL_AUTOFREE char *line = atoll_strdup_printf("\r%s\r", cmd);
    /* a guest still booting drops console input: say it again every 2 s until it acts; a
     * guest that ignores the VMM's ACPI event after 4 s is also asked on its console */
    int done = 0;
    for (int waited = 0; !done && waited < timeout * 1000; waited += 2000) {
        if ((!sent || waited >= 4000) && console_send(rt, line) < 0 && waited == 0) {
            ATOLL_ERR(err, ATOLL_E_VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT, rt->ref);
            atoll_err_detail(err, "cannot reach the guest's console");
            return -1;
        }
        int step = timeout * 1000 - waited < 2000 ? timeout * 1000 - waited : 2000;
        done = ts_vm_run_wait_exit(rt, step);
    }
    if (!done) {
        ATOLL_ERR(err, ATOLL_E_VM_FAILED_SHUTDOWN_ACKNOWLEDGMENT, rt->ref);
        atoll_err_detail(err, "the guest did not %s within %d s", reboot ? "reboot" : "power off",
                         timeout);
        return -1;
    }
    return 0;
}

void ts_vm_run_destroy(struct ts_vm_rt *rt)
{
    pthread_mutex_lock(&ts_vm_state_lock);
    pid_t pid = rt->pid;
    int child = rt->child, gone = rt->exited;
    if (gone) /* already reaped: its pid may belong to someone else now */
        rt->pid = 0;
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (pid <= 0 || gone)
        return;
    struct atoll_err e = ATOLL_ERR_INIT;
    if (ts_vm_run_command(rt, "destroy", &e) < 0) {
        log_warn("VM %s: %s; killing pid %d", rt->uuid, e.nparams ? e.params[0] : "?", (int)pid);
        atoll_err_clear(&e);
        pthread_mutex_lock(&ts_vm_state_lock);
        if (!rt->exited)
            kill(pid, SIGKILL);
        pthread_mutex_unlock(&ts_vm_state_lock);
    }
    if (!ts_vm_run_wait_exit(rt, 10000)) {
        log_warn("VM %s: VMM pid %d ignored 'destroy'; killing it", rt->uuid, (int)pid);
        pthread_mutex_lock(&ts_vm_state_lock);
        if (!rt->exited)
            kill(pid, SIGKILL);
        pthread_mutex_unlock(&ts_vm_state_lock);
        if (!ts_vm_run_wait_exit(rt, 5000) && child)
            log_error("VM %s: VMM pid %d survived SIGKILL", rt->uuid, (int)pid);
    }
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->pid = 0;
    pthread_mutex_unlock(&ts_vm_state_lock);
}

/* ---- exits nobody asked for ---- */

static void record_halted(struct ts_vm_rt *rt)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->pid = 0;
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (ts_vm_state_record(rt->ref, "Halted", rt, NULL, NULL, &err) < 0) {
        log_error("VM %s: cannot record Halted: %s", rt->uuid, err.nparams ? err.params[0] : "?");
        atoll_err_clear(&err);
    }
    ts_vm_state_update_host_metrics();
}

static void handle_unexpected_exit(struct ts_vm_rt *rt)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ATOLL_AUTOVALUE rec = NULL;
    if (ts_dm_db_get(ts_vm_ctx.db, ts_vm_ctx.vm, rt->ref, &rec, NULL, &err) <= 0) {
        atoll_err_clear(&err);
        pthread_mutex_lock(&ts_vm_state_lock);
        rt->pid = 0;
        pthread_mutex_unlock(&ts_vm_state_lock);
        return; /* the VM object is gone */
    }
    int status = rt->status;
    const char *action;
    if (status == 0)
        action = field_str(rec, "actions_after_shutdown");
    else if (status == 3)
        action = field_str(rec, "actions_after_reboot");
    else if (status == 6)
        action = "destroy"; /* destroyed from outside atolld: respect it */
    else
        action = field_str(rec, "actions_after_crash");
    int restart = strcmp(action, "restart") == 0 || strcmp(action, "rename_restart") == 0;
    if (restart && status != 0 && status != 3) {
        int64_t now = (int64_t)time(NULL);
        if (now - rt->crash_window > CRASH_WINDOW_S) {
            rt->crash_window = now;
            rt->crashes = 0;
        }
        if (++rt->crashes > CRASH_RESTARTS) {
            log_warn("VM %s: crashed %u times within %d s: left Halted", rt->uuid, rt->crashes,
                     CRASH_WINDOW_S);
            restart = 0;
        }
    }
    log_info("VM %s: guest %s (status %d: %s): %s", rt->uuid,
             status == 0 ? "powered off" : status == 3 ? "rebooted" : "stopped", status,
             rt->reason, restart ? "restarting" : "now Halted");
    if (!restart) {
        record_halted(rt);
        return;
    }
    uint64_t memory;
    unsigned vcpus;
    pthread_mutex_lock(&ts_vm_state_lock);
    rt->pid = 0;
    pthread_mutex_unlock(&ts_vm_state_lock);
    if (ts_vm_run_sizing(rt->ref, rec, &memory, &vcpus, &err) < 0 ||
        ts_vm_state_reserve(memory, &err) < 0) {
        log_warn("VM %s: cannot restart: %s", rt->uuid, atoll_err_code_name(err.code));
        atoll_err_clear(&err);
        record_halted(rt);
        return;
    }
    int r = ts_vm_run_launch(rt, rec, memory, vcpus, 0, &err);
    ts_vm_state_unreserve(memory);
    if (r < 0) {
        log_warn("VM %s: restart failed: %s", rt->uuid, atoll_err_code_name(err.code));
        atoll_err_clear(&err);
        record_halted(rt);
        return;
    }
    if (ts_vm_state_record(rt->ref, "Running", rt, NULL, NULL, &err) < 0) {
        log_error("VM %s: cannot record the restart: %s", rt->uuid,
                  atoll_err_code_name(err.code));
        atoll_err_clear(&err);
    }
    ts_vm_state_update_host_metrics();
}

static void detach_one(struct ts_vm_rt *rt, void *arg)
{
    rt->detach = 1;
    if (rt->ctl_fd >= 0)
        shutdown(rt->ctl_fd, SHUT_RDWR);
}

static void count_watching(struct ts_vm_rt *rt, void *arg)
{
    *(int *)arg += rt->watching;
}

void ts_vm_run_detach_all(void)
{
    ts_vm_state_foreach(detach_one, NULL);
    pthread_mutex_lock(&ts_vm_state_lock);
    pthread_cond_broadcast(&ts_vm_state_cond);
    pthread_mutex_unlock(&ts_vm_state_lock);
    for (int i = 0; i < 200; i++) {
        int left = 0;
        ts_vm_state_foreach(count_watching, &left);
        if (!left)
            return;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

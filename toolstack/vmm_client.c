/*
 * toolstack/vmm_client.c - spawning atoll-vmm and speaking its control
 * protocol (see vmm_client.h). posix_spawn keeps the launch safe in a
 * multi-threaded daemon; the VMM gets its own session so that a restart of
 * atolld leaves it running (vm_reconcile.c adopts it again).
 * Threads: any worker thread. Trust: VMM answers are bounded and parsed.
 */
#define ATOLL_LOG_MODULE "vmm_client"
#include "vmm_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

extern char **environ;

char *ts_vmm_client_control_path(const char *dir)
{
    return atoll_strdup_printf("%s/control.sock", dir);
}

char *ts_vmm_client_console_path(const char *dir)
{
    return atoll_strdup_printf("%s/console.sock", dir);
}

int ts_vmm_client_spawn(const struct ts_vmm_spec *s, pid_t *pid, long *log_off,
                        struct atoll_err *err)
{
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(s->dir);
    ATOLL_AUTOFREE char *con = ts_vmm_client_console_path(s->dir);
    ATOLL_AUTOFREE char *clog = atoll_strdup_printf("%s/console.log", s->dir);
    ATOLL_AUTOFREE char *vlog = atoll_strdup_printf("%s/vmm.log", s->dir);
    ATOLL_AUTOFREE char *mem = atoll_strdup_printf("%lluK",
                                                   (unsigned long long)(s->memory >> 10));
    ATOLL_AUTOFREE char *vcpus = atoll_strdup_printf("%u", s->vcpus);
    ATOLL_AUTOFREE char *maxv = atoll_strdup_printf("%u", s->max_vcpus);
    unlink(ctl); /* stale sockets of an earlier run */
    unlink(con);

    const char *argv[32];
    int n = 0;
    argv[n++] = s->vmm_path;
    argv[n++] = "--kernel";
    argv[n++] = s->kernel;
    if (s->initrd && *s->initrd) {
        argv[n++] = "--initrd";
        argv[n++] = s->initrd;
    }
    if (s->cmdline && *s->cmdline) {
        argv[n++] = "--cmdline";
        argv[n++] = s->cmdline;
    }
    argv[n++] = "--memory";
    argv[n++] = mem;
    argv[n++] = "--vcpus";
    argv[n++] = vcpus;
    if (s->max_vcpus > s->vcpus) {
        argv[n++] = "--max-vcpus";
        argv[n++] = maxv;
    }
    argv[n++] = "--uuid";
    argv[n++] = s->uuid;
    if (s->name && *s->name) {
        argv[n++] = "--name";
        argv[n++] = s->name;
    }
    argv[n++] = "--control-socket";
    argv[n++] = ctl;
    argv[n++] = "--console-socket";
    argv[n++] = con;
    argv[n++] = "--console-log";
    argv[n++] = clog;
    argv[n] = NULL;

    struct stat st;
    *log_off = stat(vlog, &st) == 0 ? (long)st.st_size : 0;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, vlog, O_WRONLY | O_APPEND | O_CREAT, 0640);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGINT);
    sigaddset(&def, SIGHUP);
    sigaddset(&def, SIGCHLD);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
    /* the environment, with LD_LIBRARY_PATH replaced when the caller names one */
    size_t ne = 0;
    while (environ[ne])
        ne++;
    char **envp = atoll_calloc(ne + 2, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < ne; i++)
        if (!s->ld_library_path || strncmp(environ[i], "LD_LIBRARY_PATH=", 16) != 0)
            envp[k++] = environ[i];
    ATOLL_AUTOFREE char *ldp = s->ld_library_path
                                   ? atoll_strdup_printf("LD_LIBRARY_PATH=%s", s->ld_library_path)
                                   : NULL;
    if (ldp)
        envp[k++] = ldp;
    envp[k] = NULL;
    int r = posix_spawn(pid, s->vmm_path, &fa, &at, (char *const *)argv, envp);
    free(envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (r != 0) {
        ATOLL_AUTOFREE char *msg = atoll_strdup_printf("cannot start the VMM '%s': %s",
                                                       s->vmm_path, strerror(r));
        ATOLL_ERR_ERRNO(err, ATOLL_E_INTERNAL_ERROR, r, msg);
        return -1;
    }
    log_info("VM %s: started atoll-vmm pid %d (%s MiB=%llu vcpus=%u)", s->uuid, (int)*pid,
             s->kernel, (unsigned long long)(s->memory >> 20), s->vcpus);
    return 0;
}

static int64_t now_ms(void)
{
    return (int64_t)(atoll_now_ns() / 1000000ULL);
}

int ts_vmm_client_read_line(int fd, char *line, size_t len, int timeout_ms)
{
    /* byte at a time: control lines are short and rare, and no read-ahead is lost */
    size_t n = 0;
    int64_t end = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    for (;;) {
        if (timeout_ms >= 0) {
            int64_t left = end - now_ms();
            if (left <= 0) {
                errno = ETIMEDOUT;
                return -1;
            }
            struct pollfd p = {.fd = fd, .events = POLLIN};
            int pr = poll(&p, 1, (int)left);
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr <= 0) {
                if (pr == 0)
                    errno = ETIMEDOUT;
                return -1;
            }
        }
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0) {
            if (n == 0)
                return 0;
            line[n] = '\0';
            return 1;
        }
        if (ch == '\n') {
            line[n] = '\0';
            return 1;
        }
        if (n + 1 < len)
            line[n++] = ch;
    }
}

static int still_there(pid_t pid)
{
    if (pid <= 0)
        return 1;
    siginfo_t si = {0};
    if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0)
        return si.si_pid == 0; /* our child: exited iff si_pid is set */
    return kill(pid, 0) == 0 || errno == EPERM;
}

int ts_vmm_client_alive(pid_t pid)
{
    return pid > 0 && still_there(pid);
}

int ts_vmm_client_connect(const char *path, const char *uuid, pid_t pid, int timeout_ms,
                          char *errbuf, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path)) {
        snprintf(errbuf, errlen, "control socket path '%s' is too long", path);
        return -1;
    }
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int64_t end = now_ms() + timeout_ms;
    unsigned tries = 0;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            snprintf(errbuf, errlen, "socket: %s", strerror(errno));
            return -1;
        }
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            char line[TS_VMM_LINE_MAX];
            int left = (int)(end - now_ms());
            int r = ts_vmm_client_read_line(fd, line, sizeof(line), left > 1000 ? left : 1000);
            if (r != 1) {
                snprintf(errbuf, errlen, "no greeting on '%s'", path);
                close(fd);
                return -1;
            }
            char want[128];
            snprintf(want, sizeof(want), "ATOLL-VMM 1 %s", uuid ? uuid : "");
            if (strncmp(line, "ATOLL-VMM 1 ", 12) != 0 ||
                (uuid && strcmp(line, want) != 0)) {
                snprintf(errbuf, errlen, "unexpected greeting '%.80s' on '%s'", line, path);
                close(fd);
                return -1;
            }
            return fd;
        }
        int e = errno;
        close(fd);
        if ((e != ENOENT && e != ECONNREFUSED) || now_ms() >= end || !still_there(pid)) {
            snprintf(errbuf, errlen, "cannot connect to '%s': %s", path,
                     !still_there(pid) ? "the VMM exited" : strerror(e));
            return -1;
        }
        /* the socket appears within milliseconds of the spawn: poll finely at first */
        struct timespec ts = {0, (tries++ < 500 ? 1 : 10) * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

int ts_vmm_client_command(const char *path, const char *uuid, const char *cmd, char *answer,
                          size_t len, int timeout_ms, char *errbuf, size_t errlen)
{
    ATOLL_AUTOCLOSE int fd = ts_vmm_client_connect(path, uuid, 0, timeout_ms, errbuf, errlen);
    if (fd < 0)
        return -1;
    char req[TS_VMM_LINE_MAX];
    int n = snprintf(req, sizeof(req), "%s\n", cmd);
    if (n <= 0 || (size_t)n >= sizeof(req) || atoll_write_all(fd, req, (size_t)n) < 0) {
        snprintf(errbuf, errlen, "cannot send '%s' to the VMM", cmd);
        return -1;
    }
    for (;;) {
        int r = ts_vmm_client_read_line(fd, answer, len, timeout_ms);
        if (r != 1) {
            snprintf(errbuf, errlen, "no answer from the VMM to '%s'", cmd);
            return -1;
        }
        if (strncmp(answer, "EVENT ", 6) == 0)
            continue;
        (void)atoll_write_all(fd, "quit\n", 5);
        if (strncmp(answer, "OK", 2) == 0)
            return 0;
        return 1;
    }
}

int ts_vmm_client_kv(const char *line, const char *key, char *out, size_t len)
{
    size_t kl = strlen(key);
    for (const char *p = line; *p; p++) {
        if (*p != ' ' || strncmp(p + 1, key, kl) != 0 || p[1 + kl] != '=')
            continue;
        const char *v = p + 2 + kl;
        size_t n = 0;
        if (*v == '"') {
            for (v++; *v && *v != '"'; v++) {
                if (*v == '\\' && v[1])
                    v++;
                if (n + 1 < len)
                    out[n++] = *v;
            }
        } else {
            for (; *v && *v != ' '; v++)
                if (n + 1 < len)
                    out[n++] = *v;
        }
        if (len)
            out[n] = '\0';
        return 1;
    }
    return 0;
}

void ts_vmm_client_startup_error(const char *dir, long off, char *out, size_t len)
{
    ATOLL_AUTOFREE char *vlog = atoll_strdup_printf("%s/vmm.log", dir);
    out[0] = '\0';
    FILE *f = fopen(vlog, "re");
    if (!f)
        return;
    if (off > 0)
        fseek(f, off, SEEK_SET);
    char line[512];
    int lines = 0;
    while (fgets(line, sizeof(line), f) && lines++ < 10000) {
        line[strcspn(line, "\r\n")] = '\0';
        if (strncmp(line, "atoll-vmm: ", 11) == 0 && !strstr(line, "note: "))
            snprintf(out, len, "%s", line + 11);
    }
    fclose(f);
}

int ts_vmm_client_has_command(const char *help_answer, const char *cmd)
{
    char list[TS_VMM_LINE_MAX];
    if (!ts_vmm_client_kv(help_answer, "commands", list, sizeof(list)))
        return 0;
    size_t cl = strlen(cmd);
    for (const char *p = list; *p;) {
        const char *e = strchr(p, ',');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == cl && strncmp(p, cmd, cl) == 0)
            return 1;
        p += l + (e ? 1 : 0);
    }
    return 0;
}

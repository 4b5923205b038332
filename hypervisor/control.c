/*
 * hypervisor/control.c - control protocol version 1 (see README.md). New
 * commands are rows in the table below; unknown commands get
 * "ERR UNKNOWN_COMMAND", so a newer atolld can probe an older VMM.
 * Threads: main loop. Trust: request lines are bounded to 1024 bytes.
 */
#define ATOLL_LOG_MODULE "control"
#include "control.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "sock.h"
#include "vcpu.h"
#include "virtio/vdevs.h" /* virtio: disk commands */
#include "hotplug.h"      /* issue 3: power button, vCPU hotplug, pinning */

void vmm_control_kv(char *out, size_t outlen, const char *key, const char *value)
{
    size_t n = strlen(out);
    int quote = *value == '\0';
    for (const char *p = value; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '\\' || *p == '=' || (unsigned char)*p < 0x20)
            quote = 1;
    if (n + 1 >= outlen)
        return;
    n += (size_t)snprintf(out + n, outlen - n, " %s=", key);
    if (n >= outlen)
        return;
    if (!quote) {
        snprintf(out + n, outlen - n, "%s", value);
        return;
    }
    char *o = out + n, *end = out + outlen - 1;
    if (o < end)
        *o++ = '"';
    for (const char *p = value; *p && o + 2 < end; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch == '"' || ch == '\\')
            *o++ = '\\';
        *o++ = ch < 0x20 ? ' ' : (char)ch;
    }
    if (o < end)
        *o++ = '"';
    *o = '\0';
}

static void kvu(char *out, size_t outlen, const char *key, unsigned long long v)
{
    char b[32];
    snprintf(b, sizeof(b), "%llu", v);
    vmm_control_kv(out, outlen, key, b);
}

typedef void (*cmd_fn)(struct vmm_control *c, char *arg, char *out, size_t outlen);

static void err(char *out, size_t outlen, const char *code, const char *msg)
{
    snprintf(out, outlen, "ERR %s %s", code, msg);
}

static void cmd_status(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    struct vmm_vm *vm = c->vm;
    snprintf(out, outlen, "OK");
    vmm_control_kv(out, outlen, "state", vmm_vm_state_name(vmm_vm_get_state(vm)));
    vmm_control_kv(out, outlen, "uuid", vm->uuid);
    vmm_control_kv(out, outlen, "name", vm->name);
    kvu(out, outlen, "vcpus", vm->nr_vcpus);
    kvu(out, outlen, "memory_bytes", vm->mem.size);
    kvu(out, outlen, "pid", (unsigned long long)getpid());
    kvu(out, outlen, "uptime_ms", (atoll_now_ns() - vm->start_ns) / 1000000ULL);
    vmm_control_kv(out, outlen, "boot", vm->boot.mode == VMM_BOOT_PVH32 ? "pvh" : "linux");
    vmm_control_kv(out, outlen, "backend", vm->pvm ? "pvm" : "kvm");
}

static void cmd_pause(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    char msg[128];
    if (vmm_vm_pause(c->vm, msg, sizeof(msg)) < 0)
        return err(out, outlen, "BAD_STATE", msg);
    snprintf(out, outlen, "OK state=paused");
}

static void cmd_resume(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    char msg[128];
    if (vmm_vm_resume(c->vm, msg, sizeof(msg)) < 0)
        return err(out, outlen, "BAD_STATE", msg);
    snprintf(out, outlen, "OK state=running");
}

static void cmd_destroy(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    vmm_vm_request_stop(c->vm, VMM_EXIT_DESTROYED, "destroyed through the control socket");
    snprintf(out, outlen, "OK state=stopping");
}

static void cmd_version(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    snprintf(out, outlen, "OK protocol=%d vmm=%s", VMM_CONTROL_PROTOCOL, VMM_VERSION);
}

static void cmd_help(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    snprintf(out, outlen, "OK commands=status,pause,resume,destroy,query,version,help,quit,"
             "shutdown,reboot,cpu-add,cpu-remove,vcpus,pin," /* issue 3 */
             "disks,disk,disk-stats,disk-poll,disk-resize,nics,nic,nic-stats,nic-link,"
             "balloon " /* balloon: */
             "queries=vcpus,memory,state,exit-reason,regs,balloon,vsock");
}

static void kvx(char *out, size_t outlen, const char *key, unsigned long long v)
{
    char b[32];
    snprintf(b, sizeof(b), "0x%llx", v);
    vmm_control_kv(out, outlen, key, b);
}

/* query regs N: a paused vCPU's registers (debugging a guest that does not boot) */
static void query_regs(struct vmm_control *c, const char *arg, char *out, size_t outlen)
{
    struct vmm_vm *vm = c->vm;
    uint64_t idx;
    while (*arg == ' ')
        arg++;
    if (atoll_parse_u64(arg, 10, &idx) < 0 || idx >= vm->nr_vcpus || !vm->vcpus)
        return err(out, outlen, "BAD_ARGUMENT", "query regs needs a vCPU index");
    if (vmm_vm_get_state(vm) != VMM_STATE_PAUSED)
        return err(out, outlen, "BAD_STATE", "query regs needs a paused vm");
    struct kvm_regs r;
    struct kvm_sregs sr;
    int e = vmm_vcpu_read_regs(&vm->vcpus[idx], &r, &sr);
    if (e < 0)
        return err(out, outlen, "INTERNAL", strerror(-e));
    const char *mode = !(sr.cr0 & 1)       ? "real"
                       : !(sr.efer & 0x400) ? "prot32"
                       : sr.cs.l            ? "long64"
                                            : "compat";
    snprintf(out, outlen, "OK");
    kvu(out, outlen, "vcpu", idx);
    vmm_control_kv(out, outlen, "mode", mode);
    kvx(out, outlen, "rip", r.rip);
    kvx(out, outlen, "rsp", r.rsp);
    kvx(out, outlen, "rflags", r.rflags);
    kvx(out, outlen, "cs", sr.cs.selector);
    kvu(out, outlen, "cpl", sr.ss.dpl);
    kvx(out, outlen, "cr0", sr.cr0);
    kvx(out, outlen, "cr3", sr.cr3);
    kvx(out, outlen, "cr4", sr.cr4);
    kvx(out, outlen, "efer", sr.efer);
    kvu(out, outlen, "exits", __atomic_load_n(&vm->vcpus[idx].exits, __ATOMIC_RELAXED));
}

static void cmd_query(struct vmm_control *c, char *arg, char *out, size_t outlen)
{
    struct vmm_vm *vm = c->vm;
    if (!arg || !*arg)
        return err(out, outlen, "BAD_ARGUMENT",
                   "query needs one of: vcpus memory state exit-reason regs");
    snprintf(out, outlen, "OK");
    if (strcmp(arg, "vcpus") == 0) {
        char tids[VMM_CONTROL_LINE_MAX] = "";
        size_t n = 0;
        for (unsigned i = 0; i < vm->nr_vcpus && n + 16 < sizeof(tids); i++)
            n += (size_t)snprintf(tids + n, sizeof(tids) - n, "%s%d", i ? "," : "",
                                  (int)__atomic_load_n(&vm->vcpus[i].tid, __ATOMIC_ACQUIRE));
        kvu(out, outlen, "count", vm->nr_vcpus);
        vmm_control_kv(out, outlen, "tids", tids);
        vmm_hotplug_query_vcpus(vm, out, outlen); /* issue 3: max online present affinity */
    } else if (strcmp(arg, "memory") == 0) {
        kvu(out, outlen, "bytes", vm->mem.size);
        kvu(out, outlen, "below_4g", vm->mem.low_size);
        kvu(out, outlen, "above_4g", vm->mem.high_size);
        kvu(out, outlen, "usable", vmm_mem_usable(&vm->mem));
    } else if (strcmp(arg, "state") == 0) {
        vmm_control_kv(out, outlen, "state", vmm_vm_state_name(vmm_vm_get_state(vm)));
    } else if (strcmp(arg, "exit-reason") == 0) {
        int status;
        char reason[160];
        if (vmm_vm_get_exit(vm, &status, reason, sizeof(reason))) {
            kvu(out, outlen, "status", (unsigned)status);
            vmm_control_kv(out, outlen, "reason", reason);
        } else {
            vmm_control_kv(out, outlen, "status", "none");
        }
    } else if (strcmp(arg, "balloon") == 0 || strcmp(arg, "vsock") == 0) { /* balloon: vsock: */
        vdevs_control(vm->vdevs, arg[0] == 'b' ? "query-balloon" : "query-vsock", NULL, out,
                      outlen);
    } else if (strncmp(arg, "regs", 4) == 0 && (arg[4] == ' ' || arg[4] == '\0')) {
        query_regs(c, arg + 4, out, outlen);
    } else {
        char m[160];
        snprintf(m, sizeof(m), "unknown query '%.40s': expected vcpus memory state exit-reason "
                 "regs", arg);
        err(out, outlen, "BAD_ARGUMENT", m);
    }
}

/* Who answers a command: a cmd_* function here, or another module given the command's name:
 * vdevs_control (hypervisor/virtio/vdevs.c: disks, NICs, balloon) or vmm_hotplug_control
 * (hypervisor/hotplug.c, issue 3). */
enum cmd_owner { OWN_HERE, OWN_VDEVS, OWN_HOTPLUG };

static const struct {
    const char *name;
    cmd_fn fn; /* OWN_HERE only */
    int takes_arg;
    enum cmd_owner owner;
} commands[] = {
    {"status", cmd_status, 0, OWN_HERE},
    {"pause", cmd_pause, 0, OWN_HERE},
    {"resume", cmd_resume, 0, OWN_HERE},
    {"destroy", cmd_destroy, 0, OWN_HERE},
    {"query", cmd_query, 1, OWN_HERE},
    {"version", cmd_version, 0, OWN_HERE},
    {"help", cmd_help, 0, OWN_HERE},
    /* virtio */
    {"disks", NULL, 0, OWN_VDEVS},
    {"disk", NULL, 1, OWN_VDEVS},
    {"disk-stats", NULL, 1, OWN_VDEVS},
    {"disk-poll", NULL, 1, OWN_VDEVS},
    {"disk-resize", NULL, 1, OWN_VDEVS},
    /* issue 3 */
    {"shutdown", NULL, 0, OWN_HOTPLUG},
    {"reboot", NULL, 0, OWN_HOTPLUG},
    {"cpu-add", NULL, 1, OWN_HOTPLUG},
    {"cpu-remove", NULL, 1, OWN_HOTPLUG},
    {"vcpus", NULL, 1, OWN_HOTPLUG},
    {"pin", NULL, 1, OWN_HOTPLUG},
    /* virtio-net (hypervisor/virtio/net.h) */
    {"nics", NULL, 0, OWN_VDEVS},
    {"nic", NULL, 1, OWN_VDEVS},
    {"nic-stats", NULL, 1, OWN_VDEVS},
    {"nic-link", NULL, 1, OWN_VDEVS},
    /* balloon: the guest's memory target (hypervisor/virtio/balloon.h) */
    {"balloon", NULL, 1, OWN_VDEVS},
};

void vmm_control_execute(struct vmm_control *c, const char *line, char *out, size_t outlen)
{
    char buf[VMM_CONTROL_LINE_MAX + 1];
    snprintf(buf, sizeof(buf), "%s", line);
    char *s = buf;
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    char *arg = strchr(s, ' ');
    if (arg) {
        *arg++ = '\0';
        while (*arg == ' ')
            arg++;
    }
    if (*s == '\0')
        return err(out, outlen, "BAD_ARGUMENT", "empty request");
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, s) != 0)
            continue;
        if (!commands[i].takes_arg && arg && *arg) {
            char m[128];
            snprintf(m, sizeof(m), "'%s' takes no argument", s);
            return err(out, outlen, "BAD_ARGUMENT", m);
        }
        if (commands[i].owner == OWN_VDEVS)
            vdevs_control(c->vm->vdevs, commands[i].name, arg, out, outlen);
        else if (commands[i].owner == OWN_HOTPLUG)
            vmm_hotplug_control(c->vm, commands[i].name, arg, out, outlen);
        else
            commands[i].fn(c, arg, out, outlen);
        return;
    }
    char m[160];
    snprintf(m, sizeof(m), "unknown command '%.40s' (try 'help')", s);
    err(out, outlen, "UNKNOWN_COMMAND", m);
}

int vmm_control_init(struct vmm_control *c, struct vmm_vm *vm, const char *path, char *errbuf,
                     size_t errlen)
{
    memset(c, 0, sizeof(*c));
    c->vm = vm;
    c->listen_fd = -1;
    for (int i = 0; i < VMM_CONTROL_CLIENTS; i++)
        c->clients[i].fd = -1;
    if (!path)
        return 0;
    c->listen_fd = vmm_sock_listen(path, errbuf, errlen);
    if (c->listen_fd < 0)
        return -1;
    c->path = atoll_strdup(path);
    return 0;
}

static void send_line(int fd, const char *line)
{
    char buf[VMM_CONTROL_LINE_MAX + 64];
    int n = snprintf(buf, sizeof(buf), "%s\n", line);
    if (n > (int)sizeof(buf) - 1)
        n = (int)sizeof(buf) - 1;
    /* answers are small; a client that does not read loses its connection */
    if (send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) != n)
        log_debug("control client too slow, answer dropped");
}

static void close_client(struct vmm_control_client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->len = 0;
    cl->discarding = 0;
}

void vmm_control_fini(struct vmm_control *c, int status, const char *reason)
{
    char ev[VMM_CONTROL_LINE_MAX];
    snprintf(ev, sizeof(ev), "EVENT exit");
    kvu(ev, sizeof(ev), "status", (unsigned)status);
    vmm_control_kv(ev, sizeof(ev), "reason", reason ? reason : "");
    for (int i = 0; i < VMM_CONTROL_CLIENTS; i++)
        if (c->clients[i].fd >= 0) {
            send_line(c->clients[i].fd, ev);
            close_client(&c->clients[i]);
        }
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    c->listen_fd = -1;
    if (c->path)
        unlink(c->path);
    free(c->path);
    c->path = NULL;
}

int vmm_control_poll_fds(struct vmm_control *c, struct pollfd *fds, int cap)
{
    int n = 0;
    if (c->listen_fd >= 0 && n < cap)
        fds[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
    for (int i = 0; i < VMM_CONTROL_CLIENTS && n < cap; i++)
        if (c->clients[i].fd >= 0)
            fds[n++] = (struct pollfd){.fd = c->clients[i].fd, .events = POLLIN};
    return n;
}

static void accept_client(struct vmm_control *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    for (int i = 0; i < VMM_CONTROL_CLIENTS; i++)
        if (c->clients[i].fd < 0) {
            c->clients[i].fd = fd;
            c->clients[i].len = 0;
            c->clients[i].discarding = 0;
            char greet[96];
            snprintf(greet, sizeof(greet), "ATOLL-VMM %d %s", VMM_CONTROL_PROTOCOL, c->vm->uuid);
            send_line(fd, greet);
            return;
        }
    send_line(fd, "ERR BUSY too many control clients (8)");
    close(fd);
}

void vmm_control_handle(struct vmm_control *c, int fd, short revents)
{
    if (fd == c->listen_fd) {
        accept_client(c);
        return;
    }
    struct vmm_control_client *cl = NULL;
    for (int i = 0; i < VMM_CONTROL_CLIENTS; i++)
        if (c->clients[i].fd == fd)
            cl = &c->clients[i];
    if (!cl)
        return;
    char tmp[512];
    ssize_t r = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close_client(cl);
        return;
    }
    for (ssize_t i = 0; i < r && cl->fd >= 0; i++) {
        char ch = tmp[i];
        if (ch != '\n') {
            if (cl->discarding)
                continue;
            if (cl->len >= VMM_CONTROL_LINE_MAX) {
                cl->discarding = 1;
                continue;
            }
            cl->buf[cl->len++] = ch == '\0' ? ' ' : ch;
            continue;
        }
        if (cl->discarding) {
            send_line(fd, "ERR LINE_TOO_LONG request longer than 1024 bytes");
            cl->discarding = 0;
            cl->len = 0;
            continue;
        }
        cl->buf[cl->len] = '\0';
        cl->len = 0;
        char out[VMM_CONTROL_LINE_MAX];
        if (strcmp(cl->buf, "quit") == 0 || strcmp(cl->buf, "quit\r") == 0) {
            send_line(fd, "OK bye");
            close_client(cl);
            return;
        }
        vmm_control_execute(c, cl->buf, out, sizeof(out));
        send_line(fd, out);
    }
}

/*
 * hypervisor/hotplug.c - power button, vCPU hotplug and pinning (see hotplug.h).
 * Hot-add: the vCPU is created (or an ejected one unparked and reset to its
 * wait-for-SIPI state), marked present with an insert event, then GPE 2 raises
 * the SCI; the guest's _E02 handler notifies it and the guest starts it with
 * INIT/SIPI. Hot-remove: a remove event and GPE 2; the guest offlines the CPU
 * and writes the eject bit, and only then is the vCPU thread parked. KVM cannot
 * destroy a vCPU, so parked vCPUs are reused at the next add (as QEMU does).
 * Threads: main (commands), vCPU threads (I/O, eject, park). Locks: vm->lock for
 * ejected/parked, hp->lock for the affinity tables, pm/cpuhp locks inside them.
 */
#define ATOLL_LOG_MODULE "hotplug"
#include "hotplug.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "affinity.h"
#include "atoll/log.h"
#include "atoll/util.h"
#include "acpi.h"
#include "control.h"
#include "vcpu.h"

static void set_sci(void *opaque, int level)
{
    struct vmm_vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = VMM_ACPI_SCI_IRQ, .level = (uint32_t)level};
    if (vm->vm_fd >= 0 && ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        log_debug("SCI line %d: %s", level, strerror(errno));
}

static void kick(struct vmm_vcpu *v)
{
    if (v->run)
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&v->thread_started, __ATOMIC_ACQUIRE))
        pthread_kill(v->thread, VMM_KICK_SIGNAL);
}

/* The guest wrote the eject bit for idx (on the vCPU thread that wrote it). */
static void on_eject(void *opaque, unsigned idx)
{
    struct vmm_vm *vm = opaque;
    if (idx >= __atomic_load_n(&vm->nr_vcpus, __ATOMIC_ACQUIRE))
        return;
    struct vmm_vcpu *v = &vm->vcpus[idx];
    pthread_mutex_lock(&vm->lock);
    v->ejected = 1;
    pthread_mutex_unlock(&vm->lock);
    kick(v);
    log_info("vCPU %u ejected by the guest: thread parked", idx);
}

int vmm_hotplug_init(struct vmm_vm *vm, const char *affinity_spec, char *errbuf, size_t errlen)
{
    struct vmm_hotplug *hp = atoll_calloc(1, sizeof(*hp));
    hp->vm = vm;
    hp->max_vcpus = vm->max_vcpus > vm->nr_vcpus ? vm->max_vcpus : vm->nr_vcpus;
    pthread_mutex_init(&hp->lock, NULL);
    vmm_pm_init(&hp->pm, set_sci, vm);
    vmm_cpuhp_init(&hp->cpuhp, hp->max_vcpus, vm->nr_vcpus, on_eject, vm);
    vm->hp = hp;
    if (sched_getaffinity(0, sizeof(hp->allowed), &hp->allowed) < 0) {
        CPU_ZERO(&hp->allowed);
        for (unsigned c = 0; c < CPU_SETSIZE; c++)
            CPU_SET(c, &hp->allowed);
    }
    if (affinity_spec) {
        if (vmm_affinity_parse_spec(affinity_spec, hp->max_vcpus, hp->affinity, hp->pinned,
                                    errbuf, errlen) < 0)
            return -1;
        for (unsigned i = 0; i < hp->max_vcpus; i++) {
            char sub[400];
            if (hp->pinned[i] && vmm_affinity_check(&hp->affinity[i], &hp->allowed, sub,
                                                    sizeof(sub)) < 0) {
                snprintf(errbuf, errlen, "vcpu-affinity: vCPU %u: %s", i, sub);
                return -1;
            }
        }
    }
    return 0;
}

void vmm_hotplug_fini(struct vmm_vm *vm)
{
    struct vmm_hotplug *hp = vm->hp;
    if (!hp)
        return;
    vm->hp = NULL;
    vmm_cpuhp_fini(&hp->cpuhp);
    vmm_pm_fini(&hp->pm);
    pthread_mutex_destroy(&hp->lock);
    free(hp);
}

int vmm_hotplug_pio(struct vmm_vm *vm, uint16_t port, int is_write, unsigned size,
                    uint8_t *data)
{
    struct vmm_hotplug *hp = vm->hp;
    if (!hp)
        return 0;
    return vmm_pm_pio(&hp->pm, port, is_write, size, data) ||
           vmm_cpuhp_pio(&hp->cpuhp, port, is_write, size, data);
}

int vmm_hotplug_s5_status(struct vmm_vm *vm)
{
    return vm->hp && vmm_pm_reboot_requested(&vm->hp->pm) ? VMM_EXIT_REBOOT : VMM_EXIT_POWEROFF;
}

void vmm_hotplug_vcpu_enter(struct vmm_vcpu *v)
{
    struct vmm_hotplug *hp = v->vm->hp;
    pthread_mutex_lock(&hp->lock);
    int pinned = hp->pinned[v->index];
    cpu_set_t set = hp->affinity[v->index];
    pthread_mutex_unlock(&hp->lock);
    int e = pinned ? vmm_affinity_apply(0, &set) : 0;
    if (e < 0)
        log_warn("vCPU %u: cannot apply its CPU affinity: %s", v->index, strerror(-e));
}

int vmm_hotplug_vcpu_park(struct vmm_vcpu *v)
{
    struct vmm_vm *vm = v->vm;
    pthread_mutex_lock(&vm->lock);
    while (v->ejected && !vm->stop_req) {
        vm->parked++;               /* a pause counts it as stopped */
        pthread_cond_broadcast(&vm->cond);
        pthread_cond_wait(&vm->cond, &vm->lock);
        vm->parked--;
    }
    int stop = vm->stop_req;
    pthread_mutex_unlock(&vm->lock);
    return stop;
}

static void err(char *out, size_t outlen, const char *code, const char *msg)
{
    snprintf(out, outlen, "ERR %s %s", code, msg);
}

static int need_running(struct vmm_vm *vm, char *out, size_t outlen)
{
    enum vmm_run_state s = vmm_vm_get_state(vm);
    if (s == VMM_STATE_RUNNING)
        return 0;
    char m[96];
    snprintf(m, sizeof(m), "vm is %s, not running", vmm_vm_state_name(s));
    err(out, outlen, "BAD_STATE", m);
    return -1;
}

static int parse_index(struct vmm_hotplug *hp, const char *what, const char *arg, unsigned *idx,
                       char *out, size_t outlen)
{
    uint64_t v;
    if (!arg || atoll_parse_u64(arg, 10, &v) < 0 || v >= hp->max_vcpus) {
        char m[160];
        snprintf(m, sizeof(m), "%s needs a vCPU index from 0 to %u (max-vcpus - 1), got '%.32s'",
                 what, hp->max_vcpus - 1, arg ? arg : "");
        err(out, outlen, "BAD_ARGUMENT", m);
        return -1;
    }
    *idx = (unsigned)v;
    return 0;
}

/* Makes vCPU idx exist and run (created, or unparked and reset); 0 or -1 with a message. */
static int vcpu_bring(struct vmm_vm *vm, unsigned idx, char *msg, size_t msglen)
{
    unsigned n = vm->nr_vcpus;
    /* slots are a prefix: create the ones below idx too, parked as ejected */
    for (unsigned i = n; i <= idx; i++) {
        if (vmm_vcpu_create_one(vm, i, msg, msglen) < 0)
            return -1;
        vm->vcpus[i].ejected = i != idx;
        if (vmm_vcpu_start_one(vm, i, msg, msglen) < 0)
            return -1;
        __atomic_store_n(&vm->nr_vcpus, i + 1, __ATOMIC_RELEASE);
    }
    if (idx >= n)
        return 0;
    struct vmm_vcpu *v = &vm->vcpus[idx];
    /* an ejected vCPU sat halted in the guest: back to wait-for-SIPI, like a new AP */
    struct kvm_mp_state mp = {.mp_state = KVM_MP_STATE_UNINITIALIZED};
    if (ioctl(v->fd, KVM_SET_MP_STATE, &mp) < 0)
        log_debug("vCPU %u: KVM_SET_MP_STATE: %s", idx, strerror(errno));
    pthread_mutex_lock(&vm->lock);
    v->ejected = 0;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

static int cpu_add(struct vmm_vm *vm, unsigned idx, char *msg, size_t msglen)
{
    struct vmm_hotplug *hp = vm->hp;
    if (vmm_cpuhp_flags(&hp->cpuhp, idx) & VMM_CPUHP_PRESENT) {
        snprintf(msg, msglen, "vCPU %u is already present", idx);
        return -1;
    }
    if (idx < vm->nr_vcpus && vmm_cpuhp_flags(&hp->cpuhp, idx) == 0) {
        pthread_mutex_lock(&vm->lock);
        int parked = vm->vcpus[idx].ejected;
        pthread_mutex_unlock(&vm->lock);
        if (!parked) {
            snprintf(msg, msglen, "vCPU %u is still being removed", idx);
            return -1;
        }
    }
    if (vcpu_bring(vm, idx, msg, msglen) < 0)
        return -1;
    vmm_cpuhp_insert(&hp->cpuhp, idx);
    vmm_pm_gpe(&hp->pm, VMM_GPE_CPU_HOTPLUG);
    log_info("vCPU %u hot-added", idx);
    return 0;
}

static int cpu_remove(struct vmm_vm *vm, unsigned idx, char *msg, size_t msglen)
{
    struct vmm_hotplug *hp = vm->hp;
    if (idx == 0) {
        snprintf(msg, msglen, "vCPU 0 (the boot CPU) cannot be removed");
        return -1;
    }
    if (vmm_cpuhp_request_remove(&hp->cpuhp, idx) < 0) {
        snprintf(msg, msglen, "vCPU %u is not present", idx);
        return -1;
    }
    vmm_pm_gpe(&hp->pm, VMM_GPE_CPU_HOTPLUG);
    log_info("vCPU %u: remove requested from the guest", idx);
    return 0;
}

static unsigned present_count(struct vmm_hotplug *hp)
{
    unsigned n = 0;
    for (unsigned i = 0; i < hp->max_vcpus; i++)
        n += (vmm_cpuhp_flags(&hp->cpuhp, i) & VMM_CPUHP_PRESENT) != 0;
    return n;
}

static void cmd_vcpus(struct vmm_vm *vm, const char *arg, char *out, size_t outlen)
{
    struct vmm_hotplug *hp = vm->hp;
    uint64_t want;
    char msg[200];
    if (!arg || atoll_parse_u64(arg, 10, &want) < 0 || want < 1 || want > hp->max_vcpus) {
        snprintf(msg, sizeof(msg), "vcpus needs a count from 1 to %u (max-vcpus), got '%.32s'",
                 hp->max_vcpus, arg ? arg : "");
        return err(out, outlen, "BAD_ARGUMENT", msg);
    }
    unsigned have = present_count(hp), added = 0, removing = 0;
    /* add the lowest absent indices, remove the highest present ones */
    for (unsigned i = 0; i < hp->max_vcpus && have + added < want; i++) {
        if (vmm_cpuhp_flags(&hp->cpuhp, i) & VMM_CPUHP_PRESENT)
            continue;
        if (cpu_add(vm, i, msg, sizeof(msg)) < 0)
            return err(out, outlen, "FAILED", msg);
        added++;
    }
    for (unsigned i = hp->max_vcpus; i-- > 1 && have - removing > want;) {
        uint8_t f = vmm_cpuhp_flags(&hp->cpuhp, i);
        if (!(f & VMM_CPUHP_PRESENT))
            continue;
        if (!(f & VMM_CPUHP_REMOVE) && cpu_remove(vm, i, msg, sizeof(msg)) < 0)
            return err(out, outlen, "FAILED", msg);
        removing++;
    }
    snprintf(out, outlen, "OK");
    char b[32];
    snprintf(b, sizeof(b), "%llu", (unsigned long long)want);
    vmm_control_kv(out, outlen, "vcpus", b);
    snprintf(b, sizeof(b), "%u", added);
    vmm_control_kv(out, outlen, "added", b);
    snprintf(b, sizeof(b), "%u", removing);
    vmm_control_kv(out, outlen, "removing", b);
}

static void cmd_pin(struct vmm_vm *vm, const char *arg, char *out, size_t outlen)
{
    struct vmm_hotplug *hp = vm->hp;
    char word[16], msg[400];
    const char *sp = arg ? strchr(arg, ' ') : NULL;
    if (!sp || (size_t)(sp - arg) >= sizeof(word))
        return err(out, outlen, "BAD_ARGUMENT", "usage: pin VCPU CPULIST (e.g. pin 1 0-3,8)");
    memcpy(word, arg, (size_t)(sp - arg));
    word[sp - arg] = '\0';
    unsigned idx;
    if (parse_index(hp, "pin", word, &idx, out, outlen) < 0)
        return;
    while (*sp == ' ')
        sp++;
    cpu_set_t set;
    if (vmm_affinity_parse_cpulist(sp, &set, msg, sizeof(msg)) < 0)
        return err(out, outlen, "BAD_ARGUMENT", msg);
    if (vmm_affinity_check(&set, &hp->allowed, msg, sizeof(msg)) < 0)
        return err(out, outlen, "BAD_ARGUMENT", msg);
    pthread_mutex_lock(&hp->lock);
    hp->affinity[idx] = set;
    hp->pinned[idx] = 1;
    pthread_mutex_unlock(&hp->lock);
    pid_t tid = idx < __atomic_load_n(&vm->nr_vcpus, __ATOMIC_ACQUIRE)
                    ? __atomic_load_n(&vm->vcpus[idx].tid, __ATOMIC_ACQUIRE) : 0;
    if (tid > 0) {
        int e = vmm_affinity_apply(tid, &set);
        if (e < 0) {
            snprintf(msg, sizeof(msg), "sched_setaffinity on vCPU %u (tid %d): %s", idx,
                     (int)tid, strerror(-e));
            return err(out, outlen, "FAILED", msg);
        }
    }
    char list[512], b[32];
    vmm_affinity_format(&set, list, sizeof(list));
    snprintf(out, outlen, "OK");
    snprintf(b, sizeof(b), "%u", idx);
    vmm_control_kv(out, outlen, "vcpu", b);
    vmm_control_kv(out, outlen, "cpus", list);
    snprintf(b, sizeof(b), "%d", (int)tid);
    vmm_control_kv(out, outlen, "tid", b);   /* 0: not created yet, applied when it is */
}

void vmm_hotplug_control(struct vmm_vm *vm, const char *cmd, const char *arg, char *out,
                         size_t outlen)
{
    struct vmm_hotplug *hp = vm->hp;
    char msg[200];
    if (!hp)
        return err(out, outlen, "BAD_STATE", "the machine is not built");
    if (strcmp(cmd, "pin") == 0)
        return cmd_pin(vm, arg, out, outlen);
    if (need_running(vm, out, outlen) < 0)
        return;
    if (strcmp(cmd, "shutdown") == 0 || strcmp(cmd, "reboot") == 0) {
        int reboot = cmd[0] == 'r';
        int seen = vmm_pm_power_button(&hp->pm, reboot);
        log_info("ACPI power button pressed (%s)%s", cmd,
                 seen ? "" : ": the guest has not enabled it yet");
        snprintf(out, outlen, "OK event=power-button enabled=%d", seen);
        return;
    }
    unsigned idx;
    if (strcmp(cmd, "cpu-add") == 0 || strcmp(cmd, "cpu-remove") == 0) {
        if (parse_index(hp, cmd, arg, &idx, out, outlen) < 0)
            return;
        int r = cmd[4] == 'a' ? cpu_add(vm, idx, msg, sizeof(msg))
                              : cpu_remove(vm, idx, msg, sizeof(msg));
        if (r < 0)
            return err(out, outlen, "FAILED", msg);
        snprintf(out, outlen, "OK vcpu=%u state=%s", idx, cmd[4] == 'a' ? "added" : "removing");
        return;
    }
    if (strcmp(cmd, "vcpus") == 0)
        return cmd_vcpus(vm, arg, out, outlen);
    err(out, outlen, "UNKNOWN_COMMAND", "unknown hotplug command");
}

void vmm_hotplug_query_vcpus(struct vmm_vm *vm, char *out, size_t outlen)
{
    struct vmm_hotplug *hp = vm->hp;
    if (!hp)
        return;
    cpu_set_t present, removing;
    CPU_ZERO(&present);
    CPU_ZERO(&removing);
    for (unsigned i = 0; i < hp->max_vcpus; i++) {
        uint8_t f = vmm_cpuhp_flags(&hp->cpuhp, i);
        if (f & VMM_CPUHP_PRESENT)
            CPU_SET(i, &present);
        if ((f & VMM_CPUHP_PRESENT) && (f & VMM_CPUHP_REMOVE))
            CPU_SET(i, &removing);
    }
    char b[1024];
    snprintf(b, sizeof(b), "%u", hp->max_vcpus);
    vmm_control_kv(out, outlen, "max", b);
    snprintf(b, sizeof(b), "%d", CPU_COUNT(&present));
    vmm_control_kv(out, outlen, "online", b);
    vmm_affinity_format(&present, b, sizeof(b));
    vmm_control_kv(out, outlen, "present", b);
    /* affinity="0:0-1 1:2": pinned vCPUs only */
    size_t n = 0;
    b[0] = '\0';
    pthread_mutex_lock(&hp->lock);
    for (unsigned i = 0; i < hp->max_vcpus && n + 64 < sizeof(b); i++) {
        if (!hp->pinned[i])
            continue;
        char list[256];
        vmm_affinity_format(&hp->affinity[i], list, sizeof(list));
        int w = snprintf(b + n, sizeof(b) - n, "%s%u:%s", n ? " " : "", i, list);
        if (w < 0 || (size_t)w >= sizeof(b) - n)
            break;
        n += (size_t)w;
    }
    pthread_mutex_unlock(&hp->lock);
    vmm_control_kv(out, outlen, "affinity", b);
    vmm_affinity_format(&removing, b, sizeof(b));
    vmm_control_kv(out, outlen, "removing", b); /* remove requested, guest not acted yet */
}

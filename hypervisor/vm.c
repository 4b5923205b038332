/*
 * hypervisor/vm.c - the VM run-state machine: stop requests (first wins),
 * pause/resume by parking vCPU threads, and kicking vCPUs out of KVM_RUN with
 * SIGUSR1 plus kvm_run.immediate_exit (no lost wake-up between the check and
 * the ioctl). Threads: any caller; vm->lock guards the state fields.
 */
#include "vm.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

const char *vmm_vm_state_name(enum vmm_run_state s)
{
    switch (s) {
    case VMM_STATE_STARTING: return "starting";
    case VMM_STATE_RUNNING: return "running";
    case VMM_STATE_PAUSED: return "paused";
    case VMM_STATE_STOPPING: return "stopping";
    }
    return "unknown";
}

void vmm_vm_init(struct vmm_vm *vm, const struct vmm_config *cfg)
{
    memset(vm, 0, sizeof(*vm));
    vm->cfg = cfg;
    vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
    vm->mem.fd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&vm->cond, &ca);
    pthread_condattr_destroy(&ca);
    vm->state = VMM_STATE_STARTING;
    vm->exit_status = -1;
}

void vmm_vm_kick_all(struct vmm_vm *vm)
{
    if (!vm->vcpus)
        return;
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        if (v->run)
            __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
        /* pthread_t is written by pthread_create before the flag is released */
        if (__atomic_load_n(&v->thread_started, __ATOMIC_ACQUIRE))
            pthread_kill(v->thread, SIGUSR1);
    }
}

void vmm_vm_request_stop(struct vmm_vm *vm, int status, const char *fmt, ...)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->stop_req) {
        vm->stop_req = 1;
        vm->exit_status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(vm->exit_reason, sizeof(vm->exit_reason), fmt, ap);
        va_end(ap);
        vm->state = VMM_STATE_STOPPING;
    }
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    vmm_vm_kick_all(vm);
    if (vm->stop_efd >= 0) {
        uint64_t one = 1;
        ssize_t r = write(vm->stop_efd, &one, sizeof(one));
        (void)r;
    }
}

int vmm_vm_vcpu_checkpoint(struct vmm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    while (vm->pause_req && !vm->stop_req) {
        vm->parked++;
        pthread_cond_broadcast(&vm->cond);
        pthread_cond_wait(&vm->cond, &vm->lock);
        vm->parked--;
    }
    int stop = vm->stop_req;
    pthread_mutex_unlock(&vm->lock);
    return stop;
}

int vmm_vm_pause(struct vmm_vm *vm, char *errbuf, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VMM_STATE_RUNNING) {
        snprintf(errbuf, errlen, "vm is %s, not running", vmm_vm_state_name(vm->state));
        pthread_mutex_unlock(&vm->lock);
        return -1;
    }
    vm->pause_req = 1;
    pthread_mutex_unlock(&vm->lock);
    vmm_vm_kick_all(vm);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&vm->lock);
    int r = 0;
    while (vm->parked < vm->nr_vcpus && !vm->stop_req && r != ETIMEDOUT)
        r = pthread_cond_timedwait(&vm->cond, &vm->lock, &deadline);
    int ok = vm->parked == vm->nr_vcpus && !vm->stop_req;
    if (ok) {
        vm->state = VMM_STATE_PAUSED;
    } else {
        vm->pause_req = 0;
        pthread_cond_broadcast(&vm->cond);
        snprintf(errbuf, errlen, vm->stop_req ? "vm is stopping"
                                              : "vCPUs did not stop within 5 seconds");
    }
    pthread_mutex_unlock(&vm->lock);
    return ok ? 0 : -1;
}

int vmm_vm_resume(struct vmm_vm *vm, char *errbuf, size_t errlen)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->state != VMM_STATE_PAUSED) {
        snprintf(errbuf, errlen, "vm is %s, not paused", vmm_vm_state_name(vm->state));
        pthread_mutex_unlock(&vm->lock);
        return -1;
    }
    vm->pause_req = 0;
    vm->state = VMM_STATE_RUNNING;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    return 0;
}

enum vmm_run_state vmm_vm_get_state(struct vmm_vm *vm)
{
    pthread_mutex_lock(&vm->lock);
    enum vmm_run_state s = vm->state;
    pthread_mutex_unlock(&vm->lock);
    return s;
}

int vmm_vm_get_exit(struct vmm_vm *vm, int *status, char *reason, size_t len)
{
    pthread_mutex_lock(&vm->lock);
    int set = vm->stop_req;
    *status = vm->exit_status;
    snprintf(reason, len, "%s", vm->exit_reason);
    pthread_mutex_unlock(&vm->lock);
    return set;
}

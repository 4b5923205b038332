/*
 * tests/unit/hypervisor/test_vm.c - the run-state machine with real threads standing in for
 * vCPUs (they call the same checkpoint a vCPU thread calls before each KVM_RUN): pause parks
 * them all, resume releases them, the first stop request wins and ends them. No KVM.
 */
#include <stdlib.h>
#include <unistd.h>

#include "tap.h"
#include "../../../hypervisor/vm.h"

#define N 4
static struct vmm_vm vm;
static volatile unsigned long counter[N];

static void *fake_vcpu(void *arg)
{
    unsigned i = (unsigned)(uintptr_t)arg;
    while (!vmm_vm_vcpu_checkpoint(&vm)) {
        __atomic_add_fetch(&counter[i], 1, __ATOMIC_RELAXED);
        usleep(200);
    }
    return NULL;
}

static unsigned long total(void)
{
    unsigned long s = 0;
    for (int i = 0; i < N; i++)
        s += __atomic_load_n(&counter[i], __ATOMIC_RELAXED);
    return s;
}

int main(void)
{
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    vmm_vm_init(&vm, &cfg);
    static struct vmm_vcpu vcpus[N];
    vm.vcpus = vcpus;               /* thread_started = 0: kicks send no signal here */
    vm.nr_vcpus = N;
    vm.state = VMM_STATE_RUNNING;
    pthread_t th[N];
    for (uintptr_t i = 0; i < N; i++)
        pthread_create(&th[i], NULL, fake_vcpu, (void *)i);
    for (int w = 0; w < 10000 && total() < 40; w++)   /* bounded: 10 s at most */
        usleep(1000);
    ok(total() >= 40, "fake vCPUs running");

    char err[128];
    is_int(vmm_vm_pause(&vm, err, sizeof(err)), 0, "pause returns once all are parked");
    is_int(vm.parked, N, "all %d parked", N);
    is_int(vmm_vm_get_state(&vm), VMM_STATE_PAUSED, "state paused");
    unsigned long t0 = total();
    usleep(20000);
    is_int(total(), t0, "no progress while paused");
    is_int(vmm_vm_pause(&vm, err, sizeof(err)), -1, "second pause refused");
    is_str(err, "vm is paused, not running", "error text");

    is_int(vmm_vm_resume(&vm, err, sizeof(err)), 0, "resume");
    for (int w = 0; w < 10000 && total() < t0 + 40; w++)
        usleep(1000);
    ok(total() >= t0 + 40, "progress after resume");
    is_int(vmm_vm_resume(&vm, err, sizeof(err)), -1, "resume while running refused");

    for (int round = 0; round < 50; round++) {
        if (vmm_vm_pause(&vm, err, sizeof(err)) < 0 || vmm_vm_resume(&vm, err, sizeof(err)) < 0)
            break;
        if (round == 49)
            ok(1, "50 pause/resume cycles");
    }

    vmm_vm_pause(&vm, err, sizeof(err));
    vmm_vm_request_stop(&vm, VMM_EXIT_REBOOT, "guest rebooted (%s)", "test");
    vmm_vm_request_stop(&vm, VMM_EXIT_POWEROFF, "too late");
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    ok(1, "a stop request ends paused vCPU threads");
    int st;
    char reason[160];
    is_int(vmm_vm_get_exit(&vm, &st, reason, sizeof(reason)), 1, "stop recorded");
    is_int(st, VMM_EXIT_REBOOT, "first request wins: status 3");
    is_str(reason, "guest rebooted (test)", "its reason");
    is_int(vmm_vm_get_state(&vm), VMM_STATE_STOPPING, "state stopping");
    is_int(vmm_vm_resume(&vm, err, sizeof(err)), -1, "no resume while stopping");
    return tap_done();
}

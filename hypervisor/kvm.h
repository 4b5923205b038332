/*
 * hypervisor/kvm.h - the host side of KVM: opening and checking /dev/kvm,
 * detecting the PVM backend, creating the VM with its in-kernel irqchip and
 * PIT, registering guest RAM, reading supported CPUID and the TSC frequency.
 * Threads: main, during setup. Trust: the kernel.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <pthread.h>
#include <stddef.h>

#include "vm.h"

/* 1 if /sys/module/kvm_pvm exists (KVM without VT-x/AMD-V: CPL 0 is emulated). */
int vmm_kvm_is_pvm(void);
/*
 * Opens dev (normally /dev/kvm), checks the API version and the capabilities the
 * VMM needs, creates the VM, irqchip and PIT; fills vm->kvm_fd, vm_fd, run_size,
 * tsc_khz, cpuid. 0, or -1 with a one-line message. Guest RAM is registered apart.
 */
int vmm_kvm_create_vm(struct vmm_vm *vm, const char *dev, char *errbuf, size_t errlen);

/*
 * Registers vm->mem with KVM (slot 0 below the hole, slot 1 from 4 GiB) on a helper
 * thread: each KVM_SET_USER_MEMORY_REGION waits for an SRCU grace period (milliseconds),
 * which overlaps with loading the image and creating vCPUs. _wait joins it; it must
 * return 0 before any vCPU runs. The job struct stays owned by the caller.
 */
struct vmm_kvm_ram_job {
    struct vmm_vm *vm;
    pthread_t thread;
    int started;
    int err;    /* errno of a refused slot, 0 if none */
};
void vmm_kvm_map_ram_start(struct vmm_kvm_ram_job *job, struct vmm_vm *vm);
int vmm_kvm_map_ram_wait(struct vmm_kvm_ram_job *job, char *errbuf, size_t errlen);
/* Largest vCPU count KVM accepts for a VM (KVM_CAP_MAX_VCPUS), at least 1. */
unsigned vmm_kvm_max_vcpus(int kvm_fd);
/* Memory the host can give a new guest now: MemAvailable + SwapFree, in bytes (0 if unknown). */
unsigned long long vmm_kvm_host_available(void);

#endif

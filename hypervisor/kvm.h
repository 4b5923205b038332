/*
 * hypervisor/kvm.h - the host side of KVM: opening and checking /dev/kvm,
 * detecting the PVM backend, creating the VM with its in-kernel irqchip and
 * PIT, registering guest RAM, reading supported CPUID and the TSC frequency.
 * Threads: main, during setup. Trust: the kernel.
 */
#ifndef VMM_KVM_H
#define VMM_KVM_H

#include <stddef.h>

#include "vm.h"

/* 1 if /sys/module/kvm_pvm exists (KVM without VT-x/AMD-V: CPL 0 is emulated). */
int vmm_kvm_is_pvm(void);
/*
 * Opens dev (normally /dev/kvm), checks the API version and the capabilities the
 * VMM needs, creates the VM, irqchip, PIT and memory slots for vm->mem; fills
 * vm->kvm_fd, vm_fd, run_size, tsc_khz, cpuid. 0, or -1 with a one-line message.
 */
int vmm_kvm_create_vm(struct vmm_vm *vm, const char *dev, char *errbuf, size_t errlen);
/* Largest vCPU count KVM accepts for a VM (KVM_CAP_MAX_VCPUS), at least 1. */
unsigned vmm_kvm_max_vcpus(int kvm_fd);
/* Memory the host can give a new guest now: MemAvailable + SwapFree, in bytes (0 if unknown). */
unsigned long long vmm_kvm_host_available(void);

#endif

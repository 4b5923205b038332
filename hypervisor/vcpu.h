/*
 * hypervisor/vcpu.h - vCPUs: creation with their CPUID, MSRs and LAPIC LINT
 * set-up, the boot register state of the BSP for each boot protocol, and the
 * thread that runs KVM_RUN and dispatches exits. APs wait in KVM's
 * uninitialised state for INIT/SIPI from the guest (in-kernel LAPIC).
 * Threads: one thread per vCPU; setup on main.
 */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <stddef.h>

#include "vm.h"

/* Allocates vm->max_vcpus slots, creates vm->nr_vcpus vCPUs and sets them up for vm->boot. 0, or -1 with a message. */
int vmm_vcpu_create_all(struct vmm_vm *vm, char *errbuf, size_t errlen);
/* Starts one thread per vCPU (signals blocked except the kick). 0 or -1. */
int vmm_vcpu_start_all(struct vmm_vm *vm, char *errbuf, size_t errlen);
/*
 * issue 3 (hot-add): creates vCPU i (fd, kvm_run, CPUID, MSRs, LAPIC) in its vm->vcpus slot,
 * and starts its thread. 0, or -1 with a message. Main thread.
 */
int vmm_vcpu_create_one(struct vmm_vm *vm, unsigned i, char *errbuf, size_t errlen);
int vmm_vcpu_start_one(struct vmm_vm *vm, unsigned i, char *errbuf, size_t errlen);
/* Joins all started threads, unmaps kvm_run areas and closes vCPU fds. */
void vmm_vcpu_destroy_all(struct vmm_vm *vm);
/*
 * Handles one exit in run (the hot path): returns 0 to continue, or 1 when the
 * VM must stop (a stop request has been made). Unit tests feed synthetic exits.
 */
int vmm_vcpu_handle_exit(struct vmm_vm *vm, struct vmm_vcpu *v, struct kvm_run *run);
/*
 * Reads a vCPU's registers (control queries, debugging). Only while the VM is paused (the
 * vCPU thread is parked, not in KVM_RUN). 0, or -errno.
 */
int vmm_vcpu_read_regs(struct vmm_vcpu *v, struct kvm_regs *regs, struct kvm_sregs *sregs);
/* The signal used to kick vCPUs out of KVM_RUN. */
#define VMM_KICK_SIGNAL SIGUSR1

#endif

/*
 * hypervisor/cpuid.h - the CPUID table each vCPU sees: KVM's supported set,
 * filtered per vCPU (APIC id, topology, hypervisor bit, no PMU) and with the
 * KVM paravirt leaves including 0x40000010 (TSC and APIC bus frequency).
 * Pure functions over struct kvm_cpuid_entry2 arrays: unit-tested without KVM.
 */
#ifndef VMM_CPUID_H
#define VMM_CPUID_H

#include <linux/kvm.h>
#include <stdint.h>

#define VMM_CPUID_MAX_ENTRIES 256

struct vmm_cpuid_params {
    unsigned vcpu_index;   /* becomes the APIC id */
    unsigned nr_vcpus;     /* all in one package, one thread per core */
    uint32_t tsc_khz;      /* 0: leaf 0x40000010 is not offered */
    int tsc_deadline;      /* KVM_CAP_TSC_DEADLINE_TIMER */
};

/*
 * Rewrites in[0..n) into out (capacity cap) for one vCPU. Returns the new entry
 * count (leaves may be added), or -1 if cap is too small.
 */
int vmm_cpuid_filter(const struct kvm_cpuid_entry2 *in, int n, const struct vmm_cpuid_params *p,
                     struct kvm_cpuid_entry2 *out, int cap);
/* Finds function/index in a table, or NULL. */
const struct kvm_cpuid_entry2 *vmm_cpuid_find(const struct kvm_cpuid_entry2 *e, int n,
                                              uint32_t function, uint32_t index);

#endif

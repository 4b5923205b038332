/*
 * hypervisor/cpuid.c - per-vCPU CPUID filtering. Starts from what KVM supports
 * (KVM_GET_SUPPORTED_CPUID) and states the topology the VMM builds: one
 * package, nr_vcpus cores, one thread each, APIC id = vCPU index.
 * Threads: any (pure). Trust: input comes from the kernel.
 */
#include "cpuid.h"

#include <string.h>

#define KVM_CPUID_SIGNATURE 0x40000000u
#define KVM_CPUID_TIMING    0x40000010u

static unsigned order_of(unsigned n)
{
    unsigned s = 0;
    while ((1u << s) < n)
        s++;
    return s;
}

const struct kvm_cpuid_entry2 *vmm_cpuid_find(const struct kvm_cpuid_entry2 *e, int n,
                                              uint32_t function, uint32_t index)
{
    for (int i = 0; i < n; i++)
        if (e[i].function == function &&
            (!(e[i].flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) || e[i].index == index))
            return &e[i];
    return NULL;
}

static int push(struct kvm_cpuid_entry2 *out, int *n, int cap, const struct kvm_cpuid_entry2 *e)
{
    if (*n >= cap)
        return -1;
    out[(*n)++] = *e;
    return 0;
}

int vmm_cpuid_filter(const struct kvm_cpuid_entry2 *in, int n, const struct vmm_cpuid_params *p,
                     struct kvm_cpuid_entry2 *out, int cap)
{
    int m = 0;
    unsigned id = p->vcpu_index, nr = p->nr_vcpus ? p->nr_vcpus : 1;
    unsigned core_shift = order_of(nr);
    int have_timing = 0;

    for (int i = 0; i < n; i++) {
        struct kvm_cpuid_entry2 e = in[i];
        switch (e.function) {
        case 1:
            e.ebx = (e.ebx & 0x0000ffffu) | ((nr > 255 ? 255 : nr) << 16) | (id << 24);
            e.ecx |= 1u << 31;                       /* running on a hypervisor */
            if (p->tsc_deadline)
                e.ecx |= 1u << 24;                   /* emulated by KVM's LAPIC */
            else
                e.ecx &= ~(1u << 24);
            if (nr > 1)
                e.edx |= 1u << 28;                   /* HTT: EBX[23:16] is valid */
            break;
        case 4: {
            /* deterministic cache parameters: cores per package, caches per core */
            unsigned level = (e.eax >> 5) & 7;
            e.eax &= 0x3ffu;
            e.eax |= ((nr - 1) & 0x3f) << 26;
            if (level == 3)
                e.eax |= ((nr - 1) & 0xfff) << 14;  /* L3 shared by the package */
            break;
        }
        case 6:
            e.ecx &= ~(1u << 3);                     /* no energy perf bias MSR */
            break;
        case 0xa:
            e.eax = e.ebx = e.ecx = e.edx = 0;       /* no virtual PMU */
            break;
        case 0xb:
        case 0x1f:
            /* x2APIC topology: SMT level of 1 thread, then a core level of nr cores */
            if (e.index == 0) {
                e.eax = 0;
                e.ebx = 1;
                e.ecx = (1u << 8) | 0;
            } else if (e.index == 1) {
                e.eax = core_shift;
                e.ebx = nr;
                e.ecx = (2u << 8) | 1;
            } else {
                e.eax = e.ebx = 0;
                e.ecx = e.index;
            }
            e.edx = id;
            break;
        case KVM_CPUID_SIGNATURE:
            e.eax = KVM_CPUID_TIMING;
            memcpy(&e.ebx, "KVMK", 4);
            memcpy(&e.ecx, "VMKV", 4);
            memcpy(&e.edx, "M\0\0\0", 4);
            break;
        case KVM_CPUID_TIMING:
            have_timing = 1;
            e.eax = p->tsc_khz;
            e.ebx = 1000000;                         /* KVM's LAPIC timer runs at 1 GHz */
            break;
        default:
            break;
        }
        if (e.function == 0x80000008u) {
            /* AMD core count: NC = nr - 1, ApicIdCoreIdSize */
            e.ecx = (e.ecx & ~0xf0ffu) | ((nr - 1) & 0xff) | (core_shift << 12);
        }
        if (push(out, &m, cap, &e) < 0)
            return -1;
    }
    if (!have_timing && p->tsc_khz) {
        struct kvm_cpuid_entry2 e = {.function = KVM_CPUID_TIMING, .eax = p->tsc_khz,
                                     .ebx = 1000000};
        if (push(out, &m, cap, &e) < 0)
            return -1;
    }
    if (!vmm_cpuid_find(out, m, KVM_CPUID_SIGNATURE, 0)) {
        struct kvm_cpuid_entry2 e = {.function = KVM_CPUID_SIGNATURE};
        e.eax = p->tsc_khz ? KVM_CPUID_TIMING : 0x40000001u;
        memcpy(&e.ebx, "KVMK", 4);
        memcpy(&e.ecx, "VMKV", 4);
        memcpy(&e.edx, "M\0\0\0", 4);
        if (push(out, &m, cap, &e) < 0)
            return -1;
    } else if (!p->tsc_khz) {
        for (int i = 0; i < m; i++)
            if (out[i].function == KVM_CPUID_SIGNATURE && out[i].eax == KVM_CPUID_TIMING)
                out[i].eax = 0x40000001u;
    }
    return m;
}

/* tests/unit/hypervisor/test_cpuid.c - per-vCPU CPUID filtering over a synthetic KVM table. */
#include "cpuid.h"
#include "tap.h"

int main(void)
{
    struct kvm_cpuid_entry2 in[] = {
        {.function = 0, .eax = 0x1f},
        {.function = 1, .eax = 0x906ea, .ebx = 0x00010800, .ecx = 0x7ffafbff, .edx = 0x0fabfbff},
        {.function = 4, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x121},
        {.function = 4, .index = 3, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0x163},
        {.function = 0xa, .eax = 0x07300404, .ebx = 0, .edx = 0x603},
        {.function = 0xb, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX},
        {.function = 0xb, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX},
        {.function = 0xb, .index = 2, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX},
        {.function = 0x40000000, .eax = 0x40000001},
        {.function = 0x40000001, .eax = 0x01007afb},
        {.function = 0x80000008, .eax = 0x3027, .ecx = 0},
    };
    int n = (int)(sizeof(in) / sizeof(in[0]));
    struct kvm_cpuid_entry2 out[32];
    struct vmm_cpuid_params p = {.vcpu_index = 5, .nr_vcpus = 6, .tsc_khz = 2400000,
                                 .tsc_deadline = 1};
    int m = vmm_cpuid_filter(in, n, &p, out, 32);
    is_int(m, n + 1, "one leaf added (0x40000010)");

    const struct kvm_cpuid_entry2 *e = vmm_cpuid_find(out, m, 1, 0);
    is_int(e->ebx >> 24, 5, "leaf 1: initial APIC id = vCPU index");
    is_int((e->ebx >> 16) & 0xff, 6, "leaf 1: logical processor count");
    is_int(e->ebx & 0xffff, 0x0800, "leaf 1: low EBX bits kept");
    ok(e->ecx & (1u << 31), "leaf 1: hypervisor bit");
    ok(e->ecx & (1u << 24), "leaf 1: TSC deadline when KVM has it");
    ok(e->edx & (1u << 28), "leaf 1: HTT with several vCPUs");

    e = vmm_cpuid_find(out, m, 4, 3);
    is_int(e->eax >> 26, 5, "leaf 4: cores per package - 1");
    is_int((e->eax >> 14) & 0xfff, 5, "leaf 4: L3 shared by all");
    e = vmm_cpuid_find(out, m, 0xa, 0);
    ok(e->eax == 0 && e->edx == 0, "leaf 0xa: no PMU");
    e = vmm_cpuid_find(out, m, 0xb, 0);
    ok(e->ebx == 1 && ((e->ecx >> 8) & 0xff) == 1 && e->edx == 5, "leaf 0xb.0: SMT level");
    e = vmm_cpuid_find(out, m, 0xb, 1);
    ok(e->eax == 3 && e->ebx == 6 && ((e->ecx >> 8) & 0xff) == 2 && e->edx == 5,
       "leaf 0xb.1: core level, shift 3 for 6 cores");
    e = vmm_cpuid_find(out, m, 0xb, 2);
    ok(e->ebx == 0 && ((e->ecx >> 8) & 0xff) == 0, "leaf 0xb.2: invalid level ends the list");
    e = vmm_cpuid_find(out, m, 0x40000000, 0);
    is_int(e->eax, 0x40000010, "KVM signature leaf reaches 0x40000010");
    ok(memcmp(&e->ebx, "KVMK", 4) == 0 && memcmp(&e->ecx, "VMKV", 4) == 0, "KVMKVMKVM signature");
    e = vmm_cpuid_find(out, m, 0x40000010, 0);
    ok(e && e->eax == 2400000, "leaf 0x40000010: TSC kHz");
    ok(e && e->ebx == 1000000, "leaf 0x40000010: APIC bus kHz");
    e = vmm_cpuid_find(out, m, 0x80000008, 0);
    is_int(e->ecx & 0xff, 5, "0x80000008: NC = cores - 1");

    p = (struct vmm_cpuid_params){.vcpu_index = 0, .nr_vcpus = 1};
    m = vmm_cpuid_filter(in, n, &p, out, 32);
    is_int(m, n, "no TSC frequency: nothing added");
    e = vmm_cpuid_find(out, m, 1, 0);
    ok(!(e->edx & (1u << 28)) || (in[1].edx & (1u << 28)), "1 vCPU: HTT as KVM gave it");
    ok(!(e->ecx & (1u << 24)), "no TSC deadline when KVM lacks it");
    e = vmm_cpuid_find(out, m, 0x40000000, 0);
    is_int(e->eax, 0x40000001, "without TSC kHz, KVM leaves stop at 0x40000001");
    is_int(vmm_cpuid_filter(in, n, &p, out, 3), -1, "too small output refused");
    return tap_done();
}

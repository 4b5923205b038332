/*
 * hypervisor/kvm.c - /dev/kvm checks and VM creation. Each failure names the
 * step and the errno so "no /dev/kvm", "not a KVM device" and "KVM refused"
 * read differently. Threads: main, setup only.
 */
#define ATOLL_LOG_MODULE "kvm"
#include "kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "cpuid.h"

int vmm_kvm_is_pvm(void)
{
    return access("/sys/module/kvm_pvm", F_OK) == 0;
}

unsigned vmm_kvm_max_vcpus(int kvm_fd)
{
    int n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (n <= 0)
        n = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    return n > 0 ? (unsigned)n : 1;
}

unsigned long long vmm_kvm_host_available(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    if (!f)
        return 0;
    char line[256];
    unsigned long long avail = 0, swap = 0, v;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "MemAvailable: %llu kB", &v) == 1)
            avail = v;
        else if (sscanf(line, "SwapFree: %llu kB", &v) == 1)
            swap = v;
    }
    fclose(f);
    return (avail + swap) * 1024ULL;
}

static int set_slot(struct vmm_vm *vm, unsigned slot, uint64_t gpa, uint64_t size, void *hva)
{
    struct kvm_userspace_memory_region r = {
        .slot = slot, .guest_phys_addr = gpa, .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)hva,
    };
    return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
}

static void *map_ram_thread(void *arg)
{
    struct vmm_kvm_ram_job *job = arg;
    struct vmm_vm *vm = job->vm;
    job->err = 0;
    if (set_slot(vm, 0, 0, vm->mem.low_size, vm->mem.host) < 0 ||
        (vm->mem.high_size && set_slot(vm, 1, VMM_HIGH_RAM_START, vm->mem.high_size,
                                       vm->mem.host + vm->mem.low_size) < 0))
        job->err = errno;
    return NULL;
}

void vmm_kvm_map_ram_start(struct vmm_kvm_ram_job *job, struct vmm_vm *vm)
{
    job->vm = vm;
    job->err = 0;
    job->started = pthread_create(&job->thread, NULL, map_ram_thread, job) == 0;
    if (!job->started)
        map_ram_thread(job);    /* no thread: do it here */
}

int vmm_kvm_map_ram_wait(struct vmm_kvm_ram_job *job, char *errbuf, size_t errlen)
{
    if (job->started) {
        pthread_join(job->thread, NULL);
        job->started = 0;
    }
    if (job->err) {
        snprintf(errbuf, errlen, "KVM refused guest RAM of %llu MiB: %s",
                 (unsigned long long)(job->vm->mem.size >> 20), strerror(job->err));
        return -1;
    }
    return 0;
}

int vmm_kvm_create_vm(struct vmm_vm *vm, const char *dev, char *errbuf, size_t errlen)
{
    vm->kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
    if (vm->kvm_fd < 0) {
        snprintf(errbuf, errlen, "cannot open KVM device '%s': %s%s", dev, strerror(errno),
                 errno == ENOENT ? " (is the kvm module loaded?)" : "");
        return -1;
    }
    int api = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
    if (api != KVM_API_VERSION) {
        snprintf(errbuf, errlen, "'%s' is not a usable KVM device (KVM_GET_API_VERSION: %s)",
                 dev, api < 0 ? strerror(errno) : "unexpected version");
        return -1;
    }
    static const struct { int cap; const char *name; } need[] = {
        {KVM_CAP_IRQCHIP, "IRQCHIP"},
        {KVM_CAP_PIT2, "PIT2"},
        {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
        {KVM_CAP_EXT_CPUID, "EXT_CPUID"},
        {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
    };
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(need); i++)
        if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, need[i].cap) <= 0) {
            snprintf(errbuf, errlen, "KVM on this host lacks KVM_CAP_%s, which atoll-vmm needs",
                     need[i].name);
            return -1;
        }
    int rs = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (rs <= 0) {
        snprintf(errbuf, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
        return -1;
    }
    vm->run_size = (size_t)rs;

    unsigned maxv = vmm_kvm_max_vcpus(vm->kvm_fd);
    if (vm->nr_vcpus > maxv || vm->max_vcpus > maxv) { /* issue 3: hot-add limit too */
        snprintf(errbuf, errlen, "vcpus %u is more than KVM allows on this host (%u)",
                 vm->max_vcpus > vm->nr_vcpus ? vm->max_vcpus : vm->nr_vcpus, maxv);
        return -1;
    }

    vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
    if (vm->vm_fd < 0) {
        snprintf(errbuf, errlen, "KVM_CREATE_VM failed: %s", strerror(errno));
        return -1;
    }
    /* VMX needs these three pages below 4 GiB; other backends ignore or refuse them */
    if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0)
        log_debug("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
    uint64_t idmap = 0xfffbc000ULL;
    if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap) < 0)
        log_debug("KVM_SET_IDENTITY_MAP_ADDR: %s (ignored)", strerror(errno));
    if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
        snprintf(errbuf, errlen, "KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
        return -1;
    }
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(errbuf, errlen, "KVM_CREATE_PIT2 failed: %s", strerror(errno));
        return -1;
    }
    int khz = ioctl(vm->vm_fd, KVM_GET_TSC_KHZ, 0);
    if (khz < 0)
        khz = ioctl(vm->kvm_fd, KVM_GET_TSC_KHZ, 0);
    vm->tsc_khz = khz > 0 ? (uint32_t)khz : 0;

    int n = VMM_CPUID_MAX_ENTRIES;
    vm->cpuid = atoll_calloc(1, sizeof(*vm->cpuid) + n * sizeof(struct kvm_cpuid_entry2));
    vm->cpuid->nent = n;
    if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, vm->cpuid) < 0) {
        snprintf(errbuf, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/*
 * hypervisor/vcpu.c - vCPU set-up and run loops. The exit switch returns
 * plain codes and never allocates; stop reasons go to vm.c. MSR writes are
 * best-effort per MSR (backends differ) but CPUID and registers must succeed.
 * Threads: one per vCPU after vmm_vcpu_start_all. Trust: kvm_run contents for
 * I/O exits are guest-chosen (sizes and counts are bounded here).
 */
#define ATOLL_LOG_MODULE "vcpu"
#include "vcpu.h"
#include "virtio/vdevs.h" /* virtio: exit dispatch */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "cpuid.h"
#include "hotplug.h" /* issue 3 */
#include "ioport.h"

#define MSR_IA32_TSC          0x10
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_CR_PAT       0x277
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

static int setup_cpuid(struct vmm_vm *vm, struct vmm_vcpu *v, char *errbuf, size_t errlen)
{
    struct vmm_cpuid_params p = {
        .vcpu_index = v->index, .tsc_khz = vm->tsc_khz,
        /* issue 3: the package has every possible vCPU (hot-added ones too) */
        .nr_vcpus = vm->max_vcpus > vm->nr_vcpus ? vm->max_vcpus : vm->nr_vcpus,
        .tsc_deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0,
    };
    int cap = VMM_CPUID_MAX_ENTRIES + 4;
    struct kvm_cpuid2 *c = atoll_calloc(1, sizeof(*c) + cap * sizeof(struct kvm_cpuid_entry2));
    int n = vmm_cpuid_filter(vm->cpuid->entries, (int)vm->cpuid->nent, &p, c->entries, cap);
    int r = -1;
    if (n < 0) {
        snprintf(errbuf, errlen, "CPUID table too large");
    } else {
        c->nent = (uint32_t)n;
        r = ioctl(v->fd, KVM_SET_CPUID2, c);
        if (r < 0)
            snprintf(errbuf, errlen, "KVM_SET_CPUID2 on vCPU %u failed: %s", v->index,
                     strerror(errno));
    }
    free(c);
    return r < 0 ? -1 : 0;
}

static void setup_msrs(struct vmm_vcpu *v)
{
    static const struct { uint32_t index; uint64_t value; } msrs[] = {
        {MSR_IA32_SYSENTER_CS, 0}, {MSR_IA32_SYSENTER_ESP, 0}, {MSR_IA32_SYSENTER_EIP, 0},
        {MSR_STAR, 0}, {MSR_CSTAR, 0}, {MSR_KERNEL_GS_BASE, 0}, {MSR_SYSCALL_MASK, 0},
        {MSR_LSTAR, 0}, {MSR_IA32_CR_PAT, 0x0007040600070406ULL},
        {MSR_IA32_MISC_ENABLE, 1},   /* fast strings */
        {MSR_IA32_TSC, 0},           /* same value on every vCPU: KVM keeps them in sync */
    };
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[1];
    } one;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(msrs); i++) {
        memset(&one, 0, sizeof(one));
        one.hdr.nmsrs = 1;
        one.e[0].index = msrs[i].index;
        one.e[0].data = msrs[i].value;
        if (ioctl(v->fd, KVM_SET_MSRS, &one) != 1)
            log_debug("vCPU %u: MSR 0x%x not settable here (ignored)", v->index,
                      msrs[i].index);
    }
}

static int setup_lapic(struct vmm_vcpu *v)
{
    struct kvm_lapic_state la;
    if (ioctl(v->fd, KVM_GET_LAPIC, &la) < 0)
        return -1;
    uint32_t lvt0, lvt1;
    memcpy(&lvt0, la.regs + 0x350, 4);
    memcpy(&lvt1, la.regs + 0x360, 4);
    lvt0 = (lvt0 & ~0x700u) | 0x700u;   /* LINT0: ExtINT (the 8259) */
    lvt1 = (lvt1 & ~0x700u) | 0x400u;   /* LINT1: NMI */
    memcpy(la.regs + 0x350, &lvt0, 4);
    memcpy(la.regs + 0x360, &lvt1, 4);
    return ioctl(v->fd, KVM_SET_LAPIC, &la);
}

static void seg_flat(struct kvm_segment *s, uint16_t sel, uint8_t type, int code64)
{
    *s = (struct kvm_segment){
        .base = 0, .limit = 0xffffffff, .selector = sel, .type = type, .present = 1,
        .dpl = 0, .db = code64 ? 0 : 1, .s = 1, .l = code64 ? 1 : 0, .g = 1,
    };
}

static int setup_boot_regs(struct vmm_vm *vm, struct vmm_vcpu *v, char *errbuf, size_t errlen)
{
    struct kvm_sregs sr;
    if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0) {
        snprintf(errbuf, errlen, "KVM_GET_SREGS failed: %s", strerror(errno));
        return -1;
    }
    const struct vmm_boot *b = &vm->boot;
    int lm = b->mode == VMM_BOOT_LINUX64;
    seg_flat(&sr.cs, lm ? 0x10 : 0x08, 0xb, lm);
    seg_flat(&sr.ds, 0x18, 0x3, 0);
    sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
    sr.tr = (struct kvm_segment){.base = 0, .limit = 0x67, .selector = 0x20, .type = 11,
                                 .present = 1, .s = 0};
    sr.gdt.base = b->gdt_addr;
    sr.gdt.limit = 6 * 8 - 1;
    sr.idt.base = 0;
    sr.idt.limit = 0;
    if (lm) {
        sr.cr3 = b->cr3;
        sr.cr4 = 0x20;                          /* PAE */
        sr.cr0 = 0x80000011;                    /* PG, ET, PE */
        sr.efer = 0x500;                        /* LME, LMA */
    } else {
        sr.cr0 = 0x11;                          /* ET, PE: protected mode, paging off */
        sr.cr4 = 0;
        sr.cr3 = 0;
        sr.efer = 0;
    }
    if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0) {
        snprintf(errbuf, errlen, "KVM_SET_SREGS failed: %s", strerror(errno));
        return -1;
    }
    struct kvm_regs r = {.rflags = 0x2, .rip = b->entry};
    if (lm)
        r.rsi = b->arg;
    else
        r.rbx = b->arg;
    if (ioctl(v->fd, KVM_SET_REGS, &r) < 0) {
        snprintf(errbuf, errlen, "KVM_SET_REGS failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* issue 3: one vCPU, at boot or at hot-add (vm->vcpus has vm->max_vcpus slots) */
int vmm_vcpu_create_one(struct vmm_vm *vm, unsigned i, char *errbuf, size_t errlen)
{
    struct vmm_vcpu *v = &vm->vcpus[i];
    v->vm = vm;
    v->index = i;
    v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
    if (v->fd < 0) {
        snprintf(errbuf, errlen, "KVM_CREATE_VCPU %u failed: %s", i, strerror(errno));
        return -1;
    }
    void *run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED) {
        snprintf(errbuf, errlen, "cannot map kvm_run of vCPU %u: %s", i, strerror(errno));
        return -1;
    }
    v->run = run;
    if (setup_cpuid(vm, v, errbuf, errlen) < 0)
        return -1;
    setup_msrs(v);
    if (setup_lapic(v) < 0)
        log_debug("vCPU %u: LAPIC LINT set-up failed: %s", i, strerror(errno));
    return 0;
}

int vmm_vcpu_create_all(struct vmm_vm *vm, char *errbuf, size_t errlen)
{
    unsigned slots = vm->max_vcpus > vm->nr_vcpus ? vm->max_vcpus : vm->nr_vcpus;
    vm->vcpus = atoll_calloc(slots, sizeof(*vm->vcpus));
    for (unsigned i = 0; i < slots; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        v->vm = vm;
        v->index = i;
        v->fd = -1;
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        if (vmm_vcpu_create_one(vm, i, errbuf, errlen) < 0)
            return -1;
    return setup_boot_regs(vm, &vm->vcpus[0], errbuf, errlen);
}

int vmm_vcpu_handle_exit(struct vmm_vm *vm, struct vmm_vcpu *v, struct kvm_run *run)
{
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        unsigned size = run->io.size;
        uint32_t count = run->io.count;
        if ((size != 1 && size != 2 && size != 4) || count == 0 || count > 4096 ||
            run->io.data_offset >= vm->run_size ||
            (uint64_t)size * count > vm->run_size - run->io.data_offset)
            return 0;
        uint8_t *data = (uint8_t *)run + run->io.data_offset;
        for (uint32_t i = 0; i < count; i++) {
            /* virtio: PCI configuration ports 0xCF8-0xCFF */
            if (vm->vdevs && vdevs_pio(vm->vdevs, run->io.port,
                                       run->io.direction == KVM_EXIT_IO_OUT, size,
                                       data + (uint64_t)i * size))
                continue;
            vmm_ioport_access(vm, run->io.port, run->io.direction == KVM_EXIT_IO_OUT, size,
                              data + (uint64_t)i * size);
        }
        return 0;
    }
    case KVM_EXIT_MMIO:
        /* virtio: PCI BARs */
        if (vm->vdevs && run->mmio.len <= 8 &&
            vdevs_mmio(vm->vdevs, run->mmio.phys_addr, run->mmio.is_write, run->mmio.len,
                       run->mmio.data))
            return 0;
        if (!run->mmio.is_write)
            memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
        return 0;
    case KVM_EXIT_HLT:
    case KVM_EXIT_INTR:
    case KVM_EXIT_IRQ_WINDOW_OPEN:
    case KVM_EXIT_DEBUG:
        return 0;
    case KVM_EXIT_SHUTDOWN:
        vmm_vm_request_stop(vm, VMM_EXIT_TRIPLE_FAULT, "guest triple fault on vCPU %u",
                            v->index);
        return 1;
    case KVM_EXIT_SYSTEM_EVENT:
        switch (run->system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
            vmm_vm_request_stop(vm, VMM_EXIT_POWEROFF, "guest powered off (system event)");
            break;
        case KVM_SYSTEM_EVENT_RESET:
            vmm_vm_request_stop(vm, VMM_EXIT_REBOOT, "guest rebooted (system event)");
            break;
        case KVM_SYSTEM_EVENT_CRASH:
            vmm_vm_request_stop(vm, VMM_EXIT_PANIC, "guest crashed (system event)");
            break;
        default:
            return 0;
        }
        return 1;
    case KVM_EXIT_FAIL_ENTRY:
        vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL,
                            "vCPU %u: KVM could not enter the guest (reason 0x%llx)", v->index,
                            (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return 1;
    case KVM_EXIT_INTERNAL_ERROR:
        vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL,
                            "vCPU %u: KVM internal error (suberror %u%s)", v->index,
                            run->internal.suberror,
                            run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                                ? ": instruction emulation failed" : "");
        return 1;
    default:
        vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL, "vCPU %u: unexpected KVM exit %u",
                            v->index, run->exit_reason);
        return 1;
    }
}

int vmm_vcpu_read_regs(struct vmm_vcpu *v, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
    if (v->fd < 0)
        return -EBADF;
    if (ioctl(v->fd, KVM_GET_REGS, regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, sregs) < 0)
        return -errno;
    return 0;
}

static void *vcpu_thread(void *arg)
{
    struct vmm_vcpu *v = arg;
    struct vmm_vm *vm = v->vm;
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(pthread_self(), name);
    __atomic_store_n(&v->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
    if (vm->hp)
        vmm_hotplug_vcpu_enter(v); /* issue 3: pinning */

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, VMM_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);

    for (;;) {
        if (vm->hp && vmm_hotplug_vcpu_park(v)) /* issue 3: ejected vCPUs wait here */
            break;
        if (vmm_vm_vcpu_checkpoint(vm))
            break;
        /* a kick that arrived while parked must not end the next KVM_RUN at once */
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
        if (vmm_vm_vcpu_checkpoint(vm))
            break;
        int r = ioctl(v->fd, KVM_RUN, 0);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL, "vCPU %u: KVM_RUN failed: %s",
                                v->index, strerror(errno));
            break;
        }
        __atomic_add_fetch(&v->exits, 1, __ATOMIC_RELAXED);
        if (vmm_vcpu_handle_exit(vm, v, v->run))
            break;
    }
    return NULL;
}

static void kick_handler(int sig)
{
    (void)sig;
}

/* issue 3: one vCPU thread, at boot or at hot-add */
int vmm_vcpu_start_one(struct vmm_vm *vm, unsigned i, char *errbuf, size_t errlen)
{
    struct vmm_vcpu *v = &vm->vcpus[i];
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, 256 * 1024);
    int e = pthread_create(&v->thread, &a, vcpu_thread, v);
    pthread_attr_destroy(&a);
    if (e) {
        snprintf(errbuf, errlen, "cannot start vCPU thread %u: %s", i, strerror(e));
        return -1;
    }
    __atomic_store_n(&v->thread_started, 1, __ATOMIC_RELEASE);
    return 0;
}

int vmm_vcpu_start_all(struct vmm_vm *vm, char *errbuf, size_t errlen)
{
    struct sigaction sa = {.sa_handler = kick_handler};
    sigemptyset(&sa.sa_mask);
    sigaction(VMM_KICK_SIGNAL, &sa, NULL);   /* no SA_RESTART: KVM_RUN returns EINTR */
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        if (vmm_vcpu_start_one(vm, i, errbuf, errlen) < 0)
            return -1;
    return 0;
}

void vmm_vcpu_destroy_all(struct vmm_vm *vm)
{
    if (!vm->vcpus)
        return;
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        if (v->thread_started) {
            pthread_join(v->thread, NULL);
            v->thread_started = 0;
        }
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        struct vmm_vcpu *v = &vm->vcpus[i];
        if (v->run)
            munmap(v->run, vm->run_size);
        if (v->fd >= 0)
            close(v->fd);
    }
    free(vm->vcpus);
    vm->vcpus = NULL;
}

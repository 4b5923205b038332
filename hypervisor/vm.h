/*
 * hypervisor/vm.h - one virtual machine: the KVM VM and its vCPUs, guest RAM,
 * devices, console, run state (running/paused/stopping) and the exit status
 * the process ends with. The state machine and its lock live in vm.c.
 * Threads: vCPU threads run guest code and report stops; the main thread owns
 * setup, the event loop, pause/resume and teardown.
 */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "boot.h"
#include "config.h"
#include "console.h"
#include "memory.h"
#include "uart.h"

/* Process exit statuses (documented in README.md and --help). */
enum vmm_exit_status {
    VMM_EXIT_POWEROFF = 0,      /* ACPI S5 (port 0x604) */
    VMM_EXIT_STARTUP = 1,       /* could not start: host, image, resources */
    VMM_EXIT_USAGE = 2,         /* bad options or configuration */
    VMM_EXIT_REBOOT = 3,        /* guest asked for a reset (0xCF9, 0x64) */
    VMM_EXIT_TRIPLE_FAULT = 4,  /* KVM_EXIT_SHUTDOWN */
    VMM_EXIT_PANIC = 5,         /* pvpanic port 0x505 */
    VMM_EXIT_DESTROYED = 6,     /* control 'destroy' or SIGTERM/SIGINT */
    VMM_EXIT_INTERNAL = 7,      /* KVM internal error / failed entry while running */
};

enum vmm_run_state { VMM_STATE_STARTING, VMM_STATE_RUNNING, VMM_STATE_PAUSED,
                     VMM_STATE_STOPPING };

struct vmm_vm;
struct vdevs; /* virtio: hypervisor/virtio/vdevs.h */
struct vmm_hotplug; /* issue 3: hypervisor/hotplug.h */

struct vmm_vcpu {
    struct vmm_vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    int thread_started;
    pid_t tid;
    uint64_t exits;
    int ejected;                /* issue 3: ejected by the guest, thread parked (vm->lock) */
};

struct vmm_vm {
    const struct vmm_config *cfg;
    char uuid[40];
    const char *name;
    int kvm_fd, vm_fd;
    int pvm;                    /* KVM backend is PVM (no VT-x/AMD-V) */
    size_t run_size;
    uint32_t tsc_khz;
    struct kvm_cpuid2 *cpuid;   /* KVM_GET_SUPPORTED_CPUID result */
    struct vmm_mem mem;
    struct vmm_boot boot;
    unsigned nr_vcpus;          /* vCPUs created (indices 0..nr_vcpus-1; grows at hot-add) */
    unsigned max_vcpus;         /* issue 3: vcpus[] slots, --max-vcpus (>= nr_vcpus at boot) */
    struct vmm_vcpu *vcpus;
    struct vmm_uart uart;
    struct vmm_hotplug *hp;     /* issue 3: PM1/GPE/SCI, CPU hotplug, pinning (hotplug.c) */
    struct vmm_console console;
    struct vdevs *vdevs;        /* virtio: PCI bus and devices, NULL before setup */
    uint64_t start_ns;          /* when the process started */

    pthread_mutex_t lock;
    pthread_cond_t cond;
    enum vmm_run_state state;
    int pause_req;
    unsigned parked;            /* vCPUs parked for a pause */
    int stop_req;
    int exit_status;
    char exit_reason[160];
    int stop_efd;               /* eventfd: the main loop wakes when a stop is requested */
};

/* Run-state name: "starting", "running", "paused", "stopping". */
const char *vmm_vm_state_name(enum vmm_run_state s);

/* Initialises locks and fields (no KVM yet). */
void vmm_vm_init(struct vmm_vm *vm, const struct vmm_config *cfg);
/*
 * Requests the end of the VM with a status and one-line reason; the first
 * request wins. Any thread. Kicks every vCPU and wakes the main loop.
 */
void vmm_vm_request_stop(struct vmm_vm *vm, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Pause / resume all vCPUs (main thread). 0, or -1 with a message (bad state, timeout). */
int vmm_vm_pause(struct vmm_vm *vm, char *errbuf, size_t errlen);
int vmm_vm_resume(struct vmm_vm *vm, char *errbuf, size_t errlen);
/* Snapshot of state / exit fields under the lock. */
enum vmm_run_state vmm_vm_get_state(struct vmm_vm *vm);
int vmm_vm_get_exit(struct vmm_vm *vm, int *status, char *reason, size_t len);
/* Makes every vCPU leave KVM_RUN soon (signal + immediate_exit). */
void vmm_vm_kick_all(struct vmm_vm *vm);
/* Called by a vCPU thread before each KVM_RUN: parks while paused; 1 if it must exit. */
int vmm_vm_vcpu_checkpoint(struct vmm_vm *vm);

#endif

/*
 * hypervisor/hotplug.h - issue 3's run-time machine changes: ACPI power button
 * (shutdown/reboot), vCPU hot-add/remove through the CPU hotplug register block
 * and GPE 2, parking of ejected vCPU threads, and vCPU pinning (at start from
 * --vcpu-affinity, live from the control socket). Owns struct vmm_pm and struct
 * vmm_cpuhp of the VM. Threads: control commands on main; port I/O, ejects and
 * parking on vCPU threads. Trust: guest input through pm.c/cpuhp.c.
 */
#ifndef VMM_HOTPLUG_H
#define VMM_HOTPLUG_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>

#include "cpuhp.h"
#include "pm.h"
#include "vm.h"

struct vmm_hotplug {
    struct vmm_vm *vm;
    unsigned max_vcpus;
    struct vmm_pm pm;
    struct vmm_cpuhp cpuhp;
    pthread_mutex_t lock;               /* affinity tables */
    cpu_set_t allowed;                  /* the CPUs this process could use at start */
    cpu_set_t affinity[VMM_CPUHP_SLOTS];
    uint8_t pinned[VMM_CPUHP_SLOTS];
};

/*
 * Sets up vm->hp for vm->max_vcpus slots (vm->nr_vcpus present) with the --vcpu-affinity
 * spec (may be NULL). 0, or -1 with a message (a pin outside the host's CPUs).
 */
int vmm_hotplug_init(struct vmm_vm *vm, const char *affinity_spec, char *errbuf,
                     size_t errlen);
void vmm_hotplug_fini(struct vmm_vm *vm);
/* Port I/O of the PM1 event, GPE0 and CPU hotplug blocks: 1 when handled. */
int vmm_hotplug_pio(struct vmm_vm *vm, uint16_t port, int is_write, unsigned size,
                    uint8_t *data);
/* Exit status for an S5 request: VMM_EXIT_REBOOT after the 'reboot' command, else POWEROFF. */
int vmm_hotplug_s5_status(struct vmm_vm *vm);
/* On a vCPU thread once it has its tid: applies its pinning. */
void vmm_hotplug_vcpu_enter(struct vmm_vcpu *v);
/*
 * On a vCPU thread before each KVM_RUN: waits while the vCPU is ejected (counted as parked
 * for pause). Returns 1 when the VM is stopping.
 */
int vmm_hotplug_vcpu_park(struct vmm_vcpu *v);
/*
 * Control commands: "shutdown", "reboot", "cpu-add", "cpu-remove", "vcpus", "pin"
 * (hypervisor/README.md). Writes the one-line answer.
 */
void vmm_hotplug_control(struct vmm_vm *vm, const char *cmd, const char *arg, char *out,
                         size_t outlen);
/* Appends the issue 3 keys of 'query vcpus' (max, online, present, affinity). */
void vmm_hotplug_query_vcpus(struct vmm_vm *vm, char *out, size_t outlen);

#endif

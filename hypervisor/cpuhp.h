/*
 * hypervisor/cpuhp.h - the CPU hotplug register block the DSDT describes (a
 * subset of QEMU's "ACPI CPU hotplug" interface, same layout), one slot per
 * possible vCPU: present / insert-event / remove-event flags, eject. Pure: the
 * VMM side (hotplug.c) gets ejects through a callback.
 * Threads: vCPU threads (port I/O) and main (control); one mutex inside.
 * Trust: selector, offsets and values are guest-controlled and bounded here.
 *
 * I/O ports VMM_CPUHP_BASE .. +11:
 *   +0 (write, 32-bit)  selector: the vCPU index (= APIC id = _UID) the others act on
 *   +0 (read)           the selector
 *   +4 (read, 8-bit)    flags of the selected CPU: bit 0 present, bit 1 insert event,
 *                       bit 2 remove event
 *   +4 (write, 8-bit)   bit 1: clear the insert event; bit 2: clear the remove event;
 *                       bit 3: eject (the CPU stops being present, its vCPU is parked)
 *   +5 (write)          command (QEMU's); ignored: only the selector/flags protocol is offered
 *   +8 (read, 32-bit)   command data: always 0
 * A selector >= the number of slots reads flags 0 and ignores writes.
 */
#ifndef VMM_CPUHP_H
#define VMM_CPUHP_H

#include <pthread.h>
#include <stdint.h>

#define VMM_CPUHP_BASE 0x0CD8
#define VMM_CPUHP_LEN 12
#define VMM_GPE_CPU_HOTPLUG 2   /* GPE0 bit raised for CPU insert/remove events */
#define VMM_CPUHP_SLOTS 255

enum { VMM_CPUHP_PRESENT = 1, VMM_CPUHP_INSERT = 2, VMM_CPUHP_REMOVE = 4, VMM_CPUHP_EJECT = 8 };

struct vmm_cpuhp {
    pthread_mutex_t lock;
    unsigned nslots;
    uint32_t selector;
    uint8_t flags[VMM_CPUHP_SLOTS];
    /* called without the lock held, from the vCPU thread that wrote the eject bit */
    void (*eject)(void *opaque, unsigned idx);
    void *opaque;
};

/* nslots possible CPUs, the first npresent present. */
void vmm_cpuhp_init(struct vmm_cpuhp *h, unsigned nslots, unsigned npresent,
                    void (*eject)(void *opaque, unsigned idx), void *opaque);
void vmm_cpuhp_fini(struct vmm_cpuhp *h);
/* Port access; returns 1 when port is in the block (data filled for reads), 0 otherwise. */
int vmm_cpuhp_pio(struct vmm_cpuhp *h, uint16_t port, int is_write, unsigned size,
                  uint8_t *data);
/* Marks idx present with an insert event. -1 if out of range or already present. */
int vmm_cpuhp_insert(struct vmm_cpuhp *h, unsigned idx);
/* Raises a remove event on present idx (the guest then ejects it). -1 if not present. */
int vmm_cpuhp_request_remove(struct vmm_cpuhp *h, unsigned idx);
/* Current flags of idx (0 when out of range). */
uint8_t vmm_cpuhp_flags(struct vmm_cpuhp *h, unsigned idx);

#endif

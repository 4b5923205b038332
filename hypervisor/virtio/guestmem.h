/*
 * hypervisor/virtio/guestmem.h - the boundary between virtio devices and guest RAM:
 * a fixed list of guest-physical ranges with their host mappings, filled once by
 * the VMM core, and the one bounds-checked accessor every device uses.
 * Threads: immutable after setup, read from any thread without locks.
 * Trust: gpa and len come from the guest; the accessor rejects anything outside RAM.
 */
#ifndef VMM_VIRTIO_GUESTMEM_H
#define VMM_VIRTIO_GUESTMEM_H

#include <stdint.h>

#define GMEM_MAX_REGIONS 4

struct gmem_region {
    uint64_t gpa;   /* first guest-physical address of the range */
    uint64_t size;  /* bytes; 0 = unused slot */
    uint8_t *host;  /* host address of gpa; [host, host+size) is mapped read/write */
};

struct guestmem {
    unsigned nregions;
    struct gmem_region r[GMEM_MAX_REGIONS];
};

/*
 * Adds a RAM range (setup only). Ranges must not overlap. Returns 0, or -1 if the
 * table is full, size is 0, gpa+size overflows or the range overlaps another.
 */
int gmem_add(struct guestmem *gm, uint64_t gpa, uint64_t size, void *host);

/*
 * Host pointer for [gpa, gpa+len) if the whole range lies in one RAM region, else
 * NULL (also on overflow of gpa+len). len 0 is accepted if gpa is inside RAM.
 * The pointer is borrowed and stays valid for the VM's lifetime.
 */
void *gmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len);

#endif

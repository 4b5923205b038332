/*
 * hypervisor/virtio/guestmem.c - bounds-checked guest-physical to host translation.
 * Owns nothing but the range table; the mappings belong to the VMM core.
 * Threads: any, read-only after setup. Trust: every gpa/len is guest-controlled.
 */
#include "guestmem.h"

#include <stddef.h>

int gmem_add(struct guestmem *gm, uint64_t gpa, uint64_t size, void *host)
{
    if (gm->nregions >= GMEM_MAX_REGIONS || size == 0 || host == NULL || gpa + size < gpa)
        return -1;
    for (unsigned i = 0; i < gm->nregions; i++) {
        const struct gmem_region *o = &gm->r[i];
        if (gpa < o->gpa + o->size && o->gpa < gpa + size)
            return -1;
    }
    gm->r[gm->nregions++] = (struct gmem_region){.gpa = gpa, .size = size, .host = host};
    return 0;
}

void *gmem_ptr(const struct guestmem *gm, uint64_t gpa, uint64_t len)
{
    for (unsigned i = 0; i < gm->nregions; i++) {
        const struct gmem_region *r = &gm->r[i];
        /* written so that nothing can overflow: off < size, then len <= size - off */
        if (gpa < r->gpa)
            continue;
        uint64_t off = gpa - r->gpa;
        if (off >= r->size)
            continue;
        if (len > r->size - off)
            return NULL;
        return r->host + off;
    }
    return NULL;
}

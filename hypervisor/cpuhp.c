/*
 * hypervisor/cpuhp.c - the CPU hotplug register block (see cpuhp.h for the
 * register map). Only state lives here; creating, parking and waking vCPU
 * threads is hotplug.c's job, reached through the eject callback.
 * Threads: vCPU threads and main, under h->lock. Trust: all guest input bounded.
 */
#include "cpuhp.h"

#include <string.h>

void vmm_cpuhp_init(struct vmm_cpuhp *h, unsigned nslots, unsigned npresent,
                    void (*eject)(void *opaque, unsigned idx), void *opaque)
{
    memset(h, 0, sizeof(*h));
    pthread_mutex_init(&h->lock, NULL);
    h->nslots = nslots > VMM_CPUHP_SLOTS ? VMM_CPUHP_SLOTS : nslots;
    for (unsigned i = 0; i < npresent && i < h->nslots; i++)
        h->flags[i] = VMM_CPUHP_PRESENT;
    h->eject = eject;
    h->opaque = opaque;
}

void vmm_cpuhp_fini(struct vmm_cpuhp *h)
{
    pthread_mutex_destroy(&h->lock);
}

int vmm_cpuhp_pio(struct vmm_cpuhp *h, uint16_t port, int is_write, unsigned size,
                  uint8_t *data)
{
    if (port < VMM_CPUHP_BASE || port >= VMM_CPUHP_BASE + VMM_CPUHP_LEN)
        return 0;
    unsigned off = port - VMM_CPUHP_BASE;
    uint32_t v = 0;
    if (size > 4)
        size = 4;
    if (is_write)
        memcpy(&v, data, size);
    int eject = -1;
    pthread_mutex_lock(&h->lock);
    if (!is_write) {
        uint32_t r = 0;
        if (off == 0)
            r = h->selector;
        else if (off == 4 && h->selector < h->nslots)
            r = h->flags[h->selector] & (VMM_CPUHP_PRESENT | VMM_CPUHP_INSERT | VMM_CPUHP_REMOVE);
        memcpy(data, &r, size);
    } else if (off == 0) {
        h->selector = v;
    } else if (off == 4 && h->selector < h->nslots) {
        uint8_t *f = &h->flags[h->selector];
        if (v & VMM_CPUHP_INSERT)
            *f &= (uint8_t)~VMM_CPUHP_INSERT;
        if (v & VMM_CPUHP_REMOVE)
            *f &= (uint8_t)~VMM_CPUHP_REMOVE;
        /* the boot CPU is never ejected; ejecting an absent CPU does nothing */
        if ((v & VMM_CPUHP_EJECT) && h->selector != 0 && (*f & VMM_CPUHP_PRESENT)) {
            *f = 0;
            eject = (int)h->selector;
        }
    }
    pthread_mutex_unlock(&h->lock);
    if (eject >= 0 && h->eject)
        h->eject(h->opaque, (unsigned)eject);
    return 1;
}

int vmm_cpuhp_insert(struct vmm_cpuhp *h, unsigned idx)
{
    int r = -1;
    pthread_mutex_lock(&h->lock);
    if (idx < h->nslots && !(h->flags[idx] & VMM_CPUHP_PRESENT)) {
        h->flags[idx] = VMM_CPUHP_PRESENT | VMM_CPUHP_INSERT;
        r = 0;
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}

int vmm_cpuhp_request_remove(struct vmm_cpuhp *h, unsigned idx)
{
    int r = -1;
    pthread_mutex_lock(&h->lock);
    if (idx < h->nslots && (h->flags[idx] & VMM_CPUHP_PRESENT)) {
        h->flags[idx] |= VMM_CPUHP_REMOVE;
        r = 0;
    }
    pthread_mutex_unlock(&h->lock);
    return r;
}

uint8_t vmm_cpuhp_flags(struct vmm_cpuhp *h, unsigned idx)
{
    pthread_mutex_lock(&h->lock);
    uint8_t f = idx < h->nslots ? h->flags[idx] : 0;
    pthread_mutex_unlock(&h->lock);
    return f;
}

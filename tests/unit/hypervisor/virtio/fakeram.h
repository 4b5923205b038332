/*
 * tests/unit/hypervisor/virtio/fakeram.h - fake guest RAM for virtio unit tests: an
 * mmap'ed buffer between two PROT_NONE guard pages, so that any access outside it by the
 * code under test crashes the test instead of passing silently. Header-only.
 */
#ifndef TEST_FAKERAM_H
#define TEST_FAKERAM_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "virtio/guestmem.h"

struct fakeram {
    uint8_t *base; /* first byte of RAM */
    size_t size;
    uint8_t *map;
    size_t maplen;
};

static inline void fakeram_init(struct fakeram *f, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    size = (size + pg - 1) & ~(pg - 1);
    f->maplen = size + 2 * pg;
    f->map = mmap(NULL, f->maplen, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (f->map == MAP_FAILED)
        abort();
    f->base = f->map + pg;
    f->size = size;
    if (mprotect(f->base, size, PROT_READ | PROT_WRITE) < 0)
        abort();
}

static inline void fakeram_fini(struct fakeram *f)
{
    munmap(f->map, f->maplen);
}

/* Host pointer of a gpa inside the fake RAM at guest address gbase (test side, trusted). */
static inline void *fakeram_at(struct fakeram *f, uint64_t gbase, uint64_t gpa)
{
    return f->base + (gpa - gbase);
}

#endif

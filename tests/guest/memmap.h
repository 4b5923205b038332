/*
 * tests/guest/memmap.h - the guest's physical memory accounting: the RAM ranges of the boot
 * memory map, what the guest keeps for itself (image, page tables), what a workload has
 * borrowed, and a page allocator over the rest. Pure code (host unit test test_memmap).
 * Threads: the boot CPU only.
 */
#ifndef GUEST_MEMMAP_H
#define GUEST_MEMMAP_H

#include <stdint.h>

#define MM_MAX_RANGES 128
#define MM_PAGE 4096ULL
#define MM_TYPE_RAM 1

struct mm_extent {
    uint64_t start, len;
};

struct mm {
    struct mm_extent avail[MM_MAX_RANGES]; /* sorted, disjoint, page-aligned free RAM */
    unsigned nr;
    uint64_t total;   /* RAM bytes in the memory map (page-aligned inward) */
    uint64_t used;    /* kept by the guest itself */
    uint64_t claimed; /* lent to a workload (mm_claim) */
    uint64_t top;     /* end of the highest RAM range */
};

void mm_init(struct mm *m);

/* Adds one memory-map entry; only MM_TYPE_RAM counts. Returns 0, or -1 when the table is full
 * (the entry is then ignored). */
int mm_add(struct mm *m, uint64_t addr, uint64_t size, uint32_t type);

/* Whether [start, end) is entirely free RAM. */
int mm_is_free(const struct mm *m, uint64_t start, uint64_t end);

/* Marks [start, end) as kept by the guest; returns the RAM bytes that were free there. */
uint64_t mm_reserve(struct mm *m, uint64_t start, uint64_t end);

/* Allocates size bytes (rounded to pages) aligned to align, below limit (0: no limit), from
 * the top of free RAM, for good. Returns the physical address or 0 when none fits. */
uint64_t mm_alloc(struct mm *m, uint64_t size, uint64_t align, uint64_t limit);

/* Lends up to `bytes` (whole pages, lowest addresses first) to a workload: fills ext[0..n)
 * and removes them from free RAM. Returns 0, or -1 when fewer bytes are free or more than
 * max extents would be needed (nothing is taken then). */
int mm_claim(struct mm *m, uint64_t bytes, struct mm_extent *ext, unsigned max, unsigned *n);

/* Gives back extents taken by mm_claim. */
void mm_unclaim(struct mm *m, const struct mm_extent *ext, unsigned n);

static inline uint64_t mm_total_kib(const struct mm *m)
{
    return m->total / 1024;
}

uint64_t mm_free_bytes(const struct mm *m);

#endif

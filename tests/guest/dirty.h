/*
 * tests/guest/dirty.h - the memory-dirtying workload: writes a pattern derived from each
 * qword's address and a generation number over borrowed RAM, pass after pass, and verifies
 * it. Pure code over identity-mapped extents (host unit test test_dirty uses malloc'ed ones).
 * Threads: one CPU at a time (the command loop's).
 */
#ifndef GUEST_DIRTY_H
#define GUEST_DIRTY_H

#include <stdint.h>

#include "memmap.h"

#define DIRTY_MAX_EXTENTS 64

struct dirty {
    struct mm_extent ext[DIRTY_MAX_EXTENTS];
    unsigned next;
    uint64_t pages;  /* pages in ext[] */
    uint64_t gen;    /* generation being written; 0 = nothing written yet */
    uint64_t cursor; /* pages [0, cursor) hold gen, [cursor, pages) hold gen - 1 */
    uint64_t bytes;  /* written since dirty_start (for rate pacing) */
};

/* Value of the qword at addr in generation gen (gen >= 1). */
uint64_t dirty_pattern(uint64_t addr, uint64_t gen);

/* Takes over the extents (copied) and starts at generation 1. */
void dirty_start(struct dirty *d, const struct mm_extent *ext, unsigned n);

/* Writes up to max_pages pages; returns the number written. */
uint64_t dirty_step(struct dirty *d, uint64_t max_pages);

/* Completed passes over all pages. */
uint64_t dirty_generations(const struct dirty *d);

struct dirty_fault {
    uint64_t addr, expected, got;
};

/* Checks every page written so far. Returns the number of pages checked, or -1 with the first
 * mismatch in *fault. */
int64_t dirty_verify(const struct dirty *d, struct dirty_fault *fault);

#endif

/*
 * tests/guest/test_dirty.c - host unit test of the dirtying workload (dirty.c) over malloc'ed
 * "physical" memory: passes, generations, verify, and detection of a corrupted word.
 */
#include "dirty.h"

#include <stdint.h>

#include "tap.h"

int main(void)
{
    static uint8_t mem[40 * 4096] __attribute__((aligned(4096)));
    struct mm_extent ext[2] = {
        { (uint64_t)(uintptr_t)mem, 16 * 4096 },
        { (uint64_t)(uintptr_t)mem + 20 * 4096, 8 * 4096 },
    };
    struct dirty d;
    struct dirty_fault f;

    dirty_start(&d, ext, 2);
    is_int(d.pages, 24, "pages over both extents");
    is_int(dirty_verify(&d, &f), 0, "nothing to verify before the first write");
    is_int(dirty_step(&d, 10), 10, "a partial step");
    is_int(dirty_verify(&d, &f), 10, "verify covers only written pages in the first pass");
    is_int(dirty_generations(&d), 0, "no pass completed");
    is_int(dirty_step(&d, 20), 20, "a step across the extent gap and the pass end");
    is_int(dirty_generations(&d), 1, "one pass completed");
    is_int(d.cursor, 6, "cursor wrapped");
    is_int(dirty_verify(&d, &f), 24, "verify covers all pages with two generations");
    uint64_t *gap = (uint64_t *)(mem + 17 * 4096);
    is_int(*gap, 0, "the gap between extents is not touched");
    uint64_t *w = (uint64_t *)(mem + 21 * 4096 + 8 * 7);
    uint64_t good = *w;
    *w ^= 1;
    is_int(dirty_verify(&d, &f), -1, "a flipped bit fails verify");
    is_int(f.addr, (uint64_t)(uintptr_t)w, "fault address");
    is_int(f.expected, good, "expected value");
    is_int(f.got, good ^ 1, "found value");
    *w = good;
    is_int(dirty_step(&d, 1000), 1000, "many passes");
    is_int(dirty_generations(&d), (30 + 1000) / 24, "generations counted");
    is_int(dirty_verify(&d, &f), 24, "still verifies");
    ok(dirty_pattern(0x1000, 1) != dirty_pattern(0x1000, 2), "pattern depends on generation");
    ok(dirty_pattern(0x1000, 1) != dirty_pattern(0x1008, 1), "pattern depends on address");
    return tap_done();
}

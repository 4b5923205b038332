/*
 * tests/unit/hypervisor/virtio/fuzz_vq_harness.h - one fuzz input through the virtqueue
 * engine, shared by the libFuzzer target (fuzz_vq_main.c) and the deterministic
 * random-mutation loop (test_vq_fuzz.c).
 */
#ifndef TEST_FUZZ_VQ_HARNESS_H
#define TEST_FUZZ_VQ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Guest RAM the inputs describe: two regions; the rings are packed at the start of the first
 * (descriptors at 0, then the avail ring, then the used ring), so that short inputs reach
 * them: see fz_layout. */
#define FZ_RAM0_SIZE 0x10000ULL
#define FZ_RAM1_GPA  0x100000000ULL
#define FZ_RAM1_SIZE 0x4000ULL
#define FZ_HDR   2 /* input bytes before the RAM image: size exponent, feature bits */

/* Ring addresses for a queue of size entries; returns the first free address after them. */
static inline uint64_t fz_layout(unsigned size, uint64_t *desc, uint64_t *avail, uint64_t *used)
{
    *desc = 0;
    *avail = 16ULL * size;
    *used = (*avail + 6 + 2ULL * size + 3) & ~3ULL;
    return *used + 6 + 8ULL * size;
}

struct fz_counts {
    uint64_t good, bad, broken;
};

/*
 * Runs one input: byte 0 picks the queue size (1 << (b % 9)), byte 1 the features
 * (bit 0 EVENT_IDX, bit 1 INDIRECT_DESC), the rest is copied over RAM region 0 and then
 * region 1. Pops until the queue is empty or broken, touching every byte of every buffer;
 * aborts if any iovec lies outside guest RAM. Adds what happened to *c.
 */
void fz_vq_run(const uint8_t *data, size_t len, struct fz_counts *c);

#endif

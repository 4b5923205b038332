/*
 * tests/unit/hypervisor/virtio/fuzz_vq_harness.h - one fuzz input through the virtqueue
 * engine, shared by the libFuzzer target (fuzz_vq_main.c) and the deterministic
 * random-mutation loop (test_vq_fuzz.c).
 */
#ifndef TEST_FUZZ_VQ_HARNESS_H
#define TEST_FUZZ_VQ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Guest RAM layout the inputs describe: two regions, rings at fixed places in the first. */
#define FZ_RAM0_SIZE 0x10000ULL
#define FZ_RAM1_GPA  0x100000000ULL
#define FZ_RAM1_SIZE 0x4000ULL
#define FZ_DESC  0x0000
#define FZ_AVAIL 0x4000
#define FZ_USED  0x5000
#define FZ_HDR   2 /* input bytes before the RAM image: size exponent, feature bits */

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

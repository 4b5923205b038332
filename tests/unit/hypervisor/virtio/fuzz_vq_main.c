/*
 * tests/unit/hypervisor/virtio/fuzz_vq_main.c - libFuzzer entry for the virtqueue parser
 * (built with clang -fsanitize=fuzzer,address,undefined; run by test_fuzz_vq.sh).
 */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_vq_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz_counts c;
    fz_vq_run(data, size, &c);
    return 0;
}

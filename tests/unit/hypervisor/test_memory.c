/* tests/unit/hypervisor/test_memory.c - RAM split around the MMIO hole, e820, accessor bounds. */
#include <stdlib.h>

#include "memory.h"
#include "tap.h"

int main(void)
{
    struct vmm_mem m;
    struct vmm_e820 e[VMM_E820_MAX];
    static uint8_t buf[8 << 20];

    vmm_mem_init_buffer(&m, buf, sizeof(buf));
    is_int(m.low_size, 8 << 20, "small guest: all RAM below the hole");
    is_int(m.high_size, 0, "small guest: nothing above 4 GiB");
    unsigned n = vmm_mem_e820(&m, e);
    is_int(n, 3, "small guest: 3 e820 entries");
    is_int(e[0].addr, 0, "e820[0] at 0");
    is_int(e[0].size, 0xA0000, "e820[0] is 640 KiB");
    is_int(e[0].type, VMM_E820_RAM, "e820[0] RAM");
    is_int(e[1].addr, 0xE0000, "e820[1] BIOS area");
    is_int(e[1].type, VMM_E820_RESERVED, "e820[1] reserved");
    is_int(e[2].addr, 0x100000, "e820[2] at 1 MiB");
    is_int(e[2].size, (8 << 20) - 0x100000, "e820[2] to the end of RAM");
    is_int(vmm_mem_usable(&m), (8 << 20) - 384 * 1024, "usable = size - 384 KiB");

    ok(vmm_mem_ptr(&m, 0, 1) == buf, "gpa 0 maps to the buffer start");
    ok(vmm_mem_ptr(&m, (8 << 20) - 4, 4) != NULL, "last 4 bytes reachable");
    ok(vmm_mem_ptr(&m, (8 << 20) - 4, 5) == NULL, "range past the end refused");
    ok(vmm_mem_ptr(&m, 8 << 20, 0) == NULL, "gpa at the end refused");
    ok(vmm_mem_ptr(&m, UINT64_MAX - 2, 8) == NULL, "wrapping range refused");
    ok(vmm_mem_ptr(&m, 0, UINT64_MAX) == NULL, "huge length refused");
    ok(vmm_mem_write(&m, 0x1000, "abc", 3) == 0 && buf[0x1001] == 'b', "write lands");

    /* a 3.5 GiB layout (no buffer needed to check the arithmetic) */
    struct vmm_mem big = {.host = (uint8_t *)0x10000, .fd = -1};
    vmm_mem_init_buffer(&big, (void *)0x10000, 3584ULL << 20);
    is_int(big.low_size, 3ULL << 30, "3.5 GiB: 3 GiB below the hole");
    is_int(big.high_size, 512ULL << 20, "3.5 GiB: 512 MiB above 4 GiB");
    n = vmm_mem_e820(&big, e);
    is_int(n, 4, "3.5 GiB: 4 e820 entries");
    is_int(e[3].addr, 4ULL << 30, "high RAM at 4 GiB");
    is_int(e[3].size, 512ULL << 20, "high RAM size");
    is_int(vmm_mem_usable(&big), (3584ULL << 20) - 384 * 1024, "usable 3.5 GiB - 384 KiB");
    ok(vmm_mem_ptr(&big, (3ULL << 30) + 4096, 1) == NULL, "MMIO hole is not RAM");
    ok(vmm_mem_ptr(&big, 4ULL << 30, 1) == (uint8_t *)0x10000 + (3ULL << 30),
       "4 GiB maps right after low RAM in the memfd");
    ok(vmm_mem_ptr(&big, (3ULL << 30) - 8, 16) == NULL, "range across the hole refused");
    ok(vmm_mem_ptr(&big, (4ULL << 30) + (512ULL << 20) - 8, 8) != NULL, "last high bytes ok");
    ok(vmm_mem_ptr(&big, (4ULL << 30) + (512ULL << 20), 1) == NULL, "past high RAM refused");

    char errbuf[128];
    struct vmm_mem bad;
    is_int(vmm_mem_init(&bad, 12345, errbuf, sizeof(errbuf)), -1, "unaligned size refused");
    struct vmm_mem real;
    is_int(vmm_mem_init(&real, 16 << 20, errbuf, sizeof(errbuf)), 0, "16 MiB memfd RAM");
    ok(real.fd >= 0 && real.host != NULL, "memfd mapped");
    vmm_mem_fini(&real);
    return tap_done();
}

/*
 * tests/guest/test_memmap.c - host unit test of the guest's memory accounting (memmap.c):
 * RAM totals from a memory map, reservations, allocation and lending.
 */
#include "memmap.h"

#include "tap.h"

#define MIB (1024ULL * 1024)

int main(void)
{
    struct mm m;
    struct mm_extent ext[8];
    unsigned n;

    mm_init(&m);
    /* a QEMU-like map: low RAM, a reserved hole, RAM to 3 GiB, RAM above 4 GiB */
    mm_add(&m, 0, 0x9fc00, MM_TYPE_RAM);
    mm_add(&m, 0x9fc00, 0x400, 2);
    mm_add(&m, 0xf0000, 0x10000, 2);
    mm_add(&m, 0x100000, 3072 * MIB - 0x100000, MM_TYPE_RAM);
    mm_add(&m, 4096 * MIB, 1024 * MIB, MM_TYPE_RAM);
    is_int(m.total, 0x9f000 + 3072 * MIB - 0x100000 + 1024 * MIB,
           "total: RAM entries only, pages rounded inward");
    is_int(mm_total_kib(&m), (0x9f000 + 4096 * MIB - 0x100000) / 1024, "total in KiB");
    is_int(m.top, 5120 * MIB, "top of RAM");

    mm_init(&m);
    mm_add(&m, 0x100000, 16 * MIB, MM_TYPE_RAM);
    mm_add(&m, 0x100000 + 8 * MIB, 16 * MIB, MM_TYPE_RAM); /* overlaps the first */
    is_int(m.total, 24 * MIB, "overlapping entries are not counted twice");
    is_int(m.nr, 1, "merged into one range");

    mm_init(&m);
    mm_add(&m, 0, 640 * 1024, MM_TYPE_RAM);
    mm_add(&m, MIB, 63 * MIB, MM_TYPE_RAM);
    uint64_t total = m.total;
    ok(mm_is_free(&m, 0x8000, 0x9000), "the trampoline page is RAM");
    ok(!mm_is_free(&m, 0x9f000, 0xa1000), "a range crossing the end of low RAM is not");
    is_int(mm_reserve(&m, 0, MIB), 640 * 1024, "reserving the first MiB takes its RAM");
    is_int(mm_reserve(&m, MIB, 3 * MIB), 2 * MIB, "reserving the image");
    is_int(mm_free_bytes(&m), total - 640 * 1024 - 2 * MIB, "free after reservations");
    is_int(m.total, total, "total unchanged by reservations");
    mm_reserve(&m, 10 * MIB, 11 * MIB);
    is_int(m.nr, 2, "a reservation in the middle splits a range");

    uint64_t a = mm_alloc(&m, 4096, 4096, 0);
    is_int(a, 64 * MIB - 4096, "alloc takes from the top");
    uint64_t b = mm_alloc(&m, 2 * MIB, 2 * MIB, 32 * MIB);
    is_int(b, 30 * MIB, "alloc honours limit and alignment");
    is_int(mm_alloc(&m, 128 * MIB, 4096, 0), 0, "alloc larger than free RAM fails");

    uint64_t before = mm_free_bytes(&m);
    is_int(mm_claim(&m, 20 * MIB, ext, 8, &n), 0, "claim 20 MiB");
    uint64_t got = 0;
    for (unsigned i = 0; i < n; i++)
        got += ext[i].len;
    is_int(got, 20 * MIB, "claimed extents add up");
    is_int(ext[0].start, 3 * MIB, "claim starts at the lowest free page");
    is_int(mm_free_bytes(&m), before - 20 * MIB, "claimed memory is not free");
    is_int(m.claimed, 20 * MIB, "claimed accounted");
    ok(mm_claim(&m, 1024 * MIB, ext, 8, &n) < 0, "claiming more than free fails");
    is_int(mm_free_bytes(&m), before - 20 * MIB, "a failed claim takes nothing");
    struct mm_extent ext2[8];
    unsigned n2;
    mm_unclaim(&m, ext, n);
    is_int(mm_free_bytes(&m), before, "unclaim gives everything back");
    is_int(m.claimed, 0, "nothing claimed");
    ok(mm_claim(&m, 40 * MIB, ext2, 1, &n2) < 0, "claim needing more extents than allowed fails");
    return tap_done();
}

/*
 * tests/guest/pvh.h - the PVH boot information (Xen's public arch-x86/hvm/start_info.h
 * layout): struct hvm_start_info at EBX on entry, and its memory map entries.
 */
#ifndef GUEST_PVH_H
#define GUEST_PVH_H

#include <stdint.h>

struct hvm_start_info {
    uint32_t magic; /* PVH_START_MAGIC */
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    /* version >= 1 */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

#endif

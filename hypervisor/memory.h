/*
 * hypervisor/memory.h - guest physical memory: one memfd split around the
 * MMIO hole below 4 GiB, the fixed guest-physical layout of everything the VMM
 * writes (boot info, ACPI tables, page tables), the e820 map, and the one
 * bounds-checked accessor through which all guest memory is reached.
 * Threads: layout is immutable after setup; contents belong to the guest.
 */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#define VMM_GIB (1ULL << 30)
#define VMM_MIB (1ULL << 20)
#define VMM_KIB (1ULL << 10)

/* RAM below the hole ends here at most; [3 GiB, 4 GiB) is MMIO (IOAPIC, LAPIC, later PCI). */
#define VMM_MMIO_HOLE_START (3ULL * VMM_GIB)
#define VMM_HIGH_RAM_START  (4ULL * VMM_GIB)
#define VMM_IOAPIC_ADDR     0xFEC00000u
#define VMM_LAPIC_ADDR      0xFEE00000u

/* Legacy hole [640 KiB, 1 MiB): not RAM in e820; the VMM keeps its tables in its top part. */
#define VMM_LEGACY_HOLE_START 0xA0000ULL
#define VMM_LEGACY_HOLE_END   0x100000ULL

/* Fixed addresses of what the VMM writes (all inside the reserved BIOS area). */
#define VMM_ACPI_BASE       0xE0000ULL  /* RSDP first (scanners look in 0xE0000-0xFFFFF) */
#define VMM_ACPI_LIMIT      0xEFFFFULL
#define VMM_START_INFO_ADDR 0xF0000ULL  /* hvm_start_info */
#define VMM_MEMMAP_ADDR     0xF0100ULL  /* hvm_memmap_table_entry[] (up to 64) */
#define VMM_BOOT_GDT_ADDR   0xF0800ULL  /* GDT used at entry */
#define VMM_CMDLINE_ADDR    0xF1000ULL  /* up to VMM_CMDLINE_MAX bytes incl. NUL */
#define VMM_CMDLINE_MAX     4096
/* Linux boot protocol (zero page, page tables) lives in low RAM like other VMMs put it. */
#define VMM_LINUX_BOOT_PARAMS 0x7000ULL
#define VMM_LINUX_CMDLINE     0x20000ULL
#define VMM_LINUX_PML4        0x9000ULL   /* PML4, PDPT, then 4 page directories */
#define VMM_KERNEL_MIN_ADDR   0x100000ULL  /* images load at 1 MiB or above */

/* e820 types */
enum { VMM_E820_RAM = 1, VMM_E820_RESERVED = 2, VMM_E820_ACPI = 3 };

struct vmm_e820 {
    uint64_t addr, size;
    uint32_t type;
};

#define VMM_E820_MAX 8

struct vmm_mem {
    uint8_t *host;       /* mapping of the whole memfd (or a test buffer) */
    uint64_t size;       /* total RAM bytes */
    uint64_t low_size;   /* RAM at [0, low_size) */
    uint64_t high_size;  /* RAM at [4 GiB, 4 GiB + high_size) */
    int fd;              /* memfd, -1 for a test buffer */
};

/*
 * Creates size bytes of guest RAM in a memfd and maps it. size must be a multiple
 * of 4 KiB, >= VMM_MEM_MIN. Returns 0, or -1 with a one-line message in errbuf.
 */
#define VMM_MEM_MIN (4 * VMM_MIB)
int vmm_mem_init(struct vmm_mem *mem, uint64_t size, char *errbuf, size_t errlen);
/* Uses a caller-owned buffer of size bytes as RAM (unit tests). Never fails for size >= 1 MiB. */
void vmm_mem_init_buffer(struct vmm_mem *mem, void *buf, uint64_t size);
/* Unmaps and closes (not for buffers, whose owner frees them). Safe on a zeroed struct. */
void vmm_mem_fini(struct vmm_mem *mem);

/*
 * The one accessor for guest memory: host pointer to [gpa, gpa+len) if the whole
 * range is backed by RAM in one piece, else NULL. len 0 is allowed.
 */
void *vmm_mem_ptr(const struct vmm_mem *mem, uint64_t gpa, uint64_t len);
/* Copies len bytes into guest memory; 0, or -1 if the range is not RAM. */
int vmm_mem_write(const struct vmm_mem *mem, uint64_t gpa, const void *src, uint64_t len);

/* Fills out[] (VMM_E820_MAX) with the guest-visible map; returns the entry count. */
unsigned vmm_mem_e820(const struct vmm_mem *mem, struct vmm_e820 *out);
/* Sum of the RAM entries of the e820 map, in bytes (= size - the 384 KiB legacy hole). */
uint64_t vmm_mem_usable(const struct vmm_mem *mem);

#endif

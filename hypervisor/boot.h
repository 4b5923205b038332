/*
 * hypervisor/boot.h - loading a guest image into RAM and describing the entry
 * state: PVH ELF (pvh.c) and the Linux boot protocol for bzImage (linux.c).
 * Loaders work on an image already read into memory and a struct vmm_mem, so
 * they are unit-tested over a malloc'ed "guest". Trust: the image is untrusted
 * input: every offset and size in it is checked before use.
 */
#ifndef VMM_BOOT_H
#define VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "memory.h"

enum vmm_boot_mode {
    VMM_BOOT_PVH32 = 1,   /* 32-bit protected mode, paging off, EBX = hvm_start_info */
    VMM_BOOT_LINUX64,     /* long mode, identity-mapped 4 GiB, RSI = boot_params */
};

struct vmm_boot {
    enum vmm_boot_mode mode;
    uint64_t entry;       /* guest-physical entry point */
    uint64_t arg;         /* EBX (PVH) or RSI (Linux) */
    uint64_t gdt_addr;    /* GDT the entry segments come from */
    uint64_t cr3;         /* LINUX64: page tables */
    uint64_t image_end;   /* first byte after the loaded image (for initrd placement) */
};

/* Input common to both protocols. */
struct vmm_boot_input {
    const uint8_t *image;   size_t image_len;
    const uint8_t *initrd;  size_t initrd_len;   /* may be NULL */
    const char *cmdline;                           /* may be NULL */
    uint64_t rsdp_addr;                            /* 0 if no ACPI */
};

/* PVH: hvm_start_info v1 (Xen public/arch-x86/hvm/start_info.h layout). */
#define VMM_HVM_START_MAGIC 0x336ec578u
struct vmm_hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
struct vmm_hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};
struct vmm_hvm_modlist_entry {
    uint64_t paddr, size, cmdline_paddr, reserved;
};
#define VMM_XEN_ELFNOTE_PHYS32_ENTRY 18
#define VMM_MODLIST_ADDR 0xF0A00ULL

/* Image kinds by their magic. */
enum vmm_image_kind { VMM_IMAGE_UNKNOWN, VMM_IMAGE_ELF, VMM_IMAGE_BZIMAGE };
enum vmm_image_kind vmm_boot_probe(const uint8_t *img, size_t len);

/*
 * Loads a PVH ELF image (ELF32 or ELF64 with XEN_ELFNOTE_PHYS32_ENTRY), writes
 * hvm_start_info, the memory map, the command line and the initrd module.
 * 0, or -1 with a one-line message in errbuf.
 */
int vmm_pvh_load(const struct vmm_mem *mem, const struct vmm_boot_input *in,
                 struct vmm_boot *out, char *errbuf, size_t errlen);

/*
 * Loads a bzImage (boot protocol >= 2.12 with a 64-bit entry), builds boot_params
 * (zero page) with e820, command line, initrd and identity page tables.
 */
int vmm_linux_load(const struct vmm_mem *mem, const struct vmm_boot_input *in,
                   struct vmm_boot *out, char *errbuf, size_t errlen);

/* Writes the boot GDT at VMM_BOOT_GDT_ADDR: 0x08 code32, 0x10 code64, 0x18 data, 0x20 TSS. */
int vmm_boot_write_gdt(const struct vmm_mem *mem);

/* Where an initrd/module of len bytes goes: page aligned, top of low RAM, above min. 0 if none. */
uint64_t vmm_boot_initrd_addr(const struct vmm_mem *mem, uint64_t len, uint64_t min,
                              uint64_t max_end);

#endif

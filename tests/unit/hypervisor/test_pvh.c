/* tests/unit/hypervisor/test_pvh.c - PVH ELF loading and the hvm_start_info layout. */
#include <elf.h>
#include <stddef.h>
#include <stdlib.h>

#include "boot.h"
#include "tap.h"

#define RAM (16u << 20)

struct img {
    uint8_t b[0x3000];
    size_t len;
};

/* ELF64: PT_LOAD of 0x100 bytes at paddr, PT_NOTE with the PVH entry (desc 4 or 8 bytes). */
static void make64(struct img *im, uint64_t paddr, uint64_t entry, int descsz, int with_note)
{
    memset(im, 0, sizeof(*im));
    Elf64_Ehdr *eh = (Elf64_Ehdr *)im->b;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_phoff = sizeof(*eh);
    eh->e_ehsize = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 2;
    Elf64_Phdr *ph = (Elf64_Phdr *)(im->b + sizeof(*eh));
    ph[0] = (Elf64_Phdr){.p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = paddr,
                         .p_vaddr = paddr, .p_filesz = 0x100, .p_memsz = 0x2000};
    uint8_t *note = im->b + 0x800;
    uint32_t hdr[3] = {4, (uint32_t)descsz, with_note ? 18 : 5};
    memcpy(note, hdr, 12);
    memcpy(note + 12, "Xen", 4);
    memcpy(note + 16, &entry, (size_t)descsz);
    ph[1] = (Elf64_Phdr){.p_type = PT_NOTE, .p_offset = 0x800,
                         .p_filesz = 16 + (uint64_t)((descsz + 3) & ~3)};
    memset(im->b + 0x1000, 0x90, 0x100);
    im->len = 0x1100;
}

int main(void)
{
    uint8_t *ram = calloc(1, RAM);
    struct vmm_mem m;
    vmm_mem_init_buffer(&m, ram, RAM);
    struct img im;
    struct vmm_boot b;
    char err[256];

    make64(&im, 0x100000, 0x100040, 4, 1);
    is_int(vmm_boot_probe(im.b, im.len), VMM_IMAGE_ELF, "probe: ELF");
    struct vmm_boot_input in = {.image = im.b, .image_len = im.len, .cmdline = "console=ttyS0",
                                .rsdp_addr = 0xE0000};
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), 0, "ELF64 PVH image loads");
    is_int(b.mode, VMM_BOOT_PVH32, "mode PVH32");
    is_int(b.entry, 0x100040, "entry from the Xen note");
    is_int(b.arg, VMM_START_INFO_ADDR, "EBX = start_info address");
    is_int(ram[0x100000], 0x90, "segment bytes copied");
    is_int(ram[0x100100], 0, "bss zeroed");
    is_int(b.image_end, 0x102000, "image end = paddr + memsz");

    /* hvm_start_info v1 layout: fixed offsets of the Xen ABI */
    is_int(offsetof(struct vmm_hvm_start_info, cmdline_paddr), 24, "cmdline_paddr at 24");
    is_int(offsetof(struct vmm_hvm_start_info, rsdp_paddr), 32, "rsdp_paddr at 32");
    is_int(offsetof(struct vmm_hvm_start_info, memmap_paddr), 40, "memmap_paddr at 40");
    is_int(offsetof(struct vmm_hvm_start_info, memmap_entries), 48, "memmap_entries at 48");
    is_int(sizeof(struct vmm_hvm_start_info), 56, "start_info is 56 bytes");
    is_int(sizeof(struct vmm_hvm_memmap_entry), 24, "memmap entry is 24 bytes");
    is_int(sizeof(struct vmm_hvm_modlist_entry), 32, "modlist entry is 32 bytes");

    struct vmm_hvm_start_info si;
    memcpy(&si, ram + VMM_START_INFO_ADDR, sizeof(si));
    is_int(si.magic, 0x336ec578, "magic");
    is_int(si.version, 1, "version 1");
    is_int(si.nr_modules, 0, "no modules without initrd");
    is_int(si.rsdp_paddr, 0xE0000, "rsdp_paddr");
    is_str((char *)ram + si.cmdline_paddr, "console=ttyS0", "command line");
    is_int(si.memmap_entries, 3, "3 memmap entries for 16 MiB");
    struct vmm_hvm_memmap_entry mm[3];
    memcpy(mm, ram + si.memmap_paddr, sizeof(mm));
    uint64_t usable = 0;
    for (int i = 0; i < 3; i++)
        if (mm[i].type == 1)
            usable += mm[i].size;
    is_int(usable, RAM - 384 * 1024, "memmap RAM = 16 MiB - 384 KiB");
    is_int(mm[2].addr, 0x100000, "RAM from 1 MiB");
    ok(si.memmap_paddr >= 0xE0000 && si.cmdline_paddr >= 0xE0000,
       "boot info lives in the reserved BIOS area, not in guest RAM");
    uint64_t gdt[4];
    memcpy(gdt, ram + b.gdt_addr, sizeof(gdt));
    is_int(gdt[1], 0x00CF9B000000FFFFull, "GDT 0x08: flat 32-bit code");

    /* with an initrd: one module */
    static const uint8_t rd[5000] = {1, 2, 3};
    in.initrd = rd;
    in.initrd_len = sizeof(rd);
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), 0, "load with initrd");
    memcpy(&si, ram + VMM_START_INFO_ADDR, sizeof(si));
    is_int(si.nr_modules, 1, "one module");
    struct vmm_hvm_modlist_entry mod;
    memcpy(&mod, ram + si.modlist_paddr, sizeof(mod));
    is_int(mod.size, sizeof(rd), "module size");
    ok(mod.paddr % 4096 == 0 && mod.paddr >= b.image_end && mod.paddr + mod.size <= RAM,
       "module page-aligned, above the kernel, inside RAM");
    is_int(ram[mod.paddr + 2], 3, "module content");
    in.initrd = NULL;
    in.initrd_len = 0;

    make64(&im, 0x100000, 0x100040, 8, 1);
    in.image = im.b;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), 0, "8-byte note descriptor accepted");
    is_int(b.entry, 0x100040, "64-bit entry value");

    make64(&im, 0x100000, 0x100040, 4, 0);
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "no PVH note: refused");
    ok(strstr(err, "no PVH entry note") != NULL, "error: %s", err);

    make64(&im, 0x80000, 0x80040, 4, 1);
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "segment below 1 MiB refused");
    make64(&im, RAM - 0x1000, RAM - 0x1000, 4, 1);
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "segment past RAM refused");
    ok(strstr(err, "does not fit") != NULL, "error: %s", err);
    make64(&im, 0x100000, 0x40000000, 4, 1);
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "entry outside RAM refused");

    make64(&im, 0x100000, 0x100040, 4, 1);
    ((Elf64_Phdr *)(im.b + sizeof(Elf64_Ehdr)))[0].p_filesz = 0x10000;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "segment past end of file refused");
    ok(strstr(err, "truncated") != NULL, "error: %s", err);
    make64(&im, 0x100000, 0x100040, 4, 1);
    ((Elf64_Phdr *)(im.b + sizeof(Elf64_Ehdr)))[0].p_filesz = 0x3000;
    ((Elf64_Phdr *)(im.b + sizeof(Elf64_Ehdr)))[0].p_offset = 0;
    im.len = 0x3000;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "filesz > memsz refused");
    make64(&im, 0x100000, 0x100040, 4, 1);
    ((Elf64_Ehdr *)im.b)->e_phnum = 60000;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "absurd phnum refused");
    make64(&im, 0x100000, 0x100040, 4, 1);
    ((Elf64_Ehdr *)im.b)->e_phoff = 0xfffffffffffffff0ull;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "wrapping phoff refused");
    make64(&im, 0x100000, 0x100040, 4, 1);
    uint32_t huge = 0xfffffff0u;
    memcpy(im.b + 0x800, &huge, 4);      /* namesz overflow inside the note */
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "hostile note sizes refused");
    in.image_len = 3;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), -1, "3-byte image refused");
    static const uint8_t junk[64] = "hello";
    is_int(vmm_boot_probe(junk, sizeof(junk)), VMM_IMAGE_UNKNOWN, "probe: junk is unknown");

    /* an ELF32 image, like the integration-test fixture */
    memset(&im, 0, sizeof(im));
    Elf32_Ehdr *eh = (Elf32_Ehdr *)im.b;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS32;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_machine = EM_386;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf32_Phdr);
    eh->e_phnum = 2;
    Elf32_Phdr *ph = (Elf32_Phdr *)(im.b + sizeof(*eh));
    ph[0] = (Elf32_Phdr){.p_type = PT_LOAD, .p_offset = 0x1000, .p_paddr = 0x200000,
                         .p_filesz = 0x10, .p_memsz = 0x10};
    ph[1] = (Elf32_Phdr){.p_type = PT_NOTE, .p_offset = 0x800, .p_filesz = 20};
    uint32_t note[5] = {4, 4, 18, 0x006e6558, 0x200000};
    memcpy(im.b + 0x800, note, sizeof(note));
    in.image = im.b;
    in.image_len = 0x1010;
    is_int(vmm_pvh_load(&m, &in, &b, err, sizeof(err)), 0, "ELF32 PVH image loads");
    is_int(b.entry, 0x200000, "ELF32 entry");
    /* deterministic mutation fuzzing of headers, program headers and notes: never a crash */
    uint32_t seed = 12345;
    int loaded = 0, refused = 0;
    for (int iter = 0; iter < 20000; iter++) {
        make64(&im, 0x100000, 0x100040, 4, 1);
        int flips = 1 + (int)(seed % 8);
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % 0x900;      /* ELF header, phdrs, note */
            seed = seed * 1103515245u + 12345u;
            im.b[pos] = (uint8_t)(seed >> 16);
        }
        in.image = im.b;
        in.image_len = im.len;
        if (vmm_pvh_load(&m, &in, &b, err, sizeof(err)) == 0)
            loaded++;
        else
            refused++;
    }
    ok(loaded + refused == 20000, "20000 mutated images: %d loaded, %d refused, no crash", loaded,
       refused);
    free(ram);
    return tap_done();
}

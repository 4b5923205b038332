/*
 * hypervisor/pvh.c - the PVH boot protocol: ELF32/ELF64 loading by physical
 * address, the XEN_ELFNOTE_PHYS32_ENTRY note, hvm_start_info v1 with command
 * line, memory map, initrd module and RSDP address; also the shared boot GDT.
 * Threads: main, before any vCPU runs. Trust: the image is hostile input.
 */
#include "boot.h"

#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "atoll/util.h"

enum vmm_image_kind vmm_boot_probe(const uint8_t *img, size_t len)
{
    if (len >= 4 && memcmp(img, ELFMAG, SELFMAG) == 0)
        return VMM_IMAGE_ELF;
    if (len >= 0x206 && memcmp(img + 0x202, "HdrS", 4) == 0)
        return VMM_IMAGE_BZIMAGE;
    return VMM_IMAGE_UNKNOWN;
}

int vmm_boot_write_gdt(const struct vmm_mem *mem)
{
    static const uint64_t gdt[] = {
        0,
        0x00CF9B000000FFFFull,   /* 0x08: 32-bit code, flat */
        0x00AF9B000000FFFFull,   /* 0x10: 64-bit code */
        0x00CF93000000FFFFull,   /* 0x18: data, flat */
        0x00008B0000000067ull,   /* 0x20: busy TSS (placeholder for TR) */
        0,
    };
    return vmm_mem_write(mem, VMM_BOOT_GDT_ADDR, gdt, sizeof(gdt));
}

uint64_t vmm_boot_initrd_addr(const struct vmm_mem *mem, uint64_t len, uint64_t min,
                              uint64_t max_end)
{
    uint64_t top = mem->low_size < max_end ? mem->low_size : max_end;
    if (len > top)
        return 0;
    uint64_t addr = (top - len) & ~0xfffULL;
    if (addr < min)
        return 0;
    return addr;
}

/* One loadable segment or note, normalised from ELF32/ELF64. */
struct seg {
    uint32_t type;
    uint64_t offset, paddr, filesz, memsz;
};

static int read_segs(const uint8_t *img, size_t len, struct seg *segs, unsigned *nsegs,
                     unsigned cap, char *errbuf, size_t errlen)
{
    int is64;
    uint64_t phoff;
    unsigned phnum, phentsize;
    if (len < EI_NIDENT || img[EI_DATA] != ELFDATA2LSB || img[EI_VERSION] != EV_CURRENT) {
        snprintf(errbuf, errlen, "not a little-endian ELF image");
        return -1;
    }
    unsigned machine;
    if (img[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            goto trunc;
        memcpy(&eh, img, sizeof(eh));
        is64 = 1, machine = eh.e_machine;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
    } else if (img[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (len < sizeof(eh))
            goto trunc;
        memcpy(&eh, img, sizeof(eh));
        is64 = 0, machine = eh.e_machine;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
    } else {
        snprintf(errbuf, errlen, "unknown ELF class %u", img[EI_CLASS]);
        return -1;
    }
    if (machine != EM_X86_64 && machine != EM_386) {
        snprintf(errbuf, errlen, "ELF machine %u is not x86", machine);
        return -1;
    }
    if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
        goto bad_ph;
    if (phnum == 0 || phnum > cap) {
        snprintf(errbuf, errlen, "ELF has %u program headers: expected 1..%u", phnum, cap);
        return -1;
    }
    if (phoff > len || (uint64_t)phnum * phentsize > len - phoff)
        goto trunc;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *p = img + phoff + (uint64_t)i * phentsize;
        if (is64) {
            Elf64_Phdr ph;
            memcpy(&ph, p, sizeof(ph));
            segs[i] = (struct seg){ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz};
        } else {
            Elf32_Phdr ph;
            memcpy(&ph, p, sizeof(ph));
            segs[i] = (struct seg){ph.p_type, ph.p_offset, ph.p_paddr, ph.p_filesz, ph.p_memsz};
        }
        if (segs[i].offset > len || segs[i].filesz > len - segs[i].offset)
            goto trunc;
    }
    *nsegs = phnum;
    return 0;
trunc:
    snprintf(errbuf, errlen, "ELF image is truncated (a header or segment lies past its end)");
    return -1;
bad_ph:
    snprintf(errbuf, errlen, "ELF program header size %u is wrong", phentsize);
    return -1;
}

/* Walks the notes of one PT_NOTE segment looking for the Xen PVH entry. */
static int find_pvh_note(const uint8_t *p, uint64_t len, uint64_t *entry)
{
    uint64_t off = 0;
    while (len - off >= 12) {
        uint32_t namesz, descsz, type;
        memcpy(&namesz, p + off, 4);
        memcpy(&descsz, p + off + 4, 4);
        memcpy(&type, p + off + 8, 4);
        off += 12;
        uint64_t nalign = ((uint64_t)namesz + 3) & ~3ULL, dalign = ((uint64_t)descsz + 3) & ~3ULL;
        if (nalign > len - off)
            return 0;
        const uint8_t *name = p + off;
        off += nalign;
        if (dalign > len - off)
            return 0;
        const uint8_t *desc = p + off;
        off += dalign;
        if (type == VMM_XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && memcmp(name, "Xen", 4) == 0) {
            if (descsz == 4) {
                uint32_t v;
                memcpy(&v, desc, 4);
                *entry = v;
                return 1;
            }
            if (descsz == 8) {
                memcpy(entry, desc, 8);
                return 1;
            }
        }
    }
    return 0;
}

int vmm_pvh_load(const struct vmm_mem *mem, const struct vmm_boot_input *in,
                 struct vmm_boot *out, char *errbuf, size_t errlen)
{
    struct seg segs[64];
    unsigned n;
    uint64_t entry = 0, end = 0;
    int found = 0;

    if (vmm_boot_probe(in->image, in->image_len) != VMM_IMAGE_ELF) {
        snprintf(errbuf, errlen, "not an ELF image");
        return -1;
    }
    if (read_segs(in->image, in->image_len, segs, &n, ATOLL_ARRAY_SIZE(segs), errbuf, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < n && !found; i++)
        if (segs[i].type == PT_NOTE)
            found = find_pvh_note(in->image + segs[i].offset, segs[i].filesz, &entry);
    if (!found) {
        snprintf(errbuf, errlen, "ELF image has no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY): "
                 "not PVH-bootable");
        return -1;
    }
    int loaded = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct seg *s = &segs[i];
        if (s->type != PT_LOAD || s->memsz == 0)
            continue;
        if (s->filesz > s->memsz) {
            snprintf(errbuf, errlen, "ELF segment %u has filesz > memsz", i);
            return -1;
        }
        uint8_t *dst = vmm_mem_ptr(mem, s->paddr, s->memsz);
        if (s->paddr < VMM_KERNEL_MIN_ADDR || !dst) {
            snprintf(errbuf, errlen, "ELF segment %u at 0x%llx+0x%llx does not fit in guest RAM "
                     "above 1 MiB (%llu MiB below the hole)", i, (unsigned long long)s->paddr,
                     (unsigned long long)s->memsz, (unsigned long long)(mem->low_size >> 20));
            return -1;
        }
        memcpy(dst, in->image + s->offset, s->filesz);
        memset(dst + s->filesz, 0, s->memsz - s->filesz);
        if (s->paddr + s->memsz > end)
            end = s->paddr + s->memsz;
        loaded++;
    }
    if (!loaded) {
        snprintf(errbuf, errlen, "ELF image has no loadable segment");
        return -1;
    }
    if (entry >= (1ULL << 32) || !vmm_mem_ptr(mem, entry, 1)) {
        snprintf(errbuf, errlen, "PVH entry 0x%llx is outside guest RAM",
                 (unsigned long long)entry);
        return -1;
    }

    struct vmm_hvm_start_info si = {.magic = VMM_HVM_START_MAGIC, .version = 1};
    struct vmm_e820 e820[VMM_E820_MAX];
    unsigned ne = vmm_mem_e820(mem, e820);
    struct vmm_hvm_memmap_entry mm[VMM_E820_MAX];
    for (unsigned i = 0; i < ne; i++)
        mm[i] = (struct vmm_hvm_memmap_entry){e820[i].addr, e820[i].size, e820[i].type, 0};
    if (vmm_mem_write(mem, VMM_MEMMAP_ADDR, mm, ne * sizeof(mm[0])) < 0)
        goto nomem;
    si.memmap_paddr = VMM_MEMMAP_ADDR;
    si.memmap_entries = ne;
    const char *cmdline = in->cmdline ? in->cmdline : "";
    size_t clen = strlen(cmdline) + 1;
    if (clen > VMM_CMDLINE_MAX) {
        snprintf(errbuf, errlen, "command line longer than %d bytes", VMM_CMDLINE_MAX - 1);
        return -1;
    }
    if (vmm_mem_write(mem, VMM_CMDLINE_ADDR, cmdline, clen) < 0)
        goto nomem;
    si.cmdline_paddr = VMM_CMDLINE_ADDR;
    si.rsdp_paddr = in->rsdp_addr;
    if (in->initrd) {
        uint64_t a = vmm_boot_initrd_addr(mem, in->initrd_len, (end + 0xfff) & ~0xfffULL,
                                          VMM_MMIO_HOLE_START);
        if (!a) {
            snprintf(errbuf, errlen, "initrd of %zu bytes does not fit in guest RAM above the "
                     "kernel", in->initrd_len);
            return -1;
        }
        vmm_mem_write(mem, a, in->initrd, in->initrd_len);
        struct vmm_hvm_modlist_entry mod = {.paddr = a, .size = in->initrd_len};
        if (vmm_mem_write(mem, VMM_MODLIST_ADDR, &mod, sizeof(mod)) < 0)
            goto nomem;
        si.nr_modules = 1;
        si.modlist_paddr = VMM_MODLIST_ADDR;
    }
    if (vmm_mem_write(mem, VMM_START_INFO_ADDR, &si, sizeof(si)) < 0 ||
        vmm_boot_write_gdt(mem) < 0)
        goto nomem;
    *out = (struct vmm_boot){.mode = VMM_BOOT_PVH32, .entry = entry,
                             .arg = VMM_START_INFO_ADDR, .gdt_addr = VMM_BOOT_GDT_ADDR,
                             .image_end = end};
    return 0;
nomem:
    snprintf(errbuf, errlen, "guest RAM too small for the boot information");
    return -1;
}

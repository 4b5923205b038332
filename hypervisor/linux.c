/*
 * hypervisor/linux.c - the Linux x86 boot protocol for bzImage: setup header
 * checks (>= 2.12, 64-bit entry), protected-mode kernel at 1 MiB, boot_params
 * (zero page) with e820, command line and initrd, and identity-mapped page
 * tables for the 64-bit entry. Threads: main, before any vCPU runs.
 * Trust: every header field of the image is checked before use.
 */
#include "boot.h"
#include "linux.h"

#include <stdio.h>
#include <string.h>

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* 4 GiB identity map with 2 MiB pages: PML4, PDPT, 4 page directories. */
static int write_page_tables(const struct vmm_mem *mem)
{
    uint64_t pml4 = VMM_LINUX_PML4, pdpt = pml4 + 0x1000, pd = pml4 + 0x2000;
    uint64_t *p4 = vmm_mem_ptr(mem, pml4, 0x1000), *p3 = vmm_mem_ptr(mem, pdpt, 0x1000);
    uint64_t *p2 = vmm_mem_ptr(mem, pd, 4 * 0x1000);
    if (!p4 || !p3 || !p2)
        return -1;
    memset(p4, 0, 0x1000);
    memset(p3, 0, 0x1000);
    p4[0] = pdpt | 0x3;                                   /* present, writable */
    for (uint64_t i = 0; i < 4; i++)
        p3[i] = (pd + i * 0x1000) | 0x3;
    for (uint64_t i = 0; i < 4 * 512; i++)
        p2[i] = (i << 21) | 0x83;                         /* present, writable, 2 MiB */
    return 0;
}

int vmm_linux_load(const struct vmm_mem *mem, const struct vmm_boot_input *in,
                   struct vmm_boot *out, char *errbuf, size_t errlen)
{
    const uint8_t *img = in->image;
    size_t len = in->image_len;

    if (vmm_boot_probe(img, len) != VMM_IMAGE_BZIMAGE || len < 1024) {
        snprintf(errbuf, errlen, "not a bzImage (no 'HdrS' setup header)");
        return -1;
    }
    if (rd16(img + VMM_BP_BOOT_FLAG) != 0xAA55) {
        snprintf(errbuf, errlen, "bzImage boot flag is not 0xAA55");
        return -1;
    }
    uint16_t version = rd16(img + VMM_BP_VERSION);
    if (version < 0x020c) {
        snprintf(errbuf, errlen, "bzImage boot protocol %u.%02u is too old: 2.12 or newer "
                 "(64-bit entry) is needed", version >> 8, version & 0xff);
        return -1;
    }
    if (!(rd16(img + VMM_BP_XLOADFLAGS) & VMM_XLF_KERNEL_64)) {
        snprintf(errbuf, errlen, "bzImage has no 64-bit entry point (XLF_KERNEL_64 unset)");
        return -1;
    }
    if (!(img[VMM_BP_LOADFLAGS] & VMM_LOADED_HIGH)) {
        snprintf(errbuf, errlen, "bzImage is a zImage (not loaded high): unsupported");
        return -1;
    }
    unsigned setup_sects = img[VMM_BP_SETUP_SECTS] ? img[VMM_BP_SETUP_SECTS] : 4;
    uint64_t setup_size = (uint64_t)(setup_sects + 1) * 512;
    if (setup_size >= len) {
        snprintf(errbuf, errlen, "bzImage is truncated: setup (%llu bytes) covers the file",
                 (unsigned long long)setup_size);
        return -1;
    }
    uint64_t kernel_size = len - setup_size;
    uint64_t init_size = rd32(img + VMM_BP_INIT_SIZE);
    uint64_t need = init_size > kernel_size ? init_size : kernel_size;
    /*
     * Load at the kernel's preferred address when it has one (protocol >= 2.10) and RAM
     * allows: a relocatable kernel loaded lower moves itself there anyway (one more copy).
     */
    uint64_t load = VMM_KERNEL_MIN_ADDR, pref;
    memcpy(&pref, img + VMM_BP_PREF_ADDRESS, 8);
    if (version >= 0x020a && pref >= VMM_KERNEL_MIN_ADDR && pref % 4096 == 0 &&
        vmm_mem_ptr(mem, pref, need))
        load = pref;
    uint8_t *dst = vmm_mem_ptr(mem, load, need);
    if (!dst) {
        snprintf(errbuf, errlen, "kernel needs %llu MiB from 1 MiB: more than guest RAM below "
                 "the hole", (unsigned long long)((need + VMM_MIB - 1) >> 20));
        return -1;
    }
    memcpy(dst, img + setup_size, kernel_size);

    uint8_t *bp = vmm_mem_ptr(mem, VMM_LINUX_BOOT_PARAMS, 4096);
    if (!bp)
        goto nomem;
    memset(bp, 0, 4096);
    /* copy the setup header as the image has it (0x1f1 up to its stated end) */
    uint64_t hdr_end = 0x202 + (uint64_t)img[0x201];
    if (hdr_end > 4096 || hdr_end > len)
        hdr_end = 0x268 < len ? 0x268 : len;
    memcpy(bp + VMM_BP_SETUP_SECTS, img + VMM_BP_SETUP_SECTS, hdr_end - VMM_BP_SETUP_SECTS);
    bp[VMM_BP_TYPE_OF_LOADER] = 0xff;
    bp[VMM_BP_LOADFLAGS] |= VMM_CAN_USE_HEAP;
    bp[VMM_BP_HEAP_END_PTR] = 0x00;
    bp[VMM_BP_HEAP_END_PTR + 1] = 0xfe;                       /* 0xfe00 */
    wr32(bp + VMM_BP_CODE32_START, (uint32_t)load);

    const char *cmdline = in->cmdline ? in->cmdline : "";
    size_t clen = strlen(cmdline) + 1;
    uint32_t cmax = rd32(img + VMM_BP_CMDLINE_SIZE);
    if (cmax && clen - 1 > cmax) {
        snprintf(errbuf, errlen, "command line is %zu bytes: this kernel accepts %u", clen - 1,
                 cmax);
        return -1;
    }
    if (clen > VMM_CMDLINE_MAX || vmm_mem_write(mem, VMM_LINUX_CMDLINE, cmdline, clen) < 0) {
        snprintf(errbuf, errlen, "command line longer than %d bytes", VMM_CMDLINE_MAX - 1);
        return -1;
    }
    wr32(bp + VMM_BP_CMD_LINE_PTR, (uint32_t)VMM_LINUX_CMDLINE);

    if (in->initrd) {
        uint64_t max = rd32(img + VMM_BP_INITRD_ADDR_MAX);
        if (max == 0)
            max = 0x37ffffff;
        uint64_t a = vmm_boot_initrd_addr(mem, in->initrd_len, load + need, max + 1);
        if (!a) {
            snprintf(errbuf, errlen, "initrd of %zu bytes does not fit in guest RAM between the "
                     "kernel and 0x%llx", in->initrd_len, (unsigned long long)max);
            return -1;
        }
        vmm_mem_write(mem, a, in->initrd, in->initrd_len);
        wr32(bp + VMM_BP_RAMDISK_IMAGE, (uint32_t)a);
        wr32(bp + VMM_BP_RAMDISK_SIZE, (uint32_t)in->initrd_len);
    }

    struct vmm_e820 e820[VMM_E820_MAX];
    unsigned ne = vmm_mem_e820(mem, e820);
    bp[VMM_BP_E820_ENTRIES] = (uint8_t)ne;
    for (unsigned i = 0; i < ne; i++) {
        uint8_t *e = bp + VMM_BP_E820_TABLE + i * 20;
        memcpy(e, &e820[i].addr, 8);
        memcpy(e + 8, &e820[i].size, 8);
        memcpy(e + 16, &e820[i].type, 4);
    }
    if (in->rsdp_addr)
        memcpy(bp + VMM_BP_ACPI_RSDP_ADDR, &in->rsdp_addr, 8);
    if (write_page_tables(mem) < 0 || vmm_boot_write_gdt(mem) < 0)
        goto nomem;
    *out = (struct vmm_boot){.mode = VMM_BOOT_LINUX64, .entry = load + 0x200,
                             .arg = VMM_LINUX_BOOT_PARAMS, .gdt_addr = VMM_BOOT_GDT_ADDR,
                             .cr3 = VMM_LINUX_PML4, .image_end = load + need};
    return 0;
nomem:
    snprintf(errbuf, errlen, "guest RAM too small for the Linux boot structures");
    return -1;
}

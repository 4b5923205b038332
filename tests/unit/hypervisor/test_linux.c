/* tests/unit/hypervisor/test_linux.c - bzImage loading, boot_params and e820 (synthetic image). */
#include <stdlib.h>

#include "boot.h"
#include "linux.h"
#include "tap.h"

#define RAM (64u << 20)

static void w16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void w32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t r32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* setup_sects 4 -> 5 sectors of setup, then a 8 KiB "kernel" */
static size_t make_bz(uint8_t *img, uint16_t version, uint16_t xlf)
{
    size_t len = 5 * 512 + 8192;
    memset(img, 0, len);
    img[VMM_BP_SETUP_SECTS] = 4;
    w16(img + VMM_BP_BOOT_FLAG, 0xAA55);
    img[0x200] = 0xeb;
    img[0x201] = 0x66;                     /* header ends at 0x268 */
    memcpy(img + VMM_BP_HEADER, "HdrS", 4);
    w16(img + VMM_BP_VERSION, version);
    img[VMM_BP_LOADFLAGS] = VMM_LOADED_HIGH;
    w32(img + VMM_BP_INITRD_ADDR_MAX, 0x7fffffff);
    w16(img + VMM_BP_XLOADFLAGS, xlf);
    w32(img + VMM_BP_CMDLINE_SIZE, 2047);
    w32(img + VMM_BP_INIT_SIZE, 4 << 20);
    uint64_t pref = 16 << 20;
    memcpy(img + VMM_BP_PREF_ADDRESS, &pref, 8);
    for (size_t i = 5 * 512; i < len; i++)
        img[i] = 0xcc;
    return len;
}

int main(void)
{
    uint8_t *ram = calloc(1, RAM);
    static uint8_t img[5 * 512 + 8192];
    struct vmm_mem m;
    vmm_mem_init_buffer(&m, ram, RAM);
    struct vmm_boot b;
    char err[256];

    size_t len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    is_int(vmm_boot_probe(img, len), VMM_IMAGE_BZIMAGE, "probe: bzImage");
    static const uint8_t rd[10000] = {7};
    struct vmm_boot_input in = {.image = img, .image_len = len, .cmdline = "console=ttyS0 ro",
                                .initrd = rd, .initrd_len = sizeof(rd), .rsdp_addr = 0xE0000};
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), 0, "bzImage 2.15 loads");
    is_int(b.mode, VMM_BOOT_LINUX64, "64-bit Linux entry");
    is_int(b.entry, (16 << 20) + 0x200, "entry = pref_address (16 MiB) + 0x200");
    is_int(b.arg, VMM_LINUX_BOOT_PARAMS, "RSI = boot_params");
    is_int(ram[16 << 20], 0xcc, "protected-mode kernel at its preferred address");
    uint8_t *bp = ram + VMM_LINUX_BOOT_PARAMS;
    ok(memcmp(bp + VMM_BP_HEADER, "HdrS", 4) == 0, "setup header copied into boot_params");
    is_int(bp[VMM_BP_TYPE_OF_LOADER], 0xff, "type_of_loader undefined (0xff)");
    ok(bp[VMM_BP_LOADFLAGS] & VMM_CAN_USE_HEAP, "CAN_USE_HEAP set");
    is_int(r32(bp + VMM_BP_CMD_LINE_PTR), VMM_LINUX_CMDLINE, "cmd_line_ptr");
    is_str((char *)ram + VMM_LINUX_CMDLINE, "console=ttyS0 ro", "command line text");
    uint32_t rdaddr = r32(bp + VMM_BP_RAMDISK_IMAGE);
    is_int(r32(bp + VMM_BP_RAMDISK_SIZE), sizeof(rd), "ramdisk_size");
    ok(rdaddr % 4096 == 0 && rdaddr >= (16u << 20) + (4u << 20) && rdaddr + sizeof(rd) <= RAM,
       "initrd page aligned, above init_size, inside RAM (0x%x)", rdaddr);
    is_int(ram[rdaddr], 7, "initrd content");
    is_int(bp[VMM_BP_E820_ENTRIES], 3, "3 e820 entries");
    uint64_t a, s;
    uint32_t t;
    memcpy(&a, bp + VMM_BP_E820_TABLE + 2 * 20, 8);
    memcpy(&s, bp + VMM_BP_E820_TABLE + 2 * 20 + 8, 8);
    memcpy(&t, bp + VMM_BP_E820_TABLE + 2 * 20 + 16, 4);
    ok(a == 0x100000 && s == RAM - 0x100000 && t == 1, "e820[2]: RAM from 1 MiB to the end");
    uint64_t rsdp;
    memcpy(&rsdp, bp + VMM_BP_ACPI_RSDP_ADDR, 8);
    is_int(rsdp, 0xE0000, "acpi_rsdp_addr");
    uint64_t pml4e, pde;
    memcpy(&pml4e, ram + VMM_LINUX_PML4, 8);
    memcpy(&pde, ram + VMM_LINUX_PML4 + 0x2000 + 8, 8);
    is_int(pml4e & ~0xfffULL, VMM_LINUX_PML4 + 0x1000, "PML4[0] -> PDPT");
    is_int(pde, (2ULL << 20) | 0x83, "PD[1] maps 2 MiB identity, large page");
    is_int(b.cr3, VMM_LINUX_PML4, "CR3");

    len = make_bz(img, 0x020b, VMM_XLF_KERNEL_64);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "protocol 2.11 refused");
    ok(strstr(err, "too old") != NULL, "error: %s", err);
    len = make_bz(img, 0x020f, 0);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "no 64-bit entry refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    w16(img + VMM_BP_BOOT_FLAG, 0);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "bad boot flag refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    img[VMM_BP_SETUP_SECTS] = 200;
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "setup larger than file refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    w32(img + VMM_BP_INIT_SIZE, 0x7fffffff);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "init_size beyond RAM refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    w32(img + VMM_BP_CMDLINE_SIZE, 4);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "cmdline over cmdline_size refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    w32(img + VMM_BP_INITRD_ADDR_MAX, 0x1401000);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1,
           "initrd above initrd_addr_max refused");
    len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
    w32(img + VMM_BP_INIT_SIZE, 62u << 20);
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), 0, "too big for pref_address: loads");
    is_int(b.entry, 0x100200, "... at 1 MiB instead");
    in.initrd = NULL;
    in.image_len = 600;
    is_int(vmm_linux_load(&m, &in, &b, err, sizeof(err)), -1, "truncated bzImage refused");
    /* deterministic mutation fuzzing of the setup header: never a crash */
    uint32_t seed = 777;
    int loaded = 0, refused = 0;
    in.initrd = rd;
    in.initrd_len = sizeof(rd);
    for (int iter = 0; iter < 20000; iter++) {
        len = make_bz(img, 0x020f, VMM_XLF_KERNEL_64);
        int flips = 1 + (int)(seed % 6);
        for (int k = 0; k < flips; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = 0x1f1 + (seed >> 8) % (0x268 - 0x1f1);
            seed = seed * 1103515245u + 12345u;
            img[pos] = (uint8_t)(seed >> 16);
        }
        in.image = img;
        in.image_len = len;
        if (vmm_linux_load(&m, &in, &b, err, sizeof(err)) == 0)
            loaded++;
        else
            refused++;
    }
    ok(loaded + refused == 20000, "20000 mutated setup headers: %d loaded, %d refused, no crash",
       loaded, refused);
    free(ram);
    return tap_done();
}

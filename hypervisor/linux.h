/*
 * hypervisor/linux.h - offsets in the Linux boot_params "zero page" and setup
 * header (Documentation/arch/x86/boot.rst, zero-page.rst) used by linux.c and
 * its unit test. Byte offsets, not a struct: the layout is packed and fixed.
 */
#ifndef VMM_LINUX_H
#define VMM_LINUX_H

#define VMM_BP_ACPI_RSDP_ADDR  0x070
#define VMM_BP_E820_ENTRIES    0x1e8
#define VMM_BP_SETUP_SECTS     0x1f1
#define VMM_BP_BOOT_FLAG       0x1fe
#define VMM_BP_HEADER          0x202
#define VMM_BP_VERSION         0x206
#define VMM_BP_TYPE_OF_LOADER  0x210
#define VMM_BP_LOADFLAGS       0x211
#define VMM_BP_CODE32_START    0x214
#define VMM_BP_RAMDISK_IMAGE   0x218
#define VMM_BP_RAMDISK_SIZE    0x21c
#define VMM_BP_HEAP_END_PTR    0x224
#define VMM_BP_CMD_LINE_PTR    0x228
#define VMM_BP_INITRD_ADDR_MAX 0x22c
#define VMM_BP_XLOADFLAGS      0x236
#define VMM_BP_CMDLINE_SIZE    0x238
#define VMM_BP_PREF_ADDRESS    0x258
#define VMM_BP_INIT_SIZE       0x260
#define VMM_BP_E820_TABLE      0x2d0

#define VMM_LOADED_HIGH   0x01
#define VMM_CAN_USE_HEAP  0x80
#define VMM_XLF_KERNEL_64 0x01

#endif

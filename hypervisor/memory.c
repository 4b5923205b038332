/*
 * hypervisor/memory.c - guest RAM in a memfd split around the MMIO hole, the
 * e820 map, and bounds-checked guest-physical to host pointer translation.
 * Threads: setup on the main thread; vmm_mem_ptr is read-only and lock-free.
 * Trust: every gpa/len passed to vmm_mem_ptr may be guest-controlled.
 */
#include "memory.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void split(struct vmm_mem *mem, uint64_t size)
{
    mem->size = size;
    mem->low_size = size < VMM_MMIO_HOLE_START ? size : VMM_MMIO_HOLE_START;
    mem->high_size = size - mem->low_size;
}

int vmm_mem_init(struct vmm_mem *mem, uint64_t size, char *errbuf, size_t errlen)
{
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    if (size < VMM_MEM_MIN || size % 4096) {
        snprintf(errbuf, errlen, "memory size %llu is invalid: expected a multiple of 4 KiB, "
                 "at least %llu MiB", (unsigned long long)size,
                 (unsigned long long)(VMM_MEM_MIN / VMM_MIB));
        return -1;
    }
    int fd = memfd_create("atoll-guest-ram", MFD_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot create guest RAM memfd: %s", strerror(errno));
        return -1;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        snprintf(errbuf, errlen, "cannot size guest RAM to %llu MiB: %s",
                 (unsigned long long)(size / VMM_MIB), strerror(errno));
        close(fd);
        return -1;
    }
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(errbuf, errlen, "cannot map %llu MiB of guest RAM: %s",
                 (unsigned long long)(size / VMM_MIB), strerror(errno));
        close(fd);
        return -1;
    }
    /* Guest RAM never goes into a core dump of the VMM. */
    (void)madvise(p, size, MADV_DONTDUMP);
    mem->host = p;
    mem->fd = fd;
    split(mem, size);
    return 0;
}

void vmm_mem_init_buffer(struct vmm_mem *mem, void *buf, uint64_t size)
{
    memset(mem, 0, sizeof(*mem));
    mem->fd = -1;
    mem->host = buf;
    split(mem, size);
}

void vmm_mem_fini(struct vmm_mem *mem)
{
    if (mem->fd >= 0) {
        if (mem->host)
            munmap(mem->host, mem->size);
        close(mem->fd);
    }
    mem->host = NULL;
    mem->fd = -1;
}

void *vmm_mem_ptr(const struct vmm_mem *mem, uint64_t gpa, uint64_t len)
{
    if (!mem->host || len > mem->size)
        return NULL;
    if (gpa < mem->low_size) {
        if (len > mem->low_size - gpa)
            return NULL;
        return mem->host + gpa;
    }
    if (gpa >= VMM_HIGH_RAM_START && gpa - VMM_HIGH_RAM_START < mem->high_size) {
        uint64_t off = gpa - VMM_HIGH_RAM_START;
        if (len > mem->high_size - off)
            return NULL;
        return mem->host + mem->low_size + off;
    }
    return NULL;
}

int vmm_mem_write(const struct vmm_mem *mem, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = vmm_mem_ptr(mem, gpa, len);
    if (!p)
        return -1;
    memcpy(p, src, len);
    return 0;
}

unsigned vmm_mem_e820(const struct vmm_mem *mem, struct vmm_e820 *out)
{
    unsigned n = 0;
    out[n++] = (struct vmm_e820){0, VMM_LEGACY_HOLE_START, VMM_E820_RAM};
    /* The BIOS area holds the ACPI tables and boot info: reserved, never RAM. */
    out[n++] = (struct vmm_e820){VMM_ACPI_BASE, VMM_LEGACY_HOLE_END - VMM_ACPI_BASE,
                                 VMM_E820_RESERVED};
    if (mem->low_size > VMM_LEGACY_HOLE_END)
        out[n++] = (struct vmm_e820){VMM_LEGACY_HOLE_END, mem->low_size - VMM_LEGACY_HOLE_END,
                                     VMM_E820_RAM};
    if (mem->high_size)
        out[n++] = (struct vmm_e820){VMM_HIGH_RAM_START, mem->high_size, VMM_E820_RAM};
    return n;
}

uint64_t vmm_mem_usable(const struct vmm_mem *mem)
{
    struct vmm_e820 e[VMM_E820_MAX];
    unsigned n = vmm_mem_e820(mem, e);
    uint64_t sum = 0;
    for (unsigned i = 0; i < n; i++)
        if (e[i].type == VMM_E820_RAM)
            sum += e[i].size;
    return sum;
}

/*
 * hypervisor/dsdt.c - DSDT AML for CPU hotplug and S5 (see dsdt.h). The layout
 * follows QEMU's "ACPI CPU hotplug" interface (docs/specs/acpi_cpu_hotplug.rst)
 * so that Linux's ACPI processor and container drivers drive it unchanged:
 * GPE 2 -> \_GPE._E02 -> \_SB.CPUS.CSCN, which walks the register block and
 * notifies device check (1) for inserted and eject request (3) for removed CPUs.
 * Threads: main, at setup. Trust: inputs are the VMM's configuration.
 */
#include "dsdt.h"

#include <stdio.h>

#include "acpi.h"
#include "aml.h"
#include "cpuhp.h"
#include "virtio/pci_acpi.h" /* virtio: \_SB.PCI0 */
#include "virtio/vdevs.h"

static void store(struct vmm_aml *a, const char *dst_name, uint64_t v)
{
    vmm_aml_op(a, AML_STORE);
    vmm_aml_int(a, v);
    vmm_aml_name(a, dst_name);
}

static void acquire(struct vmm_aml *a)
{
    vmm_aml_op(a, AML_EXT_ACQUIRE);
    vmm_aml_name(a, "CPLK");
    vmm_aml_byte(a, 0xFF);
    vmm_aml_byte(a, 0xFF);
}

static void release(struct vmm_aml *a)
{
    vmm_aml_op(a, AML_EXT_RELEASE);
    vmm_aml_name(a, "CPLK");
}

/* Method(name, nargs[, Serialized]) { ... } : opened, closed by vmm_aml_end */
static void method(struct vmm_aml *a, const char *name, unsigned nargs, int serialized)
{
    vmm_aml_begin(a, AML_METHOD);
    vmm_aml_name(a, name);
    vmm_aml_byte(a, (uint8_t)(nargs | (serialized ? 0x08 : 0)));
}

static void field_unit(struct vmm_aml *a, const char *name, unsigned bits)
{
    vmm_aml_bytes(a, name, 4);
    vmm_aml_pkglen(a, bits);
}

static void cpu_device(struct vmm_aml *a, unsigned i)
{
    char name[8];
    snprintf(name, sizeof(name), "C%03X", i);
    vmm_aml_begin(a, AML_EXT_DEVICE);
    vmm_aml_name(a, name);
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_HID");
    vmm_aml_string(a, "ACPI0007");
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_UID");
    vmm_aml_int(a, i);
    /* Method(_STA) { Return(CSTA(i)) } */
    method(a, "_STA", 0, 0);
    vmm_aml_op(a, AML_RETURN);
    vmm_aml_name(a, "CSTA");
    vmm_aml_int(a, i);
    vmm_aml_end(a);
    /* _MAT: this CPU's MADT Local APIC entry, enabled (Linux takes the APIC id from it) */
    const uint8_t mat[8] = {0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0};
    vmm_aml_op(a, AML_NAME);
    vmm_aml_name(a, "_MAT");
    vmm_aml_buffer(a, mat, sizeof(mat));
    if (i) { /* the boot CPU cannot be ejected */
        method(a, "_EJ0", 1, 0);
        vmm_aml_name(a, "CEJ0");
        vmm_aml_int(a, i);
        vmm_aml_end(a);
    }
    vmm_aml_end(a);
}

size_t vmm_dsdt_build_aml(unsigned max_vcpus, uint8_t *buf, size_t cap)
{
    struct vmm_aml a;
    vmm_aml_init(&a, buf, cap);
    if (max_vcpus == 0 || max_vcpus > 255)
        return 0;

    vmm_aml_begin(&a, AML_SCOPE);
    vmm_aml_name(&a, "\\_SB");
    vmm_aml_begin(&a, AML_EXT_DEVICE);
    vmm_aml_name(&a, "CPUS");
    vmm_aml_op(&a, AML_NAME);
    vmm_aml_name(&a, "_HID");
    vmm_aml_string(&a, "ACPI0010");
    vmm_aml_op(&a, AML_NAME);
    vmm_aml_name(&a, "_CID");
    vmm_aml_eisaid(&a, "PNP0A05");
    vmm_aml_op(&a, AML_EXT_MUTEX);
    vmm_aml_name(&a, "CPLK");
    vmm_aml_byte(&a, 0);

    /* OperationRegion(PRST, SystemIO, base, 12) and its fields */
    vmm_aml_op(&a, AML_EXT_OPREGION);
    vmm_aml_name(&a, "PRST");
    vmm_aml_byte(&a, AML_SPACE_IO);
    vmm_aml_int(&a, VMM_CPUHP_BASE);
    vmm_aml_int(&a, VMM_CPUHP_LEN);
    vmm_aml_begin(&a, AML_EXT_FIELD);         /* Field(PRST, DWordAcc, NoLock, Preserve) */
    vmm_aml_name(&a, "PRST");
    vmm_aml_byte(&a, AML_FIELD_DWORD | AML_FIELD_PRESERVE);
    field_unit(&a, "CSEL", 32);
    vmm_aml_end(&a);
    vmm_aml_begin(&a, AML_EXT_FIELD);         /* Field(PRST, ByteAcc, NoLock, WriteAsZeros) */
    vmm_aml_name(&a, "PRST");
    vmm_aml_byte(&a, AML_FIELD_BYTE | AML_FIELD_WRITE_ZEROS);
    vmm_aml_byte(&a, 0x00);                   /* Offset(4): reserved 32 bits */
    vmm_aml_pkglen(&a, 32);
    field_unit(&a, "CPEN", 1);            /* bit 0: present (enabled) */
    field_unit(&a, "CINS", 1);            /* bit 1: insert event; write 1 clears */
    field_unit(&a, "CRMV", 1);            /* bit 2: remove event; write 1 clears */
    field_unit(&a, "CEJF", 1);            /* bit 3: write 1 ejects */
    vmm_aml_end(&a);

    /* Method(CSTA, 1, Serialized): 0xF when the selected CPU is present, else 0 */
    method(&a, "CSTA", 1, 1);
    acquire(&a);
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_op(&a, AML_ARG0);
    vmm_aml_name(&a, "CSEL");
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_int(&a, 0);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_begin(&a, AML_IF);
    vmm_aml_op(&a, AML_LEQUAL);
    vmm_aml_name(&a, "CPEN");
    vmm_aml_int(&a, 1);
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_int(&a, 0x0F);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_end(&a);
    release(&a);
    vmm_aml_op(&a, AML_RETURN);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_end(&a);

    /* Method(CEJ0, 1, Serialized): eject the selected CPU */
    method(&a, "CEJ0", 1, 1);
    acquire(&a);
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_op(&a, AML_ARG0);
    vmm_aml_name(&a, "CSEL");
    store(&a, "CEJF", 1);
    release(&a);
    vmm_aml_end(&a);

    for (unsigned i = 0; i < max_vcpus; i++)
        cpu_device(&a, i);

    /* Method(CTFY, 2): Notify(C<Arg0>, Arg1) */
    method(&a, "CTFY", 2, 0);
    for (unsigned i = 0; i < max_vcpus; i++) {
        char name[8];
        snprintf(name, sizeof(name), "C%03X", i);
        vmm_aml_begin(&a, AML_IF);
        vmm_aml_op(&a, AML_LEQUAL);
        vmm_aml_op(&a, AML_ARG0);
        vmm_aml_int(&a, i);
        vmm_aml_op(&a, AML_NOTIFY);
        vmm_aml_name(&a, name);
        vmm_aml_op(&a, AML_ARG0 + 1);
        vmm_aml_end(&a);
    }
    vmm_aml_end(&a);

    /* Method(CSCN, 0, Serialized): notify every CPU with a pending event, clear it */
    method(&a, "CSCN", 0, 1);
    acquire(&a);
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_int(&a, 0);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_begin(&a, AML_WHILE);
    vmm_aml_op(&a, AML_LLESS);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_int(&a, max_vcpus);
    vmm_aml_op(&a, AML_STORE);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_name(&a, "CSEL");
    vmm_aml_begin(&a, AML_IF);                /* If (CINS == One) { CTFY(Local0, 1); CINS = 1 } */
    vmm_aml_op(&a, AML_LEQUAL);
    vmm_aml_name(&a, "CINS");
    vmm_aml_int(&a, 1);
    vmm_aml_name(&a, "CTFY");
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_int(&a, 1);
    store(&a, "CINS", 1);
    vmm_aml_end(&a);
    vmm_aml_begin(&a, AML_ELSE);              /* ElseIf (CRMV == One) { CTFY(Local0, 3); ... } */
    vmm_aml_begin(&a, AML_IF);
    vmm_aml_op(&a, AML_LEQUAL);
    vmm_aml_name(&a, "CRMV");
    vmm_aml_int(&a, 1);
    vmm_aml_name(&a, "CTFY");
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_int(&a, 3);
    store(&a, "CRMV", 1);
    vmm_aml_end(&a);
    vmm_aml_end(&a);
    vmm_aml_op(&a, AML_INCREMENT);
    vmm_aml_op(&a, AML_LOCAL0);
    vmm_aml_end(&a);                          /* While */
    release(&a);
    vmm_aml_end(&a);                          /* CSCN */
    vmm_aml_end(&a);                          /* Device(CPUS) */
    /* virtio: the PCI host bridge, so that ACPI guests (Linux) find bus 0 */
    pci_acpi_host_bridge(&a, VDEVS_MMIO_BASE, VDEVS_MMIO_SIZE);
    vmm_aml_end(&a);                          /* Scope(\_SB) */

    /* Scope(\_GPE) { Name(_HID, "ACPI0006"); Method(_E02) { \_SB.CPUS.CSCN() } } */
    vmm_aml_begin(&a, AML_SCOPE);
    vmm_aml_name(&a, "\\_GPE");
    vmm_aml_op(&a, AML_NAME);
    vmm_aml_name(&a, "_HID");
    vmm_aml_string(&a, "ACPI0006");
    char gpe[8];
    snprintf(gpe, sizeof(gpe), "_E%02X", VMM_GPE_CPU_HOTPLUG);
    method(&a, gpe, 0, 0);
    vmm_aml_name(&a, "\\_SB.CPUS.CSCN");
    vmm_aml_end(&a);
    vmm_aml_end(&a);

    /* Name(_S5, Package(){5, 5, 0, 0}) */
    vmm_aml_op(&a, AML_NAME);
    vmm_aml_name(&a, "_S5");
    vmm_aml_begin(&a, AML_PACKAGE);
    vmm_aml_byte(&a, 4);
    vmm_aml_byte(&a, 0x0A);
    vmm_aml_byte(&a, VMM_ACPI_S5_TYP);
    vmm_aml_byte(&a, 0x0A);
    vmm_aml_byte(&a, VMM_ACPI_S5_TYP);
    vmm_aml_int(&a, 0);
    vmm_aml_int(&a, 0);
    vmm_aml_end(&a);
    return vmm_aml_finish(&a);
}

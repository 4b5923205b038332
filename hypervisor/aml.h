/*
 * hypervisor/aml.h - a small AML (ACPI Machine Language) byte-code builder for
 * the DSDT: names, integers, strings, buffers, and nested objects whose
 * PkgLength is fixed up (to its shortest encoding) when they are closed.
 * Pure: writes into a caller's buffer; any overflow or misuse sets 'err' and
 * makes every later call a no-op. Threads: any (one builder per thread).
 */
#ifndef VMM_AML_H
#define VMM_AML_H

#include <stddef.h>
#include <stdint.h>

#define AML_DEPTH_MAX 16

struct vmm_aml {
    uint8_t *buf;
    size_t len, cap;
    int err;                         /* 1 after an overflow, bad name or unbalanced end */
    size_t open[AML_DEPTH_MAX];      /* offsets of the PkgLength slots still open */
    unsigned depth;
};

/* Opcodes used by dsdt.c (ACPI 6.5, 20.3). Two-byte ones carry the 0x5B ExtOpPrefix. */
enum {
    AML_ZERO = 0x00, AML_ONE = 0x01, AML_ONES = 0xFF,
    AML_NAME = 0x08, AML_SCOPE = 0x10, AML_BUFFER = 0x11, AML_PACKAGE = 0x12,
    AML_METHOD = 0x14, AML_LOCAL0 = 0x60, AML_ARG0 = 0x68, AML_STORE = 0x70,
    AML_INCREMENT = 0x75, AML_AND = 0x7B, AML_OR = 0x7D, AML_NOTIFY = 0x86, AML_LNOT = 0x92,
    AML_LEQUAL = 0x93, AML_LGREATER = 0x94, AML_LLESS = 0x95,
    AML_IF = 0xA0, AML_ELSE = 0xA1, AML_WHILE = 0xA2, AML_RETURN = 0xA4,
    AML_EXT_MUTEX = 0x5B01, AML_EXT_ACQUIRE = 0x5B23, AML_EXT_RELEASE = 0x5B27,
    AML_EXT_OPREGION = 0x5B80, AML_EXT_FIELD = 0x5B81, AML_EXT_DEVICE = 0x5B82,
};

/* Field flags: access type | update rule (lock rule NoLock = 0). */
enum { AML_FIELD_BYTE = 1, AML_FIELD_WORD = 2, AML_FIELD_DWORD = 3,
       AML_FIELD_PRESERVE = 0x00, AML_FIELD_WRITE_ZEROS = 0x40 };
enum { AML_SPACE_MEM = 0, AML_SPACE_IO = 1 };

void vmm_aml_init(struct vmm_aml *a, uint8_t *buf, size_t cap);
void vmm_aml_byte(struct vmm_aml *a, uint8_t b);
void vmm_aml_bytes(struct vmm_aml *a, const void *p, size_t n);
/* One opcode (one byte, or 0x5Bxx for the extended ones). */
void vmm_aml_op(struct vmm_aml *a, unsigned op);
/*
 * A NameString: "\\" root prefix, "^" parent prefixes, then dot-separated segments of 1..4
 * characters [A-Z0-9_] (padded with '_'): "\\_SB.CPUS", "C001", "_S5".
 */
void vmm_aml_name(struct vmm_aml *a, const char *path);
/* The shortest integer encoding (Zero, One, Ones, Byte/Word/DWord/QWordPrefix). */
void vmm_aml_int(struct vmm_aml *a, uint64_t v);
/* StringPrefix + ASCII + NUL. */
void vmm_aml_string(struct vmm_aml *a, const char *s);
/* A compressed EISA id ("PNP0A05") as a DWord constant. */
void vmm_aml_eisaid(struct vmm_aml *a, const char *id);
/* Opens an object with a PkgLength: writes op and reserves the length; closed by vmm_aml_end. */
void vmm_aml_begin(struct vmm_aml *a, unsigned op);
void vmm_aml_end(struct vmm_aml *a);
/* Buffer(n){bytes} as one object. */
void vmm_aml_buffer(struct vmm_aml *a, const uint8_t *bytes, size_t n);
/* A PkgLength value on its own (field unit widths). */
void vmm_aml_pkglen(struct vmm_aml *a, size_t v);
/* Returns the built length, or 0 when err is set or objects are still open. */
size_t vmm_aml_finish(struct vmm_aml *a);

#endif

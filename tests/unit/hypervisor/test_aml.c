/*
 * tests/unit/hypervisor/test_aml.c - the AML builder: name strings, integer and
 * EISA id encodings, PkgLength fix-ups of 1, 2 and 3 bytes, nesting, and refusal of
 * bad names, overflow and unbalanced objects.
 */
#include <string.h>

#include "aml.h"
#include "tap.h"

static int same(const struct vmm_aml *a, const uint8_t *want, size_t n)
{
    return a->len == n && memcmp(a->buf, want, n) == 0;
}

int main(void)
{
    uint8_t buf[8192];
    struct vmm_aml a;

    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_name(&a, "_S5");
    ok(same(&a, (const uint8_t *)"_S5_", 4), "one segment padded with '_'");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_name(&a, "\\_SB.CPUS");
    static const uint8_t dual[] = {'\\', 0x2E, '_', 'S', 'B', '_', 'C', 'P', 'U', 'S'};
    ok(same(&a, dual, sizeof(dual)), "root + DualNamePrefix");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_name(&a, "\\_SB.CPUS.CSCN");
    static const uint8_t multi[] = {'\\', 0x2F, 3, '_', 'S', 'B', '_', 'C', 'P', 'U', 'S',
                                    'C', 'S', 'C', 'N'};
    ok(same(&a, multi, sizeof(multi)), "MultiNamePrefix with 3 segments");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_name(&a, "^C001");
    ok(same(&a, (const uint8_t *)"^C001", 5), "parent prefix");
    const char *bad[] = {"TOOLONG", "a", "1ABC", "\\_SB.", "\\_SB..X", "A-B"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        vmm_aml_init(&a, buf, sizeof(buf));
        vmm_aml_name(&a, bad[i]);
        ok(a.err && vmm_aml_finish(&a) == 0, "bad name '%s' refused", bad[i]);
    }

    struct { uint64_t v; uint8_t enc[9]; size_t n; } ints[] = {
        {0, {0x00}, 1}, {1, {0x01}, 1}, {UINT64_MAX, {0xFF}, 1}, {5, {0x0A, 5}, 2},
        {0x1234, {0x0B, 0x34, 0x12}, 3}, {0xCD8, {0x0B, 0xD8, 0x0C}, 3},
        {0x12345678, {0x0C, 0x78, 0x56, 0x34, 0x12}, 5},
        {0x100000000ULL, {0x0E, 0, 0, 0, 0, 1, 0, 0, 0}, 9},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        vmm_aml_init(&a, buf, sizeof(buf));
        vmm_aml_int(&a, ints[i].v);
        ok(same(&a, ints[i].enc, ints[i].n), "integer 0x%llx: shortest encoding",
           (unsigned long long)ints[i].v);
    }
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_eisaid(&a, "PNP0A05");
    static const uint8_t pnp[] = {0x0C, 0x41, 0xD0, 0x0A, 0x05};
    ok(same(&a, pnp, sizeof(pnp)), "EisaId(\"PNP0A05\") = 0x050AD041");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_eisaid(&a, "pnp0a05");
    ok(a.err, "lower-case EISA id refused");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_string(&a, "ACPI0007");
    ok(same(&a, (const uint8_t *)"\x0D" "ACPI0007", 10), "string with NUL");

    /* PkgLength: 1 byte up to 63 total, then 2 bytes (low nibble + 8 bits), then 3 */
    size_t sizes[] = {0, 10, 62, 63, 100, 4000, 5000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        vmm_aml_init(&a, buf, sizeof(buf));
        vmm_aml_begin(&a, AML_PACKAGE);
        for (size_t k = 0; k < sizes[i]; k++)
            vmm_aml_byte(&a, 0x01);
        vmm_aml_end(&a);
        size_t body = sizes[i], n = body + 1 <= 63 ? 1 : body + 2 <= 0xFFF ? 2 : 3;
        size_t total = body + n, got;
        uint8_t b0 = buf[1];
        if (n == 1)
            got = b0;
        else if (n == 2)
            got = (b0 & 0x0F) | (size_t)buf[2] << 4;
        else
            got = (b0 & 0x0F) | (size_t)buf[2] << 4 | (size_t)buf[3] << 12;
        ok(vmm_aml_finish(&a) == 1 + total && (b0 >> 6) == n - 1 && got == total &&
           (body == 0 || (buf[1 + n] == 0x01 && buf[vmm_aml_finish(&a) - 1] == 0x01)),
           "body of %zu bytes: %zu-byte PkgLength %zu, body moved down", body, n, total);
    }
    /* nesting: inner objects close first */
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_begin(&a, AML_SCOPE);
    vmm_aml_name(&a, "\\_SB");
    vmm_aml_begin(&a, AML_EXT_DEVICE);
    vmm_aml_name(&a, "C000");
    vmm_aml_end(&a);
    vmm_aml_end(&a);
    static const uint8_t nest[] = {0x10, 0x0D, '\\', '_', 'S', 'B', '_',
                                   0x5B, 0x82, 0x05, 'C', '0', '0', '0'};
    ok(vmm_aml_finish(&a) == sizeof(nest) && same(&a, nest, sizeof(nest)),
       "Scope(\\_SB) { Device(C000) {} }");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_begin(&a, AML_SCOPE);
    ok(vmm_aml_finish(&a) == 0, "an object left open: no result");
    vmm_aml_init(&a, buf, sizeof(buf));
    vmm_aml_end(&a);
    ok(a.err, "end without begin refused");
    vmm_aml_init(&a, buf, 3);
    vmm_aml_string(&a, "ACPI0007");
    ok(a.err && vmm_aml_finish(&a) == 0, "overflow of the buffer refused");
    vmm_aml_init(&a, buf, sizeof(buf));
    for (int i = 0; i < AML_DEPTH_MAX + 1; i++)
        vmm_aml_begin(&a, AML_SCOPE);
    ok(a.err, "nesting deeper than %d refused", AML_DEPTH_MAX);
    return tap_done();
}

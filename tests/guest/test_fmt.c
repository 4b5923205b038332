/*
 * tests/guest/test_fmt.c - host unit test of the guest's printf subset (fmt.c).
 */
#include "fmt.h"

#include <stdint.h>

#include "tap.h"

/* no format attribute: lets the test pass what the compiler would warn about */
static int fmt_loose(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = fmt_vformat(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

int main(void)
{
    char b[64];

    fmt_format(b, sizeof(b), "cpus online=%u", 32u);
    is_str(b, "cpus online=32", "%%u");
    fmt_format(b, sizeof(b), "%d|%i|%d", -5, 0, 2147483647);
    is_str(b, "-5|0|2147483647", "%%d and %%i, negative and limits");
    fmt_format(b, sizeof(b), "%lu %ld", (uint64_t)18446744073709551615ULL, (int64_t)INT64_MIN);
    is_str(b, "18446744073709551615 -9223372036854775808", "64-bit limits");
    fmt_format(b, sizeof(b), "0x%lx %X %08x", (uint64_t)0xfee00000ULL, 0xabcu, 0x1fu);
    is_str(b, "0xfee00000 ABC 0000001f", "hex, upper case, zero padding");
    fmt_format(b, sizeof(b), "[%-6s][%6s][%c][%%]", "ab", "cd", 'z');
    is_str(b, "[ab    ][    cd][z][%]", "strings with width, char, percent");
    fmt_loose(b, sizeof(b), "%s", (const char *)NULL);
    is_str(b, "(null)", "NULL string");
    fmt_format(b, sizeof(b), "%05d", -42);
    is_str(b, "-0042", "zero-padded negative");
    int n = fmt_format(b, 8, "%s", "0123456789");
    is_int(n, 10, "returns the full length");
    is_str(b, "0123456", "truncates and terminates");
    n = fmt_format(NULL, 0, "abc%d", 12);
    is_int(n, 5, "size 0 writes nothing, counts");
    fmt_loose(b, sizeof(b), "%zu %q", (size_t)7);
    is_str(b, "7 %q", "z size and an unknown conversion kept verbatim");
    return tap_done();
}

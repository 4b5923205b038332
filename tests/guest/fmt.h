/*
 * tests/guest/fmt.h - printf-style formatting into a caller's buffer (no allocation).
 * Supports %d %i %u %x %X %c %s %p %% with flags '-' '0', a width, and the l/ll/z sizes.
 */
#ifndef GUEST_FMT_H
#define GUEST_FMT_H

#include <stdarg.h>
#include <stddef.h>

/* Formats into buf (always NUL-terminated when size > 0); returns the length the whole
 * output would have, like vsnprintf. */
int fmt_vformat(char *buf, size_t size, const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int fmt_format(char *buf, size_t size, const char *fmt,
                                                     ...);

#endif

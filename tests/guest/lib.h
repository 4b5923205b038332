/*
 * tests/guest/lib.h - the few C library functions the freestanding guest needs (memory and
 * string helpers; GCC may also emit calls to memcpy/memset). Same names and prototypes as
 * the C library, so the pure modules compile unchanged in the host unit tests.
 */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stddef.h>
#include <stdint.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a) - 1))

#endif

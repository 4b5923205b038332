/*
 * atoll/util.h - memory and string helpers shared by every layer: allocation
 * that aborts on OOM (for sizes we control), auto-cleanup attributes, checked
 * integer parsing. Thread-safe; trusts nothing it parses.
 */
#ifndef ATOLL_UTIL_H
#define ATOLL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

#define ATOLL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ATOLL_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Allocate or abort: only for sizes the program controls, never guest/client sizes. */
void *atoll_malloc(size_t n);
void *atoll_calloc(size_t nmemb, size_t size);
void *atoll_realloc(void *p, size_t n);
char *atoll_strdup(const char *s);          /* NULL in, NULL out */
char *atoll_strndup(const char *s, size_t n);
/* Returns a newly allocated formatted string (caller frees). */
char *atoll_strdup_printf(const char *fmt, ...) ATOLL_PRINTF(1, 2);
char *atoll_strdup_vprintf(const char *fmt, va_list ap) ATOLL_PRINTF(1, 0);

/* Cleanup helpers for __attribute__((cleanup)). */
void atoll_freep(void *pp);   /* pp is a pointer to a pointer */
void atoll_closep(int *fdp);  /* closes *fdp if >= 0 */
#define ATOLL_AUTOFREE  __attribute__((cleanup(atoll_freep)))
#define ATOLL_AUTOCLOSE __attribute__((cleanup(atoll_closep)))

/* Moves ownership out of an auto-cleaned pointer. */
static inline void *atoll_steal_ptr_impl(void **pp)
{
    void *p = *pp;
    *pp = NULL;
    return p;
}
#define atoll_steal_ptr(pp) atoll_steal_ptr_impl((void **)(pp))
static inline int atoll_steal_fd(int *fdp)
{
    int fd = *fdp;
    *fdp = -1;
    return fd;
}

/*
 * Checked number parsing: the whole string must be a number in range.
 * Return 0 on success (writing *out), -1 on any junk, overflow or empty input.
 */
int atoll_parse_u64(const char *s, int base, uint64_t *out);
int atoll_parse_i64(const char *s, int base, int64_t *out);
/* "512", "512M", "4G", "1024K" -> bytes; a bare number means MiB when default_mib. */
int atoll_parse_size(const char *s, int default_mib, uint64_t *out_bytes);

/* Monotonic clock in nanoseconds. */
uint64_t atoll_now_ns(void);

/* write()/read() whole buffers, retrying on EINTR and short transfers. 0 or -1 (errno set). */
int atoll_write_all(int fd, const void *buf, size_t len);
/* Atomically replaces path with data: write temp, fsync, rename, fsync dir. 0 or -1. */
int atoll_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* One line from f (at most 1 KiB), without its CR/LF, owned by the caller; NULL at end of
 * file or on a read error. The stack copy is wiped: meant for passwords and other secrets. */
char *atoll_read_secret_line(FILE *f);

#endif

/*
 * plugin-api/lib/util.c - allocation, string, number-parsing and file helpers.
 * Allocation failures of program-controlled sizes abort: there is no sane
 * recovery and every caller would otherwise repeat the same check.
 * Threads: any. Trust: parsers accept untrusted text.
 */
#include "atoll/util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void oom(size_t n)
{
    fprintf(stderr, "atoll: out of memory allocating %zu bytes\n", n);
    abort();
}

void *atoll_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *atoll_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *atoll_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *atoll_strdup(const char *s)
{
    return s ? atoll_strndup(s, strlen(s)) : NULL;
}

char *atoll_strndup(const char *s, size_t n)
{
    char *d = atoll_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *atoll_strdup_vprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        oom(strlen(fmt));
    return s;
}

char *atoll_strdup_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
    return s;
}

void atoll_freep(void *pp)
{
    free(*(void **)pp);
}

void atoll_closep(int *fdp)
{
    if (*fdp >= 0) {
        int saved = errno;
        close(*fdp);
        errno = saved;
    }
}

int atoll_parse_u64(const char *s, int base, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int atoll_parse_i64(const char *s, int base, int64_t *out)
{
    if (!s || !*s || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

int atoll_parse_size(const char *s, int default_mib, uint64_t *out_bytes)
{
    if (!s || !*s)
        return -1;
    size_t len = strlen(s);
    uint64_t mult = default_mib ? (1ULL << 20) : 1;
    char last = s[len - 1];
    switch (last) {
    case 'k': case 'K': mult = 1ULL << 10; len--; break;
    case 'm': case 'M': mult = 1ULL << 20; len--; break;
    case 'g': case 'G': mult = 1ULL << 30; len--; break;
    case 't': case 'T': mult = 1ULL << 40; len--; break;
    case 'b': case 'B': mult = 1; len--; break;
    default: break;
    }
    if (len == 0 || len > 20)
        return -1;
    char buf[24];
    memcpy(buf, s, len);
    buf[len] = '\0';
    uint64_t v;
    if (atoll_parse_u64(buf, 10, &v) < 0)
        return -1;
    if (v > UINT64_MAX / mult)
        return -1;
    *out_bytes = v * mult;
    return 0;
}

uint64_t atoll_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int atoll_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void fsync_parent_dir(const char *path)
{
    ATOLL_AUTOFREE char *dircopy = atoll_strdup(path);
    ATOLL_AUTOCLOSE int dfd = open(dirname(dircopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0)
        fsync(dfd);
}

int atoll_write_file_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
    ATOLL_AUTOFREE char *tmp = atoll_strdup_printf("%s.tmp.%d", path, (int)getpid());
    ATOLL_AUTOCLOSE int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (atoll_write_all(fd, data, len) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
        int saved = errno;
        unlink(tmp);
        errno = saved;
        return -1;
    }
    fsync_parent_dir(path);
    return 0;
}

char *atoll_read_secret_line(FILE *f)
{
    char buf[1100];
    if (!fgets(buf, sizeof(buf), f))
        return NULL;
    buf[strcspn(buf, "\r\n")] = '\0';
    char *line = atoll_strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    return line;
}

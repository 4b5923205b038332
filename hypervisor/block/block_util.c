/*
 * hypervisor/block/block_util.c - helpers the generic layer and the drivers share: whole-buffer
 * pread/pwrite (EINTR, short transfers, zeros past EOF), fdatasync, hole punching, the
 * once-per-image corruption log line, and the error constructors (params + one-line detail).
 * Threads: any; nothing here keeps state but img->corrupt_logged. Trust: none needed.
 */
#define ATOLL_LOG_MODULE "block"
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"

int blk_pread(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {               /* past the end of the file: zeros */
            memset(p, 0, len);
            return 0;
        }
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

struct blk_io_observer *blk_io_observer;

int blk_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    if (blk_io_observer)
        blk_io_observer->write(blk_io_observer->opaque, fd, buf, len, off);
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

int blk_sync(int fd)
{
    while (fdatasync(fd) < 0) {
        if (errno != EINTR)
            return -errno;
    }
    if (blk_io_observer)
        blk_io_observer->sync(blk_io_observer->opaque, fd);
    return 0;
}

void blk_punch(int fd, uint64_t off, uint64_t len)
{
    if (fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off, (off_t)len) == 0 &&
        blk_io_observer)
        blk_io_observer->write(blk_io_observer->opaque, fd, NULL, (size_t)len, off);
}

int blk_extend(int fd, uint64_t size)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    if ((uint64_t)st.st_size >= size)
        return 0;
    if (ftruncate(fd, (off_t)size) < 0)
        return -errno;
    if (blk_io_observer)
        blk_io_observer->write(blk_io_observer->opaque, fd, NULL,
                               (size_t)(size - (uint64_t)st.st_size), (uint64_t)st.st_size);
    return 0;
}

int blk_zero_range(int fd, uint64_t off, uint64_t len)
{
    if (fallocate(fd, FALLOC_FL_ZERO_RANGE, (off_t)off, (off_t)len) < 0)
        return -errno;
    if (blk_io_observer)
        blk_io_observer->write(blk_io_observer->opaque, fd, NULL, (size_t)len, off);
    return 0;
}

int blk_corrupt(struct blk_image *img, const char *fmt, ...)
{
    if (!img->corrupt_logged) {
        img->corrupt_logged = 1;
        va_list ap;
        va_start(ap, fmt);
        ATOLL_AUTOFREE char *msg = atoll_strdup_vprintf(fmt, ap);
        va_end(ap);
        log_error("image '%s' has corrupt metadata: %s (further errors not logged)", img->path,
                  msg);
    }
    return -EIO;
}

static void err_vset(struct atoll_err *err, int code, const char *p1, const char *p2,
                     const char *p3, const char *fmt, va_list ap)
{
    if (!err || atoll_err_is_set(err))
        return;
    ATOLL_AUTOFREE char *msg = atoll_strdup_vprintf(fmt, ap);
    if (code == ATOLL_E_INTERNAL_ERROR || code == ATOLL_E_OPERATION_NOT_ALLOWED)
        atoll_err_set(err, code, ATOLL_WHERE, msg, (const char *)NULL);
    else if (p3)
        atoll_err_set(err, code, ATOLL_WHERE, p1, p2, p3, (const char *)NULL);
    else
        atoll_err_set(err, code, ATOLL_WHERE, p1, p2, (const char *)NULL);
    atoll_err_detail(err, "%s", msg);
}

void blk_err_invalid(struct atoll_err *err, const char *field, const char *value,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, ATOLL_E_INVALID_VALUE, field, value, NULL, fmt, ap);
    va_end(ap);
}

void blk_err_unsupported(struct atoll_err *err, const char *field, const char *value,
                         const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ATOLL_AUTOFREE char *msg = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (!err || atoll_err_is_set(err))
        return;
    ATOLL_ERR(err, ATOLL_E_VALUE_NOT_SUPPORTED, field, value, msg);
    atoll_err_detail(err, "%s", msg);
}

void blk_err_denied(struct atoll_err *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vset(err, ATOLL_E_OPERATION_NOT_ALLOWED, NULL, NULL, NULL, fmt, ap);
    va_end(ap);
}

void blk_err_io(struct atoll_err *err, int errnum, const char *fmt, ...)
{
    if (!err || atoll_err_is_set(err))
        return;
    va_list ap;
    va_start(ap, fmt);
    ATOLL_AUTOFREE char *msg = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
    ATOLL_AUTOFREE char *full = atoll_strdup_printf("%s: %s", msg, strerror(errnum));
    ATOLL_ERR(err, ATOLL_E_INTERNAL_ERROR, full);
    atoll_err_detail(err, "%s", full);
    err->sys_errno = errnum;
}

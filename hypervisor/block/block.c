/*
 * hypervisor/block/block.c - the generic image layer: format probing, opening backing chains
 * (relative names, format enforcement, loop and depth limits), thread locking, argument
 * checks, dispatch to the raw and qcow2 drivers, write_zeroes, set_backing, info and check.
 * Threads: any. Read/write/flush hold img->io_lock shared (drivers take img->lock for their
 * metadata); discard, resize, info and check hold io_lock exclusive and img->lock.
 * Trust: paths and headers are untrusted.
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

/* ---- formats ---- */

const char *blk_format_name(enum blk_format format)
{
    switch (format) {
    case BLK_FORMAT_RAW: return "raw";
    case BLK_FORMAT_QCOW2: return "qcow2";
    case BLK_FORMAT_AUTO: return "auto";
    }
    return "unknown";
}

int blk_format_from_name(const char *name)
{
    if (!name)
        return -1;
    if (strcmp(name, "raw") == 0)
        return BLK_FORMAT_RAW;
    if (strcmp(name, "qcow2") == 0)
        return BLK_FORMAT_QCOW2;
    if (strcmp(name, "auto") == 0)
        return BLK_FORMAT_AUTO;
    return -1;
}

static const struct blk_driver *driver_for(enum blk_format format)
{
    return format == BLK_FORMAT_RAW ? &blk_raw_driver : &blk_qcow2_driver;
}

static enum blk_format probe(int fd)
{
    uint8_t magic[4];
    if (blk_pread(fd, magic, sizeof(magic), 0) == 0 && memcmp(magic, "QFI\xfb", 4) == 0)
        return BLK_FORMAT_QCOW2;
    return BLK_FORMAT_RAW;
}

/* ---- open / close ---- */

struct chain_id {
    dev_t dev;
    ino_t ino;
    const struct chain_id *below_top; /* the image that names this one as backing */
};

/* Backing path: absolute as is, relative to the directory of the naming image. */
static char *resolve_backing(const char *image_path, const char *name)
{
    if (name[0] == '/')
        return atoll_strdup(name);
    const char *slash = strrchr(image_path, '/');
    if (!slash)
        return atoll_strdup(name);
    return atoll_strdup_printf("%.*s/%s", (int)(slash - image_path), image_path, name);
}

static void image_free(struct blk_image *img)
{
    if (!img)
        return;
    if (img->drv && img->priv)
        img->drv->close(img);
    blk_close(img->backing);
    if (img->fd >= 0)
        close(img->fd);
    pthread_mutex_destroy(&img->lock);
    pthread_rwlock_destroy(&img->io_lock);
    free(img->path);
    free(img->backing_file);
    free(img->backing_format);
    free(img->backing_path);
    free(img->dirty_bitmap);
    free(img);
}

static int open_one(const char *path, enum blk_format format, unsigned flags,
                    const struct chain_id *above, unsigned depth, struct blk_image **out,
                    struct atoll_err *err)
{
    if (depth > BLK_MAX_CHAIN_DEPTH) {
        blk_err_denied(err, "backing chain of '%s' is deeper than %u images", path,
                       BLK_MAX_CHAIN_DEPTH);
        return -1;
    }
    int rw = (flags & BLK_OPEN_RDWR) != 0;
    ATOLL_AUTOCLOSE int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) {
        blk_err_io(err, errno, "cannot open image '%s'", path);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        blk_err_io(err, errno, "cannot stat image '%s'", path);
        return -1;
    }
    if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
        blk_err_invalid(err, "path", path, "image '%s' is not a regular file or block device",
                        path);
        return -1;
    }
    for (const struct chain_id *c = above; c; c = c->below_top) {
        if (c->dev == st.st_dev && c->ino == st.st_ino) {
            blk_err_denied(err, "backing chain loop: '%s' is already in the chain", path);
            return -1;
        }
    }
    enum blk_format found = probe(fd);
    int probed = format == BLK_FORMAT_AUTO;
    if (format == BLK_FORMAT_AUTO)
        format = found;
    else if (format == BLK_FORMAT_QCOW2 && found != BLK_FORMAT_QCOW2) {
        blk_err_invalid(err, "format", "qcow2", "image '%s' is not qcow2 (no QFI magic)", path);
        return -1;
    }

    struct blk_image *img = atoll_calloc(1, sizeof(*img));
    pthread_mutex_init(&img->lock, NULL);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    /* writers (discard, resize) must not starve behind a stream of reads */
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&img->io_lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    img->fd = atoll_steal_fd(&fd);
    img->path = atoll_strdup(path);
    img->read_only = !rw;
    img->depth = depth;
    img->open_flags = flags;
    if (S_ISREG(st.st_mode)) {
        img->file_size_at_open = (uint64_t)st.st_size;
    } else {
        off_t end = lseek(img->fd, 0, SEEK_END);
        img->file_size_at_open = end > 0 ? (uint64_t)end : 0;
    }
    img->drv = driver_for(format);
    img->probed_raw = probed && format == BLK_FORMAT_RAW;
    if ((flags & BLK_OPEN_SHARE) && rw) {
        blk_err_invalid(err, "flags", "share", "BLK_OPEN_SHARE needs a read-only open of '%s'",
                        path);
        image_free(img);
        return -1;
    }
    if (blk_lock_apply(img, rw ? BLK_LOCK_RW : (flags & BLK_OPEN_SHARE) ? BLK_LOCK_SHARED
                                                                         : BLK_LOCK_RO,
                       err) < 0) {
        image_free(img);
        return -1;
    }
    if (img->drv->open(img, err) < 0) {
        image_free(img);
        return -1;
    }
    if (img->backing_file && !(flags & BLK_OPEN_NO_BACKING)) {
        int bfmt = BLK_FORMAT_AUTO;
        if (img->backing_format) {
            bfmt = blk_format_from_name(img->backing_format);
            if (bfmt < 0 || bfmt == BLK_FORMAT_AUTO) {
                blk_err_unsupported(err, "backing_format", img->backing_format,
                                    "image '%s' names backing format '%s'; only raw and qcow2"
                                    " are supported", path, img->backing_format);
                image_free(img);
                return -1;
            }
        }
        img->backing_path = resolve_backing(path, img->backing_file);
        struct chain_id me = {st.st_dev, st.st_ino, above};
        if (open_one(img->backing_path, (enum blk_format)bfmt, flags & ~BLK_OPEN_RDWR, &me,
                     depth + 1, &img->backing, err) < 0) {
            if (err && err->detail && depth == 0) {
                ATOLL_AUTOFREE char *inner = atoll_strdup(err->detail);
                atoll_err_detail(err, "cannot open the backing chain of '%s': %s", path, inner);
            }
            image_free(img);
            return -1;
        }
    }
    *out = img;
    return 0;
}

int blk_open(const char *path, enum blk_format format, unsigned flags, struct blk_image **out,
             struct atoll_err *err)
{
    if (!path || !*path || !out) {
        blk_err_invalid(err, "path", "", "blk_open needs an image path");
        return -1;
    }
    if (format != BLK_FORMAT_AUTO && format != BLK_FORMAT_RAW && format != BLK_FORMAT_QCOW2) {
        blk_err_invalid(err, "format", "?", "unknown image format %d", (int)format);
        return -1;
    }
    return open_one(path, format, flags, NULL, 0, out, err);
}

void blk_close(struct blk_image *img)
{
    if (!img)
        return;
    if (!img->read_only && img->drv->flush(img) < 0)
        log_warn("flushing '%s' on close failed", img->path);
    image_free(img);
}

uint64_t blk_get_size(const struct blk_image *img)
{
    return __atomic_load_n(&img->size, __ATOMIC_ACQUIRE);
}

int blk_is_read_only(const struct blk_image *img) { return img->read_only; }
enum blk_format blk_get_format(const struct blk_image *img) { return img->drv->format; }
const char *blk_get_path(const struct blk_image *img) { return img->path; }
struct blk_image *blk_get_backing(const struct blk_image *img) { return img->backing; }

/* ---- I/O ---- */

static int range_ok(struct blk_image *img, uint64_t off, uint64_t len)
{
    return off <= img->size && len <= img->size - off;
}

int blk_read_backing(struct blk_image *img, void *buf, uint64_t off, size_t len)
{
    struct blk_image *b = img->backing;
    uint64_t bsize = b ? blk_get_size(b) : 0;
    size_t n = 0;
    if (off < bsize)
        n = (size_t)(bsize - off < len ? bsize - off : len);
    if (n > 0) {
        int r = blk_read(b, buf, off, n);
        if (r < 0)
            return r;
    }
    memset((uint8_t *)buf + n, 0, len - n);
    return 0;
}

/* Exclusive section: no data I/O in flight, metadata locked. */
static void excl_lock(struct blk_image *img)
{
    pthread_rwlock_wrlock(&img->io_lock);
    pthread_mutex_lock(&img->lock);
}

static void excl_unlock(struct blk_image *img)
{
    pthread_mutex_unlock(&img->lock);
    pthread_rwlock_unlock(&img->io_lock);
}

int blk_read(struct blk_image *img, void *buf, uint64_t offset, size_t len)
{
    pthread_rwlock_rdlock(&img->io_lock);
    int r = range_ok(img, offset, len) ? (len ? img->drv->read(img, buf, offset, len) : 0)
                                       : -EINVAL;
    pthread_rwlock_unlock(&img->io_lock);
    return r;
}

/*
 * A raw image found by probing must not become a qcow2 image by a guest write (the guest
 * could then name any host file as its backing file): refuse writes that would put the
 * qcow2 magic at offset 0, as QEMU does for probed raw images.
 */
static int forges_magic(struct blk_image *img, const void *buf, uint64_t off, size_t len)
{
    if (!img->probed_raw || off >= 4)
        return 0;
    uint8_t head[4];
    if (blk_pread(img->fd, head, sizeof(head), 0) < 0)
        return 1;
    for (uint64_t i = off; i < 4 && i - off < len; i++)
        head[i] = ((const uint8_t *)buf)[i - off];
    return memcmp(head, "QFI\xfb", 4) == 0;
}

int blk_write(struct blk_image *img, const void *buf, uint64_t offset, size_t len)
{
    if (img->read_only)
        return -EROFS;
    if (forges_magic(img, buf, offset, len))
        return -EPERM;
    pthread_rwlock_rdlock(&img->io_lock);
    int r = range_ok(img, offset, len) ? (len ? img->drv->write(img, buf, offset, len) : 0)
                                       : -EINVAL;
    if (r != -EINVAL)
        blk_dirty_mark(img, offset, len); /* even after an error: the data may have changed */
    pthread_rwlock_unlock(&img->io_lock);
    __atomic_store_n(&img->unflushed, 1, __ATOMIC_RELEASE);
    return r;
}

int blk_flush(struct blk_image *img)
{
    if (img->read_only)
        return 0;
    /* guests flush often: nothing written since the last flush means nothing to sync */
    if (!__atomic_exchange_n(&img->unflushed, 0, __ATOMIC_ACQ_REL))
        return 0;
    pthread_rwlock_rdlock(&img->io_lock);
    int r = img->drv->flush(img);
    pthread_rwlock_unlock(&img->io_lock);
    if (r < 0)
        __atomic_store_n(&img->unflushed, 1, __ATOMIC_RELEASE);
    return r;
}

int blk_discard(struct blk_image *img, uint64_t offset, uint64_t len)
{
    if (img->read_only)
        return -EROFS;
    excl_lock(img);
    int r = range_ok(img, offset, len) ? (len ? img->drv->discard(img, offset, len) : 0)
                                       : -EINVAL;
    if (r != -EINVAL)
        blk_dirty_mark(img, offset, len);
    excl_unlock(img);
    __atomic_store_n(&img->unflushed, 1, __ATOMIC_RELEASE);
    return r;
}

int blk_map(struct blk_image *img, uint64_t offset, uint64_t len, int *kind,
            uint64_t *run_len)
{
    pthread_rwlock_rdlock(&img->io_lock);
    int r = (!range_ok(img, offset, len) || len == 0) ? -EINVAL
                                                      : img->drv->map(img, offset, len, kind,
                                                                      run_len);
    pthread_rwlock_unlock(&img->io_lock);
    return r;
}

static int iov_total(const struct iovec *iov, int iovcnt, uint64_t *total)
{
    uint64_t t = 0;
    if (iovcnt < 0 || (iovcnt > 0 && !iov))
        return -EINVAL;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > UINT64_MAX - t)
            return -EINVAL;
        t += iov[i].iov_len;
    }
    *total = t;
    return 0;
}

int blk_readv(struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    uint64_t total;
    int r = iov_total(iov, iovcnt, &total);
    if (r < 0)
        return r;
    pthread_rwlock_rdlock(&img->io_lock);
    if (!range_ok(img, offset, total))
        r = -EINVAL;
    for (int i = 0; i < iovcnt && r == 0; i++) {
        if (iov[i].iov_len)
            r = img->drv->read(img, iov[i].iov_base, offset, iov[i].iov_len);
        offset += iov[i].iov_len;
    }
    pthread_rwlock_unlock(&img->io_lock);
    return r;
}

int blk_writev(struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset)
{
    if (img->read_only)
        return -EROFS;
    uint64_t total;
    int r = iov_total(iov, iovcnt, &total);
    if (r < 0)
        return r;
    if (iovcnt > 0 && offset < 4 && img->probed_raw) { /* the head may span segments */
        uint8_t head[4];
        size_t n = 0;
        for (int i = 0; i < iovcnt && n < sizeof(head); i++) {
            size_t k = iov[i].iov_len < sizeof(head) - n ? iov[i].iov_len : sizeof(head) - n;
            memcpy(head + n, iov[i].iov_base, k);
            n += k;
        }
        if (forges_magic(img, head, offset, n))
            return -EPERM;
    }
    pthread_rwlock_rdlock(&img->io_lock);
    if (!range_ok(img, offset, total))
        r = -EINVAL;
    else
        blk_dirty_mark(img, offset, total);
    for (int i = 0; i < iovcnt && r == 0; i++) {
        if (iov[i].iov_len)
            r = img->drv->write(img, iov[i].iov_base, offset, iov[i].iov_len);
        offset += iov[i].iov_len;
    }
    pthread_rwlock_unlock(&img->io_lock);
    __atomic_store_n(&img->unflushed, 1, __ATOMIC_RELEASE);
    return r;
}

static const uint8_t zero_chunk[65536];

static int write_zero_bytes(struct blk_image *img, uint64_t off, uint64_t len)
{
    while (len > 0) {
        size_t n = len < sizeof(zero_chunk) ? (size_t)len : sizeof(zero_chunk);
        int r = blk_write(img, zero_chunk, off, n);
        if (r < 0)
            return r;
        off += n;
        len -= n;
    }
    return 0;
}

int blk_write_zeroes(struct blk_image *img, uint64_t offset, uint64_t len)
{
    if (img->read_only)
        return -EROFS;
    if (!range_ok(img, offset, len))
        return -EINVAL;
    uint64_t g = img->zero_granularity ? img->zero_granularity : 1;
    uint64_t end = offset + len, a = (offset + g - 1) / g * g, b = end / g * g;
    if (end == img->size)
        b = end; /* the disk's last, partial unit counts as whole */
    if (a >= b)
        return write_zero_bytes(img, offset, len);
    excl_lock(img);
    int r = range_ok(img, a, b - a) ? img->drv->write_zeroes(img, a, b - a) : -EINVAL;
    if (r != -EINVAL)
        blk_dirty_mark(img, a, b - a);
    excl_unlock(img);
    __atomic_store_n(&img->unflushed, 1, __ATOMIC_RELEASE);
    if (r == -ENOTSUP)
        return write_zero_bytes(img, offset, len);
    if (r == 0)
        r = write_zero_bytes(img, offset, a - offset);
    if (r == 0)
        r = write_zero_bytes(img, b, end - b);
    return r;
}

int blk_resize(struct blk_image *img, uint64_t new_size, struct atoll_err *err)
{
    if (img->read_only) {
        blk_err_denied(err, "cannot resize '%s': it is open read-only", img->path);
        return -1;
    }
    if (img->backing_file && !img->backing) {
        blk_err_denied(err, "cannot resize '%s' opened without its backing chain (the grown or "
                       "dropped area depends on the backing file)", img->path);
        return -1;
    }
    excl_lock(img);
    uint64_t old_size = img->size;
    int r = new_size == old_size ? 0 : img->drv->resize(img, new_size, err);
    if (r == 0 && new_size != old_size)
        blk_dirty_resize(img, old_size);
    excl_unlock(img);
    if (r < 0 || new_size <= old_size)
        return r;
    /*
     * The grown area must read as zeros: neither a larger backing file nor bytes left in the
     * old last cluster by an earlier shrink may show through.
     */
    uint64_t g = img->zero_granularity ? img->zero_granularity : 1;
    uint64_t end = (old_size + g - 1) / g * g;
    uint64_t bsize = img->backing ? blk_get_size(img->backing) : 0;
    if (bsize > end)
        end = bsize;
    if (end > new_size)
        end = new_size;
    if (end > old_size && img->drv->format != BLK_FORMAT_RAW) {
        int zr = blk_write_zeroes(img, old_size, end - old_size);
        if (zr < 0) {
            blk_err_io(err, -zr, "cannot zero the grown area of '%s'", img->path);
            return -1;
        }
    }
    return 0;
}

int blk_set_backing(struct blk_image *img, const char *backing_file,
                    enum blk_format backing_format, struct atoll_err *err)
{
    if (img->read_only) {
        blk_err_denied(err, "cannot change the backing file of '%s': it is open read-only",
                       img->path);
        return -1;
    }
    if (!img->drv->set_backing) {
        blk_err_unsupported(err, "format", img->drv->name, "'%s' is a %s image, which has no "
                            "backing file", img->path, img->drv->name);
        return -1;
    }
    if (backing_file && (!*backing_file || strlen(backing_file) > BLK_MAX_BACKING_NAME)) {
        blk_err_invalid(err, "backing_file", backing_file, "backing file name must be 1..%d "
                        "bytes", BLK_MAX_BACKING_NAME);
        return -1;
    }
    struct blk_image *nb = NULL;
    ATOLL_AUTOFREE char *npath = backing_file ? resolve_backing(img->path, backing_file) : NULL;
    if (backing_file && !(img->open_flags & BLK_OPEN_NO_BACKING)) {
        struct stat st;
        if (fstat(img->fd, &st) < 0) {
            blk_err_io(err, errno, "cannot stat '%s'", img->path);
            return -1;
        }
        struct chain_id me = {st.st_dev, st.st_ino, NULL};
        if (open_one(npath, backing_format, img->open_flags & ~BLK_OPEN_RDWR, &me,
                     img->depth + 1, &nb, err) < 0)
            return -1;
        if (backing_format == BLK_FORMAT_AUTO)
            backing_format = blk_get_format(nb);
    }
    const char *fmt = backing_file && backing_format != BLK_FORMAT_AUTO
                          ? blk_format_name(backing_format) : NULL;
    excl_lock(img);
    int r = img->drv->set_backing(img, backing_file, fmt, err);
    if (r == 0) {
        struct blk_image *old = img->backing;
        img->backing = nb;
        nb = old;
        free(img->backing_file);
        free(img->backing_format);
        free(img->backing_path);
        img->backing_file = atoll_strdup(backing_file);
        img->backing_format = atoll_strdup(fmt);
        img->backing_path = atoll_steal_ptr(&npath);
    }
    excl_unlock(img);
    blk_close(nb); /* the old chain, or the new one when the header could not be written */
    return r;
}

int blk_info(struct blk_image *img, struct blk_info *out, struct atoll_err *err)
{
    struct stat st;
    if (fstat(img->fd, &st) < 0) {
        blk_err_io(err, errno, "cannot stat image '%s'", img->path);
        return -1;
    }
    struct blk_info info = {0};
    excl_lock(img);
    info.format = img->drv->format;
    info.virtual_size = img->size;
    info.file_size = (uint64_t)st.st_size;
    info.disk_size = (uint64_t)st.st_blocks * 512;
    info.read_only = img->read_only;
    info.path = img->path;
    info.backing_file = img->backing_file;
    info.backing_format = img->backing_format;
    info.backing_path = img->backing ? img->backing->path : NULL;
    for (struct blk_image *b = img->backing; b; b = b->backing)
        info.chain_depth++;
    img->drv->info(img, &info);
    excl_unlock(img);
    *out = info;
    return 0;
}

int blk_check(struct blk_image *img, unsigned flags, struct blk_check_result *out,
              struct atoll_err *err)
{
    if ((flags & BLK_CHECK_REPAIR_LEAKS) && img->read_only) {
        blk_err_denied(err, "cannot repair '%s': it is open read-only", img->path);
        return -1;
    }
    struct blk_check_result res = {0};
    excl_lock(img);
    int r = img->drv->check(img, flags, &res, err);
    excl_unlock(img);
    if (r == 0)
        *out = res;
    return r;
}

/* ---- create ---- */

int blk_create(const char *path, const struct blk_create_opts *opts, struct atoll_err *err)
{
    if (!path || !*path || !opts) {
        blk_err_invalid(err, "path", "", "blk_create needs a path and options");
        return -1;
    }
    enum blk_format format = opts->format == BLK_FORMAT_AUTO ? BLK_FORMAT_QCOW2 : opts->format;
    if (format != BLK_FORMAT_RAW && format != BLK_FORMAT_QCOW2) {
        blk_err_invalid(err, "format", "?", "unknown image format %d", (int)opts->format);
        return -1;
    }
    uint64_t size = opts->size;
    ATOLL_AUTOFREE char *bfmt = NULL;
    if (opts->backing_file) {
        if (format != BLK_FORMAT_QCOW2) {
            blk_err_invalid(err, "backing_file", opts->backing_file,
                            "a backing file needs the qcow2 format");
            return -1;
        }
        size_t blen = strlen(opts->backing_file);
        if (blen == 0 || blen > BLK_MAX_BACKING_NAME) {
            blk_err_invalid(err, "backing_file", opts->backing_file,
                            "backing file name must be 1..%d bytes", BLK_MAX_BACKING_NAME);
            return -1;
        }
        ATOLL_AUTOFREE char *bpath = resolve_backing(path, opts->backing_file);
        struct blk_image *b = NULL;
        /* shared: a running VM may be writing the future backing file (snapshot) */
        if (blk_open(bpath, opts->backing_format, BLK_OPEN_SHARE, &b, err) < 0) {
            if (err && err->detail) {
                ATOLL_AUTOFREE char *inner = atoll_strdup(err->detail);
                atoll_err_detail(err, "cannot open backing file '%s': %s", bpath, inner);
            }
            return -1;
        }
        unsigned depth = 1;
        for (struct blk_image *x = b->backing; x; x = x->backing)
            depth++;
        if (depth > BLK_MAX_CHAIN_DEPTH) {
            blk_close(b);
            blk_err_denied(err, "cannot create '%s': its backing chain would be %u images deep "
                           "(at most %u)", path, depth, BLK_MAX_CHAIN_DEPTH);
            return -1;
        }
        if (size == 0)
            size = blk_get_size(b);
        bfmt = atoll_strdup(blk_format_name(blk_get_format(b)));
        blk_close(b);
    }
    ATOLL_AUTOCLOSE int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        blk_err_io(err, errno, "cannot create image '%s'", path);
        return -1;
    }
    if (driver_for(format)->create(fd, path, opts, size, bfmt, err) < 0)
        return -1;
    int r = blk_sync(fd);
    if (r < 0) {
        blk_err_io(err, -r, "cannot sync new image '%s'", path);
        return -1;
    }
    return 0;
}

/*
 * hypervisor/block/raw.c - the raw format: the file (or block device) is the disk, byte for
 * byte. Discard punches holes; resize truncates (shrinking only over holes).
 * Threads: read/write/flush run concurrently (pread/pwrite need no lock); discard and resize
 * run exclusive (block.c). Trust: nothing is read from the file but the guest's own data.
 */
#define ATOLL_LOG_MODULE "block-raw"
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atoll/log.h"

static int raw_open(struct blk_image *img, struct atoll_err *err)
{
    struct stat st;
    if (fstat(img->fd, &st) < 0) {
        blk_err_io(err, errno, "cannot stat '%s'", img->path);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (S_ISBLK(st.st_mode) && ioctl(img->fd, BLKGETSIZE64, &size) < 0) {
        blk_err_io(err, errno, "cannot get the size of block device '%s'", img->path);
        return -1;
    }
    img->size = size;
    img->zero_granularity = 1;
    img->priv = img; /* non-NULL: open succeeded */
    return 0;
}

static void raw_close(struct blk_image *img)
{
    img->priv = NULL;
}

static int raw_read(struct blk_image *img, void *buf, uint64_t off, size_t len)
{
    return blk_pread(img->fd, buf, len, off);
}

static int raw_write(struct blk_image *img, const void *buf, uint64_t off, size_t len)
{
    return blk_pwrite(img->fd, buf, len, off);
}

static int raw_flush(struct blk_image *img)
{
    return blk_sync(img->fd);
}

static int raw_discard(struct blk_image *img, uint64_t off, uint64_t len)
{
    if (fallocate(img->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0) {
        if (errno == EOPNOTSUPP || errno == ENOSYS)
            return 0; /* discard is advisory */
        return -errno;
    }
    return 0;
}

static int raw_write_zeroes(struct blk_image *img, uint64_t off, uint64_t len)
{
    if (fallocate(img->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                  (off_t)len) < 0)
        return -ENOTSUP; /* the caller writes zeros */
    return 0;
}

static int raw_map(struct blk_image *img, uint64_t off, uint64_t len, int *kind, uint64_t *n)
{
    off_t data = lseek(img->fd, (off_t)off, SEEK_DATA);
    if (data < 0 && errno != ENXIO) { /* no SEEK_DATA here: all data */
        *kind = BLK_MAP_DATA;
        *n = len;
        return 0;
    }
    if (data < 0 || (uint64_t)data > off) { /* a hole up to data (or the end) */
        uint64_t hole = data < 0 ? len : (uint64_t)data - off;
        *kind = BLK_MAP_ZERO;
        *n = hole < len ? hole : len;
        return 0;
    }
    off_t hole = lseek(img->fd, (off_t)off, SEEK_HOLE);
    uint64_t d = hole < 0 ? len : (uint64_t)hole - off;
    *kind = BLK_MAP_DATA;
    *n = d < len && d > 0 ? d : len;
    return 0;
}

static int raw_resize(struct blk_image *img, uint64_t size, struct atoll_err *err)
{
    if (size > (uint64_t)INT64_MAX) {
        blk_err_invalid(err, "size", "too large", "size %llu is too large",
                        (unsigned long long)size);
        return -1;
    }
    if (size < img->size) {
        off_t data = lseek(img->fd, (off_t)size, SEEK_DATA);
        if (data >= 0 && (uint64_t)data < img->size) {
            blk_err_denied(err, "cannot shrink '%s' to %llu bytes: data is stored at offset "
                           "%lld beyond the new size (discard it first)", img->path,
                           (unsigned long long)size, (long long)data);
            return -1;
        }
    }
    if (ftruncate(img->fd, (off_t)size) < 0) {
        blk_err_io(err, errno, "cannot resize '%s'", img->path);
        return -1;
    }
    __atomic_store_n(&img->size, size, __ATOMIC_RELEASE);
    return 0;
}

static void raw_info(struct blk_image *img, struct blk_info *out)
{
    (void)img;
    (void)out;
}

static int raw_check(struct blk_image *img, unsigned flags, struct blk_check_result *out,
                     struct atoll_err *err)
{
    memset(out, 0, sizeof(*out));
    out->image_end_offset = img->size;
    return 0;
}

static int raw_create(int fd, const char *path, const struct blk_create_opts *opts,
                      uint64_t size, const char *backing_format, struct atoll_err *err)
{
    if (size > (uint64_t)INT64_MAX) {
        blk_err_invalid(err, "size", "too large", "size %llu is too large",
                        (unsigned long long)size);
        return -1;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        blk_err_io(err, errno, "cannot set the size of '%s'", path);
        return -1;
    }
    return 0;
}

const struct blk_driver blk_raw_driver = {
    .name = "raw",
    .format = BLK_FORMAT_RAW,
    .open = raw_open,
    .close = raw_close,
    .read = raw_read,
    .write = raw_write,
    .flush = raw_flush,
    .discard = raw_discard,
    .write_zeroes = raw_write_zeroes,
    .map = raw_map,
    .resize = raw_resize,
    .info = raw_info,
    .check = raw_check,
    .create = raw_create,
};

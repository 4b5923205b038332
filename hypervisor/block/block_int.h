/*
 * hypervisor/block/block_int.h - what the generic layer (block.c) and the format drivers
 * (raw.c, qcow2*.c) share: the image object, the driver table, pread/pwrite helpers and
 * error helpers. Not installed. Threads: read/write/flush run with img->io_lock held shared
 * (drivers take img->lock around metadata, never around a data pread/pwrite); the other
 * ops run with io_lock exclusive and img->lock held.
 * Trust: drivers validate everything they read from the image file.
 */
#ifndef ATOLL_BLOCK_INT_H
#define ATOLL_BLOCK_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "atoll/block.h"
#include "atoll/err.h"

struct blk_image;

enum blk_lock_mode {
    BLK_LOCK_NONE = 0,
    BLK_LOCK_RO,      /* read; others may read but not write or resize */
    BLK_LOCK_RW,      /* read, write, resize; others may only read */
    BLK_LOCK_SHARED,  /* read; everything shared (BLK_OPEN_SHARE) */
};

struct blk_driver {
    const char *name;
    enum blk_format format;
    /* Reads and validates metadata; sets img->size, img->backing_file/_format. */
    int (*open)(struct blk_image *img, struct atoll_err *err);
    void (*close)(struct blk_image *img);
    int (*read)(struct blk_image *img, void *buf, uint64_t off, size_t len);
    int (*write)(struct blk_image *img, const void *buf, uint64_t off, size_t len);
    int (*flush)(struct blk_image *img);
    int (*discard)(struct blk_image *img, uint64_t off, uint64_t len);
    /* First run of [off, off+len): kind (enum blk_map_kind) and length. */
    int (*map)(struct blk_image *img, uint64_t off, uint64_t len, int *kind, uint64_t *n);
    /* Zeroes whole units of zero_granularity bytes without data writes, or -ENOTSUP. */
    int (*write_zeroes)(struct blk_image *img, uint64_t off, uint64_t len);
    int (*resize)(struct blk_image *img, uint64_t size, struct atoll_err *err);
    void (*info)(struct blk_image *img, struct blk_info *out);
    int (*check)(struct blk_image *img, unsigned flags, struct blk_check_result *out,
                 struct atoll_err *err);
    /* Rewrites the stored backing name/format (NULL: none); header only. */
    int (*set_backing)(struct blk_image *img, const char *name, const char *format,
                       struct atoll_err *err);
    /* Writes a new empty image into fd (already truncated to 0). */
    int (*create)(int fd, const char *path, const struct blk_create_opts *opts, uint64_t size,
                  const char *backing_format, struct atoll_err *err);
};

extern const struct blk_driver blk_raw_driver;
extern const struct blk_driver blk_qcow2_driver;

struct blk_image {
    pthread_mutex_t lock;       /* driver metadata and caches */
    pthread_rwlock_t io_lock;   /* shared: data I/O; exclusive: discard/resize/info/check */
    const struct blk_driver *drv;
    char *path;
    int fd;
    int read_only;
    uint64_t size;              /* virtual size; written under lock, read atomically */
    uint64_t file_size_at_open;
    char *backing_file;         /* from the header (owned) */
    char *backing_format;       /* from the header (owned) */
    char *backing_path;         /* resolved path of the opened backing image (owned) */
    struct blk_image *backing;  /* owned */
    unsigned depth;             /* 0 for the top image */
    unsigned open_flags;        /* BLK_OPEN_* given to blk_open (RDWR cleared for backings) */
    uint32_t zero_granularity;  /* write_zeroes unit (set by the driver's open) */
    enum blk_lock_mode lock_mode;
    int unflushed;              /* writes completed since the last flush (atomic) */
    uint64_t *dirty_bitmap;     /* block_dirty.c; NULL when not tracking */
    uint64_t dirty_nbits;
    uint32_t dirty_granularity;
    int corrupt_logged;
    int probed_raw;             /* raw by probing: writes may not forge a format header */
    void *priv;                 /* driver state */
};

/* Whole-buffer pread; bytes past the end of the file read as zeros. 0 or -errno. */
int blk_pread(int fd, void *buf, size_t len, uint64_t off);
/* Whole-buffer pwrite. 0 or -errno. */
int blk_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* fdatasync. 0 or -errno. */
int blk_sync(int fd);
/* Punches a hole (best effort; errors ignored). */
void blk_punch(int fd, uint64_t off, uint64_t len);
/* Grows the file (sparse) to at least size bytes; never shrinks. 0 or -errno. */
int blk_extend(int fd, uint64_t size);
/* Zeroes a range in the file system (fallocate zero range, growing the file). 0 or -errno. */
int blk_zero_range(int fd, uint64_t off, uint64_t len);

/*
 * Test-only observer of every completed pwrite (buf NULL: zeros), hole punch and fdatasync
 * the library issues, in order: the power-cut test replays prefixes and subsets of them.
 * NULL in production; set it only while no image is in use by other threads.
 */
struct blk_io_observer {
    void (*write)(void *opaque, int fd, const void *buf, size_t len, uint64_t off);
    void (*sync)(void *opaque, int fd);
    void *opaque;
};
extern struct blk_io_observer *blk_io_observer;

/*
 * Tests for conflicting users (QEMU-compatible OFD byte locks) and switches this image's
 * locks to mode. 0, or -1 with err set (OPERATION_NOT_ALLOWED) on a conflict; file systems
 * without OFD locks are used unlocked.
 */
int blk_lock_apply(struct blk_image *img, enum blk_lock_mode mode, struct atoll_err *err);

/* block_dirty.c: mark under io_lock (shared is enough); resize under io_lock exclusive. */
void blk_dirty_mark(struct blk_image *img, uint64_t off, uint64_t len);
void blk_dirty_resize(struct blk_image *img, uint64_t old_size);

/* Reads the backing chain's data for [off, off+len) of img; zeros where it has none. */
int blk_read_backing(struct blk_image *img, void *buf, uint64_t off, size_t len);

/* Logs (once per image) that metadata met during I/O is corrupt; returns -EIO. */
int blk_corrupt(struct blk_image *img, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Error helpers: fill params and a one-line detail (printf). */
void blk_err_invalid(struct atoll_err *err, const char *field, const char *value,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void blk_err_unsupported(struct atoll_err *err, const char *field, const char *value,
                         const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void blk_err_denied(struct atoll_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* errnum is a positive errno; the message gets ": strerror" appended. */
void blk_err_io(struct atoll_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

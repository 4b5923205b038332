/*
 * atoll/block.h - libatoll-block: raw and qcow2 (v3, v2 read/write) disk images with backing
 * chains of any depth, for the VMM's virtio-blk and for storage plugins.
 * Threads: any thread may call anything on an open image. Reads, writes and flushes run in
 * parallel: a per-image mutex covers only metadata (mapping, allocation, caches), the data
 * pread/pwrite happens outside it. Discard, resize, info and check are exclusive (they wait
 * for in-flight I/O). Backing images are read-only with their own locks, taken top-down.
 * Trust: image files are untrusted; every header field and table entry is bounded before use.
 * A backing file name is followed as written (absolute paths too): for images from an
 * untrusted source, open with BLK_OPEN_NO_BACKING and vet blk_info().backing_file first, and
 * pass the format explicitly (probing raw is only safe because of the -EPERM rule below).
 */
#ifndef ATOLL_BLOCK_H
#define ATOLL_BLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "atoll/err.h"

/*
 * Errors. Calls that happen once per image or take long (create, open, resize, set_backing,
 * commit, copy, info, check) fill a struct atoll_err and return -1; the hot path (read(v),
 * write(v), flush, discard, write_zeroes, map) returns 0 or -errno, allocates only to fill
 * its fixed-size caches and formats only one corruption log line per image. Codes used
 * (params in brackets; err->detail always holds one whole human-readable line):
 *   INVALID_VALUE [field, value]           bad argument, or a bad field in an image header
 *   VALUE_NOT_SUPPORTED [field, value, reason]  a valid image using a feature we do not do
 *   OPERATION_NOT_ALLOWED [reason]         read-only image, unsafe shrink, loops, in use
 *   INTERNAL_ERROR [message]               I/O error (err->sys_errno is set)
 * Hot-path errnos: -EINVAL range beyond the disk, -EROFS read-only image, -EPERM a write
 * that would turn a raw image opened by probing into a qcow2 header (as QEMU), -EIO corrupt
 * metadata met during I/O (logged once per image), -ENOSPC/-EFBIG the image file cannot
 * grow, other -errno from pread/pwrite/fdatasync.
 *
 * Crash safety (qcow2). Metadata is written through (no dirty metadata cache), in an order
 * that leaves a consistent image after a kill -9 or a power cut at any instant, at worst with
 * leaked clusters (refcount > references, which `qemu-img check -r leaks` frees):
 *   1. refcounts first: clusters are reserved in batches (refcount set to 1, the file grown
 *      over them, fdatasync) into a per-image pool before anything points at them; a crash
 *      leaks at most one batch (up to 8 MiB of clusters) - the pool is returned on close.
 *   2. data: the guest data (with the copy-on-write head/tail from the backing chain or the
 *      old compressed/zero cluster) is written to the new cluster.
 *   3. L2: the entry is pointed at the new cluster (one pwrite of the changed entries).
 *   4. L1: a new L2 table is written whole and fdatasync'ed before its L1 entry is set; the
 *      same holds for new refcount blocks (block, fdatasync, refcount-table entry) and for
 *      table moves on growth (new table, fdatasync, header, fdatasync, free the old one).
 *   Freeing runs the other way: drop the reference (L2 entry), fdatasync, then decrement the
 *   refcount. Guest data is durable only after blk_flush() (fdatasync), as on a disk with a
 *   volatile write cache; without the data->L2 barrier a power cut may show a newly written
 *   cluster's old contents (zeros for a file that grew), never another image's data.
 *   Verified by tests/unit/hypervisor/block: SIGKILLs of a writer, and simulated power cuts
 *   (any subset of the writes after the last fdatasync, torn at 512-byte sectors).
 *
 * Not done (refused with an error, never silently wrong): writing images with internal
 * snapshots (read is fine), encryption, external data files, extended L2 entries, zstd
 * compression, lazy-refcount images left dirty (open read-only or repair with qemu-img).
 * Compressed (deflate) clusters are read, and copied out (decompressed) when written.
 * Locking: images are locked like QEMU does (OFD byte locks), so atoll and qemu refuse to
 * open for writing an image another process uses, and refuse reading one another process
 * writes (unless BLK_OPEN_SHARE); backing files are locked against writers.
 */

enum blk_format {
    BLK_FORMAT_AUTO = 0, /* open: probe (qcow2 magic, else raw); create: qcow2 */
    BLK_FORMAT_RAW = 1,
    BLK_FORMAT_QCOW2 = 2,
};

/* "raw", "qcow2", or "auto". */
const char *blk_format_name(enum blk_format format);
/* Format for "raw"/"qcow2" (or "auto" -> BLK_FORMAT_AUTO); -1 for anything else. */
int blk_format_from_name(const char *name);

/* Most backing images below a top image; deeper chains (and loops) fail with an error. */
#define BLK_MAX_CHAIN_DEPTH 256
/* Largest qcow2 backing file name, as in QEMU. */
#define BLK_MAX_BACKING_NAME 1023

struct blk_create_opts {
    enum blk_format format;         /* RAW or QCOW2; AUTO means QCOW2 */
    uint64_t size;                  /* virtual size in bytes; 0 with a backing file: its size */
    uint32_t cluster_size;          /* qcow2: power of two, 512 .. 2 MiB; 0 = 64 KiB */
    uint32_t qcow2_version;         /* 2 or 3; 0 = 3 */
    const char *backing_file;       /* qcow2 only; stored as given, relative to the image */
    enum blk_format backing_format; /* stored in the header; AUTO = probe the backing now */
};

/*
 * Creates (or truncates and overwrites) the image at path. A backing file must exist and
 * open (its size is the default size; its format is probed when not given). The new image
 * is fdatasync'ed before return. 0, or -1 with err set.
 */
int blk_create(const char *path, const struct blk_create_opts *opts, struct atoll_err *err);

#define BLK_OPEN_RDWR 0x1u        /* read-write; default read-only (writes get -EROFS) */
#define BLK_OPEN_NO_BACKING 0x2u  /* do not open the backing chain: unallocated reads as 0 */
#define BLK_OPEN_SHARE 0x4u       /* read-only, ignore other users (qemu-img -U): may be stale */

struct blk_image;

/*
 * Opens path (format AUTO probes) and, unless BLK_OPEN_NO_BACKING, its whole backing chain
 * read-only: a relative backing name is taken relative to the directory of the image that
 * names it; a backing format stored in the header is enforced, else probed. Loops (same
 * inode twice) and chains deeper than BLK_MAX_CHAIN_DEPTH are refused. An image in use by
 * another process (see Locking above) is refused with OPERATION_NOT_ALLOWED. A read-write
 * open of a qcow2 image clears the header's autoclear bits (features we do not maintain).
 * On success *out owns the image (release with blk_close); 0, or -1 with err set.
 */
int blk_open(const char *path, enum blk_format format, unsigned flags, struct blk_image **out,
             struct atoll_err *err);

/* Flushes (read-write), returns reserved clusters and closes the chain. NULL is a no-op. */
void blk_close(struct blk_image *img);

/* Accessors; no lock needed. Path is borrowed until blk_close. */
uint64_t blk_get_size(const struct blk_image *img);
int blk_is_read_only(const struct blk_image *img);
enum blk_format blk_get_format(const struct blk_image *img);
const char *blk_get_path(const struct blk_image *img);
/* Backing image (borrowed, read-only) or NULL. */
struct blk_image *blk_get_backing(const struct blk_image *img);

/*
 * Hot path: byte-granular I/O at any offset and length inside [0, size), callable from many
 * threads at once. Return 0, or -errno (see above); no partial success. Overlapping
 * concurrent writes land in some order, as on a disk.
 * blk_read fills buf with the chain's data (unallocated everywhere: zeros).
 * blk_write copies on write from the backing chain (a partial cluster is filled from below).
 * blk_flush makes every completed write durable (fdatasync); a no-op when read-only.
 * blk_discard drops whole clusters inside the range (partial clusters are left alone); a
 * discarded cluster then reads as zeros (qcow2 v3 zero flag when there is a backing file;
 * qcow2 v2 with a backing file keeps the data). Raw images punch a hole when the file system
 * can; the range must be inside the disk.
 */
int blk_read(struct blk_image *img, void *buf, uint64_t offset, size_t len);
int blk_write(struct blk_image *img, const void *buf, uint64_t offset, size_t len);
int blk_flush(struct blk_image *img);
int blk_discard(struct blk_image *img, uint64_t offset, uint64_t len);

/*
 * Scatter-gather forms (a virtio-blk request's guest buffers): the segments are consecutive
 * on the disk from offset, total length = sum of iov_len. Same rules as blk_read/blk_write.
 */
int blk_readv(struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset);
int blk_writev(struct blk_image *img, const struct iovec *iov, int iovcnt, uint64_t offset);

/*
 * Copies every cluster the top image holds (data, and zero clusters as zeros) into its
 * backing image, which is opened read-write for the copy: the XenServer-style coalesce after
 * a snapshot is deleted. The top image is not changed; afterwards the caller may drop it
 * (or blk_set_backing() images above it onto the backing file). Other handles of the backing
 * file must be reopened. Can take long: call it from a worker thread. 0, or -1 with err.
 */
int blk_commit(struct blk_image *top, struct atoll_err *err);

/*
 * Copies everything src shows (its whole chain) into dst, which must be read-write, at least
 * as large, and read as zeros beforehand (a new image): zero runs are skipped, so the copy is
 * sparse (qemu-img convert). Long-running, like blk_commit. 0, or -1 with err set.
 */
int blk_copy(struct blk_image *src, struct blk_image *dst, struct atoll_err *err);

enum blk_map_kind {
    BLK_MAP_DATA = 1,     /* stored in this image (qcow2: a data or compressed cluster) */
    BLK_MAP_ZERO = 2,     /* reads as zeros without data (zero cluster, hole, past the chain) */
    BLK_MAP_BACKING = 3,  /* not in this image: read from blk_get_backing() */
};

/*
 * Allocation map (qemu-img map, sparse copies, backup): describes the run starting at offset:
 * *kind and *run_len (1 .. len bytes; runs end at cluster boundaries that change kind).
 * Hot path: 0 or -errno.
 */
int blk_map(struct blk_image *img, uint64_t offset, uint64_t len, int *kind,
            uint64_t *run_len);

/*
 * Makes [offset, offset+len) read as zeros (virtio-blk WRITE_ZEROES). Whole clusters become
 * zero clusters without data writes (qcow2 v3 zero flag, or unallocated without a backing
 * file; raw: fallocate zero range), their old clusters freed; partial clusters, and qcow2 v2
 * images over a backing file, get zeros written. Hot path: 0 or -errno.
 */
int blk_write_zeroes(struct blk_image *img, uint64_t offset, uint64_t len);

/*
 * Changes the virtual size. Growing always works (the qcow2 L1 table moves when it must).
 * Shrinking is refused (OPERATION_NOT_ALLOWED) when the disk shows data beyond the new size,
 * from this image or from the backing chain - discard it first. The grown area reads as
 * zeros (zero clusters hide a larger backing file). Images opened with BLK_OPEN_NO_BACKING
 * that have a backing file cannot be resized. The backing chain is never changed.
 * 0, or -1 with err set.
 */
int blk_resize(struct blk_image *img, uint64_t new_size, struct atoll_err *err);

/*
 * Rewrites the backing file name and format stored in a qcow2 header (qemu-img rebase -u):
 * for moved or renamed backing files, or after copying the backing data elsewhere. The
 * caller guarantees the new file has the same content; NULL removes the backing file (the
 * image must then stand alone). Needs a read-write image. Unless the image was opened with
 * BLK_OPEN_NO_BACKING, the new chain is opened (and checked for loops) before the header
 * changes, and replaces the old one. The header is written with one pwrite and synced.
 * 0, or -1 with err set.
 */
int blk_set_backing(struct blk_image *img, const char *backing_file,
                    enum blk_format backing_format, struct atoll_err *err);

/*
 * Dirty tracking, for mirroring a disk while it is in use and for incremental backup: once
 * enabled, every write, discard, write_zeroes and grow marks the granularity-sized blocks it
 * touches (a power of two >= 512). blk_dirty_take hands the bitmap over (bit i covers bytes
 * [i * granularity, (i + 1) * granularity); *bitmap is the caller's to free) and starts an
 * empty one, atomically with respect to writes: a write either is in the bitmap taken or
 * will be in the next one. Tracking lives in memory only. 0, or -1 with err set.
 */
int blk_dirty_enable(struct blk_image *img, uint32_t granularity, struct atoll_err *err);
void blk_dirty_disable(struct blk_image *img);
int blk_dirty_take(struct blk_image *img, uint64_t **bitmap, uint64_t *nbits,
                   uint32_t *granularity, struct atoll_err *err);

struct blk_info {
    enum blk_format format;
    uint64_t virtual_size;
    uint64_t file_size;      /* st_size of the image file */
    uint64_t disk_size;      /* bytes the file occupies on the host (st_blocks * 512) */
    uint32_t cluster_size;   /* qcow2; 0 for raw */
    uint32_t qcow2_version;  /* 2 or 3; 0 for raw */
    uint32_t refcount_bits;  /* qcow2 */
    uint32_t nb_snapshots;   /* qcow2 internal snapshots */
    uint32_t chain_depth;    /* backing images opened below this one */
    int32_t read_only;
    int32_t dirty;           /* qcow2 incompatible bit 0 (lazy refcounts, not closed) */
    int32_t corrupt;         /* qcow2 incompatible bit 1 */
    int32_t lazy_refcounts;  /* qcow2 compatible bit 0 */
    const char *path;            /* borrowed until blk_close, like the strings below */
    const char *backing_file;    /* as stored in the header, or NULL */
    const char *backing_format;  /* as stored in the header, or NULL */
    const char *backing_path;    /* path of the opened backing image, or NULL */
};

/*
 * Fills *out (strings borrowed until blk_close or blk_set_backing). 0, or -1 with err set
 * (fstat failed).
 */
int blk_info(struct blk_image *img, struct blk_info *out, struct atoll_err *err);

#define BLK_CHECK_REPAIR_LEAKS 0x1u  /* lower refcounts of leaked clusters (needs RDWR) */

struct blk_check_result {
    uint64_t corruptions;        /* refcount < references, bad offsets, bad COPIED flags */
    uint64_t leaks;              /* refcount > references (harmless wasted space) */
    uint64_t leaks_fixed;        /* leaks repaired (BLK_CHECK_REPAIR_LEAKS) */
    uint64_t check_errors;       /* metadata that could not be read */
    uint64_t allocated_clusters; /* guest clusters with data in this image */
    uint64_t total_clusters;     /* guest clusters of the virtual disk */
    uint64_t compressed_clusters;
    uint64_t image_end_offset;   /* end of the last cluster in use */
};

/*
 * Checks this image's metadata like `qemu-img check` (the backing chain is not checked):
 * rebuilds every refcount from the header, L1/L2 tables, refcount table and snapshot tables
 * and compares with the stored refcounts. Each finding is logged (module "qcow2-check",
 * warn level). Raw images have nothing to check. Returns 0 when the check ran (look at
 * *out), -1 with err set when it could not. Exit codes like qemu-img: see atoll-img.
 */
int blk_check(struct blk_image *img, unsigned flags, struct blk_check_result *out,
              struct atoll_err *err);

#endif

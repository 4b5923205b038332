/*
 * hypervisor/block/block_ops.c - whole-image operations built on the public API: commit (copy a
 * top image's clusters into its backing file) and copy (convert a chain into a new image,
 * skipping zeros). Threads: long-running; callers run them off latency-sensitive threads.
 * Trust: images were validated by blk_open.
 */
#define ATOLL_LOG_MODULE "block"
#include "block_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"

#define OPS_CHUNK (1u << 20)

int blk_commit(struct blk_image *top, struct atoll_err *err)
{
    if (!top->backing) {
        blk_err_denied(err, "cannot commit '%s': it has no open backing file", top->path);
        return -1;
    }
    struct blk_image *base = NULL;
    /* our own read-only handle must not lock ourselves out of writing the backing file */
    blk_lock_apply(top->backing, BLK_LOCK_SHARED, NULL);
    if (blk_open(top->backing->path, blk_get_format(top->backing), BLK_OPEN_RDWR, &base,
                 err) < 0) {
        blk_lock_apply(top->backing, BLK_LOCK_RO, NULL);
        return -1;
    }
    uint64_t size = blk_get_size(top), bsize = blk_get_size(base), off = 0;
    if (size > bsize && blk_resize(base, size, err) < 0) {
        blk_close(base);
        return -1;
    }
    size_t chunk = OPS_CHUNK;
    ATOLL_AUTOFREE uint8_t *buf = atoll_malloc(chunk);
    int r = 0;
    while (off < size && r == 0) {
        int kind;
        uint64_t n;
        uint64_t want = size - off < chunk ? size - off : chunk;
        if ((r = blk_map(top, off, want, &kind, &n)) < 0)
            break;
        if (kind == BLK_MAP_DATA) {
            r = blk_read(top, buf, off, (size_t)n);
            if (r == 0)
                r = blk_write(base, buf, off, (size_t)n);
        } else if (kind == BLK_MAP_ZERO && off < bsize) {
            r = blk_write_zeroes(base, off, n);
        }
        off += n;
    }
    if (r == 0)
        r = blk_flush(base);
    if (r < 0)
        blk_err_io(err, -r, "cannot commit '%s' into '%s'", top->path, base->path);
    blk_close(base);
    blk_lock_apply(top->backing, BLK_LOCK_RO, NULL);
    return r < 0 ? -1 : 0;
}

static int all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

int blk_copy(struct blk_image *src, struct blk_image *dst, struct atoll_err *err)
{
    uint64_t size = blk_get_size(src), off = 0;
    if (blk_is_read_only(dst) || blk_get_size(dst) < size) {
        blk_err_invalid(err, "destination", dst->path, "cannot copy '%s' into '%s': the "
                        "destination must be read-write and at least %llu bytes", src->path,
                        dst->path, (unsigned long long)size);
        return -1;
    }
    ATOLL_AUTOFREE uint8_t *buf = atoll_malloc(OPS_CHUNK);
    int r = 0;
    while (off < size && r == 0) {
        int kind;
        uint64_t n, want = size - off < OPS_CHUNK ? size - off : OPS_CHUNK;
        if ((r = blk_map(src, off, want, &kind, &n)) < 0)
            break;
        if (kind != BLK_MAP_ZERO) {
            r = blk_read(src, buf, off, (size_t)n);
            for (uint64_t k = 0; r == 0 && k < n; k += 65536) { /* skip zero 64 KiB pieces */
                size_t m = n - k < 65536 ? (size_t)(n - k) : 65536;
                if (!all_zero(buf + k, m))
                    r = blk_write(dst, buf + k, off + k, m);
            }
        }
        off += n;
    }
    if (r == 0)
        r = blk_flush(dst);
    if (r < 0) {
        blk_err_io(err, -r, "cannot copy '%s' into '%s'", src->path, dst->path);
        return -1;
    }
    return 0;
}

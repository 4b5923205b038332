/*
 * hypervisor/block/block_dirty.c - dirty-block tracking for disk mirroring and incremental
 * backup: a bitmap of granularity-sized blocks that writes, discards, write_zeroes and
 * resizes mark, handed over (and reset) atomically with respect to in-flight writes.
 * Threads: marking runs under io_lock shared (atomic OR); enable/disable/take/resize run
 * with io_lock exclusive. Trust: granularity and sizes come from the caller and are checked.
 */
#define ATOLL_LOG_MODULE "block"
#include "block_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"

static uint64_t nbits_for(uint64_t size, uint32_t g)
{
    return (size + g - 1) / g;
}

void blk_dirty_mark(struct blk_image *img, uint64_t off, uint64_t len)
{
    uint64_t *bm = img->dirty_bitmap;
    if (!bm || len == 0)
        return;
    uint64_t g = img->dirty_granularity, first = off / g, last = (off + len - 1) / g;
    if (last >= img->dirty_nbits)
        last = img->dirty_nbits - 1;
    for (uint64_t b = first; b <= last && b < img->dirty_nbits;) {
        uint64_t word = b / 64, bit = b % 64;
        uint64_t n = 64 - bit < last - b + 1 ? 64 - bit : last - b + 1;
        uint64_t mask = (n == 64 ? ~0ULL : ((1ULL << n) - 1)) << bit;
        __atomic_fetch_or(&bm[word], mask, __ATOMIC_RELAXED);
        b += n;
    }
}

/* Caller holds io_lock exclusive. Grows or shrinks the bitmap to the image's new size. */
void blk_dirty_resize(struct blk_image *img, uint64_t old_size)
{
    if (!img->dirty_bitmap)
        return;
    uint64_t nbits = nbits_for(img->size, img->dirty_granularity);
    size_t words = (size_t)((nbits + 63) / 64), old_words = (size_t)((img->dirty_nbits + 63) / 64);
    img->dirty_bitmap = atoll_realloc(img->dirty_bitmap, (words ? words : 1) * 8);
    if (words > old_words)
        memset(img->dirty_bitmap + old_words, 0, (words - old_words) * 8);
    if (nbits < img->dirty_nbits && nbits % 64) /* clear bits past the new end */
        img->dirty_bitmap[nbits / 64] &= (1ULL << (nbits % 64)) - 1;
    img->dirty_nbits = nbits;
    if (img->size > old_size)
        blk_dirty_mark(img, old_size, img->size - old_size);
}

int blk_dirty_enable(struct blk_image *img, uint32_t granularity, struct atoll_err *err)
{
    if (granularity < 512 || (granularity & (granularity - 1))) {
        char v[16];
        snprintf(v, sizeof(v), "%u", granularity);
        blk_err_invalid(err, "granularity", v, "dirty tracking granularity %s is invalid "
                        "(expected a power of two, at least 512)", v);
        return -1;
    }
    pthread_rwlock_wrlock(&img->io_lock);
    uint64_t nbits = nbits_for(img->size, granularity);
    free(img->dirty_bitmap);
    img->dirty_bitmap = atoll_calloc((size_t)((nbits + 63) / 64) + 1, 8);
    img->dirty_nbits = nbits;
    img->dirty_granularity = granularity;
    pthread_rwlock_unlock(&img->io_lock);
    return 0;
}

void blk_dirty_disable(struct blk_image *img)
{
    pthread_rwlock_wrlock(&img->io_lock);
    free(img->dirty_bitmap);
    img->dirty_bitmap = NULL;
    img->dirty_nbits = 0;
    pthread_rwlock_unlock(&img->io_lock);
}

int blk_dirty_take(struct blk_image *img, uint64_t **bitmap, uint64_t *nbits,
                   uint32_t *granularity, struct atoll_err *err)
{
    pthread_rwlock_wrlock(&img->io_lock);
    if (!img->dirty_bitmap) {
        pthread_rwlock_unlock(&img->io_lock);
        blk_err_denied(err, "dirty tracking is not enabled on '%s'", img->path);
        return -1;
    }
    size_t words = (size_t)((img->dirty_nbits + 63) / 64) + 1;
    *bitmap = img->dirty_bitmap;
    *nbits = img->dirty_nbits;
    *granularity = img->dirty_granularity;
    img->dirty_bitmap = atoll_calloc(words, 8);
    pthread_rwlock_unlock(&img->io_lock);
    return 0;
}

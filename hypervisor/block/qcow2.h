/*
 * hypervisor/block/qcow2.h - qcow2 driver internals shared by qcow2.c (header, open, create,
 * resize), qcow2_cluster.c (L2 cache, read/write/discard), qcow2_refcount.c (refcounts,
 * cluster allocation, table growth) and qcow2_check.c. Not installed.
 * Threads: all under the image lock. Trust: every offset read from the file is checked
 * (alignment, range) where it is used.
 */
#ifndef ATOLL_QCOW2_H
#define ATOLL_QCOW2_H

#include <stdint.h>

#include "block_int.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_OFLAG_COPIED (1ULL << 63)
#define QCOW2_OFLAG_COMPRESSED (1ULL << 62)
#define QCOW2_OFLAG_ZERO 1ULL
#define QCOW2_OFFSET_MASK 0x00fffffffffffe00ULL  /* L1 and standard L2 entries */
#define QCOW2_RT_OFFSET_MASK 0xfffffffffffffe00ULL
#define QCOW2_MAX_HOST_OFFSET (1ULL << 56)
#define QCOW2_MAX_L1_BYTES (32u << 20)   /* as QEMU */
#define QCOW2_MAX_RT_BYTES (8u << 20)    /* as QEMU */
#define QCOW2_MAX_SNAPSHOTS 65536
#define QCOW2_L2_SLICE_BYTES 4096       /* L2 tables are cached and read in 4 KiB slices */
#define QCOW2_L2_SETS 256
#define QCOW2_L2_WAYS 4                  /* 1024 slices: up to 4 MiB, 32 GiB of 64 KiB clusters */
#define QCOW2_RB_CACHE 8
#define QCOW2_POOL_BYTES (8u << 20)      /* refcount reservation batch */
#define QCOW2_PAST_EOF_SLACK (1ULL << 20) /* clusters past EOF a data cluster may start at */

/* header field offsets */
#define QH_SIZE 24
#define QH_L1_SIZE 36
#define QH_RT_OFFSET 48
#define QH_INCOMPAT 72
#define QH_AUTOCLEAR 88
#define QCOW2_V2_HEADER 72
#define QCOW2_V3_HEADER 104
#define QCOW2_V3_HEADER_OURS 112

#define QCOW2_INCOMPAT_DIRTY 1ULL
#define QCOW2_INCOMPAT_CORRUPT 2ULL
#define QCOW2_INCOMPAT_DATA_FILE 4ULL
#define QCOW2_INCOMPAT_COMPRESSION 8ULL
#define QCOW2_INCOMPAT_EXTL2 16ULL
#define QCOW2_COMPAT_LAZY_REFCOUNTS 1ULL

#define QCOW2_EXT_END 0u
#define QCOW2_EXT_BACKING_FORMAT 0xe2792acau
#define QCOW2_EXT_BITMAPS 0x23852875u

struct qcow2_l2_slot {
    uint64_t offset;  /* file offset of the slice; 0: empty */
    uint64_t stamp;
    uint64_t *table;  /* the slice's entries, host-endian */
};

struct qcow2_rb_slot {
    uint64_t offset;  /* 0: empty */
    uint64_t stamp;
    uint8_t *block;   /* on-disk (big-endian) layout */
    uint32_t dirty_lo, dirty_hi;
};

struct qcow2 {
    uint32_t version;
    uint32_t cluster_bits, cluster_size;
    uint32_t l2_bits, l2_entries;
    uint32_t l2s_entries;               /* entries per cached slice (<= l2_entries) */
    uint32_t refcount_order, refcount_bits;
    uint32_t rb_bits, rb_entries;       /* refcounts per refcount block */
    uint64_t refcount_max;
    uint64_t incompat, compat, autoclear;
    uint32_t header_length;
    uint64_t l1_offset;
    uint32_t l1_size;
    uint64_t *l1;                       /* host-endian */
    uint64_t rt_offset;
    uint32_t rt_clusters;
    uint64_t rt_entries;
    uint64_t *rt;                       /* host-endian */
    uint32_t nb_snapshots;
    uint64_t snapshots_offset;
    int has_bitmaps;
    uint32_t bitmaps_nb;                /* bitmaps extension (counted by check while the */
    uint64_t bitmaps_dir_size;          /* autoclear bit says they are consistent) */
    uint64_t bitmaps_dir_offset;
    struct qcow2_l2_slot l2c[QCOW2_L2_SETS * QCOW2_L2_WAYS];
    struct qcow2_rb_slot rbc[QCOW2_RB_CACHE];
    uint64_t clock;
    uint64_t free_hint;                 /* no free cluster below this index */
    uint64_t alloc_end;                 /* max(file end at open, our allocations): tables and
                                           data must lie below it */
    uint64_t *pool;                     /* reserved clusters (refcount 1, unreferenced) */
    uint32_t pool_head, pool_tail, pool_cap;
    uint8_t *bounce;                    /* one cluster */
    uint8_t *wbuf;                      /* one cluster, for big-endian metadata writes */
    uint8_t *zbuf;                      /* two clusters, compressed input */
    uint8_t *wbuf_rb;                   /* one cluster, for new refcount blocks */
};

static inline struct qcow2 *qcow2_of(struct blk_image *img) { return img->priv; }

static inline uint64_t qcow2_be64(const void *p)
{
    uint64_t v;
    __builtin_memcpy(&v, p, 8);
    return __builtin_bswap64(v);
}
static inline uint32_t qcow2_be32(const void *p)
{
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return __builtin_bswap32(v);
}
static inline void qcow2_put_be64(void *p, uint64_t v)
{
    v = __builtin_bswap64(v);
    __builtin_memcpy(p, &v, 8);
}
static inline void qcow2_put_be32(void *p, uint32_t v)
{
    v = __builtin_bswap32(v);
    __builtin_memcpy(p, &v, 4);
}

/* qcow2_refcount.c: 0 or -errno */
int qcow2_refcount_init(struct blk_image *img);
void qcow2_refcount_fini(struct blk_image *img);
int qcow2_refcount_get(struct blk_image *img, uint64_t cluster, uint64_t *out);
/* Reserves at least n clusters into the pool (refcounts durable before return). */
int qcow2_refcount_reserve(struct blk_image *img, uint32_t n);
/* Takes one reserved cluster (reserve first); returns its byte offset. */
uint64_t qcow2_refcount_take(struct blk_image *img);
/* Allocates n contiguous clusters (refcounts durable); byte offset in *out. */
int qcow2_refcount_alloc_contiguous(struct blk_image *img, uint64_t n, uint64_t *out);
/* Drops one reference to each cluster of [off, off+len) (caller synced the unlinking). */
int qcow2_refcount_free(struct blk_image *img, uint64_t off, uint64_t len);
/* Sets a cluster's refcount (repair); caller commits with qcow2_refcount_commit. */
int qcow2_refcount_set(struct blk_image *img, uint64_t cluster, uint64_t value);
int qcow2_refcount_commit(struct blk_image *img);
/* Returns unused reserved clusters (refcount back to 0). */
int qcow2_refcount_release_pool(struct blk_image *img);

/* qcow2_cluster.c */
int qcow2_cluster_init(struct blk_image *img);
void qcow2_cluster_fini(struct blk_image *img);
int qcow2_cluster_read(struct blk_image *img, void *buf, uint64_t off, size_t len);
int qcow2_cluster_write(struct blk_image *img, const void *buf, uint64_t off, size_t len);
int qcow2_cluster_discard(struct blk_image *img, uint64_t off, uint64_t len);
/* blk_map for qcow2 (takes img->lock). */
int qcow2_cluster_map(struct blk_image *img, uint64_t off, uint64_t len, int *kind,
                      uint64_t *n);
/*
 * 1 if any cluster of guest range [off, end) shows data: a host cluster in this image, or an
 * unallocated cluster over the backing chain's data (a bare zero flag shows none).
 */
int qcow2_cluster_any_allocated(struct blk_image *img, uint64_t off, uint64_t end);
/* Inflates a compressed L2 entry into out (one cluster). 0 or -errno. */
int qcow2_cluster_decompress(struct blk_image *img, uint64_t entry, uint8_t *out);
/* Host range of a compressed entry. */
void qcow2_cluster_compressed_range(const struct qcow2 *q, uint64_t entry, uint64_t *off,
                                    uint64_t *len);

/* qcow2_check.c */
int qcow2_check(struct blk_image *img, unsigned flags, struct blk_check_result *out,
                struct atoll_err *err);

#endif

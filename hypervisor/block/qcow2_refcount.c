/*
 * hypervisor/block/qcow2_refcount.c - qcow2 refcounts: the refcount table, a small cache of
 * refcount blocks (written through), the pool of reserved clusters that makes allocation
 * crash-safe (refcount durable before any reference), contiguous allocation for tables,
 * new refcount blocks and refcount-table growth. Refcount widths 1..64 bits.
 * Threads: under the image lock. Trust: table offsets are checked before they are followed.
 */
#define ATOLL_LOG_MODULE "qcow2"
#include "qcow2.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/log.h"
#include "atoll/util.h"

static uint64_t rb_get(const struct qcow2 *q, const uint8_t *b, uint32_t i)
{
    uint32_t bits = q->refcount_bits;
    if (bits < 8) {
        uint32_t per = 8 / bits;
        return (uint64_t)(b[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
    }
    uint32_t nb = bits / 8;
    uint64_t v = 0;
    for (uint32_t k = 0; k < nb; k++)
        v = (v << 8) | b[(size_t)i * nb + k];
    return v;
}

static void rb_put(struct qcow2 *q, struct qcow2_rb_slot *s, uint32_t i, uint64_t v)
{
    uint32_t bits = q->refcount_bits, lo, hi;
    if (bits < 8) {
        uint32_t per = 8 / bits, shift = (i % per) * bits;
        uint8_t mask = (uint8_t)(((1u << bits) - 1) << shift);
        lo = i / per;
        s->block[lo] = (uint8_t)((s->block[lo] & ~mask) | ((v << shift) & mask));
        hi = lo + 1;
    } else {
        uint32_t nb = bits / 8;
        lo = i * nb;
        hi = lo + nb;
        for (uint32_t k = nb; k-- > 0; v >>= 8)
            s->block[lo + k] = (uint8_t)v;
    }
    if (s->dirty_hi == 0) {
        s->dirty_lo = lo;
        s->dirty_hi = hi;
    } else {
        if (lo < s->dirty_lo)
            s->dirty_lo = lo;
        if (hi > s->dirty_hi)
            s->dirty_hi = hi;
    }
}

static int slot_writeback(struct blk_image *img, struct qcow2_rb_slot *s)
{
    if (s->dirty_hi == 0)
        return 0;
    int r = blk_pwrite(img->fd, s->block + s->dirty_lo, s->dirty_hi - s->dirty_lo,
                       s->offset + s->dirty_lo);
    if (r == 0)
        s->dirty_lo = s->dirty_hi = 0;
    return r;
}

int qcow2_refcount_commit(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    for (int i = 0; i < QCOW2_RB_CACHE; i++) {
        int r = slot_writeback(img, &q->rbc[i]);
        if (r < 0)
            return r;
    }
    return 0;
}

static int rb_load(struct blk_image *img, uint64_t off, struct qcow2_rb_slot **out)
{
    struct qcow2 *q = qcow2_of(img);
    if (off == 0 || (off & (q->cluster_size - 1)) || (off >> q->cluster_bits) >= q->alloc_end)
        return blk_corrupt(img, "refcount block offset %#llx is invalid",
                           (unsigned long long)off);
    struct qcow2_rb_slot *victim = &q->rbc[0];
    for (int i = 0; i < QCOW2_RB_CACHE; i++) {
        struct qcow2_rb_slot *s = &q->rbc[i];
        if (s->offset == off) {
            s->stamp = ++q->clock;
            *out = s;
            return 0;
        }
        if (s->stamp < victim->stamp)
            victim = s;
    }
    int r = slot_writeback(img, victim);
    if (r < 0)
        return r;
    victim->offset = 0;
    r = blk_pread(img->fd, victim->block, q->cluster_size, off);
    if (r < 0)
        return r;
    victim->offset = off;
    victim->stamp = ++q->clock;
    *out = victim;
    return 0;
}

int qcow2_refcount_get(struct blk_image *img, uint64_t cluster, uint64_t *out)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t ri = cluster >> q->rb_bits;
    if (ri >= q->rt_entries || (q->rt[ri] & QCOW2_RT_OFFSET_MASK) == 0) {
        *out = 0;
        return 0;
    }
    struct qcow2_rb_slot *s;
    int r = rb_load(img, q->rt[ri] & QCOW2_RT_OFFSET_MASK, &s);
    if (r < 0)
        return r;
    *out = rb_get(q, s->block, (uint32_t)(cluster & (q->rb_entries - 1)));
    return 0;
}

int qcow2_refcount_set(struct blk_image *img, uint64_t cluster, uint64_t value)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t ri = cluster >> q->rb_bits;
    if (ri >= q->rt_entries || (q->rt[ri] & QCOW2_RT_OFFSET_MASK) == 0)
        return blk_corrupt(img, "cluster %llu has no refcount block",
                           (unsigned long long)cluster);
    if (value > q->refcount_max)
        return -ERANGE;
    struct qcow2_rb_slot *s;
    int r = rb_load(img, q->rt[ri] & QCOW2_RT_OFFSET_MASK, &s);
    if (r < 0)
        return r;
    rb_put(q, s, (uint32_t)(cluster & (q->rb_entries - 1)), value);
    if (value == 0 && cluster < q->free_hint)
        q->free_hint = cluster;
    return 0;
}

static void bump_end(struct qcow2 *q, uint64_t c)
{
    if (c + 1 > q->alloc_end)
        q->alloc_end = c + 1;
}

/* Writes refcount-table entry ri (big-endian) to the file. */
static int rt_write_entry(struct blk_image *img, uint64_t ri)
{
    struct qcow2 *q = qcow2_of(img);
    uint8_t be[8];
    qcow2_put_be64(be, q->rt[ri]);
    return blk_pwrite(img->fd, be, 8, q->rt_offset + ri * 8);
}

/* A new refcount block for table slot ri, placed at cluster c (inside the range it covers). */
static int new_refblock(struct blk_image *img, uint64_t ri, uint64_t c)
{
    struct qcow2 *q = qcow2_of(img);
    struct qcow2_rb_slot *s = &q->rbc[0];
    for (int i = 1; i < QCOW2_RB_CACHE; i++) {
        if (q->rbc[i].stamp < s->stamp)
            s = &q->rbc[i];
    }
    int r = slot_writeback(img, s);
    if (r < 0)
        return r;
    s->offset = 0;
    memset(s->block, 0, q->cluster_size);
    rb_put(q, s, (uint32_t)(c & (q->rb_entries - 1)), 1);
    s->dirty_lo = s->dirty_hi = 0;
    uint64_t off = c << q->cluster_bits;
    if ((r = blk_pwrite(img->fd, s->block, q->cluster_size, off)) < 0)
        return r;
    if ((r = blk_sync(img->fd)) < 0)    /* block durable before the table points at it */
        return r;
    q->rt[ri] = off;
    if ((r = rt_write_entry(img, ri)) < 0)
        return r;
    s->offset = off;
    s->stamp = ++q->clock;
    return 0;
}

/*
 * Grows the refcount table to at least min_entries. The new table and the refcount blocks
 * covering it go to the first clusters no current block covers (so they are surely free).
 */
static int grow_table(struct blk_image *img, uint64_t min_entries)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size, B = q->rb_entries, old = q->rt_entries;
    uint64_t E = old * B, want = min_entries > old * 2 ? min_entries : old * 2;
    uint64_t k = 1, n = 0, total = 0;
    for (int iter = 0; iter < 64; iter++) {
        uint64_t entries = want > old + k ? want : old + k;
        n = (entries * 8 + cs - 1) / cs;
        total = n + k;
        uint64_t need = (total + B - 1) / B;
        if (need <= k)
            break;
        k = need;
    }
    if (n * cs > QCOW2_MAX_RT_BYTES || ((E + total) << q->cluster_bits) >= QCOW2_MAX_HOST_OFFSET)
        return -EFBIG;
    uint64_t entries = n * cs / 8;
    ATOLL_AUTOFREE uint8_t *table = atoll_calloc(n, cs);
    for (uint64_t i = 0; i < old; i++)
        qcow2_put_be64(table + i * 8, q->rt[i]);
    for (uint64_t j = 0; j < k; j++)
        qcow2_put_be64(table + (old + j) * 8, (E + n + j) * cs);
    ATOLL_AUTOFREE uint8_t *block = atoll_malloc(cs);
    struct qcow2_rb_slot tmp = {.block = block};
    int r;
    for (uint64_t j = 0; j < k; j++) {
        memset(block, 0, cs);
        uint64_t first = (old + j) * B;
        for (uint64_t x = first; x < first + B; x++) {
            if (x >= E && x < E + total)
                rb_put(q, &tmp, (uint32_t)(x - first), 1);
        }
        if ((r = blk_pwrite(img->fd, block, cs, (E + n + j) * cs)) < 0)
            return r;
    }
    if ((r = blk_pwrite(img->fd, table, n * cs, E * cs)) < 0 || (r = blk_sync(img->fd)) < 0)
        return r;
    uint8_t hdr[12];
    qcow2_put_be64(hdr, E * cs);
    qcow2_put_be32(hdr + 8, (uint32_t)n);
    if ((r = blk_pwrite(img->fd, hdr, sizeof(hdr), QH_RT_OFFSET)) < 0 ||
        (r = blk_sync(img->fd)) < 0)
        return r;
    uint64_t old_off = q->rt_offset, old_clusters = q->rt_clusters;
    uint64_t *rt = atoll_calloc(entries, 8);
    memcpy(rt, q->rt, old * 8);
    for (uint64_t j = 0; j < k; j++)
        rt[old + j] = (E + n + j) * cs;
    free(q->rt);
    q->rt = rt;
    q->rt_entries = entries;
    q->rt_offset = E * cs;
    q->rt_clusters = (uint32_t)n;
    bump_end(q, E + total - 1);
    log_debug("'%s': refcount table grown to %llu entries", img->path,
              (unsigned long long)entries);
    return qcow2_refcount_free(img, old_off, old_clusters * cs);
}

/* Header, L1 and refcount table: never handed out, even when a corrupt refcount says 0. */
static int is_fixed_meta(const struct qcow2 *q, uint64_t c)
{
    uint64_t off = c << q->cluster_bits;
    return c == 0 || (off >= q->l1_offset && off < q->l1_offset + (uint64_t)q->l1_size * 8) ||
           (off >= q->rt_offset && off < q->rt_offset + (uint64_t)q->rt_clusters *
                                              q->cluster_size);
}

/* Past the end of the file, a scan gives up after this many clusters with refcounts. */
#define SCAN_PAST_EOF_MAX QCOW2_PAST_EOF_SLACK

/*
 * First cluster >= from whose refcount is 0 (creating refcount blocks as the scan needs).
 * Stored refcounts are honoured past the end of the file too (after a power cut a cluster
 * may be referenced although the file's growth was lost), but a scan that meets more than
 * SCAN_PAST_EOF_MAX used clusters there stops: only a corrupt image claims so many.
 */
static int find_free(struct blk_image *img, uint64_t from, uint64_t *out)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t max = QCOW2_MAX_HOST_OFFSET >> q->cluster_bits;
    uint64_t c = from;
    while (c < max) {
        uint64_t ri = c >> q->rb_bits;
        int r;
        if (c > q->alloc_end + SCAN_PAST_EOF_MAX)
            return blk_corrupt(img, "refcounts claim clusters far past the end of the file");
        if (ri >= q->rt_entries) {
            if ((r = grow_table(img, ri + 1)) < 0)
                return r;
            continue;
        }
        uint64_t off = q->rt[ri] & QCOW2_RT_OFFSET_MASK;
        if (off == 0) {
            if ((r = new_refblock(img, ri, c)) < 0)
                return r;
            bump_end(q, c);
            c++;
            continue;
        }
        struct qcow2_rb_slot *s;
        if ((r = rb_load(img, off, &s)) < 0)
            return r;
        for (uint32_t i = (uint32_t)(c & (q->rb_entries - 1)); i < q->rb_entries; i++, c++) {
            if (rb_get(q, s->block, i) == 0 && !is_fixed_meta(q, c)) {
                *out = c;
                return 0;
            }
        }
    }
    return -ENOSPC;
}

int qcow2_refcount_reserve(struct blk_image *img, uint32_t n)
{
    struct qcow2 *q = qcow2_of(img);
    uint32_t have = q->pool_tail - q->pool_head;
    if (have >= n)
        return 0;
    /* a batch is at most a quarter of a refcount block: small clusters stay compact */
    uint32_t batch = QCOW2_POOL_BYTES >> q->cluster_bits;
    if (batch > q->rb_entries / 4)
        batch = q->rb_entries / 4;
    if (batch < 4)
        batch = 4;
    if (batch < n)
        batch = n;
    if (q->pool_head > 0) {
        memmove(q->pool, q->pool + q->pool_head, have * sizeof(uint64_t));
        q->pool_head = 0;
        q->pool_tail = have;
    }
    if (q->pool_cap < batch) {
        q->pool = atoll_realloc(q->pool, batch * sizeof(uint64_t));
        q->pool_cap = batch;
    }
    int r = 0;
    while (q->pool_tail < batch) {
        uint64_t c;
        if ((r = find_free(img, q->free_hint, &c)) < 0)
            break;
        if ((r = qcow2_refcount_set(img, c, 1)) < 0)
            break;
        q->free_hint = c + 1;
        bump_end(q, c);
        q->pool[q->pool_tail++] = c;
    }
    /*
     * The file grows over the reserved clusters in the same barrier as their refcounts: an
     * L2 entry written later never points past the end of the file, even after a power cut
     * that loses the data write which would have grown it.
     */
    uint64_t top = 0;
    for (uint32_t i = q->pool_head; i < q->pool_tail; i++)
        top = q->pool[i] + 1 > top ? q->pool[i] + 1 : top;
    int r2 = blk_extend(img->fd, top << q->cluster_bits);
    if (r2 == 0)
        r2 = qcow2_refcount_commit(img);
    if (r2 == 0)
        r2 = blk_sync(img->fd);
    if (r == 0)
        r = r2;
    if (r < 0 && q->pool_tail - q->pool_head >= n)
        r = 0; /* enough for this request */
    return r;
}

uint64_t qcow2_refcount_take(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    return q->pool[q->pool_head++] << q->cluster_bits;
}

/*
 * n contiguous clusters (L1 table growth): taken past alloc_end, where every cluster is free.
 * The refcount blocks that cover the run are placed after it, never inside it.
 */
int qcow2_refcount_alloc_contiguous(struct blk_image *img, uint64_t n, uint64_t *out)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t first, last_ri;
    int r;
    for (;;) {
        /* past alloc_end, n clusters whose stored refcounts are 0 (leaks there are kept) */
        first = q->alloc_end;
        for (uint64_t i = 0; i < n; i++) {
            uint64_t v;
            if (first > q->alloc_end + SCAN_PAST_EOF_MAX)
                return blk_corrupt(img, "refcounts claim clusters far past the end of the "
                                   "file");
            if ((r = qcow2_refcount_get(img, first + i, &v)) < 0)
                return r;
            if (v != 0) {
                first += i + 1;
                i = (uint64_t)-1;
            }
        }
        last_ri = (first + n - 1) >> q->rb_bits;
        if (last_ri < q->rt_entries)
            break;
        if ((r = grow_table(img, last_ri + 1)) < 0)
            return r;
    }
    for (uint64_t ri = first >> q->rb_bits; ri <= last_ri; ri++) {
        if (q->rt[ri] & QCOW2_RT_OFFSET_MASK)
            continue;
        uint64_t x;
        if ((r = find_free(img, first + n, &x)) < 0)
            return r;
        if (q->rt[ri] & QCOW2_RT_OFFSET_MASK)
            continue; /* the scan made a self-covering block for this range: done */
        if ((r = qcow2_refcount_set(img, x, 1)) < 0)
            return r;
        bump_end(q, x);
        if (first + n > q->alloc_end)
            q->alloc_end = first + n; /* the run stays inside what rb_load accepts */
        memset(q->wbuf_rb, 0, q->cluster_size);
        if ((r = qcow2_refcount_commit(img)) < 0 ||
            (r = blk_pwrite(img->fd, q->wbuf_rb, q->cluster_size, x << q->cluster_bits)) < 0 ||
            (r = blk_sync(img->fd)) < 0)
            return r;
        q->rt[ri] = x << q->cluster_bits;
        if ((r = rt_write_entry(img, ri)) < 0)
            return r;
    }
    for (uint64_t i = 0; i < n; i++) {
        if ((r = qcow2_refcount_set(img, first + i, 1)) < 0)
            return r;
        bump_end(q, first + i);
    }
    if ((r = qcow2_refcount_commit(img)) < 0 || (r = blk_sync(img->fd)) < 0)
        return r;
    *out = first << q->cluster_bits;
    return 0;
}

int qcow2_refcount_free(struct blk_image *img, uint64_t off, uint64_t len)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t first = off >> q->cluster_bits;
    uint64_t last = (off + len - 1) >> q->cluster_bits;
    uint64_t hole = 0, hole_n = 0;
    int r = 0;
    for (uint64_t c = first; c <= last && len > 0; c++) {
        uint64_t v;
        if ((r = qcow2_refcount_get(img, c, &v)) < 0)
            break;
        if (v == 0) {
            r = blk_corrupt(img, "freeing cluster %llu whose refcount is already 0",
                            (unsigned long long)c);
            break;
        }
        if ((r = qcow2_refcount_set(img, c, v - 1)) < 0)
            break;
        if (v == 1) {
            if (hole_n && hole + hole_n == c) {
                hole_n++;
            } else {
                if (hole_n)
                    blk_punch(img->fd, hole << q->cluster_bits, hole_n << q->cluster_bits);
                hole = c;
                hole_n = 1;
            }
        }
    }
    int r2 = qcow2_refcount_commit(img);
    if (hole_n && r2 == 0)
        blk_punch(img->fd, hole << q->cluster_bits, hole_n << q->cluster_bits);
    return r < 0 ? r : r2;
}

int qcow2_refcount_release_pool(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    int r = 0;
    while (q->pool_head < q->pool_tail) {
        uint64_t c = q->pool[q->pool_head++];
        if (r == 0)
            r = qcow2_refcount_set(img, c, 0);
    }
    q->pool_head = q->pool_tail = 0;
    int r2 = qcow2_refcount_commit(img);
    return r < 0 ? r : r2;
}

int qcow2_refcount_init(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    size_t bytes = (size_t)q->rt_clusters * q->cluster_size;
    q->rt_entries = bytes / 8;
    q->rt = atoll_malloc(bytes);
    int r = blk_pread(img->fd, q->rt, bytes, q->rt_offset);
    if (r < 0)
        return r;
    for (uint64_t i = 0; i < q->rt_entries; i++)
        q->rt[i] = qcow2_be64(&q->rt[i]);
    for (int i = 0; i < QCOW2_RB_CACHE; i++)
        q->rbc[i].block = atoll_malloc(q->cluster_size);
    q->alloc_end = (img->file_size_at_open + q->cluster_size - 1) >> q->cluster_bits;
    q->wbuf_rb = atoll_malloc(q->cluster_size);
    return 0;
}

void qcow2_refcount_fini(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    for (int i = 0; i < QCOW2_RB_CACHE; i++) {
        free(q->rbc[i].block);
        q->rbc[i].block = NULL;
    }
    free(q->rt);
    q->rt = NULL;
    free(q->wbuf_rb);
    q->wbuf_rb = NULL;
    free(q->pool);
    q->pool = NULL;
}

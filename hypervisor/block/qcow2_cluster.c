/*
 * hypervisor/block/qcow2_cluster.c - qcow2 guest I/O: the L2 table cache, mapping guest
 * ranges to host runs, reads (backing chain, zero and compressed clusters), allocating
 * writes with copy-on-write, and discard, written through in the crash-safe order of
 * atoll/block.h. Threads: read/write take img->lock around mapping and allocation only;
 * discard runs exclusive (block.c). Trust: every L1/L2 entry is checked (alignment, range)
 * before it is followed; bad ones give -EIO.
 */
#define ATOLL_LOG_MODULE "qcow2"
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "atoll/log.h"
#include "atoll/util.h"

enum { QC_UNALLOC, QC_ZERO, QC_NORMAL, QC_COMPRESSED };

int qcow2_cluster_init(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    uint32_t sb = q->cluster_size < QCOW2_L2_SLICE_BYTES ? q->cluster_size : QCOW2_L2_SLICE_BYTES;
    q->l2s_entries = sb / 8;
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(q->l2c); i++)
        q->l2c[i].table = NULL; /* allocated on first use */
    q->bounce = atoll_malloc(q->cluster_size);
    q->wbuf = atoll_malloc(q->cluster_size);
    q->zbuf = atoll_malloc((size_t)q->cluster_size * 2);
    return 0;
}

void qcow2_cluster_fini(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(q->l2c); i++) {
        free(q->l2c[i].table);
        q->l2c[i].table = NULL;
        q->l2c[i].offset = 0;
    }
    free(q->bounce);
    free(q->wbuf);
    free(q->zbuf);
    q->bounce = q->wbuf = q->zbuf = NULL;
}

/* A table or data cluster must be aligned, past the header and inside the file. */
static int l2_offset_ok(struct blk_image *img, uint64_t off)
{
    struct qcow2 *q = qcow2_of(img);
    return off >= q->cluster_size && !(off & (q->cluster_size - 1)) &&
           (off >> q->cluster_bits) < q->alloc_end;
}

/*
 * The slice of the L2 table at l2off that holds entry l2i (host-endian, cached in a
 * set-associative cache): *t gets the slice, *base the index of its first entry. A miss
 * reads one slice (4 KiB), not the whole table.
 */
static int l2_load(struct blk_image *img, uint64_t l2off, uint32_t l2i, uint64_t **t,
                   uint32_t *base)
{
    struct qcow2 *q = qcow2_of(img);
    if (!l2_offset_ok(img, l2off))
        return blk_corrupt(img, "L2 table offset %#llx is invalid", (unsigned long long)l2off);
    uint32_t b = l2i & ~(q->l2s_entries - 1);
    size_t bytes = (size_t)q->l2s_entries * 8;
    uint64_t key = l2off + (uint64_t)b * 8;
    struct qcow2_l2_slot *set = &q->l2c[((key / bytes) % QCOW2_L2_SETS) * QCOW2_L2_WAYS];
    struct qcow2_l2_slot *victim = &set[0];
    for (int i = 0; i < QCOW2_L2_WAYS; i++) {
        if (set[i].offset == key) {
            set[i].stamp = ++q->clock;
            *t = set[i].table;
            *base = b;
            return 0;
        }
        if (set[i].stamp < victim->stamp)
            victim = &set[i];
    }
    if (!victim->table)
        victim->table = atoll_malloc(bytes);
    victim->offset = 0;
    int r = blk_pread(img->fd, victim->table, bytes, key);
    if (r < 0)
        return r;
    for (uint32_t i = 0; i < q->l2s_entries; i++)
        victim->table[i] = qcow2_be64(&victim->table[i]);
    victim->offset = key;
    victim->stamp = ++q->clock;
    *t = victim->table;
    *base = b;
    return 0;
}

/* Writes entries [a, b) of the cached slice t (first entry base) of the L2 table at l2off. */
static int l2_write(struct blk_image *img, uint64_t l2off, const uint64_t *t, uint32_t base,
                    uint32_t a, uint32_t b)
{
    struct qcow2 *q = qcow2_of(img);
    for (uint32_t i = a; i < b; i++)
        qcow2_put_be64(q->wbuf + (i - a) * 8, t[i - base]);
    return blk_pwrite(img->fd, q->wbuf, (size_t)(b - a) * 8, l2off + (uint64_t)a * 8);
}

static int entry_type(const struct qcow2 *q, uint64_t e)
{
    if (e & QCOW2_OFLAG_COMPRESSED)
        return QC_COMPRESSED;
    if ((e & QCOW2_OFLAG_ZERO) && q->version >= 3)
        return QC_ZERO;
    return (e & QCOW2_OFFSET_MASK) ? QC_NORMAL : QC_UNALLOC;
}

void qcow2_cluster_compressed_range(const struct qcow2 *q, uint64_t e, uint64_t *off,
                                    uint64_t *len)
{
    uint32_t x = 62 - (q->cluster_bits - 8);
    uint64_t o = e & ((1ULL << x) - 1);
    uint64_t sectors = ((e >> x) & ((1ULL << (q->cluster_bits - 8)) - 1)) + 1;
    *off = o;
    *len = sectors * 512 - (o & 511);
}

int qcow2_cluster_decompress(struct blk_image *img, uint64_t e, uint8_t *out)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t off, len;
    qcow2_cluster_compressed_range(q, e, &off, &len);
    if (len > 2ULL * q->cluster_size)
        len = 2ULL * q->cluster_size;
    if (off == 0 || off >= QCOW2_MAX_HOST_OFFSET)
        return blk_corrupt(img, "compressed cluster offset %#llx is invalid",
                           (unsigned long long)off);
    int r = blk_pread(img->fd, q->zbuf, len, off);
    if (r < 0)
        return r;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, -12) != Z_OK)
        return -ENOMEM;
    zs.next_in = q->zbuf;
    zs.avail_in = (uInt)len;
    zs.next_out = out;
    zs.avail_out = q->cluster_size;
    int zr = inflate(&zs, Z_FINISH);
    inflateEnd(&zs);
    if ((zr != Z_STREAM_END && zr != Z_BUF_ERROR) || zs.avail_out != 0)
        return blk_corrupt(img, "compressed cluster at %#llx does not inflate",
                           (unsigned long long)off);
    return 0;
}

/*
 * Maps guest [off, off+len) to its first run: *type, the host offset (NORMAL), the L2
 * entry (COMPRESSED) and the run length in bytes; a run stays inside one L2 slice.
 */
static int map(struct blk_image *img, uint64_t off, uint64_t len, int *type, uint64_t *host,
               uint64_t *entry, uint64_t *nbytes)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size, vcl = off >> q->cluster_bits, in = off & (cs - 1);
    uint64_t l1i = vcl >> q->l2_bits;
    uint32_t l2i = (uint32_t)(vcl & (q->l2_entries - 1));
    uint64_t max = ((uint64_t)(q->l2_entries - l2i) << q->cluster_bits) - in;
    if (max > len)
        max = len;
    uint64_t l2off = l1i < q->l1_size ? q->l1[l1i] & QCOW2_OFFSET_MASK : 0;
    if (!l2off) {
        *type = QC_UNALLOC;
        *nbytes = max;
        return 0;
    }
    uint64_t *t;
    uint32_t base;
    int r = l2_load(img, l2off, l2i, &t, &base);
    if (r < 0)
        return r;
    uint32_t end = base + q->l2s_entries; /* runs stay inside the cached slice */
    uint64_t smax = ((uint64_t)(end - l2i) << q->cluster_bits) - in;
    if (max > smax)
        max = smax;
    uint64_t e = t[l2i - base];
    int ty = entry_type(q, e);
    uint64_t hoff = e & QCOW2_OFFSET_MASK;
    /*
     * Data may lie a little past the file's end: after a power cut the L2 entry can survive
     * while the file's growth did not (those bytes read as zeros). Far past it is corrupt.
     */
    if (ty == QC_NORMAL && (hoff < cs || (hoff & (cs - 1)) ||
                            (hoff >> q->cluster_bits) >= q->alloc_end + QCOW2_PAST_EOF_SLACK))
        return blk_corrupt(img, "data cluster offset %#llx is not an aligned cluster inside "
                           "the file", (unsigned long long)hoff);
    *type = ty;
    *entry = e;
    *host = hoff + in;
    uint64_t n = cs - in;
    if (ty != QC_COMPRESSED) {
        for (uint32_t i = l2i + 1; n < max && i < end; i++) {
            uint64_t e2 = t[i - base];
            if (entry_type(q, e2) != ty)
                break;
            if (ty == QC_NORMAL && (e2 & QCOW2_OFFSET_MASK) != hoff + (uint64_t)(i - l2i) * cs)
                break;
            n += cs;
        }
    }
    *nbytes = n < max ? n : max;
    return 0;
}

/* Current contents of guest cluster vcl (entry e of type ty) into buf. */
static int cluster_old_data(struct blk_image *img, uint64_t vcl, int ty, uint64_t e,
                            uint8_t *buf)
{
    struct qcow2 *q = qcow2_of(img);
    switch (ty) {
    case QC_ZERO:
        memset(buf, 0, q->cluster_size);
        return 0;
    case QC_COMPRESSED:
        return qcow2_cluster_decompress(img, e, buf);
    case QC_NORMAL:
        return blk_pread(img->fd, buf, q->cluster_size, e & QCOW2_OFFSET_MASK);
    default: {
        uint64_t start = vcl << q->cluster_bits, n = q->cluster_size;
        if (start >= img->size)
            n = 0;
        else if (img->size - start < n)
            n = img->size - start;
        int r = blk_read_backing(img, buf, start, (size_t)n);
        memset(buf + n, 0, q->cluster_size - n);
        return r;
    }
    }
}

/*
 * Reads run the mapping under img->lock and the data transfer outside it, so that several
 * readers (and in-place writers) overlap; a mapped host cluster cannot be freed meanwhile
 * because freeing (discard) holds io_lock exclusive.
 */
int qcow2_cluster_read(struct blk_image *img, void *buf, uint64_t off, size_t len)
{
    struct qcow2 *q = qcow2_of(img);
    uint8_t *p = buf;
    while (len > 0) {
        int ty;
        uint64_t host = 0, e = 0, n;
        pthread_mutex_lock(&img->lock);
        int r = map(img, off, len, &ty, &host, &e, &n);
        if (r == 0 && ty == QC_COMPRESSED) {
            r = qcow2_cluster_decompress(img, e, q->bounce);
            if (r == 0)
                memcpy(p, q->bounce + (off & (q->cluster_size - 1)), (size_t)n);
        }
        pthread_mutex_unlock(&img->lock);
        if (r < 0)
            return r;
        switch (ty) {
        case QC_UNALLOC:
            r = blk_read_backing(img, p, off, (size_t)n);
            break;
        case QC_ZERO:
            memset(p, 0, (size_t)n);
            break;
        case QC_NORMAL:
            r = blk_pread(img->fd, p, (size_t)n, host);
            break;
        default:
            break;
        }
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

int qcow2_cluster_map(struct blk_image *img, uint64_t off, uint64_t len, int *kind,
                      uint64_t *n)
{
    int ty;
    uint64_t host = 0, e = 0;
    pthread_mutex_lock(&img->lock);
    int r = map(img, off, len, &ty, &host, &e, n);
    pthread_mutex_unlock(&img->lock);
    if (r < 0)
        return r;
    if (ty == QC_NORMAL || ty == QC_COMPRESSED) {
        *kind = BLK_MAP_DATA;
    } else if (ty == QC_ZERO) {
        *kind = BLK_MAP_ZERO;
    } else {
        uint64_t bsize = img->backing ? blk_get_size(img->backing) : 0;
        *kind = off < bsize ? BLK_MAP_BACKING : BLK_MAP_ZERO;
        if (off < bsize && *n > bsize - off)
            *n = bsize - off;
    }
    return 0;
}

/* Makes sure guest cluster vcl has an L2 table; *l2off gets its offset. */
static int l2_ensure(struct blk_image *img, uint64_t l1i, uint64_t *l2off)
{
    struct qcow2 *q = qcow2_of(img);
    if (l1i >= q->l1_size)
        return blk_corrupt(img, "L1 index %llu beyond the L1 table", (unsigned long long)l1i);
    uint64_t cur = q->l1[l1i] & QCOW2_OFFSET_MASK;
    if (cur) {
        *l2off = cur;
        return 0;
    }
    int r = qcow2_refcount_reserve(img, 1);
    if (r < 0)
        return r;
    uint64_t off = qcow2_refcount_take(img);
    memset(q->wbuf, 0, q->cluster_size);
    if ((r = blk_pwrite(img->fd, q->wbuf, q->cluster_size, off)) < 0)
        return r;
    if ((r = blk_sync(img->fd)) < 0)    /* table durable before L1 points at it */
        return r;
    uint8_t be[8];
    qcow2_put_be64(be, off | QCOW2_OFLAG_COPIED);
    if ((r = blk_pwrite(img->fd, be, 8, q->l1_offset + l1i * 8)) < 0)
        return r;
    q->l1[l1i] = off | QCOW2_OFLAG_COPIED;
    *l2off = off;
    return 0;
}

#define QCOW2_ALLOC_MAX 64 /* clusters per allocating step */

/* Allocating write of guest [off, off+n): one L2 slice, at most QCOW2_ALLOC_MAX clusters. */
static int write_alloc(struct blk_image *img, const uint8_t *p, uint64_t off, uint64_t n)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size;
    uint64_t vfirst = off >> q->cluster_bits, vlast = (off + n - 1) >> q->cluster_bits;
    uint32_t count = (uint32_t)(vlast - vfirst + 1);
    uint64_t l2off, *t, old[QCOW2_ALLOC_MAX], newh[QCOW2_ALLOC_MAX];
    uint32_t base, l2first = (uint32_t)(vfirst & (q->l2_entries - 1));
    int r = l2_ensure(img, vfirst >> q->l2_bits, &l2off);
    if (r < 0 || (r = qcow2_refcount_reserve(img, count)) < 0)
        return r;
    if ((r = l2_load(img, l2off, l2first, &t, &base)) < 0)
        return r;
    memcpy(old, t + (l2first - base), count * sizeof(uint64_t));
    /* 1. data: full clusters in host-contiguous runs, partial ones through the bounce */
    uint64_t run_h = 0, run_g = 0, run_n = 0;
    for (uint32_t i = 0; i < count && r == 0; i++) {
        uint64_t cstart = (vfirst + i) << q->cluster_bits;
        uint64_t a = off > cstart ? off - cstart : 0;
        uint64_t b = off + n < cstart + cs ? off + n - cstart : cs;
        uint64_t h = newh[i] = qcow2_refcount_take(img);
        if (a == 0 && b == cs) {
            if (run_n && run_h + run_n == h) {
                run_n += cs;
                continue;
            }
            if (run_n)
                r = blk_pwrite(img->fd, p + (run_g - off), run_n, run_h);
            run_h = h;
            run_g = cstart;
            run_n = cs;
            continue;
        }
        int ty = entry_type(q, old[i]);
        uint64_t bsize = img->backing ? blk_get_size(img->backing) : 0;
        if ((ty == QC_ZERO || (ty == QC_UNALLOC && cstart >= bsize)) &&
            blk_zero_range(img->fd, h, cs) == 0) {
            /* old contents are zeros: zero the cluster in the file system, write our part */
            r = blk_pwrite(img->fd, p + (cstart + a - off), b - a, h + a);
            continue;
        }
        r = cluster_old_data(img, vfirst + i, ty, old[i], q->bounce);
        if (r == 0) {
            memcpy(q->bounce + a, p + (cstart + a - off), b - a);
            r = blk_pwrite(img->fd, q->bounce, cs, h);
        }
    }
    if (r == 0 && run_n)
        r = blk_pwrite(img->fd, p + (run_g - off), run_n, run_h);
    if (r < 0)
        return r;
    /* 2. L2: point the entries at the new clusters */
    if ((r = l2_load(img, l2off, l2first, &t, &base)) < 0)
        return r;
    int frees = 0;
    for (uint32_t i = 0; i < count; i++) {
        t[l2first - base + i] = newh[i] | QCOW2_OFLAG_COPIED;
        int ty = entry_type(q, old[i]);
        if (ty == QC_COMPRESSED || (ty == QC_ZERO && (old[i] & QCOW2_OFFSET_MASK)))
            frees = 1;
    }
    if ((r = l2_write(img, l2off, t, base, l2first, l2first + count)) < 0 || !frees)
        return r;
    /* 3. old host clusters (compressed, preallocated zero): unlinked, synced, then freed */
    if ((r = blk_sync(img->fd)) < 0)
        return r;
    for (uint32_t i = 0; i < count && r == 0; i++) {
        int ty = entry_type(q, old[i]);
        uint64_t fo, fl;
        if (ty == QC_COMPRESSED) {
            qcow2_cluster_compressed_range(q, old[i], &fo, &fl);
            r = qcow2_refcount_free(img, fo, fl);
        } else if (ty == QC_ZERO && (old[i] & QCOW2_OFFSET_MASK)) {
            r = qcow2_refcount_free(img, old[i] & QCOW2_OFFSET_MASK, cs);
        }
    }
    return r;
}

int qcow2_cluster_write(struct blk_image *img, const void *buf, uint64_t off, size_t len)
{
    struct qcow2 *q = qcow2_of(img);
    const uint8_t *p = buf;
    while (len > 0) {
        int ty;
        uint64_t host = 0, e = 0, n;
        pthread_mutex_lock(&img->lock);
        int r = map(img, off, len, &ty, &host, &e, &n);
        if (r == 0 && ty != QC_NORMAL) {
            /* mapping and allocation in one critical section: no double allocation */
            uint64_t in = off & (q->cluster_size - 1);
            uint32_t si = (uint32_t)((off >> q->cluster_bits) & (q->l2s_entries - 1));
            uint32_t k = q->l2s_entries - si < QCOW2_ALLOC_MAX ? q->l2s_entries - si
                                                                : QCOW2_ALLOC_MAX;
            uint64_t cap = ((uint64_t)k << q->cluster_bits) - in;
            if (n > cap)
                n = cap;
            r = write_alloc(img, p, off, n);
        }
        pthread_mutex_unlock(&img->lock);
        if (r == 0 && ty == QC_NORMAL)
            r = blk_pwrite(img->fd, p, (size_t)n, host);  /* in place, outside the lock */
        if (r < 0)
            return r;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Whole clusters of [off, off+len); the last partial cluster counts when it ends the disk. */
static void whole_clusters(struct blk_image *img, uint64_t off, uint64_t len, uint64_t *first,
                           uint64_t *end)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size;
    *first = (off + cs - 1) >> q->cluster_bits;
    *end = off + len >= img->size ? (img->size + cs - 1) >> q->cluster_bits
                                  : (off + len) >> q->cluster_bits;
}

int qcow2_cluster_discard(struct blk_image *img, uint64_t off, uint64_t len)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t vcl, vend;
    whole_clusters(img, off, len, &vcl, &vend);
    int use_zero = img->backing_file != NULL;
    if (use_zero && q->version < 3)
        return 0; /* v2 cannot hide the backing data: keep ours */
    while (vcl < vend) {
        uint64_t l1i = vcl >> q->l2_bits;
        uint32_t l2i = (uint32_t)(vcl & (q->l2_entries - 1));
        uint64_t l2off = l1i < q->l1_size ? q->l1[l1i] & QCOW2_OFFSET_MASK : 0;
        /* a missing table is skipped whole; a present one is handled slice by slice */
        uint64_t stop = vcl + (l2off || use_zero ? q->l2s_entries - (l2i & (q->l2s_entries - 1))
                                                 : q->l2_entries - l2i);
        if (stop > vend)
            stop = vend;
        if (!l2off && !use_zero) {
            vcl = stop;
            continue;
        }
        int r;
        if (!l2off && (r = l2_ensure(img, l1i, &l2off)) < 0)
            return r;
        uint64_t *t;
        uint32_t base;
        if ((r = l2_load(img, l2off, l2i, &t, &base)) < 0)
            return r;
        uint32_t a = l2i, b = (uint32_t)(l2i + (stop - vcl));
        /* the old entries go to the bounce buffer (a slice is at most one cluster) */
        uint64_t *old = (uint64_t *)(void *)q->bounce;
        memcpy(old, t + (a - base), (size_t)(b - a) * 8);
        for (uint32_t i = a; i < b; i++)
            t[i - base] = use_zero ? QCOW2_OFLAG_ZERO : 0;
        if ((r = l2_write(img, l2off, t, base, a, b)) < 0 || (r = blk_sync(img->fd)) < 0)
            return r;
        for (uint32_t i = 0; i < b - a && r == 0; i++) {
            uint64_t e = old[i], fo, fl;
            int ty = entry_type(q, e);
            if (ty == QC_COMPRESSED) {
                qcow2_cluster_compressed_range(q, e, &fo, &fl);
                r = qcow2_refcount_free(img, fo, fl);
            } else if (e & QCOW2_OFFSET_MASK) {
                r = qcow2_refcount_free(img, e & QCOW2_OFFSET_MASK, q->cluster_size);
            }
        }
        if (r < 0)
            return r;
        vcl = stop;
    }
    return 0;
}

int qcow2_cluster_any_allocated(struct blk_image *img, uint64_t off, uint64_t end)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t bsize = img->backing ? blk_get_size(img->backing) : 0;
    uint64_t vcl = (off + q->cluster_size - 1) >> q->cluster_bits;
    uint64_t vend = (end + q->cluster_size - 1) >> q->cluster_bits;
    while (vcl < vend) {
        uint64_t l1i = vcl >> q->l2_bits;
        uint32_t l2i = (uint32_t)(vcl & (q->l2_entries - 1));
        uint64_t l2off = l1i < q->l1_size ? q->l1[l1i] & QCOW2_OFFSET_MASK : 0;
        uint64_t stop = vcl + (l2off ? q->l2s_entries - (l2i & (q->l2s_entries - 1))
                                     : q->l2_entries - l2i);
        if (stop > vend)
            stop = vend;
        uint64_t *t = NULL;
        uint32_t base = 0;
        if (l2off) {
            int r = l2_load(img, l2off, l2i, &t, &base);
            if (r < 0)
                return r;
        }
        for (uint64_t v = vcl; v < stop; v++) {
            uint64_t e = t ? t[(v & (q->l2_entries - 1)) - base] : 0;
            if ((e & QCOW2_OFFSET_MASK) || (e & QCOW2_OFLAG_COMPRESSED))
                return 1; /* data in this image */
            if (entry_type(q, e) == QC_UNALLOC && (v << q->cluster_bits) < bsize)
                return 1; /* the backing chain's data shows through here */
        }
        vcl = stop;
    }
    return 0;
}

/*
 * hypervisor/block/qcow2.c - the qcow2 driver's entry points: header parsing and validation
 * (v2 and v3, header extensions, feature bits), open/close, create, resize (L1 growth, safe
 * shrink), flush and info. Guest I/O lives in qcow2_cluster.c, refcounts in qcow2_refcount.c.
 * Threads: under the image lock. Trust: the header is hostile until every field is bounded.
 */
#define ATOLL_LOG_MODULE "qcow2"
#include "qcow2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"

static int bad_field(struct blk_image *img, struct atoll_err *err, const char *field,
                     uint64_t value, const char *expected)
{
    char v[32];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)value);
    blk_err_invalid(err, field, v, "image '%s': qcow2 header field %s = %s is invalid "
                    "(expected %s)", img->path, field, v, expected);
    return -1;
}

static int io_fail(struct blk_image *img, struct atoll_err *err, int r, const char *what)
{
    blk_err_io(err, -r, "image '%s': cannot %s", img->path, what);
    return -1;
}

/* Header extensions between start and end of cluster 0 (only the backing format is kept). */
static int parse_extensions(struct blk_image *img, const uint8_t *c0, uint32_t start,
                            uint32_t end, struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    uint32_t pos = start;
    while (pos + 8 <= end) {
        uint32_t type = qcow2_be32(c0 + pos), len = qcow2_be32(c0 + pos + 4);
        if (type == QCOW2_EXT_END)
            return 0;
        if (len > end - pos - 8)
            return bad_field(img, err, "header_extension_length", len,
                             "an extension inside the header cluster");
        if (type == QCOW2_EXT_BACKING_FORMAT) {
            if (len == 0 || len > 31 || memchr(c0 + pos + 8, 0, len))
                return bad_field(img, err, "backing_format_length", len, "1..31 characters");
            free(img->backing_format);
            img->backing_format = atoll_strndup((const char *)c0 + pos + 8, len);
        } else if (type == QCOW2_EXT_BITMAPS) {
            q->has_bitmaps = 1;
            if (len >= 24) {
                q->bitmaps_nb = qcow2_be32(c0 + pos + 8);
                q->bitmaps_dir_size = qcow2_be64(c0 + pos + 16);
                q->bitmaps_dir_offset = qcow2_be64(c0 + pos + 24);
            }
        }
        uint64_t next = (uint64_t)pos + 8 + (((uint64_t)len + 7) & ~7ULL);
        if (next > end)
            return 0;
        pos = (uint32_t)next;
    }
    return 0;
}

static int parse_header(struct blk_image *img, struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    uint8_t h[QCOW2_V3_HEADER_OURS];
    int r = blk_pread(img->fd, h, sizeof(h), 0);
    if (r < 0)
        return io_fail(img, err, r, "read the qcow2 header");
    if (qcow2_be32(h) != QCOW2_MAGIC)
        return bad_field(img, err, "magic", qcow2_be32(h), "QFI\\xfb");
    q->version = qcow2_be32(h + 4);
    if (q->version != 2 && q->version != 3)
        return bad_field(img, err, "version", q->version, "2 or 3");
    q->cluster_bits = qcow2_be32(h + 20);
    if (q->cluster_bits < 9 || q->cluster_bits > 21)
        return bad_field(img, err, "cluster_bits", q->cluster_bits, "9..21");
    uint64_t cs = q->cluster_size = 1u << q->cluster_bits;
    q->l2_bits = q->cluster_bits - 3;
    q->l2_entries = q->cluster_size / 8;
    uint64_t size = qcow2_be64(h + QH_SIZE);
    if (qcow2_be32(h + 32) != 0)
        blk_err_unsupported(err, "crypt_method", "aes", "image '%s' is encrypted; encrypted "
                            "qcow2 is not supported", img->path);
    if (atoll_err_is_set(err))
        return -1;
    q->l1_size = qcow2_be32(h + QH_L1_SIZE);
    q->l1_offset = qcow2_be64(h + 40);
    q->rt_offset = qcow2_be64(h + QH_RT_OFFSET);
    q->rt_clusters = qcow2_be32(h + 56);
    q->nb_snapshots = qcow2_be32(h + 60);
    q->snapshots_offset = qcow2_be64(h + 64);
    q->refcount_order = 4;
    q->header_length = QCOW2_V2_HEADER;
    if (q->version == 3) {
        q->incompat = qcow2_be64(h + QH_INCOMPAT);
        q->compat = qcow2_be64(h + 80);
        q->autoclear = qcow2_be64(h + QH_AUTOCLEAR);
        q->refcount_order = qcow2_be32(h + 96);
        q->header_length = qcow2_be32(h + 100);
        if (q->header_length < QCOW2_V3_HEADER || q->header_length > cs ||
            (q->header_length & 7))
            return bad_field(img, err, "header_length", q->header_length,
                             "104..cluster size, a multiple of 8");
        if (q->refcount_order > 6)
            return bad_field(img, err, "refcount_order", q->refcount_order, "0..6");
        uint64_t known = QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT |
                         QCOW2_INCOMPAT_COMPRESSION;
        if (q->incompat & ~known) {
            blk_err_unsupported(err, "incompatible_features", "unsupported",
                                "image '%s' uses incompatible features %#llx (external data "
                                "file or extended L2 entries are not supported)", img->path,
                                (unsigned long long)(q->incompat & ~known));
            return -1;
        }
        if ((q->incompat & QCOW2_INCOMPAT_COMPRESSION) && q->header_length > 104 && h[104]) {
            blk_err_unsupported(err, "compression_type", "zstd", "image '%s' uses zstd "
                                "compression; only deflate is supported", img->path);
            return -1;
        }
    }
    q->refcount_bits = 1u << q->refcount_order;
    q->refcount_max = q->refcount_bits == 64 ? UINT64_MAX : (1ULL << q->refcount_bits) - 1;
    q->rb_bits = q->cluster_bits + 3 - q->refcount_order;
    q->rb_entries = 1u << q->rb_bits;

    uint64_t fsize = img->file_size_at_open;
    if (q->l1_size > QCOW2_MAX_L1_BYTES / 8)
        return bad_field(img, err, "l1_size", q->l1_size, "at most 4194304 entries");
    uint64_t clusters = (size >> q->cluster_bits) + ((size & (cs - 1)) != 0);
    if (size > (1ULL << 62) || (clusters + q->l2_entries - 1) / q->l2_entries > q->l1_size)
        return bad_field(img, err, "size", size, "a size the L1 table covers");
    uint64_t l1_bytes = (uint64_t)q->l1_size * 8;
    if (q->l1_size && ((q->l1_offset & (cs - 1)) || q->l1_offset < cs ||
                       q->l1_offset > fsize || l1_bytes > fsize - q->l1_offset))
        return bad_field(img, err, "l1_table_offset", q->l1_offset,
                         "a cluster-aligned table inside the file");
    if (q->rt_clusters == 0 || (uint64_t)q->rt_clusters * cs > QCOW2_MAX_RT_BYTES)
        return bad_field(img, err, "refcount_table_clusters", q->rt_clusters,
                         "1 .. 8 MiB of clusters");
    if ((q->rt_offset & (cs - 1)) || q->rt_offset < cs || q->rt_offset > fsize ||
        (uint64_t)q->rt_clusters * cs > fsize - q->rt_offset)
        return bad_field(img, err, "refcount_table_offset", q->rt_offset,
                         "a cluster-aligned table inside the file");
    if (q->nb_snapshots > QCOW2_MAX_SNAPSHOTS)
        return bad_field(img, err, "nb_snapshots", q->nb_snapshots, "at most 65536");
    if (q->nb_snapshots && ((q->snapshots_offset & (cs - 1)) || q->snapshots_offset < cs ||
                            q->snapshots_offset >= fsize))
        return bad_field(img, err, "snapshots_offset", q->snapshots_offset,
                         "a cluster-aligned offset inside the file");

    /* cluster 0: extensions and the backing file name */
    ATOLL_AUTOFREE uint8_t *c0 = atoll_malloc(cs);
    if ((r = blk_pread(img->fd, c0, cs, 0)) < 0)
        return io_fail(img, err, r, "read the header cluster");
    uint64_t bfo = qcow2_be64(h + 8);
    uint32_t bfs = qcow2_be32(h + 16);
    uint32_t ext_end = (uint32_t)cs;
    if (bfo) {
        if (bfs == 0 || bfs > BLK_MAX_BACKING_NAME)
            return bad_field(img, err, "backing_file_size", bfs, "1..1023");
        if (bfo < q->header_length || bfo > cs || bfs > cs - bfo)
            return bad_field(img, err, "backing_file_offset", bfo,
                             "a name inside the header cluster, after the header");
        if (memchr(c0 + bfo, 0, bfs))
            return bad_field(img, err, "backing_file_size", bfs, "a name without NUL bytes");
        img->backing_file = atoll_strndup((const char *)c0 + bfo, bfs);
        ext_end = (uint32_t)bfo;
    }
    if (parse_extensions(img, c0, q->header_length, ext_end, err) < 0)
        return -1;
    img->size = size;
    return 0;
}

static int load_l1(struct blk_image *img, struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    size_t bytes = (size_t)q->l1_size * 8;
    q->l1 = atoll_malloc(bytes ? bytes : 8);
    int r = blk_pread(img->fd, q->l1, bytes, q->l1_offset);
    if (r < 0)
        return io_fail(img, err, r, "read the L1 table");
    for (uint32_t i = 0; i < q->l1_size; i++)
        q->l1[i] = qcow2_be64(&q->l1[i]);
    return 0;
}

static void qcow2_close(struct blk_image *img)
{
    struct qcow2 *q = qcow2_of(img);
    if (!q)
        return;
    if (!img->read_only && q->rt && q->pool) {
        if (qcow2_refcount_release_pool(img) < 0 || blk_sync(img->fd) < 0)
            log_warn("'%s': returning reserved clusters failed (they stay leaked)", img->path);
    }
    qcow2_cluster_fini(img);
    qcow2_refcount_fini(img);
    free(q->l1);
    free(q);
    img->priv = NULL;
}

static int qcow2_open(struct blk_image *img, struct atoll_err *err)
{
    struct qcow2 *q = atoll_calloc(1, sizeof(*q));
    img->priv = q;
    if (parse_header(img, err) < 0 || load_l1(img, err) < 0)
        return -1;
    int r = qcow2_refcount_init(img);
    if (r < 0)
        return io_fail(img, err, r, "read the refcount table");
    qcow2_cluster_init(img);
    img->zero_granularity = q->cluster_size;
    if (img->read_only)
        return 0;
    if (q->incompat & (QCOW2_INCOMPAT_DIRTY | QCOW2_INCOMPAT_CORRUPT)) {
        blk_err_denied(err, "image '%s' is marked %s; open it read-only or repair it with "
                       "'qemu-img check -r all'", img->path,
                       (q->incompat & QCOW2_INCOMPAT_CORRUPT) ? "corrupt" : "dirty");
        return -1;
    }
    if (q->nb_snapshots) {
        blk_err_unsupported(err, "nb_snapshots", "nonzero", "image '%s' has %u internal "
                            "snapshots; writing such images is not supported (open it "
                            "read-only)", img->path, q->nb_snapshots);
        return -1;
    }
    if (q->version == 3 && q->autoclear) {
        uint8_t zero[8] = {0};
        if ((r = blk_pwrite(img->fd, zero, 8, QH_AUTOCLEAR)) < 0 || (r = blk_sync(img->fd)) < 0)
            return io_fail(img, err, r, "clear the autoclear feature bits");
        q->autoclear = 0;
    }
    return 0;
}

static int qcow2_read(struct blk_image *img, void *buf, uint64_t off, size_t len)
{
    return qcow2_cluster_read(img, buf, off, len);
}

static int qcow2_write(struct blk_image *img, const void *buf, uint64_t off, size_t len)
{
    return qcow2_cluster_write(img, buf, off, len);
}

static int qcow2_flush(struct blk_image *img)
{
    return blk_sync(img->fd);
}

static int qcow2_discard(struct blk_image *img, uint64_t off, uint64_t len)
{
    return qcow2_cluster_discard(img, off, len);
}

/* Rebuilds the extension area and backing name of cluster 0 in one pwrite. */
static int qcow2_set_backing(struct blk_image *img, const char *name, const char *format,
                             struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    uint32_t cs = q->cluster_size, hl = q->header_length;
    ATOLL_AUTOFREE uint8_t *c0 = atoll_malloc(cs);
    ATOLL_AUTOFREE uint8_t *nb = atoll_calloc(1, cs);
    int r = blk_pread(img->fd, c0, cs, 0);
    if (r < 0)
        return io_fail(img, err, r, "read the header cluster");
    uint64_t bfo = qcow2_be64(c0 + 8);
    uint32_t bfs = qcow2_be32(c0 + 16);
    if (bfo && (bfo < hl || bfo > cs || bfs > cs - bfo))
        return bad_field(img, err, "backing_file_offset", bfo, "a name inside the header");
    uint32_t ext_end = bfo ? (uint32_t)bfo : cs, old_end = bfo ? (uint32_t)(bfo + bfs) : hl;
    memcpy(nb, c0, hl);
    uint32_t pos = hl;
    uint32_t fe = format ? 8 + (((uint32_t)strlen(format) + 7) & ~7u) : 0;
    if ((uint64_t)hl + fe + 8 > cs) {
        blk_err_invalid(err, "backing_file", name ? name : "", "the header of '%s' has no room "
                        "for a backing file", img->path);
        return -1;
    }
    if (format) {
        uint32_t len = (uint32_t)strlen(format);
        qcow2_put_be32(nb + pos, QCOW2_EXT_BACKING_FORMAT);
        qcow2_put_be32(nb + pos + 4, len);
        memcpy(nb + pos + 8, format, len);
        pos += 8 + ((len + 7) & ~7u);
    }
    uint32_t p = hl;
    while (p + 8 <= ext_end) { /* keep every other extension */
        uint32_t type = qcow2_be32(c0 + p), len = qcow2_be32(c0 + p + 4);
        if (type == QCOW2_EXT_END) {
            p += 8;
            break;
        }
        if (len > ext_end - p - 8)
            break;
        uint32_t step = 8 + ((len + 7) & ~7u);
        if (type != QCOW2_EXT_BACKING_FORMAT && pos + step <= cs) {
            memcpy(nb + pos, c0 + p, step < ext_end - p ? step : ext_end - p);
            pos += step;
        }
        p = step < ext_end - p ? p + step : ext_end;
    }
    if (p > old_end)
        old_end = p < cs ? p : cs; /* rewrite the old area whole: no stale bytes after ours */
    size_t blen = name ? strlen(name) : 0;
    if ((uint64_t)pos + 8 + blen > cs) {
        blk_err_invalid(err, "backing_file", name ? name : "", "backing file name does not "
                        "fit in the header cluster of '%s'", img->path);
        return -1;
    }
    pos += 8; /* end marker (zeros) */
    qcow2_put_be64(nb + 8, name ? pos : 0);
    qcow2_put_be32(nb + 16, (uint32_t)blen);
    memcpy(nb + pos, name ? name : "", blen);
    uint32_t len = (uint32_t)(pos + blen) > old_end ? (uint32_t)(pos + blen) : old_end;
    if ((r = blk_pwrite(img->fd, nb, len, 0)) < 0 || (r = blk_sync(img->fd)) < 0)
        return io_fail(img, err, r, "write the header");
    return 0;
}

static int qcow2_write_zeroes(struct blk_image *img, uint64_t off, uint64_t len)
{
    struct qcow2 *q = qcow2_of(img);
    if (q->version < 3 && img->backing_file)
        return -ENOTSUP; /* v2 has no zero flag to hide the backing data */
    return qcow2_cluster_discard(img, off, len);
}

static int grow_l1(struct blk_image *img, uint64_t size, uint32_t need, struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size, ncl = ((uint64_t)need * 8 + cs - 1) / cs;
    uint64_t noff;
    int r = qcow2_refcount_alloc_contiguous(img, ncl, &noff);
    if (r < 0)
        return io_fail(img, err, r, "allocate a larger L1 table");
    ATOLL_AUTOFREE uint8_t *buf = atoll_calloc(ncl, cs);
    for (uint32_t i = 0; i < q->l1_size; i++)
        qcow2_put_be64(buf + (size_t)i * 8, q->l1[i]);
    if ((r = blk_pwrite(img->fd, buf, ncl * cs, noff)) < 0 || (r = blk_sync(img->fd)) < 0)
        return io_fail(img, err, r, "write the new L1 table");
    uint8_t h[24];
    qcow2_put_be64(h, size);
    qcow2_put_be32(h + 8, 0);
    qcow2_put_be32(h + 12, need);
    qcow2_put_be64(h + 16, noff);
    if ((r = blk_pwrite(img->fd, h, sizeof(h), QH_SIZE)) < 0 || (r = blk_sync(img->fd)) < 0)
        return io_fail(img, err, r, "update the header");
    uint64_t old_off = q->l1_offset, old_bytes = (uint64_t)q->l1_size * 8;
    uint64_t *l1 = atoll_calloc(need, 8);
    memcpy(l1, q->l1, old_bytes);
    free(q->l1);
    q->l1 = l1;
    q->l1_size = need;
    q->l1_offset = noff;
    __atomic_store_n(&img->size, size, __ATOMIC_RELEASE);
    if (old_bytes && (r = qcow2_refcount_free(img, old_off, old_bytes)) < 0)
        return io_fail(img, err, r, "free the old L1 table");
    return 0;
}

static int qcow2_resize(struct blk_image *img, uint64_t size, struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    uint64_t cs = q->cluster_size;
    if (size > (1ULL << 62))
        return bad_field(img, err, "size", size, "at most 4 EiB");
    uint64_t clusters = (size >> q->cluster_bits) + ((size & (cs - 1)) != 0);
    uint64_t need = (clusters + q->l2_entries - 1) / q->l2_entries;
    if (need > QCOW2_MAX_L1_BYTES / 8) {
        char v[32];
        snprintf(v, sizeof(v), "%llu", (unsigned long long)size);
        blk_err_invalid(err, "size", v, "cannot resize '%s' to %s bytes: too large for %llu-"
                        "byte clusters", img->path, v, (unsigned long long)cs);
        return -1;
    }
    if (size < img->size) {
        int r = qcow2_cluster_any_allocated(img, size, img->size);
        if (r < 0)
            return io_fail(img, err, r, "read the L2 tables");
        if (r > 0) {
            blk_err_denied(err, "cannot shrink '%s' to %llu bytes: the image or its backing "
                           "chain has data beyond the new size (discard it first)", img->path,
                           (unsigned long long)size);
            return -1;
        }
    }
    if (need > q->l1_size)
        return grow_l1(img, size, (uint32_t)need, err);
    uint8_t be[8];
    qcow2_put_be64(be, size);
    int r = blk_pwrite(img->fd, be, 8, QH_SIZE);
    if (r < 0 || (r = blk_sync(img->fd)) < 0)
        return io_fail(img, err, r, "update the header");
    __atomic_store_n(&img->size, size, __ATOMIC_RELEASE);
    return 0;
}

static void qcow2_info(struct blk_image *img, struct blk_info *out)
{
    struct qcow2 *q = qcow2_of(img);
    out->cluster_size = q->cluster_size;
    out->qcow2_version = q->version;
    out->refcount_bits = q->refcount_bits;
    out->nb_snapshots = q->nb_snapshots;
    out->dirty = (q->incompat & QCOW2_INCOMPAT_DIRTY) != 0;
    out->corrupt = (q->incompat & QCOW2_INCOMPAT_CORRUPT) != 0;
    out->lazy_refcounts = (q->compat & QCOW2_COMPAT_LAZY_REFCOUNTS) != 0;
}

static int qcow2_create(int fd, const char *path, const struct blk_create_opts *opts,
                        uint64_t size, const char *bfmt, struct atoll_err *err)
{
    uint64_t cs = opts->cluster_size ? opts->cluster_size : 65536;
    uint32_t version = opts->qcow2_version ? opts->qcow2_version : 3;
    char v[32];
    if (cs < 512 || cs > (2u << 20) || (cs & (cs - 1))) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)cs);
        blk_err_invalid(err, "cluster_size", v, "cluster size %s is invalid (expected a power "
                        "of two from 512 to 2097152)", v);
        return -1;
    }
    if (version != 2 && version != 3) {
        snprintf(v, sizeof(v), "%u", version);
        blk_err_invalid(err, "qcow2_version", v, "qcow2 version %s is invalid (2 or 3)", v);
        return -1;
    }
    uint32_t cb = (uint32_t)__builtin_ctzll(cs);
    uint64_t l2e = cs / 8, clusters = (size >> cb) + ((size & (cs - 1)) != 0);
    uint64_t l1 = (clusters + l2e - 1) / l2e;
    if (size > (1ULL << 62) || l1 > QCOW2_MAX_L1_BYTES / 8) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)size);
        blk_err_invalid(err, "size", v, "size %s is too large for %llu-byte clusters", v,
                        (unsigned long long)cs);
        return -1;
    }
    if (l1 == 0)
        l1 = 1;
    uint64_t m = (l1 * 8 + cs - 1) / cs, B = cs * 8 / 16, n = 1, k = 1;
    for (int i = 0; i < 64; i++) {
        uint64_t T = 1 + n + k + m, nk = (T + B - 1) / B, nn = (nk * 8 + cs - 1) / cs;
        if (nk == k && nn == n)
            break;
        k = nk;
        n = nn;
    }
    uint64_t T = 1 + n + k + m;
    ATOLL_AUTOFREE uint8_t *hdr = atoll_calloc(1, cs);
    qcow2_put_be32(hdr, QCOW2_MAGIC);
    qcow2_put_be32(hdr + 4, version);
    qcow2_put_be32(hdr + 20, cb);
    qcow2_put_be64(hdr + QH_SIZE, size);
    qcow2_put_be32(hdr + QH_L1_SIZE, (uint32_t)l1);
    qcow2_put_be64(hdr + 40, (1 + n + k) * cs);
    qcow2_put_be64(hdr + QH_RT_OFFSET, cs);
    qcow2_put_be32(hdr + 56, (uint32_t)n);
    uint32_t pos = QCOW2_V2_HEADER;
    if (version == 3) {
        qcow2_put_be32(hdr + 96, 4);
        qcow2_put_be32(hdr + 100, QCOW2_V3_HEADER_OURS);
        pos = QCOW2_V3_HEADER_OURS;
    }
    if (opts->backing_file && bfmt) {
        uint32_t len = (uint32_t)strlen(bfmt);
        qcow2_put_be32(hdr + pos, QCOW2_EXT_BACKING_FORMAT);
        qcow2_put_be32(hdr + pos + 4, len);
        memcpy(hdr + pos + 8, bfmt, len);
        pos += 8 + ((len + 7) & ~7u);
    }
    pos += 8; /* end-of-extensions marker: already zero */
    if (opts->backing_file) {
        size_t blen = strlen(opts->backing_file);
        if (pos + blen > cs) {
            blk_err_invalid(err, "backing_file", opts->backing_file, "backing file name does "
                            "not fit in a %llu-byte header cluster", (unsigned long long)cs);
            return -1;
        }
        qcow2_put_be64(hdr + 8, pos);
        qcow2_put_be32(hdr + 16, (uint32_t)blen);
        memcpy(hdr + pos, opts->backing_file, blen);
    }
    ATOLL_AUTOFREE uint8_t *meta = atoll_calloc(n + k, cs);
    for (uint64_t j = 0; j < k; j++)
        qcow2_put_be64(meta + j * 8, (1 + n + j) * cs);
    for (uint64_t c = 0; c < T; c++) { /* 16-bit refcounts */
        uint8_t *p = meta + n * cs + c * 2;
        p[0] = 0;
        p[1] = 1;
    }
    int r;
    if (ftruncate(fd, (off_t)(T * cs)) < 0) {
        blk_err_io(err, errno, "cannot size new image '%s'", path);
        return -1;
    }
    if ((r = blk_pwrite(fd, meta, (n + k) * cs, cs)) < 0 ||
        (r = blk_pwrite(fd, hdr, cs, 0)) < 0) {
        blk_err_io(err, -r, "cannot write new image '%s'", path);
        return -1;
    }
    return 0;
}

static int qcow2_check_op(struct blk_image *img, unsigned flags, struct blk_check_result *out,
                          struct atoll_err *err)
{
    return qcow2_check(img, flags, out, err);
}

const struct blk_driver blk_qcow2_driver = {
    .name = "qcow2",
    .format = BLK_FORMAT_QCOW2,
    .open = qcow2_open,
    .close = qcow2_close,
    .read = qcow2_read,
    .write = qcow2_write,
    .flush = qcow2_flush,
    .discard = qcow2_discard,
    .write_zeroes = qcow2_write_zeroes,
    .set_backing = qcow2_set_backing,
    .map = qcow2_cluster_map,
    .resize = qcow2_resize,
    .info = qcow2_info,
    .check = qcow2_check_op,
    .create = qcow2_create,
};

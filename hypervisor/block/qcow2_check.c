/*
 * hypervisor/block/qcow2_check.c - qcow2 consistency check, as `qemu-img check` does it:
 * rebuilds the refcount of every host cluster from the header, active and snapshot L1/L2
 * tables and the refcount table, then compares with the stored refcounts (lower stored =
 * corruption, higher = leak) and optionally repairs leaks. Also checks COPIED flags.
 * Threads: under the image lock. Trust: every table entry is bounded before it is followed.
 */
#define ATOLL_LOG_MODULE "qcow2-check"
#include "qcow2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "atoll/log.h"
#include "atoll/util.h"

#define CHECK_MAX_CLUSTERS (1ULL << 27) /* 256 MiB of counters */
#define CHECK_MAX_MESSAGES 100

struct ck {
    struct blk_image *img;
    struct qcow2 *q;
    uint16_t *ref;       /* computed refcounts, saturating */
    uint64_t n;          /* clusters in the file */
    struct blk_check_result *res;
    unsigned msgs;
    uint64_t *l2buf;
};

__attribute__((format(printf, 2, 3))) static void say(struct ck *k, const char *fmt, ...)
{
    if (k->msgs++ >= CHECK_MAX_MESSAGES)
        return;
    va_list ap;
    va_start(ap, fmt);
    ATOLL_AUTOFREE char *m = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
    log_warn("'%s': %s", k->img->path, m);
}

static void inc(struct ck *k, uint64_t off, uint64_t len, const char *what)
{
    if (len == 0)
        return;
    uint64_t first = off >> k->q->cluster_bits, last = (off + len - 1) >> k->q->cluster_bits;
    for (uint64_t c = first; c <= last; c++) {
        if (c >= k->n) {
            k->res->corruptions++;
            say(k, "ERROR %s at offset %#llx is beyond the end of the file", what,
                (unsigned long long)(c << k->q->cluster_bits));
            return;
        }
        if (k->ref[c] < UINT16_MAX)
            k->ref[c]++;
    }
}

static int aligned(struct ck *k, uint64_t off)
{
    return off >= k->q->cluster_size && !(off & (k->q->cluster_size - 1));
}

static void check_copied(struct ck *k, uint64_t entry, uint64_t off, const char *what)
{
    uint64_t rc;
    if (qcow2_refcount_get(k->img, off >> k->q->cluster_bits, &rc) < 0) {
        k->res->check_errors++;
        return;
    }
    if ((rc == 1) != ((entry & QCOW2_OFLAG_COPIED) != 0)) {
        k->res->corruptions++;
        say(k, "ERROR OFLAG_COPIED %s: offset=%#llx refcount=%llu", what,
            (unsigned long long)off, (unsigned long long)rc);
    }
}

/* One L1 table and its L2 tables; active: count guest clusters and check COPIED flags. */
static void walk_l1(struct ck *k, uint64_t l1_off, uint32_t l1_size, int active)
{
    struct qcow2 *q = k->q;
    uint64_t cs = q->cluster_size;
    if (l1_size && !aligned(k, l1_off)) {
        k->res->corruptions++;
        say(k, "ERROR L1 table offset %#llx is not cluster aligned", (unsigned long long)l1_off);
        return;
    }
    inc(k, l1_off, (uint64_t)l1_size * 8, "L1 table");
    ATOLL_AUTOFREE uint64_t *l1 = NULL;
    if (active) {
        l1 = atoll_malloc((size_t)l1_size * 8 + 8);
        memcpy(l1, q->l1, (size_t)l1_size * 8);
    } else {
        l1 = atoll_malloc((size_t)l1_size * 8 + 8);
        if (blk_pread(k->img->fd, l1, (size_t)l1_size * 8, l1_off) < 0) {
            k->res->check_errors++;
            return;
        }
        for (uint32_t i = 0; i < l1_size; i++)
            l1[i] = qcow2_be64(&l1[i]);
    }
    /* one L2 table twice in one L1 is corrupt; walking it again would only cost time */
    ATOLL_AUTOFREE uint8_t *seen = atoll_calloc(k->n / 8 + 1, 1);
    for (uint32_t i = 0; i < l1_size; i++) {
        uint64_t l2off = l1[i] & QCOW2_OFFSET_MASK, l2c = l2off >> q->cluster_bits;
        if (!l2off)
            continue;
        if (l2c < k->n && (seen[l2c / 8] & (1u << (l2c % 8)))) {
            k->res->corruptions++;
            say(k, "ERROR L2 table %#llx is referenced twice by one L1 table",
                (unsigned long long)l2off);
            continue;
        }
        if (l2c < k->n)
            seen[l2c / 8] |= (uint8_t)(1u << (l2c % 8));
        if (l2c >= k->n) {
            inc(k, l2off, cs, "L2 table");
            continue;
        }
        if (!aligned(k, l2off)) {
            k->res->corruptions++;
            say(k, "ERROR L2 table offset %#llx (L1 index %u) is not cluster aligned",
                (unsigned long long)l2off, i);
            continue;
        }
        inc(k, l2off, cs, "L2 table");
        if (active)
            check_copied(k, l1[i], l2off, "L2 table");
        if (blk_pread(k->img->fd, k->l2buf, cs, l2off) < 0) {
            k->res->check_errors++;
            continue;
        }
        for (uint32_t j = 0; j < q->l2_entries; j++) {
            uint64_t e = qcow2_be64(&k->l2buf[j]), off = e & QCOW2_OFFSET_MASK;
            if (e & QCOW2_OFLAG_COMPRESSED) {
                uint64_t co, cl;
                qcow2_cluster_compressed_range(q, e, &co, &cl);
                inc(k, co, cl, "compressed cluster");
                if (active) {
                    k->res->allocated_clusters++;
                    k->res->compressed_clusters++;
                }
                continue;
            }
            if (!off)
                continue;
            if (off & (cs - 1)) {
                k->res->corruptions++;
                say(k, "ERROR data cluster offset %#llx is not cluster aligned",
                    (unsigned long long)off);
                continue;
            }
            inc(k, off, cs, "data cluster");
            if (active) {
                if (!(e & QCOW2_OFLAG_ZERO) || q->version < 3)
                    k->res->allocated_clusters++;
                check_copied(k, e, off, "data cluster");
            }
        }
    }
}

static void walk_snapshots(struct ck *k)
{
    struct qcow2 *q = k->q;
    uint64_t pos = q->snapshots_offset, fsize = k->n << q->cluster_bits;
    for (uint32_t s = 0; s < q->nb_snapshots; s++) {
        uint8_t h[40];
        if (pos + sizeof(h) > fsize || blk_pread(k->img->fd, h, sizeof(h), pos) < 0) {
            k->res->check_errors++;
            say(k, "ERROR snapshot table entry %u is beyond the end of the file", s);
            return;
        }
        uint64_t l1_off = qcow2_be64(h);
        uint32_t l1_size = qcow2_be32(h + 8);
        uint32_t len = 40 + qcow2_be32(h + 36) + ((uint32_t)h[12] << 8 | h[13]) +
                       ((uint32_t)h[14] << 8 | h[15]);
        pos += (len + 7) & ~7u;
        if (l1_size > QCOW2_MAX_L1_BYTES / 8) {
            k->res->corruptions++;
            say(k, "ERROR snapshot %u has an L1 table of %u entries", s, l1_size);
            continue;
        }
        if (l1_off > fsize || (uint64_t)l1_size * 8 > fsize - l1_off) {
            k->res->corruptions++;
            say(k, "ERROR snapshot %u has its L1 table past the end of the file", s);
            continue;
        }
        walk_l1(k, l1_off, l1_size, 0);
    }
    inc(k, q->snapshots_offset, pos - q->snapshots_offset, "snapshot table");
}

/*
 * Persistent bitmaps (while the autoclear bit says they are consistent; a read-write open
 * clears it, and then qemu too counts their clusters as leaks): the directory, each
 * bitmap's table and the data clusters the tables name.
 */
static void walk_bitmaps(struct ck *k)
{
    struct qcow2 *q = k->q;
    uint64_t cs = q->cluster_size, fsize = k->n << q->cluster_bits;
    uint64_t off = q->bitmaps_dir_offset, size = q->bitmaps_dir_size;
    if (!aligned(k, off) || size > fsize || off > fsize - size || size > (64u << 20)) {
        k->res->corruptions++;
        say(k, "ERROR bitmap directory at %#llx (%llu bytes) is not inside the file",
            (unsigned long long)off, (unsigned long long)size);
        return;
    }
    inc(k, off, size, "bitmap directory");
    ATOLL_AUTOFREE uint8_t *dir = atoll_malloc(size ? size : 1);
    if (blk_pread(k->img->fd, dir, size, off) < 0) {
        k->res->check_errors++;
        return;
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < q->bitmaps_nb && pos + 24 <= size; i++) {
        uint64_t toff = qcow2_be64(dir + pos);
        uint32_t tsize = qcow2_be32(dir + pos + 8);
        uint32_t name = (uint32_t)dir[pos + 18] << 8 | dir[pos + 19];
        uint32_t extra = qcow2_be32(dir + pos + 20);
        pos += (24 + (uint64_t)extra + name + 7) & ~7ULL;
        if ((uint64_t)tsize * 8 > fsize || !aligned(k, toff) || toff > fsize - tsize * 8ULL) {
            k->res->corruptions++;
            say(k, "ERROR bitmap %u table is not inside the file", i);
            continue;
        }
        inc(k, toff, (uint64_t)tsize * 8, "bitmap table");
        ATOLL_AUTOFREE uint64_t *t = atoll_malloc((size_t)tsize * 8 + 8);
        if (blk_pread(k->img->fd, t, (size_t)tsize * 8, toff) < 0) {
            k->res->check_errors++;
            continue;
        }
        for (uint32_t j = 0; j < tsize; j++) {
            uint64_t d = qcow2_be64(&t[j]) & QCOW2_OFFSET_MASK;
            if (d)
                inc(k, d, cs, "bitmap data cluster");
        }
    }
}

int qcow2_check(struct blk_image *img, unsigned flags, struct blk_check_result *out,
                struct atoll_err *err)
{
    struct qcow2 *q = qcow2_of(img);
    struct stat st;
    if (fstat(img->fd, &st) < 0) {
        blk_err_io(err, errno, "cannot stat '%s'", img->path);
        return -1;
    }
    if (!img->read_only && qcow2_refcount_release_pool(img) < 0) {
        blk_err_io(err, EIO, "cannot return reserved clusters of '%s'", img->path);
        return -1;
    }
    uint64_t cs = q->cluster_size, n = ((uint64_t)st.st_size + cs - 1) / cs;
    if (n > CHECK_MAX_CLUSTERS) {
        blk_err_unsupported(err, "file_size", "too large", "'%s' has too many clusters to "
                            "check", img->path);
        return -1;
    }
    struct ck k = {.img = img, .q = q, .n = n, .res = out};
    k.ref = atoll_calloc(n ? n : 1, sizeof(uint16_t));
    k.l2buf = atoll_malloc(cs);
    if (q->has_bitmaps && (q->autoclear & 1))
        walk_bitmaps(&k);

    inc(&k, 0, cs, "header");
    walk_l1(&k, q->l1_offset, q->l1_size, 1);
    if (q->nb_snapshots)
        walk_snapshots(&k);
    inc(&k, q->rt_offset, (uint64_t)q->rt_clusters * cs, "refcount table");
    for (uint64_t i = 0; i < q->rt_entries; i++) {
        uint64_t off = q->rt[i] & QCOW2_RT_OFFSET_MASK;
        if (!off)
            continue;
        if (!aligned(&k, off)) {
            out->corruptions++;
            say(&k, "ERROR refcount block %llu offset %#llx is not cluster aligned",
                (unsigned long long)i, (unsigned long long)off);
            continue;
        }
        inc(&k, off, cs, "refcount block");
    }

    /*
     * compare every cluster of the file. Like qemu-img, clusters past the end of the file are
     * not compared: nothing can use them, and the allocator reclaims them (a crash leaves its
     * unwritten reserved clusters there).
     */
    uint64_t last_used = 0;
    for (uint64_t c = 0; c < n; c++) {
        uint64_t disk, comp = k.ref[c];
        if (qcow2_refcount_get(img, c, &disk) < 0) {
            out->check_errors++;
            continue;
        }
        if (comp)
            last_used = c + 1;
        if (disk == comp)
            continue;
        if (disk < comp) {
            out->corruptions++;
            say(&k, "ERROR cluster %llu refcount=%llu reference=%llu", (unsigned long long)c,
                (unsigned long long)disk, (unsigned long long)comp);
            continue;
        }
        out->leaks++;
        say(&k, "Leaked cluster %llu refcount=%llu reference=%llu", (unsigned long long)c,
            (unsigned long long)disk, (unsigned long long)comp);
        if ((flags & BLK_CHECK_REPAIR_LEAKS) && qcow2_refcount_set(img, c, comp) == 0)
            out->leaks_fixed++;
    }
    if (out->leaks_fixed && (qcow2_refcount_commit(img) < 0 || blk_sync(img->fd) < 0)) {
        out->check_errors++;
        out->leaks_fixed = 0;
    }
    out->total_clusters = (img->size + cs - 1) / cs;
    out->image_end_offset = last_used * cs;
    free(k.ref);
    free(k.l2buf);
    return 0;
}

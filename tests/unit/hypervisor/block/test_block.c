/*
 * tests/unit/hypervisor/block/test_block.c - backing chains and hostile images through the
 * generic layer: a 3-deep qemu-img-made chain read and written (copy-on-write, partial
 * clusters) then checked with qemu-img compare/check; our own raw->qcow2->qcow2 chain read
 * by qemu-img convert; chain loops, depth limit, missing backing; hostile header fields;
 * corrupt L1/L2 entries met during I/O; several threads writing and reading one image.
 */
#include <pthread.h>
#include <signal.h>

#include "blktest.h"

static int have_qemu;

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return NULL;
    uint8_t *b = atoll_malloc((size_t)st.st_size + 1);
    ssize_t n = pread(fd, b, (size_t)st.st_size, 0);
    close(fd);
    *len = n > 0 ? (size_t)n : 0;
    return b;
}

static void qemu_chain(void)
{
    if (!have_qemu) {
        bt_skip("[qemu chain] 3-deep chain made by qemu-img", "qemu-img not installed");
        return;
    }
    const uint64_t size = 32 << 20;
    uint8_t *ref = atoll_malloc(size);
    bt_fill(ref, size, 42);
    bt_write_file(bt_path("base.raw"), ref, size);
    int rc = bt_run(NULL, "cd %s && qemu-img convert -f raw -O qcow2 base.raw base.qcow2 && "
                    "qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 mid.qcow2 && "
                    "qemu-io -c 'write -P 0x22 3M 1M' -c 'write -P 0x23 10000000 70000' "
                    "-c 'write -z 20M 256k' mid.qcow2 && "
                    "qemu-img create -q -f qcow2 -o cluster_size=4096 -b mid.qcow2 -F qcow2 "
                    "top.qcow2 && qemu-io -c 'write -P 0x33 3500000 5000' top.qcow2 && "
                    "qemu-img convert -O raw top.qcow2 ref.raw && "
                    "qemu-img convert -O raw mid.qcow2 mid.raw", bt_dir);
    if (!ok(rc == 0, "[qemu chain] base <- mid <- top made with qemu-img and qemu-io"))
        return;
    free(ref);
    size_t rl;
    ref = slurp(bt_path("ref.raw"), &rl);
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    ok(blk_open(bt_path("top.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0,
       "[qemu chain] top opened read-write with its chain");
    if (!img) {
        diag("%s", err.detail);
        return;
    }
    struct blk_info info;
    ok(blk_info(img, &info, &err) == 0 && info.chain_depth == 2 && info.backing_file &&
       strcmp(info.backing_file, "mid.qcow2") == 0 && strcmp(info.backing_format, "qcow2") == 0,
       "[qemu chain] info: depth 2, backing mid.qcow2 (qcow2)");
    ok(blk_is_read_only(blk_get_backing(img)), "[qemu chain] backing images are read-only");
    uint8_t *got = bt_read_image(img);
    ok(rl == size && got && memcmp(got, ref, size) == 0,
       "[qemu chain] whole disk equals qemu-img's view of the chain");
    free(got);
    /* writes: unaligned, cluster-crossing, over every layer's data */
    uint8_t *buf = atoll_malloc(200000);
    int bad = 0;
    uint64_t offs[] = {3 << 20, 3500000 - 100, 10000000 + 3, (20 << 20) + 1000, 0, size - 5000};
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(offs) + 100; i++) {
        uint64_t len = 1 + bt_below(150000);
        uint64_t off = i < ATOLL_ARRAY_SIZE(offs) ? offs[i] : bt_below(size - len);
        if (off + len > size)
            len = size - off;
        bt_fill(buf, len, bt_rand());
        memcpy(ref + off, buf, len);
        bad += blk_write(img, buf, off, len) < 0;
    }
    is_int(bad, 0, "[qemu chain] 106 writes into top");
    ok(blk_discard(img, 8 << 20, 1 << 20) == 0, "[qemu chain] discard 1 MiB in top");
    memset(ref + (8 << 20), 0, 1 << 20);
    got = bt_read_image(img);
    ok(got && memcmp(got, ref, size) == 0, "[qemu chain] reads follow the writes and discard");
    free(got);
    blk_close(img);
    bt_write_file(bt_path("ref.raw"), ref, size);
    ok(bt_run(NULL, "qemu-img compare -f qcow2 -F raw %s %s", bt_path("top.qcow2"),
              bt_path("ref.raw")) == 0, "[qemu chain] qemu-img compare top with the reference");
    bt_qemu_check(bt_path("top.qcow2"), "[qemu chain] qemu-img check top clean");
    ok(bt_run(NULL, "qemu-img compare -f qcow2 -F raw %s %s", bt_path("mid.qcow2"),
              bt_path("mid.raw")) == 0, "[qemu chain] mid unchanged by writes to top");
    bt_qemu_check(bt_path("mid.qcow2"), "[qemu chain] qemu-img check mid clean");
    /* rebase -u of a qemu-made image onto a copy of its backing file */
    bt_run(NULL, "cp %s %s", bt_path("mid.qcow2"), bt_path("mid2.qcow2"));
    img = NULL;
    blk_open(bt_path("top.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    ok(img && blk_set_backing(img, "mid2.qcow2", BLK_FORMAT_QCOW2, &err) == 0,
       "[qemu chain] top rebased (-u) onto a copy of mid");
    blk_close(img);
    char *out = NULL, s[256];
    bt_run(&out, "qemu-img info --output=json %s", bt_path("top.qcow2"));
    ok(strcmp(bt_json_str(out, "backing-filename", s, sizeof(s)), "mid2.qcow2") == 0,
       "[qemu chain] qemu-img info shows mid2.qcow2");
    free(out);
    ok(bt_run(NULL, "qemu-img compare -f qcow2 -F raw %s %s", bt_path("top.qcow2"),
              bt_path("ref.raw")) == 0, "[qemu chain] contents unchanged by the rebase");
    bt_qemu_check(bt_path("top.qcow2"), "[qemu chain] qemu-img check top clean after rebase");
    free(ref);
    free(buf);
}

static void our_chain(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const uint64_t bsize = 16 << 20, tsize = bsize + 65536 + 512;
    uint8_t *ref = atoll_calloc(1, tsize), *buf = atoll_malloc(1 << 20);
    struct blk_create_opts o = {.format = BLK_FORMAT_RAW, .size = bsize};
    ok(blk_create(bt_path("obase.raw"), &o, &err) == 0, "[our chain] raw base");
    struct blk_image *img = NULL;
    blk_open(bt_path("obase.raw"), BLK_FORMAT_RAW, BLK_OPEN_RDWR, &img, &err);
    bt_fill(ref, bsize, 9);
    ok(img && blk_write(img, ref, 0, bsize) == 0, "[our chain] base filled");
    blk_close(img);
    struct blk_create_opts om = {.format = BLK_FORMAT_QCOW2, .backing_file = "obase.raw",
                                 .backing_format = BLK_FORMAT_RAW};
    ok(blk_create(bt_path("omid.qcow2"), &om, &err) == 0, "[our chain] mid over raw base");
    blk_open(bt_path("omid.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    ok(img && blk_get_size(img) == bsize, "[our chain] mid took the base's size");
    bt_fill(buf, 300000, 10);
    memcpy(ref + 1000000, buf, 300000);
    ok(img && blk_write(img, buf, 1000000, 300000) == 0, "[our chain] mid written");
    blk_close(img);
    struct blk_create_opts ot = {.format = BLK_FORMAT_QCOW2, .size = tsize, .cluster_size = 4096,
                                 .backing_file = "omid.qcow2"};
    ok(blk_create(bt_path("otop.qcow2"), &ot, &err) == 0,
       "[our chain] top (4 KiB clusters, larger than its backing, probed backing format)");
    blk_open(bt_path("otop.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    uint64_t offs[] = {1000000 - 10, bsize - 3000, 1299990, 4096 * 7 + 1};
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(offs); i++) {
        bt_fill(buf, 9000, 20 + i);
        memcpy(ref + offs[i], buf, 9000);
        blk_write(img, buf, offs[i], 9000);
    }
    ok(img && blk_discard(img, 2 << 20, 1 << 20) == 0, "[our chain] discard in top");
    memset(ref + (2 << 20), 0, 1 << 20);
    uint8_t *got = img ? bt_read_image(img) : NULL;
    ok(got && memcmp(got, ref, tsize) == 0, "[our chain] top reads as expected");
    int k1 = 0, k2 = 0, k3 = 0, k4 = 0;
    uint64_t n1 = 0, n2 = 0, n3 = 0, n4 = 0;
    if (img) {
        blk_map(img, 4096 * 7, 100, &k1, &n1);           /* written in top */
        blk_map(img, 2 << 20, 1 << 20, &k2, &n2);        /* discarded: zero clusters */
        blk_map(img, 4 << 20, 8192, &k3, &n3);           /* untouched: from mid */
        blk_map(img, bsize + 16384, 4096, &k4, &n4);     /* past the backing file */
    }
    ok(k1 == BLK_MAP_DATA && n1 == 100 && k2 == BLK_MAP_ZERO && n2 == 1 << 20 &&
       k3 == BLK_MAP_BACKING && n3 == 8192 && k4 == BLK_MAP_ZERO,
       "[our chain] blk_map: data, zero, backing, zero past the backing file");
    if (k4 != BLK_MAP_ZERO)
        diag("map kinds %d %d %d %d", k1, k2, k3, k4);
    free(got);
    blk_close(img);
    if (!have_qemu) {
        bt_skip("[our chain] qemu-img reads our chain", "qemu-img not installed");
        free(ref);
        free(buf);
        return;
    }
    char *out = NULL, s[256];
    bt_run(&out, "qemu-img info --output=json %s", bt_path("otop.qcow2"));
    ok(bt_json_int(out, "virtual-size") == (long long)tsize &&
       strcmp(bt_json_str(out, "backing-filename", s, sizeof(s)), "omid.qcow2") == 0,
       "[our chain] qemu-img info: size and backing file");
    free(out);
    bt_run(&out, "qemu-img info --output=json %s", bt_path("omid.qcow2"));
    ok(strcmp(bt_json_str(out, "backing-filename-format", s, sizeof(s)), "raw") == 0,
       "[our chain] qemu-img info: mid's backing format is raw");
    free(out);
    ok(bt_run(NULL, "qemu-img convert -O raw %s %s", bt_path("otop.qcow2"),
              bt_path("otop.raw")) == 0, "[our chain] qemu-img convert of our chain to raw");
    size_t rl;
    got = slurp(bt_path("otop.raw"), &rl);
    long long d = got && rl == tsize ? bt_first_diff(got, ref, tsize) : -2;
    if (!ok(d == -1, "[our chain] qemu-img's view equals ours"))
        diag("length %zu, first difference at %lld", rl, d);
    free(got);
    bt_qemu_check(bt_path("omid.qcow2"), "[our chain] qemu-img check mid clean");
    bt_qemu_check(bt_path("otop.qcow2"), "[our chain] qemu-img check top clean");

    /* the base moves: rewrite mid's backing name (rebase -u) */
    rename(bt_path("obase.raw"), bt_path("moved.raw"));
    img = NULL;
    ok(blk_open(bt_path("otop.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err) == -1,
       "[rebase] chain broken after the base moved");
    atoll_err_clear(&err);
    blk_open(bt_path("omid.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR | BLK_OPEN_NO_BACKING, &img,
             &err);
    ok(img && blk_set_backing(img, "moved.raw", BLK_FORMAT_RAW, &err) == 0,
       "[rebase] mid now names moved.raw");
    blk_close(img);
    img = NULL;
    blk_open(bt_path("otop.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err);
    got = img ? bt_read_image(img) : NULL;
    ok(got && memcmp(got, ref, tsize) == 0, "[rebase] the whole chain reads as before");
    free(got);
    blk_close(img);
    img = NULL;
    blk_open(bt_path("omid.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    ok(img && blk_set_backing(img, "otop.qcow2", BLK_FORMAT_QCOW2, &err) == -1 &&
       err.code == ATOLL_E_OPERATION_NOT_ALLOWED, "[rebase] a rebase that makes a loop is refused");
    atoll_err_clear(&err);
    blk_close(img);
    bt_run(&out, "qemu-img info --output=json %s", bt_path("omid.qcow2"));
    ok(strcmp(bt_json_str(out, "backing-filename", s, sizeof(s)), "moved.raw") == 0 &&
       strcmp(bt_json_str(out, "backing-filename-format", s, sizeof(s)), "raw") == 0,
       "[rebase] qemu-img info shows the new backing file and format");
    free(out);
    bt_qemu_check(bt_path("omid.qcow2"), "[rebase] qemu-img check mid clean");

    /* coalesce: commit top into mid, then mid alone shows what top showed */
    img = NULL;
    blk_open(bt_path("otop.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err);
    ok(img && blk_commit(img, &err) == 0, "[commit] top committed into mid");
    blk_close(img);
    img = NULL;
    blk_open(bt_path("omid.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err);
    got = img ? bt_read_image(img) : NULL;
    ok(img && blk_get_size(img) == tsize && got && memcmp(got, ref, tsize) == 0,
       "[commit] mid (grown to top's size) now reads as top did");
    free(got);
    blk_close(img);
    bt_qemu_check(bt_path("omid.qcow2"), "[commit] qemu-img check mid clean");

    /* scatter-gather */
    img = NULL;
    blk_open(bt_path("omid.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    uint8_t s1[1000], s2[5000], s3[300], g1[1000], g2[5000], g3[300];
    bt_fill(s1, sizeof(s1), 1);
    bt_fill(s2, sizeof(s2), 2);
    bt_fill(s3, sizeof(s3), 3);
    struct iovec wv[] = {{s1, sizeof(s1)}, {s2, sizeof(s2)}, {s3, sizeof(s3)}};
    struct iovec rv[] = {{g1, sizeof(g1)}, {g2, sizeof(g2)}, {g3, sizeof(g3)}};
    ok(img && blk_writev(img, wv, 3, 65000) == 0 && blk_readv(img, rv, 3, 65000) == 0 &&
       !memcmp(s1, g1, sizeof(s1)) && !memcmp(s2, g2, sizeof(s2)) && !memcmp(s3, g3, sizeof(s3)),
       "[iov] writev of 3 segments across a cluster boundary reads back with readv");
    ok(img && blk_read(img, g2, 66000, sizeof(g2)) == 0 && !memcmp(g2, s2, sizeof(s2)),
       "[iov] segments land consecutively on the disk");
    is_int(img ? blk_readv(img, rv, 3, tsize - 100) : 0, -EINVAL, "[iov] past the end: -EINVAL");
    blk_close(img);
    free(ref);
    free(buf);
}

static void chain_limits(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20, .cluster_size = 512};
    blk_create(bt_path("la.qcow2"), &o, &err);
    struct blk_create_opts ob = o;
    ob.backing_file = "la.qcow2";
    blk_create(bt_path("lb.qcow2"), &ob, &err);
    ob.backing_file = "lb.qcow2";
    blk_create(bt_path("lc.qcow2"), &ob, &err);
    struct blk_image *img = NULL;
    ok(blk_open(bt_path("lc.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err) == 0,
       "[limits] la <- lb <- lc opens");
    blk_close(img);
    img = NULL;
    /* la becomes a copy of lc (names lb): lb -> la -> lb */
    size_t len;
    uint8_t *lc = slurp(bt_path("lc.qcow2"), &len);
    bt_write_file(bt_path("la.qcow2"), lc, len);
    free(lc);
    ok(blk_open(bt_path("lb.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err) == -1 &&
       err.code == ATOLL_E_OPERATION_NOT_ALLOWED, "[limits] two-image loop refused");
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);
    /* la becomes a copy of lb (names la): la -> la */
    uint8_t *lb = slurp(bt_path("lb.qcow2"), &len);
    bt_write_file(bt_path("la.qcow2"), lb, len);
    free(lb);
    ok(blk_open(bt_path("la.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err) == -1,
       "[limits] self loop refused");
    atoll_err_clear(&err);
    ok(blk_open(bt_path("la.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_NO_BACKING, &img, &err) == 0,
       "[limits] ... but opens without its backing chain (for info/check)");
    blk_close(img);
    img = NULL;
    ob.backing_file = "nothere.qcow2";
    ok(blk_create(bt_path("ld.qcow2"), &ob, &err) == -1, "[limits] missing backing: create fails");
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);

    /* depth: d0 <- d1 <- ... ; opening past BLK_MAX_CHAIN_DEPTH fails */
    blk_create(bt_path("d0.qcow2"), &o, &err);
    int made = 0;
    char name[32], prev[32] = "d0.qcow2";
    for (int i = 1; i <= BLK_MAX_CHAIN_DEPTH + 1; i++) {
        snprintf(name, sizeof(name), "d%d.qcow2", i);
        ob.backing_file = prev;
        if (blk_create(bt_path(name), &ob, &err) < 0)
            break;
        made = i;
        snprintf(prev, sizeof(prev), "%s", name);
    }
    is_int(made, BLK_MAX_CHAIN_DEPTH, "[limits] a chain of 256 backing images can be made");
    ok(err.code == ATOLL_E_OPERATION_NOT_ALLOWED, "[limits] the 257th is refused: too deep");
    atoll_err_clear(&err);
    snprintf(name, sizeof(name), "d%d.qcow2", made);
    ok(blk_open(bt_path(name), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0,
       "[limits] the 256-deep chain opens");
    uint8_t b[600] = {0}, z[600] = {0};
    ok(img && blk_read(img, b, 1000, sizeof(b)) == 0 && memcmp(b, z, sizeof(b)) == 0 &&
       blk_write(img, "x", 700, 1) == 0, "[limits] read and write through 256 levels");
    blk_close(img);
}

/* Header field surgery on a fresh image; expects open to fail with code. */
static void hostile(const char *what, unsigned off, unsigned width, uint64_t value, int code)
{
    size_t len;
    uint8_t *img_bytes = slurp(bt_path("h.qcow2"), &len);
    for (unsigned i = 0; i < width; i++)
        img_bytes[off + i] = (uint8_t)(value >> (8 * (width - 1 - i)));
    bt_write_file(bt_path("hx.qcow2"), img_bytes, len);
    free(img_bytes);
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    int r = blk_open(bt_path("hx.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    if (!ok(r == -1 && err.code == code, "[hostile] %s: %s", what,
            err.detail ? err.detail : "opened!"))
        diag("code %d", err.code);
    atoll_err_clear(&err);
    blk_close(img);
}

static void hostile_headers(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20};
    blk_create(bt_path("h.qcow2"), &o, &err);
    const int INV = ATOLL_E_INVALID_VALUE, UNS = ATOLL_E_VALUE_NOT_SUPPORTED;
    hostile("version 4", 4, 4, 4, INV);
    hostile("cluster_bits 8", 20, 4, 8, INV);
    hostile("cluster_bits 40", 20, 4, 40, INV);
    hostile("size 2^63", 24, 8, 1ULL << 63, INV);
    hostile("size beyond the L1 table", 24, 8, 1ULL << 40, INV);
    hostile("l1_size 2^31", 36, 4, 1u << 31, INV);
    hostile("l1_table_offset unaligned", 40, 8, 0x30001, INV);
    hostile("l1_table_offset past the file", 40, 8, 1ULL << 40, INV);
    hostile("refcount_table_offset 0", 48, 8, 0, INV);
    hostile("refcount_table_clusters 2^32-1", 56, 4, 0xffffffffu, INV);
    hostile("nb_snapshots 2^31", 60, 4, 1u << 31, INV);
    hostile("backing_file_offset past the header cluster", 8, 8, 1ULL << 20, INV);
    hostile("header_length 16", 100, 4, 16, INV);
    hostile("refcount_order 7", 96, 4, 7, INV);
    hostile("crypt_method aes", 32, 4, 1, UNS);
    hostile("incompatible bit 4 (extended L2)", 72, 8, 16, UNS);
    hostile("unknown incompatible bit 40", 72, 8, 1ULL << 40, UNS);
    hostile("extension length past the cluster", 112, 8, 0x123456787fffffffULL, INV);
    hostile("dirty bit on a read-write open", 72, 8, 1, ATOLL_E_OPERATION_NOT_ALLOWED);
    /* the dirty image still opens read-only */
    struct blk_image *img = NULL;
    ok(blk_open(bt_path("hx.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err) == 0,
       "[hostile] dirty image opens read-only");
    blk_close(img);
    img = NULL;

    /* a header that fills its whole cluster has no room for a backing file name */
    struct blk_create_opts os = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20, .cluster_size = 512};
    blk_create(bt_path("full.qcow2"), &os, &err);
    {
        size_t hlen;
        uint8_t *hb = slurp(bt_path("full.qcow2"), &hlen);
        hb[100] = 0, hb[101] = 0, hb[102] = 0x02, hb[103] = 0x00; /* header_length = 512 */
        bt_write_file(bt_path("full.qcow2"), hb, hlen);
        free(hb);
    }
    bt_write_file(bt_path("b.raw"), "b", 1);
    img = NULL;
    ok(blk_open(bt_path("full.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0 &&
       blk_set_backing(img, "b.raw", BLK_FORMAT_RAW, &err) == -1 &&
       err.code == ATOLL_E_INVALID_VALUE, "[hostile] no room for a backing name: clean error");
    atoll_err_clear(&err);
    blk_close(img);
    img = NULL;

    /* corrupt tables met during I/O: -EIO, never a crash */
    blk_open(bt_path("h.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    uint8_t buf[4096] = {7};
    blk_write(img, buf, 0, sizeof(buf));
    blk_write(img, buf, 600000, sizeof(buf));
    blk_close(img);
    size_t len;
    uint8_t *b = slurp(bt_path("h.qcow2"), &len);
    uint64_t l1off = 0, l2off = 0;
    for (int i = 0; i < 8; i++)
        l1off = l1off << 8 | b[40 + i];
    for (int i = 0; i < 8; i++)
        l2off = l2off << 8 | b[l1off + i];
    l2off &= 0x00fffffffffffe00ULL;
    b[l2off + 6] |= 0x02; /* data offset + 512: no longer cluster aligned */
    bt_write_file(bt_path("hx.qcow2"), b, len);
    img = NULL;
    ok(blk_open(bt_path("hx.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0,
       "[hostile] image with a bad L2 entry opens (checked lazily)");
    if (img) {
        is_int(blk_read(img, buf, 0, 512), -EIO, "[hostile] read of the bad cluster: -EIO");
        is_int(blk_write(img, buf, 100, 512), -EIO, "[hostile] write to it: -EIO");
        is_int(blk_read(img, buf, 600000, 512), 0, "[hostile] other clusters still read");
        struct blk_check_result cr;
        ok(blk_check(img, 0, &cr, &err) == 0 && cr.corruptions > 0,
           "[hostile] blk_check counts the corruption");
        blk_close(img);
    }
    for (int i = 0; i < 8; i++)
        b[l1off + i] = (uint8_t)(0x8000000000012345ULL >> (56 - 8 * i));
    bt_write_file(bt_path("hx.qcow2"), b, len);
    img = NULL;
    blk_open(bt_path("hx.qcow2"), BLK_FORMAT_AUTO, 0, &img, &err);
    ok(img && blk_read(img, buf, 0, 512) == -EIO, "[hostile] unaligned L1 entry: read -EIO");
    blk_close(img);
    free(b);
}

#define THREADS 4
#define REGION (4u << 20)

struct worker {
    struct blk_image *img;
    uint8_t *ref;   /* this thread's region of the reference */
    uint64_t base, seed;
    int bad;
};

/* Each thread owns a region (their clusters and L2 tables interleave in the file). */
static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t x = w->seed | 1;
    uint8_t *buf = atoll_malloc(70000);
    for (int i = 0; i < 300; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t len = 1 + x % 65536, off = (x >> 20) % (REGION - len);
        bt_fill(buf, len, x);
        memcpy(w->ref + off, buf, len);
        if (blk_write(w->img, buf, w->base + off, len) < 0)
            w->bad++;
        if (blk_read(w->img, buf, w->base + off, len) < 0 || memcmp(buf, w->ref + off, len))
            w->bad++;
        if (i % 50 == 0 && blk_flush(w->img) < 0)
            w->bad++;
        if (i % 37 == 0) { /* whole 4 KiB clusters of the range read as zeros afterwards */
            uint64_t a = (w->base + off + 4095) / 4096 * 4096;
            uint64_t b = (w->base + off + len) / 4096 * 4096;
            if (blk_discard(w->img, w->base + off, len) < 0)
                w->bad++;
            if (b > a)
                memset(w->ref + (a - w->base), 0, b - a);
        }
    }
    free(buf);
    return NULL;
}

static int readers_stop; /* __atomic */

/* Reads anywhere while the writers run: only errors count. */
static void *reader_main(void *arg)
{
    struct worker *w = arg;
    uint8_t *buf = atoll_malloc(70000);
    uint64_t x = w->seed | 1;
    while (!__atomic_load_n(&readers_stop, __ATOMIC_ACQUIRE)) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t len = 1 + x % 65536, off = (x >> 20) % ((uint64_t)THREADS * REGION - len);
        if (blk_read(w->img, buf, off, len) < 0)
            w->bad++;
    }
    free(buf);
    return NULL;
}

static void threads(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *path = bt_path("threads.qcow2");
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = THREADS * REGION,
                                .cluster_size = 4096};
    blk_create(path, &o, &err);
    struct blk_image *img = NULL;
    if (!ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0,
            "[threads] image opened"))
        return;
    uint8_t *ref = atoll_calloc(THREADS, REGION);
    struct worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){img, ref + (size_t)i * REGION, (uint64_t)i * REGION, bt_rand(), 0};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    struct worker rw[2];
    pthread_t rth[2];
    for (int i = 0; i < 2; i++) {
        rw[i] = (struct worker){img, NULL, 0, bt_rand(), 0};
        pthread_create(&rth[i], NULL, reader_main, &rw[i]);
    }
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += w[i].bad;
    }
    __atomic_store_n(&readers_stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < 2; i++) {
        pthread_join(rth[i], NULL);
        bad += rw[i].bad;
    }
    is_int(bad, 0, "[threads] 4 writers (write, read back, discard, flush) and 2 readers");
    blk_close(img);
    img = NULL;
    blk_open(path, BLK_FORMAT_AUTO, 0, &img, &err);
    uint8_t *got = img ? bt_read_image(img) : NULL;
    ok(got && memcmp(got, ref, (size_t)THREADS * REGION) == 0,
       "[threads] the image holds every thread's data");
    free(got);
    blk_close(img);
    bt_qemu_check(path, "[threads] qemu-img check clean");
    free(ref);
}

struct mirror_writer {
    struct blk_image *img;
    uint64_t size, seed;
    int stop, bad;
};

static void *mirror_writer_main(void *arg)
{
    struct mirror_writer *m = arg;
    uint8_t buf[40000];
    uint64_t x = m->seed | 1;
    for (int i = 0; !__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE) || i < 50; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t len = 1 + x % sizeof(buf), off = (x >> 24) % (m->size - len);
        bt_fill(buf, len, x);
        int r = (i % 11 == 10) ? blk_discard(m->img, off, len) : blk_write(m->img, buf, off, len);
        if (r < 0)
            m->bad++;
    }
    return NULL;
}

/* Copies the blocks set in bm from src to dst. */
static int copy_dirty(struct blk_image *src, struct blk_image *dst, const uint64_t *bm,
                      uint64_t nbits, uint32_t g, uint8_t *buf)
{
    uint64_t size = blk_get_size(src), n = 0;
    for (uint64_t b = 0; b < nbits; b++) {
        if (!(bm[b / 64] & (1ULL << (b % 64))))
            continue;
        uint64_t off = b * g, len = size - off < g ? size - off : g;
        if (blk_read(src, buf, off, len) < 0 || blk_write(dst, buf, off, len) < 0)
            return -1;
        n++;
    }
    return (int)n;
}

/* Mirroring a disk that is being written: full copy, then dirty rounds, then a last one. */
static void dirty_tracking(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const uint64_t size = 8 << 20;
    const uint32_t g = 65536;
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = size, .cluster_size = 4096};
    struct blk_create_opts r = {.format = BLK_FORMAT_RAW, .size = size};
    blk_create(bt_path("msrc.qcow2"), &o, &err);
    blk_create(bt_path("mdst.raw"), &r, &err);
    struct blk_image *src = NULL, *dst = NULL;
    blk_open(bt_path("msrc.qcow2"), BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &src, &err);
    blk_open(bt_path("mdst.raw"), BLK_FORMAT_RAW, BLK_OPEN_RDWR, &dst, &err);
    if (!ok(src && dst && blk_dirty_enable(src, g, &err) == 0, "[dirty] tracking enabled")) {
        blk_close(src);
        blk_close(dst);
        return;
    }
    uint64_t *bm = NULL, nbits = 0;
    uint32_t gg = 0;
    blk_write(src, "x", 70000, 1);                 /* block 1 */
    blk_write_zeroes(src, 200000, 100000);        /* blocks 3, 4 */
    blk_discard(src, 7 << 20, 4096);              /* block 112 */
    ok(blk_dirty_take(src, &bm, &nbits, &gg, &err) == 0 && nbits == size / g && gg == g &&
       bm[0] == ((1ULL << 1) | (1ULL << 3) | (1ULL << 4)) && bm[1] == (1ULL << (112 - 64)),
       "[dirty] exactly the touched blocks are marked");
    free(bm);
    ok(blk_dirty_take(src, &bm, &nbits, &gg, &err) == 0 && bm[0] == 0 && bm[1] == 0,
       "[dirty] taking resets the bitmap");
    free(bm);

    struct mirror_writer mw = {src, size, bt_rand(), 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, mirror_writer_main, &mw);
    uint8_t *buf = atoll_malloc(g);
    int bad = 0;
    for (uint64_t off = 0; off < size; off += g) /* full copy while the writer runs */
        bad += blk_read(src, buf, off, g) < 0 || blk_write(dst, buf, off, g) < 0;
    for (int round = 0; round < 5; round++) {
        if (blk_dirty_take(src, &bm, &nbits, &gg, &err) < 0 ||
            copy_dirty(src, dst, bm, nbits, gg, buf) < 0)
            bad++;
        free(bm);
    }
    __atomic_store_n(&mw.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    /* last round with the writer stopped (a VM would be paused here) */
    if (blk_dirty_take(src, &bm, &nbits, &gg, &err) < 0 ||
        copy_dirty(src, dst, bm, nbits, gg, buf) < 0)
        bad++;
    free(bm);
    uint8_t *a = bt_read_image(src), *b = bt_read_image(dst);
    ok(!bad && !mw.bad && a && b && memcmp(a, b, size) == 0,
       "[dirty] a mirror made while writing (full copy + dirty rounds) equals the source");
    free(a);
    free(b);
    free(buf);
    ok(blk_resize(src, size * 2, &err) == 0 && blk_dirty_take(src, &bm, &nbits, &gg, &err) == 0 &&
       nbits == 2 * size / g && bm[nbits / 64 - 1] == ~0ULL, "[dirty] growing marks the new area");
    free(bm);
    blk_dirty_disable(src);
    ok(blk_dirty_take(src, &bm, &nbits, &gg, &err) == -1, "[dirty] disabled: nothing to take");
    atoll_err_clear(&err);
    blk_close(src);
    blk_close(dst);
}

static void locks(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *path = bt_path("lock.qcow2");
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20};
    blk_create(path, &o, &err);
    struct blk_image *rw = NULL, *ro = NULL;
    ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &rw, &err) == 0, "[locks] opened rw");
    ok(blk_open(path, BLK_FORMAT_AUTO, 0, &ro, &err) == -1 &&
       err.code == ATOLL_E_OPERATION_NOT_ALLOWED, "[locks] a second, read-only open is refused");
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);
    ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_SHARE, &ro, &err) == 0,
       "[locks] ... but BLK_OPEN_SHARE reads it");
    blk_close(ro);
    ro = NULL;
    if (have_qemu) {
        char *out = NULL;
        int rc = bt_run(&out, "qemu-img info '%s'", path);
        ok(rc != 0 && strstr(out, "lock"), "[locks] qemu-img info refuses an image we write");
        free(out);
        ok(bt_run(NULL, "qemu-img info -U '%s'", path) == 0, "[locks] qemu-img info -U works");
    }
    blk_close(rw);
    if (!have_qemu) {
        bt_skip("[locks] qemu interplay", "qemu-img/qemu-io not installed");
        return;
    }
    ok(bt_run(NULL, "qemu-img info '%s'", path) == 0, "[locks] released by blk_close");
    /* qemu-io holds the image read-write for a while */
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 1);
        dup2(devnull, 2);
        execlp("qemu-io", "qemu-io", "-c", "sleep 20000", path, (char *)NULL);
        _exit(127);
    }
    /* wait (up to 5 s) until qemu-io holds the write permission byte, without taking locks */
    int fd = open(path, O_RDONLY), held = 0;
    for (int i = 0; i < 100 && !held && fd >= 0; i++) {
        struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 101, .l_len = 1};
        held = fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
        if (!held)
            usleep(50000);
    }
    if (fd >= 0)
        close(fd);
    ok(held, "[locks] qemu-io holds the image");
    int refused = blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &rw, &err) == -1 &&
                  err.code == ATOLL_E_OPERATION_NOT_ALLOWED;
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);
    ok(refused, "[locks] blk_open read-write refuses an image qemu-io is writing");
    ok(blk_open(path, BLK_FORMAT_AUTO, 0, &ro, &err) == -1, "[locks] read-only open refused too");
    atoll_err_clear(&err);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int main(void)
{
    bt_init();
    have_qemu = bt_have("qemu-img") && bt_have("qemu-io");
    if (!have_qemu)
        diag("qemu-img/qemu-io not installed: interoperability points are skipped");
    qemu_chain();
    our_chain();
    chain_limits();
    hostile_headers();
    threads();
    dirty_tracking();
    locks();
    return tap_done();
}

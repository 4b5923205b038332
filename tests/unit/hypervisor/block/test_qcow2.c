/*
 * tests/unit/hypervisor/block/test_qcow2.c - the qcow2 driver against a memory reference and
 * against qemu-img: create (several cluster sizes, v2 and v3) -> qemu-img check/info;
 * random unaligned, cluster-crossing writes and discards -> whole-disk compare, qemu-img
 * compare with a raw copy; resize (L1 growth, refused and allowed shrink); read-only;
 * compressed clusters made by qemu-img; leaks left by a process that never closed.
 */
#include "blktest.h"

static int have_qemu;

static void qemu_info(const char *path, uint64_t size, uint32_t cs, const char *what)
{
    if (!have_qemu) {
        bt_skip(what, "qemu-img not installed (Debian package qemu-utils)");
        return;
    }
    char *out = NULL;
    int rc = bt_run(&out, "qemu-img info --output=json '%s'", path);
    int good = rc == 0 && bt_json_int(out, "virtual-size") == (long long)size &&
               (cs == 0 || bt_json_int(out, "cluster-size") == (long long)cs);
    if (!ok(good, "%s", what))
        diag("%s", out);
    free(out);
}

static void qemu_compare(const char *raw, const char *img, const char *what)
{
    if (!have_qemu) {
        bt_skip(what, "qemu-img not installed (Debian package qemu-utils)");
        return;
    }
    char *out = NULL;
    int rc = bt_run(&out, "qemu-img compare -f raw -F qcow2 '%s' '%s'", raw, img);
    if (!ok(rc == 0, "%s", what))
        diag("%s", out);
    free(out);
}

/* Random writes and discards on an open image, mirrored into ref. Returns failures. */
static int random_session(struct blk_image *img, uint8_t *ref, uint64_t size, uint32_t cs,
                          int ops, int discards)
{
    int bad = 0;
    uint8_t *buf = atoll_malloc(300000);
    for (int i = 0; i < ops; i++) {
        if (discards && bt_below(15) == 0) {
            uint64_t len = bt_below(4 * (uint64_t)cs + 1000), off = bt_below(size - len);
            if (blk_discard(img, off, len) < 0)
                bad++;
            uint64_t a = (off + cs - 1) / cs * cs, b = (off + len) / cs * cs;
            if (off + len == size)
                b = size;
            if (b > a)
                memset(ref + a, 0, b - a);
            continue;
        }
        uint64_t len = 1 + bt_below(bt_below(4) ? 70000 : 300000);
        uint64_t off = bt_below(size - len + 1);
        bt_fill(buf, len, bt_rand());
        memcpy(ref + off, buf, len);
        if (blk_write(img, buf, off, len) < 0)
            bad++;
        if (bt_below(10) == 0) { /* spot-check a random range */
            uint64_t l2 = 1 + bt_below(200000), o2 = bt_below(size - l2 + 1);
            if (blk_read(img, buf, o2, l2) < 0 || memcmp(buf, ref + o2, l2) != 0)
                bad++;
        }
    }
    free(buf);
    return bad;
}

static void config_run(uint32_t cs, uint32_t version)
{
    char name[64], what[128];
    snprintf(name, sizeof(name), "c%u-v%u.qcow2", cs, version);
    const char *path = bt_path(name);
    const uint64_t size = 24 << 20;
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = size, .cluster_size = cs,
                                .qcow2_version = version};
    snprintf(what, sizeof(what), "[%s] created", name);
    if (!ok(blk_create(path, &o, &err) == 0, "%s", what)) {
        diag("%s", err.detail ? err.detail : "?");
        atoll_err_clear(&err);
        return;
    }
    snprintf(what, sizeof(what), "[%s] new image: qemu-img check clean", name);
    bt_qemu_check(path, what);
    snprintf(what, sizeof(what), "[%s] qemu-img info: virtual size and cluster size", name);
    qemu_info(path, size, cs, what);

    struct blk_image *img = NULL;
    snprintf(what, sizeof(what), "[%s] opened read-write", name);
    if (!ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0, "%s", what))
        return;
    uint8_t *ref = atoll_calloc(1, size);
    int bad = random_session(img, ref, size, cs, 160, 1);
    snprintf(what, sizeof(what), "[%s] 160 random writes/discards and spot reads", name);
    is_int(bad, 0, "%s", what);
    uint8_t *got = bt_read_image(img);
    long long d = got ? bt_first_diff(got, ref, size) : 0;
    snprintf(what, sizeof(what), "[%s] whole disk equals the reference", name);
    if (!ok(got && d < 0, "%s", what))
        diag("first difference at %lld", d);
    free(got);
    struct blk_check_result cr;
    snprintf(what, sizeof(what), "[%s] blk_check while open: no corruption, no leak", name);
    ok(blk_check(img, 0, &cr, &err) == 0 && cr.corruptions == 0 && cr.leaks == 0, "%s", what);
    blk_close(img);

    ok(blk_open(path, BLK_FORMAT_QCOW2, 0, &img, &err) == 0, "[%s] reopened read-only", name);
    got = img ? bt_read_image(img) : NULL;
    snprintf(what, sizeof(what), "[%s] data survives close and reopen", name);
    ok(got && memcmp(got, ref, size) == 0, "%s", what);
    free(got);
    blk_close(img);
    snprintf(what, sizeof(what), "[%s] after writes: qemu-img check clean", name);
    bt_qemu_check(path, what);
    const char *raw = bt_path("ref.raw");
    bt_write_file(raw, ref, size);
    snprintf(what, sizeof(what), "[%s] qemu-img compare with the raw reference", name);
    qemu_compare(raw, path, what);
    free(ref);
}

static void resize_run(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *path = bt_path("resize.qcow2");
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20, .cluster_size = 512};
    ok(blk_create(path, &o, &err) == 0, "[resize] created 1 MiB, 512-byte clusters");
    struct blk_image *img = NULL;
    if (blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) < 0)
        return;
    uint8_t *pat = atoll_malloc(1 << 20), *buf = atoll_malloc(1 << 20);
    bt_fill(pat, 1 << 20, 7);
    ok(blk_write(img, pat, 0, 1 << 20) == 0, "[resize] filled");
    const uint64_t big = 1ULL << 30;
    ok(blk_resize(img, big, &err) == 0 && blk_get_size(img) == big,
       "[resize] grown to 1 GiB (the L1 table moves)");
    ok(blk_read(img, buf, 0, 1 << 20) == 0 && memcmp(buf, pat, 1 << 20) == 0,
       "[resize] old data intact");
    ok(blk_read(img, buf, big - (1 << 20), 1 << 20) == 0 && buf[0] == 0 &&
       memcmp(buf, buf + 1, (1 << 20) - 1) == 0, "[resize] new area reads zeros");
    ok(blk_write(img, pat, big - 4096, 4096) == 0, "[resize] write at the new end");
    ok(blk_resize(img, 512 << 10, &err) == -1 && err.code == ATOLL_E_OPERATION_NOT_ALLOWED,
       "[resize] shrink over data refused");
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);
    ok(blk_discard(img, 512 << 10, big - (512 << 10)) == 0, "[resize] discard the tail");
    ok(blk_resize(img, 512 << 10, &err) == 0, "[resize] shrink to 512 KiB after discard");
    ok(blk_read(img, buf, 0, 512 << 10) == 0 && memcmp(buf, pat, 512 << 10) == 0,
       "[resize] kept data intact");
    blk_close(img);
    bt_qemu_check(path, "[resize] qemu-img check clean");
    qemu_info(path, 512 << 10, 512, "[resize] qemu-img info shows the new size");
    free(pat);
    free(buf);
}

static void compressed_run(void)
{
    if (!have_qemu) {
        bt_skip("[compressed] qemu-img made image", "qemu-img not installed");
        return;
    }
    const uint64_t size = 4 << 20;
    uint8_t *ref = atoll_malloc(size), *buf = atoll_malloc(size);
    for (uint64_t i = 0; i < size; i++) /* compressible but not trivial */
        ref[i] = (uint8_t)((i / 7) ^ (i >> 12));
    const char *raw = bt_path("comp.raw"), *path = bt_path("comp.qcow2");
    bt_write_file(raw, ref, size);
    ok(bt_run(NULL, "qemu-img convert -c -f raw -O qcow2 '%s' '%s'", raw, path) == 0,
       "[compressed] qemu-img convert -c made a compressed image");
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0, "[compressed] opened");
    if (!img)
        return;
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "[compressed] reads inflate to the original");
    bt_fill(buf, 70000, 3);
    memcpy(ref + 100000, buf, 70000);
    ok(blk_write(img, buf, 100000, 70000) == 0, "[compressed] partial write over compressed");
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "[compressed] copy-on-write kept the rest of the clusters");
    struct blk_check_result cr;
    ok(blk_check(img, 0, &cr, &err) == 0 && cr.corruptions == 0 && cr.leaks == 0 &&
       cr.compressed_clusters > 0, "[compressed] blk_check clean, counts compressed clusters");
    blk_close(img);
    bt_qemu_check(path, "[compressed] qemu-img check clean after writes");
    bt_write_file(raw, ref, size);
    qemu_compare(raw, path, "[compressed] qemu-img compare with the reference");
    free(ref);
    free(buf);
}

/* write_zeroes over a backing file: v3 (zero flag), v2 (zeros written), and at the disk's end */
static void zeroes_run(uint32_t version)
{
    char bname[64], name[64], what[128];
    struct atoll_err err = ATOLL_ERR_INIT;
    const uint64_t size = (4 << 20) + 1536;
    uint8_t *ref = atoll_malloc(size), *got = atoll_malloc(size);
    bt_fill(ref, size, 77);
    snprintf(bname, sizeof(bname), "zb%u.raw", version);
    bt_write_file(bt_path(bname), ref, size);
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .qcow2_version = version,
                                .backing_file = bname, .backing_format = BLK_FORMAT_RAW};
    snprintf(name, sizeof(name), "z%u.qcow2", version);
    const char *path = bt_path(name);
    struct blk_image *img = NULL;
    if (blk_create(path, &o, &err) < 0 ||
        blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) < 0) {
        ok(0, "[zeroes v%u] image: %s", version, err.detail ? err.detail : "?");
        atoll_err_clear(&err);
        return;
    }
    uint8_t data[100000];
    bt_fill(data, sizeof(data), 78);
    blk_write(img, data, 200000, sizeof(data));
    memcpy(ref + 200000, data, sizeof(data));
    struct { uint64_t off, len; } z[] = {{1000, 300000}, {65536, 131072}, {size - 70000, 70000},
                                        {2 << 20, 1}};
    int bad = 0;
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(z); i++) {
        bad += blk_write_zeroes(img, z[i].off, z[i].len) < 0;
        memset(ref + z[i].off, 0, z[i].len);
    }
    snprintf(what, sizeof(what), "[zeroes v%u] write_zeroes: partial, whole, at the end", version);
    is_int(bad, 0, "%s", what);
    snprintf(what, sizeof(what), "[zeroes v%u] zeroed ranges read as zeros, rest intact",
             version);
    ok(blk_read(img, got, 0, size) == 0 && memcmp(got, ref, size) == 0, "%s", what);
    /* shrink below the backing file's size, then grow: the new area must read zeros */
    uint64_t small = (1 << 20) + 100;
    if (version >= 3) {
        bad = blk_discard(img, small, size - small) < 0;
        bad += blk_resize(img, small, &err) < 0;
        bad += blk_resize(img, size, &err) < 0;
        memset(ref + small, 0, size - small);
        snprintf(what, sizeof(what), "[zeroes v%u] shrink then grow over a larger backing "
                 "file: zeros, not backing data", version);
        ok(!bad && blk_read(img, got, 0, size) == 0 && memcmp(got, ref, size) == 0, "%s", what);
    } else {
        ok(blk_resize(img, small, &err) < 0 && err.code == ATOLL_E_OPERATION_NOT_ALLOWED,
           "[zeroes v2] shrink over written zeros is refused (v2 cannot drop them)");
    }
    atoll_err_clear(&err);
    blk_close(img);
    snprintf(what, sizeof(what), "[zeroes v%u] qemu-img check clean", version);
    bt_qemu_check(path, what);
    bt_write_file(bt_path("zref.raw"), ref, size);
    snprintf(what, sizeof(what), "[zeroes v%u] qemu-img compare with the reference", version);
    qemu_compare(bt_path("zref.raw"), path, what);
    free(ref);
    free(got);
}

/* qemu-made images with other refcount widths: our allocations and frees stay consistent */
static void refcount_widths_run(void)
{
    static const int widths[] = {1, 2, 8, 64};
    for (unsigned w = 0; w < ATOLL_ARRAY_SIZE(widths); w++) {
        char name[64], what[128];
        snprintf(name, sizeof(name), "rc%d.qcow2", widths[w]);
        const char *path = bt_path(name);
        if (!have_qemu) {
            bt_skip("[refcount widths] qemu-img made image", "qemu-img not installed");
            return;
        }
        const uint64_t size = 8 << 20;
        bt_run(NULL, "qemu-img create -q -f qcow2 -o refcount_bits=%d,cluster_size=4096 '%s' %llu",
               widths[w], path, (unsigned long long)size);
        struct atoll_err err = ATOLL_ERR_INIT;
        struct blk_image *img = NULL;
        snprintf(what, sizeof(what), "[refcount widths] %d-bit refcounts: opened", widths[w]);
        if (!ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0, "%s", what)) {
            atoll_err_clear(&err);
            continue;
        }
        uint8_t *ref = atoll_calloc(1, size);
        int bad = random_session(img, ref, size, 4096, 80, 1);
        uint8_t *got = bt_read_image(img);
        snprintf(what, sizeof(what), "[refcount widths] %d-bit: writes, discards, read back",
                 widths[w]);
        ok(!bad && got && memcmp(got, ref, size) == 0, "%s", what);
        free(got);
        blk_close(img);
        snprintf(what, sizeof(what), "[refcount widths] %d-bit: qemu-img check clean", widths[w]);
        bt_qemu_check(path, what);
        bt_write_file(bt_path("rcref.raw"), ref, size);
        snprintf(what, sizeof(what), "[refcount widths] %d-bit: qemu-img compare", widths[w]);
        qemu_compare(bt_path("rcref.raw"), path, what);
        free(ref);
    }
}

/* persistent bitmaps made by qemu: our check agrees with qemu-img before and after our writes */
static void bitmaps_run(void)
{
    const char *path = bt_path("bitmaps.qcow2");
    if (!have_qemu || bt_run(NULL, "qemu-img create -q -f qcow2 '%s' 16M && qemu-img bitmap "
                             "--add '%s' bm0 && qemu-io -c 'write -P 1 0 4M' '%s'", path, path,
                             path) != 0) {
        bt_skip("[bitmaps] qemu-made image with a persistent bitmap", "qemu-img/qemu-io missing "
                "or without bitmap support");
        return;
    }
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    struct blk_check_result cr = {0};
    blk_open(path, BLK_FORMAT_AUTO, 0, &img, &err);
    ok(img && blk_check(img, 0, &cr, &err) == 0 && cr.leaks == 0 && cr.corruptions == 0,
       "[bitmaps] consistent bitmaps are counted: clean, as qemu-img check says");
    blk_close(img);
    img = NULL;
    blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    ok(img && blk_write(img, "x", 0, 1) == 0 &&
       blk_check(img, BLK_CHECK_REPAIR_LEAKS, &cr, &err) == 0 && cr.corruptions == 0,
       "[bitmaps] after our read-write open the bitmaps are inconsistent: leaks repaired");
    blk_close(img);
    bt_qemu_check(path, "[bitmaps] qemu-img check clean afterwards");
}

static void leak_run(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *path = bt_path("leak.qcow2");
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 8 << 20};
    blk_create(path, &o, &err);
    pid_t pid = fork();
    if (pid == 0) {
        struct blk_image *img;
        uint8_t b[4096] = {1};
        if (blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, NULL) < 0 ||
            blk_write(img, b, 0, sizeof(b)) < 0)
            _exit(1);
        _exit(0); /* no close: the reserved pool stays leaked */
    }
    int st;
    waitpid(pid, &st, 0);
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "[leak] child wrote and exited without close");
    /* as if the reserved clusters had been written but never linked: leaks inside the file */
    is_int(truncate(path, 2 << 20), 0, "[leak] file extended over the reserved clusters");
    struct blk_image *img = NULL;
    struct blk_check_result cr;
    blk_open(path, BLK_FORMAT_AUTO, 0, &img, &err);
    ok(img && blk_check(img, 0, &cr, &err) == 0 && cr.leaks > 0 && cr.corruptions == 0,
       "[leak] blk_check reports leaks, no corruption");
    diag("%llu leaked clusters", (unsigned long long)cr.leaks);
    blk_close(img);
    if (have_qemu)
        is_int(bt_run(NULL, "qemu-img check '%s'", path), 3, "[leak] qemu-img check: leaks only");
    else
        bt_skip("[leak] qemu-img check", "qemu-img not installed");
    img = NULL;
    blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    ok(img && blk_check(img, BLK_CHECK_REPAIR_LEAKS, &cr, &err) == 0 &&
       cr.leaks_fixed == cr.leaks && cr.leaks > 0, "[leak] repaired by blk_check");
    blk_close(img);
    bt_qemu_check(path, "[leak] qemu-img check clean after repair");
}

int main(void)
{
    bt_init();
    have_qemu = bt_have("qemu-img");
    if (!have_qemu)
        diag("qemu-img not installed: interoperability points are skipped");
    config_run(65536, 3);
    config_run(512, 3);   /* many refcount blocks: the refcount table grows */
    config_run(4096, 2);
    config_run(2u << 20, 3);
    resize_run();
    compressed_run();
    zeroes_run(3);
    zeroes_run(2);
    refcount_widths_run();
    bitmaps_run();
    leak_run();
    return tap_done();
}

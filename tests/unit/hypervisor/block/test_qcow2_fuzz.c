/*
 * tests/unit/hypervisor/block/test_qcow2_fuzz.c - bounded mutation fuzzing of the qcow2 header,
 * extension, L1/L2 and refcount parsers: a small valid image (512-byte clusters, so every
 * table sits in the first few KiB) is mutated (bytes, bits, interesting 64/32-bit values in
 * header fields and table slots) and then opened, read, written, discarded, resized,
 * rebased and checked. Pass = no crash, no hang, no unbounded allocation (errors are expected).
 * FUZZ_ITERATIONS overrides the count (default 5000: about a second on tmpfs).
 */
#include "atoll/log.h"
#include "blktest.h"

static const uint64_t interesting[] = {
    0, 1, 7, 8, 0x1ff, 0x200, 0x201, 0xfff, 0x1000, 0x10000, 0x7fffffff, 0x80000000,
    0xffffffff, 0x100000000ULL, 1ULL << 40, 1ULL << 55, 1ULL << 56, 1ULL << 62, 1ULL << 63,
    0x8000000000000200ULL, 0x4000000000000000ULL, UINT64_MAX,
};

static void put_be(uint8_t *p, uint64_t v, int width)
{
    for (int i = 0; i < width; i++)
        p[i] = (uint8_t)(v >> (8 * (width - 1 - i)));
}

static void mutate(uint8_t *b, size_t len)
{
    /* header fields (offset, width) */
    static const int fields[][2] = {{4, 4}, {8, 8}, {16, 4}, {20, 4}, {24, 8}, {32, 4},
                                    {36, 4}, {40, 8}, {48, 8}, {56, 4}, {60, 4}, {64, 8},
                                    {72, 8}, {80, 8}, {88, 8}, {96, 4}, {100, 4}, {112, 4},
                                    {116, 4}};
    int n = 1 + (int)bt_below(5);
    size_t hot = len < 16384 ? len : 16384;
    for (int i = 0; i < n; i++) {
        switch (bt_below(5)) {
        case 0: { /* header field := interesting value */
            int f = (int)bt_below(ATOLL_ARRAY_SIZE(fields));
            put_be(b + fields[f][0], interesting[bt_below(ATOLL_ARRAY_SIZE(interesting))],
                   fields[f][1]);
            break;
        }
        case 1: { /* table slot := interesting value or offset-like value */
            size_t at = (bt_below(hot / 8)) * 8;
            uint64_t v = bt_below(2) ? interesting[bt_below(ATOLL_ARRAY_SIZE(interesting))]
                                     : (bt_below(len * 2) & ~511ULL) | (bt_below(2) << 63);
            put_be(b + at, v, 8);
            break;
        }
        case 2:
            b[bt_below(hot)] ^= (uint8_t)(1u << bt_below(8));
            break;
        case 3:
            b[bt_below(hot)] = (uint8_t)bt_rand();
            break;
        default:
            b[bt_below(len)] = (uint8_t)bt_rand();
            break;
        }
    }
}

static int exercise(const char *path, unsigned flags)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    if (blk_open(path, BLK_FORMAT_QCOW2, flags, &img, &err) < 0) {
        atoll_err_clear(&err);
        return 0;
    }
    static uint8_t buf[65536];
    uint64_t size = blk_get_size(img);
    blk_read(img, buf, 0, size < sizeof(buf) ? size : sizeof(buf));
    for (int i = 0; i < 4 && size; i++) {
        uint64_t len = 1 + bt_below(sizeof(buf)), off = bt_below(size);
        if (len > size - off)
            len = size - off;
        blk_read(img, buf, off, len);
        if (!blk_is_read_only(img)) {
            blk_write(img, buf, bt_below(size), 1 + bt_below(4096) > size ? 1 : 1 + bt_below(4096));
            blk_discard(img, off, len);
        }
    }
    if (!blk_is_read_only(img) && bt_below(4) == 0) {
        blk_resize(img, size + 65536, &err);
        atoll_err_clear(&err);
    }
    if (!blk_is_read_only(img) && bt_below(6) == 0) {
        blk_set_backing(img, bt_below(2) ? "back.raw" : NULL, BLK_FORMAT_RAW, &err);
        atoll_err_clear(&err);
    }
    struct blk_check_result cr;
    blk_check(img, 0, &cr, &err);
    atoll_err_clear(&err);
    blk_info(img, &(struct blk_info){0}, &err);
    blk_close(img);
    return 1;
}

static void fuzz_seed(const char *what, const char *seedp, const char *path, int iterations)
{
    size_t len;
    uint8_t *seed;
    int fd = open(seedp, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        ok(0, "seed %s: cannot open", what);
        if (fd >= 0)
            close(fd);
        return;
    }
    len = (size_t)st.st_size;
    seed = atoll_malloc(len);
    ok(pread(fd, seed, len, 0) == (ssize_t)len, "seed %s read (%zu bytes)", what, len);
    close(fd);
    uint8_t *work = atoll_malloc(len);
    int opened = 0;
    for (int i = 0; i < iterations; i++) {
        memcpy(work, seed, len);
        mutate(work, len);
        bt_write_file(path, work, len);
        opened += exercise(path, bt_below(2) ? BLK_OPEN_RDWR : 0);
    }
    ok(1, "%s: %d mutated images, %d opened and exercised, %d refused, no crash", what,
       iterations, opened, iterations - opened);
    free(seed);
    free(work);
}

int main(void)
{
    bt_init_in("/dev/shm"); /* many small files and syncs: tmpfs when there is one */
    atoll_log_configure("error"); /* findings on mutated images are expected: keep the log short */
    int iterations = getenv("FUZZ_ITERATIONS") ? atoi(getenv("FUZZ_ITERATIONS")) : 5000;
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *seedp = bt_path("seed.qcow2"), *path = bt_path("fuzz.qcow2");
    bt_write_file(bt_path("back.raw"), "backing data", 12);
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2, .size = 192 << 10,
                                .cluster_size = 512, .backing_file = "back.raw",
                                .backing_format = BLK_FORMAT_RAW};
    ok(blk_create(seedp, &o, &err) == 0, "seed image created");
    struct blk_image *img = NULL;
    blk_open(seedp, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    uint8_t data[4096];
    for (int i = 0; i < 24; i++) {
        bt_fill(data, sizeof(data), (uint64_t)i);
        blk_write(img, data, bt_below((192 << 10) - sizeof(data)), 1 + bt_below(sizeof(data)));
    }
    blk_discard(img, 8192, 4096);
    blk_close(img);
    fuzz_seed("512-byte clusters over a raw backing file", seedp, path, iterations);
    /* a version 2 image (72-byte header, no zero flag) */
    struct blk_create_opts o2 = {.format = BLK_FORMAT_QCOW2, .size = 96 << 10,
                                 .cluster_size = 1024, .qcow2_version = 2,
                                 .backing_file = "back.raw", .backing_format = BLK_FORMAT_RAW};
    const char *seed2 = bt_path("seed2.qcow2");
    img = NULL;
    if (blk_create(seed2, &o2, &err) == 0 &&
        blk_open(seed2, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0) {
        for (int i = 0; i < 12; i++) {
            bt_fill(data, sizeof(data), (uint64_t)i + 100);
            blk_write(img, data, bt_below((96 << 10) - sizeof(data)), 1 + bt_below(4096));
        }
        blk_close(img);
    }
    atoll_err_clear(&err);
    fuzz_seed("qcow2 version 2", seed2, path, iterations / 2);
    /* a qemu-made image with compressed clusters (deflate streams, compressed L2 entries) */
    if (bt_have("qemu-img")) {
        uint8_t raw[65536];
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = (uint8_t)((i / 5) ^ (i >> 9));
        bt_write_file(bt_path("c.raw"), raw, sizeof(raw));
        bt_run(NULL, "qemu-img convert -c -f raw -O qcow2 -o cluster_size=4096 '%s' '%s'",
               bt_path("c.raw"), bt_path("cseed.qcow2"));
        fuzz_seed("compressed clusters (qemu-img convert -c)", bt_path("cseed.qcow2"), path,
                  iterations / 2);
        /* and one with a persistent bitmap (directory, table and data clusters) */
        const char *bseed = bt_path("bseed.qcow2");
        if (bt_run(NULL, "qemu-img create -q -f qcow2 -o cluster_size=4096 '%s' 1M && "
                   "qemu-img bitmap --add '%s' b0 -g 4096 && "
                   "qemu-io -c 'write -P 1 0 300k' '%s'", bseed, bseed, bseed) == 0)
            fuzz_seed("persistent bitmap (qemu-img bitmap)", bseed, path, iterations / 2);
        else
            bt_skip("fuzzing an image with a bitmap", "qemu-img without bitmap support");
    } else {
        bt_skip("fuzzing a compressed image", "qemu-img not installed");
    }
    return tap_done();
}

/*
 * tests/unit/hypervisor/block/test_raw.c - the raw driver and the generic layer: create,
 * read/write at random offsets against a memory reference, bounds, read-only refusal,
 * discard (holes read as zeros), resize (grow; shrink only over holes), format probing.
 */
#include "blktest.h"

int main(void)
{
    bt_init();
    struct atoll_err err = ATOLL_ERR_INIT;
    const uint64_t size = 8 << 20;
    const char *path = bt_path("disk.raw");
    struct blk_create_opts o = {.format = BLK_FORMAT_RAW, .size = size};
    ok(blk_create(path, &o, &err) == 0, "raw image created");
    struct stat st;
    ok(stat(path, &st) == 0 && (uint64_t)st.st_size == size, "raw file has the asked size");

    struct blk_image *img = NULL;
    ok(blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err) == 0, "opened read-write");
    is_int(blk_get_format(img), BLK_FORMAT_RAW, "probed as raw");
    is_int(blk_get_size(img), size, "size is the file size");

    uint8_t *ref = atoll_calloc(1, size), *buf = atoll_malloc(size);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        uint64_t len = 1 + bt_below(100000), off = bt_below(size - len);
        bt_fill(buf, len, bt_rand());
        memcpy(ref + off, buf, len);
        if (blk_write(img, buf, off, len) < 0)
            bad++;
    }
    is_int(bad, 0, "200 random writes succeed");
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "whole disk reads back as the reference");
    is_int(blk_read(img, buf, size - 10, 11), -EINVAL, "read past the end is -EINVAL");
    is_int(blk_write(img, buf, size, 1), -EINVAL, "write past the end is -EINVAL");
    is_int(blk_flush(img), 0, "flush");

    is_int(blk_discard(img, 1 << 20, 1 << 20), 0, "discard 1 MiB");
    memset(ref + (1 << 20), 0, 1 << 20);
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "discarded range reads as zeros, the rest unchanged");

    is_int(blk_write_zeroes(img, 3000, 200000), 0, "write_zeroes 200000 bytes at 3000");
    memset(ref + 3000, 0, 200000);
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "zeroed range reads as zeros, the rest unchanged");

    ok(blk_resize(img, size * 2, &err) == 0 && blk_get_size(img) == size * 2, "grown to 16 MiB");
    ok(blk_resize(img, size / 2, &err) == -1 && err.code == ATOLL_E_OPERATION_NOT_ALLOWED,
       "shrinking over data is refused");
    diag("%s", err.detail ? err.detail : "");
    atoll_err_clear(&err);
    ok(blk_resize(img, size * 2 - 4096, &err) == 0, "shrinking over a hole is allowed");
    blk_close(img);

    ok(blk_open(path, BLK_FORMAT_RAW, 0, &img, &err) == 0, "reopened read-only");
    ok(blk_is_read_only(img), "image says read-only");
    is_int(blk_write(img, buf, 0, 512), -EROFS, "write on read-only is -EROFS");
    is_int(blk_discard(img, 0, 4096), -EROFS, "discard on read-only is -EROFS");
    ok(blk_resize(img, size, &err) == -1, "resize on read-only is refused");
    atoll_err_clear(&err);
    ok(blk_read(img, buf, 0, size) == 0 && memcmp(buf, ref, size) == 0,
       "data survives close and reopen");
    blk_close(img);

    /* a probed raw image must not be turned into a qcow2 header by a guest write */
    img = NULL;
    blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    is_int(img ? blk_write(img, "QFI\xfb", 0, 4) : 0, -EPERM,
           "probed raw: writing the qcow2 magic at offset 0 is -EPERM");
    is_int(img ? blk_write(img, "QF", 0, 2) : -1, 0, "probed raw: other bytes at 0 are fine");
    is_int(img ? blk_write(img, "I\xfb", 2, 2) : 0, -EPERM,
           "probed raw: completing the magic piecewise is -EPERM too");
    blk_close(img);
    img = NULL;
    blk_open(path, BLK_FORMAT_RAW, BLK_OPEN_RDWR, &img, &err);
    is_int(img ? blk_write(img, "QFI\xfb", 0, 4) : -1, 0,
           "explicit raw: the caller knows, the write is allowed");
    blk_write(img, ref, 0, 4);
    blk_close(img);
    img = NULL;

    ok(blk_open(bt_path("missing.raw"), BLK_FORMAT_AUTO, 0, &img, &err) == -1 &&
       err.code == ATOLL_E_INTERNAL_ERROR && err.sys_errno == ENOENT,
       "missing file: INTERNAL_ERROR with ENOENT");
    atoll_err_clear(&err);
    ok(blk_open(path, BLK_FORMAT_QCOW2, 0, &img, &err) == -1 &&
       err.code == ATOLL_E_INVALID_VALUE, "raw file opened as qcow2 is refused");
    atoll_err_clear(&err);
    struct blk_create_opts ob = {.format = BLK_FORMAT_RAW, .size = 1 << 20,
                                 .backing_file = "disk.raw"};
    ok(blk_create(bt_path("x.raw"), &ob, &err) == -1, "raw with a backing file is refused");
    atoll_err_clear(&err);
    free(ref);
    free(buf);
    return tap_done();
}

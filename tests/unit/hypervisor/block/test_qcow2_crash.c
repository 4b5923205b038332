/*
 * tests/unit/hypervisor/block/test_qcow2_crash.c - crash safety: a child process writes,
 * discards, flushes and grows a qcow2 image in a loop and is killed with SIGKILL at random
 * moments (20 kills over two images: 4 KiB clusters over a raw backing file, and 512-byte
 * clusters growing from 1 MiB so that L1 and refcount tables move). After every kill
 * `qemu-img check` must find no corruption (leaks allowed), and so must blk_check.
 * Debugging: CRASH_ONLY_B=1 runs image B only; CRASH_STOP=1 stops at the first corruption
 * and keeps a copy in /tmp/corrupt.qcow2.
 */
#include <signal.h>

#include "blktest.h"

#define KILLS_PER_IMAGE 10

static void child_loop(const char *path, uint64_t seed, int grow)
{
    bt_rng_state = seed;
    struct blk_image *img;
    if (blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, NULL) < 0)
        _exit(2);
    uint8_t *buf = atoll_malloc(131072);
    for (;;) {
        uint64_t size = blk_get_size(img), r = bt_below(100);
        int rc = 0;
        if (r < 70) {
            uint64_t len = 1 + bt_below(131072);
            if (len > size)
                len = size;
            bt_fill(buf, len, bt_rand());
            rc = blk_write(img, buf, bt_below(size - len + 1), len);
        } else if (r < 82) {
            uint64_t len = bt_below(262144);
            if (len > size)
                len = size;
            rc = blk_discard(img, bt_below(size - len + 1), len);
        } else if (r < 88) {
            rc = blk_flush(img);
        } else if (grow && r < 92 && size < (64 << 20)) {
            rc = blk_resize(img, size + 512 * (1 + bt_below(2048)), NULL);
        }
        if (rc < 0)
            _exit(3);
    }
}

static void crash_series(const char *name, const char *path, int grow)
{
    int have_qemu = bt_have("qemu-img");
    for (int i = 0; i < KILLS_PER_IMAGE; i++) {
        uint64_t seed = bt_rand();
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0)
            child_loop(path, seed, grow);
        usleep((useconds_t)(3000 + bt_below(60000)));
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        if (!ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "[%s] kill %d: writer was running",
                name, i + 1))
            diag("writer exited early with status %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        if (have_qemu) {
            char *out = NULL;
            int rc = bt_run(&out, "qemu-img check '%s'", path);
            if (!ok(rc == 0 || rc == 3, "[%s] kill %d: qemu-img check finds no corruption (%s)",
                    name, i + 1, rc == 0 ? "clean" : rc == 3 ? "leaks only" : "CORRUPT"))
            {
                diag("%.2000s", strstr(out, "ERROR") ? strstr(out, "ERROR") : out);
                if (getenv("CRASH_STOP")) {
                    bt_run(NULL, "cp '%s' /tmp/corrupt.qcow2", path);
                    exit(1);
                }
            }
            free(out);
        } else {
            bt_skip("qemu-img check after kill", "qemu-img not installed");
        }
        struct atoll_err err = ATOLL_ERR_INIT;
        struct blk_image *img = NULL;
        struct blk_check_result cr = {0};
        int repair = (i % 4) == 3;
        int r = blk_open(path, BLK_FORMAT_AUTO, repair ? BLK_OPEN_RDWR : 0, &img, &err);
        if (r == 0)
            r = blk_check(img, repair ? BLK_CHECK_REPAIR_LEAKS : 0, &cr, &err);
        uint8_t *all = r == 0 ? bt_read_image(img) : NULL;
        ok(r == 0 && cr.corruptions == 0 && all, "[%s] kill %d: blk_check no corruption, "
           "%llu leaks%s, whole disk readable", name, i + 1, (unsigned long long)cr.leaks,
           repair ? " repaired" : "");
        free(all);
        blk_close(img);
        if (repair)
            bt_qemu_check(path, "after repair: qemu-img check clean");
    }
}

int main(void)
{
    bt_init();
    struct atoll_err err = ATOLL_ERR_INIT;
    /* image A: 4 KiB clusters over a raw backing file (copy-on-write on every partial write) */
    struct blk_create_opts ob = {.format = BLK_FORMAT_RAW, .size = 32 << 20};
    blk_create(bt_path("base.raw"), &ob, &err);
    struct blk_image *b = NULL;
    blk_open(bt_path("base.raw"), BLK_FORMAT_RAW, BLK_OPEN_RDWR, &b, &err);
    uint8_t *fill = atoll_malloc(32 << 20);
    bt_fill(fill, 32 << 20, 5);
    blk_write(b, fill, 0, 32 << 20);
    blk_close(b);
    free(fill);
    if (getenv("CRASH_ONLY_B"))
        goto only_b;
    struct blk_create_opts oa = {.format = BLK_FORMAT_QCOW2, .cluster_size = 4096,
                                 .backing_file = "base.raw", .backing_format = BLK_FORMAT_RAW};
    ok(blk_create(bt_path("a.qcow2"), &oa, &err) == 0, "image A created (4 KiB clusters, "
       "raw backing)");
    crash_series("A", bt_path("a.qcow2"), 0);
only_b:;
    /* image B: 512-byte clusters, grows from 1 MiB: L1 and refcount table moves */
    struct blk_create_opts oc = {.format = BLK_FORMAT_QCOW2, .cluster_size = 512,
                                 .size = 1 << 20};
    ok(blk_create(bt_path("b.qcow2"), &oc, &err) == 0, "image B created (512-byte clusters)");
    crash_series("B", bt_path("b.qcow2"), 1);
    b = NULL;
    blk_open(bt_path("b.qcow2"), BLK_FORMAT_AUTO, 0, &b, &err);
    diag("image B grew to %llu bytes", b ? (unsigned long long)blk_get_size(b) : 0ULL);
    blk_close(b);
    return tap_done();
}

/*
 * tests/unit/hypervisor/block/test_qcow2_powercut.c - power-cut safety of the qcow2 write order.
 * Every pwrite, hole punch and fdatasync of a workload (allocating and in-place writes,
 * copy-on-write over a backing file, discards, write_zeroes, L1 and refcount table growth)
 * is recorded through the library's test observer. Then power cuts are simulated: all writes
 * before the last fdatasync persist, of the writes after it an arbitrary subset persists,
 * some of them torn at 512-byte sectors; the file grows only as far as persisted writes
 * reach. Each resulting file must pass qemu-img check (leaks allowed) and blk_check, and
 * read back without errors. POWERCUT_CUTS sets the cuts per workload (default 40).
 */
#include "blktest.h"
#include "block_int.h"

struct op {
    int sync;
    int fd;
    uint64_t off;
    size_t len;
    uint8_t *data; /* NULL: zeros */
};

static struct op *ops;
static size_t nops, cap;

static void push(struct op o)
{
    if (nops == cap)
        ops = atoll_realloc(ops, (cap = cap ? cap * 2 : 1024) * sizeof(*ops));
    ops[nops++] = o;
}

static void obs_write(void *opaque, int fd, const void *buf, size_t len, uint64_t off)
{
    uint8_t *copy = NULL;
    if (buf) {
        copy = atoll_malloc(len ? len : 1);
        memcpy(copy, buf, len);
    }
    push((struct op){0, fd, off, len, copy});
}

static void obs_sync(void *opaque, int fd)
{
    push((struct op){1, fd, 0, 0, NULL});
}

struct state {
    uint8_t *b;
    size_t len, cap;
};

static void st_apply(struct state *s, uint64_t off, const uint8_t *data, size_t len)
{
    if (off + len > s->cap) {
        s->cap = (off + len) * 2;
        s->b = atoll_realloc(s->b, s->cap);
    }
    if (off > s->len)
        memset(s->b + s->len, 0, off - s->len);
    if (data)
        memcpy(s->b + off, data, len);
    else
        memset(s->b + off, 0, len);
    if (off + len > s->len)
        s->len = off + len;
}

/* One persisted write: whole, or torn (a random subset of its 512-byte sectors). */
static void persist(struct state *s, const struct op *o, int torn)
{
    if (!torn || o->len <= 512) {
        st_apply(s, o->off, o->data, o->len);
        return;
    }
    uint64_t pos = o->off, end = o->off + o->len;
    while (pos < end) {
        uint64_t next = (pos / 512 + 1) * 512;
        if (next > end)
            next = end;
        if (bt_below(2))
            st_apply(s, pos, o->data ? o->data + (pos - o->off) : NULL, next - pos);
        pos = next;
    }
}

static void workload(struct blk_image *img, int grow)
{
    uint8_t buf[20000];
    for (int i = 0; i < 150; i++) {
        uint64_t size = blk_get_size(img), r = bt_below(100);
        uint64_t len = 1 + bt_below(sizeof(buf)), off = bt_below(size - len);
        if (r < 60) {
            bt_fill(buf, len, bt_rand());
            blk_write(img, buf, off, len);
        } else if (r < 72) {
            blk_discard(img, off, len);
        } else if (r < 80) {
            blk_write_zeroes(img, off, len);
        } else if (r < 90) {
            blk_flush(img);
        } else if (grow && size < (6 << 20)) {
            blk_resize(img, size + (256 << 10), NULL);
        }
    }
}

static void series(const char *name, const struct blk_create_opts *o, int grow, int cuts)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    const char *path = bt_path(name);
    if (!ok(blk_create(path, o, &err) == 0, "[%s] created", name)) {
        atoll_err_clear(&err);
        return;
    }
    struct state s0 = {0};
    {
        int fd = open(path, O_RDONLY);
        struct stat st;
        fstat(fd, &st);
        uint8_t *b = atoll_malloc((size_t)st.st_size);
        ssize_t n = pread(fd, b, (size_t)st.st_size, 0);
        close(fd);
        st_apply(&s0, 0, b, n > 0 ? (size_t)n : 0);
        free(b);
    }
    struct blk_image *img = NULL;
    blk_open(path, BLK_FORMAT_AUTO, BLK_OPEN_RDWR, &img, &err);
    struct blk_io_observer obs = {obs_write, obs_sync, NULL};
    nops = 0;
    blk_io_observer = &obs;
    if (img)
        workload(img, grow);
    blk_close(img);
    blk_io_observer = NULL;
    size_t syncs = 0;
    for (size_t i = 0; i < nops; i++)
        syncs += ops[i].sync;
    diag("[%s] recorded %zu writes and %zu syncs", name, nops - syncs, syncs);

    /* the full replay must reproduce the file: the recorder sees everything */
    struct state full = {0};
    st_apply(&full, 0, s0.b, s0.len);
    for (size_t i = 0; i < nops; i++) {
        if (!ops[i].sync)
            persist(&full, &ops[i], 0);
    }
    {
        int fd = open(path, O_RDONLY);
        uint8_t *b = atoll_malloc(full.len);
        ssize_t n = pread(fd, b, full.len, 0);
        close(fd);
        ok(n == (ssize_t)full.len && memcmp(b, full.b, full.len) == 0,
           "[%s] replaying every recorded write reproduces the image", name);
        free(b);
    }
    free(full.b);

    const char *cut = bt_path("cut.qcow2");
    int bad_qemu = 0, bad_ours = 0, have_qemu = bt_have("qemu-img");
    for (int c = 0; c < cuts; c++) {
        size_t k = c == cuts - 1 ? nops : (size_t)bt_below(nops + 1);
        size_t b = 0;
        for (size_t i = 0; i < k; i++) {
            if (ops[i].sync)
                b = i + 1; /* everything before index b is durable */
        }
        struct state s = {0};
        st_apply(&s, 0, s0.b, s0.len);
        for (size_t i = 0; i < k; i++) {
            if (ops[i].sync)
                continue;
            if (i < b)
                persist(&s, &ops[i], 0);
            else if (bt_below(2))
                persist(&s, &ops[i], bt_below(3) == 0);
        }
        bt_write_file(cut, s.b, s.len);
        free(s.b);
        if (have_qemu) {
            char *out = NULL;
            int rc = bt_run(&out, "qemu-img check '%s'", cut);
            if (rc != 0 && rc != 3) {
                bad_qemu++;
                diag("cut after op %zu of %zu (last sync %zu): qemu-img check %d:\n%.1500s",
                     k, nops, b, rc, out);
            }
            free(out);
        }
        struct blk_image *ci = NULL;
        struct blk_check_result cr = {0};
        uint8_t *all = NULL;
        if (blk_open(cut, BLK_FORMAT_AUTO, 0, &ci, &err) < 0 ||
            blk_check(ci, 0, &cr, &err) < 0 || cr.corruptions || !(all = bt_read_image(ci))) {
            bad_ours++;
            diag("cut after op %zu: %s, %llu corruptions", k, err.detail ? err.detail : "",
                 (unsigned long long)cr.corruptions);
        }
        atoll_err_clear(&err);
        free(all);
        blk_close(ci);
    }
    if (have_qemu)
        is_int(bad_qemu, 0, "[%s] %d simulated power cuts: qemu-img check finds no corruption",
               name, cuts);
    else
        bt_skip("qemu-img check after simulated power cuts", "qemu-img not installed");
    is_int(bad_ours, 0, "[%s] %d simulated power cuts: blk_check clean, disk readable", name,
           cuts);
    for (size_t i = 0; i < nops; i++)
        free(ops[i].data);
    free(s0.b);
}

int main(void)
{
    bt_init_in("/dev/shm");
    struct atoll_err err = ATOLL_ERR_INIT;
    int cuts = getenv("POWERCUT_CUTS") ? atoi(getenv("POWERCUT_CUTS")) : 40;
    struct blk_create_opts a = {.format = BLK_FORMAT_QCOW2, .size = 1 << 20, .cluster_size = 512};
    series("small-clusters.qcow2", &a, 1, cuts);
    uint8_t *base = atoll_malloc(4 << 20);
    bt_fill(base, 4 << 20, 11);
    bt_write_file(bt_path("base.raw"), base, 4 << 20);
    free(base);
    struct blk_create_opts b = {.format = BLK_FORMAT_QCOW2, .cluster_size = 4096,
                                .backing_file = "base.raw", .backing_format = BLK_FORMAT_RAW};
    series("over-backing.qcow2", &b, 0, cuts);
    atoll_err_clear(&err);
    free(ops);
    return tap_done();
}

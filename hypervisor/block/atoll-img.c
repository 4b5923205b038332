/*
 * hypervisor/block/atoll-img.c - atoll-img, a small qemu-img-like tool over libatoll-block:
 * create, info, check, resize, convert, rebase -u, map, plus write/discard/compare/bench
 * helpers that tests and operators use to poke at images.
 * Threads: one. Trust: arguments are parsed strictly.
 */
#define ATOLL_LOG_MODULE "atoll-img"
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atoll/block.h"
#include "atoll/log.h"
#include "atoll/util.h"

static const char usage[] =
    "usage: atoll-img create [-f raw|qcow2] [-c cluster_size] [-b backing [-F fmt]] [-2]\n"
    "                        FILE [SIZE]   (-2: qcow2 version 2)\n"
    "       atoll-img info [-f fmt] [-U] [--json] FILE\n"
    "       atoll-img check [-f fmt] [-U] [-r leaks] FILE   (exit 0 clean, 2 corrupt, 3 leaks)\n"
    "       atoll-img resize [-f fmt] FILE [+|-]SIZE\n"
    "       atoll-img write [-f fmt] [-P byte] FILE OFFSET LENGTH   (fill with a byte)\n"
    "       atoll-img discard [-f fmt] FILE OFFSET LENGTH\n"
    "       atoll-img compare [-f fmt] [-F fmt] FILE1 FILE2   (exit 0 same, 1 different)\n"
    "       atoll-img convert [-f fmt] [-O raw|qcow2] [-c cluster_size] [-2] SRC DST\n"
    "       atoll-img rebase -u [-f fmt] [-b backing [-F fmt]] FILE   (rename only; no -b: none)\n"
    "       atoll-img map [-f fmt] [-U] FILE   (runs: offset length data|zero|backing)\n"
    "       atoll-img bench [-f fmt] [-w] [-r] [-b bs] [-c count] [-t threads] [-S] FILE\n"
    "                 (sequential, or -r random, reads or -w writes of bs bytes; -S flush at end)\n"
    "SIZE accepts K, M, G, T suffixes (bytes without one). -U: read an image another process\n"
    "is using (locks ignored; what is read may be stale).\n";

static int fail(struct atoll_err *err)
{
    fprintf(stderr, "atoll-img: %s\n",
            err->detail ? err->detail : (err->nparams ? err->params[0] : "error"));
    atoll_err_clear(err);
    return 1;
}

static int parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    if (atoll_parse_u64(s, 10, &v) == 0) {
        *out = v;
        return 0;
    }
    return atoll_parse_size(s, 0, out);
}

/* -c: a cluster size that fits 32 bits (the format checks the rest); prints why not. */
static int parse_cluster(const char *s, uint32_t *out)
{
    uint64_t v;
    if (parse_size(s, &v) < 0 || v > UINT32_MAX) {
        fprintf(stderr, "atoll-img: bad cluster size '%s'\n", s);
        return -1;
    }
    *out = (uint32_t)v;
    return 0;
}

static int parse_fmt(const char *s, enum blk_format *out)
{
    int f = blk_format_from_name(s);
    if (f < 0) {
        fprintf(stderr, "atoll-img: unknown format '%s' (expected raw or qcow2)\n", s);
        return -1;
    }
    *out = (enum blk_format)f;
    return 0;
}

static int cmd_create(int argc, char **argv)
{
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2};
    int c;
    while ((c = getopt(argc, argv, "f:c:b:F:2")) != -1) {
        switch (c) {
        case 'f': if (parse_fmt(optarg, &o.format) < 0) return 1; break;
        case 'c': if (parse_cluster(optarg, &o.cluster_size) < 0) return 1; break;
        case 'b': o.backing_file = optarg; break;
        case 'F': if (parse_fmt(optarg, &o.backing_format) < 0) return 1; break;
        case '2': o.qcow2_version = 2; break;
        default: fputs(usage, stderr); return 1;
        }
    }
    if (optind >= argc || argc - optind > 2) {
        fputs(usage, stderr);
        return 1;
    }
    if (argc - optind == 2 && parse_size(argv[optind + 1], &o.size) < 0) {
        fprintf(stderr, "atoll-img: bad size '%s'\n", argv[optind + 1]);
        return 1;
    }
    struct atoll_err err = ATOLL_ERR_INIT;
    if (blk_create(argv[optind], &o, &err) < 0)
        return fail(&err);
    struct blk_image *img = NULL;
    uint64_t size = o.size;
    if (blk_open(argv[optind], o.format, BLK_OPEN_NO_BACKING, &img, &err) == 0)
        size = blk_get_size(img);
    blk_close(img);
    atoll_err_clear(&err);
    printf("Formatting '%s', fmt=%s size=%" PRIu64 "%s%s\n", argv[optind],
           blk_format_name(o.format), size, o.backing_file ? " backing_file=" : "",
           o.backing_file ? o.backing_file : "");
    return 0;
}

static int open_image(int argc, char **argv, const char *opts, unsigned flags,
                      struct blk_image **img, int *json, uint8_t *pattern, int *repair)
{
    enum blk_format f = BLK_FORMAT_AUTO;
    static const struct option lopts[] = {{"json", no_argument, NULL, 'j'}, {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, opts, lopts, NULL)) != -1) {
        switch (c) {
        case 'f': if (parse_fmt(optarg, &f) < 0) return -1; break;
        case 'j': if (json) *json = 1; break;
        case 'U': flags |= BLK_OPEN_SHARE; break;
        case 'P': {
            uint64_t v;
            if (atoll_parse_u64(optarg, 0, &v) < 0 || v > 255) {
                fprintf(stderr, "atoll-img: bad pattern byte '%s'\n", optarg);
                return -1;
            }
            *pattern = (uint8_t)v;
            break;
        }
        case 'r':
            if (strcmp(optarg, "leaks") != 0) {
                fprintf(stderr, "atoll-img: only '-r leaks' is supported\n");
                return -1;
            }
            *repair = 1;
            break;
        default: fputs(usage, stderr); return -1;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        return -1;
    }
    struct atoll_err err = ATOLL_ERR_INIT;
    if (repair && *repair)
        flags |= BLK_OPEN_RDWR;
    if (blk_open(argv[optind], f, flags, img, &err) < 0) {
        fail(&err);
        return -1;
    }
    optind++;
    return 0;
}

static void json_str(const char *k, const char *v, int comma)
{
    printf("    \"%s\": \"", k);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if ((unsigned char)*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    printf("\"%s\n", comma ? "," : "");
}

static int cmd_info(int argc, char **argv)
{
    struct blk_image *img;
    int json = 0;
    if (open_image(argc, argv, "f:U", BLK_OPEN_NO_BACKING, &img, &json, NULL, NULL) < 0)
        return 1;
    struct blk_info i;
    struct atoll_err err = ATOLL_ERR_INIT;
    if (blk_info(img, &i, &err) < 0) {
        blk_close(img);
        return fail(&err);
    }
    if (json) {
        printf("{\n");
        json_str("filename", i.path, 1);
        json_str("format", blk_format_name(i.format), 1);
        if (i.backing_file)
            json_str("backing-filename", i.backing_file, 1);
        if (i.backing_format)
            json_str("backing-filename-format", i.backing_format, 1);
        if (i.format == BLK_FORMAT_QCOW2)
            printf("    \"cluster-size\": %u,\n    \"qcow2-version\": %u,\n"
                   "    \"refcount-bits\": %u,\n", i.cluster_size, i.qcow2_version,
                   i.refcount_bits);
        printf("    \"actual-size\": %" PRIu64 ",\n    \"virtual-size\": %" PRIu64 "\n}\n",
               i.disk_size, i.virtual_size);
    } else {
        printf("image: %s\nfile format: %s\nvirtual size: %" PRIu64 " bytes\n"
               "disk size: %" PRIu64 " bytes\n", i.path, blk_format_name(i.format),
               i.virtual_size, i.disk_size);
        if (i.format == BLK_FORMAT_QCOW2)
            printf("cluster_size: %u\nqcow2 version: %u\nrefcount bits: %u\n"
                   "snapshots: %u\n%s%s", i.cluster_size, i.qcow2_version, i.refcount_bits,
                   i.nb_snapshots, i.dirty ? "dirty: yes\n" : "",
                   i.corrupt ? "corrupt: yes\n" : "");
        if (i.backing_file)
            printf("backing file: %s\n", i.backing_file);
        if (i.backing_format)
            printf("backing file format: %s\n", i.backing_format);
    }
    blk_close(img);
    return 0;
}

static int cmd_check(int argc, char **argv)
{
    struct blk_image *img;
    int repair = 0;
    if (open_image(argc, argv, "f:r:U", BLK_OPEN_NO_BACKING, &img, NULL, NULL, &repair) < 0)
        return 1;
    struct blk_check_result r;
    struct atoll_err err = ATOLL_ERR_INIT;
    int rc = blk_check(img, repair ? BLK_CHECK_REPAIR_LEAKS : 0, &r, &err);
    blk_close(img);
    if (rc < 0)
        return fail(&err);
    if (r.corruptions)
        printf("%" PRIu64 " errors were found on the image.\n", r.corruptions);
    if (r.leaks)
        printf("%" PRIu64 " leaked clusters were found on the image.\n", r.leaks);
    if (r.leaks_fixed)
        printf("%" PRIu64 " leaked clusters were repaired.\n", r.leaks_fixed);
    if (!r.corruptions && !r.leaks && !r.check_errors)
        printf("No errors were found on the image.\n");
    printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated, %" PRIu64 " compressed clusters\n"
           "Image end offset: %" PRIu64 "\n", r.allocated_clusters, r.total_clusters,
           r.total_clusters ? 100.0 * (double)r.allocated_clusters / (double)r.total_clusters
                            : 0.0, r.compressed_clusters, r.image_end_offset);
    if (r.corruptions || r.check_errors)
        return 2;
    return r.leaks > r.leaks_fixed ? 3 : 0;
}

static int cmd_resize(int argc, char **argv)
{
    struct blk_image *img;
    if (open_image(argc, argv, "f:", BLK_OPEN_RDWR, &img, NULL, NULL, NULL) < 0)
        return 1;
    if (optind != argc - 1) {
        blk_close(img);
        fputs(usage, stderr);
        return 1;
    }
    const char *s = argv[optind];
    int sign = (*s == '+') ? 1 : (*s == '-') ? -1 : 0;
    uint64_t v, cur = blk_get_size(img);
    if (parse_size(s + (sign != 0), &v) < 0 || (sign < 0 && v > cur)) {
        fprintf(stderr, "atoll-img: bad size '%s'\n", s);
        blk_close(img);
        return 1;
    }
    uint64_t size = sign > 0 ? cur + v : sign < 0 ? cur - v : v;
    struct atoll_err err = ATOLL_ERR_INIT;
    int rc = blk_resize(img, size, &err);
    blk_close(img);
    if (rc < 0)
        return fail(&err);
    printf("Image resized.\n");
    return 0;
}

static int get_range(int argc, char **argv, uint64_t *off, uint64_t *len)
{
    if (optind != argc - 2 || parse_size(argv[optind], off) < 0 ||
        parse_size(argv[optind + 1], len) < 0) {
        fputs(usage, stderr);
        return -1;
    }
    return 0;
}

static int cmd_write(int argc, char **argv, int discard)
{
    struct blk_image *img;
    uint8_t pattern = 0xcd;
    if (open_image(argc, argv, discard ? "f:" : "f:P:", BLK_OPEN_RDWR, &img, NULL, &pattern,
                   NULL) < 0)
        return 1;
    uint64_t off, len;
    if (get_range(argc, argv, &off, &len) < 0) {
        blk_close(img);
        return 1;
    }
    int r = 0;
    if (discard) {
        r = blk_discard(img, off, len);
    } else {
        size_t chunk = 1 << 20;
        ATOLL_AUTOFREE uint8_t *buf = atoll_malloc(chunk);
        memset(buf, pattern, chunk);
        for (uint64_t done = 0; done < len && r == 0; done += chunk) {
            size_t n = len - done < chunk ? (size_t)(len - done) : chunk;
            r = blk_write(img, buf, off + done, n);
        }
    }
    if (r == 0)
        r = blk_flush(img);
    blk_close(img);
    if (r < 0) {
        fprintf(stderr, "atoll-img: %s failed: %s\n", discard ? "discard" : "write",
                strerror(-r));
        return 1;
    }
    return 0;
}

static int cmd_compare(int argc, char **argv)
{
    enum blk_format f1 = BLK_FORMAT_AUTO, f2 = BLK_FORMAT_AUTO;
    int c;
    while ((c = getopt(argc, argv, "f:F:")) != -1) {
        if (c == 'f' && parse_fmt(optarg, &f1) == 0)
            continue;
        if (c == 'F' && parse_fmt(optarg, &f2) == 0)
            continue;
        fputs(usage, stderr);
        return 1;
    }
    if (optind != argc - 2) {
        fputs(usage, stderr);
        return 1;
    }
    struct blk_image *a = NULL, *b = NULL;
    struct atoll_err err = ATOLL_ERR_INIT;
    if (blk_open(argv[optind], f1, 0, &a, &err) < 0 ||
        blk_open(argv[optind + 1], f2, 0, &b, &err) < 0) {
        blk_close(a);
        return fail(&err);
    }
    uint64_t sa = blk_get_size(a), sb = blk_get_size(b), n = sa > sb ? sa : sb;
    size_t chunk = 1 << 20;
    ATOLL_AUTOFREE uint8_t *ba = atoll_malloc(chunk);
    ATOLL_AUTOFREE uint8_t *bb = atoll_malloc(chunk);
    int rc = 0;
    for (uint64_t off = 0; off < n && rc == 0; off += chunk) {
        size_t len = n - off < chunk ? (size_t)(n - off) : chunk;
        memset(ba, 0, len);
        memset(bb, 0, len);
        size_t la = off < sa ? (size_t)(sa - off < len ? sa - off : len) : 0;
        size_t lb = off < sb ? (size_t)(sb - off < len ? sb - off : len) : 0;
        int r = (la ? blk_read(a, ba, off, la) : 0);
        if (r == 0 && lb)
            r = blk_read(b, bb, off, lb);
        if (r < 0) {
            fprintf(stderr, "atoll-img: read failed: %s\n", strerror(-r));
            rc = 2;
        } else if (memcmp(ba, bb, len) != 0) {
            for (size_t i = 0; i < len; i++) {
                if (ba[i] != bb[i]) {
                    printf("Content mismatch at offset %" PRIu64 "!\n", off + i);
                    break;
                }
            }
            rc = 1;
        }
    }
    if (rc == 0)
        printf("Images are identical.\n");
    blk_close(a);
    blk_close(b);
    return rc;
}

static int cmd_convert(int argc, char **argv)
{
    enum blk_format f = BLK_FORMAT_AUTO;
    struct blk_create_opts o = {.format = BLK_FORMAT_QCOW2};
    int c;
    while ((c = getopt(argc, argv, "f:O:c:2")) != -1) {
        switch (c) {
        case 'f': if (parse_fmt(optarg, &f) < 0) return 1; break;
        case 'O': if (parse_fmt(optarg, &o.format) < 0) return 1; break;
        case 'c': if (parse_cluster(optarg, &o.cluster_size) < 0) return 1; break;
        case '2': o.qcow2_version = 2; break;
        default: fputs(usage, stderr); return 1;
        }
    }
    if (optind != argc - 2) {
        fputs(usage, stderr);
        return 1;
    }
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *src = NULL, *dst = NULL;
    if (blk_open(argv[optind], f, 0, &src, &err) < 0)
        return fail(&err);
    o.size = blk_get_size(src);
    int r = blk_create(argv[optind + 1], &o, &err);
    if (r == 0)
        r = blk_open(argv[optind + 1], o.format, BLK_OPEN_RDWR, &dst, &err);
    if (r == 0)
        r = blk_copy(src, dst, &err);
    blk_close(dst);
    blk_close(src);
    return r < 0 ? fail(&err) : 0;
}

static int cmd_rebase(int argc, char **argv)
{
    enum blk_format f = BLK_FORMAT_AUTO, bf = BLK_FORMAT_AUTO;
    const char *backing = NULL;
    int c, unsafe = 0;
    while ((c = getopt(argc, argv, "uf:b:F:")) != -1) {
        switch (c) {
        case 'u': unsafe = 1; break;
        case 'f': if (parse_fmt(optarg, &f) < 0) return 1; break;
        case 'F': if (parse_fmt(optarg, &bf) < 0) return 1; break;
        case 'b': backing = optarg; break;
        default: fputs(usage, stderr); return 1;
        }
    }
    if (!unsafe || optind != argc - 1) {
        fprintf(stderr, "atoll-img: only 'rebase -u' (rewrite the name, no data copy) is "
                "supported\n%s", usage);
        return 1;
    }
    struct blk_image *img;
    struct atoll_err err = ATOLL_ERR_INIT;
    if (blk_open(argv[optind], f, BLK_OPEN_RDWR | BLK_OPEN_NO_BACKING, &img, &err) < 0)
        return fail(&err);
    int r = blk_set_backing(img, backing, bf, &err);
    blk_close(img);
    return r < 0 ? fail(&err) : 0;
}

static int cmd_map(int argc, char **argv)
{
    struct blk_image *img;
    if (open_image(argc, argv, "f:U", 0, &img, NULL, NULL, NULL) < 0)
        return 1;
    static const char *const names[] = {"?", "data", "zero", "backing"};
    uint64_t size = blk_get_size(img), off = 0, start = 0;
    int prev = 0, r = 0;
    printf("%-16s %-16s %s\n", "Offset", "Length", "Kind");
    while (off < size) {
        int kind;
        uint64_t n;
        if ((r = blk_map(img, off, size - off, &kind, &n)) < 0)
            break;
        if (prev && kind != prev) {
            printf("%#-16" PRIx64 " %#-16" PRIx64 " %s\n", start, off - start, names[prev]);
            start = off;
        }
        prev = kind;
        off += n;
    }
    if (r == 0 && prev)
        printf("%#-16" PRIx64 " %#-16" PRIx64 " %s\n", start, off - start, names[prev]);
    blk_close(img);
    if (r < 0) {
        fprintf(stderr, "atoll-img: map failed: %s\n", strerror(-r));
        return 1;
    }
    return 0;
}

struct bench_job {
    struct blk_image *img;
    uint64_t bs, count, slots, seed;
    int wr, rnd, r;
};

static void *bench_thread(void *arg)
{
    struct bench_job *j = arg;
    uint8_t *buf = atoll_malloc(j->bs);
    memset(buf, 0x5a, j->bs);
    uint64_t x = j->seed | 1;
    for (uint64_t i = 0; i < j->count && j->r == 0; i++) {
        uint64_t slot = (j->seed * 7919 + i) % j->slots;
        if (j->rnd) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            slot = x % j->slots;
        }
        j->r = j->wr ? blk_write(j->img, buf, slot * j->bs, j->bs)
                     : blk_read(j->img, buf, slot * j->bs, j->bs);
    }
    free(buf);
    return NULL;
}

static int cmd_bench(int argc, char **argv)
{
    enum blk_format f = BLK_FORMAT_AUTO;
    int c, wr = 0, rnd = 0, sync_end = 0;
    uint64_t bs = 4096, count = 100000, threads = 1, v;
    while ((c = getopt(argc, argv, "f:wrb:c:St:")) != -1) {
        switch (c) {
        case 'f': if (parse_fmt(optarg, &f) < 0) return 1; break;
        case 'w': wr = 1; break;
        case 'r': rnd = 1; break;
        case 'S': sync_end = 1; break;
        case 'b':
            if (parse_size(optarg, &v) < 0 || v == 0 || v > (64u << 20)) {
                fprintf(stderr, "atoll-img: bad block size '%s'\n", optarg);
                return 1;
            }
            bs = v;
            break;
        case 'c':
            if (atoll_parse_u64(optarg, 10, &count) < 0 || count == 0) {
                fprintf(stderr, "atoll-img: bad count '%s'\n", optarg);
                return 1;
            }
            break;
        case 't':
            if (atoll_parse_u64(optarg, 10, &threads) < 0 || threads == 0 || threads > 64) {
                fprintf(stderr, "atoll-img: bad thread count '%s' (1..64)\n", optarg);
                return 1;
            }
            break;
        default: fputs(usage, stderr); return 1;
        }
    }
    if (optind != argc - 1) {
        fputs(usage, stderr);
        return 1;
    }
    struct blk_image *img;
    struct atoll_err err = ATOLL_ERR_INIT;
    if (blk_open(argv[optind], f, wr ? BLK_OPEN_RDWR : 0, &img, &err) < 0)
        return fail(&err);
    uint64_t slots = blk_get_size(img) / bs;
    if (slots == 0) {
        fprintf(stderr, "atoll-img: image smaller than one block\n");
        blk_close(img);
        return 1;
    }
    struct bench_job jobs[64];
    pthread_t th[64];
    uint64_t t0 = atoll_now_ns();
    for (uint64_t i = 0; i < threads; i++) {
        jobs[i] = (struct bench_job){img, bs, count / threads, slots, 88172645463325252ULL + i,
                                     wr, rnd, 0};
        pthread_create(&th[i], NULL, bench_thread, &jobs[i]);
    }
    int r = 0;
    for (uint64_t i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].r < 0)
            r = jobs[i].r;
    }
    if (r == 0 && sync_end)
        r = blk_flush(img);
    double secs = (double)(atoll_now_ns() - t0) / 1e9;
    blk_close(img);
    if (r < 0) {
        fprintf(stderr, "atoll-img: I/O failed: %s\n", strerror(-r));
        return 1;
    }
    uint64_t done = count / threads * threads;
    printf("%s %s %" PRIu64 " x %" PRIu64 " bytes, %" PRIu64 " threads: %.3f s, %.0f IOPS, "
           "%.1f MiB/s\n", rnd ? "random" : "sequential", wr ? "write" : "read", done, bs,
           threads, secs, (double)done / secs, (double)done * (double)bs / secs / 1048576.0);
    return 0;
}

int main(int argc, char **argv)
{
    atoll_log_init_from_env();
    if (argc < 2) {
        fputs(usage, stderr);
        return 1;
    }
    const char *cmd = argv[1];
    argc--;
    argv++;
    if (strcmp(cmd, "create") == 0)
        return cmd_create(argc, argv);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc, argv);
    if (strcmp(cmd, "check") == 0)
        return cmd_check(argc, argv);
    if (strcmp(cmd, "resize") == 0)
        return cmd_resize(argc, argv);
    if (strcmp(cmd, "write") == 0)
        return cmd_write(argc, argv, 0);
    if (strcmp(cmd, "discard") == 0)
        return cmd_write(argc, argv, 1);
    if (strcmp(cmd, "compare") == 0)
        return cmd_compare(argc, argv);
    if (strcmp(cmd, "convert") == 0)
        return cmd_convert(argc, argv);
    if (strcmp(cmd, "rebase") == 0)
        return cmd_rebase(argc, argv);
    if (strcmp(cmd, "map") == 0)
        return cmd_map(argc, argv);
    if (strcmp(cmd, "bench") == 0)
        return cmd_bench(argc, argv);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "atoll-img: unknown command '%s'\n%s", cmd, usage);
    return 1;
}

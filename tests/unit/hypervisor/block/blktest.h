/*
 * tests/unit/hypervisor/block/blktest.h - helpers shared by the libatoll-block tests: a
 * private temporary directory removed at exit, running qemu-img/qemu-io/atoll-img with
 * captured output, a seeded PRNG (ATOLL_TEST_SEED to replay) and buffer helpers.
 */
#ifndef ATOLL_BLKTEST_H
#define ATOLL_BLKTEST_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "atoll/block.h"
#include "atoll/util.h"
#include "tap.h"

static char bt_dir[64];
static uint64_t bt_rng_state;

static int bt_rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void bt_cleanup(void)
{
    if (getenv("ATOLL_TEST_KEEP"))
        fprintf(stderr, "keeping %s\n", bt_dir);
    else if (bt_dir[0])
        nftw(bt_dir, bt_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Creates the private directory under base (a tmpfs such as /dev/shm makes fdatasync free). */
static inline void bt_init_in(const char *base)
{
    struct stat st;
    if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode) || access(base, W_OK) < 0)
        base = "/tmp";
    snprintf(bt_dir, sizeof(bt_dir), "%s/atoll-blk-XXXXXX", base);
    if (!mkdtemp(bt_dir)) {
        printf("Bail out! mkdtemp failed\n");
        exit(1);
    }
    atexit(bt_cleanup);
    const char *seed = getenv("ATOLL_TEST_SEED");
    bt_rng_state = seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (!bt_rng_state)
        bt_rng_state = 1;
    diag("seed %llu (ATOLL_TEST_SEED to replay)", (unsigned long long)bt_rng_state);
}

/* Creates the private directory in /tmp and seeds the PRNG; call first in main. */
static inline void bt_init(void)
{
    bt_init_in("/tmp");
}

static inline uint64_t bt_rand(void)
{
    uint64_t x = bt_rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return bt_rng_state = x;
}

static inline uint64_t bt_below(uint64_t n) { return n ? bt_rand() % n : 0; }

/* Path inside the private directory (static buffer rotation: up to 8 live at once). */
static inline const char *bt_path(const char *name)
{
    static char bufs[8][160];
    static int i;
    char *b = bufs[i++ & 7];
    snprintf(b, sizeof(bufs[0]), "%s/%s", bt_dir, name);
    return b;
}

/* Fills buf with bytes derived from seed (distinct per call site). */
static inline void bt_fill(uint8_t *buf, size_t len, uint64_t seed)
{
    uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
}

static inline int bt_have(const char *prog)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
    return system(cmd) == 0;
}

/*
 * Runs a shell command (printf), captures stdout+stderr into *out (malloc'd, may be NULL)
 * and returns its exit status (-1 if it did not exit normally).
 */
__attribute__((format(printf, 2, 3))) static inline int bt_run(char **out, const char *fmt,
                                                               ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = atoll_strdup_vprintf(fmt, ap);
    va_end(ap);
    char *full = atoll_strdup_printf("( %s ) 2>&1", cmd);
    FILE *f = popen(full, "r");
    free(full);
    if (!f) {
        free(cmd);
        return -1;
    }
    size_t cap = 4096, len = 0;
    char *buf = atoll_malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 1024)
            buf = atoll_realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(f);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (rc != 0 && getenv("ATOLL_TEST_VERBOSE"))
        diag("'%s' exited %d: %s", cmd, rc, buf);
    free(cmd);
    if (out)
        *out = buf;
    else
        free(buf);
    return rc;
}

/* Extracts the integer after "key": in qemu-img's JSON output; -1 when absent. */
static inline long long bt_json_int(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    const char *p = json ? strstr(json, pat) : NULL;
    return p ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

/* Copies the string value of "key" in JSON into buf; "" when absent. */
static inline const char *bt_json_str(const char *json, const char *key, char *buf, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\": \"", key);
    const char *p = json ? strstr(json, pat) : NULL;
    buf[0] = 0;
    if (p) {
        p += strlen(pat);
        const char *e = strchr(p, '"');
        size_t l = e ? (size_t)(e - p) : 0;
        if (l >= n)
            l = n - 1;
        memcpy(buf, p, l);
        buf[l] = 0;
    }
    return buf;
}

/* Writes len bytes to a new file at path. 0 or -1. */
static inline int bt_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    int r = atoll_write_all(fd, data, len);
    close(fd);
    return r;
}

/* Reads the whole image through libatoll-block into a new buffer; NULL on error. */
static inline uint8_t *bt_read_image(struct blk_image *img)
{
    uint64_t size = blk_get_size(img);
    uint8_t *buf = atoll_malloc(size ? size : 1);
    if (size && blk_read(img, buf, 0, size) < 0) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* One skipped test point. */
static inline void bt_skip(const char *desc, const char *reason)
{
    printf("ok %d - %s # SKIP %s\n", ++tap_n, desc, reason);
    fflush(stdout);
}

/* qemu-img check of path: ok when exit status is 0 (clean); skipped without qemu-img. */
static inline void bt_qemu_check(const char *path, const char *what)
{
    if (!bt_have("qemu-img")) {
        bt_skip(what, "qemu-img not installed (Debian package qemu-utils)");
        return;
    }
    char *out = NULL;
    int rc = bt_run(&out, "qemu-img check '%s'", path);
    if (!ok(rc == 0, "%s", what))
        diag("qemu-img check exited %d:\n%.2000s", rc, out);
    free(out);
}

/* Offset of the first difference, or -1. */
static inline long long bt_first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (memcmp(a, b, n) == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (long long)i;
    }
    return -1;
}

#endif

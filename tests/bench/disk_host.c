/*
 * tests/bench/disk_host.c - the host-side ceiling for tests/bench/disk: one thread of
 * pread/pwrite on the image (what one atoll-vmm disk I/O thread does), sequential or
 * random, for a given time. Prints "ops=N seconds=S". Built by the disk script with cc.
 * usage: disk_host FILE seq|rand read|write BS SECONDS
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: disk_host FILE seq|rand read|write BS SECONDS\n");
        return 2;
    }
    int rnd = !strcmp(argv[2], "rand"), wr = !strcmp(argv[3], "write");
    long bs = strtol(argv[4], NULL, 10);
    double secs = strtod(argv[5], NULL);
    int fd = open(argv[1], wr ? O_RDWR : O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || bs <= 0 || st.st_size < bs) {
        perror(argv[1]);
        return 1;
    }
    char *buf = aligned_alloc(4096, (size_t)bs);
    memset(buf, 0x5a, (size_t)bs);
    uint64_t blocks = (uint64_t)st.st_size / (uint64_t)bs, next = 0, x = 0x2545F4914F6CDD1DULL;
    uint64_t ops = 0;
    double t0 = now(), t = t0;
    while (t - t0 < secs) {
        for (int i = 0; i < 256; i++) {
            uint64_t b;
            if (rnd) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b = x % blocks;
            } else {
                b = next++ % blocks;
            }
            ssize_t n = wr ? pwrite(fd, buf, (size_t)bs, (off_t)(b * (uint64_t)bs))
                           : pread(fd, buf, (size_t)bs, (off_t)(b * (uint64_t)bs));
            if (n != bs) {
                perror("io");
                return 1;
            }
            ops++;
        }
        t = now();
    }
    printf("ops=%llu seconds=%.3f\n", (unsigned long long)ops, t - t0);
    return 0;
}

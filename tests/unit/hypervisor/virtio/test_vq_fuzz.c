/*
 * tests/unit/hypervisor/virtio/test_vq_fuzz.c - deterministic random-mutation fuzzing of
 * the virtqueue parser (runs everywhere, no clang needed): builds plausible rings with
 * random chains, corrupts random fields and bytes, and feeds each image to fz_vq_run,
 * which aborts on any access outside guest RAM. Fixed seed: failures reproduce.
 */
#include "fuzz_vq_harness.h"
#include "tap.h"
#include "virtio/vq.h"

#define ROUNDS 300000
#define IMG (FZ_HDR + FZ_RAM0_SIZE + FZ_RAM1_SIZE)

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A guest address: mostly valid buffers, sometimes edges, sometimes junk. */
static uint64_t rnd_addr(void)
{
    switch (rnd() % 8) {
    case 0: return rnd();
    case 1: return FZ_RAM0_SIZE - (rnd() % 64);
    case 2: return FZ_RAM1_GPA + (rnd() % FZ_RAM1_SIZE);
    case 3: return FZ_RAM1_GPA + FZ_RAM1_SIZE - (rnd() % 64);
    default: return 0x4000 + (rnd() % 0x9000);
    }
}

static uint32_t rnd_len(void)
{
    switch (rnd() % 8) {
    case 0: return (uint32_t)rnd();
    case 1: return 0;
    case 2: return 16 * (uint32_t)(1 + rnd() % 8);
    default: return (uint32_t)(1 + rnd() % 4096);
    }
}

static uint8_t img[IMG];

static void build(void)
{
    memset(img, 0, sizeof(img));
    img[0] = (uint8_t)rnd();
    img[1] = (uint8_t)rnd();
    unsigned size = 1u << (img[0] % 9);
    uint64_t dg, ag, ug;
    uint64_t free_at = fz_layout(size, &dg, &ag, &ug);
    uint64_t tbl = (free_at + 15) & ~15ULL; /* an indirect table after the rings */
    uint8_t *ram = img + FZ_HDR;
    struct vq_desc *d = (struct vq_desc *)(ram + dg);
    for (unsigned i = 0; i < size; i++) {
        uint16_t fl = (uint16_t)(rnd() % 3 ? VQ_DESC_F_NEXT : 0);
        if (rnd() % 2)
            fl |= VQ_DESC_F_WRITE;
        if (rnd() % 10 == 0)
            fl |= VQ_DESC_F_INDIRECT;
        d[i] = (struct vq_desc){rnd_addr(), rnd_len(), fl,
                                (uint16_t)(rnd() % 4 ? (i + 1) % size : rnd())};
    }
    struct vq_desc *t = (struct vq_desc *)(ram + tbl);
    for (unsigned i = 0; i < 64; i++)
        t[i] = (struct vq_desc){rnd_addr(), rnd_len(), (uint16_t)(rnd() % 8),
                                (uint16_t)(rnd() % 4 ? i + 1 : rnd() % 70)};
    for (unsigned i = 0; i < size; i++)
        if (d[i].flags & VQ_DESC_F_INDIRECT && rnd() % 2) {
            d[i].addr = tbl + 16 * (rnd() % 8) + (rnd() % 8 == 0 ? rnd() % 16 : 0);
            d[i].len = 16 * (uint32_t)(rnd() % 64);
        }
    struct vq_avail *a = (struct vq_avail *)(ram + ag);
    unsigned n = (unsigned)(rnd() % (size + 2));
    a->idx = (uint16_t)(rnd() % 16 == 0 ? rnd() : n);
    for (unsigned i = 0; i < size + 1; i++)
        a->ring[i] = (uint16_t)(rnd() % 8 ? rnd() % size : rnd());
    /* then blind byte mutations over the rings and the table */
    unsigned flips = (unsigned)(rnd() % 16);
    for (unsigned i = 0; i < flips; i++)
        ram[rnd() % (tbl + 64 * 16)] = (uint8_t)rnd();
}

int main(void)
{
    struct fz_counts c = {0};
    for (unsigned i = 0; i < ROUNDS; i++) {
        build();
        fz_vq_run(img, sizeof(img), &c);
    }
    diag("%u inputs: %llu chains accepted, %llu rejected, %llu rings broken", ROUNDS,
         (unsigned long long)c.good, (unsigned long long)c.bad, (unsigned long long)c.broken);
    ok(1, "%u random rings parsed without touching memory outside guest RAM", ROUNDS);
    ok(c.good > 1000, "the generator reaches valid chains (%llu)", (unsigned long long)c.good);
    ok(c.bad > 1000, "the generator reaches rejected chains (%llu)", (unsigned long long)c.bad);
    ok(c.broken > 100, "the generator reaches broken rings (%llu)", (unsigned long long)c.broken);
    return tap_done();
}

/*
 * tests/guest/dirty.c - memory dirtying and verification (see dirty.h). Each pass writes all
 * 512 qwords of every page, so a page that a migration copied stale or torn fails verify.
 * Pure code; threads: one CPU at a time.
 */
#include "dirty.h"

#include "lib.h"

#define PAGE 4096u

uint64_t dirty_pattern(uint64_t addr, uint64_t gen)
{
    return addr ^ (gen * 0x9e3779b97f4a7c15ULL) ^ 0xa7011a7011a70110ULL;
}

void dirty_start(struct dirty *d, const struct mm_extent *ext, unsigned n)
{
    memset(d, 0, sizeof(*d));
    if (n > DIRTY_MAX_EXTENTS)
        n = DIRTY_MAX_EXTENTS;
    for (unsigned i = 0; i < n; i++) {
        d->ext[i] = ext[i];
        d->pages += ext[i].len / PAGE;
    }
    d->next = n;
    d->gen = 1;
}

/* Physical address of page index p. */
static uint64_t page_addr(const struct dirty *d, uint64_t p)
{
    for (unsigned i = 0; i < d->next; i++) {
        uint64_t n = d->ext[i].len / PAGE;
        if (p < n)
            return d->ext[i].start + p * PAGE;
        p -= n;
    }
    return 0;
}

static void fill(uint64_t addr, uint64_t gen)
{
    volatile uint64_t *q = (volatile uint64_t *)(uintptr_t)addr;
    uint64_t k = dirty_pattern(0, gen);

    for (unsigned i = 0; i < PAGE / 8; i++)
        q[i] = (addr + 8 * i) ^ k;
}

uint64_t dirty_step(struct dirty *d, uint64_t max_pages)
{
    uint64_t done = 0;

    if (!d->pages || !d->gen)
        return 0;
    while (done < max_pages) {
        /* walk one extent run at a time instead of searching per page */
        uint64_t p = d->cursor, base = 0;
        unsigned i = 0;
        for (; i < d->next; i++) {
            uint64_t n = d->ext[i].len / PAGE;
            if (p < base + n)
                break;
            base += n;
        }
        uint64_t run = d->ext[i].len / PAGE - (p - base);
        if (run > max_pages - done)
            run = max_pages - done;
        uint64_t a = d->ext[i].start + (p - base) * PAGE;
        for (uint64_t j = 0; j < run; j++)
            fill(a + j * PAGE, d->gen);
        done += run;
        d->cursor += run;
        if (d->cursor == d->pages) {
            d->cursor = 0;
            d->gen++;
        }
    }
    d->bytes += done * PAGE;
    return done;
}

uint64_t dirty_generations(const struct dirty *d)
{
    return d->gen ? d->gen - 1 : 0;
}

int64_t dirty_verify(const struct dirty *d, struct dirty_fault *fault)
{
    int64_t checked = 0;

    if (!d->gen)
        return 0;
    for (uint64_t p = 0; p < d->pages; p++) {
        uint64_t gen = p < d->cursor ? d->gen : d->gen - 1;
        if (gen == 0)
            break; /* first pass not there yet */
        uint64_t a = page_addr(d, p), k = dirty_pattern(0, gen);
        const volatile uint64_t *q = (const volatile uint64_t *)(uintptr_t)a;
        for (unsigned i = 0; i < PAGE / 8; i++) {
            uint64_t want = (a + 8 * i) ^ k, got = q[i];
            if (got != want) {
                fault->addr = a + 8 * i;
                fault->expected = want;
                fault->got = got;
                return -1;
            }
        }
        checked++;
    }
    return checked;
}

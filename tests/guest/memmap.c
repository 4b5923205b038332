/*
 * tests/guest/memmap.c - physical memory accounting and allocation over the boot memory map
 * (see memmap.h). Ranges are kept sorted and merged so that a VMM's overlapping or unsorted
 * entries cannot double-count RAM. Pure code; threads: the boot CPU only.
 */
#include "memmap.h"

#include "lib.h"

void mm_init(struct mm *m)
{
    memset(m, 0, sizeof(*m));
}

uint64_t mm_free_bytes(const struct mm *m)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < m->nr; i++)
        n += m->avail[i].len;
    return n;
}

/* Inserts [s, e) into the free list, merging with neighbours; returns the bytes newly added. */
static int insert(struct mm *m, uint64_t s, uint64_t e, uint64_t *added)
{
    uint64_t before = mm_free_bytes(m);
    unsigned i = 0;

    *added = 0;
    while (i < m->nr && m->avail[i].start + m->avail[i].len < s)
        i++;
    /* merge every range overlapping or touching [s, e) */
    unsigned j = i;
    while (j < m->nr && m->avail[j].start <= e) {
        uint64_t rs = m->avail[j].start, re = rs + m->avail[j].len;
        s = rs < s ? rs : s;
        e = re > e ? re : e;
        j++;
    }
    if (j == i) {
        if (m->nr == MM_MAX_RANGES)
            return -1;
        memmove(&m->avail[i + 1], &m->avail[i], (m->nr - i) * sizeof(m->avail[0]));
        m->nr++;
    } else if (j > i + 1) {
        memmove(&m->avail[i + 1], &m->avail[j], (m->nr - j) * sizeof(m->avail[0]));
        m->nr -= j - i - 1;
    }
    m->avail[i].start = s;
    m->avail[i].len = e - s;
    *added = mm_free_bytes(m) - before;
    return 0;
}

/* Removes [s, e) from the free list; returns the bytes that were free there. */
static uint64_t remove(struct mm *m, uint64_t s, uint64_t e)
{
    uint64_t removed = 0;

    for (unsigned i = 0; i < m->nr; i++) {
        uint64_t rs = m->avail[i].start, re = rs + m->avail[i].len;
        if (re <= s || rs >= e)
            continue;
        uint64_t cs = rs > s ? rs : s, ce = re < e ? re : e;
        removed += ce - cs;
        if (cs > rs && ce < re) {
            if (m->nr == MM_MAX_RANGES) {
                /* no room to split: drop the upper part too (never double-lends memory) */
                removed += re - ce;
                m->avail[i].len = cs - rs;
                continue;
            }
            memmove(&m->avail[i + 2], &m->avail[i + 1], (m->nr - i - 1) * sizeof(m->avail[0]));
            m->nr++;
            m->avail[i].len = cs - rs;
            m->avail[i + 1].start = ce;
            m->avail[i + 1].len = re - ce;
            i++;
        } else if (cs > rs) {
            m->avail[i].len = cs - rs;
        } else if (ce < re) {
            m->avail[i].start = ce;
            m->avail[i].len = re - ce;
        } else {
            memmove(&m->avail[i], &m->avail[i + 1], (m->nr - i - 1) * sizeof(m->avail[0]));
            m->nr--;
            i--;
        }
    }
    return removed;
}

int mm_add(struct mm *m, uint64_t addr, uint64_t size, uint32_t type)
{
    uint64_t added;

    if (type != MM_TYPE_RAM || size == 0 || addr + size < addr)
        return 0;
    uint64_t s = ALIGN_UP(addr, MM_PAGE), e = ALIGN_DOWN(addr + size, MM_PAGE);
    if (e <= s)
        return 0;
    if (insert(m, s, e, &added) < 0)
        return -1;
    m->total += added;
    if (e > m->top)
        m->top = e;
    return 0;
}

int mm_is_free(const struct mm *m, uint64_t start, uint64_t end)
{
    for (unsigned i = 0; i < m->nr; i++)
        if (m->avail[i].start <= start && end <= m->avail[i].start + m->avail[i].len)
            return 1;
    return 0;
}

uint64_t mm_reserve(struct mm *m, uint64_t start, uint64_t end)
{
    uint64_t n = remove(m, ALIGN_DOWN(start, MM_PAGE), ALIGN_UP(end, MM_PAGE));
    m->used += n;
    return n;
}

uint64_t mm_alloc(struct mm *m, uint64_t size, uint64_t align, uint64_t limit)
{
    size = ALIGN_UP(size, MM_PAGE);
    if (align < MM_PAGE)
        align = MM_PAGE;
    for (unsigned i = m->nr; i-- > 0;) {
        uint64_t rs = m->avail[i].start, re = rs + m->avail[i].len;
        if (limit && re > limit)
            re = limit;
        if (re < rs + size)
            continue;
        uint64_t a = ALIGN_DOWN(re - size, align);
        if (a < rs)
            continue;
        mm_reserve(m, a, a + size);
        return a;
    }
    return 0;
}

int mm_claim(struct mm *m, uint64_t bytes, struct mm_extent *ext, unsigned max, unsigned *n)
{
    uint64_t want = ALIGN_UP(bytes, MM_PAGE), left = want;
    unsigned k = 0;

    /* first see whether it fits, so that a refusal leaves ext[] and the lists untouched */
    for (unsigned i = 0; i < m->nr && left; i++, k++)
        left -= m->avail[i].len < left ? m->avail[i].len : left;
    if (left || k > max)
        return -1;
    left = want;
    for (unsigned i = 0; i < k; i++) {
        uint64_t take = m->avail[i].len < left ? m->avail[i].len : left;
        ext[i].start = m->avail[i].start;
        ext[i].len = take;
        left -= take;
    }
    for (unsigned i = 0; i < k; i++)
        m->claimed += remove(m, ext[i].start, ext[i].start + ext[i].len);
    *n = k;
    return 0;
}

void mm_unclaim(struct mm *m, const struct mm_extent *ext, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t added;
        if (insert(m, ext[i].start, ext[i].start + ext[i].len, &added) == 0)
            m->claimed -= added;
    }
}

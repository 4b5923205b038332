/*
 * hypervisor/virtio/balloon.c - virtio-balloon (see balloon.h): option parsing, the
 * device's I/O thread (inflate: every PFN bounds-checked, runs of pages punched out of the
 * guest-RAM memfd so host memory really falls; deflate: counted, the pages fault back in
 * zeroed when the guest touches them; stats: the driver's buffer is held and returned when
 * fresh numbers are wanted), config space and the control commands.
 * Threads: I/O thread for the queues; main loop for control; vCPUs for config space.
 * Trust: PFNs, chain lengths and stats entries are guest-controlled and bounded here.
 */
#define ATOLL_LOG_MODULE "virtio-balloon"
#include "balloon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "virtio_pci.h"

/* feature bits (virtio 1.x 5.5.3) */
#define VB_F_MUST_TELL_HOST 0
#define VB_F_STATS_VQ       1
#define VB_F_DEFLATE_ON_OOM 2
#define VB_CONFIG_SIZE      8 /* num_pages, actual */
#define Q_INFLATE 0
#define Q_DEFLATE 1
#define Q_STATS   2
#define PFN_BATCH 256         /* PFNs read from a chain at a time */
#define STATS_MAX 64          /* entries read from one stats buffer */
#define BUDGET    64          /* chains per queue before looking at the others */

struct vdev_balloon {
    struct vpci_dev t;
    const struct guestmem *mem;
    uint64_t ram_bytes;
    struct vdev_balloon_opts o;
    uint32_t num_pages; /* atomic */
    uint32_t actual;    /* atomic: written by the driver */
    /* I/O thread */
    pthread_t thread;
    bool running;
    int wakefd;
    int stop, stats_req; /* atomic */
    bool held;           /* a stats buffer is held (head below) */
    uint16_t held_head;
    struct vq_chain c;
    /* counters (atomic) */
    uint64_t inflated, deflated, discarded, bad_pfns, bad_chains, broken;
    /* stats (lock) */
    pthread_mutex_t lock;
    uint64_t stats_updates, stats_ns;
    bool have[VDEV_BALLOON_NSTATS];
    uint64_t stat[VDEV_BALLOON_NSTATS];
};

static const char *const stat_names[] = {
    "swap_in", "swap_out", "major_faults", "minor_faults", "free_memory", "total_memory",
    "available_memory", "disk_caches", "hugetlb_allocations", "hugetlb_failures",
};

static void st_add(uint64_t *c, uint64_t n) { __atomic_add_fetch(c, n, __ATOMIC_RELAXED); }

/* ---------------- options ---------------- */

int vdev_balloon_parse(const char *spec, struct vdev_balloon_opts *o, char *errbuf,
                       size_t errlen)
{
    *o = (struct vdev_balloon_opts){.enabled = true};
    if (!spec || !*spec)
        return 0;
    ATOLL_AUTOFREE char *copy = atoll_strdup(spec);
    for (char *item = copy, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (!strcmp(item, "on") || !strcmp(item, "off")) {
            o->enabled = item[1] == 'n';
            continue;
        }
        char *eq = strchr(item, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "balloon option item '%s': expected on, off or key=value",
                     item);
            return -1;
        }
        *eq = '\0';
        const char *key = item, *val = eq + 1;
        uint64_t n;
        if (!strcmp(key, "stats")) {
            if (atoll_parse_u64(val, 10, &n) < 0 || n > 3600) {
                snprintf(errbuf, errlen, "balloon stats '%s': expected seconds between stats "
                         "requests, 0 to 3600", val);
                return -1;
            }
            o->stats_interval = (uint32_t)n;
        } else if (!strcmp(key, "deflate_on_oom")) {
            if (strcmp(val, "on") && strcmp(val, "off")) {
                snprintf(errbuf, errlen, "balloon deflate_on_oom '%s': expected on or off", val);
                return -1;
            }
            o->deflate_on_oom = val[1] == 'n';
        } else {
            snprintf(errbuf, errlen, "unknown balloon option '%s': expected on, off, stats or "
                     "deflate_on_oom", key);
            return -1;
        }
    }
    return 0;
}

/* ---------------- PFNs ---------------- */

uint64_t vdev_balloon_pfn_runs(const struct guestmem *gm, const uint32_t *pfns, size_t n,
                               vdev_balloon_run_fn fn, void *ctx, uint64_t *bad)
{
    uint64_t good = 0, nbad = 0, run_gpa = 0, run_len = 0;
    uint8_t *run_host = NULL;
    for (size_t i = 0; i < n; i++) {
        uint64_t gpa = (uint64_t)pfns[i] * VDEV_BALLOON_PAGE;
        uint8_t *h = gmem_ptr(gm, gpa, VDEV_BALLOON_PAGE);
        if (!h) {
            nbad++;
            continue;
        }
        good++;
        if (run_len && gpa == run_gpa + run_len && h == run_host + run_len) {
            run_len += VDEV_BALLOON_PAGE;
            continue;
        }
        if (run_len && fn)
            fn(ctx, run_host, run_gpa, run_len);
        run_gpa = gpa;
        run_host = h;
        run_len = VDEV_BALLOON_PAGE;
    }
    if (run_len && fn)
        fn(ctx, run_host, run_gpa, run_len);
    if (bad)
        *bad = nbad;
    return good;
}

int vdev_balloon_discard(uint8_t *host, uint64_t len)
{
    /* shared memfd mapping: MADV_REMOVE frees the pages of the file (RSS and the memfd's
     * size in the page cache fall); anonymous memory (tests): MADV_DONTNEED */
    if (madvise(host, len, MADV_REMOVE) == 0)
        return 0;
    if (madvise(host, len, MADV_DONTNEED) == 0)
        return 0;
    return -errno;
}

static void discard_run(void *ctx, uint8_t *host, uint64_t gpa, uint64_t len)
{
    struct vdev_balloon *b = ctx;
    int rc = vdev_balloon_discard(host, len);
    if (rc == 0) {
        st_add(&b->discarded, len);
        return;
    }
    static unsigned logged;
    if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
        log_warn("cannot give back guest pages 0x%llx+0x%llx: %s", (unsigned long long)gpa,
                 (unsigned long long)len, strerror(-rc));
}

/* ---------------- I/O thread ---------------- */

static void ring_broken(struct vdev_balloon *b, const char *which)
{
    static unsigned logged;
    if (__atomic_fetch_add(&logged, 1, __ATOMIC_RELAXED) < 4)
        log_warn("corrupt %s ring: device needs a reset", which);
    st_add(&b->broken, 1);
    vpci_set_needs_reset(&b->t);
}

/* Inflate or deflate queue. Returns false if the ring broke. */
static bool pfn_queue(struct vdev_balloon *b, struct vq *vq, unsigned q)
{
    struct vq_chain *c = &b->c;
    bool pushed = false;
    for (int done = 0; done < BUDGET; done++) {
        int rc = vq_pop(vq, c);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            ring_broken(b, q == Q_INFLATE ? "inflate" : "deflate");
            return false;
        }
        if (rc < 0 || c->out_len % 4) {
            st_add(&b->bad_chains, 1);
        } else {
            uint32_t pfns[PFN_BATCH];
            for (uint64_t off = 0; off < c->out_len; off += sizeof(pfns)) {
                size_t got = vq_chain_read(c, off, pfns, sizeof(pfns)) / 4;
                uint64_t bad = 0;
                uint64_t ok = vdev_balloon_pfn_runs(b->mem, pfns, got,
                                                    q == Q_INFLATE ? discard_run : NULL, b,
                                                    &bad);
                st_add(q == Q_INFLATE ? &b->inflated : &b->deflated, ok);
                st_add(&b->bad_pfns, bad);
            }
        }
        vq_push(vq, c->head, 0);
        pushed = true;
    }
    if (pushed && vq_need_notify(vq))
        vpci_notify_queue(&b->t, q);
    return true;
}

/* Stats queue: takes the driver's buffer, records its entries and keeps it. */
static bool stats_queue(struct vdev_balloon *b, struct vq *vq)
{
    struct vq_chain *c = &b->c;
    for (int done = 0; done < BUDGET; done++) {
        int rc = vq_pop(vq, c);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            ring_broken(b, "stats");
            return false;
        }
        if (b->held) { /* the driver gave a second buffer: return the older one */
            vq_push(vq, b->held_head, 0);
            b->held = false;
        }
        if (rc < 0) {
            st_add(&b->bad_chains, 1);
            vq_push(vq, c->head, 0);
            continue;
        }
        uint8_t buf[STATS_MAX * 10];
        size_t len = vq_chain_read(c, 0, buf, sizeof(buf));
        pthread_mutex_lock(&b->lock);
        for (size_t off = 0; off + 10 <= len; off += 10) {
            uint16_t tag;
            uint64_t val;
            memcpy(&tag, buf + off, 2);
            memcpy(&val, buf + off + 2, 8);
            if (tag < VDEV_BALLOON_NSTATS) {
                b->have[tag] = true;
                b->stat[tag] = val;
            }
        }
        b->stats_updates++;
        b->stats_ns = atoll_now_ns();
        pthread_mutex_unlock(&b->lock);
        b->held = true;
        b->held_head = c->head;
    }
    if (vq_need_notify(vq))
        vpci_notify_queue(&b->t, Q_STATS);
    return true;
}

static void drain(int fd)
{
    uint64_t cnt;
    while (read(fd, &cnt, sizeof(cnt)) == sizeof(cnt)) {
    }
}

static void *balloon_thread(void *arg)
{
    struct vdev_balloon *b = arg;
    struct vq *vqs[3];
    int fds[3];
    bool ok[3];
    for (unsigned q = 0; q < 3; q++) {
        vqs[q] = vpci_vq(&b->t, q);
        fds[q] = vpci_kickfd(&b->t, q);
        ok[q] = vqs[q] != NULL;
    }
    uint64_t period = (uint64_t)b->o.stats_interval * 1000000000ULL;
    uint64_t next_stats = period ? atoll_now_ns() + period : 0;
    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
        if (ok[Q_INFLATE])
            ok[Q_INFLATE] = pfn_queue(b, vqs[Q_INFLATE], Q_INFLATE);
        if (ok[Q_DEFLATE])
            ok[Q_DEFLATE] = pfn_queue(b, vqs[Q_DEFLATE], Q_DEFLATE);
        if (ok[Q_STATS])
            ok[Q_STATS] = stats_queue(b, vqs[Q_STATS]);
        uint64_t now = atoll_now_ns();
        if (period && now >= next_stats) {
            __atomic_store_n(&b->stats_req, 1, __ATOMIC_RELEASE);
            next_stats = now + period;
        }
        if (ok[Q_STATS] && b->held && __atomic_exchange_n(&b->stats_req, 0, __ATOMIC_ACQ_REL)) {
            vq_push(vqs[Q_STATS], b->held_head, 0);
            b->held = false;
            vpci_notify_queue(&b->t, Q_STATS); /* the driver refills and posts it again */
        }
        struct pollfd pfd[4] = {
            {.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN},
            {.fd = fds[2], .events = POLLIN}, {.fd = b->wakefd, .events = POLLIN},
        };
        int timeout = period ? (int)((next_stats - now) / 1000000ULL) + 1 : -1;
        if (poll(pfd, 4, timeout) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 4; i++)
            if (pfd[i].revents & POLLIN)
                drain(pfd[i].fd);
    }
    return NULL;
}

static void wake(struct vdev_balloon *b)
{
    uint64_t one = 1;
    if (write(b->wakefd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_debug("cannot wake the balloon thread: %s", strerror(errno));
}

/* ---------------- transport callbacks (vCPU threads, transport lock held) ---------------- */

static void balloon_config_read(void *dev, uint32_t off, void *data, unsigned size)
{
    struct vdev_balloon *b = dev;
    uint32_t cfg[2] = {__atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE),
                       __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE)};
    memcpy(data, (uint8_t *)cfg + off, size);
}

static void balloon_config_write(void *dev, uint32_t off, const void *data, unsigned size)
{
    struct vdev_balloon *b = dev;
    if (off < 4 || off + size > 8) /* only "actual" is the driver's to write */
        return;
    uint32_t cur = __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE);
    memcpy((uint8_t *)&cur + (off - 4), data, size);
    __atomic_store_n(&b->actual, cur, __ATOMIC_RELEASE);
}

static int balloon_start(void *dev)
{
    struct vdev_balloon *b = dev;
    b->held = false;
    __atomic_store_n(&b->stop, 0, __ATOMIC_RELEASE);
    int rc = pthread_create(&b->thread, NULL, balloon_thread, b);
    if (rc) {
        log_error("cannot start the balloon's I/O thread: %s", strerror(rc));
        return -rc;
    }
    pthread_setname_np(b->thread, "virtio-balloon");
    b->running = true;
    return 0;
}

static void balloon_stop(void *dev)
{
    struct vdev_balloon *b = dev;
    if (b->running) {
        __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
        wake(b);
        pthread_join(b->thread, NULL);
        b->running = false;
        drain(b->wakefd);
    }
    b->held = false;
    /* a reset driver starts with an empty balloon (Linux's probe/remove do the same) */
    __atomic_store_n(&b->actual, 0, __ATOMIC_RELEASE);
}

static const struct vdev_ops balloon_ops = {
    .name = "virtio-balloon",
    .device_id = 5,
    .class_code = 0x050000, /* memory controller, RAM (QEMU uses 0x00ff00) */
    .config_size = VB_CONFIG_SIZE,
    .config_read = balloon_config_read,
    .config_write = balloon_config_write,
    .start = balloon_start,
    .stop = balloon_stop,
};

struct vdev_balloon *vdev_balloon_new(const struct vdev_balloon_opts *o,
                                      const struct guestmem *mem, uint64_t ram_bytes,
                                      char *errbuf, size_t errlen)
{
    struct vdev_balloon *b = atoll_calloc(1, sizeof(*b));
    b->o = *o;
    b->mem = mem;
    b->ram_bytes = ram_bytes;
    pthread_mutex_init(&b->lock, NULL);
    b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->wakefd < 0) {
        snprintf(errbuf, errlen, "balloon: eventfd: %s", strerror(errno));
        goto fail;
    }
    uint64_t features = 1ULL << VB_F_STATS_VQ;
    if (o->deflate_on_oom)
        features |= 1ULL << VB_F_DEFLATE_ON_OOM;
    int rc = vpci_init(&b->t, &balloon_ops, b, 3, VDEV_BALLOON_QUEUE_SIZE, features, mem);
    if (rc < 0) {
        snprintf(errbuf, errlen, "balloon: cannot create its PCI function: %s", strerror(-rc));
        goto fail;
    }
    return b;
fail:
    if (b->wakefd >= 0)
        close(b->wakefd);
    pthread_mutex_destroy(&b->lock);
    free(b);
    return NULL;
}

struct pci_dev *vdev_balloon_pci(struct vdev_balloon *b)
{
    return &b->t.pci;
}

void vdev_balloon_free(struct vdev_balloon *b)
{
    if (!b)
        return;
    vpci_fini(&b->t);
    close(b->wakefd);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

int vdev_balloon_set_target(struct vdev_balloon *b, uint64_t target_bytes, char *errbuf,
                            size_t errlen)
{
    if (target_bytes > b->ram_bytes) {
        snprintf(errbuf, errlen, "balloon target %llu MiB is more than the VM's memory "
                 "(%llu MiB)", (unsigned long long)(target_bytes >> 20),
                 (unsigned long long)(b->ram_bytes >> 20));
        return -1;
    }
    uint64_t pages = (b->ram_bytes - target_bytes) / VDEV_BALLOON_PAGE;
    if (pages > UINT32_MAX) { /* num_pages is 32 bits: 16 TiB - 4 KiB at most */
        snprintf(errbuf, errlen, "balloon target %llu MiB would take more than 2^32 pages out",
                 (unsigned long long)(target_bytes >> 20));
        return -1;
    }
    __atomic_store_n(&b->num_pages, (uint32_t)pages, __ATOMIC_RELEASE);
    uint8_t st = __atomic_load_n(&b->t.status, __ATOMIC_SEQ_CST);
    if (st & VIRTIO_S_DRIVER_OK)
        vpci_notify_config(&b->t);
    log_info("balloon target %llu MiB (%llu pages out)", (unsigned long long)(target_bytes >> 20),
             (unsigned long long)pages);
    return 0;
}

void vdev_balloon_request_stats(struct vdev_balloon *b)
{
    __atomic_store_n(&b->stats_req, 1, __ATOMIC_RELEASE);
    wake(b);
}

void vdev_balloon_get_info(struct vdev_balloon *b, struct vdev_balloon_info *out)
{
    memset(out, 0, sizeof(*out));
    out->ram_bytes = b->ram_bytes;
    out->num_pages = __atomic_load_n(&b->num_pages, __ATOMIC_ACQUIRE);
    out->actual_pages = __atomic_load_n(&b->actual, __ATOMIC_ACQUIRE);
    uint8_t st = __atomic_load_n(&b->t.status, __ATOMIC_SEQ_CST);
    out->driver_ok = (st & VIRTIO_S_DRIVER_OK) != 0;
    if (st & VIRTIO_S_FEATURES_OK) {
        out->stats_vq = (b->t.guest_features >> VB_F_STATS_VQ) & 1;
        out->deflate_on_oom = (b->t.guest_features >> VB_F_DEFLATE_ON_OOM) & 1;
    }
    out->inflated_pages = __atomic_load_n(&b->inflated, __ATOMIC_RELAXED);
    out->deflated_pages = __atomic_load_n(&b->deflated, __ATOMIC_RELAXED);
    out->discarded_bytes = __atomic_load_n(&b->discarded, __ATOMIC_RELAXED);
    out->bad_pfns = __atomic_load_n(&b->bad_pfns, __ATOMIC_RELAXED);
    out->bad_chains = __atomic_load_n(&b->bad_chains, __ATOMIC_RELAXED);
    out->broken_rings = __atomic_load_n(&b->broken, __ATOMIC_RELAXED);
    pthread_mutex_lock(&b->lock);
    out->stats_updates = b->stats_updates;
    out->stats_age_ms = b->stats_updates ? (atoll_now_ns() - b->stats_ns) / 1000000ULL
                                         : UINT64_MAX;
    memcpy(out->have, b->have, sizeof(out->have));
    memcpy(out->stat, b->stat, sizeof(out->stat));
    pthread_mutex_unlock(&b->lock);
}

/* ---------------- control commands (main-loop thread) ---------------- */

static void put(char *out, size_t outlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void put(char *out, size_t outlen, const char *fmt, ...)
{
    size_t len = strlen(out);
    if (len + 1 >= outlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + len, outlen - len, fmt, ap);
    va_end(ap);
}

/* "512" (MiB), "512M", "1G", "65536K", "536870912B" -> bytes */
static int parse_target(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    if (n > 1 && (s[n - 1] == 'B' || s[n - 1] == 'b')) {
        char num[32];
        if (n - 1 >= sizeof(num))
            return -1;
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        return atoll_parse_u64(num, 10, out);
    }
    return atoll_parse_size(s, 1, out);
}

int vdev_balloon_control(struct vdev_balloon *b, const char *cmd, const char *arg, char *out,
                         size_t outlen)
{
    if (strcmp(cmd, "balloon") && strcmp(cmd, "query-balloon"))
        return -1;
    if (!b) {
        snprintf(out, outlen, "ERR BAD_STATE this VM has no balloon (started with --balloon off)");
        return 0;
    }
    if (!strcmp(cmd, "balloon")) {
        uint64_t target;
        char msg[160];
        if (!arg || !*arg || parse_target(arg, &target) < 0) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT balloon target '%.40s' is invalid: expected "
                     "the guest's memory in MiB, or with a K, M, G or B suffix", arg ? arg : "");
            return 0;
        }
        if (vdev_balloon_set_target(b, target, msg, sizeof(msg)) < 0) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT %s", msg);
            return 0;
        }
        snprintf(out, outlen, "OK target_bytes=%llu num_pages=%llu",
                 (unsigned long long)target,
                 (unsigned long long)((b->ram_bytes - target) / VDEV_BALLOON_PAGE));
        return 0;
    }
    if (arg && *arg) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT query balloon takes no argument");
        return 0;
    }
    struct vdev_balloon_info in;
    vdev_balloon_get_info(b, &in);
    vdev_balloon_request_stats(b); /* the next query sees fresher numbers */
    snprintf(out, outlen, "OK target_bytes=%llu actual_bytes=%llu memory_bytes=%llu "
             "num_pages=%u actual_pages=%u driver=%s stats_vq=%s deflate_on_oom=%s "
             "inflated_pages=%llu deflated_pages=%llu discarded_bytes=%llu bad_pfns=%llu "
             "bad_chains=%llu broken_rings=%llu stats_updates=%llu",
             (unsigned long long)(in.ram_bytes - (uint64_t)in.num_pages * VDEV_BALLOON_PAGE),
             (unsigned long long)(in.ram_bytes - (uint64_t)in.actual_pages * VDEV_BALLOON_PAGE),
             (unsigned long long)in.ram_bytes, in.num_pages, in.actual_pages,
             in.driver_ok ? "on" : "off", in.stats_vq ? "on" : "off",
             in.deflate_on_oom ? "on" : "off", (unsigned long long)in.inflated_pages,
             (unsigned long long)in.deflated_pages, (unsigned long long)in.discarded_bytes,
             (unsigned long long)in.bad_pfns, (unsigned long long)in.bad_chains,
             (unsigned long long)in.broken_rings, (unsigned long long)in.stats_updates);
    if (in.stats_updates)
        put(out, outlen, " stats_age_ms=%llu", (unsigned long long)in.stats_age_ms);
    for (unsigned i = 0; i < VDEV_BALLOON_NSTATS; i++) {
        if (!in.have[i])
            continue;
        if (i < ATOLL_ARRAY_SIZE(stat_names))
            put(out, outlen, " stat_%s=%llu", stat_names[i], (unsigned long long)in.stat[i]);
        else
            put(out, outlen, " stat_tag%u=%llu", i, (unsigned long long)in.stat[i]);
    }
    return 0;
}

/*
 * hypervisor/virtio/blk.c - virtio-blk: request parsing and execution on libatoll-block,
 * one I/O thread per queue (one queue unless queues=N) that sleeps on the queue's kick
 * eventfd or, in polling mode, busy-polls the avail ring for an adaptive window first.
 * Threads: vCPU threads start/stop the I/O threads through vdev_ops (transport lock held);
 * only a queue's I/O thread touches that queue; libatoll-block serialises the image. Trust: headers, sectors and
 * lengths come from the guest and are bounded before use.
 */
#define ATOLL_LOG_MODULE "virtio-blk"
#include "blk.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "atoll/block.h"
#include "atoll/log.h"
#include "atoll/util.h"
#include "virtio_pci.h"

/* virtio-blk (virtio 1.x 5.2) */
#define VBLK_F_SIZE_MAX     1
#define VBLK_F_SEG_MAX      2
#define VBLK_F_RO           5
#define VBLK_F_BLK_SIZE     6
#define VBLK_F_FLUSH        9
#define VBLK_F_TOPOLOGY     10
#define VBLK_F_MQ           12
#define VBLK_F_DISCARD      13
#define VBLK_F_WRITE_ZEROES 14
enum { VBLK_T_IN = 0, VBLK_T_OUT = 1, VBLK_T_FLUSH = 4, VBLK_T_GET_ID = 8,
       VBLK_T_DISCARD = 11, VBLK_T_WRITE_ZEROES = 13 };
enum { VBLK_S_OK = 0, VBLK_S_IOERR = 1, VBLK_S_UNSUPP = 2 };
#define SECTOR 512ULL
#define VBLK_CONFIG_SIZE 60          /* up to write_zeroes_may_unmap + padding */
#define VBLK_MAX_DISCARD_SEGS 32
#define VBLK_MAX_DISCARD_SECTORS (1u << 22) /* 2 GiB per segment */
/* Largest read or write: Linux sends at most seg_max x 64 KiB; a bound keeps one hostile
 * request from occupying the I/O thread (and a device reset, which waits for it) for long. */
#define VBLK_MAX_IO_BYTES (256ULL << 20)

struct vblk_hdr {
    uint32_t type;
    uint32_t ioprio;
    uint64_t sector;
};
struct vblk_range {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
};

struct vdev_blk;

/* One request queue and the I/O thread that serves it. */
struct blk_queue {
    struct vdev_blk *b;
    unsigned idx;
    pthread_t thread;
    bool running;
    struct vq_chain chain;
};

struct vdev_blk {
    struct vpci_dev t;
    struct blk_image *img;
    uint64_t size; /* bytes, multiple of 512 after rounding down */
    bool readonly;
    char serial[VDEV_BLK_SERIAL_MAX];            /* as GET_ID returns it (no NUL) */
    char serial_str[VDEV_BLK_SERIAL_MAX + 1];
    uint8_t config[VBLK_CONFIG_SIZE];
    /* I/O threads */
    unsigned nq;
    struct blk_queue q[VDEV_BLK_MAX_QUEUES];
    int stopfd;
    int stop; /* atomic */
    bool poll;     /* atomic */
    uint32_t poll_us; /* atomic */
    uint8_t zeros[65536];
    struct vdev_blk_stats st;
};

static void st_add(uint64_t *c, uint64_t n) { __atomic_add_fetch(c, n, __ATOMIC_RELAXED); }

/* ---------------- options ---------------- */

static int on_off(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
        *out = true;
    else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
        *out = false;
    else
        return -1;
    return 0;
}

int vdev_blk_parse(const char *spec, struct vdev_blk_opts *o, char *errbuf, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->format, sizeof(o->format), "auto");
    o->poll_us = VDEV_BLK_POLL_US_DEF;
    o->queues = 1;
    if (!spec || !*spec) {
        snprintf(errbuf, errlen, "empty disk option: expected path=IMAGE[,readonly=on,...]");
        return -1;
    }
    ATOLL_AUTOFREE char *copy = atoll_strdup(spec);
    bool first = true;
    for (char *item = copy, *next; item; item = next) {
        next = strchr(item, ',');
        if (next)
            *next++ = '\0';
        if (!*item) {
            snprintf(errbuf, errlen, "disk option '%s': empty item", spec);
            return -1;
        }
        char *eq = strchr(item, '=');
        const char *key = item, *val;
        if (!eq) {
            if (!first) {
                snprintf(errbuf, errlen, "disk option '%s': expected key=value", item);
                return -1;
            }
            key = "path";
            val = item;
        } else {
            *eq = '\0';
            val = eq + 1;
        }
        first = false;
        if (!strcmp(key, "path") || !strcmp(key, "file")) {
            if (!*val || strlen(val) >= sizeof(o->path)) {
                snprintf(errbuf, errlen, "disk path '%s': expected 1 to %zu bytes", val,
                         sizeof(o->path) - 1);
                return -1;
            }
            snprintf(o->path, sizeof(o->path), "%s", val);
        } else if (!strcmp(key, "format")) {
            if (blk_format_from_name(val) < 0) {
                snprintf(errbuf, errlen, "disk format '%s': expected raw, qcow2 or auto", val);
                return -1;
            }
            snprintf(o->format, sizeof(o->format), "%s", val);
        } else if (!strcmp(key, "readonly") || !strcmp(key, "ro")) {
            if (on_off(val, &o->readonly) < 0) {
                snprintf(errbuf, errlen, "disk readonly='%s': expected on or off", val);
                return -1;
            }
        } else if (!strcmp(key, "poll")) {
            if (on_off(val, &o->poll) < 0) {
                snprintf(errbuf, errlen, "disk poll='%s': expected on or off", val);
                return -1;
            }
        } else if (!strcmp(key, "poll_us")) {
            uint64_t us;
            if (atoll_parse_u64(val, 10, &us) < 0 || us == 0 || us > VDEV_BLK_POLL_US_MAX) {
                snprintf(errbuf, errlen, "disk poll_us='%s': expected 1 to %u", val,
                         VDEV_BLK_POLL_US_MAX);
                return -1;
            }
            o->poll_us = (uint32_t)us;
        } else if (!strcmp(key, "queues")) {
            uint64_t nq;
            if (atoll_parse_u64(val, 10, &nq) < 0 || nq == 0 || nq > VDEV_BLK_MAX_QUEUES) {
                snprintf(errbuf, errlen, "disk queues='%s': expected 1 to %d", val,
                         VDEV_BLK_MAX_QUEUES);
                return -1;
            }
            o->queues = (uint32_t)nq;
        } else if (!strcmp(key, "serial")) {
            if (strlen(val) > VDEV_BLK_SERIAL_MAX) {
                snprintf(errbuf, errlen, "disk serial '%s': expected at most %d bytes", val,
                         VDEV_BLK_SERIAL_MAX);
                return -1;
            }
            snprintf(o->serial, sizeof(o->serial), "%s", val);
        } else {
            snprintf(errbuf, errlen,
                     "unknown disk option '%s': expected path, format, readonly, serial, "
                     "poll, poll_us or queues", key);
            return -1;
        }
    }
    if (!o->path[0]) {
        snprintf(errbuf, errlen, "disk option '%s' has no path=IMAGE", spec);
        return -1;
    }
    return 0;
}

/* ---------------- requests (I/O thread) ---------------- */

/*
 * Moves len bytes between the image at byte offset off and the chain, starting skip bytes
 * into its readable part (to_disk) or writable part. 0 or -errno.
 */
static int blk_xfer(struct vdev_blk *b, const struct vq_chain *c, bool to_disk, uint64_t skip,
                    uint64_t len, uint64_t off)
{
    unsigned first = to_disk ? 0 : c->nout, end = to_disk ? c->nout : c->nout + c->nin;
    for (unsigned i = first; i < end && len; i++) {
        uint64_t l = c->iov[i].iov_len;
        if (skip >= l) {
            skip -= l;
            continue;
        }
        uint64_t n = l - skip < len ? l - skip : len;
        char *p = (char *)c->iov[i].iov_base + skip;
        int rc = to_disk ? blk_write(b->img, p, off, n) : blk_read(b->img, p, off, n);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
        skip = 0;
    }
    return len ? -EINVAL : 0;
}

static bool range_ok(const struct vdev_blk *b, uint64_t sector, uint64_t len)
{
    uint64_t size = __atomic_load_n(&b->size, __ATOMIC_ACQUIRE); /* may grow: disk-resize */
    if (sector > size / SECTOR)
        return false;
    uint64_t off = sector * SECTOR;
    return len <= size - off;
}

/* DISCARD and WRITE_ZEROES: an array of ranges in the readable part after the header. */
static uint8_t blk_ranges(struct vdev_blk *b, const struct vq_chain *c, uint32_t type)
{
    uint64_t bytes = c->out_len - sizeof(struct vblk_hdr);
    if (bytes == 0 || bytes % sizeof(struct vblk_range) ||
        bytes / sizeof(struct vblk_range) > VBLK_MAX_DISCARD_SEGS)
        return VBLK_S_UNSUPP;
    if (b->readonly)
        return VBLK_S_IOERR;
    for (uint64_t i = 0; i < bytes / sizeof(struct vblk_range); i++) {
        struct vblk_range r;
        vq_chain_read(c, sizeof(struct vblk_hdr) + i * sizeof(r), &r, sizeof(r));
        uint64_t len = (uint64_t)r.num_sectors * SECTOR;
        if (r.num_sectors > VBLK_MAX_DISCARD_SECTORS || !range_ok(b, r.sector, len))
            return VBLK_S_IOERR;
        if (type == VBLK_T_DISCARD) {
            if (r.flags)
                return VBLK_S_UNSUPP;
            if (len && blk_discard(b->img, r.sector * SECTOR, len) < 0)
                return VBLK_S_IOERR;
        } else {
            if (r.flags & ~1u)
                return VBLK_S_UNSUPP;
            for (uint64_t done = 0; done < len;) {
                size_t n = len - done < sizeof(b->zeros) ? len - done : sizeof(b->zeros);
                if (blk_write(b->img, b->zeros, r.sector * SECTOR + done, n) < 0)
                    return VBLK_S_IOERR;
                done += n;
            }
        }
    }
    return VBLK_S_OK;
}

/* Executes one request; returns the bytes written into the writable part (used len). */
static uint32_t blk_request(struct vdev_blk *b, const struct vq_chain *c)
{
    struct vblk_hdr h;
    if (c->nin == 0 || c->out_len < sizeof(h) || c->in_len > UINT32_MAX) {
        st_add(&b->st.bad_chains, 1); /* nowhere to put a status, or no header */
        return 0;
    }
    vq_chain_read(c, 0, &h, sizeof(h));
    uint64_t din = c->in_len - 1;   /* writable bytes before the status byte */
    uint64_t dout = c->out_len - sizeof(h);
    uint8_t status = VBLK_S_OK;
    uint32_t used = 1;
    int rc;
    switch (h.type) {
    case VBLK_T_IN:
        if (din % SECTOR || din > VBLK_MAX_IO_BYTES || !range_ok(b, h.sector, din)) {
            status = VBLK_S_IOERR;
            break;
        }
        rc = blk_xfer(b, c, false, 0, din, h.sector * SECTOR);
        if (rc < 0) {
            status = VBLK_S_IOERR;
            break;
        }
        st_add(&b->st.reads, 1);
        st_add(&b->st.read_bytes, din);
        used = (uint32_t)(din + 1);
        break;
    case VBLK_T_OUT:
        if (b->readonly || dout % SECTOR || dout > VBLK_MAX_IO_BYTES ||
            !range_ok(b, h.sector, dout)) {
            status = VBLK_S_IOERR;
            break;
        }
        rc = blk_xfer(b, c, true, sizeof(h), dout, h.sector * SECTOR);
        if (rc < 0) {
            status = VBLK_S_IOERR;
            break;
        }
        st_add(&b->st.writes, 1);
        st_add(&b->st.write_bytes, dout);
        break;
    case VBLK_T_FLUSH:
        if (blk_flush(b->img) < 0)
            status = VBLK_S_IOERR;
        st_add(&b->st.flushes, 1);
        break;
    case VBLK_T_GET_ID: {
        uint64_t n = din < VDEV_BLK_SERIAL_MAX ? din : VDEV_BLK_SERIAL_MAX;
        vq_chain_write(c, 0, b->serial, n);
        used = (uint32_t)(n + 1);
        st_add(&b->st.get_ids, 1);
        break;
    }
    case VBLK_T_DISCARD:
    case VBLK_T_WRITE_ZEROES:
        status = blk_ranges(b, c, h.type);
        st_add(&b->st.discards, 1);
        break;
    default:
        status = VBLK_S_UNSUPP;
        st_add(&b->st.unsupported, 1);
        break;
    }
    if (status == VBLK_S_IOERR)
        st_add(&b->st.io_errors, 1);
    if (status != VBLK_S_OK)
        used = 1;
    /* status is the last byte of the writable part */
    vq_chain_write(c, c->in_len - 1, &status, 1);
    return used;
}

/* Interrupt decisions are made once per drained batch, but at least every this many
 * completions, so that a long batch of large requests does not hold back the first ones. */
#define BLK_NOTIFY_BATCH 32

static void blk_signal(struct blk_queue *q, struct vq *vq)
{
    if (vq_need_notify(vq)) {
        vpci_notify_queue(&q->b->t, q->idx);
        st_add(&q->b->st.irqs, 1);
    }
}

/*
 * Drains the avail ring of q. Used entries are published one by one (a polling driver sees
 * each at once); whether the driver wants an interrupt is decided once per batch (one
 * barrier). Returns requests handled, or -EIO if the queue broke.
 */
static int blk_process(struct blk_queue *q, struct vq *vq)
{
    struct vdev_blk *b = q->b;
    int n = 0;
    unsigned unsignalled = 0;
    for (;;) {
        int rc = vq_pop(vq, &q->chain);
        if (rc == 0)
            break;
        if (rc == -EIO) {
            /* guest-triggered: logged the first time and then every 1000th */
            uint64_t times = __atomic_add_fetch(&b->st.broken_rings, 1, __ATOMIC_RELAXED);
            if (times % 1000 == 1)
                log_warn("disk '%s': guest corrupted the virtqueue (%llu times); device needs "
                         "reset", blk_get_path(b->img), (unsigned long long)times);
            if (unsignalled) {
                /* the ring's suppression state is no longer trusted: an extra interrupt
                 * for the requests completed before the break is harmless */
                vpci_notify_queue(&b->t, q->idx);
                st_add(&b->st.irqs, 1);
            }
            vpci_set_needs_reset(&b->t);
            return -EIO;
        }
        uint32_t used = 0;
        if (rc == 1)
            used = blk_request(b, &q->chain);
        else
            st_add(&b->st.bad_chains, 1);
        vq_push(vq, q->chain.head, used);
        n++;
        if (++unsignalled >= BLK_NOTIFY_BATCH) {
            blk_signal(q, vq);
            unsignalled = 0;
        }
    }
    if (unsignalled)
        blk_signal(q, vq);
    return n;
}

static inline void cpu_relax(void)
{
    __builtin_ia32_pause();
}

static void *blk_thread(void *arg)
{
    struct blk_queue *q = arg;
    struct vdev_blk *b = q->b;
    struct vq *vq = vpci_vq(&b->t, q->idx);
    int kick = vpci_kickfd(&b->t, q->idx);
    uint64_t window_ns = 0; /* adaptive poll window, grows on hits, shrinks on misses */

    while (!__atomic_load_n(&b->stop, __ATOMIC_ACQUIRE)) {
        /* no kicks while the thread is awake anyway: each one is a VM exit */
        vq_kicks_disable(vq);
        if (blk_process(q, vq) < 0)
            break;
        if (__atomic_load_n(&b->poll, __ATOMIC_RELAXED)) {
            uint64_t max_ns = (uint64_t)__atomic_load_n(&b->poll_us, __ATOMIC_RELAXED) * 1000;
            if (window_ns == 0 || window_ns > max_ns)
                window_ns = max_ns;
            uint64_t deadline = atoll_now_ns() + window_ns;
            bool hit = false;
            unsigned spins = 0;
            while (!__atomic_load_n(&b->stop, __ATOMIC_RELAXED)) {
                if (vq_has_avail(vq)) {
                    int n = blk_process(q, vq);
                    if (n < 0)
                        goto out;
                    st_add(&b->st.polled, (uint64_t)n);
                    hit = true;
                    deadline = atoll_now_ns() + window_ns;
                    continue;
                }
                cpu_relax();
                if (++spins % 64 == 0 && atoll_now_ns() >= deadline)
                    break;
            }
            /* adapt: a window that found work grows back to the maximum, an idle one
             * halves, down to 1/16 of the maximum */
            window_ns = hit ? max_ns : (window_ns / 2 > max_ns / 16 ? window_ns / 2 : max_ns / 16);
        }
        if (vq_kicks_enable(vq))
            continue; /* buffers arrived while kicks were off */
        struct pollfd pfd[2] = {{.fd = kick, .events = POLLIN}, {.fd = b->stopfd, .events = POLLIN}};
        if (poll(pfd, 2, -1) < 0 && errno != EINTR)
            break;
        uint64_t cnt;
        if (read(kick, &cnt, sizeof(cnt)) == sizeof(cnt))
            st_add(&b->st.kicks, 1);
    }
out:
    return NULL;
}

/* ---------------- transport callbacks (vCPU threads, transport lock held) ---------------- */

static void blk_config_read(void *dev, uint32_t off, void *data, unsigned size)
{
    struct vdev_blk *b = dev;
    memcpy(data, b->config + off, size);
}

static void blk_stop(void *dev);

/* Starts one I/O thread per queue the driver enabled (a driver may use fewer than offered). */
static int blk_start(void *dev)
{
    struct vdev_blk *b = dev;
    __atomic_store_n(&b->stop, 0, __ATOMIC_RELEASE);
    for (unsigned i = 0; i < b->nq; i++) {
        struct blk_queue *q = &b->q[i];
        if (!vpci_vq(&b->t, i))
            continue;
        int rc = pthread_create(&q->thread, NULL, blk_thread, q);
        if (rc) {
            log_error("disk '%s': cannot start the I/O thread of queue %u: %s",
                      blk_get_path(b->img), i, strerror(rc));
            blk_stop(b);
            return -rc;
        }
        pthread_setname_np(q->thread, "virtio-blk");
        q->running = true;
    }
    return 0;
}

static void blk_stop(void *dev)
{
    struct vdev_blk *b = dev;
    bool any = false;
    for (unsigned i = 0; i < b->nq; i++)
        any |= b->q[i].running;
    if (!any)
        return;
    __atomic_store_n(&b->stop, 1, __ATOMIC_RELEASE);
    uint64_t one = 1;
    if (write(b->stopfd, &one, sizeof(one)) < 0)
        log_warn("disk '%s': cannot wake its I/O threads: %s", blk_get_path(b->img),
                 strerror(errno));
    for (unsigned i = 0; i < b->nq; i++) {
        if (b->q[i].running)
            pthread_join(b->q[i].thread, NULL);
        b->q[i].running = false;
    }
    uint64_t drain;
    while (read(b->stopfd, &drain, sizeof(drain)) > 0) {
    }
}

static const struct vdev_ops blk_ops = {
    .name = "virtio-blk",
    .device_id = 2,
    .class_code = 0x010000, /* mass storage, SCSI: what QEMU's virtio-blk-pci says */
    .config_size = VBLK_CONFIG_SIZE,
    .config_read = blk_config_read,
    .start = blk_start,
    .stop = blk_stop,
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

struct vdev_blk *vdev_blk_new(const struct vdev_blk_opts *o, const struct guestmem *mem,
                              char *errbuf, size_t errlen)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    struct blk_image *img = NULL;
    int fmt = blk_format_from_name(o->format[0] ? o->format : "auto");
    if (fmt < 0) {
        snprintf(errbuf, errlen, "disk format '%s': expected raw, qcow2 or auto", o->format);
        return NULL;
    }
    if (blk_open(o->path, (enum blk_format)fmt, o->readonly ? 0 : BLK_OPEN_RDWR, &img, &err) < 0) {
        snprintf(errbuf, errlen, "cannot open disk '%s': %s", o->path,
                 err.detail ? err.detail : "error");
        atoll_err_clear(&err);
        return NULL;
    }
    struct vdev_blk *b = atoll_calloc(1, sizeof(*b));
    b->img = img;
    b->readonly = o->readonly || blk_is_read_only(img);
    b->size = blk_get_size(img) & ~(SECTOR - 1);
    memcpy(b->serial, o->serial, strnlen(o->serial, VDEV_BLK_SERIAL_MAX));
    memcpy(b->serial_str, o->serial, strnlen(o->serial, VDEV_BLK_SERIAL_MAX));
    b->poll = o->poll;
    b->poll_us = o->poll_us ? o->poll_us : VDEV_BLK_POLL_US_DEF;
    b->nq = o->queues >= 1 && o->queues <= VDEV_BLK_MAX_QUEUES ? o->queues : 1;
    for (unsigned i = 0; i < b->nq; i++)
        b->q[i] = (struct blk_queue){.b = b, .idx = i};
    b->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (b->stopfd < 0) {
        snprintf(errbuf, errlen, "disk '%s': eventfd: %s", o->path, strerror(errno));
        blk_close(img);
        free(b);
        return NULL;
    }
    /* config space (little-endian host) */
    uint32_t discard_align = 8; /* 4 KiB */
    struct blk_info info;
    if (blk_info(img, &info, NULL) == 0 && info.cluster_size >= SECTOR)
        discard_align = info.cluster_size / SECTOR;
    uint64_t cap = b->size / SECTOR;
    memcpy(b->config + 0, &cap, 8);
    put32(b->config + 12, VQ_MAX_SEGS - 2);          /* seg_max */
    put32(b->config + 20, 512);                      /* blk_size */
    put32(b->config + 36, VBLK_MAX_DISCARD_SECTORS); /* max_discard_sectors */
    put32(b->config + 40, VBLK_MAX_DISCARD_SEGS);    /* max_discard_seg */
    put32(b->config + 44, discard_align);            /* discard_sector_alignment */
    put32(b->config + 48, VBLK_MAX_DISCARD_SECTORS); /* max_write_zeroes_sectors */
    put32(b->config + 52, VBLK_MAX_DISCARD_SEGS);    /* max_write_zeroes_seg */
    uint16_t nq16 = (uint16_t)b->nq;
    memcpy(b->config + 34, &nq16, 2);                /* num_queues */
    uint64_t features = (1ULL << VBLK_F_SEG_MAX) | (1ULL << VBLK_F_BLK_SIZE) |
                        (1ULL << VBLK_F_FLUSH);
    if (b->readonly)
        features |= 1ULL << VBLK_F_RO;
    else
        features |= (1ULL << VBLK_F_DISCARD) | (1ULL << VBLK_F_WRITE_ZEROES);
    if (b->nq > 1)
        features |= 1ULL << VBLK_F_MQ;
    int rc = vpci_init(&b->t, &blk_ops, b, b->nq, VDEV_BLK_QUEUE_SIZE, features, mem);
    if (rc < 0) {
        snprintf(errbuf, errlen, "disk '%s': cannot create its PCI function: %s", o->path,
                 strerror(-rc));
        close(b->stopfd);
        blk_close(img);
        free(b);
        return NULL;
    }
    log_info("disk '%s': %llu sectors, %u queue(s)%s%s, serial '%s'", o->path,
             (unsigned long long)cap, b->nq, b->readonly ? ", read-only" : "",
             b->poll ? ", polling" : "", o->serial);
    return b;
}

struct pci_dev *vdev_blk_pci(struct vdev_blk *b)
{
    return &b->t.pci;
}

void vdev_blk_free(struct vdev_blk *b)
{
    if (!b)
        return;
    vpci_fini(&b->t); /* stops the I/O threads */
    close(b->stopfd);
    blk_close(b->img);
    free(b);
}

void vdev_blk_set_poll(struct vdev_blk *b, bool on, uint32_t poll_us)
{
    if (poll_us && poll_us <= VDEV_BLK_POLL_US_MAX)
        __atomic_store_n(&b->poll_us, poll_us, __ATOMIC_RELAXED);
    __atomic_store_n(&b->poll, on, __ATOMIC_RELAXED);
    uint64_t one = 1;
    /* wake the threads so that they re-read the mode (they re-check and sleep again) */
    for (unsigned i = 0; i < b->nq; i++)
        if (write(vpci_kickfd(&b->t, i), &one, sizeof(one)) < 0) {
        }
}

int vdev_blk_resize(struct vdev_blk *b, uint64_t new_size, char *errbuf, size_t errlen)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    uint64_t old = __atomic_load_n(&b->size, __ATOMIC_ACQUIRE);
    if (b->readonly) {
        snprintf(errbuf, errlen, "disk '%s' is read-only: it cannot be resized",
                 blk_get_path(b->img));
        return -1;
    }
    if (new_size % SECTOR || new_size < old) {
        snprintf(errbuf, errlen, "new size %llu of disk '%s' is invalid: expected a multiple "
                 "of 512 bytes, at least the current %llu", (unsigned long long)new_size,
                 blk_get_path(b->img), (unsigned long long)old);
        return -1;
    }
    if (new_size == old)
        return 0;
    if (blk_resize(b->img, new_size, &err) < 0) {
        snprintf(errbuf, errlen, "cannot resize disk '%s': %s", blk_get_path(b->img),
                 err.detail ? err.detail : "error");
        atoll_err_clear(&err);
        return -1;
    }
    /* the image is bigger first, then the device says so: capacity (read by vCPUs under
     * the transport lock, 8 bytes at once) and a config-change interrupt that bumps
     * config_generation, so a driver that read it meanwhile reads again */
    uint64_t cap = new_size / SECTOR;
    vpci_lock(&b->t);
    memcpy(b->config, &cap, sizeof(cap));
    vpci_unlock(&b->t);
    __atomic_store_n(&b->size, new_size, __ATOMIC_RELEASE);
    vpci_notify_config(&b->t);
    log_info("disk '%s' resized to %llu sectors", blk_get_path(b->img), (unsigned long long)cap);
    return 0;
}

void vdev_blk_get_info(struct vdev_blk *b, struct vdev_blk_info *out)
{
    *out = (struct vdev_blk_info){
        .path = blk_get_path(b->img),
        .format = blk_format_name(blk_get_format(b->img)),
        .serial = b->serial_str,
        .sectors = __atomic_load_n(&b->size, __ATOMIC_ACQUIRE) / SECTOR,
        .readonly = b->readonly,
        .poll = __atomic_load_n(&b->poll, __ATOMIC_RELAXED),
        .poll_us = __atomic_load_n(&b->poll_us, __ATOMIC_RELAXED),
        .queues = b->nq,
    };
}

void vdev_blk_get_stats(struct vdev_blk *b, struct vdev_blk_stats *out)
{
    uint64_t *dst = (uint64_t *)out, *src = (uint64_t *)&b->st;
    for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
        dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

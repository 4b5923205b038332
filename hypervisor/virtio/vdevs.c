/*
 * hypervisor/virtio/vdevs.c - glue between KVM and the PCI/virtio devices: implements the
 * pci_host_ops callbacks with KVM ioctls (GSI routing table with the default irqchip routes
 * plus one MSI route per used vector, irqfd, ioeventfd, IRQ line), owns the device list.
 * Threads: the routing table is shared by every device's I/O thread (gsi_lock).
 * Trust: MSI address/data come from the guest's MSI-X tables; KVM validates them.
 */
#define ATOLL_LOG_MODULE "vdevs"
#include "vdevs.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "blk.h"
#include "net.h" /* virtio-net */
#include "balloon.h" /* balloon: */
#include "vsock.h"   /* vsock: */
#include "pci.h"

#define VDEVS_IRQCHIP_GSIS 24  /* IOAPIC pins; PIC on 0..15 */
#define VDEVS_MAX_MSI 256

struct vdevs {
    int vm_fd;
    struct guestmem gm;
    struct pci_bus *bus;
    pthread_mutex_t gsi_lock;
    bool msi_used[VDEVS_MAX_MSI];
    uint64_t msi_addr[VDEVS_MAX_MSI];
    uint32_t msi_data[VDEVS_MAX_MSI];
    unsigned ndisks;
    struct vdev_blk *disks[VDEVS_MAX_DISKS];
    unsigned nnics; /* virtio-net */
    struct vdev_net *nics[VDEVS_MAX_NICS];
    struct vdev_balloon *balloon; /* balloon: NULL with --balloon off */
    struct vdev_vsock *vsock;     /* vsock: NULL without --vsock */
};

/* Rebuilds and installs the whole routing table (KVM replaces it). gsi_lock held. */
static int set_routing(struct vdevs *v)
{
    size_t max = 2 * 16 + (VDEVS_IRQCHIP_GSIS - 16) + VDEVS_MAX_MSI;
    struct kvm_irq_routing *r =
        atoll_calloc(1, sizeof(*r) + max * sizeof(struct kvm_irq_routing_entry));
    unsigned n = 0;
    /* the kernel's default routes: PIC (master 0-7, slave 8-15) and IOAPIC (0-23) */
    for (uint32_t g = 0; g < VDEVS_IRQCHIP_GSIS; g++) {
        if (g < 16) {
            r->entries[n].gsi = g;
            r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
            r->entries[n].u.irqchip.irqchip = g < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
            r->entries[n].u.irqchip.pin = g % 8;
            n++;
        }
        r->entries[n].gsi = g;
        r->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
        r->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
        r->entries[n].u.irqchip.pin = g;
        n++;
    }
    for (unsigned i = 0; i < VDEVS_MAX_MSI; i++) {
        if (!v->msi_used[i])
            continue;
        r->entries[n].gsi = VDEVS_IRQCHIP_GSIS + i;
        r->entries[n].type = KVM_IRQ_ROUTING_MSI;
        r->entries[n].u.msi.address_lo = (uint32_t)v->msi_addr[i];
        r->entries[n].u.msi.address_hi = (uint32_t)(v->msi_addr[i] >> 32);
        r->entries[n].u.msi.data = v->msi_data[i];
        n++;
    }
    r->nr = n;
    int rc = ioctl(v->vm_fd, KVM_SET_GSI_ROUTING, r) < 0 ? -errno : 0;
    free(r);
    return rc;
}

static int kvm_msi_route(void *opaque, int efd, uint32_t *gsi, uint64_t addr, uint32_t data)
{
    struct vdevs *v = opaque;
    if (v->vm_fd < 0)
        return -ENODEV;
    pthread_mutex_lock(&v->gsi_lock);
    bool fresh = *gsi == PCI_NO_GSI;
    unsigned i = 0;
    if (fresh) {
        while (i < VDEVS_MAX_MSI && v->msi_used[i])
            i++;
        if (i == VDEVS_MAX_MSI) {
            pthread_mutex_unlock(&v->gsi_lock);
            return -ENOSPC;
        }
    } else {
        i = *gsi - VDEVS_IRQCHIP_GSIS;
        if (*gsi < VDEVS_IRQCHIP_GSIS || i >= VDEVS_MAX_MSI) {
            pthread_mutex_unlock(&v->gsi_lock);
            return -EINVAL;
        }
    }
    v->msi_used[i] = true;
    v->msi_addr[i] = addr;
    v->msi_data[i] = data;
    int rc = set_routing(v);
    if (rc == 0 && fresh) {
        struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = VDEVS_IRQCHIP_GSIS + i};
        if (ioctl(v->vm_fd, KVM_IRQFD, &irqfd) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        if (fresh) {
            v->msi_used[i] = false;
            set_routing(v);
        }
        static unsigned warned; /* guest-triggered (MSI-X table contents): a few lines */
        if (__atomic_fetch_add(&warned, 1, __ATOMIC_RELAXED) < 4)
            log_warn("MSI route for 0x%llx/0x%x failed: %s", (unsigned long long)addr, data,
                     strerror(-rc));
    } else if (fresh) {
        *gsi = VDEVS_IRQCHIP_GSIS + i;
    }
    pthread_mutex_unlock(&v->gsi_lock);
    return rc;
}

static void kvm_msi_unroute(void *opaque, int efd, uint32_t gsi)
{
    struct vdevs *v = opaque;
    if (v->vm_fd < 0 || gsi < VDEVS_IRQCHIP_GSIS || gsi - VDEVS_IRQCHIP_GSIS >= VDEVS_MAX_MSI)
        return;
    pthread_mutex_lock(&v->gsi_lock);
    struct kvm_irqfd irqfd = {.fd = (uint32_t)efd, .gsi = gsi, .flags = KVM_IRQFD_FLAG_DEASSIGN};
    ioctl(v->vm_fd, KVM_IRQFD, &irqfd);
    v->msi_used[gsi - VDEVS_IRQCHIP_GSIS] = false;
    set_routing(v);
    pthread_mutex_unlock(&v->gsi_lock);
}

static int kvm_msi_send(void *opaque, uint64_t addr, uint32_t data)
{
    struct vdevs *v = opaque;
    if (v->vm_fd < 0)
        return -ENODEV;
    struct kvm_msi msi = {.address_lo = (uint32_t)addr, .address_hi = (uint32_t)(addr >> 32),
                          .data = data};
    return ioctl(v->vm_fd, KVM_SIGNAL_MSI, &msi) < 0 ? -errno : 0;
}

static int kvm_ioeventfd(void *opaque, int efd, uint64_t gpa, uint32_t len, bool assign)
{
    struct vdevs *v = opaque;
    if (v->vm_fd < 0)
        return -ENODEV;
    struct kvm_ioeventfd io = {.addr = gpa, .len = len, .fd = efd,
                               .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN};
    if (ioctl(v->vm_fd, KVM_IOEVENTFD, &io) < 0) {
        int e = errno;
        static unsigned warned; /* BAR moves are guest-triggered: a few lines at most */
        if (__atomic_fetch_add(&warned, 1, __ATOMIC_RELAXED) < 4)
            log_warn("ioeventfd at 0x%llx: %s (notifications go through MMIO exits)",
                 (unsigned long long)gpa, strerror(e));
        return -e;
    }
    return 0;
}

static void kvm_intx_set(void *opaque, uint32_t gsi, int level)
{
    struct vdevs *v = opaque;
    if (v->vm_fd < 0)
        return;
    struct kvm_irq_level irq = {.irq = gsi, .level = (uint32_t)level};
    ioctl(v->vm_fd, KVM_IRQ_LINE, &irq);
}

struct vdevs *vdevs_new(int vm_fd, const struct guestmem *gm, uint64_t mmio_base,
                        uint64_t mmio_size, char *errbuf, size_t errlen)
{
    struct vdevs *v = atoll_calloc(1, sizeof(*v));
    v->vm_fd = vm_fd;
    v->gm = *gm;
    pthread_mutex_init(&v->gsi_lock, NULL);
    struct pci_host_ops ops = {
        .opaque = v, .msi_route = kvm_msi_route, .msi_unroute = kvm_msi_unroute,
        .msi_send = kvm_msi_send, .ioeventfd = kvm_ioeventfd, .intx_set = kvm_intx_set,
    };
    v->bus = pci_bus_new(&ops, mmio_base, mmio_size);
    if (!v->bus) {
        snprintf(errbuf, errlen, "PCI MMIO window 0x%llx+0x%llx is invalid: expected a "
                 "4 KiB-aligned, non-empty range", (unsigned long long)mmio_base,
                 (unsigned long long)mmio_size);
        pthread_mutex_destroy(&v->gsi_lock);
        free(v);
        return NULL;
    }
    return v;
}

void vdevs_free(struct vdevs *v)
{
    if (!v)
        return;
    for (unsigned i = 0; i < v->ndisks; i++)
        vdev_blk_free(v->disks[i]);
    for (unsigned i = 0; i < v->nnics; i++) /* virtio-net */
        vdev_net_free(v->nics[i]);
    vdev_balloon_free(v->balloon); /* balloon: */
    vdev_vsock_free(v->vsock);     /* vsock: */
    pci_bus_free(v->bus);
    pthread_mutex_destroy(&v->gsi_lock);
    free(v);
}

int vdevs_add_disk(struct vdevs *v, const char *spec, char *errbuf, size_t errlen)
{
    struct vdev_blk_opts o;
    char sub[256];
    if (v->ndisks >= VDEVS_MAX_DISKS) {
        snprintf(errbuf, errlen, "disk '%s': at most %d disks per VM", spec, VDEVS_MAX_DISKS);
        return -1;
    }
    if (vdev_blk_parse(spec, &o, sub, sizeof(sub)) < 0) {
        snprintf(errbuf, errlen, "--disk %s: %s", spec, sub);
        return -1;
    }
    struct vdev_blk *b = vdev_blk_new(&o, &v->gm, sub, sizeof(sub));
    if (!b) {
        snprintf(errbuf, errlen, "--disk %s: %s", spec, sub);
        return -1;
    }
    uint32_t gsi = v->vm_fd >= 0 ? PCI_INTX_BY_SLOT : PCI_NO_GSI;
    int slot = pci_bus_add(v->bus, vdev_blk_pci(b), gsi);
    if (slot < 0) {
        snprintf(errbuf, errlen, "--disk %s: no room on the PCI bus (slots or MMIO window)",
                 spec);
        vdev_blk_free(b);
        return -1;
    }
    v->disks[v->ndisks++] = b;
    log_info("disk %u at PCI 00:%02x.0", v->ndisks - 1, (unsigned)slot);
    return 0;
}

/* virtio-net: one NIC per --net option (net.h) */
int vdevs_add_nic(struct vdevs *v, const char *spec, char *errbuf, size_t errlen)
{
    struct vdev_net_opts o;
    char sub[256];
    if (v->nnics >= VDEVS_MAX_NICS) {
        snprintf(errbuf, errlen, "net '%s': at most %d NICs per VM", spec, VDEVS_MAX_NICS);
        return -1;
    }
    if (vdev_net_parse(spec, &o, sub, sizeof(sub)) < 0) {
        snprintf(errbuf, errlen, "--net %s: %s", spec, sub);
        return -1;
    }
    struct vdev_net *n = vdev_net_new(&o, &v->gm, sub, sizeof(sub));
    if (!n) {
        snprintf(errbuf, errlen, "--net %s: %s", spec, sub);
        return -1;
    }
    uint32_t gsi = v->vm_fd >= 0 ? PCI_INTX_BY_SLOT : PCI_NO_GSI;
    int slot = pci_bus_add(v->bus, vdev_net_pci(n), gsi);
    if (slot < 0) {
        snprintf(errbuf, errlen, "--net %s: no room on the PCI bus (slots or MMIO window)", spec);
        vdev_net_free(n);
        return -1;
    }
    v->nics[v->nnics++] = n;
    log_info("nic %u at PCI 00:%02x.0", v->nnics - 1, (unsigned)slot);
    return 0;
}

/* balloon: / vsock: one device each, after the disks and NICs (balloon.h, vsock.h) */
static int add_one(struct vdevs *v, struct pci_dev *pd, const char *what, char *errbuf,
                   size_t errlen)
{
    uint32_t gsi = v->vm_fd >= 0 ? PCI_INTX_BY_SLOT : PCI_NO_GSI;
    int slot = pci_bus_add(v->bus, pd, gsi);
    if (slot < 0) {
        snprintf(errbuf, errlen, "%s: no room on the PCI bus (slots or MMIO window)", what);
        return -1;
    }
    log_info("%s at PCI 00:%02x.0", what, (unsigned)slot);
    return 0;
}

int vdevs_add_balloon(struct vdevs *v, const char *spec, uint64_t ram_bytes, char *errbuf,
                      size_t errlen)
{
    struct vdev_balloon_opts o;
    char sub[256];
    if (vdev_balloon_parse(spec, &o, sub, sizeof(sub)) < 0) {
        snprintf(errbuf, errlen, "--balloon %s: %s", spec, sub);
        return -1;
    }
    if (!o.enabled || v->balloon)
        return 0;
    struct vdev_balloon *b = vdev_balloon_new(&o, &v->gm, ram_bytes, errbuf, errlen);
    if (!b || add_one(v, vdev_balloon_pci(b), "balloon", errbuf, errlen) < 0) {
        vdev_balloon_free(b);
        return -1;
    }
    v->balloon = b;
    return 0;
}

int vdevs_add_vsock(struct vdevs *v, const char *spec, char *errbuf, size_t errlen)
{
    struct vdev_vsock_opts o;
    char sub[256];
    if (v->vsock) {
        snprintf(errbuf, errlen, "--vsock %s: only one vsock device per VM", spec);
        return -1;
    }
    if (vdev_vsock_parse(spec, &o, sub, sizeof(sub)) < 0) {
        snprintf(errbuf, errlen, "--vsock %s: %s", spec, sub);
        return -1;
    }
    struct vdev_vsock *s = vdev_vsock_new(&o, &v->gm, sub, sizeof(sub));
    if (!s) {
        snprintf(errbuf, errlen, "--vsock %s: %s", spec, sub);
        return -1;
    }
    if (add_one(v, vdev_vsock_pci(s), "vsock", errbuf, errlen) < 0) {
        vdev_vsock_free(s);
        return -1;
    }
    v->vsock = s;
    return 0;
}

struct vdev_net *vdevs_get_nic(struct vdevs *v, unsigned i)
{
    return i < v->nnics ? v->nics[i] : NULL;
}

struct vdev_blk *vdevs_get_disk(struct vdevs *v, unsigned i)
{
    return i < v->ndisks ? v->disks[i] : NULL;
}

unsigned vdevs_disk_count(const struct vdevs *v)
{
    return v->ndisks;
}

bool vdevs_pio(struct vdevs *v, uint16_t port, bool is_write, unsigned size, uint8_t *data)
{
    return is_write ? pci_io_write(v->bus, port, size, data) : pci_io_read(v->bus, port, size, data);
}

bool vdevs_mmio(struct vdevs *v, uint64_t gpa, bool is_write, unsigned size, uint8_t *data)
{
    return is_write ? pci_mmio_write(v->bus, gpa, size, data)
                    : pci_mmio_read(v->bus, gpa, size, data);
}

/* Appends " key=value", quoting the value when it holds spaces, quotes or backslashes
 * (the control protocol's rule, hypervisor/README.md). */
static void kv(char *out, size_t outlen, const char *key, const char *val)
{
    size_t n = strlen(out);
    if (n + 1 >= outlen)
        return;
    bool quote = !*val || strpbrk(val, " \t\"\\") != NULL;
    n += (size_t)snprintf(out + n, outlen - n, " %s=%s", key, quote ? "\"" : "");
    for (const char *p = val; *p && n + 3 < outlen; p++) {
        if (*p == '"' || *p == '\\')
            out[n++] = '\\';
        out[n++] = *p;
    }
    if (quote && n + 1 < outlen)
        out[n++] = '"';
    out[n < outlen ? n : outlen - 1] = '\0';
}

static void kvn(char *out, size_t outlen, const char *key, uint64_t v)
{
    char b[24];
    snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
    kv(out, outlen, key, b);
}

/* Parses the leading disk index of arg; returns the disk or NULL (out holds the error). */
static struct vdev_blk *disk_arg(struct vdevs *v, const char *arg, const char **rest,
                                 unsigned *idx, char *out, size_t outlen)
{
    char num[16];
    size_t n = 0;
    while (arg && arg[n] && arg[n] != ' ' && n < sizeof(num) - 1) {
        num[n] = arg[n];
        n++;
    }
    num[n] = '\0';
    uint64_t i;
    if (!arg || atoll_parse_u64(num, 10, &i) < 0 || i >= v->ndisks) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT disk index '%s' is invalid: expected 0 to %d",
                 arg ? num : "", (int)v->ndisks - 1);
        return NULL;
    }
    *rest = arg + n;
    while (**rest == ' ')
        (*rest)++;
    *idx = (unsigned)i;
    return v->disks[i];
}

int vdevs_control(struct vdevs *v, const char *cmd, const char *arg, char *out, size_t outlen)
{
    const char *rest;
    unsigned i;
    struct vdev_blk *b;
    if (!strncmp(cmd, "nic", 3)) /* virtio-net: nics, nic, nic-stats, nic-link (net.h) */
        return vdev_net_control(v ? v->nics : NULL, v ? v->nnics : 0, cmd, arg, out, outlen);
    if (!strncmp(cmd, "balloon", 7) || !strcmp(cmd, "query-balloon")) /* balloon: */
        return vdev_balloon_control(v ? v->balloon : NULL, cmd, arg, out, outlen);
    if (!strncmp(cmd, "vsock", 5) || !strcmp(cmd, "query-vsock")) /* vsock: */
        return vdev_vsock_control(v ? v->vsock : NULL, cmd, arg, out, outlen);
    if (!strcmp(cmd, "disks")) {
        snprintf(out, outlen, "OK");
        kvn(out, outlen, "count", v ? v->ndisks : 0);
        return 0;
    }
    if (strcmp(cmd, "disk") && strcmp(cmd, "disk-stats") && strcmp(cmd, "disk-poll") &&
        strcmp(cmd, "disk-resize"))
        return -1;
    if (!v) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT this VM has no disks");
        return 0;
    }
    if (!(b = disk_arg(v, arg, &rest, &i, out, outlen)))
        return 0;
    if (!strcmp(cmd, "disk-poll")) {
        char mode[8] = "";
        uint64_t us = 0;
        size_t n = strcspn(rest, " ");
        if (n < sizeof(mode))
            memcpy(mode, rest, n);
        mode[n < sizeof(mode) ? n : 0] = '\0';
        const char *usp = rest + n;
        while (*usp == ' ')
            usp++;
        bool on = !strcmp(mode, "on");
        if ((!on && strcmp(mode, "off")) ||
            (*usp && (atoll_parse_u64(usp, 10, &us) < 0 || us == 0 ||
                      us > VDEV_BLK_POLL_US_MAX))) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT usage: disk-poll N on|off [1-%u]",
                     VDEV_BLK_POLL_US_MAX);
            return 0;
        }
        vdev_blk_set_poll(b, on, (uint32_t)us);
    } else if (!strcmp(cmd, "disk-resize")) {
        uint64_t bytes;
        char msg[256];
        if (!*rest || atoll_parse_size(rest, 1, &bytes) < 0) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT usage: disk-resize N SIZE (e.g. 20G; "
                     "a bare number is MiB)");
            return 0;
        }
        if (vdev_blk_resize(b, bytes, msg, sizeof(msg)) < 0) {
            snprintf(out, outlen, "ERR BAD_ARGUMENT %s", msg);
            return 0;
        }
    } else if (*rest) {
        snprintf(out, outlen, "ERR BAD_ARGUMENT %s takes only a disk index", cmd);
        return 0;
    }
    snprintf(out, outlen, "OK");
    kvn(out, outlen, "disk", i);
    struct vdev_blk_info in;
    vdev_blk_get_info(b, &in);
    if (!strcmp(cmd, "disk")) {
        kv(out, outlen, "path", in.path);
        kv(out, outlen, "format", in.format);
        kvn(out, outlen, "sectors", in.sectors);
        kv(out, outlen, "readonly", in.readonly ? "on" : "off");
        kv(out, outlen, "serial", in.serial);
        kvn(out, outlen, "queues", in.queues);
    }
    if (!strcmp(cmd, "disk-stats")) {
        struct vdev_blk_stats st;
        vdev_blk_get_stats(b, &st);
        kvn(out, outlen, "reads", st.reads);
        kvn(out, outlen, "writes", st.writes);
        kvn(out, outlen, "flushes", st.flushes);
        kvn(out, outlen, "discards", st.discards);
        kvn(out, outlen, "read_bytes", st.read_bytes);
        kvn(out, outlen, "write_bytes", st.write_bytes);
        kvn(out, outlen, "io_errors", st.io_errors);
        kvn(out, outlen, "bad_chains", st.bad_chains);
        kvn(out, outlen, "kicks", st.kicks);
        kvn(out, outlen, "polled", st.polled);
        kvn(out, outlen, "irqs", st.irqs);
        kvn(out, outlen, "broken_rings", st.broken_rings);
    } else if (!strcmp(cmd, "disk-resize")) {
        kvn(out, outlen, "sectors", in.sectors);
    } else {
        kv(out, outlen, "poll", in.poll ? "on" : "off");
        kvn(out, outlen, "poll_us", in.poll_us);
    }
    return 0;
}

/*
 * hypervisor/virtio/tap.c - TAP open/adopt, virtio-net header size, offloads, carrier
 * (see tap.h). Threads: as tap.h says. Trust: the caller's fd may be anything; it is
 * checked with TUNGETIFF before use.
 */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef TUNSETCARRIER
#define TUNSETCARRIER _IOW('T', 226, int)
#endif

/* Header size, non-blocking mode and an offload probe for a TAP fd we keep. */
static int tap_setup(struct vdev_tap *t, char *errbuf, size_t errlen)
{
    int fl = fcntl(t->fd, F_GETFL);
    if (fl < 0 || fcntl(t->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(errbuf, errlen, "tap '%s': cannot make it non-blocking: %s", t->name,
                 strerror(errno));
        return -1;
    }
    if (fcntl(t->fd, F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(errbuf, errlen, "tap '%s': cannot set close-on-exec: %s", t->name,
                 strerror(errno));
        return -1;
    }
    if (t->vnet_hdr) {
        int sz = VDEV_TAP_HDR_LEN;
        if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0) {
            snprintf(errbuf, errlen, "tap '%s': TUNSETVNETHDRSZ %d: %s", t->name, sz,
                     strerror(errno));
            return -1;
        }
        /* offloads are off until a driver asks for them; the probe tells what we may offer */
        t->offload_ok = ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO4 |
                                                                   TUN_F_TSO6 | TUN_F_TSO_ECN)) == 0;
        ioctl(t->fd, TUNSETOFFLOAD, 0UL);
    }
    return 0;
}

int vdev_tap_open(const char *name, struct vdev_tap *t, char *errbuf, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    if (!name || !*name || strlen(name) > VDEV_TAP_NAME_MAX - 1 || strchr(name, '/')) {
        snprintf(errbuf, errlen, "tap name '%s': expected 1 to %d characters without '/'",
                 name ? name : "", VDEV_TAP_NAME_MAX - 1);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(errbuf, errlen, "tap '%s': cannot open /dev/net/tun: %s", name, strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(errbuf, errlen, "tap '%s': TUNSETIFF: %s (need CAP_NET_ADMIN, or a TAP owned "
                 "by this user)", name, strerror(errno));
        close(fd);
        return -1;
    }
    t->fd = fd;
    t->vnet_hdr = true;
    snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
    if (tap_setup(t, errbuf, errlen) < 0) {
        vdev_tap_close(t);
        return -1;
    }
    return 0;
}

int vdev_tap_adopt(int fd, struct vdev_tap *t, char *errbuf, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
        snprintf(errbuf, errlen, "tap fd %d: not an open file descriptor", fd);
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        snprintf(errbuf, errlen, "tap fd %d: not an attached TUN/TAP queue (TUNGETIFF: %s)", fd,
                 strerror(errno));
        return -1;
    }
    if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_NO_PI)) {
        snprintf(errbuf, errlen, "tap fd %d ('%.16s'): expected a TAP opened with IFF_TAP | "
                 "IFF_NO_PI (flags 0x%x)", fd, ifr.ifr_name, (unsigned)(uint16_t)ifr.ifr_flags);
        return -1;
    }
    t->fd = fd;
    t->vnet_hdr = ifr.ifr_flags & IFF_VNET_HDR;
    snprintf(t->name, sizeof(t->name), "%.16s", ifr.ifr_name);
    if (tap_setup(t, errbuf, errlen) < 0) {
        t->fd = -1;
        return -1;
    }
    return 0;
}

void vdev_tap_close(struct vdev_tap *t)
{
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
}

int vdev_tap_set_offload(struct vdev_tap *t, unsigned flags)
{
    if (!t->vnet_hdr)
        return flags ? -EOPNOTSUPP : 0;
    return ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}

int vdev_tap_set_carrier(struct vdev_tap *t, bool up)
{
    int on = up;
    return ioctl(t->fd, TUNSETCARRIER, &on) < 0 ? -errno : 0;
}

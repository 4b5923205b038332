/*
 * hypervisor/block/block_lock.c - image locking compatible with QEMU's (file-posix): OFD byte
 * locks at 100+bit for each permission held and 200+bit for each permission not shared
 * (bits: consistent read 0, write 1, write-unchanged 2, resize 3). So atoll and qemu refuse
 * to write an image the other is using, and readers see "in use" while a writer runs.
 * Threads: called under the image's exclusive lock or before it is shared. Trust: none.
 */
#define ATOLL_LOG_MODULE "block"
#include "block_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "atoll/log.h"

#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
#define PERM_READ 0x1u
#define PERM_WRITE 0x2u
#define PERM_WRITE_UNCHANGED 0x4u
#define PERM_RESIZE 0x8u
#define PERM_ALL 0xfu

static const char *const perm_names[] = {"consistent read", "write", "write unchanged",
                                         "resize"};

static void mode_bits(enum blk_lock_mode mode, unsigned *perm, unsigned *unshared)
{
    switch (mode) {
    case BLK_LOCK_RW:
        *perm = PERM_ALL;
        *unshared = PERM_WRITE | PERM_RESIZE;
        break;
    case BLK_LOCK_RO:
        *perm = PERM_READ;
        *unshared = PERM_WRITE | PERM_RESIZE;
        break;
    case BLK_LOCK_SHARED:
        *perm = PERM_READ;
        *unshared = 0;
        break;
    default:
        *perm = *unshared = 0;
        break;
    }
}

static int byte_lock(int fd, int byte, short type)
{
    struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* 1 if another open file description holds a lock on byte, 0 if not, -errno. */
static int byte_taken(int fd, int byte)
{
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = byte, .l_len = 1};
    if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
        return -errno;
    return fl.l_type != F_UNLCK;
}

int blk_lock_apply(struct blk_image *img, enum blk_lock_mode mode, struct atoll_err *err)
{
    unsigned perm, unshared;
    mode_bits(mode, &perm, &unshared);
    for (int i = 0; i < 4; i++) {
        int r = 0;
        if (perm & (1u << i))
            r = byte_taken(img->fd, LOCK_SHARED_BASE + i);
        if (r == 1) {
            blk_err_denied(err, "image '%s' is in use: another process does not share the "
                           "\"%s\" permission", img->path, perm_names[i]);
            return -1;
        }
        if (r == 0 && (unshared & (1u << i)))
            r = byte_taken(img->fd, LOCK_PERM_BASE + i);
        if (r == 1) {
            blk_err_denied(err, "image '%s' is in use: another process holds the \"%s\" "
                           "permission (a running VM or qemu-img?)", img->path, perm_names[i]);
            return -1;
        }
        if (r < 0) { /* no OFD locks here (old kernel, some network file systems) */
            log_debug("'%s': cannot test lock bytes: %s", img->path, strerror(-r));
            img->lock_mode = BLK_LOCK_NONE;
            return 0;
        }
    }
    for (int i = 0; i < 4; i++) {
        short tp = (perm & (1u << i)) ? F_RDLCK : F_UNLCK;
        short ts = (unshared & (1u << i)) ? F_RDLCK : F_UNLCK;
        int r = byte_lock(img->fd, LOCK_PERM_BASE + i, tp);
        if (r == 0)
            r = byte_lock(img->fd, LOCK_SHARED_BASE + i, ts);
        if (r < 0) {
            log_debug("'%s': cannot set lock bytes: %s", img->path, strerror(-r));
            break;
        }
    }
    img->lock_mode = mode;
    return 0;
}

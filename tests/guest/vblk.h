/*
 * tests/guest/vblk.h - virtio-blk driver of the test guest (virtio 1.x over PCI, one split
 * queue, completions by polling the used ring at CPL 3, no interrupts) and the `blk` shell
 * command: list, write/verify patterns, flush, discard, a timed sequential or random
 * workload with a queue depth, and hostile descriptor chains for robustness tests.
 * Threads: the boot CPU's command loop only.
 *
 * Output lines (a contract with tests/integration and tests/bench; change them together):
 *   blk disks=N
 *   blk disk=I slot=S sectors=N ro=0|1 serial="S"
 *   blk write disk=I sector=S count=C status=T      (T: 0 ok, 1 IOERR, 2 UNSUPP, 255 timeout)
 *   blk verify disk=I sector=S count=C status=T ok=0|1 mismatches=M
 *   blk flush disk=I status=T        blk discard disk=I status=T
 *   blk bench disk=I mode=seq|rand op=read|write bs=B qd=Q ms=T ops=N bytes=N iops=N kbps=N
 *             errors=E
 *   blk bad disk=I kind=K len=L status=T needs_reset=0|1     blk reset disk=I ok=0|1
 *   blk irq disk=I vector=0xV status=T interrupts=N   (queue 0 completions by MSI-X from now on)
 *   error: ...
 * Pattern written by `blk write` (and checked by `verify`, and by host tests): the 64-bit
 * little-endian word at byte offset o of the disk is ((o / 8 + 1) * 0x9E3779B97F4A7C15) ^ SEED.
 */
#ifndef GUEST_VBLK_H
#define GUEST_VBLK_H

#include "cmd.h"
#include "shell.h"

/* The `blk` command (finds the disks on first use). */
void vblk_cmd(struct guest *g, struct cmd_args *a);

#endif

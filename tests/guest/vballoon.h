/*
 * tests/guest/vballoon.h - virtio-balloon driver of the test guest (virtio 1.x over PCI,
 * features VERSION_1 and STATS_VQ). It follows the device's target on its own: a config
 * change interrupt (MSI-X, VEC_VBALLOON) wakes the command loop, whose idle-time service
 * vballoon_poll moves up to 4 MiB per call between the guest's free memory and the balloon
 * (inflate: pages lent out of the page allocator, so `mem` free_kib falls; deflate: given
 * back) and writes "actual". Statistics (free, total, available memory) are reported on the
 * stats queue whenever the device returns the buffer.
 * Threads: the boot CPU only. Trust: the device is the VMM under test; waits are bounded.
 *
 * Output (a contract with tests/integration/test_balloon.py):
 *   balloon found=0|1 ready=0|1 target_pages=N actual_pages=N free_kib=F total_kib=T
 *           stats_sent=N irqs=N errors=E stuck=0|1 msix=0|1 intx=GSI|-1
 *   balloon bad pfns=3 completed=0|1 chain=1 completed=0|1 needs_reset=0|1
 *           (`balloon bad`: PFNs outside RAM and a descriptor outside RAM, for robustness)
 */
#ifndef GUEST_VBALLOON_H
#define GUEST_VBALLOON_H

#include "cmd.h"
#include "shell.h"

#define VEC_VBALLOON 0x56 /* MSI-X: config changes and the stats queue */

/* The `balloon` command: shows the state above; `balloon bad` sends hostile input. */
void vballoon_cmd(struct guest *g, struct cmd_args *a);
/* Idle-time service (finds the device on first call). Returns 1 while the balloon still
 * moves toward the target (the loop must not idle), else 0. */
int vballoon_poll(struct guest *g);

#endif

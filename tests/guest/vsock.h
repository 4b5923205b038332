/*
 * tests/guest/vsock.h - virtio-vsock driver of the test guest (virtio 1.x over PCI; stream
 * sockets with the spec's credit flow control) and the `vsock` command. Connections to the
 * host (CID 2) and listeners (optionally echoing) for host-initiated connections; received
 * packets wake the command loop through MSI-X (VEC_VSOCK) and are handled by vsock_poll.
 * Threads: the boot CPU only. Trust: the device is the VMM under test; waits are bounded.
 *
 * Forms and output lines (a contract with tests/integration/test_vsock.py):
 *   vsock                          vsock found=0|1 cid=N conns=N irqs=N rx_packets=N
 *                                  tx_packets=N resets=N
 *   vsock listen PORT [echo]       vsock listen port=P echo=0|1
 *   vsock echo-server PORT         (= listen PORT echo)
 *   vsock connect PORT             vsock connect port=P conn=I ok=1 | ok=0 reset=1 | ok=0 timeout=1
 *   vsock send CONN TEXT           vsock send conn=I bytes=N ok=0|1   (TEXT and a newline)
 *   vsock sendbulk CONN BYTES      vsock sendbulk conn=I bytes=N ok=0|1
 *                                  (byte i of the stream is i % 251)
 *   vsock recv CONN                vsock recv conn=I bytes=N data="..." (up to 200 bytes,
 *                                  non-printable as '.')
 *   vsock close CONN               vsock close conn=I ok=0|1   (SHUTDOWN, then the host's RST)
 *   vsock list                     vsock conn=I state=S lport=P pport=Q rx=N tx=N echo=0|1
 *   error: ...
 */
#ifndef GUEST_VSOCK_H
#define GUEST_VSOCK_H

#include "cmd.h"
#include "shell.h"

#define VEC_VSOCK 0x57 /* MSI-X: received packets */

void vsock_cmd(struct guest *g, struct cmd_args *a);
/* Idle-time service (finds the device on first call): handles received packets, answers
 * connection requests, echoes. Returns 1 if it did work (the loop looks again), else 0. */
int vsock_poll(struct guest *g);

#endif

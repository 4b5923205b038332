/*
 * tests/guest/netstack.h - the test guest's small network stack over vnet.c: Ethernet, ARP
 * (answers requests for its address, a 16-entry cache), IPv4 without fragments or routing
 * (one subnet per NIC), ICMP echo (answers pings; `ping`), UDP (a timed sender and a
 * counting receiver for throughput). Threads: boot CPU only.
 *
 * Commands and output lines (a contract with tests/integration/test_net*.py, tests/bench/net):
 *   net [list]                 net nics=N
 *                              net nic=I slot=S mac=M link=up|down ip=A.B.C.D/P
 *   net ip A.B.C.D/P [NIC]     net ip nic=I addr=A.B.C.D/P
 *   net stats                  net stats nic=I rx=N tx=N arp_replies=N echo_replies=N irqs=N
 *   net bad NIC KIND           net bad nic=I kind=K len=L needs_reset=0|1 (vnet.h)
 *   net reset NIC              net reset nic=I ok=0|1
 *   ping A.B.C.D [COUNT]       ping to=A.B.C.D sent=N received=M
 *   netsend A.B.C.D PORT MB    netsend to=A.B.C.D port=P packets=N bytes=B ms=T kbps=K errors=E
 *   netrecv PORT MS            netrecv port=P packets=N bytes=B ms=T kbps=K
 *   (asynchronous, on a config-change interrupt)  net event nic=I link=up|down
 *   error: ...
 * UDP payloads are 1472 bytes (1500-byte IP packets); bytes count UDP payload.
 */
#ifndef GUEST_NETSTACK_H
#define GUEST_NETSTACK_H

#include "cmd.h"
#include "shell.h"

void net_cmd(struct guest *g, struct cmd_args *a);
void ping_cmd(struct guest *g, struct cmd_args *a);
void netsend_cmd(struct guest *g, struct cmd_args *a);
void netrecv_cmd(struct guest *g, struct cmd_args *a);
/* Idle-time work (the shell loop calls it before idling): answers ARP and pings, reports
 * link changes. Cheap when no NIC was probed. */
void net_service(void);

#endif

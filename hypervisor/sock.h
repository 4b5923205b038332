/*
 * hypervisor/sock.h - UNIX listening sockets for the console and control
 * channels: mode 0600, refuses to replace anything that is not a stale socket.
 * Threads: main. Trust: the path comes from the (trusted) configuration.
 */
#ifndef VMM_SOCK_H
#define VMM_SOCK_H

#include <stddef.h>

/* Creates, binds and listens; -1 with a one-line message in errbuf on failure. */
int vmm_sock_listen(const char *path, char *errbuf, size_t errlen);

#endif

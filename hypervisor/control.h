/*
 * hypervisor/control.h - the control socket: a versioned line protocol
 * ("ATOLL-VMM 1 <uuid>" greeting, one request line -> one OK/ERR line,
 * asynchronous EVENT lines) that atolld uses to drive the VMM. Commands are
 * one table (control.c); README.md documents them. Threads: main loop only.
 * Trust: clients are local (socket mode 0600); every line is bounded and parsed.
 */
#ifndef VMM_CONTROL_H
#define VMM_CONTROL_H

#include <poll.h>
#include <stddef.h>

#include "vm.h"

#define VMM_CONTROL_PROTOCOL 1
#define VMM_CONTROL_CLIENTS 8
#define VMM_CONTROL_LINE_MAX 1024

struct vmm_control_client {
    int fd;
    size_t len;
    char buf[VMM_CONTROL_LINE_MAX + 1];
    int discarding;    /* inside an over-long line */
};

struct vmm_control {
    struct vmm_vm *vm;
    int listen_fd;
    char *path;
    struct vmm_control_client clients[VMM_CONTROL_CLIENTS];
};

/* Listens on path (may be NULL: no control socket). 0, or -1 with a message. */
int vmm_control_init(struct vmm_control *c, struct vmm_vm *vm, const char *path, char *errbuf,
                     size_t errlen);
/* Sends "EVENT exit status=N reason=..." to every client, closes them and the socket. */
void vmm_control_fini(struct vmm_control *c, int status, const char *reason);
int vmm_control_poll_fds(struct vmm_control *c, struct pollfd *fds, int cap);
void vmm_control_handle(struct vmm_control *c, int fd, short revents);
/*
 * Executes one request line and writes the one-line answer (no newline) to out.
 * Exposed for unit tests.
 */
void vmm_control_execute(struct vmm_control *c, const char *line, char *out, size_t outlen);
/* Appends ' key=value' to out, quoting value ("..." with \" and \\) when needed. */
void vmm_control_kv(char *out, size_t outlen, const char *key, const char *value);

#endif

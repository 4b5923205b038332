/*
 * hypervisor/console.h - where the guest's serial console goes: a log file,
 * stdout (when nothing else is configured), and a UNIX socket whose clients
 * first get a replay of the recent output (a ring buffer) and whose input is
 * fed to the UART. Threads: vmm_console_output from vCPU threads, the rest
 * from the main loop; one mutex. Trust: socket clients are local and trusted
 * to the socket's file mode (0600), their input is bounded.
 */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define VMM_CONSOLE_RING   65536
#define VMM_CONSOLE_CLIENTS 8

struct vmm_console {
    pthread_mutex_t lock;
    int log_fd;                 /* -1 if none */
    int stdout_fd;              /* -1 if none */
    int listen_fd;              /* -1 if none */
    char *socket_path;          /* unlinked at fini */
    int clients[VMM_CONSOLE_CLIENTS];
    uint8_t muted[VMM_CONSOLE_CLIENTS]; /* a write failed: no more output, input still read */
    uint8_t ring[VMM_CONSOLE_RING];
    size_t ring_head, ring_len;
    uint64_t total_out;
    /* where input goes: returns bytes taken */
    size_t (*input)(void *opaque, const uint8_t *buf, size_t len);
    void *opaque;
};

/*
 * Opens the log file (append, created 0640) and the listening socket (0600).
 * With neither, output goes to stdout. 0, or -1 with a one-line message.
 */
int vmm_console_init(struct vmm_console *c, const char *log_path, const char *socket_path,
                     size_t (*input)(void *, const uint8_t *, size_t), void *opaque,
                     char *errbuf, size_t errlen);
void vmm_console_fini(struct vmm_console *c);
/* Guest output: ring, log, stdout, every client (non-blocking; a stuck client loses bytes). */
void vmm_console_output(struct vmm_console *c, const uint8_t *buf, size_t len);
/* Adds the console's fds to a poll set; returns how many were added (at most 1 + clients). */
int vmm_console_poll_fds(struct vmm_console *c, struct pollfd *fds, int cap);
/* Handles readiness of an fd previously returned by vmm_console_poll_fds. */
void vmm_console_handle(struct vmm_console *c, int fd, short revents);
/* Copies the last n bytes of output (n <= VMM_CONSOLE_RING) into out; returns the count. */
size_t vmm_console_tail(struct vmm_console *c, uint8_t *out, size_t n);

#endif

/*
 * hypervisor/console.c - console fan-out (log file, stdout, socket clients)
 * and fan-in (socket clients to the UART). Output never blocks a vCPU on a
 * client: writes are MSG_DONTWAIT and a client whose buffer is full loses
 * bytes; a failed write only stops output to that client, whose input is read
 * until it closes (only the main loop closes clients). Threads: see console.h.
 * Trust: client input is bounded per read.
 */
#define ATOLL_LOG_MODULE "console"
#include "console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "atoll/log.h"
#include "atoll/util.h"
#include "sock.h"

int vmm_console_init(struct vmm_console *c, const char *log_path, const char *socket_path,
                     size_t (*input)(void *, const uint8_t *, size_t), void *opaque,
                     char *errbuf, size_t errlen)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->log_fd = c->stdout_fd = c->listen_fd = -1;
    for (int i = 0; i < VMM_CONSOLE_CLIENTS; i++)
        c->clients[i] = -1;
    c->input = input;
    c->opaque = opaque;
    if (log_path) {
        c->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (c->log_fd < 0) {
            snprintf(errbuf, errlen, "cannot open console log '%s': %s", log_path,
                     strerror(errno));
            return -1;
        }
    }
    if (socket_path) {
        c->listen_fd = vmm_sock_listen(socket_path, errbuf, errlen);
        if (c->listen_fd < 0)
            return -1;
        c->socket_path = atoll_strdup(socket_path);
    }
    if (!log_path && !socket_path)
        c->stdout_fd = STDOUT_FILENO;
    return 0;
}

void vmm_console_fini(struct vmm_console *c)
{
    for (int i = 0; i < VMM_CONSOLE_CLIENTS; i++)
        if (c->clients[i] >= 0)
            close(c->clients[i]);
    if (c->listen_fd >= 0)
        close(c->listen_fd);
    if (c->socket_path)
        unlink(c->socket_path);
    free(c->socket_path);
    if (c->log_fd >= 0)
        close(c->log_fd);
    pthread_mutex_destroy(&c->lock);
    memset(c, 0, sizeof(*c));
    c->log_fd = c->stdout_fd = c->listen_fd = -1;
}

/* Main loop only: the fd leaves the poll set and is closed. */
static void drop_client(struct vmm_console *c, int i)
{
    close(c->clients[i]);
    c->clients[i] = -1;
    c->muted[i] = 0;
}

/* Output to client i, lock held. A client that cannot take more (it is gone, or it shut its
 * reading side) is muted, not dropped: what it sent is still read and goes to the UART. */
static void send_client(struct vmm_console *c, int i, const uint8_t *buf, size_t len)
{
    if (c->muted[i] || !len)
        return;
    ssize_t r = send(c->clients[i], buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        c->muted[i] = 1;
}

void vmm_console_output(struct vmm_console *c, const uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < len; i++) {
        size_t pos = (c->ring_head + c->ring_len) % VMM_CONSOLE_RING;
        c->ring[pos] = buf[i];
        if (c->ring_len < VMM_CONSOLE_RING)
            c->ring_len++;
        else
            c->ring_head = (c->ring_head + 1) % VMM_CONSOLE_RING;
    }
    c->total_out += len;
    if (c->log_fd >= 0)
        (void)atoll_write_all(c->log_fd, buf, len);
    if (c->stdout_fd >= 0)
        (void)atoll_write_all(c->stdout_fd, buf, len);
    for (int i = 0; i < VMM_CONSOLE_CLIENTS; i++)
        if (c->clients[i] >= 0)
            send_client(c, i, buf, len);
    pthread_mutex_unlock(&c->lock);
}

size_t vmm_console_tail(struct vmm_console *c, uint8_t *out, size_t n)
{
    pthread_mutex_lock(&c->lock);
    if (n > c->ring_len)
        n = c->ring_len;
    size_t start = c->ring_head + c->ring_len - n;
    for (size_t i = 0; i < n; i++)
        out[i] = c->ring[(start + i) % VMM_CONSOLE_RING];
    pthread_mutex_unlock(&c->lock);
    return n;
}

int vmm_console_poll_fds(struct vmm_console *c, struct pollfd *fds, int cap)
{
    int n = 0;
    if (c->listen_fd >= 0 && n < cap)
        fds[n++] = (struct pollfd){.fd = c->listen_fd, .events = POLLIN};
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < VMM_CONSOLE_CLIENTS && n < cap; i++)
        if (c->clients[i] >= 0)
            fds[n++] = (struct pollfd){.fd = c->clients[i], .events = POLLIN};
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void accept_client(struct vmm_console *c)
{
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    pthread_mutex_lock(&c->lock);
    int slot = -1;
    for (int i = 0; i < VMM_CONSOLE_CLIENTS; i++)
        if (c->clients[i] < 0) {
            slot = i;
            break;
        }
    if (slot < 0) {
        pthread_mutex_unlock(&c->lock);
        static const char full[] = "atoll-vmm: console busy (8 clients connected)\r\n";
        (void)send(fd, full, sizeof(full) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        close(fd);
        return;
    }
    /* replay recent output, in at most two pieces of the ring; a client already gone is
     * muted but kept: the input it sent before closing is read by vmm_console_handle */
    c->clients[slot] = fd;
    c->muted[slot] = 0;
    size_t first = c->ring_len;
    if (c->ring_head + first > VMM_CONSOLE_RING)
        first = VMM_CONSOLE_RING - c->ring_head;
    send_client(c, slot, c->ring + c->ring_head, first);
    send_client(c, slot, c->ring, c->ring_len - first);
    pthread_mutex_unlock(&c->lock);
}

void vmm_console_handle(struct vmm_console *c, int fd, short revents)
{
    if (fd == c->listen_fd) {
        accept_client(c);
        return;
    }
    int idx = -1;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < VMM_CONSOLE_CLIENTS; i++)
        if (c->clients[i] == fd)
            idx = i;
    pthread_mutex_unlock(&c->lock);
    if (idx < 0)
        return;
    uint8_t buf[512];
    ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (r > 0) {
        /* input beyond the UART FIFO is dropped: the FIFO holds 4 KiB. A hang-up with data
         * still queued is seen again at the next poll, until recv reads the end (0). */
        if (c->input)
            c->input(c->opaque, buf, (size_t)r);
        return;
    }
    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) ||
        (revents & (POLLHUP | POLLERR))) {
        pthread_mutex_lock(&c->lock);
        if (c->clients[idx] == fd)
            drop_client(c, idx);
        pthread_mutex_unlock(&c->lock);
    }
}

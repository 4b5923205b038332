/*
 * tests/unit/hypervisor/test_console.c - console socket clients: replay, live output, input
 * to the UART. Regression: a client that sends a line and closes before its replay (or any
 * later output) could be written still gets its line delivered (printf 'poweroff\n' | socat).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "console.h"
#include "tap.h"

static char inbuf[4096];
static size_t inlen;

static size_t input(void *opaque, const uint8_t *buf, size_t len)
{
    (void)opaque;
    for (size_t i = 0; i < len && inlen < sizeof(inbuf) - 1; i++)
        inbuf[inlen++] = (char)buf[i];
    inbuf[inlen] = '\0';
    return len;
}

static int connect_to(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* What the main loop does: poll the console's fds (bounded), handle what is ready. */
static void serve(struct vmm_console *c, int rounds)
{
    for (int r = 0; r < rounds; r++) {
        struct pollfd fds[1 + VMM_CONSOLE_CLIENTS];
        int n = vmm_console_poll_fds(c, fds, 1 + VMM_CONSOLE_CLIENTS);
        if (poll(fds, (nfds_t)n, 20) <= 0)
            return;
        for (int i = 0; i < n; i++)
            if (fds[i].revents)
                vmm_console_handle(c, fds[i].fd, fds[i].revents);
    }
}

static int clients(struct vmm_console *c)
{
    struct pollfd fds[1 + VMM_CONSOLE_CLIENTS];
    return vmm_console_poll_fds(c, fds, 1 + VMM_CONSOLE_CLIENTS) - 1;
}

/* Reads what the console sent the client until want has arrived (bounded). */
static int got(int fd, const char *want)
{
    static char b[8192];
    size_t n = 0;
    for (int i = 0; i < 50 && n < sizeof(b) - 1; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 20) <= 0)
            continue;
        ssize_t r = recv(fd, b + n, sizeof(b) - 1 - n, MSG_DONTWAIT);
        if (r <= 0)
            break;
        n += (size_t)r;
        b[n] = '\0';
        if (strstr(b, want))
            return 1;
    }
    return 0;
}

int main(void)
{
    char dir[] = "/tmp/atoll-test-console-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/console.sock", dir);
    struct vmm_console *c = calloc(1, sizeof(*c));
    if (!ok(vmm_console_init(c, NULL, path, input, NULL, err, sizeof(err)) == 0,
            "console socket at %s", path))
        diag("%s", err);
    const char boot[] = "atoll-guest: booting\r\natoll> ";
    vmm_console_output(c, (const uint8_t *)boot, sizeof(boot) - 1);

    /* a live client gets the replay, then output; its input reaches the UART */
    int live = connect_to(path);
    serve(c, 1);
    is_int(clients(c), 1, "the client is accepted");
    ok(got(live, "atoll> "), "it gets the replay of earlier output");
    vmm_console_output(c, (const uint8_t *)"more", 4);
    ok(got(live, "more"), "then live output");
    (void)send(live, "cpus\r", 5, MSG_NOSIGNAL);
    serve(c, 2);
    is_str(inbuf, "cpus\r", "its input goes to the UART");

    /* sends a line and is gone before the console accepted it (and sent the replay) */
    inlen = 0;
    inbuf[0] = '\0';
    int quick = connect_to(path);
    ok(quick >= 0 && send(quick, "poweroff\n", 9, MSG_NOSIGNAL) == 9, "a client sends a line");
    close(quick);
    serve(c, 10);
    is_str(inbuf, "poweroff\n", "closed before its replay: its line still reaches the UART");
    is_int(clients(c), 1, "and it is dropped at its end of file");

    /* accepted and replayed, then sends and closes before the next output */
    inlen = 0;
    inbuf[0] = '\0';
    int late = connect_to(path);
    serve(c, 1);
    ok(got(late, "more"), "another client gets the replay");
    is_int(clients(c), 2, "two clients");
    ok(send(late, "echo hello\n", 11, MSG_NOSIGNAL) == 11, "it sends a line");
    close(late);
    vmm_console_output(c, (const uint8_t *)"tick", 4); /* fails for the closed client */
    ok(got(live, "tick"), "output still reaches the live client");
    serve(c, 10);
    is_str(inbuf, "echo hello\n", "a client whose output failed still has its line delivered");
    is_int(clients(c), 1, "the closed client is dropped, the live one stays");

    /* a client that shuts its reading side is muted but still heard */
    inlen = 0;
    inbuf[0] = '\0';
    int deaf = connect_to(path);
    serve(c, 1);
    shutdown(deaf, SHUT_RD);
    vmm_console_output(c, (const uint8_t *)"x", 1);
    (void)send(deaf, "uptime\r", 7, MSG_NOSIGNAL);
    serve(c, 2);
    is_str(inbuf, "uptime\r", "a client that reads nothing is still heard");
    is_int(clients(c), 2, "and kept until it closes");
    close(deaf);
    serve(c, 10);
    is_int(clients(c), 1, "then dropped");

    close(live);
    serve(c, 10);
    is_int(clients(c), 0, "no clients left");
    vmm_console_fini(c);
    free(c);
    ok(access(path, F_OK) < 0 && errno == ENOENT, "the socket is removed at fini");
    rmdir(dir);
    return tap_done();
}

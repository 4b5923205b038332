/*
 * tests/unit/toolstack/test_vmm_client.c - atolld's side of the atoll-vmm control
 * protocol without a VMM: key=value parsing (quoted values), the help probe, line
 * reading with timeouts and EOF, greeting checks and one request/answer round trip
 * against a scripted control socket in a thread, and the startup-error scan of vmm.log.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "atoll/util.h"
#include "tap.h"
#include "vmm_client.h"

struct fake {
    int lfd;
    const char *greeting;
    char got[256];
};

static void *serve(void *arg)
{
    struct fake *f = arg;
    for (int i = 0; i < 2; i++) {
        int c = accept(f->lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        dprintf(c, "%s\n", f->greeting);
        char line[256];
        int r = ts_vmm_client_read_line(c, line, sizeof(line), 2000);
        if (r == 1) {
            snprintf(f->got, sizeof(f->got), "%s", line);
            if (strcmp(line, "status") == 0)
                dprintf(c, "EVENT something\nOK state=running name=\"a b\\\"c\" pid=42\n");
            else
                dprintf(c, "ERR UNKNOWN_COMMAND unknown command\n");
        }
        close(c);
    }
    return NULL;
}

static int listen_at(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0)
        return -1;
    return fd;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    char v[64];
    const char *line = "OK state=paused uuid=1234 name=\"my \\\"vm\\\" x\" empty=\"\" pid=77";
    ok(ts_vmm_client_kv(line, "state", v, sizeof(v)) && strcmp(v, "paused") == 0, "kv: plain");
    ok(ts_vmm_client_kv(line, "name", v, sizeof(v)) && strcmp(v, "my \"vm\" x") == 0,
       "kv: quoted with escapes");
    ok(ts_vmm_client_kv(line, "empty", v, sizeof(v)) && v[0] == '\0', "kv: empty quoted");
    ok(ts_vmm_client_kv(line, "pid", v, sizeof(v)) && strcmp(v, "77") == 0, "kv: last key");
    ok(!ts_vmm_client_kv(line, "uu", v, sizeof(v)), "kv: no prefix match");
    char small[3];
    ok(ts_vmm_client_kv(line, "state", small, sizeof(small)) && strcmp(small, "pa") == 0,
       "kv: truncated to the buffer");

    const char *help = "OK commands=status,pause,resume,destroy,shutdown queries=vcpus";
    ok(ts_vmm_client_has_command(help, "shutdown"), "help: last command found");
    ok(ts_vmm_client_has_command(help, "status"), "help: first command found");
    ok(!ts_vmm_client_has_command(help, "reboot"), "help: absent command");
    ok(!ts_vmm_client_has_command(help, "stat"), "help: no prefix match");
    ok(!ts_vmm_client_has_command("OK", "status"), "help: no list");

    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    char buf[16];
    is_int(ts_vmm_client_read_line(sv[0], buf, sizeof(buf), 50), -1,
           "read_line: nothing to read times out");
    atoll_write_all(sv[1], "one\ntwo", 7);
    is_int(ts_vmm_client_read_line(sv[0], buf, sizeof(buf), 1000), 1, "read_line: a line");
    is_str(buf, "one", "read_line: its text");
    close(sv[1]);
    is_int(ts_vmm_client_read_line(sv[0], buf, sizeof(buf), 1000), 1,
           "read_line: the rest at EOF");
    is_int(ts_vmm_client_read_line(sv[0], buf, sizeof(buf), 1000), 0, "read_line: then EOF");
    close(sv[0]);

    char dir[] = "/tmp/atoll-vmmc-XXXXXX";
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    ATOLL_AUTOFREE char *ctl = ts_vmm_client_control_path(dir);
    char eb[256], ans[TS_VMM_LINE_MAX];
    ok(ts_vmm_client_connect(ctl, NULL, 0, 50, eb, sizeof(eb)) < 0 && strstr(eb, ctl),
       "connect: no socket -> bounded failure naming the path");

    struct fake f = {.lfd = listen_at(ctl),
                     .greeting = "ATOLL-VMM 1 11111111-2222-3333-4444-555555555555"};
    pthread_t th;
    pthread_create(&th, NULL, serve, &f);
    is_int(ts_vmm_client_command(ctl, "11111111-2222-3333-4444-555555555555", "status", ans,
                                 sizeof(ans), 2000, eb, sizeof(eb)),
           0, "command: OK answer (EVENT lines skipped)");
    ok(ts_vmm_client_kv(ans, "pid", v, sizeof(v)) && strcmp(v, "42") == 0, "command: answer");
    is_int(ts_vmm_client_command(ctl, "11111111-2222-3333-4444-555555555555", "bogus", ans,
                                 sizeof(ans), 2000, eb, sizeof(eb)),
           1, "command: ERR answer");
    pthread_join(th, NULL);
    is_str(f.got, "bogus", "the request line reached the VMM");
    f.greeting = "ATOLL-VMM 1 99999999-2222-3333-4444-555555555555";
    pthread_create(&th, NULL, serve, &f);
    ok(ts_vmm_client_connect(ctl, "11111111-2222-3333-4444-555555555555", 0, 1000, eb,
                             sizeof(eb)) < 0 && strstr(eb, "unexpected greeting"),
       "connect: a VMM of another VM is refused");
    shutdown(f.lfd, SHUT_RDWR);
    close(f.lfd);
    pthread_join(th, NULL);
    unlink(ctl);

    ATOLL_AUTOFREE char *log = atoll_strdup_printf("%s/vmm.log", dir);
    FILE *lf = fopen(log, "w");
    fputs("atoll-vmm: old failure\n", lf);
    long off = ftell(lf);
    fputs("atoll-vmm: note: KVM backend is PVM\n2026 info booting\n"
          "atoll-vmm: memory 9 MiB is more than this host can give now\n", lf);
    fclose(lf);
    char why[200];
    ts_vmm_client_startup_error(dir, off, why, sizeof(why));
    is_str(why, "memory 9 MiB is more than this host can give now",
           "startup error: the last reason after the offset, notes skipped");
    ts_vmm_client_startup_error(dir, 1L << 20, why, sizeof(why));
    is_str(why, "", "startup error: nothing after the end");
    unlink(log);
    rmdir(dir);
    ok(!ts_vmm_client_alive(0) && ts_vmm_client_alive(getpid()), "alive: pid checks");
    return tap_done();
}

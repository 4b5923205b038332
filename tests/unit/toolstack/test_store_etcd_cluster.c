/*
 * tests/unit/toolstack/test_store_etcd_cluster.c - the etcd backend against a
 * three-member etcd cluster on loopback: writes keep working when the member
 * the client talks to dies (fail-over to the next endpoint), nothing
 * committed is lost, and the watch of a second handle keeps waking it.
 * Skipped without Debian's etcd-server.
 */
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atoll/util.h"
#include "store.h"
#include "tap.h"

#define MEMBERS 3

static char dir[256];
static pid_t pids[MEMBERS];

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

static void stop_member(int i)
{
    if (pids[i] > 0) {
        kill(pids[i], SIGKILL);
        waitpid(pids[i], NULL, 0);
        pids[i] = 0;
    }
}

static void cleanup(void)
{
    for (int i = 0; i < MEMBERS; i++)
        stop_member(i);
    if (dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static int put(struct ts_store *st, const char *ref, const char *data)
{
    struct ts_store_txn *t = ts_store_txn_new(st);
    struct atoll_err err = ATOLL_ERR_INIT;
    ts_store_txn_put(t, "raw", ref, data, strlen(data), TS_STORE_REV_ANY);
    int rc = ts_store_txn_commit(t, NULL, NULL, &err);
    if (rc)
        diag("commit: %s", err.detail ? err.detail : "?");
    atoll_err_clear(&err);
    ts_store_txn_free(t);
    return rc;
}

int main(void)
{
    const char *bin = "/usr/bin/etcd";
    char curl[MEMBERS][64], purl[MEMBERS][64], cluster[512] = "", spec[256] = "etcd:";
    struct atoll_err err = ATOLL_ERR_INIT;

    if (access(bin, X_OK) != 0)
        tap_skip_all("etcd is not installed (Debian package etcd-server)");
    snprintf(dir, sizeof(dir), "/tmp/atoll-test-etcd3-XXXXXX");
    if (!mkdtemp(dir))
        tap_skip_all("cannot create a temporary directory");
    for (int i = 0; i < MEMBERS; i++) {
        snprintf(curl[i], sizeof(curl[i]), "http://127.0.0.1:%d", free_port());
        snprintf(purl[i], sizeof(purl[i]), "http://127.0.0.1:%d", free_port());
        size_t l = strlen(cluster);
        snprintf(cluster + l, sizeof(cluster) - l, "%sm%d=%s", i ? "," : "", i, purl[i]);
        l = strlen(spec);
        snprintf(spec + l, sizeof(spec) - l, "%s%s", i ? "," : "", curl[i]);
    }
    for (int i = 0; i < MEMBERS; i++) {
        char name[8], data[300], log[300];
        snprintf(name, sizeof(name), "m%d", i);
        snprintf(data, sizeof(data), "%s/m%d", dir, i);
        snprintf(log, sizeof(log), "%s/m%d.log", dir, i);
        pids[i] = fork();
        if (pids[i] == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
            FILE *f = freopen(log, "w", stderr);
            (void)f;
            execl(bin, bin, "--name", name, "--data-dir", data, "--listen-client-urls", curl[i],
                  "--advertise-client-urls", curl[i], "--listen-peer-urls", purl[i],
                  "--initial-advertise-peer-urls", purl[i], "--initial-cluster", cluster,
                  "--initial-cluster-state", "new", "--heartbeat-interval", "50",
                  "--election-timeout", "500", (char *)NULL);
            _exit(127);
        }
    }
    struct ts_store *a = NULL, *b = NULL;
    for (int i = 0; i < 150 && !a; i++) {
        if (ts_store_open(spec, NULL, &a, &err) < 0) {
            atoll_err_clear(&err);
            usleep(100000);
        }
    }
    if (!a) {
        cleanup();
        tap_skip_all("the etcd cluster did not form within 15 s");
    }
    ok(ts_store_open(spec, NULL, &b, &err) == 0, "two handles on a three-member cluster");
    int okall = 1;
    char ref[64];
    for (int i = 0; i < 20; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:r%d", i);
        okall &= put(a, ref, "before") == 0;
    }
    ok(okall, "20 commits with all members up");

    uint64_t seen = ts_store_revision(b);
    stop_member(0); /* the first endpoint: where both handles are connected */
    okall = 1;
    for (int i = 20; i < 40; i++) {
        snprintf(ref, sizeof(ref), "OpaqueRef:r%d", i);
        int rc = -1;
        for (int tries = 0; tries < 40 && rc != 0; tries++) { /* across a possible re-election */
            rc = put(a, ref, "after");
            if (rc)
                usleep(100000);
        }
        okall &= rc == 0;
    }
    ok(okall, "20 more commits after killing the member the client used (fail-over)");
    uint64_t cnt = 0;
    int crc = ts_store_count(b, "raw", &cnt, &err);
    if (crc < 0)
        diag("count: %s", err.detail ? err.detail : "?");
    atoll_err_clear(&err);
    ok(crc == 0 && cnt == 40, "all 40 objects are there (%llu)", (unsigned long long)cnt);
    uint64_t now = ts_store_wait(b, seen, 5000);
    ok(now > seen, "the other handle's watch still reports commits (revision %llu -> %llu)",
       (unsigned long long)seen, (unsigned long long)now);
    ts_store_close(a);
    ts_store_close(b);
    cleanup();
    return tap_done();
}

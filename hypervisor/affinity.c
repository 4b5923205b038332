/*
 * hypervisor/affinity.c - CPU lists, vCPU pinning and cgroup placement (see
 * affinity.h). The whole process joins the caller's cgroup (cgroup.procs) so
 * that one cpu.weight / cpu.max governs vCPU and I/O threads alike, as XAPI's
 * VCPUs_params weight/cap govern a whole domain.
 * Threads: any. Trust: inputs bounded; numbers parsed with atoll_parse_u64.
 */
#include "affinity.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "atoll/util.h"

#define CGROUP2_MAGIC 0x63677270

static int parse_cpu(const char *s, size_t n, unsigned *out)
{
    char b[16];
    uint64_t v;
    if (n == 0 || n >= sizeof(b))
        return -1;
    memcpy(b, s, n);
    b[n] = '\0';
    if (atoll_parse_u64(b, 10, &v) < 0 || v >= CPU_SETSIZE)
        return -1;
    *out = (unsigned)v;
    return 0;
}

int vmm_affinity_parse_cpulist(const char *s, cpu_set_t *set, char *errbuf, size_t errlen)
{
    CPU_ZERO(set);
    if (!s || !*s) {
        snprintf(errbuf, errlen, "empty CPU list: expected e.g. 0-3,8");
        return -1;
    }
    const char *p = s;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *dash = memchr(p, '-', n);
        unsigned lo, hi;
        if (dash ? (parse_cpu(p, (size_t)(dash - p), &lo) < 0 ||
                    parse_cpu(dash + 1, n - (size_t)(dash - p) - 1, &hi) < 0 || hi < lo)
                 : parse_cpu(p, n, &lo) < 0) {
            snprintf(errbuf, errlen, "bad CPU list '%.64s': expected numbers or ranges below %d "
                     "separated by commas, e.g. 0-3,8", s, CPU_SETSIZE);
            return -1;
        }
        if (!dash)
            hi = lo;
        for (unsigned c = lo; c <= hi; c++)
            CPU_SET(c, set);
        if (!comma)
            break;
        p = comma + 1;
        if (!*p) {
            snprintf(errbuf, errlen, "bad CPU list '%.64s': trailing comma", s);
            return -1;
        }
    }
    return 0;
}

void vmm_affinity_format(const cpu_set_t *set, char *out, size_t outlen)
{
    size_t n = 0;
    if (outlen)
        out[0] = '\0';
    for (unsigned c = 0; c < CPU_SETSIZE && n + 1 < outlen;) {
        if (!CPU_ISSET(c, set)) {
            c++;
            continue;
        }
        unsigned e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
            e++;
        int w = e == c ? snprintf(out + n, outlen - n, "%s%u", n ? "," : "", c)
                       : snprintf(out + n, outlen - n, "%s%u-%u", n ? "," : "", c, e);
        if (w < 0 || (size_t)w >= outlen - n) {
            out[n] = '\0';
            return;
        }
        n += (size_t)w;
        c = e + 1;
    }
}

static int finish_group(const char *spec, long idx, const char *list, cpu_set_t *sets,
                        uint8_t *have, char *errbuf, size_t errlen)
{
    char sub[256];
    if (idx < 0)
        return 0;
    if (vmm_affinity_parse_cpulist(list, &sets[idx], sub, sizeof(sub)) < 0) {
        snprintf(errbuf, errlen, "vcpu-affinity '%.64s': vCPU %ld: %s", spec, idx, sub);
        return -1;
    }
    have[idx] = 1;
    return 0;
}

int vmm_affinity_parse_spec(const char *spec, unsigned nslots, cpu_set_t *sets, uint8_t *have,
                            char *errbuf, size_t errlen)
{
    memset(have, 0, nslots);
    if (!spec || !*spec || strlen(spec) >= 4096) {
        snprintf(errbuf, errlen, "vcpu-affinity: expected VCPU:CPULIST[,...] of at most 4095 "
                 "bytes, e.g. 0:0-1,1:1");
        return -1;
    }
    /* words separated by ','; a word with ':' starts a vCPU, the others continue its list */
    char list[4096] = "";
    long cur = -1;
    const char *p = spec;
    for (;;) {
        size_t n = strcspn(p, ",");
        char word[4096];
        memcpy(word, p, n);
        word[n] = '\0';
        char *colon = strchr(word, ':');
        if (colon) {
            if (finish_group(spec, cur, list, sets, have, errbuf, errlen) < 0)
                return -1;
            *colon = '\0';
            uint64_t idx;
            if (atoll_parse_u64(word, 10, &idx) < 0 || idx >= nslots) {
                snprintf(errbuf, errlen, "vcpu-affinity '%.64s': '%.16s' is not a vCPU index "
                         "below %u (max-vcpus)", spec, word, nslots);
                return -1;
            }
            if (have[idx] || idx == (uint64_t)cur) {
                snprintf(errbuf, errlen, "vcpu-affinity '%.64s': vCPU %u is given twice", spec,
                         (unsigned)idx);
                return -1;
            }
            cur = (long)idx;
            snprintf(list, sizeof(list), "%s", colon + 1);
        } else if (cur < 0) {
            snprintf(errbuf, errlen, "vcpu-affinity '%.64s': expected VCPU:CPULIST first "
                     "(e.g. 0:0-1,1:1)", spec);
            return -1;
        } else {
            size_t l = strlen(list), wl = strlen(word);
            if (l + 1 + wl >= sizeof(list))
                return snprintf(errbuf, errlen, "vcpu-affinity: too long"), -1;
            list[l] = ',';
            memcpy(list + l + 1, word, wl + 1);
        }
        if (!p[n])
            break;
        p += n + 1;
    }
    return finish_group(spec, cur, list, sets, have, errbuf, errlen);
}

int vmm_affinity_check(const cpu_set_t *set, const cpu_set_t *allowed, char *errbuf,
                       size_t errlen)
{
    cpu_set_t extra;
    CPU_ZERO(&extra);
    for (unsigned c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, set) && !CPU_ISSET(c, allowed))
            CPU_SET(c, &extra);
    if (CPU_COUNT(&extra) == 0)
        return 0;
    char a[256], b[256];
    vmm_affinity_format(&extra, a, sizeof(a));
    vmm_affinity_format(allowed, b, sizeof(b));
    snprintf(errbuf, errlen, "host CPUs %s are not available to atoll-vmm (it may use %s)", a, b);
    return -1;
}

int vmm_affinity_apply(pid_t tid, const cpu_set_t *set)
{
    return sched_setaffinity(tid, sizeof(*set), set) < 0 ? -errno : 0;
}

int vmm_affinity_cgroup_check(const char *dir, char *errbuf, size_t errlen)
{
    if (dir[0] != '/' || strlen(dir) > 4095 || strstr(dir, "/../") ||
        (strlen(dir) >= 3 && strcmp(dir + strlen(dir) - 3, "/..") == 0)) {
        snprintf(errbuf, errlen, "cgroup '%.200s': expected an absolute path without '..' "
                 "(e.g. /sys/fs/cgroup/atoll/vm-1)", dir);
        return -1;
    }
    return 0;
}

int vmm_affinity_cgroup_join(const char *dir, char *errbuf, size_t errlen)
{
    struct statfs sf;
    if (statfs(dir, &sf) < 0) {
        snprintf(errbuf, errlen, "cgroup '%s': %s", dir, strerror(errno));
        return -1;
    }
    if ((unsigned long)sf.f_type != CGROUP2_MAGIC) {
        snprintf(errbuf, errlen, "cgroup '%s' is not on a cgroup v2 file system", dir);
        return -1;
    }
    ATOLL_AUTOFREE char *procs = atoll_strdup_printf("%s/cgroup.procs", dir);
    ATOLL_AUTOCLOSE int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cgroup '%s': cannot open cgroup.procs for writing: %s", dir,
                 strerror(errno));
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
    if (write(fd, pid, (size_t)n) != n) {
        snprintf(errbuf, errlen, "cgroup '%s': cannot move the process there: %s%s", dir,
                 strerror(errno),
                 errno == EOPNOTSUPP ? " (a threaded cgroup: give its domain parent)" : "");
        return -1;
    }
    return 0;
}

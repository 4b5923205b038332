/*
 * tests/unit/hypervisor/test_affinity.c - CPU lists, the --vcpu-affinity spec,
 * host-CPU checks, cgroup path checks, and the issue 3 options of the
 * configuration (--max-vcpus, --vcpu-affinity, --cgroup) with their errors.
 */
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "../../../hypervisor/config.h"
#include "tap.h"

static const char *fmt(const char *list)
{
    static char out[256];
    char err[256];
    cpu_set_t s;
    if (vmm_affinity_parse_cpulist(list, &s, err, sizeof(err)) < 0)
        return "ERR";
    vmm_affinity_format(&s, out, sizeof(out));
    return out;
}

static int check(const char *const *args, int n, char *err, size_t errlen)
{
    struct vmm_config c;
    vmm_config_init(&c);
    char *argv[16] = {"atoll-vmm", "--kernel", "/x"};
    for (int i = 0; i < n; i++)
        argv[3 + i] = (char *)args[i];
    int r = vmm_config_parse_args(&c, 3 + n, argv, err, errlen);
    if (r == 0)
        r = vmm_config_check(&c, err, errlen);
    vmm_config_fini(&c);
    return r;
}

int main(void)
{
    is_str(fmt("0"), "0", "single CPU");
    is_str(fmt("0-3"), "0-3", "range");
    is_str(fmt("3,1,2,8,10-11"), "1-3,8,10-11", "list is normalised");
    is_str(fmt("1023"), "1023", "last CPU of the set");
    const char *bad[] = {"", "x", "1-", "-1", "3-1", "1,", ",1", "1,,2", "1024", "0x1", " 1",
                         "1 2", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        is_str(fmt(bad[i]), "ERR", "bad CPU list '%s' refused", bad[i]);

    cpu_set_t sets[4];
    uint8_t have[4];
    char err[512];
    ok(vmm_affinity_parse_spec("0:0-1,1:1", 4, sets, have, err, sizeof(err)) == 0 &&
       have[0] && have[1] && !have[2] && !have[3] && CPU_COUNT(&sets[0]) == 2 &&
       CPU_ISSET(1, &sets[1]) && CPU_COUNT(&sets[1]) == 1, "0:0-1,1:1");
    ok(vmm_affinity_parse_spec("0:0-1,4,3:2,5", 4, sets, have, err, sizeof(err)) == 0 &&
       CPU_COUNT(&sets[0]) == 3 && CPU_ISSET(4, &sets[0]) && have[3] &&
       CPU_ISSET(2, &sets[3]) && CPU_ISSET(5, &sets[3]) && CPU_COUNT(&sets[3]) == 2,
       "words without ':' continue the previous vCPU's list");
    struct { const char *spec, *msg; } bads[] = {
        {"", "expected VCPU:CPULIST"}, {"1", "expected VCPU:CPULIST first"},
        {"4:0", "not a vCPU index below 4"}, {"x:0", "not a vCPU index"},
        {"0:1,0:2", "given twice"}, {"0:", "empty CPU list"}, {"0:1,", "trailing comma"},
        {"0:1-", "bad CPU list"},
    };
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        err[0] = '\0';
        int r = vmm_affinity_parse_spec(bads[i].spec, 4, sets, have, err, sizeof(err));
        ok(r < 0 && strstr(err, bads[i].msg), "spec '%s' refused: %s", bads[i].spec, err);
    }
    cpu_set_t a, allowed;
    CPU_ZERO(&allowed);
    CPU_SET(0, &allowed);
    CPU_SET(1, &allowed);
    vmm_affinity_parse_cpulist("1", &a, err, sizeof(err));
    is_int(vmm_affinity_check(&a, &allowed, err, sizeof(err)), 0, "CPU 1 is allowed");
    vmm_affinity_parse_cpulist("1-3", &a, err, sizeof(err));
    ok(vmm_affinity_check(&a, &allowed, err, sizeof(err)) < 0 &&
       strstr(err, "host CPUs 2-3 are not available") && strstr(err, "may use 0-1"),
       "CPUs 2-3 refused, message names them and the allowed ones: %s", err);

    is_int(vmm_affinity_cgroup_check("/sys/fs/cgroup/atoll/vm-1", err, sizeof(err)), 0,
           "absolute cgroup path accepted");
    const char *badcg[] = {"atoll/vm", "/sys/fs/cgroup/../x", "/a/.."};
    for (size_t i = 0; i < 3; i++)
        ok(vmm_affinity_cgroup_check(badcg[i], err, sizeof(err)) < 0, "cgroup '%s' refused",
           badcg[i]);
    ok(vmm_affinity_cgroup_join("/proc", err, sizeof(err)) < 0 && strstr(err, "not on a cgroup v2"),
       "joining a directory that is not cgroup v2 refused: %s", err);

    /* configuration */
    const char *good1[] = {"--vcpus", "2", "--max-vcpus", "8", "--vcpu-affinity", "7:0,0:0-1",
                           "--cgroup", "/sys/fs/cgroup/a"};
    is_int(check(good1, 8, err, sizeof(err)), 0, "max-vcpus 8, a pin for hot-pluggable vCPU 7");
    struct { const char *args[4]; int n; const char *msg; } cfgs[] = {
        {{"--vcpus", "4", "--max-vcpus", "3"}, 4, "max-vcpus 3 is out of range"},
        {{"--max-vcpus", "255"}, 2, "max-vcpus 255 is out of range"},
        {{"--max-vcpus", "x"}, 2, "is not a number"},
        {{"--vcpu-affinity", "1:0"}, 2, "not a vCPU index below 1"},
        {{"--vcpus", "2", "--vcpu-affinity", "0:0;1"}, 4, "bad CPU list"},
        {{"--cgroup", "cg"}, 2, "expected an absolute path"},
        {{"--cgroup", ""}, 2, "needs a non-empty value"},
    };
    for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
        err[0] = '\0';
        int r = check(cfgs[i].args, cfgs[i].n, err, sizeof(err));
        ok(r < 0 && strstr(err, cfgs[i].msg), "%s %s: %s", cfgs[i].args[0], cfgs[i].args[1], err);
    }
    struct vmm_config c;
    vmm_config_init(&c);
    ok(vmm_config_parse_text(&c, "max-vcpus = 4\nvcpu-affinity = 0:1\ncgroup = /sys/fs/cgroup/x\n",
                             "test", err, sizeof(err)) == 0 && c.max_vcpus == 4 &&
       strcmp(c.vcpu_affinity, "0:1") == 0 && strcmp(c.cgroup, "/sys/fs/cgroup/x") == 0,
       "the options work in a config file");
    vmm_config_fini(&c);
    return tap_done();
}

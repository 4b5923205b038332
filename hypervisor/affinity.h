/*
 * hypervisor/affinity.h - host placement of the VMM's threads: CPU lists
 * ("0-3,8"), the --vcpu-affinity spec, sched_setaffinity on vCPU threads, and
 * joining a cgroup v2 directory given by the caller (atolld), whose cpu.weight
 * and cpu.max then apply to every thread of the VMM.
 * Parsing is pure and unit-tested. Threads: main and vCPU threads (apply).
 * Trust: specs come from the command line or the control socket; all bounded.
 */
#ifndef VMM_AFFINITY_H
#define VMM_AFFINITY_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Parses a Linux CPU list ("0-3,8,10-11", no spaces) into set (cleared first). CPU numbers
 * must be < CPU_SETSIZE, ranges ascending, the list non-empty. 0, or -1 with a message.
 */
int vmm_affinity_parse_cpulist(const char *s, cpu_set_t *set, char *errbuf, size_t errlen);
/* Writes set as a CPU list ("0-3,8"; "" when empty). */
void vmm_affinity_format(const cpu_set_t *set, char *out, size_t outlen);
/*
 * Parses "VCPU:CPULIST[,VCPU:CPULIST]...", e.g. "0:0-1,1:1" or "0:0-1,4,1:2": a word with a
 * ':' starts a vCPU's list, words without one continue it. vCPU indices < nslots, each at
 * most once. sets/have have nslots entries (have[i] = 1 where given). 0, or -1 with a message.
 */
int vmm_affinity_parse_spec(const char *spec, unsigned nslots, cpu_set_t *sets, uint8_t *have,
                            char *errbuf, size_t errlen);
/* Checks set is within allowed (the CPUs this process may use). 0, or -1 with a message. */
int vmm_affinity_check(const cpu_set_t *set, const cpu_set_t *allowed, char *errbuf,
                       size_t errlen);
/* sched_setaffinity(tid, set): 0 or -errno. tid 0 is the calling thread. */
int vmm_affinity_apply(pid_t tid, const cpu_set_t *set);
/* Checks a cgroup path: absolute, no "..", at most 4095 bytes. 0, or -1 with a message. */
int vmm_affinity_cgroup_check(const char *dir, char *errbuf, size_t errlen);
/*
 * Moves the whole process (all its threads, and the ones it creates later) into the cgroup
 * v2 directory dir by writing its pid to dir/cgroup.procs. Checks that dir is on a cgroup2
 * file system and that cgroup.procs is writable. 0, or -1 with a message.
 */
int vmm_affinity_cgroup_join(const char *dir, char *errbuf, size_t errlen);

#endif

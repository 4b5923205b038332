#!/usr/bin/env python3
"""tests/integration/test_vcpu_pinning.py - host placement of atoll-vmm's threads (issue 3):
--vcpu-affinity pins vCPU threads at start, 'pin' re-pins them live (Cpus_allowed_list in
/proc/<pid>/task/<tid>/status follows), a pin given before a hot-add applies to the new
thread, bad specs are refused with clear errors, and --cgroup puts every thread of the VMM in
the given cgroup v2 directory (skipped when no writable cgroup v2 hierarchy exists)."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

img = v.need_guest()

host = sorted(os.sched_getaffinity(0))
first, last = host[0], host[-1]


def allowed(pid, tid):
    with open(f"/proc/{pid}/task/{tid}/status") as f:
        return re.search(r"Cpus_allowed_list:\s*(\S+)", f.read()).group(1)


def tids(m):
    ans = m.ctl("query vcpus") or ""
    r = re.search(r"tids=(\S+)", ans)
    return [int(x) for x in r.group(1).split(",")] if r else []


def wait_tids(m, n, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        ts = tids(m)
        if len(ts) == n and all(ts):
            return ts
        time.sleep(0.05)
    return tids(m)


# option validation: usage errors (status 2) and start-up errors (status 1), one line each
for args, status, text in (
        (["--vcpus", "2", "--vcpu-affinity", "2:0"], 2, "not a vCPU index below 2"),
        (["--vcpu-affinity", "0:abc"], 2, "bad CPU list 'abc'"),
        (["--vcpu-affinity", "0:1,0:0"], 2, "vCPU 0 is given twice"),
        (["--vcpu-affinity", "0-1"], 2, "expected VCPU:CPULIST first"),
        (["--vcpu-affinity", "0:3-1"], 2, "bad CPU list '3-1'"),
        (["--vcpus", "2", "--max-vcpus", "1"], 2, "max-vcpus 1 is out of range"),
        (["--max-vcpus", "255"], 2, "max-vcpus 255 is out of range"),
        (["--cgroup", "relative/dir"], 2, "expected an absolute path"),
        (["--cgroup", "/sys/fs/cgroup/../etc"], 2, "without '..'"),
        (["--vcpu-affinity", "0:1023"], 1, "host CPUs 1023 are not available"),
        (["--cgroup", "/nonexistent-atoll-cgroup"], 1, "cgroup '/nonexistent-atoll-cgroup'"),
        (["--cgroup", "/tmp"], 1, "is not on a cgroup v2 file system")):
    st, _, err = v.run_vmm(["--kernel", img] + args, timeout=60)
    t.ok(st == status and text in err, f"{' '.join(args)}: status {status}, '{text}' "
         f"(got {st}: {err.strip().splitlines()[-1] if err.strip() else ''})")

# pinning at start and live, and for a hot-added vCPU
spec = f"0:{first},1:{first}-{last}" if first != last else f"0:{first},1:{first}"
m = v.Vmm(img, vcpus=2, memory="64M", extra=["--max-vcpus", "3", "--vcpu-affinity", spec])
if t.ok(m.wait_for("atoll> ", 120) is not None, f"guest boots with --vcpu-affinity {spec}"):
    pid = m.proc.pid
    ts = wait_tids(m, 2)
    t.is_eq(allowed(pid, ts[0]), str(first), f"vCPU 0 thread pinned to {first} at start")
    want1 = f"{first}-{last}" if first != last else str(first)
    t.is_eq(allowed(pid, ts[1]), want1, f"vCPU 1 thread pinned to {want1} at start")
    ans = m.ctl(f"pin 0 {last}")
    t.is_eq(ans, f"OK vcpu=0 cpus={last} tid={ts[0]}", "pin 0 answers with the thread id")
    t.is_eq(allowed(pid, ts[0]), str(last), f"after 'pin 0 {last}': Cpus_allowed_list {last}")
    ans = m.ctl(f"pin 2 {first}")
    t.is_eq(ans, f"OK vcpu=2 cpus={first} tid=0", "a vCPU not created yet can be pinned")
    t.ok(m.ctl("cpu-add 2") == "OK vcpu=2 state=added", "cpu-add 2")
    ts = wait_tids(m, 3)
    t.is_eq(allowed(pid, ts[2]), str(first), "the hot-added vCPU thread got its pin")
    q = m.ctl("query vcpus") or ""
    t.ok(f'affinity="0:{last} 1:{want1} 2:{first}"' in q, f"query vcpus shows the pins ({q})")
    for cmd, code in (("pin", "ERR BAD_ARGUMENT"), ("pin 0", "ERR BAD_ARGUMENT"),
                      ("pin 3 0", "ERR BAD_ARGUMENT"), ("pin 0 x", "ERR BAD_ARGUMENT"),
                      ("pin 0 1023", "ERR BAD_ARGUMENT")):
        ans = m.ctl(cmd) or ""
        t.ok(ans.startswith(code), f"'{cmd}' refused: {ans}")
    t.is_eq(allowed(pid, ts[0]), str(last), "a refused pin leaves the thread as it was")
    m.ctl("shutdown")
    st, _ = m.wait(60)
    t.is_eq(st, 0, "guest powers off")
m.close()


# cgroup v2: every thread of the VMM lands in the given directory
def cgroup2_root():
    with open("/proc/self/mounts") as f:
        for ln in f:
            p = ln.split()
            if len(p) > 2 and p[2] == "cgroup2":
                return p[1]
    return None


root = cgroup2_root()
cg = None
if root:
    cg = os.path.join(root, f"atoll-test-{os.getpid()}")
    try:
        os.mkdir(cg)
    except OSError as e:
        t.diag(f"cannot create {cg}: {e}")
        cg = None
if not cg:
    t.skip("threads land in the --cgroup directory", "no writable cgroup v2 hierarchy here")
else:
    rel = "/" + os.path.relpath(cg, root)
    m = v.Vmm(img, vcpus=2, memory="64M", extra=["--cgroup", cg])
    try:
        if t.ok(m.wait_for("atoll> ", 120) is not None, f"guest boots with --cgroup {cg}"):
            pid = m.proc.pid
            wait_tids(m, 2)
            tasks = os.listdir(f"/proc/{pid}/task")
            where = set()
            for tid in tasks:
                with open(f"/proc/{pid}/task/{tid}/cgroup") as f:
                    where |= {ln.split(":", 2)[2].strip() for ln in f if ln.startswith("0::")}
            t.is_eq(where, {rel}, f"all {len(tasks)} threads (vCPUs included) are in {rel}")
            with open(os.path.join(cg, "cgroup.procs")) as f:
                t.is_eq([int(x) for x in f.read().split()], [pid], "cgroup.procs lists the VMM")
            m.ctl("shutdown")
            st, _ = m.wait(60)
            t.is_eq(st, 0, "guest powers off")
    finally:
        m.close()
        for _ in range(50):
            try:
                os.rmdir(cg)
                break
            except OSError:
                time.sleep(0.1)
t.done()

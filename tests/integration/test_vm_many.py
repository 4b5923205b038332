#!/usr/bin/env python3
"""Several VMs and racing callers through atolld's XenAPI, on the Atoll test guest.

- six VMs started at once with Async.VM.start: all Running, each on its own VMM;
- ten clients racing VM.start on one VM: exactly one wins, the others get
  OTHER_OPERATION_IN_PROGRESS or VM_BAD_POWER_STATE, and one VMM runs;
- the six shut down at once with Async.VM.clean_shutdown: all Halted, no VMM left.
Skipped with its reason without /dev/kvm, the guest image or atolld. Every wait is bounded.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atolltest as t  # noqa: E402
import apitest  # noqa: E402
from test_vm_lifecycle import Api, guest_image, new_vm, pid_alive  # noqa: E402

N = 6


def wait_tasks(api, tasks, timeout=60):
    end = time.time() + timeout
    status = {}
    while time.time() < end:
        status = {tk: api.call("task.get_status", tk) for tk in tasks}
        if all(s != "pending" for s in status.values()):
            break
        time.sleep(0.05)
    return status


def main():
    t.need_kvm()
    kernel = guest_image()
    if not kernel:
        t.skip_all("the test guest (tests/guest/atoll-guest.elf) is not built")
    if not os.access(os.path.join(t.builddir(), "hypervisor", "atoll-vmm"), os.X_OK):
        t.skip_all("atoll-vmm is not built")
    d = apitest.Atolld()
    pids = []
    try:
        run(d, kernel, pids)
    finally:
        d.stop()
        for p in pids:
            if pid_alive(p):
                os.kill(p, 9)
    t.done()


def run(d, kernel, pids):
    api = Api(d)
    vms = [new_vm(api, kernel, f"many-{i}", mem=32 * 1024 * 1024) for i in range(N)]
    x = d.xml(https=False)
    tasks = [apitest.value(x.Async.VM.start(api.sid, vm, False, False)) for vm in vms]
    status = wait_tasks(api, tasks)
    t.is_eq(sorted(set(status.values())), ["success"], f"{N} concurrent Async.VM.start succeed")
    domids = [int(api.call("VM.get_domid", vm)) for vm in vms]
    pids.extend(domids)
    t.ok(all(api.call("VM.get_power_state", vm) == "Running" for vm in vms), "all Running")
    t.ok(len(set(domids)) == N and all(pid_alive(p) for p in domids),
         "each on its own live VMM")
    for tk in tasks:
        api.call("task.destroy", tk)

    # racing callers on one VM
    race = vms[0]
    api.call("VM.hard_shutdown", race)
    results = []
    lock = threading.Lock()

    def starter():
        c = Api(d)
        r = c.raw("VM.start", race, False, False)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=starter) for _ in range(10)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    wins = [r for r in results if r.get("Status") == "Success"]
    errs = sorted({r["ErrorDescription"][0] for r in results if r.get("Status") != "Success"})
    t.is_eq(len(results), 10, "ten racing VM.start calls answered")
    t.is_eq(len(wins), 1, "exactly one VM.start wins the race")
    t.ok(set(errs) <= {"OTHER_OPERATION_IN_PROGRESS", "VM_BAD_POWER_STATE"},
         f"the others: OTHER_OPERATION_IN_PROGRESS or VM_BAD_POWER_STATE ({errs})")
    rp = int(api.call("VM.get_domid", race))
    pids.append(rp)
    vmm_pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and _is_vmm_of(p, race, api)]
    t.ok(vmm_pids == [rp], f"one VMM runs it ({vmm_pids})")

    # everything down at once
    tasks = [apitest.value(x.Async.VM.clean_shutdown(api.sid, vm)) for vm in vms]
    status = wait_tasks(api, tasks)
    t.is_eq(sorted(set(status.values())), ["success"], f"{N} concurrent clean shutdowns succeed")
    t.ok(all(api.call("VM.get_power_state", vm) == "Halted" for vm in vms), "all Halted")
    t.ok(not any(pid_alive(p) for p in domids + [rp]), "no VMM left")
    free = int(api.call("host.compute_free_memory", api.call("host.get_all")[0]))
    t.ok(free > 0, "host memory released")


_uuids = {}


def _is_vmm_of(pid, vm, api):
    uuid = _uuids.get(vm) or _uuids.setdefault(vm, api.call("VM.get_uuid", vm))
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return any(a.endswith(b"atoll-vmm") for a in argv[:1]) and uuid.encode() in argv


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""What happens to VMs that nobody asked to stop, and across atolld restarts.

- guest poweroff (from the guest's console) -> Halted, seen by an event.from wake-up;
- guest reboot -> still Running on a new VMM; a guest panic with actions_after_crash=destroy
  -> Halted;
- atolld restarted (SIGTERM, then SIGKILL) while a VM runs -> the VMM is adopted (still
  Running, same pid) and can still be driven; nothing is started twice;
- the VMM killed while atolld is down -> marked Halted on the next start; a VMM that hangs
  meanwhile is killed and marked Halted (never left running next to a new one).
Skipped with its reason without /dev/kvm, the guest image or atolld. Every wait is bounded.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import atolltest as t  # noqa: E402
import apitest  # noqa: E402
from test_vm_lifecycle import (Api, Console, console_input, guest_image, new_vm,  # noqa: E402
                               pid_alive)


def say(d, api, vm, text):
    """Types a shell command on the guest's console (again if the guest was still booting)."""
    con = Console(d, api.sid, vm)
    con.wait_for("atoll> ", timeout=10)
    con.close()
    return console_input(d, api.sid, vm, text + "\r")


def say_until(d, api, vm, text, check, timeout=45):
    """Types text on the guest's console every 5 s until check() is true: its last value."""
    end = time.time() + timeout
    got = None
    while time.time() < end:
        say(d, api, vm, text)
        step = min(end, time.time() + 5)
        while time.time() < step:
            got = check()
            if got:
                return got
            time.sleep(0.1)
    return got


def wait_event(api, token, vm, field, want, timeout=30):
    """event.from until a VM event carries field == want: (found, new token)."""
    end = time.time() + timeout
    while time.time() < end:
        r = api.call("event.from", ["vm"], token, 5.0)
        token = r["token"]
        for ev in r["events"]:
            if ev.get("ref") == vm and ev.get("snapshot", {}).get(field) == want:
                return True, token
    return False, token


def main():
    t.need_kvm()
    kernel = guest_image()
    if not kernel:
        t.skip_all("the test guest (tests/guest/atoll-guest.elf) is not built")
    if not os.access(os.path.join(t.builddir(), "hypervisor", "atoll-vmm"), os.X_OK):
        t.skip_all("atoll-vmm is not built")
    d = apitest.Atolld()
    state = d.state
    pids = []
    try:
        d = run(d, state, kernel, pids)
    finally:
        if d:
            d.stop()
        for p in pids:
            if pid_alive(p):
                os.kill(p, 9)
    t.done()


def run(d, state, kernel, pids):
    api = Api(d)
    vm = new_vm(api, kernel, "reconcile")

    # guest poweroff, seen through event.from
    api.call("VM.start", vm, False, False)
    pid = int(api.call("VM.get_domid", vm))
    pids.append(pid)
    token = api.call("event.from", ["vm"], "", 0.0)["token"]
    resend = time.time()
    say(d, api, vm, "poweroff")
    found, token = wait_event(api, token, vm, "power_state", "Halted")
    if not found and time.time() - resend < 60:  # the guest may have dropped the first line
        say(d, api, vm, "poweroff")
        found, token = wait_event(api, token, vm, "power_state", "Halted")
    t.ok(found, "guest poweroff: event.from woke up with power_state Halted")
    rec = api.call("VM.get_record", vm)
    t.ok(rec["power_state"] == "Halted" and rec["domid"] == "-1" and
         rec["resident_on"] == "OpaqueRef:NULL", "the VM is Halted, not resident")
    t.ok(not pid_alive(pid), "its VMM is gone")

    # guest reboot: a new VMM, still Running
    api.call("VM.start", vm, False, False)
    pid = int(api.call("VM.get_domid", vm))
    pids.append(pid)
    new = say_until(d, api, vm, "reboot",
                    lambda: (lambda x: x if x not in (pid, -1) else None)(
                        int(api.call("VM.get_domid", vm))))
    pids.append(new)
    new = new or pid
    t.ok(new not in (pid, -1) and pid_alive(new), f"guest reboot: restarted on a new VMM ({new})")
    t.is_eq(api.call("VM.get_power_state", vm), "Running", "and it is Running")

    # guest panic with actions_after_crash = destroy: Halted (XAPI's default 'restart'
    # restarts it, at most 3 times a minute)
    other = new_vm(api, kernel, "crasher", extra={"actions_after_crash": "destroy"})
    api.call("VM.start", other, False, False)
    cp = int(api.call("VM.get_domid", other))
    pids.append(cp)
    ps = say_until(d, api, other, "panic on purpose",
                   lambda: api.call("VM.get_power_state", other) == "Halted" and "Halted")
    t.is_eq(ps, "Halted", "guest panic with actions_after_crash=destroy -> Halted")
    api.call("VM.destroy", other)

    # atolld restart while the VM runs: adopted
    pid = int(api.call("VM.get_domid", vm))
    t.is_eq(d.stop(), 0, "atolld stops cleanly while a VM runs")
    t.ok(pid_alive(pid), "the VMM outlives atolld")
    d = apitest.Atolld(state_dir=state, root_pw=None)
    api = Api(d)
    rec = api.call("VM.get_record", vm)
    t.is_eq(rec["power_state"], "Running", "after the restart the VM is still Running")
    t.is_eq(int(rec["domid"]), pid, "same VMM pid: adopted, not started twice")
    t.ok("adopted running VMM pid %d" % pid in d.log_text(), "the log says it was adopted")
    api.call("VM.pause", vm)
    api.call("VM.unpause", vm)
    t.is_eq(api.call("VM.get_power_state", vm), "Running", "the adopted VMM can be driven")
    con = Console(d, api.sid, vm)
    t.ok(con.wait_for("ATOLL READY"), "its console is reachable after the restart")
    con.close()

    # atolld killed outright (SIGKILL) while the VM runs: adopted again as well
    os.kill(d.proc.pid, signal.SIGKILL)
    d.proc.wait(timeout=10)
    t.ok(pid_alive(pid), "the VMM outlives a SIGKILLed atolld")
    d = apitest.Atolld(state_dir=state, root_pw=None)
    api = Api(d)
    rec = api.call("VM.get_record", vm)
    t.ok(rec["power_state"] == "Running" and int(rec["domid"]) == pid,
         "after kill -9 and restart: still Running on the same VMM")

    # an adopted VMM that exits is still noticed
    ps = say_until(d, api, vm, "poweroff",
                   lambda: api.call("VM.get_power_state", vm) == "Halted" and "Halted")
    t.is_eq(ps, "Halted", "an adopted VMM's guest poweroff -> Halted")

    # the VMM dies while atolld is down: Halted on the next start
    api.call("VM.start", vm, False, False)
    pid = int(api.call("VM.get_domid", vm))
    pids.append(pid)
    d.stop()
    os.kill(pid, 9)
    end = time.time() + 10
    while pid_alive(pid) and time.time() < end:
        time.sleep(0.05)
    d = apitest.Atolld(state_dir=state, root_pw=None)
    api = Api(d)
    rec = api.call("VM.get_record", vm)
    t.is_eq(rec["power_state"], "Halted", "a VMM killed while atolld was down: marked Halted")
    t.ok(rec["domid"] == "-1" and rec["current_operations"] == {} and
         "start" in rec["allowed_operations"], "domid -1, no operations, start allowed")
    api.call("VM.start", vm, False, False)
    pid = int(api.call("VM.get_domid", vm))
    pids.append(pid)
    t.is_eq(api.call("VM.get_power_state", vm), "Running", "and it starts again")

    # a VMM that hangs (stopped) while atolld is down: killed, never left next to a new one
    d.stop()
    os.kill(pid, signal.SIGSTOP)
    d = apitest.Atolld(state_dir=state, root_pw=None)
    api = Api(d)
    t.is_eq(api.call("VM.get_power_state", vm), "Halted", "an unresponsive VMM: marked Halted")
    end = time.time() + 10
    while pid_alive(pid) and time.time() < end:
        time.sleep(0.05)
    t.ok(not pid_alive(pid), "and killed")
    api.call("VM.start", vm, False, False)
    pids.append(int(api.call("VM.get_domid", vm)))
    api.call("VM.hard_shutdown", vm)
    return d


if __name__ == "__main__":
    main()

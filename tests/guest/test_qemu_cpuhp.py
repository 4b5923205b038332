#!/usr/bin/env python3
"""tests/guest/test_qemu_cpuhp.py - the test guest's ACPI CPU hotplug driver under an
independent VMM: QEMU q35 (-smp 1,maxcpus=3) describes its CPU hotplug registers and GPE in
its own DSDT (Processor() objects, \\_GPE._E02 calling CSCN); the guest finds them, a QEMU
device_add brings a CPU online in the guest (INIT/SIPI), device_del makes the guest take it
offline and eject it, after which QEMU has removed it. This checks that atoll-vmm's register
block is the same interface as QEMU's. Skipped without /dev/kvm or qemu-system-x86_64."""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("ATOLL_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import atolltest as t  # noqa: E402
from qemuguest import QemuGuest, find_qemu, guest_elf  # noqa: E402

QEMU = find_qemu()
ELF = guest_elf()
try:
    g = QemuGuest(QEMU, ELF, "q35", "1,maxcpus=3", 256, connect_timeout=20)
except RuntimeError:
    t.skip_all("QEMU did not start (q35 with -smp 1,maxcpus=3)")


def command(line, answer):
    return g.answer(line, answer, timeout=30)


def hmp(line):
    g.hmp(line, settle=0.5)


def online_becomes(want, timeout=20):
    end = time.monotonic() + timeout
    got = None
    while time.monotonic() < end:
        got = command("cpus", "cpus online=")
        if got == f"cpus online={want}":
            break
        time.sleep(0.2)
    return got


boot = g.expect(rb"atoll> ", 60)
t.ok(boot is not None and "cpu hotplug: registers 0xcd8, GPE 2, 3 slots" in boot,
     "q35: the guest finds QEMU's CPU hotplug registers, GPE 2 and 3 processor slots")
t.is_eq(command("cpus", "cpus online="), "cpus online=1", "one CPU at boot")
hmp("device_add host-x86_64-cpu,id=c1,socket-id=0,core-id=1,thread-id=0")
t.is_eq(online_becomes(2), "cpus online=2", "QEMU device_add: the guest brings the CPU online")
t.is_eq(command("smpcheck", "smpcheck "), "smpcheck ok answered=1", "the new CPU answers an IPI")
hmp("device_del c1")
t.is_eq(online_becomes(1), "cpus online=1", "QEMU device_del: the guest takes it offline")
end = time.monotonic() + 20
got = None
while time.monotonic() < end:
    got = command("cpuhp", "cpuhp ")
    if got and "present=0 " in got:
        break
    time.sleep(0.2)
t.ok(got is not None and "present=0 " in got, f"the guest ejected it: QEMU no longer has it ({got})")
g.sock.sendall(b"poweroff\r")
t.is_eq(g.wait(30), 0, "poweroff ends QEMU with status 0")
t.done()

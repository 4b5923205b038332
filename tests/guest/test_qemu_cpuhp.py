#!/usr/bin/env python3
"""tests/guest/test_qemu_cpuhp.py - the test guest's ACPI CPU hotplug driver under an
independent VMM: QEMU q35 (-smp 1,maxcpus=3) describes its CPU hotplug registers and GPE in
its own DSDT (Processor() objects, \\_GPE._E02 calling CSCN); the guest finds them, a QEMU
device_add brings a CPU online in the guest (INIT/SIPI), device_del makes the guest take it
offline and eject it, after which QEMU has removed it. This checks that atoll-vmm's register
block is the same interface as QEMU's. Skipped without /dev/kvm or qemu-system-x86_64."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.environ.get("ATOLL_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import atolltest as t  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64")
if not QEMU:
    t.skip_all("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
t.need_kvm()
ELF = os.path.join(t.builddir(), "tests", "guest", "atoll-guest.elf")
if not os.path.exists(ELF):
    t.skip_all(f"{ELF} not built")

d = t.tmpdir("atoll-guest-")
con_path, mon_path = os.path.join(d, "console.sock"), os.path.join(d, "monitor.sock")
proc = t.spawn([QEMU, "-M", "q35", "-enable-kvm", "-cpu", "host,-arch-capabilities", "-m", "256",
                "-smp", "1,maxcpus=3", "-display", "none", "-no-reboot", "-nodefaults",
                "-monitor", f"unix:{mon_path},server=on,wait=off", "-kernel", ELF,
                "-chardev", f"socket,id=con,path={con_path},server=on,wait=on",
                "-serial", "chardev:con"],
               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
con = socket.socket(socket.AF_UNIX)
end = time.monotonic() + 20
while True:
    try:
        con.connect(con_path)
        break
    except OSError:
        if time.monotonic() > end or proc.poll() is not None:
            t.skip_all("QEMU did not start (q35 with -smp 1,maxcpus=3)")
        time.sleep(0.05)
buf = b""


def expect(pattern, timeout=30):
    global buf
    end = time.monotonic() + timeout
    while not re.search(pattern, buf):
        left = end - time.monotonic()
        if left <= 0:
            return None
        con.settimeout(left)
        try:
            data = con.recv(4096)
        except socket.timeout:
            return None
        if not data:
            return None
        buf += data
    m = re.search(pattern, buf)
    out, buf = buf[:m.end()], buf[m.end():]
    return out.decode(errors="replace")


def command(line, answer):
    con.sendall(line.encode() + b"\r")
    out = expect(rb"atoll> ") or ""
    for ln in out.replace("\r", "").split("\n"):
        if ln.startswith(answer):
            return ln
    return None


def hmp(line):
    m = socket.socket(socket.AF_UNIX)
    m.settimeout(5)
    m.connect(mon_path)
    time.sleep(0.2)
    m.recv(65536)
    m.sendall(line.encode() + b"\n")
    time.sleep(0.5)
    m.close()


def online_becomes(want, timeout=20):
    end = time.monotonic() + timeout
    got = None
    while time.monotonic() < end:
        got = command("cpus", "cpus online=")
        if got == f"cpus online={want}":
            break
        time.sleep(0.2)
    return got


boot = expect(rb"atoll> ", 60)
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
con.sendall(b"poweroff\r")
try:
    st = proc.wait(30)
except subprocess.TimeoutExpired:
    st = None
t.is_eq(st, 0, "poweroff ends QEMU with status 0")
t.done()

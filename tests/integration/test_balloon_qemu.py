#!/usr/bin/env python3
"""tests/integration/test_balloon_qemu.py - the test guest's balloon driver (tests/guest/
vballoon.c) against an independent device: QEMU's virtio-balloon-pci (transitional, on the
pc machine), driven from QEMU's monitor. The guest must find it, follow QEMU's target both
ways and report it, which shows that driver and atoll-vmm's device follow the same spec.
Skipped with its reason without /dev/kvm or qemu-system-x86_64. No timing is judged.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64")
if not QEMU:
    t.skip_all("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
t.need_kvm()
img = v.guest_image()
if not img:
    t.skip_all("the test guest is not built (make -C tests/guest)")

d = t.tmpdir("atoll-qballoon-")
con_path = os.path.join(d, "console.sock")
mon_path = os.path.join(d, "monitor.sock")
proc = t.spawn([QEMU, "-M", "pc", "-enable-kvm", "-cpu", "host,-arch-capabilities", "-m", "256",
                "-smp", "1", "-display", "none", "-no-reboot", "-nodefaults",
                "-monitor", f"unix:{mon_path},server=on,wait=off", "-kernel", img,
                "-chardev", f"socket,id=con,path={con_path},server=on,wait=on",
                "-serial", "chardev:con", "-device", "virtio-balloon-pci,id=bal"],
               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
con = socket.socket(socket.AF_UNIX)
end = time.monotonic() + 20
while True:
    try:
        con.connect(con_path)
        break
    except OSError:
        if time.monotonic() > end or proc.poll() is not None:
            t.skip_all("QEMU did not start: " + proc.stderr.read().decode(errors="replace")[-300:])
        time.sleep(0.05)
buf = b""


def expect(pattern, timeout=60):
    global buf
    end = time.monotonic() + timeout
    while not re.search(pattern, buf):
        left = end - time.monotonic()
        if left <= 0:
            return None
        con.settimeout(left)
        try:
            chunk = con.recv(4096)
        except socket.timeout:
            return None
        if not chunk:
            return None
        buf += chunk
    m = re.search(pattern, buf)
    out, buf = buf[:m.end()], buf[m.end():]
    return out.decode(errors="replace")


def command(line, answer):
    con.sendall(line.encode() + b"\r")
    out = expect(rb"atoll> ") or ""
    for ln in out.replace("\r", "").split("\n"):
        if ln.startswith(answer):
            return ln
    return ""


def hmp(line):
    m = socket.socket(socket.AF_UNIX)
    m.settimeout(5)
    m.connect(mon_path)
    data = b""
    while b"(qemu)" not in data:
        data += m.recv(4096)
    m.sendall(line.encode() + b"\n")
    data = b""
    end = time.monotonic() + 5
    while data.count(b"(qemu)") < 1 and time.monotonic() < end:
        try:
            data += m.recv(4096)
        except socket.timeout:
            break
    m.close()
    return data.decode(errors="replace")


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line or ""))


def wait_actual(pages, timeout=60):
    end = time.monotonic() + timeout
    b = {}
    while time.monotonic() < end:
        b = kv(command("balloon", "balloon found="))
        if b.get("actual_pages") == str(pages):
            break
        time.sleep(0.1)
    return b


if expect(rb"atoll> ", 120) is None:
    proc.kill()
    t.skip_all("the test guest did not boot under QEMU: " + buf.decode(errors="replace")[-300:])
b = kv(command("balloon", "balloon found="))
t.ok(b.get("found") == "1" and b.get("ready") == "1",
     "the guest finds QEMU's virtio-balloon-pci and sets it up (modern interface)")
free0 = int(kv(command("mem", "mem total_kib=")).get("free_kib", "0"))
hmp("balloon 64")
b = wait_actual(192 * 256)
t.is_eq(b.get("actual_pages"), str(192 * 256), "QEMU target 64 MiB: the guest inflates 192 MiB")
free1 = int(kv(command("mem", "mem total_kib=")).get("free_kib", "0"))
t.is_eq(free0 - free1, 192 * 1024, "guest free memory fell by 192 MiB")
info = hmp("info balloon")
t.ok("actual=64" in info, f"QEMU sees the guest's actual: {info.strip().splitlines()[-2:-1]}")
# QEMU asks for statistics every second once a polling interval is set
hmp("qom-set /machine/peripheral/bal guest-stats-polling-interval 1")
stats = ""
end = time.monotonic() + 20
while time.monotonic() < end:
    stats = hmp("qom-get /machine/peripheral/bal guest-stats")
    m = re.search(r'"stat-free-memory": (\d+)', stats)
    if m and int(m.group(1)) == free1 * 1024:
        break
    time.sleep(0.3)
m = re.search(r'"stat-free-memory": (\d+)', stats)
t.ok(m is not None and int(m.group(1)) == free1 * 1024,
     f"QEMU reads the guest's free memory from the stats queue ({m.group(1) if m else None})")
t.ok(re.search(r'"stat-total-memory": [1-9]', stats) is not None, "and its total memory")
hmp("balloon 256")
b = wait_actual(0)
t.is_eq(b.get("actual_pages"), "0", "QEMU target 256 MiB: the guest deflates")
t.is_eq(int(kv(command("mem", "mem total_kib=")).get("free_kib", "0")), free0,
        "guest free memory back")
t.ok("actual=256" in hmp("info balloon"), "QEMU sees it")
con.sendall(b"poweroff\r")
try:
    proc.wait(30)
except subprocess.TimeoutExpired:
    proc.kill()
    proc.wait(10)
con.close()
t.done()

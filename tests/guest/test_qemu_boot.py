#!/usr/bin/env python3
"""tests/guest/test_qemu_boot.py - boots the test guest under an independent VMM
(qemu-system-x86_64 with KVM) and checks the console contract: the boot line with the
command line, the READY line, cpus with -smp 2, mem, echo, unknown commands, and that
the poweroff command (ACPI S5 through PM1a_CNT on pc) and the ACPI power button (QEMU's
system_powerdown: the fixed button's SCI and PM1 PWRBTN_STS on q35; the GED interrupt and event
selector on the hardware-reduced microvm, then S5 through SLEEP_CONTROL_REG) end QEMU with
status 0.
Skipped with its reason without /dev/kvm or qemu-system-x86_64.
"""
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


class Guest:
    def __init__(self, machine, smp, mem, cmdline, extra=()):
        self.dir = t.tmpdir("atoll-guest-")
        sock = os.path.join(self.dir, "console.sock")
        self.monitor = os.path.join(self.dir, "monitor.sock")
        args = [QEMU, "-M", machine, "-enable-kvm", "-cpu", "host,-arch-capabilities",
                "-m", str(mem), "-smp", str(smp), "-display", "none", "-no-reboot",
                "-monitor", f"unix:{self.monitor},server=on,wait=off", "-nodefaults", "-kernel", ELF, "-append", cmdline,
                "-chardev", f"socket,id=con,path={sock},server=on,wait=on",
                "-serial", "chardev:con", *extra]
        self.proc = t.spawn(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.time() + 10
        while True:
            try:
                self.sock.connect(sock)
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("QEMU did not open its console socket: " +
                                       self.proc.stderr.read().decode(errors="replace"))
                time.sleep(0.05)
        self.buf = b""

    def expect(self, pattern, timeout=20):
        """Reads until pattern (bytes regex) matches; returns the text up to the match end."""
        deadline = time.time() + timeout
        while True:
            m = re.search(pattern, self.buf)
            if m:
                out, self.buf = self.buf[:m.end()], self.buf[m.end():]
                return out.decode(errors="replace")
            left = deadline - time.time()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return None
            if not data:
                return None
            self.buf += data

    def command(self, line, timeout=20):
        self.sock.sendall(line.encode() + b"\n")
        out = self.expect(rb"atoll> ", timeout)
        if out is None:
            return None
        # drop the echoed command line and the prompt
        lines = out.replace("\r", "").split("\n")
        return "\n".join(lines[1:-1])

    def hmp(self, line):
        """Sends one command to QEMU's human monitor."""
        m = socket.socket(socket.AF_UNIX)
        m.settimeout(5)
        m.connect(self.monitor)
        m.recv(4096)  # banner and prompt
        m.sendall(line.encode() + b"\n")
        time.sleep(0.2)
        m.close()

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None


def boot_and_check(machine, smp, mem, button):
    cmdline = f"atoll.test={machine} quiet"
    g = Guest(machine, smp, mem, cmdline)
    what = f"{machine} -smp {smp} -m {mem}"
    t.ok(g.expect(rb'atoll-guest: booting cmdline="' + re.escape(cmdline.encode()) + rb'"') is not None,
         f"{what}: boot line with the command line")
    ready = g.expect(rb"ATOLL READY cpus=(\d+) mem_kib=(\d+) boot_ms=(\d+)\r?\n")
    m = re.search(r"cpus=(\d+) mem_kib=(\d+) boot_ms=(\d+)", ready or "")
    t.ok(m is not None, f"{what}: READY line")
    if not m:
        t.diag(g.buf.decode(errors="replace"))
        return
    t.is_eq(int(m.group(1)), smp, f"{what}: READY reports every vCPU")
    kib = int(m.group(2))
    t.ok(mem * 1024 * 0.9 <= kib <= mem * 1024, f"{what}: READY mem_kib {kib} close to {mem} MiB")
    t.ok(g.expect(rb"atoll> ", 5) is not None, f"{what}: prompt")
    t.is_eq(g.command("cpus"), f"cpus online={smp}", f"{what}: cpus")
    t.is_eq(g.command("smpcheck"), f"smpcheck ok answered={smp - 1}",
            f"{what}: every AP answers an IPI")
    mem_out = g.command("mem") or ""
    mm = re.fullmatch(r"mem total_kib=(\d+) free_kib=(\d+)", mem_out)
    t.ok(mm is not None and int(mm.group(1)) == kib and 0 < int(mm.group(2)) < kib,
         f"{what}: mem ({mem_out})")
    t.is_eq(g.command("echo hello  atoll"), "hello  atoll", f"{what}: echo")
    t.is_eq(g.command("frobnicate"), "error: unknown command 'frobnicate' (try help)",
            f"{what}: unknown command")
    t.ok(re.fullmatch(r"uptime ms=\d+", g.command("uptime") or "") is not None, f"{what}: uptime")
    if machine == "microvm":
        t.is_eq(g.command("burn"), f"burn started cpus={smp}", f"{what}: burn on every vCPU")
        t.is_eq(g.command("echo busy"), "busy", f"{what}: the console answers during burn")
        b = g.command("burn stop") or ""
        t.ok(re.fullmatch(rf"burn stopped cpus={smp} ms=\d+ mloops=\d+ mloops_per_s=[1-9]\d*",
                          b) is not None, f"{what}: burn stop ({b})")
        t.is_eq(g.command("dirty 8 0"), "dirty started mib=8 rate=0", f"{what}: dirty")
        t.is_eq(g.command("echo dirtying"), "dirtying", f"{what}: the console answers during dirty")
        d = g.command("dirty stop") or ""
        t.ok(re.fullmatch(r"dirty stopped generations=\d+", d) is not None, f"{what}: {d}")
        v = g.command("verify") or ""
        t.ok(re.fullmatch(r"verify ok pages=\d+", v) is not None, f"{what}: {v}")
    if button:
        g.hmp("system_powerdown")
        t.ok(g.expect(rb"power button pressed", 20) is not None, f"{what}: power button seen")
        t.is_eq(g.wait(20), 0, f"{what}: the ACPI power button ends QEMU with status 0")
    else:
        g.sock.sendall(b"poweroff\n")
        t.is_eq(g.wait(20), 0, f"{what}: poweroff ends QEMU with status 0")


def panic_check(kind, want):
    """An unexpected exception ends in ATOLL PANIC and pvpanic (QEMU exits 1 with
    -action panic=exit-failure)."""
    g = Guest("microvm", 1, 64, "panic test", ("-device", "pvpanic", "-action",
                                                 "panic=exit-failure"))
    if not t.ok(g.expect(rb"atoll> ") is not None, f"fault {kind}: guest ready"):
        return
    g.sock.sendall(f"fault {kind}\n".encode())
    t.ok(g.expect(rb"ATOLL PANIC: unexpected exception " + want) is not None,
         f"fault {kind}: ATOLL PANIC names the exception")
    t.is_eq(g.wait(20), 1, f"fault {kind}: pvpanic ends QEMU (exit-failure)")


def main():
    panic_check("pf", rb"14 \(#PF")
    panic_check("ud", rb"6 \(#UD")
    for machine, smp, mem, button in (("microvm", 2, 64, True), ("pc", 2, 128, False),
                                      ("q35", 1, 256, True)):
        try:
            boot_and_check(machine, smp, mem, button)
        except RuntimeError as e:
            t.ok(False, f"{machine}: {e}")
    t.done()


main()

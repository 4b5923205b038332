"""tests/lib/qemuguest.py - the test guest (tests/guest/atoll-guest.elf) under an independent
VMM, qemu-system-x86_64 with KVM: its serial console on a UNIX socket (expect a pattern, run a
shell command and read the answer) and QEMU's human monitor. Processes and directories go
through atolltest (killed by pid, removed at exit). find_qemu()/guest_elf() skip the whole test
with the reason when the machine lacks what it needs.
"""
import os
import re
import shutil
import socket
import subprocess
import time

import atolltest as t


def find_qemu():
    """The qemu-system-x86_64 path; skips the whole test without it or without /dev/kvm."""
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        t.skip_all("qemu-system-x86_64 not installed (Debian package qemu-system-x86)")
    t.need_kvm()
    return qemu


def guest_elf():
    """The built test guest; skips the whole test if it is not built."""
    elf = os.path.join(t.builddir(), "tests", "guest", "atoll-guest.elf")
    if not os.path.exists(elf):
        t.skip_all(f"{elf} not built")
    return elf


class QemuGuest:
    """One QEMU running the test guest. Raises RuntimeError if QEMU does not open its
    console socket within connect_timeout seconds."""

    def __init__(self, qemu, kernel, machine, smp, mem, cmdline=None, extra=(),
                 connect_timeout=10):
        self.dir = t.tmpdir("atoll-guest-")
        sock = os.path.join(self.dir, "console.sock")
        self.monitor = os.path.join(self.dir, "monitor.sock")
        args = [qemu, "-M", machine, "-enable-kvm", "-cpu", "host,-arch-capabilities",
                "-m", str(mem), "-smp", str(smp), "-display", "none", "-no-reboot",
                "-monitor", f"unix:{self.monitor},server=on,wait=off", "-nodefaults",
                "-kernel", kernel]
        if cmdline is not None:
            args += ["-append", cmdline]
        args += ["-chardev", f"socket,id=con,path={sock},server=on,wait=on",
                 "-serial", "chardev:con", *extra]
        self.proc = t.spawn(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
        self.sock = socket.socket(socket.AF_UNIX)
        deadline = time.time() + connect_timeout
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
        """Runs a shell command; its output without the echo and the prompt, or None."""
        self.sock.sendall(line.encode() + b"\n")
        out = self.expect(rb"atoll> ", timeout)
        if out is None:
            return None
        lines = out.replace("\r", "").split("\n")
        return "\n".join(lines[1:-1])

    def answer(self, line, prefix, timeout=20):
        """Runs a shell command; the first output line starting with prefix, or None."""
        out = self.command(line, timeout) or ""
        for ln in out.split("\n"):
            if ln.startswith(prefix):
                return ln
        return None

    def hmp(self, line, settle=0.2):
        """Sends one command to QEMU's human monitor and gives it settle seconds."""
        m = socket.socket(socket.AF_UNIX)
        m.settimeout(5)
        m.connect(self.monitor)
        m.recv(4096)  # banner and prompt
        m.sendall(line.encode() + b"\n")
        time.sleep(settle)
        m.close()

    def wait(self, timeout=20):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

"""tests/integration/vmmtest.py - drives one atoll-vmm process for integration tests.

Vmm(...) starts atoll-vmm (through atolltest.spawn, so it is killed by pid at exit)
with its console and control sockets in a private temporary directory; helpers
wait for console text, talk to the control socket and collect the exit status.
Every wait is bounded; nothing here measures time for pass/fail.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import atolltest as t  # noqa: E402


def vmm_path():
    """$ATOLL_VMM (e.g. a sanitizer build) or the build tree's atoll-vmm."""
    return os.environ.get("ATOLL_VMM") or os.path.join(t.builddir(), "hypervisor", "atoll-vmm")


def guest_image():
    """The Atoll test guest in the build tree, or None if it is not built."""
    p = os.environ.get("ATOLL_GUEST_IMAGE") or os.path.join(t.builddir(), "tests", "guest",
                                                            "atoll-guest.elf")
    return p if os.path.isfile(p) else None


def need_vmm():
    """Skips the whole test without /dev/kvm or a built atoll-vmm."""
    t.need_kvm()
    if not os.path.exists(vmm_path()):
        t.skip_all("atoll-vmm is not built")


def need_guest():
    """need_vmm(), then the built test guest: its path, or the whole test is skipped."""
    need_vmm()
    img = guest_image()
    if not img:
        t.skip_all("the test guest is not built (make -C tests/guest)")
    return img


def run_vmm(args, timeout=30, env=None):
    """Runs atoll-vmm to completion: (status, stdout, stderr)."""
    e = dict(os.environ)
    if env:
        e.update(env)
    p = t.spawn([vmm_path()] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL, env=e)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return None, out.decode(errors="replace"), err.decode(errors="replace")
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def error_lines(stderr):
    """stderr lines other than the PVM note and log lines."""
    return [ln for ln in stderr.splitlines()
            if ln and "note: KVM backend is PVM" not in ln and " info " not in ln]


class Vmm:
    def __init__(self, kernel, memory="64M", vcpus=1, cmdline=None, extra=(), env=None):
        self.dir = t.tmpdir("atoll-vmm-")
        self.console_path = os.path.join(self.dir, "console.sock")
        self.control_path = os.path.join(self.dir, "control.sock")
        self.log_path = os.path.join(self.dir, "console.log")
        args = [vmm_path(), "--kernel", kernel, "--memory", str(memory), "--vcpus", str(vcpus),
                "--console-socket", self.console_path, "--control-socket", self.control_path,
                "--console-log", self.log_path]
        if cmdline is not None:
            args += ["--cmdline", cmdline]
        args += list(extra)
        self.t0 = time.monotonic()
        e = dict(os.environ)
        if env:
            e.update(env)
        self.proc = t.spawn(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=e)
        self.console = None
        self.control = None
        self.cbuf = b""
        self._ctl_buf = b""
        self.greeting = None

    def _connect(self, path, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return None
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return s
            except OSError:
                s.close()
                time.sleep(0.02)
        return None

    def open_console(self, timeout=20):
        self.console = self._connect(self.console_path, timeout)
        return self.console is not None

    def open_control(self, timeout=20):
        self.control = self._connect(self.control_path, timeout)
        if self.control is None:
            return None
        self.greeting = self._ctl_line(10)
        return self.greeting

    def _ctl_line(self, timeout):
        end = time.monotonic() + timeout
        while b"\n" not in self._ctl_buf and time.monotonic() < end:
            self.control.settimeout(max(0.01, end - time.monotonic()))
            try:
                d = self.control.recv(4096)
            except socket.timeout:
                break
            if not d:
                break
            self._ctl_buf += d
        if b"\n" not in self._ctl_buf:
            line, self._ctl_buf = self._ctl_buf, b""
            return line.decode(errors="replace") if line else None
        line, self._ctl_buf = self._ctl_buf.split(b"\n", 1)
        return line.decode(errors="replace")

    def ctl(self, cmd, timeout=10):
        """Sends one control request, returns its answer line (or None)."""
        if self.control is None and self.open_control() is None:
            return None
        try:
            self.control.sendall(cmd.encode() + b"\n")
        except OSError:
            return None
        return self._ctl_line(timeout)

    def ctl_event(self, timeout=10):
        return self._ctl_line(timeout)

    def send(self, text):
        self.console.sendall(text.encode())

    def wait_for(self, needle, timeout=60):
        """Reads console output until needle (bytes or str) appears; returns the text or None."""
        if isinstance(needle, str):
            needle = needle.encode()
        if self.console is None and not self.open_console():
            return None
        end = time.monotonic() + timeout
        while needle not in self.cbuf:
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.console.settimeout(left)
            try:
                d = self.console.recv(65536)
            except socket.timeout:
                return None
            if not d:
                return None
            self.cbuf += d
        return self.cbuf.decode(errors="replace")

    def command(self, cmd, answer, prompt="atoll> ", timeout=60):
        """Types a guest shell command and returns the line that starts with answer."""
        self.cbuf = b""
        self.send(cmd + "\r")
        out = self.wait_for(prompt, timeout)
        if out is None:
            return None
        for ln in out.replace("\r", "").split("\n"):
            if ln.startswith(answer):
                return ln
        return None

    def wait(self, timeout=60):
        """Waits for the process; returns (status, stderr) or (None, stderr) on timeout."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, ""
        return self.proc.returncode, err.decode(errors="replace")

    def close(self):
        for s in (self.console, self.control):
            if s:
                s.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

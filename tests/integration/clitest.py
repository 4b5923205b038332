"""tests/integration/clitest.py - runs the atoll CLI against a test atolld (apitest.Atolld).

Cli(atolld) runs toolstack/atoll as a subprocess with ATOLL_SOCKET pointing at the test
daemon's UNIX socket and HOME at a private directory (certificate pins land there), each
run bounded in time. parse_records() reads xe's record blocks back into dicts.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest as a  # noqa: E402
from apitest import t  # noqa: E402


def atoll_path():
    return os.path.join(t.builddir(), "toolstack", "atoll")


class Cli:
    def __init__(self, daemon):
        if not os.access(atoll_path(), os.X_OK):
            t.skip_all("the atoll CLI is not built")
        self.d = daemon
        self.home = t.tmpdir("atoll-cli-home-")
        self.env = dict(os.environ, ATOLL_SOCKET=daemon.sock, HOME=self.home)
        self.env.pop("ATOLL_KNOWN_HOSTS", None)

    def run(self, *args, timeout=60, input=None):
        """(exit status, stdout, stderr) of one CLI run."""
        p = subprocess.run([atoll_path()] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=timeout, input=input)
        return p.returncode, p.stdout, p.stderr

    def out(self, *args, **kw):
        """stdout of a run that must succeed (stripped); diagnostics on failure."""
        rc, out, err = self.run(*args, **kw)
        if rc != 0:
            t.diag(f"atoll {' '.join(args)} -> {rc}: {err.strip()}")
        return out.strip()

    def spawn(self, *args, **kw):
        return t.spawn([atoll_path()] + list(args), env=self.env, **kw)

    def tcp(self, *args, pw=a.ROOT_PW, user="root", https=True, timeout=60):
        conn = ["-s", "127.0.0.1", "-p", str(self.d.https_port if https else self.d.http_port),
                "-u", user, "-pw", pw]
        if not https:
            conn.append("--nossl")
        return self.run(*(conn + list(args)), timeout=timeout)


def exit_status(proc, timeout=30):
    """proc's exit status, or None if it is still running after timeout seconds."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def send(proc, data):
    """Writes bytes to proc's stdin; a process that already left is not an error here."""
    try:
        proc.stdin.write(data)
        proc.stdin.flush()
    except BrokenPipeError:
        pass


def parse_records(text):
    """xe record blocks -> list of {name: (tag, value)}."""
    recs, cur = [], None
    for line in text.split("\n"):
        if not line.strip():
            if cur:
                recs.append(cur)
            cur = None
            continue
        key, _, val = line.partition(": ")
        key = key.strip()
        name, _, tag = key.rpartition(" (")
        cur = cur if cur is not None else {}
        cur[name] = (tag.strip(" )"), val)
    if cur:
        recs.append(cur)
    return recs

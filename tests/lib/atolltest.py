"""tests/lib/atolltest.py - TAP output and process hygiene for Python integration tests.

Every integration test imports this: it prints TAP for automake's driver, counts a test
that cannot run here as skipped ("1..0 # SKIP reason"),, and kills at exit only the
processes it started itself, by pid.
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile

_n = 0
_failed = 0
_children = []
_tmpdirs = []


def ok(cond, desc):
    global _n, _failed
    _n += 1
    if not cond:
        _failed += 1
    print(("ok" if cond else "not ok") + f" {_n} - {desc}", flush=True)
    return bool(cond)


def is_eq(got, want, desc):
    r = ok(got == want, desc)
    if not r:
        diag(f"  got {got!r}, expected {want!r}")
    return r


def diag(msg):
    for line in str(msg).splitlines() or [""]:
        print("# " + line, flush=True)


def skip(desc, reason):
    """One skipped test point (counted as SKIP by the TAP driver)."""
    global _n
    _n += 1
    print(f"ok {_n} - {desc} # SKIP {reason}", flush=True)


def skip_all(reason):
    print(f"1..0 # SKIP {reason}", flush=True)
    sys.exit(0)  # "1..0 # SKIP" is the skip; the TAP driver treats non-zero exits as errors


def done():
    print(f"1..{_n}", flush=True)
    sys.exit(1 if _failed else 0)


def spawn(args, **kw):
    """Popen that is killed (by pid) at exit if still running."""
    p = subprocess.Popen(args, **kw)
    _children.append(p)
    return p


def tmpdir(prefix="atoll-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def need_kvm():
    if not os.path.exists("/dev/kvm"):
        skip_all("no /dev/kvm on this host")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip_all("/dev/kvm is not accessible to this user")


def builddir():
    """Top of the build tree (automake exports abs_top_builddir through the environment)."""
    return os.environ.get("ATOLL_BUILDDIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


def srcdir():
    return os.environ.get("ATOLL_SRCDIR") or os.path.abspath(
        os.path.join(os.path.dirname(__file__), "..", ".."))


@atexit.register
def _cleanup():
    for p in _children:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)

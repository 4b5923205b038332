#!/usr/bin/env python3
"""tests/unit/hypervisor/block/test_atoll_img.py - atoll-img as a user drives it, side by side
with qemu-img: create a chain, write, discard, inspect, check, repair, resize, compare.
"""
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.environ.get("ATOLL_SRCDIR", os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "..")), "tests", "lib"))
import atolltest as t  # noqa: E402

IMG = os.path.join(t.builddir(), "hypervisor", "block", "atoll-img")
if not os.access(IMG, os.X_OK):
    t.skip_all(f"atoll-img not built at {IMG}")
QEMU = shutil.which("qemu-img")
d = t.tmpdir("atoll-img-")


last_stdout = ""


def run(*args, tool=IMG):
    """Runs a tool in the test directory: (exit status, stdout + stderr)."""
    global last_stdout
    p = subprocess.run([tool, *args], cwd=d, capture_output=True, text=True, timeout=120)
    last_stdout = p.stdout
    return p.returncode, p.stdout + p.stderr


def info_json(path):
    rc, out = run("info", "--json", path)
    try:
        return json.loads(last_stdout) if rc == 0 else {}
    except ValueError:
        t.diag(out)
        return {}


def qemu(*args):
    if not QEMU:
        return None, ""
    return run(*args, tool=QEMU)


rc, out = run("create", "-f", "qcow2", "base.qcow2", "64M")
t.is_eq(rc, 0, "create base.qcow2 64M")
rc, out = run("write", "-P", "0x11", "base.qcow2", "0", "64M")
t.is_eq(rc, 0, "fill the base with 0x11")
rc, out = run("create", "-b", "base.qcow2", "-F", "qcow2", "-c", "4096", "top.qcow2")
t.is_eq(rc, 0, "create top.qcow2 over base (size from the backing file)")
info = info_json("top.qcow2")
t.is_eq(info.get("virtual-size"), 64 << 20, "info --json: virtual size taken from the base")
t.is_eq(info.get("backing-filename"), "base.qcow2", "info --json: backing file")
t.is_eq(info.get("cluster-size"), 4096, "info --json: cluster size")
rc, out = run("write", "-P", "0x22", "top.qcow2", "1000", "5000")
t.is_eq(rc, 0, "write 5000 bytes of 0x22 at 1000 into top")
rc, out = run("discard", "top.qcow2", "1M", "1M")
t.is_eq(rc, 0, "discard 1 MiB of top")
rc, out = run("check", "top.qcow2")
t.ok(rc == 0 and "No errors" in out, "check top: clean")

if QEMU:
    rc, out = qemu("check", os.path.join(d, "top.qcow2"))
    t.is_eq(rc, 0, "qemu-img check top: clean")
    p = subprocess.run(["qemu-io", "-c", "read -P 0x11 0 1000", "-c", "read -P 0x22 1000 5000",
                        "-c", "read -P 0x11 6000 1042576", "-c", "read -P 0 1M 1M",
                        "-c", "read -P 0x11 2M 62M", os.path.join(d, "top.qcow2")],
                       capture_output=True, text=True, timeout=120)
    t.ok(p.returncode == 0 and "Pattern verification failed" not in p.stdout,
         "qemu-io sees base data, our write, and zeros where we discarded")
    rc, out = qemu("convert", "-O", "raw", os.path.join(d, "top.qcow2"),
                   os.path.join(d, "top.raw"))
    t.is_eq(rc, 0, "qemu-img convert top to raw")
    rc, out = run("compare", "top.qcow2", "top.raw")
    t.ok(rc == 0 and "identical" in out, "atoll-img compare: our chain equals qemu's raw copy")
else:
    for what in ("qemu-img check", "qemu-io patterns", "qemu-img convert", "compare"):
        t.skip(what, "qemu-img not installed (Debian package qemu-utils)")

rc, out = run("convert", "-O", "qcow2", "top.qcow2", "flat.qcow2")
t.is_eq(rc, 0, "convert the chain into one standalone qcow2")
rc, out = run("compare", "top.qcow2", "flat.qcow2")
t.ok(rc == 0 and "identical" in out, "the converted image shows the same disk")
info = info_json("flat.qcow2")
t.ok(info and "backing-filename" not in info, "the converted image stands alone")
rc, out = run("convert", "-O", "raw", "top.qcow2", "flat.raw")
t.ok(rc == 0 and os.path.getsize(os.path.join(d, "flat.raw")) == 64 << 20,
     "convert to raw: 64 MiB file")
rc, out = run("compare", "-F", "raw", "top.qcow2", "flat.raw")
t.ok(rc == 0 and "identical" in out, "the raw copy shows the same disk")
if QEMU:
    rc, out = qemu("check", os.path.join(d, "flat.qcow2"))
    t.is_eq(rc, 0, "qemu-img check of the converted image: clean")
else:
    t.skip("qemu-img check of the converted image", "qemu-img not installed")

rc, out = run("resize", "top.qcow2", "+64M")
t.is_eq(rc, 0, "resize top +64M")
t.is_eq(info_json("top.qcow2").get("virtual-size"), 128 << 20, "info: 128 MiB after resize")
rc, out = run("resize", "top.qcow2", "1M")
t.ok(rc == 1 and "discard it first" in out, "shrinking over data refused with a clear message")
rc, out = run("resize", "top.qcow2", "64M")
t.is_eq(rc, 0, "shrinking over unallocated clusters works")

rc, out = run("write", "-P", "0x33", "top.qcow2", "40M", "300k")
t.is_eq(rc, 0, "write 300 KiB at 40 MiB")
rc, out = run("check", "top.qcow2")
t.is_eq(rc, 0, "check after a clean close: no leaks (reserved clusters returned)")

rc, out = run("info", "missing.qcow2")
t.ok(rc == 1 and "missing.qcow2" in out, "info on a missing file names it")
with open(os.path.join(d, "junk.qcow2"), "wb") as f:
    f.write(b"QFI\xfb" + b"\x00\x00\x00\x09" + b"\xff" * 200)
rc, out = run("info", "-f", "qcow2", "junk.qcow2")
t.ok(rc == 1 and "version" in out, "info on a bad header says which field is wrong")
rc, out = run("create", "-f", "qcow2", "-c", "1000", "bad.qcow2", "1M")
t.ok(rc == 1 and "cluster size" in out, "create with a bad cluster size is refused")
t.done()

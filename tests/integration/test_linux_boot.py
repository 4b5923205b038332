#!/usr/bin/env python3
"""tests/integration/test_linux_boot.py - boots Debian's Linux kernel (bzImage, Linux boot
protocol) with a busybox initramfs under atoll-vmm: the kernel sees the vCPUs, reaches /init,
prints a marker and powers off through ACPI (exit status 0).

Needs hardware virtualization: on a PVM host (kvm_pvm, guest CPL 0 emulated) an unmodified
kernel takes minutes and stops on instructions the emulator lacks, so the test is skipped there.
Kernel: $ATOLL_LINUX_KERNEL or the newest /boot/vmlinuz-*; busybox: $ATOLL_BUSYBOX or busybox
on PATH (its shared libraries are copied into the initramfs when it is not static).
"""
import glob
import gzip
import io
import os
import shutil
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

t.need_kvm()
if os.path.exists("/sys/module/kvm_pvm"):
    t.skip_all("KVM here is PVM (no VT-x/AMD-V): unmodified Linux is emulated at CPL 0 and "
               "cannot boot in reasonable time; this test needs hardware virtualization")
if not os.path.exists(v.vmm_path()):
    t.skip_all("atoll-vmm is not built")
kernels = sorted(glob.glob("/boot/vmlinuz-*"))
kernel = os.environ.get("ATOLL_LINUX_KERNEL") or (kernels[-1] if kernels else None)
if not kernel or not os.access(kernel, os.R_OK):
    t.skip_all("no readable Linux kernel (install linux-image-amd64 or set ATOLL_LINUX_KERNEL)")
busybox = os.environ.get("ATOLL_BUSYBOX") or shutil.which("busybox")
if not busybox:
    t.skip_all("busybox not installed (apt-get install busybox)")


def cpio_newc(entries):
    """entries: (name, mode, data) -> a newc cpio archive."""
    out = io.BytesIO()
    ino = 1
    for name, mode, data in entries + [("TRAILER!!!", 0, b"")]:
        nb = name.encode() + b"\0"
        hdr = "070701" + "".join(f"{x:08x}" for x in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))
        out.write(hdr.encode() + nb)
        out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
        out.write(data)
        out.write(b"\0" * ((4 - len(data) % 4) % 4))
        ino += 1
    return out.getvalue()


def libs_of(path):
    try:
        r = subprocess.run(["ldd", path], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return []
    libs = []
    for ln in r.stdout.splitlines():
        parts = ln.split()
        for p in parts:
            if p.startswith("/") and os.path.exists(p):
                libs.append(p)
    return libs


init = b"""#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys
/bin/busybox mount -t proc proc /proc
echo "ATOLL LINUX READY cpus=$(/bin/busybox grep -c ^processor /proc/cpuinfo)"
/bin/busybox poweroff -f
"""
with open(busybox, "rb") as f:
    bb = f.read()
dirs = {"bin", "dev", "proc", "sys"}
entries = [("bin/busybox", stat.S_IFREG | 0o755, bb), ("init", stat.S_IFREG | 0o755, init)]
for lib in libs_of(busybox):
    with open(lib, "rb") as f:
        entries.append((lib.lstrip("/"), stat.S_IFREG | 0o755, f.read()))
    parts = lib.lstrip("/").split("/")[:-1]
    for i in range(1, len(parts) + 1):
        dirs.add("/".join(parts[:i]))
entries = [(d, stat.S_IFDIR | 0o755, b"") for d in sorted(dirs)] + entries
d = t.tmpdir()
initrd = os.path.join(d, "initrd.gz")
with open(initrd, "wb") as f:
    f.write(gzip.compress(cpio_newc(entries)))

m = v.Vmm(kernel, vcpus=2, memory="512M",
          cmdline="console=ttyS0 panic=-1 quiet rdinit=/init",
          extra=["--initrd", initrd])
out = m.wait_for("ATOLL LINUX READY", 180)
t.ok(out is not None, "Linux boots to the busybox /init")
if out:
    t.ok("ATOLL LINUX READY cpus=2" in out, "Linux sees 2 CPUs")
st, err = m.wait(120)
t.is_eq(st, 0, "poweroff -f ends atoll-vmm with status 0")
m.close()
t.done()

#!/usr/bin/env python3
"""tests/integration/test_guest_blk.py - the Atoll test guest's virtio-blk driver (blk command,
tests/guest/vblk.c) against atoll-vmm's virtio-blk on real KVM: patterns written by the guest
are found in the host image at the right offsets, read-only disks refuse writes, hostile
descriptor chains get errors while the VMM keeps running (and a corrupt ring needs a reset),
a qcow2 disk over a qemu-img backing chain stays clean for `qemu-img check` after the guest's
writes and after the VMM is killed mid-write, and the timed workload runs in event and polling
modes. No pass/fail depends on timing; throughput is only printed.
"""
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

img = v.need_guest()

d = t.tmpdir("atoll-gblk-")
SECTOR = 512
MASK = (1 << 64) - 1


def pattern(off, length, seed):
    """The guest's blk write pattern (tests/guest/vblk.h) for [off, off+length) of the disk."""
    return b"".join(struct.pack("<Q", (((off // 8 + i + 1) * 0x9E3779B97F4A7C15) & MASK) ^ seed)
                    for i in range(length // 8))


def boot(disks, memory="256M"):
    extra = []
    for spec in disks:
        extra += ["--disk", spec]
    m = v.Vmm(img, memory=memory, extra=extra)
    if m.wait_for("atoll> ", 120) is None:
        t.diag((m.cbuf[-2000:]).decode(errors="replace"))
    return m


def cmd(m, line, answer, timeout=120):
    return m.command(line, answer, timeout=timeout) or ""


rw = os.path.join(d, "rw.img")
ro = os.path.join(d, "ro.img")
with open(rw, "wb") as f:
    f.truncate(32 << 20)
with open(ro, "wb") as f:
    f.write(b"\xa5" * (4 << 20))

m = boot([f"path={rw},format=raw,serial=GUEST-RW", f"path={ro},format=raw,readonly=on,serial=GUEST-RO"])
probe = cmd(m, "blk list", "blk disks=")
if probe.startswith("error: unknown command"):
    m.close()
    t.skip_all("this test guest has no blk command")
t.is_eq(probe, "blk disks=2", "guest finds two virtio-blk disks by PCI probing")
t.is_eq(cmd(m, "blk list", "blk disk=0"), 'blk disk=0 slot=1 sectors=65536 ro=0 serial="GUEST-RW"',
        "disk 0: size, read-write, serial")
t.is_eq(cmd(m, "blk list", "blk disk=1"), 'blk disk=1 slot=2 sectors=8192 ro=1 serial="GUEST-RO"',
        "disk 1: size, VIRTIO_BLK_F_RO, serial")
t.is_eq(cmd(m, "blk write 0 100 300 7", "blk write disk"),
        "blk write disk=0 sector=100 count=300 status=0", "write 300 sectors at 100")
t.is_eq(cmd(m, "blk verify 0 100 300 7", "blk verify disk"),
        "blk verify disk=0 sector=100 count=300 status=0 ok=1 mismatches=0", "guest reads them back")
t.is_eq(cmd(m, "blk flush 0", "blk flush disk"), "blk flush disk=0 status=0", "flush")
with open(rw, "rb") as f:
    f.seek(100 * SECTOR)
    t.ok(f.read(300 * SECTOR) == pattern(100 * SECTOR, 300 * SECTOR, 7),
         "host image holds the guest's pattern at sector 100")
    f.seek(0)
    t.ok(f.read(100 * SECTOR) == bytes(100 * SECTOR), "sectors before it untouched")
t.is_eq(cmd(m, "blk write 1 0 8 7", "blk write disk"),
        "blk write disk=1 sector=0 count=8 status=1", "read-only disk: write gets IOERR")
t.is_eq(cmd(m, "blk verify 1 0 8 7", "blk verify disk").split(" ok=")[0],
        "blk verify disk=1 sector=0 count=8 status=0", "read-only disk: reads work")
with open(ro, "rb") as f:
    t.ok(f.read() == b"\xa5" * (4 << 20), "read-only image unchanged")
t.is_eq(cmd(m, "blk discard 0 0 64", "blk discard disk"), "blk discard disk=0 status=0", "discard")

for kind in ("loop", "oob", "huge", "zero"):
    t.is_eq(cmd(m, f"blk bad 0 {kind}", "blk bad disk"),
            f"blk bad disk=0 kind={kind} len=0 status=238 needs_reset=0",
            f"hostile chain '{kind}': completed with length 0, status untouched")
t.is_eq(cmd(m, "blk verify 0 100 300 7", "blk verify disk"),
        "blk verify disk=0 sector=100 count=300 status=0 ok=1 mismatches=0",
        "disk still correct after hostile chains")
t.is_eq(cmd(m, "blk bad 0 index", "blk bad disk"),
        "blk bad disk=0 kind=index len=-1 status=238 needs_reset=1",
        "head index out of range: DEVICE_NEEDS_RESET")
t.is_eq(cmd(m, "blk reset 0", "blk reset disk"), "blk reset disk=0 ok=1", "driver reset revives it")
t.is_eq(cmd(m, "blk verify 0 100 300 7", "blk verify disk"),
        "blk verify disk=0 sector=100 count=300 status=0 ok=1 mismatches=0", "data intact after reset")
t.ok(cmd(m, "uptime", "uptime ").startswith("uptime ms="), "guest and VMM still running")
irq_line = cmd(m, "blk irq 0", "blk irq disk")
irq = re.match(r"blk irq disk=0 vector=0x58 status=0 interrupts=(\d+)$", irq_line)
t.ok(irq is not None and int(irq.group(1)) >= 1,
     f"MSI-X: completions interrupt the guest through irqfd and GSI routing ({irq_line})")
t.ok(cmd(m, "uptime", "uptime ").startswith("uptime ms="),
     "console input (UART IRQ through the IOAPIC) still works after the MSI routes were added")
t.is_eq(cmd(m, "blk verify 0 100 300 7", "blk verify disk"),
        "blk verify disk=0 sector=100 count=300 status=0 ok=1 mismatches=0",
        "disk works with interrupts on")
st = m.ctl("disk-stats 0") or ""
t.ok("bad_chains=4" in st and "broken_rings=1" in st and re.search(r" irqs=[1-9]", st),
     f"VMM counted 4 bad chains, 1 broken ring, the interrupts ({st[-90:]})")

# online resize (VDI.resize): the VMM grows the image and tells the driver
t.is_eq(m.ctl("disk-resize 0 64"), "OK disk=0 sectors=131072", "control: disk-resize 0 64 (MiB)")
t.is_eq(os.path.getsize(rw), 64 << 20, "the image file grew")
t.is_eq(cmd(m, "blk reset 0", "blk reset disk"), "blk reset disk=0 ok=1", "driver re-reads the disk")
t.is_eq(cmd(m, "blk list", "blk disk=0"), 'blk disk=0 slot=1 sectors=131072 ro=0 serial="GUEST-RW"',
        "the guest sees the new capacity")
t.is_eq(cmd(m, "blk write 0 100000 64 5", "blk write disk"),
        "blk write disk=0 sector=100000 count=64 status=0", "write beyond the old end")
t.is_eq(cmd(m, "blk verify 0 100000 64 5", "blk verify disk"),
        "blk verify disk=0 sector=100000 count=64 status=0 ok=1 mismatches=0", "and read it back")

# the timed workload in event mode and polling mode (figures printed, not judged)
BENCH = re.compile(r"blk bench disk=0 .* ops=(\d+) .* iops=(\d+) kbps=(\d+) errors=(\d+)$")
for mode in ("event", "poll"):
    if mode == "poll":
        t.is_eq(m.ctl("disk-poll 0 on 200"), "OK disk=0 poll=on poll_us=200", "polling switched on live")
    for spec in ("rand read 4096 4 500", "seq write 1048576 2 500"):
        r = BENCH.match(cmd(m, f"blk bench 0 {spec}", "blk bench disk"))
        t.ok(r is not None and int(r.group(1)) > 0 and r.group(4) == "0",
             f"{mode}: bench {spec}: requests completed without errors")
        if r:
            t.diag(f"{mode} {spec}: {r.group(2)} IOPS, {int(r.group(3)) // 1024} MiB/s")
m.send("poweroff\r")
st, _ = m.wait(60)
t.is_eq(st, 0, "guest powered off")
m.close()

qemu_img = shutil.which("qemu-img")
if not qemu_img:
    t.skip("qcow2 disk over a qemu-img backing chain", "qemu-img not installed")
    t.done()

base = os.path.join(d, "base.qcow2")
top = os.path.join(d, "top.qcow2")
subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", base, "64M"], check=True)
subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-b", base, "-F", "qcow2", top], check=True)
m = boot([f"path={top},format=qcow2,serial=Q"])
t.is_eq(cmd(m, "blk write 0 2048 4096 99", "blk write disk"),
        "blk write disk=0 sector=2048 count=4096 status=0", "qcow2: write 2 MiB across clusters")
t.is_eq(cmd(m, "blk verify 0 2048 4096 99", "blk verify disk"),
        "blk verify disk=0 sector=2048 count=4096 status=0 ok=1 mismatches=0", "qcow2: read back")
t.is_eq(cmd(m, "blk flush 0", "blk flush disk"), "blk flush disk=0 status=0", "qcow2: flush")
# -U: the VMM holds QEMU-compatible image locks while it runs; clusters the library keeps
# reserved for its next allocations count as leaks until it closes the image
chk = subprocess.run([qemu_img, "check", "-U", top], capture_output=True, text=True)
t.ok(chk.returncode in (0, 3), f"qcow2: qemu-img check -U while the VM runs: no corruption "
     f"(exit {chk.returncode})")
if chk.returncode not in (0, 3):
    t.diag((chk.stdout + chk.stderr)[-800:])
busy = subprocess.run([qemu_img, "check", top], capture_output=True, text=True)
t.ok(busy.returncode != 0 and "lock" in busy.stderr,
     "qcow2: the image is locked against other writers while the VM runs")
m.send("poweroff\r")
st, _ = m.wait(60)
m.close()
t.is_eq(st, 0, "qcow2: guest powered off")
chk = subprocess.run([qemu_img, "check", top], capture_output=True, text=True)
t.is_eq(chk.returncode, 0, "qcow2: qemu-img check clean after the guest's writes")
if chk.returncode:
    t.diag((chk.stdout + chk.stderr)[-800:])
m = boot([f"path={top},format=qcow2,serial=Q"])
t.is_eq(cmd(m, "blk verify 0 2048 4096 99", "blk verify disk"),
        "blk verify disk=0 sector=2048 count=4096 status=0 ok=1 mismatches=0",
        "qcow2: data there after a restart")
# kill -9 in the middle of a write workload
m.send("blk bench 0 rand write 65536 8 20000\r")
time.sleep(1.5)
os.kill(m.proc.pid, signal.SIGKILL)
m.wait(30)
m.close()
chk = subprocess.run([qemu_img, "check", top], capture_output=True, text=True)
t.ok(chk.returncode in (0, 3), f"qcow2: no corruption after kill -9 mid-write "
     f"(qemu-img check exit {chk.returncode}: 0 clean, 3 leaks only)")
if chk.returncode not in (0, 3):
    t.diag(chk.stdout[-1500:])
raw = os.path.join(d, "top.raw")
subprocess.run([qemu_img, "convert", "-O", "raw", top, raw], check=True)
with open(raw, "rb") as f:
    data = f.read()
t.is_eq(len(data), 64 << 20, "qcow2: virtual size as created")
t.done()

#!/usr/bin/env python3
"""tests/integration/test_virtio_blk.py - virtio-blk on real KVM with atoll-vmm.

Boots the probe guest (tests/unit/hypervisor/virtio/vblk_guest.c), which finds the disks by
probing PCI config space, enables MSI-X, negotiates virtio 1.x and drives one split queue:
GET_ID, write + read back, flush, MSI-X (disk 0) or INTx (disk 1) delivery, a looping chain and an out-of-RAM buffer (both must come
back with used length 0 while the disk keeps working). Then the host checks the images:
a raw disk, a read-only disk (writes get IOERR, file unchanged), a qcow2 over a backing
chain made by qemu-img (clean `qemu-img check`), in event mode and in polling mode.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402
from pvhfixture import make_pvh  # noqa: E402

v.need_vmm()
guest = os.path.join(t.builddir(), "tests", "unit", "hypervisor", "virtio", "vblk_guest.elf")
if not os.path.exists(guest):
    t.skip_all("the virtio-blk probe guest is not built (make -C tests/unit/hypervisor/virtio check)")

d = t.tmpdir("atoll-vblk-")
SECTOR = 512


def pattern(n):
    return bytes((k ^ (0x5A + n)) & 0xFF for k in range(4096))


def run(disks):
    args = ["--kernel", guest, "--memory", "64M"]
    for spec in disks:
        args += ["--disk", spec]
    st, out, err = v.run_vmm(args, timeout=60)
    return st, out, err


def lines(out):
    return [ln for ln in out.splitlines() if ln.startswith("VBLK")]


for mode in ("event", "poll"):
    poll = ",poll=on" if mode == "poll" else ""
    rw = os.path.join(d, f"rw-{mode}.img")
    ro = os.path.join(d, f"ro-{mode}.img")
    with open(rw, "wb") as f:
        f.truncate(1 << 20)
    with open(ro, "wb") as f:
        f.write(b"\xa5" * (1 << 20))
    st, out, err = run([f"path={rw},format=raw,serial=ATOLL-RW{poll}",
                        f"path={ro},format=raw,readonly=on,serial=ATOLL-RO{poll}"])
    got = lines(out)
    t.is_eq(st, 0, f"{mode}: guest ran and powered off")
    if st != 0:
        t.diag(err[-2000:])
    t.ok("VBLK disks 2" in got, f"{mode}: guest found 2 virtio-blk functions by PCI probing")
    t.ok("VBLK disk 0 slot 1 rw capacity 2048" in got, f"{mode}: disk 0 read-write, 2048 sectors")
    t.ok("VBLK disk 1 slot 2 ro capacity 2048" in got, f"{mode}: disk 1 offers VIRTIO_BLK_F_RO")
    t.ok("VBLK id 0 len 21 'ATOLL-RW'" in got and "VBLK id 1 len 21 'ATOLL-RO'" in got,
         f"{mode}: GET_ID returns each disk's serial")
    t.ok("VBLK write 0 status 0" in got and "VBLK read 0 verify ok" in got,
         f"{mode}: write then read back on the rw disk")
    t.ok("VBLK write 1 status 1" in got and "VBLK read 1 verify ok" in got,
         f"{mode}: write to the read-only disk gets IOERR, reads work")
    t.ok("VBLK flush 0 status 0" in got, f"{mode}: flush")
    t.ok("VBLK msi 0 pending" in got,
         f"{mode}: disk 0 completions raise MSI-X through irqfd (vector pending in the LAPIC)")
    t.ok("VBLK intx 1 pending isr 1" in got,
         f"{mode}: disk 1 without MSI-X: INTx through the IOAPIC (GSI from the interrupt line "
         f"register), ISR bit 0 set")
    t.ok("VBLK loop 0 len 0" in got and "VBLK oob 0 len 0" in got,
         f"{mode}: looping chain and out-of-RAM buffer completed with length 0")
    t.ok("VBLK after 0 status 0" in got and "VBLK after 1 status 0" in got,
         f"{mode}: disks keep working after hostile chains")
    with open(rw, "rb") as f:
        f.seek(8 * SECTOR)
        t.ok(f.read(4096) == pattern(0), f"{mode}: host image holds the guest's data at sector 8")
    with open(ro, "rb") as f:
        t.ok(f.read() == b"\xa5" * (1 << 20), f"{mode}: read-only image unchanged")
    if st != 0 or len(got) < 20:
        t.diag("guest output: " + repr(got))

# qcow2 over a backing chain made by qemu-img
qemu_img = shutil.which("qemu-img")
if not qemu_img:
    t.skip("qcow2 disk over a qemu-img backing chain", "qemu-img not installed")
else:
    base = os.path.join(d, "base.raw")
    with open(base, "wb") as f:
        f.write(b"\x3c" * (1 << 20))
    mid = os.path.join(d, "mid.qcow2")
    top = os.path.join(d, "top.qcow2")
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-b", base, "-F", "raw", mid],
                   check=True)
    subprocess.run([qemu_img, "create", "-q", "-f", "qcow2", "-b", mid, "-F", "qcow2", top],
                   check=True)
    st, out, err = run([f"path={top},format=qcow2,serial=ATOLL-QCOW,poll=on"])
    got = lines(out)
    t.is_eq(st, 0, "qcow2: guest ran and powered off")
    t.ok("VBLK read 0 verify ok" in got, "qcow2 over a 2-deep backing chain: write + read back")
    chk = subprocess.run([qemu_img, "check", top], capture_output=True, text=True)
    t.is_eq(chk.returncode, 0, "qcow2: qemu-img check clean after the guest's writes")
    raw = os.path.join(d, "top.raw")
    subprocess.run([qemu_img, "convert", "-O", "raw", top, raw], check=True)
    with open(raw, "rb") as f:
        data = f.read()
    t.ok(data[8 * SECTOR:8 * SECTOR + 4096] == pattern(0),
         "qcow2: qemu-img sees the guest's data at sector 8")
    t.ok(data[:8 * SECTOR] == b"\x3c" * (8 * SECTOR) and data[16 * SECTOR:] ==
         b"\x3c" * ((1 << 20) - 16 * SECTOR), "qcow2: the rest still comes from the base image")
    with open(base, "rb") as f:
        t.ok(f.read() == b"\x3c" * (1 << 20), "qcow2: the backing file is unchanged")

# control socket: disk listing, counters after the guest's I/O, polling switched live
halt = make_pvh(os.path.join(d, "halt.elf"), "halt")
img = os.path.join(d, "ctl.img")
with open(img, "wb") as f:
    f.truncate(1 << 20)
m = v.Vmm(halt, extra=["--disk", f"path={img},format=raw,serial=CTL 1"])
t.ok(m.open_control() is not None, "control: connected")
t.is_eq(m.ctl("disks"), "OK count=1", "control: disks")
ans = m.ctl("disk 0") or ""
t.ok(ans.startswith("OK disk=0 path=") and 'serial="CTL 1"' in ans and "sectors=2048" in ans,
     f"control: disk 0 ({ans})")
t.is_eq(m.ctl("disk-poll 0 on 500"), "OK disk=0 poll=on poll_us=500", "control: polling on")
t.is_eq(m.ctl("disk-poll 0 off"), "OK disk=0 poll=off poll_us=500", "control: polling off")
ans = m.ctl("disk-stats 0") or ""
t.ok(ans.startswith("OK disk=0 reads=0 writes=0"), f"control: disk-stats ({ans[:60]})")
ans = m.ctl("disk-stats 3") or ""
t.ok(ans.startswith("ERR BAD_ARGUMENT"), "control: bad disk index refused")
t.ok((m.ctl("status") or "").startswith("OK state=running"), "control: VM still running")
m.ctl("destroy")
st, _ = m.wait(30)
t.is_eq(st, 6, "control: destroyed")
m.close()

t.done()

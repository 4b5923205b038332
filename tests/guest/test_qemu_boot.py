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
import sys

sys.path.insert(0, os.path.join(os.environ.get("ATOLL_SRCDIR", os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..")), "tests", "lib"))
import atolltest as t  # noqa: E402
from qemuguest import QemuGuest, find_qemu, guest_elf  # noqa: E402

QEMU = find_qemu()
ELF = guest_elf()


def boot_and_check(machine, smp, mem, button):
    cmdline = f"atoll.test={machine} quiet"
    g = QemuGuest(QEMU, ELF, machine, smp, mem, cmdline)
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
    g = QemuGuest(QEMU, ELF, "microvm", 1, 64, "panic test",
                  ("-device", "pvpanic", "-action", "panic=exit-failure"))
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

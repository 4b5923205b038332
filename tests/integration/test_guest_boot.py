#!/usr/bin/env python3
"""tests/integration/test_guest_boot.py - boots the Atoll test guest (tests/guest/atoll-guest.elf)
under atoll-vmm: the CPU count and memory the guest reports match what the VMM gave (1, 4 and
32 vCPUs; 64 MiB and 3.5 GiB), the command loop answers over the console socket, pause/resume
keeps it alive, and poweroff/reboot/panic/triplefault end with statuses 0/3/5/4."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

img = v.need_guest()

READY = re.compile(r"ATOLL READY cpus=(\d+) mem_kib=(\d+) boot_ms=(\d+)")


def boot(vcpus, memory):
    m = v.Vmm(img, vcpus=vcpus, memory=memory)
    out = m.wait_for("atoll> ", 120)
    r = READY.search(out or "")
    return m, r


for vcpus, memory in ((1, "64M"), (4, "64M"), (2, "3584M"), (32, "128M")):
    m, r = boot(vcpus, memory)
    if not t.ok(r is not None, f"{vcpus} vCPU / {memory}: guest prints READY and the prompt"):
        t.diag((m.cbuf[-2000:]).decode(errors="replace"))
        m.close()
        continue
    usable = int(m.ctl("query memory").split("usable=")[1].split()[0])
    t.is_eq(int(r.group(1)), vcpus, f"{vcpus} vCPU / {memory}: guest sees {vcpus} CPUs")
    t.is_eq(int(r.group(2)), usable // 1024,
            f"{vcpus} vCPU / {memory}: guest's memmap RAM = VMM's usable RAM")
    if vcpus == 4:
        t.is_eq(m.command("cpus", "cpus "), "cpus online=4", "command: cpus")
        mem = m.command("mem", "mem ")
        t.ok(mem is not None and mem.startswith(f"mem total_kib={usable // 1024} free_kib="),
             f"command: mem ({mem})")
        info = m.command("info", "info ")
        t.ok(info is not None and 'tsc_source="cpuid 0x40000010"' in info and
             'cpu_source="MADT"' in info and 'acpi_oem="ATOLL "' in info and "s5=1" in info,
             f"guest found the TSC kHz leaf, the MADT and \\_S5 of the VMM ({info})")
        up = m.command("uptime", "uptime ")
        t.ok(up is not None and re.match(r"uptime ms=\d+$", up), f"command: uptime ({up})")
        t.is_eq(m.command("echo hello from the host", "hello"), "hello from the host",
                "command: echo")
        long = "x" * 200
        t.is_eq(m.command("echo " + long, "xxx"), long, "command: echo of 200 characters")
        m.cbuf = b""
        m.send("".join(f"echo burst{i}\r" for i in range(20)))
        out = m.wait_for("burst19\r\natoll> ", 60)
        t.ok(out is not None and all(f"burst{i}\r\n" in out for i in range(20)),
             "20 commands typed at once are all answered (UART FIFO and interrupts)")
        h = m.command("help", "")
        t.ok(h is not None and "poweroff" in m.cbuf.decode(errors="replace"), "command: help")
        m.command("dirty 4 100", "")
        t.is_eq(m.ctl("pause"), "OK state=paused", "pause while dirtying memory")
        t.is_eq(m.ctl("resume"), "OK state=running", "resume")
        m.command("dirty stop", "")
        ver = m.command("verify", "verify ")
        t.ok(ver is not None and ver.startswith("verify ok"), f"verify after pause/resume ({ver})")
        up2 = m.command("uptime", "uptime ")
        t.ok(up2 is not None, "guest answers after resume")
        m.send("poweroff\r")
        st, err = m.wait(60)
        t.is_eq(st, 0, "command poweroff: exit status 0")
    else:
        m.ctl("destroy")
        t.is_eq(m.wait(60)[0], 6, f"{vcpus} vCPU / {memory}: destroyed (status 6)")
    m.close()

for cmd, want in (("reboot", 3), ("panic", 5), ("triplefault", 4)):
    m, r = boot(2, "64M")
    if not t.ok(r is not None, f"{cmd}: guest ready"):
        m.close()
        continue
    m.send(cmd + "\r")
    st, err = m.wait(60)
    t.is_eq(st, want, f"command {cmd}: exit status {want}")
    m.close()
t.done()

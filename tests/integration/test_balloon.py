#!/usr/bin/env python3
"""tests/integration/test_balloon.py - virtio-balloon on real KVM with the Atoll test guest:
the guest's free memory falls when the target is lowered from the control socket and comes
back when it is raised; the pages given up are punched out of guest RAM (discarded_bytes, and
the VMM's resident shared memory, printed as a diagnostic); the guest's statistics reach
`query balloon`; a target the guest cannot reach stops at its reserve; `--balloon off` means no
device. No pass/fail depends on timing: every wait is a bounded poll for a state.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

t.need_kvm()
if not os.path.exists(v.vmm_path()):
    t.skip_all("atoll-vmm is not built")
img = v.guest_image()
if not img:
    t.skip_all("the test guest is not built (make -C tests/guest)")

MIB = 1 << 20
PAGE = 4096


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line or ""))


def cmd(m, line, answer, timeout=60):
    return m.command(line, answer, timeout=timeout) or ""


def guest_balloon(m):
    return kv(cmd(m, "balloon", "balloon found="))


def free_kib(m):
    return int(kv(cmd(m, "mem", "mem total_kib=")).get("free_kib", "-1"))


def wait_actual(m, pages, timeout=60):
    """Polls the guest until its balloon holds `pages` pages (or is stuck); returns its state."""
    end = time.monotonic() + timeout
    b = {}
    while time.monotonic() < end:
        b = guest_balloon(m)
        if b.get("actual_pages") == str(pages) or b.get("stuck") == "1":
            return b
        time.sleep(0.1)
    return b


def rss_shmem_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("RssShmem:"):
                    return int(ln.split()[1])
    except OSError:
        pass
    return None


m = v.Vmm(img, memory="256M")
if m.wait_for("atoll> ", 120) is None:
    t.diag(m.cbuf[-2000:].decode(errors="replace"))
    t.skip_all("the test guest did not boot")
b = guest_balloon(m)
if not b:
    m.close()
    t.skip_all("this test guest has no balloon command")
t.ok(b.get("found") == "1" and b.get("ready") == "1",
     "balloon on by default: the guest finds and sets up the device")
t.is_eq(b.get("actual_pages"), "0", "balloon starts empty")

q = kv(m.ctl("query balloon"))
t.ok(q.get("driver") == "on" and q.get("stats_vq") == "on",
     "query balloon: driver ready, stats queue negotiated")
t.is_eq(q.get("memory_bytes"), str(256 * MIB), "query balloon: memory_bytes")
t.is_eq(q.get("target_bytes"), str(256 * MIB), "target = all memory before any request")
t.ok("stat_free_memory" in q and q.get("stat_total_memory", "0") != "0",
     "the guest's first statistics (free, total memory) appear in query balloon")

# make the free pages resident first (the dirty workload borrows the lowest free pages; the
# balloon takes the lowest free pages too), so that giving them back shows in the VMM's RSS
cmd(m, "dirty 160 0", "dirty started")
time.sleep(0.5)
cmd(m, "dirty stop", "dirty stopped")
cmd(m, "dirty 1 0", "dirty started")
cmd(m, "dirty stop", "dirty stopped")
free0 = free_kib(m)
rss0 = rss_shmem_kib(m.proc.pid)

t.is_eq(m.ctl("balloon 64"), f"OK target_bytes={64 * MIB} num_pages={192 * MIB // PAGE}",
        "balloon 64 (MiB): the guest should keep 64 MiB")
b = wait_actual(m, 192 * MIB // PAGE)
t.is_eq(b.get("actual_pages"), str(192 * MIB // PAGE), "the guest inflated its balloon to 192 MiB")
free1 = free_kib(m)
t.is_eq(free0 - free1, 192 * 1024, f"guest free memory fell by 192 MiB ({free0} -> {free1} KiB)")
q = kv(m.ctl("query balloon"))
t.is_eq(q.get("actual_bytes"), str(64 * MIB), "query balloon: actual_bytes = 64 MiB")
t.is_eq(q.get("discarded_bytes"), str(192 * MIB),
        "the VMM gave 192 MiB of guest RAM back to the host (holes punched)")
t.is_eq(q.get("bad_pfns"), "0", "every PFN the guest sent was inside its RAM")
rss1 = rss_shmem_kib(m.proc.pid)
t.diag(f"VMM resident guest RAM (RssShmem): {rss0} KiB before inflating, {rss1} KiB after")

# fresh statistics: each query asks the driver for new numbers
end = time.monotonic() + 20
stat_free = None
while time.monotonic() < end:
    q = kv(m.ctl("query balloon"))
    stat_free = int(q.get("stat_free_memory", "-1"))
    if 0 <= stat_free <= free1 * 1024:
        break
    time.sleep(0.1)
t.ok(stat_free is not None and 0 <= stat_free <= free1 * 1024,
     f"stats queue: the guest's reported free memory follows the balloon ({stat_free} bytes)")
t.ok(int(q.get("stats_updates", "0")) >= 2, "stats buffer went round more than once")

t.is_eq(m.ctl("balloon 200"), f"OK target_bytes={200 * MIB} num_pages={56 * MIB // PAGE}",
        "balloon 200: partial deflate")
b = wait_actual(m, 56 * MIB // PAGE)
t.is_eq(b.get("actual_pages"), str(56 * MIB // PAGE), "the guest deflated to 56 MiB")
t.is_eq(m.ctl("balloon 256M"), f"OK target_bytes={256 * MIB} num_pages=0", "balloon 256M")
b = wait_actual(m, 0)
t.is_eq(b.get("actual_pages"), "0", "the guest deflated completely")
t.is_eq(free_kib(m), free0, "guest free memory is back to where it was")
q = kv(m.ctl("query balloon"))
t.is_eq(q.get("actual_bytes"), str(256 * MIB), "query balloon: actual_bytes back to 256 MiB")
t.ok(q.get("inflated_pages") == q.get("deflated_pages") == str(192 * MIB // PAGE),
     "every inflated page was deflated again")

# a target below what the guest can give: it stops at its reserve, everything keeps working
t.ok(m.ctl("balloon 1").startswith("OK target_bytes=1048576"), "balloon 1 (MiB) accepted")
b = wait_actual(m, 255 * MIB // PAGE)
t.ok(b.get("stuck") == "1" and int(b.get("actual_pages", "0")) > 200 * MIB // PAGE,
     f"the guest inflates what it can spare and stops ({b.get('actual_pages')} pages)")
t.ok(cmd(m, "uptime", "uptime ").startswith("uptime ms="), "guest still responsive")
m.ctl("balloon 256")
wait_actual(m, 0)
t.is_eq(free_kib(m), free0, "and gets everything back")

for bad, why in (("balloon 300", "above the VM's memory"), ("balloon abc", "not a size"),
                 ("balloon", "no target")):
    r = m.ctl(bad) or ""
    t.ok(r.startswith("ERR BAD_ARGUMENT"), f"'{bad}' refused: {why} ({r[:70]})")
# hostile input from the guest: PFNs outside RAM, a descriptor outside RAM
t.is_eq(cmd(m, "balloon bad", "balloon bad pfns="),
        "balloon bad pfns=3 completed=1 chain=1 completed=1 needs_reset=0",
        "PFNs and a buffer outside guest RAM are completed, the queue keeps working")
q = kv(m.ctl("query balloon"))
t.ok(q.get("bad_pfns") == "3" and q.get("bad_chains") == "1",
     f"the VMM counted 3 bad PFNs and 1 bad chain ({q.get('bad_pfns')}, {q.get('bad_chains')})")
m.ctl("balloon 128")
t.is_eq(wait_actual(m, 128 * MIB // PAGE).get("actual_pages"), str(128 * MIB // PAGE),
        "the balloon still works after the hostile input")
m.ctl("balloon 256")
wait_actual(m, 0)
t.ok((m.ctl("status") or "").startswith("OK state=running"), "VMM still running")
m.send("poweroff\r")
st, _ = m.wait(60)
t.is_eq(st, 0, "guest powered off")
m.close()

# --balloon off: no device, a clear error on the control socket
m = v.Vmm(img, memory="64M", extra=["--balloon", "off"])
if m.wait_for("atoll> ", 120) is None:
    t.diag(m.cbuf[-2000:].decode(errors="replace"))
t.is_eq(guest_balloon(m).get("found"), "0", "--balloon off: the guest finds no balloon")
r = m.ctl("query balloon") or ""
t.ok(r.startswith("ERR BAD_STATE"), f"--balloon off: query balloon says why ({r[:60]})")
m.close()

st, _, err = v.run_vmm(["--kernel", img, "--memory", "16M", "--balloon", "stats=abc"])
t.ok(st == 1 and "balloon stats 'abc'" in err,
     f"a bad --balloon option is refused with its reason ({st}: {v.error_lines(err)[-1:]})")
t.done()

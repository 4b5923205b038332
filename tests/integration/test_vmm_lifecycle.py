#!/usr/bin/env python3
"""tests/integration/test_vmm_lifecycle.py - atoll-vmm on /dev/kvm with tiny PVH payloads.

Each PVH payload (pvhfixture.py) checks the hvm_start_info magic, prints on COM1 and then
powers off, reboots, panics, triple-faults, echoes console input or halts. Checks the
exit statuses, the console log and socket (with replay; a client that sends a line and
closes at once is still heard), the control protocol
(greeting, status, queries, pause/resume, destroy, EVENT exit), SIGTERM, 32 vCPUs and
a 3.5 GiB guest, that sockets are removed at exit, and the Linux boot protocol with a
synthetic bzImage whose 64-bit code prints the command line from boot_params.
"""
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402
from pvhfixture import make_bzimage, make_pvh  # noqa: E402

v.need_vmm()
d = t.tmpdir()
img = {a: make_pvh(os.path.join(d, a + ".elf"), a)
       for a in ("poweroff", "reboot", "panic", "triplefault", "echo", "halt")}

# exit statuses of the four guest-initiated ends
for action, want, words in (("poweroff", 0, "powered off"), ("reboot", 3, "rebooted"),
                            ("panic", 5, "panicked"), ("triplefault", 4, "triple fault")):
    m = v.Vmm(img[action], vcpus=2)
    st, err = m.wait(60)
    t.is_eq(st, want, f"{action}: exit status {want}")
    last = err.strip().splitlines()[-1] if err.strip() else ""
    t.ok(words in last and f"exit {want}:" in last, f"{action}: one-line reason ({last!r})")
    with open(m.log_path, "rb") as f:
        t.is_eq(f.read(), b"PVH-OK\n", f"{action}: console log has the guest's output")
    t.ok(not os.path.exists(m.console_path) and not os.path.exists(m.control_path),
         f"{action}: sockets removed at exit")
    m.close()

# console socket: replay of earlier output, input reaches the guest, 'q' powers off
m = v.Vmm(img["echo"])
t.ok(m.wait_for("PVH-OK", 30) is not None, "echo: console client gets the replayed output")
m.send("hello atoll")
t.ok(m.wait_for("hello atoll", 30) is not None, "echo: console input is echoed by the guest")
m2 = v.Vmm.__new__(v.Vmm)
m2.__dict__.update(m.__dict__)
m2.console, m2.cbuf = None, b""
t.ok(m2.wait_for("PVH-OK\nhello atoll", 30) is not None,
     "second console client gets the ring replay")
m2.console.close()
# a client that sends a line and closes at once (printf 'echo hello\n' | socat -
# UNIX-CONNECT:console.sock) keeps its input. With the VMM stopped while the client connects,
# sends and closes, the replay to it fails for sure: its line must still reach the guest.
for i, stop in ((1, True), (2, True), (3, False)):
    if stop:
        os.kill(m.proc.pid, signal.SIGSTOP)
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(m.console_path)
        s.sendall(f"echo hello {i}\n".encode())
        s.close()
    finally:
        if stop:
            os.kill(m.proc.pid, signal.SIGCONT)
    t.ok(m.wait_for(f"echo hello {i}\n", 30) is not None,
         f"a client that sends 'echo hello {i}' and closes at once is heard"
         f"{' (replay to it failed)' if stop else ''}")
with open(m.log_path, "rb") as f:
    log = f.read()
t.ok(all(f"echo hello {i}\n".encode() in log for i in (1, 2, 3)),
     "the guest's echo of those lines is in the console log")
m.send("q")
st, err = m.wait(30)
t.is_eq(st, 0, "echo: 'q' makes the guest power off")
m.close()

# control protocol on a halted 4-vCPU guest
m = v.Vmm(img["halt"], vcpus=4, extra=["--uuid", "6f1c2a9e-0d3b-4c5e-8f7a-1b2c3d4e5f60",
                                         "--name", "ctl-test"])
g = m.open_control()
t.is_eq(g, "ATOLL-VMM 1 6f1c2a9e-0d3b-4c5e-8f7a-1b2c3d4e5f60", "control greeting with uuid")
st = m.ctl("status")
t.ok(st and st.startswith("OK state=running") and "name=ctl-test" in st and "vcpus=4" in st,
     f"status: {st}")
q = m.ctl("query vcpus")
t.ok(q and q.startswith("OK count=4 tids=") and len(q.split("tids=")[1].split(",")) == 4,
     f"query vcpus: {q}")
q = m.ctl("query memory")
t.is_eq(q, "OK bytes=67108864 below_4g=67108864 above_4g=0 usable=66715648", "query memory")
t.is_eq(m.ctl("pause"), "OK state=paused", "pause")
t.is_eq(m.ctl("query state"), "OK state=paused", "state paused")
t.ok(m.ctl("pause").startswith("ERR BAD_STATE"), "pause twice -> ERR BAD_STATE")
q = m.ctl("query regs 0")
t.ok(q and q.startswith("OK vcpu=0 mode=prot32 rip=0x1000") and "cr0=0x11" in q,
     f"query regs: the BSP halted in the PVH payload, 32-bit protected mode ({q})")
t.ok(m.ctl("query regs 4").startswith("ERR BAD_ARGUMENT"), "query regs: index checked")
t.is_eq(m.ctl("resume"), "OK state=running", "resume")
t.is_eq(m.ctl("query exit-reason"), "OK status=none", "no exit reason while running")
t.ok(m.ctl("query regs 0").startswith("ERR BAD_STATE"), "query regs needs a paused VM")
t.ok(m.ctl("nonsense").startswith("ERR UNKNOWN_COMMAND"), "unknown command -> ERR")
t.ok(m.ctl("x" * 3000).startswith("ERR LINE_TOO_LONG"), "over-long line -> ERR LINE_TOO_LONG")
t.ok(m.ctl("version").startswith("OK protocol=1"), "version")
t.is_eq(m.ctl("destroy"), "OK state=stopping", "destroy accepted")
ev = m.ctl_event()
t.is_eq(ev, 'EVENT exit status=6 reason="destroyed through the control socket"',
        "EVENT exit sent before the socket closes")
st, err = m.wait(30)
t.is_eq(st, 6, "destroy: exit status 6")
m.close()

# pause/resume while the guest echoes: input typed while paused is answered after resume
m = v.Vmm(img["echo"])
t.ok(m.wait_for("PVH-OK", 30) is not None, "echo guest up")
t.is_eq(m.ctl("pause"), "OK state=paused", "pause running guest")
m.send("Z")
m.cbuf = b""
t.ok(m.wait_for("Z", 1) is None, "paused guest does not answer")
t.is_eq(m.ctl("resume"), "OK state=running", "resume running guest")
t.ok(m.wait_for("Z", 30) is not None, "after resume the guest answers")
m.send("q")
t.is_eq(m.wait(30)[0], 0, "then powers off")
m.close()

# SIGTERM ends the VM as destroyed
m = v.Vmm(img["halt"])
t.ok(m.open_control() is not None, "halted guest has a control socket")
m.proc.send_signal(signal.SIGTERM)
st, err = m.wait(30)
t.is_eq(st, 6, "SIGTERM: exit status 6")
t.ok("terminated by signal TERM" in err, "SIGTERM: reason names the signal")
m.close()

# 32 vCPUs and a 3.5 GiB guest (RAM split around the MMIO hole)
m = v.Vmm(img["halt"], vcpus=32, memory="3584M")
q = m.ctl("query memory")
t.is_eq(q, "OK bytes=3758096384 below_4g=3221225472 above_4g=536870912 usable=3757703168",
        "3.5 GiB: 3 GiB below the hole, 512 MiB above 4 GiB")
q = m.ctl("query vcpus")
t.ok(q and q.startswith("OK count=32"), "32 vCPU threads")
m.ctl("destroy")
t.is_eq(m.wait(30)[0], 6, "32 vCPUs / 3.5 GiB: destroyed cleanly")
m.close()

# stdout console when nothing else is configured
st, out, err = v.run_vmm(["--kernel", img["poweroff"], "--memory", "16M"])
t.is_eq(st, 0, "stdout console: poweroff")
t.is_eq(out, "PVH-OK\n", "stdout console: output on stdout")

# Linux boot protocol: a synthetic bzImage entered in 64-bit mode prints its command line
bz = make_bzimage(os.path.join(d, "bzImage"))
rd = os.path.join(d, "initrd")
with open(rd, "wb") as f:
    f.write(b"\0" * 100000)
for mem in ("64M", "3584M"):
    st, out, err = v.run_vmm(["--kernel", bz, "--memory", mem, "--initrd", rd,
                              "--cmdline", "console=ttyS0 atoll-linux-protocol"])
    t.is_eq((st, out), (0, "console=ttyS0 atoll-linux-protocol\n"),
            f"bzImage, {mem}: 64-bit entry, boot_params in RSI, cmdline, poweroff")

# config file form
cfgp = os.path.join(d, "vm.conf")
with open(cfgp, "w") as f:
    f.write(f"# test VM\nkernel = {img['reboot']}\nmemory = 32M\nvcpus = 3\n")
st, out, err = v.run_vmm(["--config", cfgp])
t.is_eq(st, 3, "--config file: boots and reboots (status 3)")
t.done()

#!/usr/bin/env python3
"""tests/integration/test_net.py - atoll-vmm's virtio-net on real TAPs in a private network
namespace, driven by the test guest's driver (tests/guest/vnet.c, netstack.c):

- VM A gets its TAP as an fd opened by the test (--net fd=N, the VMM stays outside the
  namespace, as under atolld); VM B opens its two TAPs by name inside the namespace
  (--net tap=, two NICs, one per subnet).
- MACs as configured: the guest reads them from config space, the host sees them in
  `ip neigh` and the bridge's fdb; `nic N` on the control socket reports them.
- The host pings VM A from the namespace; VM A pings VM B across the bridge; UDP from A to B.
- Link down from the control socket: the guest gets a config interrupt and sees the link
  down, pings fail both ways; link up restores them.
- Hostile transmit chains (loop, out of range, huge, zero length) are dropped and counted; a
  corrupt ring sets DEVICE_NEEDS_RESET; a driver reset brings the NIC back; the VMM lives on.
- Bad --net options are refused with one-line messages.
No pass/fail depends on timing; rates are only printed.
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nettest as n  # noqa: E402
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

img = v.need_guest()
n.need_netadmin()
if not n.shutil.which("ping"):
    t.skip_all("ping (iputils-ping) is not installed")

# option errors first: no namespace needed
for spec, want in (("tap=x,fd=3", "exactly one of fd=N and tap=NAME"),
                   ("tap=t0,mac=01:00:5e:00:00:01", "unicast"),
                   ("tap=t0,speed=10", "unknown net option 'speed'"),
                   ("fd=0", "tap fd 0")):
    st, _, err = v.run_vmm(["--kernel", img, "--net", spec], timeout=30)
    t.ok(st in (1, 2) and want in err, f"--net {spec}: refused ({err.strip()[-90:]})")

ns = n.Netns("net", "10.77.0.1")
MAC_A, MAC_B, MAC_B2 = "52:54:00:a7:00:0a", "52:54:00:a7:00:0b", "52:54:00:a7:01:0b"
fd_a = ns.tap_fd("atap0")
ns.tap_named("atap1")
ns.tap_named("atap2")
ns.sh("ip", "addr", "add", "10.77.1.1/24", "dev", "br0")  # a second subnet for B's second NIC
a = n.vmm_in_netns(None, img, extra=["--net", f"fd={fd_a},mac={MAC_A}"], pass_fds=[fd_a])
b = n.vmm_in_netns(ns, img, extra=["--net", f"tap=atap1,mac={MAC_B}",
                                   "--net", f"tap=atap2,mac={MAC_B2}"])
os.close(fd_a)  # the VMM holds its own copy
ns.fds.remove(fd_a)
for name, m in (("A", a), ("B", b)):
    if m.wait_for("atoll> ", 60) is None:
        t.diag(m.cbuf[-2000:].decode(errors="replace"))
        t.ok(False, f"VM {name} boots")
        t.done()


def cmd(m, line, answer, timeout=60):
    return m.command(line, answer, timeout=timeout) or ""


def host_ping(ip, count=3):
    r = ns.sh("ping", "-c", str(count), "-W", "1", ip, check=False, timeout=30)
    return r.returncode == 0, r.stdout.strip().splitlines()[-2:] if r.stdout else r.stderr


la = cmd(a, "net", "net nic=0")
t.ok(re.match(rf"net nic=0 slot=\d+ mac={MAC_A} link=up ", la) is not None,
     f"guest A reads its configured MAC and link up from config space ({la})")
lb = cmd(b, "net", "net nic=0")
t.ok(f"mac={MAC_B} link=up" in lb, f"guest B too ({lb})")
info = a.ctl("nic 0") or ""
t.ok(info.startswith(f"OK nic=0 tap=atap0 mac={MAC_A} link=up vnet_hdr=on features=0x"),
     f"control socket: nic 0 ({info})")
feat = int(re.search(r"features=0x([0-9a-f]+)", info).group(1), 16) if "features=0x" in info else 0
t.ok(feat & (1 << 32) and feat & (1 << 5) and feat & (1 << 16),
     "negotiated VERSION_1, MAC and STATUS")
t.is_eq(a.ctl("nics"), "OK count=1", "nics")
t.is_eq(cmd(a, "net ip 10.77.0.2/24", "net ip nic="), "net ip nic=0 addr=10.77.0.2/24", "A: address")
t.is_eq(cmd(b, "net ip 10.77.0.3/24", "net ip nic="), "net ip nic=0 addr=10.77.0.3/24", "B: address")
t.is_eq(b.ctl("nics"), "OK count=2", "VM B has two NICs")
lb2 = cmd(b, "net", "net nic=1")
t.ok(f"mac={MAC_B2} link=up" in lb2, f"guest B's second NIC has its own MAC ({lb2})")
t.is_eq(cmd(b, "net ip 10.77.1.3/24 1", "net ip nic="), "net ip nic=1 addr=10.77.1.3/24",
        "B: address on its second NIC")

ok, tail = host_ping("10.77.0.2")
t.ok(ok, f"host namespace pings VM A (fd-passed TAP): {tail}")
ok, tail = host_ping("10.77.0.3")
t.ok(ok, f"host namespace pings VM B (TAP opened by name): {tail}")
ok, tail = host_ping("10.77.1.3")
t.ok(ok, f"host namespace pings VM B's second NIC: {tail}")
st = b.ctl("nic-stats 1") or ""
t.ok(re.search(r"tx_packets=[1-9]", st) is not None, f"the replies left through NIC 1 ({st[:80]})")
neigh = ns.sh("ip", "neigh", "show", "dev", "br0", check=False).stdout
t.ok(f"10.77.0.2 lladdr {MAC_A}" in neigh and f"10.77.0.3 lladdr {MAC_B}" in neigh,
     f"host's neighbour table holds both configured MACs ({' '.join(neigh.split())[:160]})")
fdb = ns.sh("bridge", "fdb", "show", "br", "br0", check=False).stdout
t.ok(re.search(rf"{MAC_A} dev atap0", fdb) and re.search(rf"{MAC_B} dev atap1", fdb),
     "bridge learnt each MAC on its TAP")

t.is_eq(cmd(a, "ping 10.77.0.3 3", "ping to"), "ping to=10.77.0.3 sent=3 received=3",
        "VM A pings VM B across the bridge")
t.is_eq(cmd(b, "ping 10.77.0.2 2", "ping to"), "ping to=10.77.0.2 sent=2 received=2",
        "VM B pings VM A")

# UDP stream A -> B (B counts while A sends)
b.cbuf = b""
b.send("netrecv 6000 20000\r")
sent = cmd(a, "netsend 10.77.0.3 6000 4", "netsend to", timeout=120)
got = b.wait_for("atoll> ", 60) or ""
rm = re.search(r"netrecv port=6000 packets=(\d+) bytes=(\d+) ms=(\d+) kbps=(\d+)", got)
sm = re.search(r"netsend to=10.77.0.3 port=6000 packets=(\d+) .* kbps=(\d+) errors=0", sent)
t.ok(sm is not None, f"A sent 4 MiB of UDP ({sent})")
t.ok(rm is not None and int(rm.group(1)) > 0, f"B received UDP datagrams from A ({rm and rm.group(0)})")
if sm and rm:
    t.diag(f"A->B UDP: sent {int(sm.group(2)) // 1024} MiB/s, received {rm.group(1)} of "
           f"{sm.group(1)} datagrams ({int(rm.group(4)) // 1024} MiB/s)")

# link down / up from the control socket
a.cbuf = b""
t.is_eq(a.ctl("nic-link 0 down"), "OK nic=0 link=down", "nic-link 0 down")
t.ok(a.wait_for("net event nic=0 link=down", 10) is not None,
     "guest A takes the config-change interrupt and sees the link down")
t.ok(" link=down " in cmd(a, "net", "net nic=0"), "guest A: net shows link=down")
ok, _ = host_ping("10.77.0.2", 2)
t.ok(not ok, "host ping to VM A fails while its link is down")
t.is_eq(cmd(a, "ping 10.77.0.3 2", "ping to"), "ping to=10.77.0.3 sent=2 received=0",
        "VM A's ping to B fails while its link is down")
st = a.ctl("nic-stats 0") or ""
t.ok(re.search(r"tx_dropped=[1-9]", st) is not None, f"VMM dropped A's frames while down ({st})")
a.cbuf = b""
t.is_eq(a.ctl("nic-link 0 up"), "OK nic=0 link=up", "nic-link 0 up")
t.ok(a.wait_for("net event nic=0 link=up", 10) is not None, "guest A sees the link up again")
ok, tail = host_ping("10.77.0.2")
t.ok(ok, f"host ping to VM A works again: {tail}")
t.is_eq(cmd(a, "ping 10.77.0.3 2", "ping to"), "ping to=10.77.0.3 sent=2 received=2",
        "VM A reaches B again")
t.ok((a.ctl("nic-link 0 sideways") or "").startswith("ERR BAD_ARGUMENT"), "nic-link: bad mode")
t.ok((a.ctl("nic 7") or "").startswith("ERR BAD_ARGUMENT"), "nic: bad index")

# hostile transmit chains
for kind in ("loop", "oob", "huge", "zero"):
    t.is_eq(cmd(a, f"net bad 0 {kind}", "net bad nic="), f"net bad nic=0 kind={kind} len=0 needs_reset=0",
            f"hostile TX chain '{kind}': completed with length 0, NIC keeps going")
ok, tail = host_ping("10.77.0.2", 2)
t.ok(ok, f"VM A still answers pings after hostile chains: {tail}")
t.is_eq(cmd(a, "net bad 0 index", "net bad nic="), "net bad nic=0 kind=index len=-1 needs_reset=1",
        "TX head index out of range: DEVICE_NEEDS_RESET")
t.is_eq(cmd(a, "net reset 0", "net reset nic="), "net reset nic=0 ok=1", "driver reset revives the NIC")
ok, tail = host_ping("10.77.0.2", 3)
t.ok(ok, f"VM A answers pings after the reset: {tail}")
st = a.ctl("nic-stats 0") or ""
t.ok("bad_chains=4" in st and "broken_rings=1" in st and re.search(r" irqs=[1-9]", st),
     f"VMM counted 4 bad chains, 1 broken ring, interrupts ({st[-120:]})")
t.ok((a.ctl("status") or "").startswith("OK state=running"), "VMM A still running")

for name, m in (("A", a), ("B", b)):
    m.send("poweroff\r")
    code, _ = m.wait(30)
    t.is_eq(code, 0, f"VM {name} powered off")
    m.close()
ns.delete()
t.ok(n.subprocess.run(["ip", "netns", "list"], capture_output=True,
     text=True).stdout.find(ns.name) < 0,
     "namespace, bridge and TAPs deleted")
t.done()

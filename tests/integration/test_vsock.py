#!/usr/bin/env python3
"""tests/integration/test_vsock.py - the hybrid virtio-vsock guest channel on real KVM with the
Atoll test guest: a guest connection to host port P reaches the host UNIX listener <uds>_P and
data flows both ways (a 1 MiB stream from the guest checks flow control toward a slow host
reader); a host process connecting to <uds> with "CONNECT <port>" reaches a guest listener
(echo, 512 KiB round trip); connections to ports nobody listens on are reset on both sides,
a bad handshake line is refused, closes propagate, and the VMM keeps running throughout.
"""
import os
import re
import socket
import sys
import threading
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

d = t.tmpdir("atoll-vsock-")
uds = os.path.join(d, "v.sock")


def kv(line):
    return dict(re.findall(r"(\w+)=(\S+)", line or ""))


def cmd(m, line, answer, timeout=60):
    return m.command(line, answer, timeout=timeout) or ""


def pattern(n):
    return bytes(i % 251 for i in range(n))


def read_exact(s, n, timeout=30, slow=False):
    buf = bytearray()
    end = time.monotonic() + timeout
    while len(buf) < n and time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            chunk = s.recv(min(65536, n - len(buf)) if not slow else 8192)
        except socket.timeout:
            break
        if not chunk:
            break
        buf += chunk
        if slow:
            time.sleep(0.002)
    return bytes(buf)


def host_connect(port, timeout=10):
    """Host-initiated connection: CONNECT <port>; returns (socket, first line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(uds)
    s.settimeout(timeout)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    try:
        while not line.endswith(b"\n"):
            c = s.recv(1)
            if not c:
                break
            line += c
    except socket.timeout:
        pass
    return s, line.decode(errors="replace")


m = v.Vmm(img, memory="128M", extra=["--vsock", f"cid=42,uds={uds}"])
if m.wait_for("atoll> ", 120) is None:
    t.diag(m.cbuf[-2000:].decode(errors="replace"))
    t.skip_all("the test guest did not boot")
info = kv(cmd(m, "vsock", "vsock found="))
if not info:
    m.close()
    t.skip_all("this test guest has no vsock command")
t.ok(info.get("found") == "1" and info.get("cid") == "42", "guest finds the vsock device, cid 42")
t.ok(os.path.exists(uds), "the VMM listens on the host socket")

# guest -> host: connect to host port 1234 = UNIX listener <uds>_1234
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(f"{uds}_1234")
srv.listen(4)
r = cmd(m, "vsock connect 1234", "vsock connect port=")
t.ok(r.startswith("vsock connect port=1234 conn=0 ok=1"), f"guest connects to host port 1234 ({r})")
srv.settimeout(10)
try:
    hc, _ = srv.accept()
except socket.timeout:
    hc = None
t.ok(hc is not None, "the host listener <uds>_1234 accepted the forwarded connection")
if hc is None:
    m.close()
    t.done()
t.is_eq(cmd(m, "vsock send 0 hello from the guest", "vsock send conn="),
        "vsock send conn=0 bytes=21 ok=1", "guest sends a line")
t.is_eq(read_exact(hc, 21, 10), b"hello from the guest\n", "host reads it")
hc.sendall(b"hello from the host\n")
got = ""
end = time.monotonic() + 10
while time.monotonic() < end and "hello" not in got:
    got = cmd(m, "vsock recv 0", "vsock recv conn=")
    time.sleep(0.05)
t.is_eq(got, 'vsock recv conn=0 bytes=20 data="hello from the host."',
        "guest receives the host's line")

# 1 MiB from the guest while the host reads slowly: the VMM's credit holds the guest back
N = 1 << 20
res = {}
th = threading.Thread(target=lambda: res.update(data=read_exact(hc, N, 120, slow=True)))
th.start()
r = cmd(m, f"vsock sendbulk 0 {N}", "vsock sendbulk conn=", timeout=150)
th.join(150)
t.is_eq(r, f"vsock sendbulk conn=0 bytes={N} ok=1", "guest streams 1 MiB under flow control")
t.ok(res.get("data") == pattern(N), f"host got every byte in order ({len(res.get('data', b''))})")

# host -> guest: CONNECT to a guest echo listener, 512 KiB round trip
t.is_eq(cmd(m, "vsock echo-server 5000", "vsock listen port="), "vsock listen port=5000 echo=1",
        "guest listens on port 5000 (echo)")
es, line = host_connect(5000)
ok_line = re.match(r"OK (\d+)\n$", line)
t.ok(ok_line is not None, f"host CONNECT 5000 answered OK <hostport> ({line.strip()})")
M = 512 * 1024
back = {}
th = threading.Thread(target=lambda: back.update(data=read_exact(es, M, 120)))
th.start()
es.sendall(pattern(M))
th.join(150)
t.ok(back.get("data") == pattern(M),
     f"512 KiB echoed back intact through the guest's 64 KiB window ({len(back.get('data', b''))})")
# three host clients at once on the same guest listener
K = 96 * 1024
socks = [host_connect(5000) for _ in range(3)]
t.ok(all(ln.startswith("OK ") for _, ln in socks), "three concurrent CONNECTs answered OK")
outs = [{} for _ in socks]
ths = [threading.Thread(target=lambda s=s, o=o: o.update(data=read_exact(s, K, 120)))
       for (s, _), o in zip(socks, outs)]
for th in ths:
    th.start()
for i, (s, _) in enumerate(socks):
    s.sendall(bytes((j * (i + 3)) & 0xFF for j in range(K)))
for th in ths:
    th.join(150)
t.ok(all(o.get("data") == bytes((j * (i + 3)) & 0xFF for j in range(K))
         for i, o in enumerate(outs)), "each gets its own 96 KiB back, no mixing")
for s, _ in socks:
    s.close()

# throughput, informative only: guest to a host reader that keeps up
res = {}
t0 = time.monotonic()
th = threading.Thread(target=lambda: res.update(data=read_exact(hc, 4 * N, 120)))
th.start()
r = cmd(m, f"vsock sendbulk 0 {4 * N}", "vsock sendbulk conn=", timeout=150)
th.join(150)
secs = time.monotonic() - t0
t.ok(r == f"vsock sendbulk conn=0 bytes={4 * N} ok=1" and len(res.get("data", b"")) == 4 * N,
     "guest streams 4 MiB more")
t.diag(f"guest to host over vsock: {4 / secs:.1f} MiB/s (4 MiB in {secs:.2f} s, PVM/KVM "
       "dependent, not judged)")

lst = cmd(m, "vsock list", "vsock conn=1")
hport = ok_line.group(1) if ok_line else ""
t.ok("state=open" in lst and "echo=1" in lst and f"pport={hport}" in lst,
     f"guest lists the host-initiated connection ({lst})")

# resets: nobody listens
r = cmd(m, "vsock connect 999", "vsock connect port=")
t.is_eq(r, "vsock connect port=999 ok=0 reset=1",
        "guest connect to a host port without listener: RST")
ns, line = host_connect(7777)
t.is_eq(line, "", "host CONNECT to a guest port without a listener: closed, no OK")
ns.close()
bs = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
bs.connect(uds)
bs.settimeout(10)
bs.sendall(b"HELLO 1\n")
t.ok(bs.recv(100).startswith(b"ERR"), "a bad handshake line is refused")
bs.close()

# closes: guest closes its connection, host closes the echo one
t.is_eq(cmd(m, "vsock close 0", "vsock close conn="), "vsock close conn=0 ok=1",
        "guest close: SHUTDOWN answered by the VMM's RST")
hc.settimeout(10)
try:
    eof = hc.recv(10)
except socket.timeout:
    eof = None
t.is_eq(eof, b"", "the host end sees EOF")
es.close()
end = time.monotonic() + 10
lst = ""
while time.monotonic() < end:
    lst = cmd(m, "vsock list", "vsock conn=1")
    if "state=closed" in lst:
        break
    time.sleep(0.05)
t.ok("state=closed" in lst, f"host close reaches the guest ({lst})")

q = kv(m.ctl("query vsock"))
t.ok(q.get("guest_connects") == "1" and q.get("host_connects") == "4",
     f"query vsock counts 1 guest-initiated and 4 host-initiated connections "
     f"({q.get('guest_connects')}, {q.get('host_connects')})")
t.is_eq(q.get("conns"), "0", "no connection left open in the VMM")
t.is_eq(q.get("bad_packets"), "0", "no malformed packet from the guest")
t.ok(int(q.get("resets", "0")) >= 2, "the VMM sent its resets")
t.ok((m.ctl("status") or "").startswith("OK state=running"), "VMM still running")
m.send("poweroff\r")
st, _ = m.wait(60)
t.is_eq(st, 0, "guest powered off")
m.close()
t.ok(not os.path.exists(uds), "host socket removed at exit")
srv.close()

st, _, err = v.run_vmm(["--kernel", img, "--memory", "16M", "--vsock", f"cid=1,uds={d}/x"])
t.ok(st == 1 and "vsock cid '1'" in err,
     f"a reserved cid is refused with its reason ({st}: {v.error_lines(err)[-1:]})")
t.done()

"""tests/integration/nettest.py - network fixtures for the virtio-net tests and benchmark:
a private network namespace with a Linux bridge, TAPs on it (opened here and handed to the
VMM as an fd, or created persistent in the namespace and opened by name), and atoll-vmm
started either in the namespace or outside it with the TAP fd. Only traffic into the
namespace; everything is deleted at exit (the namespace takes its bridge and TAPs along).
"""
import atexit
import fcntl
import os
import shutil
import struct
import subprocess

import vmmtest as v
from vmmtest import t

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def need_netadmin():
    """Skips the whole test unless `ip` works and namespaces can be made (CAP_NET_ADMIN)."""
    if not shutil.which("ip"):
        t.skip_all("iproute2 (ip) is not installed")
    if not os.path.exists("/dev/net/tun"):
        t.skip_all("no /dev/net/tun on this host")
    probe = f"atoll-probe-{os.getpid()}"
    r = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if r.returncode != 0:
        t.skip_all(f"cannot create a network namespace (need CAP_NET_ADMIN): {r.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


class Netns:
    """A namespace with bridge br0 at host_ip/24 (e.g. 10.77.0.1)."""

    def __init__(self, tag, host_ip):
        self.name = f"atoll-{tag}-{os.getpid()}"
        self.host_ip = host_ip
        self.fds = []
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        atexit.register(self.delete)
        self.sh("ip", "link", "set", "lo", "up")
        self.sh("ip", "link", "add", "br0", "type", "bridge")
        self.sh("ip", "addr", "add", f"{host_ip}/24", "dev", "br0")
        self.sh("ip", "link", "set", "br0", "up")

    def sh(self, *args, check=True, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.name] + list(args), capture_output=True,
                              text=True, check=check, timeout=timeout)

    def tap_named(self, name):
        """A persistent TAP in the namespace on br0, for --net tap=NAME (VMM in the namespace)."""
        self.sh("ip", "tuntap", "add", "dev", name, "mode", "tap")
        self.sh("ip", "link", "set", name, "master", "br0", "up")
        return name

    def tap_fd(self, name, vnet_hdr=True):
        """A TAP opened here (root namespace), moved into the namespace onto br0; returns the
        fd for --net fd=N (the VMM stays outside the namespace, as under atolld)."""
        fd = os.open("/dev/net/tun", os.O_RDWR)
        flags = IFF_TAP | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), flags))
        subprocess.run(["ip", "link", "set", name, "netns", self.name], check=True,
                       capture_output=True)
        self.sh("ip", "link", "set", name, "master", "br0", "up")
        self.fds.append(fd)
        return fd

    def delete(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def vmm_in_netns(ns, kernel, memory="128M", extra=(), pass_fds=()):
    """A vmmtest.Vmm whose atoll-vmm runs inside ns (ns=None: in the root namespace), with
    pass_fds inherited (TAP fds)."""
    wrapper = None
    if ns is not None:
        wrapper = os.path.join(t.tmpdir("atoll-netwrap-"), "vmm.sh")
        with open(wrapper, "w") as f:
            f.write(f"#!/bin/sh\nexec ip netns exec {ns.name} {v.vmm_path()} \"$@\"\n")
        os.chmod(wrapper, 0o755)
    orig_spawn, orig_env = t.spawn, os.environ.get("ATOLL_VMM")

    def spawn(args, **kw):
        kw["pass_fds"] = tuple(pass_fds)
        return orig_spawn(args, **kw)

    t.spawn = spawn
    if wrapper:
        os.environ["ATOLL_VMM"] = wrapper
    try:
        return v.Vmm(kernel, memory=memory, extra=list(extra))
    finally:
        t.spawn = orig_spawn
        if wrapper:
            if orig_env is None:
                del os.environ["ATOLL_VMM"]
            else:
                os.environ["ATOLL_VMM"] = orig_env

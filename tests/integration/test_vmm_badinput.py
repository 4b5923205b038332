#!/usr/bin/env python3
"""tests/integration/test_vmm_badinput.py - every bad input gets one clear line and a non-zero
exit status, never a crash: usage errors (status 2) and startup failures (status 1)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402
from pvhfixture import make_pvh  # noqa: E402

if not os.path.exists(v.vmm_path()):
    t.skip_all("atoll-vmm is not built")
d = t.tmpdir()
good = make_pvh(os.path.join(d, "good.elf"), "poweroff")
text = os.path.join(d, "notes.txt")
with open(text, "w") as f:
    f.write("this is not a kernel\n" * 20)
nonote = os.path.join(d, "nonote.elf")
with open(good, "rb") as f:
    b = bytearray(f.read())
b[b.index(b"Xen\0") - 4] = 5            # note type 18 -> 5: no PVH entry
with open(nonote, "wb") as f:
    f.write(b)
trunc = os.path.join(d, "trunc.elf")
with open(trunc, "wb") as f:
    f.write(bytes(b[:100]))
empty = os.path.join(d, "empty")
open(empty, "w").close()
have_kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)

cases = [
    # (description, args, env, status, text expected in the error line, needs kvm)
    ("unknown option", ["--kernel", good, "--frobnicate"], None, 2,
     "unknown option '--frobnicate'", 0),
    ("no kernel", ["--memory", "64M"], None, 2, "--kernel PATH is required", 0),
    ("0 vCPUs", ["--kernel", good, "--vcpus", "0"], None, 2, "expected 1..254", 0),
    ("too many vCPUs", ["--kernel", good, "--vcpus", "300"], None, 2, "expected 1..254", 0),
    ("bad memory size", ["--kernel", good, "--memory", "lots"], None, 2, "is not a size", 0),
    ("too little memory", ["--kernel", good, "--memory", "1M"], None, 2, "at least 4M", 0),
    ("stray argument", ["--kernel", good, "extra"], None, 2, "unexpected argument 'extra'", 0),
    ("missing config file", ["--config", os.path.join(d, "none.conf")], None, 2,
     "cannot read config file", 0),
    ("missing image", ["--kernel", os.path.join(d, "nope.elf")], None, 1,
     "cannot open kernel image", 0),
    ("image is a directory", ["--kernel", d], None, 1, "is not a regular file", 0),
    ("empty image", ["--kernel", empty], None, 1, "has size 0", 0),
    ("text file as image", ["--kernel", text], None, 1, "neither an ELF (PVH) nor a bzImage", 0),
    ("ELF without PVH note", ["--kernel", nonote], None, 1, "no PVH entry note", 1),
    ("truncated ELF", ["--kernel", trunc], None, 1, "truncated", 1),
    ("no KVM device", ["--kernel", good], {"ATOLL_KVM_DEVICE": os.path.join(d, "kvm")}, 1,
     "cannot open KVM device", 0),
    ("unusable KVM device", ["--kernel", good], {"ATOLL_KVM_DEVICE": "/dev/null"}, 1,
     "is not a usable KVM device", 0),
    ("memory beyond the host", ["--kernel", good, "--memory", "16T"], None, 1,
     "more than this host can give", 0),
    ("missing initrd", ["--kernel", good, "--initrd", os.path.join(d, "no.img")], None, 1,
     "cannot open initrd", 0),
    ("control socket path too long", ["--kernel", good, "--control-socket", "/tmp/" + "x" * 200],
     None, 1, "longer than", 1),
    ("console log in missing dir", ["--kernel", good, "--console-log", "/nonexistent/dir/log"],
     None, 1, "cannot open console log", 1),
]
for desc, args, env, want, words, needs_kvm in cases:
    if needs_kvm and not have_kvm:
        t.skip(desc, "no usable /dev/kvm on this host")
        continue
    st, out, err = v.run_vmm(args, env=env)
    lines = v.error_lines(err)
    t.ok(st == want and len(lines) == 1 and words in lines[0],
         f"{desc}: status {want}, one line naming the problem")
    if not (st == want and len(lines) == 1 and words in lines[0]):
        t.diag(f"status {st}, stderr {err!r}")

st, out, err = v.run_vmm(["--help"])
t.ok(st == 0 and "--kernel PATH" in out and "exit status:" in out, "--help prints usage, status 0")
st, out, err = v.run_vmm(["--version"])
t.ok(st == 0 and out.startswith("atoll-vmm "), "--version")
t.done()

#!/usr/bin/env python3
"""Xen Orchestra's own connector (the xen-api npm package, 4.7.x) against atolld, over HTTPS
with each of its transports (auto = JSON-RPC first, json-rpc, xml-rpc): connect, fetch every
object, barrier, setField, a VM seen through events, Async calls, errors, deletion.

Needs node and the package: set ATOLL_XEN_API_DIR to a directory where
`npm install xen-api@4.7.6` was run (it is not a Debian package, so it is not installed by
contrib/atoll-setup.sh); otherwise the test is skipped with that reason."""
import os
import shutil
import subprocess

import apitest as a
import atolltest as t

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    pkg_dir = os.environ.get("ATOLL_XEN_API_DIR", "")
    mods = os.path.join(pkg_dir, "node_modules")
    if not shutil.which("node"):
        t.skip_all("node is not installed")
    if not pkg_dir or not os.path.isfile(os.path.join(mods, "xen-api", "package.json")):
        t.skip_all("xen-api (npm) not available: set ATOLL_XEN_API_DIR to a directory where "
                   "'npm install xen-api@4.7.6' was run")
    d = a.Atolld()
    work = t.tmpdir("atoll-xen-api-")
    os.symlink(mods, os.path.join(work, "node_modules"))
    script = os.path.join(work, "xen_api_check.mjs")
    shutil.copy(os.path.join(HERE, "xen_api_check.mjs"), script)
    url = f"https://127.0.0.1:{d.https_port}"
    for transport in ("auto", "json-rpc", "xml-rpc"):
        args = ["node", script, url, "root", a.ROOT_PW] + ([] if transport == "auto" else
                                                           [transport])
        try:
            p = subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=work)
            out, rc = p.stdout, p.returncode
        except subprocess.TimeoutExpired as e:
            out, rc = (e.stdout or b"").decode(errors="replace"), None
        lines = [ln for ln in out.splitlines() if ln.startswith(("ok - ", "not ok - "))]
        for ln in lines:
            t.ok(ln.startswith("ok - "), f"[{transport}] {ln.split(' - ', 1)[1]}")
        t.ok(rc == 0 and len(lines) >= 10, f"[{transport}] xen-api run complete ({len(lines)} "
             "checks)")
        if rc != 0:
            t.diag(out[-2000:])
    t.is_eq(d.stop(), 0, "clean stop")
    t.done()


if __name__ == "__main__":
    main()

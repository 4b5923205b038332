"""tests/integration/apitest.py - starts one atolld for API integration tests.

Atolld(...) runs toolstack/atolld (through atolltest.spawn, so it is killed by pid at
exit) with a private state directory, free loopback ports for HTTPS and plain HTTP,
and a UNIX socket; it gives XML-RPC proxies (used the way XenAPI.py uses them:
proxy.session.login_with_password(...) returns the {Status, Value} struct) and a
small JSON-RPC client built on urllib. Every wait is bounded.
"""
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import atolltest as t  # noqa: E402

ROOT_PW = "integration-root-pw"


def atolld_path():
    return os.path.join(t.builddir(), "toolstack", "atolld")


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def insecure_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=30):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def make_connection(self, host):
        return UnixHTTPConnection(self.path)


class Atolld:
    def __init__(self, extra=(), state_dir=None, root_pw=ROOT_PW, expect_ready=True):
        if not os.access(atolld_path(), os.X_OK):
            t.skip_all("atolld is not built")
        self.dir = t.tmpdir("atoll-api-")
        self.state = state_dir or os.path.join(self.dir, "state")
        self.https_port = free_port()
        self.http_port = free_port()
        self.sock = os.path.join(self.dir, "atolld.sock")
        self.log = os.path.join(self.dir, "atolld.log")
        args = [atolld_path(), "--state-dir", self.state, "--port", str(self.https_port),
                "--http-port", str(self.http_port), "--bind", "127.0.0.1",
                "--socket", self.sock, "--log", self.log]
        if root_pw is not None:
            pwf = os.path.join(self.dir, "rootpw")
            with open(pwf, "w") as f:
                f.write(root_pw + "\n")
            args += ["--root-password-file", pwf]
        args += list(extra)
        self.proc = t.spawn(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
        if expect_ready and not self.wait_ready():
            t.diag(self.log_text())
            raise RuntimeError("atolld did not become ready")

    def wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                c = socket.create_connection(("127.0.0.1", self.http_port), timeout=1)
                c.close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def audit_text(self):
        try:
            with open(os.path.join(self.state, "audit.log")) as f:
                return f.read()
        except OSError:
            return ""

    # ---- clients
    def xml(self, https=True, path="/RPC2"):
        if https:
            return xmlrpc.client.ServerProxy(f"https://127.0.0.1:{self.https_port}{path}",
                                             context=insecure_ctx())
        return xmlrpc.client.ServerProxy(f"http://127.0.0.1:{self.http_port}{path}")

    def xml_unix(self):
        return xmlrpc.client.ServerProxy("http://localhost/", transport=UnixTransport(self.sock))

    def json_call(self, method, params, id=0, version="2.0", https=True, raw=None):
        """Returns (http status, content-type, decoded body or raw text)."""
        body = {"method": method, "params": params, "id": id}
        if version:
            body["jsonrpc"] = version
        data = raw if raw is not None else json.dumps(body).encode()
        scheme, port = ("https", self.https_port) if https else ("http", self.http_port)
        req = urllib.request.Request(f"{scheme}://127.0.0.1:{port}/jsonrpc", data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30,
                                        context=insecure_ctx() if https else None) as r:
                text = r.read()
                ctype = r.headers.get("Content-Type")
                status = r.status
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read()
        try:
            return status, ctype, json.loads(text)
        except ValueError:
            return status, ctype, text

    def raw_post(self, path, body, ctype="text/xml", https=False, headers=None):
        """(status, content-type, body bytes) for one POST."""
        if https:
            c = http.client.HTTPSConnection("127.0.0.1", self.https_port, timeout=30,
                                            context=insecure_ctx())
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=30)
        h = {"Content-Type": ctype}
        h.update(headers or {})
        c.request("POST", path, body=body, headers=h)
        r = c.getresponse()
        out = (r.status, r.getheader("Content-Type"), r.read())
        c.close()
        return out

    def login(self, user="root", pw=ROOT_PW):
        r = self.xml().session.login_with_password(user, pw, "1.0", "atoll-tests")
        if r.get("Status") != "Success":
            raise RuntimeError(f"login failed: {r}")
        return r["Value"]

    def stop(self, timeout=15):
        """SIGTERM, then the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def value(r):
    """Value of a {Status, Value} struct, or raises with the ErrorDescription."""
    if r.get("Status") != "Success":
        raise RuntimeError(f"call failed: {r.get('ErrorDescription')}")
    return r["Value"]


def error(r):
    """ErrorDescription of a failed call, or None."""
    return r.get("ErrorDescription") if r.get("Status") == "Failure" else None

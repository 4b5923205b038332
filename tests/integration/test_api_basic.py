#!/usr/bin/env python3
"""API basics with independent clients (Python's xmlrpc.client as XenAPI.py uses it, and
json + urllib): login both ways with 2 and 4 params, one session valid on both protocols,
XenAPI envelopes, listMethods, isAlive, exact content types, compact XML, HTTPS (TLS >= 1.2,
generated certificate, replaceable), the local UNIX socket, CORS, and clean SIGTERM."""
import os
import re
import shutil
import socket
import ssl
import subprocess

import warnings

import apitest as a
import atolltest as t


def main():
    warnings.simplefilter("ignore", DeprecationWarning)
    d = a.Atolld()
    s = d.xml()
    # --- login over XML-RPC, XenAPI.py style
    r = s.session.login_with_password("root", a.ROOT_PW)
    t.is_eq(r.get("Status"), "Success", "XML-RPC login with 2 params")
    ref = r.get("Value", "")
    t.ok(re.fullmatch(r"OpaqueRef:[0-9a-f-]{36}", ref), "session ref is OpaqueRef:<uuid>")
    r4 = s.session.login_with_password("root", a.ROOT_PW, "2.21", "test-originator")
    t.is_eq(r4.get("Status"), "Success", "XML-RPC login with 4 params")
    rec = a.value(s.session.get_record(r4["Value"], r4["Value"]))
    t.is_eq(rec.get("originator"), "test-originator", "originator recorded")
    t.is_eq(rec.get("is_local_superuser"), True, "root is the local superuser")
    # --- the same session over JSON-RPC 2.0 and 1.0
    st, ctype, body = d.json_call("session.get_uuid", [ref, ref])
    t.is_eq((st, ctype), (200, "application/json"), "JSON-RPC: 200, Content-Type exactly "
            "application/json")
    t.is_eq(body.get("result"), a.value(s.session.get_uuid(ref, ref)),
            "an XML-RPC session works over JSON-RPC")
    t.is_eq(body.get("jsonrpc"), "2.0", "2.0 reply")
    st, ctype, body = d.json_call("session.login_with_password", ["root", a.ROOT_PW], id=0)
    jref = body.get("result")
    t.ok(isinstance(jref, str) and jref.startswith("OpaqueRef:"), "JSON-RPC login (id 0, as xen-api)")
    t.is_eq(body.get("id"), 0, "id echoed")
    t.is_eq(a.value(s.session.get_auth_user_name(jref, jref)), "root",
            "a JSON-RPC session works over XML-RPC")
    st, ctype, body = d.json_call("session.get_uuid", [jref, jref], id="x1", version=None)
    t.ok("error" in body and body["error"] is None and body.get("id") == "x1",
         "JSON-RPC 1.0 reply shape {result, error: null, id}")
    st, ctype, body = d.json_call("session.login_with_password", ["root", "wrong"], version=None)
    t.is_eq(body.get("error"), ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"],
            "JSON-RPC 1.0 error is [CODE, params...]")
    st, ctype, body = d.json_call("session.login_with_password", ["root", "wrong"])
    err = body.get("error", {})
    t.ok(err.get("code") not in (None, 0) and err.get("message") == "SESSION_AUTHENTICATION_FAILED"
         and err.get("data") == ["root", "Authentication failure"],
         "JSON-RPC 2.0 error is {code, message: CODE, data: params}")
    t.is_eq(st, 200, "JSON-RPC errors use HTTP 200")
    # --- XML-RPC errors, counts, unknown methods
    t.is_eq(a.error(s.session.login_with_password("root", "wrong")),
            ["SESSION_AUTHENTICATION_FAILED", "root", "Authentication failure"],
            "auth failure over XML-RPC")
    t.is_eq(a.error(s.VM.frobnicate(ref)), ["MESSAGE_METHOD_UNKNOWN", "VM.frobnicate"],
            "unknown method")
    t.is_eq(a.error(s.session.login_with_password("root")),
            ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.login_with_password", "4", "1"],
            "too few params")
    t.is_eq(a.error(s.session.get_uuid(ref, ref, "extra")),
            ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.get_uuid", "2", "3"], "too many params")
    t.is_eq(a.error(s.session.get_uuid("OpaqueRef:00000000-0000-0000-0000-000000000000", ref)),
            ["SESSION_INVALID", "OpaqueRef:00000000-0000-0000-0000-000000000000"],
            "dead session -> SESSION_INVALID [handle]")
    st, ctype, body = d.json_call("No.such", [ref])
    t.is_eq(body.get("error", {}).get("data"), ["No.such"], "unknown method over JSON-RPC")
    # --- listMethods is bare; isAlive
    methods = s.system.listMethods()
    t.ok(isinstance(methods, list) and "session.login_with_password" in methods,
         "system.listMethods returns a bare array")
    st, ctype, raw = d.raw_post("/RPC2", b"<?xml version='1.0'?><methodCall><methodName>"
                                b"system.listMethods</methodName><params/></methodCall>")
    t.ok(raw.startswith(b"<methodResponse><params><param><value><array>"),
         "bare array on the wire (no Status/Value envelope)")
    t.is_eq(a.value(s.system.isAlive("hello")), "hello", "system.isAlive echoes")
    # --- exact content type and compact XML on every XML-RPC path
    call = (b"<?xml version='1.0'?><methodCall><methodName>session.get_other_config</methodName>"
            b"<params><param><value><string>" + ref.encode() + b"</string></value></param>"
            b"<param><value><string>" + ref.encode() + b"</string></value></param>"
            b"</params></methodCall>")
    for path in ("/", "/RPC2", "/xmlrpc", "/anything"):
        st, ctype, raw = d.raw_post(path, call)
        t.ok(st == 200 and ctype == "text/xml" and b"<value><struct></struct></value>" in raw,
             f"XML-RPC at {path}: 200, Content-Type exactly text/xml")
    st, ctype, raw = d.raw_post("/", call.replace(b"get_other_config", b"get_auth_user_sid"))
    t.ok(b"<name>Value</name><value></value>" in raw, "empty string is <value></value>")
    t.ok(not re.search(rb">\s+<", raw), "no whitespace between tags")
    st, ctype, raw = d.raw_post("/", call.replace(b"get_other_config", b"get_last_active"))
    t.ok(re.search(rb"<dateTime.iso8601>\d{8}T\d\d:\d\d:\d\dZ</dateTime.iso8601>", raw),
         "datetimes in XAPI's format")
    # --- HTTPS: TLS 1.2 minimum, self-signed certificate generated under the state dir
    crt, key = os.path.join(d.state, "host.crt"), os.path.join(d.state, "host.key")
    t.ok(os.path.isfile(crt) and os.path.isfile(key), "host certificate generated on first start")
    t.is_eq(oct(os.stat(key).st_mode & 0o777), "0o600", "private key is 0600")
    ctx = a.insecure_ctx()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    refused = False
    try:
        with socket.create_connection(("127.0.0.1", d.https_port), timeout=10) as raw_s:
            with ctx.wrap_socket(raw_s):
                pass
    except (ssl.SSLError, OSError):
        refused = True
    t.ok(refused, "TLS 1.1 refused")
    with socket.create_connection(("127.0.0.1", d.https_port), timeout=10) as raw_s:
        ctx = a.insecure_ctx()
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with ctx.wrap_socket(raw_s) as tls:
            t.is_eq(tls.version(), "TLSv1.2", "TLS 1.2 accepted")
            served = tls.getpeercert(binary_form=True)
    with open(crt) as f:
        t.is_eq(ssl.PEM_cert_to_DER_cert(f.read()), served, "serves the generated certificate")
    # --- local UNIX socket: 0600, logins without the password (as XAPI's local socket)
    t.is_eq(oct(os.stat(d.sock).st_mode & 0o777), "0o600", "local socket is 0600")
    u = d.xml_unix()
    r = u.session.login_with_password("root", "")
    t.is_eq(r.get("Status"), "Success", "local socket login skips the password")
    t.is_eq(a.error(u.session.login_with_password("nobody", "")),
            ["SESSION_AUTHENTICATION_FAILED", "nobody", "Authentication failure"],
            "local socket still needs an existing user")
    # --- other HTTP bits
    st, ctype, raw = d.raw_post("/", b"", headers={})
    t.is_eq(st, 500, "empty XML-RPC body -> HTTP 500")
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
    c.request("OPTIONS", "/jsonrpc")
    resp = c.getresponse()
    resp.read()
    t.ok(resp.status == 200 and resp.getheader("Access-Control-Allow-Origin") == "*",
         "CORS preflight answered")
    c.request("GET", "/")
    resp = c.getresponse()
    t.ok(resp.status == 200 and b"Atoll" in resp.read(), "GET / answers (keep-alive reused)")
    c.close()
    # --- logout
    t.is_eq(s.session.logout(ref).get("Status"), "Success", "logout")
    t.is_eq(a.error(s.session.get_uuid(ref, ref))[0], "SESSION_INVALID", "session gone")
    st, ctype, body = d.json_call("session.get_uuid", [ref, ref])
    t.is_eq(body.get("error", {}).get("message"), "SESSION_INVALID", "gone on JSON-RPC too")
    # --- clean shutdown on SIGTERM, then a restart keeps users and uses a replaced certificate
    t.is_eq(d.stop(), 0, "SIGTERM: clean exit 0")
    t.ok(not os.path.exists(d.sock), "socket removed at exit")
    # another certificate and key: let a second, throw-away atolld generate a pair
    other = a.Atolld()
    other.stop()
    with open(crt) as f:
        old_der = ssl.PEM_cert_to_DER_cert(f.read())
    shutil.copy(os.path.join(other.state, "host.crt"), crt)
    shutil.copy(os.path.join(other.state, "host.key"), key)
    d2 = a.Atolld(state_dir=d.state, root_pw=None)
    t.ok(d2.login(), "restart without a root password: the account persists")
    with socket.create_connection(("127.0.0.1", d2.https_port), timeout=10) as raw_s:
        with a.insecure_ctx().wrap_socket(raw_s) as tls:
            served = tls.getpeercert(binary_form=True)
    with open(crt) as f:
        new_der = ssl.PEM_cert_to_DER_cert(f.read())
    t.ok(new_der == served and new_der != old_der, "a replaced certificate is served")
    t.is_eq(d2.stop(), 0, "second instance stops cleanly")
    # --- no default password: first start without one fails with a clear message
    d3 = a.Atolld(root_pw=None, expect_ready=False)
    try:
        rc = d3.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    t.ok(rc not in (0, None) and "root-password-file" in d3.log_text(),
         "first start without a root password refuses to run and says how")
    t.done()


if __name__ == "__main__":
    main()

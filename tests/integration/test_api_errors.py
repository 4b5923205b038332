#!/usr/bin/env python3
"""Hostile and broken requests: bad XML (malformed, DOCTYPE/entity bombs, wrong types),
bad JSON, invalid JSON-RPC requests, oversized bodies, truncated requests, garbage that is
not HTTP, idle connections, and wrong methods. Each gets a proper fault or HTTP error, and
none disturbs other clients or the server."""
import http.client
import socket
import time

import apitest as a
import atolltest as t


def still_serving(d, what):
    r = d.xml(https=False).session.login_with_password("root", a.ROOT_PW)
    t.is_eq(r.get("Status"), "Success", f"server still serves after {what}")


def main():
    d = a.Atolld(extra=["--max-body", "64K"])
    ref = d.login()
    # a keep-alive connection held open across all the abuse below
    keep = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=30)

    def keep_call():
        body = ("<methodCall><methodName>session.get_uuid</methodName><params><param><value>"
                f"{ref}</value></param><param><value>{ref}</value></param></params>"
                "</methodCall>").encode()
        keep.request("POST", "/RPC2", body=body, headers={"Content-Type": "text/xml"})
        r = keep.getresponse()
        return r.status, r.read()

    st, body = keep_call()
    t.ok(st == 200 and b"Success" in body, "keep-alive connection works")

    bad_xml = [
        (b"<methodCall><methodName>x", "truncated XML"),
        (b"this is not xml", "not XML at all"),
        (b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;"
         b"&a;&a;&a;&a;&a;&a;'><!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'>]><methodCall>"
         b"<methodName>&c;</methodName></methodCall>", "entity expansion (billion laughs)"),
        (b"<!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><methodCall><methodName>&x;"
         b"</methodName></methodCall>", "external entity (XXE)"),
        (b"<methodCall><methodName>session.get_uuid</methodName><params><param><value><int>"
         b"12abc</int></value></param></params></methodCall>", "bad <int>"),
        (b"<methodCall><methodName>a</methodName><params><param><value>" + b"<array><data><value>"
         * 100 + b"</value></data></array>" * 100 + b"</value></param></params></methodCall>",
         "nesting 100 deep"),
        (b"\xff\xfe<\x00m\x00", "binary junk"),
    ]
    for raw, what in bad_xml:
        st, ctype, body = d.raw_post("/RPC2", raw)
        t.ok(st == 500 and ctype == "text/html" and b"passwd" not in body and b"root:" not in body,
             f"bad XML-RPC ({what}) -> HTTP 500 page")
    still_serving(d, "bad XML")

    bad_json = [
        (b"{\"jsonrpc\":\"2.0\",\"method\":", -32700, "truncated JSON"),
        (b"not json", -32700, "not JSON"),
        (b"[" * 1000 + b"]" * 1000, -32700, "nesting 1000 deep"),
        (b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"id\":1,\"id\":2}", -32700, "duplicate key"),
        (b"{\"jsonrpc\":\"2.0\",\"method\":\"session.get_uuid\"}", -32600, "no id (notification)"),
        (b"{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":5}", -32600, "method not a string"),
        (b"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"params\":\"p\",\"id\":5}", -32600,
         "params not an array"),
        (b"[1,2,3]", -32600, "an array, not an object"),
    ]
    for raw, code, what in bad_json:
        st, ctype, body = d.json_call(None, None, raw=raw)
        t.ok(st == 200 and ctype == "application/json" and isinstance(body, dict) and
             body.get("error", {}).get("code") == code,
             f"bad JSON-RPC ({what}) -> error {code}")
    st, ctype, body = d.json_call(None, None, raw=b"{\"jsonrpc\":\"2.0\",\"method\":42,\"id\":5}")
    t.is_eq(body.get("id"), 5, "invalid request still echoes its id")
    still_serving(d, "bad JSON")

    # wrong param types reach the handler as FIELD_TYPE_ERROR
    t.is_eq(a.error(d.xml().session.login_with_password(1, 2)), ["FIELD_TYPE_ERROR", "uname"],
            "wrong parameter type -> FIELD_TYPE_ERROR [name]")
    t.is_eq(a.error(d.xml().session.get_uuid(ref, ref, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                             14, 15, 16, 17, 18, 19, 20)),
            ["MESSAGE_PARAMETER_COUNT_MISMATCH", "session.get_uuid", "2", "22"],
            "22 params -> count mismatch, not a crash")

    # oversized bodies: 413 from the HTTP layer, both protocols, and the server carries on
    big = b"<methodCall><methodName>a</methodName><params><param><value>" + b"x" * 100000 + \
        b"</value></param></params></methodCall>"
    try:
        st, ctype, body = d.raw_post("/RPC2", big)
    except (ConnectionError, http.client.HTTPException):
        st = 413  # the server may close before the client finishes sending
    t.is_eq(st, 413, "oversized XML-RPC body -> 413")
    try:
        st, ctype, body = d.raw_post("/jsonrpc", b"[" + b"1," * 50000 + b"1]",
                                     ctype="application/json")
    except (ConnectionError, http.client.HTTPException):
        st = 413
    t.is_eq(st, 413, "oversized JSON-RPC body -> 413")
    still_serving(d, "oversized bodies")

    # truncated request: Content-Length larger than what is sent, then the client hangs up
    s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
    s.sendall(b"POST /RPC2 HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
              b"Content-Length: 5000\r\n\r\n<methodCall>")
    s.close()
    # garbage that is not HTTP
    s = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
    s.sendall(b"\x16\x03\x01 hello? GARBAGE GARBAGE\r\n\r\n")
    try:
        reply = s.recv(100)
    except OSError:
        reply = b""
    s.close()
    t.ok(reply == b"" or reply.startswith(b"HTTP/1.1 400") or reply.startswith(b"HTTP/1.0 400"),
         "non-HTTP bytes -> 400 or close")
    # plain HTTP sent to the HTTPS port
    s = socket.create_connection(("127.0.0.1", d.https_port), timeout=10)
    s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
    # idle connections do not block others
    idle = [socket.create_connection(("127.0.0.1", d.http_port), timeout=10) for _ in range(20)]
    still_serving(d, "truncated requests, garbage and 20 idle connections")
    for c in idle:
        c.close()

    # methods other than POST on the RPC paths
    c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
    c.request("GET", "/jsonrpc")
    r = c.getresponse()
    r.read()
    t.is_eq(r.status, 404, "GET /jsonrpc -> 404")
    c.request("DELETE", "/RPC2")
    r = c.getresponse()
    r.read()
    t.is_eq(r.status, 405, "DELETE /RPC2 -> 405")
    c.close()

    st, body = keep_call()
    t.ok(st == 200 and b"Success" in body, "the keep-alive connection survived everything")
    keep.close()
    t.ok(d.proc.poll() is None, "atolld is still running")
    t.is_eq(d.stop(), 0, "and stops cleanly")
    t.done()


if __name__ == "__main__":
    main()

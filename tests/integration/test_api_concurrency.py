#!/usr/bin/env python3
"""100 concurrent clients (XML-RPC over HTTPS and JSON-RPC over HTTP, keep-alive, each with its
own session) all get correct answers; a long-blocking call does not stall the others; the
bound on concurrently served connections answers 503 beyond it and recovers."""
import http.client
import json
import socket
import ssl
import threading

import apitest as a
import atolltest as t

CLIENTS = 100
CALLS = 20


def xml_client(d, i, results):
    try:
        s = d.xml()
        ref = d.login()
        uuid = a.value(s.session.get_uuid(ref, ref))
        good = 0
        for _ in range(CALLS):
            rec = a.value(s.session.get_record(ref, ref))
            good += rec["uuid"] == uuid
        good += s.session.logout(ref).get("Status") == "Success"
        results[i] = good == CALLS + 1
    except Exception as e:  # noqa: BLE001 - any failure of a client is a test failure
        results[i] = repr(e)


def json_client(d, i, results):
    try:
        c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=60)

        def call(method, params, rid):
            c.request("POST", "/jsonrpc", body=json.dumps(
                {"jsonrpc": "2.0", "method": method, "params": params, "id": rid}),
                headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = json.loads(r.read())
            if body.get("id") != rid:
                raise RuntimeError(f"id mismatch {body.get('id')} != {rid}")
            return body["result"]
        ref = call("session.login_with_password", ["root", a.ROOT_PW], i)
        good = sum(call("session.get_auth_user_name", [ref, ref], i * 1000 + k) == "root"
                   for k in range(CALLS))
        call("session.logout", [ref], -i)
        c.close()
        results[i] = good == CALLS
    except Exception as e:  # noqa: BLE001
        results[i] = repr(e)


def main():
    d = a.Atolld()
    results = [None] * CLIENTS
    threads = [threading.Thread(target=xml_client if i % 2 == 0 else json_client,
                                args=(d, i, results)) for i in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=180)
    bad = [r for r in results if r is not True]
    t.ok(not bad, f"{CLIENTS} concurrent clients ({CLIENTS // 2} XML-RPC/HTTPS, "
         f"{CLIENTS // 2} JSON-RPC/HTTP), {CALLS} calls each, all correct")
    for r in bad[:5]:
        t.diag(f"client failure: {r}")
    t.ok(d.proc.poll() is None, "server alive after the burst")

    # a slow login (PBKDF2) storm does not block cheap calls: run 20 logins in the background
    ref = d.login()
    s = d.xml(https=False)
    storm = [threading.Thread(target=lambda: d.login()) for _ in range(20)]
    for th in storm:
        th.start()
    cheap = all(a.value(s.session.get_uuid(ref, ref)) for _ in range(10))
    for th in storm:
        th.join(timeout=60)
    t.ok(cheap, "cheap calls answered during a login storm")
    t.is_eq(d.stop(), 0, "clean stop")

    # the connection bound
    d2 = a.Atolld(extra=["--max-connections", "4"])
    conns = []
    for k in range(4):
        c = http.client.HTTPConnection("127.0.0.1", d2.http_port, timeout=30)
        c.request("GET", "/")
        r = c.getresponse()
        r.read()
        conns.append(c)
    c5 = http.client.HTTPConnection("127.0.0.1", d2.http_port, timeout=30)
    c5.request("GET", "/")
    r = c5.getresponse()
    r.read()
    t.is_eq(r.status, 503, "a fifth connection beyond --max-connections 4 gets 503")
    c5.close()
    c = conns[0]
    c.request("GET", "/")
    r = c.getresponse()
    r.read()
    t.is_eq(r.status, 200, "admitted keep-alive connections keep working")
    conns.pop(0).close()
    ok_after = False
    for _ in range(50):  # the server notices the close asynchronously
        c6 = http.client.HTTPConnection("127.0.0.1", d2.http_port, timeout=30)
        c6.request("GET", "/")
        r = c6.getresponse()
        r.read()
        c6.close()
        if r.status == 200:
            ok_after = True
            break
        threading.Event().wait(0.1)
    t.ok(ok_after, "after one closes, a new connection is admitted")
    for c in conns:
        c.close()
    # HTTPS is bounded at accept: beyond the limit no TLS handshake starts until one closes
    tls = []
    for _ in range(4):
        s = socket.create_connection(("127.0.0.1", d2.https_port), timeout=10)
        tls.append(a.insecure_ctx().wrap_socket(s))
    extra = socket.create_connection(("127.0.0.1", d2.https_port), timeout=2)
    try:
        a.insecure_ctx().wrap_socket(extra)
        refused = False
    except (socket.timeout, ssl.SSLError, OSError):
        refused = True
    extra.close()
    t.ok(refused, "a fifth HTTPS connection is not accepted while 4 are open")
    tls.pop().close()
    accepted = False
    for _ in range(50):
        try:
            s = socket.create_connection(("127.0.0.1", d2.https_port), timeout=5)
            a.insecure_ctx().wrap_socket(s).close()
            accepted = True
            break
        except (socket.timeout, ssl.SSLError, OSError):
            threading.Event().wait(0.1)
    t.ok(accepted, "after one closes, HTTPS accepts again")
    for c in tls:
        c.close()
    t.is_eq(d2.stop(), 0, "clean stop")
    t.done()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives atolld the way Xen Orchestra's xen-api connector (npm) does, over JSON-RPC with
id 0 then XML-RPC at /xmlrpc: login with 2 params, pool.get_all_records, system.listMethods,
event.inject on the pool, get_all_records of every class listed, an event.from loop that
wakes on changes (the pool barrier through add_to_other_config), an Async call followed
through task events and its XML-RPC result fragment, task.destroy. Also: a blocked
event.from outlives the connection idle timeout, and SIGTERM answers blocked callers."""
import threading
import time
import xml.dom.minidom

import apitest as a
import atolltest as t


class JsonClient:
    def __init__(self, d):
        self.d = d

    def call(self, method, *params):
        st, ctype, body = self.d.json_call(method, list(params), id=0)
        if st != 200 or ctype != "application/json":
            raise RuntimeError(f"{method}: HTTP {st} {ctype}")
        if body.get("error"):
            e = body["error"]
            raise RuntimeError(f"{method}: {[e.get('message')] + (e.get('data') or [])}")
        return body["result"]


def main():
    d = a.Atolld(extra=["--http-timeout", "2"])
    j = JsonClient(d)
    x = d.xml(path="/xmlrpc")
    ref = j.call("session.login_with_password", "root", a.ROOT_PW)
    t.ok(ref.startswith("OpaqueRef:"), "JSON-RPC login with 2 params (id 0)")
    pools = j.call("pool.get_all_records", ref)
    t.is_eq(len(pools), 1, "exactly one pool")
    pool = next(iter(pools))
    methods = j.call("system.listMethods")
    classes = sorted({m.split(".")[0] for m in methods if m.endswith(".get_all_records")})
    t.ok({"VM", "host", "pool", "task", "SR", "network"} <= set(classes),
         f"listMethods names get_all_records for {len(classes)} classes")
    token = j.call("event.inject", ref, "pool", pool)
    t.ok(isinstance(token, str) and token, "event.inject gives a starting token")
    failed = []
    for c in classes:
        try:
            r = j.call(f"{c}.get_all_records", ref)
            if not isinstance(r, dict):
                failed.append(c)
        except RuntimeError as e:
            if "MESSAGE_REMOVED" not in str(e):
                failed.append(f"{c}: {e}")
    t.ok(not failed, "get_all_records of every listed class")
    for f in failed[:5]:
        t.diag(f)
    res = j.call("event.from", ref, classes, token, 60.1)
    t.ok(isinstance(res.get("events"), list) and "valid_ref_counts" in res and res.get("token"),
         "event.from answers {events, valid_ref_counts, token}")
    token = res["token"]

    # barrier: add_to_other_config must produce a pool mod event that wakes a blocked event.from
    got = {}

    def waiter():
        got["r"] = d.json_call("event.from", [ref, ["pool"], token, 30.0])[2].get("result")
    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.3)
    x.pool.add_to_other_config(ref, pool, "xo:barrier:1234", "")
    th.join(15)
    evs = (got.get("r") or {}).get("events", [])
    t.ok(any(e.get("class") == "pool" and e.get("operation") == "mod" and
             "xo:barrier:1234" in e.get("snapshot", {}).get("other_config", {}) for e in evs),
         "barrier: the pool mod event arrives at a blocked event.from")
    token = got.get("r", {}).get("token", token)

    # Async + task events, as xen-api does: the result comes from the task record
    task = j.call("Async.local_user.create", ref, "xo-user", "xo-pw", "vm-admin")
    t.ok(task.startswith("OpaqueRef:"), "Async call gives a task")
    status, result = None, None
    end = time.time() + 20
    while time.time() < end and status in (None, "pending"):
        r = j.call("event.from", ref, ["task"], token, 5.0)
        token = r["token"]
        for e in r["events"]:
            if e.get("ref") == task and e.get("operation") != "del":
                status = e["snapshot"]["status"]
                result = e["snapshot"]["result"]
    t.is_eq(status, "success", "task success seen through task events")
    try:
        xml.dom.minidom.parseString(result)
        parsed = True
    except Exception:  # noqa: BLE001
        parsed = False
    t.ok(parsed and result.startswith("<value>"), "task.result is an XML-RPC value fragment")
    t.ok(j.call("task.destroy", ref, task) == "", "task.destroy")
    r = j.call("event.from", ref, ["task"], token, 5.0)
    t.ok(any(e.get("ref") == task and e.get("operation") == "del" for e in r["events"]),
         "task deletion event")
    t.ok(d.login("xo-user", "xo-pw"), "the Async call did its work")

    # a blocked call outlives the 2 s connection idle timeout
    x = d.xml(path="/xmlrpc")  # a fresh connection: the old one may have idled past 2 s
    r = x.event.__getattr__("from")(ref, ["pool"], r["token"], 3.0)
    t.ok(r.get("Status") == "Success" and r["Value"]["events"] == [],
         "event.from blocking until its 3 s timeout is not cut by --http-timeout 2")
    # SIGTERM while a caller is blocked: it gets an answer (SESSION_INVALID), not a reset
    got.clear()

    def blocked():
        got["r"] = d.xml(https=False).event.__getattr__("from")(ref, ["pool"],
                                                                r["Value"]["token"], 60.0)
    th = threading.Thread(target=blocked)
    th.start()
    time.sleep(2.0)  # let the call reach the server and block (its token has no change)
    t.is_eq(d.stop(), 0, "SIGTERM with a blocked caller: clean exit")
    th.join(10)
    t.is_eq((got.get("r") or {}).get("ErrorDescription", [None])[0], "SESSION_INVALID",
            "the blocked caller is answered SESSION_INVALID at shutdown")
    t.done()


if __name__ == "__main__":
    main()

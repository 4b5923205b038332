#!/usr/bin/env python3
"""Sessions and RBAC over the wire: local users with XenAPI roles (created through the
local_user.* extension), denial with RBAC_PERMISSION_DENIED, users persisted as salted hashes,
password changes, Async calls as tasks (task.get_status/result/record), idle expiry, and the
audit log (one line per write with who, what and the result; never a password)."""
import base64
import http.client
import os
import time

import apitest as a
import atolltest as t


def wait_task(s, session, task, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        st = a.value(s.task.get_status(session, task))
        if st != "pending":
            return st
        time.sleep(0.05)
    return "pending"


def main():
    d = a.Atolld(extra=["--session-timeout", "3"])
    s = d.xml()
    root = d.login()
    roles = ["read-only", "vm-operator", "vm-admin", "vm-power-admin", "pool-operator",
             "pool-admin"]
    for role in roles:
        r = s.local_user.create(root, "u-" + role, "pw-" + role, role)
        t.is_eq(r.get("Status"), "Success", f"create a {role} user")
    t.is_eq(a.error(s.local_user.create(root, "bad user", "pw", "read-only"))[0],
            "INVALID_VALUE", "user name validated")
    t.is_eq(a.error(s.local_user.create(root, "u-read-only", "pw", "read-only"))[0],
            "INVALID_VALUE", "duplicate user refused")
    users = {u["name"]: u["role"] for u in a.value(s.local_user.get_all(root))}
    t.is_eq(users.get("u-vm-admin"), "vm-admin", "local_user.get_all lists roles")
    sess = {role: d.login("u-" + role, "pw-" + role) for role in roles}
    t.ok(all(sess.values()), "every role logs in")
    # RBAC: managing users needs pool-admin; each lower role is denied with XenAPI's error
    for role in roles[:-1]:
        e = a.error(s.local_user.create(sess[role], "x-" + role, "pw", "read-only"))
        t.ok(e and e[0] == "RBAC_PERMISSION_DENIED" and e[1] == "local_user.create" and
             len(e) == 3, f"{role} is denied local_user.create with RBAC_PERMISSION_DENIED")
    t.is_eq(s.local_user.create(sess["pool-admin"], "made-by-pa", "pw", "read-only")
            .get("Status"), "Success", "pool-admin may")
    e = a.error(s.session.get_all_subject_identifiers(sess["vm-power-admin"]))
    t.is_eq(e and e[0], "RBAC_PERMISSION_DENIED", "vm-power-admin below pool-operator")
    ids = a.value(s.session.get_all_subject_identifiers(sess["pool-operator"]))
    t.ok("u-read-only" in ids and "root" not in ids, "pool-operator lists subject identifiers")
    # the same denial over JSON-RPC
    st, ct, body = d.json_call("local_user.destroy", [sess["read-only"], "made-by-pa"])
    t.is_eq(body.get("error", {}).get("message"), "RBAC_PERMISSION_DENIED",
            "RBAC enforced on JSON-RPC too")
    # sessions are private unless pool-operator or above
    t.is_eq(a.error(s.session.get_record(sess["read-only"], root))[0], "RBAC_PERMISSION_DENIED",
            "read-only cannot read another user's session")
    t.is_eq(a.value(s.session.get_auth_user_name(sess["pool-operator"], root)), "root",
            "pool-operator can")
    # users on disk: salted PBKDF2 hashes, private
    users_file = os.path.join(d.state, "users")
    with open(users_file) as f:
        text = f.read()
    t.ok("pw-read-only" not in text and text.count("pbkdf2-sha256$") == 8,
         "users stored as salted hashes")
    t.is_eq(oct(os.stat(users_file).st_mode & 0o777), "0o600", "user table is 0600")
    # password change, and logout_subject_identifier
    t.is_eq(s.session.change_password(sess["vm-admin"], "pw-vm-admin", "new-pw").get("Status"),
            "Success", "change_password")
    t.is_eq(a.error(s.session.login_with_password("u-vm-admin", "pw-vm-admin"))[0],
            "SESSION_AUTHENTICATION_FAILED", "old password no longer works")
    t.ok(d.login("u-vm-admin", "new-pw"), "new one does")
    s.session.logout_subject_identifier(root, "u-vm-operator")
    t.is_eq(a.error(s.session.get_uuid(sess["vm-operator"], sess["vm-operator"]))[0],
            "SESSION_INVALID", "logout_subject_identifier ends that user's sessions")
    # Async: a task whose result is the XML-RPC fragment
    task = a.value(s.Async.local_user.create(root, "async-user", "pw", "vm-admin"))
    t.ok(task.startswith("OpaqueRef:"), "Async call returns a task ref")
    t.is_eq(wait_task(s, root, task), "success", "the task succeeds")
    rec = a.value(s.task.get_record(root, task))
    t.ok(rec["name_label"] == "Async.local_user.create" and rec["result"] == "<value></value>"
         and rec["progress"] == 1.0, "task record: name, XML-RPC result fragment, progress")
    t.ok(task in a.value(s.task.get_all(root)), "task.get_all lists it")
    st, ct, body = d.json_call("task.get_result", [root, task])
    t.is_eq(body.get("result"), "<value></value>", "task.result is XML even over JSON-RPC")
    task2 = a.value(s.Async.local_user.create(root, "async-user", "pw", "vm-admin"))
    t.is_eq(wait_task(s, root, task2), "failure", "a failing Async call fails its task")
    t.is_eq(a.value(s.task.get_error_info(root, task2))[0], "INVALID_VALUE",
            "error_info is the ErrorDescription")
    e = a.error(s.Async.local_user.create(sess["read-only"], "x", "pw", "read-only"))
    t.is_eq(e and e[0], "RBAC_PERMISSION_DENIED", "Async calls are checked before a task exists")
    t.is_eq(a.error(s.Async.session.logout(root))[0], "MESSAGE_METHOD_UNKNOWN",
            "session.* has no Async form")
    t.is_eq(s.task.destroy(root, task).get("Status"), "Success", "task.destroy")
    # audit log
    audit = d.audit_text()
    lines = audit.splitlines()
    t.ok(any("user=root" in ln and "call=local_user.create" in ln and "'u-read-only'" in ln and
             "result=OK" in ln for ln in lines), "audit: who, what and result of a write")
    t.ok(any("user=u-read-only" in ln and "RBAC_PERMISSION_DENIED" in ln for ln in lines),
         "audit: denied writes")
    t.ok(any("call=Async.local_user.create" in ln for ln in lines), "audit: Async writes")
    t.ok(any("call=session.login_with_password" in ln and "SESSION_AUTHENTICATION_FAILED" in ln
             for ln in lines), "audit: failed logins")
    secrets = ["pw-" + r for r in roles] + ["new-pw", root] + list(sess.values())
    leaked = [x for x in secrets if x in audit]
    t.ok(not leaked, "audit: no passwords and no session refs")
    if leaked:
        t.diag(f"leaked: {leaked}")
    t.ok("pw-" not in d.log_text() and "new-pw" not in d.log_text(), "log: no passwords")
    # side-handler authentication, on GET /audit_log (pool-admin): session_id in the query or a
    # cookie, else HTTP Basic (checked on a worker, with a throw-away session)
    def get(path, headers=None):
        c = http.client.HTTPSConnection("127.0.0.1", d.https_port, context=a.insecure_ctx(),
                                        timeout=30)
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        out = (r.status, r.getheader("WWW-Authenticate"), r.read())
        c.close()
        return out

    def basic(u, p):
        return {"Authorization": "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()}
    root = d.login()
    n_before = len(a.value(s.session.get_all(root)))
    st, chal, body = get("/audit_log")
    t.ok(st == 401 and chal == 'Basic realm="xapi"',
         "/audit_log without credentials: 401 + challenge")
    t.is_eq(get("/audit_log", basic("root", "wrong"))[0], 401, "wrong Basic password: 401")
    st, chal, body = get("/audit_log", basic("root", a.ROOT_PW))
    t.ok(st == 200 and b"AUDIT user=root" in body, "Basic auth as root: the audit log")
    t.is_eq(get("/audit_log", basic("u-pool-operator", "pw-pool-operator"))[0], 403,
            "Basic auth below pool-admin: 403")
    t.is_eq(get("/audit_log?session_id=" + root)[0], 200, "session_id in the query")
    t.is_eq(get("/audit_log", {"Cookie": "a=1; session_id=" + root})[0], 200,
            "session_id in a cookie")
    t.is_eq(len(a.value(s.session.get_all(root))), n_before,
            "Basic logins leave no session behind")
    # idle expiry (--session-timeout 3): a session left alone is gone, a used one lives
    live = d.login("u-read-only", "pw-read-only")
    idle = d.login("u-read-only", "pw-read-only")
    for _ in range(10):
        time.sleep(0.5)
        a.value(s.session.get_uuid(live, live))
    t.is_eq(a.error(s.session.get_uuid(idle, idle)), ["SESSION_INVALID", idle],
            "an idle session expires")
    t.is_eq(s.session.get_uuid(live, live).get("Status"), "Success", "an active one does not")
    t.is_eq(d.stop(), 0, "clean stop")
    t.done()


if __name__ == "__main__":
    main()

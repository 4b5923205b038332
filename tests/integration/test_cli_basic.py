#!/usr/bin/env python3
"""tests/integration/test_cli_basic.py - the atoll CLI (xe syntax and output) against a real
atolld, cross-checked with Python's xmlrpc.client: help, vm-install (kernel and template),
vm-list in every form (record blocks, --minimal, params=, filters on fields, map keys and
=/=), vm-param-list/get/set/add/remove/clear, vm-destroy, host-list, task-list, xe-style
errors and bad arguments (exit status 1, naming the argument)."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import apitest as a  # noqa: E402
import clitest as ct  # noqa: E402
from apitest import t  # noqa: E402

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

d = a.Atolld()
cli = ct.Cli(d)
x = d.xml_unix()
s = a.value(x.session.login_with_password("root", a.ROOT_PW, "1.0", "cli-test"))


def vm_rec(uuid):
    return a.value(x.VM.get_record(s, a.value(x.VM.get_by_uuid(s, uuid))))


# ---- help and unknown commands
rc, out, err = cli.run("help")
t.ok(rc == 0 and "vm-list" in out and "event-wait" in out, "help lists the commands")
rc, out, err = cli.run("help", "vm-start")
t.ok(rc == 0 and out.startswith("command name            : vm-start\n") and "paused" in out,
     "help vm-start shows xe's usage block")
t.ok("vm-list," in cli.out("help", "--minimal"), "help --minimal: comma list (for completion)")
t.ok("name-label" in cli.out("help", "vm-list", "--minimal").split(","),
     "help vm-list --minimal includes the VM fields")
rc, out, err = cli.run("vm-lst")
t.ok(rc == 1 and "Unknown command: vm-lst" in err, "unknown command: exit 1, named")

# ---- vm-install
u1 = cli.out("vm-install", "new-name-label=web1", "kernel=/images/guest.elf", "memory=64",
             "vcpus=2", "args=console=ttyS0")
t.ok(UUID.match(u1), f"vm-install prints the new uuid ({u1})")
r = vm_rec(u1)
t.ok(r["name_label"] == "web1" and r["PV_kernel"] == "/images/guest.elf" and
     r["PV_args"] == "console=ttyS0", "vm-install: name, kernel and args as given (xmlrpc)")
t.ok(str(r["memory_static_max"]) == str(64 << 20) and str(r["memory_dynamic_max"]) ==
     str(64 << 20), "vm-install memory=64: 64 MiB static and dynamic max")
t.ok(str(r["VCPUs_max"]) == "2" and str(r["VCPUs_at_startup"]) == "2",
     "vm-install vcpus=2: VCPUs_max and VCPUs_at_startup")
u2 = cli.out("vm-install", "new-name-label=web2", "kernel=/images/guest.elf")
t.ok(UUID.match(u2) and str(vm_rec(u2)["memory_static_max"]) == str(256 << 20),
     "vm-install without memory=: 256 MiB default")
# a template, then vm-install template=...
tref = a.value(x.VM.create(s, {"name_label": "tmpl-small", "is_a_template": True,
                               "PV_kernel": "/images/guest.elf",
                               "memory_static_max": str(32 << 20),
                               "memory_dynamic_max": str(32 << 20),
                               "memory_dynamic_min": str(32 << 20),
                               "memory_static_min": str(32 << 20)}))
tuuid = a.value(x.VM.get_uuid(s, tref))
rc, out, err = cli.run("vm-install", "template=tmpl-small", "new-name-label=from-tmpl")
u3 = out.strip()
ok = rc == 0 and UUID.match(u3)
r3 = vm_rec(u3) if ok else {}
t.ok(ok and r3.get("name_label") == "from-tmpl" and r3.get("is_a_template") is False and
     r3.get("PV_kernel") == "/images/guest.elf" and str(r3.get("memory_static_max")) ==
     str(32 << 20), f"vm-install template=: a VM with the template's settings ({err.strip()})")
rc, out, err = cli.run("vm-install", f"template={tuuid}", "new-name-label=from-tmpl2",
                       "memory=48M", "vcpus=3")
u4 = out.strip()
r4 = vm_rec(u4) if rc == 0 and UUID.match(u4) else {}
t.ok(str(r4.get("memory_static_max")) == str(48 << 20) and str(r4.get("VCPUs_max")) == "3" and
     r4.get("PV_kernel") == "/images/guest.elf",
     f"vm-install template=<uuid> memory= vcpus=: overrides on the template ({err.strip()})")
for uu in (u3, u4):
    if UUID.match(uu or "-"):
        a.value(x.VM.destroy(s, a.value(x.VM.get_by_uuid(s, uu))))
rc, out, err = cli.run("vm-install", "template=no-such-template", "new-name-label=x")
t.ok(rc == 1 and "no-such-template" in err, "vm-install template=<unknown>: exit 1 naming it")

# ---- vm-list, every form
rc, out, err = cli.run("vm-list")
recs = ct.parse_records(out)
names = sorted(r["name-label"][1] for r in recs)
t.is_eq(names, ["web1", "web2"], "vm-list: both VMs, the template left out")
blk = (f"uuid ( RO)           : {u1}\n     name-label ( RW): web1\n"
       f"    power-state ( RO): halted\n\n\n")
t.ok(blk in out, "vm-list: xe's aligned block (uuid left, others right-aligned, 2 blank lines)")
t.ok(out.endswith("\n\n\n"), "vm-list: every record is followed by two blank lines")
t.is_eq(sorted(cli.out("vm-list", "--minimal").split(",")), sorted([u1, u2]),
        "vm-list --minimal: comma-separated uuids")
t.is_eq(cli.out("vm-list", "name-label=web1", "--minimal"), u1, "vm-list name-label=web1")
t.is_eq(cli.out("vm-list", "name-label=/=web1", "--minimal"), u2, "vm-list name-label=/=web1")
t.is_eq(sorted(cli.out("vm-list", "power-state=halted", "params=name-label",
                       "--minimal").split(",")), ["web1", "web2"],
        "vm-list power-state=halted params=name-label --minimal: names")
t.is_eq(cli.out("vm-list", "power-state=running", "--minimal"), "",
        "vm-list power-state=running: none (empty line)")
t.is_eq(cli.out("vm-list", "is-a-template=true", "--minimal"), tuuid,
        "vm-list is-a-template=true: the template")
rc, out, err = cli.run("vm-list", "name-label=web1", "params=name-label,memory-static-max")
t.is_eq(out, "name-label ( RO)           : web1\n".replace("( RO)", "( RW)") +
        f"    memory-static-max ( RW): {64 << 20}\n\n\n",
        "vm-list params=a,b: only those fields, in that order")
recs = ct.parse_records(cli.out("vm-list", "name-label=web1", "params=all"))
t.ok(len(recs) == 1 and recs[0].get("other-config", ("",))[0] == "MRW" and
     recs[0].get("allowed-operations", ("",))[0] == "SRO" and
     recs[0].get("power-state") == ("RO", "halted") and
     recs[0].get("VCPUs-max") == ("RW", "2"),
     "vm-list params=all: every field with (MRW)/(SRO)/( RO)/( RW) tags")
rc, out, err = cli.run("vm-list", "params=nosuch")
t.ok(rc == 1 and "nosuch" in err, "vm-list params=nosuch: exit 1 naming the field")

# ---- vm-param-*
t.is_eq(cli.out("vm-param-get", f"uuid={u1}", "param-name=name-label"), "web1",
        "vm-param-get name-label")
t.is_eq(cli.out("vm-param-get", f"uuid={u1}", "param-name=power-state"), "halted",
        "vm-param-get power-state: lower case as xe prints it")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "name-label=web1b", "other-config:role=db",
                       "other-config:tier=1", "name-description=the web server")
r = vm_rec(u1)
t.ok(rc == 0 and r["name_label"] == "web1b" and r["other_config"].get("role") == "db" and
     r["other_config"].get("tier") == "1" and r["name_description"] == "the web server",
     f"vm-param-set: name, description and map entries (xmlrpc) {err.strip()}")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "other-config:role=web")
t.ok(rc == 0 and vm_rec(u1)["other_config"].get("role") == "web",
     "vm-param-set map:key=value replaces an existing key")
t.is_eq(sorted(cli.out("vm-param-get", f"uuid={u1}", "param-name=other-config").split("; ")),
        ["role: web", "tier: 1"], "vm-param-get of a map: 'k: v; k2: v2'")
t.is_eq(cli.out("vm-param-get", f"uuid={u1}", "param-name=other-config", "param-key=tier"), "1",
        "vm-param-get param-key=tier")
rc, out, err = cli.run("vm-param-get", f"uuid={u1}", "param-name=other-config",
                       "param-key=nokey")
t.ok(rc == 1 and "nokey" in err, "vm-param-get of a missing key: exit 1 naming it")
t.is_eq(cli.out("vm-list", "other-config:role=web", "--minimal"), u1,
        "vm-list other-config:role=web filters on a map entry")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "memory-static-max=128M")
if "MESSAGE_METHOD_UNKNOWN" in err:
    t.skip("vm-param-set memory-static-max", "VM.set_memory_limits is not in atolld yet")
else:
    t.ok(rc == 0 and str(vm_rec(u1)["memory_static_max"]) == str(128 << 20),
         f"vm-param-set memory-static-max=128M (through VM.set_memory_limits) {err.strip()}")
recs = ct.parse_records(cli.out("vm-param-list", f"uuid={u1}"))
t.ok(len(recs) == 1 and recs[0].get("name-label") == ("RW", "web1b") and
     recs[0].get("other-config", ("",))[0] == "MRW" and
     "role: web" in recs[0].get("other-config", ("", ""))[1] and
     recs[0].get("uuid") == ("RO", u1), "vm-param-list: every field, tagged")
t.ok(recs and recs[0].get("memory-actual", ("",))[0] == "RO" and
     recs[0].get("os-version", ("",))[0] == "MRO",
     "vm-param-list: xe's fields from VM_metrics and VM_guest_metrics too")
rc, out, err = cli.run("vm-param-add", f"uuid={u1}", "param-name=tags", "param-key=blue")
t.ok(rc == 0 and vm_rec(u1)["tags"] == ["blue"], "vm-param-add to a set (tags)")
rc, out, err = cli.run("vm-param-add", f"uuid={u1}", "param-name=other-config", "zone=a")
t.ok(rc == 0 and vm_rec(u1)["other_config"].get("zone") == "a", "vm-param-add to a map")
rc, out, err = cli.run("vm-param-remove", f"uuid={u1}", "param-name=tags", "param-key=blue")
t.ok(rc == 0 and vm_rec(u1)["tags"] == [], "vm-param-remove from a set")
rc, out, err = cli.run("vm-param-clear", f"uuid={u1}", "param-name=other-config")
t.ok(rc == 0 and vm_rec(u1)["other_config"] == {}, "vm-param-clear of a map")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "power-state=running")
t.ok(rc == 1 and "power-state" in err and "read-only" in err,
     "vm-param-set of a read-only field: exit 1 naming it")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "no-such-field=1")
t.ok(rc == 1 and "no-such-field" in err, "vm-param-set of an unknown field: exit 1 naming it")
rc, out, err = cli.run("vm-param-set", f"uuid={u1}", "VCPUs-params=x")
t.ok(rc == 1 and "VCPUs-params" in err, "vm-param-set of a whole map: exit 1 (use map:key=)")

# ---- host-list, task-list
hosts = a.value(x.host.get_all_records(s))
huuids = sorted(h["uuid"] for h in hosts.values())
t.is_eq(sorted(filter(None, cli.out("host-list", "--minimal").split(","))), huuids,
        "host-list --minimal: the hosts xmlrpc sees")
recs = ct.parse_records(cli.out("host-list"))
t.ok(len(recs) == len(hosts) and
     all(set(r) == {"uuid", "name-label", "name-description"} for r in recs),
     "host-list: uuid, name-label, name-description")
if huuids:
    hname = [h["name_label"] for h in hosts.values()][0]
    t.is_eq(cli.out("host-param-get", f"uuid={huuids[0]}", "param-name=name-label"), hname,
            "host-param-get name-label")
task = a.value(x.task.create(s, "cli-test-task", "made by test_cli_basic"))
tuuid_task = a.value(x.task.get_uuid(s, task))
rc, out, err = cli.run("task-list")
recs = ct.parse_records(out)
t.ok(rc == 0 and any(r.get("uuid", ("", ""))[1] == tuuid_task for r in recs) and
     all("status" in r and "progress" in r for r in recs),
     "task-list: the task made through xmlrpc, with status and progress")
t.ok(tuuid_task in cli.out("task-list", "--minimal").split(","), "task-list --minimal")

rc, out, err = cli.run("task-cancel", f"uuid={tuuid_task}")
t.ok(rc == 0 and a.value(x.task.get_status(s, task)) in ("cancelling", "cancelled"),
     f"task-cancel: the task is cancelling (xmlrpc) {err.strip()}")
rc, out, err = cli.run("message-list")
t.is_eq(rc, 0, "message-list runs")
rc, out, err = cli.run("vm-reset-powerstate", f"uuid={u2}")
t.ok(rc == 1 and "--force" in err, "vm-reset-powerstate without --force: exit 1")

rc, out, err = cli.run("vm-clone", f"uuid={u1}", "new-name-label=web1-clone")
if "MESSAGE_METHOD_UNKNOWN" in err:
    t.skip("vm-clone prints the clone's uuid", "VM.clone is not in atolld yet")
else:
    uc = out.strip()
    t.ok(rc == 0 and UUID.match(uc) and vm_rec(uc)["name_label"] == "web1-clone",
         f"vm-clone prints the clone's uuid ({err.strip()})")
    if rc == 0 and UUID.match(uc):
        a.value(x.VM.destroy(s, a.value(x.VM.get_by_uuid(s, uc))))

# ---- bad arguments
cases = [
    (("vm-param-get", "param-name=name-label"), "uuid", "vm-param-get without uuid="),
    (("vm-param-get", f"uuid={u1}"), "param-name", "vm-param-get without param-name="),
    (("vm-param-get", "uuid=not-a-uuid", "param-name=x"), "UUID_INVALID", "bad uuid"),
    (("vm-list", "foo"), "'foo' is not of the form key=value", "bare word argument"),
    (("vm-list", "nosuchfield=1"), "nosuchfield", "unknown filter field"),
    (("vm-install", "kernel=/k"), "new-name-label", "vm-install without a name"),
    (("vm-install", "new-name-label=x"), "kernel", "vm-install without kernel or template"),
    (("vm-install", "new-name-label=x", "kernel=/k", "memory=lots"), "memory",
     "vm-install memory=lots"),
    (("vm-install", "new-name-label=x", "kernel=/k", "vcpus=0"), "vcpus", "vm-install vcpus=0"),
    (("vm-install", "new-name-label=x", "kernel=/k", "colour=red"), "colour",
     "vm-install with an unknown parameter"),
    (("vm-start", "vm=nosuchvm"), "No matching VMs found", "vm-start of an unknown VM"),
    (("vm-start", f"uuid={u1}", "paused=maybe"), "paused", "vm-start paused=maybe"),
    (("vm-pause", f"uuid={u1}", "--force"), "--force", "vm-pause --force"),
    (("vm-start", "power-state=halted"), "Multiple matches", "vm-start on two VMs"),
    (("vm-start", f"uuid={u1}", "on=no-such-host"), "no-such-host", "vm-start on=<unknown host>"),
    (("vm-clone", f"uuid={u1}"), "new-name-label", "vm-clone without a name"),
    (("user-password-change", "old=x"), "new", "user-password-change without new="),
    (("vm-destroy",), "uuid", "vm-destroy without uuid="),
    (("event-wait", "name-label=x"), "class", "event-wait without class="),
    (("event-wait", "class=vmx"), "vmx", "event-wait class=vmx"),
    (("event-wait", "class=vm", "colour=red"), "colour", "event-wait on an unknown field"),
    (("-p", "99999", "vm-list"), "-p", "-p 99999"),
    (("--frobnicate", "vm-list"), "--frobnicate", "unknown option"),
]
for args, word, desc in cases:
    rc, out, err = cli.run(*args)
    t.ok(rc == 1 and word in err, f"bad arguments: {desc} -> exit 1 naming '{word}'")
    if rc != 1 or word not in err:
        t.diag(f"rc={rc} err={err.strip()}")
env = dict(cli.env, ATOLL_SOCKET=os.path.join(d.dir, "nosuch.sock"))
p = ct.subprocess.run([ct.atoll_path(), "vm-list"], env=env, capture_output=True, text=True,
                      timeout=30)
t.ok(p.returncode == 1 and "nosuch.sock" in p.stderr, "no daemon: exit 1 naming the socket")

# ---- xe-style API errors
rc, out, err = cli.run("vm-pause", f"uuid={u1}")
if "MESSAGE_METHOD_UNKNOWN" in err:
    t.skip("VM_BAD_POWER_STATE printed as xe does", "VM.pause is not in atolld yet")
else:
    ref1 = a.value(x.VM.get_by_uuid(s, u1))
    t.ok(rc == 1 and "Error code: VM_BAD_POWER_STATE" in err and
         f"Error parameters: {ref1}, running, halted" in err,
         f"vm-pause of a halted VM: xe's error code and parameters ({err.strip()!r})")

# ---- bash completion (contrib/bash-completion/atoll) with this atoll first in PATH
comp = os.path.join(t.srcdir(), "contrib", "bash-completion", "atoll")


def complete(line):
    script = (f"source {comp}\nCOMP_LINE={line!r}\nCOMP_POINT=${{#COMP_LINE}}\n"
              "read -ra COMP_WORDS <<< \"$COMP_LINE\"\n"
              "[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')\n"
              "COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))\n"
              "_atoll\nprintf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(cli.env, PATH=os.path.dirname(ct.atoll_path()) + ":" + os.environ["PATH"])
    p = ct.subprocess.run(["bash", "--norc", "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    return sorted(filter(None, p.stdout.split("\n")))


if not os.path.exists("/bin/bash"):
    t.skip("bash completion", "no bash")
else:
    t.is_eq(complete("atoll vm-sta"), ["vm-start"], "completion: command names")
    t.ok("name-label=" in complete("atoll vm-start na"),
         "completion: parameter names (fields of the class)")
    t.is_eq(complete("atoll vm-start vm=we"), ["web1b", "web2"],
            "completion: VM names from vm-list")
    t.is_eq(complete(f"atoll vm-param-get uuid={u2[:8]}"), [u2], "completion: uuids")
    t.is_eq(complete("atoll vm-list power-state=ha"), ["halted"], "completion: power states")
    t.ok("all" in complete("atoll vm-list params=") and
         "name-label" in complete("atoll vm-list params="), "completion: params= field names")

# ---- vm-destroy
rc, out, err = cli.run("vm-destroy", f"uuid={u2}")
gone = a.error(x.VM.get_by_uuid(s, u2))
t.ok(rc == 0 and gone and gone[0] == "UUID_INVALID", "vm-destroy removes the VM (xmlrpc)")
rc, out, err = cli.run("vm-destroy", f"uuid={u2}")
t.ok(rc == 1 and "UUID_INVALID" in err, "vm-destroy of a gone VM: UUID_INVALID, exit 1")

t.done()

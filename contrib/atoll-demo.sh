#!/usr/bin/env bash
# contrib/atoll-demo.sh - the main job: a standalone Atoll host (atolld on SQLite) boots the
# demo VM (the Atoll test guest) through the XenAPI and attaches its serial console.
#
#   contrib/atoll-demo.sh            # from the top of a built tree (contrib/atoll-setup.sh demo)
#
# State lives in $ATOLL_DEMO_STATE (default /var/lib/atoll-demo as root, else a temporary
# directory). The root password is read from <state>/root-password, or generated there at
# random on first use (mode 0600) and printed. The VM is created once ("atoll-demo") and
# started through the API with Python's xmlrpc.client; its console streams from atolld's
# /console handler, and lines you type go to the guest's shell (try: help, cpus, mem, info).
# Ctrl-C or end of input shuts the VM down cleanly and stops atolld. Without a terminal (or
# with CI=true) it runs bounded: boot, show the READY line, run one command, shut down, exit 0.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)

ATOLLD="$TOP/toolstack/atolld"
VMM="$TOP/hypervisor/atoll-vmm"
GUEST="$TOP/tests/guest/atoll-guest.elf"
CLI="$TOP/toolstack/atoll"
for f in "$ATOLLD" "$VMM" "$GUEST"; do
    if [ ! -e "$f" ]; then
        echo "atoll-demo: '$f' is missing: build first (bash contrib/atoll-setup.sh build)" >&2
        exit 1
    fi
done
if [ ! -w /dev/kvm ]; then
    echo "atoll-demo: /dev/kvm is missing or not writable: atoll-vmm needs KVM" >&2
    exit 1
fi

if [ -n "${ATOLL_DEMO_STATE:-}" ]; then
    STATE=$ATOLL_DEMO_STATE
elif [ "$(id -u)" -eq 0 ]; then
    STATE=/var/lib/atoll-demo
else
    STATE=$(mktemp -d /tmp/atoll-demo.XXXXXX)
fi
mkdir -p "$STATE"
chmod 700 "$STATE"
PWFILE="$STATE/root-password"
if [ ! -s "$PWFILE" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$PWFILE")
    echo "atoll-demo: generated root's password in $PWFILE: $(cat "$PWFILE")"
else
    echo "atoll-demo: root's password is in $PWFILE: $(cat "$PWFILE")"
fi

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
HTTP_PORT=$(free_port)
HTTPS_PORT=$(free_port)
LOG="$STATE/atolld.log"
SOCK="$STATE/atolld.sock"

# its own session: a Ctrl-C on the terminal is for the console client, not for atolld
setsid "$ATOLLD" --state-dir "$STATE" --bind 127.0.0.1 --port "$HTTPS_PORT" \
    --http-port "$HTTP_PORT" --socket "$SOCK" --root-password-file "$PWFILE" --vmm "$VMM" \
    --log "$LOG" </dev/null &
ATOLLD_PID=$!
cleanup() {
    if kill -0 "$ATOLLD_PID" 2>/dev/null; then
        kill -TERM "$ATOLLD_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$ATOLLD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$ATOLLD_PID" 2>/dev/null && kill -KILL "$ATOLLD_PID" 2>/dev/null || true
        wait "$ATOLLD_PID" 2>/dev/null || true
        echo "atoll-demo: atolld stopped (log: $LOG)"
    fi
}
trap cleanup EXIT
IN_CLIENT=0
# Ctrl-C during the console session is the client's to handle (clean VM shutdown)
trap '[ "$IN_CLIENT" = 1 ] || exit 130' INT
trap 'exit 143' TERM

for _ in $(seq 1 200); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $HTTP_PORT), 0.2)" \
        2>/dev/null && break
    if ! kill -0 "$ATOLLD_PID" 2>/dev/null; then
        echo "atoll-demo: atolld failed:" >&2
        tail -5 "$LOG" >&2
        exit 1
    fi
    sleep 0.05
done
echo "atoll-demo: atolld is up: XenAPI at https://127.0.0.1:$HTTPS_PORT/ (and http on" \
     "127.0.0.1:$HTTP_PORT, local socket $SOCK); state in $STATE"

BOUNDED=0
if [ "${CI:-}" = true ] || [ ! -t 0 ] || [ ! -t 1 ]; then
    BOUNDED=1
fi

# the client, kept in a variable so that its stdin stays the terminal
CLIENT=$(cat <<'PYEOF'
import os, socket, subprocess, sys, threading, time, xmlrpc.client

port, pwfile, guest, bounded = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
url = f"http://127.0.0.1:{port}/"
x = xmlrpc.client.ServerProxy(url)


def v(r):
    if r["Status"] != "Success":
        raise SystemExit(f"atoll-demo: XenAPI error {r['ErrorDescription']}")
    return r["Value"]


sid = v(x.session.login_with_password("root", open(pwfile).read().strip(), "2.21", "atoll-demo"))
vms = v(x.VM.get_by_name_label(sid, "atoll-demo"))
if vms:
    vm = vms[0]
    v(x.VM.set_PV_kernel(sid, vm, guest))
else:
    mib = str(128 << 20)
    vm = v(x.VM.create(sid, {
        "name_label": "atoll-demo", "name_description": "the Atoll test guest",
        "PV_kernel": guest, "PV_args": "demo",
        "memory_static_min": mib, "memory_static_max": mib,
        "memory_dynamic_min": mib, "memory_dynamic_max": mib,
        "VCPUs_max": "2", "VCPUs_at_startup": "2", "other_config": {}}))
    print(f"atoll-demo: created VM atoll-demo ({v(x.VM.get_uuid(sid, vm))})")
if v(x.VM.get_power_state(sid, vm)) != "Running":
    if v(x.VM.get_power_state(sid, vm)) != "Halted":
        v(x.VM.hard_shutdown(sid, vm))
    t0 = time.time()
    task = v(x.Async.VM.start(sid, vm, False, False))
    while v(x.task.get_status(sid, task)) == "pending":
        time.sleep(0.02)
    if v(x.task.get_status(sid, task)) != "success":
        raise SystemExit(f"atoll-demo: VM.start failed: {v(x.task.get_error_info(sid, task))}")
    print(f"atoll-demo: Async.VM.start done in {(time.time() - t0) * 1000:.0f} ms")
rec = v(x.VM.get_record(sid, vm))
print(f"atoll-demo: VM atoll-demo is {rec['power_state']} (VMM pid {rec['domid']}, "
      f"{int(rec['memory_dynamic_max']) >> 20} MiB, {rec['VCPUs_at_startup']} vCPUs)")
cli = os.environ.get("ATOLL_CLI")
if cli and os.access(cli, os.X_OK):
    print("atoll-demo: $ atoll vm-list params=name-label,power-state")
    subprocess.run([cli, "--socket", os.environ["ATOLL_SOCK"], "vm-list",
                    "params=name-label,power-state"], timeout=20)

# the console: a raw HTTP/1.0 stream from atolld's /console handler
s = socket.create_connection(("127.0.0.1", int(port)), timeout=30)
s.sendall(f"GET /console?ref={vm}&session_id={sid} HTTP/1.0\r\n\r\n".encode())
seen = bytearray()
ready = threading.Event()


def pump():
    head = b""
    while b"\r\n\r\n" not in head:
        c = s.recv(1)
        if not c:
            return
        head += c
    s.settimeout(None)
    while True:
        try:
            c = s.recv(4096)
        except OSError:
            return
        if not c:
            return
        seen.extend(c)
        if b"ATOLL READY" in seen:
            ready.set()
        sys.stdout.write(c.decode(errors="replace"))
        sys.stdout.flush()


def say(text):
    c = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    body = text.encode()
    c.sendall(f"POST /console?ref={vm}&session_id={sid} HTTP/1.0\r\nContent-Length: "
              f"{len(body)}\r\n\r\n".encode() + body)
    c.recv(256)
    c.close()


print("atoll-demo: console attached" +
      ("" if bounded else " (type guest commands; Ctrl-C or Ctrl-D to stop)"))
threading.Thread(target=pump, daemon=True).start()
rc = 0
try:
    if not ready.wait(30):
        print("\natoll-demo: no READY line from the guest within 30 s", file=sys.stderr)
        rc = 1
    elif bounded:
        for _ in range(3):
            n = len(seen)
            say("info\r")
            end = time.time() + 3
            while time.time() < end and b"info tsc_khz" not in seen[n:]:
                time.sleep(0.05)
            if b"info tsc_khz" in seen[n:]:
                break
        time.sleep(0.3)
    else:
        for line in sys.stdin:
            say(line.rstrip("\n") + "\r")
except KeyboardInterrupt:
    pass
print("\natoll-demo: shutting the VM down (VM.clean_shutdown)")
r = x.VM.clean_shutdown(sid, vm)
if r["Status"] != "Success":
    print(f"atoll-demo: clean shutdown failed ({r['ErrorDescription'][0]}): hard shutdown")
    v(x.VM.hard_shutdown(sid, vm))
print(f"atoll-demo: VM atoll-demo is {v(x.VM.get_power_state(sid, vm))}")
x.session.logout(sid)
s.close()
sys.exit(rc)
PYEOF
)
set +e
IN_CLIENT=1
ATOLL_CLI="$CLI" ATOLL_SOCK="$SOCK" python3 -c "$CLIENT" "$HTTP_PORT" "$PWFILE" "$GUEST" "$BOUNDED"
status=$?
set -e
exit $status

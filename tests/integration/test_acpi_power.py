#!/usr/bin/env python3
"""tests/integration/test_acpi_power.py - the ACPI power button of atoll-vmm (issue 3): the
control socket's 'shutdown' presses the fixed power button (PM1 PWRBTN_STS, SCI on IRQ 9), the
test guest takes the SCI, sees the button and powers off through \\_S5 -> exit status 0;
'reboot' presses it too and the following S5 ends the VMM with status 3 (reboot); both are
refused on a paused VM."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmmtest as v  # noqa: E402
from vmmtest import t  # noqa: E402

img = v.need_guest()


def boot(vcpus=1):
    m = v.Vmm(img, vcpus=vcpus, memory="64M")
    ready = m.wait_for("atoll> ", 120) is not None
    t.ok(ready, f"guest with {vcpus} vCPU(s) boots to its prompt")
    return m, ready


# shutdown -> power button -> S5 -> status 0
m, ready = boot(2)
if ready:
    ans = m.ctl("shutdown")
    t.ok(ans is not None and ans.startswith("OK event=power-button enabled=1"),
         f"shutdown answers OK, the guest had enabled PWRBTN_EN ({ans})")
    st, err = m.wait(60)
    t.is_eq(st, 0, "the guest powered off after the power button: exit status 0")
    with open(m.log_path, errors="replace") as f:
        t.ok("atoll-guest: power button pressed" in f.read(),
             "the guest's console log shows it saw the power button")
    t.ok("exit 0: guest powered off (ACPI S5" in err, "exit reason names ACPI S5")
m.close()

# reboot -> power button -> S5 -> status 3
m, ready = boot()
if ready:
    ans = m.ctl("reboot")
    t.ok(ans is not None and ans.startswith("OK event=power-button"), f"reboot answers OK ({ans})")
    st, err = m.wait(60)
    t.is_eq(st, 3, "S5 after a reboot request ends the VMM with status 3 (reboot)")
    t.ok("after a reboot request" in err, "exit reason says it was a reboot request")
m.close()

# refused while paused; the guest still powers off once resumed
m, ready = boot()
if ready:
    t.is_eq(m.ctl("pause"), "OK state=paused", "pause")
    ans = m.ctl("shutdown")
    t.ok(ans is not None and ans.startswith("ERR BAD_STATE"), f"shutdown refused while paused ({ans})")
    ans = m.ctl("shutdown now")
    t.ok(ans is not None and ans.startswith("ERR BAD_ARGUMENT"), f"shutdown takes no argument ({ans})")
    t.is_eq(m.ctl("resume"), "OK state=running", "resume")
    help_ = m.ctl("help") or ""
    t.ok("shutdown" in help_ and "reboot" in help_, "help lists shutdown and reboot")
    m.ctl("shutdown")
    st, _ = m.wait(60)
    t.is_eq(st, 0, "after resume, shutdown powers the guest off")
m.close()
t.done()

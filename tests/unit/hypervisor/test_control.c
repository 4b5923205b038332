/* tests/unit/hypervisor/test_control.c - control protocol commands, answers and quoting. */
#include <stdlib.h>

#include "control.h"
#include "tap.h"

int main(void)
{
    struct vmm_config cfg;
    vmm_config_init(&cfg);
    static struct vmm_vm vm;
    vmm_vm_init(&vm, &cfg);
    snprintf(vm.uuid, sizeof(vm.uuid), "0b6c3e57-2f9c-4a57-9d7e-3f2a5b1c9e01");
    vm.name = "web1";
    vm.state = VMM_STATE_RUNNING;
    vm.mem.size = 64 << 20;
    vm.mem.low_size = 64 << 20;
    vm.boot.mode = VMM_BOOT_PVH32;
    struct vmm_control c;
    char err[128], out[1024];
    is_int(vmm_control_init(&c, &vm, NULL, err, sizeof(err)), 0, "control without a socket");

    vmm_control_execute(&c, "status", out, sizeof(out));
    ok(strncmp(out, "OK state=running uuid=0b6c3e57-2f9c-4a57-9d7e-3f2a5b1c9e01 name=web1 vcpus=0 "
               "memory_bytes=67108864 ", 95) == 0, "status: %s", out);
    vmm_control_execute(&c, "  query   memory \r", out, sizeof(out));
    is_str(out, "OK bytes=67108864 below_4g=67108864 above_4g=0 usable=66715648",
           "query memory (spaces and CR tolerated)");
    vmm_control_execute(&c, "query state", out, sizeof(out));
    is_str(out, "OK state=running", "query state");
    vmm_control_execute(&c, "query exit-reason", out, sizeof(out));
    is_str(out, "OK status=none", "query exit-reason while running");
    vmm_control_execute(&c, "pause", out, sizeof(out));
    is_str(out, "OK state=paused", "pause");
    vmm_control_execute(&c, "pause", out, sizeof(out));
    is_str(out, "ERR BAD_STATE vm is paused, not running", "pause twice");
    vmm_control_execute(&c, "resume", out, sizeof(out));
    is_str(out, "OK state=running", "resume");
    vmm_control_execute(&c, "resume", out, sizeof(out));
    is_str(out, "ERR BAD_STATE vm is running, not paused", "resume when running");
    vmm_control_execute(&c, "frobnicate", out, sizeof(out));
    is_str(out, "ERR UNKNOWN_COMMAND unknown command 'frobnicate' (try 'help')", "unknown command");
    vmm_control_execute(&c, "query", out, sizeof(out));
    ok(strncmp(out, "ERR BAD_ARGUMENT", 16) == 0, "query without argument");
    vmm_control_execute(&c, "status now", out, sizeof(out));
    is_str(out, "ERR BAD_ARGUMENT 'status' takes no argument", "argument to status refused");
    vmm_control_execute(&c, "", out, sizeof(out));
    is_str(out, "ERR BAD_ARGUMENT empty request", "empty line");
    vmm_control_execute(&c, "version", out, sizeof(out));
    ok(strncmp(out, "OK protocol=1 vmm=", 18) == 0, "version: %s", out);
    vmm_control_execute(&c, "destroy", out, sizeof(out));
    is_str(out, "OK state=stopping", "destroy");
    vmm_control_execute(&c, "query exit-reason", out, sizeof(out));
    is_str(out, "OK status=6 reason=\"destroyed through the control socket\"",
           "exit reason is quoted");
    vmm_control_execute(&c, "pause", out, sizeof(out));
    is_str(out, "ERR BAD_STATE vm is stopping, not running", "no pause while stopping");

    char kv[64] = "OK";
    vmm_control_kv(kv, sizeof(kv), "a", "x\"y\\z");
    is_str(kv, "OK a=\"x\\\"y\\\\z\"", "quotes and backslashes escaped");
    strcpy(kv, "OK");
    vmm_control_kv(kv, sizeof(kv), "e", "");
    is_str(kv, "OK e=\"\"", "empty value quoted");
    char small[12] = "OK";
    vmm_control_kv(small, sizeof(small), "long", "aaaaaaaaaaaaaaaaaaaa");
    is_int(strlen(small), 11, "truncated to the buffer, NUL-terminated");
    vmm_control_fini(&c, 0, "x");
    vmm_config_fini(&cfg);
    return tap_done();
}

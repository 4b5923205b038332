/*
 * tests/unit/hypervisor/test_vcpu.c - the exit handler fed synthetic kvm_run
 * exits: serial output, ACPI poweroff, reset, pvpanic, triple fault, internal
 * errors, and hostile I/O sizes/offsets. No KVM needed.
 */
#include <stdlib.h>
#include <unistd.h>

#include "ioport.h"
#include "tap.h"
#include "vcpu.h"

static struct vmm_config cfg;
static struct vmm_vm vm;
static uint8_t runbuf[4096] __attribute__((aligned(64)));
static struct vmm_vcpu v = {.index = 0};

static void uart_out(void *o, const uint8_t *b, size_t n)
{
    vmm_console_output(&vm.console, b, n);
}

static void reset_vm(void)
{
    vmm_vm_init(&vm, &cfg);
    vm.run_size = sizeof(runbuf);
    vm.state = VMM_STATE_RUNNING;
    vmm_uart_init(&vm.uart, uart_out, NULL, &vm);
}

static int io(uint16_t port, int out, unsigned size, uint32_t count, const void *data)
{
    struct kvm_run *r = (struct kvm_run *)runbuf;
    memset(runbuf, 0, sizeof(runbuf));
    r->exit_reason = KVM_EXIT_IO;
    r->io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
    r->io.size = (uint8_t)size;
    r->io.port = port;
    r->io.count = count;
    r->io.data_offset = 1024;
    if (data)
        memcpy(runbuf + 1024, data, (size_t)size * count);
    return vmm_vcpu_handle_exit(&vm, &v, r);
}

static int status(void)
{
    int s;
    char reason[160];
    return vmm_vm_get_exit(&vm, &s, reason, sizeof(reason)) ? s : -1;
}

int main(void)
{
    char dir[] = "/tmp/atoll-test-vcpu-XXXXXX", log[600], err[256];
    ok(mkdtemp(dir) != NULL, "temp dir");
    snprintf(log, sizeof(log), "%s/console.log", dir);
    vmm_config_init(&cfg);
    reset_vm();
    is_int(vmm_console_init(&vm.console, log, NULL, NULL, NULL, err, sizeof(err)), 0,
           "console to a log file");

    is_int(io(0x3f8, 1, 1, 5, "hello"), 0, "rep outsb to COM1 continues");
    uint8_t tail[16];
    size_t n = vmm_console_tail(&vm.console, tail, sizeof(tail));
    ok(n == 5 && memcmp(tail, "hello", 5) == 0, "string I/O reached the console ring");
    is_int(io(0x3fd, 0, 1, 1, NULL), 0, "LSR read");
    is_int(runbuf[1024] & 0x60, 0x60, "LSR says THR empty");
    is_int(io(0x1234, 0, 2, 1, NULL), 0, "unknown port read");
    is_int(runbuf[1024] | (runbuf[1025] << 8), 0xffff, "unknown port reads all-ones");
    is_int(io(0x604, 0, 2, 1, NULL), 0, "PM1a_CNT read");
    is_int(runbuf[1024] & 1, 1, "SCI_EN reads as set");
    is_int(io(0x505, 0, 1, 1, NULL), 0, "pvpanic read");
    is_int(runbuf[1024], 1, "pvpanic advertises PANICKED");
    is_int(status(), -1, "no stop yet");

    uint16_t s3 = (1 << 10) | (1 << 13);
    io(0x604, 1, 2, 1, &s3);
    is_int(status(), -1, "SLP_TYP 1 (not S5) does not stop the VM");
    uint16_t s5 = (5 << 10) | (1 << 13);
    io(0x604, 1, 2, 1, &s5);
    is_int(status(), VMM_EXIT_POWEROFF, "S5 on 0x604 -> poweroff status 0");
    uint8_t b6 = 6;
    io(0xcf9, 1, 1, 1, &b6);
    is_int(status(), VMM_EXIT_POWEROFF, "first stop request wins");

    reset_vm();
    vmm_console_init(&vm.console, NULL, NULL, NULL, NULL, err, sizeof(err));
    vm.console.stdout_fd = -1;
    io(0xcf9, 1, 1, 1, &b6);
    is_int(status(), VMM_EXIT_REBOOT, "0x06 to 0xCF9 -> reboot status 3");
    reset_vm();
    uint8_t fe = 0xfe;
    io(0x64, 1, 1, 1, &fe);
    is_int(status(), VMM_EXIT_REBOOT, "0xFE to 0x64 -> reboot status 3");
    reset_vm();
    uint8_t one = 1;
    io(0x505, 1, 1, 1, &one);
    is_int(status(), VMM_EXIT_PANIC, "1 to 0x505 -> panic status 5");

    struct kvm_run *r = (struct kvm_run *)runbuf;
    reset_vm();
    memset(runbuf, 0, sizeof(runbuf));
    r->exit_reason = KVM_EXIT_SHUTDOWN;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 1, "KVM_EXIT_SHUTDOWN stops the vCPU");
    is_int(status(), VMM_EXIT_TRIPLE_FAULT, "triple fault status 4");
    reset_vm();
    r->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    r->internal.suberror = KVM_INTERNAL_ERROR_EMULATION;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 1, "internal error stops");
    is_int(status(), VMM_EXIT_INTERNAL, "internal error status 7");
    reset_vm();
    memset(runbuf, 0, sizeof(runbuf));
    r->exit_reason = KVM_EXIT_SYSTEM_EVENT;
    r->system_event.type = KVM_SYSTEM_EVENT_RESET;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 1, "system event reset stops");
    is_int(status(), VMM_EXIT_REBOOT, "system reset -> 3");
    reset_vm();
    memset(runbuf, 0, sizeof(runbuf));
    r->exit_reason = KVM_EXIT_MMIO;
    r->mmio.is_write = 0;
    r->mmio.len = 4;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 0, "unhandled MMIO read continues");
    is_int(r->mmio.data[0], 0xff, "unhandled MMIO reads all-ones");
    r->exit_reason = 9999;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 1, "unknown exit stops");
    is_int(status(), VMM_EXIT_INTERNAL, "unknown exit -> 7");

    /* hostile I/O exits are ignored, never read out of kvm_run */
    reset_vm();
    memset(runbuf, 0, sizeof(runbuf));
    r->exit_reason = KVM_EXIT_IO;
    r->io.direction = KVM_EXIT_IO_OUT;
    r->io.port = 0x604;
    r->io.size = 2;
    r->io.count = 100000;
    r->io.data_offset = 1024;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 0, "huge count ignored");
    r->io.count = 1;
    r->io.data_offset = 4095;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 0, "data past kvm_run ignored");
    r->io.data_offset = 1024;
    r->io.size = 3;
    is_int(vmm_vcpu_handle_exit(&vm, &v, r), 0, "size 3 ignored");
    is_int(status(), -1, "no stop from hostile exits");

    vmm_console_fini(&vm.console);
    unlink(log);
    rmdir(dir);
    return tap_done();
}

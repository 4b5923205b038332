/*
 * hypervisor/main.c - atoll-vmm: parses the configuration, builds the
 * machine (RAM, KVM VM, ACPI, boot image, UART, console, control socket,
 * vCPUs), runs the main event loop and tears everything down, ending with a
 * documented exit status and a one-line reason on stderr.
 * Threads: main (this file) plus one per vCPU. Trust: the command line is the
 * operator's; the guest image and the guest are not trusted.
 */
#define ATOLL_LOG_MODULE "vmm"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "acpi.h"
#include "atoll/log.h"
#include "atoll/util.h"
#include "atoll/uuid.h"
#include "boot.h"
#include "config.h"
#include "control.h"
#include "affinity.h" /* issue 3: --cgroup */
#include "hotplug.h"  /* issue 3: power button, vCPU hotplug, pinning */
#include "kvm.h"
#include "vcpu.h"
#include "virtio/vdevs.h" /* virtio: PCI bus and devices */
#include "vm.h"

#define ERRLEN 512
#define IMAGE_MAX (1ULL << 30)

static uint8_t *read_file(const char *what, const char *path, size_t *len, char *errbuf,
                          size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(errbuf, errlen, "%s '%s' is not a regular file", what, path);
        close(fd);
        return NULL;
    }
    if (st.st_size == 0 || (uint64_t)st.st_size > IMAGE_MAX) {
        snprintf(errbuf, errlen, "%s '%s' has size %lld: expected 1 byte to 1 GiB", what, path,
                 (long long)st.st_size);
        close(fd);
        return NULL;
    }
    uint8_t *buf = atoll_malloc((size_t)st.st_size);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            snprintf(errbuf, errlen, "cannot read %s '%s': %s", what, path,
                     r < 0 ? strerror(errno) : "short read");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (size_t)r;
    }
    close(fd);
    *len = got;
    return buf;
}

static void uart_out(void *opaque, const uint8_t *buf, size_t len)
{
    struct vmm_vm *vm = opaque;
    vmm_console_output(&vm->console, buf, len);
}

static void uart_irq(void *opaque, int level)
{
    struct vmm_vm *vm = opaque;
    struct kvm_irq_level irq = {.irq = VMM_UART_COM1_IRQ, .level = (uint32_t)level};
    if (vm->vm_fd >= 0)
        (void)ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq);
}

static size_t console_in(void *opaque, const uint8_t *buf, size_t len)
{
    struct vmm_vm *vm = opaque;
    return vmm_uart_input(&vm->uart, buf, len);
}

struct machine {
    struct vmm_vm vm;
    struct vmm_control control;
    int sig_fd;
    int console_ready, uart_ready, control_ready;
    struct vmm_kvm_ram_job ram_job;
    uint8_t *image, *initrd;
};

static int build(struct machine *m, const struct vmm_config *cfg, const char *kvm_dev,
                 char *errbuf, size_t errlen)
{
    struct vmm_vm *vm = &m->vm;
    size_t image_len = 0, initrd_len = 0;

    m->image = read_file("kernel image", cfg->kernel, &image_len, errbuf, errlen);
    if (!m->image)
        return -1;
    enum vmm_image_kind kind = vmm_boot_probe(m->image, image_len);
    if (kind == VMM_IMAGE_UNKNOWN) {
        snprintf(errbuf, errlen, "kernel image '%s' is neither an ELF (PVH) nor a bzImage",
                 cfg->kernel);
        return -1;
    }
    if (cfg->initrd) {
        m->initrd = read_file("initrd", cfg->initrd, &initrd_len, errbuf, errlen);
        if (!m->initrd)
            return -1;
    }
    unsigned long long avail = vmm_kvm_host_available();
    if (avail && cfg->memory > avail) {
        snprintf(errbuf, errlen, "memory %llu MiB is more than this host can give now "
                 "(%llu MiB available)", (unsigned long long)(cfg->memory >> 20), avail >> 20);
        return -1;
    }
    if (vmm_mem_init(&vm->mem, cfg->memory, errbuf, errlen) < 0)
        return -1;
    if (vmm_kvm_create_vm(vm, kvm_dev, errbuf, errlen) < 0)
        return -1;
    vmm_kvm_map_ram_start(&m->ram_job, vm);   /* joined below, or in teardown on errors */

    if (vmm_hotplug_init(vm, cfg->vcpu_affinity, errbuf, errlen) < 0) /* issue 3 */
        return -1;
    static uint8_t acpi[64 * 1024];
    struct vmm_acpi_params ap = {.nr_vcpus = vm->nr_vcpus, .max_vcpus = vm->max_vcpus,
                                 .base = VMM_ACPI_BASE};
    size_t alen = vmm_acpi_build(&ap, acpi, sizeof(acpi), NULL);
    if (!alen || VMM_ACPI_BASE + alen > VMM_ACPI_LIMIT ||
        vmm_mem_write(&vm->mem, VMM_ACPI_BASE, acpi, alen) < 0) {
        snprintf(errbuf, errlen, "ACPI tables do not fit in the BIOS area");
        return -1;
    }
    struct vmm_boot_input in = {
        .image = m->image, .image_len = image_len, .initrd = m->initrd,
        .initrd_len = initrd_len, .cmdline = cfg->cmdline, .rsdp_addr = VMM_ACPI_BASE,
    };
    char sub[ERRLEN / 2];
    int r = kind == VMM_IMAGE_ELF ? vmm_pvh_load(&vm->mem, &in, &vm->boot, sub, sizeof(sub))
                                  : vmm_linux_load(&vm->mem, &in, &vm->boot, sub, sizeof(sub));
    if (r < 0) {
        snprintf(errbuf, errlen, "kernel image '%s' is not bootable: %s", cfg->kernel, sub);
        return -1;
    }
    free(m->image);
    free(m->initrd);
    m->image = m->initrd = NULL;

    /* virtio: the PCI bus over guest RAM, then one virtio-blk per --disk */
    struct guestmem gm = {0};
    gmem_add(&gm, 0, vm->mem.low_size, vm->mem.host);
    if (vm->mem.high_size)
        gmem_add(&gm, VMM_HIGH_RAM_START, vm->mem.high_size, vm->mem.host + vm->mem.low_size);
    vm->vdevs = vdevs_new(vm->vm_fd, &gm, VDEVS_MMIO_BASE, VDEVS_MMIO_SIZE, errbuf, errlen);
    if (!vm->vdevs)
        return -1;
    for (unsigned i = 0; i < cfg->ndisks; i++)
        if (vdevs_add_disk(vm->vdevs, cfg->disks[i], errbuf, errlen) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->nnets; i++) /* virtio-net: one NIC per --net */
        if (vdevs_add_nic(vm->vdevs, cfg->nets[i], errbuf, errlen) < 0)
            return -1;
    /* balloon: on unless --balloon off */
    if (vdevs_add_balloon(vm->vdevs, cfg->balloon, vm->mem.size, errbuf, errlen) < 0)
        return -1;
    /* vsock: the guest channel with --vsock */
    if (cfg->vsock && vdevs_add_vsock(vm->vdevs, cfg->vsock, errbuf, errlen) < 0)
        return -1;

    vmm_uart_init(&vm->uart, uart_out, uart_irq, vm);
    m->uart_ready = 1;
    if (vmm_console_init(&vm->console, cfg->console_log, cfg->console_socket, console_in, vm,
                         errbuf, errlen) < 0)
        return -1;
    m->console_ready = 1;
    if (vmm_control_init(&m->control, vm, cfg->control_socket, errbuf, errlen) < 0)
        return -1;
    m->control_ready = 1;
    if (vmm_vcpu_create_all(vm, errbuf, errlen) < 0)
        return -1;
    if (vmm_kvm_map_ram_wait(&m->ram_job, errbuf, errlen) < 0)
        return -1;
    vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->stop_efd < 0) {
        snprintf(errbuf, errlen, "eventfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static void teardown(struct machine *m, int status, const char *reason)
{
    struct vmm_vm *vm = &m->vm;
    char ignored[ERRLEN];
    vmm_kvm_map_ram_wait(&m->ram_job, ignored, sizeof(ignored));   /* no-op unless pending */
    vmm_vm_kick_all(vm);
    vmm_vcpu_destroy_all(vm);
    vdevs_free(vm->vdevs); /* virtio: stops the disks' I/O threads */
    vm->vdevs = NULL;
    if (m->control_ready)
        vmm_control_fini(&m->control, status, reason);
    if (m->console_ready)
        vmm_console_fini(&vm->console);
    if (m->uart_ready)
        vmm_uart_fini(&vm->uart);
    if (vm->stop_efd >= 0)
        close(vm->stop_efd);
    if (m->sig_fd >= 0)
        close(m->sig_fd);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    vmm_mem_fini(&vm->mem);
    vmm_hotplug_fini(vm); /* issue 3 */
    free(vm->cpuid);
    free(m->image);
    free(m->initrd);
}

/*
 * A terminal on stdin gives the guest its keys as typed (no line editing, no local echo:
 * the guest echoes); Ctrl-C still ends the VM (status 6). Restored at exit.
 */
static struct termios saved_tty;
static int tty_raw;

static void tty_restore(void)
{
    if (tty_raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
    tty_raw = 0;
}

static void tty_make_raw(void)
{
    struct termios t;
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty) < 0)
        return;
    t = saved_tty;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | IEXTEN);
    t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
        tty_raw = 1;
}

static void event_loop(struct machine *m)
{
    struct vmm_vm *vm = &m->vm;
    /* stdio console: stdin (a terminal or a pipe) is the guest's serial input */
    int stdin_open = vm->console.stdout_fd >= 0;
    if (stdin_open)
        tty_make_raw();
    for (;;) {
        struct pollfd fds[2 + 1 + 1 + VMM_CONTROL_CLIENTS + 1 + VMM_CONSOLE_CLIENTS];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = vm->stop_efd, .events = POLLIN};
        fds[n++] = (struct pollfd){.fd = m->sig_fd, .events = POLLIN};
        int nstdin = -1;
        if (stdin_open) {
            nstdin = n;
            fds[n++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
        }
        int ctl0 = n;
        n += vmm_control_poll_fds(&m->control, fds + n, (int)ATOLL_ARRAY_SIZE(fds) - n);
        int con0 = n;
        n += vmm_console_poll_fds(&vm->console, fds + n, (int)ATOLL_ARRAY_SIZE(fds) - n);
        if (poll(fds, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL, "poll failed: %s", strerror(errno));
            return;
        }
        if (fds[0].revents)
            return;
        if (fds[1].revents) {
            struct signalfd_siginfo si;
            if (read(m->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                vmm_vm_request_stop(vm, VMM_EXIT_DESTROYED, "terminated by signal %s",
                                    sigabbrev_np((int)si.ssi_signo));
            return;
        }
        if (nstdin >= 0 && fds[nstdin].revents) {
            uint8_t buf[256];
            ssize_t r = read(STDIN_FILENO, buf, sizeof(buf));
            if (r > 0)
                vmm_uart_input(&vm->uart, buf, (size_t)r);
            else if (r == 0 || errno != EINTR)
                stdin_open = 0;
        }
        for (int i = ctl0; i < con0; i++)
            if (fds[i].revents)
                vmm_control_handle(&m->control, fds[i].fd, fds[i].revents);
        for (int i = con0; i < n; i++)
            if (fds[i].revents)
                vmm_console_handle(&vm->console, fds[i].fd, fds[i].revents);
    }
}

int main(int argc, char **argv)
{
    struct vmm_config cfg;
    char errbuf[ERRLEN];
    uint64_t t0 = atoll_now_ns();

    signal(SIGPIPE, SIG_IGN);
    atoll_log_init_from_env();
    vmm_config_init(&cfg);
    if (vmm_config_parse_args(&cfg, argc, argv, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "atoll-vmm: %s\n", errbuf);
        vmm_config_fini(&cfg);
        return VMM_EXIT_USAGE;
    }
    if (cfg.show_help || cfg.show_version) {
        if (cfg.show_help)
            fputs(vmm_config_usage, stdout);
        else
            printf("atoll-vmm %s (control protocol %d)\n", VMM_VERSION, VMM_CONTROL_PROTOCOL);
        vmm_config_fini(&cfg);
        return 0;
    }
    if (vmm_config_check(&cfg, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "atoll-vmm: %s\n", errbuf);
        vmm_config_fini(&cfg);
        return VMM_EXIT_USAGE;
    }

    /*
     * SIGTERM/SIGINT/SIGHUP are blocked from here on and read through a signalfd once the
     * VM runs (a signal during start-up is handled then: status 6); threads inherit the mask.
     */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

    static struct machine m;
    struct vmm_vm *vm = &m.vm;
    vmm_vm_init(vm, &cfg);
    m.sig_fd = -1;
    vm->start_ns = t0;
    vm->nr_vcpus = cfg.vcpus;
    vm->max_vcpus = cfg.max_vcpus ? cfg.max_vcpus : cfg.vcpus; /* issue 3 */
    vm->name = cfg.name ? cfg.name : "atoll-vm";
    if (cfg.uuid)
        snprintf(vm->uuid, sizeof(vm->uuid), "%s", cfg.uuid);
    else
        atoll_uuid_generate(vm->uuid);
    atoll_log_set_prefix(vm->uuid);
    vm->pvm = vmm_kvm_is_pvm();
    if (vm->pvm)
        fprintf(stderr, "atoll-vmm: note: KVM backend is PVM (no VT-x/AMD-V): guest CPL 0 code "
                "is emulated, so unmodified kernels will run very slowly\n");

    const char *kvm_dev = getenv("ATOLL_KVM_DEVICE");
    if (!kvm_dev || !*kvm_dev)
        kvm_dev = "/dev/kvm";
    int status;
    char reason[200];
    /* issue 3: join the caller's cgroup before any thread exists (they all inherit it) */
    if (cfg.cgroup && vmm_affinity_cgroup_join(cfg.cgroup, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "atoll-vmm: %s\n", errbuf);
        vmm_config_fini(&cfg);
        return VMM_EXIT_STARTUP;
    }
    if (build(&m, &cfg, kvm_dev, errbuf, sizeof(errbuf)) < 0) {
        fprintf(stderr, "atoll-vmm: %s\n", errbuf);
        teardown(&m, VMM_EXIT_STARTUP, errbuf);
        vmm_config_fini(&cfg);
        return VMM_EXIT_STARTUP;
    }

    m.sig_fd = signalfd(-1, &stop_signals, SFD_CLOEXEC | SFD_NONBLOCK);

    if (vmm_vcpu_start_all(vm, errbuf, sizeof(errbuf)) < 0) {
        vmm_vm_request_stop(vm, VMM_EXIT_STARTUP, "%s", errbuf);
    } else {
        pthread_mutex_lock(&vm->lock);
        if (vm->state == VMM_STATE_STARTING)
            vm->state = VMM_STATE_RUNNING;
        pthread_mutex_unlock(&vm->lock);
        log_info("booting '%s' (%s, %u vCPUs, %llu MiB)", cfg.kernel,
                 vm->boot.mode == VMM_BOOT_PVH32 ? "pvh" : "linux", vm->nr_vcpus,
                 (unsigned long long)(vm->mem.size >> 20));
        event_loop(&m);
    }
    /* make sure a stop is recorded even if the loop ended without one */
    vmm_vm_request_stop(vm, VMM_EXIT_INTERNAL, "event loop ended unexpectedly");
    vmm_vm_get_exit(vm, &status, reason, sizeof(reason));
    tty_restore();
    teardown(&m, status, reason);
    fprintf(stderr, "atoll-vmm: %s: exit %d: %s\n", vm->uuid, status, reason);
    vmm_config_fini(&cfg);
    return status;
}

/*
 * hypervisor/config.h - the VM configuration and its two sources: command-line
 * options and a key=value file (same names, without the leading "--").
 * Pure parsing (no KVM, no file other than --config): unit-tested.
 * Threads: main thread only. Trust: every value is user input and is checked.
 */
#ifndef VMM_CONFIG_H
#define VMM_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define VMM_VCPUS_MAX 254       /* xAPIC ids 0..253 (0xFF is broadcast) */
#define VMM_NAME_MAX 64

struct vmm_config {
    char *kernel;          /* image path (PVH ELF or bzImage), required */
    char *initrd;          /* Linux initrd, optional */
    char *cmdline;         /* kernel command line, optional */
    uint64_t memory;       /* bytes; default 128 MiB */
    unsigned vcpus;        /* default 1 */
    unsigned max_vcpus;    /* issue 3: hot-add up to this many (default: vcpus) */
    char *vcpu_affinity;   /* issue 3: "VCPU:CPULIST[,...]" (affinity.h) */
    char *cgroup;          /* issue 3: cgroup v2 directory the process joins */
    char *console_log;     /* file that receives all console output */
    char *console_socket;  /* UNIX socket: replay of recent output, then live I/O */
    char *control_socket;  /* UNIX socket: control protocol (README.md) */
    char *uuid;            /* default: generated */
    char *name;            /* default: "atoll-vm" */
    char *disks[16];       /* virtio: --disk specs in order (hypervisor/virtio/blk.h) */
    unsigned ndisks;
    char *nets[8];         /* virtio-net: --net specs in order (hypervisor/virtio/net.h) */
    unsigned nnets;
    char *balloon;         /* balloon: --balloon on|off[,...] (virtio/balloon.h), NULL = on */
    char *vsock;           /* vsock: --vsock cid=N,uds=PATH (virtio/vsock.h), NULL = none */
    int show_help, show_version;
};

/* Fills defaults. */
void vmm_config_init(struct vmm_config *cfg);
void vmm_config_fini(struct vmm_config *cfg);

/*
 * Sets one option by its long name (without "--"); value may be NULL for flags.
 * 0, or -1 with a one-line message in errbuf.
 */
int vmm_config_set(struct vmm_config *cfg, const char *key, const char *value, char *errbuf,
                   size_t errlen);
/* Parses key=value text ('#' comments, blank lines); where names the source in errors. */
int vmm_config_parse_text(struct vmm_config *cfg, const char *text, const char *where,
                          char *errbuf, size_t errlen);
/* Parses argv (argv[0] skipped): --key value, --key=value, --config FILE, -h, -V. */
int vmm_config_parse_args(struct vmm_config *cfg, int argc, char **argv, char *errbuf,
                          size_t errlen);
/* Checks the whole configuration after parsing (required options, ranges). */
int vmm_config_check(const struct vmm_config *cfg, char *errbuf, size_t errlen);

/* The --help text. */
extern const char vmm_config_usage[];

#endif

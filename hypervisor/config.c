/*
 * hypervisor/config.c - command-line and key=value configuration parsing for
 * atoll-vmm. Options are declared once in a table; the file form uses the same
 * names. Threads: main only. Trust: all input is user-controlled and bounded.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atoll/util.h"
#include "atoll/uuid.h"
#include "affinity.h" /* issue 3: --vcpu-affinity, --cgroup */

const char vmm_config_usage[] =
    "usage: atoll-vmm --kernel PATH [options]\n"
    "  --kernel PATH          PVH ELF image or Linux bzImage (required)\n"
    "  --initrd PATH          initial ramdisk (Linux boot protocol only)\n"
    "  --cmdline TEXT         kernel command line (at most 4095 bytes)\n"
    "  --memory SIZE          guest RAM: 64M, 2G, 512K or MiB by default (default 128M)\n"
    "  --vcpus N              virtual CPUs, 1..254 (default 1)\n"
    "  --max-vcpus N          vCPUs the guest may be given by hot-add, vcpus..254\n"
    "                         (default: vcpus)\n"
    "  --vcpu-affinity SPEC   pin vCPU threads: VCPU:CPULIST[,VCPU:CPULIST]... e.g.\n"
    "                         0:0-1,1:1 (host CPU lists as in taskset -c)\n"
    "  --cgroup DIR           move the VMM (all its threads) into this cgroup v2 directory\n"
    "  --console-log FILE     append all console output to FILE\n"
    "  --console-socket PATH  UNIX socket for the console (recent output replayed)\n"
    "  --control-socket PATH  UNIX socket for the control protocol (hypervisor/README.md)\n"
    "  --uuid UUID            VM uuid (default: random)\n"
    "  --name NAME            VM name (default: atoll-vm)\n"
    "  --disk SPEC            virtio-blk disk, repeatable (up to 16): path=IMAGE[,format=raw|\n"
    "                         qcow2][,readonly=on][,serial=S][,poll=on][,poll_us=N]\n"
    "  --net SPEC             virtio-net NIC on a TAP, repeatable (up to 8): fd=N|tap=NAME\n"
    "                         [,mac=52:54:00:12:34:56][,link=up|down]\n"
    "  --balloon on|off       virtio-balloon (default on) [,stats=SECONDS][,deflate_on_oom=on]\n"
    "  --vsock cid=N,uds=PATH virtio-vsock guest channel, host sockets PATH and PATH_<port>\n"
    "  --config FILE          read key=value options (same names) from FILE\n"
    "  -h, --help             this text;  -V, --version  the version\n"
    "exit status: 0 poweroff, 1 startup failure, 2 usage error, 3 reboot, 4 triple fault,\n"
    "             5 guest panic, 6 destroyed, 7 internal error while running\n";

enum opt_kind { OPT_STR, OPT_SIZE, OPT_UINT, OPT_FLAG, OPT_FILE, OPT_DISK, OPT_NET };

struct opt {
    const char *name;
    enum opt_kind kind;
    size_t off;    /* offset in struct vmm_config */
};

#define OFF(f) offsetof(struct vmm_config, f)
static const struct opt opts[] = {
    {"kernel", OPT_STR, OFF(kernel)},
    {"initrd", OPT_STR, OFF(initrd)},
    {"cmdline", OPT_STR, OFF(cmdline)},
    {"memory", OPT_SIZE, OFF(memory)},
    {"vcpus", OPT_UINT, OFF(vcpus)},
    {"max-vcpus", OPT_UINT, OFF(max_vcpus)},          /* issue 3 */
    {"vcpu-affinity", OPT_STR, OFF(vcpu_affinity)},   /* issue 3 */
    {"cgroup", OPT_STR, OFF(cgroup)},                 /* issue 3 */
    {"console-log", OPT_STR, OFF(console_log)},
    {"console-socket", OPT_STR, OFF(console_socket)},
    {"control-socket", OPT_STR, OFF(control_socket)},
    {"uuid", OPT_STR, OFF(uuid)},
    {"name", OPT_STR, OFF(name)},
    {"disk", OPT_DISK, 0},
    {"net", OPT_NET, 0}, /* virtio-net */
    {"balloon", OPT_STR, OFF(balloon)}, /* balloon: */
    {"vsock", OPT_STR, OFF(vsock)},     /* vsock: */
    {"config", OPT_FILE, 0},
    {"help", OPT_FLAG, OFF(show_help)},
    {"version", OPT_FLAG, OFF(show_version)},
};

void vmm_config_init(struct vmm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->memory = 128 * 1024 * 1024ULL;
    cfg->vcpus = 1;
}

void vmm_config_fini(struct vmm_config *cfg)
{
    free(cfg->kernel);
    free(cfg->initrd);
    free(cfg->cmdline);
    free(cfg->console_log);
    free(cfg->console_socket);
    free(cfg->control_socket);
    free(cfg->uuid);
    free(cfg->name);
    free(cfg->vcpu_affinity);
    free(cfg->cgroup);
    for (unsigned i = 0; i < cfg->ndisks; i++)
        free(cfg->disks[i]);
    for (unsigned i = 0; i < cfg->nnets; i++) /* virtio-net */
        free(cfg->nets[i]);
    free(cfg->balloon); /* balloon: */
    free(cfg->vsock);   /* vsock: */
    memset(cfg, 0, sizeof(*cfg));
}

static const struct opt *find_opt(const char *key)
{
    for (size_t i = 0; i < ATOLL_ARRAY_SIZE(opts); i++)
        if (strcmp(opts[i].name, key) == 0)
            return &opts[i];
    return NULL;
}

static int load_file(struct vmm_config *cfg, const char *path, char *errbuf, size_t errlen)
{
    static int depth;
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(errbuf, errlen, "cannot read config file '%s': %s", path, strerror(errno));
        return -1;
    }
    char *text = atoll_malloc(65537);
    size_t n = fread(text, 1, 65537, f);
    fclose(f);
    if (n > 65536) {
        snprintf(errbuf, errlen, "config file '%s' is larger than 64 KiB", path);
        free(text);
        return -1;
    }
    text[n] = '\0';
    if (depth >= 4) {
        snprintf(errbuf, errlen, "config file '%s': 'config' nested more than 4 deep", path);
        free(text);
        return -1;
    }
    depth++;
    int r = vmm_config_parse_text(cfg, text, path, errbuf, errlen);
    depth--;
    free(text);
    return r;
}

int vmm_config_set(struct vmm_config *cfg, const char *key, const char *value, char *errbuf,
                   size_t errlen)
{
    const struct opt *o = find_opt(key);
    if (!o) {
        snprintf(errbuf, errlen, "unknown option '%s' (see --help)", key);
        return -1;
    }
    if (o->kind == OPT_FLAG) {
        if (value) {
            snprintf(errbuf, errlen, "option '%s' takes no value", key);
            return -1;
        }
        *(int *)((char *)cfg + o->off) = 1;
        return 0;
    }
    if (!value) {
        snprintf(errbuf, errlen, "option '%s' needs a value", key);
        return -1;
    }
    switch (o->kind) {
    case OPT_STR: {
        char **slot = (char **)((char *)cfg + o->off);
        if (*value == '\0' && strcmp(key, "cmdline") != 0) {
            snprintf(errbuf, errlen, "option '%s' needs a non-empty value", key);
            return -1;
        }
        free(*slot);
        *slot = atoll_strdup(value);
        return 0;
    }
    case OPT_SIZE: {
        uint64_t v;
        if (atoll_parse_size(value, 1, &v) < 0 || v == 0) {
            snprintf(errbuf, errlen, "option '%s': '%s' is not a size (expected e.g. 64M, 2G)",
                     key, value);
            return -1;
        }
        *(uint64_t *)((char *)cfg + o->off) = v;
        return 0;
    }
    case OPT_UINT: {
        uint64_t v;
        if (atoll_parse_u64(value, 10, &v) < 0 || v > 1000000) {
            snprintf(errbuf, errlen, "option '%s': '%s' is not a number", key, value);
            return -1;
        }
        *(unsigned *)((char *)cfg + o->off) = (unsigned)v;
        return 0;
    }
    case OPT_FILE:
        return load_file(cfg, value, errbuf, errlen);
    case OPT_DISK: /* virtio: repeatable; the spec is checked when the disk is added */
        if (cfg->ndisks >= ATOLL_ARRAY_SIZE(cfg->disks)) {
            snprintf(errbuf, errlen, "option 'disk': at most %zu disks",
                     ATOLL_ARRAY_SIZE(cfg->disks));
            return -1;
        }
        cfg->disks[cfg->ndisks++] = atoll_strdup(value);
        return 0;
    case OPT_NET: /* virtio-net: repeatable; the spec is checked when the NIC is added */
        if (cfg->nnets >= ATOLL_ARRAY_SIZE(cfg->nets)) {
            snprintf(errbuf, errlen, "option 'net': at most %zu NICs",
                     ATOLL_ARRAY_SIZE(cfg->nets));
            return -1;
        }
        cfg->nets[cfg->nnets++] = atoll_strdup(value);
        return 0;
    case OPT_FLAG:
        break;
    }
    return 0;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
        *--e = '\0';
    return s;
}

int vmm_config_parse_text(struct vmm_config *cfg, const char *text, const char *where,
                          char *errbuf, size_t errlen)
{
    char *copy = atoll_strdup(text);
    int lineno = 0, r = 0;
    char *p = copy;
    while (p && r == 0) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        char *line = trim(p);
        p = nl ? nl + 1 : NULL;
        if (*line == '\0' || *line == '#')
            continue;
        char *eq = strchr(line, '=');
        if (!eq) {
            snprintf(errbuf, errlen, "%s:%d: expected key=value, got '%.60s'", where, lineno,
                     line);
            r = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(line), *value = trim(eq + 1);
        char sub[256];
        if (vmm_config_set(cfg, key, value, sub, sizeof(sub)) < 0) {
            snprintf(errbuf, errlen, "%s:%d: %s", where, lineno, sub);
            r = -1;
        }
    }
    free(copy);
    return r;
}

int vmm_config_parse_args(struct vmm_config *cfg, int argc, char **argv, char *errbuf,
                          size_t errlen)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0)
            a = "--help";
        else if (strcmp(a, "-V") == 0)
            a = "--version";
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            snprintf(errbuf, errlen, "unexpected argument '%s' (options start with --)", a);
            return -1;
        }
        char key[64];
        const char *value = NULL;
        const char *eq = strchr(a + 2, '=');
        size_t klen = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (klen >= sizeof(key)) {
            snprintf(errbuf, errlen, "unknown option '%.40s...' (see --help)", a);
            return -1;
        }
        memcpy(key, a + 2, klen);
        key[klen] = '\0';
        const struct opt *o = find_opt(key);
        if (!o) {
            snprintf(errbuf, errlen, "unknown option '--%s' (see --help)", key);
            return -1;
        }
        if (eq) {
            value = eq + 1;
        } else if (o->kind != OPT_FLAG) {
            if (i + 1 >= argc) {
                snprintf(errbuf, errlen, "option '--%s' needs a value", key);
                return -1;
            }
            value = argv[++i];
        }
        if (vmm_config_set(cfg, key, value, errbuf, errlen) < 0)
            return -1;
    }
    return 0;
}

int vmm_config_check(const struct vmm_config *cfg, char *errbuf, size_t errlen)
{
    if (!cfg->kernel) {
        snprintf(errbuf, errlen, "no kernel image given: --kernel PATH is required");
        return -1;
    }
    if (cfg->vcpus < 1 || cfg->vcpus > VMM_VCPUS_MAX) {
        snprintf(errbuf, errlen, "vcpus %u is out of range: expected 1..%u", cfg->vcpus,
                 VMM_VCPUS_MAX);
        return -1;
    }
    /* issue 3: hotplug limit, pinning spec, cgroup path */
    if (cfg->max_vcpus && (cfg->max_vcpus < cfg->vcpus || cfg->max_vcpus > VMM_VCPUS_MAX)) {
        snprintf(errbuf, errlen, "max-vcpus %u is out of range: expected vcpus (%u) to %u",
                 cfg->max_vcpus, cfg->vcpus, VMM_VCPUS_MAX);
        return -1;
    }
    if (cfg->vcpu_affinity) {
        unsigned slots = cfg->max_vcpus ? cfg->max_vcpus : cfg->vcpus;
        cpu_set_t *sets = atoll_calloc(slots, sizeof(*sets));
        uint8_t have[VMM_VCPUS_MAX];
        int r = vmm_affinity_parse_spec(cfg->vcpu_affinity, slots, sets, have, errbuf, errlen);
        free(sets);
        if (r < 0)
            return -1;
    }
    if (cfg->cgroup && vmm_affinity_cgroup_check(cfg->cgroup, errbuf, errlen) < 0)
        return -1;
    if (cfg->memory < 4 * 1024 * 1024ULL || cfg->memory % 4096) {
        snprintf(errbuf, errlen, "memory %llu bytes is invalid: expected a multiple of 4 KiB, "
                 "at least 4M", (unsigned long long)cfg->memory);
        return -1;
    }
    if (cfg->memory > (1ULL << 46)) {
        snprintf(errbuf, errlen, "memory %llu MiB is larger than the 64 TiB guest limit",
                 (unsigned long long)(cfg->memory >> 20));
        return -1;
    }
    if (cfg->cmdline && strlen(cfg->cmdline) >= 4096) {
        snprintf(errbuf, errlen, "cmdline is %zu bytes: at most 4095 allowed",
                 strlen(cfg->cmdline));
        return -1;
    }
    if (cfg->console_socket && cfg->control_socket &&
        strcmp(cfg->console_socket, cfg->control_socket) == 0) {
        snprintf(errbuf, errlen, "console-socket and control-socket are the same path '%s'",
                 cfg->control_socket);
        return -1;
    }
    if (cfg->uuid && !atoll_uuid_is_valid(cfg->uuid)) {
        snprintf(errbuf, errlen, "uuid '%s' is not a UUID (8-4-4-4-12 hex digits)", cfg->uuid);
        return -1;
    }
    if (cfg->name) {
        if (strlen(cfg->name) > VMM_NAME_MAX) {
            snprintf(errbuf, errlen, "name is longer than %d bytes", VMM_NAME_MAX);
            return -1;
        }
        for (const char *c = cfg->name; *c; c++)
            if ((unsigned char)*c <= ' ' || *c == 0x7f) {
                snprintf(errbuf, errlen, "name '%s' has spaces or control characters",
                         cfg->name);
                return -1;
            }
    }
    return 0;
}

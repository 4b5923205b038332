/* tests/unit/hypervisor/test_config.c - option and key=value parsing of atoll-vmm. */
#include <stdio.h>
#include <unistd.h>

#include "../../../hypervisor/config.h"
#include "tap.h"

static int parse(struct vmm_config *c, char *err, int argc, char **argv)
{
    vmm_config_init(c);
    err[0] = '\0';
    if (vmm_config_parse_args(c, argc, argv, err, 256) < 0)
        return -1;
    return vmm_config_check(c, err, 256);
}

#define ARGS(...) (char *[]){"atoll-vmm", __VA_ARGS__}
#define N(...) (int)(sizeof((char *[]){"atoll-vmm", __VA_ARGS__}) / sizeof(char *))

int main(void)
{
    struct vmm_config c;
    char err[256];

    is_int(parse(&c, err, N("--kernel", "k.elf", "--memory", "64M", "--vcpus", "4"),
                 ARGS("--kernel", "k.elf", "--memory", "64M", "--vcpus", "4")), 0, "basic options");
    is_str(c.kernel, "k.elf", "kernel");
    is_int(c.memory, 64ULL << 20, "memory 64M");
    is_int(c.vcpus, 4, "vcpus 4");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel=k", "--memory=2G", "--cmdline=a b=c", "--name=web1"),
                 ARGS("--kernel=k", "--memory=2G", "--cmdline=a b=c", "--name=web1")), 0,
           "--key=value form");
    is_int(c.memory, 2ULL << 30, "memory 2G");
    is_str(c.cmdline, "a b=c", "cmdline keeps '=' and spaces");
    is_str(c.name, "web1", "name");
    is_int(c.vcpus, 1, "default vcpus 1");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--memory", "512"), ARGS("--kernel", "k", "--memory",
                 "512")), 0, "bare memory number means MiB");
    is_int(c.memory, 512ULL << 20, "512 -> 512 MiB");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--bogus"), ARGS("--kernel", "k", "--bogus")), -1,
           "unknown option refused");
    ok(strstr(err, "unknown option '--bogus'") != NULL, "error names the option: %s", err);
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--vcpus", "0"), ARGS("--kernel", "k", "--vcpus",
                 "0")), -1, "0 vcpus refused");
    ok(strstr(err, "expected 1..254") != NULL, "error gives the range: %s", err);
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--vcpus", "255"), ARGS("--kernel", "k", "--vcpus",
                 "255")), -1, "255 vcpus refused");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--vcpus", "x"), ARGS("--kernel", "k", "--vcpus",
                 "x")), -1, "non-numeric vcpus refused");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--memory", "64M"), ARGS("--memory", "64M")), -1,
           "missing kernel refused");
    ok(strstr(err, "--kernel PATH is required") != NULL, "error says kernel is required");
    vmm_config_fini(&c);

    is_int(parse(&c, err, N("--kernel", "k", "--memory", "1M"), ARGS("--kernel", "k", "--memory",
                 "1M")), -1, "1M memory refused (minimum 4M)");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel", "k", "--memory", "64Q"), ARGS("--kernel", "k", "--memory",
                 "64Q")), -1, "bad size suffix refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel", "k", "--memory", "100T"), ARGS("--kernel", "k",
                 "--memory", "100T")), -1, "memory beyond 64 TiB refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel"), ARGS("--kernel")), -1, "option without value refused");
    ok(strstr(err, "needs a value") != NULL, "error says value needed");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("kernel"), ARGS("kernel")), -1, "bare word refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel", "k", "--uuid", "nope"), ARGS("--kernel", "k", "--uuid",
                 "nope")), -1, "bad uuid refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel", "k", "--name", "a b"), ARGS("--kernel", "k", "--name",
                 "a b")), -1, "name with space refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--kernel", "k", "--console-socket", "/s", "--control-socket", "/s"),
                 ARGS("--kernel", "k", "--console-socket", "/s", "--control-socket", "/s")), -1,
           "same path for both sockets refused");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--help"), ARGS("--help")), -1, "--help parses (check then fails)");
    is_int(c.show_help, 1, "--help flag set");
    vmm_config_fini(&c);
    is_int(parse(&c, err, N("--help=x"), ARGS("--help=x")), -1, "flag with value refused");
    vmm_config_fini(&c);

    /* key=value text */
    vmm_config_init(&c);
    const char *text = "# a VM\n\nkernel = /img/guest.elf\nmemory=3584M\n vcpus = 32 \n"
                       "cmdline=console=ttyS0 quiet\r\nconsole-socket=/run/con.sock\n";
    is_int(vmm_config_parse_text(&c, text, "t.conf", err, sizeof(err)), 0, "config text parses");
    is_str(c.kernel, "/img/guest.elf", "file: kernel trimmed");
    is_int(c.memory, 3584ULL << 20, "file: memory");
    is_int(c.vcpus, 32, "file: vcpus");
    is_str(c.cmdline, "console=ttyS0 quiet", "file: cmdline keeps inner '=' and CR removed");
    is_str(c.console_socket, "/run/con.sock", "file: console-socket");
    is_int(vmm_config_check(&c, err, sizeof(err)), 0, "file config checks");
    is_int(vmm_config_parse_text(&c, "memory 5\n", "t.conf", err, sizeof(err)), -1,
           "line without '=' refused");
    is_str(err, "t.conf:1: expected key=value, got 'memory 5'", "error names file and line");
    is_int(vmm_config_parse_text(&c, "\nfoo=1\n", "t.conf", err, sizeof(err)), -1,
           "unknown key refused");
    is_str(err, "t.conf:2: unknown option 'foo' (see --help)", "unknown key error");
    vmm_config_fini(&c);

    /* --config FILE, later options override */
    char path[] = "/tmp/atoll-test-config-XXXXXX";
    int fd = mkstemp(path);
    ok(fd >= 0, "temp config file");
    const char *ft = "kernel=/a.elf\nvcpus=2\nmemory=256M\n";
    ok(write(fd, ft, strlen(ft)) == (ssize_t)strlen(ft), "write config");
    close(fd);
    is_int(parse(&c, err, N("--config", path, "--vcpus", "8"), ARGS("--config", path, "--vcpus",
                 "8")), 0, "--config then override");
    is_str(c.kernel, "/a.elf", "kernel from file");
    is_int(c.vcpus, 8, "vcpus overridden on the command line");
    is_int(c.memory, 256ULL << 20, "memory from file");
    vmm_config_fini(&c);
    /* a file that includes itself stops at depth 4 */
    FILE *f = fopen(path, "w");
    ok(f != NULL, "rewrite config");
    fprintf(f, "config=%s\n", path);
    fclose(f);
    is_int(parse(&c, err, N("--config", path), ARGS("--config", path)), -1,
           "self-including config refused");
    ok(strstr(err, "nested more than 4 deep") != NULL, "error: %.80s", err);
    vmm_config_fini(&c);
    unlink(path);
    is_int(parse(&c, err, N("--config", "/nonexistent/x.conf"),
                 ARGS("--config", "/nonexistent/x.conf")), -1, "missing config file refused");
    ok(strstr(err, "cannot read config file '/nonexistent/x.conf'") != NULL, "error: %s", err);
    vmm_config_fini(&c);
    return tap_done();
}

/*
 * toolstack/vmm_client.h - atolld's side of atoll-vmm: spawning a VMM process
 * (detached in its own session, so it outlives atolld), talking the control
 * protocol (hypervisor/control.c: "ATOLL-VMM 1 <uuid>" greeting, one request
 * line -> one OK/ERR line, asynchronous "EVENT exit status=N reason=..." lines)
 * and reading the VMM's startup error from its log.
 * Threads: any worker thread; every call blocks for a bounded time.
 * Trust: the VMM is our child but runs a hostile guest; its answers are
 * bounded and parsed defensively.
 */
#ifndef TS_VMM_CLIENT_H
#define TS_VMM_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "atoll/err.h"

#define TS_VMM_LINE_MAX 1100

/* What to launch. Strings are borrowed for the duration of the call. */
struct ts_vmm_spec {
    const char *vmm_path;   /* atoll-vmm binary */
    const char *dir;        /* per-VM runtime directory (exists): sockets and logs go here */
    const char *uuid;       /* VM uuid (--uuid) */
    const char *name;       /* VM name_label (--name), may be NULL */
    const char *kernel;     /* PV_kernel */
    const char *initrd;     /* PV_ramdisk, NULL or "" for none */
    const char *cmdline;    /* PV_args, NULL or "" for none */
    uint64_t memory;        /* bytes */
    unsigned vcpus;
    unsigned max_vcpus;     /* > vcpus: --max-vcpus, for hot-add up to it; else not passed */
    const char *ld_library_path; /* non-NULL: the VMM's LD_LIBRARY_PATH (build-tree binary) */
};

/* Paths inside a runtime directory (caller frees). */
char *ts_vmm_client_control_path(const char *dir);
char *ts_vmm_client_console_path(const char *dir);

/*
 * Spawns atoll-vmm for spec in a new session with stdin from /dev/null and
 * stdout/stderr appended to <dir>/vmm.log; *log_off gets the log size before
 * the spawn (for ts_vmm_client_startup_error). 0 and *pid, or -1 with
 * INTERNAL_ERROR.
 */
int ts_vmm_client_spawn(const struct ts_vmm_spec *spec, pid_t *pid, long *log_off,
                        struct atoll_err *err);

/*
 * Connects to a control socket and reads the greeting, which must name uuid
 * (NULL: any). Retries until timeout_ms while the socket is not there yet;
 * gives up early when alive(pid) says the process is gone (pid <= 0: no check).
 * Returns the connected fd (blocking, CLOEXEC), or -1 with errbuf filled.
 */
int ts_vmm_client_connect(const char *path, const char *uuid, pid_t pid, int timeout_ms,
                          char *errbuf, size_t errlen);

/*
 * One request on its own short connection: sends cmd, returns the answer line
 * (without newline) in answer. 0 if the answer starts with "OK", 1 if with
 * "ERR" (answer holds it), -1 on a transport error (errbuf says which).
 */
int ts_vmm_client_command(const char *path, const char *uuid, const char *cmd, char *answer,
                          size_t len, int timeout_ms, char *errbuf, size_t errlen);

/*
 * Reads one line from fd (blocking up to timeout_ms; <0: forever) into line.
 * 1 on a line, 0 on EOF, -1 on error or timeout (errno ETIMEDOUT).
 */
int ts_vmm_client_read_line(int fd, char *line, size_t len, int timeout_ms);

/* Value of key in an "OK k=v k2="quoted v"" line; 1 found (unquoted into out), 0 not. */
int ts_vmm_client_kv(const char *line, const char *key, char *out, size_t len);

/*
 * The last "atoll-vmm: ..." line written to <dir>/vmm.log after offset off
 * (the VMM's one-line reason for a startup failure), or "" if none.
 */
void ts_vmm_client_startup_error(const char *dir, long off, char *out, size_t len);

/* 1 if the VMM advertises command cmd in its "help" answer (cached by caller). */
int ts_vmm_client_has_command(const char *help_answer, const char *cmd);

/* 1 if a process with that pid exists (kill(pid, 0)); reaps it first if it is our zombie. */
int ts_vmm_client_alive(pid_t pid);

#endif

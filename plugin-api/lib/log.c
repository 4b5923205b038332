/*
 * plugin-api/lib/log.c - the logger behind atoll/log.h. Configuration is set
 * once at start-up (before threads); writes are one write(2) per line so that
 * lines from different threads never interleave. Trust: the spec string is
 * user input and is validated whole before it takes effect.
 */
#include "atoll/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_FILTERS 16

struct log_filter {
    char module[32];
    enum atoll_log_level level;
};

static enum atoll_log_level default_level = ATOLL_LOG_INFO;
static struct log_filter filters[MAX_FILTERS];
static unsigned nfilters;
static char line_prefix[80];

static const char *const level_names[] = {"error", "warn", "info", "debug"};

static int parse_level(const char *s, size_t n, enum atoll_log_level *out)
{
    for (unsigned i = 0; i < ATOLL_ARRAY_SIZE(level_names); i++) {
        if (strlen(level_names[i]) == n && strncmp(s, level_names[i], n) == 0) {
            *out = (enum atoll_log_level)i;
            return 0;
        }
    }
    return -1;
}

int atoll_log_configure(const char *spec)
{
    enum atoll_log_level def = default_level;
    struct log_filter f[MAX_FILTERS];
    unsigned nf = 0;
    const char *p = spec;

    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq) {
            if (parse_level(p, len, &def) < 0)
                return -1;
        } else {
            size_t mlen = (size_t)(eq - p);
            if (mlen == 0 || mlen >= sizeof(f[0].module) || nf == MAX_FILTERS)
                return -1;
            memcpy(f[nf].module, p, mlen);
            f[nf].module[mlen] = '\0';
            if (parse_level(eq + 1, len - mlen - 1, &f[nf].level) < 0)
                return -1;
            nf++;
        }
        p = end ? end + 1 : NULL;
    }
    default_level = def;
    memcpy(filters, f, sizeof(f[0]) * nf);
    nfilters = nf;
    return 0;
}

void atoll_log_set_prefix(const char *prefix)
{
    snprintf(line_prefix, sizeof(line_prefix), "%s", prefix ? prefix : "");
}

int atoll_log_enabled(const char *module, enum atoll_log_level level)
{
    for (unsigned i = 0; i < nfilters; i++)
        if (strcmp(filters[i].module, module) == 0)
            return level <= filters[i].level;
    return level <= default_level;
}

void atoll_log_write(const char *module, enum atoll_log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s%s%s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], line_prefix,
                     line_prefix[0] ? " " : "", module);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < sizeof(line))
        n += vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    (void)atoll_write_all(STDERR_FILENO, line, (size_t)n);
}

int atoll_log_init_from_env(void)
{
    const char *spec = getenv("ATOLL_LOG");
    if (spec && atoll_log_configure(spec) < 0) {
        fprintf(stderr, "atoll: ignoring bad ATOLL_LOG '%s' (expected level[,module=level])\n", spec);
        return -1;
    }
    return 0;
}

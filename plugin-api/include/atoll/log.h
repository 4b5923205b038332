/*
 * atoll/log.h - leveled, printf-checked logging with a module name per file
 * and per-module level filters (ATOLL_LOG="info,vmm=debug"). Lines go to
 * stderr, or to a sink installed by the daemon. Threads: any (one write per line).
 */
#ifndef ATOLL_LOG_H
#define ATOLL_LOG_H

#include "atoll/util.h"

enum atoll_log_level { ATOLL_LOG_ERROR, ATOLL_LOG_WARN, ATOLL_LOG_INFO, ATOLL_LOG_DEBUG };

/* Parses "level[,module=level...]"; returns 0, or -1 on a bad spec (nothing changed). */
int atoll_log_configure(const char *spec);
/* Applies $ATOLL_LOG if set; main() calls it once. 0, or -1 if it was malformed (ignored). */
int atoll_log_init_from_env(void);
/* A prefix put on every line (e.g. a VM uuid); copied. NULL clears it. */
void atoll_log_set_prefix(const char *prefix);
int atoll_log_enabled(const char *module, enum atoll_log_level level);
void atoll_log_write(const char *module, enum atoll_log_level level, const char *fmt, ...)
    ATOLL_PRINTF(3, 4);

/* Each .c defines ATOLL_LOG_MODULE "name" before including this header. */
#ifndef ATOLL_LOG_MODULE
#define ATOLL_LOG_MODULE "atoll"
#endif
#define atoll_log(lvl, ...)                                          \
    do {                                                             \
        if (atoll_log_enabled(ATOLL_LOG_MODULE, (lvl)))              \
            atoll_log_write(ATOLL_LOG_MODULE, (lvl), __VA_ARGS__);   \
    } while (0)
#define log_error(...) atoll_log(ATOLL_LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  atoll_log(ATOLL_LOG_WARN, __VA_ARGS__)
#define log_info(...)  atoll_log(ATOLL_LOG_INFO, __VA_ARGS__)
#define log_debug(...) atoll_log(ATOLL_LOG_DEBUG, __VA_ARGS__)

#endif

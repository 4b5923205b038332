/*
 * tests/tap.h - a tiny TAP harness for C unit tests (header-only): plan, ok,
 * is_int, is_str, diag, skip_all. Output goes to stdout for automake's TAP
 * driver; a test program that cannot run here calls tap_skip_all ("1..0 # SKIP reason").
 */
#ifndef ATOLL_TAP_H
#define ATOLL_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

static inline void tap_plan(int n) { printf("1..%d\n", n); fflush(stdout); }
static inline void tap_plan_auto(void) { (void)0; }

__attribute__((format(printf, 1, 2))) static inline void diag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputs("\n", stdout);
    va_end(ap);
    fflush(stdout);
}

__attribute__((format(printf, 2, 3))) static inline int ok(int cond, const char *fmt, ...)
{
    va_list ap;
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

#define is_int(got, want, ...)                                                          \
    do {                                                                                \
        long long g_ = (long long)(got), w_ = (long long)(want);                        \
        if (!ok(g_ == w_, __VA_ARGS__))                                                 \
            diag("  got %lld, expected %lld", g_, w_);                                  \
    } while (0)

#define is_str(got, want, ...)                                                          \
    do {                                                                                \
        const char *g_ = (got), *w_ = (want);                                           \
        int eq_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0);      \
        if (!ok(eq_, __VA_ARGS__))                                                      \
            diag("  got '%s', expected '%s'", g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
    } while (0)

/* Skip the whole program with a reason ("1..0 # SKIP reason", exit 0: the TAP driver counts it as SKIP). */
__attribute__((noreturn)) static inline void tap_skip_all(const char *reason)
{
    printf("1..0 # SKIP %s\n", reason);
    fflush(stdout);
    exit(0); /* "1..0 # SKIP" is TAP's skip; automake's TAP driver treats non-zero exits as errors */
}

/* Ends a program without a plan up front: prints the plan and returns the exit code. */
static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    fflush(stdout);
    return tap_failed ? 1 : 0;
}

#endif

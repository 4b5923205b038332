/*
 * plugin-api/lib/uuid.c - UUID and opaque-reference generation from the
 * kernel's CSPRNG (getrandom), so references are unguessable as XAPI's are.
 * Threads: any.
 */
#include "atoll/uuid.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void atoll_uuid_generate(char out[ATOLL_UUID_STRLEN + 1])
{
    uint8_t b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            abort();
    }
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, ATOLL_UUID_STRLEN + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

int atoll_uuid_is_valid(const char *s)
{
    if (!s || strlen(s) != ATOLL_UUID_STRLEN)
        return 0;
    for (int i = 0; i < ATOLL_UUID_STRLEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return 0;
        } else if (!isxdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    return 1;
}

void atoll_ref_generate(char out[ATOLL_REF_STRLEN + 1])
{
    char u[ATOLL_UUID_STRLEN + 1];
    atoll_uuid_generate(u);
    snprintf(out, ATOLL_REF_STRLEN + 1, "%s%s", ATOLL_REF_PREFIX, u);
}

int atoll_ref_is_valid(const char *s)
{
    if (!s || strncmp(s, ATOLL_REF_PREFIX, strlen(ATOLL_REF_PREFIX)) != 0)
        return 0;
    s += strlen(ATOLL_REF_PREFIX);
    return strcmp(s, "NULL") == 0 || atoll_uuid_is_valid(s);
}

/*
 * atoll/uuid.h - random (v4) UUIDs and XenAPI opaque references
 * ("OpaqueRef:<uuid>", "OpaqueRef:NULL"). Threads: any. Trust: validators
 * accept untrusted text.
 */
#ifndef ATOLL_UUID_H
#define ATOLL_UUID_H

#define ATOLL_UUID_STRLEN 36
#define ATOLL_REF_PREFIX "OpaqueRef:"
#define ATOLL_REF_NULL "OpaqueRef:NULL"
#define ATOLL_REF_STRLEN (10 + ATOLL_UUID_STRLEN)

/* Fills out (ATOLL_UUID_STRLEN + 1 bytes) with a new random lowercase UUID. */
void atoll_uuid_generate(char out[ATOLL_UUID_STRLEN + 1]);
/* 1 if s is a well-formed UUID (8-4-4-4-12 hex digits), else 0. */
int atoll_uuid_is_valid(const char *s);
/* Fills out (ATOLL_REF_STRLEN + 1 bytes) with "OpaqueRef:<new uuid>". */
void atoll_ref_generate(char out[ATOLL_REF_STRLEN + 1]);
/* 1 if s is "OpaqueRef:" followed by a UUID or "NULL". */
int atoll_ref_is_valid(const char *s);

#endif

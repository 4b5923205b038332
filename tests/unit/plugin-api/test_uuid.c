/* tests/unit/plugin-api/test_uuid.c - UUID and OpaqueRef generation and validation. */
#include "atoll/uuid.h"
#include "tap.h"

int main(void)
{
    char a[ATOLL_UUID_STRLEN + 1], b[ATOLL_UUID_STRLEN + 1], r[ATOLL_REF_STRLEN + 1];
    atoll_uuid_generate(a);
    atoll_uuid_generate(b);
    ok(atoll_uuid_is_valid(a), "generated uuid valid: %s", a);
    ok(strcmp(a, b) != 0, "two uuids differ");
    ok(a[14] == '4', "version 4");
    ok(!atoll_uuid_is_valid("not-a-uuid"), "junk rejected");
    ok(!atoll_uuid_is_valid("0123456789-23-4567-89ab-cdef01234567"), "misplaced dash rejected");
    atoll_ref_generate(r);
    ok(atoll_ref_is_valid(r), "ref valid: %s", r);
    ok(atoll_ref_is_valid("OpaqueRef:NULL"), "NULL ref valid");
    ok(!atoll_ref_is_valid("OpaqueRef:xyz"), "bad ref rejected");
    return tap_done();
}

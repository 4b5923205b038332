/* tests/unit/plugin-api/test_util.c - number parsing, sizes, atomic writes, secret lines. */
#include "atoll/util.h"
#include "tap.h"

#include <stdlib.h>
#include <unistd.h>

int main(void)
{
    uint64_t u;
    int64_t i;
    ok(atoll_parse_u64("42", 10, &u) == 0 && u == 42, "parse_u64 42");
    ok(atoll_parse_u64("", 10, &u) < 0, "parse_u64 rejects empty");
    ok(atoll_parse_u64("12x", 10, &u) < 0, "parse_u64 rejects junk");
    ok(atoll_parse_u64("-1", 10, &u) < 0, "parse_u64 rejects negative");
    ok(atoll_parse_u64("99999999999999999999999", 10, &u) < 0, "parse_u64 rejects overflow");
    ok(atoll_parse_i64("-7", 10, &i) == 0 && i == -7, "parse_i64 -7");
    ok(atoll_parse_size("64", 1, &u) == 0 && u == 64ULL << 20, "bare size is MiB");
    ok(atoll_parse_size("4G", 1, &u) == 0 && u == 4ULL << 30, "4G");
    ok(atoll_parse_size("3584M", 1, &u) == 0 && u == 3584ULL << 20, "3584M");
    ok(atoll_parse_size("M", 1, &u) < 0, "size without digits rejected");
    ok(atoll_parse_size("99999999999999999T", 1, &u) < 0, "size overflow rejected");

    char dir[] = "/tmp/atoll-test-util-XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    ATOLL_AUTOFREE char *path = atoll_strdup_printf("%s/f", dir);
    ok(atoll_write_file_atomic(path, "hello", 5, 0600) == 0, "atomic write");
    char buf[16] = {0};
    FILE *f = fopen(path, "r");
    ok(f && fread(buf, 1, sizeof(buf), f) == 5, "read back");
    if (f)
        fclose(f);
    is_str(buf, "hello", "contents");
    ok(atoll_write_file_atomic(path, "s3cret\r\nnext\n", 13, 0600) == 0, "secret file");
    f = fopen(path, "r");
    ATOLL_AUTOFREE char *l1 = f ? atoll_read_secret_line(f) : NULL;
    ATOLL_AUTOFREE char *l2 = f ? atoll_read_secret_line(f) : NULL;
    ATOLL_AUTOFREE char *l3 = f ? atoll_read_secret_line(f) : NULL;
    if (f)
        fclose(f);
    is_str(l1, "s3cret", "read_secret_line: the first line without CR/LF");
    is_str(l2, "next", "read_secret_line: the next line");
    ok(l3 == NULL, "read_secret_line: NULL at end of file");
    unlink(path);
    rmdir(dir);
    return tap_done();
}

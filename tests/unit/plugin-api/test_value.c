/* tests/unit/plugin-api/test_value.c - the XML-RPC value model: builders, refcounts, structs
 * (order, unique keys, the hash index), equality, deep copy and XAPI datetimes. */
#include "atoll/value.h"
#include "atoll/util.h"
#include "tap.h"

#include <math.h>
#include <stdio.h>

static void test_scalars(void)
{
    ATOLL_AUTOVALUE b = atoll_value_bool(7);
    is_int(atoll_value_type(b), ATOLL_VALUE_BOOL, "bool type");
    is_int(atoll_value_get_bool(b), 1, "bool normalised to 1");
    ATOLL_AUTOVALUE i = atoll_value_int(INT64_MIN);
    ok(atoll_value_get_int(i) == INT64_MIN, "int64 min kept");
    ATOLL_AUTOVALUE d = atoll_value_double(60.1);
    ok(atoll_value_get_double(d) == 60.1, "double kept");
    ATOLL_AUTOVALUE s = atoll_value_string(NULL);
    is_str(atoll_value_get_string(s), "", "NULL string is empty");
    ATOLL_AUTOVALUE sl = atoll_value_string_len("ab\0cd", 5);
    is_int(atoll_value_string_length(sl), 5, "string_len keeps length");
    ATOLL_AUTOVALUE st = atoll_value_string_take(atoll_strdup("taken"));
    is_str(atoll_value_get_string(st), "taken", "string_take");
    ok(atoll_value_get_string(i) == NULL, "wrong-type string accessor is NULL");
    is_int(atoll_value_get_int(s), 0, "wrong-type int accessor is 0");
    is_str(atoll_value_type_name(ATOLL_VALUE_STRUCT), "struct", "type name");
    ATOLL_AUTOVALUE n = atoll_value_nil();
    is_int(atoll_value_type(n), ATOLL_VALUE_NIL, "nil");
    is_int(atoll_value_type(NULL), ATOLL_VALUE_NIL, "NULL reads as nil");
}

static void test_refcount(void)
{
    struct atoll_value *v = atoll_value_string("x");
    ok(atoll_value_ref(v) == v, "ref returns its argument");
    atoll_value_unref(v);
    is_str(atoll_value_get_string(v), "x", "still alive after one unref");
    atoll_value_unref(v);
    atoll_value_unref(NULL);
    ok(1, "unref(NULL) is a no-op");
}

static void test_arrays(void)
{
    ATOLL_AUTOVALUE a = atoll_value_array();
    for (int k = 0; k < 10; k++)
        atoll_value_array_append(a, atoll_value_int(k));
    is_int(atoll_value_array_len(a), 10, "ten items");
    is_int(atoll_value_get_int(atoll_value_array_get(a, 9)), 9, "last item");
    ok(atoll_value_array_get(a, 10) == NULL, "out of range get is NULL");
    is_int(atoll_value_array_remove(a, 0), 0, "remove first");
    is_int(atoll_value_get_int(atoll_value_array_get(a, 0)), 1, "shifted down");
    is_int(atoll_value_array_remove(a, 99), -1, "remove out of range");
    atoll_value_array_append(a, NULL);
    is_int(atoll_value_type(atoll_value_array_get(a, 9)), ATOLL_VALUE_NIL, "NULL item is nil");
}

static void test_structs(void)
{
    ATOLL_AUTOVALUE s = atoll_value_struct();
    atoll_value_struct_set_string(s, "b", "1");
    atoll_value_struct_set_int(s, "a", 2);
    atoll_value_struct_set_bool(s, "c", 1);
    atoll_value_struct_set_string(s, "b", "replaced");
    is_int(atoll_value_struct_len(s), 3, "unique keys");
    const char *k;
    struct atoll_value *v;
    atoll_value_struct_at(s, 0, &k, &v);
    is_str(k, "b", "insertion order kept on replace");
    is_str(atoll_value_get_string(v), "replaced", "value replaced");
    is_str(atoll_value_struct_get_string(s, "b"), "replaced", "get_string");
    ok(atoll_value_struct_get_string(s, "a") == NULL, "get_string of an int is NULL");
    is_int(atoll_value_struct_at(s, 3, &k, &v), -1, "struct_at out of range");
    is_int(atoll_value_struct_remove(s, "a"), 0, "remove");
    is_int(atoll_value_struct_remove(s, "a"), -1, "remove absent");
    ok(atoll_value_struct_get(s, "a") == NULL, "removed key gone");

    /* large struct: exercises the hash index through growth and removal */
    ATOLL_AUTOVALUE big = atoll_value_struct();
    char key[32];
    for (int n = 0; n < 5000; n++) {
        snprintf(key, sizeof(key), "OpaqueRef:%d", n);
        atoll_value_struct_set_int(big, key, n);
    }
    atoll_value_struct_set_int(big, "OpaqueRef:17", -17);
    is_int(atoll_value_struct_len(big), 5000, "5000 unique keys");
    int good = 1;
    for (int n = 0; n < 5000; n++) {
        snprintf(key, sizeof(key), "OpaqueRef:%d", n);
        int64_t want = n == 17 ? -17 : n;
        if (atoll_value_get_int(atoll_value_struct_get(big, key)) != want)
            good = 0;
    }
    ok(good, "every key found through the index");
    for (int n = 0; n < 5000; n += 2) {
        snprintf(key, sizeof(key), "OpaqueRef:%d", n);
        atoll_value_struct_remove(big, key);
    }
    is_int(atoll_value_struct_len(big), 2500, "half removed");
    ok(atoll_value_struct_get(big, "OpaqueRef:4") == NULL &&
           atoll_value_get_int(atoll_value_struct_get(big, "OpaqueRef:4999")) == 4999,
       "index consistent after removals");
    atoll_value_struct_at(big, 0, &k, NULL);
    is_str(k, "OpaqueRef:1", "order kept after removals");
}

static void test_equal_dup(void)
{
    ATOLL_AUTOVALUE a = atoll_value_struct();
    atoll_value_struct_set_string(a, "x", "1");
    struct atoll_value *arr = atoll_value_array();
    atoll_value_array_append(arr, atoll_value_double(1.5));
    atoll_value_array_append(arr, atoll_value_datetime(1700000000));
    atoll_value_struct_set(a, "y", arr);
    ATOLL_AUTOVALUE b = atoll_value_struct();
    atoll_value_struct_set(b, "y", atoll_value_dup(arr));
    atoll_value_struct_set_string(b, "x", "1");
    ok(atoll_value_equal(a, b), "equal ignores struct key order");
    ATOLL_AUTOVALUE c = atoll_value_dup(a);
    ok(atoll_value_equal(a, c), "dup is equal");
    atoll_value_struct_set_string(c, "x", "2");
    ok(!atoll_value_equal(a, c), "dup is deep");
    is_str(atoll_value_struct_get_string(a, "x"), "1", "original untouched");
    ATOLL_AUTOVALUE i1 = atoll_value_int(1);
    ATOLL_AUTOVALUE s1 = atoll_value_string("1");
    ok(!atoll_value_equal(i1, s1), "int 1 != string \"1\"");
    ATOLL_AUTOVALUE n1 = atoll_value_double(NAN);
    ATOLL_AUTOVALUE n2 = atoll_value_double(NAN);
    ok(atoll_value_equal(n1, n2), "NaN equals NaN structurally");
}

static void test_datetime(void)
{
    char buf[32];
    atoll_datetime_format(0, buf);
    is_str(buf, "19700101T00:00:00Z", "epoch formatted");
    atoll_datetime_format(1624879534, buf);
    is_str(buf, "20210628T11:25:34Z", "XAPI format");
    int64_t t = 0;
    is_int(atoll_datetime_parse("20210628T11:25:34Z", &t), 0, "parse XAPI form");
    is_int(t, 1624879534, "parsed value");
    is_int(atoll_datetime_parse("2021-06-28T11:25:34Z", &t), 0, "parse dashed ISO");
    is_int(t, 1624879534, "dashed value");
    is_int(atoll_datetime_parse("20210628T112534", &t), 0, "parse compact, no Z");
    is_int(t, 1624879534, "compact value");
    is_int(atoll_datetime_parse("2021-06-28T13:25:34.123+02:00", &t), 0, "offset, fraction");
    is_int(t, 1624879534, "offset applied");
    is_int(atoll_datetime_parse("20210231T00:00:00Z", &t), -1, "31 February refused");
    is_int(atoll_datetime_parse("2021062T11:25:34Z", &t), -1, "short date refused");
    is_int(atoll_datetime_parse("20210628T11:25:34Zjunk", &t), -1, "trailing junk refused");
    is_int(atoll_datetime_parse("", &t), -1, "empty refused");
    is_int(atoll_datetime_parse(NULL, &t), -1, "NULL refused");
}

int main(void)
{
    test_scalars();
    test_refcount();
    test_arrays();
    test_structs();
    test_equal_dup();
    test_datetime();
    return tap_done();
}

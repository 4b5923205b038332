/* tests/unit/plugin-api/test_err.c - the error object and code table. */
#include "atoll/err.h"
#include "tap.h"

int main(void)
{
    struct atoll_err err = ATOLL_ERR_INIT;
    ok(!atoll_err_is_set(&err), "starts unset");
    ATOLL_ERR(&err, ATOLL_E_VM_BAD_POWER_STATE, "OpaqueRef:x", "halted", "running");
    ok(atoll_err_is_set(&err), "set");
    is_int(err.nparams, 3, "three params");
    is_str(err.params[2], "running", "param kept");
    ATOLL_ERR(&err, ATOLL_E_INTERNAL_ERROR, "later");
    is_int(err.code, ATOLL_E_VM_BAD_POWER_STATE, "first error wins");
    is_str(atoll_err_code_name(err.code), "VM_BAD_POWER_STATE", "wire name");
    is_str(atoll_err_code_params(err.code), "vm,expected,actual", "param names");
    is_int(atoll_err_code_from_name("HANDLE_INVALID"), ATOLL_E_HANDLE_INVALID, "name lookup");
    is_int(atoll_err_code_from_name("NO_SUCH"), -1, "unknown name");
    atoll_err_clear(&err);
    ok(!atoll_err_is_set(&err), "cleared");
    ATOLL_ERR(NULL, ATOLL_E_INTERNAL_ERROR, "ignored");
    ok(1, "NULL err is accepted");
    return tap_done();
}

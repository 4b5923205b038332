/* tests/unit/plugin-api/test_log.c - log level specs and filters. */
#define ATOLL_LOG_MODULE "test"
#include "atoll/log.h"
#include "tap.h"

int main(void)
{
    ok(atoll_log_configure("warn") == 0, "plain level");
    ok(!atoll_log_enabled("x", ATOLL_LOG_INFO), "info filtered at warn");
    ok(atoll_log_enabled("x", ATOLL_LOG_ERROR), "error passes");
    ok(atoll_log_configure("error,vmm=debug") == 0, "module filter");
    ok(atoll_log_enabled("vmm", ATOLL_LOG_DEBUG), "vmm debug on");
    ok(!atoll_log_enabled("rpc", ATOLL_LOG_WARN), "others at error");
    ok(atoll_log_configure("loud") < 0, "bad level rejected");
    ok(atoll_log_configure("=debug") < 0, "empty module rejected");
    ok(atoll_log_enabled("vmm", ATOLL_LOG_DEBUG), "bad spec changed nothing");
    return tap_done();
}

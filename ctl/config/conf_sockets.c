#include <stdio.h>
#include <string.h>

#include "conf_sockets.h"
#include "contract/pair_hash.h"

static int pair_socket(char *out, const char *run_dir, const char *prefix, const char *group,
                       const char *upstream)
{
    int n;

    if (strlen(run_dir) > CONF_RUN_DIR_MAX)
        return -1;
    n = snprintf(out, CONF_SOCKET_PATH_MAX, "%s/%s_%016llx.sock", run_dir, prefix,
                 (unsigned long long)pair_hash(group, upstream));
    return n >= 0 && n < CONF_SOCKET_PATH_MAX ? 0 : -1;
}

int conf_listener_socket(char *out, const char *run_dir, const char *group, const char *upstream)
{
    return pair_socket(out, run_dir, "up", group, upstream);
}

int conf_retry_socket(char *out, const char *run_dir, const char *group, const char *upstream)
{
    return pair_socket(out, run_dir, "rp", group, upstream);
}

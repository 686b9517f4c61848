#include <stdio.h>
#include <string.h>

#include "conf_sockets.h"
#include "contract/pair_hash.h"

int conf_listener_socket(char *out, const char *run_dir, const char *group, const char *upstream)
{
    int n;

    if (strlen(run_dir) > CONF_RUN_DIR_MAX)
        return -1;
    n = snprintf(out, CONF_SOCKET_PATH_MAX, "%s/up_%016llx.sock", run_dir,
                 (unsigned long long)pair_hash(group, upstream));
    return n >= 0 && n < CONF_SOCKET_PATH_MAX ? 0 : -1;
}

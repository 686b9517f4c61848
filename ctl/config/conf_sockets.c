#include <stdio.h>
#include <string.h>

#include "conf_sockets.h"

uint64_t conf_pair_hash(const char *group, const char *upstream)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char *names[2] = {group, upstream};

    for (int i = 0; i < 2; i++)
        for (const unsigned char *p = (const unsigned char *)names[i];; p++) {
            h = (h ^ *p) * 0x100000001b3ull;
            if (!*p)
                break;
        }
    return h;
}

int conf_listener_socket(char *out, const char *run_dir, const char *group, const char *upstream)
{
    int n;

    if (strlen(run_dir) > CONF_RUN_DIR_MAX)
        return -1;
    n = snprintf(out, CONF_SOCKET_PATH_MAX, "%s/up_%016llx.sock", run_dir,
                 (unsigned long long)conf_pair_hash(group, upstream));
    return n >= 0 && n < CONF_SOCKET_PATH_MAX ? 0 : -1;
}

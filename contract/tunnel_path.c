#include <stdio.h>

#include "contract/pair_hash.h"
#include "contract/tunnel_path.h"

int tunnel_socket_path(char *out, size_t size, const char *run_dir, const char *group,
                       const char *upstream)
{
    int n;

    n = snprintf(out, size, "%s/tunnel_%s__%s.sock", run_dir, group, upstream);
    if (n >= 0 && (size_t)n < size)
        return 0;
    n = snprintf(out, size, "%s/tunnel_%016llx.sock", run_dir,
                 (unsigned long long)pair_hash(group, upstream));
    return n >= 0 && (size_t)n < size ? 0 : -1;
}

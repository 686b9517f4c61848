/*
 * Where the CONNECT tunnel of one proxied (group, upstream) pair listens: a unix socket
 * under haproxy.run_dir. Both binaries need the same answer (llmproxy-ctl writes it into
 * the upstream's `server` line, the agent binds it) and llmproxy-ctl does not link the
 * agent's library, so the rule lives here, whole, as an inline function.
 */
#ifndef LLMPROXY_TUNNEL_PATH_H
#define LLMPROXY_TUNNEL_PATH_H

#include <stdio.h>

#include "conf_sockets.h"

/*
 * "<run_dir>/tunnel_<group>__<upstream>.sock", readable for operators; when that does not
 * fit a socket address, "<run_dir>/tunnel_<16 hex digits>.sock", a 64-bit FNV-1a hash of
 * both names. Returns 0, or -1 when even the short name does not fit (run_dir too long).
 */
static inline int tunnel_socket_path(char out[CONF_SOCKET_PATH_MAX], const char *run_dir,
                                     const char *group, const char *upstream)
{
    int n;

    n = snprintf(out, CONF_SOCKET_PATH_MAX, "%s/tunnel_%s__%s.sock", run_dir, group, upstream);
    if (n >= 0 && n < CONF_SOCKET_PATH_MAX)
        return 0;
    n = snprintf(out, CONF_SOCKET_PATH_MAX, "%s/tunnel_%016llx.sock", run_dir,
                 (unsigned long long)conf_pair_hash(group, upstream));
    return n >= 0 && n < CONF_SOCKET_PATH_MAX ? 0 : -1;
}

#endif /* LLMPROXY_TUNNEL_PATH_H */

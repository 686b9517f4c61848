/*
 * Where the CONNECT tunnel of one proxied (group, upstream) pair listens: a unix socket
 * under haproxy.run_dir. llmproxy-ctl writes it into the upstream's `server` line
 * (ctl/render_haproxy.c); the agent binds it (agent/tunnel.c).
 */
#ifndef LLMPROXY_CONTRACT_TUNNEL_PATH_H
#define LLMPROXY_CONTRACT_TUNNEL_PATH_H

#include <stddef.h>

/*
 * "<run_dir>/tunnel_<group>__<upstream>.sock", readable for operators; when that does not
 * fit `size` bytes (a socket address), "<run_dir>/tunnel_<16 hex digits>.sock", the
 * pair_hash() of both names. Returns 0, or -1 when even the short name does not fit
 * (run_dir too long).
 */
int tunnel_socket_path(char *out, size_t size, const char *run_dir, const char *group,
                       const char *upstream);

#endif /* LLMPROXY_CONTRACT_TUNNEL_PATH_H */

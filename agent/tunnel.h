/*
 * Outbound HTTP CONNECT proxy support (http_client.proxy): HAProxy cannot speak CONNECT,
 * so for each member of a proxied group the agent listens on a unix socket
 * (contract/tunnel_path.h) that the rendered `server` line points at. Each connection HAProxy
 * opens there is carried to the upstream through the proxy: connect to the proxy, send
 * CONNECT upstream-host:port (with the URL's credentials as Proxy-Authorization: Basic),
 * and on a 2xx answer relay bytes both ways. TLS to the upstream stays end to end:
 * HAProxy speaks it through the tunnel, and checks the upstream's certificate itself.
 *
 * Anything but 2xx, within the group's connect timeout, closes HAProxy's connection:
 * HAProxy sees a failed connection, answers the client with its JSON 502/503, and the log
 * feed counts an upstream failure. Each direction has a bounded buffer; a side is not
 * read while the other cannot take more (backpressure), and an end of stream is passed on
 * as a half-close, so either side may finish first.
 *
 * The tunnel set is built once at start: a reload that changes proxies or proxied
 * members needs a restart of the agent.
 */
#ifndef LLMPROXY_TUNNEL_H
#define LLMPROXY_TUNNEL_H

#include <stddef.h>

#include "tunnel-t.h"

struct config;
struct ev_loop;
struct tunnels;
struct unix_owner;

/*
 * Listen for every proxied (group, upstream) pair of `cfg` (none is fine: an empty set),
 * on sockets with `owner`'s ids and mode (unix_socket.h). The configuration is copied: it
 * may be freed afterwards. A stale socket file at a tunnel's path is replaced, nothing
 * else. NULL, with the reason logged, when a socket cannot be bound or the credentials
 * cannot be encoded.
 */
struct tunnels *tunnels_start(struct ev_loop *loop, const struct config *cfg,
                              const struct unix_owner *owner);

/* Close every listener and connection and remove the socket files (those still ours).
 * NULL is accepted. */
void tunnels_free(struct tunnels *ts);

size_t tunnels_count(const struct tunnels *ts);

/* Tunnel `i` (< tunnels_count): its names, socket path and counters. */
const char *tunnels_group(const struct tunnels *ts, size_t i);
const char *tunnels_upstream(const struct tunnels *ts, size_t i);
const char *tunnels_path(const struct tunnels *ts, size_t i);
const struct tunnel_stats *tunnels_stats(const struct tunnels *ts, size_t i);

/* The reason's label in metrics and logs ("connect", "refused", ...). */
const char *tunnel_fail_name(enum tunnel_fail f);

#endif /* LLMPROXY_TUNNEL_H */

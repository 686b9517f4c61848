/*
 * Small socket helpers shared by the agent's listeners (SPOP, log feed, admin).
 */
#ifndef LLMPROXY_NET_H
#define LLMPROXY_NET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct conf_listen;
struct unix_owner;
struct unix_socket;

/* A non-blocking, close-on-exec TCP listener on an IPv4 or IPv6 literal. Returns the fd,
 * or -1 with errno set. */
int net_listen_tcp(const char *address, uint16_t port, int backlog);

/*
 * Listen where a configured listener says: TCP on address:port, or its unix socket with
 * `owner`'s ids and mode (`u` filled; its fd is the one returned, to close after
 * unix_socket_unlink(u)). Logs the outcome as "<who>: listening on ..." or why not.
 * Returns the fd, or -1 with errno set.
 */
int net_listen_conf(const struct conf_listen *l, int backlog, const char *who,
                    const struct unix_owner *owner, struct unix_socket *u);

/* accept4() a non-blocking, close-on-exec connection and set TCP_NODELAY; -1 as accept. */
int net_accept(int listen_fd);

/* The monotonic clock every decision is made with, in nanoseconds and milliseconds. */
uint64_t monotonic_ns(void);
uint64_t monotonic_ms(void);

/* Unix time in milliseconds: never for decisions, only to read the dates upstreams send
 * (Retry-After) and, in the test tools, to stamp what other processes line up with. */
int64_t wall_clock_ms(void);

#endif /* LLMPROXY_NET_H */

/*
 * Name lookups that never block the event loop.
 *
 * getaddrinfo() can wait for seconds on a slow or unreachable DNS server, and the loop that
 * would wait is the one answering HAProxy's per-request decisions. glibc's getaddrinfo_a()
 * runs the lookup in a thread of its own; the loop only polls, every few milliseconds and
 * only while a lookup is in flight, whether it has finished. No thread of ours touches the
 * loop's data.
 */
#ifndef LLMPROXY_RESOLVER_H
#define LLMPROXY_RESOLVER_H

#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

struct resolver;
struct resolver_lookup;

/*
 * A finished lookup: `err` is 0 and `addr` (`len` bytes) the first address, or `err` is a
 * getaddrinfo error (gai_strerror) and `addr` NULL. Called from the loop.
 */
typedef void resolver_done_fn(void *ctx, int err, const struct sockaddr *addr, socklen_t len);

/* NULL when memory is short. */
struct resolver *resolver_create(struct ev_loop *loop);

/*
 * Release the resolver. Lookups still in flight are abandoned: glibc's thread may still
 * write into them, so they are waited for (at most RESOLVER_DRAIN_S) before being freed,
 * and left to the process otherwise.
 */
void resolver_free(struct resolver *r);

/*
 * Look up `host`:`port` (TCP). `done` is called exactly once from the loop, unless the
 * lookup is cancelled first. NULL (and `done` never called) when memory is short or glibc
 * refused to start the lookup.
 */
struct resolver_lookup *resolver_start(struct resolver *r, const char *host, uint16_t port,
                                       resolver_done_fn *done, void *ctx);

/* `done` will not be called for `l`; its memory is released once glibc is done with it. */
void resolver_cancel(struct resolver_lookup *l);

/* Lookups started and not yet finished (cancelled ones included). */
size_t resolver_pending(const struct resolver *r);

#endif /* LLMPROXY_RESOLVER_H */

/*
 * The SPOP listener: accepts HAProxy's connections and drives one spop_conn per socket
 * on the agent's libev loop. Each NOTIFY goes through dispatch_notify(); an answer that
 * must wait (retry backoff) is held on a timer while the loop keeps serving everything
 * else, and dropped if its connection goes away first.
 */
#ifndef LLMPROXY_SPOP_SERVER_H
#define LLMPROXY_SPOP_SERVER_H

#include <ev.h>

#include "acceptor-t.h"
#include "dispatch.h"
#include "spop_conn-t.h"

struct decider;
struct conf_listen;
struct unix_owner;

/* Most answers held for backoff at once; beyond it a retry is answered at once. */
#define SPOP_MAX_HELD 65536

/*
 * Connections served at once: this, or half the process's descriptor limit if lower, so
 * that SPOP peers can never take the descriptors the log feed and admin endpoint need. At
 * the limit a connection that has not completed HELLO is evicted for the newcomer; one
 * that has (HAProxy's) never is.
 */
#define SPOP_MAX_CONNS 4096
/* HAProxy sends HELLO as soon as it connects and waits 500 ms for ours (the rendered
 * `timeout hello`): a connection silent this long is not HAProxy. */
#define SPOP_HELLO_TIMEOUT_S 5.0
/* HAProxy closes an idle connection itself after 30 s (`timeout idle`, 2.6) or 60 s
 * (`timeout server`, 3.x): the agent's deadline is well above both, so it only ever
 * closes what is not HAProxy, or a peer that vanished without a FIN. */
#define SPOP_IDLE_TIMEOUT_S 120.0
/* A closing connection whose peer does not read its last frame is dropped after this. */
#define SPOP_LINGER_S 2.0

struct spop_server_stats {
    uint64_t accepted;
    uint64_t open;
    uint64_t held;          /* answers currently waiting for their backoff */
    uint64_t held_dropped;  /* held answers whose connection closed first: never sent */
    uint64_t held_overflow; /* answers sent at once, without their backoff: SPOP_MAX_HELD */
    uint64_t held_released; /* sent before their backoff ended: the last attempt was a 429 */
    uint64_t expired_hello; /* closed: no HELLO within SPOP_HELLO_TIMEOUT_S */
    uint64_t expired_idle;  /* closed: no frame within SPOP_IDLE_TIMEOUT_S */
    struct acceptor_stats admission; /* refused and evicted connections */
    struct spop_stats conns;         /* closed connections plus the open ones, summed on request */
    struct dispatch_stats dispatch;
};

struct spop_server;

/* Bind and listen on `listen` (a unix socket with `owner`'s ids and mode, unix_socket.h);
 * NULL (with errno set, and a message logged) on failure. */
struct spop_server *spop_server_start(struct ev_loop *loop, const struct conf_listen *listen,
                                      const struct unix_owner *owner, struct decider *decider);

/* Tell every connection goodbye (AGENT-DISCONNECT) and stop accepting. */
void spop_server_shutdown(struct spop_server *srv);
void spop_server_free(struct spop_server *srv);

void spop_server_stats(const struct spop_server *srv, struct spop_server_stats *out);

/* Send now the answers held for a retry's backoff of request `id`: its previous attempt
 * turned out to be an upstream's 429, which another member may serve at once. The log line
 * that says so can come after the retry's attempt message was answered with a backoff. */
void spop_server_release(struct spop_server *srv, const char *id, size_t len);

/* Told how long one NOTIFY took to decide, in nanoseconds. */
typedef void spop_decided_fn(void *ctx, uint64_t elapsed_ns);

/* Call `fn` after every decision from now on (NULL: stop measuring). */
void spop_server_on_decided(struct spop_server *srv, spop_decided_fn *fn, void *ctx);

#endif /* LLMPROXY_SPOP_SERVER_H */

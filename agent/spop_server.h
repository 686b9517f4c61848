/*
 * The SPOP listener: accepts HAProxy's connections and drives one spop_conn per socket
 * on the agent's libev loop. Each NOTIFY goes through dispatch_notify(); an answer that
 * must wait (retry backoff) is held on a timer while the loop keeps serving everything
 * else, and dropped if its connection goes away first.
 */
#ifndef LLMPROXY_SPOP_SERVER_H
#define LLMPROXY_SPOP_SERVER_H

#include <ev.h>

#include "dispatch.h"
#include "spop_conn-t.h"

struct decider;
struct metrics;
struct conf_listen;

/* Most answers held for backoff at once; beyond it a retry is answered at once. */
#define SPOP_MAX_HELD 65536

struct spop_server_stats {
    uint64_t accepted;
    uint64_t open;
    uint64_t held;         /* answers currently waiting for their backoff */
    uint64_t held_total;   /* answers ever held */
    uint64_t held_dropped; /* held answers whose connection closed first */
    uint64_t held_overflow;
    struct spop_stats conns; /* closed connections plus the open ones, summed on request */
    struct dispatch_stats dispatch;
};

struct spop_server;

/* Bind and listen on `listen`; NULL (with errno set, and a message logged) on failure. */
struct spop_server *spop_server_start(struct ev_loop *loop, const struct conf_listen *listen,
                                      struct decider *decider);

/* Tell every connection goodbye (AGENT-DISCONNECT) and stop accepting. */
void spop_server_shutdown(struct spop_server *srv);
void spop_server_free(struct spop_server *srv);

void spop_server_stats(const struct spop_server *srv, struct spop_server_stats *out);

/* Record how long each NOTIFY takes to decide into `m` (NULL: stop measuring). */
void spop_server_set_metrics(struct spop_server *srv, struct metrics *m);

#endif /* LLMPROXY_SPOP_SERVER_H */

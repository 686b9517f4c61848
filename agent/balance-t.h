/*
 * Upstream selection of one group (types only; functions are in balance.h).
 */
#ifndef LLMPROXY_BALANCE_T_H
#define LLMPROXY_BALANCE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-t.h"

/* Most members a group's balancer accepts, which bounds its allocation. */
#define BALANCER_MAX_MEMBERS 1024

/* Weights a member may carry, as the configuration allows. */
#define BALANCER_WEIGHT_MIN 1u
#define BALANCER_WEIGHT_MAX 65535u

/*
 * Floor of the response time in response_aware's score: with sub-millisecond upstreams
 * an EMA of 0 would zero every score and hide the in-flight term.
 */
#define BALANCER_EMA_FLOOR_MS 1.0

/* Floor of the success rate in the score, so dividing by it stays finite. */
#define BALANCER_SUCCESS_RATE_MIN 0.01

/*
 * response_aware keeps measuring members it does not prefer: once every this many picks of
 * the group, a member that has none of the last this many picks (and no request in flight,
 * whose answer would measure it anyway) gets one. A member that was slow once and is fast
 * now is thus found again, and probes take at most 1 pick in this many.
 */
#define BALANCER_PROBE_EVERY 10

/* least_load: when an engine counts as saturated, taken only when every available one is. */
struct least_load_limits {
    double waiting;  /* requests queued at or above this */
    double kv_usage; /* KV-cache share at or above this */
};

/* What the caller knows about one member at pick time, in the group's member order. */
struct bal_candidate {
    bool available;     /* breaker lets it through and HAProxy says the server is up */
    /* Not available for now, for a reason that ends by itself: cooling down after its own
     * 429, or its rate-limit budget spent while another member has some. Affinity sends a
     * session's request elsewhere meanwhile but keeps the session on it. */
    bool paused;
    bool measured;      /* ema_ms holds at least one sample */
    double ema_ms;      /* response-time EMA */
    uint32_t in_flight; /* HAProxy's srv_conn + srv_queue, plus picks not yet connected */
    /* At its max_in_flight: a new request would wait in HAProxy's queue. The strategies
     * that look at load send it to an available member with room while there is one. */
    bool full;
    double success_rate; /* over the breaker window, 0.01 .. 1.0 */
    /* least_load: the member's engine as its metrics page said at the latest scrape, when
     * that is recent (`scraped`), and in_flight as it was then. */
    bool scraped;
    double waiting, running, kv_usage;
    uint32_t in_flight_at;
};

struct balancer {
    enum balance_strategy strategy;
    size_t n;
    uint32_t *weights;   /* n entries, BALANCER_WEIGHT_MIN .. BALANCER_WEIGHT_MAX */
    int64_t *current;    /* n entries: smooth weighted round robin's running weights */
    size_t cursor;       /* roundrobin, response_aware: the scan starts after the last pick */
    uint64_t picks;      /* response_aware: picks so far */
    uint64_t *picked_at; /* response_aware, n entries: `picks` when each was last chosen */
    uint64_t probed_at;  /* response_aware: `picks` at the latest probe, 0 before any */
    uint64_t rng;        /* random's generator state (splitmix64), seeded at init */
    struct least_load_limits saturated; /* least_load: when an engine counts as saturated */
};

#endif /* LLMPROXY_BALANCE_T_H */

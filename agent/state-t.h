/*
 * The agent's decision state (types only; functions are in state.h).
 *
 * Built from a struct config. The single event loop owns it, so nothing here is locked.
 * On reload a new state is built and the runtime part of every unchanged upstream (breaker,
 * response-time EMA, counters) and of every client still configured (bucket, counters)
 * moves over from the old one.
 */
#ifndef LLMPROXY_STATE_T_H
#define LLMPROXY_STATE_T_H

#include <stdbool.h>
#include <stdint.h>

#include "affinity-t.h"
#include "balance-t.h"
#include "breaker-t.h"
#include "config-t.h"
#include "engine_load-t.h"
#include "ratelimit-t.h"
#include "throttle-t.h"

/*
 * HAProxy's srv_conn counts a request once its stream is attached to the server; the few
 * picks made just before are not in it yet. Each upstream remembers the times of its
 * latest picks and counts those younger than PICK_SETTLE_MS as in flight too.
 */
#define PICK_RING_SLOTS 16
#define PICK_SETTLE_MS  5

struct agent_state;
struct attempt_memo;
struct engine_probe;
struct upstream_rt;

/* Told of every breaker change after it happened (e.g. to mirror it into HAProxy). */
typedef void upstream_transition_fn(void *ctx, const struct upstream_rt *up,
                                    enum breaker_state from, enum breaker_state to);

struct upstream_rt {
    const struct conf_upstream *conf; /* in state.cfg */
    const struct agent_state *owner;  /* the state this upstream belongs to */
    struct breaker breaker;
    double ema_ms;              /* response time, exponential moving average */
    bool measured;              /* ema_ms holds at least one sample */
    bool ema_stale;             /* probed after being left out: the next sample replaces ema_ms */
    uint32_t haproxy_in_flight; /* srv_conn + srv_queue as of the latest pick of its group */
    uint32_t haproxy_queued;    /* srv_queue alone, as of that pick */
    uint64_t recent_picks[PICK_RING_SLOTS];
    unsigned recent_next;
    uint64_t picks;           /* times chosen by pick */
    struct throttle throttle; /* its own 429s and rate-limit budget */
    /*
     * A first attempt made in its pinned backend failed, and HAProxy retried the request
     * elsewhere: the log cannot say how it failed. Its requests take the group layer, where
     * every attempt is judged, until one there succeeds.
     */
    bool retried_first;
};

/*
 * What a least_load group knows of one member's engine, from its metrics page. The
 * scrapes themselves are I/O, done by engine_fleet.c, which records each one here.
 */
struct engine_seen {
    struct upstream_rt *up;  /* the member */
    struct engine_load load; /* as the latest good scrape read it */
    uint64_t at_ms;          /* when that scrape ended; 0: none yet */
    uint32_t in_flight_at;   /* the member's requests in flight then */
    bool failing;            /* the latest scrape failed */
    uint64_t scrapes_ok, scrapes_failed;
    struct engine_probe *probe; /* engine_fleet.c's, while it scrapes this member */
};

struct group_rt {
    const struct conf_group *conf;
    struct balancer balancer;
    struct upstream_rt **members;    /* conf->n_members entries, in listed order */
    struct affinity_group *affinity; /* BAL_AFFINITY: its part of agent_state.affinity */
    /* least_load with an `engine` block: conf->n_members entries; else NULL. */
    struct engine_seen *engines;
};

struct forward_rt {
    const struct conf_forward *conf;
    struct group_rt *group;
    /* The groups its requests may go to: `group` first, then its routing rules' targets,
     * each once. A `pick_<group>` and a request line must name one of them. */
    struct group_rt **targets;
    size_t n_targets;
    uint32_t key; /* rate-limit table key part: stable across reloads for the same name */
    uint64_t limited;
    uint64_t unavailable;
    uint64_t throttled; /* refused with 429: every member of the group was cooling down */
};

/*
 * A configured client (config.clients), as HAProxy names it in `pick` once its key matched.
 * Its own rate limit, when configured, is one bucket for the client wherever it connects
 * from: a bucket per configured client, so no table and no eviction.
 */
struct client_rt {
    const struct conf_client *conf;
    struct token_bucket bucket; /* used only with conf->ratelimit_enabled */
    uint64_t picks;             /* requests of this client the agent decided on */
    uint64_t limited;           /* ... answered 429, by whichever limit applied */
};

struct agent_state {
    struct config *cfg; /* owned */
    struct forward_rt *forwards;
    struct client_rt *clients; /* cfg->n_clients, in configured order */
    /* The same, sorted by name: every pick and request line of a client looks it up, and a
     * configuration may hold many thousands. */
    struct client_rt **clients_by_name;
    struct group_rt *groups;
    struct upstream_rt *upstreams;
    uint32_t next_forward_key;
    /* NULL, or called on every breaker change; state_create() carries it over from `old`
     * once the new state is built. */
    upstream_transition_fn *on_transition;
    void *transition_ctx;
    /* Borrowed, or NULL: the last attempt of recent requests, which judges their lines
     * (attempt_memo.h). The agent keeps one for its life, so a reload forgets nothing. */
    struct attempt_memo *attempts;
    /* The sessions of the affinity groups, NULL without any. A reload copies them when the
     * affinity groups are unchanged, else starts empty; it keeps `affinity_key` either way,
     * so a session's rendezvous order stays the same. */
    struct affinity *affinity;
    struct siphash_key affinity_key;
};

#endif /* LLMPROXY_STATE_T_H */

/*
 * How the configuration is laid out in HAProxy (types only; functions are in
 * render_topology.h).
 */
#ifndef LLMPROXY_RENDER_TOPOLOGY_T_H
#define LLMPROXY_RENDER_TOPOLOGY_T_H

#include <stdbool.h>
#include <stdint.h>

/* One group's path through HAProxy (docs/rendering.md, "topology"). */
struct group_topology {
    /*
     * The group has a pinned backend per member, where the frontend sends a request the
     * agent chose a member for; its other requests keep the two layers. With retries, only
     * when the members' rewrites overwrite one another: the pinned backend then retries
     * into the other members' listeners, and the agent sends a request through the group
     * layer when its member needs every attempt judged (SPOP_VAR_LAYERED). Never with a
     * queue: see `queued`.
     */
    bool pinned;
    /*
     * Some member has max_in_flight: the group backend holds what exceeds it in HAProxy's
     * queue. The queue lives there and the connection to the upstream in the listener, so
     * each has its own 503: in one proxy HAProxy 2.6 sends a queue timeout and a refused
     * connection with the same errorfile, and no rule can tell them apart before the
     * response is built (docs/rendering.md, "Queues").
     */
    bool queued;
    /* The group backend retries and redispatches, and its listeners ask `attempt`. */
    bool retries;
    uint32_t retry_count;        /* the group backend's `retries`: 0 without retries */
    uint32_t longest_backoff_ms; /* the longest hold the agent puts on one of its retries */
};

/* What the whole configuration needs of HAProxy. */
struct render_topology {
    bool retries;                /* some group retries: spoe-attempt.conf is rendered */
    uint32_t bufsize;            /* global tune.bufsize, 0 for HAProxy's default */
    uint32_t attempt_timeout_ms; /* the `attempt` engine's processing timeout */
};

#endif /* LLMPROXY_RENDER_TOPOLOGY_T_H */

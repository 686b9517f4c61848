/*
 * Types of the link to Redis as the decisions see it (functions are in cluster_link.h).
 */
#ifndef LLMPROXY_CLUSTER_LINK_T_H
#define LLMPROXY_CLUSTER_LINK_T_H

#include <stdbool.h>
#include <stdint.h>

/* Reconnection waits 100 ms after the first failure, doubling up to 5 s. */
#define CLUSTER_BACKOFF_FIRST_MS 100u
#define CLUSTER_BACKOFF_MAX_MS   5000u

enum cluster_link_state {
    CLUSTER_STARTING = 0, /* never connected yet: decisions are local */
    CLUSTER_SHARED,       /* connected and answering in time: buckets are shared */
    CLUSTER_LOCAL,        /* Redis down, slow or refusing: decisions are local */
};

struct cluster_link {
    enum cluster_link_state state;
    uint32_t failures;    /* consecutive, since the last time Redis answered */
    uint64_t retry_at_ms; /* when to connect again */
    uint64_t since_ms;    /* when the state was entered */
    uint64_t fallbacks;   /* shared -> local */
    uint64_t recoveries;  /* local -> shared */
    uint64_t errors;      /* failures of any kind (connect, error reply, bad reply) */
    uint64_t timeouts;    /* ... of which a batch unanswered within timeout_ms */
};

#endif /* LLMPROXY_CLUSTER_LINK_T_H */

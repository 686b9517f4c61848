/*
 * Inputs and outputs of the agent's per-request decisions (types only; see decide.h).
 */
#ifndef LLMPROXY_DECIDE_T_H
#define LLMPROXY_DECIDE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "balance-t.h"
#include "ratelimit-t.h"

/* HAProxy's live view of one group member, sent with each pick. */
struct member_live {
    uint32_t conn;  /* srv_conn */
    uint32_t queue; /* srv_queue */
    bool up;        /* srv_is_up */
};

/* A `pick` NOTIFY, decoded. Names point into the frame and live as long as it does. */
struct pick_request {
    const char *forward;
    size_t forward_len;
    /* `pick_<group>`: the group the forward's routing chose, NULL for plain `pick` (the
     * forward's own group). */
    const char *group;
    size_t group_len;
    /* The session key of an affinity group (SPOP_ARG_AFFINITY_KEY), when one arrived. */
    bool has_key;
    uint64_t key;
    bool has_addr;
    struct rl_addr addr;
    /* The configured client HAProxy matched the request's key to (SPOP_ARG_CLIENT); NULL
     * when none was sent: a forward without client_auth. */
    const char *client;
    size_t client_len;
    /* Members 0 .. n_live-1 as HAProxy sent them; any later member counts as 0, 0, up.
     * Only what arrives is written, so a pick costs nothing per unused slot. */
    size_t n_live;
    struct member_live live[BALANCER_MAX_MEMBERS];
};

enum pick_verdict {
    PICK_PASS = 0,    /* go on; `upstream` says where, NULL lets HAProxy balance */
    PICK_LIMITED,     /* 429: the client is over its rate limit */
    PICK_UNAVAILABLE, /* 503: no upstream of the group is available */
    PICK_THROTTLED,   /* 429: every member of the group is cooling down after its own 429 */
};

struct pick_result {
    enum pick_verdict verdict;
    const char *upstream;   /* PICK_PASS: the chosen upstream's name, or NULL */
    uint32_t retry_after_s; /* PICK_LIMITED / PICK_UNAVAILABLE / PICK_THROTTLED */
    bool layered;           /* PICK_PASS, group with retries: through the group layer */
};

/* An `attempt` NOTIFY, decoded: one try of a request on one upstream. */
struct attempt_request {
    const char *id;
    size_t id_len;
    const char *upstream;
    size_t upstream_len;
    const char *group;
    size_t group_len;
    uint32_t prior; /* tries made before any listener asked (the pinned first attempt) */
};

enum attempt_verdict {
    ATTEMPT_GO = 0, /* send it (after delay_ms) */
    ATTEMPT_FAIL,   /* the upstream's breaker is open: fail fast, the group retries */
};

struct attempt_result {
    enum attempt_verdict verdict;
    uint32_t attempt;  /* 1 for the first try of this id */
    uint32_t delay_ms; /* backoff to wait before answering */
};

/* Counters of decisions, exported as metrics. */
struct decide_stats {
    uint64_t picks;
    uint64_t picks_pass;
    uint64_t picks_limited;
    uint64_t picks_unavailable;
    uint64_t picks_throttled;
    uint64_t picks_unknown_forward; /* answered fail-open: HAProxy balances */
    uint64_t picks_unknown_group;   /* a `pick_<group>` the forward cannot route to: likewise */
    uint64_t attempts;
    uint64_t attempts_retried;
    uint64_t attempts_failed_fast;
    uint64_t attempts_unknown_upstream;
};

#endif /* LLMPROXY_DECIDE_T_H */

/*
 * The agent's per-request decisions, as pure functions of the decision state, the
 * request and the clock.
 *
 * pick: rate limit of the client when it has its own, else of the (forward, client
 * address), then the group's strategy over the members that are available (breaker closed
 * or probing, HAProxy says up).
 * attempt: retry bookkeeping of a request id, backoff before each retry, and a fast fail
 * when the upstream's breaker is open.
 */
#ifndef LLMPROXY_DECIDE_H
#define LLMPROXY_DECIDE_H

#include "decide-t.h"
#include "state-t.h"

struct ratelimit;
struct retry_table;

struct decider {
    struct agent_state *state;
    struct ratelimit *ratelimit;
    /* agent.cluster: the buckets shared through Redis, used instead of the local ones;
     * NULL without agent.cluster.redis. Named with cluster_prefix (cluster_key.h). */
    struct cluster_table *cluster;
    const char *cluster_prefix;
    struct retry_table *attempts;
    struct decide_stats stats;
};

/* Empty `req` before decoding: no forward, no address, no client, every member 0, 0, up. */
void pick_request_init(struct pick_request *req);

/* Member i of `req` for writing (i < BALANCER_MAX_MEMBERS), defaults filled up to it. */
struct member_live *pick_request_member(struct pick_request *req, size_t i);

void decide_pick(struct decider *d, const struct pick_request *req, uint64_t now_ms,
                 struct pick_result *out);

void decide_attempt(struct decider *d, const struct attempt_request *req, uint64_t now_ms,
                    struct attempt_result *out);

const char *pick_verdict_name(enum pick_verdict v);
const char *attempt_verdict_name(enum attempt_verdict v);

#endif /* LLMPROXY_DECIDE_H */

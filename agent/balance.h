/*
 * Upstream selection of one group.
 *
 * The balancer keeps only what the strategy itself needs between picks (cursor, smooth
 * weights, random generator); everything about the members' health and load is handed in
 * with each pick, so a pick is a pure function of that input and the balancer's state.
 *
 *   roundrobin            next available member after the previous pick, in listed order
 *   weighted_roundrobin   smooth weighted round robin (nginx): weights 5,1,1 give
 *                         a a b a c a a; over a full cycle the counts equal the weights
 *   random                uniform among available members, weights ignored
 *   response_aware        lowest ema_ms * (in_flight + 1) / success_rate; members never
 *                         measured first; the scan start rotates so ties spread; every
 *                         BALANCER_PROBE_EVERY picks, a member left out that long is
 *                         probed (balancer_probed() says so), so a slow member is measured again
 *   failover              first available member in listed order
 *   affinity              a request with a session key is affinity.h's; one without goes
 *                         to the available member with the fewest in flight, ties in turn
 *   least_load            the inference engine that will start a request soonest, by its
 *                         metrics page (below)
 *
 * least_load compares members on, in order: requests waiting in the engine, KV-cache use in
 * tenths, requests running; ties go round robin. An engine's queue is what delays a new
 * request's first token, its KV-cache use how close it is to queueing, its running batch
 * what slows each token a little. Between two scrapes (a few hundred ms) the page is stale:
 * every request HAProxy has in flight on a member beyond what it had when the scrape ended
 * counts as waiting, so a burst spreads instead of piling onto the member that looked
 * idlest. A member without a recent scrape is judged by HAProxy's count alone, each request
 * in flight counted as waiting. Saturated members (waiting or KV-cache use at or above the
 * limits, balancer_set_saturation()) are left out while any available member is not.
 */
#ifndef LLMPROXY_BALANCE_H
#define LLMPROXY_BALANCE_H

#include "balance-t.h"

/*
 * Prepare a balancer for `n` members (1 .. BALANCER_MAX_MEMBERS). `weights` may be NULL
 * (every weight 1); otherwise each must lie in BALANCER_WEIGHT_MIN .. BALANCER_WEIGHT_MAX.
 * `seed` seeds the random generator, so tests are deterministic. Returns 0, or -1 when the
 * input is refused or memory is short (the balancer is then empty and safe to free).
 */
int balancer_init(struct balancer *b, enum balance_strategy strategy, size_t n,
                  const uint32_t *weights, uint64_t seed);

/* Whether the latest pick was a probe (response_aware): its answer should restart the
 * member's average rather than move it. */
static inline bool balancer_probed(const struct balancer *b)
{
    return b->probed_at != 0 && b->probed_at == b->picks;
}

void balancer_free(struct balancer *b);

/* least_load: when an engine counts as saturated (defaults: 5 waiting, KV-cache 0.8). */
static inline void balancer_set_saturation(struct balancer *b, double waiting, double kv_usage)
{
    b->saturated = (struct least_load_limits){.waiting = waiting, .kv_usage = kv_usage};
}

/* least_load: the requests waiting that member `c` is judged by (for /status and tests). */
double balancer_engine_waiting(const struct bal_candidate *c);

/*
 * Choose a member. `c` describes the `n` members in the order given at init; `n` must be
 * the balancer's member count. Returns the chosen index, or -1 when no member is available
 * (or `n` does not match).
 */
int balancer_pick(struct balancer *b, const struct bal_candidate *c, size_t n);

/* response_aware's score of one candidate; lower is better. Exposed for metrics. */
double balancer_score(const struct bal_candidate *c);

#endif /* LLMPROXY_BALANCE_H */

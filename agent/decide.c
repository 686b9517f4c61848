#include <string.h>

#include "affinity.h"
#include "attempt_memo.h"
#include "balance.h"
#include "breaker.h"
#include "cluster_key.h"
#include "cluster_table.h"
#include "contract/spop_names.h"
#include "decide.h"
#include "ratelimit.h"
#include "retry.h"
#include "state.h"
#include "throttle.h"

static const struct member_live member_default = {.conn = 0, .queue = 0, .up = true};

void pick_request_init(struct pick_request *req)
{
    req->forward = NULL;
    req->forward_len = 0;
    req->group = NULL;
    req->group_len = 0;
    req->has_key = false;
    req->key = 0;
    req->has_addr = false;
    req->client = NULL;
    req->client_len = 0;
    req->n_live = 0;
}

struct member_live *pick_request_member(struct pick_request *req, size_t i)
{
    while (req->n_live <= i)
        req->live[req->n_live++] = member_default;
    return &req->live[i];
}

/* Nothing is available: tell the client when to come back, and count the refusal against
 * every member whose breaker is the reason. */
static uint32_t refuse_group(struct group_rt *grp, const bool *breaker_ok, uint64_t now_ms)
{
    uint32_t soonest = 0;

    for (size_t m = 0; m < grp->conf->n_members; m++) {
        struct upstream_rt *up = grp->members[m];
        uint32_t ra = breaker_retry_after_s(&up->breaker, now_ms);

        if (!breaker_ok[m])
            breaker_on_reject(&up->breaker);
        if (soonest == 0 || ra < soonest)
            soonest = ra;
    }
    return soonest ? soonest : 1;
}

/*
 * Every member is cooling down after its own 429 (none is out for another reason): the
 * client is told to come back when the first cooldown ends, in whole seconds, at least 1.
 * False when some member is unavailable for another reason: then it is a 503.
 */
static bool all_throttled(const struct group_rt *grp, uint64_t now_ms, uint32_t *retry_after_s)
{
    uint64_t soonest = UINT64_MAX;

    for (size_t m = 0; m < grp->conf->n_members; m++) {
        uint64_t left = throttle_cooldown_left_ms(&grp->members[m]->throttle, now_ms);

        if (left == 0)
            return false;
        if (left < soonest)
            soonest = left;
    }
    soonest = (soonest + 999) / 1000;
    *retry_after_s = soonest < 1 ? 1 : soonest > UINT32_MAX ? UINT32_MAX : (uint32_t)soonest;
    return grp->conf->n_members > 0;
}

/* The rate limit of the forward, on the client's key: its IPv6 network, not its address,
 * since any IPv6 host can pick among at least 2^64 addresses. */
static bool address_may_pass(struct decider *d, const struct forward_rt *fwd,
                             const struct rl_addr *addr, uint64_t now_ms, uint32_t *retry_after_s)
{
    struct rl_addr key = *addr;

    rl_addr_client_key(&key, fwd->conf->ratelimit_ipv6_prefix);
    if (d->cluster) {
        struct cluster_digest shared;

        cluster_key_address(&shared, d->cluster_prefix, fwd->conf->name, &key);
        return cluster_table_take(d->cluster, &shared, now_ms, fwd->conf->ratelimit_per_second,
                                  fwd->conf->ratelimit_burst, retry_after_s);
    }
    return ratelimit_check(d->ratelimit, fwd->key, &key, now_ms, fwd->conf->ratelimit_per_second,
                           fwd->conf->ratelimit_burst, retry_after_s);
}

/*
 * A configured client with its own limit spends its one bucket, on every forward and from
 * every address, instead of the forward's per-address one: a team behind one NAT is not
 * limited as one address, and a team spread over many is not limited per address. Any
 * other request is limited per address, as on a forward without client_auth.
 */
static bool request_may_pass(struct decider *d, const struct forward_rt *fwd,
                             struct client_rt *client, const struct pick_request *req,
                             uint64_t now_ms, uint32_t *retry_after_s)
{
    const struct conf_client *c = client ? client->conf : NULL;

    if (c && c->ratelimit_enabled && d->cluster) {
        struct cluster_digest shared;

        cluster_key_client(&shared, d->cluster_prefix, c->name);
        return cluster_table_take(d->cluster, &shared, now_ms, c->ratelimit_per_second,
                                  c->ratelimit_burst, retry_after_s);
    }
    if (c && c->ratelimit_enabled)
        return token_bucket_take(&client->bucket, now_ms, c->ratelimit_per_second,
                                 c->ratelimit_burst, retry_after_s);
    if (fwd->conf->ratelimit_enabled && req->has_addr)
        return address_may_pass(d, fwd, &req->addr, now_ms, retry_after_s);
    return true;
}

/* The group's strategy, or its sessions' members for an affinity group's keyed request. */
static int choose_member(struct decider *d, struct group_rt *grp, const struct pick_request *req,
                         const struct bal_candidate *cand, uint64_t now_ms)
{
    size_t n = grp->conf->n_members;
    enum affinity_outcome outcome = AFFINITY_NO_KEY;
    int chosen;

    if (!grp->affinity || !req->has_key || !d->state->affinity) {
        chosen = balancer_pick(&grp->balancer, cand, n);
        if (grp->affinity && chosen >= 0)
            grp->affinity->picks[AFFINITY_NO_KEY]++;
        return chosen;
    }
    /* The configuration holds a load_factor above 1 (its default included). */
    return affinity_pick(d->state->affinity, grp->affinity, req->key, cand, n,
                         grp->conf->affinity.load_factor, now_ms, &outcome);
}

/* HAProxy holds a member's requests beyond its max_in_flight in its queue: with as many
 * in flight (queued ones and picks not yet counted included), the next one would wait. */
static bool member_full(const struct conf_member *m, const struct bal_candidate *c)
{
    return m->max_in_flight > 0 && c->in_flight >= m->max_in_flight;
}

/*
 * In a group with retries, the pinned backend's first attempt is logged only as the
 * request's, so when HAProxy retries it the agent learns that it failed, not how. A member
 * that may need telling a 429 from a failure, or whose breaker is deciding, or whose last
 * pinned first attempt failed, has its requests go through the group layer instead, where
 * each attempt has its own log line.
 */
static bool needs_every_attempt_judged(struct upstream_rt *up, uint64_t now_ms)
{
    const struct throttle *t = &up->throttle;

    return up->retried_first || up->conf->throttle_declared ||
           (t->throttled > 0 && now_ms - t->last_429_ms < THROTTLE_RECENT_MS) ||
           breaker_state(&up->breaker, now_ms) != BREAKER_CLOSED;
}

void decide_pick(struct decider *d, const struct pick_request *req, uint64_t now_ms,
                 struct pick_result *out)
{
    struct forward_rt *fwd = state_forward(d->state, req->forward, req->forward_len);
    struct client_rt *client;
    struct bal_candidate cand[BALANCER_MAX_MEMBERS];
    bool breaker_ok[BALANCER_MAX_MEMBERS], low[BALANCER_MAX_MEMBERS];
    struct group_rt *grp;
    int chosen;

    d->stats.picks++;
    *out = (struct pick_result){.verdict = PICK_PASS};
    if (!fwd) {
        /* A forward HAProxy knows and we do not (configs out of step during a reload):
         * fail open rather than refuse traffic. */
        d->stats.picks_unknown_forward++;
        return;
    }

    /* A group the forward does not route to (configs out of step during an apply, a
     * hand-edited SPOE message): fail open as for an unknown forward. */
    grp = req->group ? forward_target(fwd, req->group, req->group_len) : fwd->group;
    if (!grp) {
        d->stats.picks_unknown_group++;
        return;
    }

    /* A name the configuration lacks (configs out of step during an apply) counts as no
     * client: HAProxy checked the key, only the limit is the agent's. */
    client = req->client ? state_client(d->state, req->client, req->client_len) : NULL;
    if (client)
        client->picks++;
    if (!request_may_pass(d, fwd, client, req, now_ms, &out->retry_after_s)) {
        out->verdict = PICK_LIMITED;
        fwd->limited++;
        if (client)
            client->limited++;
        d->stats.picks_limited++;
        return;
    }

    bool any_ok = false, any_roomy = false;
    for (size_t m = 0; m < grp->conf->n_members; m++) {
        struct upstream_rt *up = grp->members[m];
        const struct member_live *live = m < req->n_live ? &req->live[m] : &member_default;
        bool ok;

        up->haproxy_in_flight = live->conn + live->queue;
        up->haproxy_queued = live->queue;
        breaker_ok[m] = breaker_available(&up->breaker, now_ms);
        /* A member cooling down after its 429 is out, as one whose breaker is open. */
        ok = breaker_ok[m] && live->up && !throttle_cooling(&up->throttle, now_ms);
        low[m] = throttle_low(&up->throttle, now_ms);
        cand[m] = upstream_candidate(up, ok, now_ms);
        cand[m].paused = !ok && breaker_ok[m] && live->up;
        any_ok |= ok;
        any_roomy |= ok && !low[m];
        if (grp->engines)
            engine_seen_candidate(&grp->engines[m], &grp->conf->engine, now_ms, &cand[m]);
        cand[m].full = member_full(&grp->conf->members[m], &cand[m]);
    }
    /* A member whose budget is spent is avoided while another has some left, so traffic
     * moves before its 429; when all are low, all are taken as they are. */
    for (size_t m = 0; any_roomy && m < grp->conf->n_members; m++)
        if (low[m] && cand[m].available) {
            cand[m].available = false;
            cand[m].paused = true;
        }

    chosen = choose_member(d, grp, req, cand, now_ms);
    if (chosen < 0 && !any_ok && all_throttled(grp, now_ms, &out->retry_after_s)) {
        out->verdict = PICK_THROTTLED;
        fwd->throttled++;
        d->stats.picks_throttled++;
        return;
    }
    if (chosen < 0) {
        out->verdict = PICK_UNAVAILABLE;
        out->retry_after_s = refuse_group(grp, breaker_ok, now_ms);
        fwd->unavailable++;
        d->stats.picks_unavailable++;
        return;
    }

    struct upstream_rt *up = grp->members[chosen];
    breaker_on_pick(&up->breaker, now_ms);
    upstream_note_pick(up, now_ms);
    /* The average of a member left out so long describes what it was, not what it is. */
    if (balancer_probed(&grp->balancer))
        up->ema_stale = true;
    out->upstream = up->conf->name;
    out->layered = grp->conf->client.retry_enabled && needs_every_attempt_judged(up, now_ms);
    d->stats.picks_pass++;
}

/*
 * The request's previous attempt was throttled (its upstream's 429, as its ATTEMPT line
 * said): the retry goes to another member at once, since waiting helps nothing there. Only
 * known when that line arrived before this attempt; otherwise the backoff applies as usual.
 */
static bool previous_throttled(const struct agent_state *st, const struct attempt_request *req)
{
    struct logline_str id = {req->id, req->id_len};
    struct outcome prev;
    int status;

    return st->attempts && attempt_memo_peek(st->attempts, &id, &status, &prev) &&
           prev.cls == OUTCOME_THROTTLED;
}

void decide_attempt(struct decider *d, const struct attempt_request *req, uint64_t now_ms,
                    struct attempt_result *out)
{
    struct upstream_rt *up = state_upstream(d->state, req->upstream, req->upstream_len);
    struct group_rt *grp = state_group(d->state, req->group, req->group_len);

    d->stats.attempts++;
    *out = (struct attempt_result){.verdict = ATTEMPT_GO, .attempt = 1};
    out->attempt = retry_note_attempt(d->attempts, req->id, req->id_len, now_ms) + req->prior;
    if (out->attempt > 1) {
        d->stats.attempts_retried++;
        if (grp && !previous_throttled(d->state, req))
            out->delay_ms = backoff_delay_ms(grp->conf->client.retry_initial_ms, out->attempt - 1);
    }
    if (!up) {
        d->stats.attempts_unknown_upstream++;
        return;
    }
    /* The first attempt's probe slot, if any, was taken by its pick, so only an open
     * breaker stops it. A retry that lands on a probing upstream takes the slot itself
     * when it is free; one that finds no way through fails fast, without waiting out its
     * backoff, so the group moves on. */
    bool is_open = breaker_state(&up->breaker, now_ms) == BREAKER_OPEN;
    /* A retry that lands on a member cooling down after its 429 would get another one. */
    bool refused =
        !breaker_available(&up->breaker, now_ms) || throttle_cooling(&up->throttle, now_ms);
    if (is_open || (out->attempt > 1 && refused)) {
        breaker_on_reject(&up->breaker);
        out->verdict = ATTEMPT_FAIL;
        out->delay_ms = 0;
        d->stats.attempts_failed_fast++;
        return;
    }
    if (out->attempt > 1)
        breaker_on_pick(&up->breaker, now_ms);
}

const char *pick_verdict_name(enum pick_verdict v)
{
    switch (v) {
    case PICK_PASS:
        return SPOP_VERDICT_PASS;
    case PICK_LIMITED:
        return SPOP_VERDICT_LIMITED;
    case PICK_UNAVAILABLE:
        return SPOP_VERDICT_UNAVAILABLE;
    case PICK_THROTTLED:
        return SPOP_VERDICT_THROTTLED;
    }
    return SPOP_VERDICT_PASS;
}

const char *attempt_verdict_name(enum attempt_verdict v)
{
    return v == ATTEMPT_FAIL ? SPOP_VERDICT_FAIL : SPOP_VERDICT_GO;
}

/*
 * The /metrics page, rendered from read-only sources at scrape time (see metrics_page.h).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "admin-t.h"
#include "affinity.h"
#include "balance.h"
#include "breaker.h"
#include "buf.h"
#include "decide-t.h"
#include "feed_rescue-t.h"
#include "logfeed-t.h"
#include "metrics-t.h"
#include "metrics.h"
#include "metrics_page.h"
#include "mirror-t.h"
#include "promtext.h"
#include "ratelimit-t.h"
#include "cluster_redis-t.h"
#include "cluster_table-t.h"
#include "registry.h"
#include "retry-t.h"
#include "spop_conn.h"
#include "spop_server.h"
#include "state.h"
#include "throttle.h"
#include "tunnel.h"

#define N_BOUNDS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- breakers and upstreams, live from the decision state ------------------------------ */

/* One labelled counter of the breaker of every (group, member) pair. */
struct breaker_sample {
    const char *value; /* of the family's extra label, NULL when it has none */
    size_t offset;     /* of the count in struct breaker_counters */
};

static void render_breaker_family(struct buf *out, struct agent_state *st, const char *name,
                                  const char *help, const char *extra,
                                  const struct breaker_sample *samples, size_t n)
{
    const char *names[4] = {"group", "upstream", "url", extra};
    const struct config *cfg = st->cfg;

    prom_family(out, name, help, "counter");
    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct group_rt *grp = &st->groups[g];
        for (size_t k = 0; k < grp->conf->n_members; k++) {
            const struct upstream_rt *up = grp->members[k];
            const struct breaker_counters *c = breaker_counters(&up->breaker);
            for (size_t i = 0; i < n; i++) {
                const char *values[4] = {grp->conf->name, up->conf->name, up->conf->url.val,
                                         samples[i].value};
                struct prom_labels labels = {names, values, extra ? 4 : 3};
                uint64_t count = *(const uint64_t *)((const char *)c + samples[i].offset);
                prom_sample(out, name, "", &labels, NULL, (double)count);
            }
        }
    }
}

#define BC(field) offsetof(struct breaker_counters, field)

static void render_breakers(struct buf *out, struct agent_state *st)
{
    static const struct breaker_sample changes[] = {
        {"closed", BC(closed)}, {"half_open", BC(half_opened)}, {"open", BC(opened)}};
    static const struct breaker_sample calls[] = {
        {"failure", BC(failure)}, {"rejected", BC(rejected)}, {"success", BC(success)}};
    static const struct breaker_sample opened = {NULL, BC(opened)};
    static const struct breaker_sample closed = {NULL, BC(closed)};
    static const struct breaker_sample half_opened = {NULL, BC(half_opened)};

    /* A breaker belongs to its upstream: an upstream listed in two groups shows the same
     * counts under both group labels. */
    render_breaker_family(out, st, "llmproxy_circuitbreaker_state_changes_total",
                          "Circuit breaker transitions, by the state entered.", "state", changes,
                          N_BOUNDS(changes));
    render_breaker_family(out, st, "llmproxy_circuitbreaker_calls_total",
                          "Attempt outcomes judged by the breaker, and requests it rejected.",
                          "result", calls, N_BOUNDS(calls));
    render_breaker_family(out, st, "llmproxy_circuitbreaker_opened_total",
                          "Circuit breaker transitions to open.", NULL, &opened, 1);
    render_breaker_family(out, st, "llmproxy_circuitbreaker_closed_total",
                          "Circuit breaker transitions to closed.", NULL, &closed, 1);
    render_breaker_family(out, st, "llmproxy_circuitbreaker_half_opened_total",
                          "Circuit breaker transitions to half-open.", NULL, &half_opened, 1);
}

/* A per-upstream gauge; `get` returns false when the upstream has no value yet. */
struct upstream_gauge {
    const char *name;
    const char *help;
    bool (*get)(struct upstream_rt *up, uint64_t now_ms, double *v);
};

static bool get_in_flight(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    *v = upstream_in_flight(up, now_ms);
    return true;
}

static bool get_queued(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = up->haproxy_queued;
    return true;
}

static bool get_ema(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = up->ema_ms / 1000.0;
    return up->measured;
}

static bool get_success_rate(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    *v = breaker_success_rate(&up->breaker, now_ms);
    return true;
}

static bool get_breaker_state(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    switch (breaker_state(&up->breaker, now_ms)) {
    case BREAKER_CLOSED:
        *v = 0;
        break;
    case BREAKER_OPEN:
        *v = 1;
        break;
    case BREAKER_HALF_OPEN:
        *v = 2;
        break;
    }
    return true;
}

static bool get_score(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    struct bal_candidate c = upstream_candidate(up, true, now_ms);

    *v = balancer_score(&c);
    return up->measured;
}

static bool get_cooldown(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    *v = (double)throttle_cooldown_left_ms(&up->throttle, now_ms) / 1000.0;
    return true;
}

static bool get_remaining_requests(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = (double)up->throttle.remaining_requests;
    return up->throttle.has_remaining_requests;
}

static bool get_remaining_tokens(struct upstream_rt *up, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = (double)up->throttle.remaining_tokens;
    return up->throttle.has_remaining_tokens;
}

/* Per upstream counter of a uint64_t member of struct upstream_rt. */
static void render_upstream_counter(struct buf *out, struct agent_state *st, const char *name,
                                    const char *help, size_t offset)
{
    static const char *const names[] = {"upstream"};

    prom_family(out, name, help, "counter");
    for (size_t u = 0; u < st->cfg->n_upstreams; u++) {
        const char *value = st->upstreams[u].conf->name;
        struct prom_labels labels = {names, &value, 1};
        prom_sample(out, name, "", &labels, NULL,
                    (double)*(const uint64_t *)((const char *)&st->upstreams[u] + offset));
    }
}

/* Per forward: requests refused with 429 because every member of the group throttled. */
static void render_forward_throttled(struct buf *out, struct agent_state *st)
{
    static const char *const names[] = {"forward", "group"};
    const char *name = "llmproxy_forward_upstreams_throttled_total";

    prom_family(out, name,
                "Requests answered 429 because every upstream of the group was cooling down "
                "after its own 429.",
                "counter");
    for (size_t f = 0; f < st->cfg->n_forwards; f++) {
        const struct forward_rt *fwd = &st->forwards[f];
        const char *values[2] = {fwd->conf->name, fwd->group->conf->name};
        struct prom_labels labels = {names, values, 2};
        prom_sample(out, name, "", &labels, NULL, (double)fwd->throttled);
    }
}

static void render_upstreams(struct buf *out, struct agent_state *st, uint64_t now_ms)
{
    static const struct upstream_gauge gauges[] = {
        {"llmproxy_upstream_in_flight",
         "Requests on the upstream: HAProxy's srv_conn + srv_queue from the latest pick, plus "
         "picks HAProxy had not counted yet.",
         get_in_flight},
        {"llmproxy_upstream_queued",
         "Requests waiting in HAProxy's queue for the upstream (max_in_flight): srv_queue "
         "from the latest pick.",
         get_queued},
        {"llmproxy_upstream_response_time_ema_seconds",
         "Response-time moving average (factor 0.15) used by response_aware; absent until "
         "the first measurement.",
         get_ema},
        {"llmproxy_upstream_success_rate",
         "Share of successful attempts over the breaker's 10 s window (1 when empty, floor "
         "0.01).",
         get_success_rate},
        {"llmproxy_upstream_breaker_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open.",
         get_breaker_state},
        {"llmproxy_upstream_score",
         "response_aware score, ema_ms * (in_flight + 1) / success_rate: lowest wins; absent "
         "until the first measurement.",
         get_score},
        {"llmproxy_upstream_throttle_cooldown_seconds",
         "Time left before the upstream is picked again after its 429 (0: none).", get_cooldown},
        {"llmproxy_upstream_ratelimit_remaining_requests",
         "Remaining requests the upstream's latest response announced; absent until one did.",
         get_remaining_requests},
        {"llmproxy_upstream_ratelimit_remaining_tokens",
         "Remaining tokens the upstream's latest response announced; absent until one did.",
         get_remaining_tokens},
    };
    static const char *const names[] = {"upstream"};

    for (size_t g = 0; g < N_BOUNDS(gauges); g++) {
        prom_family(out, gauges[g].name, gauges[g].help, "gauge");
        for (size_t u = 0; u < st->cfg->n_upstreams; u++) {
            struct upstream_rt *up = &st->upstreams[u];
            const char *value = up->conf->name;
            struct prom_labels labels = {names, &value, 1};
            double v;
            if (gauges[g].get(up, now_ms, &v))
                prom_sample(out, gauges[g].name, "", &labels, NULL, v);
        }
    }
    render_upstream_counter(out, st, "llmproxy_upstream_picks_total",
                            "Times the agent chose the upstream.",
                            offsetof(struct upstream_rt, picks));
    render_upstream_counter(out, st, "llmproxy_upstream_throttled_total",
                            "429 responses of the upstream itself (not counted as failures).",
                            offsetof(struct upstream_rt, throttle.throttled));
    render_forward_throttled(out, st);
}

/* ---- least_load engines, as their metrics pages said (only groups with an engine) ---- */

struct engine_gauge {
    const char *name, *help;
    /* The value for `e` at `now_ms`; false: no sample (nothing read yet). */
    bool (*get)(const struct engine_seen *e, uint64_t now_ms, double *v);
};

static bool get_engine_waiting(const struct engine_seen *e, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = e->load.waiting;
    return e->at_ms != 0;
}

static bool get_engine_running(const struct engine_seen *e, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = e->load.running;
    return e->at_ms != 0;
}

static bool get_engine_kv(const struct engine_seen *e, uint64_t now_ms, double *v)
{
    (void)now_ms;
    *v = e->load.kv_usage;
    return e->at_ms != 0 && e->load.has_kv;
}

static bool get_engine_age(const struct engine_seen *e, uint64_t now_ms, double *v)
{
    *v = now_ms > e->at_ms ? (double)(now_ms - e->at_ms) / 1000.0 : 0;
    return e->at_ms != 0;
}

static bool any_engines(const struct agent_state *st)
{
    for (size_t g = 0; g < st->cfg->n_groups; g++)
        if (st->groups[g].engines)
            return true;
    return false;
}

static void render_engines(struct buf *out, struct agent_state *st, uint64_t now_ms)
{
    static const struct engine_gauge gauges[] = {
        {"llmproxy_engine_requests_waiting",
         "Requests queued in the engine, as its metrics page said at the latest good scrape.",
         get_engine_waiting},
        {"llmproxy_engine_requests_running",
         "Requests in the engine's batches, as its metrics page said at the latest good "
         "scrape.",
         get_engine_running},
        {"llmproxy_engine_kv_cache_usage",
         "The engine's KV-cache share in use (0 to 1) at the latest good scrape.", get_engine_kv},
        {"llmproxy_engine_scrape_age_seconds",
         "Time since the latest good scrape; least_load trusts one for three intervals and a "
         "timeout.",
         get_engine_age},
    };
    static const char *const names[] = {"group", "upstream", "result"};
    const struct config *cfg = st->cfg;

    if (!any_engines(st))
        return;
    for (size_t i = 0; i < N_BOUNDS(gauges); i++) {
        prom_family(out, gauges[i].name, gauges[i].help, "gauge");
        for (size_t g = 0; g < cfg->n_groups; g++) {
            const struct group_rt *grp = &st->groups[g];
            for (size_t m = 0; grp->engines && m < grp->conf->n_members; m++) {
                const char *values[2] = {grp->conf->name, grp->members[m]->conf->name};
                struct prom_labels labels = {names, values, 2};
                double v;
                if (gauges[i].get(&grp->engines[m], now_ms, &v))
                    prom_sample(out, gauges[i].name, "", &labels, NULL, v);
            }
        }
    }
    prom_family(out, "llmproxy_engine_scrapes_total",
                "Scrapes of the engine's metrics page, by result (ok, failed).", "counter");
    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct group_rt *grp = &st->groups[g];
        for (size_t m = 0; grp->engines && m < grp->conf->n_members; m++) {
            const struct engine_seen *e = &grp->engines[m];
            const char *ok[3] = {grp->conf->name, grp->members[m]->conf->name, "ok"};
            const char *failed[3] = {grp->conf->name, grp->members[m]->conf->name, "failed"};
            struct prom_labels ok_labels = {names, ok, 3}, failed_labels = {names, failed, 3};
            prom_sample(out, "llmproxy_engine_scrapes_total", "", &ok_labels, NULL,
                        (double)e->scrapes_ok);
            prom_sample(out, "llmproxy_engine_scrapes_total", "", &failed_labels, NULL,
                        (double)e->scrapes_failed);
        }
    }
}

/* A family of plain numbers with one label: `n` samples of (label value, number). */
struct labelled {
    const char *value;
    double number;
};

static void render_labelled(struct buf *out, const char *name, const char *help, const char *type,
                            const char *label, const struct labelled *s, size_t n)
{
    const char *names[1] = {label};

    prom_family(out, name, help, type);
    for (size_t i = 0; i < n; i++) {
        struct prom_labels labels = {names, &s[i].value, label ? 1 : 0};
        prom_sample(out, name, "", &labels, NULL, s[i].number);
    }
}

static void render_one(struct buf *out, const char *name, const char *help, const char *type,
                       double v)
{
    struct labelled s = {NULL, v};
    render_labelled(out, name, help, type, NULL, &s, 1);
}

/* `routing`: some forward has routing, whose picks may name a group it lacks. */
static void render_decisions(struct buf *out, const struct decide_stats *d, bool routing)
{
    const struct labelled picks[] = {
        {"limited", (double)d->picks_limited},
        {"pass", (double)d->picks_pass},
        {"throttled", (double)d->picks_throttled},
        {"unavailable", (double)d->picks_unavailable},
        {"unknown_forward", (double)d->picks_unknown_forward},
        {"unknown_group", (double)d->picks_unknown_group},
    };
    const struct labelled attempts[] = {
        {"fail", (double)d->attempts_failed_fast},
        {"go", (double)(d->attempts - d->attempts_failed_fast)},
    };

    render_labelled(out, "llmproxy_agent_pick_decisions_total",
                    "pick decisions, by verdict (unknown_forward and unknown_group are answered "
                    "pass).",
                    "counter", "verdict", picks, N_BOUNDS(picks) - !routing);
    render_labelled(out, "llmproxy_agent_attempt_decisions_total",
                    "attempt decisions, by verdict (fail: the breaker is open, fail fast).",
                    "counter", "verdict", attempts, N_BOUNDS(attempts));
    render_one(out, "llmproxy_agent_attempt_retries_total",
               "attempt decisions that were a retry of an earlier attempt.", "counter",
               (double)d->attempts_retried);
    render_one(out, "llmproxy_agent_attempt_unknown_upstream_total",
               "attempt decisions naming an upstream the configuration lacks (answered go).",
               "counter", (double)d->attempts_unknown_upstream);
}

static void render_retry(struct buf *out, const struct retry_stats *r)
{
    render_one(out, "llmproxy_agent_retry_evictions_total",
               "Requests whose attempt count was forgotten early because the retry table was "
               "full: their next retry is taken for a first attempt, sent without its backoff.",
               "counter", (double)r->evictions);
}

static void render_mirror(struct buf *out, const struct mirror_stats *mi)
{
    const struct labelled results[] = {
        {"applied", (double)mi->confirmed},
        {"failed", (double)mi->failed},
    };

    render_labelled(out, "llmproxy_agent_breaker_mirror_commands_total",
                    "Weight commands mirroring breakers into HAProxy's runtime API: applied, or "
                    "failed (refused by HAProxy, or the socket unreachable) and sent again.",
                    "counter", "result", results, N_BOUNDS(results));
}

/* A listener's refused and evicted connections, as <prefix>_connections_*_total. */
static void render_admission(struct buf *out, const char *prefix, const char *what,
                             const struct acceptor_stats *a)
{
    const struct labelled refused[] = {
        {"fds", (double)a->refused_fds},
        {"limit", (double)a->refused_limit},
    };
    char name[96], help[192];

    snprintf(name, sizeof(name), "%s_connections_refused_total", prefix);
    snprintf(help, sizeof(help),
             "%s connections refused: at the connection limit, or out of descriptors or memory.",
             what);
    render_labelled(out, name, help, "counter", "reason", refused, N_BOUNDS(refused));
    snprintf(name, sizeof(name), "%s_connections_evicted_total", prefix);
    snprintf(help, sizeof(help), "%s connections closed to make room for a new one.", what);
    render_one(out, name, help, "counter", (double)a->evicted);
}

static void render_spop(struct buf *out, const struct spop_server_stats *s)
{
    struct labelled faults[SPOP_FAULT_COUNT];
    const struct labelled bad[] = {
        {"bad_args", (double)s->dispatch.bad_args},
        {"unknown_message", (double)s->dispatch.unknown_messages},
    };
    const struct labelled expired[] = {
        {"hello", (double)s->expired_hello},
        {"idle", (double)s->expired_idle},
    };
    size_t n = 0;

    render_one(out, "llmproxy_spop_connections_total", "SPOP connections accepted from HAProxy.",
               "counter", (double)s->accepted);
    render_one(out, "llmproxy_spop_connections", "SPOP connections open now.", "gauge",
               (double)s->open);
    render_one(out, "llmproxy_spop_notifies_total", "SPOP NOTIFY frames received.", "counter",
               (double)s->conns.notifies);
    for (int f = SPOP_FAULT_NONE + 1; f < SPOP_FAULT_COUNT; f++)
        faults[n++] =
            (struct labelled){spop_fault_name((enum spop_fault)f), (double)s->conns.faults[f]};
    render_labelled(out, "llmproxy_spop_errors_total",
                    "SPOP connections the agent ended because of a protocol fault, by fault.",
                    "counter", "fault", faults, n);
    render_labelled(out, "llmproxy_spop_bad_messages_total",
                    "SPOP messages ignored: unknown, or with a missing or mistyped argument.",
                    "counter", "reason", bad, N_BOUNDS(bad));
    render_one(out, "llmproxy_spop_held_answers", "Answers waiting for their retry backoff now.",
               "gauge", (double)s->held);
    render_one(
        out, "llmproxy_spop_held_answers_overflow_total",
        "Retry answers sent at once, without their backoff: too many were already waiting, or "
        "memory was short.",
        "counter", (double)s->held_overflow);
    render_one(out, "llmproxy_spop_held_answers_released_total",
               "Retry answers sent before their backoff ended: the attempt before was an "
               "upstream's 429, which another member may serve at once.",
               "counter", (double)s->held_released);
    render_one(out, "llmproxy_spop_held_answers_dropped_total",
               "Retry answers never sent: their SPOP connection closed during the backoff.",
               "counter", (double)s->held_dropped);
    render_labelled(out, "llmproxy_spop_connections_expired_total",
                    "SPOP connections closed by a deadline: no HELLO in time, or idle too long.",
                    "counter", "deadline", expired, N_BOUNDS(expired));
    render_admission(out, "llmproxy_spop", "SPOP", &s->admission);
}

static void render_ratelimit(struct buf *out, const struct ratelimit_stats *r)
{
    render_one(out, "llmproxy_ratelimit_clients", "Client token buckets held now.", "gauge",
               (double)r->entries);
    render_one(out, "llmproxy_ratelimit_clients_max", "Bound of the token-bucket table.", "gauge",
               (double)r->capacity);
    render_one(out, "llmproxy_ratelimit_evictions_total",
               "Token buckets evicted because the table was full.", "counter",
               (double)r->evictions);
    render_one(out, "llmproxy_ratelimit_evictions_busy_total",
               "Evicted token buckets that were not full again (a client's debt forgotten).",
               "counter", (double)r->evictions_busy);
}

/* agent.cluster: the shared buckets, and whether Redis is keeping up (docs/metrics.md). */
static void render_cluster(struct buf *out, const struct cluster_table_stats *t,
                           const struct cluster_redis_stats *r)
{
    render_one(out, "llmproxy_cluster_shared",
               "1 while rate-limit buckets are shared through Redis, 0 while decided locally.",
               "gauge", r->link.state == CLUSTER_SHARED ? 1 : 0);
    render_one(out, "llmproxy_cluster_fallbacks_total",
               "Times Redis failed or was late and decisions went local.", "counter",
               (double)r->link.fallbacks);
    render_one(out, "llmproxy_cluster_recoveries_total",
               "Times Redis answered again and buckets were shared again.", "counter",
               (double)r->link.recoveries);
    render_one(out, "llmproxy_cluster_errors_total",
               "Failures of the link to Redis: connect, error or malformed reply, timeout.",
               "counter", (double)r->link.errors);
    render_one(out, "llmproxy_cluster_timeouts_total",
               "Failures that were a batch or a connection not answered within timeout_ms.",
               "counter", (double)r->link.timeouts);
    render_one(out, "llmproxy_cluster_batches_total", "Sync batches Redis answered in time.",
               "counter", (double)r->batches);
    render_one(out, "llmproxy_cluster_batch_rtt_seconds",
               "Round trip of the latest answered sync batch.", "gauge",
               (double)r->last_rtt_us / 1e6);
    render_one(out, "llmproxy_cluster_keys_synced_total", "Bucket updates sent to Redis.",
               "counter", (double)t->keys_synced);
    render_one(
        out, "llmproxy_cluster_keys_deferred_total",
        "Spends kept local for a round: the next batch had max_keys_per_sync buckets already.",
        "counter", (double)t->keys_deferred);
    render_one(out, "llmproxy_cluster_buckets", "Shared token buckets held now.", "gauge",
               (double)t->entries);
}

/* The log feed's counters: records received, and what could not be used. */
static void render_logs(struct buf *out, const struct logfeed_stats *l,
                        const struct acceptor_stats *admission,
                        const struct feed_rescue_stats *rescue)
{
    render_one(out, "llmproxy_log_lines_received_total", "HAProxy log lines received.", "counter",
               (double)l->lines);
    render_one(out, "llmproxy_log_lines_dropped_total",
               "HAProxy log lines lost (over a size bound, or a queue full).", "counter",
               (double)(l->bad_length + l->oversize));
    render_one(out, "llmproxy_log_lines_malformed_total",
               "HAProxy log lines that did not parse, counted and ignored.", "counter",
               (double)l->malformed);
    render_one(out, "llmproxy_log_connections_expired_total",
               "Log-feed connections closed after delivering no well-formed line for 10 minutes.",
               "counter", (double)l->expired);
    render_one(out, "llmproxy_log_feed_nudges_total",
               "Wake-up bytes sent to HAProxy's ring forwarder while its feed was quiet.",
               "counter", (double)l->nudges);
    render_one(out, "llmproxy_log_feed_rescues_total",
               "Stuck HAProxy ring forwarders the agent had HAProxy end, so that they reconnect.",
               "counter", rescue ? (double)rescue->rescued : 0.0);
    render_admission(out, "llmproxy_log", "Log-feed", admission);
}

static void render_admin(struct buf *out, const struct admin_stats *a)
{
    render_one(out, "llmproxy_admin_unauthorized_total",
               "Admin requests answered 401: bearer token missing or wrong.", "counter",
               (double)a->unauthorized);
    render_admission(out, "llmproxy_admin", "Admin endpoint", &a->admission);
}

/* ---- forward-proxy tunnels --------------------------------------------------------------- */

/* One sample of tunnel `i`, labelled by its pair and, when `extra` is set, one label more. */
static void tunnel_sample(struct buf *out, const struct tunnels *ts, size_t i, const char *name,
                          const char *extra, const char *extra_value, uint64_t value)
{
    const char *names[] = {"group", "upstream", extra};
    const char *values[] = {tunnels_group(ts, i), tunnels_upstream(ts, i), extra_value};
    struct prom_labels l = {names, values, extra ? 3 : 2};

    prom_sample(out, name, "", &l, NULL, (double)value);
}

/* The tunnels' families, nothing when there is none. */
static void render_tunnels(struct buf *out, const struct tunnels *ts)
{
    /* The families labelled by the pair only, each one counter of tunnel_stats. */
    static const struct {
        const char *name, *help, *type;
        size_t offset;
    } plain[] = {
        {"llmproxy_tunnel_connections_total", "Connections HAProxy opened to a CONNECT tunnel.",
         "counter", offsetof(struct tunnel_stats, accepted)},
        {"llmproxy_tunnel_established_total",
         "Tunnel connections the forward proxy accepted (2xx to CONNECT).", "counter",
         offsetof(struct tunnel_stats, established)},
        {"llmproxy_tunnel_active", "Tunnel connections open now.", "gauge",
         offsetof(struct tunnel_stats, active)},
    };
    static const char failures[] = "llmproxy_tunnel_failures_total";
    static const char bytes[] = "llmproxy_tunnel_bytes_total";
    size_t n = tunnels_count(ts);

    for (size_t k = 0; k < N_BOUNDS(plain); k++) {
        prom_family(out, plain[k].name, plain[k].help, plain[k].type);
        for (size_t i = 0; i < n; i++) {
            uint64_t v;

            memcpy(&v, (const char *)tunnels_stats(ts, i) + plain[k].offset, sizeof(v));
            tunnel_sample(out, ts, i, plain[k].name, NULL, NULL, v);
        }
    }
    prom_family(out, failures, "Tunnel connections that never reached the upstream, by reason.",
                "counter");
    for (size_t i = 0; i < n; i++)
        for (int f = 0; f < TUNNEL_FAIL_COUNT; f++)
            tunnel_sample(out, ts, i, failures, "reason", tunnel_fail_name((enum tunnel_fail)f),
                          tunnels_stats(ts, i)->failed[f]);
    prom_family(out, bytes,
                "Bytes relayed through a tunnel: up is HAProxy to proxy, down the reverse.",
                "counter");
    for (size_t i = 0; i < n; i++) {
        tunnel_sample(out, ts, i, bytes, "direction", "up", tunnels_stats(ts, i)->bytes_up);
        tunnel_sample(out, ts, i, bytes, "direction", "down", tunnels_stats(ts, i)->bytes_down);
    }
}

/* ---- affinity groups, live from the decision state --------------------------------------- */

static void render_affinity(struct buf *out, const struct agent_state *st)
{
    static const char *const pick_names[] = {"group", "outcome"};
    static const char *const group_name[] = {"group"};
    const char *values[2];

    prom_family(out, "llmproxy_affinity_picks_total",
                "Picks of an affinity group, by what happened to the request's session.",
                "counter");
    for (size_t g = 0; g < st->cfg->n_groups; g++) {
        const struct affinity_group *a = st->groups[g].affinity;

        for (int o = 0; a && o < AFFINITY_N_OUTCOMES; o++) {
            struct prom_labels labels = {pick_names, values, 2};

            values[0] = st->groups[g].conf->name;
            values[1] = affinity_outcome_name((enum affinity_outcome)o);
            prom_sample(out, "llmproxy_affinity_picks_total", "", &labels, NULL,
                        (double)a->picks[o]);
        }
    }
    prom_family(out, "llmproxy_affinity_sessions",
                "Sessions an affinity group holds in the agent's session table.", "gauge");
    for (size_t g = 0; g < st->cfg->n_groups; g++) {
        struct prom_labels labels = {group_name, values, 1};

        if (!st->groups[g].affinity)
            continue;
        values[0] = st->groups[g].conf->name;
        prom_sample(out, "llmproxy_affinity_sessions", "", &labels, NULL,
                    (double)st->groups[g].affinity->held);
    }
    render_one(out, "llmproxy_affinity_evictions_total",
               "Sessions forgotten because the session table was full (AFFINITY_MAX_SESSIONS).",
               "counter", (double)affinity_evictions(st->affinity));
}

/* ---- the page ------------------------------------------------------------------------------ */

bool metrics_page_render(const struct metrics_page_sources *src, uint64_t now_ms, struct buf *out)
{
    const struct metrics *m = src->recorded;
    uint64_t refused = 0;

    for (size_t i = 0; i < MF_COUNT; i++) {
        if (metrics_family_shown(m, (enum metrics_family)i))
            reg_render(&m->fam[i], out);
        refused += m->fam[i].refused;
    }
    if (src->state) {
        render_breakers(out, src->state);
        render_upstreams(out, src->state, now_ms);
        render_engines(out, src->state, now_ms);
    }
    if (src->state && src->state->affinity)
        render_affinity(out, src->state);
    if (src->decide)
        render_decisions(out, src->decide, src->state && state_has_routing(src->state));
    if (src->retry)
        render_retry(out, src->retry);
    if (src->mirror)
        render_mirror(out, src->mirror);
    if (src->spop)
        render_spop(out, src->spop);
    if (src->ratelimit)
        render_ratelimit(out, src->ratelimit);
    if (src->cluster_table && src->cluster)
        render_cluster(out, src->cluster_table, src->cluster);
    if (src->logs)
        render_logs(out, src->logs, &src->log_admission, src->log_rescue);
    if (src->admin)
        render_admin(out, src->admin);
    render_one(out, "llmproxy_log_lines_unmatched_total",
               "Log lines naming a forward, group or upstream the configuration lacks.", "counter",
               (double)m->unmatched);
    render_one(out, "llmproxy_metrics_refused_samples_total",
               "Samples not recorded because a series bound was reached or a value was unfit.",
               "counter", (double)refused);
    if (tunnels_count(src->tunnels))
        render_tunnels(out, src->tunnels);
    return !out->overflow;
}

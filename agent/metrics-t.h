/*
 * The agent's recorded metrics (types only; functions are in metrics.h).
 *
 * Two kinds of numbers reach the /metrics page (metrics_page.h):
 *   - event metrics, recorded here as log lines and decisions arrive, kept in registry
 *     families (registry-t.h) whose series are keyed by label *names*, so a reload that
 *     keeps a forward, group or upstream keeps its counters;
 *   - live numbers (breaker counters and state, EMA, success rate, decision, SPOP, rate
 *     limit and log-feed counters), which the page reads from their owners at scrape time.
 * Every label value is bounded: forward, group and upstream must name an object of the
 * running configuration, methods outside a fixed set become "OTHER", a path is a label
 * only if it is a known API path or one an upstream answered with success (else "other"),
 * at most METRICS_PATHS_PER_FORWARD per forward; statuses are three digits; a client is
 * a configured client's name or one of the METRICS_CLIENT_* values below; a route is
 * "rule" or a fallback reason, a model a model rule's pattern as configured or "other".
 */
#ifndef LLMPROXY_METRICS_T_H
#define LLMPROXY_METRICS_T_H

#include <stddef.h>
#include <stdint.h>

#include "registry-t.h"

struct agent_state;

/* Distinct `path` label values per forward, "other" aside: the known API paths, then
 * those learned from upstream successes; later paths are recorded as "other". */
#define METRICS_PATHS_PER_FORWARD 64
/* The known API paths (metrics.c), labelled from their first request and never learned. */
#define METRICS_API_PATHS     9
#define METRICS_LEARNED_PATHS (METRICS_PATHS_PER_FORWARD - METRICS_API_PATHS)
/* Longest path kept as a label value, in bytes; a longer one is "other". */
#define METRICS_PATH_MAX 160

/* The event families, in the order of the scrape page. */
enum metrics_family {
    MF_UPSTREAM_REQUESTS = 0,
    MF_UPSTREAM_DURATION,
    MF_UPSTREAM_TTFB,
    MF_UPSTREAM_ERRORS,
    MF_UPSTREAM_QUEUE_WAIT, /* members with max_in_flight: HAProxy's queue */
    MF_UPSTREAM_QUEUE_TIMEOUTS,
    MF_HTTP_REQUESTS,
    MF_HTTP_DURATION,
    MF_HTTP_ERRORS,
    MF_RATELIMIT,
    MF_CLIENT_REQUESTS, /* the client families: only with clients configured */
    MF_CLIENT_DURATION,
    MF_CLIENT_ERRORS,
    MF_CLIENT_RATELIMIT,
    MF_ROUTE_REQUESTS, /* the routing families: only with a forward that has routing */
    MF_MODEL_REQUESTS,
    MF_MODEL_DURATION,
    MF_DECISION_DURATION,
    MF_COUNT
};

/* The paths learned as label values on one forward (the first ones upstreams served). */
struct metrics_paths {
    char *path[METRICS_LEARNED_PATHS];
    unsigned n;
};

struct metrics {
    struct agent_state *state; /* names the label values are checked against */
    struct reg_family fam[MF_COUNT];
    struct metrics_paths *paths; /* one per forward of `state`, in its order */
    size_t n_paths;
    uint64_t unmatched; /* log lines naming something the configuration lacks */
};

#endif /* LLMPROXY_METRICS_T_H */

/*
 * The agent's recorded metrics: the series fed by HAProxy's log lines and by decisions,
 * with bounded labels. The /metrics page renders them (metrics_page.h). Metric names,
 * labels and meanings are listed in docs/metrics.md.
 */
#ifndef LLMPROXY_METRICS_H
#define LLMPROXY_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "judge-t.h"
#include "logline-t.h"
#include "metrics-t.h"
#include "outcome-t.h"

/* Histogram bounds of request and upstream durations: 5 ms to 5 minutes. */
extern const double metrics_duration_bounds[];
extern const size_t metrics_n_duration_bounds;

/* A registry with no configuration yet; NULL when memory is short. */
struct metrics *metrics_create(void);
void metrics_free(struct metrics *m);

/*
 * Check label values against `st` from now on (at start and after every reload). Series
 * and path lists of forwards, groups and upstreams that `st` no longer has are dropped;
 * everything else keeps counting. False when memory is short (then the old paths stay).
 */
bool metrics_use_state(struct metrics *m, struct agent_state *st);

/*
 * One log line as judge_line() judged it against the state of metrics_use_state(): a
 * request feeds http_requests, duration, errors and rate limiting; an attempt feeds the
 * upstream requests, duration, time to first byte and, when it failed, errors by class.
 * A line naming what the configuration lacks is only counted as unmatched.
 */
void metrics_record_line(struct metrics *m, const struct judged_line *j);

/*
 * Whether family `f` is on the scrape page: every one but the client families, which only
 * a configuration with clients (state_has_clients()) records and shows, and the routing
 * families, likewise with routing (state_has_routing()), so that one without has the page
 * it always had.
 */
bool metrics_family_shown(const struct metrics *m, enum metrics_family f);

/* One SPOP NOTIFY decided in `elapsed_ns`. `m` may be NULL (not measured). */
void metrics_observe_decision(struct metrics *m, uint64_t elapsed_ns);

/* Label helpers, exposed for tests. */
const char *metrics_method_label(const char *method, size_t len);
void metrics_status_label(int status, char dst[4]);
/* The client label of a request judged `r` (CONF_CLIENT_* or a configured name). */
const char *metrics_client_label(const struct judged_request *r);
/* The route label of a request of a forward with routing: "rule" or the fallback reason. */
const char *metrics_route_label(const struct judged_request *r);
/* The model label: the matched model rule's pattern as configured, else "other". */
const char *metrics_model_label(const struct judged_request *r);
/* The error label of a REQUEST line judged `o`, NULL when the request did not fail. */
const char *metrics_request_error(const struct logline *ll, struct outcome o);

#endif /* LLMPROXY_METRICS_H */

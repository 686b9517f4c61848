/*
 * The agent's Prometheus metrics: recording (log lines, decisions) and the scrape page.
 * Metric names, labels and meanings are listed in docs/metrics.md.
 */
#ifndef LLMPROXY_METRICS_H
#define LLMPROXY_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "buf-t.h"
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

/* A REQUEST log line: http_requests, duration, errors, rate limiting. `cls` is the line
 * judged by outcome_classify(), which says whose fault an error was. */
void metrics_record_request(struct metrics *m, const struct logline *ll, enum outcome_class cls);

/*
 * An ATTEMPT log line: upstream requests, duration, time to first byte, and when
 * `failure`, an upstream error of kind `error_kind` ([a-z0-9_]{1,32}, else "other").
 */
void metrics_record_attempt(struct metrics *m, const struct logline *ll, bool failure,
                            const char *error_kind);

/* One SPOP NOTIFY decided in `elapsed_ns`. `m` may be NULL (not measured). */
void metrics_observe_decision(struct metrics *m, uint64_t elapsed_ns);

/*
 * The whole scrape page into `out` (appended). Live numbers are read from `src` at
 * `now_ms`. False when `out` overflowed its bound.
 */
bool metrics_render(struct metrics *m, const struct metrics_sources *src, uint64_t now_ms,
                    struct buf *out);

/* Label helpers, exposed for tests. */
const char *metrics_method_label(const char *method, size_t len);
void metrics_status_label(int status, char dst[4]);
/* The error label of a REQUEST line judged `cls`, NULL when the request did not fail. */
const char *metrics_request_error(const struct logline *ll, enum outcome_class cls);

#endif /* LLMPROXY_METRICS_H */

/*
 * Circuit breaker of one upstream, with its rolling 10 s outcome window.
 *
 * CLOSED -> OPEN when, after a failure is recorded, the window holds at least
 * BREAKER_MIN_ATTEMPTS attempts and failures / attempts >= threshold. OPEN lasts the
 * cooldown, then the breaker is HALF_OPEN: one probe at a time is let through; its success
 * closes the breaker (window reset), its failure opens it again for a fresh cooldown. A
 * probe that never reports frees its slot after the probe timeout.
 *
 * Everything is driven by the caller's clock (`now_ms`, monotonic milliseconds); the
 * OPEN -> HALF_OPEN step is taken by whichever call first sees the cooldown over, which
 * is why the query functions take a mutable breaker.
 */
#ifndef LLMPROXY_BREAKER_H
#define LLMPROXY_BREAKER_H

#include "breaker-t.h"

/*
 * A fresh CLOSED breaker with an empty window. A disabled breaker never leaves CLOSED but
 * still keeps its window and counters. `threshold` is clamped into the allowed range.
 * `on_transition` may be NULL.
 */
void breaker_init(struct breaker *b, bool enabled, double threshold, uint64_t cooldown_ms,
                  uint64_t probe_timeout_ms, breaker_transition_fn *on_transition, void *ctx);

/*
 * New settings after a reload, keeping the state, window and counters. Disabling an open
 * or half-open breaker closes it (the transition is reported).
 */
void breaker_reconfigure(struct breaker *b, bool enabled, double threshold, uint64_t cooldown_ms,
                         uint64_t probe_timeout_ms);

/* True when a request may go to the upstream: CLOSED, or HALF_OPEN with a free probe slot. */
bool breaker_available(struct breaker *b, uint64_t now_ms);

/* The upstream was picked: in HALF_OPEN this takes the probe slot. */
void breaker_on_pick(struct breaker *b, uint64_t now_ms);

/* A request that would have gone to this upstream was refused because it was unavailable. */
void breaker_on_reject(struct breaker *b);

/*
 * The outcome of one attempt. Always counted and added to the window. In CLOSED a failure
 * may trip the breaker; in OPEN it is a late attempt started before the trip and changes
 * nothing; in HALF_OPEN it is the verdict. Outcomes are not tied to picks, so in HALF_OPEN
 * any outcome decides, the probe's or a late one's: a late failure reopens (cautious), a
 * late success closes (the upstream did answer).
 */
void breaker_record(struct breaker *b, uint64_t now_ms, bool success);

enum breaker_state breaker_state(struct breaker *b, uint64_t now_ms);

/*
 * Whole seconds, rounded up and at least 1, until the breaker lets a request through
 * again: the rest of the cooldown when OPEN, 1 otherwise (a busy probe may report at any
 * moment).
 */
uint32_t breaker_retry_after_s(struct breaker *b, uint64_t now_ms);

/* Successes / attempts over the window: 1.0 when empty, never below the floor. */
double breaker_success_rate(const struct breaker *b, uint64_t now_ms);

/* Attempts and failures currently in the window. */
void breaker_window_counts(const struct breaker *b, uint64_t now_ms, uint64_t *attempts,
                           uint64_t *failures);

const struct breaker_counters *breaker_counters(const struct breaker *b);

/* "closed", "open", "half_open": the metric label values. */
const char *breaker_state_name(enum breaker_state s);

#endif /* LLMPROXY_BREAKER_H */

/*
 * An upstream's throttling, read from its response headers (docs/configuration.md,
 * `throttle`). Pure and clock-injected: `now_ms` is the agent's monotonic clock, `wall_ms`
 * the Unix time in ms, only used to read an HTTP-date Retry-After.
 *
 * A 429 sets a cooldown: retry-after-ms if readable, else Retry-After (delta seconds or an
 * IMF-fixdate), else `retry_after_default`; always at most `retry_after_max`. A date that
 * is not in the future is no answer: the default applies. Every response that carries a
 * readable remaining count updates it; one at or below its floor marks the upstream low
 * until its reset (a duration such as "1s", "6m0s", "20ms", "1.5s", or bare seconds; the
 * default when unreadable), one above the floor clears that mark.
 */
#ifndef LLMPROXY_THROTTLE_H
#define LLMPROXY_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config-t.h"
#include "logline-t.h"
#include "throttle-t.h"

/* How long a 429 marks its upstream as one that rate-limits us (decide.c). */
#define THROTTLE_RECENT_MS (10u * 60u * 1000u)

/* Decimal digits only, no sign, no more than fits a uint64_t. */
bool throttle_parse_count(const char *s, size_t n, uint64_t *out);

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into Unix seconds. */
bool throttle_parse_http_date(const char *s, size_t n, int64_t *unix_s);

/* A duration: one or more <number>[.<fraction>]<unit> (h, m, s, ms), or bare seconds,
 * into ms; false when unreadable or above `max_ms`. */
bool throttle_parse_duration(const char *s, size_t n, uint64_t max_ms, uint64_t *out_ms);

/* Hex as the log line carries it into `out` (at most `size` bytes); its length, or -1. */
int throttle_unhex(const struct logline_str *hex, char *out, size_t size);

/* The cooldown a 429 with these THROTTLE fields asks for, in ms. */
uint64_t throttle_cooldown_ms(const struct conf_throttle *c, const struct logline_str *fields,
                              int64_t wall_ms);

/* A 429 of the upstream at `now_ms`: start (or extend) its cooldown. */
void throttle_on_429(struct throttle *t, const struct conf_throttle *c,
                     const struct logline_str *fields, uint64_t now_ms, int64_t wall_ms);

/* Any response of the upstream: its remaining budget, if it said. */
void throttle_on_response(struct throttle *t, const struct conf_throttle *c,
                          const struct logline_str *fields, uint64_t now_ms);

bool throttle_cooling(const struct throttle *t, uint64_t now_ms);
bool throttle_low(const struct throttle *t, uint64_t now_ms);

/* ms left of the cooldown, 0 when none. */
uint64_t throttle_cooldown_left_ms(const struct throttle *t, uint64_t now_ms);

#endif /* LLMPROXY_THROTTLE_H */

/*
 * Circuit breaker of one upstream: rolling outcome window and state machine.
 *
 * The window is a ring of one-second buckets indexed by (now_ms / 1000) % 10. Each bucket
 * remembers which second it counts, so a bucket left over from an earlier lap of the ring
 * is recognised as stale and neither summed nor added to: no timer has to sweep it.
 */
#include <math.h>
#include <string.h>

#include "breaker.h"

static uint64_t bucket_sec(uint64_t now_ms)
{
    return now_ms / BREAKER_BUCKET_MS;
}

/* A bucket counts for `now_sec` when it is one of the last BREAKER_WINDOW_BUCKETS seconds.
 * Buckets from the future (a clock that went back) wrap to a huge age and are ignored. */
static bool bucket_live(const struct breaker_bucket *bk, uint64_t now_sec)
{
    return now_sec - bk->sec < BREAKER_WINDOW_BUCKETS;
}

static void window_reset(struct breaker *b)
{
    memset(b->window, 0, sizeof(b->window));
}

static void window_add(struct breaker *b, uint64_t now_ms, bool success)
{
    uint64_t sec = bucket_sec(now_ms);
    struct breaker_bucket *bk = &b->window[sec % BREAKER_WINDOW_BUCKETS];
    uint32_t *count;

    if (bk->sec != sec) {
        bk->sec = sec;
        bk->success = 0;
        bk->failure = 0;
    }
    count = success ? &bk->success : &bk->failure;
    if (*count < UINT32_MAX)
        (*count)++;
}

void breaker_window_counts(const struct breaker *b, uint64_t now_ms, uint64_t *attempts,
                           uint64_t *failures)
{
    uint64_t sec = bucket_sec(now_ms);
    uint64_t ok = 0, ko = 0;

    for (size_t i = 0; i < BREAKER_WINDOW_BUCKETS; i++) {
        const struct breaker_bucket *bk = &b->window[i];

        if (!bucket_live(bk, sec))
            continue;
        ok += bk->success;
        ko += bk->failure;
    }
    *attempts = ok + ko;
    *failures = ko;
}

double breaker_success_rate(const struct breaker *b, uint64_t now_ms)
{
    uint64_t attempts, failures;
    double rate;

    breaker_window_counts(b, now_ms, &attempts, &failures);
    if (attempts == 0)
        return 1.0;
    rate = (double)(attempts - failures) / (double)attempts;
    return rate < BREAKER_SUCCESS_RATE_MIN ? BREAKER_SUCCESS_RATE_MIN : rate;
}

/* NaN and out-of-range thresholds would make the breaker trip on anything or never. */
static double clamp_threshold(double threshold)
{
    if (isnan(threshold) || threshold < BREAKER_THRESHOLD_MIN)
        return BREAKER_THRESHOLD_MIN;
    if (threshold > BREAKER_THRESHOLD_MAX)
        return BREAKER_THRESHOLD_MAX;
    return threshold;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* Every state change goes through here so counters and the callback never disagree. */
static void transition(struct breaker *b, uint64_t now_ms, enum breaker_state to)
{
    enum breaker_state from = b->state;

    b->state = to;
    b->probe_busy = false;
    switch (to) {
    case BREAKER_OPEN:
        b->open_until_ms = add_sat(now_ms, b->cooldown_ms);
        b->counters.opened++;
        break;
    case BREAKER_HALF_OPEN:
        b->counters.half_opened++;
        break;
    case BREAKER_CLOSED:
        /* Old failures must not trip the breaker again right after it recovered. */
        window_reset(b);
        b->counters.closed++;
        break;
    }
    if (b->on_transition)
        b->on_transition(b->cb_ctx, from, to);
}

/* The lazy part of the state machine: time alone ends a cooldown and a silent probe. */
static void advance(struct breaker *b, uint64_t now_ms)
{
    if (b->state == BREAKER_OPEN && now_ms >= b->open_until_ms)
        transition(b, now_ms, BREAKER_HALF_OPEN);
    if (b->state == BREAKER_HALF_OPEN && b->probe_busy &&
        now_ms - b->probe_since_ms >= b->probe_timeout_ms)
        b->probe_busy = false;
}

static bool should_trip(const struct breaker *b, uint64_t now_ms)
{
    uint64_t attempts, failures;

    breaker_window_counts(b, now_ms, &attempts, &failures);
    return attempts >= BREAKER_MIN_ATTEMPTS && (double)failures / (double)attempts >= b->threshold;
}

void breaker_init(struct breaker *b, bool enabled, double threshold, uint64_t cooldown_ms,
                  uint64_t probe_timeout_ms, breaker_transition_fn *on_transition, void *ctx)
{
    memset(b, 0, sizeof(*b));
    b->state = BREAKER_CLOSED;
    b->on_transition = on_transition;
    b->cb_ctx = ctx;
    b->enabled = enabled;
    b->threshold = clamp_threshold(threshold);
    b->cooldown_ms = cooldown_ms;
    b->probe_timeout_ms = probe_timeout_ms;
}

void breaker_reconfigure(struct breaker *b, bool enabled, double threshold, uint64_t cooldown_ms,
                         uint64_t probe_timeout_ms)
{
    b->enabled = enabled;
    b->threshold = clamp_threshold(threshold);
    b->cooldown_ms = cooldown_ms;
    b->probe_timeout_ms = probe_timeout_ms;
    if (!enabled && b->state != BREAKER_CLOSED)
        transition(b, 0, BREAKER_CLOSED);
}

bool breaker_available(struct breaker *b, uint64_t now_ms)
{
    advance(b, now_ms);
    switch (b->state) {
    case BREAKER_CLOSED:
        return true;
    case BREAKER_HALF_OPEN:
        return !b->probe_busy;
    case BREAKER_OPEN:
        break;
    }
    return false;
}

void breaker_on_pick(struct breaker *b, uint64_t now_ms)
{
    advance(b, now_ms);
    if (b->state == BREAKER_HALF_OPEN && !b->probe_busy) {
        b->probe_busy = true;
        b->probe_since_ms = now_ms;
    }
}

void breaker_on_reject(struct breaker *b)
{
    b->counters.rejected++;
}

void breaker_record(struct breaker *b, uint64_t now_ms, bool success)
{
    if (success)
        b->counters.success++;
    else
        b->counters.failure++;
    window_add(b, now_ms, success);
    if (!b->enabled)
        return;

    advance(b, now_ms);
    switch (b->state) {
    case BREAKER_CLOSED:
        if (!success && should_trip(b, now_ms))
            transition(b, now_ms, BREAKER_OPEN);
        break;
    case BREAKER_HALF_OPEN:
        transition(b, now_ms, success ? BREAKER_CLOSED : BREAKER_OPEN);
        break;
    case BREAKER_OPEN:
        break;
    }
}

enum breaker_state breaker_state(struct breaker *b, uint64_t now_ms)
{
    advance(b, now_ms);
    return b->state;
}

uint32_t breaker_retry_after_s(struct breaker *b, uint64_t now_ms)
{
    uint64_t left_ms, secs;

    advance(b, now_ms);
    if (b->state != BREAKER_OPEN)
        return 1;
    left_ms = b->open_until_ms - now_ms; /* advance() left us OPEN: now < open_until */
    secs = left_ms / 1000 + (left_ms % 1000 != 0);
    if (secs > UINT32_MAX)
        return UINT32_MAX;
    return secs < 1 ? 1 : (uint32_t)secs;
}

const struct breaker_counters *breaker_counters(const struct breaker *b)
{
    return &b->counters;
}

const char *breaker_state_name(enum breaker_state s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "closed";
    case BREAKER_OPEN:
        return "open";
    case BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

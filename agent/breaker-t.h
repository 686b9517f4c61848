/*
 * Circuit breaker of one upstream (types only; functions are in breaker.h).
 *
 * The breaker owns the upstream's rolling outcome window. The window is kept even when
 * the breaker is disabled, because response_aware's success rate is read from it.
 */
#ifndef LLMPROXY_BREAKER_T_H
#define LLMPROXY_BREAKER_T_H

#include <stdbool.h>
#include <stdint.h>

/* The window is BREAKER_WINDOW_BUCKETS buckets of BREAKER_BUCKET_MS each: 10 s. */
#define BREAKER_WINDOW_BUCKETS 10
#define BREAKER_BUCKET_MS      1000u

/* Fewer attempts than this in the window never trip the breaker: too little evidence. */
#define BREAKER_MIN_ATTEMPTS 5

/* Bounds of the failure-rate threshold, as the configuration allows. */
#define BREAKER_THRESHOLD_MIN 0.01
#define BREAKER_THRESHOLD_MAX 1.0

/* Floor of the success rate, so a score divided by it stays finite. */
#define BREAKER_SUCCESS_RATE_MIN 0.01

enum breaker_state {
    BREAKER_CLOSED = 0, /* traffic flows, outcomes are judged */
    BREAKER_OPEN,       /* no traffic until the cooldown ends */
    BREAKER_HALF_OPEN,  /* one probe at a time decides: closed again, or open again */
};

/*
 * Called on every state change, after the breaker has changed state. It must not call
 * back into the same breaker's mutating functions.
 */
typedef void breaker_transition_fn(void *ctx, enum breaker_state from, enum breaker_state to);

/* Outcomes of one second; `sec` tells which second the counts belong to. */
struct breaker_bucket {
    uint64_t sec; /* now_ms / BREAKER_BUCKET_MS when the counts were started */
    uint32_t success;
    uint32_t failure;
};

/* Lifetime counters, exported as metrics. */
struct breaker_counters {
    uint64_t opened;      /* transitions to OPEN (from CLOSED or HALF_OPEN) */
    uint64_t closed;      /* transitions to CLOSED (probe success, or disabled by a reload) */
    uint64_t half_opened; /* transitions OPEN -> HALF_OPEN */
    uint64_t success;     /* attempt outcomes recorded as success */
    uint64_t failure;     /* attempt outcomes recorded as failure */
    uint64_t rejected;    /* requests refused because the breaker was not available */
};

struct breaker {
    /* settings */
    bool enabled;
    double threshold; /* failure rate in [BREAKER_THRESHOLD_MIN, BREAKER_THRESHOLD_MAX] */
    uint64_t cooldown_ms;
    uint64_t probe_timeout_ms; /* a probe silent for this long frees its slot */
    breaker_transition_fn *on_transition;
    void *cb_ctx;

    /* state machine; OPEN -> HALF_OPEN happens lazily when a caller passes a later now */
    enum breaker_state state;
    uint64_t open_until_ms; /* OPEN: end of the cooldown */
    bool probe_busy;        /* HALF_OPEN: a probe was sent and has not reported */
    uint64_t probe_since_ms;

    struct breaker_bucket window[BREAKER_WINDOW_BUCKETS];
    struct breaker_counters counters;
};

#endif /* LLMPROXY_BREAKER_T_H */

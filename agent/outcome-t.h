/*
 * What a log line means for the decision state (types only; see outcome.h).
 */
#ifndef LLMPROXY_OUTCOME_T_H
#define LLMPROXY_OUTCOME_T_H

#include <stdint.h>

/* How one attempt on an upstream ended, judged from its ATTEMPT line. */
enum outcome_class {
    OUTCOME_SUCCESS = 0,      /* answered, with a status below 500 (4xx included) */
    OUTCOME_NEUTRAL,          /* the upstream was not asked or not waited for: no evidence */
    OUTCOME_CLIENT,           /* the client aborted, timed out or sent a request HAProxy refused */
    OUTCOME_CONNECT,          /* connection refused, reset or timed out (SC, sC) */
    OUTCOME_TIMEOUT,          /* timeout server: before the headers (sH) or in a stream (sD) */
    OUTCOME_EMPTY_RESPONSE,   /* closed before the headers (SH) */
    OUTCOME_INVALID_RESPONSE, /* refused by HAProxy (PH, PD) or cut by the upstream (SD) */
    OUTCOME_STATUS_5XX,       /* the upstream's own 5xx */
    OUTCOME_N_CLASSES,
};

/* What outcome_apply() did with a line. */
enum outcome_result {
    OUTCOME_APPLIED = 0,      /* an attempt recorded in the breaker window */
    OUTCOME_IGNORED,          /* a REQUEST line, or a neutral or client-caused attempt */
    OUTCOME_UNKNOWN_GROUP,    /* dropped: no such group in the running configuration */
    OUTCOME_UNKNOWN_UPSTREAM, /* dropped: no such upstream in that group */
};

struct outcome_stats {
    uint64_t requests; /* REQUEST lines seen (they change no decision state) */
    uint64_t attempts; /* ATTEMPT lines of a known upstream */
    uint64_t by_class[OUTCOME_N_CLASSES];
    uint64_t ema_samples;      /* response times folded into an upstream's EMA */
    uint64_t unknown_group;    /* ATTEMPT lines dropped */
    uint64_t unknown_upstream; /* ATTEMPT lines dropped */
};

#endif /* LLMPROXY_OUTCOME_T_H */

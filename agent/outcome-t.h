/*
 * What a log line means for the decision state (types only; see outcome.h).
 */
#ifndef LLMPROXY_OUTCOME_T_H
#define LLMPROXY_OUTCOME_T_H

#include <stdint.h>

#include "logline-t.h"

struct group_rt;
struct upstream_rt;

/* How one attempt on an upstream ended, judged from its ATTEMPT line. */
enum outcome_class {
    OUTCOME_SUCCESS = 0,      /* answered, with a status below 500 (4xx included) */
    OUTCOME_NEUTRAL,          /* the upstream was not asked or not waited for: no evidence */
    OUTCOME_CLIENT,           /* the client aborted, timed out or sent a request HAProxy refused */
    OUTCOME_QUEUE_TIMEOUT,    /* waited in HAProxy's queue for a member at its max_in_flight
                               * until timeout queue (sQ): busy, not failing */
    OUTCOME_CONNECT,          /* connection refused, reset or timed out (SC, sC) */
    OUTCOME_TIMEOUT,          /* timeout server: before the headers (sH) or in a stream (sD) */
    OUTCOME_EMPTY_RESPONSE,   /* closed before the headers (SH) */
    OUTCOME_INVALID_RESPONSE, /* refused by HAProxy (PH, PD) or cut by the upstream (SD) */
    OUTCOME_STATUS_5XX,       /* the upstream's own 5xx */
    /* The upstream's own 429: it is throttling us, neither failing nor serving. No breaker
     * outcome, no response-time sample; a cooldown (throttle.h). Last, so the classes
     * above keep their numbers. */
    OUTCOME_THROTTLED,
    /* A pinned backend's first attempt that HAProxy retried on another member: it failed
     * in a way HAProxy retries (the connection, no answer, a 5xx, from 3.1 a 429), but the
     * request's line cannot say which. No breaker outcome and no sample: its member takes
     * the group layer, where attempts are judged, until one succeeds there. */
    OUTCOME_FIRST_RETRIED,
    OUTCOME_N_CLASSES,
};

/*
 * Who ended the stream, from the first letter of HAProxy's termination state (%tsc). The
 * only place that letter is read is outcome_classify(); the request metrics name their
 * error kinds from this and the class.
 */
enum outcome_ender {
    OUTCOME_BY_NONE = 0,       /* '-': the stream ended normally */
    OUTCOME_BY_CLIENT,         /* 'C': the client aborted */
    OUTCOME_BY_CLIENT_TIMEOUT, /* 'c': the client timed out */
    OUTCOME_BY_SERVER,         /* 'S': the server aborted or refused */
    OUTCOME_BY_SERVER_TIMEOUT, /* 's': timeout server, or in the queue */
    OUTCOME_BY_PROXY,          /* 'P': HAProxy refused or cut the stream */
    OUTCOME_BY_RULE,           /* 'L': one of the rendered rules answered locally */
    OUTCOME_BY_RESOURCE,       /* 'R': HAProxy ran out of a resource */
    OUTCOME_BY_INTERNAL,       /* 'I': HAProxy's internal error */
    OUTCOME_BY_KILLED,         /* 'D', 'K', 'U' and the rest: killed by HAProxy or an operator */
};

/* What one log line says happened: the class, and who ended the stream. */
struct outcome {
    enum outcome_class cls;
    enum outcome_ender by;
};

/*
 * One try on an upstream as judge_line() made it out: an ATTEMPT line, or the attempt a
 * pinned request stands for, with its names looked up. What outcome_apply() consumes.
 */
struct outcome_attempt {
    struct logline line;          /* a copy: a pinned request's attempt is made up from it */
    struct group_rt *group;       /* NULL: no such group */
    struct upstream_rt *upstream; /* NULL: no such group, or no such member of it */
    struct outcome outcome;
};

/* What outcome_apply() did with an attempt. */
enum outcome_result {
    OUTCOME_APPLIED = 0,      /* an attempt recorded in the breaker window */
    OUTCOME_IGNORED,          /* a neutral or client-caused attempt */
    OUTCOME_UNKNOWN_GROUP,    /* dropped: no such group in the running configuration */
    OUTCOME_UNKNOWN_UPSTREAM, /* dropped: no such upstream in that group */
};

#endif /* LLMPROXY_OUTCOME_T_H */

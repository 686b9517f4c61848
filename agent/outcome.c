/*
 * Log lines into breaker outcomes and response-time samples (see outcome.h for the table).
 */
#include "breaker.h"
#include "ema.h"
#include "outcome.h"
#include "state-t.h"
#include "throttle.h"

/* A status HAProxy sends when it refuses the client's own request (bad syntax or framing,
 * a body or head too large, a method not allowed, a request too slow): never the upstream's
 * doing. 429 is left out: it is the agent's rate limit, told apart by its verdict. */
static bool refused_request_status(int status)
{
    return status >= 400 && status <= 499 && status != 429;
}

/* The first letter of %tsc. Only '-' is a normal end; a letter HAProxy may add later is
 * taken as a kill, which proves nothing about the upstream. */
static enum outcome_ender ender_of(char who)
{
    switch (who) {
    case '-':
        return OUTCOME_BY_NONE;
    case 'C':
        return OUTCOME_BY_CLIENT;
    case 'c':
        return OUTCOME_BY_CLIENT_TIMEOUT;
    case 'S':
        return OUTCOME_BY_SERVER;
    case 's':
        return OUTCOME_BY_SERVER_TIMEOUT;
    case 'P':
        return OUTCOME_BY_PROXY;
    case 'L':
        return OUTCOME_BY_RULE;
    case 'R':
        return OUTCOME_BY_RESOURCE;
    case 'I':
        return OUTCOME_BY_INTERNAL;
    default:
        return OUTCOME_BY_KILLED;
    }
}

static enum outcome_class classify(const struct logline *line, enum outcome_ender by)
{
    char phase = line->termination[1];
    bool after_connect = phase == 'H' || phase == 'D' || phase == 'L';
    bool by_server = by == OUTCOME_BY_SERVER, by_timeout = by == OUTCOME_BY_SERVER_TIMEOUT;

    /* The client aborted or timed out, whatever the phase. On the listener layer the
     * "client" is HAProxy's group layer, which only leaves because the real client did,
     * or because its own timeout fired first: no evidence about the upstream either way. */
    if (by == OUTCOME_BY_CLIENT || by == OUTCOME_BY_CLIENT_TIMEOUT)
        return OUTCOME_CLIENT;
    /* HAProxy (P) or one of our rules (L) refused the request with a client error: bad
     * syntax or chunking (PH 400 when the body broke after the connection was made), a
     * head or body too large, a method or path refused. */
    if ((by == OUTCOME_BY_PROXY || by == OUTCOME_BY_RULE) && refused_request_status(line->status) &&
        line->t_response < 0)
        return OUTCOME_CLIENT;
    /* Never sent: the member was busy with as many requests as it may take. */
    if (by_timeout && phase == 'Q')
        return OUTCOME_QUEUE_TIMEOUT;
    if ((by_server || by_timeout) && phase == 'C')
        return OUTCOME_CONNECT;
    /* The one rule that answers a response with a 502 (LH): the forward proxy's tunnel
     * reached no plain http upstream (contract/internal_names.h). */
    if (by == OUTCOME_BY_RULE && phase == 'H' && line->status == 502)
        return OUTCOME_CONNECT;
    if (by_timeout && after_connect)
        return OUTCOME_TIMEOUT;
    if (by_server && phase == 'H')
        return OUTCOME_EMPTY_RESPONSE;
    if (by_server && after_connect)
        return OUTCOME_INVALID_RESPONSE;
    if (by == OUTCOME_BY_PROXY && phase == 'H' && line->status == 502)
        return OUTCOME_INVALID_RESPONSE;
    /* Mid-body, HAProxy logs PD/PL with the upstream's status whichever side broke the
     * framing. A listener's client is HAProxy itself, which only sends well-framed data,
     * so there it is the upstream; seen from the frontend (a pinned request) the client's
     * broken chunk looks the same, so it proves nothing. */
    if (by == OUTCOME_BY_PROXY && (phase == 'D' || phase == 'L'))
        return line->pinned ? OUTCOME_NEUTRAL : OUTCOME_INVALID_RESPONSE;
    if (by != OUTCOME_BY_NONE || line->t_response < 0)
        return OUTCOME_NEUTRAL;
    if (line->status >= 500 && line->status <= 599)
        return OUTCOME_STATUS_5XX;
    if (line->status == 429)
        return OUTCOME_THROTTLED;
    return OUTCOME_SUCCESS;
}

struct outcome outcome_classify(const struct logline *line)
{
    enum outcome_ender by = ender_of(line->termination[0]);

    return (struct outcome){classify(line, by), by};
}

bool outcome_is_failure(enum outcome_class cls)
{
    return cls != OUTCOME_SUCCESS && cls != OUTCOME_NEUTRAL && cls != OUTCOME_CLIENT &&
           cls != OUTCOME_QUEUE_TIMEOUT && cls != OUTCOME_THROTTLED;
}

const char *outcome_class_name(enum outcome_class cls)
{
    static const char *const names[OUTCOME_N_CLASSES] = {
        [OUTCOME_SUCCESS] = "success",
        [OUTCOME_NEUTRAL] = "neutral",
        [OUTCOME_CLIENT] = "client",
        [OUTCOME_QUEUE_TIMEOUT] = "queue_timeout",
        [OUTCOME_CONNECT] = "connect",
        [OUTCOME_TIMEOUT] = "timeout",
        [OUTCOME_EMPTY_RESPONSE] = "empty_response",
        [OUTCOME_INVALID_RESPONSE] = "invalid_response",
        [OUTCOME_STATUS_5XX] = "status_5xx",
        [OUTCOME_THROTTLED] = "throttled",
        [OUTCOME_FIRST_RETRIED] = "first_attempt_retried",
    };

    return (unsigned)cls < OUTCOME_N_CLASSES ? names[cls] : "unknown";
}

enum outcome_result outcome_apply(const struct outcome_attempt *attempt, uint64_t now_ms)
{
    const struct logline *line = &attempt->line;
    enum outcome_class cls = attempt->outcome.cls;
    struct upstream_rt *up = attempt->upstream;

    if (!attempt->group)
        return OUTCOME_UNKNOWN_GROUP;
    if (!up)
        return OUTCOME_UNKNOWN_UPSTREAM;
    if (cls == OUTCOME_FIRST_RETRIED) {
        up->retried_first = true;
        return OUTCOME_IGNORED;
    }
    /* What the client did says nothing of the upstream: no sample, no breaker outcome.
     * Nor does a wait in the queue: the member was never asked. A 429 comes back fast
     * without serving anything: as a sample it would make the throttling member look the
     * fastest. */
    if (cls == OUTCOME_CLIENT || cls == OUTCOME_QUEUE_TIMEOUT || cls == OUTCOME_THROTTLED)
        return OUTCOME_IGNORED;
    /* Time to the response headers, whatever the status: a sample whenever they came
     * (a tunnel's own answer for an upstream it never reached is none). */
    if (line->t_response >= 0 && cls != OUTCOME_CONNECT) {
        if (up->ema_stale)
            up->measured = false; /* so the sample starts the average afresh */
        up->ema_stale = false;
        ema_update(&up->ema_ms, &up->measured, line->t_response);
    }
    if (cls == OUTCOME_NEUTRAL)
        return OUTCOME_IGNORED;
    breaker_record(&up->breaker, now_ms, !outcome_is_failure(cls));
    if (cls == OUTCOME_SUCCESS)
        up->retried_first = false;
    return OUTCOME_APPLIED;
}

void outcome_note_throttle(const struct outcome_attempt *attempt, uint64_t now_ms, int64_t wall_ms)
{
    struct upstream_rt *up = attempt->upstream;
    const struct logline *line = &attempt->line;

    /* Only an upstream's own response headers: no group, no member, or no headers (an
     * error HAProxy or one of our rules made) say nothing of its throttling. */
    if (!attempt->group || !up || line->t_response < 0 || attempt->outcome.by != OUTCOME_BY_NONE)
        return;
    if (attempt->outcome.cls == OUTCOME_THROTTLED)
        throttle_on_429(&up->throttle, &up->conf->throttle, line->throttle, now_ms, wall_ms);
    throttle_on_response(&up->throttle, &up->conf->throttle, line->throttle, now_ms);
}

/*
 * Log lines into breaker outcomes and response-time samples (see outcome.h for the table).
 */
#include "breaker.h"
#include "ema.h"
#include "outcome.h"
#include "state.h"

/* A status HAProxy sends when it refuses the client's own request (bad syntax or framing,
 * a body or head too large, a method not allowed, a request too slow): never the upstream's
 * doing. 429 is left out: it is the agent's rate limit, told apart by its verdict. */
static bool refused_request_status(int status)
{
    return status >= 400 && status <= 499 && status != 429;
}

enum outcome_class outcome_classify(const struct logline *line)
{
    char who = line->termination[0], phase = line->termination[1];
    bool after_connect = phase == 'H' || phase == 'D' || phase == 'L';

    /* The client aborted or timed out, whatever the phase. On the listener layer the
     * "client" is HAProxy's group layer, which only leaves because the real client did,
     * or because its own timeout fired first: no evidence about the upstream either way. */
    if (who == 'C' || who == 'c')
        return OUTCOME_CLIENT;
    /* HAProxy (P) or one of our rules (L) refused the request with a client error: bad
     * syntax or chunking (PH 400 when the body broke after the connection was made), a
     * head or body too large, a method or path refused. */
    if ((who == 'P' || who == 'L') && refused_request_status(line->status) && line->t_response < 0)
        return OUTCOME_CLIENT;
    if ((who == 'S' || who == 's') && phase == 'C')
        return OUTCOME_CONNECT;
    if (who == 's' && after_connect)
        return OUTCOME_TIMEOUT;
    if (who == 'S' && phase == 'H')
        return OUTCOME_EMPTY_RESPONSE;
    if (who == 'S' && after_connect)
        return OUTCOME_INVALID_RESPONSE;
    if (who == 'P' && phase == 'H' && line->status == 502)
        return OUTCOME_INVALID_RESPONSE;
    /* Mid-body, HAProxy logs PD/PL with the upstream's status whichever side broke the
     * framing. A listener's client is HAProxy itself, which only sends well-framed data,
     * so there it is the upstream; seen from the frontend (a pinned request) the client's
     * broken chunk looks the same, so it proves nothing. */
    if (who == 'P' && (phase == 'D' || phase == 'L'))
        return line->pinned ? OUTCOME_NEUTRAL : OUTCOME_INVALID_RESPONSE;
    if (who != '-' || line->t_response < 0)
        return OUTCOME_NEUTRAL;
    if (line->status >= 500 && line->status <= 599)
        return OUTCOME_STATUS_5XX;
    return OUTCOME_SUCCESS;
}

bool outcome_is_failure(enum outcome_class cls)
{
    return cls != OUTCOME_SUCCESS && cls != OUTCOME_NEUTRAL && cls != OUTCOME_CLIENT;
}

const char *outcome_class_name(enum outcome_class cls)
{
    static const char *const names[OUTCOME_N_CLASSES] = {
        [OUTCOME_SUCCESS] = "success",
        [OUTCOME_NEUTRAL] = "neutral",
        [OUTCOME_CLIENT] = "client",
        [OUTCOME_CONNECT] = "connect",
        [OUTCOME_TIMEOUT] = "timeout",
        [OUTCOME_EMPTY_RESPONSE] = "empty_response",
        [OUTCOME_INVALID_RESPONSE] = "invalid_response",
        [OUTCOME_STATUS_5XX] = "status_5xx",
    };

    return (unsigned)cls < OUTCOME_N_CLASSES ? names[cls] : "unknown";
}

/* The member of `grp` named like the line's upstream, NULL if there is none. */
static struct upstream_rt *group_member(struct agent_state *st, const struct group_rt *grp,
                                        const struct logline_str *name)
{
    struct upstream_rt *up = state_upstream(st, name->ptr, name->len);

    for (size_t i = 0; up && i < grp->conf->n_members; i++)
        if (grp->members[i] == up)
            return up;
    return NULL;
}

enum outcome_result outcome_apply(struct agent_state *st, const struct logline *line,
                                  uint64_t now_ms, struct outcome_stats *stats,
                                  enum outcome_class *cls_out)
{
    struct group_rt *grp;
    struct upstream_rt *up;
    enum outcome_class cls;

    if (line->kind != LOGLINE_ATTEMPT) {
        stats->requests++;
        return OUTCOME_IGNORED;
    }
    cls = outcome_classify(line);
    if (cls_out)
        *cls_out = cls;
    grp = state_group(st, line->group.ptr, line->group.len);
    if (!grp) {
        stats->unknown_group++;
        return OUTCOME_UNKNOWN_GROUP;
    }
    up = group_member(st, grp, &line->upstream);
    if (!up) {
        stats->unknown_upstream++;
        return OUTCOME_UNKNOWN_UPSTREAM;
    }
    stats->attempts++;
    stats->by_class[cls]++;
    /* What the client did says nothing of the upstream: no sample, no breaker outcome. */
    if (cls == OUTCOME_CLIENT)
        return OUTCOME_IGNORED;
    /* Time to the response headers, whatever the status: a sample whenever they came. */
    if (line->t_response >= 0 && ema_update(&up->ema_ms, &up->measured, line->t_response))
        stats->ema_samples++;
    if (cls == OUTCOME_NEUTRAL)
        return OUTCOME_IGNORED;
    breaker_record(&up->breaker, now_ms, !outcome_is_failure(cls));
    return OUTCOME_APPLIED;
}

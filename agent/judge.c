/*
 * A log line's names looked up and its end classified, once (see judge.h).
 */
#include <string.h>

#include "attempt_memo.h"
#include "judge.h"
#include "logline.h"
#include "outcome.h"
#include "state.h"

/* The member of `grp` named `name`, NULL if the group has none such. */
static struct upstream_rt *group_member(struct agent_state *st, const struct group_rt *grp,
                                        const struct logline_str *name)
{
    struct upstream_rt *up = state_upstream(st, name->ptr, name->len);

    for (size_t i = 0; up && i < grp->conf->n_members; i++)
        if (grp->members[i] == up)
            return up;
    return NULL;
}

static void judge_attempt(struct agent_state *st, struct outcome_attempt *a)
{
    a->group = state_group(st, a->line.group.ptr, a->line.group.len);
    a->upstream = a->group ? group_member(st, a->group, &a->line.upstream) : NULL;
    a->outcome = outcome_classify(&a->line);
}

/*
 * A group layer's request that ended normally with the status its last attempt sent
 * relayed that attempt's answer: when the attempt failed, the answer was the listener's
 * error for that failure, so the request failed the same way (attempt_memo.h). Anything
 * else keeps the request's own judgement: a client's fault stays the client's.
 * The listener logs an unreachable upstream as HAProxy's 503, which its errorfile sends
 * as a 502.
 */
static bool relays(int request_status, int attempt_status)
{
    return request_status == attempt_status || (attempt_status == 503 && request_status == 502);
}

static struct outcome relayed_outcome(struct agent_state *st, const struct logline *line,
                                      struct outcome own)
{
    struct outcome attempt;
    int status;

    if (!st->attempts || !attempt_memo_take(st->attempts, &line->id, &status, &attempt))
        return own;
    if (own.by != OUTCOME_BY_NONE || !relays(line->status, status) ||
        !outcome_is_failure(attempt.cls))
        return own;
    return attempt;
}

/* "0", "1", ... "9999": decimal without sign or leading zero, below `n`. */
static bool rule_index(const struct logline_str *f, size_t n, size_t *out)
{
    size_t v = 0;

    if (f->len == 0 || f->len > 4 || (f->len > 1 && f->ptr[0] == '0'))
        return false;
    for (size_t i = 0; i < f->len; i++) {
        if (f->ptr[i] < '0' || f->ptr[i] > '9')
            return false;
        v = v * 10 + (size_t)(f->ptr[i] - '0');
    }
    *out = v;
    return v < n;
}

static bool view_is(const struct logline_str *f, const char *s)
{
    size_t n = strlen(s);

    return f->len == n && memcmp(f->ptr, s, n) == 0;
}

/*
 * The line's route and group, checked against its forward: "-" only without routing, a
 * rule index below its number of rules, or one of the fallback reasons; the group one the
 * forward may route to. False refuses the line as naming what the forward lacks.
 */
static bool judge_route(const struct logline *line, struct judged_request *r)
{
    const struct conf_forward *cf = r->forward->conf;
    const struct logline_str *f = &line->route;

    if (f->len == 0 && cf->n_routes > 0)
        /* HAProxy answered before its rules ran (a 400, 405, 413, 408): nothing was routed,
         * so there is no group and no server either. The request is the forward's, in no
         * group's families. */
        return view_is(&line->group, "-") && line->upstream.len == 0;
    if (f->len == 0)
        r->route = JUDGED_ROUTE_NONE;
    else if (cf->n_routes == 0)
        return false;
    else if (view_is(f, LOGLINE_ROUTE_UNMATCHED))
        r->route = JUDGED_ROUTE_UNMATCHED;
    else if (view_is(f, LOGLINE_ROUTE_NO_MODEL))
        r->route = JUDGED_ROUTE_NO_MODEL;
    else if (view_is(f, LOGLINE_ROUTE_TRUNCATED))
        r->route = JUDGED_ROUTE_TRUNCATED;
    else if (rule_index(f, cf->n_routes, &r->rule))
        r->route = JUDGED_ROUTE_RULE;
    else
        return false;
    /* A routing_strict forward's 404 went to no group: HAProxy may log "-" for it. */
    if (r->route >= JUDGED_ROUTE_UNMATCHED && view_is(&line->group, "-"))
        r->group = r->forward->group;
    else
        r->group = forward_target(r->forward, line->group.ptr, line->group.len);
    return r->group != NULL;
}

void judge_line(struct agent_state *st, const struct logline *line, struct judged_line *out)
{
    *out = (struct judged_line){0};
    if (line->kind == LOGLINE_ATTEMPT) {
        out->has_attempt = true;
        out->attempt.line = *line;
        judge_attempt(st, &out->attempt);
        if (st->attempts)
            attempt_memo_put(st->attempts, &line->id, line->status, out->attempt.outcome);
        return;
    }
    out->is_request = true;
    out->request.line = line;
    out->request.forward = state_forward(st, line->forward.ptr, line->forward.len);
    if (out->request.forward && !judge_route(line, &out->request)) {
        /* Nothing of it is trusted, its pinned attempt included: counted as unmatched. */
        out->request.forward = NULL;
        return;
    }
    if (line->client.len > 0)
        out->request.client = state_client(st, line->client.ptr, line->client.len);
    if (!line->pinned) {
        out->request.outcome = relayed_outcome(st, line, outcome_classify(line));
        if (line->retried_first.len > 0) {
            out->has_attempt = true;
            logline_retried_first_attempt(line, &out->attempt.line);
            judge_attempt(st, &out->attempt);
            out->attempt.outcome = (struct outcome){.cls = OUTCOME_FIRST_RETRIED};
        }
        return;
    }
    /* No listener saw it: the request line is its only attempt, judged once for both. */
    out->has_attempt = true;
    logline_pinned_attempt(line, &out->attempt.line);
    judge_attempt(st, &out->attempt);
    out->request.outcome = out->attempt.outcome;
}

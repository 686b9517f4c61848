/*
 * One HAProxy log line, judged once (types only; functions are in judge.h).
 */
#ifndef LLMPROXY_JUDGE_T_H
#define LLMPROXY_JUDGE_T_H

#include <stdbool.h>

#include "logline-t.h"
#include "outcome-t.h"

struct client_rt;
struct forward_rt;
struct group_rt;

/* How a request found its group (the line's <route>, judged against its forward). */
enum judged_route {
    JUDGED_ROUTE_NONE = 0,  /* a forward without routing: its own group; or not routed */
    JUDGED_ROUTE_RULE,      /* rule number `rule` matched */
    JUDGED_ROUTE_UNMATCHED, /* the fallback reasons (LOGLINE_ROUTE_*): the forward's group */
    JUDGED_ROUTE_NO_MODEL,
    JUDGED_ROUTE_TRUNCATED,
};

/* A client request, from the frontend's REQUEST line. */
struct judged_request {
    const struct logline *line;
    /* NULL: the running configuration has no such forward, or the line's group or route
     * is none the forward has (configurations out of step, or a forged line). */
    struct forward_rt *forward;
    /* The group routed to: the forward's own or a rule's target; NULL for a request of a
     * forward with routing that HAProxy answered before routing it (a 405, say). */
    struct group_rt *group;
    enum judged_route route;
    size_t rule;              /* JUDGED_ROUTE_RULE: index into forward->conf->routes */
    struct client_rt *client; /* NULL: no client named, or one the configuration lacks */
    struct outcome outcome;   /* a pinned request's is its attempt's */
};

struct judged_line {
    bool is_request;  /* `request` is set */
    bool has_attempt; /* `attempt` is set: an ATTEMPT line, or a pinned request */
    struct judged_request request;
    struct outcome_attempt attempt;
};

#endif /* LLMPROXY_JUDGE_T_H */

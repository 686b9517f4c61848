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

/* A client request, from the frontend's REQUEST line. */
struct judged_request {
    const struct logline *line;
    struct forward_rt *forward; /* NULL: the running configuration has no such forward */
    struct client_rt *client;   /* NULL: no client named, or one the configuration lacks */
    struct outcome outcome;     /* a pinned request's is its attempt's */
};

struct judged_line {
    bool is_request;  /* `request` is set */
    bool has_attempt; /* `attempt` is set: an ATTEMPT line, or a pinned request */
    struct judged_request request;
    struct outcome_attempt attempt;
};

#endif /* LLMPROXY_JUDGE_T_H */

/*
 * One HAProxy log line, judged once (types only; functions are in judge.h).
 */
#ifndef LLMPROXY_JUDGE_T_H
#define LLMPROXY_JUDGE_T_H

#include <stdbool.h>

#include "logline-t.h"
#include "outcome-t.h"

struct forward_rt;
struct group_rt;
struct upstream_rt;

/* A client request, from the frontend's REQUEST line. */
struct judged_request {
    const struct logline *line;
    struct forward_rt *forward; /* NULL: the running configuration has no such forward */
    struct outcome outcome;     /* a pinned request's is its attempt's */
};

/* One try on an upstream: an ATTEMPT line, or the attempt a pinned request stands for. */
struct judged_attempt {
    struct logline line;          /* a copy: a pinned request's attempt is made up from it */
    struct group_rt *group;       /* NULL: no such group */
    struct upstream_rt *upstream; /* NULL: no such group, or no such member of it */
    struct outcome outcome;
};

struct judged_line {
    bool is_request;  /* `request` is set */
    bool has_attempt; /* `attempt` is set: an ATTEMPT line, or a pinned request */
    struct judged_request request;
    struct judged_attempt attempt;
};

#endif /* LLMPROXY_JUDGE_T_H */

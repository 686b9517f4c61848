/*
 * The one entry for a log line of HAProxy's feed: what it means is decided here, once,
 * and the breakers, response-time averages (outcome_apply()) and metrics
 * (metrics_record_line()) all consume that same judgement.
 *
 * A REQUEST line is a client request of its forward; an ATTEMPT line is one try on an
 * upstream of its group; a pinned request's line is both, its attempt judged once for
 * the upstream and for the request. Names are looked up in the running configuration
 * with one rule: a forward by name, a group by name, an upstream only as a member of that
 * group. How the stream ended is classified once, by outcome_classify().
 */
#ifndef LLMPROXY_JUDGE_H
#define LLMPROXY_JUDGE_H

#include "judge-t.h"
#include "logline-t.h"
#include "state-t.h"

/* Judge `line` against `st` into `out`. Nothing in `st` changes but its memo of the last
 * attempt of each recent request, which judges the request's own line (attempt_memo.h). */
void judge_line(struct agent_state *st, const struct logline *line, struct judged_line *out);

#endif /* LLMPROXY_JUDGE_H */

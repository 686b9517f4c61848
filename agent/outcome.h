/*
 * Feedback from HAProxy's log lines into the decision state: every ATTEMPT line is one
 * outcome for its upstream's breaker and a response-time sample for its EMA. REQUEST lines
 * change nothing here (they feed the metrics).
 *
 * Judged from the termination state (%tsc, first two letters: who ended the stream, and in
 * which phase), the response time and the status:
 *   SC sC        connect refused / timed out                      failure: connect
 *   sH sD sL     timeout server before the headers or mid-stream   failure: timeout
 *   SH           upstream closed before the headers (empty)        failure: empty_response
 *   SD SL        upstream cut a response short                     failure: invalid_response
 *   PH PD PL     HAProxy refused the upstream's response           failure: invalid_response
 *   other, no response headers (Tr = -1): the client layer gave up first (CH, CC, CR),
 *                the agent's fast-fail or a queue timeout (P?, sQ), an internal error:
 *                the upstream was not asked or not waited for     neutral: not recorded
 *   headers came and the status is 5xx                              failure: status_5xx
 *   anything else (4xx included, client aborts mid-stream)         success
 * A neutral attempt is not a success either: a client giving up on a hanging upstream, or
 * the group layer's timeout firing just before the listener's, must not close a breaker.
 */
#ifndef LLMPROXY_OUTCOME_H
#define LLMPROXY_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "logline-t.h"
#include "outcome-t.h"
#include "state-t.h"

enum outcome_class outcome_classify(const struct logline *line);

bool outcome_is_failure(enum outcome_class cls);

/* "success", "neutral", "connect", "timeout", ...: the error-kind label of a class. */
const char *outcome_class_name(enum outcome_class cls);

/*
 * Apply one parsed line to `st` at `now_ms`: breaker_record() and ema_update() of the
 * attempt's upstream. `cls` (may be NULL) receives the attempt's class. Pure but for `st`
 * and `stats`.
 */
enum outcome_result outcome_apply(struct agent_state *st, const struct logline *line,
                                  uint64_t now_ms, struct outcome_stats *stats,
                                  enum outcome_class *cls);

#endif /* LLMPROXY_OUTCOME_H */

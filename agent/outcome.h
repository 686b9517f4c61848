/*
 * How a stream ended, and the feedback of an attempt into the decision state: every
 * attempt (judge.h) is one outcome for its upstream's breaker and a response-time sample
 * for its EMA. A request changes nothing here (it feeds the metrics).
 *
 * Judged by who ended the stream (%tsc's first letter) and in which phase (its second),
 * then by the response time and the status. The first rule that matches decides:
 *   C? c?        the client aborted or timed out, in any phase      client: not recorded
 *   P? L? with a 4xx other than 429 and no response headers: HAProxy or one of our rules
 *                refused the client's request (syntax, broken chunking after the
 *                connection was made, too large, method, slow body)  client: not recorded
 *   SC sC        connect refused / timed out                          failure: connect
 *   sH sD sL     timeout server before the headers or mid-stream       failure: timeout
 *   SH           upstream closed before the headers (empty)            failure: empty_response
 *   SD SL        upstream cut a response short                         failure: invalid_response
 *   PH with 502  HAProxy refused the upstream's response headers       failure: invalid_response
 *   PD PL        HAProxy refused a body mid-stream: on a listener, the upstream's (its client
 *                is our own group layer); on a pinned request, either side's   failure / neutral
 *   any other letter (P R I D K U L), or no response headers (Tr = -1): the agent's
 *                fast-fail, a queue timeout, an internal error: the upstream was not asked or
 *                not waited for                                        neutral: not recorded
 *   headers came and the status is 5xx                                 failure: status_5xx
 *   headers came and the status is 429 (the upstream's: ours is an L)  throttled: not recorded
 *   anything else (the upstream's 4xx included)                        success
 * Neither a neutral nor a client outcome is a success: a client giving up on a hanging
 * upstream must not close a breaker, and nothing a client sends may open one. A client
 * outcome is not a response-time sample either, nor an upstream metric.
 */
#ifndef LLMPROXY_OUTCOME_H
#define LLMPROXY_OUTCOME_H

#include <stdbool.h>
#include <stdint.h>

#include "logline-t.h"
#include "outcome-t.h"

/* The line's class by the table above, and who ended its stream: the only reading of
 * HAProxy's termination state. */
struct outcome outcome_classify(const struct logline *line);

bool outcome_is_failure(enum outcome_class cls);

/* "success", "neutral", "connect", "timeout", ...: the error-kind label of a class. */
const char *outcome_class_name(enum outcome_class cls);

/*
 * Apply one judged attempt at `now_ms`: breaker_record() and ema_update() of its upstream.
 * Pure but for that upstream's state.
 */
enum outcome_result outcome_apply(const struct outcome_attempt *attempt, uint64_t now_ms);

/*
 * What the attempt's response headers say of its upstream's throttling: a 429's cooldown,
 * any response's remaining budget (throttle.h). `wall_ms` reads an HTTP-date Retry-After.
 */
void outcome_note_throttle(const struct outcome_attempt *attempt, uint64_t now_ms, int64_t wall_ms);

#endif /* LLMPROXY_OUTCOME_H */

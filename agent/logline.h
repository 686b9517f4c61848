/*
 * A strict parser of the log lines HAProxy sends the agent, whose formats are part of the
 * contract with the renderer (contract/logformat.h).
 *
 * A request served by a pinned backend (HAPROXY_PINNED_PREFIX) has no ATTEMPT line: its
 * REQUEST line stands for the request's only attempt too (logline_pinned_attempt()).
 */
#ifndef LLMPROXY_LOGLINE_H
#define LLMPROXY_LOGLINE_H

#include "contract/logformat.h"
#include "logline-t.h"

/* Upper bounds of single fields, far above what HAProxy writes for our configurations. */
#define LOGLINE_ID_MAX      128
#define LOGLINE_NAME_MAX    64
#define LOGLINE_BACKEND_MAX 128 /* pin_<group>__<upstream>: two names and six bytes */
#define LOGLINE_METHOD_MAX  32
#define LOGLINE_VERDICT_MAX 32
#define LOGLINE_ROUTE_MAX   16 /* a rule index or a LOGLINE_ROUTE_* reason */

/*
 * Parse one line of `len` bytes (a trailing "\n" is tolerated). Never reads past `len`.
 * Returns 0 and fills `out`, whose strings point into `line`, or -LOGLINE_ERR_* when the
 * line is malformed (then `out` is unspecified). Fields a kind does not carry are left
 * empty, 0, or -1 for timers and status.
 */
int logline_parse(const char *line, size_t len, struct logline *out);

/*
 * The attempt a pinned request line stands for (`req->pinned`): the same outcome, as an
 * ATTEMPT of the line's group and server. Strings still point into the request's line.
 */
void logline_pinned_attempt(const struct logline *req, struct logline *attempt);

/*
 * The failed first attempt a request line with `retried_first` stands for: an ATTEMPT of
 * that member with no status, timers or headers of its own (judge.c classes it).
 */
void logline_retried_first_attempt(const struct logline *req, struct logline *attempt);

/* "too_long", "tag", ...: a metric label for a LOGLINE_ERR_* (positive or negated). */
const char *logline_error_name(int err);

#endif /* LLMPROXY_LOGLINE_H */

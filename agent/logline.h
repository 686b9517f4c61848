/*
 * The log lines HAProxy sends the agent: their formats, shared with the renderer, and a
 * strict parser.
 *
 * Both formats are space-separated fields behind a fixed tag that carries the version, so
 * a line from a differently rendered HAProxy is refused instead of misread. Absent values
 * are logged by HAProxy as "-". The only free text, the request path, is the last field
 * and quoted; HAProxy encodes the bytes it deems unsafe in it as "#XX".
 *
 * REQUEST (one per client request, from frontend fwd_<forward>):
 *   LLMR2 <id> <forward> <group> <method> <status> <Tq> <Tw> <Tc> <Tr> <Tt> <bytes>
 *         <tsc> <retries> <server> <backend> <verdict> <spoe-error> "<path>"
 *   e.g. LLMR2 7F000001:E81C_7F000001:7C9C_6B0B3CD0_0003:058E main g POST 200 0 0 0 0 104
 *        1049 ---- 0 a pin_g__a pass - "/v1/chat/completions"
 *
 * When the backend is a pinned one (LOGLINE_PINNED_PREFIX, one real server: the agent's
 * choice in a group without retries), there is no upstream layer and so no ATTEMPT line:
 * the request line stands for the request's only attempt too (logline_pinned_attempt()).
 *
 * ATTEMPT (one per try on an upstream, from listener up_<group>__<upstream>):
 *   LLMA1 <id> <group> <upstream> <status> <Tw> <Tc> <Tr> <Tt> <bytes> <tsc>
 *   e.g. LLMA1 7F000001:E822_7F000001:7C9C_6B0B3CD0_0005:058E g dead 503 0 -1 -1 3004 217 SC--
 *
 * The listener is a new HAProxy stream with its own unique id: the client request's id
 * arrives in the x-llmproxy-id header, which the listener deletes before forwarding, so it
 * is saved in LOGLINE_RID_VAR first and logged from there.
 */
#ifndef LLMPROXY_LOGLINE_H
#define LLMPROXY_LOGLINE_H

#include "logline-t.h"

#define LOGLINE_TAG_REQUEST "LLMR2"
#define LOGLINE_TAG_ATTEMPT "LLMA1"

/*
 * Backends whose name starts with this hold exactly one server, the upstream of the same
 * name, reached directly from the frontend (render_haproxy.c, "pinned backends").
 */
#define LOGLINE_PINNED_PREFIX "pin_"

/* The listener's copy of the request id, set before the id header is removed. */
#define LOGLINE_RID_VAR "txn.rid"

/*
 * The HAProxy log-format strings, as printf formats for the renderer ("%%" is HAProxy's
 * "%"). Names are written literally, so no per-request rule is spent on them; they need
 * no escaping, as the configuration restricts them to [A-Za-z0-9_.-].
 * %HPO is the path without the query, taken from the request line as received (%[path]
 * is not allowed in a 2.6 log-format); "<BADREQ>" when the request could not be parsed.
 */
/* printf arguments: forward name, group name */
#define LOGLINE_REQUEST_FORMAT                                                                     \
    LOGLINE_TAG_REQUEST " %%ID %s %s %%HM %%ST %%Tq %%Tw %%Tc %%Tr %%Tt %%B %%tsc %%rc %%s %%b "   \
                        "%%[var(txn.llm.v)] %%[var(txn.llm.err)] %%{+Q}HPO"
/* printf arguments: group name, upstream name */
#define LOGLINE_ATTEMPT_FORMAT                                                                     \
    LOGLINE_TAG_ATTEMPT " %%[var(" LOGLINE_RID_VAR ")] %s %s %%ST %%Tw %%Tc %%Tr %%Tt %%B %%tsc"

/* Upper bounds of single fields, far above what HAProxy writes for our configurations. */
#define LOGLINE_ID_MAX      128
#define LOGLINE_NAME_MAX    64
#define LOGLINE_BACKEND_MAX 128 /* pin_<group>__<upstream>: two names and six bytes */
#define LOGLINE_METHOD_MAX  32
#define LOGLINE_VERDICT_MAX 32

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

/* "too_long", "tag", ...: a metric label for a LOGLINE_ERR_* (positive or negated). */
const char *logline_error_name(int err);

#endif /* LLMPROXY_LOGLINE_H */

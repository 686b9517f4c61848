/*
 * The log lines HAProxy sends the agent. llmproxy-ctl writes these formats into
 * haproxy.cfg (ctl/render_haproxy.c: `log-format`, and the ring's `maxlen`); the agent's
 * parser reads what HAProxy then logs (agent/logline.c).
 *
 * Both formats are space-separated fields behind a fixed tag that carries the version, so
 * a line from a differently rendered HAProxy is refused instead of misread. Absent values
 * are logged by HAProxy as "-". The only free text, the request path, is quoted and
 * followed only by the hex THROTTLE fields; HAProxy encodes the bytes it deems unsafe in it as
 * "#XX".
 *
 * REQUEST (one per client request, from frontend fwd_<forward>):
 *   LLMR4 <id> <forward> <group> <route> <client> <method> <status> <Tq> <Tw> <Tc> <Tr> <Tt>
 *         <bytes> <tsc> <retries> <server> <backend> <verdict> <spoe-error> "<path>" <THROTTLE>
 *   e.g. LLMR4 7F000001:E81C_7F000001:7C9C_6B0B3CD0_0003:058E main g 0 team-a POST 200 0 0 0
 *        0 104 1049 ---- 0 a pin_g__a pass - "/v1/chat/completions"
 * <group> is the group the request was routed to (the forward's own without `routing`).
 * <route> is "-" on a forward without `routing`; else the 0-based index of the rule that
 * matched, or why none did (LOGLINE_ROUTE_*): the request then went to the forward's own
 * group, or got a 404 with `routing_strict`.
 * <client> is the configured client whose key the request presented (SPOP_TXN_CLIENT),
 * "-" on a forward without client_auth or when no key matched (a 401).
 *
 * When the backend is a pinned one (HAPROXY_PINNED_PREFIX, one real server: the agent's
 * choice in a group without retries), there is no upstream layer and so no ATTEMPT line:
 * the request line stands for the request's only attempt too.
 *
 * ATTEMPT (one per try on an upstream, from listener up_<group>__<upstream>):
 *   LLMA1 <id> <group> <upstream> <status> <Tw> <Tc> <Tr> <Tt> <bytes> <tsc> <THROTTLE>
 *         <relayed>
 *   e.g. LLMA1 7F000001:E822_7F000001:7C9C_6B0B3CD0_0005:058E g dead 503 0 -1 -1 3004 217 SC--
 * <relayed> is the upstream's own status when the listener relayed its 429 as a retryable
 * 503 (HAPROXY_RELAYED_429_HEADER: HAProxy before 3.1), else "-"; <status> then says 503.
 * A line that ends before it (an earlier rendering) relayed nothing.
 *
 * Both kinds end with the THROTTLE fields: six response headers of the upstream, each
 * "-" when absent, else the hex of its first LOGLINE_THROTTLE_MAX_BYTES bytes, in the order
 * of enum logline_throttle_field: Retry-After, retry-after-ms, then the upstream's
 * `throttle.headers` (remaining requests, remaining tokens, reset requests, reset tokens).
 * Hex makes a hostile value (spaces, quotes, control bytes, 10 KB) one bounded field of
 * [0-9A-F] that cannot forge another. They are set by `http-response` rules of the
 * listener and of the pinned backend only, from the upstream's response: a client's
 * request headers never reach them, and a request that no upstream answered logs "-".
 * A line that ends before them (rendered by an earlier version, during an upgrade) is
 * read as one without those headers.
 *   e.g. "... 217 ---- 32 - 30 - - -": Retry-After "2", x-ratelimit-remaining-requests "0".
 *
 * The listener is a new HAProxy stream with its own unique id: the client request's id
 * arrives in the HAPROXY_ID_HEADER header, which the listener deletes before forwarding,
 * so it is saved in LOGLINE_RID_VAR first and logged from there.
 */
#ifndef LLMPROXY_CONTRACT_LOGFORMAT_H
#define LLMPROXY_CONTRACT_LOGFORMAT_H

#include "contract/internal_names.h"
#include "contract/spop_names.h"

#define LOGLINE_TAG_REQUEST "LLMR4"
#define LOGLINE_TAG_ATTEMPT "LLMA1"

/* Longest line accepted: the renderer gives HAProxy's log and ring the same `len`/`maxlen`. */
#define LOGLINE_MAX_LEN 8192

/*
 * The route of a request on a forward with `routing`, set by its rules in HAProxy: the
 * matching rule's index, else one of these reasons.
 */
#define LOGLINE_ROUTE_VAR       "txn.llm_route"
#define LOGLINE_ROUTE_UNMATCHED "unmatched" /* a model was read; no rule took it or the path */
#define LOGLINE_ROUTE_NO_MODEL  "no_model"  /* the body was read whole: it names no model */
#define LOGLINE_ROUTE_TRUNCATED "truncated" /* the model was not in the part of the body read */

/* The upstream response headers the THROTTLE fields carry, in their order. */
enum logline_throttle_field {
    LOGLINE_TH_RETRY_AFTER = 0,
    LOGLINE_TH_RETRY_AFTER_MS,
    LOGLINE_TH_REMAINING_REQUESTS,
    LOGLINE_TH_REMAINING_TOKENS,
    LOGLINE_TH_RESET_REQUESTS,
    LOGLINE_TH_RESET_TOKENS,
    LOGLINE_TH_N,
};
/* Bytes of a header value logged (as twice as many hex digits); the rest is dropped. */
#define LOGLINE_THROTTLE_MAX_BYTES 64
/* The variable of field i is LOGLINE_THROTTLE_VAR_PREFIX followed by i's digit. */
#define LOGLINE_THROTTLE_VAR_PREFIX "txn.llm_th"
#define LOGLINE_THROTTLE_FIELDS                                                                    \
    " %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "0)] %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "1)]"         \
    " %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "2)] %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "3)]"         \
    " %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "4)] %%[var(" LOGLINE_THROTTLE_VAR_PREFIX "5)]"
/* The standard names of the first two fields (Azure and OpenAI send the second). */
#define LOGLINE_RETRY_AFTER_HEADER    "retry-after"
#define LOGLINE_RETRY_AFTER_MS_HEADER "retry-after-ms"

/* The upstream's status a listener relayed as a retryable 503 (the ATTEMPT's last field). */
#define LOGLINE_RELAYED_VAR "txn.llm_relayed"

/* The listener's copy of the request id, set before the id header is removed. */
#define LOGLINE_RID_VAR "txn.rid"

/*
 * The HAProxy log-format strings, as printf formats for the renderer ("%%" is HAProxy's
 * "%"). Names are written literally, so no per-request rule is spent on them; they need
 * no escaping, as the configuration restricts them to [A-Za-z0-9_.-].
 * %HPO is the path without the query, taken from the request line as received (%[path]
 * is not allowed in a 2.6 log-format); "<BADREQ>" when the request could not be parsed.
 */
/* printf arguments: forward name, group name (or "%[var(SPOP_TXN_GROUP)]" on a forward with
 * `routing`) */
#define LOGLINE_REQUEST_FORMAT                                                                     \
    LOGLINE_TAG_REQUEST " %%ID %s %s %%[var(" LOGLINE_ROUTE_VAR ")] %%[var(" SPOP_TXN_CLIENT       \
                        ")] %%HM %%ST %%Tq %%Tw %%Tc %%Tr "                                        \
                        "%%Tt %%B %%tsc %%rc %%s %%b %%[var(" SPOP_TXN_VERDICT ")] "               \
                        "%%[var(" SPOP_TXN_ERROR ")] %%{+Q}HPO" LOGLINE_THROTTLE_FIELDS
/* printf arguments: group name, upstream name */
#define LOGLINE_ATTEMPT_FORMAT                                                                     \
    LOGLINE_TAG_ATTEMPT " %%[var(" LOGLINE_RID_VAR ")] %s %s %%ST %%Tw %%Tc %%Tr %%Tt %%B "        \
                        "%%tsc" LOGLINE_THROTTLE_FIELDS " %%[var(" LOGLINE_RELAYED_VAR ")]"

#endif /* LLMPROXY_CONTRACT_LOGFORMAT_H */

/*
 * One HAProxy log line of the LLMProxy feed, parsed (types only; see logline.h).
 *
 * HAProxy writes one line per stream when it ends, so a long SSE stream is reported with
 * its true duration. Two kinds of lines come from the two layers of the data path:
 *   - REQUEST: the frontend's line, one per client request (HTTP metrics);
 *   - ATTEMPT: a per-upstream listener's line, one per try of a request on an upstream
 *     (breaker, response-time EMA, success rate, upstream metrics).
 * A request the frontend sent straight to a pinned backend has no second layer: its
 * REQUEST line is its only ATTEMPT as well.
 * Every string is a view into the received line, valid until the next line is read.
 */
#ifndef LLMPROXY_LOGLINE_T_H
#define LLMPROXY_LOGLINE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contract/logformat.h"

/*
 * Why a line was refused, as returned (negated) by logline_parse(). Every field is checked,
 * so the reason names the first field that was wrong.
 */
enum logline_error {
    LOGLINE_OK = 0,
    LOGLINE_ERR_TOO_LONG,    /* longer than LOGLINE_MAX_LEN */
    LOGLINE_ERR_TAG,         /* not one of our tags, or another version of it */
    LOGLINE_ERR_TRUNCATED,   /* the line ended before its last field */
    LOGLINE_ERR_TRAILING,    /* bytes after the last field */
    LOGLINE_ERR_SEPARATOR,   /* fields not separated by exactly one space */
    LOGLINE_ERR_ID,          /* unique id: charset or length */
    LOGLINE_ERR_NAME,        /* forward, group, client, upstream or server name */
    LOGLINE_ERR_METHOD,      /* not an HTTP token */
    LOGLINE_ERR_STATUS,      /* not -1 nor 100..999 */
    LOGLINE_ERR_TIMER,       /* not -1 nor 0..INT32_MAX */
    LOGLINE_ERR_BYTES,       /* not a 64-bit count */
    LOGLINE_ERR_TERMINATION, /* not 4 characters of the termination-state alphabet */
    LOGLINE_ERR_RETRIES,     /* not [+]0..65535 */
    LOGLINE_ERR_VERDICT,     /* charset or length */
    LOGLINE_ERR_SPOE_ERROR,  /* not 0..65535 */
    LOGLINE_ERR_PATH,        /* not quoted, or a byte HAProxy would have encoded */
    LOGLINE_ERR_THROTTLE,    /* a THROTTLE field not "-" nor 2..2*MAX_BYTES hex digits */
    LOGLINE_N_ERRORS,
};

enum logline_kind {
    LOGLINE_REQUEST = 0,
    LOGLINE_ATTEMPT,
};

/* A byte range of the line (not NUL-terminated); len 0 when HAProxy logged "-". */
struct logline_str {
    const char *ptr;
    size_t len;
};

struct logline {
    enum logline_kind kind;
    struct logline_str id;      /* the client request's unique id (both kinds) */
    struct logline_str forward; /* REQUEST: forward name */
    struct logline_str client;  /* REQUEST: configured client of the key, empty if none */
    struct logline_str group;   /* ATTEMPT: group name; REQUEST: the group routed to */
    /* REQUEST: the routing rule's index or the fallback reason (LOGLINE_ROUTE_*), as
     * written; empty ("-") on a forward without routing. Judged against the forward. */
    struct logline_str route;
    struct logline_str upstream; /* ATTEMPT: upstream; REQUEST: final server, if any */
    struct logline_str method;   /* REQUEST */
    struct logline_str path;     /* REQUEST: path without the query */
    struct logline_str verdict;  /* REQUEST: the agent's txn.llm.v, empty if none */
    /* HTTP status sent, -1 when none (%ST); on an ATTEMPT, the upstream's own status when
     * its listener relayed it as a retryable 503 (contract/logformat.h). */
    int status;
    /* HAProxy timers in ms, -1 when the phase was never reached (%Tq %Tw %Tc %Tr %Tt). */
    int32_t t_request, t_queue, t_connect, t_response, t_total;
    uint64_t bytes_out;  /* %B: bytes sent to the client (or to the group layer) */
    char termination[5]; /* %tsc, e.g. "----", "SC--", "sH--", NUL-terminated */
    uint32_t retries;    /* %rc without the '+' */
    bool redispatched;   /* %rc had a '+' */
    int spoe_error;      /* REQUEST: txn.llm.err (SPOE failure code), 0 when none */
    /* Served by a pinned backend: a REQUEST line that is also the only attempt, or that
     * attempt (logline_pinned_attempt()). Its client side is the real client. */
    bool pinned;
    /* REQUEST: the pinned backend's own first attempt, on this member of the group, failed
     * and HAProxy retried the request through the listener of `upstream` (its server was
     * HAPROXY_RETRY_SERVER_PREFIX + `upstream`). Not `pinned` then: the listeners logged the
     * retries. Empty otherwise. */
    struct logline_str retried_first;
    /* The upstream's throttling headers (enum logline_throttle_field), still in hex as
     * logged; empty when absent. Decoded by throttle.c. */
    struct logline_str throttle[LOGLINE_TH_N];
};

#endif /* LLMPROXY_LOGLINE_T_H */

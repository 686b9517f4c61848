/*
 * The log-feed listener's counters (types only; see logfeed.h).
 */
#ifndef LLMPROXY_LOGFEED_T_H
#define LLMPROXY_LOGFEED_T_H

#include <stdint.h>

#include "logline-t.h"

/* HAProxy opens one connection per process and ring: old and new workers during a reload.
 * When all are taken, the slot least likely to be HAProxy's is evicted for the newcomer
 * (acceptor.h): HAProxy's ring reconnects if it was the one, a squatter stays out. */
#define LOGFEED_MAX_CONNS 64
/* A slot that delivers no well-formed line for this long is reclaimed. HAProxy's ring simply
 * reconnects and resumes where it was, so an idle HAProxy loses nothing; long enough that
 * a quiet site is not reconnected more than a few times an hour. */
#define LOGFEED_IDLE_TIMEOUT_S 600.0

struct logfeed_stats {
    uint64_t accepted;  /* connections accepted */
    uint64_t open;      /* connections open now */
    uint64_t expired;   /* connections closed: no well-formed line for LOGFEED_IDLE_TIMEOUT_S */
    uint64_t lines;     /* records received, well-formed or not */
    uint64_t parsed;    /* lines handed to the consumer */
    uint64_t malformed; /* lines refused by the parser, the sum of by_reason */
    uint64_t malformed_by_reason[LOGLINE_N_ERRORS]; /* index: LOGLINE_ERR_* */
    uint64_t bad_length; /* connections dropped: unreadable record length */
    uint64_t oversize;   /* connections dropped: record longer than LOGLINE_MAX_LEN */
    uint64_t nudges;     /* wake-up bytes sent to a quiet feed's forwarder (logfeed.c) */
};

#endif /* LLMPROXY_LOGFEED_T_H */

/*
 * From a NOTIFY to an answer: decodes the `pick` and `attempt` messages of the SPOP
 * contract (docs/spop-contract.md), asks the decider, and writes the ACK.
 *
 * Split in two so that an answer can be held: dispatch_notify() decides and returns how
 * long the ACK must wait (retry backoff), answer_write() writes it, now or when the timer
 * fires. An answer is self-contained (no pointer into the frame or the configuration), so
 * it survives both the input buffer and a reload.
 */
#ifndef LLMPROXY_DISPATCH_H
#define LLMPROXY_DISPATCH_H

#include <stdbool.h>
#include <stdint.h>

#include "decide-t.h"
#include "spop-t.h"

struct decider;
struct spop_conn;

#define ANSWER_NAME_MAX 64
/* Longest request id an attempt's answer keeps (the log line's LOGLINE_ID_MAX). */
#define ANSWER_ID_MAX 128

struct answer {
    bool has_pick;
    enum pick_verdict pick;
    char upstream[ANSWER_NAME_MAX]; /* "" lets HAProxy balance */
    uint32_t retry_after_s;
    bool layered; /* with PICK_PASS: SPOP_VAR_LAYERED */
    bool has_attempt;
    enum attempt_verdict attempt;
    /* The attempt's request id, so a held answer can be found by it (spop_server.h). */
    char attempt_id[ANSWER_ID_MAX];
    size_t attempt_id_len;
};

struct dispatch_stats {
    uint64_t unknown_messages; /* messages that are neither pick nor attempt */
    uint64_t bad_args;         /* a known message with a missing or mistyped argument */
};

/* Decide every message of one NOTIFY. Returns the delay in ms before the ACK may go. */
uint32_t dispatch_notify(struct decider *d, struct spop_msg_iter *msgs, uint64_t now_ms,
                         struct answer *out, struct dispatch_stats *stats);

/* Queue the ACK carrying `a` on `conn`. False when the connection cannot take it. */
bool answer_write(struct spop_conn *conn, uint64_t stream_id, uint64_t frame_id,
                  const struct answer *a);

#endif /* LLMPROXY_DISPATCH_H */

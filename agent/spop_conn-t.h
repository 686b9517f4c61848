/* Types of one HAProxy-to-agent SPOP connection (see spop_conn.h). */
#ifndef LLMPROXY_SPOP_CONN_T_H
#define LLMPROXY_SPOP_CONN_T_H

#include "spop-t.h"

/* Agent frame-size limit when the configuration gives none (HAProxy's 64 KiB buffers). */
#define SPOP_CONN_DEFAULT_FRAME_SIZE 65532u
/* Upper bound on the agent limit: the input buffer is allocated at this size plus 4. */
#define SPOP_CONN_MAX_FRAME_SIZE (1u << 20)

#define SPOP_CONN_DEFAULT_OUT_CAP ((size_t)64 * 1024)
#define SPOP_CONN_MIN_OUT_CAP     ((size_t)1024)
#define SPOP_CONN_MAX_OUT_CAP     ((size_t)16 * 1024 * 1024)

/* Kept from HELLO for logs (HAProxy sends a 36-character UUID). */
#define SPOP_ENGINE_ID_MAX 64

/* The variable an ACK unsets when its caller added no action, since HAProxy 3.1.0 to early
 * 3.1.x stalls on an empty ACK. Unsetting a variable nobody sets is harmless.
 */
#define SPOP_NOOP_VAR "noop"

enum spop_conn_state {
    SPOP_CONN_WAIT_HELLO, /* accepted: only HAPROXY-HELLO (or DISCONNECT) is valid */
    SPOP_CONN_READY,      /* handshake done: NOTIFY in, ACK out, in any order */
    SPOP_CONN_CLOSING,    /* a last frame is queued: input is ignored, output drains */
    SPOP_CONN_CLOSED,     /* nothing left to send: the event loop closes the socket */
};

/* Why the agent ended a connection with AGENT-DISCONNECT. Each maps to one SPOP status
 * code (spop_fault_status()) and is counted apart.
 */
enum spop_fault {
    SPOP_FAULT_NONE = 0,
    SPOP_FAULT_TOO_SMALL,           /* frame length < 7 (4) */
    SPOP_FAULT_TOO_BIG,             /* frame length > max-frame-size (3) */
    SPOP_FAULT_TRUNCATED,           /* an item runs past the end of its frame (4) */
    SPOP_FAULT_BAD_VARINT,          /* over-long varint (4) */
    SPOP_FAULT_RESERVED_TYPE,       /* typed data of type 10..15 (4) */
    SPOP_FAULT_FRAGMENTED,          /* FIN missing, or a continuation frame (10) */
    SPOP_FAULT_WRONG_DIRECTION,     /* an agent frame type sent by HAProxy (4) */
    SPOP_FAULT_NOTIFY_BEFORE_HELLO, /* (4) */
    SPOP_FAULT_SECOND_HELLO,        /* (4) */
    SPOP_FAULT_NO_VERSION,          /* HELLO without supported-versions string (5) */
    SPOP_FAULT_BAD_VERSION,         /* supported-versions lacks "2.0" (8) */
    SPOP_FAULT_NO_FRAME_SIZE,       /* HELLO without integer max-frame-size (6) */
    SPOP_FAULT_BAD_FRAME_SIZE,      /* max-frame-size < 256 (9) */
    SPOP_FAULT_OUTPUT_FULL,         /* output buffer cap reached: peer not reading (13) */
    SPOP_FAULT_COUNT
};

/* Counters of one connection; spop_stats_add() sums them for the whole agent. */
struct spop_stats {
    uint64_t frames_in;        /* complete frames received */
    uint64_t frames_out;       /* frames queued for HAProxy */
    uint64_t hellos;           /* handshakes accepted */
    uint64_t healthchecks;     /* of which health checks */
    uint64_t notifies;         /* NOTIFY frames handed to the callback */
    uint64_t acks;             /* ACK frames queued */
    uint64_t acks_too_big;     /* ACKs dropped: larger than the negotiated frame size */
    uint64_t acks_refused;     /* ACKs asked for while not READY (closing, or misuse) */
    uint64_t unknown_frames;   /* unknown frame types, skipped as the spec allows */
    uint64_t peer_disconnects; /* HAPROXY-DISCONNECT received */
    uint64_t peer_closes;      /* EOF or reset from HAProxy while open */
    uint64_t faults[SPOP_FAULT_COUNT];
};

struct spop_conn;

/* Called once per NOTIFY. msgs walks the already validated messages; every view it yields
 * points into the input buffer and is only valid until the callback returns. The callback
 * answers with spop_ack_begin()/spop_ack_end(), now or later while the connection lives.
 * It may call spop_conn_disconnect(), but must neither feed nor free the connection.
 */
typedef void (*spop_notify_fn)(struct spop_conn *conn, uint64_t stream_id, uint64_t frame_id,
                               struct spop_msg_iter *msgs, void *user);

struct spop_conn_cfg {
    uint32_t max_frame_size; /* agent limit; 0: default; clamped to [256, MAX] */
    size_t out_cap;          /* output buffer bytes; 0: default; clamped to [MIN, MAX] */
    spop_notify_fn on_notify;
    void *user;
};

struct spop_conn {
    enum spop_conn_state state;
    enum spop_fault fault; /* what made the agent disconnect, SPOP_FAULT_NONE otherwise */
    uint32_t frame_limit;  /* the agent's own limit, which also bounds HELLO */
    uint32_t frame_size;   /* negotiated max-frame-size; frame_limit before HELLO */
    bool healthcheck;
    bool ack_open;             /* an ACK is being written at the output tail */
    bool ack_bounded_by_frame; /* ...and its room ends at frame_size, not the buffer cap */
    spop_notify_fn on_notify;
    void *user;

    uint8_t *in; /* one whole frame at most: SPOP_LENGTH_SIZE + frame_limit */
    size_t in_len, in_cap;
    uint8_t *out; /* queued frames in [out_head, out_tail) */
    size_t out_head, out_tail, out_cap;

    struct spop_stats stats;
    int64_t peer_status; /* status-code of HAPROXY-DISCONNECT, -1 if none */
    char engine_id[SPOP_ENGINE_ID_MAX + 1];
    char peer_message[SPOP_MESSAGE_MAX + 1];
};

#endif /* LLMPROXY_SPOP_CONN_T_H */

/* SPOP connection state machine, see spop_conn.h. */
#include <stdlib.h>
#include <string.h>

#include "spop_conn.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"

/* Only pipelining: async and fragmentation are buggy in 2.6 and gone in 3.1. */
#define AGENT_CAPABILITIES "pipelining"

/* Output bytes kept free for the last AGENT-DISCONNECT, which ACKs may not use. */
#define ACK_RESERVE SPOP_DISCONNECT_FRAME_MAX

static const struct {
    const char *name;
    enum spop_status status;
    const char *message;
} fault_info[SPOP_FAULT_COUNT] = {
    [SPOP_FAULT_NONE] = {"none", SPOP_STATUS_NORMAL, "normal"},
    [SPOP_FAULT_TOO_SMALL] = {"frame_too_small", SPOP_STATUS_INVALID, "frame is too small"},
    [SPOP_FAULT_TOO_BIG] = {"frame_too_big", SPOP_STATUS_TOO_BIG, "frame is too big"},
    [SPOP_FAULT_TRUNCATED] = {"truncated", SPOP_STATUS_INVALID, "invalid frame: truncated item"},
    [SPOP_FAULT_BAD_VARINT] = {"bad_varint", SPOP_STATUS_INVALID,
                               "invalid frame: malformed varint"},
    [SPOP_FAULT_RESERVED_TYPE] = {"reserved_type", SPOP_STATUS_INVALID,
                                  "invalid frame: reserved data type"},
    [SPOP_FAULT_FRAGMENTED] = {"fragmented", SPOP_STATUS_FRAG_NOT_SUPPORTED,
                               "fragmentation not supported"},
    [SPOP_FAULT_WRONG_DIRECTION] = {"agent_frame_type", SPOP_STATUS_INVALID,
                                    "invalid frame: agent frame type sent to the agent"},
    [SPOP_FAULT_NOTIFY_BEFORE_HELLO] = {"notify_before_hello", SPOP_STATUS_INVALID,
                                        "invalid frame: NOTIFY before HELLO"},
    [SPOP_FAULT_SECOND_HELLO] = {"second_hello", SPOP_STATUS_INVALID,
                                 "invalid frame: HELLO after the handshake"},
    [SPOP_FAULT_NO_VERSION] = {"no_version", SPOP_STATUS_NO_VERSION,
                               "supported-versions not found"},
    [SPOP_FAULT_BAD_VERSION] = {"bad_version", SPOP_STATUS_BAD_VERSION,
                                "unsupported version: the agent speaks 2.0"},
    [SPOP_FAULT_NO_FRAME_SIZE] = {"no_frame_size", SPOP_STATUS_NO_FRAME_SIZE,
                                  "max-frame-size not found"},
    [SPOP_FAULT_BAD_FRAME_SIZE] = {"bad_frame_size", SPOP_STATUS_BAD_FRAME_SIZE,
                                   "max-frame-size below 256"},
    [SPOP_FAULT_OUTPUT_FULL] = {"output_full", SPOP_STATUS_RESOURCE, "output buffer full"},
};

static const char *const state_names[] = {
    [SPOP_CONN_WAIT_HELLO] = "wait_hello",
    [SPOP_CONN_READY] = "ready",
    [SPOP_CONN_CLOSING] = "closing",
    [SPOP_CONN_CLOSED] = "closed",
};

/* What HAPROXY-HELLO told us; absent or mistyped values count as not found. */
struct hello_fields {
    bool has_versions;
    bool version_ok;
    bool has_frame_size;
    bool healthcheck;
    uint64_t frame_size;
    struct spop_str engine_id;
};

static size_t clamp_size(size_t v, size_t dflt, size_t lo, size_t hi)
{
    if (v == 0)
        v = dflt;
    return v < lo ? lo : v > hi ? hi : v;
}

static bool reading(const struct spop_conn *c)
{
    return c->state == SPOP_CONN_WAIT_HELLO || c->state == SPOP_CONN_READY;
}

static size_t out_pending(const struct spop_conn *c)
{
    return c->out_tail - c->out_head;
}

/* Opens w over the free output space minus reserve. Sent bytes are dropped first, which
 * moves the queue: no writer may be open across this call.
 */
static void out_open(struct spop_conn *c, struct spop_writer *w, size_t reserve)
{
    size_t space;

    if (c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, out_pending(c));
        c->out_tail -= c->out_head;
        c->out_head = 0;
    }
    space = c->out_cap - c->out_tail;
    spop_writer_init(w, c->out + c->out_tail, space > reserve ? space - reserve : 0);
}

static bool out_commit(struct spop_conn *c, size_t frame_size)
{
    if (frame_size == 0)
        return false;
    c->out_tail += frame_size;
    c->stats.frames_out++;
    return true;
}

/* Our own frames go at the output tail, where an open ACK is being written: that ACK is
 * abandoned (its spop_ack_end() will refuse it).
 */
static void abandon_ack(struct spop_conn *c)
{
    c->ack_open = false;
}

/* Queues AGENT-DISCONNECT and stops reading. The message is cut so that the frame stays
 * within the negotiated size (at least 220 bytes of text fit in 256). The output reserve
 * makes the frame always fit; if it did not, there would be nothing useful left to send.
 */
static void close_with(struct spop_conn *c, uint32_t status, const char *message)
{
    size_t len = strnlen(message, c->frame_size - SPOP_DISCONNECT_OVERHEAD);
    struct spop_writer w;

    abandon_ack(c);
    out_open(c, &w, 0);
    if (out_commit(c, spop_build_agent_disconnect(&w, status, message, len)))
        c->state = SPOP_CONN_CLOSING;
    else
        c->state = SPOP_CONN_CLOSED;
}

static void conn_fault(struct spop_conn *c, enum spop_fault fault)
{
    c->stats.faults[fault]++;
    c->fault = fault;
    close_with(c, fault_info[fault].status, fault_info[fault].message);
}

static enum spop_fault fault_of(enum spop_err err)
{
    switch (err) {
    case SPOP_ERR_VARINT:
        return SPOP_FAULT_BAD_VARINT;
    case SPOP_ERR_DATA_TYPE:
        return SPOP_FAULT_RESERVED_TYPE;
    case SPOP_ERR_TRUNCATED:
    case SPOP_ERR_NONE:
    default:
        return SPOP_FAULT_TRUNCATED;
    }
}

/* For logs: at most cap - 1 bytes, anything unprintable replaced, always terminated. */
static void copy_printable(char *dst, size_t cap, struct spop_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;
    size_t i;

    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s.ptr[i];

        dst[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    dst[n] = '\0';
}

/* supported-versions is a comma-separated list; spaces around items are ignored. */
static bool versions_include(struct spop_str list, const char *version)
{
    const char *p = list.ptr;
    const char *end = list.ptr + list.len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *item_end = comma ? comma : end;
        struct spop_str item;

        while (p < item_end && *p == ' ')
            p++;
        item.ptr = p;
        item.len = (size_t)(item_end - p);
        while (item.len > 0 && item.ptr[item.len - 1] == ' ')
            item.len--;
        if (spop_str_eq(item, version))
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

/* A negative signed integer is no frame size at all: read it as 0, which is refused. */
static uint64_t nonnegative(const struct spop_data *d)
{
    bool is_signed = d->type == SPOP_DATA_INT32 || d->type == SPOP_DATA_INT64;

    return is_signed && d->i64 < 0 ? 0 : d->u64;
}

static enum spop_err read_hello(const struct spop_frame *f, struct hello_fields *h)
{
    struct spop_kv_iter it;
    struct spop_kv kv;

    memset(h, 0, sizeof(*h));
    spop_kv_iter_init(&it, f->payload, f->payload_len);
    while (spop_kv_next(&it, &kv)) {
        if (spop_str_eq(kv.name, "supported-versions")) {
            h->has_versions = kv.value.type == SPOP_DATA_STRING;
            h->version_ok = h->has_versions && versions_include(kv.value.bytes, SPOP_VERSION);
        } else if (spop_str_eq(kv.name, "max-frame-size")) {
            h->has_frame_size = spop_data_is_int(&kv.value);
            h->frame_size = h->has_frame_size ? nonnegative(&kv.value) : 0;
        } else if (spop_str_eq(kv.name, "healthcheck")) {
            h->healthcheck = kv.value.type == SPOP_DATA_BOOL && kv.value.boolean;
        } else if (spop_str_eq(kv.name, "engine-id")) {
            if (kv.value.type == SPOP_DATA_STRING)
                h->engine_id = kv.value.bytes;
        }
        /* capabilities and unknown keys need nothing from us */
    }
    return it.err;
}

static enum spop_fault check_hello(const struct hello_fields *h)
{
    if (!h->has_versions)
        return SPOP_FAULT_NO_VERSION;
    if (!h->version_ok)
        return SPOP_FAULT_BAD_VERSION;
    if (!h->has_frame_size)
        return SPOP_FAULT_NO_FRAME_SIZE;
    if (h->frame_size < SPOP_FRAME_SIZE_MIN)
        return SPOP_FAULT_BAD_FRAME_SIZE;
    return SPOP_FAULT_NONE;
}

static void handle_hello(struct spop_conn *c, const struct spop_frame *f)
{
    struct hello_fields h;
    struct spop_writer w;
    enum spop_err err = read_hello(f, &h);
    enum spop_fault fault = err != SPOP_ERR_NONE ? fault_of(err) : check_hello(&h);

    if (fault != SPOP_FAULT_NONE) {
        conn_fault(c, fault);
        return;
    }
    if (h.frame_size < c->frame_limit)
        c->frame_size = (uint32_t)h.frame_size;
    c->healthcheck = h.healthcheck;
    copy_printable(c->engine_id, sizeof(c->engine_id), h.engine_id);

    out_open(c, &w, 0);
    if (!out_commit(c, spop_build_agent_hello(&w, c->frame_size, AGENT_CAPABILITIES))) {
        conn_fault(c, SPOP_FAULT_OUTPUT_FULL);
        return;
    }
    c->stats.hellos++;
    if (c->healthcheck) {
        /* HAProxy closes a health check after our HELLO; we close once it is sent. */
        c->stats.healthchecks++;
        c->state = SPOP_CONN_CLOSING;
    } else {
        c->state = SPOP_CONN_READY;
    }
}

static void handle_peer_disconnect(struct spop_conn *c, const struct spop_frame *f)
{
    struct spop_kv_iter it;
    struct spop_kv kv;

    spop_kv_iter_init(&it, f->payload, f->payload_len);
    while (spop_kv_next(&it, &kv)) {
        if (spop_str_eq(kv.name, "status-code") && spop_data_is_int(&kv.value))
            c->peer_status = kv.value.u64 > UINT32_MAX ? UINT32_MAX : (int64_t)kv.value.u64;
        else if (spop_str_eq(kv.name, "message") && kv.value.type == SPOP_DATA_STRING)
            copy_printable(c->peer_message, sizeof(c->peer_message), kv.value.bytes);
    }
    if (it.err != SPOP_ERR_NONE) {
        conn_fault(c, fault_of(it.err));
        return;
    }
    c->stats.peer_disconnects++;
    close_with(c, SPOP_STATUS_NORMAL, fault_info[SPOP_FAULT_NONE].message);
}

static void handle_notify(struct spop_conn *c, const struct spop_frame *f)
{
    struct spop_msg_iter it;
    struct spop_msg msg;
    struct spop_writer w;

    /* Validate the whole NOTIFY first, so the callback never sees half a request. */
    spop_msg_iter_init(&it, f->payload, f->payload_len);
    while (spop_msg_next(&it, &msg))
        ;
    if (it.err != SPOP_ERR_NONE) {
        conn_fault(c, fault_of(it.err));
        return;
    }
    c->stats.notifies++;
    spop_msg_iter_init(&it, f->payload, f->payload_len);
    if (c->on_notify) {
        c->on_notify(c, f->stream_id, f->frame_id, &it, c->user);
    } else {
        spop_ack_begin(c, f->stream_id, f->frame_id, &w);
        spop_ack_end(c, &w);
    }
}

static void handle_frame(struct spop_conn *c, const uint8_t *body, size_t len)
{
    struct spop_frame f;
    enum spop_err err = spop_frame_decode(body, len, &f);

    if (err != SPOP_ERR_NONE) {
        conn_fault(c, fault_of(err));
        return;
    }
    if (!(f.flags & SPOP_FLAG_FIN)) {
        conn_fault(c, SPOP_FAULT_FRAGMENTED);
        return;
    }
    switch (f.type) {
    case SPOP_FRAME_HAPROXY_HELLO:
        if (c->state == SPOP_CONN_WAIT_HELLO)
            handle_hello(c, &f);
        else
            conn_fault(c, SPOP_FAULT_SECOND_HELLO);
        break;
    case SPOP_FRAME_HAPROXY_DISCONNECT:
        handle_peer_disconnect(c, &f);
        break;
    case SPOP_FRAME_NOTIFY:
        if (c->state == SPOP_CONN_READY)
            handle_notify(c, &f);
        else
            conn_fault(c, SPOP_FAULT_NOTIFY_BEFORE_HELLO);
        break;
    case SPOP_FRAME_UNSET:
        conn_fault(c, SPOP_FAULT_FRAGMENTED);
        break;
    case SPOP_FRAME_AGENT_HELLO:
    case SPOP_FRAME_AGENT_DISCONNECT:
    case SPOP_FRAME_ACK:
        conn_fault(c, SPOP_FAULT_WRONG_DIRECTION);
        break;
    default:
        /* doc/SPOE.txt 3.2.2: unknown frames may be skipped; a newer HAProxy may add some. */
        c->stats.unknown_frames++;
        break;
    }
}

/* Handles every complete frame in the input buffer and keeps the incomplete rest. A bad
 * length is refused as soon as its 4 bytes are in, so the buffer (one frame of the agent's
 * limit) always has room for the frame being received.
 */
static void process_input(struct spop_conn *c)
{
    size_t off = 0;

    while (reading(c) && c->in_len - off >= SPOP_LENGTH_SIZE) {
        uint32_t len = spop_frame_length(c->in + off);

        if (len > c->frame_size) {
            conn_fault(c, SPOP_FAULT_TOO_BIG);
            break;
        }
        if (len < SPOP_FRAME_MIN_SIZE) {
            conn_fault(c, SPOP_FAULT_TOO_SMALL);
            break;
        }
        if (c->in_len - off - SPOP_LENGTH_SIZE < len)
            break;
        c->stats.frames_in++;
        handle_frame(c, c->in + off + SPOP_LENGTH_SIZE, len);
        off += SPOP_LENGTH_SIZE + len;
    }
    if (!reading(c)) {
        c->in_len = 0;
        return;
    }
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}

struct spop_conn *spop_conn_new(const struct spop_conn_cfg *cfg)
{
    uint32_t limit = (uint32_t)clamp_size(cfg->max_frame_size, SPOP_CONN_DEFAULT_FRAME_SIZE,
                                          SPOP_FRAME_SIZE_MIN, SPOP_CONN_MAX_FRAME_SIZE);
    size_t out_cap = clamp_size(cfg->out_cap, SPOP_CONN_DEFAULT_OUT_CAP, SPOP_CONN_MIN_OUT_CAP,
                                SPOP_CONN_MAX_OUT_CAP);
    size_t in_cap = SPOP_LENGTH_SIZE + (size_t)limit;
    struct spop_conn *c = calloc(1, sizeof(*c) + in_cap + out_cap);

    if (c == NULL)
        return NULL;
    c->state = SPOP_CONN_WAIT_HELLO;
    c->fault = SPOP_FAULT_NONE;
    c->frame_limit = limit;
    c->frame_size = limit;
    c->on_notify = cfg->on_notify;
    c->user = cfg->user;
    c->in = (uint8_t *)(c + 1);
    c->in_cap = in_cap;
    c->out = c->in + in_cap;
    c->out_cap = out_cap;
    c->peer_status = -1;
    return c;
}

void spop_conn_free(struct spop_conn *conn)
{
    free(conn);
}

void spop_conn_feed(struct spop_conn *c, const uint8_t *data, size_t len)
{
    while (len > 0 && reading(c)) {
        size_t n = c->in_cap - c->in_len;

        if (n > len)
            n = len;
        memcpy(c->in + c->in_len, data, n);
        c->in_len += n;
        data += n;
        len -= n;
        process_input(c);
    }
}

void spop_conn_eof(struct spop_conn *c)
{
    if (reading(c))
        c->stats.peer_closes++;
    abandon_ack(c);
    c->out_head = c->out_tail = 0;
    c->in_len = 0;
    c->state = SPOP_CONN_CLOSED;
}

size_t spop_conn_output(const struct spop_conn *c, const uint8_t **data)
{
    *data = c->out + c->out_head;
    return out_pending(c);
}

void spop_conn_consumed(struct spop_conn *c, size_t n)
{
    /* Only the head moves: an ACK being written at the tail stays where it is. */
    c->out_head += n < out_pending(c) ? n : out_pending(c);
    if (c->state == SPOP_CONN_CLOSING && out_pending(c) == 0)
        c->state = SPOP_CONN_CLOSED;
}

bool spop_conn_wants_close(const struct spop_conn *c)
{
    return c->state == SPOP_CONN_CLOSED;
}

bool spop_conn_disconnect(struct spop_conn *c, uint32_t status, const char *message)
{
    if (!reading(c))
        return false;
    close_with(c, status, message);
    return true;
}

bool spop_ack_begin(struct spop_conn *c, uint64_t stream_id, uint64_t frame_id,
                    struct spop_writer *w)
{
    static uint8_t nowhere[1];
    size_t frame_room = SPOP_LENGTH_SIZE + (size_t)c->frame_size;

    if (c->state != SPOP_CONN_READY || c->ack_open) {
        c->stats.acks_refused++;
        spop_writer_init(w, nowhere, 0);
        w->failed = true;
        return false;
    }
    out_open(c, w, ACK_RESERVE);
    /* Whichever bound is closer decides what a failure means in spop_ack_end(). */
    c->ack_bounded_by_frame = frame_room <= (size_t)(w->end - w->pos);
    if (c->ack_bounded_by_frame)
        w->end = w->pos + frame_room;
    c->ack_open = true;
    spop_frame_begin(w, SPOP_FRAME_ACK, stream_id, frame_id);
    return true;
}

bool spop_ack_end(struct spop_conn *c, struct spop_writer *w)
{
    size_t size;

    if (!c->ack_open || w->start != c->out + c->out_tail)
        return false;
    c->ack_open = false;
    if (w->items == 0)
        spop_put_unset_var(w, SPOP_SCOPE_TXN, SPOP_NOOP_VAR);
    size = spop_frame_end(w);
    if (size == 0) {
        if (c->ack_bounded_by_frame)
            c->stats.acks_too_big++;
        else
            conn_fault(c, SPOP_FAULT_OUTPUT_FULL);
        return false;
    }
    out_commit(c, size);
    c->stats.acks++;
    return true;
}

const char *spop_conn_state_name(enum spop_conn_state state)
{
    if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
        return "unknown";
    return state_names[state];
}

const char *spop_fault_name(enum spop_fault fault)
{
    if ((unsigned)fault >= SPOP_FAULT_COUNT)
        return "unknown";
    return fault_info[fault].name;
}

enum spop_status spop_fault_status(enum spop_fault fault)
{
    if ((unsigned)fault >= SPOP_FAULT_COUNT)
        return SPOP_STATUS_UNKNOWN;
    return fault_info[fault].status;
}

void spop_stats_add(struct spop_stats *sum, const struct spop_stats *one)
{
    size_t i;

    sum->frames_in += one->frames_in;
    sum->frames_out += one->frames_out;
    sum->hellos += one->hellos;
    sum->healthchecks += one->healthchecks;
    sum->notifies += one->notifies;
    sum->acks += one->acks;
    sum->acks_too_big += one->acks_too_big;
    sum->acks_refused += one->acks_refused;
    sum->unknown_frames += one->unknown_frames;
    sum->peer_disconnects += one->peer_disconnects;
    sum->peer_closes += one->peer_closes;
    for (i = 0; i < SPOP_FAULT_COUNT; i++)
        sum->faults[i] += one->faults[i];
}

/*
 * SPOP connection state machine: handshake and negotiation, health checks, NOTIFY/ACK
 * with held and out-of-order answers, DISCONNECT both ways, every malformed input with its
 * exact AGENT-DISCONNECT status and counter, byte-at-a-time feeding, bounded output, and a
 * fixed-seed fuzz loop. HAProxy's frames are written as hexspec strings (util/hexspec.h).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "spop_conn.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"
#include "util/hexspec.h"
#include "util/spop_vectors.h"

#define IN_MAX   (80 * 1024)
#define MAX_SEEN 64
#define LIMIT    65532u
#define HA_MFS   16380u /* max-frame-size of the HELLO vectors */

/* What the NOTIFY callback saw, and how it answers. */
struct recorder {
    bool hold;             /* record only; the test answers later */
    const char *ack_value; /* txn "v" in immediate ACKs; "pass" when NULL */
    size_t n;
    uint64_t sid[MAX_SEEN];
    uint64_t fid[MAX_SEEN];
    unsigned messages[MAX_SEEN];
    unsigned args[MAX_SEEN];
    bool every_type_ok; /* VEC_NOTIFY_PAYLOAD's message of every type decoded to its values */
};

static void check_every_type(struct recorder *r, struct spop_msg *msg)
{
    static const uint8_t localhost[4] = {127, 0, 0, 1};
    struct spop_kv kv;
    unsigned ok = 0;

    while (spop_kv_next(&msg->args, &kv)) {
        if (spop_str_eq(kv.name, "id"))
            ok += spop_str_eq(kv.value.bytes, "7F000001:D0FC:2100");
        else if (spop_str_eq(kv.name, "src"))
            ok += kv.value.type == SPOP_DATA_IPV4 && memcmp(kv.value.bytes.ptr, localhost, 4) == 0;
        else if (spop_str_eq(kv.name, "meth"))
            ok += spop_str_eq(kv.value.bytes, "GET");
        else if (spop_str_eq(kv.name, "s1_conn"))
            ok += kv.value.type == SPOP_DATA_INT64 && kv.value.i64 == 0;
        else if (spop_str_eq(kv.name, "s1_up"))
            ok += kv.value.type == SPOP_DATA_BOOL && kv.value.boolean;
        else if (spop_str_eq(kv.name, "nullarg"))
            ok += kv.value.type == SPOP_DATA_NULL;
        else if (spop_str_eq(kv.name, "bin"))
            ok += kv.value.type == SPOP_DATA_BINARY && spop_str_eq(kv.value.bytes, "ab");
        else if (spop_str_eq(kv.name, "neg"))
            ok += kv.value.type == SPOP_DATA_INT64 && kv.value.i64 == -5;
    }
    r->every_type_ok = ok == 8 && msg->args.err == SPOP_ERR_NONE;
}

static bool ack_v(struct spop_conn *c, uint64_t sid, uint64_t fid, const char *value)
{
    struct spop_writer w;

    spop_ack_begin(c, sid, fid, &w);
    spop_put_set_var(&w, SPOP_SCOPE_TXN, "v", spop_data_str(value, strlen(value)));
    return spop_ack_end(c, &w);
}

static void on_notify(struct spop_conn *c, uint64_t sid, uint64_t fid, struct spop_msg_iter *msgs,
                      void *user)
{
    struct recorder *r = user;
    struct spop_msg msg;
    struct spop_kv kv;
    size_t i = r->n < MAX_SEEN ? r->n : MAX_SEEN - 1;

    r->sid[i] = sid;
    r->fid[i] = fid;
    r->messages[i] = r->args[i] = 0;
    while (spop_msg_next(msgs, &msg)) {
        struct spop_kv_iter args = msg.args;

        r->messages[i]++;
        while (spop_kv_next(&args, &kv))
            r->args[i]++;
        if (spop_str_eq(msg.name, "pick-msg"))
            check_every_type(r, &msg);
    }
    /* the engine validated the whole NOTIFY before calling us */
    ck_assert_int_eq(msgs->err, SPOP_ERR_NONE);
    r->n++;
    if (!r->hold)
        ack_v(c, sid, fid, r->ack_value ? r->ack_value : "pass");
}

static struct spop_conn *conn_new(uint32_t limit, size_t out_cap, struct recorder *r)
{
    struct spop_conn_cfg cfg = {
        .max_frame_size = limit,
        .out_cap = out_cap,
        .on_notify = on_notify,
        .user = r,
    };
    struct spop_conn *c = spop_conn_new(&cfg);

    ck_assert_ptr_nonnull(c);
    memset(r, 0, sizeof(*r));
    return c;
}

/* A frame from its body spec: the length prefix is computed. */
static size_t frame_spec(const char *body, uint8_t *out, size_t cap)
{
    size_t n = hexspec(body, out + 4, cap - 4);

    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
    return n + 4;
}

static void feed_raw(struct spop_conn *c, const char *spec)
{
    static uint8_t buf[IN_MAX];

    spop_conn_feed(c, buf, hexspec(spec, buf, sizeof(buf)));
}

static void feed_frame(struct spop_conn *c, const char *body)
{
    static uint8_t buf[IN_MAX];

    spop_conn_feed(c, buf, frame_spec(body, buf, sizeof(buf)));
}

/* One queued output frame, copied out and consumed. */
struct out_frame {
    uint8_t bytes[IN_MAX];
    size_t size;
    struct spop_frame f;
};

static bool take_frame(struct spop_conn *c, struct out_frame *o)
{
    const uint8_t *p;
    size_t pending = spop_conn_output(c, &p);

    if (pending == 0)
        return false;
    ck_assert_uint_ge(pending, 4 + SPOP_FRAME_MIN_SIZE);
    o->size = 4 + spop_frame_length(p);
    ck_assert_uint_le(o->size, pending);
    ck_assert_uint_le(o->size - 4, c->frame_size);
    memcpy(o->bytes, p, o->size);
    ck_assert_int_eq(spop_frame_decode(o->bytes + 4, o->size - 4, &o->f), SPOP_ERR_NONE);
    ck_assert_uint_eq(o->f.flags, SPOP_FLAG_FIN);
    spop_conn_consumed(c, o->size);
    return true;
}

static void expect_bytes(struct spop_conn *c, const char *spec)
{
    static struct out_frame o;
    uint8_t expected[1024];
    size_t n = hexspec(spec, expected, sizeof(expected));

    ck_assert(take_frame(c, &o));
    ck_assert_uint_eq(o.size, n);
    ck_assert_mem_eq(o.bytes, expected, n);
}

static void expect_agent_hello(struct spop_conn *c, uint32_t frame_size)
{
    static struct out_frame o;
    uint8_t expected[256];
    struct spop_writer w;
    size_t n;

    spop_writer_init(&w, expected, sizeof(expected));
    n = spop_build_agent_hello(&w, frame_size, "pipelining");
    ck_assert(take_frame(c, &o));
    ck_assert_uint_eq(o.size, n);
    ck_assert_mem_eq(o.bytes, expected, n);
}

/* Takes an AGENT-DISCONNECT and returns its status; its message goes to msg if given. */
static uint64_t take_disconnect(struct spop_conn *c, char *msg, size_t msg_cap)
{
    static struct out_frame o;
    struct spop_kv_iter it;
    struct spop_kv kv;
    uint64_t status = UINT64_MAX;

    ck_assert(take_frame(c, &o));
    ck_assert_uint_eq(o.f.type, SPOP_FRAME_AGENT_DISCONNECT);
    ck_assert(o.f.stream_id == 0 && o.f.frame_id == 0);
    spop_kv_iter_init(&it, o.f.payload, o.f.payload_len);
    while (spop_kv_next(&it, &kv)) {
        if (spop_str_eq(kv.name, "status-code")) {
            ck_assert_int_eq(kv.value.type, SPOP_DATA_UINT32);
            status = kv.value.u64;
        } else if (spop_str_eq(kv.name, "message") && msg) {
            ck_assert_uint_lt(kv.value.bytes.len, msg_cap);
            memcpy(msg, kv.value.bytes.ptr, kv.value.bytes.len);
            msg[kv.value.bytes.len] = '\0';
        }
    }
    ck_assert_int_eq(it.err, SPOP_ERR_NONE);
    return status;
}

static void expect_ack(struct spop_conn *c, uint64_t sid, uint64_t fid)
{
    static struct out_frame o;

    ck_assert(take_frame(c, &o));
    ck_assert_uint_eq(o.f.type, SPOP_FRAME_ACK);
    ck_assert(o.f.stream_id == sid);
    ck_assert(o.f.frame_id == fid);
}

static void expect_no_output(struct spop_conn *c)
{
    const uint8_t *p;

    ck_assert_uint_eq(spop_conn_output(c, &p), 0);
}

static uint64_t faults_total(const struct spop_stats *s)
{
    uint64_t sum = 0;

    for (int i = 0; i < SPOP_FAULT_COUNT; i++)
        sum += s->faults[i];
    return sum;
}

/* A READY connection after HAProxy's HELLO vector, its AGENT-HELLO consumed. */
static struct spop_conn *ready_conn(struct recorder *r)
{
    struct spop_conn *c = conn_new(LIMIT, 0, r);

    feed_raw(c, VEC_HAPROXY_HELLO);
    expect_agent_hello(c, HA_MFS);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    return c;
}

/* ---- handshake ------------------------------------------------------------------------- */

START_TEST(test_hello_exchange)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);

    ck_assert_int_eq(c->state, SPOP_CONN_WAIT_HELLO);
    feed_raw(c, VEC_HAPROXY_HELLO);
    /* min(16380, 65532), version 2.0, pipelining only: byte for byte */
    expect_bytes(c, VEC_AGENT_HELLO_16380);
    expect_no_output(c);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    ck_assert_uint_eq(c->frame_size, HA_MFS);
    ck_assert_str_eq(c->engine_id, VEC_ENGINE_ID);
    ck_assert(!c->healthcheck);
    ck_assert_uint_eq(c->stats.hellos, 1);
    ck_assert_uint_eq(c->stats.frames_in, 1);
    ck_assert_uint_eq(c->stats.frames_out, 1);
    ck_assert(!spop_conn_wants_close(c));
    spop_conn_free(c);
}
END_TEST

START_TEST(test_hello_negotiates_down_to_agent_limit)
{
    struct recorder r;
    struct spop_conn *c = conn_new(4096, 0, &r);

    feed_raw(c, VEC_HAPROXY_HELLO);
    expect_agent_hello(c, 4096);
    ck_assert_uint_eq(c->frame_size, 4096);
    /* the negotiated size now bounds input: 4097 is too big */
    feed_raw(c, "00001001");
    ck_assert_uint_eq(take_disconnect(c, NULL, 0), SPOP_STATUS_TOO_BIG);
    ck_assert_uint_eq(c->stats.faults[SPOP_FAULT_TOO_BIG], 1);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_hello_limits_clamped)
{
    struct recorder r;
    struct spop_conn *c = conn_new(100, 1, &r);

    ck_assert_uint_eq(c->frame_limit, SPOP_FRAME_SIZE_MIN);
    ck_assert_uint_eq(c->out_cap, SPOP_CONN_MIN_OUT_CAP);
    feed_raw(c, VEC_HAPROXY_HELLO); /* 129 bytes: within 256 */
    expect_agent_hello(c, SPOP_FRAME_SIZE_MIN);
    spop_conn_free(c);

    c = conn_new(0, 0, &r);
    ck_assert_uint_eq(c->frame_limit, SPOP_CONN_DEFAULT_FRAME_SIZE);
    ck_assert_uint_eq(c->out_cap, SPOP_CONN_DEFAULT_OUT_CAP);
    /* HAProxy offering more than we take: we answer our own limit */
    feed_frame(c, VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 03 ff f0 fe fe 7e");
    expect_agent_hello(c, SPOP_CONN_DEFAULT_FRAME_SIZE);
    spop_conn_free(c);

    c = conn_new(UINT32_MAX, 0, &r);
    ck_assert_uint_eq(c->frame_limit, SPOP_CONN_MAX_FRAME_SIZE);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_hello_accepts_variants)
{
    struct recorder r;
    struct spop_conn *c;

    /* a version list, spaces, INT32 frame size of exactly 256, no capabilities at all,
     * unknown keys: all fine
     */
    c = conn_new(LIMIT, 0, &r);
    feed_frame(c, VEC_HELLO_HEAD "12\"supported-versions\" 08 0a\" 1.0 , 2.0\" "
                                 "05\"extra\" 11 "
                                 "0e\"max-frame-size\" 02 f0 01");
    expect_agent_hello(c, 256);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    ck_assert_str_eq(c->engine_id, "");
    spop_conn_free(c);

    /* an engine-id is kept printable and bounded for logs */
    c = conn_new(LIMIT, 0, &r);
    feed_frame(c, VEC_HELLO_HEAD VEC_KV_VERSIONS VEC_KV_FRAME_SIZE
               "09\"engine-id\" 08 48 01\"bcdefghijklmnopqrstuvwxyz0123456789"
               "abcdefghijklmnopqrstuvwxyz0123456789\"");
    expect_agent_hello(c, HA_MFS);
    ck_assert_uint_eq(strlen(c->engine_id), SPOP_ENGINE_ID_MAX);
    ck_assert_int_eq(c->engine_id[0], '?');
    ck_assert_int_eq(c->engine_id[1], 'b');
    spop_conn_free(c);
}
END_TEST

START_TEST(test_healthcheck_hello)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    const uint8_t *p;
    size_t pending;

    feed_raw(c, VEC_HEALTHCHECK_HELLO);
    ck_assert(c->healthcheck);
    ck_assert_int_eq(c->state, SPOP_CONN_CLOSING);
    ck_assert_uint_eq(c->stats.healthchecks, 1);
    ck_assert(!spop_conn_wants_close(c));
    /* closes only once its AGENT-HELLO is fully sent */
    pending = spop_conn_output(c, &p);
    spop_conn_consumed(c, pending - 1);
    ck_assert(!spop_conn_wants_close(c));
    spop_conn_consumed(c, 1);
    ck_assert(spop_conn_wants_close(c));
    ck_assert_int_eq(c->state, SPOP_CONN_CLOSED);
    spop_conn_free(c);

    c = conn_new(LIMIT, 0, &r);
    feed_raw(c, VEC_HEALTHCHECK_HELLO);
    expect_bytes(c, VEC_AGENT_HELLO_16380);
    ck_assert(spop_conn_wants_close(c));
    /* later input is ignored */
    feed_raw(c, VEC_HAPROXY_HELLO);
    expect_no_output(c);
    ck_assert_uint_eq(faults_total(&c->stats), 0);
    spop_conn_free(c);
}
END_TEST

/* ---- NOTIFY and ACK -------------------------------------------------------------------- */

START_TEST(test_notify_every_type_acked_at_once)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);

    feed_frame(c, VEC_NOTIFY_HEAD VEC_NOTIFY_PAYLOAD);
    ck_assert_uint_eq(r.n, 1);
    ck_assert(r.sid[0] == 0 && r.fid[0] == 1);
    ck_assert_uint_eq(r.messages[0], 2);
    ck_assert_uint_eq(r.args[0], 8);
    ck_assert(r.every_type_ok);
    ck_assert_uint_eq(c->stats.notifies, 1);
    /* sid 0 is echoed as is */
    expect_bytes(c, "00000012 67 00000001 00 01 01 03 02 01\"v\" 08 04\"pass\"");
    ck_assert_uint_eq(c->stats.acks, 1);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_notify_held_and_acked_out_of_order)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);

    r.hold = true;
    feed_frame(c, VEC_NOTIFY_HEAD VEC_NOTIFY_PAYLOAD);
    feed_frame(c, "03 00000001 00 02 04\"done\" 00");
    feed_frame(c, "03 00000001 ff f0 fe fe 7e f0 80 80 00 04\"done\" 00");
    ck_assert_uint_eq(r.n, 3);
    ck_assert(r.sid[2] == UINT32_MAX && r.fid[2] == 264432);
    expect_no_output(c);

    /* later, from a timer: any order, each echoing its ids */
    ck_assert(ack_v(c, r.sid[2], r.fid[2], "go"));
    ck_assert(ack_v(c, 0, 2, "go"));
    ck_assert(ack_v(c, 0, 1, "go"));
    expect_ack(c, UINT32_MAX, 264432);
    expect_ack(c, 0, 2);
    expect_ack(c, 0, 1);
    expect_no_output(c);
    ck_assert_uint_eq(c->stats.acks, 3);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_ack_without_action_gets_noop)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);
    struct spop_writer w;

    ck_assert(spop_ack_begin(c, 5, 1, &w));
    ck_assert(spop_ack_end(c, &w));
    expect_bytes(c, "0000000f 67 00000001 05 01 02 02 02 04\"noop\"");
    spop_conn_free(c);
}
END_TEST

START_TEST(test_notify_without_callback_is_acked)
{
    struct spop_conn_cfg cfg = {.max_frame_size = LIMIT};
    struct spop_conn *c = spop_conn_new(&cfg);

    ck_assert_ptr_nonnull(c);
    feed_raw(c, VEC_HAPROXY_HELLO);
    expect_agent_hello(c, HA_MFS);
    feed_frame(c, "03 00000001 09 03 04\"pick\" 00");
    expect_bytes(c, "0000000f 67 00000001 09 03 02 02 02 04\"noop\"");
    spop_conn_free(c);
}
END_TEST

START_TEST(test_notify_empty_and_unknown_frames)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);

    /* a NOTIFY with no message (HAProxy 3.1 bug) is still answered */
    feed_frame(c, "03 00000001 01 01");
    ck_assert_uint_eq(r.n, 1);
    ck_assert_uint_eq(r.messages[0], 0);
    expect_ack(c, 1, 1);
    /* an unknown frame type is skipped by its length, the connection goes on */
    feed_frame(c, "20 00000001 00 00 de ad be ef");
    ck_assert_uint_eq(c->stats.unknown_frames, 1);
    expect_no_output(c);
    feed_frame(c, "03 00000001 03 01 04\"done\" 00");
    expect_ack(c, 3, 1);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    ck_assert_uint_eq(faults_total(&c->stats), 0);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_ack_too_big_is_dropped)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    char big[300];

    feed_frame(c, VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 03 f0 01");
    expect_agent_hello(c, 256);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert(!ack_v(c, 1, 1, big));
    ck_assert_uint_eq(c->stats.acks_too_big, 1);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    expect_no_output(c);
    /* 7 (header) + 8 (set-var up to the 2-byte length) + 241 = 256 bytes: the largest fits */
    big[242] = '\0';
    ck_assert(!ack_v(c, 1, 1, big));
    ck_assert_uint_eq(c->stats.acks_too_big, 2);
    big[241] = '\0';
    ck_assert(ack_v(c, 1, 1, big));
    expect_ack(c, 1, 1);
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    spop_conn_free(c);
}
END_TEST

/* Even our own DISCONNECT respects a 256-byte frame size: its message is cut to fit. */
START_TEST(test_disconnect_fits_negotiated_size)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    char longmsg[SPOP_MESSAGE_MAX + 1], msg[SPOP_MESSAGE_MAX + 1];
    const uint8_t *p;

    feed_frame(c, VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 03 f0 01");
    expect_agent_hello(c, 256);
    memset(longmsg, 'm', SPOP_MESSAGE_MAX);
    longmsg[SPOP_MESSAGE_MAX] = '\0';
    ck_assert(spop_conn_disconnect(c, SPOP_STATUS_UNKNOWN, longmsg));
    ck_assert_uint_le(spop_conn_output(c, &p), 4 + 256);
    ck_assert_uint_eq(take_disconnect(c, msg, sizeof(msg)), SPOP_STATUS_UNKNOWN);
    ck_assert_uint_eq(strlen(msg), 256 - SPOP_DISCONNECT_OVERHEAD);
    ck_assert(spop_conn_wants_close(c));
    spop_conn_free(c);
}
END_TEST

START_TEST(test_ack_refused_when_not_ready)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    struct spop_writer a, b;

    /* before HELLO */
    ck_assert(!spop_ack_begin(c, 1, 1, &a));
    spop_put_set_var(&a, SPOP_SCOPE_TXN, "v", spop_data_str("pass", 4));
    ck_assert(!spop_ack_end(c, &a));
    ck_assert_uint_eq(c->stats.acks_refused, 1);
    expect_no_output(c);

    /* one ACK open at a time */
    feed_raw(c, VEC_HAPROXY_HELLO);
    expect_agent_hello(c, HA_MFS);
    ck_assert(spop_ack_begin(c, 1, 1, &a));
    ck_assert(!spop_ack_begin(c, 2, 1, &b));
    ck_assert(!spop_ack_end(c, &b));
    ck_assert(spop_ack_end(c, &a));
    ck_assert(!spop_ack_end(c, &a)); /* ended twice */
    expect_ack(c, 1, 1);
    expect_no_output(c);
    ck_assert_uint_eq(c->stats.acks_refused, 2);

    /* after the connection started closing */
    ck_assert(spop_conn_disconnect(c, SPOP_STATUS_NORMAL, "shutdown"));
    ck_assert(!ack_v(c, 3, 1, "pass"));
    ck_assert_uint_eq(c->stats.acks_refused, 3);
    ck_assert(!spop_conn_disconnect(c, SPOP_STATUS_NORMAL, "again"));
    spop_conn_free(c);
}
END_TEST

START_TEST(test_open_ack_abandoned_by_disconnect)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);
    struct spop_writer w;
    char msg[64];

    ck_assert(spop_ack_begin(c, 1, 1, &w));
    spop_put_set_var(&w, SPOP_SCOPE_TXN, "v", spop_data_str("pass", 4));
    ck_assert(spop_conn_disconnect(c, SPOP_STATUS_NORMAL, "agent stopping"));
    ck_assert(!spop_ack_end(c, &w));
    ck_assert_uint_eq(take_disconnect(c, msg, sizeof(msg)), SPOP_STATUS_NORMAL);
    ck_assert_str_eq(msg, "agent stopping");
    expect_no_output(c);
    ck_assert(spop_conn_wants_close(c));
    ck_assert_uint_eq(c->stats.acks, 0);
    spop_conn_free(c);
}
END_TEST

/* The loop may send queued bytes while an ACK is being built: only the head moves. */
START_TEST(test_output_sent_while_ack_open)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    struct spop_writer w;
    const uint8_t *p;

    feed_raw(c, VEC_HAPROXY_HELLO);
    ck_assert(spop_ack_begin(c, 4, 2, &w));
    spop_conn_consumed(c, spop_conn_output(c, &p) + 100); /* more than pending: clamped */
    spop_put_set_var(&w, SPOP_SCOPE_TXN, "v", spop_data_str("pass", 4));
    ck_assert(spop_ack_end(c, &w));
    expect_bytes(c, "00000012 67 00000001 04 02 01 03 02 01\"v\" 08 04\"pass\"");
    expect_no_output(c);
    spop_conn_free(c);
}
END_TEST

START_TEST(test_output_full_closes_with_status_13)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, SPOP_CONN_MIN_OUT_CAP, &r);
    char value[201];
    const uint8_t *p;
    size_t pending, acks = 0;
    static struct out_frame o;

    memset(value, 'v', sizeof(value) - 1);
    value[sizeof(value) - 1] = '\0';
    r.ack_value = value;
    feed_raw(c, VEC_HAPROXY_HELLO);
    /* HAProxy never reads: ACKs pile up until the cap, then DISCONNECT 13 */
    for (int i = 0; i < 20 && c->state == SPOP_CONN_READY; i++)
        feed_frame(c, "03 00000001 01 01 04\"pick\" 00");
    ck_assert_int_eq(c->state, SPOP_CONN_CLOSING);
    ck_assert_uint_eq(c->stats.faults[SPOP_FAULT_OUTPUT_FULL], 1);
    ck_assert_int_eq(c->fault, SPOP_FAULT_OUTPUT_FULL);
    pending = spop_conn_output(c, &p);
    ck_assert_uint_le(pending, SPOP_CONN_MIN_OUT_CAP);
    expect_agent_hello(c, HA_MFS);
    while (take_frame(c, &o) && o.f.type == SPOP_FRAME_ACK)
        acks++;
    ck_assert_uint_eq(o.f.type, SPOP_FRAME_AGENT_DISCONNECT);
    ck_assert_uint_eq(acks, c->stats.acks);
    ck_assert_uint_gt(acks, 0);
    /* AGENT-HELLO (68) + n ACKs (4 + 7 + 7 + 200) + the DISCONNECT reserve <= the cap */
    ck_assert_uint_eq(acks, (SPOP_CONN_MIN_OUT_CAP - 68 - SPOP_DISCONNECT_FRAME_MAX) / 218);
    ck_assert(spop_conn_wants_close(c));
    spop_conn_free(c);
}
END_TEST

/* ---- DISCONNECT and EOF ---------------------------------------------------------------- */

START_TEST(test_haproxy_disconnect)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);
    char msg[64];
    const uint8_t *p;

    /* a NOTIFY after the DISCONNECT, in the same read, is ignored */
    feed_frame(c, "02 00000001 00 00 0b\"status-code\" 03 00 07\"message\" 08 06\"normal\"");
    feed_frame(c, "03 00000001 01 01 04\"pick\" 00");
    ck_assert_uint_eq(r.n, 0);
    ck_assert_int_eq(c->state, SPOP_CONN_CLOSING);
    ck_assert_uint_eq(c->stats.peer_disconnects, 1);
    ck_assert_int_eq(c->peer_status, 0);
    ck_assert_str_eq(c->peer_message, "normal");
    spop_conn_consumed(c, 1);
    ck_assert(!spop_conn_wants_close(c));
    spop_conn_consumed(c, spop_conn_output(c, &p));
    ck_assert(spop_conn_wants_close(c));
    ck_assert_uint_eq(faults_total(&c->stats), 0);
    spop_conn_free(c);

    /* before HELLO too; the answer is status 0 "normal" */
    c = conn_new(LIMIT, 0, &r);
    feed_frame(c, "02 00000001 00 00 0b\"status-code\" 03 02 07\"message\" 08 04\"bye\x01\"");
    ck_assert_int_eq(c->peer_status, 2);
    ck_assert_str_eq(c->peer_message, "bye?");
    ck_assert_uint_eq(take_disconnect(c, msg, sizeof(msg)), SPOP_STATUS_NORMAL);
    ck_assert_str_eq(msg, "normal");
    ck_assert(spop_conn_wants_close(c));
    spop_conn_free(c);
}
END_TEST

START_TEST(test_eof_is_a_normal_close)
{
    struct recorder r;
    struct spop_conn *c = ready_conn(&r);

    r.hold = true;
    feed_frame(c, "03 00000001 01 01 04\"pick\" 00");
    ck_assert(ack_v(c, 1, 1, "pass"));
    spop_conn_eof(c);
    ck_assert(spop_conn_wants_close(c));
    ck_assert_uint_eq(c->stats.peer_closes, 1);
    ck_assert_uint_eq(faults_total(&c->stats), 0);
    expect_no_output(c);
    /* a held ACK firing after the close is refused, not written */
    ck_assert(!ack_v(c, 1, 1, "pass"));
    spop_conn_eof(c);
    ck_assert_uint_eq(c->stats.peer_closes, 1);
    spop_conn_free(c);
}
END_TEST

/* ---- malformed input ------------------------------------------------------------------- */

struct bad_case {
    const char *what;
    bool after_hello;
    const char *raw;  /* input as is (length prefix included) */
    const char *body; /* or a frame body whose length prefix is computed */
    enum spop_status status;
    enum spop_fault fault;
};

#define HELLO_BODY VEC_HELLO_HEAD VEC_KV_VERSIONS VEC_KV_FRAME_SIZE VEC_KV_CAPS

static const struct bad_case bad_cases[] = {
    {"length 0", false, "00000000", NULL, SPOP_STATUS_INVALID, SPOP_FAULT_TOO_SMALL},
    {"length 6", false, "00000006 01 00000001 00", NULL, SPOP_STATUS_INVALID, SPOP_FAULT_TOO_SMALL},
    {"length above the agent limit before HELLO", false, "0000fffd", NULL, SPOP_STATUS_TOO_BIG,
     SPOP_FAULT_TOO_BIG},
    {"length above the negotiated size", true, "00003ffd", NULL, SPOP_STATUS_TOO_BIG,
     SPOP_FAULT_TOO_BIG},
    {"over-long stream-id varint", false, NULL, "01 00000001 f0 80 80 80 80 80 80 80 80 80 00 00",
     SPOP_STATUS_INVALID, SPOP_FAULT_BAD_VARINT},
    {"frame-id missing", true, NULL, "03 00000001 f0 00", SPOP_STATUS_INVALID,
     SPOP_FAULT_TRUNCATED},
    {"HELLO value missing", false, NULL, VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 03",
     SPOP_STATUS_INVALID, SPOP_FAULT_TRUNCATED},
    {"HELLO string past the end", false, NULL,
     VEC_HELLO_HEAD "12\"supported-versions\" 08 05\"2.0\"", SPOP_STATUS_INVALID,
     SPOP_FAULT_TRUNCATED},
    {"HELLO name past the end", false, NULL, VEC_HELLO_HEAD "12\"supported\"", SPOP_STATUS_INVALID,
     SPOP_FAULT_TRUNCATED},
    {"HELLO reserved type", false, NULL, VEC_HELLO_HEAD VEC_KV_VERSIONS "01\"x\" 0e",
     SPOP_STATUS_INVALID, SPOP_FAULT_RESERVED_TYPE},
    {"NOTIFY message short of an argument", true, NULL, VEC_NOTIFY_HEAD "04\"pick\" 02 01\"a\" 00",
     SPOP_STATUS_INVALID, SPOP_FAULT_TRUNCATED},
    {"NOTIFY IPV4 cut", true, NULL, VEC_NOTIFY_HEAD "04\"pick\" 01 03\"src\" 06 7f00",
     SPOP_STATUS_INVALID, SPOP_FAULT_TRUNCATED},
    {"NOTIFY without NB-ARGS", true, NULL, VEC_NOTIFY_HEAD "04\"pick\"", SPOP_STATUS_INVALID,
     SPOP_FAULT_TRUNCATED},
    {"NOTIFY reserved type", true, NULL, VEC_NOTIFY_HEAD "04\"pick\" 01 01\"a\" 0d",
     SPOP_STATUS_INVALID, SPOP_FAULT_RESERVED_TYPE},
    {"NOTIFY over-long varint", true, NULL,
     VEC_NOTIFY_HEAD "04\"pick\" 01 01\"a\" 04 f0 80 80 80 80 80 80 80 80 80 00",
     SPOP_STATUS_INVALID, SPOP_FAULT_BAD_VARINT},
    {"NOTIFY before HELLO", false, NULL, VEC_NOTIFY_HEAD VEC_NOTIFY_PAYLOAD, SPOP_STATUS_INVALID,
     SPOP_FAULT_NOTIFY_BEFORE_HELLO},
    {"HELLO without FIN", false, NULL, "01 00000000 00 00 " VEC_KV_VERSIONS VEC_KV_FRAME_SIZE,
     SPOP_STATUS_FRAG_NOT_SUPPORTED, SPOP_FAULT_FRAGMENTED},
    {"NOTIFY without FIN", true, NULL, "03 00000000 00 01 04\"pick\" 00",
     SPOP_STATUS_FRAG_NOT_SUPPORTED, SPOP_FAULT_FRAGMENTED},
    {"continuation frame", true, NULL, "00 00000001 00 01", SPOP_STATUS_FRAG_NOT_SUPPORTED,
     SPOP_FAULT_FRAGMENTED},
    {"second HELLO", true, NULL, HELLO_BODY, SPOP_STATUS_INVALID, SPOP_FAULT_SECOND_HELLO},
    {"no supported-versions", false, NULL, VEC_HELLO_HEAD VEC_KV_FRAME_SIZE VEC_KV_CAPS,
     SPOP_STATUS_NO_VERSION, SPOP_FAULT_NO_VERSION},
    {"supported-versions not a string", false, NULL,
     VEC_HELLO_HEAD "12\"supported-versions\" 03 02 " VEC_KV_FRAME_SIZE, SPOP_STATUS_NO_VERSION,
     SPOP_FAULT_NO_VERSION},
    {"only version 1.0", false, NULL,
     VEC_HELLO_HEAD "12\"supported-versions\" 08 03\"1.0\" " VEC_KV_FRAME_SIZE,
     SPOP_STATUS_BAD_VERSION, SPOP_FAULT_BAD_VERSION},
    {"version 2.1", false, NULL,
     VEC_HELLO_HEAD "12\"supported-versions\" 08 08\"2.1,2.0x\" " VEC_KV_FRAME_SIZE,
     SPOP_STATUS_BAD_VERSION, SPOP_FAULT_BAD_VERSION},
    {"no max-frame-size", false, NULL, VEC_HELLO_HEAD VEC_KV_VERSIONS VEC_KV_CAPS,
     SPOP_STATUS_NO_FRAME_SIZE, SPOP_FAULT_NO_FRAME_SIZE},
    {"max-frame-size as a string", false, NULL,
     VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 08 03\"256\"", SPOP_STATUS_NO_FRAME_SIZE,
     SPOP_FAULT_NO_FRAME_SIZE},
    {"max-frame-size 255", false, NULL,
     VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 03 ff 00", SPOP_STATUS_BAD_FRAME_SIZE,
     SPOP_FAULT_BAD_FRAME_SIZE},
    {"max-frame-size -5", false, NULL,
     VEC_HELLO_HEAD VEC_KV_VERSIONS "0e\"max-frame-size\" 04 fb f0 fe fe fe fe fe fe fe 0e",
     SPOP_STATUS_BAD_FRAME_SIZE, SPOP_FAULT_BAD_FRAME_SIZE},
    {"ACK sent to the agent", true, NULL, "67 00000001 00 01 02 02 02 01\"x\"", SPOP_STATUS_INVALID,
     SPOP_FAULT_WRONG_DIRECTION},
    {"AGENT-HELLO sent to the agent", false, NULL, "65 00000001 00 00", SPOP_STATUS_INVALID,
     SPOP_FAULT_WRONG_DIRECTION},
    {"DISCONNECT value missing", true, NULL, "02 00000001 00 00 0b\"status-code\" 03",
     SPOP_STATUS_INVALID, SPOP_FAULT_TRUNCATED},
};

/* What a connection made of one input: its output bytes, counters and state. */
struct outcome {
    uint8_t out[2048];
    size_t out_len;
    struct spop_stats stats;
    enum spop_conn_state state;
    enum spop_fault fault;
    size_t notified;
};

static size_t bad_case_input(const struct bad_case *bc, uint8_t *in, size_t cap)
{
    size_t n = 0;

    if (bc->after_hello)
        n = hexspec(VEC_HAPROXY_HELLO, in, cap);
    if (bc->raw)
        n += hexspec(bc->raw, in + n, cap - n);
    else
        n += frame_spec(bc->body, in + n, cap - n);
    return n;
}

/* Feeds in in chunks of chunk bytes; the callback ACKs at once. */
static void run(const uint8_t *in, size_t len, size_t chunk, struct outcome *o)
{
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    const uint8_t *p;

    for (size_t off = 0; off < len; off += chunk)
        spop_conn_feed(c, in + off, len - off < chunk ? len - off : chunk);
    o->out_len = spop_conn_output(c, &p);
    ck_assert_uint_le(o->out_len, sizeof(o->out));
    memcpy(o->out, p, o->out_len);
    o->stats = c->stats;
    o->state = c->state;
    o->fault = c->fault;
    o->notified = r.n;
    spop_conn_free(c);
}

static void assert_same_outcome(const struct outcome *a, const struct outcome *b)
{
    ck_assert_uint_eq(a->out_len, b->out_len);
    ck_assert_mem_eq(a->out, b->out, a->out_len);
    ck_assert_mem_eq(&a->stats, &b->stats, sizeof(a->stats));
    ck_assert_int_eq(a->state, b->state);
    ck_assert_int_eq(a->fault, b->fault);
    ck_assert_uint_eq(a->notified, b->notified);
}

START_TEST(test_malformed_input)
{
    const struct bad_case *bc = &bad_cases[_i];
    static uint8_t in[IN_MAX];
    size_t len = bad_case_input(bc, in, sizeof(in));
    struct recorder r;
    struct spop_conn *c = conn_new(LIMIT, 0, &r);
    static struct outcome whole, bytewise;
    char msg[SPOP_MESSAGE_MAX + 1];

    spop_conn_feed(c, in, len);
    if (bc->after_hello)
        expect_agent_hello(c, HA_MFS);
    ck_assert_msg(c->state == SPOP_CONN_CLOSING, "%s: state %s", bc->what,
                  spop_conn_state_name(c->state));
    ck_assert_msg(take_disconnect(c, msg, sizeof(msg)) == bc->status, "%s: wrong status", bc->what);
    ck_assert_msg(strlen(msg) > 0, "%s: empty message", bc->what);
    expect_no_output(c);
    ck_assert_msg(c->stats.faults[bc->fault] == 1, "%s: fault %s not counted", bc->what,
                  spop_fault_name(bc->fault));
    ck_assert_uint_eq(faults_total(&c->stats), 1);
    ck_assert_int_eq(c->fault, bc->fault);
    ck_assert_int_eq(spop_fault_status(bc->fault), bc->status);
    ck_assert_uint_eq(r.n, 0);
    ck_assert(spop_conn_wants_close(c));
    spop_conn_free(c);

    run(in, len, len, &whole);
    run(in, len, 1, &bytewise);
    assert_same_outcome(&whole, &bytewise);
}
END_TEST

START_TEST(test_fault_names)
{
    ck_assert_str_eq(spop_fault_name(SPOP_FAULT_TOO_BIG), "frame_too_big");
    ck_assert_str_eq(spop_fault_name(SPOP_FAULT_COUNT), "unknown");
    ck_assert_int_eq(spop_fault_status(SPOP_FAULT_OUTPUT_FULL), SPOP_STATUS_RESOURCE);
    ck_assert_int_eq(spop_fault_status(SPOP_FAULT_COUNT), SPOP_STATUS_UNKNOWN);
    ck_assert_str_eq(spop_conn_state_name(SPOP_CONN_READY), "ready");
    ck_assert_str_eq(spop_conn_state_name((enum spop_conn_state)9), "unknown");
    for (int f = 1; f < SPOP_FAULT_COUNT; f++) {
        ck_assert_str_ne(spop_fault_name((enum spop_fault)f), "unknown");
        ck_assert_int_ne(spop_fault_status((enum spop_fault)f), SPOP_STATUS_NORMAL);
    }
}
END_TEST

/* ---- streams fed in pieces, and fuzzing ------------------------------------------------ */

/* HELLO, two NOTIFYs, an unknown frame, a NOTIFY, then HAProxy's DISCONNECT. */
static size_t session_input(uint8_t *in, size_t cap)
{
    size_t n = hexspec(VEC_HAPROXY_HELLO, in, cap);

    n += frame_spec(VEC_NOTIFY_HEAD VEC_NOTIFY_PAYLOAD, in + n, cap - n);
    n += frame_spec("03 00000001 00 02 04\"done\" 00", in + n, cap - n);
    n += frame_spec("7f 00000001 00 00", in + n, cap - n);
    n += frame_spec("03 00000001 f0 05 01 04\"pick\" 01 03\"src\" 06 0a000001", in + n, cap - n);
    n += frame_spec("02 00000001 00 00 0b\"status-code\" 03 00 07\"message\" 08 06\"normal\"",
                    in + n, cap - n);
    return n;
}

START_TEST(test_session_in_any_chunks)
{
    static uint8_t in[IN_MAX];
    static struct outcome whole, pieces;
    size_t len = session_input(in, sizeof(in));
    static const size_t chunks[] = {1, 2, 3, 5, 7, 64, 130};

    run(in, len, len, &whole);
    ck_assert_uint_eq(whole.notified, 3);
    ck_assert_uint_eq(whole.stats.acks, 3);
    ck_assert_uint_eq(whole.stats.unknown_frames, 1);
    ck_assert_uint_eq(whole.stats.peer_disconnects, 1);
    ck_assert_uint_eq(whole.stats.frames_in, 6);
    ck_assert_uint_eq(whole.stats.frames_out, 5); /* HELLO, 3 ACKs, DISCONNECT */
    ck_assert_int_eq(whole.state, SPOP_CONN_CLOSING);
    ck_assert_uint_eq(faults_total(&whole.stats), 0);
    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        run(in, len, chunks[i], &pieces);
        assert_same_outcome(&whole, &pieces);
    }
}
END_TEST

/* Every prefix of a valid stream is only an incomplete stream, never a fault. */
START_TEST(test_every_prefix_is_clean)
{
    static uint8_t in[IN_MAX];
    static struct outcome o;
    size_t len = session_input(in, sizeof(in));

    for (size_t cut = 0; cut < len; cut++) {
        run(in, cut, cut ? cut : 1, &o);
        ck_assert_uint_eq(faults_total(&o.stats), 0);
        ck_assert_int_ne(o.state, SPOP_CONN_CLOSED);
    }
}
END_TEST

/* Deterministic xorshift64*, so a failure replays. */
static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t rnd_below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

/* Checks that queued output is a sequence of well-formed agent frames; remembers the last
 * frame's type and, for a DISCONNECT, its status.
 */
static void check_output(const uint8_t *p, size_t len, uint32_t frame_size, uint8_t *last_type,
                         uint64_t *last_status)
{
    while (len > 0) {
        struct spop_frame f;
        size_t size;

        ck_assert_uint_ge(len, 4);
        size = spop_frame_length(p);
        ck_assert_uint_ge(size, SPOP_FRAME_MIN_SIZE);
        ck_assert_uint_le(size, frame_size);
        ck_assert_uint_le(4 + size, len);
        ck_assert_int_eq(spop_frame_decode(p + 4, size, &f), SPOP_ERR_NONE);
        ck_assert_uint_eq(f.flags, SPOP_FLAG_FIN);
        ck_assert(f.type == SPOP_FRAME_AGENT_HELLO || f.type == SPOP_FRAME_AGENT_DISCONNECT ||
                  f.type == SPOP_FRAME_ACK);
        *last_type = f.type;
        if (f.type == SPOP_FRAME_AGENT_DISCONNECT) {
            struct spop_kv_iter it;
            struct spop_kv kv;

            spop_kv_iter_init(&it, f.payload, f.payload_len);
            ck_assert(spop_kv_next(&it, &kv));
            *last_status = kv.value.u64;
        }
        p += 4 + size;
        len -= 4 + size;
    }
}

static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    switch (rnd_below(5)) {
    case 0: /* flip a few bytes */
        for (size_t k = 1 + rnd_below(4); k > 0 && *len > 0; k--)
            buf[rnd_below(*len)] ^= (uint8_t)(1 + rnd_below(255));
        break;
    case 1: /* truncate */
        *len = rnd_below(*len + 1);
        break;
    case 2: { /* insert random bytes */
        size_t at = rnd_below(*len + 1), n = 1 + rnd_below(16);

        if (*len + n > cap)
            break;
        memmove(buf + at + n, buf + at, *len - at);
        for (size_t k = 0; k < n; k++)
            buf[at + k] = (uint8_t)rnd();
        *len += n;
        break;
    }
    case 3: /* random garbage after the HELLO */
        *len = 4 + 129 + rnd_below(300);
        for (size_t k = 4 + 129; k < *len; k++)
            buf[k] = (uint8_t)rnd();
        break;
    default: /* nothing but garbage */
        *len = rnd_below(300);
        for (size_t k = 0; k < *len; k++)
            buf[k] = (uint8_t)rnd();
        break;
    }
}

START_TEST(test_fuzz_never_misbehaves)
{
    static uint8_t base[IN_MAX], buf[IN_MAX];
    static const uint32_t limits[] = {256, 1024, LIMIT};
    static const size_t caps[] = {SPOP_CONN_MIN_OUT_CAP, 4096, 65536};
    size_t base_len = session_input(base, sizeof(base));

    rng_state = 0x5eed5eed12345678ull;
    for (int iter = 0; iter < 20000; iter++) {
        struct recorder r;
        struct spop_conn *c = conn_new(limits[rnd_below(3)], caps[rnd_below(3)], &r);
        size_t len = base_len, off = 0;
        uint8_t last_type = 0;
        uint64_t last_status = UINT64_MAX;
        const uint8_t *p;
        size_t pending;

        r.hold = rnd_below(4) == 0;
        memcpy(buf, base, base_len);
        mutate(buf, &len, sizeof(buf));
        if (rnd_below(2))
            mutate(buf, &len, sizeof(buf));
        while (off < len) {
            size_t n = 1 + rnd_below(len - off < 200 ? len - off : 200);

            spop_conn_feed(c, buf + off, n);
            off += n;
            if (rnd_below(3) == 0) {
                pending = spop_conn_output(c, &p);
                check_output(p, pending, c->frame_size, &last_type, &last_status);
                spop_conn_consumed(c, pending);
            }
        }
        /* held answers arrive late, newest first */
        for (size_t k = r.n < MAX_SEEN ? r.n : MAX_SEEN; k > 0; k--)
            ack_v(c, r.sid[k - 1], r.fid[k - 1], "late");
        pending = spop_conn_output(c, &p);
        check_output(p, pending, c->frame_size, &last_type, &last_status);

        ck_assert_uint_le(faults_total(&c->stats), 1);
        ck_assert_uint_eq(c->stats.notifies, r.n);
        if (c->fault != SPOP_FAULT_NONE) {
            ck_assert_uint_eq(c->stats.faults[c->fault], 1);
            ck_assert_uint_eq(last_type, SPOP_FRAME_AGENT_DISCONNECT);
            ck_assert_uint_eq(last_status, spop_fault_status(c->fault));
            ck_assert(c->state == SPOP_CONN_CLOSING || c->state == SPOP_CONN_CLOSED);
        }
        spop_conn_eof(c);
        ck_assert(spop_conn_wants_close(c));
        spop_conn_free(c);
    }
}
END_TEST

START_TEST(test_stats_add)
{
    struct spop_stats sum, one;

    memset(&sum, 0, sizeof(sum));
    memset(&one, 0, sizeof(one));
    one.notifies = 3;
    one.acks = 2;
    one.peer_closes = 1;
    one.faults[SPOP_FAULT_TOO_BIG] = 1;
    spop_stats_add(&sum, &one);
    spop_stats_add(&sum, &one);
    ck_assert_uint_eq(sum.notifies, 6);
    ck_assert_uint_eq(sum.acks, 4);
    ck_assert_uint_eq(sum.peer_closes, 2);
    ck_assert_uint_eq(sum.faults[SPOP_FAULT_TOO_BIG], 2);
    ck_assert_uint_eq(faults_total(&sum), 2);
}
END_TEST

static Suite *spop_conn_suite(void)
{
    Suite *s = suite_create("spop_conn");
    TCase *hello = tcase_create("hello");
    TCase *notify = tcase_create("notify");
    TCase *close = tcase_create("close");
    TCase *bad = tcase_create("malformed");
    TCase *stream = tcase_create("stream");

    tcase_add_test(hello, test_hello_exchange);
    tcase_add_test(hello, test_hello_negotiates_down_to_agent_limit);
    tcase_add_test(hello, test_hello_limits_clamped);
    tcase_add_test(hello, test_hello_accepts_variants);
    tcase_add_test(hello, test_healthcheck_hello);
    suite_add_tcase(s, hello);

    tcase_add_test(notify, test_notify_every_type_acked_at_once);
    tcase_add_test(notify, test_notify_held_and_acked_out_of_order);
    tcase_add_test(notify, test_ack_without_action_gets_noop);
    tcase_add_test(notify, test_notify_without_callback_is_acked);
    tcase_add_test(notify, test_notify_empty_and_unknown_frames);
    tcase_add_test(notify, test_ack_too_big_is_dropped);
    tcase_add_test(notify, test_disconnect_fits_negotiated_size);
    tcase_add_test(notify, test_ack_refused_when_not_ready);
    tcase_add_test(notify, test_open_ack_abandoned_by_disconnect);
    tcase_add_test(notify, test_output_sent_while_ack_open);
    tcase_add_test(notify, test_output_full_closes_with_status_13);
    suite_add_tcase(s, notify);

    tcase_add_test(close, test_haproxy_disconnect);
    tcase_add_test(close, test_eof_is_a_normal_close);
    suite_add_tcase(s, close);

    tcase_add_loop_test(bad, test_malformed_input, 0,
                        (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(bad, test_fault_names);
    suite_add_tcase(s, bad);

    tcase_add_test(stream, test_session_in_any_chunks);
    tcase_add_test(stream, test_every_prefix_is_clean);
    tcase_add_test(stream, test_fuzz_never_misbehaves);
    tcase_add_test(stream, test_stats_add);
    tcase_set_timeout(stream, 60);
    suite_add_tcase(s, stream);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(spop_conn_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

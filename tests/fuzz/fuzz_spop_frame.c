/*
 * libFuzzer harness: what HAProxy can send the agent on an SPOP connection.
 *
 * Input: <split seed:1> <mode:1> <bytes HAProxy sends...>
 *
 * The bytes go through a whole connection (spop_conn) in pieces chosen by the split seed,
 * every NOTIFY is walked message by message and argument by argument, then decided by the
 * real dispatcher on a decider built from a fixed configuration and answered with its ACK,
 * at once or held until the next piece. The agent's output is drained a little or all at
 * once and reassembled as HAProxy would, and every frame in it must be well formed.
 * The same bytes also go through the typed-data codec directly, where decoding what was
 * encoded must give the decoded value back.
 *
 * Anything wrong (a frame the agent should never write, a value that does not survive a
 * round trip, a connection that never closes) aborts, so libFuzzer reports it as a crash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "decide.h"
#include "dispatch.h"
#include "ratelimit.h"
#include "retry.h"
#include "siphash.h"
#include "spop_conn.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"
#include "state.h"
#include "util/chunks.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The forwards and groups the seed NOTIFYs name: plain, rate-limited, weighted, retrying. */
static const char decider_yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "    - {name: limited, port: 3002, upstream_group: g,\n"
    "       ratelimit: {enabled: true, per_second: 1, burst: 1}}\n"
    "    - {name: wrr, port: 3003, upstream_group: w}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2'}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a}, {name: b}]\n"
    "    http_client: {retry: {enabled: true, attempts: 3, initial: 100}}\n"
    "  - name: w\n"
    "    upstreams: [{name: a, weight: 5}, {name: b, weight: 1}]\n"
    "    balance: {strategy: weighted_roundrobin}\n";

/* Bits of the mode byte. */
#define MODE_SMALL_FRAMES 0x01 /* agent frame limit 256 instead of the default */
#define MODE_SMALL_OUTPUT 0x02 /* output buffer at its minimum, so it can fill up */
#define MODE_HOLD_ACKS    0x04 /* answer after the next piece instead of in the callback */
#define MODE_SHUTDOWN     0x08 /* end with an agent disconnect instead of HAProxy's EOF */
#define MODE_DRAIN_SHIFT  4    /* high nibble: drain n * 61 bytes per piece, 0 = everything */

#define DRAIN_UNIT 61
#define MAX_HELD   64

struct held_ack {
    uint64_t stream_id, frame_id;
    struct answer answer;
};

struct session {
    struct decider decider;
    struct dispatch_stats dispatch;
    uint64_t now_ms;
    struct held_ack held[MAX_HELD];
    size_t n_held;
    bool hold;

    /* HAProxy's side: the agent's frames reassembled from what was drained. */
    uint8_t frame[SPOP_LENGTH_SIZE + SPOP_CONN_MAX_FRAME_SIZE];
    size_t frame_len;
    uint64_t frames_seen;
};

static struct session s;

/* Walks every argument of every message, as any consumer of a NOTIFY may. */
static void walk_messages(struct spop_msg_iter msgs)
{
    struct spop_msg msg;
    struct spop_kv kv;

    while (spop_msg_next(&msgs, &msg)) {
        unsigned n = 0;

        while (spop_kv_next(&msg.args, &kv))
            n++;
        /* spop_msg_next checked the message whole: its arguments cannot be malformed. */
        if (msg.args.err != SPOP_ERR_NONE || n != msg.nb_args)
            abort();
    }
}

static void on_notify(struct spop_conn *conn, uint64_t sid, uint64_t fid,
                      struct spop_msg_iter *msgs, void *user)
{
    struct session *ss = user;
    struct held_ack h = {.stream_id = sid, .frame_id = fid};

    walk_messages(*msgs);
    dispatch_notify(&ss->decider, msgs, ss->now_ms, &h.answer, &ss->dispatch);
    if (ss->hold && ss->n_held < MAX_HELD)
        ss->held[ss->n_held++] = h;
    else
        answer_write(conn, sid, fid, &h.answer);
}

static void answer_held(struct spop_conn *conn)
{
    for (size_t i = 0; i < s.n_held; i++)
        answer_write(conn, s.held[i].stream_id, s.held[i].frame_id, &s.held[i].answer);
    s.n_held = 0;
}

/* One agent frame as HAProxy would check it. */
static void check_agent_frame(const struct spop_conn *conn, const uint8_t *body, uint32_t len)
{
    struct spop_frame f;
    struct spop_kv_iter it;
    struct spop_kv kv;

    if (len < SPOP_FRAME_MIN_SIZE || len > conn->frame_limit)
        abort();
    if (spop_frame_decode(body, len, &f) != SPOP_ERR_NONE || !(f.flags & SPOP_FLAG_FIN))
        abort();
    switch (f.type) {
    case SPOP_FRAME_AGENT_HELLO:
    case SPOP_FRAME_AGENT_DISCONNECT:
        spop_kv_iter_init(&it, f.payload, f.payload_len);
        while (spop_kv_next(&it, &kv))
            continue;
        if (it.err != SPOP_ERR_NONE)
            abort();
        break;
    case SPOP_FRAME_ACK:
        /* HAProxy 3.1.0 stalls on an ACK without action. */
        if (f.payload_len == 0)
            abort();
        break;
    default:
        abort();
    }
    s.frames_seen++;
}

/* Takes drained bytes and checks every frame they complete. */
static void reassemble(const struct spop_conn *conn, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t want = SPOP_LENGTH_SIZE;
        size_t take;

        if (s.frame_len >= SPOP_LENGTH_SIZE) {
            uint32_t len = spop_frame_length(s.frame);

            if (len > SPOP_CONN_MAX_FRAME_SIZE)
                abort();
            want += len;
        }
        take = want - s.frame_len < n ? want - s.frame_len : n;
        memcpy(s.frame + s.frame_len, p, take);
        s.frame_len += take;
        p += take;
        n -= take;
        if (s.frame_len == want && want > SPOP_LENGTH_SIZE) {
            check_agent_frame(conn, s.frame + SPOP_LENGTH_SIZE,
                              (uint32_t)(want - SPOP_LENGTH_SIZE));
            s.frame_len = 0;
        }
    }
}

/* Sends at most limit queued bytes (everything when limit is 0). */
static void drain(struct spop_conn *conn, size_t limit)
{
    const uint8_t *out;
    size_t n;

    while ((n = spop_conn_output(conn, &out)) > 0) {
        if (n > conn->out_cap)
            abort();
        if (limit != 0 && n > limit)
            n = limit;
        reassemble(conn, out, n);
        spop_conn_consumed(conn, n);
        if (limit != 0 && (limit -= n) == 0)
            return;
    }
}

/* The agent state is built once: loading the configuration would otherwise cost most of
 * each run. The clock jumps a minute per input, so the only thing an input inherits from
 * the previous ones is the balancers' rotation; rate limits and retries start afresh.
 */
static void decider_init(void)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load_buf("fuzz-decider.yaml", decider_yaml,
                                         sizeof(decider_yaml) - 1, NULL, NULL, &diags);

    conf_diags_free(&diags);
    if (!cfg)
        abort(); /* the fixed configuration must load: a harness bug otherwise */
    s.decider.state = state_create(cfg, NULL, 42);
    if (!s.decider.state)
        abort();
}

static bool decider_open(void)
{
    static const struct siphash_key key = {.k0 = 7, .k1 = 11};

    s.decider.ratelimit = ratelimit_create(64, &key);
    s.decider.attempts = retry_create(64, 60000, &key);
    return s.decider.ratelimit && s.decider.attempts;
}

static void decider_close(void)
{
    ratelimit_destroy(s.decider.ratelimit);
    retry_destroy(s.decider.attempts);
    s.decider.ratelimit = NULL;
    s.decider.attempts = NULL;
}

static void fuzz_connection(const uint8_t *stream, size_t len, uint8_t split, uint8_t mode)
{
    struct spop_conn_cfg cfg = {
        .max_frame_size = (mode & MODE_SMALL_FRAMES) ? SPOP_FRAME_SIZE_MIN : 0,
        .out_cap = (mode & MODE_SMALL_OUTPUT) ? SPOP_CONN_MIN_OUT_CAP : 0,
        .on_notify = on_notify,
        .user = &s,
    };
    size_t drain_limit = (size_t)(mode >> MODE_DRAIN_SHIFT) * DRAIN_UNIT;
    struct spop_conn *conn;
    struct chunks pieces;
    const uint8_t *piece;
    size_t n;

    s.now_ms += 60000;
    s.n_held = 0;
    s.hold = (mode & MODE_HOLD_ACKS) != 0;
    s.frame_len = 0;
    s.frames_seen = 0;
    memset(&s.dispatch, 0, sizeof(s.dispatch));
    if (!decider_open()) {
        decider_close();
        return;
    }
    conn = spop_conn_new(&cfg);
    if (!conn) {
        decider_close();
        return;
    }

    chunks_init(&pieces, stream, len, split);
    while ((n = chunks_next(&pieces, &piece)) > 0 && !spop_conn_wants_close(conn)) {
        /* Each piece from its own exact-size buffer, so a read past it trips ASan. */
        uint8_t *copy = exact_copy(piece, n);

        spop_conn_feed(conn, copy, n);
        free(copy);
        answer_held(conn);
        drain(conn, drain_limit);
        s.now_ms += 7;
    }
    answer_held(conn);
    if (mode & MODE_SHUTDOWN) {
        spop_conn_disconnect(conn, SPOP_STATUS_NORMAL, "shutting down");
        drain(conn, 0);
        if (!spop_conn_wants_close(conn))
            abort(); /* a closing connection whose output is drained must be closed */
    } else {
        drain(conn, 0);
    }
    spop_conn_eof(conn);
    if (!spop_conn_wants_close(conn) || s.frames_seen > conn->stats.frames_out ||
        conn->stats.acks > conn->stats.notifies)
        abort();
    spop_conn_free(conn);
    decider_close();
}

static bool same_data(const struct spop_data *a, const struct spop_data *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case SPOP_DATA_BOOL:
        return a->boolean == b->boolean;
    case SPOP_DATA_INT32:
    case SPOP_DATA_UINT32:
    case SPOP_DATA_INT64:
    case SPOP_DATA_UINT64:
        return a->u64 == b->u64 && a->i64 == b->i64;
    case SPOP_DATA_IPV4:
    case SPOP_DATA_IPV6:
    case SPOP_DATA_STRING:
    case SPOP_DATA_BINARY:
        return a->bytes.len == b->bytes.len &&
               (a->bytes.len == 0 || memcmp(a->bytes.ptr, b->bytes.ptr, a->bytes.len) == 0);
    default:
        return true;
    }
}

/* Decodes typed values back to back; each must survive an encode and a second decode. */
static void fuzz_typed_data(const uint8_t *data, size_t size)
{
    static uint8_t buf[SPOP_CONN_MAX_FRAME_SIZE + SPOP_VARINT_MAX + 1];
    const uint8_t *pos = data;
    const uint8_t *end = data + size;
    struct spop_data d, again;

    while (pos < end) {
        const uint8_t *before = pos;
        const uint8_t *rpos;
        struct spop_writer w;

        if (spop_data_decode(&pos, end, &d) != SPOP_ERR_NONE) {
            if (pos != before)
                abort(); /* a failed decode must not move */
            pos++;       /* resynchronise on the next byte */
            continue;
        }
        if (pos <= before || pos > end)
            abort();
        spop_writer_init(&w, buf, sizeof(buf));
        spop_put_data(&w, d);
        if (w.failed)
            abort();
        rpos = buf;
        if (spop_data_decode(&rpos, w.pos, &again) != SPOP_ERR_NONE || rpos != w.pos ||
            !same_data(&d, &again))
            abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    decider_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    fuzz_connection(data + 2, size - 2, data[0], data[1]);
    fuzz_typed_data(data, size);
    return 0;
}

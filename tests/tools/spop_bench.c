/*
 * spop_bench: a SPOP load generator that measures llmproxy-agent's `pick` decisions.
 *
 * It plays HAProxy 2.6's part: opens -c connections, sends each a HAPROXY-HELLO like 2.6's
 * (version 2.0, max-frame-size 16380, capabilities "pipelining"), then keeps up to -d `pick`
 * NOTIFYs in flight per connection (pipelining) until -n picks have been answered or -t seconds
 * have passed. Every ACK is checked (frame, echoed ids, LIST-OF-ACTIONS, a txn `v` verdict) and its
 * NOTIFY -> ACK round trip recorded.
 *
 * One thread and one epoll loop, so that the agent keeps the other core. Round trips are
 * stamped once per write and once per read: all NOTIFYs leaving in one write share their
 * send time, all ACKs arriving in one read share their receive time, as HAProxy would see
 * them. Every buffer is sized at start; the run allocates nothing.
 *
 * Exit status: 0 when every pick sent was answered with a well-formed verdict, 1 on any
 * error, 2 on bad usage or when the agent cannot be reached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "contract/spop_names.h"
#include "decide.h"
#include "ratelimit.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"

/* What HAProxy 2.6 announces with the default tune.bufsize (16384 - 4). */
#define HELLO_FRAME_SIZE 16380u
/* HAProxy 2.6's max-waiting-frames default: deeper pipelines are never seen in production. */
#define HAPROXY_DEPTH 20u

#define CONNS_MAX    1024u
#define DEPTH_MAX    1024u
#define TOTAL_MAX    1000000000ull
#define SECONDS_MAX  3600u
#define FORWARD_MAX  64u
#define CLIENT_MAX   48u           /* a configuration name */
#define GRACE_NS     1000000000ull /* how long in-flight picks may still be answered */
#define EPOLL_EVENTS 64

/* The group of the bench configuration has two members: c0/q0/u0 and c1/q1/u1. */
#define MEMBERS   2u
#define PICK_ARGS (3u + 3u * MEMBERS)

/* A NOTIFY is under 220 bytes (ids, a 64-byte forward, a 16-byte address, a 24-byte id,
 * a 48-byte client);
 * an output buffer of depth such slots never refuses a refill.
 */
#define NOTIFY_ROOM 256u
#define HELLO_ROOM  256u
/* Room to read many ACKs per syscall; a frame is never larger than HELLO_FRAME_SIZE. */
#define IN_CAP ((size_t)64 * 1024)

#define NS_PER_S  1000000000ull
#define NS_PER_US 1000.0

/* ------------------------------------------------------------------------------------ */
/* Round-trip histogram: log-linear, 2^SUB_BITS buckets per power of two of nanoseconds.  */

#define HIST_SUB_BITS 7 /* relative error under 1/128 */
#define HIST_SUB      (1u << HIST_SUB_BITS)
#define HIST_BUCKETS  ((64u - HIST_SUB_BITS + 1u) * HIST_SUB)

struct rtt_hist {
    uint64_t count;
    uint64_t max_ns;
    uint64_t sum_ns;
    uint64_t buckets[HIST_BUCKETS];
};

static unsigned hist_index(uint64_t ns)
{
    unsigned shift;

    if (ns < HIST_SUB)
        return (unsigned)ns;
    shift = (unsigned)(63 - __builtin_clzll(ns)) - HIST_SUB_BITS;
    return (shift + 1) * HIST_SUB + (unsigned)((ns >> shift) - HIST_SUB);
}

/* The largest value that falls in bucket idx: percentiles are reported as upper bounds. */
static uint64_t hist_bucket_top(unsigned idx)
{
    unsigned shift;
    uint64_t top;

    if (idx < HIST_SUB)
        return idx;
    shift = idx / HIST_SUB - 1;
    top = (uint64_t)(idx % HIST_SUB) + HIST_SUB + 1;
    if (shift + HIST_SUB_BITS + 1 >= 64 && top == 2 * HIST_SUB)
        return UINT64_MAX;
    return (top << shift) - 1;
}

static void hist_record(struct rtt_hist *h, uint64_t ns)
{
    h->buckets[hist_index(ns)]++;
    h->count++;
    h->sum_ns += ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

/* The q-quantile (0 < q <= 1), never above the largest value recorded. */
static uint64_t hist_quantile(const struct rtt_hist *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->count + 0.999999);
    uint64_t seen = 0;

    if (h->count == 0)
        return 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->buckets[i];
        if (seen >= rank) {
            uint64_t top = hist_bucket_top(i);
            return top < h->max_ns ? top : h->max_ns;
        }
    }
    return h->max_ns;
}

/* ------------------------------------------------------------------------------------ */
/* Options                                                                                */

struct bench_opts {
    const char *host; /* the agent's SPOP address: an IPv4 or IPv6 literal */
    uint16_t port;
    const char *unix_path; /* the agent's SPOP unix socket, instead of host and port */
    unsigned conns;
    unsigned depth;
    uint64_t total;
    unsigned max_seconds;
    uint64_t distinct_ips; /* source addresses cycle over this many values */
    bool ipv6;
    uint64_t ipv6_hosts; /* consecutive IPv6 sources per /64 network */
    const char *forward;
    const char *client; /* sent as `cl`, as a forward with client_auth does; NULL: none */
    bool kv;
};

/* ------------------------------------------------------------------------------------ */
/* State                                                                                  */

enum bench_err {
    BERR_HELLO,       /* AGENT-HELLO missing, malformed or refusing what we announced */
    BERR_FRAME,       /* frame undecodable, larger than max-frame-size, or without FIN */
    BERR_FRAME_TYPE,  /* after the handshake, a frame that is neither ACK nor DISCONNECT */
    BERR_UNKNOWN_ID,  /* ACK whose (stream-id, frame-id) matches no NOTIFY in flight */
    BERR_ACTIONS,     /* malformed LIST-OF-ACTIONS */
    BERR_NO_VERDICT,  /* ACK without a txn `v` string */
    BERR_BAD_VERDICT, /* `v` is none of the pick verdicts */
    BERR_DISCONNECT,  /* AGENT-DISCONNECT received */
    BERR_CLOSED,      /* the agent closed or reset a connection */
    BERR_UNANSWERED,  /* NOTIFY still without ACK at the end */
    BERR_COUNT
};

static const char *const bench_err_names[BERR_COUNT] = {
    [BERR_HELLO] = "hello",
    [BERR_FRAME] = "frame",
    [BERR_FRAME_TYPE] = "frame_type",
    [BERR_UNKNOWN_ID] = "unknown_id",
    [BERR_ACTIONS] = "actions",
    [BERR_NO_VERDICT] = "no_verdict",
    [BERR_BAD_VERDICT] = "bad_verdict",
    [BERR_DISCONNECT] = "disconnect",
    [BERR_CLOSED] = "closed",
    [BERR_UNANSWERED] = "unanswered",
};

#define PICK_VERDICTS (PICK_UNAVAILABLE + 1)

/*   (connect) --> HELLO --AGENT-HELLO accepted--> READY --EOF, fault, DISCONNECT--> CLOSED
 *                   +--------------refused, EOF or fault---------------------------> CLOSED
 * A zeroed connection is CLOSED: it owns no socket.
 */
enum bconn_state {
    BCONN_CLOSED = 0,
    BCONN_HELLO,
    BCONN_READY,
};

/* One NOTIFY in flight. */
struct slot {
    bool busy;
    uint64_t stream_id;
    uint64_t frame_id;
    uint64_t sent_ns;
};

struct bconn {
    int fd;
    enum bconn_state state;
    uint32_t frame_size; /* negotiated in the handshake */
    bool polling_out;
    /* Stream-ids are seq * depth + slot: unique on the connection, and an ACK's stream-id
     * names its slot directly. */
    uint64_t seq;
    unsigned inflight;
    struct slot *slots;
    unsigned *free_slots;
    unsigned n_free;
    uint8_t *in;
    size_t in_len;
    uint8_t *out;
    size_t out_head, out_len, out_cap;
};

struct bench {
    struct bench_opts o;
    struct bconn *conns;
    int epfd;
    unsigned open_conns;
    uint64_t sent;     /* NOTIFYs queued */
    uint64_t inflight; /* over all connections */
    uint64_t verdicts[PICK_VERDICTS];
    uint64_t routed; /* `pass` verdicts that named an upstream */
    uint64_t errors[BERR_COUNT];
    bool stopping; /* no more NOTIFYs: time is up */
    uint64_t start_ns, deadline_ns, grace_end_ns;
    uint64_t first_send_ns, last_ack_ns;
    bool disconnect_reported;
    struct rtt_hist hist;
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static uint64_t bench_errors(const struct bench *b)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < BERR_COUNT; i++)
        n += b->errors[i];
    return n;
}

static uint64_t bench_answered(const struct bench *b)
{
    uint64_t n = 0;

    for (unsigned i = 0; i < PICK_VERDICTS; i++)
        n += b->verdicts[i];
    return n;
}

/* ------------------------------------------------------------------------------------ */
/* Frames we send                                                                         */

static size_t build_hello(struct spop_writer *w, unsigned conn_index)
{
    static const char caps[] = "pipelining";
    char engine_id[40];

    /* 2.6 sends a UUID per thread; one per connection keeps them apart in the agent's logs. */
    snprintf(engine_id, sizeof(engine_id), "%08x-0000-4000-8000-%012x", (unsigned)getpid(),
             conn_index);
    spop_frame_begin(w, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
    spop_put_kv(w, "supported-versions", spop_data_str(SPOP_VERSION, strlen(SPOP_VERSION)));
    spop_put_kv(w, "max-frame-size", spop_data_uint32(HELLO_FRAME_SIZE));
    spop_put_kv(w, "capabilities", spop_data_str(caps, strlen(caps)));
    spop_put_kv(w, "engine-id", spop_data_str(engine_id, strlen(engine_id)));
    return spop_frame_end(w);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/*
 * The source address of pick number k: documentation prefixes (10/8, 2001:db8::/32). The
 * agent limits an IPv6 client per /64, so IPv6 source number n is host n % ipv6_hosts of
 * the /64 2001:db8:<n / ipv6_hosts>::/64; its 64 host bits all vary with the host number,
 * as privacy addresses do, so that no shorter cut than the /64 merges two hosts.
 */
static struct spop_data source_of(const struct bench_opts *o, uint64_t k, uint8_t buf[16])
{
    uint32_t client = (uint32_t)(k % o->distinct_ips);

    memset(buf, 0, 16);
    if (o->ipv6) {
        uint32_t host = (uint32_t)(client % o->ipv6_hosts);

        buf[0] = 0x20;
        buf[1] = 0x01;
        buf[2] = 0x0d;
        buf[3] = 0xb8;
        put_be32(buf + 4, (uint32_t)(client / o->ipv6_hosts));
        put_be32(buf + 8, (host + 1) * 0x9e3779b1u); /* scrambled, and never 0 for host 0 */
        put_be32(buf + 12, host);
        return spop_data_ipv6(buf);
    }
    put_be32(buf, client + (10u << 24));
    return spop_data_ipv4(buf);
}

/* Pick number k as HAProxy's `send-spoe-group ... pick` encodes it (docs/spop-contract.md):
 * srv_conn / srv_queue are SINT samples, sent as INT64, and srv_is_up is a BOOL. The member
 * loads vary so that the balancer has a choice to make.
 */
static size_t build_pick(struct spop_writer *w, const struct bench_opts *o, uint64_t stream_id,
                         uint64_t frame_id, uint64_t k)
{
    static const char *const conn_names[MEMBERS] = {"c0", "c1"};
    static const char *const queue_names[MEMBERS] = {"q0", "q1"};
    static const char *const up_names[MEMBERS] = {"u0", "u1"};
    uint8_t addr[16];
    char id[32];
    int id_len;

    id_len = snprintf(id, sizeof(id), "%016" PRIX64 ":%04X", k, (unsigned)(stream_id & 0xffff));
    spop_frame_begin(w, SPOP_FRAME_NOTIFY, stream_id, frame_id);
    spop_put_str(w, "pick", 4);
    spop_put_u8(w, PICK_ARGS + (o->client != NULL));
    spop_put_kv(w, "f", spop_data_str(o->forward, strlen(o->forward)));
    if (o->client)
        spop_put_kv(w, SPOP_ARG_CLIENT, spop_data_str(o->client, strlen(o->client)));
    spop_put_kv(w, "src", source_of(o, k, addr));
    spop_put_kv(w, "id", spop_data_str(id, (size_t)id_len));
    for (unsigned i = 0; i < MEMBERS; i++) {
        spop_put_kv(w, conn_names[i], spop_data_int64((int64_t)((k >> i) % 8)));
        spop_put_kv(w, queue_names[i], spop_data_int64(0));
        spop_put_kv(w, up_names[i], spop_data_bool(true));
    }
    return spop_frame_end(w);
}

/* ------------------------------------------------------------------------------------ */
/* Connections                                                                            */

static void conn_count_unanswered(struct bench *b, struct bconn *c)
{
    b->errors[BERR_UNANSWERED] += c->inflight;
    b->inflight -= c->inflight;
    c->inflight = 0;
}

static void conn_close(struct bench *b, struct bconn *c)
{
    if (c->state == BCONN_CLOSED)
        return;
    conn_count_unanswered(b, c);
    epoll_ctl(b->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    c->state = BCONN_CLOSED;
    b->open_conns--;
}

static void conn_fail(struct bench *b, struct bconn *c, enum bench_err err)
{
    b->errors[err]++;
    conn_close(b, c);
}

static void conn_poll_out(struct bench *b, struct bconn *c, bool on)
{
    struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

    if (c->polling_out == on)
        return;
    c->polling_out = on;
    epoll_ctl(b->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what is queued; what the socket does not take waits for EPOLLOUT. */
static void conn_flush(struct bench *b, struct bconn *c)
{
    while (c->state != BCONN_CLOSED && c->out_head < c->out_len) {
        ssize_t n = send(c->fd, c->out + c->out_head, c->out_len - c->out_head, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_poll_out(b, c, true);
            return;
        }
        if (n <= 0) {
            conn_fail(b, c, BERR_CLOSED);
            return;
        }
        c->out_head += (size_t)n;
    }
    if (c->state == BCONN_CLOSED)
        return;
    c->out_head = c->out_len = 0;
    conn_poll_out(b, c, false);
}

/* Queues NOTIFYs until the connection has depth in flight or the run has sent enough. */
static void conn_refill(struct bench *b, struct bconn *c, uint64_t stamp_ns)
{
    if (c->state != BCONN_READY)
        return;
    if (c->out_head > 0) {
        memmove(c->out, c->out + c->out_head, c->out_len - c->out_head);
        c->out_len -= c->out_head;
        c->out_head = 0;
    }
    while (c->n_free > 0 && !b->stopping && b->sent < b->o.total) {
        unsigned s = c->free_slots[c->n_free - 1];
        struct slot *slot = &c->slots[s];
        uint64_t stream_id = c->seq * b->o.depth + s;
        /* fid 1 and 2, as 2.6 numbers the request and response events of one stream */
        uint64_t frame_id = 1 + (c->seq & 1);
        struct spop_writer w;
        size_t len;

        spop_writer_init(&w, c->out + c->out_len, c->out_cap - c->out_len);
        len = build_pick(&w, &b->o, stream_id, frame_id, b->sent);
        if (len == 0 || len - SPOP_LENGTH_SIZE > c->frame_size)
            break; /* only a full buffer gets here: it drains on the next write */
        c->out_len += len;
        c->n_free--;
        c->seq++;
        c->inflight++;
        b->inflight++;
        *slot = (struct slot){
            .busy = true, .stream_id = stream_id, .frame_id = frame_id, .sent_ns = stamp_ns};
        if (b->sent++ == 0)
            b->first_send_ns = stamp_ns;
    }
}

static bool caps_have(struct spop_str caps, const char *want)
{
    size_t n = strlen(want);
    const char *p = caps.ptr, *end = caps.ptr + caps.len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;

        while (p < stop && *p == ' ')
            p++;
        while (stop > p && stop[-1] == ' ')
            stop--;
        if ((size_t)(stop - p) == n && memcmp(p, want, n) == 0)
            return true;
        p = comma ? comma + 1 : end;
    }
    return false;
}

/* AGENT-HELLO: version 2.0, a max-frame-size we allow, and pipelining if we pipeline. */
static bool hello_accept(struct bench *b, struct bconn *c, const struct spop_frame *f)
{
    struct spop_kv_iter it;
    struct spop_kv kv;
    bool version = false, pipelining = false;
    uint64_t frame_size = 0;

    spop_kv_iter_init(&it, f->payload, f->payload_len);
    while (spop_kv_next(&it, &kv)) {
        if (spop_str_eq(kv.name, "version") && kv.value.type == SPOP_DATA_STRING)
            version = spop_str_eq(kv.value.bytes, SPOP_VERSION);
        else if (spop_str_eq(kv.name, "max-frame-size") && spop_data_is_int(&kv.value))
            frame_size = kv.value.u64;
        else if (spop_str_eq(kv.name, "capabilities") && kv.value.type == SPOP_DATA_STRING)
            pipelining = caps_have(kv.value.bytes, "pipelining");
    }
    if (it.err != SPOP_ERR_NONE || !version || frame_size < SPOP_FRAME_SIZE_MIN ||
        frame_size > HELLO_FRAME_SIZE || (b->o.depth > 1 && !pipelining))
        return false;
    c->frame_size = (uint32_t)frame_size;
    return true;
}

static void report_disconnect(struct bench *b, const struct spop_frame *f)
{
    struct spop_kv_iter it;
    struct spop_kv kv;
    uint64_t status = 0;
    struct spop_str msg = {"", 0};

    if (b->disconnect_reported)
        return;
    b->disconnect_reported = true;
    spop_kv_iter_init(&it, f->payload, f->payload_len);
    while (spop_kv_next(&it, &kv)) {
        if (spop_str_eq(kv.name, "status-code") && spop_data_is_int(&kv.value))
            status = kv.value.u64;
        else if (spop_str_eq(kv.name, "message") && kv.value.type == SPOP_DATA_STRING)
            msg = kv.value.bytes;
    }
    fprintf(stderr, "spop_bench: agent disconnected: status %" PRIu64 ": %.*s\n", status,
            (int)msg.len, msg.ptr);
}

/* What an ACK says about the pick: the `v` verdict and whether `up` named an upstream. */
struct ack_view {
    bool has_verdict;
    bool has_upstream;
    struct spop_str verdict;
};

/* LIST-OF-ACTIONS: SET-VAR (scope, name, value) and UNSET-VAR (scope, name) only. */
static bool ack_parse(const uint8_t *p, const uint8_t *end, struct ack_view *out)
{
    memset(out, 0, sizeof(*out));
    while (p < end) {
        uint8_t type, nb_args, scope;
        struct spop_str name;
        struct spop_data value;

        if (end - p < 3)
            return false;
        type = p[0];
        nb_args = p[1];
        scope = p[2];
        p += 3;
        if (spop_str_decode(&p, end, &name) != SPOP_ERR_NONE)
            return false;
        if (type == SPOP_ACTION_UNSET_VAR && nb_args == 2)
            continue;
        if (type != SPOP_ACTION_SET_VAR || nb_args != 3 ||
            spop_data_decode(&p, end, &value) != SPOP_ERR_NONE)
            return false;
        if (scope != SPOP_SCOPE_TXN || value.type != SPOP_DATA_STRING)
            continue;
        if (spop_str_eq(name, "v")) {
            out->has_verdict = true;
            out->verdict = value.bytes;
        } else if (spop_str_eq(name, "up") && value.bytes.len > 0) {
            out->has_upstream = true;
        }
    }
    return true;
}

static void ack_tally(struct bench *b, const struct spop_frame *f)
{
    struct ack_view ack;

    if (!ack_parse(f->payload, f->payload + f->payload_len, &ack)) {
        b->errors[BERR_ACTIONS]++;
        return;
    }
    if (!ack.has_verdict) {
        b->errors[BERR_NO_VERDICT]++;
        return;
    }
    for (int v = 0; v < PICK_VERDICTS; v++) {
        if (spop_str_eq(ack.verdict, pick_verdict_name((enum pick_verdict)v))) {
            b->verdicts[v]++;
            if (v == PICK_PASS && ack.has_upstream)
                b->routed++;
            return;
        }
    }
    b->errors[BERR_BAD_VERDICT]++;
}

static void ack_receive(struct bench *b, struct bconn *c, const struct spop_frame *f,
                        uint64_t recv_ns)
{
    struct slot *slot = &c->slots[f->stream_id % b->o.depth];

    if (!slot->busy || slot->stream_id != f->stream_id || slot->frame_id != f->frame_id) {
        b->errors[BERR_UNKNOWN_ID]++;
        return;
    }
    slot->busy = false;
    c->free_slots[c->n_free++] = (unsigned)(f->stream_id % b->o.depth);
    c->inflight--;
    b->inflight--;
    hist_record(&b->hist, recv_ns - slot->sent_ns);
    b->last_ack_ns = recv_ns;
    ack_tally(b, f);
}

/* One whole frame (the bytes after its length prefix). */
static void conn_frame(struct bench *b, struct bconn *c, const uint8_t *body, size_t len,
                       uint64_t recv_ns)
{
    struct spop_frame f;

    if (spop_frame_decode(body, len, &f) != SPOP_ERR_NONE || !(f.flags & SPOP_FLAG_FIN)) {
        conn_fail(b, c, BERR_FRAME);
        return;
    }
    if (f.type == SPOP_FRAME_AGENT_DISCONNECT) {
        report_disconnect(b, &f);
        conn_fail(b, c, BERR_DISCONNECT);
        return;
    }
    if (c->state == BCONN_HELLO) {
        if (f.type != SPOP_FRAME_AGENT_HELLO || !hello_accept(b, c, &f)) {
            conn_fail(b, c, BERR_HELLO);
            return;
        }
        c->state = BCONN_READY;
        return;
    }
    if (f.type != SPOP_FRAME_ACK) {
        b->errors[BERR_FRAME_TYPE]++;
        return;
    }
    ack_receive(b, c, &f, recv_ns);
}

/* Handles every complete frame in the input buffer and keeps the partial tail. */
static void conn_parse(struct bench *b, struct bconn *c, uint64_t recv_ns)
{
    size_t pos = 0;

    while (c->state != BCONN_CLOSED && c->in_len - pos >= SPOP_LENGTH_SIZE) {
        uint32_t len = spop_frame_length(c->in + pos);

        if (len > c->frame_size || len < SPOP_FRAME_MIN_SIZE) {
            conn_fail(b, c, BERR_FRAME);
            return;
        }
        if (c->in_len - pos < SPOP_LENGTH_SIZE + (size_t)len)
            break;
        conn_frame(b, c, c->in + pos + SPOP_LENGTH_SIZE, len, recv_ns);
        pos += SPOP_LENGTH_SIZE + (size_t)len;
    }
    if (c->state == BCONN_CLOSED)
        return;
    memmove(c->in, c->in + pos, c->in_len - pos);
    c->in_len -= pos;
}

static void conn_readable(struct bench *b, struct bconn *c)
{
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);
        uint64_t recv_ns = now_ns();

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_fail(b, c, BERR_CLOSED);
            return;
        }
        c->in_len += (size_t)n;
        conn_parse(b, c, recv_ns);
        if (c->state == BCONN_CLOSED)
            return;
    }
    conn_refill(b, c, now_ns());
    conn_flush(b, c);
}

static int connect_agent(const struct bench_opts *o)
{
    struct sockaddr_storage ss;
    socklen_t ss_len;
    int one = 1;
    int fd;

    memset(&ss, 0, sizeof(ss));
    if (o->unix_path) {
        struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, o->unix_path, strlen(o->unix_path) + 1);
        ss_len = sizeof(*sun);
    } else if (inet_pton(AF_INET, o->host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(o->port);
        ss_len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, o->host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(o->port);
        ss_len = sizeof(*sin6);
    } else {
        errno = EINVAL;
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    /* Blocking connect keeps the start simple; the run itself is non-blocking. HAProxy
     * sends each NOTIFY at once, so Nagle must not hold small frames back. */
    if (connect(fd, (struct sockaddr *)&ss, ss_len) < 0 ||
        (ss.ss_family != AF_UNIX &&
         setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

static bool conn_open(struct bench *b, struct bconn *c, unsigned index)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    struct spop_writer w;
    size_t len;

    c->frame_size = HELLO_FRAME_SIZE;
    c->fd = connect_agent(&b->o);
    if (c->fd < 0) {
        if (b->o.unix_path)
            fprintf(stderr, "spop_bench: cannot connect to %s: %s\n", b->o.unix_path,
                    strerror(errno));
        else
            fprintf(stderr, "spop_bench: cannot connect to %s:%u: %s\n", b->o.host, b->o.port,
                    strerror(errno));
        c->state = BCONN_CLOSED;
        return false;
    }
    if (epoll_ctl(b->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
        fprintf(stderr, "spop_bench: epoll_ctl: %s\n", strerror(errno));
        close(c->fd);
        c->state = BCONN_CLOSED;
        return false;
    }
    c->state = BCONN_HELLO;
    b->open_conns++;
    spop_writer_init(&w, c->out, c->out_cap);
    len = build_hello(&w, index);
    c->out_len = len;
    conn_flush(b, c);
    return len > 0;
}

static bool conn_alloc(struct bconn *c, unsigned depth)
{
    c->fd = -1;
    c->state = BCONN_CLOSED;
    c->slots = calloc(depth, sizeof(*c->slots));
    c->free_slots = calloc(depth, sizeof(*c->free_slots));
    c->in = malloc(IN_CAP);
    c->out_cap = (size_t)depth * NOTIFY_ROOM + HELLO_ROOM;
    c->out = malloc(c->out_cap);
    if (!c->slots || !c->free_slots || !c->in || !c->out)
        return false;
    /* Slot 0 is handed out first: a depth-1 run always uses stream-ids 0, 1, 2, ... */
    for (unsigned i = 0; i < depth; i++)
        c->free_slots[i] = depth - 1 - i;
    c->n_free = depth;
    return true;
}

static void conn_release(struct bconn *c)
{
    free(c->slots);
    free(c->free_slots);
    free(c->in);
    free(c->out);
}

/* ------------------------------------------------------------------------------------ */
/* The run                                                                                */

static bool bench_finished(const struct bench *b)
{
    if (b->open_conns == 0)
        return true;
    return b->inflight == 0 && (b->stopping || b->sent >= b->o.total);
}

static int ms_until(uint64_t now, uint64_t when)
{
    uint64_t ms;

    if (when <= now)
        return 0;
    ms = (when - now + 999999) / 1000000;
    return ms > 1000 ? 1000 : (int)ms;
}

static void bench_run(struct bench *b)
{
    struct epoll_event evs[EPOLL_EVENTS];

    while (!bench_finished(b)) {
        uint64_t now = now_ns();
        int n;

        if (!b->stopping && now >= b->deadline_ns) {
            b->stopping = true;
            b->grace_end_ns = now + GRACE_NS;
        }
        if (b->stopping && now >= b->grace_end_ns)
            break;
        n = epoll_wait(b->epfd, evs, EPOLL_EVENTS,
                       ms_until(now, b->stopping ? b->grace_end_ns : b->deadline_ns));
        if (n < 0 && errno != EINTR) {
            fprintf(stderr, "spop_bench: epoll_wait: %s\n", strerror(errno));
            break;
        }
        for (int i = 0; i < n; i++) {
            struct bconn *c = evs[i].data.ptr;

            if (c->state != BCONN_CLOSED && (evs[i].events & EPOLLOUT))
                conn_flush(b, c);
            if (c->state != BCONN_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
                conn_readable(b, c);
        }
    }
    for (unsigned i = 0; i < b->o.conns; i++)
        conn_close(b, &b->conns[i]);
}

static void print_report(const struct bench *b)
{
    const struct bench_opts *o = &b->o;
    uint64_t answered = bench_answered(b), errors = bench_errors(b);
    uint64_t span = b->last_ack_ns > b->first_send_ns ? b->last_ack_ns - b->first_send_ns : 0;
    double seconds = (double)span / NS_PER_S;
    double rate = seconds > 0 ? (double)b->hist.count / seconds : 0;
    double p50 = (double)hist_quantile(&b->hist, 0.50) / NS_PER_US;
    double p90 = (double)hist_quantile(&b->hist, 0.90) / NS_PER_US;
    double p99 = (double)hist_quantile(&b->hist, 0.99) / NS_PER_US;
    double max = (double)b->hist.max_ns / NS_PER_US;
    double mean = b->hist.count ? (double)b->hist.sum_ns / (double)b->hist.count / NS_PER_US : 0;

    if (o->kv) {
        printf("sent=%" PRIu64 " answered=%" PRIu64 " seconds=%.3f picks_per_s=%.0f"
               " p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f mean_us=%.1f pass=%" PRIu64
               " routed=%" PRIu64 " limited=%" PRIu64 " unavailable=%" PRIu64 " errors=%" PRIu64
               "\n",
               b->sent, answered, seconds, rate, p50, p90, p99, max, mean, b->verdicts[PICK_PASS],
               b->routed, b->verdicts[PICK_LIMITED], b->verdicts[PICK_UNAVAILABLE], errors);
    } else {
        printf("spop_bench: %u connection%s x depth %u, %s sources cycling over %" PRIu64 "\n",
               o->conns, o->conns == 1 ? "" : "s", o->depth, o->ipv6 ? "IPv6" : "IPv4",
               o->distinct_ips);
        printf("  picks      %" PRIu64 " sent, %" PRIu64 " answered in %.3f s%s\n", b->sent,
               answered, seconds, b->sent < o->total ? " (time limit reached)" : "");
        printf("  picks/s    %.0f\n", rate);
        printf("  rtt (us)   p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  mean %.1f\n", p50, p90, p99,
               max, mean);
        printf("  verdicts   pass %" PRIu64 " (routed %" PRIu64 ")  limited %" PRIu64
               "  unavailable %" PRIu64 "\n",
               b->verdicts[PICK_PASS], b->routed, b->verdicts[PICK_LIMITED],
               b->verdicts[PICK_UNAVAILABLE]);
        printf("  errors     %" PRIu64, errors);
        for (unsigned i = 0; i < BERR_COUNT; i++)
            if (b->errors[i])
                printf("  %s %" PRIu64, bench_err_names[i], b->errors[i]);
        printf("\n");
    }
}

/* ------------------------------------------------------------------------------------ */
/* Command line                                                                           */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: spop_bench -p PORT [options]\n"
            "       spop_bench -U PATH [options]\n"
            "       spop_bench --table-bytes N\n"
            "\n"
            "Sends `pick` NOTIFYs to llmproxy-agent over SPOP as HAProxy 2.6 does and measures\n"
            "the NOTIFY -> ACK round trips.\n"
            "\n"
            "  -H, --host ADDR        agent address, IPv4 or IPv6 literal (127.0.0.1)\n"
            "  -p, --port PORT        agent SPOP port\n"
            "  -U, --unix PATH        agent SPOP unix socket, instead of an address and port\n"
            "  -c, --conns N          connections (1, at most %u)\n"
            "  -d, --depth N          NOTIFYs in flight per connection (1, at most %u;\n"
            "                         HAProxy 2.6 uses up to %u)\n"
            "  -n, --total N          picks to send (100000)\n"
            "  -t, --max-seconds S    stop sending after S seconds (10)\n"
            "  -f, --forward NAME     forward name sent as `f` (main)\n"
            "      --client NAME      client name sent as `cl`, as HAProxy does once a\n"
            "                         client's key matched (none)\n"
            "      --distinct-ips N   source addresses cycle over N values (1)\n"
            "      --ipv6             IPv6 source addresses (2001:db8::/32), else 10.0.0.0/8\n"
            "      --ipv6-hosts N     IPv6 sources per /64 network, which the agent limits as\n"
            "                         one client (1: every source its own /64)\n"
            "      --kv               one key=value line instead of the report\n"
            "      --table-bytes N    print the bytes of the agent's rate-limit table for N\n"
            "                         clients and exit\n"
            "  -h, --help             this help\n"
            "\n"
            "Exit status: 0 when every pick was answered with a valid verdict, 1 on any\n"
            "error, 2 on bad usage or when the agent cannot be reached.\n",
            CONNS_MAX, DEPTH_MAX, HAPROXY_DEPTH);
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* The agent's own table, created (its pages are never touched) and measured. */
static int print_table_bytes(uint32_t clients)
{
    struct siphash_key key = {.k0 = 1, .k1 = 2};
    struct ratelimit *rl = ratelimit_create(clients, &key);
    struct ratelimit_stats st;

    if (!rl) {
        fprintf(stderr, "spop_bench: cannot create a table of %u clients\n", clients);
        return 2;
    }
    ratelimit_stats(rl, &st);
    printf("%zu\n", st.memory_bytes);
    ratelimit_destroy(rl);
    return 0;
}

enum long_only_opt {
    OPT_DISTINCT = 256,
    OPT_IPV6,
    OPT_IPV6_HOSTS,
    OPT_KV,
    OPT_TABLE_BYTES,
    OPT_CLIENT,
};

/* Returns -1 to run, else the exit status. */
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longs[] = {
        {"host", required_argument, NULL, 'H'},
        {"port", required_argument, NULL, 'p'},
        {"unix", required_argument, NULL, 'U'},
        {"conns", required_argument, NULL, 'c'},
        {"depth", required_argument, NULL, 'd'},
        {"total", required_argument, NULL, 'n'},
        {"max-seconds", required_argument, NULL, 't'},
        {"forward", required_argument, NULL, 'f'},
        {"distinct-ips", required_argument, NULL, OPT_DISTINCT},
        {"ipv6", no_argument, NULL, OPT_IPV6},
        {"ipv6-hosts", required_argument, NULL, OPT_IPV6_HOSTS},
        {"kv", no_argument, NULL, OPT_KV},
        {"client", required_argument, NULL, OPT_CLIENT},
        {"table-bytes", required_argument, NULL, OPT_TABLE_BYTES},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    uint64_t v;
    int opt;

    *o = (struct bench_opts){.host = "127.0.0.1",
                             .conns = 1,
                             .depth = 1,
                             .total = 100000,
                             .max_seconds = 10,
                             .distinct_ips = 1,
                             .ipv6_hosts = 1,
                             .forward = "main"};
    while ((opt = getopt_long(argc, argv, "H:p:U:c:d:n:t:f:h", longs, NULL)) != -1) {
        bool ok = true;

        switch (opt) {
        case 'H':
            o->host = optarg;
            break;
        case 'p':
            ok = parse_u64(optarg, 1, UINT16_MAX, &v);
            o->port = (uint16_t)v;
            break;
        case 'U':
            o->unix_path = optarg;
            ok = strlen(optarg) > 0 && strlen(optarg) < sizeof(((struct sockaddr_un *)0)->sun_path);
            break;
        case 'c':
            ok = parse_u64(optarg, 1, CONNS_MAX, &v);
            o->conns = (unsigned)v;
            break;
        case 'd':
            ok = parse_u64(optarg, 1, DEPTH_MAX, &v);
            o->depth = (unsigned)v;
            break;
        case 'n':
            ok = parse_u64(optarg, 1, TOTAL_MAX, &o->total);
            break;
        case 't':
            ok = parse_u64(optarg, 1, SECONDS_MAX, &v);
            o->max_seconds = (unsigned)v;
            break;
        case 'f':
            o->forward = optarg;
            ok = strlen(optarg) > 0 && strlen(optarg) <= FORWARD_MAX;
            break;
        case OPT_DISTINCT:
            ok = parse_u64(optarg, 1, UINT32_MAX, &o->distinct_ips);
            break;
        case OPT_IPV6:
            o->ipv6 = true;
            break;
        case OPT_IPV6_HOSTS:
            ok = parse_u64(optarg, 1, UINT32_MAX, &o->ipv6_hosts);
            break;
        case OPT_KV:
            o->kv = true;
            break;
        case OPT_CLIENT:
            o->client = optarg;
            ok = strlen(optarg) > 0 && strlen(optarg) <= CLIENT_MAX;
            break;
        case OPT_TABLE_BYTES:
            ok = parse_u64(optarg, 1, UINT32_MAX, &v);
            if (ok)
                return print_table_bytes((uint32_t)v);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "spop_bench: bad value '%s'\n", optarg);
            return 2;
        }
    }
    if (optind != argc || (o->port == 0) == (o->unix_path == NULL)) {
        usage(stderr);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    struct bench *b;
    int rc;

    b = calloc(1, sizeof(*b));
    if (!b) {
        fprintf(stderr, "spop_bench: out of memory\n");
        return 2;
    }
    rc = parse_args(argc, argv, &b->o);
    if (rc >= 0) {
        free(b);
        return rc;
    }
    b->conns = calloc(b->o.conns, sizeof(*b->conns));
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    rc = b->conns && b->epfd >= 0 ? 0 : 2;
    for (unsigned i = 0; rc == 0 && i < b->o.conns; i++)
        if (!conn_alloc(&b->conns[i], b->o.depth))
            rc = 2;
    if (rc != 0)
        fprintf(stderr, "spop_bench: out of resources: %s\n", strerror(errno));

    b->start_ns = now_ns();
    b->deadline_ns = b->start_ns + (uint64_t)b->o.max_seconds * NS_PER_S;
    for (unsigned i = 0; rc == 0 && i < b->o.conns; i++)
        if (!conn_open(b, &b->conns[i], i))
            rc = 2;
    if (rc == 0) {
        bench_run(b);
        print_report(b);
        rc = bench_errors(b) == 0 && b->sent > 0 ? 0 : 1;
    }

    for (unsigned i = 0; b->conns && i < b->o.conns; i++) {
        conn_close(b, &b->conns[i]);
        conn_release(&b->conns[i]);
    }
    if (b->epfd >= 0)
        close(b->epfd);
    free(b->conns);
    free(b);
    return rc;
}

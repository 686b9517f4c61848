/*
 * The agent's decisions end to end without sockets: a configuration loaded from YAML,
 * NOTIFY payloads built byte by byte as HAProxy sends them, decisions on an injected
 * clock, and the ACK bytes that carry them back.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_memo.h"
#include "breaker.h"
#include "config.h"
#include "contract/spop_names.h"
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

static const char base_yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "    - {name: limited, port: 3002, upstream_group: g,\n"
    "       ratelimit: {enabled: true, per_second: 2, burst: 4}}\n"
    "    - {name: other, port: 3003, upstream_group: g,\n"
    "       ratelimit: {enabled: true, per_second: 2, burst: 4}}\n"
    "    - {name: wrr, port: 3004, upstream_group: w}\n"
    "    - {name: per_address, port: 3005, upstream_group: g,\n"
    "       ratelimit: {enabled: true, per_second: 2, burst: 4, ipv6_prefix: 128}}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2', breaker: {threshold: 0.5, cooldown: 3}}\n"
    "upstream_groups:\n"
    "  - name: g\n"
    "    upstreams: [{name: a}, {name: b}]\n"
    "    http_client: {retry: {enabled: true, attempts: 3, initial: 100}}\n"
    "  - name: w\n"
    "    upstreams: [{name: a, weight: 5}, {name: b, weight: 1}]\n"
    "    balance: {strategy: weighted_roundrobin}\n";

/* ---- clients with their own rate limit ---- */

#define HASH_A "8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f"
#define HASH_B "ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19"
#define HASH_C "5275cd1a7ebf8b7b4e2d0e6fb0a0d4a3a1c6c8f1d1a1e2b3c4d5e6f708192a3b"

/* `keyed` and `keyed2` check keys, `keyed` with a limit of 3 per address, `keyed2` without
 * one; `open` is anonymous. team-a and team-b have their own limits, team-c not. */
#define CLIENTS_CONFIG(clients)                                                                    \
    "http_server:\n"                                                                               \
    "  forwards:\n"                                                                                \
    "    - {name: keyed, port: 3001, upstream_group: g, client_auth: true,\n"                      \
    "       ratelimit: {enabled: true, per_second: 2, burst: 3}}\n"                                \
    "    - {name: keyed2, port: 3002, upstream_group: g, client_auth: true}\n"                     \
    "    - {name: open, port: 3003, upstream_group: g,\n"                                          \
    "       ratelimit: {enabled: true, per_second: 2, burst: 3}}\n"                                \
    "upstreams:\n"                                                                                 \
    "  - {name: a, url: 'http://127.0.0.1:1'}\n"                                                   \
    "upstream_groups:\n"                                                                           \
    "  - {name: g, upstreams: [{name: a}]}\n"                                                      \
    "clients:\n" clients

static const char clients_yaml[] = CLIENTS_CONFIG(
    "  - {name: team-a, key_sha256: " HASH_A ", ratelimit: {per_second: 1, burst: 5}}\n"
    "  - {name: team-b, key_sha256: " HASH_B ", ratelimit: {per_second: 10, burst: 10}}\n"
    "  - {name: team-c, key_sha256: " HASH_C "}\n");

static struct decider d;

static struct config *load_config(const char *yaml)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load_buf("test.yaml", yaml, strlen(yaml), NULL, NULL, &diags);

    if (!cfg)
        conf_diags_print(&diags, stderr);
    conf_diags_free(&diags);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

static void setup_from(const char *yaml)
{
    struct config *cfg = load_config(yaml);
    struct siphash_key key = {.k0 = 1, .k1 = 2};

    memset(&d, 0, sizeof(d));
    d.state = state_create(cfg, NULL, 42);
    ck_assert_ptr_nonnull(d.state);
    d.ratelimit = ratelimit_create(1000, &key);
    d.attempts = retry_create(1000, 60000, &key);
    ck_assert_ptr_nonnull(d.ratelimit);
    ck_assert_ptr_nonnull(d.attempts);
}

static void setup(void)
{
    setup_from(base_yaml);
}

static void setup_clients(void)
{
    setup_from(clients_yaml);
}

static void teardown(void)
{
    state_free(d.state);
    ratelimit_destroy(d.ratelimit);
    retry_destroy(d.attempts);
}

static struct pick_request req;

static void pick_from(const char *forward, uint8_t last_octet)
{
    const uint8_t ip[4] = {10, 0, 0, last_octet};

    pick_request_init(&req);
    req.forward = forward;
    req.forward_len = strlen(forward);
    rl_addr_from_ipv4(&req.addr, ip);
    req.has_addr = true;
}

static const char *pick_name(uint64_t now)
{
    struct pick_result r;

    decide_pick(&d, &req, now, &r);
    ck_assert_int_eq(r.verdict, PICK_PASS);
    return r.upstream;
}

START_TEST(pick_round_robin_then_skips_haproxy_down)
{
    pick_from("main", 1);
    ck_assert_str_eq(pick_name(1000), "a");
    ck_assert_str_eq(pick_name(1001), "b");
    ck_assert_str_eq(pick_name(1002), "a");
    pick_request_member(&req, 0)->up = false; /* HAProxy says a is down */
    ck_assert_str_eq(pick_name(1003), "b");
    ck_assert_str_eq(pick_name(1004), "b");
    ck_assert_uint_eq(d.stats.picks_pass, 5);
}
END_TEST

/* A member at its max_in_flight, counting what HAProxy reports in flight and queued on it,
 * is full: least in flight sends the request to the member with room, however busy. */
START_TEST(pick_full_member_yields)
{
    static const char yaml[] =
        "http_server: {forwards: [{name: q, port: 3001, upstream_group: q}]}\n"
        "upstreams:\n"
        "  - {name: a, url: 'http://127.0.0.1:1'}\n"
        "  - {name: b, url: 'http://127.0.0.1:2'}\n"
        "upstream_groups:\n"
        "  - name: q\n"
        "    upstreams: [{name: a, max_in_flight: 2}, {name: b}]\n"
        "    balance: {strategy: least_load}\n";

    teardown();
    setup_from(yaml);
    pick_from("q", 1);
    pick_request_member(&req, 0)->conn = 2;
    pick_request_member(&req, 1)->conn = 5;
    ck_assert_str_eq(pick_name(1000), "b");
    pick_request_member(&req, 0)->conn = 1;
    ck_assert_str_eq(pick_name(1100), "a");
    pick_request_member(&req, 0)->queue = 1; /* 1 running + 1 queued: full again */
    ck_assert_str_eq(pick_name(1200), "b");
    ck_assert_uint_eq(state_upstream(d.state, "a", 1)->haproxy_queued, 1);
    /* No member with room available: the full one takes it (HAProxy queues it there). */
    pick_request_member(&req, 1)->up = false;
    ck_assert_str_eq(pick_name(1300), "a");
}
END_TEST

START_TEST(pick_weighted_smooth_sequence)
{
    char seq[7] = {0};

    pick_from("wrr", 1);
    for (int i = 0; i < 6; i++)
        seq[i] = pick_name(1000 + (uint64_t)i)[0];
    ck_assert_str_eq(seq, "aaabaa");
}
END_TEST

START_TEST(pick_unknown_forward_fails_open)
{
    struct pick_result r;

    pick_from("nope", 1);
    decide_pick(&d, &req, 1000, &r);
    ck_assert_int_eq(r.verdict, PICK_PASS);
    ck_assert_ptr_null(r.upstream);
    ck_assert_uint_eq(d.stats.picks_unknown_forward, 1);
}
END_TEST

START_TEST(pick_rate_limit_per_forward_and_ip)
{
    struct pick_result r;

    pick_from("limited", 1);
    for (int i = 0; i < 4; i++) {
        decide_pick(&d, &req, 5000, &r);
        ck_assert_int_eq(r.verdict, PICK_PASS);
    }
    decide_pick(&d, &req, 5000, &r);
    ck_assert_int_eq(r.verdict, PICK_LIMITED);
    ck_assert_uint_eq(r.retry_after_s, 1);
    ck_assert_ptr_null(r.upstream);

    pick_from("limited", 2); /* another client address */
    decide_pick(&d, &req, 5000, &r);
    ck_assert_int_eq(r.verdict, PICK_PASS);
    pick_from("other", 1); /* same address, another forward */
    decide_pick(&d, &req, 5000, &r);
    ck_assert_int_eq(r.verdict, PICK_PASS);
    pick_from("main", 1); /* a forward without a limit */
    for (int i = 0; i < 20; i++) {
        decide_pick(&d, &req, 5000, &r);
        ck_assert_int_eq(r.verdict, PICK_PASS);
    }

    pick_from("limited", 1); /* a token is back after 500 ms at 2/s */
    decide_pick(&d, &req, 5500, &r);
    ck_assert_int_eq(r.verdict, PICK_PASS);
    ck_assert_uint_eq(d.stats.picks_limited, 1);
}
END_TEST

static void trip(const char *name, uint64_t now)
{
    struct upstream_rt *up = state_upstream(d.state, name, strlen(name));

    for (int i = 0; i < 5; i++)
        breaker_record(&up->breaker, now, false);
    ck_assert_int_eq(breaker_state(&up->breaker, now), BREAKER_OPEN);
}

START_TEST(pick_fails_over_and_refuses_when_all_open)
{
    struct pick_result r;

    trip("a", 10000);
    pick_from("main", 1);
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(pick_name(10000 + (uint64_t)i), "b");
    trip("b", 10000);
    decide_pick(&d, &req, 10500, &r);
    ck_assert_int_eq(r.verdict, PICK_UNAVAILABLE);
    /* b's cooldown (3 s) ends first: 2.5 s left, rounded up. */
    ck_assert_uint_eq(r.retry_after_s, 3);
    /* After b's cooldown a single probe goes to b, then nothing until it reports. */
    ck_assert_str_eq(pick_name(13001), "b");
    decide_pick(&d, &req, 13002, &r);
    ck_assert_int_eq(r.verdict, PICK_UNAVAILABLE);
}
END_TEST

static void attempt(const char *id, const char *up, uint64_t now, struct attempt_result *r)
{
    struct attempt_request a = {.id = id,
                                .id_len = strlen(id),
                                .upstream = up,
                                .upstream_len = strlen(up),
                                .group = "g",
                                .group_len = 1};
    decide_attempt(&d, &a, now, r);
}

START_TEST(attempt_backoff_doubles)
{
    struct attempt_result r;

    attempt("req-1", "a", 1000, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_GO);
    ck_assert_uint_eq(r.attempt, 1);
    ck_assert_uint_eq(r.delay_ms, 0);
    attempt("req-1", "b", 1010, &r);
    ck_assert_uint_eq(r.attempt, 2);
    ck_assert_uint_eq(r.delay_ms, 100);
    attempt("req-1", "a", 1200, &r);
    ck_assert_uint_eq(r.delay_ms, 200);
    attempt("req-1", "b", 1500, &r);
    ck_assert_uint_eq(r.delay_ms, 400);
    attempt("req-2", "a", 1500, &r);
    ck_assert_uint_eq(r.attempt, 1);
    ck_assert_uint_eq(r.delay_ms, 0);
}
END_TEST

START_TEST(attempt_on_open_breaker_fails_fast)
{
    struct attempt_result r;

    trip("a", 1000);
    attempt("req-9", "a", 1000, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_FAIL);
    attempt("req-9", "a", 1001, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_FAIL);
    ck_assert_uint_eq(r.delay_ms, 0); /* no point waiting for a known failure */
    attempt("req-9", "b", 1002, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_GO);
    ck_assert_uint_eq(r.attempt, 3);
    ck_assert_uint_eq(r.delay_ms, 200);
    ck_assert_uint_eq(d.stats.attempts_failed_fast, 2);
}
END_TEST

/* ---- an upstream's own throttling ---- */

static struct throttle *throttle_of(const char *name)
{
    struct upstream_rt *up = state_upstream(d.state, name, strlen(name));

    ck_assert_ptr_nonnull(up);
    return &up->throttle;
}

START_TEST(pick_skips_a_cooling_member_and_refuses_429_when_all_cool)
{
    struct pick_result r;

    pick_from("main", 1);
    throttle_of("a")->cooldown_until_ms = 12000;
    for (int i = 0; i < 3; i++)
        ck_assert_str_eq(pick_name(10000 + (uint64_t)i), "b");
    throttle_of("b")->cooldown_until_ms = 10500;
    decide_pick(&d, &req, 10100, &r);
    ck_assert_int_eq(r.verdict, PICK_THROTTLED);
    /* b's cooldown ends first: 0.4 s left, rounded up to the whole second. */
    ck_assert_uint_eq(r.retry_after_s, 1);
    ck_assert_uint_eq(d.stats.picks_throttled, 1);
    ck_assert_uint_eq(d.stats.picks_unavailable, 0);
    ck_assert_str_eq(pick_verdict_name(PICK_THROTTLED), SPOP_VERDICT_THROTTLED);
    /* Back after its cooldown; a's breaker saw none of it. */
    ck_assert_str_eq(pick_name(10500), "b");
    ck_assert_int_eq(breaker_state(&state_upstream(d.state, "a", 1)->breaker, 10500),
                     BREAKER_CLOSED);
}
END_TEST

START_TEST(pick_cooling_and_open_is_a_503)
{
    struct pick_result r;

    pick_from("main", 1);
    throttle_of("a")->cooldown_until_ms = 20000;
    trip("b", 10000);
    decide_pick(&d, &req, 10100, &r);
    ck_assert_int_eq(r.verdict, PICK_UNAVAILABLE);
}
END_TEST

START_TEST(pick_avoids_a_low_budget_unless_all_are_low)
{
    pick_from("main", 1);
    throttle_of("a")->low_until_ms = 5000;
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(pick_name(1000 + (uint64_t)i), "b");
    throttle_of("b")->low_until_ms = 5000;
    ck_assert_str_eq(pick_name(1010), "a");
    ck_assert_str_eq(pick_name(1011), "b");
    throttle_of("b")->low_until_ms = 0;
    ck_assert_str_eq(pick_name(1012), "b");
    ck_assert_str_eq(pick_name(6000), "a"); /* a's reset passed */
}
END_TEST

START_TEST(attempt_after_429_skips_the_backoff)
{
    struct siphash_key key = {.k0 = 3, .k1 = 4};
    struct attempt_memo *memo = malloc(sizeof(*memo));
    struct logline_str id = {"req-t", 5};
    struct attempt_result r;

    ck_assert_ptr_nonnull(memo);
    attempt_memo_init(memo, &key);
    d.state->attempts = memo;
    attempt("req-t", "a", 1000, &r);
    ck_assert_uint_eq(r.delay_ms, 0);
    /* Its ATTEMPT line said 429: the retry goes at once. */
    attempt_memo_put(memo, &id, 429, (struct outcome){OUTCOME_THROTTLED, OUTCOME_BY_NONE});
    attempt("req-t", "b", 1010, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_GO);
    ck_assert_uint_eq(r.attempt, 2);
    ck_assert_uint_eq(r.delay_ms, 0);
    /* A 5xx waits out its backoff as before. */
    attempt_memo_put(memo, &id, 503, (struct outcome){OUTCOME_STATUS_5XX, OUTCOME_BY_NONE});
    attempt("req-t", "a", 1020, &r);
    ck_assert_uint_eq(r.delay_ms, 200);
    /* A retry landing on a member still cooling down fails fast. */
    throttle_of("b")->cooldown_until_ms = 5000;
    attempt("req-t", "b", 1030, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_FAIL);
    ck_assert_uint_eq(r.delay_ms, 0);
    d.state->attempts = NULL;
    free(memo);
}
END_TEST

/* A retry that reached a listener from a pinned backend counts the first attempt, made
 * there without asking: its backoff is a second attempt's, and an open breaker there is
 * already a retry's to fail fast on. */
START_TEST(attempt_after_a_pinned_first_try)
{
    struct attempt_request a = {.id = "req-p", .id_len = 5, .upstream = "b", .upstream_len = 1,
                                .group = "g", .group_len = 1, .prior = 1};
    struct attempt_result r;

    decide_attempt(&d, &a, 1000, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_GO);
    ck_assert_uint_eq(r.attempt, 2);
    ck_assert_uint_eq(r.delay_ms, 100);
    decide_attempt(&d, &a, 1200, &r);
    ck_assert_uint_eq(r.attempt, 3);
    ck_assert_uint_eq(r.delay_ms, 200);
    /* A cooling member refuses a retry (an open breaker refuses any attempt). */
    throttle_of("a")->cooldown_until_ms = 5000;
    a = (struct attempt_request){.id = "req-q", .id_len = 5, .upstream = "a", .upstream_len = 1,
                                 .group = "g", .group_len = 1, .prior = 1};
    decide_attempt(&d, &a, 1300, &r);
    ck_assert_int_eq(r.verdict, ATTEMPT_FAIL);
}
END_TEST

/*
 * In a group with retries, a pick asks for the group layer while its member needs every
 * attempt judged: its breaker not closed, a 429 ever seen, or its latest pinned first
 * attempt retried without an attempt there succeeding since. Never without retries.
 */
START_TEST(pick_asks_for_the_group_layer_while_a_member_needs_judging)
{
    struct upstream_rt *a = state_upstream(d.state, "a", 1), *b = state_upstream(d.state, "b", 1);
    struct pick_result r;

    pick_from("main", 1);
    for (int i = 0; i < 2; i++) {
        decide_pick(&d, &req, 1000, &r);
        ck_assert_int_eq(r.verdict, PICK_PASS);
        ck_assert(!r.layered);
    }
    a->retried_first = true;
    b->throttle.throttled = 1;
    for (int i = 0; i < 2; i++) {
        decide_pick(&d, &req, 1000, &r);
        ck_assert_msg(r.layered, "%s not layered", r.upstream);
    }
    a->retried_first = false;
    b->throttle.throttled = 0;
    /* Half-open after its cooldown: the probe is judged in the group layer. */
    trip("b", 1000);
    bool probed = false;
    for (int i = 0; i < 4; i++) {
        decide_pick(&d, &req, 5000, &r);
        ck_assert(r.layered == (strcmp(r.upstream, "b") == 0));
        probed |= r.layered;
    }
    ck_assert(probed);
    /* Group w has no retries: its members never need the group layer. */
    state_upstream(d.state, "a", 1)->retried_first = true;
    pick_from("wrr", 1);
    for (int i = 0; i < 6; i++) {
        decide_pick(&d, &req, 6000, &r);
        ck_assert(!r.layered);
    }
}
END_TEST

/* ---- dispatch: NOTIFY bytes in, ACK bytes out ---- */

static size_t build_pick_payload(uint8_t *buf, size_t room, const char *forward, bool a_up)
{
    struct spop_writer w;
    const uint8_t ip[4] = {127, 0, 0, 1};

    spop_writer_init(&w, buf, room);
    spop_put_str(&w, "pick", 4);
    spop_put_u8(&w, 9);
    spop_put_kv(&w, "f", spop_data_str(forward, strlen(forward)));
    spop_put_kv(&w, "src", spop_data_ipv4(ip));
    spop_put_kv(&w, "id", spop_data_str("7F000001:D0FC_1", 15));
    spop_put_kv(&w, "c0", spop_data_int64(0));
    spop_put_kv(&w, "q0", spop_data_int64(0));
    spop_put_kv(&w, "u0", spop_data_bool(a_up));
    spop_put_kv(&w, "c1", spop_data_int64(3));
    spop_put_kv(&w, "q1", spop_data_int64(0));
    spop_put_kv(&w, "u1", spop_data_bool(true));
    ck_assert(!w.failed);
    return spop_writer_len(&w);
}

static void dispatch_bytes(const uint8_t *payload, size_t len, struct answer *a,
                           struct dispatch_stats *st)
{
    struct spop_msg_iter it;

    spop_msg_iter_init(&it, payload, len);
    ck_assert_uint_eq(dispatch_notify(&d, &it, 1000, a, st), 0);
}

START_TEST(dispatch_pick_decodes_members)
{
    uint8_t buf[512];
    struct answer a;
    struct dispatch_stats st = {0};
    size_t len = build_pick_payload(buf, sizeof(buf), "main", false);

    dispatch_bytes(buf, len, &a, &st);
    ck_assert(a.has_pick);
    ck_assert_int_eq(a.pick, PICK_PASS);
    ck_assert_str_eq(a.upstream, "b"); /* u0=false: HAProxy says a is down */
    ck_assert_uint_eq(st.bad_args, 0);
    ck_assert_uint_eq(st.unknown_messages, 0);
}
END_TEST

/* `attempt` with p=1 (an integer of any width) counts one prior try; other values none. */
START_TEST(dispatch_attempt_decodes_prior)
{
    static const struct {
        struct spop_data p;
        uint32_t attempt;
    } cases[] = {
        {{.type = SPOP_DATA_INT32, .u64 = 1}, 2},
        {{.type = SPOP_DATA_UINT64, .u64 = 1}, 2},
        {{.type = SPOP_DATA_INT64, .u64 = 7}, 1},
        {{.type = SPOP_DATA_NULL}, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t buf[128];
        char id[16];
        struct spop_writer w;
        struct answer a;
        struct dispatch_stats st = {0};
        struct spop_msg_iter it;
        uint32_t delay;

        snprintf(id, sizeof(id), "req-%zu", i);
        spop_writer_init(&w, buf, sizeof(buf));
        spop_put_str(&w, SPOP_MSG_ATTEMPT, strlen(SPOP_MSG_ATTEMPT));
        spop_put_u8(&w, 4);
        spop_put_kv(&w, SPOP_ARG_ID, spop_data_str(id, strlen(id)));
        spop_put_kv(&w, SPOP_ARG_UPSTREAM, spop_data_str("a", 1));
        spop_put_kv(&w, SPOP_ARG_GROUP, spop_data_str("g", 1));
        spop_put_kv(&w, SPOP_ARG_PRIOR, cases[i].p);
        ck_assert(!w.failed);
        spop_msg_iter_init(&it, buf, spop_writer_len(&w));
        delay = dispatch_notify(&d, &it, 1000, &a, &st);
        ck_assert(a.has_attempt);
        ck_assert_uint_eq(st.bad_args, 0);
        /* The backoff says which attempt it was: 100 ms before the second. */
        ck_assert_uint_eq(delay, cases[i].attempt == 2 ? 100 : 0);
    }
}
END_TEST

START_TEST(dispatch_counts_unknown_message)
{
    uint8_t buf[64];
    struct spop_writer w;
    struct answer a;
    struct dispatch_stats st = {0};

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_str(&w, "hello", 5);
    spop_put_u8(&w, 0);
    dispatch_bytes(buf, spop_writer_len(&w), &a, &st);
    ck_assert(!a.has_pick && !a.has_attempt);
    ck_assert_uint_eq(st.unknown_messages, 1);
}
END_TEST

/* The verdict of a one-message pick NOTIFY on `forward` from client `src`, with the
 * argument `cl` unless NULL, at 5 s. */
static enum pick_verdict dispatch_pick_named(const char *forward, struct spop_data src,
                                             const struct spop_data *cl)
{
    uint8_t buf[256];
    struct spop_writer w;
    struct answer a;
    struct dispatch_stats st = {0};
    struct spop_msg_iter it;

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_str(&w, "pick", 4);
    spop_put_u8(&w, cl ? 3 : 2);
    spop_put_kv(&w, "f", spop_data_str(forward, strlen(forward)));
    spop_put_kv(&w, "src", src);
    if (cl)
        spop_put_kv(&w, SPOP_ARG_CLIENT, *cl);
    ck_assert(!w.failed);
    spop_msg_iter_init(&it, buf, spop_writer_len(&w));
    dispatch_notify(&d, &it, 5000, &a, &st);
    ck_assert(a.has_pick);
    ck_assert_uint_eq(st.bad_args, 0);
    return a.pick;
}

static enum pick_verdict dispatch_pick_from(const char *forward, struct spop_data src)
{
    return dispatch_pick_named(forward, src, NULL);
}

/* `n` clients of 2001:db8:<net>::/64 (varied low 64 bits) on `forward`: how many pass. */
static int picks_passed_from_network(const char *forward, uint8_t net, int n)
{
    int passed = 0;

    for (int i = 0; i < n; i++) {
        uint8_t ip[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, net};

        for (int k = 8; k < 16; k++)
            ip[k] = (uint8_t)(i * 37 + k * 11 + (i >> (k % 4)));
        ip[15] = (uint8_t)i;
        passed += dispatch_pick_from(forward, spop_data_ipv6(ip)) == PICK_PASS;
    }
    return passed;
}

START_TEST(dispatch_ipv6_network_shares_a_bucket)
{
    /* Burst 4, and the clock does not move: one /64 gets 4 passes in all, not 200. */
    ck_assert_int_eq(picks_passed_from_network("limited", 1, 200), 4);
    /* Another /64 has its own bucket. */
    ck_assert_int_eq(picks_passed_from_network("limited", 2, 200), 4);
    /* ipv6_prefix: 128 keeps one bucket per address. */
    ck_assert_int_eq(picks_passed_from_network("per_address", 1, 200), 200);
}
END_TEST

START_TEST(dispatch_src_forms_and_malformed_src)
{
    static const uint8_t v4[4] = {192, 0, 2, 7};
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
    static const uint8_t net9[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 1};

    /* One IPv4 client, as IPv4, as IPv4-mapped IPv6 and as text: one bucket of 4. */
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_ipv4(v4)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_ipv6(mapped)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("192.0.2.7", 9)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("::ffff:192.0.2.7", 16)),
                     PICK_PASS);
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_ipv4(v4)), PICK_LIMITED);
    /* ... but its IPv4 neighbour is another client: IPv4 is not cut to a prefix. */
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("192.0.2.8", 9)), PICK_PASS);

    /* An IPv6 address as text is keyed like the typed one. */
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_ipv6(net9)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("2001:db8:0:9:ffff::", 19)),
                     PICK_LIMITED);

    /* A src that is no address leaves the pick without one: not limited, not a bad pick. */
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_null()), PICK_PASS);
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_int64(7)), PICK_PASS);
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("", 0)), PICK_PASS);
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("2001:db8:0:9::/64", 17)),
                         PICK_PASS);
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_str("192.0.2.7\0x", 11)),
                         PICK_PASS);
        ck_assert_int_eq(dispatch_pick_from("limited", spop_data_bin(v4, 4)), PICK_PASS);
    }
}
END_TEST

static void make_ready(struct spop_conn *c)
{
    uint8_t hello[256];
    struct spop_writer w;
    const uint8_t *out;
    size_t n;

    spop_writer_init(&w, hello, sizeof(hello));
    spop_frame_begin(&w, SPOP_FRAME_HAPROXY_HELLO, 0, 0);
    spop_put_kv(&w, "supported-versions", spop_data_str("2.0", 3));
    spop_put_kv(&w, "max-frame-size", spop_data_uint32(16380));
    spop_put_kv(&w, "capabilities", spop_data_str("pipelining", 10));
    spop_frame_end(&w);
    spop_conn_feed(c, hello, spop_writer_len(&w));
    ck_assert_int_eq(c->state, SPOP_CONN_READY);
    n = spop_conn_output(c, &out);
    spop_conn_consumed(c, n);
}

START_TEST(answer_write_carries_the_decision)
{
    struct spop_conn_cfg cfg = {0};
    struct spop_conn *c = spop_conn_new(&cfg);
    struct answer a = {.has_pick = true, .pick = PICK_PASS, .upstream = "b"};
    struct answer lim = {.has_pick = true, .pick = PICK_LIMITED, .retry_after_s = 7};
    const uint8_t *out;
    size_t n;
    /* set-var txn "v" = "pass", set-var txn "up" = "b" */
    static const uint8_t pass[] = {0x01, 0x03, 0x02, 0x01, 'v',  0x08, 0x04, 'p',  'a',  's',
                                   's',  0x01, 0x03, 0x02, 0x02, 'u',  'p',  0x08, 0x01, 'b'};
    /* set-var txn "ra" = uint32 7 */
    static const uint8_t ra[] = {0x01, 0x03, 0x02, 0x02, 'r', 'a', 0x03, 0x07};

    ck_assert_ptr_nonnull(c);
    make_ready(c);
    ck_assert(answer_write(c, 5, 1, &a));
    n = spop_conn_output(c, &out);
    ck_assert_uint_eq(n, 4 + 7 + sizeof(pass));
    ck_assert_uint_eq(out[4], SPOP_FRAME_ACK);
    ck_assert_mem_eq(out + 4 + 7, pass, sizeof(pass));
    spop_conn_consumed(c, n);

    ck_assert(answer_write(c, 6, 1, &lim));
    n = spop_conn_output(c, &out);
    ck_assert_ptr_nonnull(memmem(out, n, ra, sizeof(ra)));
    ck_assert_ptr_null(memmem(out, n, "up", 2));
    spop_conn_consumed(c, n);

    /* set-var txn "lay" = true, after the member */
    static const uint8_t lay[] = {0x01, 0x03, 0x02, 0x03, 'l', 'a', 'y', 0x11};
    a.layered = true;
    ck_assert(answer_write(c, 7, 1, &a));
    n = spop_conn_output(c, &out);
    ck_assert_uint_eq(n, 4 + 7 + sizeof(pass) + sizeof(lay));
    ck_assert_mem_eq(out + 4 + 7 + sizeof(pass), lay, sizeof(lay));
    spop_conn_free(c);
}
END_TEST

START_TEST(reload_keeps_unchanged_upstreams)
{
    static const char reloaded[] =
        "http_server:\n"
        "  forwards:\n"
        "    - {name: extra, port: 3005, upstream_group: g,\n"
        "       ratelimit: {enabled: true, per_second: 1, burst: 1}}\n"
        "    - {name: limited, port: 3002, upstream_group: g,\n"
        "       ratelimit: {enabled: true, per_second: 2, burst: 4}}\n"
        "upstreams:\n"
        "  - {name: a, url: 'http://127.0.0.1:1', breaker: {threshold: 0.9, cooldown: 7}}\n"
        "  - {name: b, url: 'http://127.0.0.1:9'}\n"
        "upstream_groups:\n"
        "  - {name: g, upstreams: [{name: a}, {name: b}]}\n";
    struct conf_diags diags = {0};
    struct config *cfg;
    struct agent_state *next;
    struct upstream_rt *a, *b;
    uint32_t limited_key = state_forward(d.state, "limited", 7)->key;

    trip("a", 1000);
    trip("b", 1000);
    cfg = config_load_buf("reload.yaml", reloaded, strlen(reloaded), NULL, NULL, &diags);
    ck_assert_ptr_nonnull(cfg);
    next = state_create(cfg, d.state, 7);
    ck_assert_ptr_nonnull(next);
    state_free(d.state);
    d.state = next;

    a = state_upstream(d.state, "a", 1); /* same name and URL: keeps its open breaker */
    ck_assert_int_eq(breaker_state(&a->breaker, 1001), BREAKER_OPEN);
    ck_assert_double_eq_tol(a->breaker.threshold, 0.9, 1e-9);
    b = state_upstream(d.state, "b", 1); /* new URL: a new upstream, fresh state */
    ck_assert_int_eq(breaker_state(&b->breaker, 1001), BREAKER_CLOSED);
    ck_assert(!b->breaker.enabled);
    /* The rate-limit key of a kept forward is stable; a new forward gets a new one. */
    ck_assert_uint_eq(state_forward(d.state, "limited", 7)->key, limited_key);
    ck_assert_uint_ne(state_forward(d.state, "extra", 5)->key, limited_key);
    pick_from("extra", 1);
    ck_assert_str_eq(pick_name(1002), "b");
}
END_TEST

/* A pick of `client` (NULL: none named) on `forward` from 10.0.0.<octet>. */
static struct pick_result pick(const char *forward, const char *client, uint8_t octet,
                               uint64_t now_ms)
{
    struct pick_result r;

    pick_from(forward, octet);
    req.client = client;
    req.client_len = client ? strlen(client) : 0;
    decide_pick(&d, &req, now_ms, &r);
    return r;
}

static enum pick_verdict verdict(const char *forward, const char *client, uint8_t octet,
                                 uint64_t now_ms)
{
    return pick(forward, client, octet, now_ms).verdict;
}

static struct client_rt *client(const char *name)
{
    struct client_rt *c = state_client(d.state, name, strlen(name));

    ck_assert_ptr_nonnull(c);
    return c;
}

START_TEST(client_limited_while_others_go_on)
{
    struct pick_result r;

    /* team-a's burst of 5 is spent from five addresses: one bucket for the client. */
    for (uint8_t i = 1; i <= 5; i++)
        ck_assert_int_eq(verdict("keyed", "team-a", i, 1000), PICK_PASS);
    r = pick("keyed", "team-a", 6, 1000);
    ck_assert_int_eq(r.verdict, PICK_LIMITED);
    ck_assert_uint_eq(r.retry_after_s, 1); /* 1/s: a token in a second, as per address */
    ck_assert_ptr_null(r.upstream);
    /* ... and on every forward it may use. */
    ck_assert_int_eq(verdict("keyed2", "team-a", 1, 1000), PICK_LIMITED);

    /* team-b from the same address, and an anonymous request, go on. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(verdict("keyed", "team-b", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("open", NULL, 1, 1000), PICK_PASS);

    /* A second later team-a has one token again. */
    ck_assert_int_eq(verdict("keyed", "team-a", 1, 2000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-a", 1, 2000), PICK_LIMITED);

    ck_assert_uint_eq(client("team-a")->picks, 9);
    ck_assert_uint_eq(client("team-a")->limited, 3);
    ck_assert_uint_eq(client("team-b")->picks, 10);
    ck_assert_uint_eq(client("team-b")->limited, 0);
    ck_assert_uint_eq(state_forward(d.state, "keyed", 5)->limited, 2);
    ck_assert_uint_eq(d.stats.picks_limited, 3);
}
END_TEST

START_TEST(own_limit_replaces_the_forward_limit)
{
    /* keyed allows 3 per address; team-b's own burst of 10 is what counts there. */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(verdict("keyed", "team-b", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-b", 1, 1000), PICK_LIMITED);
    /* keyed2 has no limit of its own, team-a's still applies there. */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(verdict("keyed2", "team-a", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed2", "team-a", 1, 1000), PICK_LIMITED);
}
END_TEST

START_TEST(client_without_limit_falls_back_per_address)
{
    /* team-c has no ratelimit: the forward's 3 per address, as for anyone. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(verdict("keyed", "team-c", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-c", 1, 1000), PICK_LIMITED);
    ck_assert_int_eq(verdict("keyed", "team-c", 2, 1000), PICK_PASS);
    /* A forward without a limit: no limit at all. */
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(verdict("keyed2", "team-c", 1, 1000), PICK_PASS);
    ck_assert_uint_eq(client("team-c")->limited, 1);

    /* A name the configuration lacks counts as no client: per address too. */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(verdict("keyed", "ghost", 3, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "ghost", 3, 1000), PICK_LIMITED);
    /* The per-address bucket is shared with anyone else at that address on the forward,
     * never with a client that has its own. */
    ck_assert_int_eq(verdict("keyed", NULL, 3, 1000), PICK_LIMITED);
    ck_assert_int_eq(verdict("keyed", "team-a", 3, 1000), PICK_PASS);
}
END_TEST

START_TEST(reload_keeps_kept_clients_buckets)
{
    /* team-a keeps its name under a new key; team-b goes; team-d comes. */
    static const char reloaded[] = CLIENTS_CONFIG(
        "  - {name: team-d, key_sha256: " HASH_B ", ratelimit: {per_second: 1, burst: 1}}\n"
        "  - {name: team-a, key_sha256: " HASH_C ", ratelimit: {per_second: 1, burst: 5}}\n");
    struct agent_state *next;

    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(verdict("keyed", "team-a", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-a", 1, 1000), PICK_LIMITED);

    next = state_create(load_config(reloaded), d.state, 7);
    ck_assert_ptr_nonnull(next);
    state_free(d.state);
    d.state = next;

    /* Still empty after the reload, counters kept: rotating a key lifts no limit. */
    ck_assert_int_eq(verdict("keyed", "team-a", 1, 1000), PICK_LIMITED);
    ck_assert_uint_eq(client("team-a")->picks, 7);
    ck_assert_uint_eq(client("team-a")->limited, 2);
    ck_assert_ptr_null(state_client(d.state, "team-b", 6));
    ck_assert_uint_eq(client("team-d")->picks, 0);
    ck_assert_int_eq(verdict("keyed", "team-d", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-d", 1, 1000), PICK_LIMITED);
}
END_TEST

/* A configuration of `n` clients c<k>, listed in the order k = i * 7 % n (n not a multiple
 * of 7), each with a distinct hash; malloc'd. */
static char *many_clients_yaml(int n)
{
    size_t room = 1024 + (size_t)n * 128, len;
    char *yaml = malloc(room);

    ck_assert_ptr_nonnull(yaml);
    len = (size_t)snprintf(yaml, room, "%s", CLIENTS_CONFIG(""));
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(yaml + len, room - len, "  - {name: c%d, key_sha256: %064x}\n",
                                i * 7 % n, i + 1);
    ck_assert_uint_lt(len, room);
    return yaml;
}

START_TEST(many_clients_are_found_by_name)
{
    enum { N = 500 };
    char *yaml = many_clients_yaml(N), name[16];
    struct agent_state *st = state_create(load_config(yaml), NULL, 1), *next;

    ck_assert_ptr_nonnull(st);
    for (int k = 0; k < N; k++) {
        struct client_rt *c;

        snprintf(name, sizeof(name), "c%d", k);
        c = state_client(st, name, strlen(name));
        ck_assert_ptr_nonnull(c);
        ck_assert_str_eq(c->conf->name, name);
        c->picks = (uint64_t)k;
    }
    /* Prefixes and extensions of names are other names, or none. */
    ck_assert_ptr_null(state_client(st, "c", 1));
    ck_assert_ptr_null(state_client(st, "c5000", 5));
    ck_assert_ptr_null(state_client(st, "c49x", 4));
    ck_assert_str_eq(state_client(st, "c49", 2)->conf->name, "c4"); /* the bytes given only */
    ck_assert_ptr_null(state_client(st, "", 0));
    ck_assert_ptr_null(state_client(st, "zz", 2));

    /* A reload listing them in another order keeps each one's counters. */
    free(yaml);
    yaml = many_clients_yaml(N - 1); /* c<N-1> goes */
    next = state_create(load_config(yaml), st, 1);
    ck_assert_ptr_nonnull(next);
    for (int k = 0; k < N - 1; k++) {
        snprintf(name, sizeof(name), "c%d", k);
        ck_assert_uint_eq(state_client(next, name, strlen(name))->picks, (uint64_t)k);
    }
    snprintf(name, sizeof(name), "c%d", N - 1);
    ck_assert_ptr_null(state_client(next, name, strlen(name)));
    state_free(next);
    state_free(st);
    free(yaml);
}
END_TEST

/* A pick on keyed2 (no per-address limit) from 10.0.0.9 naming `cl` as HAProxy sends it. */
static enum pick_verdict dispatch_pick_as(struct spop_data cl)
{
    static const uint8_t ip[4] = {10, 0, 0, 9};

    return dispatch_pick_named("keyed2", spop_data_ipv4(ip), &cl);
}

START_TEST(dispatch_decodes_the_client)
{
    char long_name[64];

    /* team-a's burst of 5 is spent by the client named in `cl` ... */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(dispatch_pick_as(spop_data_str("team-a", 6)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_as(spop_data_str("team-a", 6)), PICK_LIMITED);
    ck_assert_uint_eq(client("team-a")->picks, 6);

    /* ... while a NULL (the variable unset: no client_auth), an empty string and a name
     * longer than any configured one are no client: keyed2 has no limit, so they pass. */
    ck_assert_int_eq(dispatch_pick_as((struct spop_data){.type = SPOP_DATA_NULL}), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_as(spop_data_str("", 0)), PICK_PASS);
    memset(long_name, 'x', sizeof(long_name));
    memcpy(long_name, "team-a", 6);
    ck_assert_int_eq(dispatch_pick_as(spop_data_str(long_name, sizeof(long_name))), PICK_PASS);
    ck_assert_int_eq(dispatch_pick_as(spop_data_str("team-a", 5)), PICK_PASS); /* "team-" */
    ck_assert_uint_eq(client("team-a")->picks, 6);
}
END_TEST

static Suite *decide_suite(void)
{
    Suite *s = suite_create("decide");
    TCase *tc = tcase_create("pick");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, pick_round_robin_then_skips_haproxy_down);
    tcase_add_test(tc, pick_full_member_yields);
    tcase_add_test(tc, pick_weighted_smooth_sequence);
    tcase_add_test(tc, pick_unknown_forward_fails_open);
    tcase_add_test(tc, pick_rate_limit_per_forward_and_ip);
    tcase_add_test(tc, dispatch_ipv6_network_shares_a_bucket);
    tcase_add_test(tc, dispatch_src_forms_and_malformed_src);
    tcase_add_test(tc, pick_fails_over_and_refuses_when_all_open);
    tcase_add_test(tc, reload_keeps_unchanged_upstreams);
    suite_add_tcase(s, tc);

    tc = tcase_create("attempt");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, attempt_backoff_doubles);
    tcase_add_test(tc, attempt_on_open_breaker_fails_fast);
    tcase_add_test(tc, attempt_after_429_skips_the_backoff);
    tcase_add_test(tc, attempt_after_a_pinned_first_try);
    tcase_add_test(tc, pick_asks_for_the_group_layer_while_a_member_needs_judging);
    tcase_add_test(tc, dispatch_attempt_decodes_prior);
    tcase_add_test(tc, pick_skips_a_cooling_member_and_refuses_429_when_all_cool);
    tcase_add_test(tc, pick_cooling_and_open_is_a_503);
    tcase_add_test(tc, pick_avoids_a_low_budget_unless_all_are_low);
    suite_add_tcase(s, tc);

    tc = tcase_create("clients");
    tcase_add_checked_fixture(tc, setup_clients, teardown);
    tcase_add_test(tc, client_limited_while_others_go_on);
    tcase_add_test(tc, own_limit_replaces_the_forward_limit);
    tcase_add_test(tc, client_without_limit_falls_back_per_address);
    tcase_add_test(tc, reload_keeps_kept_clients_buckets);
    tcase_add_test(tc, dispatch_decodes_the_client);
    tcase_add_test(tc, many_clients_are_found_by_name);
    suite_add_tcase(s, tc);

    tc = tcase_create("dispatch");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, dispatch_pick_decodes_members);
    tcase_add_test(tc, dispatch_counts_unknown_message);
    tcase_add_test(tc, answer_write_carries_the_decision);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(decide_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

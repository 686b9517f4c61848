/*
 * The per-client rate limit: a configured client with its own `ratelimit` spends one bucket,
 * wherever it connects from and on whichever forward, instead of the forward's per-address
 * bucket; a client without one, an unknown name and an anonymous request are limited per
 * address as before. Decisions on an injected clock, the client name as `pick` carries it,
 * and a reload that keeps the buckets of the clients it keeps.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "contract/spop_names.h"
#include "decide.h"
#include "dispatch.h"
#include "ratelimit.h"
#include "retry.h"
#include "siphash.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"
#include "state.h"

#define HASH_A "8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f"
#define HASH_B "ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19"
#define HASH_C "5275cd1a7ebf8b7b4e2d0e6fb0a0d4a3a1c6c8f1d1a1e2b3c4d5e6f708192a3b"

/* `keyed` and `keyed2` check keys, `keyed` with a generous per-address limit; `open` is
 * anonymous and limited per address. team-a and team-b have their own limits, team-c not. */
#define CONFIG(clients)                                                                            \
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

static const char base_yaml[] =
    CONFIG("  - {name: team-a, key_sha256: " HASH_A ", ratelimit: {per_second: 1, burst: 5}}\n"
           "  - {name: team-b, key_sha256: " HASH_B ", ratelimit: {per_second: 10, burst: 10}}\n"
           "  - {name: team-c, key_sha256: " HASH_C "}\n");

static struct decider d;

static struct config *load(const char *yaml)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load_buf("t.yaml", yaml, strlen(yaml), NULL, NULL, &diags);

    if (!cfg)
        conf_diags_print(&diags, stderr);
    conf_diags_free(&diags);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

static void setup(void)
{
    struct siphash_key key = {.k0 = 1, .k1 = 2};

    memset(&d, 0, sizeof(d));
    d.state = state_create(load(base_yaml), NULL, 42);
    d.ratelimit = ratelimit_create(1000, &key);
    d.attempts = retry_create(1000, 60000, &key);
    ck_assert_ptr_nonnull(d.state);
    ck_assert_ptr_nonnull(d.ratelimit);
    ck_assert_ptr_nonnull(d.attempts);
}

static void teardown(void)
{
    state_free(d.state);
    ratelimit_destroy(d.ratelimit);
    retry_destroy(d.attempts);
}

/* One pick of `client` (NULL: none named) on `forward` from 10.0.0.<octet>. */
static struct pick_result pick(const char *forward, const char *client, uint8_t octet,
                               uint64_t now_ms)
{
    const uint8_t ip[4] = {10, 0, 0, octet};
    struct pick_request req;
    struct pick_result r;

    pick_request_init(&req);
    req.forward = forward;
    req.forward_len = strlen(forward);
    rl_addr_from_ipv4(&req.addr, ip);
    req.has_addr = true;
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
    /* team-a keeps its name (a new key, a new rate); team-b goes; team-d comes. */
    static const char reloaded[] = CONFIG(
        "  - {name: team-d, key_sha256: " HASH_B ", ratelimit: {per_second: 1, burst: 1}}\n"
        "  - {name: team-a, key_sha256: " HASH_C ", ratelimit: {per_second: 1, burst: 5}}\n");
    struct agent_state *next;

    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(verdict("keyed", "team-a", 1, 1000), PICK_PASS);
    ck_assert_int_eq(verdict("keyed", "team-a", 1, 1000), PICK_LIMITED);

    next = state_create(load(reloaded), d.state, 7);
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

/* The verdict of a one-message pick NOTIFY naming `cl` as HAProxy sends it, at 1 s. */
static enum pick_verdict dispatch_pick(struct spop_data cl)
{
    static const uint8_t ip[4] = {10, 0, 0, 9};
    uint8_t buf[512];
    struct spop_writer w;
    struct answer a;
    struct dispatch_stats st = {0};
    struct spop_msg_iter it;

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_str(&w, SPOP_MSG_PICK, strlen(SPOP_MSG_PICK));
    spop_put_u8(&w, 3);
    spop_put_kv(&w, SPOP_ARG_FORWARD, spop_data_str("keyed2", 6));
    spop_put_kv(&w, SPOP_ARG_SRC, spop_data_ipv4(ip));
    spop_put_kv(&w, SPOP_ARG_CLIENT, cl);
    ck_assert(!w.failed);
    spop_msg_iter_init(&it, buf, spop_writer_len(&w));
    dispatch_notify(&d, &it, 1000, &a, &st);
    ck_assert(a.has_pick);
    ck_assert_uint_eq(st.bad_args, 0);
    return a.pick;
}

START_TEST(dispatch_decodes_the_client)
{
    char long_name[64];

    /* team-a's burst of 5 is spent by the client named in `cl` ... */
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(dispatch_pick(spop_data_str("team-a", 6)), PICK_PASS);
    ck_assert_int_eq(dispatch_pick(spop_data_str("team-a", 6)), PICK_LIMITED);
    ck_assert_uint_eq(client("team-a")->picks, 6);

    /* ... while a NULL (the variable unset: no client_auth), an empty string and a name
     * longer than any configured one are no client: keyed2 has no limit, so they pass. */
    ck_assert_int_eq(dispatch_pick((struct spop_data){.type = SPOP_DATA_NULL}), PICK_PASS);
    ck_assert_int_eq(dispatch_pick(spop_data_str("", 0)), PICK_PASS);
    memset(long_name, 'x', sizeof(long_name));
    memcpy(long_name, "team-a", 6);
    ck_assert_int_eq(dispatch_pick(spop_data_str(long_name, sizeof(long_name))), PICK_PASS);
    ck_assert_int_eq(dispatch_pick(spop_data_str("team-a", 5)), PICK_PASS); /* "team-" */
    ck_assert_uint_eq(client("team-a")->picks, 6);
}
END_TEST

static Suite *client_limit_suite(void)
{
    Suite *s = suite_create("client_limit");
    TCase *tc = tcase_create("pick");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, client_limited_while_others_go_on);
    tcase_add_test(tc, own_limit_replaces_the_forward_limit);
    tcase_add_test(tc, client_without_limit_falls_back_per_address);
    tcase_add_test(tc, reload_keeps_kept_clients_buckets);
    tcase_add_test(tc, dispatch_decodes_the_client);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_limit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

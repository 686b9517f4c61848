/*
 * Routing and affinity on the agent's side, without sockets: `pick_<group>` NOTIFYs
 * (the group must be one the forward routes to, else a fail-open pass), the session key
 * in its integer types and hostile ones, affinity through decide_pick with breakers,
 * LLMR4 request lines judged against the forward's rules (hostile route fields are
 * unmatched), and the routing metric families with their bounds.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "breaker.h"
#include "buf.h"
#include "contract/logformat.h"
#include "contract/spop_names.h"
#include "decide.h"
#include "dispatch.h"
#include "judge.h"
#include "logline.h"
#include "metrics.h"
#include "metrics_page.h"
#include "ratelimit.h"
#include "registry.h"
#include "retry.h"
#include "siphash.h"
#include "spop_data.h"
#include "spop_frame.h"
#include "spop_writer.h"
#include "state.h"
#include "status_json.h"
#include "util/conf_testutil.h"

/* `main` routes gpt-4o* to w, /v1/embeddings to aff (an affinity group), the rest to g;
 * `plain` has no routing. `other` is a group neither routes to. */
static const char yaml[] =
    "http_server:\n"
    "  forwards:\n"
    "    - name: main\n"
    "      port: 3001\n"
    "      upstream_group: g\n"
    "      routing:\n"
    "        - {model: 'gpt-4o*', target_group: w}\n"
    "        - {path: /v1/embeddings, target_group: aff}\n"
    "    - {name: plain, port: 3002, upstream_group: g}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: c, url: 'http://127.0.0.1:3', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "  - {name: e, url: 'http://127.0.0.1:4', breaker: {threshold: 0.5, cooldown: 7}}\n"
    "upstream_groups:\n"
    "  - {name: g, upstreams: [{name: a}, {name: b}]}\n"
    "  - {name: w, upstreams: [{name: c}]}\n"
    "  - name: aff\n"
    "    upstreams: [{name: a}, {name: b}, {name: c}, {name: e}]\n"
    "    balance: {strategy: affinity}\n"
    "  - {name: other, upstreams: [{name: e}]}\n";

static struct decider d;

static size_t group_index(const char *name)
{
    const struct config *cfg = d.state->cfg;

    for (size_t g = 0; g < cfg->n_groups; g++)
        if (strcmp(cfg->groups[g].name, name) == 0)
            return g;
    ck_abort_msg("no group %s", name);
    return 0;
}

static void setup(void)
{
    struct siphash_key key = {.k0 = 1, .k1 = 2};

    memset(&d, 0, sizeof(d));
    d.state = state_create(ctu_load_ok(yaml), NULL, 42);
    ck_assert_ptr_nonnull(d.state);
    d.ratelimit = ratelimit_create(1000, &key);
    d.attempts = retry_create(1000, 60000, &key);
}

static void teardown(void)
{
    state_free(d.state);
    ratelimit_destroy(d.ratelimit);
    retry_destroy(d.attempts);
}

/* ---- pick_<group> --------------------------------------------------------------------- */

/* One pick NOTIFY named `msg` on `forward`, with `k` unless NULL; returns the answer. */
static struct answer notify(const char *msg, const char *forward, const struct spop_data *k,
                            size_t n_members, uint64_t now_ms)
{
    uint8_t buf[1024];
    struct spop_writer w;
    struct answer a;
    struct dispatch_stats st = {0};
    struct spop_msg_iter it;
    const uint8_t ip[4] = {127, 0, 0, 1};

    spop_writer_init(&w, buf, sizeof(buf));
    spop_put_str(&w, msg, strlen(msg));
    spop_put_u8(&w, (uint8_t)(2 + (k ? 1 : 0) + 3 * n_members));
    spop_put_kv(&w, SPOP_ARG_FORWARD, spop_data_str(forward, strlen(forward)));
    spop_put_kv(&w, SPOP_ARG_SRC, spop_data_ipv4(ip));
    if (k)
        spop_put_kv(&w, SPOP_ARG_AFFINITY_KEY, *k);
    for (size_t i = 0; i < n_members; i++) {
        char name[24];

        snprintf(name, sizeof(name), "c%zu", i);
        spop_put_kv(&w, name, spop_data_int64(0));
        snprintf(name, sizeof(name), "q%zu", i);
        spop_put_kv(&w, name, spop_data_int64(0));
        snprintf(name, sizeof(name), "u%zu", i);
        spop_put_kv(&w, name, spop_data_bool(true));
    }
    ck_assert(!w.failed);
    spop_msg_iter_init(&it, buf, spop_writer_len(&w));
    dispatch_notify(&d, &it, now_ms, &a, &st);
    ck_assert_uint_eq(st.unknown_messages, 0);
    ck_assert(a.has_pick);
    return a;
}

START_TEST(routed_pick_balances_the_named_group)
{
    struct answer a;

    a = notify("pick_w", "main", NULL, 1, 1000);
    ck_assert_int_eq(a.pick, PICK_PASS);
    ck_assert_str_eq(a.upstream, "c");
    a = notify("pick_g", "main", NULL, 2, 1000); /* the forward's own group, by name */
    ck_assert_str_eq(a.upstream, "a");
    a = notify("pick", "main", NULL, 2, 1000);
    ck_assert_str_eq(a.upstream, "b");
    ck_assert_uint_eq(d.stats.picks_pass, 3);
    ck_assert_uint_eq(d.stats.picks_unknown_group, 0);
}
END_TEST

START_TEST(routed_pick_of_a_foreign_group_fails_open)
{
    /* A group the forward does not route to, one no configuration has, an empty name, a
     * routed name on a forward without routing, and names that only look alike. */
    static const char *const forged[][2] = {
        {"pick_other", "main"}, {"pick_nope", "main"}, {"pick_", "main"},   {"pick_w", "plain"},
        {"pick_W", "main"},     {"pick_ww", "main"},   {"pick_g_", "main"}, {"pick_ w", "main"},
    };

    for (size_t i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
        struct answer a = notify(forged[i][0], forged[i][1], NULL, 1, 1000);

        ck_assert_int_eq(a.pick, PICK_PASS);
        ck_assert_str_eq(a.upstream, "");
    }
    ck_assert_uint_eq(d.stats.picks_unknown_group, sizeof(forged) / sizeof(forged[0]));
    ck_assert_uint_eq(d.stats.picks_pass, 0);
}
END_TEST

START_TEST(routed_pick_lookalike_messages_are_not_picks)
{
    uint8_t buf[64];
    struct spop_writer w;
    struct answer a;
    struct dispatch_stats st = {0};
    struct spop_msg_iter it;

    /* "pickw", "pic", "Pick_w": not our messages at all. */
    static const char *const names[] = {"pickw", "pic", "Pick_w"};
    for (size_t i = 0; i < 3; i++) {
        spop_writer_init(&w, buf, sizeof(buf));
        spop_put_str(&w, names[i], strlen(names[i]));
        spop_put_u8(&w, 0);
        spop_msg_iter_init(&it, buf, spop_writer_len(&w));
        dispatch_notify(&d, &it, 1000, &a, &st);
        ck_assert(!a.has_pick);
    }
    ck_assert_uint_eq(st.unknown_messages, 3);
}
END_TEST

/* ---- the session key ------------------------------------------------------------------- */

/* Turns of one session come 10 ms apart: a pick younger than PICK_SETTLE_MS counts as in
 * flight, and 20 turns in the same millisecond would rightly spill. */

static const struct affinity_group *aff(void)
{
    return d.state->groups[group_index("aff")].affinity;
}

START_TEST(session_key_in_every_integer_type)
{
    const struct spop_data keys[] = {
        spop_data_int64(-5), spop_data_uint64(UINT64_MAX), spop_data_int32(7),
        spop_data_uint32(8), spop_data_int64(INT64_MIN),
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct answer first = notify("pick_aff", "main", &keys[i], 4, 1000);

        ck_assert_int_eq(first.pick, PICK_PASS);
        for (int turn = 0; turn < 20; turn++)
            ck_assert_str_eq(
                notify("pick_aff", "main", &keys[i], 4, 2000 + 10 * (uint64_t)turn).upstream,
                first.upstream);
    }
    ck_assert_uint_eq(aff()->picks[AFFINITY_NEW], 5);
    ck_assert_uint_eq(aff()->picks[AFFINITY_HOME], 100);
    ck_assert_uint_eq(aff()->held, 5);
}
END_TEST

START_TEST(session_key_of_another_type_is_no_key)
{
    const struct spop_data bad[] = {
        spop_data_str("12345", 5),
        spop_data_null(),
        spop_data_bool(true),
        spop_data_bin("\x01\x02\x03\x04\x05\x06\x07\x08", 8),
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_int_eq(notify("pick_aff", "main", &bad[i], 4, 1000).pick, PICK_PASS);
    ck_assert_int_eq(notify("pick_aff", "main", NULL, 4, 1000).pick, PICK_PASS);
    ck_assert_uint_eq(aff()->picks[AFFINITY_NO_KEY], 5);
    ck_assert_uint_eq(aff()->held, 0);
}
END_TEST

START_TEST(session_key_on_a_group_without_affinity_is_ignored)
{
    const struct spop_data k = spop_data_int64(1);

    ck_assert_str_eq(notify("pick_g", "main", &k, 2, 1000).upstream, "a");
    ck_assert_str_eq(notify("pick_g", "main", &k, 2, 1000).upstream, "b");
}
END_TEST

/* 40 sessions; a's breaker opens: exactly a's sessions move, and stay when a is back. */
START_TEST(affinity_breaker_moves_only_its_sessions)
{
    char home[40][ANSWER_NAME_MAX], now_on[40][ANSWER_NAME_MAX];
    struct upstream_rt *a = state_upstream(d.state, "a", 1);
    unsigned on_a = 0;

    for (int s = 0; s < 40; s++) {
        struct spop_data k = spop_data_int64(s * 7919);

        struct answer ans = notify("pick_aff", "main", &k, 4, 1000 + 10 * (uint64_t)s);

        memcpy(home[s], ans.upstream, sizeof(home[s]));
        on_a += strcmp(home[s], "a") == 0;
    }
    ck_assert_uint_gt(on_a, 0);
    for (int i = 0; i < 5; i++)
        breaker_record(&a->breaker, 2000, false);
    ck_assert_int_eq(breaker_state(&a->breaker, 2000), BREAKER_OPEN);
    for (int s = 0; s < 40; s++) {
        struct spop_data k = spop_data_int64(s * 7919);
        struct answer ans = notify("pick_aff", "main", &k, 4, 2000 + 10 * (uint64_t)s);
        const char *up = ans.upstream;

        ck_assert_str_ne(up, "a");
        if (strcmp(home[s], "a") != 0)
            ck_assert_str_eq(up, home[s]);
        memcpy(now_on[s], ans.upstream, sizeof(now_on[s]));
    }
    ck_assert_uint_eq(aff()->picks[AFFINITY_MOVED], on_a);
    /* After its cooldown (7 s) a's probe succeeds: closed again. */
    ck_assert_int_eq(breaker_state(&a->breaker, 9500), BREAKER_HALF_OPEN);
    breaker_record(&a->breaker, 9500, true);
    ck_assert_int_eq(breaker_state(&a->breaker, 9500), BREAKER_CLOSED);
    for (int s = 0; s < 40; s++) {
        struct spop_data k = spop_data_int64(s * 7919);

        ck_assert_str_eq(notify("pick_aff", "main", &k, 4, 9600 + 10 * (uint64_t)s).upstream,
                         now_on[s]);
    }
}
END_TEST

/* ---- LLMR4 lines judged against the forward -------------------------------------------- */

struct route_case {
    const char *forward, *group, *route;
    bool matched;
};

static const struct route_case route_cases[] = {
    {"main", "w", "0", true},
    {"main", "aff", "1", true},
    {"main", "g", LOGLINE_ROUTE_UNMATCHED, true},
    {"main", "g", LOGLINE_ROUTE_NO_MODEL, true},
    {"main", "g", LOGLINE_ROUTE_TRUNCATED, true},
    {"plain", "g", "-", true},
    {"main", "-", LOGLINE_ROUTE_UNMATCHED, true}, /* routing_strict's 404: no group */
    {"main", "-", "-", true}, /* refused before routing: see below for the server */
    /* hostile or out of step */
    {"main", "w", "2", false},  /* no rule 2 */
    {"main", "w", "00", false}, /* leading zero */
    {"main", "w", "01", false},
    {"main", "w", "4294967296", false},
    {"main", "w", "99999", false},
    {"main", "g", "-", false},  /* "-" on a forward with routing */
    {"plain", "g", "0", false}, /* a rule on a forward without */
    {"plain", "g", "unmatched", false},
    {"main", "g", "Unmatched", false},
    {"main", "g", "unmatched_", false},
    {"main", "other", "0", false}, /* a group the forward does not route to */
    {"plain", "w", "-", false},    /* not the forward's own group */
    {"main", "nope", "unmatched", false},
    {"main", "-", "0", false}, /* a rule matched, yet no group */
    {"plain", "-", "-", false},
};

/* A line of the case; one without a group is HAProxy's own answer (no server), as it
 * logs one, unless `served` says a server took it anyway. */
static int parse_case(const struct route_case *c, bool served, char *line, size_t size,
                      struct logline *ll)
{
    bool own = strcmp(c->group, "-") == 0 && !served;

    snprintf(line, size,
             "LLMR4 id1 %s %s %s - POST %s 0 0 0 1 20 100 ---- 0 %s %s%s %s - "
             "\"/v1/chat/completions\"",
             c->forward, c->group, c->route, own ? "405" : "200", own ? "<NOSRV>" : "a",
             own ? "fwd_" : "grp_", own ? c->forward : c->group, own ? "-" : "pass");
    return logline_parse(line, strlen(line), ll);
}

START_TEST(request_lines_judged_by_their_route)
{
    for (size_t i = 0; i < sizeof(route_cases) / sizeof(route_cases[0]); i++) {
        const struct route_case *c = &route_cases[i];
        char line[512];
        struct logline ll;
        struct judged_line j;

        ck_assert_int_eq(parse_case(c, false, line, sizeof(line), &ll), 0);
        judge_line(d.state, &ll, &j);
        ck_assert_msg((j.request.forward != NULL) == c->matched, "%s %s %s: matched %d", c->forward,
                      c->group, c->route, j.request.forward != NULL);
        if (!c->matched)
            continue;
        if (strcmp(c->route, "-") == 0 && strcmp(c->forward, "main") == 0)
            ck_assert_ptr_null(j.request.group); /* answered before routing */
        else
            ck_assert_str_eq(j.request.group->conf->name, strcmp(c->group, "-") ? c->group : "g");
        /* Without a group nothing may have been served: a server makes it unmatched. */
        if (strcmp(c->group, "-") == 0 && strcmp(c->route, "-") == 0) {
            ck_assert_int_eq(parse_case(c, true, line, sizeof(line), &ll), 0);
            judge_line(d.state, &ll, &j);
            ck_assert_ptr_null(j.request.forward);
        }
    }
}
END_TEST

START_TEST(pinned_line_with_a_bad_route_records_no_attempt)
{
    const char line[] = "LLMR4 id1 main w 7 - POST 502 0 0 -1 -1 20 100 SC-- 0 c pin_w__c pass - "
                        "\"/v1/chat/completions\"";
    struct logline ll;
    struct judged_line j;

    ck_assert_int_eq(logline_parse(line, strlen(line), &ll), 0);
    ck_assert(ll.pinned);
    judge_line(d.state, &ll, &j);
    ck_assert_ptr_null(j.request.forward);
    ck_assert(!j.has_attempt);
}
END_TEST

/* ---- metrics ---------------------------------------------------------------------------- */

static void record(struct metrics *m, const char *forward, const char *group, const char *route,
                   int status)
{
    char line[512];
    struct logline ll;
    struct judged_line j;

    snprintf(line, sizeof(line),
             "LLMR4 id1 %s %s %s - POST %d 0 0 0 1 20 100 ---- 0 a grp_%s pass - \"/v1/x\"",
             forward, group, route, status, group);
    ck_assert_int_eq(logline_parse(line, strlen(line), &ll), 0);
    judge_line(d.state, &ll, &j);
    metrics_record_line(m, &j);
}

static double value(struct metrics *m, enum metrics_family f, const char *const *labels)
{
    const struct reg_series *s = reg_series_find(&m->fam[f], labels);

    return s ? (f == MF_MODEL_DURATION ? (double)s->count : s->value) : -1;
}

START_TEST(routing_metrics_by_route_and_model)
{
    struct metrics *m = metrics_create();

    ck_assert(metrics_use_state(m, d.state));
    ck_assert(metrics_family_shown(m, MF_ROUTE_REQUESTS));
    record(m, "main", "w", "0", 200);
    record(m, "main", "w", "0", 503);
    record(m, "main", "aff", "1", 200);
    record(m, "main", "g", "no_model", 200);
    record(m, "main", "g", "truncated", 413);
    record(m, "plain", "g", "-", 200);    /* no routing: not in these families */
    record(m, "main", "other", "0", 200); /* unmatched */

    ck_assert_double_eq(value(m, MF_ROUTE_REQUESTS, (const char *[]){"main", "w", "rule"}), 2);
    ck_assert_double_eq(value(m, MF_ROUTE_REQUESTS, (const char *[]){"main", "aff", "rule"}), 1);
    ck_assert_double_eq(value(m, MF_ROUTE_REQUESTS, (const char *[]){"main", "g", "no_model"}), 1);
    ck_assert_double_eq(value(m, MF_ROUTE_REQUESTS, (const char *[]){"main", "g", "truncated"}), 1);
    ck_assert_double_eq(value(m, MF_MODEL_REQUESTS, (const char *[]){"main", "gpt-4o*", "2xx"}), 1);
    ck_assert_double_eq(value(m, MF_MODEL_REQUESTS, (const char *[]){"main", "gpt-4o*", "5xx"}), 1);
    /* A path rule and the fallbacks are "other". */
    ck_assert_double_eq(value(m, MF_MODEL_REQUESTS, (const char *[]){"main", "other", "2xx"}), 2);
    ck_assert_double_eq(value(m, MF_MODEL_DURATION, (const char *[]){"main", "gpt-4o*"}), 2);
    ck_assert_uint_eq(m->fam[MF_ROUTE_REQUESTS].n, 4);
    ck_assert_uint_eq(m->fam[MF_MODEL_REQUESTS].n, 4);
    ck_assert_uint_eq(m->unmatched, 1);
    metrics_free(m);
}
END_TEST

START_TEST(routing_metrics_absent_without_routing)
{
    static const char unrouted[] = "http_server:\n"
                                   "  forwards: [{name: plain, port: 3002, upstream_group: g}]\n"
                                   "upstreams: [{name: a, url: 'http://127.0.0.1:1'}]\n"
                                   "upstream_groups: [{name: g, upstreams: [{name: a}]}]\n";
    struct agent_state *st = state_create(ctu_load_ok(unrouted), NULL, 1);
    struct metrics *m = metrics_create();
    struct metrics_page_sources src = {0};
    struct buf b;

    ck_assert(metrics_use_state(m, st));
    ck_assert(!metrics_family_shown(m, MF_ROUTE_REQUESTS));
    ck_assert(!metrics_family_shown(m, MF_MODEL_DURATION));
    src.recorded = m;
    src.state = st;
    src.decide = &d.stats;
    buf_init(&b, 1 << 20);
    ck_assert(metrics_page_render(&src, 1000, &b));
    ck_assert_ptr_null(strstr(b.data, "llmproxy_route_requests_total"));
    ck_assert_ptr_null(strstr(b.data, "llmproxy_model_requests_total"));
    ck_assert_ptr_null(strstr(b.data, "llmproxy_affinity_"));
    ck_assert_ptr_null(strstr(b.data, "verdict=\"unknown_group\""));
    buf_free(&b);
    metrics_free(m);
    state_free(st);
}
END_TEST

START_TEST(routing_and_affinity_on_the_page)
{
    struct metrics *m = metrics_create();
    struct metrics_page_sources src = {0};
    const struct spop_data k = spop_data_int64(42);
    struct buf b;

    ck_assert(metrics_use_state(m, d.state));
    record(m, "main", "w", "0", 200);
    notify("pick_aff", "main", &k, 4, 1000);
    notify("pick_aff", "main", &k, 4, 1010); /* the first settled: HAProxy counts it */
    notify("pick_other", "main", NULL, 1, 1000);
    src.recorded = m;
    src.state = d.state;
    src.decide = &d.stats;
    buf_init(&b, 1 << 20);
    ck_assert(metrics_page_render(&src, 1000, &b));
    ck_assert_ptr_nonnull(strstr(
        b.data, "llmproxy_route_requests_total{forward=\"main\",group=\"w\",route=\"rule\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.data, "llmproxy_model_requests_total{forward=\"main\",model="
                                         "\"gpt-4o*\",status_class=\"2xx\"} 1"));
    ck_assert_ptr_nonnull(
        strstr(b.data, "llmproxy_affinity_picks_total{group=\"aff\",outcome=\"new\"} 1"));
    ck_assert_ptr_nonnull(
        strstr(b.data, "llmproxy_affinity_picks_total{group=\"aff\",outcome=\"home\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.data, "llmproxy_affinity_sessions{group=\"aff\"} 1"));
    ck_assert_ptr_nonnull(strstr(b.data, "llmproxy_affinity_evictions_total 0"));
    ck_assert_ptr_nonnull(
        strstr(b.data, "llmproxy_agent_pick_decisions_total{verdict=\"unknown_group\"} 1"));
    /* Only affinity groups have series. */
    ck_assert_ptr_null(strstr(b.data, "llmproxy_affinity_sessions{group=\"g\"}"));
    buf_free(&b);
    metrics_free(m);
}
END_TEST

/* A reload keeps the affinity groups' pick counters and the rendezvous key, and, with the
 * affinity groups unchanged, every session on its member. */
START_TEST(reload_keeps_affinity_sessions)
{
    const struct spop_data k = spop_data_int64(42);
    char home[ANSWER_NAME_MAX];
    struct agent_state *next;
    struct answer a = notify("pick_aff", "main", &k, 4, 1000);

    memcpy(home, a.upstream, sizeof(home));
    notify("pick_aff", "main", &k, 4, 1010);
    next = state_create(ctu_load_ok(yaml), d.state, 99);
    ck_assert_ptr_nonnull(next);
    ck_assert_uint_eq(next->affinity_key.k0, d.state->affinity_key.k0);
    state_free(d.state);
    d.state = next;
    ck_assert_uint_eq(aff()->picks[AFFINITY_HOME], 1);
    ck_assert_uint_eq(aff()->picks[AFFINITY_NEW], 1);
    ck_assert_uint_eq(aff()->held, 1);
    ck_assert_str_eq(notify("pick_aff", "main", &k, 4, 1020).upstream, home);
    ck_assert_uint_eq(aff()->picks[AFFINITY_HOME], 2);
    /* The old table is gone with its state: the copy counts evictions on its own. */
    ck_assert_uint_eq(affinity_evictions(d.state->affinity), 0);
}
END_TEST

/* Members of an affinity group changed: its sessions start over, counters go on. */
START_TEST(reload_with_other_members_starts_over)
{
    const struct spop_data k = spop_data_int64(42);
    char changed[sizeof(yaml) + 16];
    struct agent_state *next;
    char *at;

    notify("pick_aff", "main", &k, 4, 1000);
    memcpy(changed, yaml, sizeof(yaml));
    at = strstr(changed, "{name: c}, {name: e}]");
    ck_assert_ptr_nonnull(at);
    memcpy(at, "{name: e}, {name: c}]", 21); /* the same members, another order */
    next = state_create(ctu_load_ok(changed), d.state, 99);
    ck_assert_ptr_nonnull(next);
    state_free(d.state);
    d.state = next;
    ck_assert_uint_eq(aff()->held, 0);
    ck_assert_uint_eq(aff()->picks[AFFINITY_NEW], 1);
    notify("pick_aff", "main", &k, 4, 1010);
    ck_assert_uint_eq(aff()->picks[AFFINITY_NEW], 2);
}
END_TEST

START_TEST(status_lists_routes_and_sessions)
{
    const struct spop_data k = spop_data_int64(42);
    struct buf b;

    notify("pick_aff", "main", &k, 4, 1000);
    buf_init(&b, 1 << 20);
    ck_assert(status_json_render(d.state, 1000, &b));
    ck_assert_ptr_nonnull(strstr(b.data, "\"routes\":[{\"index\":0,\"kind\":\"model_prefix\","
                                         "\"pattern\":\"gpt-4o*\",\"group\":\"w\"},{\"index\":1,"
                                         "\"kind\":\"path\",\"pattern\":\"/v1/embeddings\","
                                         "\"group\":\"aff\"}]"));
    ck_assert_ptr_nonnull(strstr(b.data, "\"strategy\":\"affinity\""));
    ck_assert_ptr_nonnull(strstr(b.data, "],\"sessions\":1}"));
    /* `plain` has no rules and lists none. */
    ck_assert_ptr_null(strstr(strstr(b.data, "\"name\":\"plain\""), "\"routes\""));
    buf_free(&b);
}
END_TEST

static Suite *routed_suite(void)
{
    Suite *s = suite_create("routed");
    TCase *tc = tcase_create("routed");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, routed_pick_balances_the_named_group);
    tcase_add_test(tc, routed_pick_of_a_foreign_group_fails_open);
    tcase_add_test(tc, routed_pick_lookalike_messages_are_not_picks);
    tcase_add_test(tc, session_key_in_every_integer_type);
    tcase_add_test(tc, session_key_of_another_type_is_no_key);
    tcase_add_test(tc, session_key_on_a_group_without_affinity_is_ignored);
    tcase_add_test(tc, affinity_breaker_moves_only_its_sessions);
    tcase_add_test(tc, request_lines_judged_by_their_route);
    tcase_add_test(tc, pinned_line_with_a_bad_route_records_no_attempt);
    tcase_add_test(tc, routing_metrics_by_route_and_model);
    tcase_add_test(tc, routing_metrics_absent_without_routing);
    tcase_add_test(tc, routing_and_affinity_on_the_page);
    tcase_add_test(tc, reload_keeps_affinity_sessions);
    tcase_add_test(tc, reload_with_other_members_starts_over);
    tcase_add_test(tc, status_lists_routes_and_sessions);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(routed_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

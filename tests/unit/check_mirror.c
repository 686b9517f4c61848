/*
 * The breaker mirror without sockets: a state loaded from YAML, breakers driven on an
 * injected clock, and the runtime-API commands the mirror emits captured in a list.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "config.h"
#include "mirror.h"
#include "state.h"

static const char yaml[] = "http_server:\n"
                           "  forwards:\n"
                           "    - {name: main, port: 3001, upstream_group: g}\n"
                           "upstreams:\n"
                           "  - {name: a, url: 'http://127.0.0.1:1', breaker: {cooldown: 2}}\n"
                           "  - {name: b, url: 'http://127.0.0.1:2', breaker: {cooldown: 7}}\n"
                           "  - {name: c, url: 'http://127.0.0.1:3'}\n"
                           "upstream_groups:\n"
                           "  - {name: g, upstreams: [{name: a}, {name: b}, {name: c}]}\n"
                           "  - {name: solo, upstreams: [{name: a}, {name: b}]}\n";

/* Same names, plus a new group; group `solo` gone. */
static const char yaml_reloaded[] =
    "http_server:\n"
    "  forwards:\n"
    "    - {name: main, port: 3001, upstream_group: g}\n"
    "upstreams:\n"
    "  - {name: a, url: 'http://127.0.0.1:1', breaker: {cooldown: 2}}\n"
    "  - {name: b, url: 'http://127.0.0.1:2', breaker: {cooldown: 7}}\n"
    "  - {name: c, url: 'http://127.0.0.1:3'}\n"
    "upstream_groups:\n"
    "  - {name: g, upstreams: [{name: a}, {name: b}, {name: c}]}\n"
    "  - {name: fresh, upstreams: [{name: c}]}\n";

#define MAX_SENT 64

/* The emitter: records every command; refuses once `refuse` is set. */
struct sink {
    char cmd[MAX_SENT][MIRROR_CMD_MAX];
    uint64_t cookie[MAX_SENT];
    size_t n;
    bool refuse;
};

static struct agent_state *st;
static struct mirror m;
static struct sink sink;

static struct agent_state *load(const char *text)
{
    struct conf_diags diags = {0};
    struct config *cfg = config_load_buf("t.yaml", text, strlen(text), NULL, NULL, &diags);
    struct agent_state *s;

    if (!cfg)
        conf_diags_print(&diags, stderr);
    conf_diags_free(&diags);
    ck_assert_ptr_nonnull(cfg);
    s = state_create(cfg, NULL, 1);
    ck_assert_ptr_nonnull(s);
    return s;
}

static bool emit(void *ctx, const char *cmd, uint64_t cookie)
{
    struct sink *s = ctx;

    ck_assert_uint_lt(s->n, MAX_SENT);
    if (s->refuse)
        return false;
    ck_assert_uint_lt(strlen(cmd), MIRROR_CMD_MAX);
    strcpy(s->cmd[s->n], cmd);
    s->cookie[s->n] = cookie;
    s->n++;
    return true;
}

static void setup(void)
{
    st = load(yaml);
    mirror_init(&m);
    ck_assert(mirror_use_state(&m, st));
    memset(&sink, 0, sizeof(sink));
}

static void teardown(void)
{
    mirror_release(&m);
    state_free(st);
}

/* Sync at `now`; the commands emitted this time are sink.cmd[first .. sink.n). */
static size_t sync_at(uint64_t now)
{
    return mirror_sync(&m, now, emit, &sink);
}

/* HAProxy answers every command emitted so far with `ok`, then the sink is emptied. */
static void answer_all(bool ok)
{
    for (size_t i = 0; i < sink.n; i++)
        mirror_done(&m, sink.cookie[i], ok);
    sink.n = 0;
}

static bool sent(const char *cmd)
{
    for (size_t i = 0; i < sink.n; i++)
        if (strcmp(sink.cmd[i], cmd) == 0)
            return true;
    return false;
}

static struct upstream_rt *up(const char *name)
{
    struct upstream_rt *u = state_upstream(st, name, strlen(name));

    ck_assert_ptr_nonnull(u);
    return u;
}

/* Five failures in a second: over the threshold, the breaker opens at `now`. */
static void trip(const char *name, uint64_t now)
{
    for (int i = 0; i < 5; i++)
        breaker_record(&up(name)->breaker, now, false);
    ck_assert_int_eq(breaker_state(&up(name)->breaker, now), BREAKER_OPEN);
}

/* The start: nothing is known of HAProxy, so every server gets its weight once. */
static void start_confirmed(void)
{
    ck_assert_uint_eq(sync_at(1000), 5);
    answer_all(true);
    ck_assert_uint_eq(sync_at(1001), 0);
}

START_TEST(test_first_sync_sends_every_pair_its_configured_weight)
{
    ck_assert_uint_eq(sync_at(1000), 5);
    ck_assert(sent("set server grp_g/a weight 100%"));
    ck_assert(sent("set server grp_g/b weight 100%"));
    ck_assert(sent("set server grp_g/c weight 100%"));
    ck_assert(sent("set server grp_solo/a weight 100%"));
    ck_assert(sent("set server grp_solo/b weight 100%"));
    /* Still waiting for HAProxy: nothing is sent twice. */
    sink.n = 0;
    ck_assert_uint_eq(sync_at(1001), 0);
}
END_TEST

START_TEST(test_open_breaker_drains_it_in_every_group)
{
    start_confirmed();
    trip("a", 2000);
    ck_assert_uint_eq(sync_at(2000), 2);
    ck_assert(sent("set server grp_g/a weight 0"));
    ck_assert(sent("set server grp_solo/a weight 0"));
    ck_assert(mirror_wants_drained(&m, "g", "a"));
    ck_assert(!mirror_wants_drained(&m, "g", "b"));
    answer_all(true);
    ck_assert_uint_eq(sync_at(2001), 0);
}
END_TEST

START_TEST(test_half_open_stays_drained_and_closing_restores)
{
    struct breaker *b;

    start_confirmed();
    trip("a", 2000);
    sync_at(2000);
    answer_all(true);
    /* Cooldown over (before the reconcile is due): half-open, the probe goes through use-server,
     * weight stays 0. */
    b = &up("a")->breaker;
    ck_assert(breaker_available(b, 4001));
    ck_assert_int_eq(breaker_state(b, 4001), BREAKER_HALF_OPEN);
    ck_assert_uint_eq(sync_at(4001), 0);
    ck_assert(mirror_wants_drained(&m, "g", "a"));
    /* The probe succeeds: closed, the configured weight comes back. */
    breaker_on_pick(b, 4001);
    breaker_record(b, 4002, true);
    ck_assert_int_eq(breaker_state(b, 4002), BREAKER_CLOSED);
    ck_assert_uint_eq(sync_at(4002), 2);
    ck_assert(sent("set server grp_g/a weight 100%"));
    ck_assert(sent("set server grp_solo/a weight 100%"));
}
END_TEST

START_TEST(test_reconcile_reasserts_only_drained_servers)
{
    start_confirmed();
    trip("b", 2000);
    sync_at(2000);
    answer_all(true);
    /* Before the period: nothing. */
    ck_assert_uint_eq(sync_at(1000 + MIRROR_RECONCILE_MS - 1), 0);
    /* Period over: the drained servers again, not the healthy ones. */
    ck_assert_uint_eq(sync_at(1000 + MIRROR_RECONCILE_MS), 2);
    ck_assert(sent("set server grp_g/b weight 0"));
    ck_assert(sent("set server grp_solo/b weight 0"));
    answer_all(true);
    ck_assert_uint_eq(sync_at(1000 + MIRROR_RECONCILE_MS + 1), 0);
}
END_TEST

START_TEST(test_new_haproxy_process_gets_everything_again)
{
    start_confirmed();
    trip("a", 2000);
    sync_at(2000);
    answer_all(true);
    /* HAProxy reloaded: the new worker has the file's weights. */
    mirror_forget(&m);
    ck_assert_uint_eq(sync_at(2100), 5);
    ck_assert(sent("set server grp_g/a weight 0"));
    ck_assert(sent("set server grp_solo/a weight 0"));
    ck_assert(sent("set server grp_g/b weight 100%"));
}
END_TEST

START_TEST(test_failed_command_is_sent_again)
{
    start_confirmed();
    trip("a", 2000);
    sync_at(2000);
    answer_all(false); /* socket absent: HAProxy not started */
    ck_assert_uint_eq(m.stats.failed, 2);
    ck_assert_uint_eq(sync_at(2001), 2);
    ck_assert(sent("set server grp_g/a weight 0"));
    answer_all(true);
    ck_assert_uint_eq(sync_at(2002), 0);
}
END_TEST

START_TEST(test_refused_by_full_queue_is_sent_later)
{
    sink.refuse = true;
    ck_assert_uint_eq(sync_at(1000), 0);
    sink.refuse = false;
    ck_assert_uint_eq(sync_at(1001), 5);
}
END_TEST

START_TEST(test_stale_answers_are_ignored)
{
    uint64_t old_cookie;

    ck_assert_uint_eq(sync_at(1000), 5);
    old_cookie = sink.cookie[0];
    mirror_forget(&m); /* the answer on its way is the old process's */
    mirror_done(&m, old_cookie, true);
    ck_assert_uint_eq(m.stats.confirmed, 0);
    sink.n = 0;
    ck_assert_uint_eq(sync_at(1001), 5);
    /* Cookies out of range or never issued change nothing. */
    mirror_done(&m, (uint64_t)999 << 32 | 1, true);
    mirror_done(&m, 0, true);
    ck_assert_uint_eq(m.stats.confirmed, 0);
    answer_all(true);
    ck_assert_uint_eq(m.stats.confirmed, 5);
    /* The same answer twice counts once. */
    mirror_done(&m, old_cookie, true);
    ck_assert_uint_eq(m.stats.confirmed, 5);
}
END_TEST

START_TEST(test_change_while_pending_sends_the_newer_weight)
{
    ck_assert_uint_eq(sync_at(1000), 5); /* 100% on its way for a */
    sink.n = 0;
    trip("a", 1500);
    ck_assert_uint_eq(sync_at(1500), 2);
    ck_assert(sent("set server grp_g/a weight 0"));
    /* The older command's success does not confirm the newer weight. */
    mirror_done(&m, (uint64_t)0 << 32 | 1, true);
    ck_assert_uint_eq(m.stats.confirmed, 0);
}
END_TEST

START_TEST(test_group_never_fully_drained)
{
    start_confirmed();
    trip("a", 2000);
    trip("b", 2000);
    /* Group g keeps c; group solo has no closed member left: its weights stay. */
    ck_assert_uint_eq(sync_at(2000), 2);
    ck_assert(sent("set server grp_g/a weight 0"));
    ck_assert(sent("set server grp_g/b weight 0"));
    ck_assert(!mirror_wants_drained(&m, "solo", "a"));
    ck_assert(!mirror_wants_drained(&m, "solo", "b"));
}
END_TEST

START_TEST(test_reload_keeps_known_pairs_and_sends_new_ones)
{
    struct agent_state *next;
    struct config *cfg;
    struct conf_diags diags = {0};

    start_confirmed();
    trip("a", 2000);
    sync_at(2000);
    answer_all(true);
    cfg = config_load_buf("t.yaml", yaml_reloaded, strlen(yaml_reloaded), NULL, NULL, &diags);
    conf_diags_free(&diags);
    ck_assert_ptr_nonnull(cfg);
    next = state_create(cfg, st, 2);
    ck_assert_ptr_nonnull(next);
    ck_assert(mirror_use_state(&m, next));
    state_free(st);
    st = next;
    /* Breaker a kept its state; g/a stays drained and known; fresh/c is new. */
    ck_assert_uint_eq(m.n, 4);
    ck_assert_uint_eq(sync_at(2001), 1);
    ck_assert(sent("set server grp_fresh/c weight 100%"));
    ck_assert(mirror_wants_drained(&m, "g", "a"));
}
END_TEST

static int hook_calls;
static enum breaker_state hook_to;

static void count_transition(void *ctx, const struct upstream_rt *u, enum breaker_state from,
                             enum breaker_state to)
{
    (void)from;
    ck_assert_ptr_eq(ctx, &m);
    ck_assert_str_eq(u->conf->name, "a");
    hook_calls++;
    hook_to = to;
    mirror_sync(&m, 2000, emit, &sink);
}

START_TEST(test_state_calls_the_hook_on_every_transition)
{
    start_confirmed();
    st->on_transition = count_transition;
    st->transition_ctx = &m;
    hook_calls = 0;
    trip("a", 2000);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert_int_eq(hook_to, BREAKER_OPEN);
    /* Synced from inside the hook: the drain went out with the transition. */
    ck_assert(sent("set server grp_g/a weight 0"));
}
END_TEST

/*
 * A group whose pinned backends retry: each member also has a retry server in every other
 * member's pinned backend, where HAProxy redispatches a failed first attempt; an open
 * breaker drains it there too, and closing gives every weight back.
 */
START_TEST(retry_servers_of_pinned_backends_drain_too)
{
    static const char retry_yaml[] =
        "http_server:\n"
        "  forwards:\n"
        "    - {name: main, port: 3001, upstream_group: r}\n"
        "upstreams:\n"
        "  - {name: a, url: 'http://127.0.0.1:1', breaker: {cooldown: 2}}\n"
        "  - {name: b, url: 'http://127.0.0.1:2'}\n"
        "  - {name: c, url: 'http://127.0.0.1:3'}\n"
        "upstream_groups:\n"
        "  - {name: r, upstreams: [{name: a}, {name: b}, {name: c}],\n"
        "     http_client: {retry: {enabled: true}}}\n"
        "  - {name: one, upstreams: [{name: c}], http_client: {retry: {enabled: true}}}\n";

    mirror_release(&m);
    state_free(st);
    st = load(retry_yaml);
    ck_assert(mirror_use_state(&m, st));
    /* 3 in grp_r, 3 x 2 retry servers, and the lone member's own two. */
    ck_assert_uint_eq(sync_at(1000), 3 + 6 + 2);
    ck_assert(sent("set server pin_r__b/retry:a weight 100%"));
    ck_assert(sent("set server pin_r__c/retry:a weight 100%"));
    ck_assert(sent("set server pin_one__c/retry:c weight 100%"));
    ck_assert(!sent("set server pin_r__a/retry:a weight 100%"));
    answer_all(true);
    ck_assert_uint_eq(sync_at(1001), 0);

    trip("a", 1100);
    ck_assert_uint_eq(sync_at(1100), 3);
    ck_assert(sent("set server grp_r/a weight 0"));
    ck_assert(sent("set server pin_r__b/retry:a weight 0"));
    ck_assert(sent("set server pin_r__c/retry:a weight 0"));
    answer_all(true);
    /* The cooldown over, a probe succeeds: every server of a gets its weight back. */
    breaker_state(&up("a")->breaker, 3200);
    breaker_on_pick(&up("a")->breaker, 3200);
    breaker_record(&up("a")->breaker, 3210, true);
    ck_assert_uint_eq(sync_at(3300), 3);
    ck_assert(sent("set server pin_r__b/retry:a weight 100%"));
}
END_TEST

static Suite *mirror_suite(void)
{
    Suite *s = suite_create("mirror");
    TCase *tc = tcase_create("mirror");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_first_sync_sends_every_pair_its_configured_weight);
    tcase_add_test(tc, test_open_breaker_drains_it_in_every_group);
    tcase_add_test(tc, test_half_open_stays_drained_and_closing_restores);
    tcase_add_test(tc, test_reconcile_reasserts_only_drained_servers);
    tcase_add_test(tc, test_new_haproxy_process_gets_everything_again);
    tcase_add_test(tc, test_failed_command_is_sent_again);
    tcase_add_test(tc, test_refused_by_full_queue_is_sent_later);
    tcase_add_test(tc, test_stale_answers_are_ignored);
    tcase_add_test(tc, test_change_while_pending_sends_the_newer_weight);
    tcase_add_test(tc, test_group_never_fully_drained);
    tcase_add_test(tc, test_reload_keeps_known_pairs_and_sends_new_ones);
    tcase_add_test(tc, test_state_calls_the_hook_on_every_transition);
    tcase_add_test(tc, retry_servers_of_pinned_backends_drain_too);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mirror_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

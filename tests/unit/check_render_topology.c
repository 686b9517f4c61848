/*
 * The topology module: from a configuration, each group's layout in HAProxy (pinned or
 * two layers, retries, longest backoff) and what the whole configuration needs (the
 * attempt file, the buffer size, the attempt engine's timeout).
 */
#include <check.h>
#include <stdlib.h>

#include "config.h"
#include "contract/backoff.h"
#include "render_topology.h"
#include "util/conf_testutil.h"

#define UPSTREAMS "upstreams: [{name: a, url: 'http://a:8080'}, {name: b, url: 'http://b:8080'}]\n"
#define FORWARD   "http_server: {forwards: [{name: f, port: 3000, upstream_group: g}]}\n"

START_TEST(group_without_retries_is_pinned)
{
    struct config *cfg =
        ctu_load_ok(UPSTREAMS "upstream_groups:\n"
                              "  - {name: g, upstreams: [{name: a}, {name: b}]}\n"
                              "  - {name: h, upstreams: [{name: a}], "
                              "http_client: {retry: {enabled: false, attempts: 5}}}\n" FORWARD);

    for (size_t i = 0; i < cfg->n_groups; i++) {
        struct group_topology t = render_group_topology(cfg, &cfg->groups[i]);

        ck_assert(t.pinned);
        ck_assert(!t.retries);
        /* Attempts configured but not enabled do not make the group retry. */
        ck_assert_uint_eq(t.retry_count, 0);
        ck_assert_uint_eq(t.longest_backoff_ms, 0);
    }
    struct render_topology all = render_topology(cfg);
    ck_assert(!all.retries);
    ck_assert_uint_eq(all.bufsize, 0);
    ck_assert_uint_eq(all.attempt_timeout_ms, TOPOLOGY_ATTEMPT_MARGIN_MS);
    config_free(cfg);
}
END_TEST

/* Members whose rewrites overwrite one another: the first attempt from a pinned backend. */
START_TEST(group_with_retries_is_pinned_first)
{
    struct config *cfg = ctu_load_ok(UPSTREAMS "upstream_groups:\n"
                                               "  - {name: g, upstreams: [{name: a}, {name: b}], "
                                               "http_client: {retry: {enabled: true}}}\n" FORWARD);
    struct group_topology t = render_group_topology(cfg, &cfg->groups[0]);

    ck_assert(t.pinned);
    ck_assert(t.retries);
    /* The defaults: 3 retries, the first after 500 ms, so the last is held 2 s. */
    ck_assert_uint_eq(t.retry_count, 3);
    ck_assert_uint_eq(t.longest_backoff_ms, 2000);
    ck_assert_uint_eq(t.longest_backoff_ms, backoff_delay_ms(500, 3));

    struct render_topology all = render_topology(cfg);
    ck_assert(all.retries);
    ck_assert_uint_eq(all.bufsize, TOPOLOGY_RETRY_BUFSIZE);
    ck_assert_uint_eq(all.attempt_timeout_ms, 2000 + TOPOLOGY_ATTEMPT_MARGIN_MS);
    config_free(cfg);
}
END_TEST

/* One retrying group is enough for the whole configuration, and the attempt engine waits
 * for the longest hold of any group, capped like the backoff itself. */
START_TEST(configuration_takes_the_longest_hold)
{
    struct config *cfg = ctu_load_ok(
        UPSTREAMS "upstream_groups:\n"
                  "  - {name: g, upstreams: [{name: a}]}\n"
                  "  - {name: s, upstreams: [{name: a}], "
                  "http_client: {retry: {enabled: true, attempts: 2, initial: 100}}}\n"
                  "  - {name: l, upstreams: [{name: b}], "
                  "http_client: {retry: {enabled: true, attempts: 10, initial: 60000}}}\n" FORWARD);
    struct group_topology g = render_group_topology(cfg, &cfg->groups[0]);
    struct group_topology s = render_group_topology(cfg, &cfg->groups[1]);
    struct group_topology l = render_group_topology(cfg, &cfg->groups[2]);

    ck_assert(g.pinned && s.pinned && l.pinned);
    ck_assert_uint_eq(s.retry_count, 2);
    ck_assert_uint_eq(s.longest_backoff_ms, 200);
    ck_assert_uint_eq(l.retry_count, 10);
    ck_assert_uint_eq(l.longest_backoff_ms, RETRY_BACKOFF_CAP_MS);

    struct render_topology all = render_topology(cfg);
    ck_assert(all.retries);
    ck_assert_uint_eq(all.bufsize, TOPOLOGY_RETRY_BUFSIZE);
    ck_assert_uint_eq(all.attempt_timeout_ms, RETRY_BACKOFF_CAP_MS + TOPOLOGY_ATTEMPT_MARGIN_MS);
    config_free(cfg);
}
END_TEST

/* One member with max_in_flight queues the whole group in its group backend: no pinned
 * backends, so the queue's 503 and the connection's are HAProxy's in different proxies. */
/* A retry that the next member's listener rewrites must be the request the client sent:
 * whatever the first member's rewrites left that the next one's do not overwrite keeps the
 * group on two layers. Group g0 is the interchangeable reference. */
START_TEST(retry_group_members_must_be_interchangeable)
{
    static const char *const upstreams[] = {
        /* 0: the same shape: bearer tokens, base path, headers of the same names */
        "  - {name: a, url: 'http://a:8080/v1', auth: {type: bearer, token: ta}, headers: "
        "[{op: replace, key: X-K, value: ka}, {op: insert, key: X-V, value: '1'}, {op: remove, "
        "key: X-R}]}\n"
        "  - {name: b, url: 'https://b/v1', auth: {type: basic, username: u, password: p}, "
        "headers: [{op: replace, key: x-k, value: kb}, {op: insert, key: X-V, value: '1'}, "
        "{op: remove, key: X-R}]}\n",
        /* 1: another base path */
        "  - {name: a, url: 'http://a:8080/v1'}\n  - {name: b, url: 'http://b:8080/openai/v1'}\n",
        /* 2: a credential on one member only: the client's own would reach b as a's */
        "  - {name: a, url: 'http://a:8080', auth: {type: bearer, token: ta}}\n"
        "  - {name: b, url: 'http://b:8080'}\n",
        /* 3: an insert whose value differs: b's keeps a's value */
        "  - {name: a, url: 'http://a:8080', headers: [{op: insert, key: X-V, value: a}]}\n"
        "  - {name: b, url: 'http://b:8080', headers: [{op: insert, key: X-V, value: b}]}\n",
        /* 4: a header set by one member only: it would reach b */
        "  - {name: a, url: 'http://a:8080', headers: [{op: replace, key: X-K, value: ka}]}\n"
        "  - {name: b, url: 'http://b:8080'}\n",
        /* 5: a header removed by one member only */
        "  - {name: a, url: 'http://a:8080', headers: [{op: remove, key: X-R}]}\n"
        "  - {name: b, url: 'http://b:8080', headers: [{op: replace, key: X-R, value: r}]}\n",
    };

    for (size_t i = 0; i < sizeof(upstreams) / sizeof(upstreams[0]); i++) {
        char yaml[2048];

        snprintf(yaml, sizeof(yaml),
                 "upstreams:\n%s"
                 "upstream_groups:\n  - {name: g, upstreams: [{name: a}, {name: b}], "
                 "http_client: {retry: {enabled: true}}}\n" FORWARD,
                 upstreams[i]);
        struct config *cfg = ctu_load_ok(yaml);
        struct group_topology t = render_group_topology(cfg, &cfg->groups[0]);

        ck_assert(t.retries);
        ck_assert_msg(t.pinned == (i == 0), "case %zu: pinned %d", i, t.pinned);
        config_free(cfg);
    }
}
END_TEST

START_TEST(group_with_a_queue_keeps_two_layers)
{
    struct config *cfg =
        ctu_load_ok(UPSTREAMS "upstream_groups:\n"
                              "  - {name: g, upstreams: [{name: a}, {name: b, max_in_flight: 4}]}\n"
                              "  - {name: h, upstreams: [{name: a}, {name: b}]}\n" FORWARD);
    struct group_topology g = render_group_topology(cfg, &cfg->groups[0]);
    struct group_topology h = render_group_topology(cfg, &cfg->groups[1]);

    ck_assert(g.queued && !g.pinned && !g.retries);
    ck_assert(!h.queued && h.pinned);
    ck_assert(!render_topology(cfg).retries);
    config_free(cfg);
}
END_TEST

static Suite *render_topology_suite(void)
{
    Suite *s = suite_create("render_topology");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, group_without_retries_is_pinned);
    tcase_add_test(tc, group_with_retries_is_pinned_first);
    tcase_add_test(tc, retry_group_members_must_be_interchangeable);
    tcase_add_test(tc, configuration_takes_the_longest_hold);
    tcase_add_test(tc, group_with_a_queue_keeps_two_layers);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(render_topology_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The `engine` block of a least_load group: defaults, every key's range, the path that goes
 * on the scrape's request line, and what ties the block to the strategy and the members.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/conf_testutil.h"

#define HEAD                                                                                       \
    "http_server:\n"                                                                               \
    "  forwards:\n"                                                                                \
    "    - {name: f, port: 3000, upstream_group: g}\n"                                             \
    "upstreams:\n"                                                                                 \
    "  - {name: a, url: \"http://10.0.0.1:8000/v1\"}\n"                                            \
    "  - {name: b, url: \"https://10.0.0.2:8000/v1\"}\n"                                           \
    "upstream_groups:\n"                                                                           \
    "  - name: g\n"                                                                                \
    "    upstreams: [{name: a}]\n"

START_TEST(defaults)
{
    struct config *cfg = ctu_load_ok(HEAD "    balance: {strategy: least_load}\n"
                                          "    engine: {type: sglang}\n");
    const struct conf_engine *e = &cfg->groups[0].engine;

    ck_assert_int_eq(cfg->groups[0].strategy, BAL_LEAST_LOAD);
    ck_assert(e->enabled);
    ck_assert_int_eq(e->type, ENGINE_SGLANG);
    ck_assert_str_eq(e->metrics_path.val, "/metrics");
    ck_assert_uint_eq(e->interval_ms, 200);
    ck_assert_uint_eq(e->timeout_ms, 1000);
    ck_assert_uint_eq(e->saturated_waiting, 5);
    ck_assert_double_eq_tol(e->saturated_kv_cache, 0.8, 1e-12);
    config_free(cfg);
}
END_TEST

START_TEST(every_key)
{
    struct config *cfg = ctu_load_ok(
        HEAD "    balance: {strategy: least_load}\n"
             "    engine: {type: vllm, metrics_path: /engine/metrics?x=1, interval_ms: 50,\n"
             "             timeout_ms: 10000, saturated: {waiting: 1, kv_cache: 0.5}}\n");
    const struct conf_engine *e = &cfg->groups[0].engine;

    ck_assert_int_eq(e->type, ENGINE_VLLM);
    ck_assert_str_eq(e->metrics_path.val, "/engine/metrics?x=1");
    ck_assert_uint_eq(e->interval_ms, 50);
    ck_assert_uint_eq(e->timeout_ms, 10000);
    ck_assert_uint_eq(e->saturated_waiting, 1);
    ck_assert_double_eq_tol(e->saturated_kv_cache, 0.5, 1e-12);
    config_free(cfg);
}
END_TEST

START_TEST(bad_values_name_their_place)
{
    ctu_assert_errors(HEAD "    balance: {strategy: least_load}\n"
                           "    engine: {type: tgi}\n",
                      "t.yaml:11:20: upstream_groups[0].engine.type: unknown type \"tgi\"; "
                      "allowed: vllm, sglang\n");
    ctu_assert_errors(
        HEAD "    balance: {strategy: least_load}\n"
             "    engine: {metrics_path: /m}\n",
        "t.yaml:11:13: upstream_groups[0].engine.type: missing; this key is required\n");
    char *e = ctu_errors(HEAD "    balance: {strategy: least_load}\n"
                              "    engine: {type: vllm, interval_ms: 10, timeout_ms: 0,\n"
                              "             saturated: {waiting: 0, kv_cache: 1.5}}\n");
    ck_assert_ptr_nonnull(strstr(e, "engine.interval_ms: 10 is out of range; allowed: 50-60000"));
    ck_assert_ptr_nonnull(strstr(e, "engine.timeout_ms: 0 is out of range"));
    ck_assert_ptr_nonnull(strstr(e, "engine.saturated.waiting: 0 is out of range"));
    ck_assert_ptr_nonnull(strstr(e, "engine.saturated.kv_cache: 1.5 is out of range"));
    free(e);
}
END_TEST

START_TEST(the_path_goes_on_a_request_line)
{
    static const char *const bad[] = {"metrics",    "\"/a b\"", "\"/a\\r\\nHost: x\"",
                                      "\"/a\\\"\"", "\"/a#b\"", "\"/\\u00e9\""};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char yaml[1024];
        char *e;

        snprintf(yaml, sizeof(yaml),
                 HEAD "    balance: {strategy: least_load}\n"
                      "    engine: {type: vllm, metrics_path: %s}\n",
                 bad[i]);
        e = ctu_errors(yaml);
        ck_assert_msg(strstr(e, "engine.metrics_path:") != NULL, "%s taken: %s", bad[i], e);
        free(e);
    }
}
END_TEST

START_TEST(engine_needs_least_load_and_least_load_wants_an_engine)
{
    char *w;

    ctu_assert_errors(HEAD "    engine: {type: vllm}\n",
                      "t.yaml:10:13: upstream_groups[0].engine: only balance.strategy least_load "
                      "reads an engine's load; set it, or remove engine\n");
    w = ctu_warnings(HEAD "    balance: {strategy: least_load}\n");
    ck_assert_ptr_nonnull(strstr(w, "least_load without an engine block compares requests in "
                                    "flight only"));
    free(w);
}
END_TEST

START_TEST(https_members_are_judged_by_requests_in_flight)
{
    char *w = ctu_warnings("http_server:\n"
                           "  forwards:\n"
                           "    - {name: f, port: 3000, upstream_group: g}\n"
                           "upstreams:\n"
                           "  - {name: a, url: \"http://10.0.0.1:8000/v1\"}\n"
                           "  - {name: b, url: \"https://10.0.0.2:8000/v1\"}\n"
                           "upstream_groups:\n"
                           "  - name: g\n"
                           "    upstreams: [{name: a}, {name: b}]\n"
                           "    balance: {strategy: least_load}\n"
                           "    engine: {type: vllm}\n");

    ck_assert_ptr_nonnull(strstr(w, "upstream_groups[0].upstreams[1]: warning: b is https"));
    ck_assert_ptr_null(strstr(w, "a is https"));
    free(w);
}
END_TEST

static Suite *config_engine_suite(void)
{
    Suite *s = suite_create("config_engine");
    TCase *tc = tcase_create("config_engine");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, every_key);
    tcase_add_test(tc, bad_values_name_their_place);
    tcase_add_test(tc, the_path_goes_on_a_request_line);
    tcase_add_test(tc, engine_needs_least_load_and_least_load_wants_an_engine);
    tcase_add_test(tc, https_members_are_judged_by_requests_in_flight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_engine_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * What loads but is probably a mistake: a configuration's warnings (cfg->warnings), shown
 * by every command that loads the file and never failing the load; and the one-line
 * summary those commands print.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/conf_testutil.h"

#define FORWARD_WITH(ratelimit)                                                                    \
    "http_server:\n"                                                                               \
    "  forwards:\n"                                                                                \
    "    - name: f\n"                                                                              \
    "      port: 3000\n"                                                                           \
    "      upstream_group: g\n"                                                                    \
    "      ratelimit: " ratelimit "\n"                                                             \
    "upstreams:\n"                                                                                 \
    "  - {name: a, url: 'http://127.0.0.1:8001'}\n"                                                \
    "upstream_groups:\n"                                                                           \
    "  - {name: g, upstreams: [{name: a}]}\n"

START_TEST(rate_without_enabled_warns_at_the_block)
{
    char *w = ctu_warnings(FORWARD_WITH("{per_second: 10, burst: 20}"));

    ck_assert_str_eq(w, CTU_FILE ":6:18: http_server.forwards[0].ratelimit: warning: per_second "
                                 "and burst are set but enabled is not: this forward is not rate "
                                 "limited; add enabled: true (or enabled: false to say so)\n");
    free(w);
    w = ctu_warnings(FORWARD_WITH("{burst: 500}"));
    ck_assert_ptr_nonnull(strstr(w, "warning: burst is set but enabled is not"));
    free(w);
    w = ctu_warnings(FORWARD_WITH("{per_second: 10}"));
    ck_assert_ptr_nonnull(strstr(w, "warning: per_second is set but enabled is not"));
    free(w);
}
END_TEST

START_TEST(enabled_written_either_way_is_quiet)
{
    static const char *const quiet[] = {
        FORWARD_WITH("{enabled: true, per_second: 10, burst: 20}"),
        FORWARD_WITH("{enabled: false, per_second: 10, burst: 20}"),
        FORWARD_WITH("{enabled: true}"),
        FORWARD_WITH("{}"),
        FORWARD_WITH("{ipv6_prefix: 56}"),
    };

    for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
        char *w = ctu_warnings(quiet[i]);

        ck_assert_msg(w[0] == '\0', "case %zu warned: %s", i, w);
        free(w);
    }
}
END_TEST

START_TEST(a_bad_enabled_is_an_error_not_a_warning)
{
    char *text = NULL;
    struct config *cfg = ctu_load(FORWARD_WITH("{enabled: maybe, per_second: 10}"), NULL, &text);

    ck_assert_ptr_null(cfg);
    ck_assert_ptr_nonnull(strstr(text, "ratelimit.enabled"));
    ck_assert_ptr_null(strstr(text, "warning"));
    free(text);
}
END_TEST

START_TEST(agent_listener_off_loopback_warns)
{
    char *w = ctu_warnings("agent:\n  spop: {address: 0.0.0.0, port: 9200}\n"
                           "  logs: {address: '::1', port: 9201}\n");

    ck_assert_str_eq(w, CTU_FILE ":2:34: agent.spop: warning: 0.0.0.0 is not a loopback address; "
                                 "whoever reaches this port can forge the agent's input: prefer "
                                 "the unix socket (leave address and port out), or firewall it "
                                 "to HAProxy's host\n");
    free(w);
    w = ctu_warnings("haproxy: {run_dir: /srv/llm}\n");
    ck_assert_str_eq(w, "");
    free(w);
}
END_TEST

START_TEST(summary_counts_in_words)
{
    char buf[CONF_SUMMARY_MAX];
    struct config *cfg = ctu_load_ok(FORWARD_WITH("{}"));

    ck_assert_str_eq(config_summary(cfg, buf), "1 forward, 1 group, 1 upstream");
    config_free(cfg);
    cfg = ctu_load_ok("upstreams:\n"
                      "  - {name: a, url: 'http://127.0.0.1:8001'}\n"
                      "  - {name: b, url: 'http://127.0.0.1:8002'}\n");
    ck_assert_str_eq(config_summary(cfg, buf), "0 forwards, 0 groups, 2 upstreams");
    config_free(cfg);
}
END_TEST

static Suite *warnings_suite(void)
{
    Suite *s = suite_create("config_warnings");
    TCase *tc = tcase_create("warnings");

    tcase_add_test(tc, rate_without_enabled_warns_at_the_block);
    tcase_add_test(tc, enabled_written_either_way_is_quiet);
    tcase_add_test(tc, a_bad_enabled_is_an_error_not_a_warning);
    tcase_add_test(tc, agent_listener_off_loopback_warns);
    tcase_add_test(tc, summary_counts_in_words);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(warnings_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The configuration keys added for rendering: upstreams[].tls and the top-level
 * `haproxy` block (run_dir, hard_stop_after, access_log, nbthread, bind_threads,
 * socket_group, version).
 * Defaults, accepted values and the exact messages of refused ones.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/conf_testutil.h"

#define G "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"

START_TEST(defaults)
{
    struct config *cfg = ctu_load_ok("upstreams: [{name: u, url: 'https://u'}]\n" G);

    ck_assert_ptr_null(cfg->upstreams[0].tls_ca_file.val);
    ck_assert(cfg->upstreams[0].tls_verify);
    ck_assert_str_eq(cfg->haproxy.run_dir.val, "/run/llmproxy");
    ck_assert_uint_eq(cfg->haproxy.hard_stop_after_s, 3600);
    ck_assert(!cfg->haproxy.access_log);
    ck_assert_uint_eq(cfg->haproxy.nbthread, 0);
    ck_assert_ptr_null(cfg->haproxy.socket_group.val);
    ck_assert_str_eq(cfg->haproxy.version.val, "auto");
    ck_assert(cfg->haproxy.bind_threads);
    ck_assert_uint_eq(cfg->haproxy.target.major, 0);
    config_free(cfg);
}
END_TEST

START_TEST(given_values)
{
    struct config *cfg =
        ctu_load_ok("upstreams: [{name: u, url: 'https://u', tls: {ca_file: /etc/ca.pem, verify: "
                    "false}}]\n" G
                    "haproxy: {run_dir: /srv/llm, hard_stop_after: 60, access_log: true, nbthread: "
                    "4, socket_group: haproxy, version: \"3.0\", bind_threads: false}\n");

    ck_assert_str_eq(cfg->upstreams[0].tls_ca_file.val, "/etc/ca.pem");
    ck_assert(!cfg->upstreams[0].tls_verify);
    ck_assert_str_eq(cfg->haproxy.run_dir.val, "/srv/llm");
    ck_assert_uint_eq(cfg->haproxy.hard_stop_after_s, 60);
    ck_assert(cfg->haproxy.access_log);
    ck_assert_uint_eq(cfg->haproxy.nbthread, 4);
    ck_assert_str_eq(cfg->haproxy.socket_group.val, "haproxy");
    ck_assert_uint_eq(cfg->haproxy.target.major, 3);
    ck_assert_uint_eq(cfg->haproxy.target.minor, 0);
    ck_assert(!cfg->haproxy.bind_threads);
    config_free(cfg);
}
END_TEST

/* A release as `haproxy -v` prints it names its line. */
START_TEST(version_with_patch_level)
{
    struct config *cfg = ctu_load_ok("upstreams: [{name: u, url: 'https://u'}]\n" G
                                     "haproxy: {version: \"3.2.11\"}\n");

    ck_assert_uint_eq(cfg->haproxy.target.major, 3);
    ck_assert_uint_eq(cfg->haproxy.target.minor, 2);
    config_free(cfg);
}
END_TEST

struct bad_case {
    const char *yaml;
    const char *expected;
};

static const struct bad_case bad_cases[] = {
    {"upstreams: [{name: u, url: 'https://u', tls: {ca_file: ca.pem}}]\n" G,
     "t.yaml:1:56: upstreams[0].tls.ca_file: \"ca.pem\" is not an absolute path; give one "
     "starting with '/'\n"},
    {"upstreams: [{name: u, url: 'https://u', tls: {verify: maybe}}]\n" G,
     "t.yaml:1:55: upstreams[0].tls.verify: found \"maybe\"; expected true or false\n"},
    {"upstreams: [{name: u, url: 'https://u', tls: {cafile: /x}}]\n" G,
     "t.yaml:1:47: upstreams[0].tls.cafile: unknown key \"cafile\"; did you mean \"ca_file\"? "
     "(allowed: ca_file, verify)\n"},
    {"haproxy: {run_dir: run}\n",
     "t.yaml:1:20: haproxy.run_dir: \"run\" is not an absolute path; give one starting with "
     "'/'\n"},
    {"haproxy: {run_dir: \"/run/a\\tb\"}\n",
     "t.yaml:1:20: haproxy.run_dir: contains a control character; not allowed in a path\n"},
    {"haproxy: {hard_stop_after: 0}\n",
     "t.yaml:1:28: haproxy.hard_stop_after: 0 is out of range; allowed: 1-604800\n"},
    {"haproxy: {access_log: yes please}\n",
     "t.yaml:1:23: haproxy.access_log: found \"yes please\"; expected true or false\n"},
    {"haproxy: {access_log: 1}\n",
     "t.yaml:1:23: haproxy.access_log: found \"1\"; expected true or false\n"},
    {"haproxy:\n  access_log: \"true\"\n",
     "t.yaml:2:15: haproxy.access_log: found the string \"true\"; expected true or false "
     "(write it without quotes)\n"},
    {"haproxy: {nbthread: 4097}\n",
     "t.yaml:1:21: haproxy.nbthread: 4097 is out of range; allowed: 0-4096\n"},
    {"haproxy: {nbthread: -1}\n",
     "t.yaml:1:21: haproxy.nbthread: -1 is out of range; allowed: 0-4096\n"},
    {"haproxy: {nbthread: many}\n",
     "t.yaml:1:21: haproxy.nbthread: found \"many\"; expected a number 0-4096\n"},
    {"haproxy: {nbthreads: 4}\n",
     "t.yaml:1:11: haproxy.nbthreads: unknown key \"nbthreads\"; did you mean \"nbthread\"? "
     "(allowed: run_dir, hard_stop_after, access_log, nbthread, bind_threads, socket_group, "
     "version)\n"},
    {"haproxy: {run_dir: "
     "/run/llmproxy/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
     "t.yaml:1:20: haproxy.run_dir: 79 bytes long; at most 70, so that the unix sockets under it "
     "fit the 107-byte socket address limit\n"},
    {"haproxy: {version: \"2.4\"}\n",
     "t.yaml:1:20: haproxy.version: \"2.4\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"3\"}\n",
     "t.yaml:1:20: haproxy.version: \"3\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"v3.2\"}\n",
     "t.yaml:1:20: haproxy.version: \"v3.2\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"3.2 \"}\n",
     "t.yaml:1:20: haproxy.version: \"3.2 \" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"1000.0\"}\n",
     "t.yaml:1:20: haproxy.version: \"1000.0\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"0.9\"}\n",
     "t.yaml:1:20: haproxy.version: \"0.9\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {version: \"\"}\n",
     "t.yaml:1:20: haproxy.version: \"\" "
     "is not a release LLMProxy renders for; allowed: \"auto\" (ask 'haproxy -v') or a release "
     "from 2.6 on, such as \"2.6\", \"3.0\" or \"3.2.9\"\n"},
    {"haproxy: {socket_group: \"-wheel\"}\n",
     "t.yaml:1:25: haproxy.socket_group: invalid group name \"-wheel\"; allowed: 1-32 letters, "
     "digits, '.', '_' or '-', not starting with '-'\n"},
    {"haproxy: {socket_group: \"llm proxy\"}\n",
     "t.yaml:1:25: haproxy.socket_group: invalid group name \"llm proxy\"; allowed: 1-32 "
     "letters, digits, '.', '_' or '-', not starting with '-'\n"},
};

START_TEST(refused)
{
    const struct bad_case *c = &bad_cases[_i];
    char *got = ctu_errors(c->yaml);

    ck_assert_msg(strcmp(got, c->expected) == 0, "\n got: %s\nwant: %s", got, c->expected);
    free(got);
}
END_TEST

static Suite *keys_suite(void)
{
    Suite *s = suite_create("config_render_keys");
    TCase *tc = tcase_create("keys");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, given_values);
    tcase_add_test(tc, version_with_patch_level);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(keys_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

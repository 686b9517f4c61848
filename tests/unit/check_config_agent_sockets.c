/*
 * Where HAProxy reaches the agent (agent.spop, agent.logs): unix sockets in
 * haproxy.run_dir by default, `socket` for another path, TCP when address or port is given
 * (configurations written before the sockets). The socket names' length rules, and the
 * loopback test behind validate's warning.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_sockets.h"
#include "conf_url.h"
#include "config.h"
#include "util/conf_testutil.h"

START_TEST(defaults_are_unix_sockets_in_run_dir)
{
    struct config *cfg = ctu_load_ok("haproxy: {run_dir: /srv/llm}\n");

    ck_assert_ptr_null(cfg->agent.spop.address);
    ck_assert_uint_eq(cfg->agent.spop.port, 0);
    ck_assert_str_eq(cfg->agent.spop.socket.val, "/srv/llm/agent-spop.sock");
    ck_assert_ptr_null(cfg->agent.logs.address);
    ck_assert_str_eq(cfg->agent.logs.socket.val, "/srv/llm/agent-logs.sock");
    config_free(cfg);

    /* An empty block is no block. */
    cfg = ctu_load_ok("agent: {spop: {}, logs: {}}\n");
    ck_assert_str_eq(cfg->agent.spop.socket.val, "/run/llmproxy/agent-spop.sock");
    ck_assert_str_eq(cfg->agent.logs.socket.val, "/run/llmproxy/agent-logs.sock");
    config_free(cfg);
}
END_TEST

START_TEST(address_or_port_keeps_tcp)
{
    struct config *cfg =
        ctu_load_ok("agent:\n  spop: {address: 127.0.0.1, port: 9200}\n  logs: {port: 9201}\n");

    ck_assert_str_eq(cfg->agent.spop.address, "127.0.0.1");
    ck_assert_uint_eq(cfg->agent.spop.port, 9200);
    ck_assert_ptr_null(cfg->agent.spop.socket.val);
    /* The former defaults fill what is left out. */
    ck_assert_str_eq(cfg->agent.logs.address, "127.0.0.1");
    ck_assert_uint_eq(cfg->agent.logs.port, 9201);
    ck_assert_ptr_null(cfg->agent.logs.socket.val);
    config_free(cfg);

    cfg = ctu_load_ok("agent: {spop: {address: '::1'}, logs: {address: 127.0.0.2}}\n");
    ck_assert_uint_eq(cfg->agent.spop.port, 9100);
    ck_assert_uint_eq(cfg->agent.logs.port, 9101);
    config_free(cfg);
}
END_TEST

START_TEST(explicit_socket)
{
    struct config *cfg =
        ctu_load_ok("agent: {spop: {socket: /run/a/spop.sock}, logs: {port: 9101}}\n");

    ck_assert_str_eq(cfg->agent.spop.socket.val, "/run/a/spop.sock");
    ck_assert_ptr_null(cfg->agent.spop.address);
    ck_assert_uint_eq(cfg->agent.spop.socket.pos.line, 1);
    ck_assert_str_eq(cfg->agent.logs.address, "127.0.0.1");
    config_free(cfg);
}
END_TEST

struct bad_case {
    const char *yaml;
    const char *expected;
};

static const struct bad_case bad_cases[] = {
    {"agent: {spop: {socket: /run/a.sock, port: 9100}}\n",
     "t.yaml:1:24: agent.spop.socket: given with address or port; give either socket (a unix "
     "socket) or address and port (TCP)\n"},
    {"agent: {logs: {address: 127.0.0.1, socket: /run/a.sock}}\n",
     "t.yaml:1:44: agent.logs.socket: given with address or port; give either socket (a unix "
     "socket) or address and port (TCP)\n"},
    {"agent: {spop: {socket: run/a.sock}}\n",
     "t.yaml:1:24: agent.spop.socket: \"run/a.sock\" is not an absolute path; give one starting "
     "with '/'\n"},
    {"agent: {spop: {socket: "
     "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaa.sock}}\n",
     "t.yaml:1:24: agent.spop.socket: 116 bytes long; a unix socket path has at most 107 bytes\n"},
    {"agent: {logs: {socket: /run/llmproxy/agent-spop.sock}}\n",
     "t.yaml:1:24: agent.logs.socket: \"/run/llmproxy/agent-spop.sock\" is both agent.spop's and "
     "agent.logs' socket; each needs its own\n"},
    {"agent: {spop: {socket: /run/x.sock}, logs: {socket: /run/x.sock}}\n",
     "t.yaml:1:53: agent.logs.socket: \"/run/x.sock\" is both agent.spop's and agent.logs' "
     "socket; each needs its own\n"},
    {"agent: {spop: {sock: /run/x.sock}}\n",
     "t.yaml:1:16: agent.spop.sock: unknown key \"sock\"; did you mean \"socket\"? (allowed: port, "
     "address, socket)\n"},
    {"haproxy: {run_dir: "
     "/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}\n",
     "t.yaml:1:20: haproxy.run_dir: 71 bytes long; at most 70, so that the unix sockets under "
     "it fit the 107-byte socket address limit\n"},
};

START_TEST(refused)
{
    const struct bad_case *c = &bad_cases[_i];
    char *got = ctu_errors(c->yaml);

    ck_assert_msg(strcmp(got, c->expected) == 0, "\n got: %s\nwant: %s", got, c->expected);
    free(got);
}
END_TEST

/* The longest run_dir still leaves room for HAProxy's "<path>.<pid>.tmp". */
START_TEST(listener_sockets_fit)
{
    char dir[CONF_RUN_DIR_MAX + 2], path[CONF_SOCKET_PATH_MAX], again[CONF_SOCKET_PATH_MAX];
    char name[49];

    memset(name, 'n', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    memset(dir, 'd', sizeof(dir) - 1);
    dir[0] = '/';
    dir[CONF_RUN_DIR_MAX] = '\0';
    ck_assert_int_eq(conf_listener_socket(path, dir, name, name), 0);
    ck_assert_uint_eq(strlen(path), CONF_RUN_DIR_MAX + CONF_LISTENER_NAME_LEN);
    ck_assert_uint_le(strlen(path) + strlen(".4194304.tmp"), CONF_SOCKET_PATH_MAX - 1);
    /* The same pair always has the same name, and two pairs have two. */
    ck_assert_int_eq(conf_listener_socket(again, dir, name, name), 0);
    ck_assert_str_eq(path, again);
    ck_assert_int_eq(conf_listener_socket(again, dir, "ab", "c"), 0);
    ck_assert_int_eq(conf_listener_socket(path, dir, "a", "bc"), 0);
    ck_assert_str_ne(path, again);
    dir[CONF_RUN_DIR_MAX] = 'd';
    dir[CONF_RUN_DIR_MAX + 1] = '\0';
    ck_assert_int_eq(conf_listener_socket(path, dir, "g", "u"), -1);
}
END_TEST

START_TEST(loopback)
{
    static const char *const yes[] = {"127.0.0.1", "127.9.8.7", "::1"};
    static const char *const no[] = {"0.0.0.0", "::", "10.0.0.1", "::ffff:10.0.0.1", "128.0.0.1"};
    struct conf_ip ip;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        ck_assert(conf_ip_parse(yes[i], &ip));
        ck_assert_msg(conf_ip_is_loopback(&ip), "%s", yes[i]);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        ck_assert(conf_ip_parse(no[i], &ip));
        ck_assert_msg(!conf_ip_is_loopback(&ip), "%s", no[i]);
    }
}
END_TEST

static Suite *agent_sockets_suite(void)
{
    Suite *s = suite_create("config_agent_sockets");
    TCase *tc = tcase_create("agent_sockets");

    tcase_add_test(tc, defaults_are_unix_sockets_in_run_dir);
    tcase_add_test(tc, address_or_port_keeps_tcp);
    tcase_add_test(tc, explicit_socket);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, listener_sockets_fit);
    tcase_add_test(tc, loopback);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(agent_sockets_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

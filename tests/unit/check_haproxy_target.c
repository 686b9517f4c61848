/*
 * Rendering per HAProxy release: reading a release from `haproxy -v` and from the
 * configuration, what each release line wants, and the rendered lines that differ.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_haproxy_version.h"
#include "config.h"
#include "fs_tree.h"
#include "haproxy_target.h"
#include "render.h"
#include "util/conf_testutil.h"

#define V(a, b) ((struct conf_haproxy_version){a, b})

#define UNIX_FEED                                                                                  \
    "upstreams: [{name: u, url: 'http://127.0.0.1:1'}]\n"                                          \
    "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"                                       \
    "http_server: {forwards: [{name: f, port: 8080, upstream_group: g}]}\n"
#define TCP_FEED UNIX_FEED "agent: {logs: {address: 127.0.0.1, port: 9201}}\n"

START_TEST(parse_reads_the_release_line)
{
    struct conf_haproxy_version v = {0, 0};
    const char *end = conf_haproxy_version_parse("3.0.11-9e587df 2025/06/02", &v);

    ck_assert_ptr_nonnull(end);
    ck_assert_str_eq(end, ".11-9e587df 2025/06/02");
    ck_assert_uint_eq(v.major, 3);
    ck_assert_uint_eq(v.minor, 0);
    end = conf_haproxy_version_parse("2.6", &v);
    ck_assert(end && !*end && v.major == 2 && v.minor == 6);
}
END_TEST

START_TEST(parse_refuses_what_is_not_a_version)
{
    static const char *const bad[] = {"",       "3",      "3.",  ".6",   "a.b", "v3.2",
                                      "1234.1", "3.1234", "0.9", " 3.2", "-3.2"};
    struct conf_haproxy_version v;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!conf_haproxy_version_parse(bad[i], &v), "'%s' parsed", bad[i]);
}
END_TEST

START_TEST(releases_are_ordered)
{
    ck_assert_int_lt(conf_haproxy_version_cmp(V(2, 6), V(3, 0)), 0);
    ck_assert_int_lt(conf_haproxy_version_cmp(V(2, 10), V(3, 0)), 0);
    ck_assert_int_lt(conf_haproxy_version_cmp(V(3, 2), V(3, 10)), 0);
    ck_assert_int_eq(conf_haproxy_version_cmp(V(3, 2), V(3, 2)), 0);
    ck_assert_int_gt(conf_haproxy_version_cmp(V(3, 4), V(3, 2)), 0);
}
END_TEST

START_TEST(what_each_release_wants)
{
    struct haproxy_target t = haproxy_target_of(V(0, 0));

    ck_assert(t.version.major == 2 && t.version.minor == 6);
    ck_assert(!t.spop_mode && !t.ring_tcp_only);
    t = haproxy_target_of(V(3, 0));
    ck_assert(!t.spop_mode && !t.ring_tcp_only);
    t = haproxy_target_of(V(3, 1));
    ck_assert(t.spop_mode && !t.ring_tcp_only);
    t = haproxy_target_of(V(3, 2));
    ck_assert(t.spop_mode && !t.ring_tcp_only);
    t = haproxy_target_of(V(3, 4));
    ck_assert(t.spop_mode && t.ring_tcp_only);
    for (unsigned minor = 0; minor <= 4; minor++)
        ck_assert(haproxy_target_of(V(3, minor)).bind_threads_to_cpus);
    ck_assert(haproxy_target_of(V(2, 6)).bind_threads_to_cpus);
    /* retry-on 429: 3.0.0 to 3.0.3 refuse it, and a target names no patch release. */
    ck_assert(!haproxy_target_of(V(2, 6)).retry_on_429 && !haproxy_target_of(V(3, 0)).retry_on_429);
    ck_assert(haproxy_target_of(V(3, 1)).retry_on_429 && haproxy_target_of(V(3, 2)).retry_on_429);
    /* tune.memory.hot-size: from 3.0; 2.6 refuses the keyword. */
    ck_assert(!haproxy_target_of(V(2, 6)).memory_hot_size);
    ck_assert(haproxy_target_of(V(3, 0)).memory_hot_size &&
              haproxy_target_of(V(3, 2)).memory_hot_size);
    ck_assert(haproxy_target_tested(V(2, 6)) && haproxy_target_tested(V(3, 0)) &&
              haproxy_target_tested(V(3, 2)));
    ck_assert(!haproxy_target_tested(V(2, 8)) && !haproxy_target_tested(V(3, 4)));
}
END_TEST

/* An executable script in a fresh folder, standing in for the HAProxy binary. */
static char fake_dir[64];

static const char *fake_haproxy(const char *body)
{
    static char path[96];
    FILE *f;

    strcpy(fake_dir, "/tmp/llmproxy-fake-haproxy.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(fake_dir));
    snprintf(path, sizeof(path), "%s/haproxy", fake_dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    ck_assert_int_eq(chmod(path, 0700), 0);
    return path;
}

/* The target `haproxy_target_resolve` finds for `yaml` with $HAPROXY running `body`. */
static struct haproxy_target resolve_with(const char *yaml, const char *body)
{
    struct config *cfg = ctu_load_ok(yaml);
    struct haproxy_target t;

    setenv("HAPROXY", fake_haproxy(body), 1);
    t = haproxy_target_resolve(cfg, "check_haproxy_target");
    unsetenv("HAPROXY");
    ck_assert_int_eq(fs_remove_tree(fake_dir), 0);
    config_free(cfg);
    return t;
}

START_TEST(resolve_asks_the_binary)
{
    struct haproxy_target t = resolve_with(
        UNIX_FEED, "echo 'HAProxy version 3.2.0-e134140d2 2025/05/28 - https://haproxy.org/'\n"
                   "echo 'Status: long-term supported branch'");

    ck_assert(t.version.major == 3 && t.version.minor == 2 && t.spop_mode);
    /* 2.x spelled its name with a dash. */
    t = resolve_with(UNIX_FEED, "echo 'HA-Proxy version 2.6.12-1+deb12u1 2023/12/16'");
    ck_assert(t.version.major == 2 && t.version.minor == 6 && !t.spop_mode);
}
END_TEST

START_TEST(resolve_without_a_usable_binary_renders_for_the_oldest)
{
    struct haproxy_target t = resolve_with(UNIX_FEED, "echo 'nginx version: 1.22'");

    ck_assert(t.version.major == 2 && t.version.minor == 6);
    t = resolve_with(UNIX_FEED, "echo 'HAProxy version 3.2.0'; exit 3");
    ck_assert(t.version.major == 2 && t.version.minor == 6);
    /* A release older than the oldest supported renders as the oldest, with a warning. */
    t = resolve_with(UNIX_FEED, "echo 'HA-Proxy version 2.4.22 2023/02/14'");
    ck_assert(t.version.major == 2 && t.version.minor == 6);
    setenv("HAPROXY", "/nonexistent/haproxy", 1);
    {
        struct config *cfg = ctu_load_ok(UNIX_FEED);

        t = haproxy_target_resolve(cfg, "check_haproxy_target");
        config_free(cfg);
    }
    unsetenv("HAPROXY");
    ck_assert(t.version.major == 2 && t.version.minor == 6);
}
END_TEST

START_TEST(resolve_prefers_the_configuration)
{
    struct haproxy_target t =
        resolve_with(UNIX_FEED "haproxy: {version: \"3.0\"}\n", "echo 'HAProxy version 3.2.0'");

    ck_assert(t.version.major == 3 && t.version.minor == 0 && !t.spop_mode);
}
END_TEST

/* Render `yaml` for release `v` into a scratch folder; haproxy.cfg's text (malloc'd), or
 * NULL with the error in `err`. */
static char *render_for(const char *yaml, struct conf_haproxy_version v, char *err)
{
    char dir[] = "/tmp/llmproxy-target.XXXXXX", path[64];
    struct config *cfg = ctu_load_ok(yaml);
    struct haproxy_target t = haproxy_target_of(v);
    char *text = NULL;
    size_t cap = 0;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    if (render_to_dir(cfg, dir, &t, err, RENDER_ERR_SIZE) == 0) {
        snprintf(path, sizeof(path), "%s/%s", dir, RENDER_HAPROXY_CFG);
        f = fopen(path, "r");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_gt(getdelim(&text, &cap, '\0', f), 0);
        fclose(f);
    }
    ck_assert_int_eq(fs_remove_tree(dir), 0);
    config_free(cfg);
    return text;
}

START_TEST(rendered_lines_per_release)
{
    char err[RENDER_ERR_SIZE];
    char *old = render_for(UNIX_FEED, V(2, 6), err), *new = render_for(UNIX_FEED, V(3, 2), err);

    ck_assert_ptr_nonnull(old);
    ck_assert_ptr_nonnull(new);
    ck_assert(strncmp(old, "# Generated by llmproxy-ctl render for HAProxy 2.6;", 51) == 0);
    ck_assert(strncmp(new, "# Generated by llmproxy-ctl render for HAProxy 3.2;", 51) == 0);
    ck_assert_ptr_nonnull(strstr(old, "backend " RENDER_AGENT_BACKEND "\n    mode tcp\n"));
    ck_assert_ptr_nonnull(strstr(new, "backend " RENDER_AGENT_BACKEND "\n    mode spop\n"));
    free(old);
    free(new);
}
END_TEST

START_TEST(a_ring_to_a_unix_socket_only_up_to_3_2)
{
    char err[RENDER_ERR_SIZE];
    char *text = render_for(UNIX_FEED, V(3, 4), err);

    ck_assert_ptr_null(text);
    ck_assert_str_eq(err, "HAProxy 3.4 cannot send its log ring to a unix socket: give "
                          "agent.logs an address and a port on loopback");
    text = render_for(TCP_FEED, V(3, 4), err);
    ck_assert_ptr_nonnull(text);
    ck_assert_ptr_nonnull(strstr(text, "server logfeed \"127.0.0.1:9201\" log-proto octet-count"));
    free(text);
}
END_TEST

static Suite *target_suite(void)
{
    Suite *s = suite_create("haproxy_target");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, parse_reads_the_release_line);
    tcase_add_test(tc, parse_refuses_what_is_not_a_version);
    tcase_add_test(tc, releases_are_ordered);
    tcase_add_test(tc, what_each_release_wants);
    tcase_add_test(tc, resolve_asks_the_binary);
    tcase_add_test(tc, resolve_without_a_usable_binary_renders_for_the_oldest);
    tcase_add_test(tc, resolve_prefers_the_configuration);
    tcase_add_test(tc, rendered_lines_per_release);
    tcase_add_test(tc, a_ring_to_a_unix_socket_only_up_to_3_2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(target_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The per-forward keys that say what a client request may be: `methods` (a list of HTTP
 * methods, CONNECT and TRACE refused) and `max_body` (a size). Defaults, accepted values
 * and the exact messages of refused ones.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "util/conf_testutil.h"

#define REST                                                                                       \
    "upstreams: [{name: u, url: 'http://u/v1'}]\n"                                                 \
    "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
#define FWD(extra) "http_server: {forwards: [{name: f, upstream_group: g" extra "}]}\n" REST

#define BIT(m) (1u << (m))

START_TEST(defaults)
{
    struct config *cfg = ctu_load_ok(FWD(""));

    ck_assert_uint_eq(cfg->forwards[0].methods,
                      BIT(HTTP_METHOD_GET) | BIT(HTTP_METHOD_HEAD) | BIT(HTTP_METHOD_POST) |
                          BIT(HTTP_METHOD_DELETE) | BIT(HTTP_METHOD_OPTIONS));
    ck_assert_uint_eq(cfg->forwards[0].max_body, 32u * 1024 * 1024);
    config_free(cfg);
}
END_TEST

START_TEST(given_values)
{
    struct config *cfg = ctu_load_ok(FWD(", methods: [POST, PUT, PATCH], max_body: 512KiB"));

    ck_assert_uint_eq(cfg->forwards[0].methods,
                      BIT(HTTP_METHOD_POST) | BIT(HTTP_METHOD_PUT) | BIT(HTTP_METHOD_PATCH));
    ck_assert_uint_eq(cfg->forwards[0].max_body, 512u * 1024);
    config_free(cfg);
}
END_TEST

struct size_case {
    const char *text;
    unsigned value;
};

static const struct size_case sizes[] = {
    {"1", 1},
    {"1048576", 1048576},
    {"64KiB", 65536},
    {"32MiB", 33554432},
    {"2GiB", 2147483648u},
    {"4294967295", 4294967295u},
};

START_TEST(sizes_accepted)
{
    char yaml[512];
    struct config *cfg;

    snprintf(yaml, sizeof(yaml), FWD(", max_body: %s"), sizes[_i].text);
    cfg = ctu_load_ok(yaml);
    ck_assert_uint_eq(cfg->forwards[0].max_body, sizes[_i].value);
    config_free(cfg);
}
END_TEST

struct bad_case {
    const char *yaml;
    const char *expected;
};

#define LIST "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE"

static const struct bad_case bad_cases[] = {
    {FWD(", methods: [GET, CONNECT]"),
     "t.yaml:1:70: http_server.forwards[0].methods: CONNECT is never forwarded: it would open a "
     "tunnel to the upstream, past rate limits and metrics\n"},
    {FWD(", methods: [TRACE]"),
     "t.yaml:1:65: http_server.forwards[0].methods: TRACE is never forwarded: the upstream would "
     "echo the request back, with the credentials LLMProxy adds\n"},
    {FWD(", methods: [get, CONNECT]"),
     "t.yaml:1:65: http_server.forwards[0].methods: unknown \"get\"; did you mean \"GET\"? "
     "(allowed: " LIST ")\n"
     "t.yaml:1:70: http_server.forwards[0].methods: CONNECT is never forwarded: it would open a "
     "tunnel to the upstream, past rate limits and metrics\n"},
    {FWD(", methods: [POST, PROPFIND]"),
     "t.yaml:1:71: http_server.forwards[0].methods: unknown \"PROPFIND\"; allowed: " LIST "\n"},
    {FWD(", methods: [POST, POST]"),
     "t.yaml:1:71: http_server.forwards[0].methods: \"POST\" is listed twice\n"},
    {FWD(", methods: []"),
     "t.yaml:1:64: http_server.forwards[0].methods: the list is empty; at least one is "
     "required\n"},
    {FWD(", methods: GET"),
     "t.yaml:1:64: http_server.forwards[0].methods: found \"GET\"; expected a list of " LIST "\n"},
    {FWD(", methods: [[GET]]"),
     "t.yaml:1:65: http_server.forwards[0].methods: found a list; expected one of " LIST "\n"},
    {FWD(", max_body: 0"),
     "t.yaml:1:65: http_server.forwards[0].max_body: 0 is out of range; allowed: 1-4294967295 "
     "bytes\n"},
    {FWD(", max_body: 4GiB"),
     "t.yaml:1:65: http_server.forwards[0].max_body: 4GiB is out of range; allowed: "
     "1-4294967295 bytes\n"},
    {FWD(", max_body: 32MB"),
     "t.yaml:1:65: http_server.forwards[0].max_body: found \"32MB\"; expected a size in bytes "
     "1-4294967295, or with a unit (KiB, MiB, GiB)\n"},
    {FWD(", max_body: '1MiB'"),
     "t.yaml:1:65: http_server.forwards[0].max_body: found the string \"1MiB\"; expected a size "
     "in bytes 1-4294967295, or with a unit (KiB, MiB, GiB)\n"},
    {FWD(", max_body: -5"),
     "t.yaml:1:65: http_server.forwards[0].max_body: found \"-5\"; expected a size in bytes "
     "1-4294967295, or with a unit (KiB, MiB, GiB)\n"},
    {FWD(", max_body: 99999999999999999999MiB"),
     "t.yaml:1:65: http_server.forwards[0].max_body: found \"99999999999999999999MiB\"; "
     "expected a size in bytes 1-4294967295, or with a unit (KiB, MiB, GiB)\n"},
};

START_TEST(refused)
{
    ctu_assert_errors(bad_cases[_i].yaml, bad_cases[_i].expected);
}
END_TEST

static Suite *forward_requests_suite(void)
{
    Suite *s = suite_create("config_forward_requests");
    TCase *tc = tcase_create("keys");

    tcase_add_test(tc, defaults);
    tcase_add_test(tc, given_values);
    tcase_add_loop_test(tc, sizes_accepted, 0, (int)(sizeof(sizes) / sizeof(sizes[0])));
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(forward_requests_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The keys that say whose word on a client's address is believed: `trusted_proxies` (every
 * entry a network, canonical once loaded), `proxy_protocol` and `client_address_header`.
 * conf_cidr_parse's verdicts, the defaults, and the exact messages of refused values.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_cidr.h"
#include "config.h"
#include "util/conf_testutil.h"

#define REST                                                                                       \
    "upstreams: [{name: u, url: 'http://u/v1'}]\n"                                                 \
    "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
#define FWD(extra) "http_server: {forwards: [{name: f, upstream_group: g" extra "}]}\n" REST

/* A configuration and the exact diagnostics it draws. */
struct yaml_case {
    const char *yaml;
    const char *expected;
};

struct cidr_case {
    const char *text;
    const char *canonical; /* "" when nothing is written */
    const char *why;       /* NULL: accepted; else the start of the message */
};

static const struct cidr_case cidr_cases[] = {
    {"10.0.0.0/8", "10.0.0.0/8", NULL},
    {"192.0.2.7", "192.0.2.7/32", NULL},
    {"192.0.2.7/32", "192.0.2.7/32", NULL},
    {"0.0.0.0/0", "0.0.0.0/0", NULL},
    {"2001:DB8:0::/32", "2001:db8::/32", NULL},
    {"::1", "::1/128", NULL},
    {"::ffff:10.0.0.0/104", "::ffff:10.0.0.0/104", NULL},
    {"10.0.0.0/008", "10.0.0.0/8", NULL},
    {"10.128.0.0/9", "10.128.0.0/9", NULL},
    {"10.192.0.0/9", "10.128.0.0/9", "has bits set"},
    {"2001:db8:8000::/33", "2001:db8:8000::/33", NULL},
    {"2001:db8:c000::/33", "2001:db8:8000::/33", "has bits set"},
    {"10.1.2.3/8", "10.0.0.0/8", "has bits set beyond its prefix length"},
    {"2001:db8::1/64", "2001:db8::/64", "has bits set"},
    {"", "", "empty"},
    {"/8", "", "not an IPv4 or IPv6 address before"},
    {"10.0.0.0/", "", "bad prefix length; an IPv4"},
    {"10.0.0.0/33", "", "bad prefix length; an IPv4"},
    {"10.0.0.0/+8", "", "bad prefix length"},
    {"10.0.0.0/-1", "", "bad prefix length"},
    {"10.0.0.0/8 ", "", "bad prefix length"},
    {"10.0.0.0/0008", "", "bad prefix length"},
    {"::/129", "", "bad prefix length; an IPv6"},
    {"10.0.0.0/8/8", "", "bad prefix length"},
    {"garbage", "", "not an IPv4 or IPv6 address"},
    {"localhost", "", "not an IPv4 or IPv6 address"},
    {" 10.0.0.1", "", "not an IPv4 or IPv6 address"},
    {"10.0.0", "", "not an IPv4 or IPv6 address"},
    {"10.0.0.256", "", "not an IPv4 or IPv6 address"},
    {"fe80::1%eth0", "", "not an IPv4 or IPv6 address"},
    {"[::1]", "", "not an IPv4 or IPv6 address"},
    {"0x0a.0.0.1", "", "not an IPv4 or IPv6 address"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/8", "",
     "not an IPv4 or IPv6 address before"},
};

START_TEST(cidr_verdicts)
{
    const struct cidr_case *c = &cidr_cases[_i];
    char out[CONF_CIDR_SIZE];
    unsigned prefix = 999;
    const char *why = conf_cidr_parse(c->text, out, &prefix);

    if (c->why) {
        ck_assert_msg(why != NULL, "\"%s\" accepted", c->text);
        ck_assert_msg(strncmp(why, c->why, strlen(c->why)) == 0, "\"%s\": %s", c->text, why);
    } else {
        ck_assert_msg(why == NULL, "\"%s\": %s", c->text, why);
    }
    ck_assert_str_eq(out, c->canonical);
}
END_TEST

START_TEST(defaults)
{
    struct config *cfg = ctu_load_ok(FWD(""));

    ck_assert_uint_eq(cfg->forwards[0].n_trusted_proxies, 0);
    ck_assert(!cfg->forwards[0].proxy_protocol);
    ck_assert_int_eq(cfg->forwards[0].client_address_header, CLIENT_ADDRESS_X_FORWARDED_FOR);
    config_free(cfg);
}
END_TEST

START_TEST(given_values_canonical)
{
    static const char *const env[] = {"LB=10.20.0.0/16", NULL};
    struct config *cfg = ctu_load_env_ok(
        FWD(", trusted_proxies: ['${LB}', 192.0.2.7, '2001:DB8::/32'], proxy_protocol: true, "
            "client_address_header: forwarded"),
        env);
    const struct conf_forward *f = &cfg->forwards[0];

    ck_assert_uint_eq(f->n_trusted_proxies, 3);
    ck_assert_str_eq(f->trusted_proxies[0].val, "10.20.0.0/16");
    ck_assert_str_eq(f->trusted_proxies[1].val, "192.0.2.7/32");
    ck_assert_str_eq(f->trusted_proxies[2].val, "2001:db8::/32");
    ck_assert(f->proxy_protocol);
    ck_assert_int_eq(f->client_address_header, CLIENT_ADDRESS_FORWARDED);
    config_free(cfg);
}
END_TEST

static const struct yaml_case bad_cases[] = {
    {FWD(", trusted_proxies: [10.1.2.3/8]"),
     "t.yaml:1:73: http_server.forwards[0].trusted_proxies[0]: \"10.1.2.3/8\": has bits set "
     "beyond its prefix length; write the network, 10.0.0.0/8\n"},
    {FWD(", trusted_proxies: [10.0.0.0/8, '']"),
     "t.yaml:1:85: http_server.forwards[0].trusted_proxies[1]: \"\": empty; expected an IPv4 or "
     "IPv6 network such as 10.0.0.0/8 or 2001:db8::/32, or one address\n"},
    {FWD(", trusted_proxies: ['10.0.0.0/33']"),
     "t.yaml:1:73: http_server.forwards[0].trusted_proxies[0]: \"10.0.0.0/33\": bad prefix "
     "length; an IPv4 network takes /0 to /32\n"},
    {FWD(", trusted_proxies: [lb.example.com]"),
     "t.yaml:1:73: http_server.forwards[0].trusted_proxies[0]: \"lb.example.com\": not an IPv4 "
     "or IPv6 address (expected e.g. 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32; no names, zones "
     "or spaces)\n"},
    {FWD(", trusted_proxies: [[10.0.0.0/8]]"),
     "t.yaml:1:73: http_server.forwards[0].trusted_proxies[0]: found a list; expected a "
     "string\n"},
    {FWD(", trusted_proxies: 10.0.0.0/8"),
     "t.yaml:1:72: http_server.forwards[0].trusted_proxies: found \"10.0.0.0/8\"; expected a "
     "list of strings\n"},
    {FWD(", proxy_protocol: true"),
     "t.yaml:1:71: http_server.forwards[0].proxy_protocol: needs trusted_proxies: the PROXY "
     "protocol is accepted only from the balancers listed there (a PROXY header from anyone "
     "else is refused)\n"},
    {FWD(", trusted_proxies: [10.0.0.0/8], client_address_header: x-real-ip"),
     "t.yaml:1:109: http_server.forwards[0].client_address_header: unknown "
     "client_address_header \"x-real-ip\"; "
     "allowed: x-forwarded-for, forwarded, none\n"},
};

START_TEST(refused)
{
    ctu_assert_errors(bad_cases[_i].yaml, bad_cases[_i].expected);
}
END_TEST

static const struct yaml_case warn_cases[] = {
    {FWD(", trusted_proxies: ['0.0.0.0/0']"),
     "t.yaml:1:73: http_server.forwards[0].trusted_proxies[0]: warning: 0.0.0.0/0 trusts every "
     "peer: any client can choose the address it is rate limited and logged by\n"},
    {FWD(", client_address_header: forwarded"),
     "t.yaml:1:78: http_server.forwards[0].client_address_header: warning: without "
     "trusted_proxies no header is believed; the client is the connection's peer\n"},
    {FWD(", trusted_proxies: [10.0.0.0/8], client_address_header: none"),
     "t.yaml:1:109: http_server.forwards[0].client_address_header: warning: none without "
     "proxy_protocol: trusted_proxies change nothing; set proxy_protocol: true or name the "
     "header the proxies write\n"},
    {FWD(", trusted_proxies: [10.0.0.0/8], client_address_header: none, proxy_protocol: true"), ""},
};

START_TEST(warned)
{
    char *text = ctu_warnings(warn_cases[_i].yaml);

    ck_assert_str_eq(text, warn_cases[_i].expected);
    free(text);
}
END_TEST

/* A hostile file cannot make the list (and the rendered file) unbounded. */
START_TEST(list_bounded)
{
    size_t n = 1025, len = 0, cap = n * 12 + 512;
    char *yaml = malloc(cap), *text;

    ck_assert_ptr_nonnull(yaml);
    len += (size_t)snprintf(yaml + len, cap - len,
                            "http_server: {forwards: [{name: f, upstream_group: g, "
                            "trusted_proxies: [");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(yaml + len, cap - len, "%s10.0.%zu.%zu", i ? "," : "", i / 256,
                                i % 256);
    snprintf(yaml + len, cap - len, "]}]}\n" REST);
    text = ctu_errors(yaml);
    ck_assert_msg(strstr(text, "trusted_proxies") && strstr(text, "1024"), "%s", text);
    free(text);
    free(yaml);
}
END_TEST

static Suite *client_address_suite(void)
{
    Suite *s = suite_create("config_client_address");
    TCase *tc = tcase_create("keys");

    tcase_add_loop_test(tc, cidr_verdicts, 0, (int)(sizeof(cidr_cases) / sizeof(cidr_cases[0])));
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, given_values_canonical);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_loop_test(tc, warned, 0, (int)(sizeof(warn_cases) / sizeof(warn_cases[0])));
    tcase_add_test(tc, list_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_address_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

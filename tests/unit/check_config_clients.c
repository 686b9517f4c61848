/*
 * Client API keys in the configuration: top-level `clients` and a forward's `client_auth`.
 * A key is kept only as its SHA-256 (lowercase hex), is never quoted in a message, and
 * conf_client_allowed() says which client may use which forward.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_client_key.h"
#include "config.h"
#include "util/conf_testutil.h"

/* Two forwards, `a` with client_auth and `b` without, then the clients given. */
#define WITH_CLIENTS(clients)                                                                      \
    "http_server:\n"                                                                               \
    "  forwards:\n"                                                                                \
    "    - {name: a, port: 3000, upstream_group: g, client_auth: true}\n"                          \
    "    - {name: b, port: 3001, upstream_group: g}\n"                                             \
    "upstreams:\n"                                                                                 \
    "  - {name: u, url: 'http://127.0.0.1:8001'}\n"                                                \
    "upstream_groups:\n"                                                                           \
    "  - {name: g, upstreams: [{name: u}]}\n"                                                      \
    "clients:\n" clients

/* A key and its SHA-256 (sha256sum of the bytes, no newline). */
#define ALICE_KEY  "sk-alice-0123456789abcdef"
#define ALICE_HASH "8fe37735603b21746fc3c1ffd6d8f03e730b6af0a923fa3380bc36d19f852d3f"
#define BOB_HASH   "ea0d0bf3fec74bad24fa49c2b84b0aeb22c501becb1702c723f12db3511aad19"

static const char *const env[] = {"ALICE_KEY=" ALICE_KEY, "SHORT=abc", "COMMA=abcdefgh,ijklmnopq",
                                  NULL};

START_TEST(no_clients_by_default)
{
    struct config *cfg = ctu_load_ok(WITH_CLIENTS("  []\n"));

    ck_assert_uint_eq(cfg->n_clients, 0);
    ck_assert(cfg->forwards[0].client_auth);
    ck_assert(!cfg->forwards[1].client_auth);
    config_free(cfg);
}
END_TEST

START_TEST(key_from_the_environment_is_kept_as_its_hash)
{
    struct config *cfg =
        ctu_load_env_ok(WITH_CLIENTS("  - {name: alice, key: '${ALICE_KEY}'}\n"), env);
    const struct conf_client *c = &cfg->clients[0];

    ck_assert_uint_eq(cfg->n_clients, 1);
    ck_assert_str_eq(c->name, "alice");
    ck_assert_str_eq(c->key_sha256, ALICE_HASH);
    ck_assert_str_eq(c->key.val, ALICE_KEY);
    ck_assert_str_eq(c->key.tmpl, "${ALICE_KEY}");
    ck_assert(!c->forwards_given);
    ck_assert(!c->ratelimit_enabled);
    config_free(cfg);
}
END_TEST

START_TEST(key_sha256_is_lowercased)
{
    struct config *cfg = ctu_load_ok(
        WITH_CLIENTS("  - {name: bob, key_sha256: EA0D0BF3FEC74BAD24FA49C2B84B0AEB22C501BECB1702C7"
                     "23F12DB3511AAD19}\n"));

    ck_assert_str_eq(cfg->clients[0].key_sha256, BOB_HASH);
    ck_assert_ptr_null(cfg->clients[0].key.val);
    config_free(cfg);
}
END_TEST

START_TEST(ratelimit_present_means_enabled)
{
    struct config *cfg = ctu_load_ok(
        WITH_CLIENTS("  - {name: bob, key_sha256: " BOB_HASH ", ratelimit: {per_second: 5, "
                     "burst: 20}}\n"
                     "  - {name: carol, key: " ALICE_KEY ", ratelimit: {}}\n"));

    ck_assert(cfg->clients[0].ratelimit_enabled);
    ck_assert_uint_eq(cfg->clients[0].ratelimit_per_second, 5);
    ck_assert_uint_eq(cfg->clients[0].ratelimit_burst, 20);
    /* The forward's defaults. */
    ck_assert(cfg->clients[1].ratelimit_enabled);
    ck_assert_uint_eq(cfg->clients[1].ratelimit_per_second, 100);
    ck_assert_uint_eq(cfg->clients[1].ratelimit_burst, 200);
    config_free(cfg);
}
END_TEST

START_TEST(allowed_forwards)
{
    struct config *cfg =
        ctu_load_ok("http_server:\n"
                    "  forwards:\n"
                    "    - {name: a, port: 3000, upstream_group: g, client_auth: true}\n"
                    "    - {name: b, port: 3001, upstream_group: g}\n"
                    "    - {name: c, port: 3002, upstream_group: g, client_auth: yes}\n"
                    "upstreams:\n"
                    "  - {name: u, url: 'http://127.0.0.1:8001'}\n"
                    "upstream_groups:\n"
                    "  - {name: g, upstreams: [{name: u}]}\n"
                    "clients:\n"
                    "  - {name: every, key_sha256: " ALICE_HASH "}\n"
                    "  - {name: only_c, key_sha256: " BOB_HASH ", forwards: [c]}\n"
                    "  - {name: none, key: abcdefghijklmnop, forwards: []}\n");

    /* No forwards list: every forward with client_auth. */
    ck_assert(conf_client_allowed(cfg, 0, 0));
    ck_assert(!conf_client_allowed(cfg, 0, 1));
    ck_assert(conf_client_allowed(cfg, 0, 2));
    ck_assert(!conf_client_allowed(cfg, 1, 0));
    ck_assert(!conf_client_allowed(cfg, 1, 1));
    ck_assert(conf_client_allowed(cfg, 1, 2));
    ck_assert_uint_eq(cfg->clients[1].n_forward_names, 1);
    ck_assert_str_eq(cfg->clients[1].forward_names[0].val, "c");
    /* An empty list: no forward (a client kept but suspended). */
    for (size_t f = 0; f < 3; f++)
        ck_assert(!conf_client_allowed(cfg, 2, f));
    config_free(cfg);
}
END_TEST

START_TEST(key_rules)
{
    static const char valid[] = "Az09._~+/=-Az09._~+/=-";

    ck_assert(conf_client_key_valid(valid, strlen(valid)));
    ck_assert(!conf_client_key_valid("abcdefghijklmno", 15));
    ck_assert(conf_client_key_valid("abcdefghijklmnop", 16));
    ck_assert(!conf_client_key_valid("abcdefgh ijklmnop", 17));
    ck_assert(!conf_client_key_valid("abcdefgh,ijklmnop", 17));
    ck_assert(!conf_client_key_valid("abcdefgh\0ijklmnop", 17));
    ck_assert(conf_sha256_hex_valid(ALICE_HASH));
    ck_assert(!conf_sha256_hex_valid(ALICE_HASH "0"));
    ck_assert(!conf_sha256_hex_valid("8fe3"));
}
END_TEST

START_TEST(sha256_known_vectors)
{
    char hex[CONF_SHA256_HEX_SIZE];

    ck_assert_int_eq(conf_sha256_hex("", 0, hex), 0);
    ck_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    ck_assert_int_eq(conf_sha256_hex(ALICE_KEY, strlen(ALICE_KEY), hex), 0);
    ck_assert_str_eq(hex, ALICE_HASH);
}
END_TEST

struct bad_case {
    const char *yaml;
    const char *expected;
};

static const struct bad_case bad_cases[] = {
    {WITH_CLIENTS("  - {name: x}\n"),
     "t.yaml:10:5: clients[0].key: missing; give key (the key itself, e.g. \"${TEAM_KEY}\") or "
     "key_sha256 (its SHA-256)\n"},
    {WITH_CLIENTS("  - {name: x, key: abcdefghijklmnop, key_sha256: " ALICE_HASH "}\n"),
     "t.yaml:10:50: clients[0].key_sha256: given with key; give either key (the key itself) or "
     "key_sha256 (its SHA-256), not both\n"},
    {WITH_CLIENTS("  - {name: x, key_sha256: 8fe37735}\n"),
     "t.yaml:10:27: clients[0].key_sha256: expected 64 hexadecimal digits (a SHA-256, as printed "
     "by llmproxy-ctl key hash)\n"},
    {WITH_CLIENTS("  - {name: x, key: '${SHORT}'}\n"),
     "t.yaml:10:20: clients[0].key: 3 characters; a client key needs 16 to 512 (llmproxy-ctl key "
     "new makes one)\n"},
    {WITH_CLIENTS("  - {name: x, key: '${COMMA}'}\n"),
     "t.yaml:10:20: clients[0].key: invalid character; allowed: letters, digits and ._~+/=- "
     "(HAProxy cuts header values at commas and strips spaces, so only these arrive unchanged in "
     "every header)\n"},
    {WITH_CLIENTS("  - {name: x, key: '${NOPE}'}\n"),
     "t.yaml:10:20: clients[0].key: environment variable NOPE is not set; set it, or give a "
     "default with ${NOPE:-default}\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY "}\n"
                  "  - {name: x, key_sha256: " BOB_HASH "}\n"),
     "t.yaml:11:12: clients[1].name: duplicate client name \"x\"; it is first defined at line "
     "10:12\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY "}\n"
                  "  - {name: y, key_sha256: " ALICE_HASH "}\n"),
     "t.yaml:11:27: clients[1].key_sha256: the same key as client \"x\" (line 10:12); every "
     "client needs its own key\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", forwards: [a, main, a]}\n"),
     "t.yaml:10:61: clients[0].forwards[1]: forward \"main\" is not defined; defined forwards: "
     "a, b\n"
     "t.yaml:10:67: clients[0].forwards[2]: forward \"a\" is listed twice\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", forwards: a}\n"),
     "t.yaml:10:57: clients[0].forwards: found \"a\"; expected a list of strings\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", forwards: [[a]]}\n"),
     "t.yaml:10:58: clients[0].forwards[0]: found a list; expected a string\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", ratelimit: {per_second: 50, burst: 10}}\n"),
     "t.yaml:10:82: clients[0].ratelimit.burst: 10 is below per_second (50); burst must be >= "
     "per_second\n"},
    {WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", ratelimit: {per_second: 0}}\n"),
     "t.yaml:10:71: clients[0].ratelimit.per_second: 0 is out of range; allowed: 1-1000000\n"},
    {WITH_CLIENTS("  - {name: anonymous, key: " ALICE_KEY "}\n"),
     "t.yaml:10:12: clients[0].name: \"anonymous\" is reserved: the metrics use it for requests "
     "without a client (reserved: anonymous, unauthenticated, unknown)\n"},
    {WITH_CLIENTS("  - {name: 'a b', key: " ALICE_KEY "}\n"),
     "t.yaml:10:12: clients[0].name: invalid name \"a b\"; expected a name of 1-48 letters, "
     "digits, '_', '.' or '-'\n"},
};

START_TEST(refused)
{
    char *text = ctu_errors_env(bad_cases[_i].yaml, env);

    ck_assert_str_eq(text, bad_cases[_i].expected);
    free(text);
}
END_TEST

/* A key is a secret: however it is wrong, no message quotes it. */
START_TEST(errors_never_quote_a_key)
{
    static const char *const secret_env[] = {"K=Secret0Secret1,Secret2", "L=Secret0Secret1Secret2",
                                             NULL};
    char *text = ctu_errors_env(WITH_CLIENTS("  - {name: x, key: '${K}'}\n"
                                             "  - {name: y, key: '${L}'}\n"
                                             "  - {name: z, key: '${L}'}\n"),
                                secret_env);

    ck_assert_ptr_nonnull(strstr(text, "invalid character"));
    ck_assert_ptr_nonnull(strstr(text, "the same key as client \"y\""));
    ck_assert_ptr_null(strstr(text, "Secret"));
    free(text);
}
END_TEST

START_TEST(warnings)
{
    char *w = ctu_warnings(WITH_CLIENTS("  - {name: x, key: " ALICE_KEY ", forwards: [b]}\n"));

    ck_assert_str_eq(w, "t.yaml:3:14: http_server.forwards[0].client_auth: warning: no client may "
                        "use forward \"a\": every request to it gets 401; add clients (top-level "
                        "clients) allowed on it\n"
                        "t.yaml:10:58: clients[0].forwards[0]: warning: forward \"b\" has no "
                        "client_auth: it takes requests without a key, this client's included; "
                        "add client_auth: true to that forward\n");
    free(w);
    w = ctu_warnings(WITH_CLIENTS("  []\n"));
    ck_assert_ptr_nonnull(strstr(w, "warning: no client may use forward \"a\""));
    free(w);
    w = ctu_warnings("http_server:\n"
                     "  forwards: [{name: a, port: 3000, upstream_group: g}]\n"
                     "upstreams: [{name: u, url: 'http://127.0.0.1:8001'}]\n"
                     "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"
                     "clients: [{name: x, key: " ALICE_KEY "}]\n");
    ck_assert_str_eq(w, "t.yaml:5:18: clients: warning: no forward has client_auth: true, so no "
                        "key is checked and anyone may use every forward; add client_auth: true "
                        "to the forwards that need a key\n");
    free(w);
    w = ctu_warnings(WITH_CLIENTS("  - {name: x, key: " ALICE_KEY "}\n"));
    ck_assert_str_eq(w, "");
    free(w);
}
END_TEST

START_TEST(summary_counts_clients)
{
    struct config *cfg = ctu_load_ok(WITH_CLIENTS("  - {name: x, key: " ALICE_KEY "}\n"));
    char buf[CONF_SUMMARY_MAX];

    ck_assert_str_eq(config_summary(cfg, buf), "2 forwards, 1 group, 1 upstream, 1 client");
    config_free(cfg);
}
END_TEST

static Suite *clients_suite(void)
{
    Suite *s = suite_create("config_clients");
    TCase *tc = tcase_create("clients");

    tcase_add_test(tc, no_clients_by_default);
    tcase_add_test(tc, key_from_the_environment_is_kept_as_its_hash);
    tcase_add_test(tc, key_sha256_is_lowercased);
    tcase_add_test(tc, ratelimit_present_means_enabled);
    tcase_add_test(tc, allowed_forwards);
    tcase_add_test(tc, key_rules);
    tcase_add_test(tc, sha256_known_vectors);
    tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
    tcase_add_test(tc, errors_never_quote_a_key);
    tcase_add_test(tc, warnings);
    tcase_add_test(tc, summary_counts_clients);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(clients_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * ${VAR} expansion, through conf_expand() and through a whole load (with an
 * injected environment): values, defaults, $$, templates kept for the renderer,
 * and every way a reference can be wrong.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "conf_expand.h"
#include "config.h"
#include "util/conf_testutil.h"

static const char *const env[] = {
    "KEY=sk-123", "EMPTY=", "HOST=api.example.com", "EVIL=a\r\nX-Injected: 1", "PORT=8443", NULL};

struct expand_case {
    const char *in, *out;
    bool used_var;
};

static const struct expand_case good[] = {
    {"plain text", "plain text", false},
    {"", "", false},
    {"${KEY}", "sk-123", true},
    {"Bearer ${KEY}!", "Bearer sk-123!", true},
    {"${MISSING:-fallback}", "fallback", true},
    {"${EMPTY:-used when empty}", "used when empty", true},
    {"${KEY:-unused}", "sk-123", true},
    {"${MISSING:-}", "", true},
    {"${MISSING:-http://h:1/x}", "http://h:1/x", true},
    {"$$", "$", false},
    {"pa$$word", "pa$word", false},
    {"cost $5 or $x, a lone $", "cost $5 or $x, a lone $", false},
    {"$${KEY}", "${KEY}", false},
    {"https://${HOST}:${PORT}/v1", "https://api.example.com:8443/v1", true},
    {"${EMPTY}", "", true},
};

START_TEST(expands)
{
    const struct expand_case *c = &good[_i];
    char out[CONF_MAX_STRING + 1], err[256] = "";
    bool used = !c->used_var;
    size_t len = 999;

    ck_assert_int_eq(conf_expand(c->in, strlen(c->in), ctu_getenv, (void *)env, out, &len, &used,
                                 err, sizeof(err)),
                     0);
    ck_assert_str_eq(out, c->out);
    ck_assert_uint_eq(len, strlen(c->out));
    ck_assert_int_eq(used, c->used_var);
}
END_TEST

static const char *const bad[][2] = {
    {"${MISSING}", "environment variable MISSING is not set; set it, or give a default with "
                   "${MISSING:-default}"},
    {"x ${KEY",
     "unterminated \"${\" at character 3 of \"x ${KEY\"; write ${NAME}, ${NAME:-default} or $$ "
     "for a literal '$'"},
    {"${}",
     "bad variable reference \"${}\"; expected ${NAME} or ${NAME:-default} with NAME made of "
     "letters, digits and '_' (not starting with a digit)"},
    {"${1A}",
     "bad variable reference \"${1A}\"; expected ${NAME} or ${NAME:-default} with NAME made of "
     "letters, digits and '_' (not starting with a digit)"},
    {"${A-B}",
     "bad variable reference \"${A-B}\"; expected ${NAME} or ${NAME:-default} with NAME made of "
     "letters, digits and '_' (not starting with a digit)"},
    {"${KEY:x}",
     "bad variable reference \"${KEY:x}\"; expected ${NAME} or ${NAME:-default} with NAME made "
     "of letters, digits and '_' (not starting with a digit)"},
    {"${KEY:}",
     "bad variable reference \"${KEY:}\"; expected ${NAME} or ${NAME:-default} with NAME made "
     "of letters, digits and '_' (not starting with a digit)"},
};

START_TEST(refuses)
{
    char out[CONF_MAX_STRING + 1], err[512] = "";
    size_t len;
    bool used;

    ck_assert_int_eq(conf_expand(bad[_i][0], strlen(bad[_i][0]), ctu_getenv, (void *)env, out, &len,
                                 &used, err, sizeof(err)),
                     -1);
    ck_assert_str_eq(err, bad[_i][1]);
}
END_TEST

START_TEST(expansion_is_bounded)
{
    static char big[CONF_MAX_STRING + 8];
    static const char *big_env[] = {big, NULL};
    char out[CONF_MAX_STRING + 1], err[256];
    size_t len;
    bool used;

    memcpy(big, "BIG=", 4);
    memset(big + 4, 'x', CONF_MAX_STRING);
    ck_assert_int_eq(
        conf_expand("${BIG}", 6, ctu_getenv, (void *)big_env, out, &len, &used, err, sizeof(err)),
        0);
    ck_assert_uint_eq(len, CONF_MAX_STRING);
    ck_assert_int_eq(
        conf_expand("${BIG}!", 7, ctu_getenv, (void *)big_env, out, &len, &used, err, sizeof(err)),
        -1);
    ck_assert_str_eq(err, "the value is longer than 4096 bytes after expansion; at most 4096 "
                          "allowed");
}
END_TEST

/* ---- through a load: templates and positions ------------------------------------------ */

#define GROUP "upstream_groups: [{name: g, upstreams: [{name: u}]}]\n"

START_TEST(templates_kept_for_variables_only)
{
    char *text;
    struct config *cfg = ctu_load(
        "upstreams:\n"
        "  - name: u\n"
        "    url: 'https://${HOST}/v1'\n"
        "    auth: {type: bearer, token: '${KEY}'}\n"
        "    headers:\n"
        "      - {op: insert, key: X-Price, value: 'US$$5'}\n"
        "      - {op: insert, key: X-Region, value: '${REGION:-eu}'}\n" GROUP "http_server:\n"
        "  admin: {address: '${BIND:-127.0.0.1}'}\n",
        env, &text);

    ck_assert_msg(cfg != NULL, "%s", text);
    ck_assert_str_eq(cfg->upstreams[0].url.val, "https://api.example.com/v1");
    ck_assert_str_eq(cfg->upstreams[0].url.tmpl, "https://${HOST}/v1");
    ck_assert_str_eq(cfg->upstreams[0].parsed.host, "api.example.com");
    ck_assert_str_eq(cfg->upstreams[0].token.val, "sk-123");
    ck_assert_str_eq(cfg->upstreams[0].token.tmpl, "${KEY}");
    ck_assert_str_eq(cfg->upstreams[0].headers[0].value.val, "US$5");
    ck_assert_ptr_null(cfg->upstreams[0].headers[0].value.tmpl);
    ck_assert_str_eq(cfg->upstreams[0].headers[1].value.val, "eu");
    ck_assert_str_eq(cfg->upstreams[0].headers[1].value.tmpl, "${REGION:-eu}");
    ck_assert_ptr_null(cfg->upstreams[0].headers[0].key.tmpl);
    ck_assert_str_eq(cfg->admin.listen.address, "127.0.0.1");
    ck_assert_ptr_null(cfg->groups[0].client.agent.tmpl);
    config_free(cfg);
    free(text);
}
END_TEST

/* The admin token is a secret like the upstreams': it comes from the environment, and a bad
 * one is described without being printed. */
START_TEST(admin_token_from_the_environment)
{
    static const char *const token_env[] = {"ADMIN_TOKEN=0123456789abcdef0123456789abcdef",
                                            "SHORT_TOKEN=s3cr3t", NULL};
    char *text;
    struct config *cfg = ctu_load("upstreams: [{name: u, url: 'http://u'}]\n" GROUP
                                  "http_server: {admin: {token: '${ADMIN_TOKEN}'}}\n",
                                  token_env, &text);

    ck_assert_msg(cfg != NULL, "%s", text);
    ck_assert_str_eq(cfg->admin.token.val, "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(cfg->admin.token.tmpl, "${ADMIN_TOKEN}");
    config_free(cfg);
    free(text);

    text = ctu_errors_env("upstreams: [{name: u, url: 'http://u'}]\n" GROUP
                          "http_server: {admin: {token: '${SHORT_TOKEN}'}}\n",
                          token_env);
    ck_assert_msg(strstr(text, "http_server.admin.token: 6 characters") != NULL, "%s", text);
    ck_assert_msg(strstr(text, "s3cr3t") == NULL, "the secret was printed: %s", text);
    free(text);
}
END_TEST

START_TEST(errors_at_the_value)
{
    char *text = ctu_errors_env("upstreams:\n"
                                "  - name: u\n"
                                "    url: http://u\n"
                                "    auth: {type: bearer, token: '${OPENAI_API_KEY}'}\n"
                                "    headers: [{op: insert, key: X-A, value: 'a ${B'}]\n" GROUP,
                                env);

    ck_assert_str_eq(text,
                     "t.yaml:4:33: upstreams[0].auth.token: environment variable OPENAI_API_KEY is "
                     "not set; set it, or give a default with ${OPENAI_API_KEY:-default}\n"
                     "t.yaml:5:45: upstreams[0].headers[0].value: unterminated \"${\" at character "
                     "3 of \"a ${B\"; write ${NAME}, ${NAME:-default} or $$ for a literal '$'\n");
    free(text);
}
END_TEST

/* A variable's value is checked like text written in the file, and never echoed. */
START_TEST(expanded_values_checked)
{
    char *text = ctu_errors_env("upstreams:\n"
                                "  - name: u\n"
                                "    url: 'http://${HOST}:${KEY}'\n"
                                "    headers: [{op: insert, key: X-A, value: '${EVIL}'}]\n" GROUP,
                                env);

    ck_assert_str_eq(text,
                     "t.yaml:3:10: upstreams[0].url: invalid port \"sk-123\"; allowed: 1-65535\n"
                     "t.yaml:4:45: upstreams[0].headers[0].value: contains the control character "
                     "\"\\r\" at character 2; line breaks, NUL and other control characters are "
                     "not allowed (they could inject headers or configuration lines)\n");
    ck_assert_ptr_null(strstr(text, "Injected"));
    free(text);
}
END_TEST

/*
 * Where HAProxy reads a log-format string, a variable is rendered as a reference, so a '%'
 * in its value would start a sample: validate refuses it as render would. Written in the
 * file, and in a variable used elsewhere, '%' is fine.
 */
START_TEST(percent_in_logformat_variable_refused)
{
    static const char *const pct_env[] = {"PCT=50%off", NULL};
    char *text = ctu_errors_env("upstreams:\n"
                                "  - name: u\n"
                                "    url: 'http://u/v1'\n"
                                "    auth: {type: bearer, token: '${PCT}'}\n"
                                "    headers: [{op: insert, key: X-A, value: '100% ${PCT:-x}'},\n"
                                "              {op: insert, key: X-B, value: '100%'}]\n" GROUP,
                                pct_env);

    ck_assert_str_eq(text,
                     "t.yaml:4:33: upstreams[0].auth.token: environment variable PCT holds '%', "
                     "which HAProxy would read as the start of a sample here; write this value "
                     "literally (a literal '%' is fine) or keep '%' out of the variable\n"
                     "t.yaml:5:45: upstreams[0].headers[0].value: environment variable PCT holds "
                     "'%', which HAProxy would read as the start of a sample here; write this "
                     "value literally (a literal '%' is fine) or keep '%' out of the variable\n");
    free(text);
}
END_TEST

START_TEST(names_expand_too)
{
    static const char *const names_env[] = {"UP=openai", NULL};
    char *text;
    struct config *cfg = ctu_load("upstreams: [{name: '${UP}', url: 'http://u'}]\n"
                                  "upstream_groups: [{name: g, upstreams: [{name: '${UP}'}]}]\n",
                                  names_env, &text);

    ck_assert_msg(cfg != NULL, "%s", text);
    ck_assert_str_eq(cfg->upstreams[0].name, "openai");
    ck_assert_str_eq(cfg->groups[0].members[0].name.val, "openai");
    ck_assert_uint_eq(cfg->groups[0].members[0].upstream, 0);
    config_free(cfg);
    free(text);
}
END_TEST

START_TEST(long_literal_refused)
{
    static const char prefix[] = "x-a: 1\nupstreams: [{name: u, url: 'http://u/";
    size_t n = CONF_MAX_STRING + 1, o = sizeof(prefix) - 1;
    char *yaml = malloc(o + n + 8), *text;

    memcpy(yaml, prefix, o);
    memset(yaml + o, 'a', n);
    strcpy(yaml + o + n, "'}]\n");
    text = ctu_errors(yaml);
    ck_assert_str_eq(text, "t.yaml:2:28: upstreams[0].url: the value is 4106 bytes long; at most "
                           "4096 allowed\n");
    free(text);
    free(yaml);
}
END_TEST

static Suite *expand_suite(void)
{
    Suite *s = suite_create("config_expand");
    TCase *unit = tcase_create("conf_expand"), *load = tcase_create("load");

    tcase_add_loop_test(unit, expands, 0, (int)(sizeof(good) / sizeof(good[0])));
    tcase_add_loop_test(unit, refuses, 0, (int)(sizeof(bad) / sizeof(bad[0])));
    tcase_add_test(unit, expansion_is_bounded);
    suite_add_tcase(s, unit);
    tcase_add_test(load, templates_kept_for_variables_only);
    tcase_add_test(load, errors_at_the_value);
    tcase_add_test(load, admin_token_from_the_environment);
    tcase_add_test(load, expanded_values_checked);
    tcase_add_test(load, names_expand_too);
    tcase_add_test(load, percent_in_logformat_variable_refused);
    tcase_add_test(load, long_literal_refused);
    suite_add_tcase(s, load);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(expand_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * Routing rules, `models` and `affinity`: what loads, every refusal with its position, and
 * the translation of path patterns to PCRE, matched here against real paths.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <check.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_route.h"
#include "config.h"
#include "util/conf_testutil.h"

#define U "upstreams: [{name: u, url: 'http://u'}]\n"
#define G                                                                                          \
    "upstream_groups: [{name: g, upstreams: [{name: u}]}, {name: h, upstreams: [{name: u}]}]\n"
/* A forward whose routing list follows, one rule per line at 8 spaces. */
#define F "http_server:\n  forwards:\n    - name: f\n      upstream_group: g\n      routing:\n"

struct error_case {
    const char *name;
    const char *yaml;
    const char *expected; /* a line the diagnostics must contain */
};

static const struct error_case errors[] = {
    {"both model and path", U G F "        - {model: a, path: /a, target_group: h}\n",
     "t.yaml:8:11: http_server.forwards[0].routing[0]: gives both model and path"},
    {"neither model nor path", U G F "        - {target_group: h}\n",
     "t.yaml:8:11: http_server.forwards[0].routing[0]: gives neither model nor path"},
    {"target_group missing", U G F "        - {model: a}\n",
     "t.yaml:8:11: http_server.forwards[0].routing[0].target_group: missing"},
    {"unknown target group", U G F "        - {model: a, target_group: nope}\n",
     "t.yaml:8:36: http_server.forwards[0].routing[0].target_group: group \"nope\" is not "
     "defined; defined groups: g, h"},
    {"empty model", U G F "        - {model: '', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: empty"},
    {"star in the middle", U G F "        - {model: 'gpt*4', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: '*' is allowed only at the end"},
    {"star alone", U G F "        - {model: '*', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: \"*\" alone"},
    {"space in model", U G F "        - {model: 'gpt 4', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: invalid character; allowed: "
     "printable ASCII but space"},
    {"quote in model", U G F "        - {model: 'a\"b', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: invalid character"},
    {"hash in model", U G F "        - {model: 'a#b', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: invalid character"},
    {"control byte in model", U G F "        - {model: \"a\\x01b\", target_group: h}\n",
     "http_server.forwards[0].routing[0].model:"},
    {"leading dash", U G F "        - {model: '-m', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: cannot start with '-'"},
    {"lone brace", U G F "        - {model: '}', target_group: h}\n",
     "t.yaml:8:19: http_server.forwards[0].routing[0].model: cannot start with '-' nor be a lone"},
    {"duplicate model rule",
     U G F "        - {model: a, target_group: h}\n"
           "        - {model: a, target_group: g}\n",
     "t.yaml:9:19: http_server.forwards[0].routing[1]: repeats the model pattern of routing[0] "
     "(line 8)"},
    {"duplicate path rule",
     U G F "        - {path: /a, target_group: h}\n"
           "        - {path: /a, target_group: h}\n",
     "t.yaml:9:18: http_server.forwards[0].routing[1]: repeats the path pattern of routing[0]"},
    {"empty path", U G F "        - {path: '', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: empty"},
    {"relative path", U G F "        - {path: 'v1/x', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: does not start with '/'"},
    {"space in path", U G F "        - {path: '/a b', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: invalid character at byte 2"},
    {"unclosed brace", U G F "        - {path: '/a/{id', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: '{' at byte 3 is never closed"},
    {"brace around a parenthesis", U G F "        - {path: '/a/{(}', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: invalid regex at byte 5: missing "
     "closing parenthesis"},
    {"unbalanced parenthesis cannot leave its group",
     U G F "        - {path: '/x{a)|(.*}', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: invalid regex at byte 4"},
    {"empty braces", U G F "        - {path: '/a/{id:}', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: empty regex"},
    {"unclosed class in a glob", U G F "        - {path: '/a/*[ab', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: '[' at byte 4 is never closed"},
    {"bad range in a glob class", U G F "        - {path: '/a/*[z-a]', target_group: h}\n",
     "t.yaml:8:18: http_server.forwards[0].routing[0].path: translates to the invalid regex"},
    {"models: star", U "upstream_groups: [{name: g, upstreams: [{name: u}], models: ['a*']}]\n",
     "t.yaml:2:62: upstream_groups[0].models[0]: '*' is not allowed in a model name"},
    {"models: duplicate",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], models: [a, b, a]}]\n",
     "t.yaml:2:68: upstream_groups[0].models[2]: repeats models[0]"},
    {"affinity with another strategy",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], balance: {strategy: random}, "
       "affinity: {body_keys: false}}]\n",
     "upstream_groups[0].affinity: given with balance.strategy \"random\""},
    {"load factor 1.0",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], affinity: {load_factor: 1.0}}]\n",
     "t.yaml:2:77: upstream_groups[0].affinity.load_factor: 1.0 leaves a member no room"},
    {"load factor above 100",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], affinity: {load_factor: 101}}]\n",
     "t.yaml:2:77: upstream_groups[0].affinity.load_factor: 101 is out of range"},
    {"affinity header not a token",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], affinity: {header: 'x session'}}]\n",
     "t.yaml:2:72: upstream_groups[0].affinity.header: invalid header name"},
    {"affinity unknown key",
     U "upstream_groups: [{name: g, upstreams: [{name: u}], affinity: {headers: x}}]\n",
     "upstream_groups[0].affinity.headers: unknown key"},
};

START_TEST(error)
{
    const struct error_case *c = &errors[_i];
    char *text = ctu_errors(c->yaml);

    ck_assert_msg(strstr(text, c->expected) != NULL, "case \"%s\":\n got: %s\nwant: %s", c->name,
                  text, c->expected);
    free(text);
}
END_TEST

START_TEST(too_many_rules)
{
    size_t size = 64 * 1024, o;
    char *yaml = malloc(size), *text;

    ck_assert_ptr_nonnull(yaml);
    o = (size_t)snprintf(yaml, size, "%s", U G F);
    for (int i = 0; i < CONF_ROUTE_MAX + 1; i++)
        o += (size_t)snprintf(yaml + o, size - o, "        - {model: m%d, target_group: h}\n", i);
    text = ctu_errors(yaml);
    ck_assert_msg(strstr(text, "t.yaml:8:9: http_server.forwards[0].routing: the list has 257 "
                               "items; at most 256 allowed") != NULL,
                  "%s", text);
    free(text);
    free(yaml);
}
END_TEST

START_TEST(valid)
{
    struct config *cfg = ctu_load_ok(
        U "upstream_groups:\n"
          "  - {name: g, upstreams: [{name: u}]}\n"
          "  - name: h\n    upstreams: [{name: u}]\n    models: [llama-3.1-8b, '@cf/x']\n"
          "    affinity: {header: X-Session, load_factor: 2}\n"
          "  - {name: k, upstreams: [{name: u}], balance: {strategy: affinity}}\n"
          "http_server:\n  forwards:\n    - name: f\n      default_group: g\n"
          "      routing_strict: true\n      routing:\n"
          "        - {model: 'gpt-4o*', target_group: h}\n"
          "        - {model: llama-3.1-70b, target_group: g}\n"
          "        - {path: '/v1/embeddings', target_group: k}\n"
          "    - {name: e, upstream_group: g, port: 3001, routing: []}\n"
          "    - {name: n, upstream_group: g, port: 3002, routing: }\n");
    const struct conf_forward *f = &cfg->forwards[0];
    const struct conf_group *h = &cfg->groups[1];

    ck_assert(f->routing_strict);
    ck_assert_uint_eq(f->n_routes, 3);
    ck_assert_int_eq(f->routes[0].kind, ROUTE_MODEL_PREFIX);
    ck_assert_str_eq(f->routes[0].match, "gpt-4o");
    ck_assert_str_eq(f->routes[0].pattern.val, "gpt-4o*");
    ck_assert_uint_eq(f->routes[0].group, 1);
    ck_assert_int_eq(f->routes[1].kind, ROUTE_MODEL);
    ck_assert_str_eq(f->routes[1].match, "llama-3.1-70b");
    ck_assert_uint_eq(f->routes[1].group, 0);
    ck_assert_int_eq(f->routes[2].kind, ROUTE_PATH);
    ck_assert_str_eq(f->routes[2].match, "^/v1/embeddings$");
    ck_assert_uint_eq(f->routes[2].group, 2);
    ck_assert_uint_eq(cfg->forwards[1].n_routes, 0);
    ck_assert_uint_eq(cfg->forwards[2].n_routes, 0);
    ck_assert(!cfg->forwards[1].routing_strict);
    ck_assert_int_eq(cfg->groups[0].strategy, BAL_ROUNDROBIN);
    ck_assert_int_eq(h->strategy, BAL_AFFINITY); /* implied by the block */
    ck_assert_str_eq(h->affinity.header.val, "x-session");
    ck_assert(h->affinity.body_keys);
    ck_assert(h->affinity.load_factor == 2.0);
    ck_assert_uint_eq(h->n_models, 2);
    ck_assert_str_eq(h->models[1].val, "@cf/x");
    ck_assert_int_eq(cfg->groups[2].strategy, BAL_AFFINITY);
    ck_assert_str_eq(cfg->groups[2].affinity.header.val, CONF_AFFINITY_HEADER_DEFAULT);
    ck_assert(cfg->groups[2].affinity.load_factor == CONF_AFFINITY_LOAD_FACTOR_DEFAULT);
    config_free(cfg);
}
END_TEST

/* ---- path patterns: translation, then matching with PCRE2 as HAProxy's path_reg would ---- */

struct path_case {
    const char *pattern, *regex;
    const char *match[4], *nomatch[5];
};

static const struct path_case paths[] = {
    {"/api/users/admin",
     "^/api/users/admin$",
     {"/api/users/admin"},
     {"/api/users/admins", "/api/users", "/api/users/admin/x", "/API/users/admin"}},
    {"/api/users/:id",
     "^/api/users/[^/]+$",
     {"/api/users/7", "/api/users/al.ice"},
     {"/api/users/", "/api/users/7/x", "/api/users"}},
    {"/api/*", "^/api/.*$", {"/api/", "/api/a/b/c"}, {"/api", "/apix/"}},
    {"/items/{id:[0-9]+}",
     "^/items/(?:[0-9]+)$",
     {"/items/1", "/items/12345"},
     {"/items/", "/items/a1", "/items/1/x"}},
    {"/files/*", "^/files/.*$", {"/files/a.txt", "/files/"}, {"/file/a"}},
    {"/products/{code:[A-Z]{3}[0-9]{3}}",
     "^/products/(?:[A-Z]{3}[0-9]{3})$",
     {"/products/ABC123"},
     {"/products/AB123", "/products/ABC1234", "/products/abc123"}},
    {"/v1/x.json", "^/v1/x\\.json$", {"/v1/x.json"}, {"/v1/xajson"}},
    {"/a/*.tx?", "^/a/.*\\.tx[^/]$", {"/a/b/c.txt"}, {"/a/b.tx/"}},
    {"/a/*[!x]", "^/a/.*[^x]$", {"/a/y"}, {"/a/x"}},
    {"/a:b/{\\d+}", "^/a:b/(?:\\d+)$", {"/a:b/12"}, {"/ab/12"}},
};

static bool regex_matches(const char *re, const char *subject)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
    pcre2_match_data *md;
    int rc;

    ck_assert_msg(c != NULL, "%s does not compile", re);
    md = pcre2_match_data_create_from_pattern(c, NULL);
    rc = pcre2_match(c, (PCRE2_SPTR)subject, strlen(subject), 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    return rc >= 0;
}

START_TEST(path_translation)
{
    const struct path_case *c = &paths[_i];
    char re[CONF_ROUTE_REGEX_SIZE], why[256];

    ck_assert_msg(conf_route_path_regex(c->pattern, re, sizeof(re), why, sizeof(why)) == 0,
                  "%s: %s", c->pattern, why);
    ck_assert_str_eq(re, c->regex);
    for (size_t i = 0; i < 4 && c->match[i]; i++)
        ck_assert_msg(regex_matches(re, c->match[i]), "%s should match %s", re, c->match[i]);
    for (size_t i = 0; i < 5 && c->nomatch[i]; i++)
        ck_assert_msg(!regex_matches(re, c->nomatch[i]), "%s should not match %s", re,
                      c->nomatch[i]);
}
END_TEST

/* Hostile patterns: refused with a reason, never a crash or an overflow. */
START_TEST(path_hostile)
{
    char re[CONF_ROUTE_REGEX_SIZE], why[256], big[CONF_ROUTE_PATH_MAX + 2], junk[256];

    memset(big, '?', sizeof(big) - 1);
    big[0] = '/';
    big[sizeof(big) - 1] = '\0';
    ck_assert_int_eq(conf_route_path_regex(big, re, sizeof(re), why, sizeof(why)), -1);
    ck_assert_ptr_nonnull(strstr(why, "at most 1024"));
    /* The longest accepted pattern, every byte expanding most: still fits. */
    big[CONF_ROUTE_PATH_MAX] = '\0';
    big[1] = '*';
    ck_assert_int_eq(conf_route_path_regex(big, re, sizeof(re), why, sizeof(why)), 0);
    for (int i = 0; i < 255; i++)
        junk[i] = (char)(i + 1);
    junk[255] = '\0';
    junk[0] = '/';
    ck_assert_int_eq(conf_route_path_regex(junk, re, sizeof(re), why, sizeof(why)), -1);
    ck_assert_str_eq(re, "");
    ck_assert_int_eq(conf_route_path_regex("/{", re, sizeof(re), why, sizeof(why)), -1);
    ck_assert_int_eq(conf_route_path_regex("/{{{{}", re, sizeof(re), why, sizeof(why)), -1);
    ck_assert_int_eq(conf_route_path_regex("/{\\}", re, sizeof(re), why, sizeof(why)), -1);
    ck_assert_int_eq(conf_route_path_regex("/x{(?<n>a)\\k<n>}", re, sizeof(re), why, sizeof(why)),
                     0);
}
END_TEST

START_TEST(model_names)
{
    ck_assert_ptr_null(conf_route_model_problem("gpt-4o", false));
    ck_assert_ptr_null(conf_route_model_problem("gpt-4o*", true));
    ck_assert_ptr_nonnull(conf_route_model_problem("gpt-4o*", false));
    ck_assert_ptr_nonnull(conf_route_model_problem("a\\b", true));
    ck_assert_ptr_nonnull(conf_route_model_problem("a'b", true));
    ck_assert_ptr_nonnull(conf_route_model_problem("caf\xc3\xa9", true));
    {
        char longest[CONF_ROUTE_MODEL_MAX + 2];

        memset(longest, 'a', sizeof(longest) - 1);
        longest[sizeof(longest) - 1] = '\0';
        ck_assert_ptr_nonnull(conf_route_model_problem(longest, false));
        longest[CONF_ROUTE_MODEL_MAX] = '\0';
        ck_assert_ptr_null(conf_route_model_problem(longest, false));
    }
}
END_TEST

static Suite *routing_suite(void)
{
    Suite *s = suite_create("config_routing");
    TCase *tc = tcase_create("routing");

    tcase_add_loop_test(tc, error, 0, (int)(sizeof(errors) / sizeof(errors[0])));
    tcase_add_test(tc, too_many_rules);
    tcase_add_test(tc, valid);
    tcase_add_loop_test(tc, path_translation, 0, (int)(sizeof(paths) / sizeof(paths[0])));
    tcase_add_test(tc, path_hostile);
    tcase_add_test(tc, model_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(routing_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * The configuration library's small parts on their own: suggestions, URL and IP
 * parsing, the name map, the arena's limit, quoting and diagnostic ordering.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_arena.h"
#include "conf_diag.h"
#include "conf_map.h"
#include "conf_suggest.h"
#include "conf_url.h"
#include "util/conf_testutil.h"

START_TEST(edit_distance)
{
    ck_assert_uint_eq(conf_edit_distance("threshold", 9, "treshold", 8), 1);
    ck_assert_uint_eq(conf_edit_distance("port", 4, "prot", 4), 1);
    ck_assert_uint_eq(conf_edit_distance("kitten", 6, "sitting", 7), 3);
    ck_assert_uint_eq(conf_edit_distance("", 0, "abc", 3), 3);
    ck_assert_uint_eq(conf_edit_distance("same", 4, "same", 4), 0);
    ck_assert_uint_eq(conf_edit_distance("a", 1, "b", CONF_SUGGEST_MAX_LEN + 1), SIZE_MAX);
}
END_TEST

START_TEST(suggestions)
{
    static const char *const keys[] = {"threshold", "cooldown", NULL, "name"};

    ck_assert_str_eq(conf_suggest("treshold", 8, keys, 4), "threshold");
    ck_assert_str_eq(conf_suggest("COOLDOWN", 8, keys, 4), "cooldown");
    ck_assert_str_eq(conf_suggest("nme", 3, keys, 4), "name");
    ck_assert_ptr_null(conf_suggest("name", 4, keys, 4)); /* itself */
    ck_assert_ptr_null(conf_suggest("zz", 2, keys, 4));   /* two edits of two letters */
    ck_assert_ptr_null(conf_suggest("weight", 6, keys, 4));
}
END_TEST

struct url_case {
    const char *in;
    enum conf_url_kind kind;
    bool tls;
    const char *host;
    unsigned port;
    bool port_explicit;
    const char *base_path, *userinfo;
};

static const struct url_case urls[] = {
    {"https://api.openai.com/v1", CONF_URL_UPSTREAM, true, "api.openai.com", 443, false, "/v1",
     NULL},
    {"http://localhost:11434/v1/", CONF_URL_UPSTREAM, false, "localhost", 11434, true, "/v1", NULL},
    {"HtTpS://h//", CONF_URL_UPSTREAM, true, "h", 443, false, "", NULL},
    {"http://[fe80::1]:81/a/b", CONF_URL_UPSTREAM, false, "fe80::1", 81, true, "/a/b", NULL},
    {"http://u:p@proxy:3128", CONF_URL_PROXY, false, "proxy", 3128, true, "", "u:p"},
    {"http://10.1.2.3:8080/", CONF_URL_PROXY, false, "10.1.2.3", 8080, true, "", NULL},
};

START_TEST(url_parses)
{
    const struct url_case *c = &urls[_i];
    struct conf_arena *a = conf_arena_new(1 << 20);
    struct conf_url u;
    char err[256] = "";

    ck_assert_msg(conf_url_parse(a, c->in, c->kind, &u, err, sizeof(err)) == 0, "%s: %s", c->in,
                  err);
    ck_assert_int_eq(u.tls, c->tls);
    ck_assert_str_eq(u.host, c->host);
    ck_assert_uint_eq(u.port, c->port);
    ck_assert_int_eq(u.port_explicit, c->port_explicit);
    ck_assert_str_eq(u.base_path, c->base_path);
    if (c->userinfo)
        ck_assert_str_eq(u.userinfo, c->userinfo);
    else
        ck_assert_ptr_null(u.userinfo);
    conf_arena_free(a);
}
END_TEST

START_TEST(proxy_password_never_in_messages)
{
    struct conf_arena *a = conf_arena_new(1 << 20);
    struct conf_url u;
    char err[256];

    ck_assert_int_eq(
        conf_url_parse(a, "http://me:hunter2@p:99999", CONF_URL_PROXY, &u, err, sizeof(err)), -1);
    ck_assert_str_eq(err, "invalid port \"99999\"; allowed: 1-65535");
    ck_assert_int_eq(conf_url_parse(a, "http://me:hunter2@", CONF_URL_PROXY, &u, err, sizeof(err)),
                     -1);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    conf_arena_free(a);
}
END_TEST

START_TEST(ip_overlap)
{
    struct conf_ip any4, any6, lo, lo2, lo6;

    ck_assert(conf_ip_parse("0.0.0.0", &any4));
    ck_assert(conf_ip_parse("::", &any6));
    ck_assert(conf_ip_parse("127.0.0.1", &lo));
    ck_assert(conf_ip_parse("127.0.0.2", &lo2));
    ck_assert(conf_ip_parse("::1", &lo6));
    ck_assert(!conf_ip_parse("localhost", &lo));
    ck_assert(!conf_ip_parse("[::1]", &lo6));
    ck_assert(conf_ip_parse("127.0.0.1", &lo));
    ck_assert(conf_ip_parse("::1", &lo6));
    ck_assert(conf_ip_overlap(&any4, &lo));
    ck_assert(conf_ip_overlap(&lo, &lo));
    ck_assert(!conf_ip_overlap(&lo, &lo2));
    ck_assert(conf_ip_overlap(&any6, &lo));
    ck_assert(conf_ip_overlap(&lo6, &any6));
    ck_assert(!conf_ip_overlap(&any4, &lo6));
    ck_assert(!conf_ip_overlap(&lo, &lo6));
}
END_TEST

START_TEST(map_grows_and_finds)
{
    struct conf_arena *a = conf_arena_new(16 << 20);
    static char keys[5000][16];
    struct conf_map m;
    int err = 0, i;

    conf_map_init(&m, a);
    ck_assert_ptr_null(conf_map_get(&m, "x", 1));
    for (i = 0; i < 5000; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        ck_assert_ptr_null(conf_map_add(&m, keys[i], strlen(keys[i]), keys[i], &err));
    }
    ck_assert_int_eq(err, 0);
    ck_assert_uint_eq(m.n, 5000);
    for (i = 0; i < 5000; i++)
        ck_assert_ptr_eq(conf_map_get(&m, keys[i], strlen(keys[i])), keys[i]);
    /* add keeps the first value, set replaces it */
    ck_assert_ptr_eq(conf_map_add(&m, "k7", 2, keys[8], &err), keys[7]);
    ck_assert_int_eq(conf_map_set(&m, "k7", 2, keys[9]), 0);
    ck_assert_ptr_eq(conf_map_get(&m, "k7", 2), keys[9]);
    ck_assert_uint_eq(m.n, 5000);
    conf_arena_free(a);
}
END_TEST

START_TEST(arena_limit)
{
    struct conf_arena *a = conf_arena_new(256 * 1024);
    size_t i, got = 0;
    char *p;

    p = conf_arena_alloc(a, 10);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(p[9], 0);
    ck_assert_uint_eq((uintptr_t)p % _Alignof(max_align_t), 0);
    ck_assert_str_eq(conf_arena_strndup(a, "abcdef", 3), "abc");
    ck_assert_ptr_null(conf_arena_alloc(a, 300 * 1024));       /* above the limit */
    ck_assert_ptr_null(conf_arena_calloc(a, SIZE_MAX / 2, 4)); /* overflow */
    for (i = 0; i < 1000; i++)
        if (conf_arena_alloc(a, 1024))
            got++;
    ck_assert_uint_lt(got, 256);
    ck_assert_uint_gt(got, 100);
    ck_assert_uint_le(conf_arena_footprint(a), 256 * 1024);
    conf_arena_free(a);
}
END_TEST

START_TEST(quoting)
{
    char buf[CONF_QUOTE_BUF], longer[100];

    ck_assert_str_eq(conf_quote(buf, sizeof(buf), "a\"b\\c\r\n\t\x01", 9),
                     "\"a\\\"b\\\\c\\r\\n\\t\\x01\"");
    ck_assert_str_eq(conf_quote(buf, sizeof(buf), "x\0y", 3), "\"x\\x00y\"");
    memset(longer, 'z', sizeof(longer));
    conf_quote(buf, sizeof(buf), longer, sizeof(longer));
    ck_assert_uint_eq(strlen(buf), CONF_QUOTE_MAX + 5);
    ck_assert_str_eq(buf + CONF_QUOTE_MAX + 1, "...\"");
}
END_TEST

START_TEST(diagnostics_sorted_stably)
{
    struct conf_diags d = {0};
    struct conf_pos p3 = {"f", 3, 1}, p1 = {"f", 1, 9}, p1b = {"f", 1, 2};
    char *text;

    conf_diag_add(&d, &p3, "c", "third");
    conf_diag_add(&d, &p1, "b", "second");
    conf_diag_add(&d, &p1b, "a", "first");
    conf_diag_add(&d, &p1, "b2", "second, added later");
    conf_diag_add(&d, NULL, NULL, "no position");
    conf_diags_sort(&d);
    text = ctu_diags_text(&d);
    ck_assert_str_eq(text, ": no position\n"
                           "f:1:2: a: first\n"
                           "f:1:9: b: second\n"
                           "f:1:9: b2: second, added later\n"
                           "f:3:1: c: third\n");
    free(text);
    conf_diags_free(&d);
    ck_assert_uint_eq(d.n, 0);
    ck_assert_ptr_null(d.v);
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("config_units");
    TCase *tc = tcase_create("units");

    tcase_add_test(tc, edit_distance);
    tcase_add_test(tc, suggestions);
    tcase_add_loop_test(tc, url_parses, 0, (int)(sizeof(urls) / sizeof(urls[0])));
    tcase_add_test(tc, proxy_password_never_in_messages);
    tcase_add_test(tc, ip_overlap);
    tcase_add_test(tc, map_grows_and_finds);
    tcase_add_test(tc, arena_limit);
    tcase_add_test(tc, quoting);
    tcase_add_test(tc, diagnostics_sorted_stably);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(units_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

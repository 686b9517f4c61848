/*
 * llmproxy-ctl's runtime-API pieces that need no HAProxy: the bytes of a command, the
 * words it may carry, a map's entries in canonical form (from its file and from `show
 * map`), the version `prepare map` announces. The exchange itself runs against a real
 * HAProxy in tests/integration/test_apply_keys.sh.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy_map.h"
#include "haproxy_runtime.h"

static void request_is(const char *cmd, const char *payload, const char *want)
{
    char err[128];
    size_t len = 0;
    char *got = haproxy_runtime_request(cmd, payload, payload ? strlen(payload) : 0, &len, err,
                                        sizeof(err));

    ck_assert_msg(got != NULL, "%s", err);
    ck_assert_uint_eq(len, strlen(want));
    ck_assert_msg(memcmp(got, want, len) == 0, "got '%.*s'", (int)len, got);
    free(got);
}

static void request_refused(const char *cmd, const char *payload)
{
    char err[128] = "";
    size_t len;

    ck_assert_ptr_null(haproxy_runtime_request(cmd, payload, payload ? strlen(payload) : 0, &len,
                                               err, sizeof(err)));
    ck_assert(err[0] != '\0');
}

START_TEST(a_request_is_one_line_and_an_optional_payload)
{
    request_is("show map", NULL, "show map\n");
    request_is("add map @3 /m", "k1 a\nk2 b\n", "add map @3 /m <<\nk1 a\nk2 b\n\n");
    request_is("add map @3 /m", "k1 a", "add map @3 /m <<\nk1 a\n\n");
    request_refused("", NULL);
    request_refused("show map\nclear map /m", NULL);
    request_refused("show map\r", NULL);
    /* An empty line would end the payload early and run what follows as commands. */
    request_refused("add map /m", "k1 a\n\nclear map /m\n");
    request_refused("add map /m", "\nk1 a\n");
    request_refused("add map /m", "");
}
END_TEST

START_TEST(words_are_what_the_command_line_keeps_whole)
{
    ck_assert(haproxy_runtime_word_ok("/etc/llmproxy/live/maps/clients_main.map"));
    ck_assert(haproxy_runtime_word_ok("@12"));
    ck_assert(!haproxy_runtime_word_ok(""));
    ck_assert(!haproxy_runtime_word_ok("/a b.map"));
    ck_assert(!haproxy_runtime_word_ok("/a;clear map x"));
    ck_assert(!haproxy_runtime_word_ok("/a\\.map"));
    ck_assert(!haproxy_runtime_word_ok("#4"));
    ck_assert(!haproxy_runtime_word_ok("/a\tb"));
    ck_assert(!haproxy_runtime_word_ok("/a\nb"));
}
END_TEST

static void canon_file_is(const char *text, const char *want, size_t want_n)
{
    size_t n = 99;
    char *got = haproxy_map_canon_file(text, strlen(text), &n);

    ck_assert_ptr_nonnull(got);
    ck_assert_str_eq(got, want);
    ck_assert_uint_eq(n, want_n);
    free(got);
}

START_TEST(a_map_file_reads_as_haproxy_reads_it)
{
    canon_file_is("", "", 0);
    canon_file_is("# no client yet\n\n", "", 0);
    canon_file_is("bbb bob\naaa alice\n", "aaa alice\nbbb bob\n", 2);
    /* Blanks around key and value go; inside the value they stay; CRLF and no final
     * newline are fine; '#' only comments at the start of a line. */
    canon_file_is("  ccc \t carol  x \r\n\t\ndd#d dave", "ccc carol  x\ndd#d dave\n", 2);
    canon_file_is(" # not a comment\n", "# not a comment\n", 1);
    canon_file_is("eee\n", "eee \n", 1);
    /* Duplicates are kept: HAProxy loads both. */
    canon_file_is("k v\nk v\n", "k v\nk v\n", 2);
}
END_TEST

START_TEST(show_map_reads_the_same_entries_or_fails)
{
    static const char show[] = "0x55d0b89c90 bbb bob\n0x55d0b89bd0 aaa alice\n\n";
    static const char file[] = "aaa alice\nbbb bob\n";
    size_t n1, n2;
    char *a = haproxy_map_canon_show(show, strlen(show), &n1);
    char *b = haproxy_map_canon_file(file, strlen(file), &n2);

    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(n1, 2);
    free(a);
    free(b);
    a = haproxy_map_canon_show("\n", 1, &n1);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a, "");
    free(a);
    ck_assert_ptr_null(
        haproxy_map_canon_show("Unknown map identifier. Please use #<id> or <file>.\n", 52, &n1));
    ck_assert_ptr_null(haproxy_map_canon_show("0x55d0b89c90\n", 13, &n1));
}
END_TEST

START_TEST(prepare_announces_a_version)
{
    ck_assert_int_eq(haproxy_map_prepared_version("New version created: 3\n\n"), 3);
    ck_assert_int_eq(haproxy_map_prepared_version("New version created: 0"), 0);
    ck_assert_int_eq(haproxy_map_prepared_version("New version created: 12x\n"), -1);
    ck_assert_int_eq(haproxy_map_prepared_version("New version created: \n"), -1);
    ck_assert_int_eq(haproxy_map_prepared_version("Unknown map identifier.\n"), -1);
    ck_assert_int_eq(haproxy_map_prepared_version(""), -1);
}
END_TEST

START_TEST(no_socket_is_an_error_not_a_hang)
{
    char err[256];
    size_t len;

    ck_assert_int_eq(
        haproxy_map_replace("/nonexistent/haproxy.sock", "/m.map", "k v\n", 4, err, sizeof(err)),
        -1);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/haproxy.sock"));
    ck_assert_int_eq(
        haproxy_map_replace("/nonexistent/haproxy.sock", "/a b.map", "", 0, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "not a map name"));
    ck_assert_ptr_null(haproxy_runtime_ask("/nonexistent/haproxy.sock", "show info", NULL, 0, 1024,
                                           &len, err, sizeof(err)));
}
END_TEST

static Suite *haproxy_map_suite(void)
{
    Suite *s = suite_create("haproxy_map");
    TCase *tc = tcase_create("pure");

    tcase_add_test(tc, a_request_is_one_line_and_an_optional_payload);
    tcase_add_test(tc, words_are_what_the_command_line_keeps_whole);
    tcase_add_test(tc, a_map_file_reads_as_haproxy_reads_it);
    tcase_add_test(tc, show_map_reads_the_same_entries_or_fails);
    tcase_add_test(tc, prepare_announces_a_version);
    tcase_add_test(tc, no_socket_is_an_error_not_a_hang);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(haproxy_map_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

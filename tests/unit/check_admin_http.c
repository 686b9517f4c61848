/*
 * The admin endpoint's request-head parser: what it accepts, what it refuses with which
 * status, and that it never reads past the bytes it was given.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin_http.h"

/* Parse a copy of `text` in a buffer of exactly its size, so ASan sees any overread. */
static enum admin_http_result parse(const char *text, struct admin_request *req)
{
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    enum admin_http_result r;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    r = admin_http_parse(copy, len, req);
    /* Views into the copy are not used after it is freed: keep what the tests read. */
    if (r == ADMIN_HTTP_DONE) {
        req->path = text + (req->path - copy);
        if (req->authorization)
            req->authorization = text + (req->authorization - copy);
    }
    free(copy);
    return r;
}

static void expect_error(const char *text, int status)
{
    struct admin_request req;

    ck_assert_int_eq(parse(text, &req), ADMIN_HTTP_ERROR);
    ck_assert_int_eq(req.status, status);
    ck_assert_ptr_nonnull(req.why);
}

START_TEST(simple_get)
{
    struct admin_request req;
    const char *text = "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n";

    ck_assert_int_eq(parse(text, &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.path_len, 8);
    ck_assert_int_eq(memcmp(req.path, "/metrics", 8), 0);
    ck_assert_uint_eq(req.minor, 1);
    ck_assert(req.keep_alive);
    ck_assert_uint_eq(req.head_len, strlen(text));
}
END_TEST

START_TEST(query_and_fragment_are_not_path)
{
    struct admin_request req;

    ck_assert_int_eq(parse("GET /health?x=1 HTTP/1.1\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.path_len, 7);
    ck_assert_int_eq(parse("GET /health#top HTTP/1.1\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.path_len, 7);
}
END_TEST

START_TEST(incomplete_until_blank_line)
{
    struct admin_request req;
    const char *full = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";

    for (size_t n = 0; n < strlen(full); n++) {
        char *part = malloc(n ? n : 1);
        memcpy(part, full, n);
        ck_assert_int_eq(admin_http_parse(part, n, &req), ADMIN_HTTP_INCOMPLETE);
        free(part);
    }
    ck_assert_int_eq(parse(full, &req), ADMIN_HTTP_DONE);
}
END_TEST

START_TEST(pipelined_head_length)
{
    struct admin_request req;
    const char *two = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";

    ck_assert_int_eq(parse(two, &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.head_len, strlen("GET /a HTTP/1.1\r\n\r\n"));
    ck_assert_uint_eq(req.path_len, 2);
}
END_TEST

START_TEST(bare_lf_and_leading_blank_lines)
{
    struct admin_request req;

    ck_assert_int_eq(parse("\r\n\nGET /health HTTP/1.0\nHost: x\n\n", &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.minor, 0);
    ck_assert_uint_eq(req.path_len, 7);
}
END_TEST

START_TEST(keep_alive_rules)
{
    struct admin_request req;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert(!req.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n", &req),
                     ADMIN_HTTP_DONE);
    ck_assert(!req.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert(!req.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &req),
                     ADMIN_HTTP_DONE);
    ck_assert(req.keep_alive);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert(req.keep_alive);
}
END_TEST

START_TEST(zero_content_length_is_fine)
{
    struct admin_request req;

    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert_int_eq(parse("GET / HTTP/1.1\r\nContent-Length:  000 \r\n\r\n", &req),
                     ADMIN_HTTP_DONE);
}
END_TEST

START_TEST(methods_other_than_get)
{
    expect_error("POST /metrics HTTP/1.1\r\n\r\n", 405);
    expect_error("HEAD /health HTTP/1.1\r\n\r\n", 405);
    expect_error("DELETE / HTTP/1.1\r\n\r\n", 405);
    expect_error("get /health HTTP/1.1\r\n\r\n", 405); /* methods are case-sensitive */
    /* Refused as soon as the request line is complete, before the headers end. */
    expect_error("PUT / HTTP/1.1\r\nHost: x\r\n", 405);
}
END_TEST

START_TEST(malformed_request_lines)
{
    expect_error("GET\r\n\r\n", 400);
    expect_error("GET /\r\n\r\n", 400);
    expect_error("GET  / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1 \r\n\r\n", 400);
    expect_error("GET http://x/ HTTP/1.1\r\n\r\n", 400);
    expect_error("GET * HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /a\x01 HTTP/1.1\r\n\r\n", 400);
    expect_error("GET /\xc3\xa9 HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTX/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1x\r\n\r\n", 400);
    expect_error("G(T / HTTP/1.1\r\n\r\n", 400);
    expect_error("GET / HTTP/2.0\r\n\r\n", 505);
    expect_error("GET / HTTP/1.2\r\n\r\n", 505);
    expect_error("GET / HTTP/0.9\r\n\r\n", 505);
}
END_TEST

START_TEST(malformed_headers)
{
    expect_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nName : x\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
    expect_error("GET / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
}
END_TEST

START_TEST(bodies_are_refused)
{
    expect_error("GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413);
    expect_error("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413);
    expect_error("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413);
}
END_TEST

START_TEST(oversized_heads)
{
    size_t big = ADMIN_HTTP_MAX_HEAD + 100;
    char *text = malloc(big + 1);
    struct admin_request req;
    size_t n;

    /* A request line past its bound, even before its end arrives. */
    memcpy(text, "GET /", 5);
    memset(text + 5, 'a', ADMIN_HTTP_MAX_LINE + 10);
    text[5 + ADMIN_HTTP_MAX_LINE + 10] = '\0';
    expect_error(text, 414);
    strcpy(text + 5 + ADMIN_HTTP_MAX_LINE, " HTTP/1.1\r\n\r\n");
    expect_error(text, 414);

    /* Headers past the head's bound, without a blank line. */
    n = (size_t)sprintf(text, "GET / HTTP/1.1\r\n");
    while (n < big - 20)
        n += (size_t)sprintf(text + n, "X-Pad: aaaaaaaaaaaa\r\n");
    ck_assert_int_eq(parse(text, &req), ADMIN_HTTP_ERROR);
    ck_assert_int_eq(req.status, 431);

    /* A single unterminated header line past the bound. */
    n = (size_t)sprintf(text, "GET / HTTP/1.1\r\nX: ");
    memset(text + n, 'b', big - n);
    text[big] = '\0';
    expect_error(text, 431);

    /* Too many (small) headers. */
    n = (size_t)sprintf(text, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= ADMIN_HTTP_MAX_HEADERS; i++)
        n += (size_t)sprintf(text + n, "A: b\r\n");
    strcpy(text + n, "\r\n");
    expect_error(text, 431);
    free(text);
}
END_TEST

START_TEST(exactly_at_the_bounds)
{
    char *text = malloc(ADMIN_HTTP_MAX_HEAD + 1);
    struct admin_request req;
    size_t n;

    /* A request line of exactly ADMIN_HTTP_MAX_LINE bytes is accepted. */
    n = ADMIN_HTTP_MAX_LINE - strlen("GET / HTTP/1.1") + 1;
    memcpy(text, "GET /", 5);
    memset(text + 5, 'a', n - 1);
    strcpy(text + 5 + n - 1, " HTTP/1.1\r\n\r\n");
    ck_assert_int_eq(parse(text, &req), ADMIN_HTTP_DONE);

    /* A head of exactly ADMIN_HTTP_MAX_HEAD bytes is accepted. */
    n = (size_t)sprintf(text, "GET / HTTP/1.1\r\nX: ");
    memset(text + n, 'c', ADMIN_HTTP_MAX_HEAD - n - 4);
    strcpy(text + ADMIN_HTTP_MAX_HEAD - 4, "\r\n\r\n");
    ck_assert_uint_eq(strlen(text), ADMIN_HTTP_MAX_HEAD);
    ck_assert_int_eq(parse(text, &req), ADMIN_HTTP_DONE);
    ck_assert_uint_eq(req.head_len, ADMIN_HTTP_MAX_HEAD);
    free(text);
}
END_TEST

START_TEST(garbage_never_crashes)
{
    unsigned state = 12345;
    char buf[512];
    struct admin_request req;

    for (int round = 0; round < 20000; round++) {
        size_t len = (size_t)(round % (int)sizeof(buf));
        for (size_t i = 0; i < len; i++) {
            state = state * 1103515245u + 12345u;
            /* Mostly request-like bytes, so deeper states are reached too. */
            static const char alphabet[] = "GET /HTP1.0\r\n: aX";
            buf[i] = (state >> 16) % 4 ? alphabet[(state >> 8) % (sizeof(alphabet) - 1)]
                                       : (char)(state >> 8);
        }
        enum admin_http_result r = admin_http_parse(buf, len, &req);
        if (r == ADMIN_HTTP_DONE) {
            ck_assert_uint_le(req.head_len, len);
            ck_assert(req.path >= buf && req.path + req.path_len <= buf + len);
        } else if (r == ADMIN_HTTP_ERROR) {
            ck_assert(req.status >= 400 && req.status <= 505);
        }
    }
}
END_TEST

START_TEST(reason_phrases)
{
    ck_assert_str_eq(admin_http_reason(404), "Not Found");
    ck_assert_str_eq(admin_http_reason(431), "Request Header Fields Too Large");
    ck_assert_str_eq(admin_http_reason(299), "Error");
}
END_TEST

START_TEST(authorization_is_handed_over)
{
    struct admin_request req;

    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\n\r\n", &req), ADMIN_HTTP_DONE);
    ck_assert_ptr_null(req.authorization);
    ck_assert_int_eq(parse("GET /metrics HTTP/1.1\r\nAUTHORIZATION: \t Bearer abc  \r\n\r\n", &req),
                     ADMIN_HTTP_DONE);
    ck_assert_ptr_nonnull(req.authorization);
    ck_assert_uint_eq(req.authorization_len, 10);
    ck_assert_int_eq(memcmp(req.authorization, "Bearer abc", 10), 0);
    /* Which of two would count is ambiguous: refused. */
    expect_error("GET / HTTP/1.1\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n",
                 400);
    ck_assert_str_eq(admin_http_reason(401), "Unauthorized");
}
END_TEST

static Suite *admin_http_suite(void)
{
    Suite *s = suite_create("admin_http");
    TCase *tc = tcase_create("accept");

    tcase_add_test(tc, simple_get);
    tcase_add_test(tc, query_and_fragment_are_not_path);
    tcase_add_test(tc, incomplete_until_blank_line);
    tcase_add_test(tc, pipelined_head_length);
    tcase_add_test(tc, bare_lf_and_leading_blank_lines);
    tcase_add_test(tc, keep_alive_rules);
    tcase_add_test(tc, zero_content_length_is_fine);
    tcase_add_test(tc, exactly_at_the_bounds);
    tcase_add_test(tc, reason_phrases);
    tcase_add_test(tc, authorization_is_handed_over);
    suite_add_tcase(s, tc);

    tc = tcase_create("refuse");
    tcase_add_test(tc, methods_other_than_get);
    tcase_add_test(tc, malformed_request_lines);
    tcase_add_test(tc, malformed_headers);
    tcase_add_test(tc, bodies_are_refused);
    tcase_add_test(tc, oversized_heads);
    tcase_add_test(tc, garbage_never_crashes);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(admin_http_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

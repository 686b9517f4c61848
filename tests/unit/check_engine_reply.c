/*
 * The metrics GET and the body of its reply: framings an engine uses (a length, chunks, the
 * close) and replies an upstream could send to confuse the scraper.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_reply.h"

/* The body of `text` as a NUL-terminated copy in `out`, or NULL with the reason in `why`. */
static const char *body_of(const char *text, bool eof, char *out, size_t size, const char **why)
{
    char buf[4096];
    char *body;
    size_t n = strlen(text), body_len;

    ck_assert_uint_lt(n, sizeof(buf));
    memcpy(buf, text, n);
    *why = NULL;
    if (!engine_reply_body(buf, n, eof, &body, &body_len, why))
        return NULL;
    ck_assert_uint_lt(body_len, size);
    memcpy(out, body, body_len);
    out[body_len] = '\0';
    return out;
}

START_TEST(request_line_and_host)
{
    char out[512];

    ck_assert_int_gt(engine_reply_request("10.0.0.5", 8000, "/metrics", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "GET /metrics HTTP/1.1\r\nHost: 10.0.0.5:8000\r\nAccept: text/plain\r\n"
                          "User-Agent: llmproxy-agent\r\nConnection: close\r\n\r\n");
    ck_assert_int_gt(engine_reply_request("::1", 80, "/m", out, sizeof(out)), 0);
    ck_assert_ptr_nonnull(strstr(out, "Host: [::1]:80\r\n"));
    /* Nothing that could split the request line or add a header. */
    ck_assert_int_eq(engine_reply_request("a b", 80, "/m", out, sizeof(out)), -1);
    ck_assert_int_eq(engine_reply_request("a", 80, "/m\r\nX: 1", out, sizeof(out)), -1);
    ck_assert_int_eq(engine_reply_request("a", 80, "metrics", out, sizeof(out)), -1);
    ck_assert_int_eq(engine_reply_request("", 80, "/m", out, sizeof(out)), -1);
    ck_assert_int_eq(engine_reply_request("a", 80, "/m", out, 20), -1);
}
END_TEST

START_TEST(content_length_chunked_and_close)
{
    char out[256];
    const char *why;

    ck_assert_str_eq(
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, out, sizeof(out), &why),
        "hello");
    /* Bytes past the length are not the page's. */
    ck_assert_str_eq(
        body_of("HTTP/1.1 200 OK\r\ncontent-length:3\r\n\r\nabcdef", true, out, sizeof(out), &why),
        "abc");
    ck_assert_str_eq(body_of("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "4;ext=1\r\nvllm\r\n1\r\n:\r\n0\r\nX-Trailer: 1\r\n\r\n",
                             false, out, sizeof(out), &why),
                     "vllm:");
    ck_assert_str_eq(body_of("HTTP/1.0 200 OK\r\n\r\nto the close", true, out, sizeof(out), &why),
                     "to the close");
    ck_assert_str_eq(
        body_of("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true, out, sizeof(out), &why), "");
}
END_TEST

START_TEST(replies_that_are_not_a_page)
{
    char out[256];
    const char *why;
    static const struct {
        const char *reply;
        bool eof;
    } bad[] = {
        {"", true},
        {"SSH-2.0-OpenSSH_9.2\r\n", true},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", true},
        {"HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", true},          /* no head end */
        {"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", true}, /* cut */
        {"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\nx", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\nx", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", true},
        {"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
         true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nab\r\n0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX0\r\n\r\n", true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", true},
        {"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n", true}, /* no end */
        {"HTTP/1.1 200 OK\r\n\r\nno length, no close", false},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(!body_of(bad[i].reply, bad[i].eof, out, sizeof(out), &why),
                      "reply %zu was taken", i);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

static Suite *engine_reply_suite(void)
{
    Suite *s = suite_create("engine_reply");
    TCase *tc = tcase_create("engine_reply");

    tcase_add_test(tc, request_line_and_host);
    tcase_add_test(tc, content_length_chunked_and_close);
    tcase_add_test(tc, replies_that_are_not_a_page);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(engine_reply_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

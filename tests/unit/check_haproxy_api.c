/*
 * The runtime-API client: HAProxy's reply split per command, and the client on a real
 * libev loop against a unix socket served by the test itself (absent, answering, silent).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "haproxy_api.h"
#include "util/fake_hapi.h"

/* ---- the reply parser ---- */

START_TEST(test_reply_split_per_command)
{
    /* HAProxy 2.6's reply to six ';'-separated `set server` commands, the fifth refused. */
    static const char reply[] = "\n\n\n\nNo such backend.\n\n\n";
    struct hapi_answer a[6];

    ck_assert_uint_eq(hapi_parse_reply(reply, strlen(reply), 6, a), 6);
    for (int i = 0; i < 6; i++)
        ck_assert_uint_eq(a[i].len, i == 4 ? strlen("No such backend.") : 0);
    ck_assert(memcmp(a[4].text, "No such backend.", a[4].len) == 0);
}
END_TEST

START_TEST(test_reply_multiline_answer)
{
    static const char reply[] = "line one\nline two\n\n\n";
    struct hapi_answer a[2];

    ck_assert_uint_eq(hapi_parse_reply(reply, strlen(reply), 2, a), 2);
    ck_assert_uint_eq(a[0].len, strlen("line one\nline two"));
    ck_assert_uint_eq(a[1].len, 0);
}
END_TEST

START_TEST(test_reply_cut_short)
{
    struct hapi_answer a[3];

    ck_assert_uint_eq(hapi_parse_reply("\n", 1, 3, a), 1);
    ck_assert_uint_eq(hapi_parse_reply("\nPartial answer", 15, 3, a), 1);
    ck_assert_uint_eq(hapi_parse_reply("", 0, 3, a), 0);
    ck_assert_uint_eq(hapi_parse_reply("x\n", 2, 1, a), 0);
}
END_TEST

/* ---- the client on a loop ---- */

struct results {
    size_t n, expected;
    uint64_t cookie[16];
    bool ok[16];
};

static struct ev_loop *test_loop;
static struct fake_hapi fk;
static struct results res;
static struct haproxy_api *h;

static void on_done(void *ctx, uint64_t cookie, bool ok)
{
    struct results *r = ctx;

    ck_assert_uint_lt(r->n, 16);
    r->cookie[r->n] = cookie;
    r->ok[r->n] = ok;
    if (++r->n == r->expected)
        ev_break(test_loop, EVBREAK_ALL);
}

static void on_guard(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* Run the loop until `n` commands completed, or `guard_s` passed. */
static void run_until(size_t n, double guard_s)
{
    ev_timer guard;

    res.expected = n;
    ev_timer_init(&guard, on_guard, guard_s, 0.);
    ev_timer_start(test_loop, &guard);
    ev_run(test_loop, 0);
    ev_timer_stop(test_loop, &guard);
}

static void setup(void)
{
    memset(&res, 0, sizeof(res));
    test_loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(test_loop);
    fake_hapi_init(&fk, test_loop);
    h = hapi_create(test_loop, fk.path, 4, on_done, &res);
    ck_assert_ptr_nonnull(h);
}

static void teardown(void)
{
    hapi_free(h);
    fake_hapi_free(&fk);
    ev_loop_destroy(test_loop);
}

START_TEST(test_submit_refuses_what_haproxy_would_misread)
{
    char long_cmd[HAPI_CMD_MAX + 10];

    memset(long_cmd, 'x', sizeof(long_cmd) - 1);
    long_cmd[sizeof(long_cmd) - 1] = '\0';
    ck_assert(!hapi_submit(h, "", 1));
    ck_assert(!hapi_submit(h, "set server a/b weight 0;shutdown sessions", 1));
    ck_assert(!hapi_submit(h, "set server a/b weight 0\nshow info", 1));
    ck_assert(!hapi_submit(h, long_cmd, 1));
    ck_assert_uint_eq(hapi_pending(h), 0);
    /* The queue holds 4. */
    for (int i = 0; i < 4; i++)
        ck_assert(hapi_submit(h, "show info", (uint64_t)i));
    ck_assert(!hapi_submit(h, "show info", 9));
    ck_assert_uint_eq(hapi_pending(h), 4);
}
END_TEST

START_TEST(test_absent_socket_fails_commands_without_crashing)
{
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 7));
    ck_assert(hapi_submit(h, "set server grp_g/b weight 0", 8));
    run_until(2, 3.0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert(!res.ok[0] && !res.ok[1]);
    ck_assert_uint_eq(res.cookie[0], 7);
    ck_assert_uint_eq(res.cookie[1], 8);
    ck_assert_uint_eq(hapi_pending(h), 0);
}
END_TEST

START_TEST(test_batch_on_one_line_and_answers_per_command)
{
    fk.mode = FAKE_HAPI_ANSWER;
    fk.reply[0] = "\nNo such server.\n\n\n";
    fake_hapi_listen(&fk);
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 1));
    ck_assert(hapi_submit(h, "set server grp_g/zz weight 0", 2));
    ck_assert(hapi_submit(h, "set server grp_g/b weight 100%", 3));
    run_until(3, 3.0);
    ck_assert_uint_eq(res.n, 3);
    ck_assert_str_eq(fk.got, "set server grp_g/a weight 0;set server grp_g/zz weight 0;"
                             "set server grp_g/b weight 100%\n");
    ck_assert_int_eq(fk.connections, 1);
    ck_assert(res.ok[0] && !res.ok[1] && res.ok[2]);
    ck_assert_uint_eq(res.cookie[1], 2);
}
END_TEST

START_TEST(test_short_reply_fails_the_unanswered)
{
    fk.mode = FAKE_HAPI_ANSWER;
    fk.reply[0] = "\n"; /* one answer for two commands */
    fake_hapi_listen(&fk);
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 1));
    ck_assert(hapi_submit(h, "set server grp_g/b weight 0", 2));
    run_until(2, 3.0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert(res.ok[0] && !res.ok[1]);
}
END_TEST

START_TEST(test_silent_haproxy_times_out)
{
    fk.mode = FAKE_HAPI_SILENT;
    fake_hapi_listen(&fk);
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 1));
    run_until(1, HAPI_TIMEOUT_MS / 1000.0 + 2);
    ck_assert_uint_eq(res.n, 1);
    ck_assert(!res.ok[0]);
}
END_TEST

START_TEST(test_retries_after_haproxy_appears)
{
    /* First batch: nobody listens. */
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 1));
    run_until(1, 3.0);
    ck_assert(!res.ok[0]);
    /* HAProxy starts; a command queued during the pause goes out after it. */
    fk.mode = FAKE_HAPI_ANSWER;
    fk.reply[0] = "\n";
    fake_hapi_listen(&fk);
    ck_assert(hapi_submit(h, "set server grp_g/a weight 0", 2));
    run_until(2, HAPI_RETRY_MS / 1000.0 + 2);
    ck_assert_uint_eq(res.n, 2);
    ck_assert(res.ok[1]);
    ck_assert_uint_eq(res.cookie[1], 2);
}
END_TEST

static char streamed[4 * HAPI_REPLY_MAX];
static size_t streamed_len;
static uint64_t streamed_cookies;

static void on_chunk(void *ctx, uint64_t cookie, const char *data, size_t len)
{
    (void)ctx;
    ck_assert_uint_le(streamed_len + len, sizeof(streamed));
    memcpy(streamed + streamed_len, data, len);
    streamed_len += len;
    streamed_cookies |= 1u << cookie;
}

/* `show sess` on a busy HAProxy answers more than any bound the client could keep. */
START_TEST(test_streamed_answers_have_no_size_bound)
{
    static char big[HAPI_REPLY_MAX + HAPI_REPLY_MAX / 2];

    memset(big, 'x', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    streamed_len = 0;
    streamed_cookies = 0;
    fk.mode = FAKE_HAPI_ANSWER;
    fk.reply[0] = big;
    hapi_stream_replies(h, on_chunk);
    fake_hapi_listen(&fk);
    ck_assert(hapi_submit(h, "show sess older 2", 1));
    ck_assert(hapi_submit(h, "shutdown session 0x1", 2));
    run_until(2, 3.0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert(res.ok[0] && res.ok[1]);
    /* One command a connection, each answer whole and to its own command. */
    ck_assert_int_eq(fk.connections, 2);
    ck_assert_uint_eq(streamed_len, 2 * strlen(big));
    ck_assert_uint_eq(streamed_cookies, (1u << 1) | (1u << 2));
}
END_TEST

static Suite *hapi_suite(void)
{
    Suite *s = suite_create("haproxy_api");
    TCase *parse = tcase_create("reply");
    TCase *live = tcase_create("client");

    tcase_add_test(parse, test_reply_split_per_command);
    tcase_add_test(parse, test_reply_multiline_answer);
    tcase_add_test(parse, test_reply_cut_short);
    suite_add_tcase(s, parse);

    tcase_add_checked_fixture(live, setup, teardown);
    tcase_set_timeout(live, 15);
    tcase_add_test(live, test_submit_refuses_what_haproxy_would_misread);
    tcase_add_test(live, test_absent_socket_fails_commands_without_crashing);
    tcase_add_test(live, test_batch_on_one_line_and_answers_per_command);
    tcase_add_test(live, test_short_reply_fails_the_unanswered);
    tcase_add_test(live, test_silent_haproxy_times_out);
    tcase_add_test(live, test_retries_after_haproxy_appears);
    tcase_add_test(live, test_streamed_answers_have_no_size_bound);
    suite_add_tcase(s, live);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(hapi_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

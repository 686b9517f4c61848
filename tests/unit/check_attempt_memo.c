/*
 * attempt_memo: the last attempt of a request, taken once, by id; a fixed table whose
 * slots new requests overwrite.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attempt_memo.h"

static struct attempt_memo memo;

static struct logline_str id(const char *s)
{
    return (struct logline_str){s, strlen(s)};
}

static void setup(void)
{
    attempt_memo_init(&memo, &(struct siphash_key){1, 2});
}

START_TEST(test_last_attempt_taken_once)
{
    struct logline_str a = id("7F000001:E81C_0001"), b = id("7F000001:E81C_0002");
    struct outcome o;
    int status;

    ck_assert(!attempt_memo_take(&memo, &a, &status, &o));
    attempt_memo_put(&memo, &a, 503, (struct outcome){OUTCOME_CONNECT, OUTCOME_BY_SERVER});
    /* A retry's attempt replaces the first: the last one is what the client got. */
    attempt_memo_put(&memo, &a, 504, (struct outcome){OUTCOME_TIMEOUT, OUTCOME_BY_SERVER_TIMEOUT});
    ck_assert(!attempt_memo_take(&memo, &b, &status, &o));
    ck_assert(attempt_memo_take(&memo, &a, &status, &o));
    ck_assert_int_eq(status, 504);
    ck_assert_int_eq(o.cls, OUTCOME_TIMEOUT);
    ck_assert_int_eq(o.by, OUTCOME_BY_SERVER_TIMEOUT);
    ck_assert(!attempt_memo_take(&memo, &a, &status, &o));
}
END_TEST

/* "-" (a listener reached without the id header) and an empty id are nobody's. */
START_TEST(test_no_id_no_memo)
{
    struct logline_str dash = id("-"), empty = id("");
    struct outcome o;
    int status;

    attempt_memo_put(&memo, &dash, 503, (struct outcome){OUTCOME_CONNECT, OUTCOME_BY_SERVER});
    attempt_memo_put(&memo, &empty, 503, (struct outcome){OUTCOME_CONNECT, OUTCOME_BY_SERVER});
    ck_assert(!attempt_memo_take(&memo, &dash, &status, &o));
    ck_assert(!attempt_memo_take(&memo, &empty, &status, &o));
}
END_TEST

/* Many more requests than slots: the memory stays fixed, recent ones are still found, and
 * an id is never answered with another request's attempt. */
START_TEST(test_bounded_and_exact)
{
    enum { N = 4 * ATTEMPT_MEMO_SLOTS };
    char buf[32];
    unsigned found = 0;
    struct outcome o;
    int status;

    for (unsigned i = 0; i < N; i++) {
        struct logline_str s;

        snprintf(buf, sizeof(buf), "req-%u", i);
        s = id(buf);
        attempt_memo_put(&memo, &s, (int)(i % 600), (struct outcome){OUTCOME_CONNECT, 0});
    }
    for (unsigned i = 0; i < N; i++) {
        struct logline_str s;

        snprintf(buf, sizeof(buf), "req-%u", i);
        s = id(buf);
        if (attempt_memo_take(&memo, &s, &status, &o)) {
            ck_assert_int_eq(status, (int)(i % 600));
            found++;
        }
    }
    ck_assert_uint_le(found, ATTEMPT_MEMO_SLOTS);
    ck_assert_uint_gt(found, ATTEMPT_MEMO_SLOTS / 2);
    snprintf(buf, sizeof(buf), "req-%u", N - 1);
    ck_assert(!attempt_memo_take(&memo, &(struct logline_str){buf, strlen(buf)}, &status, &o));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("attempt_memo");
    TCase *tc = tcase_create("memo");
    SRunner *sr;
    int failed;

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_last_attempt_taken_once);
    tcase_add_test(tc, test_no_id_no_memo);
    tcase_add_test(tc, test_bounded_and_exact);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

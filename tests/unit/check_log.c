/*
 * Rate-limited logging (log_every): one line per interval, and a count of the ones held back.
 */
#include <check.h>
#include <stdlib.h>

#include "log.h"

START_TEST(one_line_per_interval)
{
    struct log_every r = LOG_EVERY(1000);
    uint64_t suppressed = 99;

    ck_assert(log_every_due(&r, 5000, &suppressed)); /* the first one always */
    ck_assert_uint_eq(suppressed, 0);
    for (uint64_t t = 5000; t < 6000; t += 10)
        ck_assert(!log_every_due(&r, t, &suppressed));
    ck_assert(log_every_due(&r, 6000, &suppressed));
    ck_assert_uint_eq(suppressed, 100); /* every one held back is counted once */
    ck_assert(!log_every_due(&r, 6999, &suppressed));
    ck_assert(log_every_due(&r, 60000, &suppressed)); /* a quiet spell: due at once */
    ck_assert_uint_eq(suppressed, 1);
    ck_assert(!log_every_due(&r, 60001, &suppressed));
}
END_TEST

START_TEST(a_million_calls_write_a_handful)
{
    struct log_every r = LOG_EVERY(10000);
    uint64_t suppressed, lines = 0, held = 0;

    /* A flood over 4 s of the clock: what made the agent write 1.5 million lines. */
    for (uint64_t i = 0; i < 1000000; i++)
        if (log_every_due(&r, i / 250, &suppressed)) {
            lines++;
            held += suppressed;
        }
    ck_assert_uint_eq(lines, 1);
    ck_assert_uint_eq(r.suppressed, 999999);
    ck_assert_uint_eq(held, 0);
}
END_TEST

START_TEST(log_every_msg_writes_through_the_limit)
{
    struct log_every r = LOG_EVERY(1000);

    log_set_level(LOG_LVL_ERROR); /* filtered out: nothing written, nothing counted */
    log_every_msg(&r, 0, LOG_LVL_WARN, "x %d", 1);
    ck_assert_uint_eq(r.next_ms, 0);
    log_set_level(LOG_LVL_WARN);
    log_every_msg(&r, 0, LOG_LVL_WARN, "x %d", 1);
    log_every_msg(&r, 1, LOG_LVL_WARN, "x %d", 2);
    ck_assert_uint_eq(r.next_ms, 1000);
    ck_assert_uint_eq(r.suppressed, 1);
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("every");

    tcase_add_test(tc, one_line_per_interval);
    tcase_add_test(tc, a_million_calls_write_a_handful);
    tcase_add_test(tc, log_every_msg_writes_through_the_limit);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(log_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

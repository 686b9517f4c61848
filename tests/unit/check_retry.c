/*
 * Unit tests of retry.c: the backoff schedule (contract/backoff.h) and attempt counting
 * per request id, with its TTL and its hard bound.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lrutab.h"
#include "retry.h"

#define TTL_MS 1000

static const struct siphash_key test_seed = {0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL};

static struct retry_table *new_table(uint32_t max_entries)
{
    struct retry_table *rt = retry_create(max_entries, TTL_MS, &test_seed);

    ck_assert_ptr_nonnull(rt);
    return rt;
}

static uint32_t note(struct retry_table *rt, const char *id, uint64_t now_ms)
{
    return retry_note_attempt(rt, id, strlen(id), now_ms);
}

/* ---- backoff ---- */

START_TEST(backoff_doubles)
{
    ck_assert_uint_eq(backoff_delay_ms(500, 0), 0); /* the first attempt waits for nothing */
    ck_assert_uint_eq(backoff_delay_ms(500, 1), 500);
    ck_assert_uint_eq(backoff_delay_ms(500, 2), 1000);
    ck_assert_uint_eq(backoff_delay_ms(500, 3), 2000);
    ck_assert_uint_eq(backoff_delay_ms(10, 10), 5120);
}
END_TEST

START_TEST(backoff_is_capped)
{
    ck_assert_uint_eq(backoff_delay_ms(500, 6), 16000);
    ck_assert_uint_eq(backoff_delay_ms(500, 7), RETRY_BACKOFF_CAP_MS); /* 32000 */
    ck_assert_uint_eq(backoff_delay_ms(30000, 1), 30000);
    ck_assert_uint_eq(backoff_delay_ms(15001, 2), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(60000, 1), RETRY_BACKOFF_CAP_MS); /* initial above cap */
}
END_TEST

START_TEST(backoff_never_overflows)
{
    ck_assert_uint_eq(backoff_delay_ms(1, 15), 16384);
    ck_assert_uint_eq(backoff_delay_ms(1, 16), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(1, 32), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(1, 33), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(1, 64), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(UINT32_MAX, 1), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(UINT32_MAX, UINT32_MAX), RETRY_BACKOFF_CAP_MS);
    ck_assert_uint_eq(backoff_delay_ms(0, 5), 0);
}
END_TEST

START_TEST(backoff_is_monotonic)
{
    static const uint32_t initials[] = {1, 10, 333, 500, 29999, 60000, UINT32_MAX};
    unsigned bad = 0;

    for (size_t i = 0; i < sizeof(initials) / sizeof(initials[0]); i++) {
        uint32_t prev = 0;

        for (uint32_t k = 1; k <= 200; k++) {
            uint32_t d = backoff_delay_ms(initials[i], k);

            bad += d < prev || d > RETRY_BACKOFF_CAP_MS;
            prev = d;
        }
        bad += prev != RETRY_BACKOFF_CAP_MS;
    }
    ck_assert_uint_eq(bad, 0);
}
END_TEST

/* ---- attempts ---- */

START_TEST(attempts_count_per_id)
{
    struct retry_table *rt = new_table(16);
    struct retry_stats st;

    ck_assert_uint_eq(note(rt, "req-1", 0), 1);
    ck_assert_uint_eq(note(rt, "req-1", 10), 2);
    ck_assert_uint_eq(note(rt, "req-1", 20), 3);
    ck_assert_uint_eq(note(rt, "req-2", 30), 1);
    ck_assert_uint_eq(note(rt, "req-1", 40), 4);
    ck_assert_uint_eq(note(rt, "req-2", 50), 2);
    retry_stats(rt, &st);
    ck_assert_uint_eq(lrutab_count(rt->attempts), 2);
    ck_assert_uint_eq(lrutab_capacity(rt->attempts), 16);
    ck_assert_uint_eq(st.evictions, 0);
    retry_destroy(rt);
}
END_TEST

/* Ids are hashed whole: long ids that differ in one late byte stay apart. */
START_TEST(long_ids_are_distinct)
{
    struct retry_table *rt = new_table(16);
    char a[1000], b[1000];

    memset(a, 'x', sizeof(a));
    memcpy(b, a, sizeof(b));
    b[sizeof(b) - 1] = 'y';
    ck_assert_uint_eq(retry_note_attempt(rt, a, sizeof(a), 0), 1);
    ck_assert_uint_eq(retry_note_attempt(rt, b, sizeof(b), 0), 1);
    ck_assert_uint_eq(retry_note_attempt(rt, a, sizeof(a), 0), 2);
    ck_assert_uint_eq(retry_note_attempt(rt, a, sizeof(a) - 1, 0), 1); /* a prefix */
    retry_destroy(rt);
}
END_TEST

/* A repeat after the TTL is a new request, whether or not a sweep ran in between. */
START_TEST(stale_ids_start_again)
{
    struct retry_table *rt = new_table(16);

    ck_assert_uint_eq(note(rt, "a", 0), 1);
    ck_assert_uint_eq(note(rt, "a", 900), 2);
    ck_assert_uint_eq(note(rt, "a", 900 + TTL_MS), 3); /* the TTL counts from the last one */
    ck_assert_uint_eq(note(rt, "a", 900 + 2 * TTL_MS + 1), 1);
    ck_assert_uint_eq(note(rt, "a", 900 + 2 * TTL_MS + 2), 2);

    ck_assert_uint_eq(note(rt, "b", 10000), 1);
    ck_assert_uint_eq(retry_expire(rt, 10000 + TTL_MS + 1000, 100), 2);
    ck_assert_uint_eq(lrutab_count(rt->attempts), 0);
    ck_assert_uint_eq(note(rt, "b", 10000 + TTL_MS + 1000), 1);
    retry_destroy(rt);
}
END_TEST

START_TEST(expiry_is_bounded_per_call)
{
    struct retry_table *rt = new_table(64);
    char id[16];

    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof(id), "id-%d", i);
        note(rt, id, i < 7 ? 0 : 5000);
    }
    ck_assert_uint_eq(retry_expire(rt, 5000, 3), 3);
    ck_assert_uint_eq(retry_expire(rt, 5000, 100), 4);
    ck_assert_uint_eq(retry_expire(rt, 5000, 100), 0);
    ck_assert_uint_eq(note(rt, "id-9", 5001), 2);
    ck_assert_uint_eq(note(rt, "id-0", 5001), 1);
    retry_destroy(rt);
}
END_TEST

START_TEST(table_is_bounded)
{
    struct retry_table *rt = new_table(100);
    struct retry_stats st;
    char id[32];

    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "flood-%d", i);
        note(rt, id, 0);
    }
    retry_stats(rt, &st);
    ck_assert_uint_eq(lrutab_count(rt->attempts), 100);
    ck_assert_uint_eq(st.evictions, 900);
    ck_assert_uint_eq(note(rt, "flood-999", 1), 2);
    ck_assert_uint_eq(note(rt, "flood-0", 1), 1);
    retry_destroy(rt);
}
END_TEST

START_TEST(empty_id_is_always_first)
{
    struct retry_table *rt = new_table(4);

    ck_assert_uint_eq(retry_note_attempt(rt, "", 0, 0), 1);
    ck_assert_uint_eq(retry_note_attempt(rt, NULL, 0, 0), 1);
    ck_assert(!retry_forget(rt, NULL, 0));
    ck_assert_uint_eq(lrutab_count(rt->attempts), 0);
    retry_destroy(rt);
}
END_TEST

START_TEST(forget_releases_an_id)
{
    struct retry_table *rt = new_table(4);

    ck_assert_uint_eq(note(rt, "done", 0), 1);
    ck_assert_uint_eq(note(rt, "done", 1), 2);
    ck_assert(retry_forget(rt, "done", 4));
    ck_assert(!retry_forget(rt, "done", 4));
    ck_assert_uint_eq(note(rt, "done", 2), 1);
    retry_destroy(rt);
}
END_TEST

START_TEST(create_refuses_bad_arguments)
{
    ck_assert_ptr_null(retry_create(0, TTL_MS, &test_seed));
    ck_assert_ptr_null(retry_create(10, TTL_MS, NULL));
    retry_destroy(NULL);
}
END_TEST

static Suite *retry_suite(void)
{
    Suite *s = suite_create("retry");
    TCase *backoff = tcase_create("backoff");
    TCase *attempts = tcase_create("attempts");

    tcase_add_test(backoff, backoff_doubles);
    tcase_add_test(backoff, backoff_is_capped);
    tcase_add_test(backoff, backoff_never_overflows);
    tcase_add_test(backoff, backoff_is_monotonic);
    suite_add_tcase(s, backoff);

    tcase_add_test(attempts, attempts_count_per_id);
    tcase_add_test(attempts, long_ids_are_distinct);
    tcase_add_test(attempts, stale_ids_start_again);
    tcase_add_test(attempts, expiry_is_bounded_per_call);
    tcase_add_test(attempts, table_is_bounded);
    tcase_add_test(attempts, empty_id_is_always_first);
    tcase_add_test(attempts, forget_releases_an_id);
    tcase_add_test(attempts, create_refuses_bad_arguments);
    suite_add_tcase(s, attempts);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(retry_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

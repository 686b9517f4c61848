/*
 * least_load: the order members are compared in, saturation, what changed since the last
 * scrape, members never scraped, ties and unavailable members.
 */
#include <check.h>
#include <stdlib.h>

#include "balance.h"

/* The balancer of a test: least_load over n members with the default limits (5 waiting,
 * KV-cache 0.8), released by the test's teardown. */
static struct balancer tb;

static struct balancer *ll(size_t n)
{
    balancer_free(&tb);
    ck_assert_int_eq(balancer_init(&tb, BAL_LEAST_LOAD, n, NULL, 1), 0);
    return &tb;
}

static void teardown(void)
{
    balancer_free(&tb);
}

static struct bal_candidate engine(double waiting, double running, double kv)
{
    return (struct bal_candidate){
        .available = true, .scraped = true, .waiting = waiting, .running = running, .kv_usage = kv};
}

START_TEST(fewest_waiting_then_cache_then_running)
{
    struct bal_candidate m[3] = {engine(2, 1, 0.1), engine(1, 9, 0.7), engine(3, 0, 0)};
    struct balancer *b = ll(3);

    ck_assert_int_eq(balancer_pick(b, m, 3), 1); /* waiting first */
    m[1].waiting = 2;
    ck_assert_int_eq(balancer_pick(b, m, 3), 0); /* then KV tenths */
    m[1].kv_usage = 0.15;                        /* same tenth as 0.1 */
    ck_assert_int_eq(balancer_pick(b, m, 3), 0); /* then running */
    m[0].running = 20;
    ck_assert_int_eq(balancer_pick(b, m, 3), 1);
}
END_TEST

START_TEST(ties_go_round_robin)
{
    struct bal_candidate m[3] = {engine(0, 0, 0), engine(0, 0, 0), engine(0, 0, 0)};
    struct balancer *b = ll(3);
    int seen[3] = {0};

    for (int i = 0; i < 30; i++)
        seen[balancer_pick(b, m, 3)]++;
    ck_assert_int_eq(seen[0], 10);
    ck_assert_int_eq(seen[1], 10);
    ck_assert_int_eq(seen[2], 10);
}
END_TEST

START_TEST(saturated_members_only_when_all_are)
{
    struct bal_candidate m[2] = {engine(5, 0, 0), engine(4, 50, 0.79)};
    struct balancer *b = ll(2);

    /* 0 is saturated by its queue, so 1 is taken although it runs far more. */
    ck_assert_int_eq(balancer_pick(b, m, 2), 1);
    m[1].kv_usage = 0.8; /* now both are: the usual order decides */
    ck_assert_int_eq(balancer_pick(b, m, 2), 1);
    m[1].waiting = 6;
    ck_assert_int_eq(balancer_pick(b, m, 2), 0);
}
END_TEST

START_TEST(requests_sent_since_the_scrape_count_as_waiting)
{
    struct bal_candidate m[2] = {engine(0, 0, 0), engine(2, 0, 0)};
    struct balancer *b = ll(2);

    m[0].in_flight_at = 3;
    m[0].in_flight = 3; /* nothing new: 0 waiting */
    ck_assert_int_eq(balancer_pick(b, m, 2), 0);
    m[0].in_flight = 6; /* 3 more since: 3 waiting, more than 1's 2 */
    ck_assert_double_eq(balancer_engine_waiting(&m[0]), 3);
    ck_assert_int_eq(balancer_pick(b, m, 2), 1);
    m[0].in_flight = 1; /* fewer than at the scrape: finished ones do not go negative */
    ck_assert_double_eq(balancer_engine_waiting(&m[0]), 0);
}
END_TEST

START_TEST(members_never_scraped_are_judged_by_haproxys_count)
{
    struct bal_candidate m[2] = {{.available = true, .in_flight = 4}, engine(3, 9, 0.5)};
    struct balancer *b = ll(2);

    ck_assert_double_eq(balancer_engine_waiting(&m[0]), 4);
    ck_assert_int_eq(balancer_pick(b, m, 2), 1);
    m[0].in_flight = 2;
    ck_assert_int_eq(balancer_pick(b, m, 2), 0);
    /* Nothing scraped anywhere: least in flight, saturation by count alone. */
    struct bal_candidate u[2] = {{.available = true, .in_flight = 7},
                                 {.available = true, .in_flight = 6}};
    b = ll(2);
    ck_assert_int_eq(balancer_pick(b, u, 2), 1);
}
END_TEST

START_TEST(unavailable_members_are_never_taken)
{
    struct bal_candidate m[3] = {engine(0, 0, 0), engine(9, 9, 0.9), engine(0, 0, 0)};
    struct balancer *b = ll(3);

    m[0].available = m[2].available = false;
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(balancer_pick(b, m, 3), 1);
    m[1].available = false;
    ck_assert_int_eq(balancer_pick(b, m, 3), -1);
    ck_assert_int_eq(balancer_pick(b, m, 0), -1); /* not the balancer's member count */
}
END_TEST

static Suite *least_load_suite(void)
{
    Suite *s = suite_create("least_load");
    TCase *tc = tcase_create("least_load");

    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, fewest_waiting_then_cache_then_running);
    tcase_add_test(tc, ties_go_round_robin);
    tcase_add_test(tc, saturated_members_only_when_all_are);
    tcase_add_test(tc, requests_sent_since_the_scrape_count_as_waiting);
    tcase_add_test(tc, members_never_scraped_are_judged_by_haproxys_count);
    tcase_add_test(tc, unavailable_members_are_never_taken);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(least_load_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

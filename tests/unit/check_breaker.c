/*
 * Circuit breaker: state machine and outcome window on an injected clock.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "breaker.h"

#define COOLDOWN_MS      30000u
#define PROBE_TIMEOUT_MS 5000u
#define MAX_TRANSITIONS  16

/* Records every transition reported by a breaker, in order. */
struct transitions {
    size_t n;
    enum breaker_state from[MAX_TRANSITIONS];
    enum breaker_state to[MAX_TRANSITIONS];
};

static void record_transition(void *ctx, enum breaker_state from, enum breaker_state to)
{
    struct transitions *t = ctx;

    ck_assert_uint_lt(t->n, MAX_TRANSITIONS);
    t->from[t->n] = from;
    t->to[t->n] = to;
    t->n++;
}

static void init_enabled(struct breaker *b, double threshold, struct transitions *t)
{
    breaker_init(b, true, threshold, COOLDOWN_MS, PROBE_TIMEOUT_MS, t ? record_transition : NULL,
                 t);
}

static void record_many(struct breaker *b, uint64_t now_ms, bool success, int count)
{
    for (int i = 0; i < count; i++)
        breaker_record(b, now_ms, success);
}

/* Five failures at `now_ms` open a breaker of threshold 0.5. */
static void trip(struct breaker *b, uint64_t now_ms)
{
    record_many(b, now_ms, false, BREAKER_MIN_ATTEMPTS);
    ck_assert_int_eq(breaker_state(b, now_ms), BREAKER_OPEN);
}

START_TEST(test_no_trip_below_min_attempts)
{
    struct breaker b;

    init_enabled(&b, 0.5, NULL);
    record_many(&b, 0, false, BREAKER_MIN_ATTEMPTS - 1);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    ck_assert(breaker_available(&b, 0));
    breaker_record(&b, 0, false);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);
    ck_assert(!breaker_available(&b, 0));
}
END_TEST

START_TEST(test_trips_at_exact_threshold)
{
    struct breaker b;

    init_enabled(&b, 0.5, NULL);
    record_many(&b, 0, true, 3);
    record_many(&b, 0, false, 2); /* 2/5 = 0.4 < 0.5 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    breaker_record(&b, 0, false); /* 3/6 = 0.5 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);

    init_enabled(&b, 0.6, NULL);
    record_many(&b, 0, true, 3);
    record_many(&b, 0, false, 3); /* 3/6 = 0.5 < 0.6 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    breaker_record(&b, 0, false); /* 4/7 ~ 0.571 < 0.6 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    breaker_record(&b, 0, false); /* 5/8 = 0.625 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);
}
END_TEST

START_TEST(test_threshold_decimal_exact)
{
    struct breaker b;

    init_enabled(&b, 0.3, NULL);
    record_many(&b, 0, true, 7);
    record_many(&b, 0, false, 2); /* 2/9 ~ 0.222 */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    breaker_record(&b, 0, false); /* 3/10 = 0.3 exactly */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);
}
END_TEST

START_TEST(test_success_never_trips)
{
    struct breaker b;

    init_enabled(&b, 0.5, NULL);
    record_many(&b, 0, false, 4);
    record_many(&b, 0, true, 2); /* 4/6 >= 0.5, but only a failure is judged */
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    breaker_record(&b, 0, false);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);
}
END_TEST

START_TEST(test_stays_open_until_cooldown)
{
    struct breaker b;
    const uint64_t t0 = 1000;

    init_enabled(&b, 0.5, NULL);
    trip(&b, t0);
    ck_assert_uint_eq(breaker_retry_after_s(&b, t0), COOLDOWN_MS / 1000);
    ck_assert_uint_eq(breaker_retry_after_s(&b, t0 + 1), COOLDOWN_MS / 1000);
    ck_assert_uint_eq(breaker_retry_after_s(&b, t0 + 1000), COOLDOWN_MS / 1000 - 1);
    ck_assert(!breaker_available(&b, t0 + COOLDOWN_MS - 1));
    ck_assert_int_eq(breaker_state(&b, t0 + COOLDOWN_MS - 1), BREAKER_OPEN);
    ck_assert_uint_eq(breaker_retry_after_s(&b, t0 + COOLDOWN_MS - 1), 1);
    ck_assert(breaker_available(&b, t0 + COOLDOWN_MS));
    ck_assert_int_eq(breaker_state(&b, t0 + COOLDOWN_MS), BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_retry_after_rounds_up)
{
    struct breaker b;

    breaker_init(&b, true, 0.5, 2500, PROBE_TIMEOUT_MS, NULL, NULL);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 0), 1); /* closed */
    trip(&b, 0);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 0), 3);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 500), 2);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 501), 2);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 1501), 1);
    ck_assert_uint_eq(breaker_retry_after_s(&b, 2500), 1); /* half-open now */
}
END_TEST

START_TEST(test_half_open_single_probe)
{
    struct breaker b;
    const uint64_t t = COOLDOWN_MS;

    init_enabled(&b, 0.5, NULL);
    trip(&b, 0);
    ck_assert(breaker_available(&b, t));
    breaker_on_pick(&b, t);
    ck_assert(!breaker_available(&b, t));
    ck_assert(!breaker_available(&b, t + 100));
    ck_assert_int_eq(breaker_state(&b, t + 100), BREAKER_HALF_OPEN);
    /* A second pick while the probe is out takes nothing and frees nothing. */
    breaker_on_pick(&b, t + 200);
    ck_assert(!breaker_available(&b, t + 200));
}
END_TEST

START_TEST(test_probe_success_closes_and_resets_window)
{
    struct breaker b;
    const uint64_t t = COOLDOWN_MS;
    uint64_t attempts, failures;

    init_enabled(&b, 0.5, NULL);
    trip(&b, t - 100); /* failures stay inside the 10 s window of t */
    ck_assert(breaker_available(&b, t - 100 + COOLDOWN_MS));
    breaker_on_pick(&b, t - 100 + COOLDOWN_MS);
    breaker_record(&b, t - 100 + COOLDOWN_MS, true);
    ck_assert_int_eq(breaker_state(&b, t - 100 + COOLDOWN_MS), BREAKER_CLOSED);
    breaker_window_counts(&b, t - 100 + COOLDOWN_MS, &attempts, &failures);
    ck_assert_uint_eq(attempts, 0);
    ck_assert_uint_eq(failures, 0);
    ck_assert(breaker_success_rate(&b, t - 100 + COOLDOWN_MS) == 1.0);
}
END_TEST

START_TEST(test_closed_after_probe_needs_fresh_evidence)
{
    struct breaker b;

    /* Short cooldown so the old failures would still be in the window without a reset. */
    breaker_init(&b, true, 0.5, 1000, PROBE_TIMEOUT_MS, NULL, NULL);
    trip(&b, 0);
    breaker_on_pick(&b, 1000);
    breaker_record(&b, 1000, true);
    ck_assert_int_eq(breaker_state(&b, 1000), BREAKER_CLOSED);
    record_many(&b, 1000, false, BREAKER_MIN_ATTEMPTS - 1);
    ck_assert_int_eq(breaker_state(&b, 1000), BREAKER_CLOSED);
    breaker_record(&b, 1000, false);
    ck_assert_int_eq(breaker_state(&b, 1000), BREAKER_OPEN);
}
END_TEST

START_TEST(test_probe_failure_reopens_with_fresh_cooldown)
{
    struct breaker b;
    const uint64_t probe_at = COOLDOWN_MS + 7000;

    init_enabled(&b, 0.5, NULL);
    trip(&b, 0);
    ck_assert(breaker_available(&b, probe_at));
    breaker_on_pick(&b, probe_at);
    breaker_record(&b, probe_at + 400, false);
    ck_assert_int_eq(breaker_state(&b, probe_at + 400), BREAKER_OPEN);
    ck_assert(!breaker_available(&b, probe_at + 400));
    ck_assert_uint_eq(breaker_retry_after_s(&b, probe_at + 400), COOLDOWN_MS / 1000);
    ck_assert(!breaker_available(&b, probe_at + 400 + COOLDOWN_MS - 1));
    ck_assert(breaker_available(&b, probe_at + 400 + COOLDOWN_MS));
    ck_assert_int_eq(breaker_state(&b, probe_at + 400 + COOLDOWN_MS), BREAKER_HALF_OPEN);
}
END_TEST

START_TEST(test_probe_slot_frees_after_timeout)
{
    struct breaker b;
    const uint64_t t = COOLDOWN_MS;

    init_enabled(&b, 0.5, NULL);
    trip(&b, 0);
    breaker_on_pick(&b, t);
    ck_assert(!breaker_available(&b, t + PROBE_TIMEOUT_MS - 1));
    ck_assert(breaker_available(&b, t + PROBE_TIMEOUT_MS));
    ck_assert_int_eq(breaker_state(&b, t + PROBE_TIMEOUT_MS), BREAKER_HALF_OPEN);
    /* The freed slot is one slot again. */
    breaker_on_pick(&b, t + PROBE_TIMEOUT_MS);
    ck_assert(!breaker_available(&b, t + PROBE_TIMEOUT_MS + 1));
}
END_TEST

START_TEST(test_window_forgets_old_outcomes)
{
    struct breaker b;
    uint64_t attempts, failures;

    init_enabled(&b, 0.5, NULL);
    record_many(&b, 0, false, BREAKER_MIN_ATTEMPTS - 1);
    breaker_window_counts(&b, 9999, &attempts, &failures);
    ck_assert_uint_eq(attempts, BREAKER_MIN_ATTEMPTS - 1);
    breaker_window_counts(&b, 10000, &attempts, &failures);
    ck_assert_uint_eq(attempts, 0);
    breaker_record(&b, 10000, false);
    ck_assert_int_eq(breaker_state(&b, 10000), BREAKER_CLOSED);
    breaker_window_counts(&b, 10000, &attempts, &failures);
    ck_assert_uint_eq(attempts, 1);
    ck_assert_uint_eq(failures, 1);

    /* The same failures one millisecond earlier are still inside the window. */
    init_enabled(&b, 0.5, NULL);
    record_many(&b, 0, false, BREAKER_MIN_ATTEMPTS - 1);
    breaker_record(&b, 9999, false);
    ck_assert_int_eq(breaker_state(&b, 9999), BREAKER_OPEN);
}
END_TEST

START_TEST(test_window_spans_buckets)
{
    struct breaker b;
    uint64_t attempts, failures;

    init_enabled(&b, 0.9, NULL);
    for (uint64_t s = 0; s < 20; s++)
        breaker_record(&b, s * 1000 + 500, s % 2 == 0);
    /* At 19.5 s the live seconds are 10..19: five successes, five failures. */
    breaker_window_counts(&b, 19500, &attempts, &failures);
    ck_assert_uint_eq(attempts, 10);
    ck_assert_uint_eq(failures, 5);
    ck_assert(fabs(breaker_success_rate(&b, 19500) - 0.5) < 1e-12);
    ck_assert_int_eq(breaker_state(&b, 19500), BREAKER_CLOSED);
}
END_TEST

START_TEST(test_transitions_and_counters)
{
    struct breaker b;
    struct transitions t = {0};
    const struct breaker_counters *k;

    init_enabled(&b, 0.5, &t);
    trip(&b, 0);           /* closed -> open */
    breaker_on_reject(&b); /* a request that would have gone here */
    breaker_on_reject(&b);
    ck_assert(breaker_available(&b, COOLDOWN_MS)); /* open -> half_open */
    breaker_on_pick(&b, COOLDOWN_MS);
    breaker_record(&b, COOLDOWN_MS, false);            /* half_open -> open */
    ck_assert(breaker_available(&b, 2 * COOLDOWN_MS)); /* open -> half_open */
    breaker_on_pick(&b, 2 * COOLDOWN_MS);
    breaker_record(&b, 2 * COOLDOWN_MS, true); /* half_open -> closed */

    ck_assert_uint_eq(t.n, 5);
    ck_assert_int_eq(t.from[0], BREAKER_CLOSED);
    ck_assert_int_eq(t.to[0], BREAKER_OPEN);
    ck_assert_int_eq(t.from[1], BREAKER_OPEN);
    ck_assert_int_eq(t.to[1], BREAKER_HALF_OPEN);
    ck_assert_int_eq(t.from[2], BREAKER_HALF_OPEN);
    ck_assert_int_eq(t.to[2], BREAKER_OPEN);
    ck_assert_int_eq(t.from[3], BREAKER_OPEN);
    ck_assert_int_eq(t.to[3], BREAKER_HALF_OPEN);
    ck_assert_int_eq(t.from[4], BREAKER_HALF_OPEN);
    ck_assert_int_eq(t.to[4], BREAKER_CLOSED);

    k = breaker_counters(&b);
    ck_assert_uint_eq(k->opened, 2);
    ck_assert_uint_eq(k->half_opened, 2);
    ck_assert_uint_eq(k->closed, 1);
    ck_assert_uint_eq(k->success, 1);
    ck_assert_uint_eq(k->failure, BREAKER_MIN_ATTEMPTS + 1);
    ck_assert_uint_eq(k->rejected, 2);
}
END_TEST

START_TEST(test_late_outcomes_while_open)
{
    struct breaker b;
    struct transitions t = {0};

    init_enabled(&b, 0.5, &t);
    trip(&b, 0);
    record_many(&b, 100, true, 3);
    breaker_record(&b, 200, false);
    ck_assert_int_eq(breaker_state(&b, 200), BREAKER_OPEN);
    ck_assert_uint_eq(t.n, 1);
    ck_assert_uint_eq(breaker_counters(&b)->success, 3);
    ck_assert_uint_eq(breaker_counters(&b)->failure, BREAKER_MIN_ATTEMPTS + 1);
    /* The cooldown is not extended by late failures. */
    ck_assert(breaker_available(&b, COOLDOWN_MS));
}
END_TEST

START_TEST(test_success_rate)
{
    struct breaker b;

    init_enabled(&b, 1.0, NULL);
    ck_assert(breaker_success_rate(&b, 0) == 1.0);
    record_many(&b, 0, true, 3);
    breaker_record(&b, 0, false);
    ck_assert(fabs(breaker_success_rate(&b, 0) - 0.75) < 1e-12);

    breaker_init(&b, false, 0.5, COOLDOWN_MS, PROBE_TIMEOUT_MS, NULL, NULL);
    record_many(&b, 0, false, 50);
    ck_assert(fabs(breaker_success_rate(&b, 0) - BREAKER_SUCCESS_RATE_MIN) < 1e-12);
    ck_assert(breaker_success_rate(&b, 10000) == 1.0);
}
END_TEST

START_TEST(test_disabled_breaker)
{
    struct breaker b;
    struct transitions t = {0};
    uint64_t attempts, failures;

    breaker_init(&b, false, 0.5, COOLDOWN_MS, PROBE_TIMEOUT_MS, record_transition, &t);
    record_many(&b, 0, false, 20);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
    ck_assert(breaker_available(&b, 0));
    breaker_on_pick(&b, 0);
    ck_assert(breaker_available(&b, 0));
    ck_assert_uint_eq(t.n, 0);
    ck_assert_uint_eq(breaker_counters(&b)->failure, 20);
    ck_assert_uint_eq(breaker_counters(&b)->opened, 0);
    breaker_window_counts(&b, 0, &attempts, &failures);
    ck_assert_uint_eq(attempts, 20);
    ck_assert_uint_eq(failures, 20);
}
END_TEST

START_TEST(test_reconfigure_keeps_state)
{
    struct breaker b;
    struct transitions t = {0};

    init_enabled(&b, 0.5, &t);
    trip(&b, 0);
    breaker_reconfigure(&b, true, 0.5, 60000, PROBE_TIMEOUT_MS);
    ck_assert_int_eq(breaker_state(&b, 100), BREAKER_OPEN);
    ck_assert_uint_eq(breaker_counters(&b)->failure, BREAKER_MIN_ATTEMPTS);

    breaker_reconfigure(&b, false, 0.5, 60000, PROBE_TIMEOUT_MS);
    ck_assert_int_eq(breaker_state(&b, 100), BREAKER_CLOSED);
    ck_assert(breaker_available(&b, 100));
    ck_assert_uint_eq(t.n, 2);
    ck_assert_int_eq(t.from[1], BREAKER_OPEN);
    ck_assert_int_eq(t.to[1], BREAKER_CLOSED);
}
END_TEST

START_TEST(test_bad_threshold_is_clamped)
{
    struct breaker b;

    /* NaN would never compare true; it becomes the most sensitive allowed threshold. */
    breaker_init(&b, true, NAN, COOLDOWN_MS, PROBE_TIMEOUT_MS, NULL, NULL);
    ck_assert(b.threshold == BREAKER_THRESHOLD_MIN);
    record_many(&b, 0, true, BREAKER_MIN_ATTEMPTS - 1);
    breaker_record(&b, 0, false);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_OPEN);

    breaker_init(&b, true, 7.0, COOLDOWN_MS, PROBE_TIMEOUT_MS, NULL, NULL);
    ck_assert(b.threshold == BREAKER_THRESHOLD_MAX);
    record_many(&b, 0, true, 1);
    record_many(&b, 0, false, 10);
    ck_assert_int_eq(breaker_state(&b, 0), BREAKER_CLOSED);
}
END_TEST

START_TEST(test_state_names)
{
    ck_assert_str_eq(breaker_state_name(BREAKER_CLOSED), "closed");
    ck_assert_str_eq(breaker_state_name(BREAKER_OPEN), "open");
    ck_assert_str_eq(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
    ck_assert_str_eq(breaker_state_name((enum breaker_state)42), "unknown");
}
END_TEST

static Suite *breaker_suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *trip_case = tcase_create("trip");
    TCase *recover = tcase_create("recover");
    TCase *window = tcase_create("window");
    TCase *misc = tcase_create("misc");

    tcase_add_test(trip_case, test_no_trip_below_min_attempts);
    tcase_add_test(trip_case, test_trips_at_exact_threshold);
    tcase_add_test(trip_case, test_threshold_decimal_exact);
    tcase_add_test(trip_case, test_success_never_trips);
    tcase_add_test(trip_case, test_stays_open_until_cooldown);
    tcase_add_test(trip_case, test_retry_after_rounds_up);
    suite_add_tcase(s, trip_case);

    tcase_add_test(recover, test_half_open_single_probe);
    tcase_add_test(recover, test_probe_success_closes_and_resets_window);
    tcase_add_test(recover, test_closed_after_probe_needs_fresh_evidence);
    tcase_add_test(recover, test_probe_failure_reopens_with_fresh_cooldown);
    tcase_add_test(recover, test_probe_slot_frees_after_timeout);
    suite_add_tcase(s, recover);

    tcase_add_test(window, test_window_forgets_old_outcomes);
    tcase_add_test(window, test_window_spans_buckets);
    tcase_add_test(window, test_success_rate);
    suite_add_tcase(s, window);

    tcase_add_test(misc, test_transitions_and_counters);
    tcase_add_test(misc, test_late_outcomes_while_open);
    tcase_add_test(misc, test_disabled_breaker);
    tcase_add_test(misc, test_reconfigure_keeps_state);
    tcase_add_test(misc, test_bad_threshold_is_clamped);
    tcase_add_test(misc, test_state_names);
    suite_add_tcase(s, misc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(breaker_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

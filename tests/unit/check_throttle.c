/*
 * Upstream throttling: Retry-After, durations, HTTP dates, cooldowns and budgets on an
 * injected clock, from the hex fields a log line carries.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logline.h"
#include "throttle.h"

/* 2026-12-04 16:00:00 UTC, the wall clock of these tests. */
#define WALL_MS (1796400000LL * 1000)

static const struct conf_throttle conf = {
    .retry_after_default_s = 5,
    .retry_after_max_s = 300,
    .min_remaining_requests = 0,
    .min_remaining_tokens = 0,
};

/* The THROTTLE fields for header values (NULL: absent), hex-encoded as HAProxy logs them. */
struct fields {
    char hex[LOGLINE_TH_N][2 * LOGLINE_THROTTLE_MAX_BYTES + 1];
    struct logline_str f[LOGLINE_TH_N];
};

static const struct logline_str *fields_of(struct fields *fs,
                                           const char *const values[LOGLINE_TH_N])
{
    for (size_t i = 0; i < LOGLINE_TH_N; i++) {
        size_t n = values[i] ? strlen(values[i]) : 0;
        if (n > LOGLINE_THROTTLE_MAX_BYTES)
            n = LOGLINE_THROTTLE_MAX_BYTES; /* bytes(0,64) */
        for (size_t k = 0; k < n; k++)
            snprintf(fs->hex[i] + 2 * k, 3, "%02X", (unsigned char)values[i][k]);
        fs->f[i] = (struct logline_str){fs->hex[i], 2 * n};
    }
    return fs->f;
}

static uint64_t cooldown(const char *retry_after, const char *retry_after_ms)
{
    struct fields fs;
    const char *v[LOGLINE_TH_N] = {retry_after, retry_after_ms};

    return throttle_cooldown_ms(&conf, fields_of(&fs, v), WALL_MS);
}

START_TEST(test_retry_after_seconds)
{
    ck_assert_uint_eq(cooldown("2", NULL), 2000);
    ck_assert_uint_eq(cooldown(" 7 ", NULL), 7000);
    ck_assert_uint_eq(cooldown("0", NULL), 0);
    ck_assert_uint_eq(cooldown(NULL, NULL), 5000); /* the default */
}
END_TEST

START_TEST(test_retry_after_ms_wins)
{
    ck_assert_uint_eq(cooldown("2", "1500"), 1500);
    ck_assert_uint_eq(cooldown(NULL, "20"), 20);
    ck_assert_uint_eq(cooldown("3", "abc"), 3000); /* unreadable ms: the seconds */
    ck_assert_uint_eq(cooldown(NULL, "99999999999"), 300000);
}
END_TEST

START_TEST(test_retry_after_hostile)
{
    char big[200];

    memset(big, '9', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_assert_uint_eq(cooldown("99999999", NULL), 300000); /* capped */
    ck_assert_uint_eq(cooldown(big, NULL), 300000);        /* 64 digits logged: still capped */
    ck_assert_uint_eq(cooldown("-5", NULL), 5000);
    ck_assert_uint_eq(cooldown("NaN", NULL), 5000);
    ck_assert_uint_eq(cooldown("1.5", NULL), 5000);
    ck_assert_uint_eq(cooldown("2 \"x\" y", NULL), 5000);
    ck_assert_uint_eq(cooldown("", NULL), 5000);
    ck_assert_uint_eq(cooldown(NULL, "-1"), 5000);
}
END_TEST

START_TEST(test_retry_after_date)
{
    /* 16:00:30 on the test's day: 30 s on. */
    ck_assert_uint_eq(cooldown("Fri, 04 Dec 2026 16:00:30 GMT", NULL), 30000);
    /* In the past, or now: no answer, the default. */
    ck_assert_uint_eq(cooldown("Fri, 04 Dec 2026 15:00:00 GMT", NULL), 5000);
    ck_assert_uint_eq(cooldown("Sun, 06 Nov 1994 08:49:37 GMT", NULL), 5000);
    /* Far future: capped. */
    ck_assert_uint_eq(cooldown("Fri, 31 Dec 9999 23:59:59 GMT", NULL), 300000);
    /* Not an IMF-fixdate. */
    ck_assert_uint_eq(cooldown("Fri, 04 Dec 2026 16:00:30 UTC", NULL), 5000);
    ck_assert_uint_eq(cooldown("Xyz, 04 Dec 2026 16:00:30 GMT", NULL), 5000);
    ck_assert_uint_eq(cooldown("Fri, 04 Dec 2026 25:00:30 GMT", NULL), 5000);
}
END_TEST

START_TEST(test_http_date)
{
    int64_t t;

    ck_assert(throttle_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", 29, &t));
    ck_assert_int_eq(t, 784111777);
    ck_assert(throttle_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", 29, &t));
    ck_assert_int_eq(t, 0);
    ck_assert(!throttle_parse_http_date("Sun, 06 Nov 1994 08:49:37 GM", 28, &t));
}
END_TEST

/* Readable durations, and what each reads as. */
static const struct {
    const char *text;
    uint64_t ms;
} durations[] = {
    {"1s", 1000},   {"6m0s", 360000}, {"20ms", 20},
    {"1.5s", 1500}, {"2", 2000},      {"1h2m3.25s", 3723250},
};

/* Unreadable ones: empty, signed, a unit alone, a trailing number, an unknown unit, no
 * digits, an overflow, and one above the cap given. */
static const char *const bad_durations[] = {
    "", "-1s", "s", "1s2", "1x", ".s", "99999999999999999999h",
};

START_TEST(test_durations)
{
    uint64_t ms;

    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        ck_assert_msg(
            throttle_parse_duration(durations[i].text, strlen(durations[i].text), UINT64_MAX, &ms),
            "%s", durations[i].text);
        ck_assert_uint_eq(ms, durations[i].ms);
    }
    for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++)
        ck_assert_msg(
            !throttle_parse_duration(bad_durations[i], strlen(bad_durations[i]), UINT64_MAX, &ms),
            "%s", bad_durations[i]);
    ck_assert(!throttle_parse_duration("10m", 3, 300000, &ms));
}
END_TEST

START_TEST(test_cooldown_and_expiry)
{
    struct throttle t = {0};
    struct fields fs;
    const char *v[LOGLINE_TH_N] = {"2"};
    const struct logline_str *f = fields_of(&fs, v);

    ck_assert(!throttle_cooling(&t, 1000));
    throttle_on_429(&t, &conf, f, 1000, WALL_MS);
    ck_assert_uint_eq(t.throttled, 1);
    ck_assert(throttle_cooling(&t, 1000));
    ck_assert(throttle_cooling(&t, 2999));
    ck_assert_uint_eq(throttle_cooldown_left_ms(&t, 2500), 500);
    ck_assert(!throttle_cooling(&t, 3000));
    ck_assert_uint_eq(throttle_cooldown_left_ms(&t, 3000), 0);
    /* A later, shorter answer does not cut a longer wait short. */
    v[0] = "10";
    throttle_on_429(&t, &conf, fields_of(&fs, v), 1000, WALL_MS);
    v[0] = "1";
    throttle_on_429(&t, &conf, fields_of(&fs, v), 1100, WALL_MS);
    ck_assert(throttle_cooling(&t, 10999));
    ck_assert(!throttle_cooling(&t, 11000));
}
END_TEST

START_TEST(test_budget)
{
    struct throttle t = {0};
    struct fields fs;
    const char *v[LOGLINE_TH_N] = {NULL};

    /* No budget header: nothing known. */
    throttle_on_response(&t, &conf, fields_of(&fs, v), 0);
    ck_assert(!t.has_remaining_requests && !throttle_low(&t, 0));
    v[LOGLINE_TH_REMAINING_REQUESTS] = "10";
    v[LOGLINE_TH_REMAINING_TOKENS] = "5000";
    throttle_on_response(&t, &conf, fields_of(&fs, v), 0);
    ck_assert(t.has_remaining_requests && t.has_remaining_tokens);
    ck_assert_uint_eq(t.remaining_requests, 10);
    ck_assert(!throttle_low(&t, 0));
    v[LOGLINE_TH_REMAINING_REQUESTS] = "0";
    v[LOGLINE_TH_RESET_REQUESTS] = "2s";
    throttle_on_response(&t, &conf, fields_of(&fs, v), 1000);
    ck_assert(throttle_low(&t, 2999));
    ck_assert(!throttle_low(&t, 3000));
    /* Tokens low too, resetting later: the later one counts. */
    v[LOGLINE_TH_REMAINING_TOKENS] = "0";
    v[LOGLINE_TH_RESET_TOKENS] = "6m0s";
    throttle_on_response(&t, &conf, fields_of(&fs, v), 1000);
    ck_assert(throttle_low(&t, 300000));
    /* Budget back: low no more. */
    v[LOGLINE_TH_REMAINING_REQUESTS] = "7";
    v[LOGLINE_TH_REMAINING_TOKENS] = "9";
    throttle_on_response(&t, &conf, fields_of(&fs, v), 2000);
    ck_assert(!throttle_low(&t, 2000));
    /* Hostile values change nothing known. */
    v[LOGLINE_TH_REMAINING_REQUESTS] = "-1";
    v[LOGLINE_TH_REMAINING_TOKENS] = "NaN";
    throttle_on_response(&t, &conf, fields_of(&fs, v), 2000);
    ck_assert_uint_eq(t.remaining_requests, 7);
    ck_assert(!throttle_low(&t, 2000));
    /* A low budget with an unreadable reset: the default wait. */
    v[LOGLINE_TH_REMAINING_REQUESTS] = "0";
    v[LOGLINE_TH_RESET_REQUESTS] = "soon";
    v[LOGLINE_TH_REMAINING_TOKENS] = NULL;
    throttle_on_response(&t, &conf, fields_of(&fs, v), 0);
    ck_assert(throttle_low(&t, 4999));
    ck_assert(!throttle_low(&t, 5000));
}
END_TEST

START_TEST(test_unhex)
{
    char out[4];
    struct logline_str odd = {"414", 3}, bad = {"4G", 2}, big = {"4142434445", 10};
    struct logline_str ok = {"4142", 4};

    ck_assert_int_eq(throttle_unhex(&odd, out, sizeof(out)), -1);
    ck_assert_int_eq(throttle_unhex(&bad, out, sizeof(out)), -1);
    ck_assert_int_eq(throttle_unhex(&big, out, sizeof(out)), -1);
    ck_assert_int_eq(throttle_unhex(&ok, out, sizeof(out)), 2);
    ck_assert(memcmp(out, "AB", 2) == 0);
}
END_TEST

static Suite *throttle_suite(void)
{
    Suite *s = suite_create("throttle");
    TCase *parse = tcase_create("parse"), *state = tcase_create("state");

    tcase_add_test(parse, test_retry_after_seconds);
    tcase_add_test(parse, test_retry_after_ms_wins);
    tcase_add_test(parse, test_retry_after_hostile);
    tcase_add_test(parse, test_retry_after_date);
    tcase_add_test(parse, test_http_date);
    tcase_add_test(parse, test_durations);
    tcase_add_test(parse, test_unhex);
    suite_add_tcase(s, parse);
    tcase_add_test(state, test_cooldown_and_expiry);
    tcase_add_test(state, test_budget);
    suite_add_tcase(s, state);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(throttle_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

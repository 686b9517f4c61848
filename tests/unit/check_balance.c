/*
 * Balancing strategies and the response-time EMA.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"
#include "ema.h"

#define MAX_N 8

/* Candidates that are all available and unremarkable: measured, 100 ms, idle, healthy. */
static void healthy(struct bal_candidate *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        c[i] = (struct bal_candidate){
            .available = true,
            .measured = true,
            .ema_ms = 100.0,
            .in_flight = 0,
            .success_rate = 1.0,
        };
    }
}

static void init_ok(struct balancer *b, enum balance_strategy s, size_t n, const uint32_t *w,
                    uint64_t seed)
{
    ck_assert_int_eq(balancer_init(b, s, n, w, seed), 0);
}

/* Pick `len` times with unchanged candidates and compare with `want` (letters a, b, ...). */
static void assert_sequence(struct balancer *b, const struct bal_candidate *c, size_t n,
                            const char *want)
{
    for (size_t i = 0; want[i]; i++) {
        int got = balancer_pick(b, c, n);

        ck_assert_msg(got == want[i] - 'a', "pick %zu: got %d, want %c", i, got, want[i]);
    }
}

START_TEST(test_rr_sequence)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    init_ok(&b, BAL_ROUNDROBIN, 3, NULL, 0);
    assert_sequence(&b, c, 3, "abcabcabc");
    balancer_free(&b);
}
END_TEST

START_TEST(test_rr_skips_unavailable)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    init_ok(&b, BAL_ROUNDROBIN, 3, NULL, 0);
    c[1].available = false;
    /* Fair between the two left: b's turn is not inherited by c twice. */
    assert_sequence(&b, c, 3, "acacac");
    c[1].available = true;
    assert_sequence(&b, c, 3, "abcab");
    balancer_free(&b);
}
END_TEST

START_TEST(test_wrr_5_1_1)
{
    struct balancer b;
    struct bal_candidate c[3];
    const uint32_t w[3] = {5, 1, 1};

    healthy(c, 3);
    init_ok(&b, BAL_WEIGHTED_ROUNDROBIN, 3, w, 0);
    assert_sequence(&b, c, 3,
                    "aabacaa"
                    "aabacaa"
                    "aabacaa");
    balancer_free(&b);
}
END_TEST

START_TEST(test_wrr_1_2_3)
{
    struct balancer b;
    struct bal_candidate c[3];
    const uint32_t w[3] = {1, 2, 3};
    unsigned count[3] = {0};

    healthy(c, 3);
    init_ok(&b, BAL_WEIGHTED_ROUNDROBIN, 3, w, 0);
    assert_sequence(&b, c, 3,
                    "cbacbc"
                    "cbacbc");
    for (int i = 0; i < 6 * 100; i++)
        count[balancer_pick(&b, c, 3)]++;
    ck_assert_uint_eq(count[0], 100);
    ck_assert_uint_eq(count[1], 200);
    ck_assert_uint_eq(count[2], 300);
    balancer_free(&b);
}
END_TEST

START_TEST(test_wrr_unavailable_member)
{
    struct balancer b;
    struct bal_candidate c[3];
    const uint32_t w[3] = {5, 1, 1};
    unsigned count[3] = {0};

    healthy(c, 3);
    c[2].available = false;
    init_ok(&b, BAL_WEIGHTED_ROUNDROBIN, 3, w, 0);
    assert_sequence(&b, c, 3,
                    "aaabaa"
                    "aaabaa");
    for (int i = 0; i < 6 * 50; i++)
        count[balancer_pick(&b, c, 3)]++;
    ck_assert_uint_eq(count[0], 250);
    ck_assert_uint_eq(count[1], 50);
    ck_assert_uint_eq(count[2], 0);
    balancer_free(&b);
}
END_TEST

START_TEST(test_wrr_large_weights_cycle)
{
    struct balancer b;
    struct bal_candidate c[4];
    const uint32_t w[4] = {65535, 1, 300, 7};
    const uint32_t total = 65535 + 1 + 300 + 7;
    unsigned count[4] = {0};

    healthy(c, 4);
    init_ok(&b, BAL_WEIGHTED_ROUNDROBIN, 4, w, 0);
    for (uint32_t i = 0; i < total; i++)
        count[balancer_pick(&b, c, 4)]++;
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(count[i], w[i]);
    balancer_free(&b);
}
END_TEST

START_TEST(test_random_uniform)
{
    struct balancer b;
    struct bal_candidate c[4];
    const uint32_t w[4] = {100, 1, 1, 1}; /* ignored by random */
    unsigned count[4] = {0};

    healthy(c, 4);
    init_ok(&b, BAL_RANDOM, 4, w, 12345);
    for (int i = 0; i < 10000; i++) {
        int got = balancer_pick(&b, c, 4);

        ck_assert_int_ge(got, 0);
        ck_assert_int_lt(got, 4);
        count[got]++;
    }
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_ge(count[i], 2500 - 300);
        ck_assert_uint_le(count[i], 2500 + 300);
    }
    balancer_free(&b);
}
END_TEST

START_TEST(test_random_skips_unavailable)
{
    struct balancer b;
    struct bal_candidate c[4];
    unsigned count[4] = {0};

    healthy(c, 4);
    c[2].available = false;
    init_ok(&b, BAL_RANDOM, 4, NULL, 7);
    for (int i = 0; i < 3000; i++)
        count[balancer_pick(&b, c, 4)]++;
    ck_assert_uint_eq(count[2], 0);
    for (int i = 0; i < 4; i++) {
        if (i != 2)
            ck_assert_uint_ge(count[i], 800);
    }
    c[0].available = false;
    c[3].available = false;
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(balancer_pick(&b, c, 4), 1);
    balancer_free(&b);
}
END_TEST

START_TEST(test_random_seeded)
{
    struct balancer x, y, z;
    struct bal_candidate c[MAX_N];
    int same = 0, differ = 0;

    healthy(c, MAX_N);
    init_ok(&x, BAL_RANDOM, MAX_N, NULL, 99);
    init_ok(&y, BAL_RANDOM, MAX_N, NULL, 99);
    init_ok(&z, BAL_RANDOM, MAX_N, NULL, 100);
    for (int i = 0; i < 200; i++) {
        int px = balancer_pick(&x, c, MAX_N);

        same += px == balancer_pick(&y, c, MAX_N);
        differ += px != balancer_pick(&z, c, MAX_N);
    }
    ck_assert_int_eq(same, 200);
    ck_assert_int_gt(differ, 100);
    balancer_free(&x);
    balancer_free(&y);
    balancer_free(&z);
}
END_TEST

START_TEST(test_ra_prefers_lower_ema)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    c[0].ema_ms = 200;
    c[1].ema_ms = 100;
    c[2].ema_ms = 300;
    init_ok(&b, BAL_RESPONSE_AWARE, 3, NULL, 0);
    assert_sequence(&b, c, 3, "bbbbbb"); /* every scan start */
    balancer_free(&b);
}
END_TEST

START_TEST(test_ra_prefers_lower_in_flight)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    c[0].in_flight = 3;
    c[1].in_flight = 1;
    c[2].in_flight = 2;
    init_ok(&b, BAL_RESPONSE_AWARE, 3, NULL, 0);
    assert_sequence(&b, c, 3, "bbb");
    /* Load weighs against speed: 100 ms x 4 loses to 150 ms x 2. */
    c[1].in_flight = 3;
    c[2].ema_ms = 150;
    c[2].in_flight = 1;
    assert_sequence(&b, c, 3, "ccc");
    balancer_free(&b);
}
END_TEST

START_TEST(test_ra_penalises_low_success_rate)
{
    struct balancer b;
    struct bal_candidate c[2];

    healthy(c, 2);
    c[0].ema_ms = 100;
    c[0].success_rate = 0.25; /* score 400 */
    c[1].ema_ms = 200;        /* score 200 */
    init_ok(&b, BAL_RESPONSE_AWARE, 2, NULL, 0);
    assert_sequence(&b, c, 2, "bbbb");
    c[0].success_rate = 0.5; /* 200 vs 200: a tie, so they take turns */
    assert_sequence(&b, c, 2, "abab");
    c[1].ema_ms = 199;
    assert_sequence(&b, c, 2, "bbbb");
    balancer_free(&b);
}
END_TEST

START_TEST(test_ra_explores_unmeasured_first)
{
    struct balancer b;
    struct bal_candidate c[3];
    bool seen[3] = {false};

    healthy(c, 3);
    c[0].ema_ms = 1; /* the best measured member imaginable */
    c[1].measured = false;
    c[2].measured = false;
    init_ok(&b, BAL_RESPONSE_AWARE, 3, NULL, 0);
    for (int i = 0; i < 6; i++) {
        int got = balancer_pick(&b, c, 3);

        ck_assert_int_ne(got, 0);
        seen[got] = true;
    }
    ck_assert(seen[1] && seen[2]);

    /* Among unmeasured members the less loaded goes first. */
    c[1].in_flight = 2;
    assert_sequence(&b, c, 3, "cccc");
    c[1].measured = true;
    c[2].measured = true;
    assert_sequence(&b, c, 3, "aaa");
    balancer_free(&b);
}
END_TEST

START_TEST(test_ra_spreads_ties)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    init_ok(&b, BAL_RESPONSE_AWARE, 3, NULL, 0);
    assert_sequence(&b, c, 3, "abcabc");
    c[1].available = false;
    assert_sequence(&b, c, 3, "acac"); /* the scan resumes after the previous pick */
    balancer_free(&b);
}
END_TEST

START_TEST(test_ra_bad_statistics)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    /* Sub-millisecond EMAs would zero every score; the floor keeps in-flight meaningful. */
    c[0].ema_ms = 0;
    c[0].in_flight = 4;
    c[1].ema_ms = 0;
    c[1].in_flight = 2;
    c[2].ema_ms = NAN;
    c[2].in_flight = 3;
    init_ok(&b, BAL_RESPONSE_AWARE, 3, NULL, 0);
    assert_sequence(&b, c, 3, "bbb");
    c[1].success_rate = NAN; /* treated as the floor: 3 / 0.01 = 300 */
    assert_sequence(&b, c, 3, "ccc");
    balancer_free(&b);
}
END_TEST

/* Picks of member `idx` among `picks` picks with unchanged candidates; `probes` counts
 * the picks the balancer called probes. */
static int count_picks(struct balancer *b, const struct bal_candidate *c, size_t n, int idx,
                       int picks, int *probes)
{
    int got = 0;

    for (int i = 0; i < picks; i++) {
        got += balancer_pick(b, c, n) == idx;
        *probes += balancer_probed(b);
    }
    return got;
}

/* A member slower once is measured again, one pick in BALANCER_PROBE_EVERY at most. */
START_TEST(test_ra_probes_left_out_member)
{
    struct balancer b;
    struct bal_candidate c[2];
    int probes = 0, fast;

    healthy(c, 2);
    c[0].ema_ms = 300;
    c[1].ema_ms = 10;
    init_ok(&b, BAL_RESPONSE_AWARE, 2, NULL, 0);
    fast = count_picks(&b, c, 2, 1, 1000, &probes);
    /* BALANCER_PROBE_EVERY picks of the fast member, then a probe, and so on. */
    ck_assert_int_eq(probes, 1000 / (BALANCER_PROBE_EVERY + 1));
    ck_assert_int_eq(fast, 1000 - probes);
    balancer_free(&b);
    init_ok(&b, BAL_RESPONSE_AWARE, 2, NULL, 0);
    assert_sequence(&b, c, 2, "bbbbbbbbbb");
    ck_assert(!balancer_probed(&b));
    assert_sequence(&b, c, 2, "a");
    ck_assert(balancer_probed(&b));
    assert_sequence(&b, c, 2, "b");
    ck_assert(!balancer_probed(&b));
    balancer_free(&b);
}
END_TEST

/* A member already answering is measured by that answer; an unavailable or unmeasured one
 * is not probed; members left out take turns, oldest first. */
START_TEST(test_ra_probe_candidates)
{
    struct balancer b;
    struct bal_candidate c[4];
    int probes = 0;

    healthy(c, 4);
    c[0].ema_ms = 10;
    c[1].ema_ms = 300;
    c[1].in_flight = 1;
    c[2].ema_ms = 300;
    c[2].available = false;
    c[3].measured = false; /* it would be tried first, were it available */
    c[3].available = false;
    init_ok(&b, BAL_RESPONSE_AWARE, 4, NULL, 0);
    ck_assert_int_eq(count_picks(&b, c, 4, 0, 100, &probes), 100);
    ck_assert_int_eq(probes, 0);
    /* b and c idle and available: left out for 100 picks, they are probed in turn. */
    c[1].in_flight = 0;
    c[2].available = true;
    assert_sequence(&b, c, 4, "baaaaaaaaaacaaaaaaaaaab");
    balancer_free(&b);
}
END_TEST

START_TEST(test_score)
{
    struct bal_candidate c = {
        .available = true, .measured = true, .ema_ms = 100, .in_flight = 1, .success_rate = 0.5};

    ck_assert(fabs(balancer_score(&c) - 400.0) < 1e-9);
    c.success_rate = 0.0;
    ck_assert(fabs(balancer_score(&c) - 20000.0) < 1e-6);
    c.success_rate = 3.0;
    ck_assert(fabs(balancer_score(&c) - 200.0) < 1e-9);
    c.ema_ms = 0.25;
    ck_assert(fabs(balancer_score(&c) - 2.0) < 1e-9);
}
END_TEST

START_TEST(test_failover_order)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    c[0].ema_ms = 5000; /* failover ignores statistics */
    init_ok(&b, BAL_FAILOVER, 3, NULL, 0);
    assert_sequence(&b, c, 3, "aaa");
    c[0].available = false;
    assert_sequence(&b, c, 3, "bbb");
    c[1].available = false;
    assert_sequence(&b, c, 3, "ccc");
    c[0].available = true;
    assert_sequence(&b, c, 3, "aaa");
    balancer_free(&b);
}
END_TEST

START_TEST(test_none_available)
{
    const enum balance_strategy all[] = {BAL_ROUNDROBIN, BAL_WEIGHTED_ROUNDROBIN, BAL_RANDOM,
                                         BAL_RESPONSE_AWARE, BAL_FAILOVER};
    struct bal_candidate c[3];
    const uint32_t w[3] = {3, 2, 1};

    healthy(c, 3);
    for (size_t i = 0; i < 3; i++)
        c[i].available = false;
    for (size_t s = 0; s < sizeof(all) / sizeof(all[0]); s++) {
        struct balancer b;

        init_ok(&b, all[s], 3, w, 1);
        for (int k = 0; k < 5; k++)
            ck_assert_int_eq(balancer_pick(&b, c, 3), -1);
        /* Refused picks move nothing: the first real pick of a deterministic strategy is
         * still member 0. */
        for (size_t i = 0; i < 3; i++)
            c[i].available = true;
        if (all[s] != BAL_RANDOM)
            ck_assert_int_eq(balancer_pick(&b, c, 3), 0);
        for (size_t i = 0; i < 3; i++)
            c[i].available = false;
        balancer_free(&b);
    }
}
END_TEST

START_TEST(test_mismatched_input)
{
    struct balancer b;
    struct bal_candidate c[3];

    healthy(c, 3);
    init_ok(&b, BAL_ROUNDROBIN, 3, NULL, 0);
    ck_assert_int_eq(balancer_pick(&b, c, 2), -1);
    ck_assert_int_eq(balancer_pick(&b, c, 0), -1);
    ck_assert_int_eq(balancer_pick(&b, NULL, 3), -1);
    ck_assert_int_eq(balancer_pick(&b, c, 3), 0);
    balancer_free(&b);
}
END_TEST

START_TEST(test_init_refuses_bad_input)
{
    struct balancer b;
    const uint32_t zero[2] = {1, 0};
    const uint32_t huge[2] = {1, BALANCER_WEIGHT_MAX + 1};
    const uint32_t max[2] = {BALANCER_WEIGHT_MAX, BALANCER_WEIGHT_MIN};

    ck_assert_int_eq(balancer_init(&b, BAL_ROUNDROBIN, 0, NULL, 0), -1);
    balancer_free(&b);
    ck_assert_int_eq(balancer_init(&b, BAL_ROUNDROBIN, BALANCER_MAX_MEMBERS + 1, NULL, 0), -1);
    balancer_free(&b);
    ck_assert_int_eq(balancer_init(&b, BAL_WEIGHTED_ROUNDROBIN, 2, zero, 0), -1);
    ck_assert_int_eq(balancer_init(&b, BAL_WEIGHTED_ROUNDROBIN, 2, huge, 0), -1);
    ck_assert_int_eq(balancer_init(&b, (enum balance_strategy)17, 2, NULL, 0), -1);
    ck_assert_uint_eq(b.n, 0);
    ck_assert_int_eq(balancer_pick(&b, NULL, 0), -1);
    balancer_free(&b);

    ck_assert_int_eq(balancer_init(&b, BAL_WEIGHTED_ROUNDROBIN, 2, max, 0), 0);
    balancer_free(&b);
    ck_assert_int_eq(balancer_init(&b, BAL_ROUNDROBIN, BALANCER_MAX_MEMBERS, NULL, 0), 0);
    ck_assert_uint_eq(b.n, BALANCER_MAX_MEMBERS);
    balancer_free(&b);
}
END_TEST

START_TEST(test_ema)
{
    double ema = 0;
    bool measured = false;

    ck_assert(ema_update(&ema, &measured, 100));
    ck_assert(measured);
    ck_assert(ema == 100.0); /* the first sample is taken as is */
    ck_assert(ema_update(&ema, &measured, 200));
    ck_assert(fabs(ema - 115.0) < 1e-9);
    ck_assert(ema_update(&ema, &measured, 0));
    ck_assert(fabs(ema - 97.75) < 1e-9);

    ck_assert(!ema_update(&ema, &measured, -1));
    ck_assert(!ema_update(&ema, &measured, NAN));
    ck_assert(!ema_update(&ema, &measured, INFINITY));
    ck_assert(fabs(ema - 97.75) < 1e-9);

    measured = false;
    ema = 0;
    ck_assert(!ema_update(&ema, &measured, NAN));
    ck_assert(!measured);
}
END_TEST

START_TEST(test_ema_converges)
{
    double ema = 0;
    bool measured = false;

    ema_update(&ema, &measured, 2000);
    for (int i = 0; i < 80; i++) /* 1900 * 0.85^80 ~ 0.004 */
        ema_update(&ema, &measured, 100);
    ck_assert(fabs(ema - 100.0) < 0.1);
}
END_TEST

/*
 * A member at its max_in_flight (`full`) would only queue a new request in HAProxy: the
 * strategies that look at load send it to an available member with room, even a much
 * busier or slower one, and to the best full member only when every one is full.
 */
START_TEST(test_full_members_wait)
{
    const enum balance_strategy load_aware[] = {BAL_RESPONSE_AWARE, BAL_LEAST_LOAD, BAL_AFFINITY};
    struct bal_candidate c[3];

    for (size_t s = 0; s < sizeof(load_aware) / sizeof(load_aware[0]); s++) {
        struct balancer b;

        healthy(c, 3);
        c[0].ema_ms = 10.0; /* fast and nearly idle, but full */
        c[0].in_flight = 2;
        c[0].full = true;
        c[1].in_flight = 5;
        c[2].available = false;
        init_ok(&b, load_aware[s], 3, NULL, 1);
        for (int k = 0; k < 5; k++)
            ck_assert_msg(balancer_pick(&b, c, 3) == 1, "strategy %d pick %d", load_aware[s], k);
        c[1].full = true;
        ck_assert_int_eq(balancer_pick(&b, c, 3), 0);
        balancer_free(&b);
    }
}
END_TEST

static Suite *balance_suite(void)
{
    Suite *s = suite_create("balance");
    TCase *rr = tcase_create("roundrobin");
    TCase *wrr = tcase_create("weighted_roundrobin");
    TCase *rnd = tcase_create("random");
    TCase *ra = tcase_create("response_aware");
    TCase *misc = tcase_create("misc");
    TCase *ema = tcase_create("ema");

    tcase_add_test(rr, test_rr_sequence);
    tcase_add_test(rr, test_rr_skips_unavailable);
    suite_add_tcase(s, rr);

    tcase_add_test(wrr, test_wrr_5_1_1);
    tcase_add_test(wrr, test_wrr_1_2_3);
    tcase_add_test(wrr, test_wrr_unavailable_member);
    tcase_add_test(wrr, test_wrr_large_weights_cycle);
    suite_add_tcase(s, wrr);

    tcase_add_test(rnd, test_random_uniform);
    tcase_add_test(rnd, test_random_skips_unavailable);
    tcase_add_test(rnd, test_random_seeded);
    suite_add_tcase(s, rnd);

    tcase_add_test(ra, test_ra_prefers_lower_ema);
    tcase_add_test(ra, test_ra_prefers_lower_in_flight);
    tcase_add_test(ra, test_ra_penalises_low_success_rate);
    tcase_add_test(ra, test_ra_explores_unmeasured_first);
    tcase_add_test(ra, test_ra_spreads_ties);
    tcase_add_test(ra, test_ra_bad_statistics);
    tcase_add_test(ra, test_ra_probes_left_out_member);
    tcase_add_test(ra, test_ra_probe_candidates);
    tcase_add_test(ra, test_score);
    suite_add_tcase(s, ra);

    tcase_add_test(misc, test_failover_order);
    tcase_add_test(misc, test_none_available);
    tcase_add_test(misc, test_full_members_wait);
    tcase_add_test(misc, test_mismatched_input);
    tcase_add_test(misc, test_init_refuses_bad_input);
    suite_add_tcase(s, misc);

    tcase_add_test(ema, test_ema);
    tcase_add_test(ema, test_ema_converges);
    suite_add_tcase(s, ema);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(balance_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

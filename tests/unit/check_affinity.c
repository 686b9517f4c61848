/*
 * Session affinity (affinity.h): sessions stay on their member, new ones spread evenly,
 * weights count, an unavailable member's sessions (and only those) move, an overloaded member's
 * requests spill, the table stays bounded with exact counts, and hostile keys change nothing of
 * that. Also the balancer's keyless affinity picks (least in flight, ties in turn).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "balance.h"
#include "lrutab.h"

#define N_MEMBERS 4

static const char *const names[N_MEMBERS] = {"gpu-a", "gpu-b", "gpu-c", "gpu-d"};

static uint64_t mix(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void idle(struct bal_candidate *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        c[i] = (struct bal_candidate){.available = true, .success_rate = 1.0};
}

/* The members as each test starts: all available and idle. */
static struct bal_candidate c[N_MEMBERS];
static enum affinity_outcome o;

static void setup(void)
{
    idle(c, N_MEMBERS);
}

static struct affinity *table(uint32_t cap, uint64_t seed, size_t n_groups)
{
    struct siphash_key key = {.k0 = seed, .k1 = seed * 31 + 7};
    struct affinity *a = affinity_create(n_groups, cap, &key);

    ck_assert_ptr_nonnull(a);
    for (size_t g = 0; g < n_groups; g++)
        ck_assert_int_eq(affinity_group_init(a, g, N_MEMBERS, names, NULL), 0);
    return a;
}

static int pick(struct affinity *a, size_t g, uint64_t key)
{
    return affinity_pick(a, &a->groups[g], key, c, N_MEMBERS, 1.25, 1000, &o);
}

/* The sum of the per-member counts is what the group holds, which the table bounds. */
static void assert_counts_exact(const struct affinity *a)
{
    uint64_t total = 0;

    for (size_t g = 0; g < a->n_groups; g++) {
        uint64_t sum = 0;

        for (size_t m = 0; m < a->groups[g].n; m++)
            sum += a->groups[g].sessions[m];
        ck_assert_uint_eq(sum, a->groups[g].held);
        total += sum;
    }
    ck_assert_uint_le(total, lrutab_capacity(a->table));
}

START_TEST(test_turns_stay_on_one_member)
{
    struct affinity *a = table(1024, 3, 1);
    int home[100];

    for (int turn = 0; turn < 20; turn++) {
        for (uint64_t s = 0; s < 100; s++) {
            int m = pick(a, 0, 1000 + s);

            ck_assert_int_ge(m, 0);
            if (turn == 0) {
                home[s] = m;
                ck_assert_int_eq(o, AFFINITY_NEW);
            } else {
                ck_assert_int_eq(m, home[s]);
                ck_assert_int_eq(o, AFFINITY_HOME);
            }
            /* The request is in flight while others arrive: the load stays even. */
            c[m].in_flight++;
        }
        idle(c, N_MEMBERS);
    }
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_NEW], 100);
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_HOME], 1900);
    ck_assert_uint_eq(a->groups[0].held, 100);
    assert_counts_exact(a);
    affinity_free(a);
}
END_TEST

/* 100 sessions on 4 members land within +-20 % of 25, whatever the table's key and keys. */
START_TEST(test_spread_within_20_percent)
{
    unsigned worst_low = 25, worst_high = 25;

    for (uint64_t seed = 1; seed <= 500; seed++) {
        struct affinity *a = table(1024, seed, 1);
        uint64_t rng = seed * 7919;

        idle(c, N_MEMBERS);
        for (int s = 0; s < 100; s++)
            ck_assert_int_ge(pick(a, 0, mix(&rng)), 0);
        for (int m = 0; m < N_MEMBERS; m++) {
            unsigned n = a->groups[0].sessions[m];

            ck_assert_msg(n >= 20 && n <= 30, "seed %llu: member %d holds %u sessions",
                          (unsigned long long)seed, m, n);
            worst_low = n < worst_low ? n : worst_low;
            worst_high = n > worst_high ? n : worst_high;
        }
        assert_counts_exact(a);
        affinity_free(a);
    }
    printf("affinity spread over 500 seeds: %u .. %u sessions per member\n", worst_low, worst_high);
}
END_TEST

/* Weights: a member of weight 3 takes about three times the sessions of one of weight 1. */
START_TEST(test_weights_bias_the_choice)
{
    struct siphash_key key = {.k0 = 11, .k1 = 12};
    struct affinity *a = affinity_create(1, 4096, &key);
    const uint32_t w[2] = {3, 1};
    struct bal_candidate two[2];
    uint64_t rng = 5;

    ck_assert_int_eq(affinity_group_init(a, 0, 2, names, w), 0);
    idle(two, 2);
    for (int s = 0; s < 2000; s++)
        ck_assert_int_ge(affinity_pick(a, &a->groups[0], mix(&rng), two, 2, 100.0, 1, &o), 0);
    /* Two choices compare counts per weight: 3 to 1. */
    ck_assert_uint_ge(a->groups[0].sessions[0], 1450);
    ck_assert_uint_le(a->groups[0].sessions[0], 1550);
    affinity_free(a);
}
END_TEST

#define SESSIONS 100
#define SESSION_KEY(s) ((uint64_t)(s) * 0x100000001ull)

/* Seat SESSIONS sessions; home[s] is each one's member. How many member `out` holds. */
static unsigned seat_sessions(struct affinity *a, int *home, int out)
{
    for (int s = 0; s < SESSIONS; s++)
        home[s] = pick(a, 0, SESSION_KEY(s));
    ck_assert_uint_gt(a->groups[0].sessions[out], 0);
    return (unsigned)a->groups[0].sessions[out];
}

/* One request of every session while member `out` is not available: the sessions of
 * `out` go elsewhere with outcome `away`, the others stay home. now[s] is where each went;
 * returns how many went elsewhere. */
static unsigned sweep_without(struct affinity *a, const int *home, int out,
                              enum affinity_outcome away, int *now)
{
    unsigned n_away = 0;

    for (int s = 0; s < SESSIONS; s++) {
        int m = pick(a, 0, SESSION_KEY(s));

        ck_assert_int_ne(m, out);
        if (home[s] == out) {
            ck_assert_int_eq(o, away);
            n_away++;
        } else {
            ck_assert_int_eq(m, home[s]);
            ck_assert_int_eq(o, AFFINITY_HOME);
        }
        now[s] = m;
    }
    return n_away;
}

/* Every session's request lands on want[s], a known session at its member. */
static void assert_all_at(struct affinity *a, const int *want)
{
    for (int s = 0; s < SESSIONS; s++) {
        ck_assert_int_eq(pick(a, 0, SESSION_KEY(s)), want[s]);
        ck_assert_int_eq(o, AFFINITY_HOME);
    }
}

START_TEST(test_breaker_moves_only_that_members_sessions)
{
    struct affinity *a = table(1024, 9, 1);
    int home[SESSIONS], moved_to[SESSIONS];
    unsigned held_by_c = seat_sessions(a, home, 2);

    c[2].available = false; /* its breaker opened */
    ck_assert_uint_eq(sweep_without(a, home, 2, AFFINITY_MOVED, moved_to), held_by_c);
    ck_assert_uint_eq(a->groups[0].sessions[2], 0);
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_MOVED], held_by_c);

    /* Back: the moved sessions stay where their cache is now; nobody moves again. */
    c[2].available = true;
    assert_all_at(a, moved_to);
    assert_counts_exact(a);
    affinity_free(a);
}
END_TEST

/* A member cooling down after its 429 (paused): its sessions' requests go elsewhere
 * meanwhile, each to the next member of its own order, and come back with it. */
START_TEST(test_paused_member_keeps_its_sessions)
{
    struct affinity *a = table(1024, 11, 1);
    int home[SESSIONS], away[SESSIONS];
    unsigned held_by_c = seat_sessions(a, home, 2);

    c[2].available = false;
    c[2].paused = true;
    ck_assert_uint_eq(sweep_without(a, home, 2, AFFINITY_SPILLED, away), held_by_c);
    /* The same member for every request while the pause lasts. */
    for (int s = 0; s < SESSIONS; s++)
        ck_assert_int_eq(pick(a, 0, SESSION_KEY(s)), away[s]);
    ck_assert_uint_eq(a->groups[0].sessions[2], held_by_c);
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_MOVED], 0);

    /* Every member paused: no member, and the session is not moved either. */
    for (int m = 0; m < N_MEMBERS; m++)
        c[m] = (struct bal_candidate){.available = false, .paused = true, .success_rate = 1.0};
    ck_assert_int_eq(pick(a, 0, 0), -1);

    /* The pause over: every session is home again. */
    idle(c, N_MEMBERS);
    assert_all_at(a, home);
    assert_counts_exact(a);
    affinity_free(a);
}
END_TEST

START_TEST(test_nothing_available_keeps_the_session)
{
    struct affinity *a = table(16, 4, 1);
    int home = pick(a, 0, 77);

    for (int m = 0; m < N_MEMBERS; m++)
        c[m].available = false;
    ck_assert_int_eq(pick(a, 0, 77), -1);
    ck_assert_int_eq(pick(a, 0, 78), -1); /* a new one is not recorded either */
    ck_assert_uint_eq(a->groups[0].held, 1);
    idle(c, N_MEMBERS);
    ck_assert_int_eq(pick(a, 0, 77), home);
    ck_assert_int_eq(o, AFFINITY_HOME);
    affinity_free(a);
}
END_TEST

START_TEST(test_overloaded_member_spills_and_keeps_its_sessions)
{
    struct affinity *a = table(64, 5, 1);
    uint64_t key = 0;
    int home = -1, m;

    /* A session whose home is member 0. */
    while (home != 0)
        home = pick(a, 0, ++key);
    /* 0 has 20 in flight, the others 10: the bound is ceil(1.25 x 51 / 4) = 16. */
    c[0].in_flight = 20;
    c[1].in_flight = c[2].in_flight = c[3].in_flight = 10;
    m = pick(a, 0, key);
    ck_assert_int_ne(m, 0);
    ck_assert_int_eq(o, AFFINITY_SPILLED);
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_SPILLED], 1);
    /* The same member every time while the load lasts: its rendezvous order. */
    ck_assert_int_eq(pick(a, 0, key), m);
    /* Load gone: home again, the session never moved. */
    c[0].in_flight = 10;
    ck_assert_int_eq(pick(a, 0, key), 0);
    ck_assert_int_eq(o, AFFINITY_HOME);
    ck_assert_uint_eq(a->groups[0].picks[AFFINITY_MOVED], 0);

    /* At the bound exactly: 0 has 14, ceil(1.25 x 45 / 4) = 15 = 14 + 1, stays; 0 has 15,
     * ceil(1.25 x 46 / 4) = 15 < 16, spills. */
    c[0].in_flight = 14;
    ck_assert_int_eq(pick(a, 0, key), 0);
    c[0].in_flight = 15;
    ck_assert_int_ne(pick(a, 0, key), 0);
    /* Below the floor nothing spills, however uneven: 7 + 1 <= AFFINITY_LOAD_FLOOR though
     * ceil(1.25 x 8 / 4) = 3; 8 + 1 is over it. */
    c[1].in_flight = c[2].in_flight = c[3].in_flight = 0;
    c[0].in_flight = AFFINITY_LOAD_FLOOR - 1;
    ck_assert_int_eq(pick(a, 0, key), 0);
    c[0].in_flight = AFFINITY_LOAD_FLOOR;
    ck_assert_int_ne(pick(a, 0, key), 0);
    /* Every member loaded alike: the bound holds for all, no spill. */
    for (int i = 0; i < N_MEMBERS; i++)
        c[i].in_flight = 1000;
    ck_assert_int_eq(pick(a, 0, key), 0);
    affinity_free(a);
}
END_TEST

/* A home at its max_in_flight spills one request, however light its load, to a member
 * with room; with every member full it stays home (HAProxy queues it there). */
START_TEST(test_full_member_spills)
{
    struct affinity *a = table(64, 5, 1);
    uint64_t key = 0;
    int home = -1, m;

    while (home != 0)
        home = pick(a, 0, ++key);
    c[0].in_flight = 1; /* far within the bound */
    c[0].full = true;
    m = pick(a, 0, key);
    ck_assert_int_ne(m, 0);
    ck_assert_int_eq(o, AFFINITY_SPILLED);
    for (int i = 0; i < N_MEMBERS; i++)
        c[i].full = true;
    ck_assert_int_eq(pick(a, 0, key), 0);
    c[0].full = false;
    ck_assert_int_eq(pick(a, 0, key), 0);
    ck_assert_int_eq(o, AFFINITY_HOME);
    affinity_free(a);
}
END_TEST

START_TEST(test_eviction_keeps_counts_exact)
{
    struct affinity *a = table(64, 6, 2);
    uint64_t rng = 99;

    for (int s = 0; s < 1000; s++) {
        ck_assert_int_ge(pick(a, (size_t)(s % 2), mix(&rng)), 0);
        assert_counts_exact(a);
    }
    ck_assert_uint_eq(a->groups[0].held + a->groups[1].held, 64);
    ck_assert_uint_eq(affinity_evictions(a), 1000 - 64);
    /* Moves and evictions mixed: a member goes away and old sessions come back. */
    c[1].available = false;
    rng = 99;
    for (int s = 0; s < 1000; s++) {
        ck_assert_int_ne(pick(a, (size_t)(s % 2), mix(&rng)), 1);
        assert_counts_exact(a);
    }
    ck_assert_uint_eq(a->groups[0].sessions[1] + a->groups[1].sessions[1], 0);
    affinity_free(a);
}
END_TEST

START_TEST(test_hostile_keys_stay_bounded)
{
    struct affinity *a = table(1024, 8, 2);
    int first;

    /* One key forever: one session, one member, in both groups independently. */
    first = pick(a, 0, 0);
    for (int i = 0; i < 10000; i++)
        ck_assert_int_eq(pick(a, 0, 0), first);
    ck_assert_int_ge(pick(a, 1, 0), 0);
    ck_assert_uint_eq(a->groups[0].held, 1);
    ck_assert_uint_eq(a->groups[1].held, 1);
    /* Sequential keys, far more than the table holds: bounded, exact, still spread. */
    for (uint64_t k = 1; k <= 100000; k++)
        ck_assert_int_ge(pick(a, 0, k), 0);
    assert_counts_exact(a);
    ck_assert_uint_le(a->groups[0].held + a->groups[1].held, 1024);
    for (int m = 0; m < N_MEMBERS; m++)
        ck_assert_uint_ge(a->groups[0].sessions[m], 200);
    affinity_free(a);
}
END_TEST

START_TEST(test_bad_input)
{
    struct siphash_key key = {.k0 = 1, .k1 = 2};
    struct affinity *a = affinity_create(1, 8, &key);

    ck_assert_ptr_nonnull(a);
    ck_assert_int_eq(affinity_group_init(a, 1, N_MEMBERS, names, NULL), -1); /* no group 1 */
    ck_assert_int_eq(affinity_group_init(a, 0, 0, names, NULL), -1);
    ck_assert_int_eq(affinity_group_init(a, 0, N_MEMBERS, names, NULL), 0);
    idle(c, N_MEMBERS);
    ck_assert_int_eq(affinity_pick(a, &a->groups[0], 1, c, 3, 1.25, 0, &o), -1); /* n differs */
    ck_assert_int_ge(affinity_pick(a, &a->groups[0], 1, c, N_MEMBERS, -1.0, 0, &o), 0);
    ck_assert_int_ge(affinity_pick(a, &a->groups[0], 2, c, N_MEMBERS, 0.0 / 0.0, 0, &o), 0);
    ck_assert_ptr_null(affinity_create(1, 0, &key));
    affinity_free(NULL);
    affinity_free(a);
    ck_assert_str_eq(affinity_outcome_name(AFFINITY_SPILLED), "spilled");
    ck_assert_str_eq(affinity_outcome_name(AFFINITY_NO_KEY), "no_key");
}
END_TEST

/* Without a key: the least in flight, equal members in turn, the unavailable skipped. */
START_TEST(test_keyless_least_in_flight)
{
    struct balancer b;
    struct bal_candidate three[3];

    ck_assert_int_eq(balancer_init(&b, BAL_AFFINITY, 3, NULL, 0), 0);
    idle(three, 3);
    ck_assert_int_eq(balancer_pick(&b, three, 3), 0);
    ck_assert_int_eq(balancer_pick(&b, three, 3), 1);
    ck_assert_int_eq(balancer_pick(&b, three, 3), 2);
    ck_assert_int_eq(balancer_pick(&b, three, 3), 0);
    three[0].in_flight = 3;
    three[1].in_flight = 1;
    three[2].in_flight = 2;
    ck_assert_int_eq(balancer_pick(&b, three, 3), 1);
    three[1].available = false;
    ck_assert_int_eq(balancer_pick(&b, three, 3), 2);
    three[2].available = false;
    three[0].available = false;
    ck_assert_int_eq(balancer_pick(&b, three, 3), -1);
    balancer_free(&b);
}
END_TEST

static Suite *affinity_suite(void)
{
    Suite *s = suite_create("affinity");
    TCase *tc = tcase_create("affinity");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_turns_stay_on_one_member);
    tcase_add_test(tc, test_spread_within_20_percent);
    tcase_add_test(tc, test_weights_bias_the_choice);
    tcase_add_test(tc, test_breaker_moves_only_that_members_sessions);
    tcase_add_test(tc, test_paused_member_keeps_its_sessions);
    tcase_add_test(tc, test_nothing_available_keeps_the_session);
    tcase_add_test(tc, test_overloaded_member_spills_and_keeps_its_sessions);
    tcase_add_test(tc, test_full_member_spills);
    tcase_add_test(tc, test_eviction_keeps_counts_exact);
    tcase_add_test(tc, test_hostile_keys_stay_bounded);
    tcase_add_test(tc, test_bad_input);
    tcase_add_test(tc, test_keyless_least_in_flight);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(affinity_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * Unit tests of ratelimit.c: the token-bucket arithmetic (exact at any rate), the
 * per-(forward, address) table, eviction accounting and expiry, plus a timing loop.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ratelimit.h"

static const struct siphash_key test_seed = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};

static struct rl_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
    const uint8_t ip[4] = {a, b, c, d};
    struct rl_addr addr;

    rl_addr_from_ipv4(&addr, ip);
    return addr;
}

static struct rl_addr v4_n(uint32_t n)
{
    return v4((uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n);
}

static struct ratelimit *new_limiter(uint32_t max_clients)
{
    struct ratelimit *rl = ratelimit_create(max_clients, &test_seed);

    ck_assert_ptr_nonnull(rl);
    return rl;
}

/* Take tokens at `now_ms` until refused; returns how many were granted. */
static uint64_t drain(struct token_bucket *b, uint64_t now_ms, uint32_t per_second, uint32_t burst)
{
    uint64_t granted = 0;
    uint32_t retry_after;

    while (token_bucket_take(b, now_ms, per_second, burst, &retry_after))
        granted++;
    return granted;
}

/* ---- the bucket ---- */

START_TEST(bucket_readme_example)
{
    struct token_bucket b = {0};
    uint32_t retry_after = 0;

    for (int i = 0; i < 4; i++)
        ck_assert(token_bucket_take(&b, 0, 2, 4, &retry_after));
    ck_assert(!token_bucket_take(&b, 0, 2, 4, &retry_after));
    ck_assert_uint_eq(retry_after, 1);
    ck_assert(!token_bucket_take(&b, 499, 2, 4, &retry_after));
    ck_assert(token_bucket_take(&b, 500, 2, 4, &retry_after));
    ck_assert(!token_bucket_take(&b, 500, 2, 4, &retry_after));
    ck_assert(token_bucket_take(&b, 1000, 2, 4, &retry_after));
}
END_TEST

START_TEST(bucket_refill_never_exceeds_burst)
{
    struct token_bucket b = {0};

    ck_assert_uint_eq(token_bucket_millitokens(&b, 0, 2, 4), 4 * RL_MILLI);
    ck_assert_uint_eq(drain(&b, 0, 2, 4), 4);
    for (uint64_t now = 0; now <= 10000; now += 37)
        ck_assert_uint_le(token_bucket_millitokens(&b, now, 2, 4), 4 * RL_MILLI);
    ck_assert_uint_eq(token_bucket_millitokens(&b, 3600000, 2, 4), 4 * RL_MILLI);
    ck_assert_uint_eq(drain(&b, 3600000, 2, 4), 4); /* an hour idle still buys only burst */
}
END_TEST

/*
 * Taking greedily every millisecond for `seconds` grants exactly burst + rate * seconds:
 * no drift, whether or not the rate divides 1000.
 */
static void assert_exact_rate(uint32_t per_second, uint32_t burst, uint64_t seconds)
{
    struct token_bucket b = {0};
    uint64_t granted = 0;

    for (uint64_t now = 0; now <= seconds * 1000; now++)
        granted += drain(&b, now, per_second, burst);
    ck_assert_uint_eq(granted, burst + per_second * seconds);
}

START_TEST(bucket_exact_at_any_rate)
{
    assert_exact_rate(1, 1, 20);
    assert_exact_rate(3, 3, 10);
    assert_exact_rate(7, 9, 10);
    assert_exact_rate(999, 1000, 5);
    assert_exact_rate(1000000, 1000000, 3);
    assert_exact_rate(999983, 2000000, 2);
}
END_TEST

START_TEST(bucket_million_per_second_precision)
{
    struct token_bucket b = {0};
    uint32_t retry_after = 0;

    ck_assert_uint_eq(drain(&b, 0, 1000000, 1000000), 1000000);
    ck_assert(!token_bucket_take(&b, 0, 1000000, 1000000, &retry_after));
    ck_assert_uint_eq(retry_after, 1);
    ck_assert_uint_eq(drain(&b, 1, 1000000, 1000000), 1000); /* 1 ms = 1000 tokens */
    ck_assert_uint_eq(drain(&b, 2, 1000000, 1000000), 1000);
}
END_TEST

/* retry_after is the whole seconds until the refused request would pass. */
START_TEST(bucket_retry_after_is_honest)
{
    static const uint32_t rates[] = {1, 2, 3, 7, 1000};

    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        struct token_bucket b = {0};
        uint32_t retry_after = 0, ignored;
        uint64_t now = 0;

        drain(&b, 10, rates[i], rates[i]);
        ck_assert(!token_bucket_take(&b, 10, rates[i], rates[i], &retry_after));
        ck_assert_uint_ge(retry_after, 1);
        while (!token_bucket_take(&b, 10 + now, rates[i], rates[i], &ignored))
            now++;
        ck_assert_uint_eq(retry_after, (now + 999) / 1000);
    }
}
END_TEST

START_TEST(bucket_zero_parameters_count_as_one)
{
    struct token_bucket b = {0};
    uint32_t retry_after = 0;

    ck_assert(token_bucket_take(&b, 0, 0, 0, &retry_after));
    ck_assert(!token_bucket_take(&b, 0, 0, 0, &retry_after));
    ck_assert_uint_eq(retry_after, 1);
    ck_assert(token_bucket_take(&b, 1000, 0, 0, &retry_after));
}
END_TEST

/* A reload can change a bucket's rate: no overflow, never more than the new burst. */
START_TEST(bucket_survives_rate_change)
{
    struct token_bucket b = {0};
    uint32_t retry_after = 0;

    /* Drained at 1/s, the bucket would be full again only after 11.6 days. */
    ck_assert_uint_eq(drain(&b, 0, 1, 1000000), 1000000);
    ck_assert_uint_eq(token_bucket_millitokens(&b, 0, 1000000, 10), 0);
    ck_assert(!token_bucket_take(&b, 0, 1000000, 10, &retry_after));
    ck_assert_uint_eq(retry_after, 1);
    ck_assert_uint_eq(drain(&b, 1, 1000000, 10), 10); /* refills at the new rate at once */
    /* The extreme rate: one millisecond of deficit, no overflow. */
    ck_assert_uint_eq(token_bucket_millitokens(&b, 1, UINT32_MAX, UINT32_MAX),
                      (uint64_t)UINT32_MAX * RL_MILLI - (UINT32_MAX - (1000000 - 10000)));

    memset(&b, 0, sizeof(b));
    ck_assert(token_bucket_take(&b, 0, UINT32_MAX, UINT32_MAX, &retry_after));
    ck_assert_uint_eq(token_bucket_millitokens(&b, 0, UINT32_MAX, UINT32_MAX),
                      (uint64_t)UINT32_MAX * RL_MILLI - RL_MILLI);

    memset(&b, 0, sizeof(b));
    ck_assert_uint_eq(drain(&b, 0, 1000000, 1000000), 1000000);
    ck_assert_uint_eq(token_bucket_millitokens(&b, 0, 1, 1), 0); /* emptier, not overflowed */
    ck_assert_uint_eq(token_bucket_millitokens(&b, 1000, 1, 5), 5 * RL_MILLI);
}
END_TEST

/* A clock stepped back leaves a bucket at worst empty, refilling on the new timeline. */
START_TEST(bucket_clock_going_back)
{
    struct token_bucket b = {0};

    ck_assert_uint_eq(drain(&b, 10000, 2, 4), 4);
    ck_assert_uint_eq(drain(&b, 9000, 2, 4), 0);
    ck_assert_uint_eq(drain(&b, 0, 2, 4), 0);
    ck_assert_uint_eq(drain(&b, 499, 2, 4), 0);
    ck_assert_uint_eq(drain(&b, 500, 2, 4), 1);
    ck_assert_uint_eq(drain(&b, 5000, 2, 4), 4);
}
END_TEST

/* ---- the client key ---- */

static struct rl_addr v6(const char *text)
{
    struct rl_addr a;

    ck_assert_msg(rl_addr_parse(&a, text, strlen(text)), "%s", text);
    return a;
}

/* `text` keyed under `prefix` is `want` (both IPv6 literals). */
static void assert_key(const char *text, unsigned prefix, const char *want)
{
    struct rl_addr got = v6(text), expected = v6(want);

    rl_addr_client_key(&got, prefix);
    ck_assert_msg(memcmp(got.b, expected.b, 16) == 0, "%s/%u is not %s", text, prefix, want);
}

START_TEST(ipv6_is_keyed_by_its_prefix)
{
    const char *a = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff";

    assert_key(a, 0, "::");
    assert_key(a, 1, "::");
    assert_key("8001:db8::1", 1, "8000::");
    assert_key(a, 32, "2001:db8::");
    assert_key(a, 63, "2001:db8:aaaa:bbba::");
    assert_key(a, 64, "2001:db8:aaaa:bbbb::");
    assert_key(a, 65, "2001:db8:aaaa:bbbb:8000::");
    assert_key(a, 127, "2001:db8:aaaa:bbbb:cccc:dddd:eeee:fffe");
    assert_key(a, 128, a);
    assert_key(a, 129, a); /* above 128 keeps the address whole, never reads past it */
    assert_key(a, 4096, a);
}
END_TEST

/* Two addresses of one /64 share a key; the neighbouring /64s do not. */
START_TEST(one_network_shares_a_key)
{
    struct rl_addr a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff:ffff:ffff:ffff");
    struct rl_addr below = v6("2001:db8:1:1:ffff:ffff:ffff:ffff"), above = v6("2001:db8:1:3::");

    rl_addr_client_key(&a, 64);
    rl_addr_client_key(&b, 64);
    rl_addr_client_key(&below, 64);
    rl_addr_client_key(&above, 64);
    ck_assert_mem_eq(a.b, b.b, 16);
    ck_assert(memcmp(a.b, below.b, 16) != 0);
    ck_assert(memcmp(a.b, above.b, 16) != 0);
}
END_TEST

/* IPv4, native or mapped, stays one client per address whatever the IPv6 prefix. */
START_TEST(ipv4_keeps_its_whole_address)
{
    static const unsigned prefixes[] = {0, 1, 32, 64, 95, 96, 127, 128};
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 77};

    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        struct rl_addr a = v4(192, 0, 2, 77), m, text = v6("::ffff:192.0.2.77");

        rl_addr_from_ipv6(&m, mapped);
        rl_addr_client_key(&a, prefixes[i]);
        rl_addr_client_key(&m, prefixes[i]);
        rl_addr_client_key(&text, prefixes[i]);
        ck_assert_mem_eq(a.b, mapped, 16);
        ck_assert_mem_eq(m.b, mapped, 16);
        ck_assert_mem_eq(text.b, mapped, 16);
    }
    /* ::192.0.2.77 (IPv4-compatible, deprecated) is plain IPv6: cut like any other. */
    assert_key("::192.0.2.77", 64, "::");
}
END_TEST

START_TEST(text_addresses_parse)
{
    struct rl_addr a;
    struct rl_addr want = v4(203, 0, 113, 9);

    ck_assert(rl_addr_parse(&a, "203.0.113.9", 11));
    ck_assert_mem_eq(a.b, want.b, 16);
    /* Only the first `len` bytes count. */
    ck_assert(rl_addr_parse(&a, "203.0.113.9xyz", 11));
    ck_assert_mem_eq(a.b, want.b, 16);
    ck_assert(rl_addr_parse(&a, "::ffff:203.0.113.9", 18));
    ck_assert_mem_eq(a.b, want.b, 16);
    ck_assert(rl_addr_parse(&a, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 45));
}
END_TEST

START_TEST(malformed_text_is_not_an_address)
{
    static const char *const bad[] = {
        "",
        "1.2.3",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.2.3.4 ",
        " 1.2.3.4",
        "1.2.3.4:80",
        "[2001:db8::1]",
        "2001:db8::1/64",
        "fe80::1%eth0",
        "2001:db8::g",
        "2001:db8:::1",
        "::ffff:1.2.3",
        "localhost",
        "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2555", /* 46 bytes: over the bound */
    };
    struct rl_addr a;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!rl_addr_parse(&a, bad[i], strlen(bad[i])), "accepted \"%s\"", bad[i]);
    /* An embedded NUL must not let "1.2.3.4" through and hide the rest. */
    ck_assert(!rl_addr_parse(&a, "1.2.3.4\0junk", 12));
    ck_assert(!rl_addr_parse(&a, "\0", 1));
    /* A huge length is refused before anything is copied. */
    ck_assert(!rl_addr_parse(&a, "1.2.3.4", SIZE_MAX));
}
END_TEST

/* ---- the table ---- */

START_TEST(ipv4_is_mapped_into_ipv6)
{
    static const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    static const uint8_t compat[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 192, 0, 2, 1};
    struct rl_addr a = v4(192, 0, 2, 1), b, c;
    struct ratelimit *rl = new_limiter(16);
    uint32_t retry_after;

    ck_assert_mem_eq(a.b, mapped, 16);
    rl_addr_from_ipv6(&b, compat);
    rl_addr_from_ipv6(&c, mapped);

    ck_assert(ratelimit_check(rl, 0, &a, 0, 1, 1, &retry_after));
    ck_assert(!ratelimit_check(rl, 0, &a, 0, 1, 1, &retry_after));
    ck_assert(ratelimit_check(rl, 0, &b, 0, 1, 1, &retry_after));  /* ::192.0.2.1 differs */
    ck_assert(!ratelimit_check(rl, 0, &c, 0, 1, 1, &retry_after)); /* ::ffff:192.0.2.1 same */
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(forwards_and_clients_are_independent)
{
    struct ratelimit *rl = new_limiter(16);
    struct rl_addr a = v4(10, 0, 0, 1), b = v4(10, 0, 0, 2);
    uint32_t retry_after = 0;
    struct ratelimit_stats st;

    ck_assert(ratelimit_check(rl, 0, &a, 0, 2, 2, &retry_after));
    ck_assert(ratelimit_check(rl, 0, &a, 0, 2, 2, &retry_after));
    ck_assert(!ratelimit_check(rl, 0, &a, 0, 2, 2, &retry_after));
    ck_assert_uint_eq(retry_after, 1);
    ck_assert(ratelimit_check(rl, 1, &a, 0, 2, 2, &retry_after));
    ck_assert(ratelimit_check(rl, 0, &b, 0, 2, 2, &retry_after));
    ck_assert(!ratelimit_check(rl, 0, &a, 1, 2, 2, &retry_after));
    ck_assert(ratelimit_check(rl, 0, &a, 500, 2, 2, &retry_after));

    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.checks, 7);
    ck_assert_uint_eq(st.limited, 2);
    ck_assert_uint_eq(st.entries, 3);
    ck_assert_uint_eq(st.capacity, 16);
    ck_assert_uint_eq(st.evictions, 0);
    ratelimit_destroy(rl);
}
END_TEST

/* Evicting a bucket that is full again loses nothing; evicting one in debt is counted. */
START_TEST(evictions_tell_busy_from_idle)
{
    struct ratelimit *rl = new_limiter(10);
    struct ratelimit_stats st;
    uint32_t retry_after, refused = 0;

    /* Eleven clients that each just spent a token: the first one is evicted in debt. */
    for (uint32_t n = 0; n < 11; n++) {
        struct rl_addr a = v4_n(n);

        refused += !ratelimit_check(rl, 0, &a, 0, 1, 5, &retry_after);
    }
    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(refused, 0);
    ck_assert_uint_eq(st.entries, 10);
    ck_assert_uint_eq(st.evictions, 1);
    ck_assert_uint_eq(st.evictions_busy, 1);

    /* A second later every bucket is full again: evicting them costs nothing. */
    for (uint32_t n = 100; n < 110; n++) {
        struct rl_addr a = v4_n(n);

        refused += !ratelimit_check(rl, 0, &a, 1000, 1, 5, &retry_after);
    }
    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(refused, 0);
    ck_assert_uint_eq(st.evictions, 11);
    ck_assert_uint_eq(st.evictions_busy, 1);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(expiry_drops_only_full_buckets)
{
    struct ratelimit *rl = new_limiter(100);
    struct ratelimit_stats st;
    struct rl_addr slow = v4(1, 1, 1, 1);
    uint32_t retry_after;

    for (uint32_t n = 0; n < 20; n++) {
        struct rl_addr a = v4_n(n);
        ck_assert(ratelimit_check(rl, 0, &a, 0, 10, 10, &retry_after)); /* full after 100 ms */
    }
    /* A slow forward: 5 tokens at 1/s needs 5 s to refill, which bounds every idle age. */
    for (int i = 0; i < 5; i++)
        ck_assert(ratelimit_check(rl, 1, &slow, 0, 1, 5, &retry_after));

    ck_assert_uint_eq(ratelimit_expire(rl, 4000, 100), 0);
    ck_assert_uint_eq(ratelimit_expire(rl, 7000, 8), 8); /* bounded work */
    ck_assert_uint_eq(ratelimit_expire(rl, 7000, 100), 13);
    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.entries, 0);
    ck_assert_uint_eq(st.evictions, 0);

    /* Nothing was lost: the slow client is back with a full bucket. */
    for (int i = 0; i < 5; i++)
        ck_assert(ratelimit_check(rl, 1, &slow, 7000, 1, 5, &retry_after));
    ck_assert(!ratelimit_check(rl, 1, &slow, 7000, 1, 5, &retry_after));
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(flood_of_addresses_stays_bounded)
{
    enum { MAX = 1000, FLOOD = 100000 };
    struct ratelimit *rl = new_limiter(MAX);
    struct rl_addr steady = v4(192, 0, 2, 7);
    struct ratelimit_stats st;
    uint32_t retry_after, refused = 0;

    /* One new address per millisecond; a steady client sends 10 requests a second. */
    for (uint32_t n = 0; n < FLOOD; n++) {
        struct rl_addr a = v4_n(0x0a000000u + n);

        refused += !ratelimit_check(rl, 0, &a, n, 100, 200, &retry_after);
        if (n % 100 == 0)
            refused += !ratelimit_check(rl, 0, &steady, n, 100, 200, &retry_after);
    }
    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(refused, 0);
    ck_assert_uint_eq(st.entries, MAX);
    ck_assert_uint_le(st.memory_bytes, 64 * MAX + 4096);
    ck_assert_uint_eq(st.evictions, FLOOD + 1 - MAX);
    /* A flood address is evicted a second after its one request: refilled long since. */
    ck_assert_uint_eq(st.evictions_busy, 0);
    ratelimit_destroy(rl);
}
END_TEST

START_TEST(create_refuses_zero_clients)
{
    ck_assert_ptr_null(ratelimit_create(0, &test_seed));
    ck_assert_ptr_null(ratelimit_create(10, NULL));
    ratelimit_destroy(NULL);
}
END_TEST

/* ---- timing (printed, not asserted) ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void time_checks(const char *what, uint32_t max_clients, uint32_t n_clients)
{
    enum { CHECKS = 1000000 };
    struct ratelimit *rl = new_limiter(max_clients);
    struct ratelimit_stats st;
    uint32_t retry_after;
    uint64_t start = mono_ns(), allowed = 0;

    for (uint32_t i = 0; i < CHECKS; i++) {
        struct rl_addr a = v4_n(i % n_clients);
        allowed += ratelimit_check(rl, 0, &a, i / 1000, 100, 200, &retry_after);
    }
    printf("ratelimit timing: %s: %.1f ns/check\n", what, (double)(mono_ns() - start) / CHECKS);
    ratelimit_stats(rl, &st);
    ck_assert_uint_eq(st.checks, CHECKS);
    ck_assert_uint_eq(st.checks - st.limited, allowed);
    ratelimit_destroy(rl);
}

START_TEST(timing_one_million_checks)
{
    time_checks("1M checks, 1k clients in a 100k table", 100000, 1000);
    time_checks("1M checks, 1M clients in a 100k table (evicting)", 100000, 1000000);
}
END_TEST

static Suite *ratelimit_suite(void)
{
    Suite *s = suite_create("ratelimit");
    TCase *bucket = tcase_create("bucket");
    TCase *table = tcase_create("table");
    TCase *timing = tcase_create("timing");

    tcase_set_timeout(bucket, 60); /* millisecond-by-millisecond sweeps under sanitizers */
    tcase_add_test(bucket, bucket_readme_example);
    tcase_add_test(bucket, bucket_refill_never_exceeds_burst);
    tcase_add_test(bucket, bucket_exact_at_any_rate);
    tcase_add_test(bucket, bucket_million_per_second_precision);
    tcase_add_test(bucket, bucket_retry_after_is_honest);
    tcase_add_test(bucket, bucket_zero_parameters_count_as_one);
    tcase_add_test(bucket, bucket_survives_rate_change);
    tcase_add_test(bucket, bucket_clock_going_back);
    suite_add_tcase(s, bucket);

    tcase_set_timeout(table, 60);
    tcase_add_test(table, ipv6_is_keyed_by_its_prefix);
    tcase_add_test(table, one_network_shares_a_key);
    tcase_add_test(table, ipv4_keeps_its_whole_address);
    tcase_add_test(table, text_addresses_parse);
    tcase_add_test(table, malformed_text_is_not_an_address);
    tcase_add_test(table, ipv4_is_mapped_into_ipv6);
    tcase_add_test(table, forwards_and_clients_are_independent);
    tcase_add_test(table, evictions_tell_busy_from_idle);
    tcase_add_test(table, expiry_drops_only_full_buckets);
    tcase_add_test(table, flood_of_addresses_stays_bounded);
    tcase_add_test(table, create_refuses_zero_clients);
    suite_add_tcase(s, table);

    tcase_set_timeout(timing, 120);
    tcase_add_test(timing, timing_one_million_checks);
    suite_add_tcase(s, timing);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ratelimit_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

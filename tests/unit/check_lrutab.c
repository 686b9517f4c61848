/*
 * Unit tests of siphash.c (published vectors, and OpenSSL's SipHash as an independent
 * oracle) and lrutab.c (lookup, LRU eviction, bounded expiry, floods, memory bound).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "lrutab.h"
#include "siphash.h"

#define KEY_LEN 20
#define VAL_LEN 16

static const struct siphash_key test_seed = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};

/* The paper's key 00 01 .. 0f, and the message 00 01 .. (len - 1). */
static struct siphash_key paper_key(void)
{
    uint8_t k[SIPHASH_KEY_LEN];

    for (unsigned i = 0; i < sizeof(k); i++)
        k[i] = (uint8_t)i;
    return siphash_key_from_bytes(k);
}

static void counting_message(uint8_t *m, size_t len)
{
    for (size_t i = 0; i < len; i++)
        m[i] = (uint8_t)i;
}

/* A distinct 20-byte key per number; the filler catches comparisons of only a prefix. */
static void make_key(uint8_t key[KEY_LEN], uint32_t n)
{
    memset(key, 0xa5, KEY_LEN);
    memcpy(key + KEY_LEN - sizeof(n), &n, sizeof(n));
}

static struct lrutab *new_table(uint32_t max_entries)
{
    struct lrutab *t = lrutab_create(KEY_LEN, VAL_LEN, max_entries, &test_seed);

    ck_assert_ptr_nonnull(t);
    return t;
}

static bool has(const struct lrutab *t, uint32_t n)
{
    uint8_t key[KEY_LEN];

    make_key(key, n);
    return lrutab_get(t, key) != NULL;
}

static void *touch(struct lrutab *t, uint32_t n, uint64_t now_ms, bool *created)
{
    uint8_t key[KEY_LEN];

    make_key(key, n);
    return lrutab_get_or_insert(t, key, now_ms, created);
}

/* ---- siphash ---- */

START_TEST(siphash_published_vectors)
{
    struct siphash_key key = paper_key();
    static const uint8_t want128_empty[SIPHASH128_LEN] = {0xa3, 0x81, 0x7f, 0x04, 0xba, 0x25,
                                                          0xa8, 0xe6, 0x6d, 0xf6, 0x72, 0x14,
                                                          0xc7, 0x55, 0x02, 0x93};
    uint8_t msg[15], out[SIPHASH128_LEN];

    counting_message(msg, sizeof(msg));
    /* The paper's worked example (appendix A), and the first entry of its vector table. */
    ck_assert_uint_eq(siphash(&key, msg, 15), 0xa129ca6149be45e5ULL);
    ck_assert_uint_eq(siphash(&key, NULL, 0), 0x726fdb47dd0e0e31ULL);
    siphash128(&key, NULL, 0, out);
    ck_assert_mem_eq(out, want128_empty, sizeof(out));
}
END_TEST

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void openssl_siphash(const uint8_t key[SIPHASH_KEY_LEN], const uint8_t *msg, size_t len,
                            uint8_t *out, size_t out_len)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    EVP_MAC_CTX *ctx;
    OSSL_PARAM params[2];
    size_t size = out_len, written = 0;

    ck_assert_ptr_nonnull(mac);
    ctx = EVP_MAC_CTX_new(mac);
    ck_assert_ptr_nonnull(ctx);
    params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
    params[1] = OSSL_PARAM_construct_end();
    ck_assert_int_eq(EVP_MAC_init(ctx, key, SIPHASH_KEY_LEN, params), 1);
    ck_assert_int_eq(EVP_MAC_update(ctx, msg, len), 1);
    ck_assert_int_eq(EVP_MAC_final(ctx, out, &written, out_len), 1);
    ck_assert_uint_eq(written, out_len);
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);
}

/* Every tail length, both output sizes, random keys and messages. */
START_TEST(siphash_matches_openssl)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    for (size_t len = 0; len <= 64; len++) {
        uint8_t kb[SIPHASH_KEY_LEN], msg[64], want[SIPHASH128_LEN], got[SIPHASH128_LEN];
        struct siphash_key key;
        uint64_t h;

        for (size_t i = 0; i < sizeof(kb); i++)
            kb[i] = (uint8_t)xorshift(&rng);
        for (size_t i = 0; i < sizeof(msg); i++)
            msg[i] = (uint8_t)xorshift(&rng);
        key = siphash_key_from_bytes(kb);

        openssl_siphash(kb, msg, len, want, 8);
        h = siphash(&key, msg, len);
        for (unsigned i = 0; i < 8; i++)
            got[i] = (uint8_t)(h >> (8 * i));
        ck_assert_mem_eq(got, want, 8);

        openssl_siphash(kb, msg, len, want, SIPHASH128_LEN);
        siphash128(&key, msg, len, got);
        ck_assert_mem_eq(got, want, SIPHASH128_LEN);
    }
}
END_TEST

START_TEST(siphash_depends_on_key)
{
    struct siphash_key a = {1, 2}, b = {1, 3};

    ck_assert_uint_ne(siphash(&a, "id", 2), siphash(&b, "id", 2));
}
END_TEST

/* ---- lrutab ---- */

START_TEST(create_rejects_bad_sizes)
{
    errno = 0;
    ck_assert_ptr_null(lrutab_create(0, VAL_LEN, 10, &test_seed));
    ck_assert_int_eq(errno, EINVAL);
    ck_assert_ptr_null(lrutab_create(LRUTAB_MAX_KEY_LEN + 1, VAL_LEN, 10, &test_seed));
    ck_assert_ptr_null(lrutab_create(KEY_LEN, LRUTAB_MAX_VAL_LEN + 1, 10, &test_seed));
    ck_assert_ptr_null(lrutab_create(KEY_LEN, VAL_LEN, 0, &test_seed));
    ck_assert_ptr_null(lrutab_create(KEY_LEN, VAL_LEN, LRUTAB_MAX_ENTRIES + 1, &test_seed));
    ck_assert_ptr_null(lrutab_create(KEY_LEN, VAL_LEN, 10, NULL));
    lrutab_destroy(NULL);
}
END_TEST

START_TEST(insert_get_delete)
{
    struct lrutab *t = new_table(8);
    static const uint8_t zero[VAL_LEN];
    uint8_t key[KEY_LEN];
    bool created = false;
    uint8_t *v;

    make_key(key, 1);
    ck_assert_ptr_null(lrutab_get(t, key));
    v = lrutab_get_or_insert(t, key, 0, &created);
    ck_assert(created);
    ck_assert_mem_eq(v, zero, VAL_LEN);
    ck_assert_uint_eq((uintptr_t)v % 8, 0); /* values may hold uint64_t */
    memset(v, 0x42, VAL_LEN);
    ck_assert_uint_eq(lrutab_count(t), 1);

    ck_assert_ptr_eq(lrutab_get_or_insert(t, key, 5, &created), v);
    ck_assert(!created);
    ck_assert_ptr_eq(lrutab_get(t, key), v);
    ck_assert_uint_eq(v[VAL_LEN - 1], 0x42);
    ck_assert(!has(t, 2));

    ck_assert(lrutab_delete(t, key));
    ck_assert(!lrutab_delete(t, key));
    ck_assert_ptr_null(lrutab_get(t, key));
    ck_assert_uint_eq(lrutab_count(t), 0);

    v = lrutab_get_or_insert(t, key, 6, &created);
    ck_assert(created);
    ck_assert_mem_eq(v, zero, VAL_LEN); /* a reused slot starts zeroed again */
    ck_assert_uint_eq(lrutab_evictions(t), 0);
    lrutab_destroy(t);
}
END_TEST

/* Many keys per bucket: delete from the head, middle and tail of chains. */
START_TEST(delete_within_chains)
{
    struct lrutab *t = new_table(64);

    for (uint32_t n = 0; n < 64; n++)
        touch(t, n, 0, NULL);
    for (uint32_t n = 0; n < 64; n += 3) {
        uint8_t key[KEY_LEN];

        make_key(key, n);
        ck_assert(lrutab_delete(t, key));
    }
    for (uint32_t n = 0; n < 64; n++)
        ck_assert_int_eq(has(t, n), n % 3 != 0);
    ck_assert_uint_eq(lrutab_count(t), 64 - 22);
    lrutab_destroy(t);
}
END_TEST

struct evict_log {
    uint32_t keys[8];
    uint64_t when[8];
    unsigned n;
};

static void log_eviction(const void *key, const void *val, uint64_t now_ms, void *ctx)
{
    struct evict_log *log = ctx;
    uint32_t n;

    (void)val;
    memcpy(&n, (const uint8_t *)key + KEY_LEN - sizeof(n), sizeof(n));
    ck_assert_uint_lt(log->n, 8);
    log->keys[log->n] = n;
    log->when[log->n++] = now_ms;
}

START_TEST(evicts_least_recently_used)
{
    struct lrutab *t = new_table(3);
    struct evict_log log = {0};
    bool created;

    lrutab_on_evict(t, log_eviction, &log);
    touch(t, 1, 0, NULL);
    touch(t, 2, 0, NULL);
    touch(t, 3, 0, NULL);
    touch(t, 1, 1, &created); /* 1 becomes the most recent: 2 is now the oldest */
    ck_assert(!created);
    touch(t, 4, 2, &created);
    ck_assert(created);
    ck_assert_uint_eq(log.n, 1);
    ck_assert_uint_eq(log.keys[0], 2);
    ck_assert_uint_eq(log.when[0], 2);
    ck_assert(!has(t, 2));
    ck_assert(has(t, 1) && has(t, 3) && has(t, 4));

    touch(t, 5, 3, NULL);
    ck_assert_uint_eq(log.keys[1], 3);
    touch(t, 6, 4, NULL);
    ck_assert_uint_eq(log.keys[2], 1);
    ck_assert_uint_eq(lrutab_count(t), 3);
    ck_assert_uint_eq(lrutab_evictions(t), 3);
    lrutab_destroy(t);
}
END_TEST

/* A clone holds the same entries in the same order, and from then on lives apart. */
START_TEST(clone_is_a_separate_copy)
{
    struct lrutab *t = new_table(3), *c;
    struct evict_log log = {0};

    lrutab_on_evict(t, log_eviction, &log);
    touch(t, 1, 0, NULL);
    touch(t, 2, 0, NULL);
    touch(t, 3, 0, NULL);
    touch(t, 4, 1, NULL); /* evicts 1 */
    touch(t, 2, 2, NULL); /* 3 is the oldest now */
    c = lrutab_clone(t);
    ck_assert_ptr_nonnull(c);
    ck_assert_uint_eq(lrutab_count(c), 3);
    ck_assert_uint_eq(lrutab_evictions(c), 1);
    ck_assert(has(c, 2) && has(c, 3) && has(c, 4) && !has(c, 1));
    /* No observer came along; the order did: 3 goes first, then 4. */
    touch(c, 5, 3, NULL);
    ck_assert(!has(c, 3));
    touch(c, 6, 3, NULL);
    ck_assert(!has(c, 4) && has(c, 2));
    ck_assert_uint_eq(log.n, 1);
    /* The source is untouched by what the clone did. */
    ck_assert(has(t, 3) && has(t, 4) && !has(t, 5));
    lrutab_destroy(t);
    lrutab_destroy(c);
}
END_TEST

START_TEST(get_does_not_refresh)
{
    struct lrutab *t = new_table(2);

    touch(t, 1, 0, NULL);
    touch(t, 2, 0, NULL);
    ck_assert(has(t, 1)); /* a peek: 1 stays the oldest */
    touch(t, 3, 0, NULL);
    ck_assert(!has(t, 1));
    ck_assert(has(t, 2) && has(t, 3));
    lrutab_destroy(t);
}
END_TEST

START_TEST(deleted_slots_are_reused_before_evicting)
{
    struct lrutab *t = new_table(4);
    uint8_t key[KEY_LEN];

    for (uint32_t n = 0; n < 4; n++)
        touch(t, n, 0, NULL);
    make_key(key, 0);
    lrutab_delete(t, key);
    touch(t, 10, 0, NULL);
    ck_assert_uint_eq(lrutab_evictions(t), 0);
    ck_assert(has(t, 1) && has(t, 2) && has(t, 3) && has(t, 10));
    lrutab_destroy(t);
}
END_TEST

START_TEST(expiry_is_bounded_per_call)
{
    struct lrutab *t = new_table(100);

    for (uint32_t n = 0; n < 6; n++)
        touch(t, n, 1000, NULL);
    for (uint32_t n = 6; n < 10; n++)
        touch(t, n, 60000, NULL);

    ck_assert_uint_eq(lrutab_expire(t, 70000, 30000, 4), 4);
    ck_assert_uint_eq(lrutab_count(t), 6);
    ck_assert_uint_eq(lrutab_expire(t, 70000, 30000, 4), 2); /* stops at the young ones */
    ck_assert_uint_eq(lrutab_count(t), 4);
    for (uint32_t n = 0; n < 10; n++)
        ck_assert_int_eq(has(t, n), n >= 6);
    ck_assert_uint_eq(lrutab_expire(t, 70000, 30000, 100), 0);
    ck_assert_uint_eq(lrutab_expire(t, 70000, 30000, 0), 0);
    ck_assert_uint_eq(lrutab_expire(t, 200000, 30000, 0), 0);
    ck_assert_uint_eq(lrutab_count(t), 4);
    ck_assert_uint_eq(lrutab_evictions(t), 0);
    lrutab_destroy(t);
}
END_TEST

/* A refreshed entry is younger than its insertion time says. */
START_TEST(expiry_follows_last_use)
{
    struct lrutab *t = new_table(10);

    touch(t, 1, 0, NULL);
    touch(t, 2, 0, NULL);
    touch(t, 1, 50000, NULL);
    ck_assert_uint_eq(lrutab_expire(t, 60000, 30000, 10), 1);
    ck_assert(has(t, 1) && !has(t, 2));
    lrutab_destroy(t);
}
END_TEST

/* Never early, and at most about a second late, whatever the millisecond phase. */
START_TEST(expiry_never_early)
{
    static const uint64_t uses[] = {0, 1, 999, 1000, 1999, 123456789};
    static const uint64_t idles[] = {0, 1, 999, 1000, 30000};

    for (size_t u = 0; u < sizeof(uses) / sizeof(uses[0]); u++) {
        for (size_t i = 0; i < sizeof(idles) / sizeof(idles[0]); i++) {
            uint64_t used = uses[u], idle = idles[i];
            struct lrutab *t = new_table(2);
            size_t early = 0;

            touch(t, 1, used, NULL);
            for (uint64_t now = used; now <= used + idle; now += 7)
                early += lrutab_expire(t, now, idle, 1);
            ck_assert_uint_eq(early, 0);
            ck_assert_uint_eq(lrutab_expire(t, used + idle, idle, 1), 0);
            ck_assert_uint_eq(lrutab_expire(t, used + idle + 1000, idle, 1), 1);
            lrutab_destroy(t);
        }
    }
}
END_TEST

START_TEST(expiry_survives_clock_going_back)
{
    struct lrutab *t = new_table(2);

    touch(t, 1, 100000, NULL);
    ck_assert_uint_eq(lrutab_expire(t, 0, 0, 10), 0);
    ck_assert_uint_eq(lrutab_expire(t, 5000, 1000, 10), 0);
    ck_assert(has(t, 1));
    lrutab_destroy(t);
}
END_TEST

/*
 * A million distinct keys through a 10,000-entry table: the count never passes the
 * bound, a key used every 100 insertions survives, and the newest keys are all there.
 */
START_TEST(flood_stays_bounded)
{
    enum { MAX = 10000, FLOOD = 1000000, HOT = 0xffffffffu };
    struct lrutab *t = new_table(MAX);
    uint32_t not_created = 0, hot_lost = 0, peak = 0;
    bool created;

    /* Check's assertions cost a system call each: count in the loop, assert after it. */
    touch(t, HOT, 0, NULL);
    for (uint32_t n = 0; n < FLOOD; n++) {
        touch(t, n, n / 1000, &created);
        not_created += !created;
        if (n % 100 == 99) {
            touch(t, HOT, n / 1000, &created);
            hot_lost += created;
        }
        if (lrutab_count(t) > peak)
            peak = lrutab_count(t);
    }
    ck_assert_uint_eq(not_created, 0);
    ck_assert_uint_eq(hot_lost, 0);
    ck_assert_uint_eq(peak, MAX);
    ck_assert_uint_eq(lrutab_count(t), MAX);
    ck_assert(has(t, HOT));
    for (uint32_t n = FLOOD - (MAX - 1); n < FLOOD; n++)
        hot_lost += !has(t, n);
    ck_assert_uint_eq(hot_lost, 0);
    ck_assert(!has(t, FLOOD - MAX));
    ck_assert_uint_eq(lrutab_evictions(t), FLOOD + 1 - MAX);
    lrutab_destroy(t);
}
END_TEST

/* A 20-byte key and a 16-byte value cost at most 64 bytes per entry, index included. */
START_TEST(memory_is_bounded)
{
    static const uint32_t sizes[] = {1, 3, 1000, 10000, 16384, 16385, 1u << 20};

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct lrutab *t = new_table(sizes[i]);
        size_t bytes = lrutab_memory_bytes(t);

        ck_assert_uint_le(bytes, sizeof(struct lrutab) + 64 * (size_t)sizes[i]);
        ck_assert_uint_ge(bytes, (size_t)sizes[i] * (KEY_LEN + VAL_LEN));
        ck_assert_uint_eq(lrutab_capacity(t), sizes[i]);
        lrutab_destroy(t);
    }
}
END_TEST

START_TEST(zero_sized_values_make_a_set)
{
    struct lrutab *t = lrutab_create(KEY_LEN, 0, 2, &test_seed);
    bool created;

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(touch(t, 7, 0, &created));
    ck_assert(created);
    ck_assert(has(t, 7) && !has(t, 8));
    lrutab_destroy(t);
}
END_TEST

static Suite *lrutab_suite(void)
{
    Suite *s = suite_create("lrutab");
    TCase *sip = tcase_create("siphash");
    TCase *tab = tcase_create("table");
    TCase *exp = tcase_create("expiry");
    TCase *bound = tcase_create("bounds");

    tcase_add_test(sip, siphash_published_vectors);
    tcase_add_test(sip, siphash_matches_openssl);
    tcase_add_test(sip, siphash_depends_on_key);
    suite_add_tcase(s, sip);

    tcase_add_test(tab, create_rejects_bad_sizes);
    tcase_add_test(tab, insert_get_delete);
    tcase_add_test(tab, delete_within_chains);
    tcase_add_test(tab, evicts_least_recently_used);
    tcase_add_test(tab, clone_is_a_separate_copy);
    tcase_add_test(tab, get_does_not_refresh);
    tcase_add_test(tab, deleted_slots_are_reused_before_evicting);
    tcase_add_test(tab, zero_sized_values_make_a_set);
    suite_add_tcase(s, tab);

    tcase_add_test(exp, expiry_is_bounded_per_call);
    tcase_add_test(exp, expiry_follows_last_use);
    tcase_add_test(exp, expiry_never_early);
    tcase_add_test(exp, expiry_survives_clock_going_back);
    suite_add_tcase(s, exp);

    tcase_set_timeout(bound, 120); /* the flood takes seconds under sanitizers */
    tcase_add_test(bound, flood_stays_bounded);
    tcase_add_test(bound, memory_is_bounded);
    suite_add_tcase(s, bound);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(lrutab_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

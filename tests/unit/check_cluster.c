/*
 * Unit tests of the shared buckets (cluster_table.c) with an injected clock, including two
 * agents against a model of the Redis script; the fallback state machine (cluster_link.c);
 * hostile replies from fake reply structures (cluster_reply.c); bucket names
 * (cluster_key.c); the bound on a batch.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_key.h"
#include "cluster_link.h"
#include "cluster_reply.h"
#include "cluster_table.h"
#include "ratelimit.h"

static const struct siphash_key seed = {0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL};

static struct cluster_digest key_n(uint32_t n)
{
    struct cluster_digest d;

    memset(&d, 0, sizeof(d));
    memcpy(d.b, &n, sizeof(n));
    return d;
}

/* The Lua script of cluster_redis.c, in C: one shared bucket on Redis' clock. */
struct model_redis {
    int64_t level;
    uint64_t at;
    bool known;
};

static int64_t model_apply(struct model_redis *r, uint64_t now, const struct cluster_batch_item *it)
{
    int64_t cap = (int64_t)it->burst * 1000;

    if (!r->known) {
        r->level = cap;
        r->at = now;
        r->known = true;
    }
    if (now > r->at)
        r->level += (int64_t)(now - r->at) * it->per_second;
    r->level = (r->level > cap ? cap : r->level) - (int64_t)it->spend * 1000;
    if (r->level < -cap)
        r->level = -cap;
    r->at = now;
    return r->level;
}

START_TEST(a_bucket_alone_is_a_token_bucket)
{
    struct shared_bucket b = {.level_mt = 4000, .at_ms = 0};
    uint32_t ra = 0;
    int granted = 0;

    while (shared_bucket_take(&b, 0, 2, 4, &ra))
        granted++;
    ck_assert_int_eq(granted, 4);
    ck_assert_uint_eq(ra, 1);
    /* 500 ms at 2 per second refills exactly one token. */
    ck_assert(!shared_bucket_take(&b, 499, 2, 4, &ra));
    ck_assert(shared_bucket_take(&b, 500, 2, 4, &ra));
    /* A long idle period refills to the burst, never above. */
    ck_assert(shared_bucket_take(&b, 1000000, 2, 4, &ra));
    ck_assert_int_eq(b.level_mt, 3000);
}
END_TEST

START_TEST(merge_keeps_what_was_spent_since_the_batch_left)
{
    struct shared_bucket b = {.level_mt = 10000, .burst = 10, .per_second = 1};

    b.unsent = 3;
    shared_bucket_merge(&b, 100, 8000);
    ck_assert_int_eq(b.level_mt, 5000);
    ck_assert_uint_eq(b.at_ms, 100);
    /* A debt is kept, bounded by the capacity whatever Redis says. */
    b.unsent = 0;
    shared_bucket_merge(&b, 100, -4000);
    ck_assert_int_eq(b.level_mt, -4000);
    shared_bucket_merge(&b, 100, -1000000000);
    ck_assert_int_eq(b.level_mt, -10000);
    shared_bucket_merge(&b, 100, 1000000000);
    ck_assert_int_eq(b.level_mt, 10000);
    /* In debt, a request waits for the debt and one token. */
    uint32_t ra = 0;
    shared_bucket_merge(&b, 0, -3000);
    ck_assert(!shared_bucket_take(&b, 0, 1, 10, &ra));
    ck_assert_uint_eq(ra, 4);
}
END_TEST

/*
 * Two agents, one client sending to both every millisecond, sync every 5 ms with a 1 ms
 * round trip: over 10 s the admitted total stays within (agents - 1) x rate x (interval +
 * round trip) + burst of rate x 10 s, i.e. well within 10 %.
 */
START_TEST(two_agents_share_the_rate)
{
    const uint32_t rate = 100, burst = 100, interval = 5, rtt = 1;
    struct cluster_table *a[2];
    struct cluster_batch_item items[2][8];
    size_t n[2] = {0, 0};
    uint64_t sent_at[2] = {0, 0};
    struct model_redis redis = {0};
    struct cluster_digest k = key_n(7);
    uint64_t admitted = 0, now;
    uint32_t ra;

    for (int i = 0; i < 2; i++) {
        a[i] = cluster_table_create(16, 8, &seed);
        ck_assert_ptr_nonnull(a[i]);
        cluster_table_set_sharing(a[i], true);
    }
    for (now = 0; now < 10000; now++) {
        for (int i = 0; i < 2; i++) {
            int64_t level;

            if (cluster_table_take(a[i], &k, now, rate, burst, &ra))
                admitted++;
            /* The reply of agent i's batch arrives rtt after it left; Redis applied it at
             * half-way. */
            if (n[i] && now == sent_at[i] + rtt) {
                level = model_apply(&redis, sent_at[i], &items[i][0]);
                cluster_table_batch_done(a[i], &level, 1, now);
                n[i] = 0;
            }
            if (now % interval == (uint64_t)i * 2 && !n[i]) {
                n[i] = cluster_table_batch_begin(a[i], items[i]);
                sent_at[i] = now;
            }
        }
    }
    /* 1000 in 10 s, plus the burst, plus at most 1 x 100/s x 6 ms per sync: < 1 % more. */
    ck_assert_msg(admitted >= 1000 && admitted <= 1000 + burst + 10, "admitted %llu",
                  (unsigned long long)admitted);
    for (int i = 0; i < 2; i++)
        cluster_table_destroy(a[i]);
}
END_TEST

/* Without sharing, each agent is a whole limit: the fallback doubles the total. */
START_TEST(alone_each_agent_admits_the_rate)
{
    struct cluster_table *t = cluster_table_create(16, 8, &seed);
    struct cluster_batch_item items[8];
    struct cluster_digest k = key_n(1);
    uint64_t admitted = 0;
    uint32_t ra;

    for (uint64_t now = 0; now < 10000; now++)
        admitted += cluster_table_take(t, &k, now, 100, 100, &ra);
    ck_assert_uint_eq(admitted, 1000 + 100 - 1);
    ck_assert_uint_eq(cluster_table_batch_begin(t, items), 0);
    cluster_table_destroy(t);
}
END_TEST

/* One more spend on bucket `n`, then a batch: it carries that bucket alone, with `spend`. */
static void spend_one_and_batch(struct cluster_table *t, uint32_t n, uint32_t spend)
{
    struct cluster_batch_item items[8];
    struct cluster_digest k = key_n(n);
    uint32_t ra;

    ck_assert(cluster_table_take(t, &k, 0, 10, 10, &ra));
    ck_assert_uint_eq(cluster_table_batch_begin(t, items), 1);
    ck_assert_uint_eq(items[0].spend, spend);
}

START_TEST(a_batch_is_bounded_and_the_rest_waits)
{
    struct cluster_table *t = cluster_table_create(1000, 4, &seed);
    struct cluster_batch_item items[4];
    struct cluster_table_stats st;
    uint32_t ra;

    cluster_table_set_sharing(t, true);
    for (uint32_t i = 0; i < 10; i++) {
        struct cluster_digest k = key_n(i);

        ck_assert(cluster_table_take(t, &k, 0, 10, 10, &ra));
        ck_assert(cluster_table_take(t, &k, 0, 10, 10, &ra));
    }
    ck_assert_uint_eq(cluster_table_batch_begin(t, items), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_uint_eq(items[i].spend, 2);
    /* A batch in flight: no second one. */
    ck_assert_uint_eq(cluster_table_batch_begin(t, items), 0);
    cluster_table_batch_lost(t);
    cluster_table_stats(t, &st);
    ck_assert_uint_eq(st.keys_deferred, 12); /* 6 buckets, 2 spends each */
    ck_assert_uint_eq(st.keys_synced, 4);
    /* The deferred buckets join the next batch once they spend again, with all of it. */
    spend_one_and_batch(t, 9, 3);
    cluster_table_destroy(t);
}
END_TEST

START_TEST(going_local_drops_pending_spend)
{
    struct cluster_table *t = cluster_table_create(16, 8, &seed);
    struct cluster_batch_item items[8];
    struct cluster_digest k = key_n(3);
    uint32_t ra;

    cluster_table_set_sharing(t, true);
    ck_assert(cluster_table_take(t, &k, 0, 10, 10, &ra));
    cluster_table_set_sharing(t, false);
    ck_assert(cluster_table_take(t, &k, 0, 10, 10, &ra));
    cluster_table_set_sharing(t, true);
    ck_assert_uint_eq(cluster_table_batch_begin(t, items), 0);
    spend_one_and_batch(t, 3, 1);
    cluster_table_destroy(t);
}
END_TEST

START_TEST(a_flood_of_addresses_stays_bounded)
{
    struct cluster_table *t = cluster_table_create(1000, 100, &seed);
    struct cluster_table_stats st;
    uint32_t ra;

    cluster_table_set_sharing(t, true);
    for (uint32_t i = 0; i < 100000; i++) {
        struct cluster_digest k = key_n(i);

        ck_assert(cluster_table_take(t, &k, i / 100, 10, 10, &ra));
    }
    cluster_table_stats(t, &st);
    ck_assert_uint_eq(st.entries, 1000);
    ck_assert_uint_eq(st.keys_deferred, 100000 - 100);
    /* Idle long enough to refill from -burst, every bucket goes. */
    ck_assert_uint_eq(cluster_table_expire(t, 1000000, 5000), 1000);
    cluster_table_destroy(t);
}
END_TEST

START_TEST(link_falls_back_and_recovers_with_backoff)
{
    struct cluster_link l;

    cluster_link_init(&l, 0);
    ck_assert_int_eq(l.state, CLUSTER_STARTING);
    ck_assert(cluster_link_may_connect(&l, 0));
    /* A first failure before ever connecting is a transition (logged once). */
    ck_assert(cluster_link_failed(&l, 10, false));
    ck_assert(!cluster_link_may_connect(&l, 109));
    ck_assert(cluster_link_may_connect(&l, 110));
    ck_assert(!cluster_link_failed(&l, 110, false)); /* still local: not logged again */
    ck_assert_uint_eq(l.retry_at_ms, 110 + 200);
    ck_assert(cluster_link_up(&l, 400));
    ck_assert_uint_eq(l.recoveries, 1);
    ck_assert_uint_eq(l.failures, 0);
    ck_assert(!cluster_link_up(&l, 401));
    ck_assert(cluster_link_failed(&l, 500, true));
    ck_assert_uint_eq(l.fallbacks, 1);
    ck_assert_uint_eq(l.timeouts, 1);
    ck_assert_uint_eq(l.errors, 3);
    ck_assert_int_eq(l.state, CLUSTER_LOCAL);
    ck_assert_str_eq(cluster_link_state_name(l.state), "local");
    /* The backoff doubles to its cap, never past it, however many failures. */
    ck_assert_uint_eq(cluster_backoff_ms(1), 100);
    ck_assert_uint_eq(cluster_backoff_ms(6), 3200);
    ck_assert_uint_eq(cluster_backoff_ms(7), 5000);
    ck_assert_uint_eq(cluster_backoff_ms(UINT32_MAX), 5000);
}
END_TEST

static redisReply integer(long long v)
{
    return (redisReply){.type = REDIS_REPLY_INTEGER, .integer = v};
}

START_TEST(replies_are_checked_before_use)
{
    redisReply e[3] = {integer(1000), integer(-2000), integer(5)};
    redisReply *ptrs[3] = {&e[0], &e[1], &e[2]};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = ptrs};
    int64_t levels[3];
    char err[160];

    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), 0);
    ck_assert_int_eq(levels[1], -2000);
    /* Count differs from the batch's. */
    ck_assert_int_eq(cluster_reply_levels(&arr, 2, 10000, levels, err, sizeof(err)), -1);
    /* Huge array announced, no elements. */
    arr.elements = (size_t)1 << 40;
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    arr.elements = 3;
    arr.element = NULL;
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    arr.element = ptrs;
    /* A level beyond the capacity, a string, a nil, a missing element. */
    e[2] = integer(10001);
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    e[2] = integer(-10001);
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    e[2] = (redisReply){.type = REDIS_REPLY_STRING, .str = "5", .len = 1};
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    e[2] = (redisReply){.type = REDIS_REPLY_NIL};
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    ptrs[2] = NULL;
    ck_assert_int_eq(cluster_reply_levels(&arr, 3, 10000, levels, err, sizeof(err)), -1);
    /* Not an array at all. */
    ck_assert_int_eq(cluster_reply_levels(NULL, 0, 10000, levels, err, sizeof(err)), -1);
    e[0] = integer(5);
    ck_assert_int_eq(cluster_reply_levels(&e[0], 1, 10000, levels, err, sizeof(err)), -1);
}
END_TEST

START_TEST(error_replies_are_logged_printable_and_cut)
{
    char text[300], err[160];
    redisReply r = {.type = REDIS_REPLY_ERROR, .str = text};

    memset(text, 'x', sizeof(text));
    memcpy(text, "NOSCRIPT\x1b[31m\n", 14);
    r.len = sizeof(text);
    ck_assert_int_eq(cluster_reply_levels(&r, 1, 1000, NULL, err, sizeof(err)), -1);
    ck_assert_ptr_nonnull(strstr(err, "NOSCRIPT?[31m?"));
    ck_assert_uint_lt(strlen(err), 120);
    for (const char *p = err; *p; p++)
        ck_assert(*p >= 0x20 && *p < 0x7f);
}
END_TEST

/* What a reader built with `bytes` of a server's answer; NULL when it refused them. */
static redisReply *read_reply(const char *bytes)
{
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    int rc;

    cluster_reply_cap_arrays(r);
    redisReaderFeed(r, bytes, strlen(bytes));
    rc = redisReaderGetReply(r, &reply);
    redisReaderFree(r);
    return rc == REDIS_OK ? reply : NULL;
}

START_TEST(announced_huge_arrays_are_refused_unallocated)
{
    redisReply *r = read_reply("*3\r\n:1\r\n:-2\r\n:3\r\n");
    int64_t levels[3];
    char err[160];

    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(cluster_reply_levels(r, 3, 10, levels, err, sizeof(err)), 0);
    freeReplyObject(r);
    /* 2^31 - 1 elements of 8 bytes would be a 16 GiB allocation. */
    ck_assert_ptr_null(read_reply("*2147483647\r\n"));
    ck_assert_ptr_null(read_reply("*100001\r\n"));
    ck_assert_ptr_null(read_reply("*1\r\n*100001\r\n"));
}
END_TEST

START_TEST(setup_replies)
{
    char sha[41], err[160];
    redisReply ok = {.type = REDIS_REPLY_STATUS, .str = "OK", .len = 2};
    redisReply okx = {.type = REDIS_REPLY_STATUS, .str = "OKAY", .len = 4};
    redisReply s = {
        .type = REDIS_REPLY_STRING, .str = "0123456789abcdef0123456789abcdef01234567", .len = 40};
    redisReply bad = {.type = REDIS_REPLY_STRING, .str = "../../etc", .len = 9};

    ck_assert_int_eq(cluster_reply_ok(&ok, NULL, err, sizeof(err)), 0);
    ck_assert_int_eq(cluster_reply_ok(&okx, NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(cluster_reply_ok(&s, NULL, err, sizeof(err)), -1);
    ck_assert_int_eq(cluster_reply_ok(&s, sha, err, sizeof(err)), 0);
    ck_assert_str_eq(sha, s.str);
    ck_assert_int_eq(cluster_reply_ok(&bad, sha, err, sizeof(err)), -1);
    ck_assert_int_eq(cluster_reply_ok(&ok, sha, err, sizeof(err)), -1);
}
END_TEST

START_TEST(bucket_names_hash_identities)
{
    struct cluster_digest a, b, c;
    struct rl_addr addr;
    char name[CLUSTER_REDIS_KEY_MAX];
    char prefix[CLUSTER_KEY_PREFIX_MAX + 1];

    ck_assert(rl_addr_parse(&addr, "192.0.2.7", 9));
    cluster_key_address(&a, "", "chat", &addr);
    cluster_key_address(&b, "", "chat", &addr);
    ck_assert_mem_eq(a.b, b.b, sizeof(a.b)); /* every agent names it alike */
    cluster_key_address(&b, "", "chat2", &addr);
    ck_assert_mem_ne(a.b, b.b, sizeof(a.b));
    cluster_key_address(&b, "other", "chat", &addr);
    ck_assert_mem_ne(a.b, b.b, sizeof(a.b));
    /* A client named like a forward is another bucket. */
    cluster_key_client(&c, "", "chat");
    ck_assert_mem_ne(a.b, c.b, sizeof(a.b));
    /* Field boundaries count: prefix "a" + name "bc" is not prefix "ab" + name "c". */
    cluster_key_client(&b, "a", "bc");
    cluster_key_client(&c, "ab", "c");
    ck_assert_mem_ne(b.b, c.b, sizeof(b.b));

    ck_assert_uint_eq(cluster_key_redis(name, "", &a), 9 + 3 + 32);
    ck_assert(strncmp(name, "llmproxy:rl:", 12) == 0);
    ck_assert(strstr(name, "192") == NULL || strstr(name, "192.0") == NULL);
    memset(prefix, 'p', sizeof(prefix) - 1);
    prefix[sizeof(prefix) - 1] = '\0';
    ck_assert_uint_eq(cluster_key_redis(name, prefix, &a), CLUSTER_REDIS_KEY_MAX - 1);
    ck_assert_uint_eq(strspn(name + 9 + 64 + 4, "0123456789abcdef"), 32);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("cluster");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_bucket_alone_is_a_token_bucket);
    tcase_add_test(tc, merge_keeps_what_was_spent_since_the_batch_left);
    tcase_add_test(tc, two_agents_share_the_rate);
    tcase_add_test(tc, alone_each_agent_admits_the_rate);
    tcase_add_test(tc, a_batch_is_bounded_and_the_rest_waits);
    tcase_add_test(tc, going_local_drops_pending_spend);
    tcase_add_test(tc, a_flood_of_addresses_stays_bounded);
    tcase_add_test(tc, link_falls_back_and_recovers_with_backoff);
    tcase_add_test(tc, replies_are_checked_before_use);
    tcase_add_test(tc, error_replies_are_logged_printable_and_cut);
    tcase_add_test(tc, announced_huge_arrays_are_refused_unallocated);
    tcase_add_test(tc, setup_replies);
    tcase_add_test(tc, bucket_names_hash_identities);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(cluster_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

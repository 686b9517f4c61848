/*
 * Token buckets per (forward, client address) in a bounded LRU table.
 *
 * The bucket arithmetic works in millitokens against a millisecond clock, where one
 * millisecond refills exactly `per_second` millitokens, so any rate is exact. Products
 * are bounded before they are formed: burst * 1000 < 2^42 and per_second < 2^32.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "lrutab.h"
#include "ratelimit.h"

/* The table key; built zero-filled so that it compares bytewise. */
struct rl_key {
    uint32_t forward;
    struct rl_addr addr;
};

_Static_assert(sizeof(struct rl_key) == 20, "rl_key must have no padding");

/* Rate and capacity in the units of the arithmetic; zero counts as one. */
struct rate {
    uint64_t per_ms_mt; /* millitokens refilled per millisecond (= tokens per second) */
    uint64_t cap_mt;    /* capacity in millitokens */
};

static struct rate rate_of(uint32_t per_second, uint32_t burst)
{
    struct rate r = {per_second ? per_second : 1, (uint64_t)(burst ? burst : 1) * RL_MILLI};

    return r;
}

static uint64_t div_ceil(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

static uint64_t deficit_mt(const struct token_bucket *b, uint64_t now_ms, struct rate r)
{
    uint64_t wait_ms, refill;

    if (now_ms >= b->full_at_ms)
        return 0;
    wait_ms = b->full_at_ms - now_ms;
    /* Only a rate changed by a reload, or a clock stepped back, gets here: clamp to empty. */
    if (wait_ms > r.cap_mt / r.per_ms_mt + 1)
        return r.cap_mt;
    refill = wait_ms * r.per_ms_mt;
    if (refill <= b->overshoot_mt)
        return 0;
    refill -= b->overshoot_mt;
    return refill < r.cap_mt ? refill : r.cap_mt;
}

static void bucket_store(struct token_bucket *b, uint64_t now_ms, struct rate r, uint64_t deficit)
{
    uint64_t wait_ms = div_ceil(deficit, r.per_ms_mt);

    b->full_at_ms = now_ms <= UINT64_MAX - wait_ms ? now_ms + wait_ms : UINT64_MAX;
    b->overshoot_mt = (uint32_t)(wait_ms * r.per_ms_mt - deficit);
    b->reserved = 0;
}

uint64_t token_bucket_millitokens(const struct token_bucket *b, uint64_t now_ms,
                                  uint32_t per_second, uint32_t burst)
{
    struct rate r = rate_of(per_second, burst);

    return r.cap_mt - deficit_mt(b, now_ms, r);
}

bool token_bucket_take(struct token_bucket *b, uint64_t now_ms, uint32_t per_second, uint32_t burst,
                       uint32_t *retry_after_s)
{
    struct rate r = rate_of(per_second, burst);
    uint64_t deficit = deficit_mt(b, now_ms, r);
    uint64_t wait_ms;

    if (deficit + RL_MILLI <= r.cap_mt) {
        bucket_store(b, now_ms, r, deficit + RL_MILLI);
        return true;
    }
    /*
     * Storing what was computed changes nothing in the normal case. After a rate change
     * or a clock stepped backwards, the deficit was clamped to the capacity: storing it
     * rebases the bucket on the new rate and timeline, where it would otherwise stay
     * empty until the old full_at_ms came round.
     */
    bucket_store(b, now_ms, r, deficit);
    wait_ms = div_ceil(deficit + RL_MILLI - r.cap_mt, r.per_ms_mt);
    *retry_after_s = (uint32_t)div_ceil(wait_ms, 1000); /* wait_ms >= 1: never 0 */
    return false;
}

/* IPv4 is held as IPv4-mapped IPv6: this prefix, then the four bytes. */
static const uint8_t ipv4_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

void rl_addr_from_ipv4(struct rl_addr *a, const uint8_t ip[4])
{
    memcpy(a->b, ipv4_mapped_prefix, sizeof(ipv4_mapped_prefix));
    memcpy(a->b + 12, ip, 4);
}

bool rl_addr_is_ipv4(const struct rl_addr *a)
{
    return memcmp(a->b, ipv4_mapped_prefix, sizeof(ipv4_mapped_prefix)) == 0;
}

void rl_addr_from_ipv6(struct rl_addr *a, const uint8_t ip[16])
{
    memcpy(a->b, ip, 16);
}

/* INET6_ADDRSTRLEN - 1: the longest textual form, ffff:...:255.255.255.255. */
#define ADDR_TEXT_MAX 45

bool rl_addr_parse(struct rl_addr *a, const char *text, size_t len)
{
    char buf[ADDR_TEXT_MAX + 1];
    uint8_t ip[16];

    /* inet_pton wants a C string: copy, and refuse an embedded NUL, which would hide the
     * bytes after it. */
    if (len == 0 || len > ADDR_TEXT_MAX || memchr(text, '\0', len))
        return false;
    memcpy(buf, text, len);
    buf[len] = '\0';
    if (inet_pton(AF_INET, buf, ip) == 1) {
        rl_addr_from_ipv4(a, ip);
        return true;
    }
    if (inet_pton(AF_INET6, buf, ip) == 1) {
        rl_addr_from_ipv6(a, ip);
        return true;
    }
    return false;
}

void rl_addr_client_key(struct rl_addr *a, unsigned ipv6_prefix)
{
    unsigned whole, rest;

    /* An IPv4 client has one address; its mapped form must not be cut as IPv6, or every
     * IPv4 client would share the bucket of ::ffff:0:0/prefix. */
    if (rl_addr_is_ipv4(a) || ipv6_prefix >= 128)
        return;
    whole = ipv6_prefix / 8;
    rest = ipv6_prefix % 8;
    if (rest)
        a->b[whole++] &= (uint8_t)(0xff00u >> rest);
    memset(a->b + whole, 0, sizeof(a->b) - whole);
}

/* An evicted bucket that is full again cost nothing; one that is not let a client off. */
static void bucket_evicted(const void *key, const void *val, uint64_t now_ms, void *ctx)
{
    const struct token_bucket *b = val;
    struct ratelimit *rl = ctx;

    (void)key;
    if (b->full_at_ms > now_ms)
        rl->evicted_busy++;
}

struct ratelimit *ratelimit_create(uint32_t max_clients, const struct siphash_key *seed)
{
    struct ratelimit *rl = calloc(1, sizeof(*rl));

    if (!rl)
        return NULL;
    rl->buckets =
        lrutab_create(sizeof(struct rl_key), sizeof(struct token_bucket), max_clients, seed);
    if (!rl->buckets) {
        free(rl);
        return NULL;
    }
    lrutab_on_evict(rl->buckets, bucket_evicted, rl);
    return rl;
}

void ratelimit_destroy(struct ratelimit *rl)
{
    if (!rl)
        return;
    lrutab_destroy(rl->buckets);
    free(rl);
}

bool ratelimit_check(struct ratelimit *rl, uint32_t forward, const struct rl_addr *addr,
                     uint64_t now_ms, uint32_t per_second, uint32_t burst, uint32_t *retry_after_s)
{
    struct rate r = rate_of(per_second, burst);
    uint64_t refill_ms = div_ceil(r.cap_mt, r.per_ms_mt);
    struct rl_key key;
    struct token_bucket *b;

    memset(&key, 0, sizeof(key));
    key.forward = forward;
    key.addr = *addr;
    b = lrutab_get_or_insert(rl->buckets, &key, now_ms, NULL);

    rl->checks++;
    if (refill_ms > rl->longest_refill_ms)
        rl->longest_refill_ms = refill_ms;
    if (token_bucket_take(b, now_ms, per_second, burst, retry_after_s))
        return true;
    rl->limited++;
    return false;
}

size_t ratelimit_expire(struct ratelimit *rl, uint64_t now_ms, size_t max_work)
{
    /* Idle that long, even the slowest bucket has refilled from empty. */
    return lrutab_expire(rl->buckets, now_ms, rl->longest_refill_ms, max_work);
}

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
    out->checks = rl->checks;
    out->limited = rl->limited;
    out->evictions = lrutab_evictions(rl->buckets);
    out->evictions_busy = rl->evicted_busy;
    out->entries = lrutab_count(rl->buckets);
    out->capacity = lrutab_capacity(rl->buckets);
    out->memory_bytes = lrutab_memory_bytes(rl->buckets);
}

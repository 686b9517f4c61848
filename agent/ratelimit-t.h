/*
 * Types of the per-client token-bucket rate limiter (functions are in ratelimit.h).
 */
#ifndef LLMPROXY_RATELIMIT_T_H
#define LLMPROXY_RATELIMIT_T_H

#include <stdint.h>

#include "lrutab-t.h"

/* Tokens are counted in thousandths so that refill at a millisecond clock is exact. */
#define RL_MILLI 1000u

/* A client address: IPv6, or IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d). */
struct rl_addr {
    uint8_t b[16];
};

/*
 * A token bucket, held as the moment it is full again rather than as a token count:
 * a bucket past that moment is indistinguishable from a new one, which is what lets the
 * table drop idle buckets and tell a harmless eviction from a harmful one without
 * knowing the bucket's rate. The missing tokens (deficit) at time t < full_at_ms are
 *
 *   (full_at_ms - t) * per_second - overshoot_mt    millitokens,
 *
 * where overshoot_mt < per_second is what the refill during the last millisecond
 * before full_at_ms exceeds the deficit by. Integers throughout: no drift. All zero is
 * a full bucket.
 */
struct token_bucket {
    uint64_t full_at_ms;
    uint32_t overshoot_mt;
    uint32_t reserved; /* zero; keeps the size a multiple of 8 */
};

struct ratelimit {
    struct lrutab *buckets; /* struct rl_key -> struct token_bucket */
    uint64_t checks;
    uint64_t limited;
    uint64_t evicted_busy;      /* evictions of buckets not yet full: a client's debt lost */
    uint64_t longest_refill_ms; /* from empty to full, the slowest bucket checked so far */
};

struct ratelimit_stats {
    uint64_t checks;
    uint64_t limited;
    uint64_t evictions;      /* buckets evicted because the table was full */
    uint64_t evictions_busy; /* ... of which were not yet full again */
    uint32_t entries;
    uint32_t capacity;
    size_t memory_bytes;
};

#endif /* LLMPROXY_RATELIMIT_T_H */

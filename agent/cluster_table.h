/*
 * Token buckets shared by every agent that uses one Redis (agent.cluster in
 * docs/configuration.md, the consistency model in docs/operations.md "Scaling out").
 *
 * Decisions never wait for Redis: each agent takes tokens from its own view of a bucket.
 * Every sync interval the spend of the buckets used since the last batch leaves in one
 * batch; Redis adds it to the shared bucket, refilled by Redis' clock, and answers each
 * shared level. The view becomes that level minus what this agent spent since the batch
 * left. What the other agents spent in the meantime is unknown for at most one interval
 * plus a round trip: the overshoot is at most (agents - 1) x per_second x that time.
 *
 * Pure: the clock is passed in, the network is the caller's (cluster_redis.h).
 */
#ifndef LLMPROXY_CLUSTER_TABLE_H
#define LLMPROXY_CLUSTER_TABLE_H

#include <stddef.h>

#include "cluster_table-t.h"
#include "siphash.h"

/* Refill `b` up to `now_ms` and take one token; as token_bucket_take (ratelimit.h). */
bool shared_bucket_take(struct shared_bucket *b, uint64_t now_ms, uint32_t per_second,
                        uint32_t burst, uint32_t *retry_after_s);

/* Set `b` to the shared level `shared_mt` (as Redis answered it) less what it spent since
 * the batch left, clamped to [-capacity, capacity]. */
void shared_bucket_merge(struct shared_bucket *b, uint64_t now_ms, int64_t shared_mt);

/* A table of at most `max_buckets` buckets, batches of at most `max_batch`; NULL when
 * memory is short. */
struct cluster_table *cluster_table_create(uint32_t max_buckets, uint32_t max_batch,
                                           const struct siphash_key *seed);
void cluster_table_destroy(struct cluster_table *t);

/* Whether a request on bucket `key` may pass now; records the spend for the next batch
 * while sharing. */
bool cluster_table_take(struct cluster_table *t, const struct cluster_digest *key, uint64_t now_ms,
                        uint32_t per_second, uint32_t burst, uint32_t *retry_after_s);

/*
 * Start a batch: fill `items` (room for max_batch) with the pending buckets' spend, which
 * leaves them, and return how many. 0 when nothing is pending or a batch is in flight.
 */
size_t cluster_table_batch_begin(struct cluster_table *t, struct cluster_batch_item *items);

/* The batch in flight was answered: `levels[i]` is the shared level of item i. */
void cluster_table_batch_done(struct cluster_table *t, const int64_t *levels, size_t n,
                              uint64_t now_ms);

/* The batch in flight is lost (Redis failed or was too slow): its spend stays counted here. */
void cluster_table_batch_lost(struct cluster_table *t);

/*
 * Record spend for batches (true) or decide alone (false, Redis is away): going alone
 * drops what was pending, which Redis would otherwise receive late, all at once.
 */
void cluster_table_set_sharing(struct cluster_table *t, bool sharing);

/* Drop at most `max_work` buckets idle long enough to have refilled from -capacity. */
size_t cluster_table_expire(struct cluster_table *t, uint64_t now_ms, size_t max_work);

void cluster_table_stats(const struct cluster_table *t, struct cluster_table_stats *out);

#endif /* LLMPROXY_CLUSTER_TABLE_H */

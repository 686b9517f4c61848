/*
 * Shared token buckets: this agent's view of each, and the batches that sync them.
 *
 * Millitokens against a millisecond clock, as in ratelimit.c: one millisecond refills
 * exactly `per_second` millitokens. Levels are signed (debt, cluster_table-t.h) and stay
 * within +-burst * 1000 < 2^44, so no product below overflows.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster_table.h"
#include "lrutab.h"
#include "ratelimit-t.h"

static int64_t capacity_mt(uint32_t burst)
{
    return (int64_t)(burst ? burst : 1) * RL_MILLI;
}

static int64_t clamp_level(int64_t level, int64_t cap)
{
    return level > cap ? cap : level < -cap ? -cap : level;
}

static void refill(struct shared_bucket *b, uint64_t now_ms, uint32_t per_second, uint32_t burst)
{
    int64_t cap = capacity_mt(burst), rate = per_second ? per_second : 1;
    uint64_t elapsed = now_ms > b->at_ms ? now_ms - b->at_ms : 0;

    /* Two refills take any level to full: bound the product before forming it. */
    if (elapsed > (uint64_t)(2 * cap / rate + 1))
        elapsed = (uint64_t)(2 * cap / rate + 1);
    b->level_mt = clamp_level(b->level_mt + (int64_t)elapsed * rate, cap);
    b->at_ms = now_ms;
    b->per_second = per_second;
    b->burst = burst;
}

bool shared_bucket_take(struct shared_bucket *b, uint64_t now_ms, uint32_t per_second,
                        uint32_t burst, uint32_t *retry_after_s)
{
    int64_t rate = per_second ? per_second : 1, wait_ms;

    refill(b, now_ms, per_second, burst);
    if (b->level_mt >= (int64_t)RL_MILLI) {
        b->level_mt -= RL_MILLI;
        return true;
    }
    wait_ms = ((int64_t)RL_MILLI - b->level_mt + rate - 1) / rate;
    *retry_after_s = (uint32_t)((wait_ms + 999) / 1000); /* wait_ms >= 1: never 0 */
    return false;
}

void shared_bucket_merge(struct shared_bucket *b, uint64_t now_ms, int64_t shared_mt)
{
    int64_t cap = capacity_mt(b->burst);

    b->level_mt = clamp_level(clamp_level(shared_mt, cap) - (int64_t)b->unsent * RL_MILLI, cap);
    b->at_ms = now_ms;
}

struct cluster_table *cluster_table_create(uint32_t max_buckets, uint32_t max_batch,
                                           const struct siphash_key *seed)
{
    struct cluster_table *t = calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->max_batch = max_batch ? max_batch : 1;
    t->buckets = lrutab_create(sizeof(struct cluster_digest), sizeof(struct shared_bucket),
                               max_buckets, seed);
    t->pending = calloc(t->max_batch, sizeof(*t->pending));
    t->in_flight = calloc(t->max_batch, sizeof(*t->in_flight));
    if (!t->buckets || !t->pending || !t->in_flight) {
        cluster_table_destroy(t);
        return NULL;
    }
    return t;
}

void cluster_table_destroy(struct cluster_table *t)
{
    if (!t)
        return;
    lrutab_destroy(t->buckets);
    free(t->pending);
    free(t->in_flight);
    free(t);
}

bool cluster_table_take(struct cluster_table *t, const struct cluster_digest *key, uint64_t now_ms,
                        uint32_t per_second, uint32_t burst, uint32_t *retry_after_s)
{
    bool created = false;
    struct shared_bucket *b = lrutab_get_or_insert(t->buckets, key, now_ms, &created);
    uint64_t refill_ms = 2 * (uint64_t)capacity_mt(burst) / (per_second ? per_second : 1) + 1;

    if (created) {
        b->level_mt = capacity_mt(burst);
        b->at_ms = now_ms;
    }
    if (refill_ms > t->longest_refill_ms)
        t->longest_refill_ms = refill_ms;
    t->stats.checks++;
    if (!shared_bucket_take(b, now_ms, per_second, burst, retry_after_s)) {
        t->stats.limited++;
        return false;
    }
    if (!t->sharing)
        return true;
    if (b->unsent < UINT32_MAX)
        b->unsent++;
    if (!b->queued) {
        /* Over the bound, the spend waits here for a later round: a flood of addresses
         * makes batches no larger. */
        if (t->n_pending < t->max_batch) {
            t->pending[t->n_pending++] = *key;
            b->queued = 1;
        } else {
            t->stats.keys_deferred++;
        }
    }
    return true;
}

size_t cluster_table_batch_begin(struct cluster_table *t, struct cluster_batch_item *items)
{
    size_t n = 0;

    if (t->n_in_flight || !t->sharing)
        return 0;
    for (uint32_t i = 0; i < t->n_pending; i++) {
        struct shared_bucket *b = lrutab_get(t->buckets, &t->pending[i]);

        if (!b) /* evicted meanwhile: nothing left to send */
            continue;
        items[n] = (struct cluster_batch_item){.key = t->pending[i],
                                               .spend = b->unsent,
                                               .per_second = b->per_second,
                                               .burst = b->burst};
        t->in_flight[n++] = t->pending[i];
        b->unsent = 0;
        b->queued = 0;
    }
    t->n_pending = 0;
    t->n_in_flight = (uint32_t)n;
    t->stats.keys_synced += n;
    return n;
}

void cluster_table_batch_done(struct cluster_table *t, const int64_t *levels, size_t n,
                              uint64_t now_ms)
{
    for (size_t i = 0; i < n && i < t->n_in_flight; i++) {
        struct shared_bucket *b = lrutab_get(t->buckets, &t->in_flight[i]);

        if (b) {
            shared_bucket_merge(b, now_ms, levels[i]);
            t->stats.keys_merged++;
        }
    }
    t->n_in_flight = 0;
}

void cluster_table_batch_lost(struct cluster_table *t)
{
    t->n_in_flight = 0;
}

void cluster_table_set_sharing(struct cluster_table *t, bool sharing)
{
    if (t->sharing == sharing)
        return;
    t->sharing = sharing;
    if (sharing)
        return;
    for (uint32_t i = 0; i < t->n_pending; i++) {
        struct shared_bucket *b = lrutab_get(t->buckets, &t->pending[i]);

        if (b) {
            b->unsent = 0;
            b->queued = 0;
        }
    }
    t->n_pending = 0;
    t->n_in_flight = 0;
}

size_t cluster_table_expire(struct cluster_table *t, uint64_t now_ms, size_t max_work)
{
    /* A pending bucket must stay: the batch names it by key. It was used this round. */
    return lrutab_expire(t->buckets, now_ms, t->longest_refill_ms, max_work);
}

void cluster_table_stats(const struct cluster_table *t, struct cluster_table_stats *out)
{
    *out = t->stats;
    out->entries = lrutab_count(t->buckets);
    out->capacity = lrutab_capacity(t->buckets);
}

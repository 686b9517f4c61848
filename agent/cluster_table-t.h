/*
 * Types of the shared token buckets (functions are in cluster_table.h).
 */
#ifndef LLMPROXY_CLUSTER_TABLE_T_H
#define LLMPROXY_CLUSTER_TABLE_T_H

#include <stdbool.h>
#include <stdint.h>

#include "lrutab-t.h"

/* What names a bucket in Redis: a hash of the forward and client address, or of the
 * configured client's name, never the identity itself. */
#define CLUSTER_DIGEST_LEN 16
struct cluster_digest {
    uint8_t b[CLUSTER_DIGEST_LEN];
};

/*
 * One bucket shared with the other agents, as this agent sees it. The level may be
 * negative: the other agents' spend that this agent learns at a sync is a debt, repaid
 * by the refill, so that what every agent admitted over a window adds up to the rate.
 * Clamped to [-capacity, capacity], so one bad reply can lock a client out for at most
 * two refills.
 */
struct shared_bucket {
    int64_t level_mt; /* millitokens at at_ms */
    uint64_t at_ms;
    uint32_t per_second;
    uint32_t burst;
    uint32_t unsent; /* tokens taken since the last batch carrying this bucket left */
    uint32_t queued; /* 1 while the bucket waits in the next batch */
};

/* One bucket's line in a batch: what is added to the shared bucket, and its rate. */
struct cluster_batch_item {
    struct cluster_digest key;
    uint32_t spend;
    uint32_t per_second;
    uint32_t burst;
};

struct cluster_table_stats {
    uint64_t checks;
    uint64_t limited;
    uint64_t keys_synced;   /* bucket updates sent */
    uint64_t keys_deferred; /* spends not queued for a batch: it was full (per spend) */
    uint64_t keys_merged;   /* shared levels applied */
    uint32_t entries;
    uint32_t capacity;
};

struct cluster_table {
    struct lrutab *buckets; /* struct cluster_digest -> struct shared_bucket */
    /* Buckets with spend to send, in the order they first spent: the next batch. */
    struct cluster_digest *pending;
    uint32_t n_pending;
    /* The batch in flight, in the order of its reply. */
    struct cluster_digest *in_flight;
    uint32_t n_in_flight;
    uint32_t max_batch;
    bool sharing; /* spend is recorded for the next batch (the link to Redis is up) */
    uint64_t longest_refill_ms;
    struct cluster_table_stats stats;
};

#endif /* LLMPROXY_CLUSTER_TABLE_T_H */

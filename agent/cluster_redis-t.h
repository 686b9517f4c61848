/*
 * Types of the link to Redis' numbers (functions are in cluster_redis.h).
 */
#ifndef LLMPROXY_CLUSTER_REDIS_T_H
#define LLMPROXY_CLUSTER_REDIS_T_H

#include <stdint.h>

#include "cluster_link-t.h"

struct cluster_redis_stats {
    struct cluster_link link;
    uint64_t batches;      /* answered in time */
    uint64_t batch_errors; /* refused, malformed or late */
    uint64_t last_rtt_us;  /* the latest answered batch's round trip */
    uint64_t max_rtt_us;
};

#endif /* LLMPROXY_CLUSTER_REDIS_T_H */

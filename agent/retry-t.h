/*
 * Types of retry bookkeeping (functions are in retry.h).
 */
#ifndef LLMPROXY_RETRY_T_H
#define LLMPROXY_RETRY_T_H

#include <stdint.h>

#include "lrutab-t.h"

/* What the table remembers of one request, keyed by a 128-bit hash of its unique id. */
struct retry_attempts {
    uint64_t last_seen_ms; /* the latest attempt; the entry is stale `ttl_ms` after it */
    uint32_t count;        /* attempts seen so far, 1 for the first */
    uint32_t reserved;     /* zero; keeps the size a multiple of 8 */
};

struct retry_table {
    struct lrutab *attempts; /* SIPHASH128_LEN-byte id hash -> struct retry_attempts */
    struct siphash_key id_key;
    uint64_t ttl_ms;
};

struct retry_stats {
    uint64_t evictions; /* requests forgotten early because the table was full */
};

#endif /* LLMPROXY_RETRY_T_H */

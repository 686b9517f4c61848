/*
 * What names a shared bucket: a hash of the identity, never the identity, so that Redis
 * (and whoever reads it) holds no client address nor client name. The hash is SHA-256 of
 * the key prefix and the identity, the same on every agent with the same prefix.
 */
#ifndef LLMPROXY_CLUSTER_KEY_H
#define LLMPROXY_CLUSTER_KEY_H

#include <stddef.h>

#include "cluster_table-t.h"
#include "ratelimit-t.h"

/* "llmproxy:" PREFIX "rl:" and 32 hex digits, and the NUL. */
#define CLUSTER_KEY_PREFIX_MAX 64
#define CLUSTER_REDIS_KEY_MAX  (9 + CLUSTER_KEY_PREFIX_MAX + 1 + 3 + 2 * CLUSTER_DIGEST_LEN + 1)

/* The bucket of client address `addr` (already cut to its key) on forward `forward`. */
void cluster_key_address(struct cluster_digest *out, const char *prefix, const char *forward,
                         const struct rl_addr *addr);

/* The bucket of the configured client `name`, on every forward. */
void cluster_key_client(struct cluster_digest *out, const char *prefix, const char *name);

/* The Redis key of `d` into `out` (CLUSTER_REDIS_KEY_MAX bytes); its length. */
size_t cluster_key_redis(char *out, const char *prefix, const struct cluster_digest *d);

#endif /* LLMPROXY_CLUSTER_KEY_H */

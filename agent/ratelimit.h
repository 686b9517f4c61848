/*
 * Token-bucket rate limiting per (forward, client address): http_server.forwards[].ratelimit
 * in docs/configuration.md.
 *
 * A bucket holds up to `burst` tokens, refills continuously at `per_second` tokens per
 * second and pays one token per request; a new client starts full. Buckets live in a
 * bounded LRU table (conf_agent.ratelimit_max_clients), so a flood of source addresses
 * evicts the least recently seen clients instead of growing memory.
 */
#ifndef LLMPROXY_RATELIMIT_H
#define LLMPROXY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>

#include "ratelimit-t.h"

/*
 * Refill `b` up to `now_ms` and take one token. Returns true if the request may pass;
 * otherwise sets `*retry_after_s` to the whole seconds until a token is free (at least
 * 1). A zero `per_second` or `burst` counts as 1. A bucket written under another rate
 * or burst (a reload) is read with the new ones, never holding more than `burst`. A
 * clock stepped backwards leaves the bucket at worst empty, refilling from then on.
 */
bool token_bucket_take(struct token_bucket *b, uint64_t now_ms, uint32_t per_second, uint32_t burst,
                       uint32_t *retry_after_s);

/* Tokens in `b` at `now_ms`, in thousandths (never above burst * RL_MILLI). */
uint64_t token_bucket_millitokens(const struct token_bucket *b, uint64_t now_ms,
                                  uint32_t per_second, uint32_t burst);

void rl_addr_from_ipv4(struct rl_addr *a, const uint8_t ip[4]);
void rl_addr_from_ipv6(struct rl_addr *a, const uint8_t ip[16]);

/*
 * A textual IPv4 or IPv6 address of `len` bytes (not NUL-terminated), as a client source
 * could arrive as a string. False for anything else: empty, over-long, trailing bytes,
 * a zone (%eth0), a port or a prefix length.
 */
bool rl_addr_parse(struct rl_addr *a, const char *text, size_t len);

/* True when `a` holds an IPv4 address (kept as IPv4-mapped IPv6, ::ffff:a.b.c.d). */
bool rl_addr_is_ipv4(const struct rl_addr *a);

/*
 * The rate-limit key of client `a`: an IPv4 address (or one mapped, ::ffff:a.b.c.d) is
 * kept whole; an IPv6 address keeps its first `ipv6_prefix` bits (0-128; above 128
 * counts as 128) and zeroes the rest, so every address of one network shares a bucket.
 */
void rl_addr_client_key(struct rl_addr *a, unsigned ipv6_prefix);

/* A limiter for at most `max_clients` buckets; NULL with errno set on failure. */
struct ratelimit *ratelimit_create(uint32_t max_clients, const struct siphash_key *seed);
void ratelimit_destroy(struct ratelimit *rl);

/*
 * Whether a request of `addr` on `forward` may pass now, with that forward's
 * `per_second` and `burst`. When it may not, `*retry_after_s` is set as above.
 */
bool ratelimit_check(struct ratelimit *rl, uint32_t forward, const struct rl_addr *addr,
                     uint64_t now_ms, uint32_t per_second, uint32_t burst, uint32_t *retry_after_s);

/*
 * Drop at most `max_work` buckets idle long enough to be full again (equivalent to
 * having no bucket, so nothing is lost). Returns how many were dropped.
 */
size_t ratelimit_expire(struct ratelimit *rl, uint64_t now_ms, size_t max_work);

void ratelimit_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

#endif /* LLMPROXY_RATELIMIT_H */

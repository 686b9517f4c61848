/*
 * Retries (http_client.retry, docs/configuration.md): the backoff schedule, and the table
 * that recognises a repeated attempt of the same request by its unique id (the `attempt`
 * message, docs/spop-contract.md), so the agent knows which retry it is answering.
 */
#ifndef LLMPROXY_RETRY_H
#define LLMPROXY_RETRY_H

#include <stdbool.h>

#include "contract/backoff.h"
#include "retry-t.h"

/*
 * A table of at most `max_entries` requests; one is forgotten `ttl_ms` after its latest
 * attempt (use the longest attempt time plus the largest backoff). NULL with errno set
 * on failure.
 */
struct retry_table *retry_create(uint32_t max_entries, uint64_t ttl_ms,
                                 const struct siphash_key *seed);
void retry_destroy(struct retry_table *rt);

/*
 * Record an attempt of request `id` and return its number: 1 the first time the id is
 * seen (or seen again after the TTL), 2 for its first retry, and so on. An empty id
 * cannot be recognised again, so it is always a first attempt and is not recorded.
 */
uint32_t retry_note_attempt(struct retry_table *rt, const void *id, size_t id_len, uint64_t now_ms);

/* Forget request `id` (its final outcome is known); false if it was not recorded. */
bool retry_forget(struct retry_table *rt, const void *id, size_t id_len);

/* Drop at most `max_work` stale requests; returns how many. */
size_t retry_expire(struct retry_table *rt, uint64_t now_ms, size_t max_work);

void retry_stats(const struct retry_table *rt, struct retry_stats *out);

#endif /* LLMPROXY_RETRY_H */

/*
 * A hash table with a hard bound on its entries, evicting the least recently used one
 * when full, with keyed hashing so that chosen keys cannot make chains long.
 *
 * Keys and values have a fixed size chosen at creation; keys are compared bytewise, so
 * callers zero any padding. Average O(1) lookup, insertion and deletion; no allocation
 * after lrutab_create(). Time is the caller's millisecond clock, passed in.
 */
#ifndef LLMPROXY_LRUTAB_H
#define LLMPROXY_LRUTAB_H

#include <stdbool.h>

#include "lrutab-t.h"

/*
 * A table of at most `max_entries` entries (1..LRUTAB_MAX_ENTRIES). `seed` must be
 * secret and random. Returns NULL with errno EINVAL for sizes out of range, ENOMEM
 * when the pool cannot be allocated (its pages are only touched as entries are used).
 */
struct lrutab *lrutab_create(size_t key_len, size_t val_len, uint32_t max_entries,
                             const struct siphash_key *seed);
void lrutab_destroy(struct lrutab *t);

/* A copy of `src`, entries, order, seed and counters alike, without its eviction observer;
 * NULL with errno ENOMEM. */
struct lrutab *lrutab_clone(const struct lrutab *src);

/* Register the eviction observer (NULL to remove it). */
void lrutab_on_evict(struct lrutab *t, lrutab_evict_fn fn, void *ctx);

/*
 * The value of `key`, made the most recently used. A missing key is inserted with a
 * zeroed value (`*created` set true, if `created` is not NULL), evicting the least
 * recently used entry if the table is full. Never fails. The pointer is valid until the next
 * insertion or deletion.
 */
void *lrutab_get_or_insert(struct lrutab *t, const void *key, uint64_t now_ms, bool *created);

/* The value of `key` or NULL, without changing the LRU order. */
void *lrutab_get(const struct lrutab *t, const void *key);

/* Remove `key`; false if it was absent. */
bool lrutab_delete(struct lrutab *t, const void *key);

/*
 * Remove entries unused for more than `max_idle_ms`, least recently used first, at
 * most `max_work` of them, and return how many. Uses are recorded to the second, so an
 * entry may outlive `max_idle_ms` by up to a second, never less. Call it periodically:
 * bounded work keeps one sweep from stalling the event loop.
 */
size_t lrutab_expire(struct lrutab *t, uint64_t now_ms, uint64_t max_idle_ms, size_t max_work);

uint32_t lrutab_count(const struct lrutab *t);
uint32_t lrutab_capacity(const struct lrutab *t);

/* Entries evicted because the table was full (not deletions or expiries). */
uint64_t lrutab_evictions(const struct lrutab *t);

/* Bytes the table may occupy when full: its bound, for the metrics. */
size_t lrutab_memory_bytes(const struct lrutab *t);

#endif /* LLMPROXY_LRUTAB_H */

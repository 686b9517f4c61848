/*
 * Backoff arithmetic and per-request attempt counting.
 *
 * Unique ids can be long, so the table stores a keyed 128-bit hash of each instead of
 * the id itself: fixed-size keys, and two live ids colliding has probability ~n^2/2^128.
 * Because the hash is keyed with a secret, clients cannot choose ids that collide.
 */
#include <stdlib.h>

#include "lrutab.h"
#include "retry.h"

struct retry_table *retry_create(uint32_t max_entries, uint64_t ttl_ms,
                                 const struct siphash_key *seed)
{
    struct retry_table *rt = calloc(1, sizeof(*rt));

    if (!rt)
        return NULL;
    /*
     * One secret serves both hashes: the table hashes the id digests, which are
     * themselves keyed outputs, so reusing the key reveals nothing.
     */
    rt->attempts = lrutab_create(SIPHASH128_LEN, sizeof(struct retry_attempts), max_entries, seed);
    if (!rt->attempts) {
        free(rt);
        return NULL;
    }
    rt->id_key = *seed;
    rt->ttl_ms = ttl_ms;
    return rt;
}

void retry_destroy(struct retry_table *rt)
{
    if (!rt)
        return;
    lrutab_destroy(rt->attempts);
    free(rt);
}

uint32_t retry_note_attempt(struct retry_table *rt, const void *id, size_t id_len, uint64_t now_ms)
{
    uint8_t key[SIPHASH128_LEN];
    struct retry_attempts *a;
    bool created;

    if (id_len == 0)
        return 1;
    siphash128(&rt->id_key, id, id_len, key);
    a = lrutab_get_or_insert(rt->attempts, key, now_ms, &created);
    /* Not yet swept away, but stale: a different request that reused the id. */
    if (!created && now_ms > a->last_seen_ms && now_ms - a->last_seen_ms > rt->ttl_ms)
        a->count = 0;
    a->last_seen_ms = now_ms;
    if (a->count < UINT32_MAX)
        a->count++;
    return a->count;
}

bool retry_forget(struct retry_table *rt, const void *id, size_t id_len)
{
    uint8_t key[SIPHASH128_LEN];

    if (id_len == 0)
        return false;
    siphash128(&rt->id_key, id, id_len, key);
    return lrutab_delete(rt->attempts, key);
}

size_t retry_expire(struct retry_table *rt, uint64_t now_ms, size_t max_work)
{
    return lrutab_expire(rt->attempts, now_ms, rt->ttl_ms, max_work);
}

void retry_stats(const struct retry_table *rt, struct retry_stats *out)
{
    out->evictions = lrutab_evictions(rt->attempts);
}

/*
 * Types of the bounded LRU hash table (functions are in lrutab.h).
 *
 * Every entry lives in one slot of a pool allocated at creation, so the table never
 * allocates afterwards and its memory is bounded by `max_entries`. A slot is a small
 * link header, the key, then the value:
 *
 *   [ struct lrutab_link | key (key_len) | pad to 8 | value (val_len) | pad to 8 ]
 *
 * Slots are named by 32-bit ids (1-based, 0 = none) instead of pointers, which halves
 * the link overhead. A slot is on exactly one of: a hash chain and the LRU list (in
 * use), the free list, or beyond `fresh` (never used, its pages not yet touched).
 */
#ifndef LLMPROXY_LRUTAB_T_H
#define LLMPROXY_LRUTAB_T_H

#include <stddef.h>
#include <stdint.h>

#include "siphash.h"

#define LRUTAB_NONE        0u
#define LRUTAB_MAX_ENTRIES (1u << 26) /* far above any sane bound; keeps sizes in range */
#define LRUTAB_MAX_KEY_LEN 256u
#define LRUTAB_MAX_VAL_LEN 4096u

/*
 * Called with an entry that is about to be evicted to make room for a new one, so its
 * owner can tell a harmless loss from a harmful one. Must not touch the table.
 */
typedef void (*lrutab_evict_fn)(const void *key, const void *val, uint64_t now_ms, void *ctx);

struct lrutab_link {
    uint32_t lru_prev;   /* more recently used neighbour */
    uint32_t lru_next;   /* less recently used neighbour */
    uint32_t chain_next; /* next slot of the same hash bucket, or of the free list */
    uint32_t used_s;     /* last use in whole seconds of the caller's clock (wraps in 136 y) */
};

struct lrutab {
    unsigned char *slots; /* max_entries slots of slot_size bytes */
    uint32_t *buckets;    /* bucket_mask + 1 chain heads */
    size_t slot_size;
    size_t val_off; /* offset of the value inside a slot */
    uint32_t key_len;
    uint32_t val_len;
    uint32_t max_entries;
    uint32_t count;
    uint32_t bucket_mask;
    uint32_t mru;       /* most recently used slot */
    uint32_t lru;       /* least recently used slot: the next to evict or expire */
    uint32_t free_list; /* slots released by delete or expiry */
    uint32_t fresh;     /* first never-used slot id; > max_entries when all were used */
    uint64_t evictions;
    struct siphash_key seed;
    lrutab_evict_fn on_evict;
    void *evict_ctx;
};

#endif /* LLMPROXY_LRUTAB_T_H */

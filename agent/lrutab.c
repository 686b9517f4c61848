/*
 * Bounded LRU hash table: a preallocated slot pool, chained buckets of 32-bit slot ids,
 * and one doubly linked recency list threaded through the same slots.
 *
 * The bucket array has a power-of-two size of at least max_entries, so chains average
 * under one entry; the pool and the buckets are calloc'ed, which leaves their pages
 * untouched (and out of the RSS) until entries actually use them. That is also why id 0
 * means "none": zeroed memory is a valid empty table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lrutab.h"

#define KEY_OFF sizeof(struct lrutab_link)

static size_t align8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

static struct lrutab_link *slot(const struct lrutab *t, uint32_t id)
{
    return (struct lrutab_link *)(t->slots + (size_t)(id - 1) * t->slot_size);
}

static unsigned char *slot_key(const struct lrutab *t, uint32_t id)
{
    return (unsigned char *)slot(t, id) + KEY_OFF;
}

static void *slot_val(const struct lrutab *t, uint32_t id)
{
    return (unsigned char *)slot(t, id) + t->val_off;
}

static uint32_t *bucket_of(const struct lrutab *t, const void *key)
{
    return &t->buckets[siphash(&t->seed, key, t->key_len) & t->bucket_mask];
}

/*
 * The link (bucket head or chain_next field) that holds the id of `key`'s slot, or the
 * link holding LRUTAB_NONE at the end of the chain when the key is absent. Returning
 * the link rather than the id lets deletion unlink without walking the chain again.
 */
static uint32_t *chain_find(const struct lrutab *t, uint32_t *link, const void *key)
{
    while (*link != LRUTAB_NONE && memcmp(slot_key(t, *link), key, t->key_len) != 0)
        link = &slot(t, *link)->chain_next;
    return link;
}

static void lru_unlink(struct lrutab *t, uint32_t id)
{
    struct lrutab_link *s = slot(t, id);

    if (s->lru_prev != LRUTAB_NONE)
        slot(t, s->lru_prev)->lru_next = s->lru_next;
    else
        t->mru = s->lru_next;
    if (s->lru_next != LRUTAB_NONE)
        slot(t, s->lru_next)->lru_prev = s->lru_prev;
    else
        t->lru = s->lru_prev;
}

static void lru_push_front(struct lrutab *t, uint32_t id, uint64_t now_ms)
{
    struct lrutab_link *s = slot(t, id);

    s->lru_prev = LRUTAB_NONE;
    s->lru_next = t->mru;
    if (t->mru != LRUTAB_NONE)
        slot(t, t->mru)->lru_prev = id;
    else
        t->lru = id;
    t->mru = id;
    s->used_s = (uint32_t)(now_ms / 1000);
}

/* Unlink the slot `*link` names from its chain and the LRU list; it joins the free list. */
static void slot_release(struct lrutab *t, uint32_t *link)
{
    uint32_t id = *link;
    struct lrutab_link *s = slot(t, id);

    *link = s->chain_next;
    lru_unlink(t, id);
    s->chain_next = t->free_list;
    t->free_list = id;
    t->count--;
}

/* Release the least recently used entry, which is known to exist. */
static void release_lru(struct lrutab *t)
{
    const unsigned char *key = slot_key(t, t->lru);

    slot_release(t, chain_find(t, bucket_of(t, key), key));
}

/* A free slot: a released one, else a never-used one, else the LRU entry's, evicted. */
static uint32_t slot_alloc(struct lrutab *t, uint64_t now_ms)
{
    uint32_t id;

    if (t->free_list == LRUTAB_NONE) {
        if (t->fresh <= t->max_entries)
            return t->fresh++;
        if (t->on_evict)
            t->on_evict(slot_key(t, t->lru), slot_val(t, t->lru), now_ms, t->evict_ctx);
        t->evictions++;
        release_lru(t);
    }
    id = t->free_list;
    t->free_list = slot(t, id)->chain_next;
    return id;
}

/*
 * Whether a use recorded in second `used_s` lies more than `max_idle_ms` before
 * `now_ms`. The use may have been as late as the end of that second, so the idle time
 * is only known to be at least age_s * 1000 + now_ms % 1000 - 999.
 */
static bool idle_longer_than(uint32_t used_s, uint64_t now_ms, uint64_t max_idle_ms)
{
    uint32_t age_s = (uint32_t)(now_ms / 1000) - used_s;

    if (age_s > INT32_MAX) /* the clock went backwards: the entry is young */
        return false;
    if (max_idle_ms > UINT64_MAX - 999)
        return false;
    return (uint64_t)age_s * 1000 + now_ms % 1000 > max_idle_ms + 999;
}

struct lrutab *lrutab_create(size_t key_len, size_t val_len, uint32_t max_entries,
                             const struct siphash_key *seed)
{
    struct lrutab *t;
    size_t n_buckets = 1;

    if (key_len == 0 || key_len > LRUTAB_MAX_KEY_LEN || val_len > LRUTAB_MAX_VAL_LEN ||
        max_entries == 0 || max_entries > LRUTAB_MAX_ENTRIES || !seed) {
        errno = EINVAL;
        return NULL;
    }
    while (n_buckets < max_entries)
        n_buckets <<= 1;

    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->key_len = (uint32_t)key_len;
    t->val_len = (uint32_t)val_len;
    t->val_off = align8(KEY_OFF + key_len);
    t->slot_size = align8(t->val_off + val_len);
    t->max_entries = max_entries;
    t->bucket_mask = (uint32_t)(n_buckets - 1);
    t->fresh = 1;
    t->seed = *seed;
    t->slots = calloc(max_entries, t->slot_size);
    t->buckets = calloc(n_buckets, sizeof(*t->buckets));
    if (!t->slots || !t->buckets) {
        lrutab_destroy(t);
        errno = ENOMEM;
        return NULL;
    }
    return t;
}

struct lrutab *lrutab_clone(const struct lrutab *src)
{
    struct lrutab *t = lrutab_create(src->key_len, src->val_len, src->max_entries, &src->seed);
    unsigned char *slots;
    uint32_t *buckets;

    if (!t)
        return NULL;
    slots = t->slots;
    buckets = t->buckets;
    *t = *src;
    t->slots = slots;
    t->buckets = buckets;
    t->on_evict = NULL;
    t->evict_ctx = NULL;
    /* Slots from `fresh` on were never used: left untouched, as in the source. */
    memcpy(t->slots, src->slots, (size_t)(src->fresh - 1) * src->slot_size);
    memcpy(t->buckets, src->buckets, ((size_t)src->bucket_mask + 1) * sizeof(*t->buckets));
    return t;
}

void lrutab_destroy(struct lrutab *t)
{
    if (!t)
        return;
    free(t->slots);
    free(t->buckets);
    free(t);
}

void lrutab_on_evict(struct lrutab *t, lrutab_evict_fn fn, void *ctx)
{
    t->on_evict = fn;
    t->evict_ctx = ctx;
}

void *lrutab_get_or_insert(struct lrutab *t, const void *key, uint64_t now_ms, bool *created)
{
    uint32_t *head = bucket_of(t, key);
    uint32_t id = *chain_find(t, head, key);

    if (id != LRUTAB_NONE) {
        lru_unlink(t, id);
        lru_push_front(t, id, now_ms);
        if (created)
            *created = false;
        return slot_val(t, id);
    }

    /* An eviction may edit this very chain, but `head` stays the right bucket. */
    id = slot_alloc(t, now_ms);
    memcpy(slot_key(t, id), key, t->key_len);
    memset(slot_val(t, id), 0, t->val_len);
    slot(t, id)->chain_next = *head;
    *head = id;
    lru_push_front(t, id, now_ms);
    t->count++;
    if (created)
        *created = true;
    return slot_val(t, id);
}

void *lrutab_get(const struct lrutab *t, const void *key)
{
    uint32_t id = *chain_find(t, bucket_of(t, key), key);

    return id != LRUTAB_NONE ? slot_val(t, id) : NULL;
}

bool lrutab_delete(struct lrutab *t, const void *key)
{
    uint32_t *link = chain_find(t, bucket_of(t, key), key);

    if (*link == LRUTAB_NONE)
        return false;
    slot_release(t, link);
    return true;
}

size_t lrutab_expire(struct lrutab *t, uint64_t now_ms, uint64_t max_idle_ms, size_t max_work)
{
    size_t removed = 0;

    /* The LRU end is the longest idle: stop at the first entry still in use. */
    while (removed < max_work && t->lru != LRUTAB_NONE &&
           idle_longer_than(slot(t, t->lru)->used_s, now_ms, max_idle_ms)) {
        release_lru(t);
        removed++;
    }
    return removed;
}

uint32_t lrutab_count(const struct lrutab *t)
{
    return t->count;
}

uint32_t lrutab_capacity(const struct lrutab *t)
{
    return t->max_entries;
}

uint64_t lrutab_evictions(const struct lrutab *t)
{
    return t->evictions;
}

size_t lrutab_memory_bytes(const struct lrutab *t)
{
    return sizeof(*t) + (size_t)t->max_entries * t->slot_size +
           ((size_t)t->bucket_mask + 1) * sizeof(*t->buckets);
}

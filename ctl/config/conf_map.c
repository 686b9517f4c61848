#include <stdint.h>
#include <string.h>

#include "conf_arena.h"
#include "conf_map.h"

#define MAP_MIN_CAP 16

void conf_map_init(struct conf_map *m, struct conf_arena *arena)
{
    memset(m, 0, sizeof(*m));
    m->arena = arena;
}

/* FNV-1a: short keys, no adversary who could profit from collisions beyond CPU time. */
static size_t map_hash(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static struct conf_map_slot *map_find(const struct conf_map *m, const char *key, size_t len)
{
    size_t i;

    if (!m->cap)
        return NULL;
    for (i = map_hash(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        struct conf_map_slot *s = &m->slots[i];

        if (!s->key || (s->len == len && memcmp(s->key, key, len) == 0))
            return s;
    }
}

static int map_grow(struct conf_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : MAP_MIN_CAP, i;
    struct conf_map_slot *old = m->slots;
    size_t old_cap = m->cap;

    if (cap > SIZE_MAX / 2 / sizeof(*old))
        return -1;
    m->slots = conf_arena_calloc(m->arena, cap, sizeof(*old));
    if (!m->slots) {
        m->slots = old;
        return -1;
    }
    m->cap = cap;
    for (i = 0; i < old_cap; i++)
        if (old[i].key)
            *map_find(m, old[i].key, old[i].len) = old[i];
    return 0;
}

void *conf_map_get(const struct conf_map *m, const char *key, size_t len)
{
    struct conf_map_slot *s = map_find(m, key, len);

    return s && s->key ? s->val : NULL;
}

static struct conf_map_slot *map_slot_for_insert(struct conf_map *m, const char *key, size_t len)
{
    struct conf_map_slot *s = map_find(m, key, len);

    if (s && s->key)
        return s;
    if ((m->n + 1) * 2 > m->cap) {
        if (map_grow(m) < 0)
            return NULL;
        s = map_find(m, key, len);
    }
    return s;
}

void *conf_map_add(struct conf_map *m, const char *key, size_t len, void *val, int *err)
{
    struct conf_map_slot *s = map_slot_for_insert(m, key, len);

    if (!s) {
        *err = -1;
        return NULL;
    }
    if (s->key)
        return s->val;
    s->key = key;
    s->len = len;
    s->val = val;
    m->n++;
    return NULL;
}

int conf_map_set(struct conf_map *m, const char *key, size_t len, void *val)
{
    struct conf_map_slot *s = map_slot_for_insert(m, key, len);

    if (!s)
        return -1;
    if (!s->key) {
        s->key = key;
        s->len = len;
        m->n++;
    }
    s->val = val;
    return 0;
}

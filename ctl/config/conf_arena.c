/*
 * Bump allocator: allocations are carved from chunks chained in a list. A request
 * larger than the usual chunk gets a chunk of its own, so big arrays waste nothing.
 */
#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf_arena.h"

#define ARENA_CHUNK_SIZE (64u * 1024)
#define ARENA_ALIGN      alignof(max_align_t)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

struct conf_arena {
    struct arena_chunk *head; /* the chunk being filled is first */
    size_t footprint;
    size_t limit;
};

struct conf_arena *conf_arena_new(size_t limit)
{
    struct conf_arena *a = calloc(1, sizeof(*a));

    if (a)
        a->limit = limit;
    return a;
}

void conf_arena_free(struct conf_arena *a)
{
    struct arena_chunk *c, *next;

    if (!a)
        return;
    for (c = a->head; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

static struct arena_chunk *arena_grow(struct conf_arena *a, size_t need)
{
    size_t size = need > ARENA_CHUNK_SIZE ? need : ARENA_CHUNK_SIZE;
    struct arena_chunk *c;

    if (size > a->limit || a->footprint > a->limit - size)
        return NULL;
    c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->size = size;
    c->used = 0;
    a->footprint += size;
    /* A dedicated big chunk goes second so the current small one keeps filling. */
    if (a->head && size > ARENA_CHUNK_SIZE) {
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = a->head;
        a->head = c;
    }
    return c;
}

void *conf_arena_alloc(struct conf_arena *a, size_t size)
{
    struct arena_chunk *c = a->head;
    size_t start;
    void *p;

    if (size == 0)
        size = 1;
    if (size > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    size = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
    if (!c || c->size - c->used < size) {
        c = arena_grow(a, size);
        if (!c)
            return NULL;
    }
    start = c->used;
    c->used += size;
    p = c->data + start;
    memset(p, 0, size);
    return p;
}

void *conf_arena_calloc(struct conf_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return conf_arena_alloc(a, n * size);
}

char *conf_arena_strndup(struct conf_arena *a, const char *s, size_t len)
{
    char *p;

    if (len == SIZE_MAX)
        return NULL;
    p = conf_arena_alloc(a, len + 1);
    if (p && len)
        memcpy(p, s, len);
    return p;
}

char *conf_arena_strdup(struct conf_arena *a, const char *s)
{
    return conf_arena_strndup(a, s, strlen(s));
}

size_t conf_arena_footprint(const struct conf_arena *a)
{
    return a->footprint;
}

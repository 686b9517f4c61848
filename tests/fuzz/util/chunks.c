#include <stdlib.h>
#include <string.h>

#include "chunks.h"

void chunks_init(struct chunks *c, const uint8_t *data, size_t len, uint8_t seed)
{
    c->pos = data;
    c->end = data + len;
    c->rng = 0x9e3779b9u ^ seed;
    c->max_size = seed;
}

static uint32_t xorshift32(uint32_t *state)
{
    uint32_t x = *state;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

size_t chunks_next(struct chunks *c, const uint8_t **piece)
{
    size_t left = (size_t)(c->end - c->pos);
    size_t n = left;

    if (c->max_size != 0) {
        n = 1 + xorshift32(&c->rng) % c->max_size;
        if (n > left)
            n = left;
    }
    *piece = c->pos;
    c->pos += n;
    return n;
}

uint8_t *exact_copy(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    return copy;
}

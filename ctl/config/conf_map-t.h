/*
 * A string-keyed hash map whose memory comes from an arena (types only).
 */
#ifndef LLMPROXY_CONF_MAP_T_H
#define LLMPROXY_CONF_MAP_T_H

#include <stddef.h>

struct conf_arena;

struct conf_map_slot {
    const char *key; /* NULL: empty slot; not copied, must outlive the map */
    size_t len;
    void *val;
};

struct conf_map {
    struct conf_arena *arena;
    struct conf_map_slot *slots;
    size_t cap; /* power of two, or 0 before the first insertion */
    size_t n;
};

#endif /* LLMPROXY_CONF_MAP_T_H */

/*
 * Name lookups in O(1): anchors while parsing YAML, upstream/group/forward names
 * while checking references and duplicates. Open addressing, linear probing; the
 * table doubles at half load. Old tables stay in the arena until it is freed, which
 * costs at most as much again as the final table.
 */
#ifndef LLMPROXY_CONF_MAP_H
#define LLMPROXY_CONF_MAP_H

#include "conf_map-t.h"

void conf_map_init(struct conf_map *m, struct conf_arena *arena);

/* The value stored under `key`, or NULL. */
void *conf_map_get(const struct conf_map *m, const char *key, size_t len);

/*
 * Store `val` under `key` unless the key is present. Returns the value already
 * stored (and leaves it), NULL when `val` was stored; sets *err to -1 when memory ran
 * out (then nothing was stored). Use conf_map_set() to overwrite.
 */
void *conf_map_add(struct conf_map *m, const char *key, size_t len, void *val, int *err);

/* Store `val` under `key`, replacing any value. Returns 0 or -1 (out of memory). */
int conf_map_set(struct conf_map *m, const char *key, size_t len, void *val);

#endif /* LLMPROXY_CONF_MAP_H */

/*
 * A bump allocator that owns every byte of one configuration (or one parse tree).
 *
 * Loading builds many small strings and arrays whose lifetimes all end together, so
 * they come from chunks that are released in one sweep. The arena has a byte limit:
 * a hostile file (say, aliases multiplying one long string) makes allocation fail
 * cleanly instead of exhausting the machine.
 */
#ifndef LLMPROXY_CONF_ARENA_H
#define LLMPROXY_CONF_ARENA_H

#include <stddef.h>

struct conf_arena;

/* `limit` bounds the total bytes the arena may take from the heap. */
struct conf_arena *conf_arena_new(size_t limit);
void conf_arena_free(struct conf_arena *a);

/* Zeroed, aligned for any type; NULL once the limit would be exceeded. */
void *conf_arena_alloc(struct conf_arena *a, size_t size);
void *conf_arena_calloc(struct conf_arena *a, size_t n, size_t size);

/* Copies of `len` bytes (or a C string) with a terminating NUL; NULL when out of room. */
char *conf_arena_strndup(struct conf_arena *a, const char *s, size_t len);
char *conf_arena_strdup(struct conf_arena *a, const char *s);

/* Bytes taken from the heap so far (tests check the bound). */
size_t conf_arena_footprint(const struct conf_arena *a);

#endif /* LLMPROXY_CONF_ARENA_H */

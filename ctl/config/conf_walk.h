/*
 * The generic, table-driven walk of a YAML tree into C objects (see conf_walk-t.h).
 *
 * The walk never stops at a bad value: it reports it, leaves the field at its
 * default and goes on, so that every problem of a file shows in one run. Its depth
 * is that of the schema, whatever the document's shape.
 */
#ifndef LLMPROXY_CONF_WALK_H
#define LLMPROXY_CONF_WALK_H

#include <stdbool.h>
#include <stddef.h>

#include "conf_walk-t.h"
#include "config-t.h"

struct conf_arena;

/* Longest key path kept for messages ("upstream_groups[12].http_client.retry.initial"). */
#define CONF_PATH_MAX 256

/* Object names: forwards, upstreams, groups. */
#define CONF_NAME_MAX 48

struct conf_walk {
    struct conf_arena *arena; /* the configuration's: every value is copied there */
    struct conf_diags *diags;
    struct conf_diags *warnings; /* what loads but is probably a mistake */
    const char *file;            /* positions point to this copy */
    conf_getenv_fn getenv_fn;
    void *getenv_ctx;
    bool out_of_memory; /* the arena is full: stop walking, one error was reported */
    char path[CONF_PATH_MAX];
    size_t path_len;
};

/* Set every key of `s` (and of its nested mappings) in `obj` to its default. */
void conf_walk_defaults(struct conf_walk *w, const struct conf_schema *s, void *obj);

/* Walk `node` (which should be a mapping) into `obj` by the table `s`. */
void conf_walk_map(struct conf_walk *w, const struct conf_schema *s, void *obj,
                   const struct conf_node *node);

/* Append ".key" (or "[i]" when key is NULL) to the path; returns what conf_walk_pop wants. */
size_t conf_walk_push(struct conf_walk *w, const char *key, size_t index);
void conf_walk_pop(struct conf_walk *w, size_t saved);

/* Report a problem at `pos` for the current path, extended by ".key" when key is set. */
void conf_walk_error(struct conf_walk *w, const struct conf_pos *pos, const char *key,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Likewise for something that loads but is probably not what the operator meant. */
void conf_walk_warn(struct conf_walk *w, const struct conf_pos *pos, const char *key,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct conf_pos conf_walk_pos(const struct conf_walk *w, const struct conf_node *n);

/* The table index of key `name` in `s`; the table must have it. */
size_t conf_schema_index(const struct conf_schema *s, const char *name);

/* Whether `s` is a valid object name ([A-Za-z0-9_.-]{1,48}). */
bool conf_valid_name(const char *s);

/* Report once that the arena is full and make the walk stop. */
void conf_walk_oom(struct conf_walk *w);

/* Arena copy that reports "out of memory" once and sets w->out_of_memory on failure. */
char *conf_walk_strdup(struct conf_walk *w, const char *s, size_t len);

#endif /* LLMPROXY_CONF_WALK_H */

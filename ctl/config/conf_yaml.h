/*
 * Reading YAML text into a conf_node tree with hard limits: nesting depth, node
 * count and the parse arena's size. The limits reject hostile input (thousands of
 * '[', huge flat lists) early, long before memory or time could run away.
 */
#ifndef LLMPROXY_CONF_YAML_H
#define LLMPROXY_CONF_YAML_H

#include "conf_yaml-t.h"
#include "config-t.h"

struct conf_arena;

/* Deeper than any LLMProxy key (about 6 levels) by a wide margin. */
#define CONF_YAML_MAX_DEPTH 64
/* A 4096-upstream configuration needs well under this. */
#define CONF_YAML_MAX_NODES (256u * 1024)

/*
 * Parse `buf` (`len` bytes) into a tree allocated from `arena`. `*root` is the
 * document's root node, NULL for an empty document. On error returns -1 and adds a
 * diagnostic (with the position libyaml reported) to `diags`; `file` names the input.
 */
int conf_yaml_parse(struct conf_arena *arena, const char *file, const char *buf, size_t len,
                    const struct conf_node **root, struct conf_diags *diags);

/* Whether a scalar is YAML's null: empty, "~" or null/Null/NULL, unquoted. */
bool conf_node_is_null(const struct conf_node *n);

/* "a mapping", "a list", "an empty value" or "a value": for "found ..." messages. */
const char *conf_node_kind(const struct conf_node *n);

#endif /* LLMPROXY_CONF_YAML_H */

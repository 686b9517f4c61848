/*
 * The YAML document as a tree of nodes (types only).
 *
 * Aliases are not copied: an alias is the anchored node itself, shared by every
 * place that names it, so a "billion laughs" document stays as small as its text.
 */
#ifndef LLMPROXY_CONF_YAML_T_H
#define LLMPROXY_CONF_YAML_T_H

#include <stdbool.h>
#include <stddef.h>

enum conf_node_type {
    CONF_NODE_SCALAR,
    CONF_NODE_SEQ,
    CONF_NODE_MAP,
};

struct conf_node;

/* One entry of a sequence (key NULL) or one key/value pair of a mapping. */
struct conf_item {
    const struct conf_node *key;
    const struct conf_node *val;
    struct conf_item *next;
};

struct conf_node {
    enum conf_node_type type;
    unsigned line, col; /* 1-based */
    /* scalar */
    const char *str; /* NUL-terminated; may also contain NULs ("\0" escapes) */
    size_t len;
    bool plain; /* written without quotes or block style: may be a number or bool */
    /* sequence or mapping, in document order */
    struct conf_item *items;
    struct conf_item *last;
    size_t n;
};

#endif /* LLMPROXY_CONF_YAML_T_H */

/*
 * YAML text -> conf_node tree, driven by libyaml's event parser.
 *
 * libyaml's own document loader has no depth or size limit, so the tree is built
 * here: an explicit stack of open collections (no recursion), a node budget, and
 * anchors resolved through a hash map. An alias may only name a finished node, so
 * the tree cannot contain cycles.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#include "conf_arena.h"
#include "conf_diag.h"
#include "conf_map.h"
#include "conf_yaml.h"

struct yaml_frame {
    struct conf_node *node;
    const struct conf_node *pending_key; /* mapping: key waiting for its value */
    const char *anchor;                  /* registered when the collection ends */
};

struct yaml_builder {
    struct conf_arena *arena;
    const char *file;
    const char *buf;
    struct conf_diags *diags;
    struct conf_map anchors;
    struct yaml_frame stack[CONF_YAML_MAX_DEPTH];
    size_t depth;
    size_t budget; /* nodes and alias uses still allowed */
    const struct conf_node *root;
    unsigned documents;
};

static struct conf_pos mark_pos(const struct yaml_builder *b, yaml_mark_t m)
{
    struct conf_pos pos = {b->file, (unsigned)m.line + 1, (unsigned)m.column + 1};

    return pos;
}

static int build_error(struct yaml_builder *b, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int build_error(struct yaml_builder *b, yaml_mark_t m, const char *fmt, ...)
{
    struct conf_pos pos = mark_pos(b, m);
    va_list ap;

    va_start(ap, fmt);
    conf_diag_vadd(b->diags, &pos, NULL, fmt, ap);
    va_end(ap);
    return -1;
}

static int out_of_memory(struct yaml_builder *b, yaml_mark_t m)
{
    return build_error(b, m, "%s", "the document is too large to load (out of memory)");
}

/* Line and column of a byte offset, for reader errors that carry no mark. */
static struct conf_pos offset_pos(const struct yaml_builder *b, size_t offset)
{
    struct conf_pos pos = {b->file, 1, 1};
    size_t i;

    for (i = 0; i < offset; i++) {
        if (b->buf[i] == '\n') {
            pos.line++;
            pos.col = 1;
        } else {
            pos.col++;
        }
    }
    return pos;
}

static void syntax_error(struct yaml_builder *b, const yaml_parser_t *p)
{
    struct conf_pos pos;

    if (p->error == YAML_MEMORY_ERROR) {
        pos.file = b->file;
        pos.line = pos.col = 0;
        conf_diag_add(b->diags, &pos, NULL, "the document is too large to load (out of memory)");
        return;
    }
    if (p->error == YAML_READER_ERROR) {
        pos = offset_pos(b, p->problem_offset);
        conf_diag_add(b->diags, &pos, NULL, "invalid text: %s; the file must be UTF-8 YAML",
                      p->problem ? p->problem : "unreadable input");
        return;
    }
    pos = mark_pos(b, p->problem_mark);
    if (p->context)
        conf_diag_add(b->diags, &pos, NULL, "YAML syntax error: %s (%s at line %u:%u)",
                      p->problem ? p->problem : "invalid YAML", p->context,
                      (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
    else
        conf_diag_add(b->diags, &pos, NULL, "YAML syntax error: %s",
                      p->problem ? p->problem : "invalid YAML");
}

static int spend(struct yaml_builder *b, yaml_mark_t m)
{
    if (b->budget == 0) {
        struct conf_pos pos = mark_pos(b, m);

        conf_diag_add(b->diags, &pos, NULL,
                      "the document has more than %u YAML nodes; a configuration needs far fewer",
                      CONF_YAML_MAX_NODES);
        return -1;
    }
    b->budget--;
    return 0;
}

static struct conf_node *new_node(struct yaml_builder *b, enum conf_node_type type, yaml_mark_t m)
{
    struct conf_node *n;

    if (spend(b, m) < 0)
        return NULL;
    n = conf_arena_alloc(b->arena, sizeof(*n));
    if (!n) {
        out_of_memory(b, m);
        return NULL;
    }
    n->type = type;
    n->line = (unsigned)m.line + 1;
    n->col = (unsigned)m.column + 1;
    return n;
}

static int register_anchor(struct yaml_builder *b, const char *anchor, const struct conf_node *n,
                           yaml_mark_t m)
{
    /* A later anchor of the same name hides the earlier one, as YAML says. */
    if (anchor && conf_map_set(&b->anchors, anchor, strlen(anchor), (void *)n) < 0)
        return out_of_memory(b, m);
    return 0;
}

static const char *copy_anchor(struct yaml_builder *b, const yaml_char_t *anchor)
{
    return anchor ? conf_arena_strdup(b->arena, (const char *)anchor) : NULL;
}

/* Hang a finished node (or an alias of one) on its parent, or make it the root. */
static int attach(struct yaml_builder *b, const struct conf_node *n, yaml_mark_t m)
{
    struct yaml_frame *f;
    struct conf_item *it;

    if (b->depth == 0) {
        b->root = n;
        return 0;
    }
    f = &b->stack[b->depth - 1];
    if (f->node->type == CONF_NODE_MAP && !f->pending_key) {
        f->pending_key = n;
        return 0;
    }
    it = conf_arena_alloc(b->arena, sizeof(*it));
    if (!it)
        return out_of_memory(b, m);
    it->key = f->node->type == CONF_NODE_MAP ? f->pending_key : NULL;
    it->val = n;
    f->pending_key = NULL;
    if (f->node->last)
        f->node->last->next = it;
    else
        f->node->items = it;
    f->node->last = it;
    f->node->n++;
    return 0;
}

static int on_scalar(struct yaml_builder *b, const yaml_event_t *ev)
{
    struct conf_node *n = new_node(b, CONF_NODE_SCALAR, ev->start_mark);
    const char *anchor;

    if (!n)
        return -1;
    n->str =
        conf_arena_strndup(b->arena, (const char *)ev->data.scalar.value, ev->data.scalar.length);
    anchor = copy_anchor(b, ev->data.scalar.anchor);
    if (!n->str || (ev->data.scalar.anchor && !anchor))
        return out_of_memory(b, ev->start_mark);
    n->len = ev->data.scalar.length;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (register_anchor(b, anchor, n, ev->start_mark) < 0)
        return -1;
    return attach(b, n, ev->start_mark);
}

static int on_start(struct yaml_builder *b, const yaml_event_t *ev, enum conf_node_type type,
                    const yaml_char_t *anchor)
{
    struct yaml_frame *f;
    struct conf_node *n;

    if (b->depth == CONF_YAML_MAX_DEPTH) {
        struct conf_pos pos = mark_pos(b, ev->start_mark);

        conf_diag_add(b->diags, &pos, NULL,
                      "nesting deeper than %u levels; a configuration needs fewer than 10",
                      CONF_YAML_MAX_DEPTH);
        return -1;
    }
    n = new_node(b, type, ev->start_mark);
    if (!n)
        return -1;
    f = &b->stack[b->depth++];
    f->node = n;
    f->pending_key = NULL;
    f->anchor = copy_anchor(b, anchor);
    if (anchor && !f->anchor)
        return out_of_memory(b, ev->start_mark);
    return 0;
}

static int on_end(struct yaml_builder *b, const yaml_event_t *ev)
{
    struct yaml_frame *f = &b->stack[--b->depth];

    if (register_anchor(b, f->anchor, f->node, ev->start_mark) < 0)
        return -1;
    return attach(b, f->node, ev->start_mark);
}

static int on_alias(struct yaml_builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const struct conf_node *n = conf_map_get(&b->anchors, name, strlen(name));

    if (!n)
        return build_error(b, ev->start_mark,
                           "alias *%s names no anchor defined before it (and not an "
                           "enclosing one); define &name first",
                           name);
    if (spend(b, ev->start_mark) < 0)
        return -1;
    return attach(b, n, ev->start_mark);
}

static int on_event(struct yaml_builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->documents > 1)
            return build_error(b, ev->start_mark, "%s",
                               "a second YAML document (\"---\"); the configuration must be "
                               "a single document");
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, CONF_NODE_SEQ, ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, CONF_NODE_MAP, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    default:
        return 0;
    }
}

int conf_yaml_parse(struct conf_arena *arena, const char *file, const char *buf, size_t len,
                    const struct conf_node **root, struct conf_diags *diags)
{
    struct yaml_builder b;
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;

    memset(&b, 0, sizeof(b));
    b.arena = arena;
    b.file = file;
    b.buf = buf;
    b.diags = diags;
    b.budget = CONF_YAML_MAX_NODES;
    conf_map_init(&b.anchors, arena);
    *root = NULL;
    if (!yaml_parser_initialize(&parser)) {
        struct conf_pos pos = {file, 0, 0};

        conf_diag_add(diags, &pos, NULL, "out of memory while starting the YAML parser");
        return -1;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            syntax_error(&b, &parser);
            rc = -1;
            break;
        }
        rc = on_event(&b, &ev);
        if (rc < 0 || ev.type == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    if (rc == 0)
        *root = b.root;
    return rc;
}

bool conf_node_is_null(const struct conf_node *n)
{
    return n->type == CONF_NODE_SCALAR && n->plain &&
           (n->len == 0 || strcmp(n->str, "~") == 0 || strcmp(n->str, "null") == 0 ||
            strcmp(n->str, "Null") == 0 || strcmp(n->str, "NULL") == 0);
}

const char *conf_node_kind(const struct conf_node *n)
{
    switch (n->type) {
    case CONF_NODE_MAP:
        return "a mapping";
    case CONF_NODE_SEQ:
        return "a list";
    default:
        return conf_node_is_null(n) ? "an empty value" : "a value";
    }
}

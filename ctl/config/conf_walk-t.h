/*
 * Describing a YAML mapping as a table of keys: what the walker takes (types only; the
 * walker's functions are in conf_walk.h, LLMProxy's own tables in conf_schema.c).
 *
 * Each key says its YAML type, where its value goes in the C object being filled,
 * its range and default. The walker (conf_walk.h) does everything generic from
 * these tables: types, ranges, defaults, unknown and duplicate keys, required keys,
 * list bounds. What ties several keys of one mapping together lives in the table's
 * `finish` hook.
 */
#ifndef LLMPROXY_CONF_WALK_T_H
#define LLMPROXY_CONF_WALK_T_H

#include <stdbool.h>
#include <stddef.h>

#include "conf_yaml-t.h"

/* Keys in one mapping, at most. */
#define CONF_SCHEMA_MAX_KEYS 16

enum conf_type {
    CONF_T_INT,     /* unquoted integer in [min, max] into an unsigned field of `size` bytes */
    CONF_T_FLOAT,   /* unquoted number in [min, max] into a double */
    CONF_T_BOOL,    /* true/false, yes/no, on/off (any case, unquoted) into a bool */
    CONF_T_STR,     /* any scalar, ${VAR}-expanded, into a struct conf_str */
    CONF_T_NAME,    /* [A-Za-z0-9_.-]{1,48}, expanded, into a char * */
    CONF_T_ADDR,    /* IPv4 or IPv6 literal, expanded, into a char * */
    CONF_T_ENUM,    /* one of `words` into an enum (int-sized) field: its index */
    CONF_T_MAP,     /* a mapping walked with `sub`; `off` moves the object base */
    CONF_T_LIST,    /* a list of mappings walked with `sub` into an array (pointer at off) */
    CONF_T_SIZE,    /* bytes, unquoted: 1048576, 512KiB, 32MiB, 1GiB, in [min, max], uint32_t */
    CONF_T_WORDSET, /* a non-empty list of distinct `words` into a uint32_t bit mask */
    CONF_T_STRLIST, /* a list of strings, expanded, into an array of struct conf_str */
};

#define CONF_K_REQUIRED (1u << 0) /* missing is an error */
#define CONF_K_POS      (1u << 1) /* also store the value's position at pos_off */
#define CONF_K_FLAG     (1u << 2) /* CONF_T_MAP, _STRLIST: set the bool at flag_off when given */
/* CONF_T_STR that HAProxy reads as a log-format string: its ${VAR}s are rendered as
 * references, so a variable's value must not hold '%', which would start a sample. */
#define CONF_K_LOGFMT (1u << 3)

struct conf_schema;
struct conf_walk;

struct conf_key {
    const char *name;
    enum conf_type type;
    unsigned flags;
    size_t off;
    size_t size;                   /* CONF_T_INT: sizeof the field (2 or 4) */
    double min, max;               /* numbers: range; CONF_T_LIST, _STRLIST: number of items */
    double def;                    /* default of numbers, bools, enums and word sets */
    const char *def_str;           /* default of strings, names and addresses */
    const char *const *words;      /* CONF_T_ENUM, _WORDSET: NULL-terminated; index = value/bit */
    const struct conf_schema *sub; /* CONF_T_MAP, CONF_T_LIST */
    size_t count_off;              /* CONF_T_LIST, _STRLIST: the size_t item count */
    size_t pos_off;                /* CONF_K_POS: a struct conf_pos */
    size_t flag_off;               /* CONF_K_FLAG: a bool */
    const char *alias_of;          /* another spelling of that key of the same table */
};

/* Keys of one mapping as given, by index in the table (an alias uses its key's). */
struct conf_seen {
    const struct conf_node *key[CONF_SCHEMA_MAX_KEYS]; /* present */
    const struct conf_node *val[CONF_SCHEMA_MAX_KEYS]; /* present and accepted */
};

struct conf_schema {
    const struct conf_key *keys;
    size_t n_keys;
    size_t item_size; /* size of one object, when walked as a list item */
    bool keep_pos;    /* store the mapping's position at pos_off */
    bool extensions;  /* keys "x-..." are ignored (a place for YAML anchors) */
    size_t pos_off;
    /* Rules across keys, run after the keys were walked; obj has every value set. */
    void (*finish)(struct conf_walk *w, void *obj, const struct conf_node *map,
                   const struct conf_seen *seen);
};

#endif /* LLMPROXY_CONF_WALK_T_H */

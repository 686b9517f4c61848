/*
 * A parsed JSON document (types only; functions are in json.h).
 *
 * Values form a tree of sibling lists: a container points at its first child and every
 * child at the next one, so a document is built in one pass without knowing sizes ahead.
 */
#ifndef LLMPROXY_JSON_T_H
#define LLMPROXY_JSON_T_H

#include <stdbool.h>
#include <stddef.h>

/* Deepest nesting accepted: a hostile document cannot exhaust the stack. */
#define JSON_MAX_DEPTH 64

enum json_type {
    JSON_NULL = 0,
    JSON_BOOL,
    JSON_NUMBER,
    JSON_STRING,
    JSON_ARRAY,
    JSON_OBJECT,
};

struct json_value {
    enum json_type type;
    bool boolean;
    double number;
    const char *string;       /* JSON_STRING: decoded UTF-8, NUL-terminated */
    size_t string_len;        /* may hold NULs (\u0000) before string_len */
    const char *key;          /* member of an object: its name, decoded; NULL otherwise */
    struct json_value *child; /* JSON_ARRAY, JSON_OBJECT: first element or member */
    struct json_value *next;  /* next sibling in the parent */
};

struct json_doc;

#endif /* LLMPROXY_JSON_T_H */

/*
 * A small strict JSON reader (RFC 8259) for the documents llmproxy-ctl fetches, such as
 * the agent's /status. The whole tree lives in one bounded arena, so a huge or hostile
 * document fails cleanly instead of exhausting memory.
 */
#ifndef LLMPROXY_JSON_H
#define LLMPROXY_JSON_H

#include <stddef.h>

#include "json-t.h"

/*
 * Parse `len` bytes of `text` (need not be NUL-terminated). The tree may take at most
 * `mem_limit` bytes. NULL on failure, with a message ("byte 12: expected ':'") in `err`.
 */
struct json_doc *json_parse(const char *text, size_t len, size_t mem_limit, char *err,
                            size_t err_size);
void json_free(struct json_doc *doc);

const struct json_value *json_root(const struct json_doc *doc);

/* The member `key` of object `obj`; NULL when `obj` is NULL, not an object, or lacks it. */
const struct json_value *json_get(const struct json_value *obj, const char *key);

/* The string of `v`, or NULL when `v` is NULL or not a string. */
const char *json_string(const struct json_value *v);

/* True, with *out set, when `v` is a number. */
bool json_number(const struct json_value *v, double *out);

#endif /* LLMPROXY_JSON_H */

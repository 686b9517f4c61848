/*
 * The patterns of routing rules (`http_server.forwards[].routing[]`): which model names a
 * rule may match, and the original LLMProxy's path patterns translated to one anchored
 * PCRE that HAProxy's path_reg evaluates. Pure functions, no configuration state.
 */
#ifndef LLMPROXY_CONF_ROUTE_H
#define LLMPROXY_CONF_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

/* Longest model pattern or name, and longest path pattern, in bytes. */
#define CONF_ROUTE_MODEL_MAX 200
#define CONF_ROUTE_PATH_MAX  1024
/* Room for any translated path pattern: at most 5 bytes per pattern byte, plus anchors. */
#define CONF_ROUTE_REGEX_SIZE (CONF_ROUTE_PATH_MAX * 5 + 16)

/*
 * A model pattern (`prefix` allows one trailing '*') or a model name: NULL when valid,
 * else what is wrong and what is allowed.
 */
const char *conf_route_model_problem(const char *s, bool prefix);

/*
 * Translate path pattern `pattern` into `out` (CONF_ROUTE_REGEX_SIZE bytes) as a PCRE
 * anchored at both ends, and compile it to prove it valid. Returns 0, or -1 with the
 * reason (naming the byte offset in the pattern) in `why`.
 */
int conf_route_path_regex(const char *pattern, char *out, size_t size, char *why, size_t why_size);

#endif /* LLMPROXY_CONF_ROUTE_H */

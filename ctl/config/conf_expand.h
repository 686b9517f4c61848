/*
 * ${VAR} expansion of string values.
 *
 *   ${NAME}          the variable's value; an error if it is not set
 *   ${NAME:-default} the value, or `default` when NAME is unset or empty
 *   $$               a literal '$'
 *   $ before anything else is kept literally (passwords may contain '$').
 * NAME is [A-Za-z_][A-Za-z0-9_]*; `default` is literal text up to the next '}'.
 */
#ifndef LLMPROXY_CONF_EXPAND_H
#define LLMPROXY_CONF_EXPAND_H

#include <stdbool.h>
#include <stddef.h>

#include "config-t.h"

/* Longest string value accepted, before and after expansion. */
#define CONF_MAX_STRING 4096

/*
 * Expand `len` bytes of `in` into `out` (CONF_MAX_STRING + 1 bytes), NUL-terminated;
 * `*out_len` gets the length. `*used_var` tells whether a ${...} was expanded (the
 * caller keeps the original text as the template then). On error returns -1 with a
 * message "what was found; what is allowed" in `err`.
 */
int conf_expand(const char *in, size_t len, conf_getenv_fn getenv_fn, void *getenv_ctx, char *out,
                size_t *out_len, bool *used_var, char *err, size_t err_size);

#endif /* LLMPROXY_CONF_EXPAND_H */

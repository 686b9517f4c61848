/*
 * Loading and validating the LLMProxy YAML configuration.
 *
 * config_load() reads a file, config_load_buf() a buffer (tests). Both collect every
 * problem of the file into `diags` instead of stopping at the first, and return NULL
 * when there was at least one. A returned config is complete: defaults filled in,
 * variables expanded, cross references resolved and checked.
 */
#ifndef LLMPROXY_CONFIG_H
#define LLMPROXY_CONFIG_H

#include <stdio.h>

#include "config-t.h"

/* Largest configuration file accepted, so a stray huge file cannot exhaust memory. */
#define CONF_MAX_FILE_SIZE (4u * 1024 * 1024)

struct config *config_load(const char *path, struct conf_diags *diags);

/* `name` is used in messages; `getenv_fn` NULL means the process environment. */
struct config *config_load_buf(const char *name, const char *buf, size_t len,
                               conf_getenv_fn getenv_fn, void *getenv_ctx,
                               struct conf_diags *diags);

void config_free(struct config *cfg);

/* Print each diagnostic as "file:line:col: path: message\n". */
void conf_diags_print(const struct conf_diags *diags, FILE *out);
void conf_diags_free(struct conf_diags *diags);

/* "1 forward, 2 groups, 3 upstreams": what a configuration holds, for one-line reports. */
#define CONF_SUMMARY_MAX 96
const char *config_summary(const struct config *cfg, char buf[CONF_SUMMARY_MAX]);

const char *balance_strategy_name(enum balance_strategy s);

/* Whether client `client` may use forward `forward`: the forward checks keys (client_auth)
 * and the client lists it, or lists no forward at all. */
bool conf_client_allowed(const struct config *cfg, size_t client, size_t forward);

/* Whether two optional values of a configuration are alike: the same text, or both absent. */
bool conf_same_text(const char *a, const char *b);

/* The names of enum http_method, in its order, NULL-terminated. */
extern const char *const conf_http_methods[];

#endif /* LLMPROXY_CONFIG_H */

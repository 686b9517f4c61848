/*
 * Helpers for the configuration tests: load YAML text with a fake environment and
 * get the diagnostics as the text llmproxy-ctl would print.
 */
#ifndef LLMPROXY_CONF_TESTUTIL_H
#define LLMPROXY_CONF_TESTUTIL_H

#include "config.h"

/* Name the test buffers are loaded under, as it appears in messages. */
#define CTU_FILE "t.yaml"

/* A getenv over a NULL-terminated array of "NAME=value" strings (ctx). */
const char *ctu_getenv(const char *name, void *ctx);

/*
 * Load `yaml` as CTU_FILE with the environment `env` (may be NULL). Returns the
 * configuration or NULL; *diags_text (malloc'd, never NULL) gets the printed
 * diagnostics, "" when there were none.
 */
struct config *ctu_load(const char *yaml, const char *const *env, char **diags_text);

/* ctu_load() without an environment that must succeed: a Check failure prints why not. */
struct config *ctu_load_ok(const char *yaml);

/* The same with the environment `env`. */
struct config *ctu_load_env_ok(const char *yaml, const char *const *env);

/* The printed warnings of loading `yaml`, which must load (malloc'd; "" when none). */
char *ctu_warnings(const char *yaml);

/* The printed diagnostics of loading `yaml` (malloc'd); the configuration is freed. */
char *ctu_errors(const char *yaml);
char *ctu_errors_env(const char *yaml, const char *const *env);

/* The load of `yaml` fails with exactly the diagnostics `expected` (a Check failure shows
 * both otherwise). */
void ctu_assert_errors(const char *yaml, const char *expected);

/* Print diagnostics into a malloc'd string. */
char *ctu_diags_text(const struct conf_diags *diags);

#endif /* LLMPROXY_CONF_TESTUTIL_H */

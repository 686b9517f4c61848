/*
 * The LLMProxy configuration schema: every key, its type, range and default, in
 * tables walked by conf_walk.c. docs/configuration.md describes the same keys.
 */
#ifndef LLMPROXY_CONF_SCHEMA_H
#define LLMPROXY_CONF_SCHEMA_H

#include "conf_walk-t.h"

/* List bounds: far above real use, low enough that a hostile file stays cheap. */
#define CONF_MAX_FORWARDS   4096
#define CONF_MAX_UPSTREAMS  4096
#define CONF_MAX_GROUPS     4096
#define CONF_MAX_MEMBERS    256
#define CONF_MAX_HEADER_OPS 64
#define CONF_MAX_CLIENTS    100000
#define CONF_MAX_TRUSTED    1024

/* The top level, filling a struct config. */
extern const struct conf_schema conf_config_schema;

#endif /* LLMPROXY_CONF_SCHEMA_H */

/*
 * agent.cluster: the schema of the keys that share the agents' token buckets through
 * Redis, and the parsing of a Redis URL (docs/configuration.md, agent.cluster).
 */
#ifndef LLMPROXY_CONF_CLUSTER_H
#define LLMPROXY_CONF_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "conf_walk-t.h"

#define CONF_REDIS_DEFAULT_PORT 6379
#define CONF_REDIS_HOST_MAX     253 /* the longest DNS name */
#define CONF_REDIS_MAX_DB       255

/* A redis:// URL, split. */
struct conf_redis_url {
    char host[CONF_REDIS_HOST_MAX + 1]; /* name or IP literal, IPv6 without brackets */
    uint16_t port;
    uint32_t db;
};

/*
 * Split `s`, redis://host[:port][/db], into `out`. Returns 0, or -1 with "what was found;
 * what is allowed" in `err`. rediss:// (TLS) is refused: the hiredis of Debian 12 has no
 * TLS. Credentials in the URL are refused: the password has its own key, so that it comes
 * from ${VAR} and never shows where the URL does.
 */
int conf_redis_url_parse(const char *s, struct conf_redis_url *out, char *err, size_t errlen);

/* The agent.cluster mapping, filling a struct conf_cluster. */
extern const struct conf_schema conf_cluster_schema;

#endif /* LLMPROXY_CONF_CLUSTER_H */

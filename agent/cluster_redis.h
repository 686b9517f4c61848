/*
 * The link between the shared token buckets (cluster_table.h) and Redis: hiredis on the
 * agent's event loop, never waited for. Every agent.cluster.sync_interval_ms the pending
 * spend leaves in one EVALSHA; a batch unanswered within agent.cluster.redis.timeout_ms,
 * an error or a lost connection makes decisions local (cluster_link.h) until a
 * reconnection, with backoff, succeeds.
 */
#ifndef LLMPROXY_CLUSTER_REDIS_H
#define LLMPROXY_CLUSTER_REDIS_H

#include <ev.h>

#include "cluster_redis-t.h"
#include "cluster_table-t.h"
#include "config-t.h"

struct cluster_redis;

/*
 * Start syncing `table` with the Redis of `conf` (copied: a reload keeps the running
 * link; a changed agent.cluster needs a restart). NULL when memory is short.
 */
struct cluster_redis *cluster_redis_start(struct ev_loop *loop, const struct conf_cluster *conf,
                                          struct cluster_table *table);
void cluster_redis_stop(struct cluster_redis *c);

void cluster_redis_stats(const struct cluster_redis *c, struct cluster_redis_stats *out);

/* host:port of the Redis, for /status (never the password). */
const char *cluster_redis_endpoint(const struct cluster_redis *c);

#endif /* LLMPROXY_CLUSTER_REDIS_H */

/*
 * The /metrics page's sources (types only; functions are in metrics_page.h).
 */
#ifndef LLMPROXY_METRICS_PAGE_T_H
#define LLMPROXY_METRICS_PAGE_T_H

#include "acceptor-t.h"

struct admin_stats;
struct cluster_redis_stats;
struct cluster_table_stats;
struct agent_state;
struct decide_stats;
struct logfeed_stats;
struct feed_rescue_stats;
struct metrics;
struct mirror_stats;
struct ratelimit_stats;
struct retry_stats;
struct spop_server_stats;
struct tunnels;

/*
 * What a scrape reads: the recorded series, and every subsystem's own numbers as it
 * exposes them (a stats struct or accessor), read now. The page only reads them. Any
 * pointer but `recorded` may be NULL: its families are then left out.
 */
struct metrics_page_sources {
    const struct metrics *recorded; /* the series fed by log lines and decisions */
    struct agent_state *state;      /* breakers and upstream gauges, read live */
    const struct decide_stats *decide;
    const struct retry_stats *retry;
    const struct mirror_stats *mirror; /* NULL when breakers are not mirrored into HAProxy */
    const struct spop_server_stats *spop;
    const struct ratelimit_stats *ratelimit;
    const struct logfeed_stats *logs;
    struct acceptor_stats log_admission; /* the log feed's, read with `logs` */
    const struct feed_rescue_stats
        *log_rescue; /* read with `logs`; NULL: the feed is not watched */
    const struct admin_stats *admin;
    const struct tunnels *tunnels;
    /* agent.cluster: both NULL without it */
    const struct cluster_table_stats *cluster_table;
    const struct cluster_redis_stats *cluster;
};

#endif /* LLMPROXY_METRICS_PAGE_T_H */

/*
 * Picking the least loaded inference engine of a group (types only; functions are in
 * least_load.h).
 */
#ifndef LLMPROXY_LEAST_LOAD_T_H
#define LLMPROXY_LEAST_LOAD_T_H

#include <stdbool.h>
#include <stdint.h>

/* What the balancer knows about one member's load at pick time. */
struct least_load_member {
    bool available;        /* breaker lets it through and HAProxy says the server is up */
    bool scraped;          /* a recent scrape of its metrics page is known */
    double waiting;        /* scraped: requests queued in the engine */
    double running;        /* scraped: requests in its batches */
    double kv_usage;       /* scraped: KV-cache share, 0 .. 1 (0 when the page had none) */
    uint32_t in_flight;    /* HAProxy's requests on it now (srv_conn + srv_queue) */
    uint32_t in_flight_at; /* scraped: the same count when the scrape ended */
};

/* When an engine counts as saturated: taken only when every available one is. */
struct least_load_limits {
    double waiting;  /* requests queued at or above this */
    double kv_usage; /* KV-cache share at or above this */
};

#endif /* LLMPROXY_LEAST_LOAD_T_H */

/*
 * Scraping one inference engine's metrics page on the agent's loop (types only; functions
 * are in engine_scrape.h).
 */
#ifndef LLMPROXY_ENGINE_SCRAPE_T_H
#define LLMPROXY_ENGINE_SCRAPE_T_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "config-t.h"
#include "engine_load-t.h"

/* A page larger than this is not read to its end: the scrape fails. vLLM's is ~100 KiB. */
#define ENGINE_PAGE_MAX (2u << 20)
/* The GET's bytes, path included. */
#define ENGINE_REQUEST_MAX 1024
/* How long a looked-up address is used before the name is looked up again. */
#define ENGINE_RESOLVE_TTL_MS 30000
/* Longest host name kept. */
#define ENGINE_HOST_MAX 256

struct resolver;
struct resolver_lookup;

/* A scrape's end: `load` is NULL when it failed, and `why` says how. */
typedef void engine_scrape_fn(void *ctx, const struct engine_load *load, const char *why);

enum engine_scrape_phase {
    SCRAPE_IDLE = 0,   /* waiting for the next tick */
    SCRAPE_RESOLVING,  /* the host's name is being looked up */
    SCRAPE_CONNECTING, /* connect() in progress */
    SCRAPE_SENDING,    /* writing the GET */
    SCRAPE_RECEIVING,  /* reading the reply to its close */
};

struct engine_probe {
    struct ev_loop *loop;
    struct resolver *resolver;
    engine_scrape_fn *done;
    void *ctx;
    enum engine_type type;
    char host[ENGINE_HOST_MAX];
    uint16_t port;
    char request[ENGINE_REQUEST_MAX];
    size_t request_len, sent;

    enum engine_scrape_phase phase;
    struct resolver_lookup *lookup;
    struct sockaddr_storage addr;
    socklen_t addr_len; /* 0: not looked up (or the lookup is stale) */
    ev_tstamp resolved_at;
    int fd;
    ev_io io;
    ev_timer tick;     /* every interval: start a scrape unless one still runs */
    ev_timer deadline; /* the scrape's time bound */
    char *reply;       /* grows up to ENGINE_PAGE_MAX, released after each scrape */
    size_t reply_len, reply_cap;
};

#endif /* LLMPROXY_ENGINE_SCRAPE_T_H */

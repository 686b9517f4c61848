/*
 * An inference engine's load, as its metrics page tells it (types only; functions are in
 * engine_load.h).
 */
#ifndef LLMPROXY_ENGINE_LOAD_T_H
#define LLMPROXY_ENGINE_LOAD_T_H

#include <stdbool.h>

/* Any count above this is read as this: a page cannot make a score overflow. */
#define ENGINE_LOAD_COUNT_MAX 1e6

struct engine_load {
    bool valid;      /* the page had the running and the waiting gauge */
    double running;  /* requests in the engine's batches now (sum over the page's series) */
    double waiting;  /* requests queued in the engine (sum) */
    bool has_kv;     /* the page had a KV-cache gauge */
    double kv_usage; /* the KV-cache's fullest share, 0 .. 1 */
};

#endif /* LLMPROXY_ENGINE_LOAD_T_H */

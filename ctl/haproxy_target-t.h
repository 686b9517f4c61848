/*
 * The HAProxy release the rendered files are for, and what the renderer does differently
 * for it (types only; functions are in haproxy_target.h).
 */
#ifndef LLMPROXY_HAPROXY_TARGET_T_H
#define LLMPROXY_HAPROXY_TARGET_T_H

#include <stdbool.h>

#include "config-t.h"

/* All zero is the oldest release, 2.6. */
struct haproxy_target {
    struct conf_haproxy_version version; /* 0.0: the oldest */
    /* 3.1 and later carry SPOP in a multiplexer of their own: the agent's backend says
     * `mode spop` (they would convert a `mode tcp` one, which 2.6 to 3.0 require). */
    bool spop_mode;
    /* Up to 3.2 a ring's server may be a unix socket; 3.4 refuses one, so the agent's log
     * feed must then listen on TCP (3.3, never tested, is taken to be like 3.4). */
    bool ring_tcp_only;
    /*
     * Bind each HAProxy thread to its own CPU (cpu-map). 2.6 to 3.2 wake the log ring's
     * forwarder while holding a lock the forwarder takes first; the woken thread, pulled
     * onto the writer's CPU, spins on it until the writer runs again, which on a small or
     * busy host adds milliseconds to the next request. One thread per CPU cannot preempt
     * another (docs/benchmarks.md, "Sequential tail"). Every tested release needs it.
     */
    bool bind_threads_to_cpus;
    /* `retry-on 429`: from 3.1 (3.0.4 has it too, but 3.0.0 to 3.0.3 refuse the word,
     * and a target names no patch release). Older ones relay an upstream's 429. */
    bool retry_on_429;
    /* `tune.memory.hot-size`, the per-thread pool cache, from 3.0 (2.6 has no such
     * keyword). Its 512 KiB default holds only 8 of the 64 KiB buffers a group with
     * retries needs, and 3.x then allocates every other buffer from the shared pools:
     * a retry group's throughput fell to two thirds of a pinned group's on 3.2.0
     * (docs/benchmarks.md). Scaled with the buffers, it keeps as many hot as by default. */
    bool memory_hot_size;
};

#endif /* LLMPROXY_HAPROXY_TARGET_T_H */

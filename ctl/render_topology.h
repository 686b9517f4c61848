/*
 * The one place that decides, from the configuration, how each group is laid out in
 * HAProxy: pinned backends or the two layers only, retries, buffer size, the `attempt`
 * engine's timeout. Both renderers (render_haproxy.c, render_spoe.c) and render_dir.c read
 * it; nothing else derives these from the configuration. Pure functions of the model.
 */
#ifndef LLMPROXY_RENDER_TOPOLOGY_H
#define LLMPROXY_RENDER_TOPOLOGY_H

#include "config-t.h"
#include "contract/spop_names.h"
#include "render_topology-t.h"

/*
 * Requests that may be retried must fit one buffer (L7 retries), prompts included. Without
 * retries HAProxy's default (16 KiB) is kept: bodies stream through any buffer, and
 * HAProxy's per-thread pool cache holds four times as many of the smaller ones, which
 * measurably saves CPU per request (docs/benchmarks.md).
 */
#define TOPOLOGY_RETRY_BUFSIZE 65536
/* HAProxy's own defaults: tune.bufsize, and tune.memory.hot-size (3.0 and later). */
#define TOPOLOGY_DEFAULT_BUFSIZE  16384u
#define TOPOLOGY_DEFAULT_HOT_SIZE 524288u

/* What the agent needs on top of a held backoff to decide and answer. */
#define TOPOLOGY_ATTEMPT_MARGIN_MS 1000u

/* The frontend's condition, besides a chosen member, for a pinned group with retries. */
#define TOPOLOGY_NOT_LAYERED " !{ var(" SPOP_TXN_LAYERED ") -m found }"

struct group_topology render_group_topology(const struct config *cfg, const struct conf_group *g);

struct render_topology render_topology(const struct config *cfg);

#endif /* LLMPROXY_RENDER_TOPOLOGY_H */

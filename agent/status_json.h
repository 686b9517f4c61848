/*
 * The agent's live state as one JSON document: what `GET /status` on the admin endpoint
 * answers and `llmproxy-ctl status` prints. Layout (one line, numbers in their shortest
 * exact decimal form, null where a value does not exist yet):
 *
 *   {"version":1,
 *    "forwards":[{"name","listen","group","ratelimit":{"per_second","burst"}|null,
 *                 "limited","unavailable"}],
 *    "groups":[{"name","strategy","members":[{"upstream","weight"}]}],
 *    "upstreams":[{"name","url","breaker":{"enabled","state","threshold","cooldown_s",
 *                  "window_attempts","window_failures","opened","closed","half_opened",
 *                  "success","failure","rejected"},
 *                  "ema_ms"|null,"success_rate","in_flight","score"|null,"picks"}],
 *    "clients":[{"name","ratelimit":{"per_second","burst"}|null,"requests","limited"}],
 *    "cluster":{"redis","state","since_ms","fallbacks","recoveries","errors","timeouts",
 *               "batches","buckets","keys_deferred","batch_rtt_ms"}}
 *
 * "cluster" is there only with agent.cluster.redis; it never holds the password.
 *
 * "clients" is there only when the configuration has clients or a forward with
 * client_auth; it never holds a key or a key's hash.
 *
 * docs/operations.md describes every field.
 */
#ifndef LLMPROXY_STATUS_JSON_H
#define LLMPROXY_STATUS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf-t.h"
#include "cluster_redis-t.h"
#include "cluster_table-t.h"
#include "state-t.h"

/* Bumped when a field changes meaning or goes away (new fields do not bump it). */
#define STATUS_JSON_VERSION 1

/* The Content-Type of the document. */
#define STATUS_JSON_CONTENT_TYPE "application/json"

/*
 * Append the document for `st` as seen at `now_ms` (monotonic ms), followed by a newline.
 * `st` is not const because reading a breaker's state may take its lazy OPEN -> HALF_OPEN
 * step. False when `out` overflowed its bound (its content is then incomplete).
 */
bool status_json_render(struct agent_state *st, uint64_t now_ms, struct buf *out);

/* The shared buckets' side of the document (agent.cluster). */
struct status_cluster {
    const char *endpoint; /* host:port of the Redis */
    const struct cluster_redis_stats *redis;
    const struct cluster_table_stats *table;
};

/* The same document, with "cluster" when `cluster` is not NULL. */
bool status_json_render_cluster(struct agent_state *st, const struct status_cluster *cluster,
                                uint64_t now_ms, struct buf *out);

/*
 * Append `len` bytes of `s` as a JSON string, quotes included. `"` and `\` are escaped,
 * control characters written as \n, \t, ... or \u00XX, DEL as \u007f; bytes that are not
 * valid UTF-8 become U+FFFD, so the result is always valid JSON whatever the input.
 */
void status_json_string(struct buf *out, const char *s, size_t len);

#endif /* LLMPROXY_STATUS_JSON_H */

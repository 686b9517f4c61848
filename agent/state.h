/*
 * The agent's decision state, built from a loaded configuration.
 */
#ifndef LLMPROXY_STATE_H
#define LLMPROXY_STATE_H

#include "state-t.h"

/*
 * Build the state for `cfg`, taking ownership of it. With `old` (a reload), every upstream
 * whose name and URL are unchanged keeps its breaker (with the new settings), EMA and
 * counters, every forward keeps its rate-limit key, and every client of the same name
 * keeps its bucket (read with the new rate and burst) and counters, whatever its key
 * became, and affinity groups keep their pick counters (and their sessions, when the
 * affinity groups are unchanged); `old` itself is left intact for
 * the caller to free. Returns NULL when memory is short (then `cfg` is still the caller's).
 */
struct agent_state *state_create(struct config *cfg, const struct agent_state *old, uint64_t seed);
void state_free(struct agent_state *st);

/* Look-ups by name, NULL when unknown. Names are not NUL-terminated on the wire. */
struct forward_rt *state_forward(struct agent_state *st, const char *name, size_t len);
struct upstream_rt *state_upstream(struct agent_state *st, const char *name, size_t len);
struct group_rt *state_group(struct agent_state *st, const char *name, size_t len);
struct client_rt *state_client(struct agent_state *st, const char *name, size_t len);

/* The group named `name` among those `fwd` may route to (forward_rt.targets), NULL if none:
 * a short scan of the forward's own list, no allocation. */
struct group_rt *forward_target(const struct forward_rt *fwd, const char *name, size_t len);

/* Whether some forward has routing rules. */
bool state_has_routing(const struct agent_state *st);

/* Whether the configuration knows clients at all: some client, or a forward with
 * client_auth. Without, nothing is kept or shown per client. */
bool state_has_clients(const struct agent_state *st);

/* Picks of `up` younger than PICK_SETTLE_MS at `now_ms`. */
uint32_t upstream_unsettled_picks(const struct upstream_rt *up, uint64_t now_ms);

/* Requests on `up`: HAProxy's count from the latest pick plus the unsettled picks. */
uint32_t upstream_in_flight(const struct upstream_rt *up, uint64_t now_ms);

/* What the balancer sees of `up` at `now_ms` (picks, and the score metrics and status show). */
struct bal_candidate upstream_candidate(const struct upstream_rt *up, bool available,
                                        uint64_t now_ms);
void upstream_note_pick(struct upstream_rt *up, uint64_t now_ms);

/* A scrape of a least_load member's engine ended at `now_ms`: `load` read, or NULL (failed). */
void engine_seen_record(struct engine_seen *e, const struct engine_load *load, uint64_t now_ms);

/* Add to `c` what `e` knows of the member's engine, if its latest scrape is still recent
 * by `conf`'s interval (three intervals and a timeout). */
void engine_seen_candidate(const struct engine_seen *e, const struct conf_engine *conf,
                           uint64_t now_ms, struct bal_candidate *c);

#endif /* LLMPROXY_STATE_H */

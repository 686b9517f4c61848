/*
 * Mirrors open breakers into HAProxy's own balancing (docs/operations.md, "Breakers and
 * HAProxy's own balancing").
 *
 * When the agent does not answer (fail-open) or a retry is redispatched, HAProxy picks a
 * server by itself and knows nothing of the agent's breakers. The mirror gives the server
 * of every upstream whose breaker is not closed weight 0 in each group backend, and its
 * configured weight back ("100%", HAProxy's initial weight) once the breaker closes.
 * Weight 0 and not `state drain`: use-server still reaches a weight-0 server, so the
 * agent's half-open probe gets through, and an operator's own drain or maint is never
 * overwritten. A group never has every server at weight 0: when all its breakers are open
 * the mirror keeps their weights, so that HAProxy without the agent still tries them
 * instead of refusing every request.
 *
 * Pure and clock-injected: commands come out through an emitter, results come back
 * through mirror_done(). A new HAProxy worker starts from its configuration file, so
 * mirror_forget() makes everything unknown again; every MIRROR_RECONCILE_MS the drained
 * servers are asserted again anyway.
 */
#ifndef LLMPROXY_MIRROR_H
#define LLMPROXY_MIRROR_H

#include "mirror-t.h"
#include "state-t.h"

/*
 * Takes one runtime-API command (no newline). `cookie` goes back to mirror_done() with
 * HAProxy's verdict. Returns false when it cannot take the command now.
 */
typedef bool mirror_emit_fn(void *ctx, const char *cmd, uint64_t cookie);

void mirror_init(struct mirror *m);
void mirror_release(struct mirror *m);

/*
 * Follow `st` (at start, and after every reload; `st` must outlive its use). Pairs whose
 * group and upstream names are unchanged keep what the mirror knew of them; new pairs are
 * unknown and will be sent. Returns false when memory is short: the mirror then holds no
 * pairs and sends nothing until the next successful call.
 */
bool mirror_use_state(struct mirror *m, const struct agent_state *st);

/* A new HAProxy process may be running: every pair becomes unknown and is sent again. */
void mirror_forget(struct mirror *m);

/*
 * Emit a command for every pair whose desired weight differs from what HAProxy is known to
 * have, and, when the reconcile period has passed at `now_ms`, for every drained pair.
 * Returns the number of commands the emitter accepted.
 */
size_t mirror_sync(struct mirror *m, uint64_t now_ms, mirror_emit_fn *emit, void *ctx);

/* HAProxy's verdict on the command of `cookie`. Stale cookies are ignored. */
void mirror_done(struct mirror *m, uint64_t cookie, bool ok);

/* Whether the pair (group, upstream) should be at weight 0 now; false when unknown. */
bool mirror_wants_drained(const struct mirror *m, const char *group, const char *upstream);

#endif /* LLMPROXY_MIRROR_H */

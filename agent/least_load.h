/*
 * least_load: pick the inference engine that will start a request soonest, by what its
 * metrics page said at the last scrape, corrected by what changed since.
 *
 * An engine's queue is what delays a new request's first token; its KV-cache use is how
 * close it is to queueing; its running batch slows each token a little. So members are
 * compared on, in order: requests waiting, KV-cache use in tenths, requests running; ties
 * go round robin. Between two scrapes (a few hundred ms, thousands of requests at most)
 * the page is stale: every request HAProxy has in flight on a member beyond what it had
 * when the scrape ended counts as waiting, so that a burst spreads instead of piling onto
 * the member that looked idlest. A member without a recent scrape is judged by HAProxy's
 * count alone, each request in flight counted as waiting.
 *
 * Saturated members (waiting or KV-cache use at or above the limits) are left out while
 * any available member is not.
 */
#ifndef LLMPROXY_LEAST_LOAD_H
#define LLMPROXY_LEAST_LOAD_H

#include <stddef.h>

#include "least_load-t.h"

/*
 * The member to send the request to, or -1 when none is available. `cursor` is the
 * group's round-robin position for ties, advanced past the pick.
 */
int least_load_pick(const struct least_load_member *m, size_t n,
                    const struct least_load_limits *limits, size_t *cursor);

/* The waiting count least_load judges member `m` by (exposed for /status and tests). */
double least_load_waiting(const struct least_load_member *m);

#endif /* LLMPROXY_LEAST_LOAD_H */

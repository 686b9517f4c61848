/*
 * From the configuration to HAProxy's topology. Once the agent has chosen, a backend
 * holding that upstream alone is the same path as the group layer minus one HTTP pass:
 * the pinned backend. In a group with retries, HAProxy retries the request as the pinned
 * backend rewrote it for its member; the next member's listener can take it over only when
 * its own rewrites overwrite every one of those (conf_retry_path.h). Otherwise the group
 * keeps the group layer for every request, and its listeners ask the agent to hold each
 * retry for its backoff.
 */
#include "conf_retry_path.h"
#include "contract/backoff.h"
#include "render_topology.h"

struct group_topology render_group_topology(const struct config *cfg, const struct conf_group *g)
{
    const struct conf_http_client *c = &g->client;
    struct group_topology t = {.retries = c->retry_enabled};

    for (size_t i = 0; i < g->n_members; i++)
        t.queued |= g->members[i].max_in_flight > 0;
    t.pinned = t.retries ? conf_group_retries_from_pinned(cfg, g) : !t.queued;

    if (t.retries) {
        t.retry_count = c->retry_attempts;
        t.longest_backoff_ms = backoff_delay_ms(c->retry_initial_ms, c->retry_attempts);
    }
    return t;
}

struct render_topology render_topology(const struct config *cfg)
{
    struct render_topology t = {.retries = false};
    uint32_t longest = 0;

    for (size_t i = 0; i < cfg->n_groups; i++) {
        struct group_topology g = render_group_topology(cfg, &cfg->groups[i]);

        t.retries |= g.retries;
        if (g.longest_backoff_ms > longest)
            longest = g.longest_backoff_ms;
    }
    if (t.retries)
        t.bufsize = TOPOLOGY_RETRY_BUFSIZE;
    /*
     * Just above the longest backoff the agent will hold, so a held ACK is never cut short.
     * No longer than that, because it is also what a retry waits when the agent has just
     * died and HAProxy's health check has not noticed yet.
     */
    t.attempt_timeout_ms = longest + TOPOLOGY_ATTEMPT_MARGIN_MS;
    return t;
}

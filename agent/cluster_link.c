/*
 * The link to Redis: shared, or local with a reconnection backoff.
 */
#include "cluster_link.h"
#include "contract/backoff.h"

void cluster_link_init(struct cluster_link *l, uint64_t now_ms)
{
    *l = (struct cluster_link){.state = CLUSTER_STARTING, .since_ms = now_ms};
}

bool cluster_link_up(struct cluster_link *l, uint64_t now_ms)
{
    bool changed = l->state != CLUSTER_SHARED;

    if (l->state == CLUSTER_LOCAL)
        l->recoveries++;
    l->state = CLUSTER_SHARED;
    l->failures = 0;
    if (changed)
        l->since_ms = now_ms;
    return changed;
}

uint32_t cluster_backoff_ms(uint32_t failures)
{
    uint32_t d = backoff_delay_ms(CLUSTER_BACKOFF_FIRST_MS, failures);

    return d < CLUSTER_BACKOFF_MAX_MS ? d : CLUSTER_BACKOFF_MAX_MS;
}

bool cluster_link_failed(struct cluster_link *l, uint64_t now_ms, bool timeout)
{
    bool changed = l->state != CLUSTER_LOCAL;

    if (l->state == CLUSTER_SHARED)
        l->fallbacks++;
    l->errors++;
    if (timeout)
        l->timeouts++;
    if (l->failures < UINT32_MAX)
        l->failures++;
    l->retry_at_ms = now_ms + cluster_backoff_ms(l->failures);
    l->state = CLUSTER_LOCAL;
    if (changed)
        l->since_ms = now_ms;
    return changed;
}

bool cluster_link_may_connect(const struct cluster_link *l, uint64_t now_ms)
{
    return now_ms >= l->retry_at_ms;
}

const char *cluster_link_state_name(enum cluster_link_state s)
{
    switch (s) {
    case CLUSTER_STARTING:
        return "starting";
    case CLUSTER_SHARED:
        return "shared";
    case CLUSTER_LOCAL:
        return "local";
    }
    return "unknown";
}

/*
 * The retry backoff schedule (docs/spop-contract.md, message `attempt`). The agent holds
 * each retry's ACK this long (agent/decide.c); llmproxy-ctl sizes the `attempt` engine's
 * processing timeout to the longest hold (ctl/render_topology.c). Header-only, so both
 * programs compute it the same way.
 */
#ifndef LLMPROXY_CONTRACT_BACKOFF_H
#define LLMPROXY_CONTRACT_BACKOFF_H

#include <stdint.h>

#define RETRY_BACKOFF_CAP_MS 30000u /* backoff never exceeds 30 s */

/*
 * Delay before retry `k` (1 = first retry): initial_ms * 2^(k-1), at most
 * RETRY_BACKOFF_CAP_MS. 0 for k = 0, the first attempt, which is never delayed.
 */
static inline uint32_t backoff_delay_ms(uint32_t initial_ms, uint32_t k)
{
    uint32_t shift;

    if (k == 0)
        return 0;
    shift = k - 1;
    /* Compare before shifting so that neither a large k nor a large initial overflows. */
    if (shift >= 32 || initial_ms > (RETRY_BACKOFF_CAP_MS >> shift))
        return RETRY_BACKOFF_CAP_MS;
    return initial_ms << shift;
}

#endif /* LLMPROXY_CONTRACT_BACKOFF_H */

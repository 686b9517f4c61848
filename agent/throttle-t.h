/*
 * What an upstream's own throttling says about it (types only; see throttle.h).
 */
#ifndef LLMPROXY_THROTTLE_T_H
#define LLMPROXY_THROTTLE_T_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One upstream's throttling, from its responses: a 429 keeps it out of picks until
 * `cooldown_until_ms`; a budget at or below the configured floor keeps it out, unless every
 * member is low, until `low_until_ms`. Times are on the agent's monotonic clock.
 */
struct throttle {
    uint64_t cooldown_until_ms; /* 0: never throttled */
    uint64_t low_until_ms;      /* 0: budget not low */
    uint64_t throttled;         /* 429s received */
    uint64_t last_429_ms;       /* when the latest came; 0: never */
    bool has_remaining_requests, has_remaining_tokens;
    uint64_t remaining_requests, remaining_tokens; /* as the latest response said */
};

#endif /* LLMPROXY_THROTTLE_T_H */

/*
 * The fallback state machine of the link to Redis: shared while Redis answers in time,
 * local from the first failure or late answer, shared again once a reconnection (with
 * backoff) succeeds. Pure: the clock is passed in. Each function returns whether the
 * state changed, which is what is logged (once per transition, not once per failure).
 */
#ifndef LLMPROXY_CLUSTER_LINK_H
#define LLMPROXY_CLUSTER_LINK_H

#include "cluster_link-t.h"

void cluster_link_init(struct cluster_link *l, uint64_t now_ms);

/* Connected, authenticated and the script loaded: buckets are shared from now on. */
bool cluster_link_up(struct cluster_link *l, uint64_t now_ms);

/* The link failed (`timeout`: a batch was not answered in time): local until reconnected. */
bool cluster_link_failed(struct cluster_link *l, uint64_t now_ms, bool timeout);

/* Whether a new connection may be tried at `now_ms` (after the backoff). */
bool cluster_link_may_connect(const struct cluster_link *l, uint64_t now_ms);

/* The backoff after `failures` consecutive failures. */
uint32_t cluster_backoff_ms(uint32_t failures);

const char *cluster_link_state_name(enum cluster_link_state s);

#endif /* LLMPROXY_CLUSTER_LINK_H */

/*
 * Which way a group's retries go through HAProxy, shared by the renderer, which lays the
 * proxies out (ctl/render_topology.c), and the agent, which keeps their servers' weights
 * (agent/mirror.c).
 */
#ifndef LLMPROXY_CONF_RETRY_PATH_H
#define LLMPROXY_CONF_RETRY_PATH_H

#include <stdbool.h>

#include "config-t.h"

/*
 * The group retries, and its first attempts leave from pinned backends that retry through
 * the other members' listeners (docs/rendering.md, "Retries"). HAProxy retries a request
 * as the first member's rewrites left it, so this holds only when every member's rewrites
 * overwrite every other's: the same base path, an Authorization on all or on none, and
 * the same headers set, inserted (with the same value) and removed. And only without
 * max_in_flight, whose queue lives in the group backend.
 */
bool conf_group_retries_from_pinned(const struct config *cfg, const struct conf_group *g);

#endif /* LLMPROXY_CONF_RETRY_PATH_H */

/*
 * What ties a group's `engine` block to its strategy and members, checked once the whole
 * configuration is loaded (docs/configuration.md, least_load).
 */
#ifndef LLMPROXY_CONF_ENGINE_H
#define LLMPROXY_CONF_ENGINE_H

#include "config-t.h"

/*
 * An `engine` block on a group whose strategy is not least_load is an error (nothing
 * would read it). A least_load group without one, and a member whose engine speaks HTTPS
 * (scrapes are plain HTTP), are warnings: that load is judged by requests in flight.
 */
void conf_engine_check(struct config *cfg, struct conf_diags *diags);

#endif /* LLMPROXY_CONF_ENGINE_H */

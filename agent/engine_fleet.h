/*
 * The engines of every least_load group, scraped for as long as a state lives: one probe
 * (engine_scrape.h) per member, each scrape recorded into the group's engine_seen, so that
 * the next pick reads it. A reload starts the new state's probes and stops the old ones.
 */
#ifndef LLMPROXY_ENGINE_FLEET_H
#define LLMPROXY_ENGINE_FLEET_H

#include <stdbool.h>

#include <ev.h>

struct agent_state;
struct engine_fleet;

/* NULL when memory is short. */
struct engine_fleet *engine_fleet_create(struct ev_loop *loop);
void engine_fleet_free(struct engine_fleet *f);

/*
 * Scrape the engines of `st` (none when no group has an engine block). False when a
 * probe could not start (out of memory): that member is judged by requests in flight.
 */
bool engine_fleet_attach(struct engine_fleet *f, struct agent_state *st);

/* Stop scraping for `st`: before it is freed. */
void engine_fleet_detach(struct engine_fleet *f, struct agent_state *st);

#endif /* LLMPROXY_ENGINE_FLEET_H */

/*
 * Reading an inference engine's load off its metrics page, again and again, on the
 * agent's loop: one probe per engine, a GET every interval over a new connection (the page
 * is small and the interval long next to a connect on a fleet's network), bounded in time
 * (the timeout) and size (ENGINE_PAGE_MAX). The host's name is looked up off the loop
 * (resolver.h). Nothing here blocks, and a decision never waits for a scrape: the balancer
 * reads the last load the probe reported.
 */
#ifndef LLMPROXY_ENGINE_SCRAPE_H
#define LLMPROXY_ENGINE_SCRAPE_H

#include "engine_scrape-t.h"

/*
 * Scrape http://host:port<path> every `interval_ms`, each scrape given `timeout_ms`, and
 * report each outcome to `done`. The first scrape starts at once. NULL when the request
 * cannot be written (a host or path a request line cannot carry) or memory is short.
 */
struct engine_probe *engine_probe_start(struct ev_loop *loop, struct resolver *resolver,
                                        const char *host, uint16_t port, const char *path,
                                        enum engine_type type, uint32_t interval_ms,
                                        uint32_t timeout_ms, engine_scrape_fn *done, void *ctx);

/* Stop and release; a scrape in flight is abandoned without a report. */
void engine_probe_free(struct engine_probe *p);

#endif /* LLMPROXY_ENGINE_SCRAPE_H */

#include <stdlib.h>

#include "engine_fleet.h"
#include "engine_scrape.h"
#include "log.h"
#include "net.h"
#include "resolver.h"
#include "state.h"

struct engine_fleet {
    struct ev_loop *loop;
    struct resolver *resolver;
};

struct engine_fleet *engine_fleet_create(struct ev_loop *loop)
{
    struct engine_fleet *f = calloc(1, sizeof(*f));

    if (!f)
        return NULL;
    f->loop = loop;
    if (!(f->resolver = resolver_create(loop))) {
        free(f);
        return NULL;
    }
    return f;
}

void engine_fleet_free(struct engine_fleet *f)
{
    if (!f)
        return;
    resolver_free(f->resolver);
    free(f);
}

/* Logged when a member's scrapes start failing and when they work again, not each time. */
static void on_scraped(void *ctx, const struct engine_load *load, const char *why)
{
    struct engine_seen *e = ctx;
    bool was_failing = e->failing;

    engine_seen_record(e, load, monotonic_ms());
    if (!load && !was_failing)
        log_warn("engine %s: metrics page not read (%s); judged by requests in flight until "
                 "it is",
                 e->up->conf->name, why ? why : "unknown");
    else if (load && was_failing)
        log_info("engine %s: metrics page read again", e->up->conf->name);
}

bool engine_fleet_attach(struct engine_fleet *f, struct agent_state *st)
{
    bool all = true;

    for (size_t g = 0; g < st->cfg->n_groups; g++) {
        struct group_rt *grp = &st->groups[g];
        const struct conf_engine *conf = &grp->conf->engine;

        for (size_t m = 0; grp->engines && m < grp->conf->n_members; m++) {
            struct engine_seen *e = &grp->engines[m];
            const struct conf_url *url = &e->up->conf->parsed;

            if (url->tls)
                continue; /* the configuration warned: in-flight counts only */
            e->probe = engine_probe_start(f->loop, f->resolver, url->host, url->port,
                                          conf->metrics_path.val, conf->type, conf->interval_ms,
                                          conf->timeout_ms, on_scraped, e);
            if (!e->probe) {
                log_warn("engine %s: cannot scrape its metrics page (out of memory)",
                         e->up->conf->name);
                all = false;
            }
        }
    }
    return all;
}

void engine_fleet_detach(struct engine_fleet *f, struct agent_state *st)
{
    (void)f;
    for (size_t g = 0; g < st->cfg->n_groups; g++) {
        struct group_rt *grp = &st->groups[g];

        for (size_t m = 0; grp->engines && m < grp->conf->n_members; m++) {
            engine_probe_free(grp->engines[m].probe);
            grp->engines[m].probe = NULL;
        }
    }
}

#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "balance.h"
#include "breaker.h"
#include "config.h"
#include "log.h"
#include "state.h"

static bool name_is(const char *name, const char *s, size_t len)
{
    return strlen(name) == len && memcmp(name, s, len) == 0;
}

static uint64_t probe_timeout_ms(const struct config *cfg, const struct conf_upstream *u)
{
    /* A probe is silent at most as long as the longest request timeout of a group
     * the upstream serves in (the default one when it serves in none). */
    uint32_t longest = 0;

    for (size_t g = 0; g < cfg->n_groups; g++)
        for (size_t m = 0; m < cfg->groups[g].n_members; m++)
            if (&cfg->upstreams[cfg->groups[g].members[m].upstream] == u &&
                cfg->groups[g].client.request_timeout_s > longest)
                longest = cfg->groups[g].client.request_timeout_s;
    return (uint64_t)(longest ? longest : CONF_REQUEST_TIMEOUT_DEFAULT_S) * 1000;
}

static const struct upstream_rt *old_upstream(const struct agent_state *old,
                                              const struct conf_upstream *u)
{
    if (!old)
        return NULL;
    for (size_t i = 0; i < old->cfg->n_upstreams; i++) {
        const struct upstream_rt *o = &old->upstreams[i];
        if (strcmp(o->conf->name, u->name) == 0 && strcmp(o->conf->url.val, u->url.val) == 0)
            return o;
    }
    return NULL;
}

/* Every breaker change is worth a line in the agent's log: it moves traffic. */
static void log_transition(void *ctx, enum breaker_state from, enum breaker_state to)
{
    const struct upstream_rt *up = ctx;

    log_info("breaker %s: %s -> %s", up->conf->name, breaker_state_name(from),
             breaker_state_name(to));
    if (up->owner->on_transition)
        up->owner->on_transition(up->owner->transition_ctx, up, from, to);
}

static void init_upstream(struct upstream_rt *up, const struct agent_state *st,
                          const struct conf_upstream *u, const struct upstream_rt *prev)
{
    const struct config *cfg = st->cfg;
    uint64_t cooldown_ms = (uint64_t)u->breaker_cooldown_s * 1000;

    if (prev) {
        *up = *prev;
        up->conf = u;
        up->owner = st;
        up->breaker.cb_ctx = up; /* the copy, not the old state's upstream */
        breaker_reconfigure(&up->breaker, u->breaker_enabled, u->breaker_threshold, cooldown_ms,
                            probe_timeout_ms(cfg, u));
        return;
    }
    memset(up, 0, sizeof(*up));
    up->conf = u;
    up->owner = st;
    breaker_init(&up->breaker, u->breaker_enabled, u->breaker_threshold, cooldown_ms,
                 probe_timeout_ms(cfg, u), log_transition, up);
}

static uint32_t forward_key(struct agent_state *st, const struct agent_state *old, const char *name)
{
    if (old)
        for (size_t i = 0; i < old->cfg->n_forwards; i++)
            if (strcmp(old->forwards[i].conf->name, name) == 0)
                return old->forwards[i].key;
    return st->next_forward_key++;
}

/* Orders clients as find_client() searches them: by name, bytewise. */
static int client_order(const void *a, const void *b)
{
    const struct client_rt *x = *(const struct client_rt *const *)a;
    const struct client_rt *y = *(const struct client_rt *const *)b;

    return strcmp(x->conf->name, y->conf->name);
}

/* The client named `name` (`len` bytes, not NUL-terminated), NULL if none: a binary search
 * of clients_by_name. Names hold no NUL, so comparing the common bytes, then the lengths,
 * is the order strcmp() sorted them in. */
static struct client_rt *find_client(const struct agent_state *st, const char *name, size_t len)
{
    size_t lo = 0, hi = st->cfg->n_clients;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *n = st->clients_by_name[mid]->conf->name;
        size_t n_len = strlen(n);
        int c = memcmp(n, name, n_len < len ? n_len : len);

        if (c == 0)
            c = n_len < len ? -1 : n_len > len;
        if (c == 0)
            return st->clients_by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The clients, their runtime part (bucket, counters) taken from `old` where a client of
 * the same name was, then their index by name. */
static void init_clients(struct agent_state *st, const struct agent_state *old)
{
    const struct config *cfg = st->cfg;

    for (size_t c = 0; c < cfg->n_clients; c++) {
        const struct conf_client *conf = &cfg->clients[c];
        const struct client_rt *prev =
            old ? find_client(old, conf->name, strlen(conf->name)) : NULL;

        st->clients[c] = prev ? *prev : (struct client_rt){0};
        st->clients[c].conf = conf;
        st->clients_by_name[c] = &st->clients[c];
    }
    qsort(st->clients_by_name, cfg->n_clients, sizeof(*st->clients_by_name), client_order);
}

static void free_targets(struct agent_state *st)
{
    for (size_t f = 0; st->forwards && st->cfg && f < st->cfg->n_forwards; f++) {
        free(st->forwards[f].targets);
        st->forwards[f].targets = NULL;
    }
}

/* The forward's own group, then each rule's target once. */
static bool init_targets(struct agent_state *st, struct forward_rt *fwd)
{
    const struct conf_forward *cf = fwd->conf;

    fwd->targets = calloc(cf->n_routes + 1, sizeof(*fwd->targets));
    if (!fwd->targets)
        return false;
    fwd->targets[fwd->n_targets++] = fwd->group;
    for (size_t r = 0; r < cf->n_routes; r++) {
        struct group_rt *g = &st->groups[cf->routes[r].group];
        size_t t = 0;

        while (t < fwd->n_targets && fwd->targets[t] != g)
            t++;
        if (t == fwd->n_targets)
            fwd->targets[fwd->n_targets++] = g;
    }
    return true;
}

/* The old state's group of the same name, if it was an affinity group too. */
static const struct affinity_group *old_affinity(const struct agent_state *old, const char *name)
{
    for (size_t g = 0; old && g < old->cfg->n_groups; g++)
        if (old->groups[g].affinity && strcmp(old->groups[g].conf->name, name) == 0)
            return old->groups[g].affinity;
    return NULL;
}

/* Whether the affinity groups of `st` are those of `old`: the same groups in the same
 * order, affinity the same ones, with the same members and weights in the same order. */
static bool same_affinity_groups(const struct agent_state *st, const struct agent_state *old)
{
    const struct config *a = st->cfg, *b = old->cfg;

    if (!old->affinity || a->n_groups != b->n_groups)
        return false;
    for (size_t g = 0; g < a->n_groups; g++) {
        const struct conf_group *x = &a->groups[g], *y = &b->groups[g];

        if (strcmp(x->name, y->name) != 0 ||
            (x->strategy == BAL_AFFINITY) != (y->strategy == BAL_AFFINITY))
            return false;
        if (x->strategy != BAL_AFFINITY)
            continue;
        if (x->n_members != y->n_members)
            return false;
        for (size_t m = 0; m < x->n_members; m++)
            if (x->members[m].weight != y->members[m].weight ||
                strcmp(st->groups[g].members[m]->conf->name,
                       old->groups[g].members[m]->conf->name) != 0)
                return false;
    }
    return true;
}

/* The session table of the affinity groups, when there are some; their pick counters
 * continue those of the same groups before a reload, and their sessions too when the
 * affinity groups are unchanged (a reload for anything else keeps every session home). */
static bool init_affinity(struct agent_state *st, const struct agent_state *old, uint64_t seed)
{
    const struct config *cfg = st->cfg;
    const char *names[BALANCER_MAX_MEMBERS];
    uint32_t weights[BALANCER_MAX_MEMBERS];
    bool any = false;

    st->affinity_key =
        old ? old->affinity_key
            : (struct siphash_key){.k0 = seed ^ 0x6a09e667f3bcc908ull,
                                   .k1 = (seed * 0x9e3779b97f4a7c15ull) ^ 0xbb67ae8584caa73bull};
    for (size_t g = 0; g < cfg->n_groups; g++)
        any |= cfg->groups[g].strategy == BAL_AFFINITY;
    if (!any)
        return true;
    st->affinity = affinity_create(cfg->n_groups, AFFINITY_MAX_SESSIONS, &st->affinity_key);
    if (!st->affinity)
        return false;
    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct conf_group *cg = &cfg->groups[g];
        const struct affinity_group *prev;

        if (cg->strategy != BAL_AFFINITY)
            continue;
        for (size_t m = 0; m < cg->n_members; m++) {
            names[m] = st->groups[g].members[m]->conf->name;
            weights[m] = cg->members[m].weight;
        }
        if (affinity_group_init(st->affinity, g, cg->n_members, names, weights) != 0)
            return false;
        st->groups[g].affinity = &st->affinity->groups[g];
        if ((prev = old_affinity(old, cg->name)))
            memcpy(st->groups[g].affinity->picks, prev->picks, sizeof(prev->picks));
    }
    /* A copy, not a move: `old` stays whole until its owner frees it. Short of memory,
     * the sessions start over, as after a restart. */
    if (old && same_affinity_groups(st, old))
        (void)affinity_take_sessions(st->affinity, old->affinity);
    return true;
}

struct agent_state *state_create(struct config *cfg, const struct agent_state *old, uint64_t seed)
{
    struct agent_state *st = calloc(1, sizeof(*st));

    if (!st)
        return NULL;
    st->cfg = cfg;
    st->next_forward_key = old ? old->next_forward_key : 1;
    st->upstreams = calloc(cfg->n_upstreams ? cfg->n_upstreams : 1, sizeof(*st->upstreams));
    st->groups = calloc(cfg->n_groups ? cfg->n_groups : 1, sizeof(*st->groups));
    st->forwards = calloc(cfg->n_forwards ? cfg->n_forwards : 1, sizeof(*st->forwards));
    st->clients = calloc(cfg->n_clients ? cfg->n_clients : 1, sizeof(*st->clients));
    st->clients_by_name = calloc(cfg->n_clients ? cfg->n_clients : 1, sizeof(*st->clients_by_name));
    if (!st->upstreams || !st->groups || !st->forwards || !st->clients || !st->clients_by_name)
        goto fail;

    for (size_t i = 0; i < cfg->n_upstreams; i++)
        init_upstream(&st->upstreams[i], st, &cfg->upstreams[i],
                      old_upstream(old, &cfg->upstreams[i]));

    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct conf_group *cg = &cfg->groups[g];
        struct group_rt *grp = &st->groups[g];
        uint32_t weights[BALANCER_MAX_MEMBERS];

        grp->conf = cg;
        if (cg->n_members == 0 || cg->n_members > BALANCER_MAX_MEMBERS)
            goto fail;
        grp->members = calloc(cg->n_members, sizeof(*grp->members));
        if (!grp->members)
            goto fail;
        for (size_t m = 0; m < cg->n_members; m++) {
            grp->members[m] = &st->upstreams[cg->members[m].upstream];
            weights[m] = cg->members[m].weight;
        }
        if (balancer_init(&grp->balancer, cg->strategy, cg->n_members, weights, seed + g) != 0)
            goto fail;
        if (cg->strategy == BAL_LEAST_LOAD && cg->engine.enabled) {
            balancer_set_saturation(&grp->balancer, cg->engine.saturated_waiting,
                                    cg->engine.saturated_kv_cache);
            if (!(grp->engines = calloc(cg->n_members, sizeof(*grp->engines))))
                goto fail;
            for (size_t m = 0; m < cg->n_members; m++)
                grp->engines[m].up = grp->members[m];
        }
    }

    for (size_t f = 0; f < cfg->n_forwards; f++) {
        st->forwards[f].conf = &cfg->forwards[f];
        st->forwards[f].group = &st->groups[cfg->forwards[f].group];
        st->forwards[f].key = forward_key(st, old, cfg->forwards[f].name);
        if (!init_targets(st, &st->forwards[f]))
            goto fail;
    }
    if (!init_affinity(st, old, seed))
        goto fail;
    init_clients(st, old);
    /* Only now: changes made while building (a breaker disabled by the reload) are seen
     * by whoever follows the new state as a whole. */
    if (old) {
        st->on_transition = old->on_transition;
        st->transition_ctx = old->transition_ctx;
        st->attempts = old->attempts;
    }
    return st;

fail:
    free_targets(st);
    st->cfg = NULL; /* still the caller's */
    state_free(st);
    return NULL;
}

void state_free(struct agent_state *st)
{
    if (!st)
        return;
    if (st->groups && st->cfg)
        for (size_t g = 0; g < st->cfg->n_groups; g++) {
            balancer_free(&st->groups[g].balancer);
            free(st->groups[g].members);
            free(st->groups[g].engines);
        }
    free(st->groups);
    free(st->upstreams);
    free_targets(st);
    free(st->forwards);
    affinity_free(st->affinity);
    free(st->clients);
    free(st->clients_by_name);
    config_free(st->cfg);
    free(st);
}

struct forward_rt *state_forward(struct agent_state *st, const char *name, size_t len)
{
    for (size_t i = 0; i < st->cfg->n_forwards; i++)
        if (name_is(st->forwards[i].conf->name, name, len))
            return &st->forwards[i];
    return NULL;
}

struct upstream_rt *state_upstream(struct agent_state *st, const char *name, size_t len)
{
    for (size_t i = 0; i < st->cfg->n_upstreams; i++)
        if (name_is(st->upstreams[i].conf->name, name, len))
            return &st->upstreams[i];
    return NULL;
}

struct group_rt *state_group(struct agent_state *st, const char *name, size_t len)
{
    for (size_t i = 0; i < st->cfg->n_groups; i++)
        if (name_is(st->groups[i].conf->name, name, len))
            return &st->groups[i];
    return NULL;
}

struct client_rt *state_client(struct agent_state *st, const char *name, size_t len)
{
    return find_client(st, name, len);
}

struct group_rt *forward_target(const struct forward_rt *fwd, const char *name, size_t len)
{
    for (size_t t = 0; t < fwd->n_targets; t++)
        if (name_is(fwd->targets[t]->conf->name, name, len))
            return fwd->targets[t];
    return NULL;
}

bool state_has_routing(const struct agent_state *st)
{
    for (size_t i = 0; i < st->cfg->n_forwards; i++)
        if (st->cfg->forwards[i].n_routes > 0)
            return true;
    return false;
}

bool state_has_clients(const struct agent_state *st)
{
    if (st->cfg->n_clients > 0)
        return true;
    for (size_t i = 0; i < st->cfg->n_forwards; i++)
        if (st->cfg->forwards[i].client_auth)
            return true;
    return false;
}

uint32_t upstream_unsettled_picks(const struct upstream_rt *up, uint64_t now_ms)
{
    uint32_t n = 0;

    for (unsigned i = 0; i < PICK_RING_SLOTS; i++)
        if (up->recent_picks[i] && now_ms - up->recent_picks[i] < PICK_SETTLE_MS)
            n++;
    return n;
}

uint32_t upstream_in_flight(const struct upstream_rt *up, uint64_t now_ms)
{
    return up->haproxy_in_flight + upstream_unsettled_picks(up, now_ms);
}

struct bal_candidate upstream_candidate(const struct upstream_rt *up, bool available,
                                        uint64_t now_ms)
{
    return (struct bal_candidate){
        .available = available,
        .measured = up->measured,
        .ema_ms = up->ema_ms,
        .in_flight = upstream_in_flight(up, now_ms),
        .success_rate = breaker_success_rate(&up->breaker, now_ms),
    };
}

void upstream_note_pick(struct upstream_rt *up, uint64_t now_ms)
{
    up->recent_picks[up->recent_next] = now_ms ? now_ms : 1;
    up->recent_next = (up->recent_next + 1) % PICK_RING_SLOTS;
    up->picks++;
}

void engine_seen_record(struct engine_seen *e, const struct engine_load *load, uint64_t now_ms)
{
    e->failing = load == NULL;
    if (!load) {
        e->scrapes_failed++;
        return;
    }
    e->scrapes_ok++;
    e->load = *load;
    e->at_ms = now_ms ? now_ms : 1;
    e->in_flight_at = upstream_in_flight(e->up, now_ms);
}

void engine_seen_candidate(const struct engine_seen *e, const struct conf_engine *conf,
                           uint64_t now_ms, struct bal_candidate *c)
{
    /* Three scrapes missed in a row (or none yet): what the page said no longer holds. */
    uint64_t fresh_ms = 3ull * conf->interval_ms + conf->timeout_ms;

    c->scraped = e->at_ms != 0 && now_ms >= e->at_ms && now_ms - e->at_ms <= fresh_ms;
    if (!c->scraped)
        return;
    c->waiting = e->load.waiting;
    c->running = e->load.running;
    c->kv_usage = e->load.has_kv ? e->load.kv_usage : 0;
    c->in_flight_at = e->in_flight_at;
}

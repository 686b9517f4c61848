#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker-t.h"
#include "conf_retry_path.h"
#include "conf_walk.h"
#include "config.h"
#include "contract/internal_names.h"
#include "mirror.h"

static bool breaker_is_closed(const struct upstream_rt *up)
{
    /* The field, not breaker_state(): OPEN and HALF_OPEN both drain, so the lazy step
     * between them does not matter here, and the mirror never moves a breaker. */
    return up->breaker.state == BREAKER_CLOSED;
}

/* Weight 0 while the breaker is not closed, unless no member of the group is closed. */
static bool wants_drained(const struct mirror *m, const struct mirror_pair *p)
{
    if (breaker_is_closed(p->up))
        return false;
    for (size_t i = p->group_first; i < p->group_first + p->group_len; i++)
        if (breaker_is_closed(m->pairs[i].up))
            return true;
    return false;
}

void mirror_init(struct mirror *m)
{
    memset(m, 0, sizeof(*m));
    m->next_seq = 1;
}

void mirror_release(struct mirror *m)
{
    free(m->pairs);
    m->pairs = NULL;
    m->n = 0;
}

static const struct mirror_pair *find_pair(const struct mirror *m, const char *group,
                                           const char *upstream, const char *via)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->pairs[i].group, group) == 0 &&
            strcmp(m->pairs[i].up->conf->name, upstream) == 0 && conf_same_text(m->pairs[i].via, via))
            return &m->pairs[i];
    return NULL;
}

/* The servers of member `i` a retry can be redispatched to: its group backend's, and in a
 * group whose pinned backends retry, its retry server in every other member's backend
 * (its own, when it is the only member). */
static size_t servers_per_member(const struct config *cfg, const struct conf_group *g)
{
    if (!conf_group_retries_from_pinned(cfg, g))
        return 1;
    return g->n_members > 1 ? g->n_members : 2;
}

bool mirror_use_state(struct mirror *m, const struct agent_state *st)
{
    const struct config *cfg = st->cfg;
    struct mirror_pair *pairs;
    size_t n = 0;

    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct conf_group *cg = &cfg->groups[g];

        n += cg->n_members * servers_per_member(cfg, cg);
    }
    pairs = calloc(n ? n : 1, sizeof(*pairs));
    if (!pairs) {
        mirror_release(m);
        return false;
    }
    n = 0;
    for (size_t g = 0; g < cfg->n_groups; g++) {
        const struct group_rt *grp = &st->groups[g];
        size_t first = n, members = grp->conf->n_members;
        size_t len = members * servers_per_member(cfg, grp->conf);

        for (size_t k = 0; k < len; k++, n++) {
            struct mirror_pair *p = &pairs[n];
            const struct mirror_pair *prev;
            /* Pair k: member k % members, in the group backend first, then in the pinned
             * backend of the member `k / members - 1` places after it. */
            size_t i = k % members, hop = k / members;

            p->group = grp->conf->name;
            p->up = grp->members[i];
            p->via = hop ? grp->members[(i + hop) % members]->conf->name : NULL;
            p->group_first = first;
            p->group_len = len;
            /* The runtime API splits a command on spaces and ';' and has no quoting: only
             * names of the configuration's own alphabet ([A-Za-z0-9_.-]) may be sent. A
             * loaded configuration has no other (conf_valid_name() checked every name);
             * asking the same validator again costs nothing and keeps a hand-made state
             * from ever splitting a command. */
            p->unsafe = !conf_valid_name(p->group) || !conf_valid_name(p->up->conf->name);
            p->unsafe |= p->via && !conf_valid_name(p->via);
            prev = find_pair(m, p->group, p->up->conf->name, p->via);
            if (prev && prev->sync == MIRROR_CONFIRMED) {
                /* An answer still on its way is the old pair's: send again instead. */
                p->drained = prev->drained;
                p->sync = MIRROR_CONFIRMED;
            }
        }
    }
    free(m->pairs);
    m->pairs = pairs;
    m->n = n;
    return true;
}

void mirror_forget(struct mirror *m)
{
    for (size_t i = 0; i < m->n; i++) {
        m->pairs[i].sync = MIRROR_UNKNOWN;
        m->pairs[i].seq = 0; /* an answer on its way may be the old process's */
    }
}

static uint64_t cookie_of(size_t index, uint32_t seq)
{
    return (uint64_t)index << 32 | seq;
}

static bool send_pair(struct mirror *m, size_t index, bool drained, mirror_emit_fn *emit, void *ctx)
{
    struct mirror_pair *p = &m->pairs[index];
    char cmd[MIRROR_CMD_MAX];
    uint32_t seq = m->next_seq;
    int len;

    if (p->via)
        len = snprintf(cmd, sizeof(cmd),
                       "set server " HAPROXY_PINNED_FMT "/" HAPROXY_RETRY_SERVER_PREFIX "%s weight %s",
                       p->group, p->via, p->up->conf->name, drained ? "0" : "100%");
    else
        len = snprintf(cmd, sizeof(cmd), "set server " HAPROXY_GROUP_FMT "/%s weight %s", p->group,
                       p->up->conf->name, drained ? "0" : "100%");
    if (len < 0 || (size_t)len >= sizeof(cmd)) {
        p->unsafe = true;
        return false;
    }
    m->next_seq = seq + 1 ? seq + 1 : 1; /* 0 means "none outstanding" */
    /* Pending before the emitter runs, so that a verdict it gives at once is not lost. */
    p->drained = drained;
    p->sync = MIRROR_PENDING;
    p->seq = seq;
    if (!emit(ctx, cmd, cookie_of(index, seq))) {
        if (p->seq == seq) {
            p->sync = MIRROR_UNKNOWN;
            p->seq = 0;
        }
        return false;
    }
    return true;
}

size_t mirror_sync(struct mirror *m, uint64_t now_ms, mirror_emit_fn *emit, void *ctx)
{
    bool reconcile = now_ms >= m->next_reconcile_ms;
    size_t sent = 0;

    if (reconcile)
        m->next_reconcile_ms = now_ms + MIRROR_RECONCILE_MS;
    for (size_t i = 0; i < m->n; i++) {
        const struct mirror_pair *p = &m->pairs[i];
        bool want = wants_drained(m, p);
        bool needed;

        if (p->unsafe)
            continue;
        if (p->sync == MIRROR_UNKNOWN || p->drained != want)
            needed = true;
        else /* HAProxy forgets weights on reload: re-assert the ones that differ from its file */
            needed = reconcile && want && p->sync == MIRROR_CONFIRMED;
        if (needed && send_pair(m, i, want, emit, ctx))
            sent++;
    }
    return sent;
}

void mirror_done(struct mirror *m, uint64_t cookie, bool ok)
{
    size_t index = (size_t)(cookie >> 32);
    uint32_t seq = (uint32_t)cookie;
    struct mirror_pair *p;

    if (index >= m->n || seq == 0)
        return;
    p = &m->pairs[index];
    if (p->seq != seq || p->sync != MIRROR_PENDING)
        return;
    p->seq = 0;
    if (ok) {
        p->sync = MIRROR_CONFIRMED;
        m->stats.confirmed++;
    } else {
        p->sync = MIRROR_UNKNOWN;
        m->stats.failed++;
    }
}

bool mirror_wants_drained(const struct mirror *m, const char *group, const char *upstream)
{
    const struct mirror_pair *p = find_pair(m, group, upstream, NULL);

    return p && wants_drained(m, p);
}

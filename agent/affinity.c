/*
 * Session affinity: rendezvous hashing, two choices, bounded load (see affinity.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "affinity.h"
#include "lrutab.h"

/* The table's key; compared bytewise, so `pad` is always zero. */
struct session_key {
    uint32_t group;
    uint32_t pad;
    uint64_t key;
};

struct session {
    uint32_t member;
};

static void on_evict(const void *key, const void *val, uint64_t now_ms, void *ctx)
{
    const struct session_key *k = key;
    const struct session *s = val;
    struct affinity *a = ctx;
    struct affinity_group *grp;

    (void)now_ms;
    if (k->group >= a->n_groups)
        return;
    grp = &a->groups[k->group];
    if (s->member < grp->n && grp->sessions[s->member] > 0) {
        grp->sessions[s->member]--;
        grp->held--;
    }
}

struct affinity *affinity_create(size_t n_groups, uint32_t max_sessions,
                                 const struct siphash_key *key)
{
    struct affinity *a = calloc(1, sizeof(*a));

    if (!a)
        return NULL;
    a->key = *key;
    a->n_groups = n_groups;
    a->groups = calloc(n_groups ? n_groups : 1, sizeof(*a->groups));
    a->table = lrutab_create(sizeof(struct session_key), sizeof(struct session), max_sessions, key);
    if (!a->groups || !a->table) {
        affinity_free(a);
        return NULL;
    }
    lrutab_on_evict(a->table, on_evict, a);
    return a;
}

void affinity_free(struct affinity *a)
{
    if (!a)
        return;
    for (size_t g = 0; a->groups && g < a->n_groups; g++) {
        free(a->groups[g].member_hash);
        free(a->groups[g].weight);
        free(a->groups[g].sessions);
    }
    free(a->groups);
    lrutab_destroy(a->table);
    free(a);
}

int affinity_group_init(struct affinity *a, size_t g, size_t n, const char *const *names,
                        const uint32_t *weights)
{
    struct affinity_group *grp;

    if (g >= a->n_groups || n == 0 || n > BALANCER_MAX_MEMBERS)
        return -1;
    grp = &a->groups[g];
    grp->index = (uint32_t)g;
    grp->member_hash = calloc(n, sizeof(*grp->member_hash));
    grp->weight = calloc(n, sizeof(*grp->weight));
    grp->sessions = calloc(n, sizeof(*grp->sessions));
    if (!grp->member_hash || !grp->weight || !grp->sessions)
        return -1; /* affinity_free() releases what was allocated */
    grp->n = n;
    for (size_t i = 0; i < n; i++) {
        grp->member_hash[i] = siphash(&a->key, names[i], strlen(names[i]));
        grp->weight[i] = weights ? weights[i] : 1;
    }
    return 0;
}

int affinity_take_sessions(struct affinity *dst, const struct affinity *src)
{
    struct lrutab *t;

    if (dst->n_groups != src->n_groups)
        return -1;
    for (size_t g = 0; g < dst->n_groups; g++)
        if (dst->groups[g].n != src->groups[g].n)
            return -1;
    if (!(t = lrutab_clone(src->table)))
        return -1;
    lrutab_destroy(dst->table);
    dst->table = t;
    lrutab_on_evict(t, on_evict, dst);
    for (size_t g = 0; g < dst->n_groups; g++) {
        struct affinity_group *d = &dst->groups[g];

        if (d->n)
            memcpy(d->sessions, src->groups[g].sessions, d->n * sizeof(*d->sessions));
        d->held = src->groups[g].held;
    }
    return 0;
}

/*
 * Weighted rendezvous score of member i for `key`: w / -ln(u), u uniform in (0, 1) from
 * the keyed hash of (key, member). The member with the highest score is the session's
 * first choice, and losing one member changes no other member's score, so only the
 * sessions it held move.
 */
static double rendezvous_score(const struct affinity *a, const struct affinity_group *grp,
                               uint64_t key, size_t i)
{
    uint64_t in[2] = {key, grp->member_hash[i]};
    uint64_t h = siphash(&a->key, in, sizeof(in));
    double u = ((double)(h >> 11) + 0.5) / 9007199254740992.0; /* (0, 1): 53 bits */

    return grp->weight[i] / -log(u);
}

/* The members' scores, -INFINITY for the unavailable and for `exclude`. */
static void score_members(const struct affinity *a, const struct affinity_group *grp, uint64_t key,
                          const struct bal_candidate *c, long exclude, double *score)
{
    for (size_t i = 0; i < grp->n; i++)
        score[i] =
            c[i].available && (long)i != exclude ? rendezvous_score(a, grp, key, i) : -INFINITY;
}

/* The best member scored below `above` (NULL: any), -1 when none is available. */
static int best_below(const double *score, size_t n, const double *above)
{
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        if (score[i] == -INFINITY || (above && score[i] >= *above))
            continue;
        if (best < 0 || score[i] > score[best])
            best = (int)i;
    }
    return best;
}

/*
 * A new session's member: of the two best, the one holding fewer sessions for its weight
 * (ties: the best). Raw counts would undo the weights: with two members, both are always
 * the two best, and equal counts would follow.
 */
static int choose_member(const struct affinity_group *grp, const double *score)
{
    int first = best_below(score, grp->n, NULL);
    int second = first >= 0 ? best_below(score, grp->n, &score[first]) : -1;

    if (second >= 0 && (double)grp->sessions[second] * grp->weight[first] <
                           (double)grp->sessions[first] * grp->weight[second])
        return second;
    return first;
}

/* The most requests a member may have in flight, this one included: load_factor x the mean
 * of the available members counting this request, rounded up, and at least
 * AFFINITY_LOAD_FLOOR. The least loaded member is always within it, so a spill always
 * finds a member. */
static uint32_t load_bound(const struct bal_candidate *c, size_t n, double load_factor)
{
    uint64_t total = 0;
    size_t available = 0;

    for (size_t m = 0; m < n; m++) {
        if (c[m].available) {
            total += c[m].in_flight;
            available++;
        }
    }
    if (!(load_factor >= 1.0))
        load_factor = 1.0;
    return (uint32_t)fmax(fmin(ceil(load_factor * (double)(total + 1) / (double)available), 4e9),
                          AFFINITY_LOAD_FLOOR);
}

/* A member at its max_in_flight is over any bound: its request would only wait in
 * HAProxy's queue, so it spills to one with room (stays home when none has). */
static bool within(const struct bal_candidate *m, uint32_t bound)
{
    return !m->full && (uint64_t)m->in_flight + 1 <= bound;
}

/* The first member after `home` in the session's rendezvous order that is within the
 * bound; `home` itself when none is. */
static int spill(const double *score, const struct bal_candidate *c, size_t n, int home,
                 uint32_t bound)
{
    const double *above = &score[home];
    int next;

    while ((next = best_below(score, n, above)) >= 0) {
        if (within(&c[next], bound))
            return next;
        above = &score[next];
    }
    return home;
}

/* `home`, or when it is over the load bound, the next member of the session's rendezvous
 * order within it. `score` is filled here unless `scored` says it already is. */
static int keep_within_bound(const struct affinity *a, const struct affinity_group *grp,
                             uint64_t key, const struct bal_candidate *c, size_t n,
                             double load_factor, int home, double *score, bool scored)
{
    uint32_t bound = load_bound(c, n, load_factor);

    if (within(&c[home], bound))
        return home;
    if (!scored)
        score_members(a, grp, key, c, -1, score);
    return spill(score, c, n, home, bound);
}

/*
 * A known session whose member is paused (balance-t.h): this request goes to the first
 * available member of the session's order within the bound, and the session keeps its
 * member, as for a spill. Moving it for good over a few seconds of throttling would
 * throw away its prefix cache.
 */
static int pick_around_paused(struct affinity *a, struct affinity_group *grp,
                              const struct session_key *sk, const struct bal_candidate *c, size_t n,
                              double load_factor, uint64_t now_ms, enum affinity_outcome *outcome)
{
    double score[BALANCER_MAX_MEMBERS];
    int chosen;

    score_members(a, grp, sk->key, c, -1, score);
    chosen = best_below(score, n, NULL);
    if (chosen < 0)
        return -1;
    chosen = keep_within_bound(a, grp, sk->key, c, n, load_factor, chosen, score, true);
    lrutab_get_or_insert(a->table, sk, now_ms, NULL); /* known: only made recent */
    *outcome = AFFINITY_SPILLED;
    grp->picks[*outcome]++;
    return chosen;
}

static void assign(struct affinity_group *grp, struct session *s, uint32_t member)
{
    grp->sessions[member]++;
    s->member = member;
}

int affinity_pick(struct affinity *a, struct affinity_group *grp, uint64_t key,
                  const struct bal_candidate *c, size_t n, double load_factor, uint64_t now_ms,
                  enum affinity_outcome *outcome)
{
    struct session_key sk = {.group = grp->index, .pad = 0, .key = key};
    double score[BALANCER_MAX_MEMBERS];
    bool scored = false, created;
    struct session *s;
    long old = -1;
    int home, chosen;

    if (n != grp->n || n == 0)
        return -1;
    s = lrutab_get(a->table, &sk);
    if (s && s->member < n && !c[s->member].available && c[s->member].paused)
        return pick_around_paused(a, grp, &sk, c, n, load_factor, now_ms, outcome);
    if (s && s->member < n && c[s->member].available) {
        *outcome = AFFINITY_HOME;
        home = (int)s->member;
    } else {
        if (s && s->member < n)
            old = (long)s->member;
        score_members(a, grp, key, c, old, score);
        scored = true;
        home = choose_member(grp, score);
        if (home < 0)
            return -1; /* the session keeps its member, for when it is back */
        *outcome = old >= 0 ? AFFINITY_MOVED : AFFINITY_NEW;
    }
    /* Inserting may evict another session, whose counts the observer takes back. */
    s = lrutab_get_or_insert(a->table, &sk, now_ms, &created);
    if (created) {
        grp->held++;
        assign(grp, s, (uint32_t)home);
    } else if (old >= 0) {
        grp->sessions[old]--;
        assign(grp, s, (uint32_t)home);
    }
    chosen = keep_within_bound(a, grp, key, c, n, load_factor, home, score, scored);
    if (chosen != home)
        *outcome = AFFINITY_SPILLED;
    grp->picks[*outcome]++;
    return chosen;
}

uint64_t affinity_evictions(const struct affinity *a)
{
    return lrutab_evictions(a->table);
}

const char *affinity_outcome_name(enum affinity_outcome o)
{
    switch (o) {
    case AFFINITY_HOME:
        return "home";
    case AFFINITY_NEW:
        return "new";
    case AFFINITY_SPILLED:
        return "spilled";
    case AFFINITY_MOVED:
        return "moved";
    case AFFINITY_NO_KEY:
    case AFFINITY_N_OUTCOMES:
        break;
    }
    return "no_key";
}

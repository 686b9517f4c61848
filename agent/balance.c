/*
 * Upstream selection of one group: the strategies of balance.h (affinity's sessions are
 * affinity.h's).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "balance.h"

/* splitmix64: tiny, every seed (0 included) gives a full-period, well-mixed sequence. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound), bound > 0: rejection removes the bias of a plain modulo. */
static uint64_t rng_below(uint64_t *state, uint64_t bound)
{
    uint64_t reject_below = (0 - bound) % bound; /* 2^64 mod bound */
    uint64_t r;

    do {
        r = rng_next(state);
    } while (r < reject_below);
    return r % bound;
}

int balancer_init(struct balancer *b, enum balance_strategy strategy, size_t n,
                  const uint32_t *weights, uint64_t seed)
{
    memset(b, 0, sizeof(*b));
    if (n == 0 || n > BALANCER_MAX_MEMBERS || (unsigned)strategy > BAL_LEAST_LOAD)
        return -1;
    for (size_t i = 0; weights && i < n; i++) {
        if (weights[i] < BALANCER_WEIGHT_MIN || weights[i] > BALANCER_WEIGHT_MAX)
            return -1;
    }

    b->weights = calloc(n, sizeof(*b->weights));
    b->current = calloc(n, sizeof(*b->current));
    b->picked_at = calloc(n, sizeof(*b->picked_at));
    if (!b->weights || !b->current || !b->picked_at) {
        balancer_free(b);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        b->weights[i] = weights ? weights[i] : 1;
    b->strategy = strategy;
    b->n = n;
    b->rng = seed;
    b->saturated = (struct least_load_limits){.waiting = 5, .kv_usage = 0.8};
    return 0;
}

void balancer_free(struct balancer *b)
{
    free(b->weights);
    free(b->current);
    free(b->picked_at);
    memset(b, 0, sizeof(*b));
}

/* Next available member at or after the cursor; the cursor moves past the pick so that a
 * skipped member's turn is not inherited by its successor twice in a row. */
static int pick_roundrobin(struct balancer *b, const struct bal_candidate *c)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t idx = (b->cursor + i) % b->n;

        if (c[idx].available) {
            b->cursor = (idx + 1) % b->n;
            return (int)idx;
        }
    }
    return -1;
}

/*
 * Smooth weighted round robin: every available member gains its weight, the richest wins
 * and pays back the total. Unavailable members sit out with their running weight frozen.
 * Ties go to the member listed first, which makes the sequence exact and testable.
 */
static int pick_weighted(struct balancer *b, const struct bal_candidate *c)
{
    int64_t total = 0;
    int best = -1;

    for (size_t i = 0; i < b->n; i++) {
        if (!c[i].available)
            continue;
        b->current[i] += b->weights[i];
        total += b->weights[i];
        if (best < 0 || b->current[i] > b->current[best])
            best = (int)i;
    }
    if (best >= 0)
        b->current[best] -= total;
    return best;
}

static int pick_random(struct balancer *b, const struct bal_candidate *c)
{
    size_t available = 0;
    uint64_t nth;

    for (size_t i = 0; i < b->n; i++)
        available += c[i].available;
    if (available == 0)
        return -1;

    nth = rng_below(&b->rng, available);
    for (size_t i = 0; i < b->n; i++) {
        if (c[i].available && nth-- == 0)
            return (int)i;
    }
    return -1; /* not reached: nth < available */
}

static int pick_failover(const struct balancer *b, const struct bal_candidate *c)
{
    for (size_t i = 0; i < b->n; i++) {
        if (c[i].available)
            return (int)i;
    }
    return -1;
}

/* Some available member has room: those at their max_in_flight then wait their turn. */
static bool room_left(const struct bal_candidate *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].available && !c[i].full)
            return true;
    return false;
}

/* Whether a strategy that looks at load may take the member (`room`: room_left()). */
static bool eligible(const struct bal_candidate *m, bool room)
{
    return m->available && !(room && m->full);
}

double balancer_score(const struct bal_candidate *c)
{
    /* The negated comparisons also catch NaN, so bad statistics cannot poison a pick. */
    double ema = c->ema_ms >= BALANCER_EMA_FLOOR_MS ? c->ema_ms : BALANCER_EMA_FLOOR_MS;
    double rate = c->success_rate;

    if (!(rate >= BALANCER_SUCCESS_RATE_MIN))
        rate = BALANCER_SUCCESS_RATE_MIN;
    else if (rate > 1.0)
        rate = 1.0;
    return ema * ((double)c->in_flight + 1.0) / rate;
}

/*
 * Unmeasured members come first (least loaded of them), then the lowest score. The scan
 * starts after the previous pick and only a strictly better member replaces the best so
 * far, so equal members take turns, evenly even when some are unavailable.
 */
static bool ra_better(const struct bal_candidate *x, double x_score, const struct bal_candidate *y,
                      double y_score)
{
    if (x->measured != y->measured)
        return !x->measured;
    if (!x->measured)
        return x->in_flight < y->in_flight;
    return x_score < y_score;
}

/*
 * The member to probe, or -1: due once BALANCER_PROBE_EVERY picks have passed since the
 * last probe; then the measured, idle, available member left out longest, if it has
 * been left out of the last BALANCER_PROBE_EVERY picks. Unmeasured members need no probe:
 * they are tried first anyway.
 */
static int probe_due(const struct balancer *b, const struct bal_candidate *c, bool room)
{
    int oldest = -1;

    if (b->picks - b->probed_at < BALANCER_PROBE_EVERY)
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        if (!eligible(&c[i], room) || !c[i].measured || c[i].in_flight > 0 ||
            b->picks - b->picked_at[i] < BALANCER_PROBE_EVERY)
            continue;
        if (oldest < 0 || b->picked_at[i] < b->picked_at[oldest])
            oldest = (int)i;
    }
    return oldest;
}

static int best_scored(const struct balancer *b, const struct bal_candidate *c, bool room)
{
    int best = -1;
    double best_score = 0;

    for (size_t i = 0; i < b->n; i++) {
        size_t idx = (b->cursor + i) % b->n;
        double score;

        if (!eligible(&c[idx], room))
            continue;
        score = balancer_score(&c[idx]);
        if (best < 0 || ra_better(&c[idx], score, &c[best], best_score)) {
            best = (int)idx;
            best_score = score;
        }
    }
    return best;
}

static int pick_response_aware(struct balancer *b, const struct bal_candidate *c)
{
    bool room = room_left(c, b->n);
    int best = probe_due(b, c, room);
    bool probe = best >= 0;

    if (!probe)
        best = best_scored(b, c, room);
    if (best < 0)
        return -1;
    b->cursor = ((size_t)best + 1) % b->n;
    b->picked_at[best] = ++b->picks;
    if (probe)
        b->probed_at = b->picks;
    return best;
}

/* ---- least_load ---- */

double balancer_engine_waiting(const struct bal_candidate *m)
{
    if (!m->scraped)
        return m->in_flight;
    return m->waiting + (m->in_flight > m->in_flight_at ? m->in_flight - m->in_flight_at : 0);
}

static bool saturated(const struct bal_candidate *m, const struct least_load_limits *lim)
{
    return balancer_engine_waiting(m) >= lim->waiting ||
           (m->scraped && m->kv_usage >= lim->kv_usage);
}

/* Negative when `a` is the better member, positive when `b` is, 0 for a tie. */
static int compare(const struct bal_candidate *a, const struct bal_candidate *b)
{
    double wa = balancer_engine_waiting(a), wb = balancer_engine_waiting(b);
    double ka = a->scraped ? floor(a->kv_usage * 10) : 0,
           kb = b->scraped ? floor(b->kv_usage * 10) : 0;
    double ra = a->scraped ? a->running : 0, rb = b->scraped ? b->running : 0;

    if (wa != wb)
        return wa < wb ? -1 : 1;
    if (ka != kb)
        return ka < kb ? -1 : 1;
    if (ra != rb)
        return ra < rb ? -1 : 1;
    return 0;
}

static int pick_least_load(struct balancer *b, const struct bal_candidate *m)
{
    const struct least_load_limits *limits = &b->saturated;
    bool any_unsaturated = false;
    size_t n = b->n;
    bool room = room_left(m, n);
    int best = -1;

    for (size_t i = 0; i < n; i++)
        if (eligible(&m[i], room) && !saturated(&m[i], limits))
            any_unsaturated = true;
    /* From the cursor on, so that the first of equals is a different one each time. */
    for (size_t k = 0; k < n; k++) {
        size_t i = (b->cursor + k) % n;

        if (!eligible(&m[i], room) || (any_unsaturated && saturated(&m[i], limits)))
            continue;
        if (best < 0 || compare(&m[i], &m[best]) < 0)
            best = (int)i;
    }
    if (best >= 0)
        b->cursor = ((size_t)best + 1) % n;
    return best;
}

int balancer_pick(struct balancer *b, const struct bal_candidate *c, size_t n)
{
    if (n == 0 || n != b->n || !c)
        return -1;

    switch (b->strategy) {
    case BAL_ROUNDROBIN:
        return pick_roundrobin(b, c);
    case BAL_WEIGHTED_ROUNDROBIN:
        return pick_weighted(b, c);
    case BAL_RANDOM:
        return pick_random(b, c);
    case BAL_RESPONSE_AWARE:
        return pick_response_aware(b, c);
    case BAL_FAILOVER:
        return pick_failover(b, c);
    case BAL_LEAST_LOAD:
        return pick_least_load(b, c);
    case BAL_AFFINITY:
        /* A request without a session key: the least loaded member. Affinity members are
         * never scraped, so that is the one with the fewest requests in flight (saturation
         * only ever leaves out members with more), equals taking turns. */
        return pick_least_load(b, c);
    }
    return -1;
}
